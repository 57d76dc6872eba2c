/* zap.h - the broker's ZAP 1.0 (RFC 27) handler: who may finish a CURVE handshake.
 *
 * libzmq asks the handler bound at inproc://zeromq.zap.01 in the same context
 * about every CURVE handshake on a socket with a ZAP domain. The broker answers
 * from its in-memory key set:
 *   - "quietstate-frontend": admit a client key only if it is enrolled and not
 *     revoked (qs_keyset_get() == QS_KEY_ENROLLED);
 *   - "quietstate-backend": admit only the store's public key;
 *   - anything else (other domains, other mechanisms): refuse (400).
 * An admitted peer gets User-Id = its key as 64 lowercase hex characters;
 * libzmq attaches it to every message from that connection, which is how the
 * router checks each message's key (qs_zmq_msg_user_pk).
 *
 * The handler is a ZMQ_REP socket polled by the broker's single-threaded loop:
 * it must be created (bound) BEFORE any CURVE server socket, because libzmq
 * 4.3 lets every handshake through when no handler is bound. Likewise destroy
 * it only after the CURVE sockets are closed.
 */
#ifndef QS_BROKER_ZAP_H
#define QS_BROKER_ZAP_H

#include <stdint.h>

#include "logthrottle.h"
#include "qs_keyset.h"
#include "qs_limits.h"

#define QS_ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct qs_zap qs_zap_t;

/* Create the handler in ctx and bind it to QS_ZAP_ENDPOINT. store_pk is
 * copied. NULL with errmsg when the socket cannot be created or bound (for
 * example another handler is already bound in this context). */
qs_zap_t *qs_zap_new(void *ctx, const uint8_t store_pk[QS_KEY_BYTES],
                     char *errmsg, size_t errmsg_len);

/* The REP socket, for zmq_poll (ZMQ_POLLIN). Owned by zap. */
void *qs_zap_socket(qs_zap_t *zap);

/* Answer every pending request (never blocks) against keys, which is only
 * borrowed for the call. now_ms (any monotonic clock) throttles repeated
 * refusal log lines. Returns the number of requests answered, or -1 on a
 * socket error other than "nothing pending". */
int qs_zap_handle(qs_zap_t *zap, const qs_keyset_t *keys, int64_t now_ms);

/* Limits (a new handler has none): per_second refused handshakes per source
 * address (the ZAP request's address frame, an IP), with bursts of 5 s
 * worth; a source over it is "flooding" for 10 s, its further refusals are
 * not logged, and qs_zap_source_flooding says so (the guard then drops its
 * new connections at accept, before the costly CurveZMQ handshake) unless a
 * handshake from that address was admitted in the last minute (a legitimate
 * client behind the same address must keep working). lograte (borrowed, may
 * be NULL) bounds every log line the handler writes. */
void qs_zap_set_limits(qs_zap_t *zap, int per_second, qs_lograte_t *lograte);

/* 1 if addr is flooding at now_ms (see qs_zap_set_limits); arg is the
 * qs_zap_t, so that this is a qs_guard_refuse_fn. */
int qs_zap_source_flooding(void *arg, const char *addr, int64_t now_ms);

/* Refusals over their source's rate so far (counted in refused too). */
uint64_t qs_zap_rate_limited(const qs_zap_t *zap);

/* Handshakes admitted and refused so far. */
void qs_zap_counts(const qs_zap_t *zap, uint64_t *admitted, uint64_t *refused);

/* Close the socket (linger 0) and free; sets *zap_p to NULL. No-op on NULL. */
void qs_zap_destroy(qs_zap_t **zap_p);

#endif
