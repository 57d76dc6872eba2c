/* outbox.h - the producer's durable outbox: a SQLite file of pending messages.
 *
 * `qs-producer report` appends a StateMessage with the next serial; the
 * sender takes pending messages in serial order, deletes them when the
 * store's sealed ack says they are committed, and moves permanently refused
 * ones to a rejected list. Serials start at 1 and a serial a sender has
 * taken is never reused: the next serial lives in its own table, so it
 * survives the outbox emptying and any number of restarts (only messages no
 * sender has taken may be renumbered, by the cap below). Several processes may use one outbox at once (report
 * while run delivers): SQLite WAL, a busy timeout, short transactions.
 *
 * Schema: meta(next_serial), outbox(serial, msg = packed StateMessage,
 * topic_type, topic_id), rejected(serial, status, code, reason, msg,
 * rejected_ms) with status and code stored by name ("BAD_MESSAGE",
 * "STATE_OUT_OF_RANGE"), current(topic_type, topic_id, serial, state_id,
 * time_ms, msg): the endpoint's own current state, one row per topic, what a
 * resync re-sends; tallies(name, value): counters, settings(name, value);
 * meta.taken_upto: the highest serial a sender has taken (maybe sent).
 *
 * Hygiene (docs/producer.md): at most max_pending messages wait (default
 * QS_OUTBOX_DEFAULT_MAX_PENDING); over the cap the oldest superseded pending
 * messages (a newer serial of their topic was recorded) that no sender has
 * taken yet are dropped and counted, down to 90% of the cap, and the
 * untaken messages above them renumbered so that the store never sees a
 * serial gap; never the latest state of a topic, never a taken (maybe sent)
 * or acked message. When nothing can be dropped, append fails.
 * Rejected messages lose their message and reason (names) after
 * QS_OUTBOX_REJECTED_KEEP_DAYS and are deleted after
 * QS_OUTBOX_REJECTED_REMNANT_DAYS.
 */
#ifndef QS_PRODUCER_OUTBOX_H
#define QS_PRODUCER_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "source.h"
#include "quietstate.pb-c.h"

typedef struct qs_outbox qs_outbox_t;

#define QS_OUTBOX_DEFAULT_MAX_PENDING 50000u
#define QS_OUTBOX_MAX_MAX_PENDING     10000000u
#define QS_OUTBOX_REJECTED_KEEP_DAYS  30u
#define QS_OUTBOX_REJECTED_REMNANT_DAYS 365u
/* Topic type 700 ("state system resync") is a request, not a state: it is
 * never kept in the current state nor re-sent by a resync. */
#define QS_OUTBOX_RESYNC_TOPIC_TYPE   700u

/* Open path, creating it (mode 0600, WAL, synchronous=FULL, secure_delete)
 * when missing. An existing file that group or others can read is refused
 * (errmsg names the chmod). NULL with errmsg on failure. */
qs_outbox_t *qs_outbox_open(const char *path, char *errmsg, size_t errmsg_len);

/* Append m with the next serial (m->serial is set; m->time_utc_ms is the
 * caller's and kept as given) and make it its topic's current state. Durable
 * before it returns: one transaction, synchronous=FULL. At the cap, drops
 * the oldest superseded pending message first; -1 with errmsg ("outbox
 * full: ...") when none is. Returns 0 with *serial_out, or -1 with errmsg. */
int qs_outbox_append(qs_outbox_t *ob, Quietstate__StateMessage *m, uint64_t *serial_out,
                     char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* Append msgs[0..n) as qs_outbox_append does, all in one transaction (none
 * is appended when one fails); their serials are consecutive from
 * *first_serial (0 when n == 0). Returns 0, or -1 with errmsg. */
int qs_outbox_append_many(qs_outbox_t *ob, Quietstate__StateMessage *const *msgs, size_t n,
                          uint64_t *first_serial, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Call cb for each topic of the current state (topic_type 0: every type), in
 * (topic type, topic id) order; m->serial is the serial that last recorded
 * it. m is valid during the call only; cb must not write to ob. Stops when
 * cb returns != 0. Returns 0, -1. */
int qs_outbox_current_each(qs_outbox_t *ob, uint32_t topic_type,
                           int (*cb)(void *ctx, const Quietstate__StateMessage *m), void *ctx);

/* The resync primitive: append the whole current state again, one message
 * per topic with its fields and time as recorded, as new serials (one
 * transaction). *n_out messages from *first_serial. Returns 0, -1 with
 * errmsg (e.g. the cap leaves no room). Nothing calls it from the network
 * yet: the store's resync request will (docs/producer.md). */
int qs_outbox_resend_current(qs_outbox_t *ob, uint64_t *n_out, uint64_t *first_serial,
                             char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* Resync (docs/resync.md, outbox_resync.c). The outbox's instance id:
 * 16 random bytes drawn at its first use and kept. 0 or -1. */
int qs_outbox_instance(qs_outbox_t *ob, uint8_t out[16]);

/* The store asks for resync generation gen in delay_ms: kept, and run at
 * once when due (qs_outbox_resync_run_due). A generation already heard is
 * ignored. 1 when messages were appended, 0 when not (yet), -1 on error. */
int qs_outbox_resync_request(qs_outbox_t *ob, uint64_t gen, uint64_t delay_ms, int64_t now_ms);

/* Run the pending resync when due: the current state appended again
 * (qs_outbox_resend_current) and its serial range kept for the batch
 * markers. 1 appended, 0 nothing due, -1 on error (retried later). */
int qs_outbox_resync_run_due(qs_outbox_t *ob, int64_t now_ms);

/* Batch.instance and, for a batch holding part of the latest resync, its
 * markers, packed into buf (QS_SOURCE_FIELDS_MAX bytes); the length. */
size_t qs_outbox_batch_fields(qs_outbox_t *ob, uint64_t first, uint64_t last, uint8_t *buf);

/* The cap on pending messages, kept in the outbox file (default
 * QS_OUTBOX_DEFAULT_MAX_PENDING). set: 1..QS_OUTBOX_MAX_MAX_PENDING, else -1. */
int qs_outbox_max_pending(qs_outbox_t *ob, uint64_t *max);
int qs_outbox_set_max_pending(qs_outbox_t *ob, uint64_t max);

/* Erase message and reason of rejected entries older than keep_days (the
 * entry keeps serial, status, code, time) and delete entries older than
 * QS_OUTBOX_REJECTED_REMNANT_DAYS; erased/deleted may be NULL. open runs it
 * with QS_OUTBOX_REJECTED_KEEP_DAYS. Returns 0, -1. */
int qs_outbox_expire_rejected(qs_outbox_t *ob, int64_t now_ms, uint32_t keep_days,
                              uint64_t *erased, uint64_t *deleted);

typedef struct {
    uint64_t pending, rejected, next_serial, max_pending, current_topics;
    uint64_t dropped_superseded;      /* counter: dropped at the cap, ever */
    uint64_t taken_upto;              /* highest serial a sender has taken */
    uint64_t rejected_erased;         /* rejected entries now without names */
    uint64_t rejected_erased_total, rejected_deleted_total;   /* counters */
} qs_outbox_status_t;

/* Counts and counters for `qs-producer status`. Returns 0, -1. */
int qs_outbox_status(qs_outbox_t *ob, qs_outbox_status_t *st);

/* Up to max_refs pending messages with serial > after, in serial order,
 * packed back to back into buf (stops before overflowing buf_cap), and
 * marked taken (never renumbered or dropped at the cap from then on).
 * Returns 0 with *n_out (0 when none), -1 on a database error. Holds no
 * transaction open after it returns. */
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
