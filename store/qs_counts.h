/* qs_counts.h - compliance_counts, scope_counts and installed_hours: what
 * `qsctl compliance` (and --deployment) reads instead of counting `latest`.
 *
 * compliance_counts(topic_type, topic_id, state_id) -> count equals
 * SELECT topic_type, topic_id, state_id, count(*) FROM latest GROUP BY 1, 2, 3
 * at every commit, and has no zero group (no topic id outlives its last
 * row). Who keeps it so:
 *
 *   - a row appearing in or leaving latest: the schema's AFTER INSERT and
 *     AFTER DELETE triggers on latest, whoever writes (the store's new rows,
 *     retention expiry, forget): rare on the hot path, and exact for every
 *     writer;
 *   - an existing row changing state: the writer that changes it, through a
 *     qs_count_deltas_t applied in its own transaction. Only qs-store changes
 *     states (store/write.c, write_latest). An AFTER UPDATE trigger would do
 *     it for anyone, but it cost 37% of the store's ingest rate (measured,
 *     docs/performance.md); the store already knows the old state for the
 *     price of one read of a page it is about to write.
 *
 * qs_storedb_counts_check compares the table with latest (qsctl verify);
 * qs_storedb_counts_rebuild recomputes it (schema upgrade, bulk loads,
 * qsctl verify --repair-counts).
 */
#ifndef QS_COUNTS_H
#define QS_COUNTS_H

#include <stdint.h>

#include "qs_storedb.h"

/* Count changes of one transaction, in memory: keyed by (topic_type,
 * topic_id, state_id) for compliance_counts, by (topic_type, topic_id,
 * state_id, hour) for installed_hours. Adding costs a hash and no
 * allocation once the table has grown to the transaction's distinct groups. */
typedef struct qs_count_deltas qs_count_deltas_t;

/* Never NULL (aborts on out of memory). */
qs_count_deltas_t *qs_count_deltas_new(void);
void qs_count_deltas_destroy(qs_count_deltas_t **d_p);

/* One row of latest left (from_state) or entered (to_state) a group.
 * topic_id is copied; it must be shorter than QS_MAX_TOPIC_ID_BYTES + 1. */
void qs_count_deltas_move(qs_count_deltas_t *d, uint32_t topic_type, const char *topic_id,
                          uint32_t from_state, uint32_t to_state);

/* The same row's move in installed_hours (qs_storedb.h): only states of
 * the installed list (QS_DEADLINE_INSTALLED_SQL) are counted there, per
 * hour of the message time; a move within one hour and state is none.
 * The same d: qs_storedb_counts_apply writes both tables. */
void qs_count_deltas_installed_move(qs_count_deltas_t *d, uint32_t topic_type,
                                    const char *topic_id, uint32_t from_state,
                                    int64_t from_time_ms, uint32_t to_state, int64_t to_time_ms);

/* Forget every delta (the transaction rolled back). */
void qs_count_deltas_clear(qs_count_deltas_t *d);

/* Groups with a non-zero delta. */
size_t qs_count_deltas_size(const qs_count_deltas_t *d);

/* Write the non-zero deltas into compliance_counts and installed_hours
 * (inside the caller's transaction, before COMMIT), deleting groups that
 * reach 0, then clear.
 * Returns 0, or -1 on an SQLite error (the caller rolls back; the deltas
 * are cleared either way). */
int qs_storedb_counts_apply(qs_storedb_t *db, qs_count_deltas_t *d);

/* Compare compliance_counts with latest grouped, in one snapshot (the
 * caller's transaction, or a read transaction of its own): *missing groups
 * of latest absent or with another count, *stale rows of compliance_counts
 * that latest does not have (a zero count included). Both 0 when they
 * agree. One scan of latest, grouped in memory (no sort, memory bounded by
 * the number of groups). Returns 0, or -1 on an SQLite error or a topic id
 * no message could carry. */
int qs_storedb_counts_check(qs_storedb_t *db, int64_t *missing, int64_t *stale);

/* Recompute compliance_counts, scope_counts and installed_hours from
 * latest (inside the caller's transaction), the same way; *groups (may be
 * NULL) gets the number of compliance groups written. Returns 0 or -1. */
int qs_storedb_counts_rebuild(qs_storedb_t *db, int64_t *groups);

/* scope_counts (qs_storedb.h): machines per topic type, kept by triggers
 * (SQLite) or by statement triggers with a per-(client, topic type) row
 * count (PostgreSQL, storedb_pg.h). Compare it with latest's distinct
 * clients per topic type in one snapshot: *wrong = topic types whose kept
 * count is absent, different or left over (0 when they agree). A walk of
 * latest's primary key in order (no sort). Returns 0, or -1 with errmsg. */
int qs_storedb_scope_check(qs_storedb_t *db, int64_t *wrong, char *errmsg, size_t errmsg_len);

/* installed_hours against latest's installed rows per hour, in one
 * snapshot: *wrong = hours absent, different or left over (0 when they
 * agree; on PostgreSQL an hour is the sum over the writer shards,
 * counts_pg.c). Returns 0, or -1 with errmsg. */
int qs_storedb_installed_check(qs_storedb_t *db, int64_t *wrong, char *errmsg,
                               size_t errmsg_len);

#endif
