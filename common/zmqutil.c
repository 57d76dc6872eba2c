/* zmqutil.c - socket options for CurveZMQ and bounded queues. */
#include "qs_zmqutil.h"
#include "qs_hex.h"
#include "qs_limits.h"
#include "qs_log.h"

#include <string.h>
#include <sys/resource.h>

void *
qs_zmq_ctx_new(int max_sockets)
{
    void *ctx = zmq_ctx_new();
    if (ctx == NULL)
        qs_fatal("cannot create a zmq context: %s", zmq_strerror(zmq_errno()));
    if (max_sockets > 0)
        (void)zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, max_sockets);
    return ctx;
}

int
qs_zmq_socket_limits(void *sock, int hwm, int linger_ms)
{
    int64_t maxmsg = QS_MAX_FRAME_BYTES + 4096;
    int one = 1;

    if (zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms) != 0 ||
        zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE, &one, sizeof one) != 0)
        return -1;
    return 0;
}

int
qs_zmq_curve_server(void *sock, const qs_keypair_t *kp, const char *zap_domain)
{
    int one = 1;

    int backlog = 4096;   /* a fleet reconnecting after a restart comes at once */

    (void)zmq_setsockopt(sock, ZMQ_BACKLOG, &backlog, sizeof backlog);
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, qs_keypair_secret(kp), QS_KEY_BYTES) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain)) != 0)
        return -1;
#ifdef ZMQ_ZAP_ENFORCE_DOMAIN
    /* Draft API: where available, a missing ZAP handler refuses everyone. The
     * broker binds its ZAP handler before any CURVE server socket regardless. */
    (void)zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one);
#endif
    return 0;
}

int
qs_zmq_curve_client(void *sock, const qs_keypair_t *self, const uint8_t server_pk[QS_KEY_BYTES])
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pk, QS_KEY_BYTES) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, qs_keypair_public(self), QS_KEY_BYTES) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, qs_keypair_secret(self), QS_KEY_BYTES) != 0)
        return -1;
    return 0;
}

int
qs_zmq_msg_user_pk(zmq_msg_t *msg, uint8_t pk[QS_KEY_BYTES])
{
    const char *uid = zmq_msg_gets(msg, "User-Id");
    if (uid == NULL)
        return -1;
    return qs_hex_decode(pk, QS_KEY_BYTES, uid);
}

void
qs_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}
