/* sender.h - the delivery engine: one client's messages to the store, reliably.
 *
 * A qs_sender_t owns one DEALER socket (CurveZMQ client pinned to the
 * broker's key, authenticated with the client's key) and the end-to-end
 * shared key with the store. It keeps up to `window` batches of up to
 * `batch` messages in flight, taken from a pluggable qs_source_t (the outbox,
 * or the simulator's generator), and follows docs/protocol.md:
 *
 *  - only an Ack sealed with the store's key moves the source forward:
 *    committed_serial deletes up to it, permanent per-message rejections go
 *    to the source's rejected list; broker notices are advisory;
 *  - transient answers (NOT_CONFIGURED, RETRY_LATER, broker notices) back off
 *    100 ms doubling to 5 s with jitter, then resend everything above the
 *    committed serial;
 *  - no reply within reply_timeout_ms (5 s): Lazy Pirate - close the socket,
 *    reconnect, resend everything above the committed serial. When a loaded
 *    store answers slowly the timeout stretches to 4 smoothed reply times
 *    (at most 6 x reply_timeout_ms), so a slow store is not also flooded
 *    with resends.
 *  - several brokers (the endpoint is a list, qs_endpoints.h): the sender
 *    talks to one at a time, starting at the one its client key picks (so
 *    a fleet spreads over them). It moves to the next, in list order, and
 *    resends everything above the committed serial when it sees its
 *    connection lost (checked every failover_ms / 4 while batches are in
 *    flight), when it could not connect for failover_ms, or when batches
 *    have been in flight for failover_ms with no reply at all (a reply
 *    timeout moves on too). With one broker none of this applies (Lazy
 *    Pirate above, as before).
 *
 * A sender never blocks and has no loop of its own, so one thread can drive
 * many (the simulator drives thousands) from one zmq_poll loop:
 *
 *   for (;;) {
 *       for each sender i: qs_sender_pollitem(s[i], &items[i]);
 *       timeout = min over i of qs_sender_next_deadline(s[i]) - now;
 *       zmq_poll(items, n, timeout);
 *       now = qs_clock_mono_ms();
 *       for each i: if (items[i].revents) qs_sender_on_readable(s[i], now);
 *                   if (qs_sender_next_deadline(s[i]) <= now) qs_sender_on_tick(s[i], now);
 *   }
 *
 * Buffers for building, sealing and opening live in a qs_sender_ws_t that
 * senders driven by one thread share: the hot path allocates nothing per
 * message (protobuf-c unpacks one Reply and one Ack per answer).
 */
#ifndef QS_PRODUCER_SENDER_H
#define QS_PRODUCER_SENDER_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "qs_clock.h"
#include "qs_keys.h"
#include "qs_limits.h"
#include "source.h"

#define QS_SENDER_DEFAULT_WINDOW     4u
#define QS_SENDER_MAX_WINDOW         16u
#define QS_SENDER_REPLY_TIMEOUT_MS   5000
#define QS_SENDER_BACKOFF_MIN_MS     100
#define QS_SENDER_BACKOFF_MAX_MS     5000
#define QS_SENDER_IDLE_POLL_MS       250
#define QS_SENDER_FAILOVER_MS        5000   /* several brokers: see above */
#define QS_SENDER_FAILOVER_MIN_MS    200
#define QS_SENDER_FAILOVER_MAX_MS    600000

typedef struct qs_sender qs_sender_t;
typedef struct qs_sender_ws qs_sender_ws_t;

typedef struct {
    const char *endpoint;             /* broker frontend, e.g. tcp://127.0.0.1:5570, or
                                         several separated by blanks (qs_endpoints.h) */
    const uint8_t *broker_pk;         /* QS_KEY_BYTES: pinned CurveZMQ server key */
    const uint8_t *store_pk;          /* QS_KEY_BYTES: end-to-end peer */
    const qs_keypair_t *keypair;      /* the client's; borrowed, must outlive the sender */
    qs_source_t source;               /* borrowed context */
    size_t batch;                     /* messages per batch; 0 = QS_DEFAULT_BATCH_MESSAGES */
    size_t window;                    /* batches in flight; 0 = QS_SENDER_DEFAULT_WINDOW */
    int reply_timeout_ms;             /* 0 = QS_SENDER_REPLY_TIMEOUT_MS */
    int idle_poll_ms;                 /* look for new messages this often; 0 = default */
    int failover_ms;                  /* several brokers: 0 = QS_SENDER_FAILOVER_MS */
    int quiet;                        /* 1: per-client events at debug level (fleets) */
} qs_sender_opts_t;

