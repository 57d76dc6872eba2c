/* purge.h - which stored data the policy has expired, and one retention pass that removes it.
 *
 * Two clocks age data out (DESIGN.md, "What ages out, and by which clock"):
 * a history row by its message time (time_ms), a latest row by the store time
 * of the machine's last report of that topic (report_ms). For topic type T the
 * cutoff is now - max_age_days(T) days; anything strictly older is expired.
 *
 * History lives in one table per (UTC day, topic type). A partition whose
 * whole day lies before the cutoff is dropped (DROP TABLE, with secure_delete
 * zeroing its pages) and then its data key is shredded: its details are then
 * unreadable in every copy of store.db. The one partition per topic that
 * straddles the cutoff (epoch == day of the cutoff) has its expired rows
 * deleted row by row, so nothing older than the maximum age survives in the
 * live files; that costs one scan of one day's partition per topic, however
 * much younger data is kept. Its key survives until the whole day expires.
 *
 * Every deletion runs in short BEGIN IMMEDIATE transactions (one per
 * partition, latest in batches) so that qs-store keeps ingesting; a crash or
 * SIGTERM between steps loses nothing that should be kept, and the next pass
 * finishes the job (a key whose partition is gone is an orphan and shredded).
 */
#ifndef QS_PURGE_H
#define QS_PURGE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "qs_epochkeys.h"
#include "qs_policy.h"
#include "qs_storedb.h"

/* Rows of latest looked at per transaction of the pass over its primary key
 * (qs_store_expire.h): keeps each write lock short. */
#define QS_PURGE_LATEST_BATCH 5000

typedef struct {
    int64_t partitions_dropped;     /* whole history tables dropped */
    int64_t history_rows_deleted;   /* rows in dropped tables + rows deleted one by one */
    int64_t latest_rows_deleted;
    int64_t keys_shredded;          /* key files of dropped partitions and orphans */
    int scrubbed;                   /* 1 when WAL truncate + incremental vacuum ran OK */
    int interrupted;                /* 1 when *stop cut the pass short */
    int errors;                     /* steps that failed (logged); the next pass retries */
} qs_purge_counts_t;

/* One retention pass at now_ms under policy p: drop expired partitions (each
 * committed before its key is shredded), delete the expired rows of each
 * topic's straddling partition, shred orphan keys, delete expired latest
 * rows, then scrub (incremental vacuum + WAL checkpoint TRUNCATE) when
 * anything was deleted. stop (may be NULL) is polled between steps: once set,
 * no new deletion starts, but what was deleted is still scrubbed. Logs one
 * line per event. Returns 0 when every step succeeded, -1 otherwise (counts
 * say what was done; errmsg the first failure). */
int qs_purge_pass(qs_storedb_t *db, qs_epochkeys_t *ks, const qs_policy_t *p, int64_t now_ms,
                  const volatile sig_atomic_t *stop, qs_purge_counts_t *counts,
                  char *errmsg, size_t errmsg_len);

#endif
