/* zap.c - ZAP 1.0 request/reply over a REP socket; see zap.h.
 *
 * A request is [version "1.0"][request id][domain][address][routing id]
 * [mechanism][credentials...]; for CURVE the single credential is the
 * client's 32-byte public key. The reply is [version][request id]
 * [status "200"/"400"/"500"][status text][user id][metadata]. The decision
 * itself (zap_decide) is a pure function of the key set, the store key, the
 * domain and the credentials. Logs name a client by an 8-hex-character key
 * prefix only; the peer address is never logged.
 */
#include "zap.h"
#include "logthrottle.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "qs_zmqutil.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <zmq.h>

#define ZAP_MAX_FRAMES      8     /* 6 fixed + 1 CURVE credential, plus slack */
#define ZAP_LOG_INTERVAL_MS 60000 /* repeat refusals of one key: debug only */
#define ZAP_BATCH           64    /* requests answered per call, at most */
#define ZAP_SOURCES         256   /* source addresses remembered (fixed: bounded memory) */
#define ZAP_ADDR_CHARS      64    /* an IPv6 address and then some */
#define ZAP_BURST_S         5     /* a source may fail this many seconds' worth at once */
#define ZAP_FLOOD_MS        10000 /* a source over its rate is flooding for this long */
#define ZAP_TRUSTED_MS      60000 /* ...unless one of its handshakes passed this recently */

/* One source address: a token bucket of refused handshakes (milli-tokens). */
typedef struct {
    char addr[ZAP_ADDR_CHARS];
    int used;
    int64_t tokens_milli;
    int64_t last_ms;
    int64_t flooding_until_ms;
    int64_t admitted_ms;           /* last admitted handshake, 0 none */
} zap_source_t;

struct qs_zap {
    void *sock;
    uint8_t store_pk[QS_KEY_BYTES];
    uint64_t admitted;
    uint64_t refused;
    uint64_t rate_limited;         /* refusals over their source's rate */
    qs_logthrottle_t *throttle;
    qs_lograte_t *lograte;         /* borrowed, may be NULL */
    int per_second;                /* refused handshakes per source; 0 = no limit */
    zap_source_t sources[ZAP_SOURCES];
};

typedef struct {
    const char *code;       /* "200", "400" or "500" */
    const char *text;       /* status text, also logged */
    const char *side;       /* "client", "store" or "peer", for the log */
    char user_id[QS_HEX_KEY_CHARS + 1];
    uint8_t pk[QS_KEY_BYTES];
    int have_pk;
} zap_decision_t;

qs_zap_t *
qs_zap_new(void *ctx, const uint8_t store_pk[QS_KEY_BYTES], char *errmsg, size_t errmsg_len)
{
    qs_zap_t *zap;
    int linger = 0;
    void *sock = zmq_socket(ctx, ZMQ_REP);

    if (sock == NULL) {
        snprintf(errmsg, errmsg_len, "cannot create the zap socket: %s",
                 zmq_strerror(zmq_errno()));
        return NULL;
    }
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(sock, QS_ZAP_ENDPOINT) != 0) {
        snprintf(errmsg, errmsg_len, "cannot bind the zap handler to '%s': %s",
                 QS_ZAP_ENDPOINT, zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    zap = qs_calloc(1, sizeof *zap);
    zap->sock = sock;
    memcpy(zap->store_pk, store_pk, QS_KEY_BYTES);
    zap->throttle = qs_logthrottle_new(ZAP_LOG_INTERVAL_MS);
    return zap;
}

void *
qs_zap_socket(qs_zap_t *zap)
{
    return zap->sock;
}

void
qs_zap_counts(const qs_zap_t *zap, uint64_t *admitted, uint64_t *refused)
{
    *admitted = zap->admitted;
    *refused = zap->refused;
}

uint64_t
qs_zap_rate_limited(const qs_zap_t *zap)
{
    return zap->rate_limited;
}

void
qs_zap_set_limits(qs_zap_t *zap, int per_second, qs_lograte_t *lograte)
{
    zap->per_second = per_second;
    zap->lograte = lograte;
}

/* The slot of addr: found, or the least recently used one taken over. */
static zap_source_t *
source_get(qs_zap_t *zap, const char *addr, int64_t now_ms)
{
    zap_source_t *oldest = &zap->sources[0];

    for (size_t i = 0; i < ZAP_SOURCES; i++) {
        zap_source_t *s = &zap->sources[i];
        if (s->used && strcmp(s->addr, addr) == 0)
            return s;
        if (!s->used || (oldest->used && s->last_ms < oldest->last_ms))
            oldest = s;
    }
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->addr, sizeof oldest->addr, "%s", addr);
    oldest->used = 1;
    oldest->tokens_milli = (int64_t)zap->per_second * ZAP_BURST_S * 1000;
    oldest->last_ms = now_ms;
    return oldest;
}