typedef struct {
    uint64_t committed;               /* store's committed serial, as applied */
    uint64_t sent_upto;               /* highest serial in the current window */
    uint64_t batches_sent;
    uint64_t messages_sent;           /* including resends */
    uint64_t acks;                    /* sealed acks accepted */
    uint64_t notices;                 /* broker notices */
    uint64_t transient;               /* transient answers (each one backs off) */
    uint64_t rejected;                /* messages moved to the rejected list */
    uint64_t reconnects;              /* Lazy Pirate reconnects */
    uint64_t failovers;               /* moves to the next broker (several brokers) */
    uint64_t bad_replies;             /* unparsable, unsealed or forged replies */
    int last_status;                  /* Quietstate__Status of the last answer, 0 = none */
} qs_sender_stats_t;

/* Shared working buffers (about 4 MiB) for all senders driven by one thread. */
qs_sender_ws_t *qs_sender_ws_new(void);
void qs_sender_ws_destroy(qs_sender_ws_t **ws_p);

/* A sender connected (asynchronously) to opts->endpoint. zctx and ws are
 * borrowed and must outlive it; opts is copied (the strings and keys it
 * points to are copied too, except keypair and source.ctx). NULL with errmsg
 * on a bad option or a socket error. */
qs_sender_t *qs_sender_new(void *zctx, qs_sender_ws_t *ws, const qs_sender_opts_t *opts,
                           char *errmsg, size_t errmsg_len);

/* Close the socket (unsent data is dropped: it is still in the source) and
 * wipe the shared key; sets *s_p to NULL. No-op on NULL. */
void qs_sender_destroy(qs_sender_t **s_p);

/* Fill item for zmq_poll: the socket, ZMQ_POLLIN, and ZMQ_POLLOUT while the
 * sender waits for its connection. The socket changes on every reconnect:
 * call this before each zmq_poll. */
void qs_sender_pollitem(const qs_sender_t *s, zmq_pollitem_t *item);

/* Call when zmq_poll reports any event on the item: notes a new connection
 * and receives and handles every reply waiting on the socket. Returns the
 * number of replies handled, or -1 on a source error (logged; delivery
 * continues). */
int qs_sender_on_readable(qs_sender_t *s, int64_t now_ms);

/* Do what is due at now_ms: end a backoff, reconnect after a reply timeout,
 * fill the window from the source. Returns 0, or -1 on a source or socket
 * error (logged; the sender retries later). */
int qs_sender_on_tick(qs_sender_t *s, int64_t now_ms);

/* When on_tick next has work (monotonic ms; <= now means now). */
int64_t qs_sender_next_deadline(const qs_sender_t *s);

/* 1 when nothing is in flight and the source had nothing more at its last
 * look: everything taken so far is committed. */
int qs_sender_idle(const qs_sender_t *s);

void qs_sender_stats(const qs_sender_t *s, qs_sender_stats_t *out);

/* Flow control for a driver of many senders: while paused, a sender starts
 * no new batch (it still handles replies, timeouts and backoff, and resends
 * nothing until unpaused). Serials in the current window (sent, not yet
 * committed), and the most the window can hold (window x batch). */
void qs_sender_set_paused(qs_sender_t *s, int paused);
int qs_sender_paused(const qs_sender_t *s);
uint64_t qs_sender_inflight(const qs_sender_t *s);
uint64_t qs_sender_capacity(const qs_sender_t *s);

/* The broker endpoint the sender talks to now (one of the list). */
const char *qs_sender_endpoint(const qs_sender_t *s);

/* The client key's first 8 hex characters, for log lines ("1a2b3c4d"). */
const char *qs_sender_label(const qs_sender_t *s);

#endif
