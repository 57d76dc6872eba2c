/* write.h - the ingest transaction's body: dedup, minimization, latest and history writes (private to store/).
 *
 * A qs_write_t owns the statements ingest prepares once, the cache of
 * per-partition INSERTs, the last pseudonym of each kind and the
 * compliance_counts changes of the open transaction. qs_ingest drives it:
 * qs_write_begin, qs_write_batch for each decoded batch of the group,
 * qs_write_tally for the counters, qs_write_commit (or qs_write_rollback),
 * then qs_write_end_group once the acks are out.
 *
 * On PostgreSQL (write_pg.c) the same calls do the same, with one
 * difference: qs_write_batch only queues the batch; the group's batches
 * are written together (their clients locked in ascending key order) at
 * the first qs_write_tally or at qs_write_commit, which then sets the
 * outcomes, totals and low_water. Read them after the commit.
 *
 * The SQL of the statements the store writes with is named here once so
 * that the bench's SQLite limit (qs_store_bench.c) measures these very
 * statements instead of a copy.
 */
#ifndef QS_STORE_WRITE_H
#define QS_STORE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "group.h"
#include "qs_epochkeys.h"
#include "qs_policy.h"
#include "qs_storedb.h"
#include "resync.h"

/* latest.report_ms for the rows batch b writes: the store time at the
 * policy's precision (it is not a message time, but tells as much), except
 * in a batch of the resync the client was asked for: there the exact time,
 * because completing the resync drops the client's rows reported before it
 * started (resync.h), which a truncated time could not tell from the rows
 * it restated within the same second. The completion puts every row of the
 * client back at the precision (QS_WRITE_SQL_REPORT_PRECISION). */
static inline int64_t
qs_write_report_ms(const qs_resync_row_t *rs, const qs_group_batch_t *b, int64_t now_ms,
                   int64_t precision_ms)
{
    if (rs->want_gen != 0 && b->rs_gen == rs->want_gen)
        return now_ms;
    return now_ms - now_ms % precision_ms;
}
#define QS_WRITE_SQL_REPORT_PRECISION \
    "UPDATE latest SET report_ms = report_ms - report_ms % $2 " \
    "WHERE client_id = $1 AND report_ms % $2 <> 0"

#define QS_WRITE_SQL_INSERT_CLIENT \
    "INSERT INTO clients(pk, low_water, first_ms, last_ms) VALUES (?1, 0, ?2, ?2)"
#define QS_WRITE_SQL_UPDATE_CLIENT \
    "UPDATE clients SET low_water = ?2, last_ms = max(last_ms, ?3) WHERE client_id = ?1"
/* state/time follow the newest message time (ties: the later arrival);
 * report_ms is the store's time of the latest report, whatever its age. */
#define QS_WRITE_SQL_UPSERT_LATEST \
    "INSERT INTO latest(client_id, topic_type, topic_id, state_id, time_ms, " \
    "  report_ms, machine_ps, domain_ps) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) " \
    "ON CONFLICT(client_id, topic_type, topic_id) DO UPDATE SET " \
    "  state_id = CASE WHEN excluded.time_ms >= latest.time_ms " \
    "    THEN excluded.state_id ELSE latest.state_id END, " \
    "  machine_ps = CASE WHEN excluded.time_ms >= latest.time_ms " \
    "    THEN excluded.machine_ps ELSE latest.machine_ps END, " \
    "  domain_ps = CASE WHEN excluded.time_ms >= latest.time_ms " \
    "    THEN excluded.domain_ps ELSE latest.domain_ps END, " \
    "  time_ms = max(latest.time_ms, excluded.time_ms), " \
    "  report_ms = max(latest.report_ms, excluded.report_ms)"
/* A history row; %s is the partition's table (qs_storedb_partition_name). */
#define QS_WRITE_SQL_INSERT_HISTORY_FMT \
    "INSERT OR IGNORE INTO %s(client_id, serial, state_id, topic_id, time_ms, " \
    "machine_ps, domain_ps, user_ps, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
#define QS_WRITE_SQL_ADD_PART_ROWS \
    "UPDATE partitions SET rows = rows + ?3 WHERE epoch = ?1 AND topic_type = ?2"

typedef struct qs_write qs_write_t;

/* Prepare every statement on storedb. site_key (32 bytes) and epochkeys are
 * borrowed and must outlive the writer. NULL with errmsg when store.db is
 * not a quietstate store. */
qs_write_t *qs_write_new(qs_storedb_t *storedb, const uint8_t *site_key,
                         qs_epochkeys_t *epochkeys, char *errmsg, size_t errmsg_len);

/* Finalize and wipe; sets *self_p to NULL. No-op on NULL. */
void qs_write_destroy(qs_write_t **self_p);

/* [store] quota_topics_per_client (quota_topics.h); 0: no limit. Before
 * the first transaction. */
void qs_write_set_max_topics(qs_write_t *self, uint64_t max_topics);

/* BEGIN IMMEDIATE: a new transaction. 0 or -1 (PostgreSQL: also when the
 * connection is down and the reconnection's backoff has not run out). */
int qs_write_begin(qs_write_t *self);

/* Dedup, minimize under pol, store and count one decoded batch (its
 * messages are msgs[b->first_msg ..]) inside the open transaction: sets each
 * message's outcome, b's totals and low_water, and adds message-level
 * counters to txn. 0, or -1 on a database error (roll back). */
int qs_write_batch(qs_write_t *self, const qs_policy_t *pol, qs_group_batch_t *b,
                   qs_group_msg_t *msgs, qs_tally_t *txn, int64_t now_ms);

/* Add t's increments to the counters table in the open transaction. */
int qs_write_tally(qs_write_t *self, const qs_tally_t *t);

/* Write the partitions' row counts and the compliance_counts changes, then
 * COMMIT. 0, or -1 (then call qs_write_rollback). */
int qs_write_commit(qs_write_t *self);

/* ROLLBACK and forget the transaction's pending row counts and
 * compliance_counts changes. */
void qs_write_rollback(qs_write_t *self);

/* The client's committed low-water mark (0 when it has no row yet). */
uint64_t qs_write_low_water(qs_write_t *self, const uint8_t pk[QS_KEY_BYTES]);

/* The database's last error, for a log line. */
const char *qs_write_errmsg(qs_write_t *self);

/* After a group: wipe the remembered names (they were in clear). */
void qs_write_end_group(qs_write_t *self);

#endif
