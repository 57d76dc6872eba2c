/* cmd_deployment.h - qsctl's deployment pieces shared between its files.
 *
 * cmd_deployment.c: `qsctl deployment add|list|show|remove`;
 * cmd_deployment_eval.c: `qsctl compliance --deployment ID`, which
 * cmd_compliance.c hands its whole argument list to.
 */
#ifndef QS_CMD_DEPLOYMENT_H
#define QS_CMD_DEPLOYMENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* `qsctl compliance … --deployment ID …` (argv as cmd_compliance got it). */
int cmd_compliance_deployment(int argc, char **argv);

/* Parse a UTC time given as flag: "YYYY-MM-DDTHH:MM:SS[.fff]Z" only; -1
 * with errmsg naming flag and saying whether it was a local time (no Z)
 * or had a UTC offset, and how to write it. */
int ctl_deployment_parse_utc(int64_t *out_ms, const char *flag, const char *text,
                             char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Printers of the documents (qs_deadlinedoc.h), for the local commands and
 * `qsctl --url` alike (remote.c): one rendering. */
void ctl_deployment_print_eval_table(const cJSON *doc);   /* compliance --deployment */
void ctl_deployment_print_eval_csv(const cJSON *doc);
void ctl_deployment_print_list_table(const cJSON *doc);   /* {"deployments": [...]} */
void ctl_deployment_print_list_csv(const cJSON *doc);

#endif
