/* ctl_group.h - qsctl's groups of machines (docs/groups.md): the `group` command and the
 * entry points `enroll --group` and `compliance --group` call.
 *
 * Membership lives in the store (store/qs_store_group.h); this module parses,
 * pseudonymizes machine names with the site key, audits each change (group
 * name, pseudonym prefixes and the actor: never a machine's name) and prints.
 */
#ifndef QS_CTL_GROUP_H
#define QS_CTL_GROUP_H

#include <stddef.h>

#include "ctl_common.h"

/* The most --group options one enroll takes. */
#define CTL_ENROLL_MAX_GROUPS 16

/* qsctl group add|remove|list ... (exit code). */
int cmd_group(int argc, char **argv);

/* qsctl compliance ... --group G ...: the whole command (it parses argv
 * again), the fleet's output formats over the group's members. */
int cmd_compliance_group(int argc, char **argv);

/* enroll --group: every group in names[0..n) must exist (site opened with
 * CTL_OPEN_STOREDB); checked before anything is enrolled. 0, or -1 with
 * errmsg naming the first unknown group and how to create it. */
int ctl_group_check(ctl_site_t *site, const char *const *names, size_t n, char *errmsg,
                    size_t errmsg_len);

/* enroll --group, after the enrollment: add machine (its pseudonym, with
 * the site key) to each group, each addition audited as "group_add" with
 * actor. 0, or -1 with errmsg. */
int ctl_group_join(ctl_site_t *site, const char *actor, const char *machine,
                   const char *const *names, size_t n, char *errmsg, size_t errmsg_len);

#endif
