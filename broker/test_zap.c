/* test_zap.c - the ZAP handler admits enrolled keys and refuses the rest.
 *
 * Each test builds a throw-away site.db with enrolled clients, binds the ZAP
 * handler and a CURVE ROUTER on tcp://127.0.0.1 (ephemeral port) in one
 * context, and pumps the handler from the test thread while DEALER clients
 * connect: exactly the broker's single-threaded arrangement. ZAP only runs
 * over a real transport (inproc skips the security handshake), hence tcp.
 */
#include "qs_test.h"
#include "qs_clock.h"
#include "zap.h"
#include "logthrottle.h"

#include "qs_hex.h"
#include "qs_keys.h"
#include "qs_keyset.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_sitedb.h"
#include "qs_zmqutil.h"

#include <sodium.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define REFUSE_WAIT_MS 500
#define ADMIT_WAIT_MS  5000

typedef struct {
    char dir[256];
    char db_path[512];
    uint8_t site_key[32];
    qs_sitedb_t *db;
    qs_keyset_t *keys;
    qs_keypair_t *server_kp;
    qs_keypair_t *store_kp;
    void *ctx;
    qs_zap_t *zap;
    void *server;
    char endpoint[256];
    uint8_t last_pk[QS_KEY_BYTES];   /* User-Id of the last message received */
} fixture_t;


static void
fixture_reload(fixture_t *f)
{
    QS_CHECK(qs_sitedb_load_keyset(f->db, f->keys) == 0);
}

/* Enroll a fresh key under name; returns it (caller destroys). */
static qs_keypair_t *
fixture_enroll(fixture_t *f, const char *name)
{
    char err[256];
    uint8_t ps[QS_PSEUDONYM_BYTES];
    qs_keypair_t *kp = qs_keypair_generate();

    qs_pseudonym(ps, f->site_key, QS_PSEUDO_CLIENT, name);
    QS_CHECK(qs_sitedb_enroll(f->db, ps, qs_keypair_public(kp), 1, err, sizeof err) == 0);
    return kp;
}

/* A CURVE ROUTER server in domain, on an ephemeral loopback port. */
static void
fixture_server(fixture_t *f, const char *domain)
{
    size_t len = sizeof f->endpoint;

    f->server = zmq_socket(f->ctx, ZMQ_ROUTER);
    QS_CHECK(f->server != NULL);
    QS_CHECK(qs_zmq_socket_limits(f->server, 100, 0) == 0);
    QS_CHECK(qs_zmq_curve_server(f->server, f->server_kp, domain) == 0);
    QS_CHECK(zmq_bind(f->server, "tcp://127.0.0.1:*") == 0);
    QS_CHECK(zmq_getsockopt(f->server, ZMQ_LAST_ENDPOINT, f->endpoint, &len) == 0);
}

static void
fixture_init(fixture_t *f, const char *domain)
{
    char err[256];

    memset(f, 0, sizeof *f);
    qs_test_tmpdir(f->dir, sizeof f->dir, "zap");
    snprintf(f->db_path, sizeof f->db_path, "%s/site.db", f->dir);
    randombytes_buf(f->site_key, sizeof f->site_key);
    f->db = qs_sitedb_open(f->db_path, 1, err, sizeof err);
    QS_CHECK(f->db != NULL);
    f->keys = qs_keyset_new();
    f->server_kp = qs_keypair_generate();
    f->store_kp = qs_keypair_generate();
    f->ctx = zmq_ctx_new();
    /* The handler goes first, as in the broker. */
    f->zap = qs_zap_new(f->ctx, qs_keypair_public(f->store_kp), err, sizeof err);
    QS_CHECK(f->zap != NULL);
    fixture_server(f, domain);
}

static void
fixture_fini(fixture_t *f)
{
    char path[600];

    if (f->server != NULL)
        zmq_close(f->server);
    qs_zap_destroy(&f->zap);
    QS_CHECK(f->zap == NULL);
    zmq_ctx_term(f->ctx);
    qs_keyset_destroy(&f->keys);
    qs_sitedb_destroy(&f->db);
    qs_keypair_destroy(&f->server_kp);
    qs_keypair_destroy(&f->store_kp);
    snprintf(path, sizeof path, "%s-wal", f->db_path);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", f->db_path);
    unlink(path);
    unlink(f->db_path);
    rmdir(f->dir);
}

/* A DEALER client with key kp, connected to the fixture's server; sends "hello". */
static void *
client_send(fixture_t *f, const qs_keypair_t *kp)
{
    void *c = zmq_socket(f->ctx, ZMQ_DEALER);

    QS_CHECK(qs_zmq_socket_limits(c, 100, 0) == 0);
    QS_CHECK(qs_zmq_curve_client(c, kp, qs_keypair_public(f->server_kp)) == 0);
    QS_CHECK(zmq_connect(c, f->endpoint) == 0);
    QS_CHECK(zmq_send(c, "hello", 5, ZMQ_DONTWAIT) == 5);
    return c;
}

