/* qs_store_expire.h - the store's expiry operations: what a retention pass asks store.db to delete.
 *
 * Retention decides (retention/purge.c: which partitions the policy has
 * expired, which cutoff applies, key shredding, logging, counting); these
 * functions carry the decision out, each in short write transactions of its
 * own so that qs-store keeps ingesting meanwhile. Deleted content is zeroed
 * in the file; qs_storedb_scrub (qs_storedb.h) then truncates the WAL and
 * returns free pages. A partition's row count (what `qsctl stats` shows) is
 * kept in step by every deletion here and by forget (qs_store_forget.h).
 *
 * errmsg, on failure, gets the engine's reason only: the caller says what
 * it was doing.
 */
#ifndef QS_STORE_EXPIRE_H
#define QS_STORE_EXPIRE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "qs_storedb.h"

/* Drop history partition (epoch, topic_type) and unregister it, in one
 * transaction; a partition only registered, or only present as a table, is
 * removed all the same. *rows gets the rows it held. Returns 0, or -1 with
 * errmsg (nothing was dropped; *rows is 0). */
int qs_storedb_expire_partition(qs_storedb_t *db, int64_t *rows, int64_t epoch,
                                uint32_t topic_type, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Delete the rows of history partition (epoch, topic_type) whose time is
 * before cutoff_ms (time < cutoff_ms) and lower its row count, in one
 * transaction: the straddling partition of a pass. *deleted gets the rows
 * deleted (0 when the partition does not exist). Returns 0, or -1 with
 * errmsg (nothing was deleted). */
int qs_storedb_expire_history(qs_storedb_t *db, int64_t *deleted, int64_t epoch,
                              uint32_t topic_type, int64_t cutoff_ms,
                              char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Which latest rows qs_storedb_expire_latest considers: those of one topic
 * type, or (topic_type 0, the policy's "default" type) those of every topic
 * type but except[0..n_except), the types with an age of their own. */
typedef struct {
    uint32_t topic_type;
    const uint32_t *except;
    size_t n_except;
} qs_expire_topics_t;

/* Delete the latest rows of topics whose last report is before cutoff_ms
 * (report_ms < cutoff_ms) by one pass over latest's primary key, in steps
 * of batch rows (rounded up to a client's last row) each in its own
 * transaction. stop (may be NULL) is polled before every step: once set,
 * *interrupted becomes 1 and no step starts (the next call starts a new
 * pass). *deleted gets the rows deleted by the committed steps, also when a
 * later one fails. Returns 0, or -1 with errmsg (the failed step deleted
 * nothing). */
int qs_storedb_expire_latest(qs_storedb_t *db, int64_t *deleted, int *interrupted,
                             const qs_expire_topics_t *topics, int64_t cutoff_ms, size_t batch,
                             const volatile sig_atomic_t *stop, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* One qs-retention at a time on a store that several hosts share: take the
 * store's retention lock for one pass without waiting. On PostgreSQL a
 * session advisory lock (QS_PG_LOCK_CLASS, QS_PG_LOCK_RETENTION), so a
 * qs-retention on another host holding it makes this one wait (the caller
 * polls, logging once that it waits); a connection lost since the last call
 * (server restarted) is re-established first. On SQLite one host holds the
 * file and its own locks serialize the writers: always taken. Returns 1
 * taken, 0 held by another qs-retention, -1 with errmsg. */
int qs_storedb_retention_trylock(qs_storedb_t *db, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Release what qs_storedb_retention_trylock took (no-op on SQLite). */
void qs_storedb_retention_unlock(qs_storedb_t *db);

/* Under the retention lock, once a pass: fold the per-writer shards of the
 * counted tables into one row per key and delete the groups whose count is
 * 0 (PostgreSQL, storedb_pg.h), in one transaction; nothing to do on
 * SQLite. Returns 0, or -1 with errmsg (nothing changed; the next pass
 * tries again). */
int qs_storedb_retention_fold(qs_storedb_t *db, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* The engine's message for the last failed call on db (a borrowed string,
 * valid until the next call), for callers of functions that take no errmsg
 * buffer, such as qs_storedb_partitions_present. */
const char *qs_storedb_errmsg(qs_storedb_t *db);

#endif
