/* qs_store_deadline.h - compliance with a deadline: per update and for a deployment as a whole.
 *
 * A deployment (qs_deployments.h) names updates of one topic type and a
 * deadline D (UTC ms). For each update and each machine in scope, the
 * machine's current state in `latest` falls in one class:
 *
 *   compliant       installed with a message time at or before D, or
 *                   reported "not required" (the update does not apply)
 *   compliant_late  installed with a message time after D
 *   non_compliant   any other state, and D is past (now > D)
 *   in_progress     any other state, and D is ahead (now <= D)
 *   unknown         no state for this update from a machine in scope
 *
 * Scope: the machines (client keys) that delivered a message to the store
 * since the topic type's cutoff (now - its maximum age, the age at which
 * retention drops a quiet machine's states): the live fleet; for a
 * deployment with a group, only the group's members among them (every
 * count is then over the members' states). A machine in scope without a
 * state for an update is unknown for it.
 * Times in latest are message times truncated to the policy's precision
 * when stored; "at or before D" is trunc(t) <= D, so with a deadline that is
 * not on a precision boundary a state up to precision - 1 ms after D counts
 * as in time (docs/deployments.md).
 *
 * The deployment as a whole is the sum over its updates: counts of
 * (machine, update) pairs, out of scope x updates.
 *
 * Suppression (k from the policy, as qs_store_query.h) is applied here,
 * before any count leaves store/: per update row, a class with 1..k-1
 * machines is hidden; compliant and compliant_late are hidden together
 * (their sum is what `qsctl compliance` already publishes as installed +
 * not required, so the time split never tells a small group); a row never
 * shows exactly one hidden non-zero class (the smallest visible one is
 * hidden with it). A scope below k hides everything. The totals of the
 * deployment add up only the published cells; what is hidden is one
 * `suppressed` sum, so no hidden cell follows from a total. Nothing here
 * writes; everything is read in one snapshot.
 */
#ifndef QS_STORE_DEADLINE_H
#define QS_STORE_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include "qs_policy.h"
#include "qs_store_query.h"
#include "qs_storedb.h"

typedef enum {
    QS_DEADLINE_COMPLIANT = 0,
    QS_DEADLINE_LATE,
    QS_DEADLINE_NONCOMPLIANT,
    QS_DEADLINE_IN_PROGRESS,
    QS_DEADLINE_UNKNOWN,
    QS_DEADLINE_CLASSES
} qs_deadline_class_t;

/* "compliant", "compliant_late", "non_compliant", "in_progress", "unknown". */
const char *qs_deadline_class_name(qs_deadline_class_t c);

typedef struct {
    char *topic_id;                        /* owned */
    int64_t count[QS_DEADLINE_CLASSES];    /* QS_STOREDB_SUPPRESSED when hidden */
} qs_storedb_deadline_row_t;

typedef struct {
    int k;
    int64_t scope;                         /* machines in scope, QS_STOREDB_SUPPRESSED below k */
    int deadline_passed;                   /* now > deadline */
    qs_storedb_deadline_row_t *rows;       /* one per update, in the order asked */
    size_t n;
    int64_t total[QS_DEADLINE_CLASSES];    /* sum of the published cells of each class */
    int64_t suppressed;                    /* sum of the hidden cells (scope known), else -1 */
    int64_t pairs;                         /* scope x updates, QS_STOREDB_SUPPRESSED below k */
} qs_storedb_deadline_t;

typedef struct {
    uint32_t topic_type;                   /* must have a state named "installed" */
    const char *const *topic_ids;
    size_t n_topic_ids;
    int64_t deadline_ms;
    int64_t now_ms;                        /* UTC: decides non_compliant vs in_progress */
    const char *group;                     /* NULL: the whole fleet; else only the members
                                            * of this group (qs_store_group.h) */
} qs_deadline_query_t;

/* 0 if topic_type can have a deadline (it has a state named "installed");
 * -1 with errmsg saying which types can. */
int qs_deadline_topic_type_check(uint32_t topic_type, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Evaluate q under policy's k into *out (free with qs_storedb_deadline_free).
 * Returns 0; QS_GROUP_UNKNOWN with errmsg when q->group does not exist; or
 * -1 with errmsg (a topic type without an installed state, or the
 * database's reason); *out is then empty. */
int qs_storedb_deadline(qs_storedb_t *db, qs_storedb_deadline_t *out, const qs_policy_t *policy,
                        const qs_deadline_query_t *q, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

void qs_storedb_deadline_free(qs_storedb_deadline_t *res);

#endif