/* Run the ZAP handler until a message reaches the server or wait_ms pass.
 * Returns 1 and the message's User-Id in user_id (and, decoded by the shared
 * helper the router uses, in f->last_pk), or 0. */
static int
pump_until_message(fixture_t *f, int wait_ms, char *user_id, size_t user_id_len)
{
    int64_t deadline = qs_clock_mono_ms() + wait_ms;

    while (qs_clock_mono_ms() < deadline) {
        zmq_pollitem_t items[2] = {
            { qs_zap_socket(f->zap), 0, ZMQ_POLLIN, 0 },
            { f->server, 0, ZMQ_POLLIN, 0 },
        };
        if (zmq_poll(items, 2, 20) < 0)
            return 0;
        if (items[0].revents & ZMQ_POLLIN)
            QS_CHECK(qs_zap_handle(f->zap, f->keys, qs_clock_mono_ms()) >= 1);
        if (items[1].revents & ZMQ_POLLIN) {
            zmq_msg_t id, body;
            const char *uid;

            zmq_msg_init(&id);
            zmq_msg_init(&body);
            QS_CHECK(zmq_msg_recv(&id, f->server, 0) >= 0);
            QS_CHECK(zmq_msg_recv(&body, f->server, 0) == 5);
            QS_CHECK(memcmp(zmq_msg_data(&body), "hello", 5) == 0);
            uid = zmq_msg_gets(&body, "User-Id");
            snprintf(user_id, user_id_len, "%s", uid ? uid : "");
            memset(f->last_pk, 0, sizeof f->last_pk);
            QS_CHECK(qs_zmq_msg_user_pk(&body, f->last_pk) == 0);
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            return 1;
        }
    }
    return 0;
}

