/* outbox.h - the producer's durable outbox: a SQLite file of pending messages.
 *
 * `qs-producer report` appends a StateMessage with the next serial; the
 * sender takes pending messages in serial order, deletes them when the
 * store's sealed ack says they are committed, and moves permanently refused
 * ones to a rejected list. Serials start at 1 and are never reused: the next
 * serial lives in its own table, so it survives the outbox emptying and any
 * number of restarts. Several processes may use one outbox at once (report
 * while run delivers): SQLite WAL, a busy timeout, short transactions.
 *
 * Schema: meta(next_serial), outbox(serial, msg = packed StateMessage),
 * rejected(serial, status, code, reason, msg, rejected_ms) with status and
 * code stored by name ("BAD_MESSAGE", "STATE_OUT_OF_RANGE").
 */
#ifndef QS_PRODUCER_OUTBOX_H
#define QS_PRODUCER_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "source.h"
#include "quietstate.pb-c.h"

typedef struct qs_outbox qs_outbox_t;

/* Open path, creating it (mode 0600, WAL, synchronous=FULL, secure_delete)
 * when missing. An existing file that group or others can read is refused
 * (errmsg names the chmod). NULL with errmsg on failure. */
qs_outbox_t *qs_outbox_open(const char *path, char *errmsg, size_t errmsg_len);

/* Append m with the next serial (m->serial is set; m->time_utc_ms is the
 * caller's and kept as given). Durable before it returns: one transaction,
 * synchronous=FULL. Returns 0 with *serial_out, or -1 with errmsg. */
int qs_outbox_append(qs_outbox_t *ob, Quietstate__StateMessage *m, uint64_t *serial_out,
                     char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* Up to max_refs pending messages with serial > after, in serial order,
 * packed back to back into buf (stops before overflowing buf_cap). Returns 0
 * with *n_out (0 when none), -1 on a database error. Holds no transaction
 * open after it returns. */
int qs_outbox_take(qs_outbox_t *ob, uint64_t after, qs_msgref_t *refs, size_t max_refs,
                   uint8_t *buf, size_t buf_cap, size_t *n_out);

/* Delete every pending message with serial <= committed. Returns 0, -1. */
int qs_outbox_ack(qs_outbox_t *ob, uint64_t committed);

/* Move serial from the outbox to the rejected list with its status, code and
 * reason (reason may be NULL). A serial no longer pending is a no-op.
 * Returns 0, -1. */
int qs_outbox_reject(qs_outbox_t *ob, uint64_t serial, Quietstate__Status status,
                     Quietstate__Code code, const char *reason);

/* Messages waiting for an ack; messages on the rejected list. 0 or -1. */
int qs_outbox_pending_count(qs_outbox_t *ob, uint64_t *count);
int qs_outbox_rejected_count(qs_outbox_t *ob, uint64_t *count);

/* The serial the next append will get (for tests and diagnostics). */
int qs_outbox_next_serial(qs_outbox_t *ob, uint64_t *next);

typedef struct {
    uint64_t serial;
    const char *status;   /* name, e.g. "BAD_MESSAGE" */
    const char *code;     /* name, e.g. "STATE_OUT_OF_RANGE" */
    const char *reason;
    int64_t rejected_ms;
} qs_outbox_rejected_t;

/* Call cb for each rejected message in serial order; the entry's strings are
 * valid during the call only. Stops when cb returns != 0. Returns 0, -1. */
int qs_outbox_rejected_each(qs_outbox_t *ob,
                            int (*cb)(void *ctx, const qs_outbox_rejected_t *r), void *ctx);

/* A qs_source_t backed by ob (borrowed: ob must outlive the sender). */
qs_source_t qs_outbox_source(qs_outbox_t *ob);

/* Close; sets *ob_p to NULL. No-op on NULL. */
void qs_outbox_destroy(qs_outbox_t **ob_p);

#endif