/* A handshake from addr was refused: 1 if that was over the source's rate. */
static int
source_refused(qs_zap_t *zap, const char *addr, int64_t now_ms)
{
    zap_source_t *s;
    int64_t cap = (int64_t)zap->per_second * ZAP_BURST_S * 1000;

    if (zap->per_second <= 0)
        return 0;
    s = source_get(zap, addr, now_ms);
    if (now_ms > s->last_ms)
        s->tokens_milli += (now_ms - s->last_ms) * zap->per_second;
    if (s->tokens_milli > cap)
        s->tokens_milli = cap;
    s->last_ms = now_ms > s->last_ms ? now_ms : s->last_ms;
    if (s->tokens_milli >= 1000) {
        s->tokens_milli -= 1000;
        return 0;
    }
    s->flooding_until_ms = now_ms + ZAP_FLOOD_MS;
    return 1;
}

int
qs_zap_source_flooding(void *arg, const char *addr, int64_t now_ms)
{
    qs_zap_t *zap = arg;

    for (size_t i = 0; i < ZAP_SOURCES; i++) {
        zap_source_t *s = &zap->sources[i];
        if (s->used && strcmp(s->addr, addr) == 0)
            return now_ms < s->flooding_until_ms &&
                   (s->admitted_ms == 0 || now_ms - s->admitted_ms > ZAP_TRUSTED_MS);
    }
    return 0;
}

void
qs_zap_destroy(qs_zap_t **zap_p)
{
    qs_zap_t *zap;

    if (zap_p == NULL || *zap_p == NULL)
        return;
    zap = *zap_p;
    if (zap->sock != NULL) {
        int linger = 0;
        (void)zmq_setsockopt(zap->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(zap->sock);
    }
    qs_logthrottle_destroy(&zap->throttle);
    sodium_memzero(zap, sizeof *zap);
    free(zap);
    *zap_p = NULL;
}

static int
frame_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/* Decide on one request's frames (n >= 6). */
static void
zap_decide(zap_decision_t *d, const qs_zap_t *zap, const qs_keyset_t *keys,
           zmq_msg_t *frames, int n)
{
    zmq_msg_t *domain = &frames[2], *mechanism = &frames[5];
    int frontend = frame_is(domain, QS_ZAP_DOMAIN_FRONTEND);
    int backend = frame_is(domain, QS_ZAP_DOMAIN_BACKEND);

    memset(d, 0, sizeof *d);
    d->code = "400";
    d->side = frontend ? "client" : "peer";
    if (frame_is(mechanism, "CURVE") && n == 7 && zmq_msg_size(&frames[6]) == QS_KEY_BYTES) {
        memcpy(d->pk, zmq_msg_data(&frames[6]), QS_KEY_BYTES);
        d->have_pk = 1;
    }
    if (!frame_is(&frames[0], "1.0")) {
        d->text = "unsupported zap version";
        return;
    }
    if (!frontend && !backend) {
        d->text = "unknown zap domain";
        return;
    }
    if (!d->have_pk) {
        d->text = "curve required";
        return;
    }
    if (frontend) {
        switch (qs_keyset_get(keys, d->pk)) {
        case QS_KEY_ENROLLED:
            break;
        case QS_KEY_REVOKED:
            d->text = "client revoked";
            return;
        case QS_KEY_UNKNOWN:
        default:
            d->text = "client not enrolled";
            return;
        }
    } else if (sodium_memcmp(d->pk, zap->store_pk, QS_KEY_BYTES) != 0) {
        d->text = "not the store key";
        return;
    }
    if (backend)
        d->side = "store";
    d->code = "200";
    d->text = "OK";
    qs_hex_encode(d->user_id, sizeof d->user_id, d->pk, QS_KEY_BYTES);
}

static int
send_str(void *sock, const char *s, int more)
{
    return zmq_send(sock, s, strlen(s), ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)) < 0 ? -1 : 0;
}

