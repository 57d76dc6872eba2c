/* sender.c - the delivery engine (see sender.h for the protocol it follows).
 *
 * State per sender: `committed` (the store's low-water mark, only ever moved
 * by a sealed ack), `sent_upto` (the highest serial in the current window),
 * and the in-flight batches in send order, each with its send time. Filling
 * the window takes messages above sent_upto from the source. Anything that
 * makes the window untrustworthy - a backoff ending, a reply timeout - resets
 * it: in-flight batches are forgotten and sent_upto falls back to committed,
 * so everything not yet committed is sent again (the store drops duplicates).
 *
 * Several brokers: the list is kept NUL-separated in `endpoint` (ep_off
 * says where each starts), one socket to the broker in use, checked every
 * failover_ms / 4 while batches are in flight (one ZMQ_EVENTS query; see
 * link_trouble). No ZMTP heartbeats: they would add traffic on every idle
 * connection and count as bytes held in the broker's guard (docs/broker.md).
 *
 * A batch is framed without unpacking: a packed Batch is just each packed
 * StateMessage prefixed with the tag of field 1 and its length, so the
 * source's bytes are copied once into the plaintext and sealed from there.
 */
#include "sender.h"

#include "batchfields.h"

#include "qs_codec.h"
#include "qs_endpoints.h"
#include "qs_envelope.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "qs_zmqutil.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SENDER_HWM           64
#define SENDER_MAX_REPLIES   64       /* per on_readable call: fairness across senders */
#define SENDER_CONN_WAIT_MAX_MS 1000  /* longest wait between "connected yet?" checks */
#define BATCH_FIELD_TAG      0x0Au    /* Batch.messages: field 1, length-delimited */
#define BATCH_FRAMING_BYTES  3u       /* tag + 2-byte varint (messages < 16 KiB) */

_Static_assert(QS_MAX_MESSAGE_BYTES < 16384, "a message length fits a 2-byte varint");
_Static_assert(QS_MAX_ENDPOINT_BYTES <= 256, "an endpoint offset fits a uint8_t");

struct qs_sender_ws {
    qs_msgref_t refs[QS_MAX_BATCH_MESSAGES];
    uint8_t *scratch;                 /* messages as the source packs them */
    uint8_t *plain;                   /* the packed Batch */
    uint8_t *frame;                   /* the sealed Envelope */
    size_t frame_cap;
    uint8_t *ackbuf;                  /* an opened Ack */
};

struct inflight {
    uint64_t first, last;
    int64_t sent_ms;
};

struct qs_sender {
    void *zctx;
    qs_sender_ws_t *ws;
    void *sock;
    char endpoint[QS_MAX_ENDPOINT_BYTES];   /* the list, each endpoint NUL-terminated */
    uint8_t ep_off[QS_MAX_BROKERS];         /* where each endpoint starts */
    uint8_t n_eps, cur;                     /* brokers in the list, the one in use */
    int failover_ms;
    int was_up;                       /* the current socket has been connected */
    int64_t opened_ms;                /* when the current socket was opened */
    int64_t last_rx_ms;               /* the last reply on the current socket */
    int64_t next_check;               /* next connection check while in flight */
    uint8_t broker_pk[QS_KEY_BYTES];
    uint8_t store_pk[QS_KEY_BYTES];
    const qs_keypair_t *kp;
    uint8_t *shared;                  /* sodium_malloc'd beforenm(store_pk, client sk) */
    qs_source_t src;
    size_t batch, window;
    int timeout_ms, idle_ms, quiet;
    char label[9];

