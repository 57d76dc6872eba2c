/* bench_limits.c - qs-bench: the machine's own limits, measured in the same run.
 *
 * Each sub-command measures one ceiling and prints one JSON line
 * {"name": ..., "msgs_per_s": ..., ...} that bench/run turns into ratios:
 *   crypto   crypto_box_open_easy_afternm over batch-sized envelopes
 *   zmq      CurveZMQ DEALER->ROUTER throughput on loopback, envelope-sized
 *   sqlite   batched inserts into the real store.db schema, same durability
 *   naive    one crypto_box_seal + one commit per message (the naive pipeline)
 * Messages are modelled as in the fleet simulator: ~70 bytes of protobuf each,
 * 100 per batch unless --batch says otherwise.
 */
#include "qs_epochkeys.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_storedb.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MSG_BYTES 70

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(FILE *out, int code)
{
    fprintf(out,
            "usage: qs-bench crypto|zmq|sqlite|naive [--seconds S] [--messages N] [--batch B]\n"
            "                [--dir DIR]\n"
            "Prints one JSON line with msgs_per_s for the measured limit.\n");
    exit(code);
}

struct opts {
    double seconds;
    long messages;
    int batch;
    const char *dir;
};

static int
bench_crypto(const struct opts *o)
{
    size_t plain_len = (size_t)o->batch * MSG_BYTES;
    uint8_t pk[32], sk[32], shared[32], nonce[24];
    uint8_t *plain = calloc(1, plain_len), *ct = calloc(1, plain_len + 16),
            *out = calloc(1, plain_len);
    long batches = 0;
    double t0, el;

    crypto_box_keypair(pk, sk);
    if (crypto_box_beforenm(shared, pk, sk) != 0)
        return 1;
    randombytes_buf(nonce, sizeof nonce);
    crypto_box_easy_afternm(ct, plain, plain_len, nonce, shared);
    t0 = now_s();
    do {
        for (int i = 0; i < 64; i++)
            if (crypto_box_open_easy_afternm(out, ct, plain_len + 16, nonce, shared) != 0)
                return 1;
        batches += 64;
        el = now_s() - t0;
    } while (el < o->seconds);
    printf("{\"name\": \"crypto_open_afternm\", \"msgs_per_s\": %.0f, \"batch\": %d}\n",
           (double)batches * o->batch / el, o->batch);
    free(plain);
    free(ct);
    free(out);
    return 0;
}

struct zmq_recv_ctx {
    void *sock;
    long received;
};

static void *
zmq_receiver(void *arg)
{
    struct zmq_recv_ctx *c = arg;
    zmq_msg_t m;

    zmq_msg_init(&m);
    for (;;) {
        /* ROUTER: [identity][payload]; an empty payload ends the run. */
        if (zmq_msg_recv(&m, c->sock, 0) < 0)
            break;
        if (zmq_msg_recv(&m, c->sock, 0) < 0)
            break;
        if (zmq_msg_size(&m) == 0)
            break;
        c->received++;
    }
    zmq_msg_close(&m);
    return NULL;
}

