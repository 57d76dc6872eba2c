/* router.h - the broker's two CURVE ROUTER sockets and the store-worker list.
 *
 * Frontend (producers, ZAP domain quietstate-frontend): a producer sends one
 * frame, a packed Envelope; the router receives [client id][Envelope]. For
 * every message it checks the transport-authenticated key (ZAP User-Id)
 * against the current key set: a revoked or unknown key is dropped with a
 * REVOKED notice, so revocation cuts off even a live connection. A message of
 * more (or fewer) than one non-empty frame gets a BAD_ENVELOPE notice. Anything
 * else goes to the next live store worker, round-robin, as
 * [worker id][client id][client key, 32 bytes][Envelope].
 *
 * Backend (store workers, ZAP domain quietstate-backend): a worker sends
 * [QS_WORKER_READY] at start and every QS_WORKER_HEARTBEAT_MS; [client
 * id][Reply] is passed on to the client as [Reply]. A worker not heard from
 * for QS_WORKER_TTL_MS is dropped from the list (qs_workerproto.h).
 *
 * Memory is bounded: the router never keeps a message in a list of its own.
 * Both sockets have ZMQ_ROUTER_MANDATORY and the configured high-water mark,
 * and every send is non-blocking: when no worker is live, or every worker's
 * queue is full, the client gets an immediate RETRY_LATER notice (code
 * STORE_BUSY) instead of the broker buffering. The router does not decode
 * payloads (it could not read them anyway: it has no store key).
 */
#ifndef QS_BROKER_ROUTER_H
#define QS_BROKER_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "qs_keys.h"
#include "qs_keyset.h"
#include "qs_limits.h"
#include "qs_workerproto.h"

#define QS_ROUTER_WORKER_TTL_MS QS_WORKER_TTL_MS   /* a worker silent for longer is gone */
#define QS_ROUTER_MAX_WORKERS   64     /* store workers behind one broker */

typedef struct qs_router qs_router_t;

/* Counters since qs_router_new. */
typedef struct {
    uint64_t forwarded;            /* envelopes handed to a store worker */
    uint64_t replies;              /* store replies delivered to clients */
    uint64_t replies_dropped;      /* store replies whose client was gone or full */
    uint64_t notice_retry_later;   /* no live worker, or all of them full */
    uint64_t notice_revoked;       /* messages dropped: key revoked or unknown */
    uint64_t notice_bad_envelope;  /* messages dropped: wrong frames */
    uint64_t notices_dropped;      /* notices the client could not take */
    uint64_t backend_malformed;    /* backend messages of the wrong shape, dropped */
    uint64_t workers_joined;
    uint64_t workers_expired;
    uint64_t worker_full_bytes;    /* a worker skipped: its queue over worker_max bytes */
} qs_router_stats_t;

struct qs_guard;
struct qs_lograte;

/* Create both ROUTER sockets in ctx as CURVE servers with server_kp (copied
 * into the sockets), with hwm and linger 0, and bind them to the frontend and
 * backend endpoints ("tcp://127.0.0.1:*" picks a port: see
 * qs_router_endpoint). The ZAP handler must already be bound in ctx.
 * store_pk is copied. NULL with errmsg on failure. */
qs_router_t *qs_router_new(void *ctx, const char *frontend, const char *backend, int hwm,
                           const qs_keypair_t *server_kp,
                           const uint8_t store_pk[QS_KEY_BYTES],
                           char *errmsg, size_t errmsg_len);

/* The broker's limits (all optional; a new router has none): guard is told
 * every frame read from the frontend (guard.h); lograte bounds the refusal
 * log lines; worker_max (bytes, 0 = none) bounds what is queued toward one
 * store worker, measured as bytes forwarded minus bytes libzmq has written
 * to the worker's TCP connection (a worker over it counts as full, so a
 * stalled store costs at most worker_max per worker, not hwm envelopes of
 * 1 MiB each). Borrowed: they must outlive the router. */
void qs_router_set_limits(qs_router_t *r, struct qs_guard *guard, struct qs_lograte *lograte,
                          uint64_t worker_max);

/* The sockets, for zmq_poll (ZMQ_POLLIN). Owned by the router. */
void *qs_router_frontend(qs_router_t *r);
void *qs_router_backend(qs_router_t *r);

/* The endpoint a socket is bound to (backend != 0: the backend's), for
 * wildcard ports. Returns 0, or -1 when it does not fit in out. */
int qs_router_endpoint(qs_router_t *r, int backend, char *out, size_t out_len);

/* Messages handled per socket per call, at most: a call that handled fewer
 * ended on EAGAIN (nothing left unread). */
#define QS_ROUTER_BATCH 256

/* Handle the messages pending on the frontend (at most QS_ROUTER_BATCH per
 * call; never blocks). keys is borrowed for the call; now_ms is a monotonic
 * clock in ms. Returns the number of messages handled, or -1 on a socket error. */
int qs_router_on_frontend(qs_router_t *r, const qs_keyset_t *keys, int64_t now_ms);

/* Handle the messages pending on the backend (QS_WORKER_READY heartbeats, replies);
 * same contract as qs_router_on_frontend. */
int qs_router_on_backend(qs_router_t *r, int64_t now_ms);

/* Forget workers not heard from for QS_WORKER_TTL_MS; returns how
 * many are left. */
size_t qs_router_expire(qs_router_t *r, int64_t now_ms);

void qs_router_stats(const qs_router_t *r, qs_router_stats_t *out);

/* Close both sockets (linger 0) and free; sets *r_p to NULL. No-op on NULL. */
void qs_router_destroy(qs_router_t **r_p);

#endif