    struct inflight fl[QS_SENDER_MAX_WINDOW];
    size_t n_fl;
    uint64_t committed, sent_upto, max_sent;
    int backing_off;
    int64_t backoff_until;
    unsigned failures;                /* consecutive transient answers */
    int hold;                         /* start no batch before next_look */
    int drained;                      /* the source's last answer: nothing more */
    int conn_wait_ms;                 /* growing wait while not connected; 0 = connected */
    int paused;                       /* the driver withholds new batches */
    int64_t next_look;                /* when to try filling the window again */
    int warned_beyond;                /* logged a committed serial beyond max_sent */
    int64_t srtt_ms;                  /* smoothed reply time, 0 = no sample yet */
    int health;                       /* last logged condition (a Status), 0 = fine */
    qs_sender_stats_t st;
};

static int64_t reply_timeout(const qs_sender_t *s);
static int writable(qs_sender_t *s);

/* Per-client events: warn/info normally, debug for a fleet of senders. */
#define SLOG(s, level, fmt, ...)                                                 \
    qs_log((s)->quiet ? QS_LOG_DEBUG : (level), "client %s: " fmt, (s)->label,   \
           __VA_ARGS__)

/* The endpoint in use. */
static const char *
cur_ep(const qs_sender_t *s)
{
    return s->endpoint + s->ep_off[s->cur];
}

qs_sender_ws_t *
qs_sender_ws_new(void)
{
    qs_sender_ws_t *ws = qs_calloc(1, sizeof *ws);

    ws->scratch = qs_malloc(QS_MAX_BATCH_BYTES);
    ws->plain = qs_malloc(QS_MAX_BATCH_BYTES);
    ws->frame_cap = qs_envelope_sealed_size(QS_MAX_BATCH_BYTES);
    ws->frame = qs_malloc(ws->frame_cap);
    ws->ackbuf = qs_malloc(QS_MAX_FRAME_BYTES);
    return ws;
}

void
qs_sender_ws_destroy(qs_sender_ws_t **ws_p)
{
    qs_sender_ws_t *ws;

    if (ws_p == NULL || *ws_p == NULL)
        return;
    ws = *ws_p;
    free(ws->scratch);
    free(ws->plain);
    free(ws->frame);
    free(ws->ackbuf);
    free(ws);
    *ws_p = NULL;
}

/* A DEALER socket, CURVE client of the broker. ZMQ_IMMEDIATE: a batch is
 * only ever queued on a connected, authenticated pipe, so the reply timer
 * starts when the batch can actually travel (while the broker is down or a
 * fleet's connections are still being accepted, nothing is "in flight"). */
static int
open_socket(qs_sender_t *s)
{
    int ivl_max = QS_SENDER_BACKOFF_MAX_MS, one = 1;

    s->sock = zmq_socket(s->zctx, ZMQ_DEALER);
    if (s->sock == NULL)
        return -1;
    if (qs_zmq_socket_limits(s->sock, SENDER_HWM, 0) != 0 ||
        qs_zmq_curve_client(s->sock, s->kp, s->broker_pk) != 0 ||
        zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) != 0 ||
        zmq_setsockopt(s->sock, ZMQ_IMMEDIATE, &one, sizeof one) != 0 ||
        zmq_connect(s->sock, cur_ep(s)) != 0) {
        int err = zmq_errno();
        zmq_close(s->sock);
        s->sock = NULL;
        errno = err;
        return -1;
    }
    s->was_up = 0;
    s->opened_ms = qs_clock_mono_ms();
    s->last_rx_ms = 0;
    return 0;
}

/* Keep the list NUL-separated in s->endpoint and pick the first broker:
 * the client key's first two bytes modulo the count, so that a fleet
 * spreads over the brokers (any broker serves any client). */