static int
zap_reply(qs_zap_t *zap, zmq_msg_t *request_id, const zap_decision_t *d)
{
    zmq_msg_t id;

    /* Send a copy: the caller closes every request frame itself. */
    zmq_msg_init(&id);
    if (request_id != NULL)
        zmq_msg_copy(&id, request_id);
    if (send_str(zap->sock, "1.0", 1) != 0 ||
        zmq_msg_send(&id, zap->sock, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0 ||
        send_str(zap->sock, d->code, 1) != 0 ||
        send_str(zap->sock, d->text, 1) != 0 ||
        send_str(zap->sock, d->user_id, 1) != 0 ||
        send_str(zap->sock, "", 0) != 0) {
        zmq_msg_close(&id);
        log_error("cannot answer a zap request: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    zmq_msg_close(&id);
    return 0;
}

/* Log one decision: repeats of a key, refusals over a source's rate and
 * anything over the global budget at debug only. */
static void
zap_log(qs_zap_t *zap, const zap_decision_t *d, int limited, int64_t now_ms)
{
    char prefix[QS_HEX_KEY_CHARS + 1] = "-";
    int admitted = strcmp(d->code, "200") == 0;

    if (d->have_pk) {
        qs_hex_encode(prefix, sizeof prefix, d->pk, QS_KEY_BYTES);
        prefix[8] = '\0';
    }
    if (!admitted && (limited || (d->have_pk && !qs_logthrottle_allow(zap->throttle, d->pk,
                                                                       now_ms)))) {
        log_debug("refused %s '%s' again: %s", d->side, prefix, d->text);
        return;
    }
    if (!qs_lograte_allow(zap->lograte, now_ms))
        log_debug("%s %s '%s': %s", admitted ? "admitted" : "refused", d->side, prefix, d->text);
    else if (admitted)
        log_info("admitted %s '%s'", d->side, prefix);
    else
        log_warn("refused %s '%s': %s", d->side, prefix, d->text);
}

/* Count a decision and update its source's rate; then log it. */
static void
zap_account(qs_zap_t *zap, const zap_decision_t *d, zmq_msg_t *address, int64_t now_ms)
{
    char addr[ZAP_ADDR_CHARS];
    size_t len = zmq_msg_size(address);
    int limited = 0;

    if (len >= sizeof addr)
        len = sizeof addr - 1;
    memcpy(addr, zmq_msg_data(address), len);
    addr[len] = '\0';
    if (strcmp(d->code, "200") == 0) {
        zap->admitted++;
        if (zap->per_second > 0 && addr[0] != '\0')
            source_get(zap, addr, now_ms)->admitted_ms = now_ms;
    } else {
        zap->refused++;
        limited = source_refused(zap, addr, now_ms);
        zap->rate_limited += (uint64_t)limited;
    }
    zap_log(zap, d, limited, now_ms);
}

/* Receive one request (all its frames), answer it. 1 answered, 0 nothing
 * pending, -1 error. */
static int
zap_handle_one(qs_zap_t *zap, const qs_keyset_t *keys, int64_t now_ms)
{
    zmq_msg_t frames[ZAP_MAX_FRAMES];
    zap_decision_t d;
    int n = 0, more = 1, rc = 1;

    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        /* Never blocks: a message's later frames arrive together with its first. */
        if (zmq_msg_recv(&m, zap->sock, ZMQ_DONTWAIT) < 0) {
            int err = zmq_errno();
            zmq_msg_close(&m);
            for (int i = 0; i < n && i < ZAP_MAX_FRAMES; i++)
                zmq_msg_close(&frames[i]);
            if (n == 0 && (err == EAGAIN || err == EINTR))
                return 0;   /* nothing pending, or a signal: the loop decides */
            log_error("cannot read a zap request: %s", zmq_strerror(err));
            return -1;
        }
        more = zmq_msg_more(&m);
        if (n < ZAP_MAX_FRAMES) {
            zmq_msg_init(&frames[n]);
            zmq_msg_move(&frames[n], &m);
        }
        zmq_msg_close(&m);
        n++;
    }
    if (n < 6 || n > 7) {
        memset(&d, 0, sizeof d);
        d.code = "500";
        d.text = "malformed zap request";
        d.side = "peer";
        if (zap_reply(zap, n >= 2 ? &frames[1] : NULL, &d) != 0)
            rc = -1;
        zap->refused++;
        if (qs_lograte_allow(zap->lograte, now_ms))
            log_warn("refused a malformed zap request (%d frames)", n);
    } else {
        zap_decide(&d, zap, keys, frames, n);
        if (zap_reply(zap, &frames[1], &d) != 0)
            rc = -1;
        zap_account(zap, &d, &frames[3], now_ms);
    }
    for (int i = 0; i < n && i < ZAP_MAX_FRAMES; i++)
        zmq_msg_close(&frames[i]);
    return rc;
}

int
qs_zap_handle(qs_zap_t *zap, const qs_keyset_t *keys, int64_t now_ms)
{
    int answered = 0;

    for (int i = 0; i < ZAP_BATCH; i++) {
        int rc = zap_handle_one(zap, keys, now_ms);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        answered++;
    }
    return answered;
}
