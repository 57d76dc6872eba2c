/* cmd_policy.h - `qsctl policy set`'s flags as a policy change document.
 *
 * The local command (cmd_policy.c) and `qsctl --url … policy set`
 * (remote.c) parse the same flags into the same change object: the local
 * one applies it with qs_doc_policy_apply (qs_docs.h), the remote one sends
 * it as the body of PUT /api/v1/policy, where qs-web applies it with the
 * same function.
 */
#ifndef QS_CTL_CMD_POLICY_H
#define QS_CTL_CMD_POLICY_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "ctl_common.h"

/* Parse `policy set` flags (argv[0] is "set") into *changes, a new object
 * the caller deletes: --max-age-days N -> "max_age_days", --topic-type T
 * --max-age-days N -> "topic_max_age_days": {"T": N} (0 removes T's own
 * age), --collect-user-names yes|no -> true/false, --k N, --time-precision
 * P -> "time_precision". *home and *as receive --home and --as (NULL when
 * absent); *help is 1 for --help. Returns 0, or -1 with errmsg (a usage
 * error; *changes is then NULL). */
int ctl_policy_set_args(cJSON **changes, const char **home, const char **as, int *help,
                        int argc, char **argv, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* As ctl_policy_set_args, and --format table|json into *fmt (qsctl policy
 * set on the local site); fmt NULL: --format is an unknown option. */
int ctl_policy_set_args_fmt(cJSON **changes, const char **home, const char **as,
                            ctl_format_t *fmt, int *help, int argc, char **argv,
                            char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

#endif
