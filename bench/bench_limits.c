/* bench_limits.c - qs-bench: the machine's own limits, measured in the same run, and main.
 *
 * Each sub-command measures one thing and prints one JSON line
 * {"name": ..., "msgs_per_s": ..., ...} that bench/run turns into ratios:
 *   crypto   crypto_box_open_easy_afternm over batch-sized envelopes
 *   zmq      CurveZMQ DEALER->ROUTER throughput on loopback, envelope-sized
 *   sqlite   batched inserts into the real store.db schema, same durability
 *   naive    one crypto_box_seal + one commit per message (the naive pipeline)
 *   ideal    the store's own work in one process, no sockets (bench_ideal.c)
 *   latency  send -> sealed-ack time at a fixed rate through the real broker
 *            and store (bench_latency.c)
 *   fill-latest, purge  data for the query and retention measurements
 *            (bench_fill.c)
 *   trend-days  N daily compliance snapshots (bench_trend.c)
 *   http     GET a qs-web URL at a fixed request rate, open loop, keep-alive
 *            (bench_http.c)
 * Messages are modelled as in the fleet simulator: ~70 bytes of protobuf each,
 * 100 per batch unless --batch says otherwise.
 */
#include "bench.h"

#include "qs_clock.h"
#include "qs_epochkeys.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_store_bench.h"
#include "qs_storedb.h"
#include "simgen.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MSG_BYTES 70


static void
usage(FILE *out, int code)
{
    fprintf(out,
            "usage: qs-bench crypto|zmq [--seconds S] [--batch B]\n"
            "       qs-bench sqlite|naive [--clients C] [--messages N] [--batch B] [--group G]\n"
            "                [--details-every N] [--seconds S (naive)] [--dir DIR]\n"
            "       qs-bench ideal --home DIR --clients C --messages M [--batch B]\n"
            "                [--details-every N] [--steady]\n"
            "       qs-bench latency --home DIR --clients C --rate MSGS_PER_S --seconds S\n"
            "                [--batch B]\n"
            "       qs-bench fill-latest --home DIR --clients C [--topics T]\n"
            "       qs-bench purge --dir DIR [--rows R] [--days D] [--scale K]\n"
            "       qs-bench trend-days --home DIR --days N\n"
            "       qs-bench http --url URL --token-file FILE --rate REQ_PER_S --seconds S\n"
            "                [--connections N]\n"
            "       qs-bench grow --home DIR --clients C --messages M [--batch B]\n"
            "                [--history ROWS]\n"
            "                (ingest into the site's store, empty vs C x 20 latest rows;\n"
            "                ROWS history rows in all: the fill's, copied into earlier days)\n"
            "\n"
            "Measures one limit or one part of quietstate and prints one JSON line\n"
            "(msgs_per_s, seconds, ...). bench/run runs them all and prints ratios;\n"
            "docs/performance.md says what each one measures.\n"
            "\n"
            "  --home DIR  a site made by 'qsctl init' and 'qsctl policy set' (ideal,\n"
            "              latency, fill-latest); --dir DIR a scratch directory\n"
            "  http        SIGTERM ends its schedule early; only a 200 answer is a success\n");
    exit(code);
}

