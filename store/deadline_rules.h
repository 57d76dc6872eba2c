/* deadline_rules.h - deadline compliance's engine-neutral rules (private to store/).
 *
 * deadline.c (SQLite) and deadline_pg.c (PostgreSQL) only fetch exact
 * numbers per update (qs_deadline_raw_t) and the scope; the classes, the
 * suppression and the totals of qs_store_deadline.h are decided here, once.
 */
#ifndef QS_DEADLINE_RULES_H
#define QS_DEADLINE_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "qs_store_deadline.h"

/* Every topic type's "installed" state (301: 4, 402: 10, 500: 3), as SQL:
 * the partial index latest_deadline (storedb.c, storedb_pg.c) holds only
 * rows in one of them, so that no other state change of the store touches
 * it, and the on-time count names the same list so that both engines use
 * it. test_deadline checks it against the topic table (qs_codec.h). */
#define QS_DEADLINE_INSTALLED_SQL "state_id IN (3, 4, 10)"

/* The same list for SQLite, as ORs of equalities on column c: SQLite
 * evaluates an IN list by building an ephemeral b-tree on every execution,
 * and the partial index's condition runs on every row the store inserts or
 * updates (with an IN list that was a fifth of the store's page work,
 * docs/performance.md). A partial index is used by a query only when the
 * query names the index's condition the same way, so every SQLite
 * statement uses this form. */
#define QS_DEADLINE_INSTALLED_OR(c) "(" c " = 3 OR " c " = 4 OR " c " = 10)"

/* The same list in C: the writer's installed_hours moves (qs_counts.h). */
static inline int
qs_deadline_installed_like(uint32_t state_id)
{
    return state_id == 3 || state_id == 4 || state_id == 10;
}

/* installed_hours (qs_storedb.h) counts installed rows per hour of their
 * message time: the on-time count of a deadline sums whole hours before
 * the deadline's hour and counts only inside that hour. Times are never
 * negative (the store refuses times before 2000), so / is a floor. */
#define QS_INSTALLED_HOUR_MS INT64_C(3600000)
#define QS_INSTALLED_HOUR_SQL(t) "(" t " / 3600000)"

/* The states a deadline is judged by, for one topic type. */
typedef struct {
    uint32_t installed;           /* the state named "installed" */
    uint32_t not_required;        /* the state named "not required", if has_not_required */
    int has_not_required;
} qs_deadline_states_t;

/* Exact numbers for one update, from latest (one snapshot). */
typedef struct {
    int64_t rows;                 /* machines with a state for this update */
    int64_t installed;            /* of them, in the installed state */
    int64_t on_time;              /* of those, with time_ms <= deadline */
    int64_t not_required;         /* in the not-required state */
} qs_deadline_raw_t;

/* The states of topic_type; -1 with errmsg when it has no "installed". */
int qs_deadline_states(qs_deadline_states_t *out, uint32_t topic_type, char *errmsg,
                       size_t errmsg_len);

/* Exact classes of one update (see qs_store_deadline.h). */
void qs_deadline_classify(int64_t count[QS_DEADLINE_CLASSES], const qs_deadline_raw_t *raw,
                          int64_t scope, int deadline_passed);

/* Suppress one row of exact classes under k in place (rules in
 * qs_store_deadline.h). */
void qs_deadline_suppress_row(int64_t count[QS_DEADLINE_CLASSES], int64_t k);

/* Build the answer from exact numbers: out->k, rows (topic ids copied from
 * q), classes, suppression, totals. raw has q->n_topic_ids entries. */
void qs_deadline_build(qs_storedb_deadline_t *out, const qs_deadline_query_t *q,
                       const qs_deadline_raw_t *raw, int64_t scope, int k);

/* deadline_pg.c: the exact numbers on PostgreSQL, in one snapshot. */
int qs_deadline_fetch_pg(qs_storedb_t *db, int64_t *scope, qs_deadline_raw_t *raw,
                         const qs_deadline_query_t *q, const qs_deadline_states_t *states,
                         char *errmsg, size_t errmsg_len);

#endif
