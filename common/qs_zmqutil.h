/* qs_zmqutil.h - libzmq set-up shared by broker, store and producer.
 *
 * CurveZMQ everywhere: servers get ZAP_DOMAIN so that the broker's ZAP handler
 * decides who may connect; clients pin the server's public key. Every socket
 * has bounded queues (HWM), a maximum message size and a short linger.
 * The ZAP handler puts the client's public key, as 64 hex characters, in the
 * "User-Id" property of every message it receives (qs_zmq_msg_user_pk).
 */
#ifndef QS_ZMQUTIL_H
#define QS_ZMQUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "qs_keys.h"

#define QS_ZAP_DOMAIN_FRONTEND "quietstate-frontend"
#define QS_ZAP_DOMAIN_BACKEND  "quietstate-backend"

/* A context allowing max_sockets sockets (the simulator needs one per client). */
void *qs_zmq_ctx_new(int max_sockets);

/* Bounded queues, max message size, linger (ms), and TCP keepalive. */
int qs_zmq_socket_limits(void *sock, int hwm, int linger_ms);

/* Make sock a CURVE server with kp, authenticated through ZAP in zap_domain. */
int qs_zmq_curve_server(void *sock, const qs_keypair_t *kp, const char *zap_domain);

/* Make sock a CURVE client of the server whose public key is server_pk. */
int qs_zmq_curve_client(void *sock, const qs_keypair_t *self,
                        const uint8_t server_pk[QS_KEY_BYTES]);

/* The transport-authenticated client key of msg (from ZAP's User-Id).
 * Returns 0, or -1 when the message carries none (no ZAP, not CURVE). */
int qs_zmq_msg_user_pk(zmq_msg_t *msg, uint8_t pk[QS_KEY_BYTES]);

/* Raise RLIMIT_NOFILE to its hard limit (a fleet simulator opens many sockets). */
void qs_raise_fd_limit(void);

#endif