static int
bench_zmq(const struct opts *o)
{
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER), *dealer = zmq_socket(ctx, ZMQ_DEALER);
    uint8_t spk[32], ssk[32], cpk[32], csk[32];
    char endpoint[256];
    size_t len = sizeof endpoint;
    size_t size = (size_t)o->batch * MSG_BYTES + 120;
    uint8_t *payload = calloc(1, size);
    struct zmq_recv_ctx rc = { router, 0 };
    pthread_t th;
    int one = 1, hwm = 1000;
    long sent = 0;
    double t0, el;

    crypto_box_keypair(spk, ssk);
    crypto_box_keypair(cpk, csk);
    zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, ssk, 32);
    zmq_setsockopt(router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, spk, 32);
    zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, cpk, 32);
    zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, csk, 32);
    zmq_setsockopt(dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(router, "tcp://127.0.0.1:*") != 0)
        return 1;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &len);
    if (zmq_connect(dealer, endpoint) != 0)
        return 1;
    pthread_create(&th, NULL, zmq_receiver, &rc);
    /* Warm up the handshake before timing. */
    zmq_send(dealer, payload, size, 0);
    usleep(200000);
    t0 = now_s();
    do {
        for (int i = 0; i < 256; i++)
            zmq_send(dealer, payload, size, 0);
        sent += 256;
        el = now_s() - t0;
    } while (el < o->seconds);
    zmq_send(dealer, "", 0, 0);
    pthread_join(th, NULL);
    el = now_s() - t0;
    printf("{\"name\": \"zmq_curve_loopback\", \"msgs_per_s\": %.0f, \"batch\": %d, "
           "\"frames_per_s\": %.0f}\n",
           (double)(rc.received - 1) * o->batch / el, o->batch, (double)(rc.received - 1) / el);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
    free(payload);
    (void)sent;
    return 0;
}

/* The rows the store writes per message, with the statements it uses. */
struct sql_writer {
    qs_storedb_t *db;
    sqlite3_stmt *hist, *latest, *seen;
    uint8_t key[32];
};