static void
close_client(void **c)
{
    int linger = 0;
    zmq_setsockopt(*c, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(*c);
    *c = NULL;
}

static void
test_zap_admits_enrolled_key_with_its_hex_as_user_id(void)
{
    fixture_t f;
    char uid[128] = "", want[QS_HEX_KEY_CHARS + 1];
    uint64_t admitted, refused;

    fixture_init(&f, QS_ZAP_DOMAIN_FRONTEND);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    fixture_reload(&f);
    void *c = client_send(&f, a);

    QS_CHECK(pump_until_message(&f, ADMIT_WAIT_MS, uid, sizeof uid) == 1);
    qs_hex_encode(want, sizeof want, qs_keypair_public(a), QS_KEY_BYTES);
    QS_CHECK_STR(uid, want);
    qs_zap_counts(f.zap, &admitted, &refused);
    QS_CHECK_EQ_INT(admitted, 1);
    QS_CHECK_EQ_INT(refused, 0);

    QS_CHECK(memcmp(f.last_pk, qs_keypair_public(a), QS_KEY_BYTES) == 0);

    close_client(&c);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_zap_refuses_unenrolled_key(void)
{
    fixture_t f;
    char uid[128];
    uint64_t admitted, refused;

    fixture_init(&f, QS_ZAP_DOMAIN_FRONTEND);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    qs_keypair_t *stranger = qs_keypair_generate();
    fixture_reload(&f);
    void *c = client_send(&f, stranger);

    QS_CHECK(pump_until_message(&f, REFUSE_WAIT_MS, uid, sizeof uid) == 0);
    qs_zap_counts(f.zap, &admitted, &refused);
    QS_CHECK_EQ_INT(admitted, 0);
    QS_CHECK(refused >= 1);

    close_client(&c);
    qs_keypair_destroy(&stranger);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_zap_refuses_revoked_key_at_next_handshake(void)
{
    fixture_t f;
    char uid[128];
    uint8_t ps[QS_PSEUDONYM_BYTES];
    int n_revoked = 0, changed = 0;
    uint64_t admitted, refused;

    fixture_init(&f, QS_ZAP_DOMAIN_FRONTEND);
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    QS_CHECK(qs_sitedb_changed(f.db, &changed) == 0);   /* take the marker */
    fixture_reload(&f);
    void *c = client_send(&f, a);
    QS_CHECK(pump_until_message(&f, ADMIT_WAIT_MS, uid, sizeof uid) == 1);
    close_client(&c);

    /* Revoke through a second connection, as qsctl would from its own process. */
    {
        char err[256];
        qs_sitedb_t *admin = qs_sitedb_open(f.db_path, 0, err, sizeof err);
        QS_CHECK(admin != NULL);
        qs_pseudonym(ps, f.site_key, QS_PSEUDO_CLIENT, "client-a");
        QS_CHECK(qs_sitedb_revoke(admin, ps, 2, &n_revoked) == 0);
        QS_CHECK_EQ_INT(n_revoked, 1);
        qs_sitedb_destroy(&admin);
    }
    QS_CHECK(qs_sitedb_changed(f.db, &changed) == 0);
    QS_CHECK_EQ_INT(changed, 1);
    fixture_reload(&f);
    QS_CHECK_EQ_INT(qs_keyset_get(f.keys, qs_keypair_public(a)), QS_KEY_REVOKED);

    c = client_send(&f, a);
    QS_CHECK(pump_until_message(&f, REFUSE_WAIT_MS, uid, sizeof uid) == 0);
    qs_zap_counts(f.zap, &admitted, &refused);
    QS_CHECK_EQ_INT(admitted, 1);
    QS_CHECK(refused >= 1);

    close_client(&c);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_zap_backend_admits_only_the_store_key(void)
{
    fixture_t f;
    char uid[128] = "", want[QS_HEX_KEY_CHARS + 1];

    uint64_t admitted, refused;

    fixture_init(&f, QS_ZAP_DOMAIN_BACKEND);
    /* An enrolled client key is still not the store. */
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    fixture_reload(&f);
    void *c = client_send(&f, a);
    QS_CHECK(pump_until_message(&f, REFUSE_WAIT_MS, uid, sizeof uid) == 0);
    qs_zap_counts(f.zap, &admitted, &refused);
    QS_CHECK_EQ_INT(admitted, 0);
    QS_CHECK(refused >= 1);
    close_client(&c);

    c = client_send(&f, f.store_kp);
    QS_CHECK(pump_until_message(&f, ADMIT_WAIT_MS, uid, sizeof uid) == 1);
    qs_hex_encode(want, sizeof want, qs_keypair_public(f.store_kp), QS_KEY_BYTES);
    QS_CHECK_STR(uid, want);

    close_client(&c);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_zap_refuses_unknown_domain(void)
{
    fixture_t f;
    char uid[128];

    uint64_t admitted, refused;

    fixture_init(&f, "some-other-domain");
    qs_keypair_t *a = fixture_enroll(&f, "client-a");
    fixture_reload(&f);
    void *c = client_send(&f, a);
    QS_CHECK(pump_until_message(&f, REFUSE_WAIT_MS, uid, sizeof uid) == 0);
    /* Refused by the handler (counted), not merely not yet delivered. */
    qs_zap_counts(f.zap, &admitted, &refused);
    QS_CHECK_EQ_INT(admitted, 0);
    QS_CHECK(refused >= 1);

    close_client(&c);
    qs_keypair_destroy(&a);
    fixture_fini(&f);
}

static void
test_zap_second_handler_in_one_context_fails(void)
{
    fixture_t f;
    char err[256] = "";

    fixture_init(&f, QS_ZAP_DOMAIN_FRONTEND);
    qs_zap_t *again = qs_zap_new(f.ctx, qs_keypair_public(f.store_kp), err, sizeof err);
    QS_CHECK(again == NULL);
    QS_CHECK(strstr(err, QS_ZAP_ENDPOINT) != NULL);
    qs_zap_destroy(&again);   /* no-op on NULL */
    fixture_fini(&f);
}

/* The global log budget: a burst of 5 s worth, then per_second lines a second. */
static void
test_lograte_bounds_lines_whatever_the_keys(void)
{
    qs_lograte_t *lr = qs_lograte_new(10);
    int allowed = 0;

    for (int i = 0; i < 1000; i++)
        allowed += qs_lograte_allow(lr, 1000);
    QS_CHECK(allowed == 10 * QS_LOGRATE_BURST_S);
    QS_CHECK(qs_lograte_suppressed(lr) == 1000 - (uint64_t)allowed);
    allowed = 0;
    for (int64_t t = 1000; t <= 11000; t += 10)   /* 10 s, 100 events a second */
        allowed += qs_lograte_allow(lr, t);
    QS_CHECK(allowed >= 99 && allowed <= 101);
    QS_CHECK(qs_lograte_allow(NULL, 0) == 1);
    qs_lograte_destroy(&lr);
    QS_CHECK(lr == NULL);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_log_init("test_zap", QS_LOG_WARN);
    QS_RUN(test_zap_admits_enrolled_key_with_its_hex_as_user_id);
    QS_RUN(test_zap_refuses_unenrolled_key);
    QS_RUN(test_zap_refuses_revoked_key_at_next_handshake);
    QS_RUN(test_zap_backend_admits_only_the_store_key);
    QS_RUN(test_zap_refuses_unknown_domain);
    QS_RUN(test_zap_second_handler_in_one_context_fails);
    QS_RUN(test_lograte_bounds_lines_whatever_the_keys);
    return qs_test_summary();
}
