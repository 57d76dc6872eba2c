/* test_router.c - the router forwards, routes replies back, and refuses what it must.
 *
 * A real ZAP handler and router on tcp://127.0.0.1 ephemeral ports, a fake
 * store (a DEALER with the store key that sends READY and answers by hand) and
 * producer DEALERs. The test thread pumps the broker's handlers exactly as
 * main.c does; the router's clock is the test's (monotonic plus an offset),
 * so worker expiry is tested without sleeping.
 */
#include "qs_test.h"
#include "qs_clock.h"
#include "router.h"
#include "zap.h"

#include "qs_keys.h"
#include "qs_keyset.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_sitedb.h"
#include "qs_zmqutil.h"
#include "quietstate.pb-c.h"

#include <sodium.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define WAIT_MS 5000

typedef struct {
    char dir[256];
    char db_path[512];
    uint8_t site_key[32];
    qs_sitedb_t *db;
    qs_keyset_t *keys;
    qs_keypair_t *broker_kp;
    qs_keypair_t *store_kp;
    void *ctx;
    qs_zap_t *zap;
    qs_router_t *router;
    char frontend[256];
    char backend[256];
    int64_t clock_offset_ms;
} fixture_t;


static int64_t
fixture_now(const fixture_t *f)
{
    return qs_clock_mono_ms() + f->clock_offset_ms;
}

static void
fixture_init(fixture_t *f, int hwm)
{
    char err[256] = "";

    memset(f, 0, sizeof *f);
    qs_test_tmpdir(f->dir, sizeof f->dir, "router");
    snprintf(f->db_path, sizeof f->db_path, "%s/site.db", f->dir);
    randombytes_buf(f->site_key, sizeof f->site_key);
    f->db = qs_sitedb_open(f->db_path, 1, err, sizeof err);
    QS_CHECK(f->db != NULL);
    f->keys = qs_keyset_new();
    f->broker_kp = qs_keypair_generate();
    f->store_kp = qs_keypair_generate();
    f->ctx = zmq_ctx_new();
    f->zap = qs_zap_new(f->ctx, qs_keypair_public(f->store_kp), err, sizeof err);
    QS_CHECK(f->zap != NULL);
    f->router = qs_router_new(f->ctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", hwm,
                              f->broker_kp, qs_keypair_public(f->store_kp), err, sizeof err);
    if (f->router == NULL)
        fprintf(stderr, "  router: %s\n", err);
    QS_CHECK(f->router != NULL);
    QS_CHECK(qs_router_endpoint(f->router, 0, f->frontend, sizeof f->frontend) == 0);
    QS_CHECK(qs_router_endpoint(f->router, 1, f->backend, sizeof f->backend) == 0);
}

static void
fixture_fini(fixture_t *f)
{
    char path[600];

    qs_router_destroy(&f->router);
    QS_CHECK(f->router == NULL);
    qs_zap_destroy(&f->zap);
    zmq_ctx_term(f->ctx);
    qs_keyset_destroy(&f->keys);
    qs_sitedb_destroy(&f->db);
    qs_keypair_destroy(&f->broker_kp);
    qs_keypair_destroy(&f->store_kp);
    snprintf(path, sizeof path, "%s-wal", f->db_path);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", f->db_path);
    unlink(path);
    unlink(f->db_path);
    rmdir(f->dir);
}

static qs_keypair_t *
fixture_enroll(fixture_t *f, const char *name)
{
    char err[256];
    uint8_t ps[QS_PSEUDONYM_BYTES];
    qs_keypair_t *kp = qs_keypair_generate();

    qs_pseudonym(ps, f->site_key, QS_PSEUDO_CLIENT, name);
    QS_CHECK(qs_sitedb_enroll(f->db, ps, qs_keypair_public(kp), 1, err, sizeof err) == 0);
    QS_CHECK(qs_sitedb_load_keyset(f->db, f->keys) == 0);
    return kp;
}

static void
fixture_revoke(fixture_t *f, const char *name)
{
    uint8_t ps[QS_PSEUDONYM_BYTES];
    int n = 0;

    qs_pseudonym(ps, f->site_key, QS_PSEUDO_CLIENT, name);
    QS_CHECK(qs_sitedb_revoke(f->db, ps, 2, &n) == 0);
    QS_CHECK_EQ_INT(n, 1);
    QS_CHECK(qs_sitedb_load_keyset(f->db, f->keys) == 0);
}

/* A CURVE DEALER with kp, connected to endpoint. */
static void *
dealer(fixture_t *f, const qs_keypair_t *kp, const char *endpoint, int hwm)
{
    void *s = zmq_socket(f->ctx, ZMQ_DEALER);

    QS_CHECK(qs_zmq_socket_limits(s, hwm, 0) == 0);
    QS_CHECK(qs_zmq_curve_client(s, kp, qs_keypair_public(f->broker_kp)) == 0);
    QS_CHECK(zmq_connect(s, endpoint) == 0);
    return s;
}