static int
sql_writer_open(struct sql_writer *w, const char *dir, const char *name)
{
    char path[4096], err[512];
    sqlite3 *db;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    w->db = qs_storedb_open(path, 1, err, sizeof err);
    if (w->db == NULL) {
        fprintf(stderr, "qs-bench: %s\n", err);
        return -1;
    }
    db = qs_storedb_sqlite(w->db);
    if (qs_storedb_partition_ensure(w->db, 20000, 500) != 0 ||
        sqlite3_prepare_v2(db, "INSERT INTO history_20000_500(client_id, serial, state_id, "
                           "topic_id, time_ms, machine_ps, domain_ps, user_ps, details) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)", -1, &w->hist,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                           "time_ms, report_ms, machine_ps, domain_ps) VALUES "
                           "(?1, 500, ?2, ?3, ?4, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET "
                           "state_id = excluded.state_id, time_ms = excluded.time_ms, "
                           "report_ms = excluded.report_ms", -1, &w->latest, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO seen(client_id, serial) VALUES (?1, ?2)",
                           -1, &w->seen, NULL) != SQLITE_OK) {
        fprintf(stderr, "qs-bench: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    randombytes_buf(w->key, sizeof w->key);
    return 0;
}

static int
sql_writer_row(struct sql_writer *w, long i, int clients)
{
    uint8_t ps[16], dps[16], details[64];
    char topic[32];
    long client = i % clients, serial = i / clients + 1;
    size_t dlen = 0;
    int rc;

    snprintf(topic, sizeof topic, "KB%ld", 5000001 + (i % 20));
    memset(ps, (int)(client & 0xff), sizeof ps);
    memset(dps, 7, sizeof dps);
    if (qs_details_seal(details, &dlen, sizeof details, (const uint8_t *)"0x80240022", 10,
                        (const uint8_t *)&i, sizeof i, w->key) != 0)
        return -1;
    /* In-order serials only advance clients.low_water: no "seen" row. */
    sqlite3_bind_int64(w->hist, 1, client);
    sqlite3_bind_int64(w->hist, 2, serial);
    sqlite3_bind_int(w->hist, 3, (int)(1 + i % 3));
    sqlite3_bind_text(w->hist, 4, topic, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(w->hist, 5, 1700000000000LL + i);
    sqlite3_bind_blob(w->hist, 6, ps, 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(w->hist, 7, dps, 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(w->hist, 8, details, (int)dlen, SQLITE_TRANSIENT);
    rc = sqlite3_step(w->hist);
    sqlite3_reset(w->hist);
    if (rc != SQLITE_DONE)
        return -1;
    sqlite3_bind_int64(w->latest, 1, client);
    sqlite3_bind_text(w->latest, 2, topic, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(w->latest, 3, (int)(1 + i % 3));
    sqlite3_bind_int64(w->latest, 4, 1700000000000LL + i);
    sqlite3_bind_blob(w->latest, 5, ps, 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob(w->latest, 6, dps, 16, SQLITE_TRANSIENT);
    rc = sqlite3_step(w->latest);
    sqlite3_reset(w->latest);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void
sql_writer_close(struct sql_writer *w)
{
    sqlite3_finalize(w->hist);
    sqlite3_finalize(w->latest);
    sqlite3_finalize(w->seen);
    qs_storedb_destroy(&w->db);
}

static int
bench_sqlite(const struct opts *o)
{
    struct sql_writer w = { 0 };
    double t0, el;
    long i = 0;
    int per_txn = o->batch * 100;   /* a group commit of ~100 batches */

    if (sql_writer_open(&w, o->dir, "bench-sqlite.db") != 0)
        return 1;
    t0 = now_s();
    while (i < o->messages) {
        if (qs_storedb_begin(w.db) != 0)
            return 1;
        for (int k = 0; k < per_txn && i < o->messages; k++, i++)
            if (sql_writer_row(&w, i, 200) != 0)
                return 1;
        if (qs_storedb_commit(w.db) != 0)
            return 1;
    }
    el = now_s() - t0;
    printf("{\"name\": \"sqlite_batched_insert\", \"msgs_per_s\": %.0f, \"per_txn\": %d}\n",
           (double)o->messages / el, per_txn);
    sql_writer_close(&w);
    return 0;
}

static int
bench_naive(const struct opts *o)
{
    struct sql_writer w = { 0 };
    uint8_t pk[32], sk[32], msg[MSG_BYTES] = { 0 }, sealed[MSG_BYTES + crypto_box_SEALBYTES],
            opened[MSG_BYTES];
    double t0, el;
    long n = o->messages;

    if (sql_writer_open(&w, o->dir, "bench-naive.db") != 0)
        return 1;
    crypto_box_keypair(pk, sk);
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        /* Per message: an anonymous box (ephemeral key: one X25519 each way),
         * opened, and committed alone. */
        crypto_box_seal(sealed, msg, sizeof msg, pk);
        if (crypto_box_seal_open(opened, sealed, sizeof sealed, pk, sk) != 0)
            return 1;
        if (qs_storedb_begin(w.db) != 0 || sql_writer_row(&w, i, 200) != 0 ||
            qs_storedb_commit(w.db) != 0)
            return 1;
    }
    el = now_s() - t0;
    printf("{\"name\": \"naive_pipeline\", \"msgs_per_s\": %.0f}\n", (double)n / el);
    sql_writer_close(&w);
    return 0;
}

int
main(int argc, char **argv)
{
    struct opts o = { 2.0, 200000, 100, "/tmp" };
    const char *cmd;

    qs_log_init("qs-bench", -1);
    if (argc < 2)
        usage(stderr, 2);
    cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        usage(stdout, 0);
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc)
            usage(stderr, 2);
        if (strcmp(argv[i], "--seconds") == 0)
            o.seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--messages") == 0)
            o.messages = atol(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0)
            o.batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0)
            o.dir = argv[++i];
        else
            usage(stderr, 2);
    }
    if (o.seconds <= 0 || o.messages <= 0 || o.batch <= 0 || o.batch > 1000)
        usage(stderr, 2);
    if (sodium_init() < 0)
        return 1;
    if (strcmp(cmd, "crypto") == 0)
        return bench_crypto(&o);
    if (strcmp(cmd, "zmq") == 0)
        return bench_zmq(&o);
    if (strcmp(cmd, "sqlite") == 0)
        return bench_sqlite(&o);
    if (strcmp(cmd, "naive") == 0)
        return bench_naive(&o);
    usage(stderr, 2);
}
