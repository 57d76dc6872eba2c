/* committer.h - one thread that runs the store's commits, one job at a time, beside the receiving thread (private to store/).
 *
 * Why a thread: the store spends a large part of a group's time waiting for
 * the disk (COMMIT with synchronous=FULL ends in fsync). On that thread the
 * wait costs no CPU, so the receiving thread (zmq_poll, open, decode,
 * validate: ingest.c) fills the next group meanwhile. A thread and not a
 * process because the group handed over is a tree of decoded protobuf
 * messages in an arena: a thread takes it by pointer, a process would need
 * it copied or serialized; and a SIGKILL ends both threads at once, so no
 * crash leaves half of the store running (docs/performance.md, "The
 * pipeline").
 *
 * The contract is a strict handoff of ownership: a job given to
 * qs_committer_submit belongs to the committer thread until
 * qs_committer_take returns it; the caller must not touch it meanwhile,
 * and the thread touches nothing else of the caller's. At most one job is
 * in flight (submit refuses a second): groups commit in the order they
 * were submitted, each after the previous one's COMMIT returned. The
 * caller polls qs_committer_fd (an eventfd, readable once the job is done)
 * with zmq_poll or poll. submit and take are called from one thread only
 * (the one that owns the committer). The thread blocks every signal: they
 * go to the process's main thread, as before there was a second one.
 */
#ifndef QS_STORE_COMMITTER_H
#define QS_STORE_COMMITTER_H

#include <stddef.h>

typedef struct qs_committer qs_committer_t;

/* Runs on the committer thread, once per submitted job. */
typedef void (*qs_committer_fn)(void *arg, void *job);

/* Start the thread. arg is borrowed (passed to fn with every job). NULL
 * with errmsg when the thread or the eventfd cannot be created. */
qs_committer_t *qs_committer_new(qs_committer_fn fn, void *arg, char *errmsg, size_t errmsg_len);

/* Wait for the job in flight to finish (it is dropped untaken: the caller
 * still owns its memory), stop and join the thread; sets *self_p to NULL.
 * No-op on NULL. */
void qs_committer_destroy(qs_committer_t **self_p);

/* Readable (POLLIN) while a finished job waits for qs_committer_take. */
int qs_committer_fd(const qs_committer_t *self);

/* Hand job to the thread. 0, or -1 while a job is in flight (submitted
 * and not yet taken back). */
int qs_committer_submit(qs_committer_t *self, void *job);

/* 1 while a job is in flight. */
int qs_committer_busy(const qs_committer_t *self);

/* The finished job, handed back to the caller; NULL when none is finished
 * (wait = 0) or none is in flight. wait != 0 blocks until the job in flight
 * is finished. */
void *qs_committer_take(qs_committer_t *self, int wait);

#endif
