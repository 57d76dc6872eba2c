/* qs_workerproto.h - the broker <-> store worker protocol: its heartbeat and the timings that must agree.
 *
 * A store worker (qs-store, a DEALER on the broker's backend) sends the one
 * frame QS_WORKER_READY at start and every QS_WORKER_HEARTBEAT_MS; the broker
 * routes envelopes only to workers heard from within QS_WORKER_TTL_MS. A
 * worker blocked on SQLite's write lock sends nothing meanwhile, so it gives
 * up after QS_WORKER_BUSY_TIMEOUT_MS (answering the group RETRY_LATER) rather
 * than let the broker drop it as dead: the asserts below keep these in order.
 * Both sides include this header; a change here changes both.
 */
#ifndef QS_WORKERPROTO_H
#define QS_WORKERPROTO_H

/* The heartbeat frame, exactly these bytes (no terminating NUL). */
#define QS_WORKER_READY "READY"
#define QS_WORKER_READY_LEN (sizeof QS_WORKER_READY - 1)

/* How often a worker says QS_WORKER_READY. */
#define QS_WORKER_HEARTBEAT_MS 1000
/* A worker silent for longer is gone (the broker forgets it). */
#define QS_WORKER_TTL_MS 3000
/* qs-store's SQLite busy timeout on store.db: how long a commit waits for
 * another process's write lock before the group is answered RETRY_LATER. */
#define QS_WORKER_BUSY_TIMEOUT_MS 1500
/* A worker about to commit sends a heartbeat first when its last one is
 * older than half an interval, so the longest silence is half an interval,
 * the busy timeout and the commit itself (fsync): this much is left for it. */
#define QS_WORKER_COMMIT_MARGIN_MS 1000

_Static_assert(QS_WORKER_HEARTBEAT_MS * 2 < QS_WORKER_TTL_MS,
               "a worker must survive one lost heartbeat");
_Static_assert(QS_WORKER_HEARTBEAT_MS / 2 + QS_WORKER_BUSY_TIMEOUT_MS +
                   QS_WORKER_COMMIT_MARGIN_MS <= QS_WORKER_TTL_MS,
               "a store waiting on SQLite's lock must give up before the broker drops it");

#endif
