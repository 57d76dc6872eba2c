/* checkpointer.h - store.db's WAL checkpoints on a thread of their own (SQLite).
 *
 * In WAL mode a commit appends the changed pages to store.db-wal and
 * flushes that file; a checkpoint later copies them into store.db and
 * flushes it. By default SQLite runs the checkpoint inside the COMMIT that
 * takes the WAL past 1,000 pages, on the committing thread: qs-store's
 * commit thread, the one thread every message waits for. A fleet of
 * existing machines updating at random changes pages all over the file,
 * so that copy is a large share of its work (docs/performance.md).
 *
 * qs_checkpointer_start() takes that work to a thread with its own
 * connection to store.db. It replaces the writer connection's automatic
 * checkpoint with a hook (sqlite3_wal_hook, called after each commit with
 * the WAL's size): past QS_CHECKPOINT_PAGES it wakes the thread, which runs
 * a PASSIVE checkpoint (it never blocks the writer, nor waits for it) while
 * the commit thread goes on with the next group. Durability is the
 * COMMIT's flush of the WAL, as before: a checkpoint only moves pages
 * already durable there, and SQLite recovers from a WAL at any point (a
 * SIGKILL mid-checkpoint included). Should the thread fall behind (a
 * reader holding an old snapshot), the writer checkpoints itself once the
 * WAL passes QS_CHECKPOINT_INLINE_PAGES, so the WAL stays bounded.
 *
 * Only qs-store uses it; qsctl, qs-retention and the benchmarks' in-process
 * ideal store keep SQLite's automatic checkpoint.
 */
#ifndef QS_CHECKPOINTER_H
#define QS_CHECKPOINTER_H

#include "qs_storedb.h"

#include <stddef.h>
#include <stdint.h>

#define QS_CHECKPOINT_PAGES 1000            /* SQLite's own default threshold */
#define QS_CHECKPOINT_INLINE_PAGES 16000    /* ~64 MiB of WAL: the writer helps */

typedef struct qs_checkpointer qs_checkpointer_t;

typedef struct {
    uint64_t background;   /* checkpoints the thread ran */
    uint64_t inline_runs;  /* checkpoints the writer ran itself (thread behind) */
    uint64_t pages;        /* pages the thread copied into store.db (about) */
    uint64_t failed;       /* checkpoints that failed (not SQLITE_BUSY: logged) */
} qs_checkpointer_stats_t;

/* Start the thread for db, an SQLite store (the store.db at path) whose
 * connection only one other thread uses (qs-store's commit thread): call
 * it before that thread first commits. NULL with err on failure, or for a
 * PostgreSQL store (nothing is changed then). */
qs_checkpointer_t *qs_checkpointer_start(qs_storedb_t *db, const char *path, char *err,
                                         size_t err_len);

/* The counts so far (any thread). */
void qs_checkpointer_stats(qs_checkpointer_t *c, qs_checkpointer_stats_t *out);

/* Stop the thread (a checkpoint in progress finishes first), close its
 * connection and give the writer its automatic checkpoint back. Call it
 * when the writer's thread is done with it, before the writer is closed.
 * NULL-safe; sets *c to NULL. */
void qs_checkpointer_destroy(qs_checkpointer_t **c);

#endif