/* Run the broker's handlers until target has a message (1) or wait_ms pass (0).
 * target may be NULL: then just run for wait_ms. */
static int
pump(fixture_t *f, void *target, int wait_ms)
{
    int64_t deadline = qs_clock_mono_ms() + wait_ms;

    while (qs_clock_mono_ms() < deadline) {
        zmq_pollitem_t items[4] = {
            { qs_zap_socket(f->zap), 0, ZMQ_POLLIN, 0 },
            { qs_router_backend(f->router), 0, ZMQ_POLLIN, 0 },
            { qs_router_frontend(f->router), 0, ZMQ_POLLIN, 0 },
            { target, 0, ZMQ_POLLIN, 0 },
        };
        int n = target ? 4 : 3;

        if (zmq_poll(items, n, 10) < 0)
            return 0;
        if (items[0].revents & ZMQ_POLLIN)
            QS_CHECK(qs_zap_handle(f->zap, f->keys, fixture_now(f)) >= 0);
        if (items[1].revents & ZMQ_POLLIN)
            QS_CHECK(qs_router_on_backend(f->router, fixture_now(f)) >= 0);
        if (items[2].revents & ZMQ_POLLIN)
            QS_CHECK(qs_router_on_frontend(f->router, f->keys, fixture_now(f)) >= 0);
        if (target && (items[3].revents & ZMQ_POLLIN))
            return 1;
    }
    return 0;
}

/* Make store a live worker: send READY and pump until the router has it. */
static void
store_ready(fixture_t *f, void *store, uint64_t joined_before)
{
    qs_router_stats_t st;
    int64_t deadline = qs_clock_mono_ms() + WAIT_MS;

    QS_CHECK(zmq_send(store, "READY", 5, 0) == 5);
    do {
        (void)pump(f, NULL, 10);
        qs_router_stats(f->router, &st);
    } while (st.workers_joined == joined_before && qs_clock_mono_ms() < deadline);
    QS_CHECK_EQ_INT(st.workers_joined, joined_before + 1);
}

/* Receive one Reply frame on client and check it is a notice (status, code). */
static void
expect_notice(fixture_t *f, void *client, Quietstate__Status status, Quietstate__Code code)
{
    uint8_t buf[1024];
    int n;
    Quietstate__Reply *reply;

    QS_CHECK(pump(f, client, WAIT_MS) == 1);
    n = zmq_recv(client, buf, sizeof buf, ZMQ_DONTWAIT);
    QS_CHECK(n > 0);
    if (n <= 0)
        return;
    reply = quietstate__reply__unpack(NULL, (size_t)n, buf);
    QS_CHECK(reply != NULL);
    if (reply == NULL)
        return;
    QS_CHECK(reply->notice != NULL);
    QS_CHECK(reply->sealed_ack == NULL);
    if (reply->notice != NULL) {
        QS_CHECK_EQ_INT(reply->notice->status, status);
        QS_CHECK_EQ_INT(reply->notice->code, code);
    }
    quietstate__reply__free_unpacked(reply, NULL);
}

