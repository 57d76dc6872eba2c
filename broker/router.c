/* router.c - frontend/backend routing with bounded memory; see router.h.
 *
 * Every receive and send is ZMQ_DONTWAIT, so one slow peer never stalls the
 * loop. Forwarding moves the client's Envelope frame into the backend socket
 * (zmq_msg_send, no copy). The worker list is a fixed array scanned
 * linearly: there are a handful of store workers, and a fixed size means a
 * flood of fake READYs cannot grow memory (ZAP admits only the store key on
 * the backend anyway). Refusals are logged with an 8-hex-character key
 * prefix, repeats of one key at debug only (logthrottle); payloads never.
 */
#include "router.h"
#include "guard.h"
#include "logthrottle.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "qs_zmqutil.h"
#include "quietstate.pb-c.h"

#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <zmq.h>

#define ROUTER_MAX_ID_BYTES    255     /* a ZMQ routing id is at most 255 bytes */
#define ROUTER_LOG_INTERVAL_MS 60000
#define ROUTER_NOTICE_BYTES    256     /* a packed notice Reply fits easily */
#define ROUTER_HANDSHAKE_MS    5000    /* a peer still shaking hands after this is dropped */

typedef struct {
    uint8_t id[ROUTER_MAX_ID_BYTES];
    size_t id_len;
    int64_t last_seen_ms;
    int gone;                          /* send said EHOSTUNREACH */
    int fd;                            /* its connection ("__fd"), -1 unknown */
    ino_t ino;                         /* that socket's inode, to catch reuse */
    int accounted;                     /* fd has TCP counters: bytes are bounded */
    uint64_t out_credit;               /* wire bytes forwarded since accounting began */
    uint64_t kernel_base;              /* bytes written to fd when it began */
    uint64_t measured_queued;          /* queued bytes at the last measurement */
    uint64_t measured_credit;          /* out_credit then */
} worker_t;

struct qs_router {
    void *frontend;
    void *backend;
    uint8_t store_pk[QS_KEY_BYTES];
    worker_t workers[QS_ROUTER_MAX_WORKERS];
    size_t n_workers;
    size_t next;                       /* round-robin cursor */
    int starved;                       /* 1 after a RETRY_LATER, until a forward */
    qs_router_stats_t stats;
    qs_logthrottle_t *throttle;
    qs_lograte_t *lograte;             /* borrowed, may be NULL */
    qs_guard_t *guard;                 /* borrowed, may be NULL */
    uint64_t worker_max;               /* bytes queued toward one worker; 0 = no bound */
};