static int
set_endpoints(qs_sender_t *s, const char *list, int failover_ms, char *errmsg,
              size_t errmsg_len)
{
    qs_endpoints_t eps;
    size_t used = 0;
    const uint8_t *pk = qs_keypair_public(s->kp);

    if (qs_endpoints_parse(&eps, list, errmsg, errmsg_len) != 0)
        return -1;
    for (size_t i = 0; i < eps.n; i++) {
        size_t len = strlen(eps.ep[i]) + 1;   /* fits where the list (and separator) did */
        QS_ASSERT(used + len <= sizeof s->endpoint);
        memcpy(s->endpoint + used, eps.ep[i], len);
        s->ep_off[i] = (uint8_t)used;
        used += len;
    }
    s->n_eps = (uint8_t)eps.n;
    s->cur = (uint8_t)(((unsigned)pk[0] | (unsigned)pk[1] << 8) % eps.n);
    s->failover_ms = failover_ms > 0 ? failover_ms : QS_SENDER_FAILOVER_MS;
    if (s->failover_ms < QS_SENDER_FAILOVER_MIN_MS || s->failover_ms > QS_SENDER_FAILOVER_MAX_MS) {
        snprintf(errmsg, errmsg_len, "the failover timeout must be %d..%d ms",
                 QS_SENDER_FAILOVER_MIN_MS, QS_SENDER_FAILOVER_MAX_MS);
        return -1;
    }
    return 0;
}

qs_sender_t *
qs_sender_new(void *zctx, qs_sender_ws_t *ws, const qs_sender_opts_t *opts, char *errmsg,
              size_t errmsg_len)
{
    qs_sender_t *s;

    if (opts->batch > QS_MAX_BATCH_MESSAGES) {
        snprintf(errmsg, errmsg_len, "batch size must be 1..%u", QS_MAX_BATCH_MESSAGES);
        return NULL;
    }
    if (opts->window > QS_SENDER_MAX_WINDOW) {
        snprintf(errmsg, errmsg_len, "window must be 1..%u", QS_SENDER_MAX_WINDOW);
        return NULL;
    }
    s = qs_calloc(1, sizeof *s);
    s->zctx = zctx;
    s->ws = ws;
    memcpy(s->broker_pk, opts->broker_pk, QS_KEY_BYTES);
    memcpy(s->store_pk, opts->store_pk, QS_KEY_BYTES);
    s->kp = opts->keypair;
    if (set_endpoints(s, opts->endpoint, opts->failover_ms, errmsg, errmsg_len) != 0) {
        free(s);
        return NULL;
    }
    s->src = opts->source;
    s->batch = opts->batch ? opts->batch : QS_DEFAULT_BATCH_MESSAGES;
    s->window = opts->window ? opts->window : QS_SENDER_DEFAULT_WINDOW;
    s->timeout_ms = opts->reply_timeout_ms > 0 ? opts->reply_timeout_ms
                                               : QS_SENDER_REPLY_TIMEOUT_MS;
    s->idle_ms = opts->idle_poll_ms > 0 ? opts->idle_poll_ms : QS_SENDER_IDLE_POLL_MS;
    s->quiet = opts->quiet;
    qs_hex_encode(s->label, sizeof s->label, qs_keypair_public(s->kp), 4);
    s->shared = sodium_malloc(QS_KEY_BYTES);
    if (s->shared == NULL) {
        snprintf(errmsg, errmsg_len, "out of locked memory for a shared key");
        free(s);
        return NULL;
    }
    if (crypto_box_beforenm(s->shared, s->store_pk, qs_keypair_secret(s->kp)) != 0) {
        snprintf(errmsg, errmsg_len, "the store public key is not a usable X25519 key");
        qs_sender_destroy(&s);
        return NULL;
    }
    if (open_socket(s) != 0) {
        snprintf(errmsg, errmsg_len, "cannot connect to '%s': %s", cur_ep(s),
                 zmq_strerror(errno));
        qs_sender_destroy(&s);
        return NULL;
    }
    return s;
}

void
qs_sender_destroy(qs_sender_t **s_p)
{
    qs_sender_t *s;

    if (s_p == NULL || *s_p == NULL)
        return;
    s = *s_p;
    if (s->sock != NULL)
        zmq_close(s->sock);
    sodium_free(s->shared);   /* wipes */
    free(s);
    *s_p = NULL;
}

