/* test_secpool.c - secpool.c: guarded buffers reused by size, wiped, bounded;
 * and libzmq's CurveZMQ handshakes served from the pool (the override is
 * what libzmq calls, not only what this file calls). */
#include "qs_secpool.h"
#include "qs_test.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

static void
test_secpool_reuses_a_released_buffer_wiped(void)
{
    qs_secpool_stats_t a, b;
    uint8_t *p, *q;

    qs_secpool_stats(&a);
    p = sodium_allocarray(3, 100);
    QS_CHECK(p != NULL);
    memset(p, 0xa5, 300);
    sodium_free(p);
    q = sodium_allocarray(300, 1);   /* same size, another shape */
    QS_CHECK(q == p);
    for (size_t i = 0; i < 300; i++)
        if (q[i] != 0) {
            QS_CHECK(q[i] == 0);
            break;
        }
    sodium_free(q);
    qs_secpool_stats(&b);
    QS_CHECK_EQ_INT((int)(b.reused - a.reused), 1);
    QS_CHECK_EQ_INT((int)(b.kept - a.kept), 2);
}

static void
test_secpool_other_size_is_another_buffer(void)
{
    void *p = sodium_allocarray(1, 64), *q;

    sodium_free(p);
    q = sodium_allocarray(1, 65);
    QS_CHECK(q != NULL && q != p);
    sodium_free(q);
}

static void
test_secpool_keeps_at_most_per_size(void)
{
    enum { N = QS_SECPOOL_PER_SIZE + 3 };
    void *p[N];
    qs_secpool_stats_t a, b;

    qs_secpool_stats(&a);
    for (int i = 0; i < N; i++)
        QS_CHECK((p[i] = sodium_allocarray(1, 777)) != NULL);
    for (int i = 0; i < N; i++)
        sodium_free(p[i]);
    qs_secpool_stats(&b);
    QS_CHECK_EQ_INT((int)(b.kept - a.kept), QS_SECPOOL_PER_SIZE);
    QS_CHECK_EQ_INT((int)(b.passed - a.passed), 3);
}

static void
test_secpool_passes_what_is_not_its_own(void)
{
    qs_secpool_stats_t a, b;
    uint8_t *k = sodium_malloc(32);

    QS_CHECK(k != NULL);
    qs_secpool_stats(&a);
    sodium_free(k);                  /* from sodium_malloc: libsodium frees it */
    sodium_free(NULL);
    qs_secpool_stats(&b);
    QS_CHECK_EQ_INT((int)(b.passed - a.passed), 1);
    QS_CHECK_EQ_INT((int)(b.kept - a.kept), 0);
}

static void
test_secpool_refuses_an_overflowing_count(void)
{
    errno = 0;
    QS_CHECK(sodium_allocarray(SIZE_MAX / 2, 3) == NULL);
    QS_CHECK_EQ_INT(errno, ENOMEM);
}

static void
test_secpool_serves_libzmq_handshakes(void)
{
    enum { CONNECTIONS = 20 };
    char pub[41], sec[41], endpoint[64], id[256], msg[8];
    int one = 1, linger = 0, timeout = 10000;
    size_t len = sizeof endpoint;
    qs_secpool_stats_t a, b;
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_ROUTER);

    QS_CHECK(zmq_curve_keypair(pub, sec) == 0);
    QS_CHECK(zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) == 0 &&
             zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40) == 0 &&
             zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
             zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0 &&
             zmq_bind(s, "tcp://127.0.0.1:*") == 0 &&
             zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);
    qs_secpool_stats(&a);
    for (int i = 0; i < CONNECTIONS; i++) {
        /* Both sides on this thread: the client sends, the server echoes. */
        char pub_c[41], sec_c[41];
        void *d = zmq_socket(ctx, ZMQ_DEALER);
        int ok = zmq_curve_keypair(pub_c, sec_c) == 0 &&
                 zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, pub, 40) == 0 &&
                 zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, pub_c, 40) == 0 &&
                 zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, sec_c, 40) == 0 &&
                 zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
                 zmq_connect(d, endpoint) == 0 && zmq_send(d, "ping", 4, 0) == 4;
        int idn = ok ? zmq_recv(s, id, sizeof id, 0) : -1;
        ok = ok && idn > 0 && zmq_recv(s, msg, sizeof msg, 0) == 4 &&
             zmq_send(s, id, (size_t)idn, ZMQ_SNDMORE) == idn && zmq_send(s, "pong", 4, 0) == 4 &&
             zmq_recv(d, msg, sizeof msg, 0) == 4;
        QS_CHECK(ok);
        zmq_close(d);
        if (!ok)
            break;
    }
    qs_secpool_stats(&b);
    /* Each handshake takes eleven buffers (six on the server's side, five on
     * the client's): fresh ones only for the first connections, after that
     * the released ones again. */
    QS_CHECK(b.reused - a.reused >= (uint64_t)(CONNECTIONS - 2) * 11);
    QS_CHECK(b.allocated - a.allocated <= 4 * 11);
    zmq_close(s);
    zmq_ctx_term(ctx);
}

int
main(void)
{
    QS_CHECK(sodium_init() >= 0);
    QS_RUN(test_secpool_reuses_a_released_buffer_wiped);
    QS_RUN(test_secpool_other_size_is_another_buffer);
    QS_RUN(test_secpool_keeps_at_most_per_size);
    QS_RUN(test_secpool_passes_what_is_not_its_own);
    QS_RUN(test_secpool_refuses_an_overflowing_count);
    QS_RUN(test_secpool_serves_libzmq_handshakes);
    return qs_test_summary();
}
