/* cmd_trend.h - `qsctl compliance --trend`: compliance per UTC day, local and through qs-web.
 *
 * cmd_compliance.c hands its arguments over when ctl_trend_wanted() sees
 * --trend; remote.c does the same for `qsctl --url … compliance --trend`
 * and prints the server's document with the printers below, so that the
 * local and the remote command print the same bytes.
 */
#ifndef QS_CTL_CMD_TREND_H
#define QS_CTL_CMD_TREND_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "ctl_common.h"

/* 1 if argv (a compliance command line) asks for --trend, 0 if not.
 * Values of options are skipped: --topic-id --trend is an id. */
int ctl_trend_wanted(int argc, char **argv);

/* The flags of `compliance --trend`, as given (borrowed from argv). */
typedef struct {
    const char *home;
    const char *topic_id;       /* normalized in place (kb1 finds KB1) */
    const char *topic_type;     /* checked text, or NULL */
    const char *group;          /* --group G: that group's snapshots, or NULL */
    const char *deployment;     /* --deployment ID: its updates (and group), or NULL */
    long days;                  /* 1..QS_TREND_KEEP_DAYS */
    ctl_format_t fmt;
    int help;
} ctl_trend_args_t;

/* Parse argv into *a. Returns -1 to go on, else the exit code (after
 * printing the usage error, or the help when help is set). */
int ctl_trend_parse(ctl_trend_args_t *a, int argc, char **argv);

/* The usage text of `compliance --trend`. */
void ctl_trend_usage(FILE *out);

/* `qsctl compliance --trend …` on the local site. */
int cmd_compliance_trend(int argc, char **argv);

/* Table and CSV forms of the trend document (qs_storedoc_trend). */
void ctl_print_trend_table(const cJSON *doc);
void ctl_print_trend_csv(const cJSON *doc);

#endif