void
qs_sender_pollitem(const qs_sender_t *s, zmq_pollitem_t *item)
{
    item->socket = s->sock;
    item->fd = 0;
    /* While waiting for a connection, also wake when the socket can send. */
    item->events = (short)(ZMQ_POLLIN | (s->conn_wait_ms > 0 ? ZMQ_POLLOUT : 0));
    item->revents = 0;
}

void
qs_sender_set_paused(qs_sender_t *s, int paused)
{
    s->paused = paused != 0;
}

int
qs_sender_paused(const qs_sender_t *s)
{
    return s->paused;
}

uint64_t
qs_sender_inflight(const qs_sender_t *s)
{
    return s->sent_upto > s->committed ? s->sent_upto - s->committed : 0;
}

uint64_t
qs_sender_capacity(const qs_sender_t *s)
{
    return (uint64_t)s->window * s->batch;
}

const char *
qs_sender_endpoint(const qs_sender_t *s)
{
    return cur_ep(s);
}

const char *
qs_sender_label(const qs_sender_t *s)
{
    return s->label;
}

void
qs_sender_stats(const qs_sender_t *s, qs_sender_stats_t *out)
{
    *out = s->st;
    out->committed = s->committed;
    out->sent_upto = s->sent_upto;
}

int
qs_sender_idle(const qs_sender_t *s)
{
    return s->n_fl == 0 && s->drained && !s->backing_off && s->sent_upto <= s->committed;
}

int64_t
qs_sender_next_deadline(const qs_sender_t *s)
{
    int64_t d = INT64_MAX;

    if (s->backing_off)
        return s->backoff_until;
    if (s->n_fl > 0)
        d = s->fl[0].sent_ms + reply_timeout(s);
    if (s->n_fl > 0 && s->n_eps > 1 && s->next_check < d)
        d = s->next_check;
    if (s->n_fl < s->window && !s->paused) {
        int64_t look = s->hold ? s->next_look : 0;
        if (look < d)
            d = look;
    }
    return d;
}

/* Forget the window: everything above committed will be sent again. */
static void
reset_window(qs_sender_t *s)
{
    s->n_fl = 0;
    s->sent_upto = s->committed;
    s->hold = 0;
    s->drained = 0;
}

/* Pause sending, then resend everything above committed. Answers to the
 * other batches of the same window do not deepen a backoff already running
 * (the delay doubles per round, not per batch); at_max waits the longest. */
static void
start_backoff(qs_sender_t *s, int64_t now, int at_max)
{
    int64_t delay = QS_SENDER_BACKOFF_MAX_MS;

    if (s->backing_off && !at_max)
        return;
    if (!at_max && s->failures < 16) {
        delay = (int64_t)QS_SENDER_BACKOFF_MIN_MS << s->failures;
        if (delay > QS_SENDER_BACKOFF_MAX_MS)
            delay = QS_SENDER_BACKOFF_MAX_MS;
    }
    if (!s->backing_off)
        s->failures++;
    /* Jitter: somewhere in [delay/2, delay], so a fleet does not retry in step. */
    delay = delay / 2 + (int64_t)randombytes_uniform((uint32_t)(delay / 2 + 1));
    if (!s->backing_off || now + delay > s->backoff_until)
        s->backoff_until = now + delay;
    s->backing_off = 1;
}

/* Log a change of condition once, not on every retry. */
static void
note_health(qs_sender_t *s, int status, qs_log_level_t level, const char *what,
            const char *reason)
{
    if (s->health == status)
        return;
    s->health = status;
    SLOG(s, level, "%s%s%s", what, reason && *reason ? ": " : "", reason ? reason : "");
}

/* Forget in-flight batches that are committed or that this answer names;
 * an answer to a named batch is a reply-time sample. */