static void
close_sock(void **s)
{
    int linger = 0;
    zmq_setsockopt(*s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(*s);
    *s = NULL;
}

static void
test_router_answers_retry_later_without_store(void)
{
    fixture_t f;
    qs_router_stats_t st;

    fixture_init(&f, 100);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    void *c = dealer(&f, a, f.frontend, 100);

    QS_CHECK(zmq_send(c, "envelope", 8, 0) == 8);
    expect_notice(&f, c, QUIETSTATE__STATUS__RETRY_LATER, QUIETSTATE__CODE__STORE_BUSY);
    qs_router_stats(f.router, &st);
    QS_CHECK_EQ_INT(st.notice_retry_later, 1);
    QS_CHECK_EQ_INT(st.forwarded, 0);

    close_sock(&c);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_router_forwards_envelope_with_client_key_and_routes_reply(void)
{
    fixture_t f;
    qs_router_stats_t st;
    uint8_t id[256], pk[64], body[64], reply[64];
    int id_len, n;

    fixture_init(&f, 100);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    void *store = dealer(&f, f.store_kp, f.backend, 100);
    void *c = dealer(&f, a, f.frontend, 100);
    store_ready(&f, store, 0);

    QS_CHECK(zmq_send(c, "envelope-bytes", 14, 0) == 14);
    QS_CHECK(pump(&f, store, WAIT_MS) == 1);
    id_len = zmq_recv(store, id, sizeof id, ZMQ_DONTWAIT);
    QS_CHECK(id_len > 0);
    QS_CHECK_EQ_INT(zmq_recv(store, pk, sizeof pk, ZMQ_DONTWAIT), QS_KEY_BYTES);
    QS_CHECK(memcmp(pk, qs_keypair_public(a), QS_KEY_BYTES) == 0);
    n = zmq_recv(store, body, sizeof body, ZMQ_DONTWAIT);
    QS_CHECK_EQ_INT(n, 14);
    QS_CHECK(memcmp(body, "envelope-bytes", 14) == 0);

    /* The store answers [client id][Reply]; the client gets [Reply] only. */
    QS_CHECK(zmq_send(store, id, (size_t)id_len, ZMQ_SNDMORE) == id_len);
    QS_CHECK(zmq_send(store, "reply-bytes", 11, 0) == 11);
    QS_CHECK(pump(&f, c, WAIT_MS) == 1);
    n = zmq_recv(c, reply, sizeof reply, ZMQ_DONTWAIT);
    QS_CHECK_EQ_INT(n, 11);
    QS_CHECK(memcmp(reply, "reply-bytes", 11) == 0);
    {
        int more = 0;
        size_t more_len = sizeof more;
        QS_CHECK(zmq_getsockopt(c, ZMQ_RCVMORE, &more, &more_len) == 0);
        QS_CHECK_EQ_INT(more, 0);
    }

    qs_router_stats(f.router, &st);
    QS_CHECK_EQ_INT(st.forwarded, 1);
    QS_CHECK_EQ_INT(st.replies, 1);
    QS_CHECK_EQ_INT(st.notice_retry_later, 0);

    close_sock(&c);
    close_sock(&store);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_router_refuses_extra_or_empty_frames(void)
{
    fixture_t f;
    qs_router_stats_t st;

    fixture_init(&f, 100);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    void *store = dealer(&f, f.store_kp, f.backend, 100);
    void *c = dealer(&f, a, f.frontend, 100);
    store_ready(&f, store, 0);

    QS_CHECK(zmq_send(c, "one", 3, ZMQ_SNDMORE) == 3);
    QS_CHECK(zmq_send(c, "two", 3, 0) == 3);
    expect_notice(&f, c, QUIETSTATE__STATUS__BAD_ENVELOPE, QUIETSTATE__CODE__BAD_FRAMES);
    QS_CHECK(zmq_send(c, "", 0, 0) == 0);
    expect_notice(&f, c, QUIETSTATE__STATUS__BAD_ENVELOPE, QUIETSTATE__CODE__BAD_FRAMES);

    qs_router_stats(f.router, &st);
    QS_CHECK_EQ_INT(st.notice_bad_envelope, 2);
    QS_CHECK_EQ_INT(st.forwarded, 0);
    QS_CHECK(pump(&f, store, 100) == 0);   /* nothing reached the store */

    close_sock(&c);
    close_sock(&store);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_router_cuts_off_revoked_client_on_live_connection(void)
{
    fixture_t f;
    qs_router_stats_t st;
    uint8_t buf[256];

    fixture_init(&f, 100);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    void *store = dealer(&f, f.store_kp, f.backend, 100);
    void *c = dealer(&f, a, f.frontend, 100);
    store_ready(&f, store, 0);

    QS_CHECK(zmq_send(c, "first", 5, 0) == 5);
    QS_CHECK(pump(&f, store, WAIT_MS) == 1);
    while (zmq_recv(store, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
        ;

    /* Same connection, no new handshake: only the per-message check can stop it. */
    fixture_revoke(&f, "client-a");
    QS_CHECK(zmq_send(c, "second", 6, 0) == 6);
    expect_notice(&f, c, QUIETSTATE__STATUS__REVOKED, QUIETSTATE__CODE__CLIENT_REVOKED);
    QS_CHECK(pump(&f, store, 200) == 0);

    qs_router_stats(f.router, &st);
    QS_CHECK_EQ_INT(st.forwarded, 1);
    QS_CHECK_EQ_INT(st.notice_revoked, 1);

    close_sock(&c);
    close_sock(&store);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_router_expires_silent_worker(void)
{
    fixture_t f;
    qs_router_stats_t st;

    fixture_init(&f, 100);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    void *store = dealer(&f, f.store_kp, f.backend, 100);
    void *c = dealer(&f, a, f.frontend, 100);
    store_ready(&f, store, 0);
    QS_CHECK_EQ_INT(qs_router_expire(f.router, fixture_now(&f)), 1);

    f.clock_offset_ms += QS_ROUTER_WORKER_TTL_MS + 1;
    QS_CHECK_EQ_INT(qs_router_expire(f.router, fixture_now(&f)), 0);
    QS_CHECK(zmq_send(c, "envelope", 8, 0) == 8);
    expect_notice(&f, c, QUIETSTATE__STATUS__RETRY_LATER, QUIETSTATE__CODE__STORE_BUSY);

    /* A heartbeat brings it back. */
    store_ready(&f, store, 1);
    QS_CHECK(zmq_send(c, "envelope", 8, 0) == 8);
    QS_CHECK(pump(&f, store, WAIT_MS) == 1);
    qs_router_stats(f.router, &st);
    QS_CHECK_EQ_INT(st.workers_expired, 1);
    QS_CHECK_EQ_INT(st.forwarded, 1);

    close_sock(&c);
    close_sock(&store);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static int
drain_count(void *s)
{
    uint8_t buf[256];
    int n = 0, more = 0;
    size_t more_len = sizeof more;

    while (zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT) >= 0) {
        zmq_getsockopt(s, ZMQ_RCVMORE, &more, &more_len);
        if (!more)
            n++;
    }
    return n;
}

static void
test_router_spreads_round_robin_over_workers(void)
{
    fixture_t f;
    int got1 = 0, got2 = 0;

    fixture_init(&f, 100);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    void *s1 = dealer(&f, f.store_kp, f.backend, 100);
    void *s2 = dealer(&f, f.store_kp, f.backend, 100);
    void *c = dealer(&f, a, f.frontend, 100);
    store_ready(&f, s1, 0);
    store_ready(&f, s2, 1);

    for (int i = 0; i < 6; i++)
        QS_CHECK(zmq_send(c, "envelope", 8, 0) == 8);
    for (int64_t deadline = qs_clock_mono_ms() + WAIT_MS; got1 + got2 < 6 && qs_clock_mono_ms() < deadline;) {
        (void)pump(&f, NULL, 20);
        got1 += drain_count(s1);
        got2 += drain_count(s2);
    }
    QS_CHECK_EQ_INT(got1, 3);
    QS_CHECK_EQ_INT(got2, 3);

    close_sock(&c);
    close_sock(&s1);
    close_sock(&s2);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

/* A store that stops reading must not make the broker queue: once the
 * bounded queues fill, clients get RETRY_LATER at once. */
static void
test_router_stalled_store_pushes_back_with_retry_later(void)
{
    enum { BODY = 64 * 1024, SENDS = 600 };
    fixture_t f;
    qs_router_stats_t st;
    uint8_t *body = qs_calloc(1, BODY);

    fixture_init(&f, 2);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    void *store = dealer(&f, f.store_kp, f.backend, 1);
    void *c = dealer(&f, a, f.frontend, 10000);
    store_ready(&f, store, 0);

    for (int i = 0; i < SENDS; i++) {
        QS_CHECK(zmq_send(c, body, BODY, ZMQ_DONTWAIT) == BODY);
        (void)pump(&f, NULL, 1);
        qs_router_stats(f.router, &st);
        if (st.notice_retry_later > 0)
            break;
    }
    for (int64_t deadline = qs_clock_mono_ms() + WAIT_MS;
         st.notice_retry_later == 0 && qs_clock_mono_ms() < deadline;) {
        (void)pump(&f, NULL, 20);
        qs_router_stats(f.router, &st);
    }
    QS_CHECK(st.notice_retry_later > 0);
    QS_CHECK(st.forwarded < SENDS);
    /* The worker is still live: this was back-pressure, not a lost store. */
    QS_CHECK_EQ_INT(qs_router_expire(f.router, fixture_now(&f)), 1);

    close_sock(&c);
    close_sock(&store);
    qs_keypair_destroy(&a);
    free(body);
    fixture_fini(&f);
}

static void
test_router_new_fails_on_bad_endpoint(void)
{
    char err[256] = "";
    void *ctx = zmq_ctx_new();
    qs_keypair_t *kp = qs_keypair_generate();
    qs_router_t *r = qs_router_new(ctx, "tcp://256.0.0.1:1", "tcp://127.0.0.1:*", 10, kp,
                                   qs_keypair_public(kp), err, sizeof err);

    QS_CHECK(r == NULL);
    QS_CHECK(strstr(err, "frontend") != NULL);
    qs_router_destroy(&r);
    qs_keypair_destroy(&kp);
    zmq_ctx_term(ctx);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_log_init("test_router", QS_LOG_ERROR);
    QS_RUN(test_router_answers_retry_later_without_store);
    QS_RUN(test_router_forwards_envelope_with_client_key_and_routes_reply);
    QS_RUN(test_router_refuses_extra_or_empty_frames);
    QS_RUN(test_router_cuts_off_revoked_client_on_live_connection);
    QS_RUN(test_router_expires_silent_worker);
    QS_RUN(test_router_spreads_round_robin_over_workers);
    QS_RUN(test_router_stalled_store_pushes_back_with_retry_later);
    QS_RUN(test_router_new_fails_on_bad_endpoint);
    return qs_test_summary();
}