static void
key_prefix(char out[9], const uint8_t pk[QS_KEY_BYTES])
{
    char hex[QS_HEX_KEY_CHARS + 1];
    qs_hex_encode(hex, sizeof hex, pk, QS_KEY_BYTES);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

static void *
router_socket(void *ctx, const char *endpoint, int hwm, const qs_keypair_t *kp,
              const char *domain, const char *what, char *errmsg, size_t errmsg_len)
{
    int one = 1;
    void *sock = zmq_socket(ctx, ZMQ_ROUTER);

    if (sock == NULL) {
        snprintf(errmsg, errmsg_len, "cannot create the %s socket: %s", what,
                 zmq_strerror(zmq_errno()));
        return NULL;
    }
    int handshake_ms = ROUTER_HANDSHAKE_MS;

    if (qs_zmq_socket_limits(sock, hwm, 0) != 0 ||
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &handshake_ms, sizeof handshake_ms) != 0 ||
        qs_zmq_curve_server(sock, kp, domain) != 0) {
        snprintf(errmsg, errmsg_len, "cannot set up the %s socket: %s", what,
                 zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    if (zmq_bind(sock, endpoint) != 0) {
        snprintf(errmsg, errmsg_len, "cannot bind the %s to '%s': %s", what, endpoint,
                 zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

qs_router_t *
qs_router_new(void *ctx, const char *frontend, const char *backend, int hwm,
              const qs_keypair_t *server_kp, const uint8_t store_pk[QS_KEY_BYTES],
              char *errmsg, size_t errmsg_len)
{
    qs_router_t *r = qs_calloc(1, sizeof *r);

    memcpy(r->store_pk, store_pk, QS_KEY_BYTES);
    r->throttle = qs_logthrottle_new(ROUTER_LOG_INTERVAL_MS);
    r->frontend = router_socket(ctx, frontend, hwm, server_kp, QS_ZAP_DOMAIN_FRONTEND,
                                "frontend", errmsg, errmsg_len);
    if (r->frontend == NULL) {
        qs_router_destroy(&r);
        return NULL;
    }
    r->backend = router_socket(ctx, backend, hwm, server_kp, QS_ZAP_DOMAIN_BACKEND,
                               "backend", errmsg, errmsg_len);
    if (r->backend == NULL) {
        qs_router_destroy(&r);
        return NULL;
    }
    return r;
}

void *
qs_router_frontend(qs_router_t *r)
{
    return r->frontend;
}

void *
qs_router_backend(qs_router_t *r)
{
    return r->backend;
}

int
qs_router_endpoint(qs_router_t *r, int backend, char *out, size_t out_len)
{
    size_t len = out_len;

    if (zmq_getsockopt(backend ? r->backend : r->frontend, ZMQ_LAST_ENDPOINT, out, &len) != 0)
        return -1;
    return 0;
}

void
qs_router_set_limits(qs_router_t *r, qs_guard_t *guard, qs_lograte_t *lograte,
                     uint64_t worker_max)
{
    r->guard = guard;
    r->lograte = lograte;
    r->worker_max = worker_max;
}

void
qs_router_stats(const qs_router_t *r, qs_router_stats_t *out)
{
    *out = r->stats;
}

static void
close_socket(void **sock_p)
{
    int linger = 0;

    if (*sock_p == NULL)
        return;
    (void)zmq_setsockopt(*sock_p, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(*sock_p);
    *sock_p = NULL;
}

void
qs_router_destroy(qs_router_t **r_p)
{
    qs_router_t *r;

    if (r_p == NULL || *r_p == NULL)
        return;
    r = *r_p;
    close_socket(&r->frontend);
    close_socket(&r->backend);
    qs_logthrottle_destroy(&r->throttle);
    free(r);
    *r_p = NULL;
}

/* --- workers ------------------------------------------------------------- */

size_t
qs_router_expire(qs_router_t *r, int64_t now_ms)
{
    size_t kept = 0;

    for (size_t i = 0; i < r->n_workers; i++) {
        worker_t *w = &r->workers[i];
        if (w->gone || now_ms - w->last_seen_ms > QS_WORKER_TTL_MS) {
            r->stats.workers_expired++;
            log_warn("dropped a store worker: %s",
                     w->gone ? "disconnected" : "no heartbeat for 3 s");
            continue;
        }
        if (kept != i)
            r->workers[kept] = *w;
        kept++;
    }
    r->n_workers = kept;
    if (r->next >= kept)
        r->next = 0;
    return kept;
}

/* The connection a message came in on ("__fd", set by libzmq), or -1. */
static int
msg_fd(zmq_msg_t *m)
{
    const char *s = zmq_msg_gets(m, "__fd");
    return s == NULL ? -1 : atoi(s);
}

/* Bytes the application has written to fd: acknowledged by the peer plus
 * still in the send queue. -1 when fd has no TCP counters (ipc://). */
static int
fd_written(int fd, uint64_t *out)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    int outq = 0;

    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof ti.tcpi_bytes_acked ||
        ioctl(fd, SIOCOUTQ, &outq) != 0)
        return -1;
    *out = ti.tcpi_bytes_acked + (uint64_t)(outq > 0 ? outq : 0);
    return 0;
}

static int
fd_ino(int fd, ino_t *ino)
{
    struct stat st;

    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return -1;
    *ino = st.st_ino;
    return 0;
}

/* Start counting w's queued bytes afresh on fd (a new worker or connection). */
static void
worker_account(worker_t *w, int fd)
{
    ino_t ino;

    w->fd = fd;
    w->accounted = fd_ino(fd, &ino) == 0 && fd_written(fd, &w->kernel_base) == 0;
    w->ino = w->accounted ? ino : 0;
    w->out_credit = 0;
    w->measured_queued = w->measured_credit = 0;
}

/* Bytes forwarded to w that libzmq still holds (not yet written to the kernel). */
static int
worker_queued(const worker_t *w, uint64_t *out)
{
    uint64_t written;
    ino_t ino;

    if (!w->accounted || fd_ino(w->fd, &ino) != 0 || ino != w->ino ||
        fd_written(w->fd, &written) != 0)
        return -1;
    written -= w->kernel_base;
    *out = w->out_credit > written ? w->out_credit - written : 0;
    return 0;
}

/* A worker was heard from (on connection fd): refresh it, or add it. A
 * heartbeat (verify) also checks that fd is still the socket accounted (a
 * reconnection can get the same number); a reply only compares the number,
 * which costs no system call per reply (worker_queued checks the socket
 * before every measurement anyway). */
static void
worker_seen(qs_router_t *r, zmq_msg_t *id, int fd, int verify, int64_t now_ms)
{
    size_t len = zmq_msg_size(id);

    for (size_t i = 0; i < r->n_workers; i++) {
        worker_t *w = &r->workers[i];
        if (w->id_len == len && memcmp(w->id, zmq_msg_data(id), len) == 0) {
            ino_t ino;
            w->last_seen_ms = now_ms;
            w->gone = 0;
            if (fd != w->fd || (verify && (fd_ino(fd, &ino) != 0 || ino != w->ino)))
                worker_account(w, fd);
            return;
        }
    }
    if (len == 0 || len > ROUTER_MAX_ID_BYTES)
        return;
    if (r->n_workers == QS_ROUTER_MAX_WORKERS) {
        log_warn("ignored a store worker: already %d, the most one broker serves",
                 QS_ROUTER_MAX_WORKERS);
        return;
    }
    worker_t *w = &r->workers[r->n_workers++];
    memcpy(w->id, zmq_msg_data(id), len);
    w->id_len = len;
    w->last_seen_ms = now_ms;
    w->gone = 0;
    worker_account(w, fd);
    r->stats.workers_joined++;
    log_info("store worker joined (%zu live)", r->n_workers);
}

/* --- notices ------------------------------------------------------------- */

/* Send [client id][Reply{notice}]; a client that is gone or full loses it. */
static void
send_notice(qs_router_t *r, const uint8_t *client_id, size_t client_id_len,
            Quietstate__Status status, Quietstate__Code code, const char *reason)
{
    Quietstate__Ack ack = QUIETSTATE__ACK__INIT;
    Quietstate__Reply reply = QUIETSTATE__REPLY__INIT;
    uint8_t buf[ROUTER_NOTICE_BYTES];
    size_t len;

    ack.status = status;
    ack.code = code;
    ack.reason = (char *)reason;
    reply.notice = &ack;
    len = quietstate__reply__get_packed_size(&reply);
    QS_ASSERT(len <= sizeof buf);
    quietstate__reply__pack(&reply, buf);

    switch (status) {
    case QUIETSTATE__STATUS__RETRY_LATER: r->stats.notice_retry_later++; break;
    case QUIETSTATE__STATUS__REVOKED:     r->stats.notice_revoked++; break;
    default:                              r->stats.notice_bad_envelope++; break;
    }
    if (zmq_send(r->frontend, client_id, client_id_len, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0 ||
        zmq_send(r->frontend, buf, len, ZMQ_DONTWAIT) < 0)
        r->stats.notices_dropped++;
}

/* --- frontend ------------------------------------------------------------ */

/* Would bytes more overfill w's queue (worker_max_mb)? Unmeasurable: no.
 * The queue only grows by what the router forwards, so while the last
 * measurement plus everything forwarded since stays under the bound there is
 * nothing to measure: a busy router measures (three system calls) about once
 * per worker_max bytes forwarded, not once per envelope. */
static int
worker_full(qs_router_t *r, worker_t *w, uint64_t bytes)
{
    uint64_t queued;

    if (r->worker_max == 0 ||
        w->measured_queued + (w->out_credit - w->measured_credit) + bytes <= r->worker_max)
        return 0;
    if (worker_queued(w, &queued) != 0)
        return 0;
    w->measured_queued = queued;
    w->measured_credit = w->out_credit;
    if (queued + bytes <= r->worker_max)
        return 0;
    r->stats.worker_full_bytes++;
    return 1;
}

/* Hand body to the next live worker. 0 sent (body consumed), -1 none could take it. */
static int
forward(qs_router_t *r, const uint8_t *client_id, size_t client_id_len,
        const uint8_t pk[QS_KEY_BYTES], zmq_msg_t *body, int64_t now_ms)
{
    size_t n = r->n_workers;
    uint64_t wire = qs_guard_wire_bytes(client_id_len) + qs_guard_wire_bytes(QS_KEY_BYTES) +
                    qs_guard_wire_bytes(zmq_msg_size(body));

    for (size_t k = 0; k < n; k++) {
        size_t i = (r->next + k) % n;
        worker_t *w = &r->workers[i];

        if (w->gone || now_ms - w->last_seen_ms > QS_WORKER_TTL_MS || worker_full(r, w, wire))
            continue;
        if (zmq_send(r->backend, w->id, w->id_len, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
            if (zmq_errno() == EHOSTUNREACH)
                w->gone = 1;            /* expired on the next qs_router_expire */
            continue;                   /* EAGAIN: that worker is full, try the next */
        }
        /* The first frame went through: the rest of the message will too
         * (a queue's high-water mark counts whole messages). */
        if (zmq_send(r->backend, client_id, client_id_len, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0 ||
            zmq_send(r->backend, pk, QS_KEY_BYTES, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0 ||
            zmq_msg_send(body, r->backend, ZMQ_DONTWAIT) < 0) {
            log_error("lost a message to a store worker mid-send: %s",
                      zmq_strerror(zmq_errno()));
            return -1;
        }
        w->out_credit += wire;
        r->next = (i + 1) % n;
        return 0;
    }
    return -1;
}

/* Log a refusal of one client's message, loudly once per key a minute. */
static void
log_refusal(qs_router_t *r, const uint8_t pk[QS_KEY_BYTES], int have_pk, const char *what,
            int64_t now_ms)
{
    char prefix[9] = "-";

    if (have_pk)
        key_prefix(prefix, pk);
    if ((have_pk && !qs_logthrottle_allow(r->throttle, pk, now_ms)) ||
        !qs_lograte_allow(r->lograte, now_ms))
        log_debug("dropped a message from client '%s' again: %s", prefix, what);
    else
        log_warn("dropped a message from client '%s': %s", prefix, what);
}

/* One client message. 1 handled, 0 nothing pending, -1 socket error. */
static int
frontend_one(qs_router_t *r, const qs_keyset_t *keys, int64_t now_ms)
{
    uint8_t id[ROUTER_MAX_ID_BYTES], pk[QS_KEY_BYTES];
    zmq_msg_t m, body;
    size_t id_len, n_body = 0, body_len = 0;
    uint64_t wire = 0;
    int more, have_pk, fd = -1;
    qs_key_standing_t standing;

    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, r->frontend, ZMQ_DONTWAIT) < 0) {
        int err = zmq_errno();
        zmq_msg_close(&m);
        return (err == EAGAIN || err == EINTR) ? 0 : -1;   /* EINTR: see the loop */
    }
    id_len = zmq_msg_size(&m);
    QS_ASSERT(id_len <= sizeof id);
    memcpy(id, zmq_msg_data(&m), id_len);
    more = zmq_msg_more(&m);
    /* The routing id frame carries the connection's metadata too: it stands in
     * for the body when a client somehow sent nothing after it. */
    zmq_msg_init(&body);
    zmq_msg_move(&body, &m);
    zmq_msg_close(&m);

    /* Keep the first body frame, drop any further ones (counted). */
    while (more) {
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, r->frontend, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        wire += qs_guard_wire_bytes(zmq_msg_size(&m));   /* what it cost on the wire */
        if (fd < 0)
            fd = msg_fd(&m);
        if (n_body++ == 0) {
            zmq_msg_move(&body, &m);    /* releases the id frame held in body */
            body_len = zmq_msg_size(&body);
        }
        zmq_msg_close(&m);
    }

    have_pk = qs_zmq_msg_user_pk(&body, pk) == 0;
    if (r->guard != NULL)
        qs_guard_credit(r->guard, fd, have_pk ? pk : NULL, wire);
    standing = have_pk ? qs_keyset_get(keys, pk) : QS_KEY_UNKNOWN;
    if (standing != QS_KEY_ENROLLED) {
        const char *why = standing == QS_KEY_REVOKED ? "client revoked" : "client not enrolled";
        log_refusal(r, pk, have_pk, why, now_ms);
        send_notice(r, id, id_len, QUIETSTATE__STATUS__REVOKED,
                    QUIETSTATE__CODE__CLIENT_REVOKED, why);
    } else if (n_body != 1 || body_len == 0) {
        log_refusal(r, pk, have_pk, "expected one non-empty frame", now_ms);
        send_notice(r, id, id_len, QUIETSTATE__STATUS__BAD_ENVELOPE,
                    QUIETSTATE__CODE__BAD_FRAMES, "expected one frame: a packed Envelope");
    } else if (forward(r, id, id_len, pk, &body, now_ms) == 0) {
        r->stats.forwarded++;
        if (r->starved) {
            r->starved = 0;
            log_info("store available again: forwarding");
        }
    } else {
        if (!r->starved) {
            r->starved = 1;
            log_warn("no store available (%zu workers, all full or gone): "
                     "answering retry later", r->n_workers);
        }
        send_notice(r, id, id_len, QUIETSTATE__STATUS__RETRY_LATER,
                    QUIETSTATE__CODE__STORE_BUSY, "no store available");
    }
    zmq_msg_close(&body);
    return 1;
}

int
qs_router_on_frontend(qs_router_t *r, const qs_keyset_t *keys, int64_t now_ms)
{
    int handled = 0;

    for (int i = 0; i < QS_ROUTER_BATCH; i++) {
        int rc = frontend_one(r, keys, now_ms);
        if (rc < 0) {
            log_error("cannot read from the frontend: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (rc == 0)
            break;
        handled++;
    }
    return handled;
}

/* --- backend ------------------------------------------------------------- */

#define BACKEND_MAX_FRAMES 3   /* worker id + [client id][Reply] */

/* One worker message. 1 handled, 0 nothing pending, -1 socket error. */
static int
backend_one(qs_router_t *r, int64_t now_ms)
{
    zmq_msg_t f[BACKEND_MAX_FRAMES];
    uint8_t pk[QS_KEY_BYTES];
    size_t n = 0, total = 0;
    int more = 1;

    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, r->backend, ZMQ_DONTWAIT) < 0) {
            int err = zmq_errno();
            zmq_msg_close(&m);
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            if (total == 0)
                return (err == EAGAIN || err == EINTR) ? 0 : -1;   /* EINTR: see the loop */
            r->stats.backend_malformed++;
            return 1;
        }
        more = zmq_msg_more(&m);
        total++;
        if (n < BACKEND_MAX_FRAMES) {
            zmq_msg_init(&f[n]);
            zmq_msg_move(&f[n++], &m);
        }
        zmq_msg_close(&m);
    }

    /* ZAP admits only the store key here; check it per message all the same. */
    if (n < 2) {
        r->stats.backend_malformed++;
        log_warn("dropped an empty backend message");
    } else if (qs_zmq_msg_user_pk(&f[1], pk) != 0 ||
               sodium_memcmp(pk, r->store_pk, QS_KEY_BYTES) != 0) {
        r->stats.backend_malformed++;
        log_warn("dropped a backend message not from the store key");
    } else if (total == 2 && zmq_msg_size(&f[1]) == QS_WORKER_READY_LEN &&
               memcmp(zmq_msg_data(&f[1]), QS_WORKER_READY, QS_WORKER_READY_LEN) == 0) {
        worker_seen(r, &f[0], msg_fd(&f[1]), 1, now_ms);
    } else if (total == 3 && zmq_msg_size(&f[1]) > 0 &&
               zmq_msg_size(&f[1]) <= ROUTER_MAX_ID_BYTES) {
        worker_seen(r, &f[0], msg_fd(&f[1]), 0, now_ms);
        if (zmq_msg_send(&f[1], r->frontend, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
            /* EHOSTUNREACH: the client went away; EAGAIN: it does not read. */
            r->stats.replies_dropped++;
            log_debug("dropped a reply: client %s",
                      zmq_errno() == EHOSTUNREACH ? "gone" : "not reading");
        } else if (zmq_msg_send(&f[2], r->frontend, ZMQ_DONTWAIT) < 0) {
            r->stats.replies_dropped++;
            log_error("lost a reply mid-send: %s", zmq_strerror(zmq_errno()));
        } else {
            r->stats.replies++;
        }
    } else {
        r->stats.backend_malformed++;
        log_warn("dropped a malformed backend message (%zu frames)", total);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return 1;
}

int
qs_router_on_backend(qs_router_t *r, int64_t now_ms)
{
    int handled = 0;

    for (int i = 0; i < QS_ROUTER_BATCH; i++) {
        int rc = backend_one(r, now_ms);
        if (rc < 0) {
            log_error("cannot read from the backend: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (rc == 0)
            break;
        handled++;
    }
    return handled;
}