static void
drop_inflight(qs_sender_t *s, uint64_t first, uint64_t last, int64_t now)
{
    size_t j = 0;

    for (size_t i = 0; i < s->n_fl; i++) {
        if (first != 0 && s->fl[i].first == first && s->fl[i].last == last) {
            int64_t sample = now - s->fl[i].sent_ms;
            s->srtt_ms = s->srtt_ms == 0 ? sample + 1 : (7 * s->srtt_ms + sample) / 8;
            continue;
        }
        if (s->fl[i].last <= s->committed)
            continue;
        s->fl[j++] = s->fl[i];
    }
    s->n_fl = j;
}

/* The reply timeout: the configured one (5 s), stretched to four smoothed
 * reply times when a loaded store answers slowly - resending a batch the
 * store is about to commit only adds load - but never past six times it. */
static int64_t
reply_timeout(const qs_sender_t *s)
{
    int64_t t = 4 * s->srtt_ms;

    if (t < s->timeout_ms)
        t = s->timeout_ms;
    if (t > 6 * (int64_t)s->timeout_ms)
        t = 6 * (int64_t)s->timeout_ms;
    return t;
}

static int
apply_ack(qs_sender_t *s, const Quietstate__Ack *a, int64_t now)
{
    uint64_t cs = a->committed_serial;
    int rc = 0;

    s->st.acks++;
    s->st.last_status = (int)a->status;
    for (size_t i = 0; i < a->n_rejected; i++) {
        const Quietstate__Rejected *r = a->rejected[i];
        if (r->status == QUIETSTATE__STATUS__OK || r->status == QUIETSTATE__STATUS__DUPLICATE ||
            qs_status_is_transient(r->status) || r->serial == 0 ||
            r->serial <= s->committed || r->serial > s->max_sent)
            continue;
        if (s->src.reject(s->src.ctx, r->serial, r->status, r->code, r->reason) != 0) {
            rc = -1;
            continue;
        }
        s->st.rejected++;
        SLOG(s, QS_LOG_WARN, "store rejected serial %llu: %s (%s)%s%s",
             (unsigned long long)r->serial, qs_status_name(r->status), qs_code_name(r->code),
             r->reason && *r->reason ? ": " : "", r->reason ? r->reason : "");
    }
    if (cs > s->max_sent) {
        if (!s->warned_beyond)
            SLOG(s, QS_LOG_WARN, "store's committed serial %llu is beyond the last serial "
                 "sent, %llu (outbox recreated?): applying only up to what was sent",
                 (unsigned long long)cs, (unsigned long long)s->max_sent);
        s->warned_beyond = 1;
        cs = s->max_sent;
    }
    if (cs > s->committed) {
        s->committed = cs;
        if (s->src.ack(s->src.ctx, cs) != 0)
            rc = -1;
    }
    drop_inflight(s, a->first_serial, a->last_serial, now);
    if (s->sent_upto < s->committed)
        s->sent_upto = s->committed;

    if (a->status == QUIETSTATE__STATUS__OK) {
        s->failures = 0;
        note_health(s, 0, QS_LOG_INFO, "store is accepting messages", NULL);
    } else if (qs_status_is_transient(a->status)) {
        s->st.transient++;
        note_health(s, (int)a->status, QS_LOG_INFO,
                    a->status == QUIETSTATE__STATUS__NOT_CONFIGURED
                        ? "store is not configured yet (no policy): keeping messages, retrying"
                        : "store asks to retry later: keeping messages, backing off",
                    a->reason);
        start_backoff(s, now, 0);
    } else if (a->last_serial == 0 || a->last_serial > s->committed) {
        /* A permanent answer for the whole batch that does not commit it:
         * never delete without the store's word, keep retrying slowly. */
        note_health(s, (int)a->status, QS_LOG_ERROR, qs_status_name(a->status), a->reason);
        if (a->status == QUIETSTATE__STATUS__TOO_LARGE && s->batch > 1) {
            s->batch /= 2;
            SLOG(s, QS_LOG_WARN, "batch refused as too large: sending %zu messages per batch",
                 s->batch);
            start_backoff(s, now, 0);
        } else {
            start_backoff(s, now, 1);
        }
    }
    if (a->resync_generation != 0 && s->src.resync != NULL) {   /* docs/resync.md */
        int ready = s->src.resync(s->src.ctx, a->resync_generation, a->resync_delay_ms);
        if (ready > 0)
            s->drained = s->hold = 0;
        rc = ready < 0 ? -1 : rc;
    }
    /* Everything answered yet the low-water mark lags what was sent: the store
     * has a gap it cannot close alone. Send the rest again, after a pause. */
    if (!s->backing_off && s->n_fl == 0 && s->committed < s->sent_upto)
        start_backoff(s, now, 0);
    return rc;
}