static int
bench_crypto(const struct bench_opts *o)
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
    t0 = bench_now_s();
    do {
        for (int i = 0; i < 64; i++)
            if (crypto_box_open_easy_afternm(out, ct, plain_len + 16, nonce, shared) != 0)
                return 1;
        batches += 64;
        el = bench_now_s() - t0;
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
bench_zmq(const struct bench_opts *o)
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
    t0 = bench_now_s();
    do {
        for (int i = 0; i < 256; i++)
            zmq_send(dealer, payload, size, 0);
        sent += 256;
        el = bench_now_s() - t0;
    } while (el < o->seconds);
    zmq_send(dealer, "", 0, 0);
    pthread_join(th, NULL);
    el = bench_now_s() - t0;
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

/* The rows the store writes for the simulator's messages, with the store's
 * own statements (qs_store_bench.h): a history row in the day's partition,
 * the latest upsert (same conflict rule), and once per batch the client's
 * low-water mark. Pseudonyms are computed once per client (the limit is
 * SQLite's, not BLAKE2b's); details, when a message has them, are sealed as
 * the store does. */
struct sql_writer {
    qs_storedb_t *db;
    qs_store_bench_t *st;
    uint8_t key[32];
    uint8_t (*machine_ps)[QS_PSEUDONYM_BYTES];
    uint8_t domain_ps[QS_PSEUDONYM_BYTES];
    long clients;
    int64_t base_ms, now_ms;
};

static int
sql_writer_open(struct sql_writer *w, const char *dir, const char *name, long clients)
{
    char path[4096], err[512];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    if ((w->db = qs_storedb_open(path, 1, err, sizeof err)) == NULL ||
        (w->st = qs_store_bench_new(w->db, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench: %s\n", err);
        return -1;
    }
    w->clients = clients;
    w->now_ms = (int64_t)time(NULL) * 1000;
    /* Yesterday 00:00: every message time (base + serial) in one day. */
    w->base_ms = (qs_epoch_of(w->now_ms) - 1) * QS_MS_PER_DAY;
    randombytes_buf(w->key, sizeof w->key);
    randombytes_buf(w->domain_ps, sizeof w->domain_ps);
    w->machine_ps = qs_calloc((size_t)clients, sizeof *w->machine_ps);
    randombytes_buf(w->machine_ps, (size_t)clients * sizeof *w->machine_ps);
    if (qs_store_bench_begin(w->st) != 0 || qs_store_bench_clients(w->st, clients, w->now_ms) != 0 ||
        qs_store_bench_commit(w->st) != 0) {
        fprintf(stderr, "qs-bench: %s\n", qs_store_bench_errmsg(w->st));
        return -1;
    }
    return 0;
}

/* Message (client c 1-based, serial s) as the store writes it. */
static int
sql_writer_row(struct sql_writer *w, long c, uint64_t s, int details)
{
    static const char text[] = "0x80240022: the download of the update failed";
    uint8_t sealed[128];
    char topic[32];
    qs_store_bench_row_t row = { 0 };

    row.time_ms = w->base_ms + (int64_t)s;
    row.time_ms -= row.time_ms % 1000;   /* the default time precision: second */
    snprintf(topic, sizeof topic, "KB%u", QS_SIM_FIRST_KB + qs_simgen_topic((uint32_t)c, s));
    row.client_id = c;
    row.serial = s;
    row.topic_type = 500;
    row.topic_id = topic;
    row.state_id = qs_simgen_state((uint32_t)c, s);
    row.report_ms = w->now_ms;
    row.machine_ps = w->machine_ps[c - 1];
    row.domain_ps = w->domain_ps;
    if (details) {
        uint8_t ad[QS_DETAILS_AD_BYTES];
        qs_details_ad(ad, c, s, qs_epoch_of(row.time_ms), 500);
        if (qs_details_seal(sealed, &row.details_len, sizeof sealed, (const uint8_t *)text,
                            sizeof text - 1, ad, sizeof ad, w->key) != 0)
            return -1;
        row.details = sealed;
    }
    return qs_store_bench_history(w->st, &row) != 0 || qs_store_bench_latest(w->st, &row) != 0
               ? -1 : 0;
}

static void
sql_writer_close(struct sql_writer *w)
{
    qs_store_bench_destroy(&w->st);
    qs_storedb_destroy(&w->db);
    free(w->machine_ps);
}

/* The simulator's delivery order: round r, then client c, a batch each. */
struct sim_order {
    long clients, batch;
    uint64_t messages, round;
    long c;
};

/* Next batch: client c (1-based) and serials [*first, *last]. 0 when done. */
static int
sim_next(struct sim_order *it, long *c, uint64_t *first, uint64_t *last)
{
    for (;;) {
        uint64_t count;
        if (it->c == it->clients) {
            it->c = 0;
            it->round++;
            if (it->round * (uint64_t)it->batch >=
                qs_simgen_count(it->messages, (uint32_t)it->clients, 1))
                return 0;
        }
        *c = ++it->c;
        count = qs_simgen_count(it->messages, (uint32_t)it->clients, (uint32_t)*c);
        *first = it->round * (uint64_t)it->batch + 1;
        if (*first > count)
            continue;
        *last = *first + (uint64_t)it->batch - 1;
        if (*last > count)
            *last = count;
        return 1;
    }
}

static int
bench_sqlite(const struct bench_opts *o)
{
    struct sql_writer w = { 0 };
    struct sim_order it = { o->clients, o->batch, (uint64_t)o->messages, 0, 0 };
    double t0, el;
    long c, in_txn = 0, txns = 0;
    uint64_t first, last, n = 0;

    if (sql_writer_open(&w, o->dir, "bench-sqlite.db", o->clients) != 0)
        return 1;
    t0 = bench_now_s();
    while (sim_next(&it, &c, &first, &last)) {
        if (in_txn == 0 && qs_store_bench_begin(w.st) != 0)
            return 1;
        for (uint64_t s = first; s <= last; s++, n++)
            if (sql_writer_row(&w, c, s, o->details_every > 0 &&
                               n % (uint64_t)o->details_every == 0) != 0)
                return 1;
        if (qs_store_bench_low_water(w.st, c, last, w.now_ms) != 0)
            return 1;
        in_txn += (long)(last - first + 1);
        if (in_txn >= o->group) {
            if (qs_store_bench_commit(w.st) != 0)
                return 1;
            in_txn = 0;
            txns++;
        }
    }
    if (in_txn > 0 && qs_store_bench_commit(w.st) != 0)
        return 1;
    el = bench_now_s() - t0;
    printf("{\"name\": \"sqlite_batched_insert\", \"msgs_per_s\": %.0f, \"messages\": %llu, "
           "\"clients\": %ld, \"per_txn\": %ld, \"seconds\": %.3f}\n",
           (double)n / el, (unsigned long long)n, o->clients, o->group, el);
    sql_writer_close(&w);
    return 0;
}

static int
bench_naive(const struct bench_opts *o)
{
    struct sql_writer w = { 0 };
    struct sim_order it = { o->clients, 1, (uint64_t)o->messages, 0, 0 };
    uint8_t pk[32], sk[32], msg[256], sealed[256 + crypto_box_SEALBYTES], opened[256];
    double t0, el;
    long c;
    uint64_t s, last, n = 0;

    if (sql_writer_open(&w, o->dir, "bench-naive.db", o->clients) != 0)
        return 1;
    crypto_box_keypair(pk, sk);
    t0 = bench_now_s();
    while (sim_next(&it, &c, &s, &last)) {
        /* Per message: an anonymous box (a fresh X25519 key each, so no
         * precomputation), opened, and committed alone. */
        size_t len = qs_simgen_pack(msg, sizeof msg, (uint32_t)c, s, w.base_ms);
        if (len == 0)
            return 1;
        crypto_box_seal(sealed, msg, len, pk);
        if (crypto_box_seal_open(opened, sealed, len + crypto_box_SEALBYTES, pk, sk) != 0)
            return 1;
        if (qs_store_bench_begin(w.st) != 0 || sql_writer_row(&w, c, s, 0) != 0 ||
            qs_store_bench_low_water(w.st, c, s, w.now_ms) != 0 ||
            qs_store_bench_commit(w.st) != 0)
            return 1;
        /* Slow by design: stop after --seconds (at least 100 messages). */
        if (++n >= 100 && bench_now_s() - t0 >= o->seconds)
            break;
    }
    el = bench_now_s() - t0;
    printf("{\"name\": \"naive_pipeline\", \"msgs_per_s\": %.0f, \"messages\": %llu, "
           "\"seconds\": %.3f}\n", (double)n / el, (unsigned long long)n, el);
    sql_writer_close(&w);
    return 0;
}

int
main(int argc, char **argv)
{
    struct bench_opts o = { 2.0, 200000, 100, "/tmp", NULL, 200, 0, 0, 0, 20, 100000, 10, 0, 1,
                            20000, NULL, NULL, 16 };
    const char *cmd;

    qs_log_init("qs-bench", -1);
    if (argc < 2)
        usage(stderr, 2);
    cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        usage(stdout, 0);
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc && strcmp(argv[i], "--steady") != 0)
            usage(stderr, 2);
        if (strcmp(argv[i], "--seconds") == 0)
            o.seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--messages") == 0)
            o.messages = atol(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0)
            o.batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0)
            o.dir = argv[++i];
        else if (strcmp(argv[i], "--home") == 0)
            o.home = argv[++i];
        else if (strcmp(argv[i], "--clients") == 0)
            o.clients = atol(argv[++i]);
        else if (strcmp(argv[i], "--rate") == 0)
            o.rate = atof(argv[++i]);
        else if (strcmp(argv[i], "--details-every") == 0)
            o.details_every = atol(argv[++i]);
        else if (strcmp(argv[i], "--topics") == 0)
            o.topics = atol(argv[++i]);
        else if (strcmp(argv[i], "--rows") == 0)
            o.rows = atol(argv[++i]);
        else if (strcmp(argv[i], "--days") == 0)
            o.days = atol(argv[++i]);
        else if (strcmp(argv[i], "--history") == 0)
            o.history = atol(argv[++i]);
        else if (strcmp(argv[i], "--steady") == 0) {
            o.steady = 1;
            continue;
        } else if (strcmp(argv[i], "--group") == 0)
            o.group = atol(argv[++i]);
        else if (strcmp(argv[i], "--scale") == 0)
            o.scale = atol(argv[++i]);
        else if (strcmp(argv[i], "--url") == 0)
            o.url = argv[++i];
        else if (strcmp(argv[i], "--token-file") == 0)
            o.token_file = argv[++i];
        else if (strcmp(argv[i], "--connections") == 0)
            o.connections = atol(argv[++i]);
        else
            usage(stderr, 2);
    }
    if (o.seconds <= 0 || o.messages <= 0 || o.batch <= 0 || o.batch > 1000 ||
        o.clients <= 0 || o.rate < 0 || o.details_every < 0 || o.topics <= 0 ||
        o.rows <= 0 || o.days <= 0 || o.history < 0 || o.scale <= 0 || o.group <= 0 ||
        o.connections <= 0 || o.connections > 1000)
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
    if (strcmp(cmd, "ideal") == 0)
        return bench_ideal(&o);
    if (strcmp(cmd, "latency") == 0)
        return bench_latency(&o);
    if (strcmp(cmd, "fill-latest") == 0)
        return bench_fill_latest(&o);
    if (strcmp(cmd, "purge") == 0)
        return bench_purge(&o);
    if (strcmp(cmd, "http") == 0)
        return bench_http(&o);
    if (strcmp(cmd, "grow") == 0)
        return bench_grow(&o);
    if (strcmp(cmd, "trend-days") == 0)
        return bench_trend_days(&o);
    usage(stderr, 2);
}