static void
apply_notice(qs_sender_t *s, const Quietstate__Ack *a, int64_t now)
{
    s->st.notices++;
    s->st.last_status = (int)a->status;
    if (a->status == QUIETSTATE__STATUS__REVOKED ||
        a->status == QUIETSTATE__STATUS__UNKNOWN_SENDER) {
        note_health(s, (int)a->status, QS_LOG_ERROR,
                    "broker refuses this client key (revoked or not enrolled): keeping "
                    "messages", a->reason);
        start_backoff(s, now, 1);
        return;
    }
    s->st.transient++;
    note_health(s, (int)a->status, QS_LOG_INFO, "broker notice: backing off",
                qs_status_name(a->status));
    start_backoff(s, now, 0);
}

/* A sealed ack counts only if it comes from the store's key and opens with
 * our shared key's store-to-client key: the broker can neither forge
 * "committed" nor reflect one of our own batches back as an ack. */
static int
handle_sealed(qs_sender_t *s, const Quietstate__Envelope *env, int64_t now)
{
    Quietstate__Ack *a;
    Quietstate__Code code;
    size_t len = 0;
    int rc;

    if (qs_envelope_check(env, s->store_pk, &code) != 0 ||
        qs_envelope_open(s->ws->ackbuf, &len, QS_MAX_FRAME_BYTES, QS_ENVELOPE_TO_CLIENT, env,
                         s->shared) != 0) {
        s->st.bad_replies++;
        SLOG(s, QS_LOG_WARN, "%s", "ignoring an ack not sealed by the store's key for this "
             "client (wrong store_public_key in the profile, or a forged or reflected reply?)");
        return 0;
    }
    a = quietstate__ack__unpack(NULL, len, s->ws->ackbuf);
    if (a == NULL) {
        s->st.bad_replies++;
        SLOG(s, QS_LOG_WARN, "%s", "ignoring a sealed ack that is not an Ack");
        return 0;
    }
    rc = apply_ack(s, a, now);
    quietstate__ack__free_unpacked(a, NULL);
    return rc;
}

int
qs_sender_on_readable(qs_sender_t *s, int64_t now_ms)
{
    int handled = 0, rc = 0;

    if (s->conn_wait_ms > 0 && writable(s)) {
        /* Connected: fill the window at the next on_tick, which is now. */
        s->conn_wait_ms = 0;
        s->hold = 0;
    }
    while (handled < SENDER_MAX_REPLIES) {
        zmq_msg_t msg;
        Quietstate__Reply *r;
        int more;

        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        more = zmq_msg_more(&msg);
        handled++;
        s->last_rx_ms = now_ms;
        r = more ? NULL
                 : quietstate__reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
        if (more) {
            /* The protocol has one frame per reply: drop the rest. */
            do {
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) < 0)
                    more = 0;
                else
                    more = zmq_msg_more(&msg);
                zmq_msg_close(&msg);
            } while (more);
        }
        if (r == NULL) {
            s->st.bad_replies++;
            SLOG(s, QS_LOG_WARN, "%s", "ignoring a reply that is not one Reply frame");
            continue;
        }
        if (r->sealed_ack != NULL) {
            if (handle_sealed(s, r->sealed_ack, now_ms) != 0)
                rc = -1;
        } else if (r->notice != NULL) {
            apply_notice(s, r->notice, now_ms);
        } else {
            s->st.bad_replies++;
        }
        quietstate__reply__free_unpacked(r, NULL);
    }
    return rc < 0 ? -1 : handled;
}

/* A fresh socket to the broker in use; counted as a reconnect, or (after
 * fail_over moved on) as a failover. */
static int
reconnect(qs_sender_t *s, int failover)
{
    if (s->sock != NULL)
        zmq_close(s->sock);
    s->sock = NULL;
    if (failover)
        s->st.failovers++;
    else
        s->st.reconnects++;
    if (open_socket(s) != 0) {
        SLOG(s, QS_LOG_ERROR, "cannot reconnect to '%s': %s", cur_ep(s),
             zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 when a send would go into a connected pipe (ZMQ_IMMEDIATE is on). */
static int
writable(qs_sender_t *s)
{
    int events = 0;
    size_t len = sizeof events;

    if (zmq_getsockopt(s->sock, ZMQ_EVENTS, &events, &len) != 0)
        return 0;
    if ((events & ZMQ_POLLOUT) == 0)
        return 0;
    s->was_up = 1;   /* several brokers: a later "not writable" is a lost connection */
    return 1;
}

/* Take, frame, seal and send one batch. 1 if sent, 0 if nothing to send or
 * the socket is full, -1 on a source error. */
static int
send_batch(qs_sender_t *s, int64_t now)
{
    qs_sender_ws_t *ws = s->ws;
    size_t n = 0, plen = 0, flen = 0;

    if (s->src.take(s->src.ctx, s->sent_upto, ws->refs, s->batch, ws->scratch,
                    QS_MAX_BATCH_BYTES - BATCH_FRAMING_BYTES * s->batch - QS_SOURCE_FIELDS_MAX,
                    &n) != 0)
        return -1;
    if (n == 0) {
        s->drained = 1;
        s->hold = 1;
        s->next_look = now + s->idle_ms;
        return 0;
    }
    s->drained = 0;
    for (size_t i = 0; i < n; i++) {
        ws->plain[plen++] = BATCH_FIELD_TAG;
        plen += qs_put_varint(ws->plain + plen, ws->refs[i].len);
        memcpy(ws->plain + plen, ws->scratch + ws->refs[i].off, ws->refs[i].len);
        plen += ws->refs[i].len;
    }
    if (s->src.fields != NULL)   /* instance id, resync markers (docs/resync.md) */
        plen += s->src.fields(s->src.ctx, ws->refs[0].serial, ws->refs[n - 1].serial,
                              ws->plain + plen);
    QS_ASSERT(plen <= QS_MAX_BATCH_BYTES);
    if (qs_envelope_seal(ws->frame, &flen, ws->frame_cap, QS_ENVELOPE_TO_STORE, ws->plain, plen,
                         qs_keypair_public(s->kp), s->shared) != 0)
        qs_fatal("bug: batch of %zu bytes does not fit the frame buffer", plen);
    if (zmq_send(s->sock, ws->frame, flen, ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() != EAGAIN)
            SLOG(s, QS_LOG_WARN, "cannot send a batch: %s", zmq_strerror(zmq_errno()));
        /* Disconnected since the check, or queue full: try again shortly. */
        s->hold = 1;
        s->next_look = now + QS_SENDER_BACKOFF_MIN_MS;
        return 0;
    }
    if (s->n_fl == 0)
        s->next_check = now + s->failover_ms / 4;
    s->fl[s->n_fl].first = ws->refs[0].serial;
    s->fl[s->n_fl].last = ws->refs[n - 1].serial;
    s->fl[s->n_fl].sent_ms = now;
    s->n_fl++;
    s->sent_upto = ws->refs[n - 1].serial;
    if (s->sent_upto > s->max_sent)
        s->max_sent = s->sent_upto;
    s->st.batches_sent++;
    s->st.messages_sent += n;
    return 1;
}

/* Several brokers: what is wrong with the connection to the one in use, or
 * NULL. Seen connected once and gone now: the broker was stopped, killed or
 * cut off (the batches on that connection are lost with it). Never
 * connected for failover_ms: it is down or unreachable. Connected, batches
 * in flight and no reply for failover_ms: a host gone silent. */
static const char *
link_trouble(qs_sender_t *s, int64_t now)
{
    int64_t since;
    int up = writable(s);

    s->next_check = now + s->failover_ms / 4;
    if (!up)
        return s->was_up ? "lost the connection"
               : now - s->opened_ms >= s->failover_ms ? "cannot connect" : NULL;
    if (s->n_fl == 0)
        return NULL;
    since = s->last_rx_ms > s->fl[0].sent_ms ? s->last_rx_ms : s->fl[0].sent_ms;
    return now - since >= s->failover_ms ? "no reply" : NULL;
}

/* Move to the next broker with a fresh socket; everything above committed
 * will be sent again there (the store drops what it already has). */
static int
fail_over(qs_sender_t *s, const char *why)
{
    const char *from = cur_ep(s);

    s->cur = (uint8_t)((s->cur + 1) % s->n_eps);
    SLOG(s, QS_LOG_WARN, "broker '%s': %s; failing over to '%s' (%llu messages to resend)",
         from, why, cur_ep(s), (unsigned long long)qs_sender_inflight(s));
    /* The next sealed OK ack logs "store is accepting messages": the resume. */
    s->health = -2;
    s->conn_wait_ms = 0;
    reset_window(s);
    return reconnect(s, 1);
}

int
qs_sender_on_tick(qs_sender_t *s, int64_t now_ms)
{
    if (s->backing_off) {
        if (now_ms < s->backoff_until)
            return 0;
        s->backing_off = 0;
        reset_window(s);
    }
    if (s->n_eps > 1 && (s->n_fl > 0 || s->conn_wait_ms > 0)) {
        const char *why = link_trouble(s, now_ms);
        if (why != NULL && fail_over(s, why) != 0) {
            start_backoff(s, now_ms, 1);
            return -1;
        }
    }
    if (s->n_fl > 0 && now_ms - s->fl[0].sent_ms >= reply_timeout(s)) {
        int rc;
        if (s->n_eps > 1) {   /* another broker is as good as a new connection */
            rc = fail_over(s, "no reply in time");
        } else {
            note_health(s, -1, QS_LOG_WARN, "no reply from the broker: reconnecting and "
                        "resending (is it running, and is this client enrolled?)", NULL);
            reset_window(s);
            rc = reconnect(s, 0);
        }
        if (rc != 0) {
            start_backoff(s, now_ms, 1);
            return -1;
        }
    }
    if (s->sock == NULL && reconnect(s, 0) != 0) {
        start_backoff(s, now_ms, 1);
        return -1;
    }
    if (s->hold && now_ms >= s->next_look)
        s->hold = 0;
    /* Asked once a turn (syscalls); then a lost socket is send_batch's EAGAIN. */
    for (int asked = 0; s->n_fl < s->window && !s->hold && !s->paused; asked = 1) {
        int rc;
        if (!asked && !writable(s)) {
            /* Not connected (or not yet through the CURVE handshake): nothing
             * is taken or sent, so nothing times out; look again, less and
             * less often, while libzmq reconnects on its own. */
            s->conn_wait_ms = s->conn_wait_ms == 0 ? 25 : s->conn_wait_ms * 2;
            if (s->conn_wait_ms > SENDER_CONN_WAIT_MAX_MS)
                s->conn_wait_ms = SENDER_CONN_WAIT_MAX_MS;
            s->hold = 1;
            s->next_look = now_ms + s->conn_wait_ms;
            break;
        }
        s->conn_wait_ms = 0;
        rc = send_batch(s, now_ms);
        if (rc < 0) {
            s->hold = 1;
            s->next_look = now_ms + s->idle_ms;
            return -1;
        }
        if (rc == 0)
            break;
    }
    return 0;
}
