/* test_write_pg.c - the ingest write path on a real PostgreSQL server.
 *
 * Run by tests/pg/test_write_pg.sh, which starts a throwaway server and
 * passes its URI in QS_TEST_PG_URL. Each test empties the database, builds a
 * site (site.db with enrolled clients and a policy, key chains in a private
 * directory), seals batches as a producer does and feeds them to
 * qs_ingest_add/qs_ingest_commit, then checks the acks and the tables
 * through a connection of its own: dedup with low_water and seen, latest's
 * newest-time rule, history rows and details sealed under the chain's key,
 * partitions and compliance_counts summed over shards, counters, two
 * writers on one client, and RETRY_LATER then recovery when the server
 * drops the connection.
 */
#define _XOPEN_SOURCE 700   /* nftw */
#include "ingest.h"

#include "qs_clock.h"
#include "qs_envelope.h"
#include "qs_epochkeys.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_sitedb.h"
#include "qs_storedb.h"
#include "qs_test.h"

#include <ftw.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ACKS 64
#define WRITERS 2

struct writer {
    qs_storedb_t *storedb;
    qs_sitedb_t *sitedb;
    qs_ingest_t *ingest;
};

struct fx {
    const char *url;
    char dir[512], site_db[600], epochs[600];
    uint8_t site_key[32];
    qs_keypair_t *store_kp, *client, *client2;
    qs_sitedb_t *admin;
    qs_epochkeys_t *ek;
    qs_clock_t clock;
    struct writer w[WRITERS];
    PGconn *q;                   /* the test's own connection */
    Quietstate__Ack *acks[MAX_ACKS];
    size_t n_acks;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
die(const char *what, const char *err)
{
    fprintf(stderr, "%s: %s\n", what, err);
    exit(2);
}

static int64_t
q_int(struct fx *f, const char *sql)
{
    PGresult *r = PQexec(f->q, sql);
    int64_t v = -1;

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "  sql error: %s: %s", sql, PQresultErrorMessage(r));
        v = -2;
    } else if (PQntuples(r) > 0) {
        v = PQgetisnull(r, 0, 0) ? -3 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return v;
}

static void
q_exec(struct fx *f, const char *sql)
{
    PGresult *r = PQexec(f->q, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(r));
    PQclear(r);
}

static void
enroll(struct fx *f, const qs_keypair_t *kp, const char *name)
{
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char err[256];

    qs_pseudonym(ps, f->site_key, QS_PSEUDO_CLIENT, name);
    if (qs_sitedb_enroll(f->admin, ps, qs_keypair_public(kp), qs_clock_now_ms(&f->clock), err,
                         sizeof err) != 0)
        die("enroll", err);
}

static void
writer_open(struct fx *f, struct writer *w)
{
    qs_ingest_config_t cfg;
    char err[512];

    w->sitedb = qs_sitedb_open(f->site_db, 0, err, sizeof err);
    w->storedb = qs_storedb_open(f->url, 0, err, sizeof err);
    if (w->sitedb == NULL || w->storedb == NULL)
        die("open", err);
    memset(&cfg, 0, sizeof cfg);
    cfg.store_kp = f->store_kp;
    cfg.site_key = f->site_key;
    cfg.sitedb = w->sitedb;
    cfg.storedb = w->storedb;
    cfg.epochkeys = f->ek;
    cfg.clock = &f->clock;
    cfg.skew_ms = 300000;
    cfg.group_max_messages = 20000;
    if ((w->ingest = qs_ingest_new(&cfg, err, sizeof err)) == NULL)
        die("ingest", err);
}

static void
fx_open(struct fx *f)
{
    qs_policy_t pol;
    qs_storedb_t *db;
    char err[512];
    int64_t version;

    memset(f, 0, sizeof *f);
    f->url = getenv("QS_TEST_PG_URL");
    if (f->url == NULL || *f->url == '\0')
        die("QS_TEST_PG_URL", "not set (run through tests/pg/test_write_pg.sh)");
    f->q = PQconnectdb(f->url);
    if (PQstatus(f->q) != CONNECTION_OK)
        die("connect", PQerrorMessage(f->q));
    q_exec(f, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
              "CREATE SCHEMA public");
    qs_test_tmpdir(f->dir, sizeof f->dir, "writepg");
    snprintf(f->site_db, sizeof f->site_db, "%s/site.db", f->dir);
    snprintf(f->epochs, sizeof f->epochs, "%s/epochs", f->dir);
    qs_clock_init(&f->clock);
    randombytes_buf(f->site_key, sizeof f->site_key);
    f->store_kp = qs_keypair_generate();
    f->client = qs_keypair_generate();
    f->client2 = qs_keypair_generate();
    if ((f->admin = qs_sitedb_open(f->site_db, 1, err, sizeof err)) == NULL)
        die("site.db", err);
    enroll(f, f->client, "pc-1");
    enroll(f, f->client2, "pc-2");
    qs_policy_defaults(&pol);
    if (qs_sitedb_policy_put(f->admin, &pol, "test", qs_clock_now_ms(&f->clock), &version, err,
                             sizeof err) != 0)
        die("policy", err);
    if ((db = qs_storedb_open(f->url, 1, err, sizeof err)) == NULL)
        die("schema", err);
    qs_storedb_destroy(&db);
    if (mkdir(f->epochs, 0700) != 0 || qs_epochkeys_chains_create(f->epochs, err, sizeof err) != 0 ||
        (f->ek = qs_epochkeys_open(f->epochs, 0, err, sizeof err)) == NULL)
        die("epoch keys", err);
    for (int i = 0; i < WRITERS; i++)
        writer_open(f, &f->w[i]);
}

static void
fx_clear_acks(struct fx *f)
{
    for (size_t i = 0; i < f->n_acks; i++)
        quietstate__ack__free_unpacked(f->acks[i], NULL);
    f->n_acks = 0;
}

static void
fx_close(struct fx *f)
{
    fx_clear_acks(f);
    for (int i = 0; i < WRITERS; i++) {
        qs_ingest_destroy(&f->w[i].ingest);
        qs_storedb_destroy(&f->w[i].storedb);
        qs_sitedb_destroy(&f->w[i].sitedb);
    }
    qs_epochkeys_destroy(&f->ek);
    qs_sitedb_destroy(&f->admin);
    qs_keypair_destroy(&f->client);
    qs_keypair_destroy(&f->client2);
    qs_keypair_destroy(&f->store_kp);
    PQfinish(f->q);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The routing id is the client's key: it opens the sealed ack. */
static void
on_reply(void *ctx, const uint8_t *rid, size_t rid_len, const uint8_t *reply, size_t reply_len,
         const Quietstate__Ack *clear)
{
    struct fx *f = ctx;
    Quietstate__Reply *rep = quietstate__reply__unpack(NULL, reply_len, reply);
    uint8_t shared[QS_KEY_BYTES], plain[65536];
    size_t plain_len = 0;

    (void)clear;
    if (rep != NULL && rep->sealed_ack != NULL && rid_len == QS_KEY_BYTES &&
        f->n_acks < MAX_ACKS &&
        crypto_box_beforenm(shared, rid, qs_keypair_secret(f->store_kp)) == 0 &&
        qs_envelope_open(plain, &plain_len, sizeof plain, QS_ENVELOPE_TO_CLIENT, rep->sealed_ack,
                         shared) == 0)
        f->acks[f->n_acks++] = quietstate__ack__unpack(NULL, plain_len, plain);
    quietstate__reply__free_unpacked(rep, NULL);
}

static Quietstate__StateMessage
msg(uint64_t serial, int64_t time_ms, uint32_t topic_type, const char *topic_id,
    uint32_t state_id)
{
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;
    m.serial = serial;
    m.time_utc_ms = time_ms;
    m.topic_type = topic_type;
    m.topic_id = (char *)topic_id;
    m.state_id = state_id;
    m.machine_name = (char *)"PC-0001";
    m.domain = (char *)"CORP";
    return m;
}

static void
add_batch(struct fx *f, int w, const qs_keypair_t *kp, Quietstate__StateMessage *msgs, size_t n)
{
    Quietstate__Batch b = QUIETSTATE__BATCH__INIT;
    Quietstate__StateMessage *ptrs[64];
    uint8_t shared[QS_KEY_BYTES], plain[65536], frame[70000];
    size_t plain_len, len = 0;

    for (size_t i = 0; i < n; i++)
        ptrs[i] = &msgs[i];
    b.n_messages = n;
    b.messages = ptrs;
    plain_len = quietstate__batch__pack(&b, plain);
    if (crypto_box_beforenm(shared, qs_keypair_public(f->store_kp), qs_keypair_secret(kp)) != 0 ||
        qs_envelope_seal(frame, &len, sizeof frame, QS_ENVELOPE_TO_STORE, plain, plain_len,
                         qs_keypair_public(kp), shared) != 0)
        die("seal", "failed");
    (void)qs_ingest_add(f->w[w].ingest, qs_keypair_public(kp), QS_KEY_BYTES,
                        qs_keypair_public(kp), QS_KEY_BYTES, frame, len);
}

static int
commit(struct fx *f, int w)
{
    return qs_ingest_commit(f->w[w].ingest, on_reply, f);
}

static const Quietstate__Ack *
last_ack(struct fx *f)
{
    static Quietstate__Ack empty = QUIETSTATE__ACK__INIT;
    return f->n_acks ? f->acks[f->n_acks - 1] : &empty;
}

/* compliance_counts summed over shards equals latest grouped. */
static int64_t
counts_mismatch(struct fx *f)
{
    return q_int(f, "SELECT count(*) FROM ("
                    " (SELECT topic_type, topic_id, state_id, sum(count) AS n FROM "
                    "  compliance_counts GROUP BY 1, 2, 3 HAVING sum(count) <> 0 "
                    "  EXCEPT SELECT topic_type, topic_id, state_id, count(*) FROM latest "
                    "  GROUP BY 1, 2, 3) UNION ALL "
                    " (SELECT topic_type, topic_id, state_id, count(*) FROM latest GROUP BY 1, 2, 3 "
                    "  EXCEPT SELECT topic_type, topic_id, state_id, sum(count) FROM "
                    "  compliance_counts GROUP BY 1, 2, 3 HAVING sum(count) <> 0)) x");
}

static int64_t
counter(struct fx *f, const char *name)
{
    char sql[160];

    snprintf(sql, sizeof sql, "SELECT coalesce(sum(value), 0) FROM counters WHERE name = '%s'",
             name);
    return q_int(f, sql);
}

static int64_t
history_rows(struct fx *f)
{
    PGresult *r = PQexec(f->q, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'history%'");
    int64_t total = 0;
    char sql[160];

    for (int i = 0; i < PQntuples(r); i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", PQgetvalue(r, i, 0));
        total += q_int(f, sql);
    }
    PQclear(r);
    return total;
}

/* ------------------------------------------------------------------ tests */

static void
test_pg_stores_batch_and_acks_committed_serial(void)
{
    struct fx f;
    int64_t now;
    Quietstate__StateMessage m[3];

    fx_open(&f);
    now = qs_clock_now_ms(&f.clock);
    m[0] = msg(1, now - 1000, 500, "KB1", 2);
    m[1] = msg(2, now - 900, 500, "KB2", 3);
    m[2] = msg(3, now - 800, 402, "KB1", 5);
    m[2].details = (char *)"installing KB1 from the tests";
    add_batch(&f, 0, f.client, m, 3);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT((int64_t)last_ack(&f)->committed_serial, 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 3);
    QS_CHECK_EQ_INT(history_rows(&f), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT sum(rows) FROM partitions"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT low_water FROM clients"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM seen"), 0);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 3);
    QS_CHECK_EQ_INT(counts_mismatch(&f), 0);
    /* No raw name went in: pseudonyms only. */
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest WHERE position('PC-0001'::bytea in "
                              "machine_ps) > 0 OR octet_length(machine_ps) <> 16"), 0);
    fx_close(&f);
}

static void
test_pg_drops_duplicates_and_fills_gaps(void)
{
    struct fx f;
    int64_t now;
    Quietstate__StateMessage a[2], b[1];

    fx_open(&f);
    now = qs_clock_now_ms(&f.clock);
    a[0] = msg(1, now - 1000, 500, "KB1", 2);
    a[1] = msg(3, now - 900, 500, "KB3", 2);
    add_batch(&f, 0, f.client, a, 2);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    QS_CHECK_EQ_INT((int64_t)last_ack(&f)->committed_serial, 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM seen"), 1);
    /* The same batch again (a lost ack) on the other worker: duplicates. */
    add_batch(&f, 1, f.client, a, 2);
    QS_CHECK_EQ_INT(commit(&f, 1), 0);
    QS_CHECK_EQ_INT(counter(&f, "duplicates"), 2);
    b[0] = msg(2, now - 950, 500, "KB2", 3);
    add_batch(&f, 1, f.client, b, 1);
    QS_CHECK_EQ_INT(commit(&f, 1), 0);
    QS_CHECK_EQ_INT((int64_t)last_ack(&f)->committed_serial, 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM seen"), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT low_water FROM clients"), 3);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 3);
    QS_CHECK_EQ_INT(history_rows(&f), 3);
    fx_close(&f);
}

/* Two batches of one client in one group, and a serial handled by the
 * first: the second sees it (as SQLite's write path does). */
static void
test_pg_group_with_two_batches_of_one_client(void)
{
    struct fx f;
    int64_t now;
    Quietstate__StateMessage a[2], b[2], c[1];

    fx_open(&f);
    now = qs_clock_now_ms(&f.clock);
    a[0] = msg(2, now - 1000, 500, "KB1", 2);
    a[1] = msg(1, now - 990, 500, "KB2", 2);
    b[0] = msg(2, now - 1000, 500, "KB1", 2);
    b[1] = msg(4, now - 900, 500, "KB1", 3);
    c[0] = msg(1, now - 900, 300, "X", 1);
    add_batch(&f, 0, f.client, a, 2);
    add_batch(&f, 0, f.client2, c, 1);
    add_batch(&f, 0, f.client, b, 2);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    QS_CHECK_EQ_INT(f.n_acks, 3);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 4);
    QS_CHECK_EQ_INT(counter(&f, "duplicates"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM seen"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT max(low_water) FROM clients"), 2);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest WHERE topic_id = 'KB1'"), 3);
    QS_CHECK_EQ_INT(counts_mismatch(&f), 0);
    fx_close(&f);
}

/* The newest message time decides latest's state, whatever the arrival
 * order; compliance_counts follow every move, on both writers' shards. */
static void
test_pg_latest_follows_newest_and_counts_follow(void)
{
    struct fx f;
    int64_t now;
    Quietstate__StateMessage m[1];

    fx_open(&f);
    now = qs_clock_now_ms(&f.clock);
    m[0] = msg(1, now - 1000, 500, "KB1", 2);
    add_batch(&f, 0, f.client, m, 1);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    m[0] = msg(2, now - 5000, 500, "KB1", 1);       /* older: state stays */
    add_batch(&f, 1, f.client, m, 1);
    QS_CHECK_EQ_INT(commit(&f, 1), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 2);
    m[0] = msg(3, now - 500, 500, "KB1", 3);        /* newer: state moves */
    add_batch(&f, 1, f.client, m, 1);
    QS_CHECK_EQ_INT(commit(&f, 1), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 3);
    m[0] = msg(1, now - 400, 500, "KB1", 2);        /* another client */
    add_batch(&f, 0, f.client2, m, 1);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    QS_CHECK_EQ_INT(counts_mismatch(&f), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT sum(count) FROM compliance_counts WHERE state_id = 3"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT sum(count) FROM compliance_counts WHERE state_id = 2"), 1);
    fx_close(&f);
}

/* Details are sealed under the key both holders of the chain derive, with
 * the row's identity as associated data. */
static void
test_pg_details_sealed_under_chain_key(void)
{
    struct fx f;
    int64_t now, client_id, epoch;
    Quietstate__StateMessage m[1];
    uint8_t ad[QS_DETAILS_AD_BYTES], out[256];
    size_t out_len = 0, sealed_len;
    const uint8_t *key;
    PGresult *r;
    unsigned char *sealed;
    char sql[200];

    fx_open(&f);
    now = qs_clock_now_ms(&f.clock);
    m[0] = msg(1, now - 1000, 402, "KB9", 5);
    m[0].details = (char *)"secret detail text";
    add_batch(&f, 0, f.client, m, 1);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    client_id = q_int(&f, "SELECT client_id FROM clients");
    epoch = qs_epoch_of(now - 1000);
    snprintf(sql, sizeof sql, "SELECT details FROM history_%lld_402", (long long)epoch);
    r = PQexecParams(f.q, sql, 0, NULL, NULL, NULL, NULL, 1);
    QS_CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
    if (PQntuples(r) == 1) {
        sealed = (unsigned char *)PQgetvalue(r, 0, 0);
        sealed_len = (size_t)PQgetlength(r, 0, 0);
        key = qs_epochkeys_get(f.ek, epoch, 402, 0);
        qs_details_ad(ad, client_id, 1, epoch, 402);
        QS_CHECK(key != NULL && qs_details_open(out, &out_len, sizeof out, sealed, sealed_len, ad,
                                                sizeof ad, key) == 0);
        QS_CHECK(out_len == 18 && memcmp(out, "secret detail text", 18) == 0);
    }
    PQclear(r);
    /* The worker moved every topic type's chain past the expired days, the
     * types it did not receive included (300 here). */
    QS_CHECK_EQ_INT(qs_epochkeys_find(&key, f.ek, epoch - 4000, 300, (char *)out, sizeof out), 1);
    QS_CHECK_EQ_INT(qs_epochkeys_find(&key, f.ek, epoch - 4000, 402, (char *)out, sizeof out), 1);
    QS_CHECK_EQ_INT(qs_epochkeys_find(&key, f.ek, epoch, 300, (char *)out, sizeof out), 0);
    fx_close(&f);
}

/* The server drops the worker's connection: the group is answered
 * RETRY_LATER, the next one reconnects and stores; nothing twice. */
static void
test_pg_retry_later_then_reconnect(void)
{
    struct fx f;
    int64_t now;
    Quietstate__StateMessage m[2];
    int rc = -1;

    fx_open(&f);
    now = qs_clock_now_ms(&f.clock);
    m[0] = msg(1, now - 1000, 500, "KB1", 2);
    m[1] = msg(2, now - 900, 500, "KB2", 2);
    add_batch(&f, 0, f.client, m, 1);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    q_exec(&f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    add_batch(&f, 0, f.client, m, 2);
    QS_CHECK(commit(&f, 0) != 0);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__RETRY_LATER);
    /* The resend: the backoff may make the first attempts fail again. */
    for (int i = 0; i < 100 && rc != 0; i++) {
        add_batch(&f, 0, f.client, m, 2);
        if ((rc = commit(&f, 0)) != 0)
            usleep(50000);
    }
    QS_CHECK_EQ_INT(rc, 0);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT((int64_t)last_ack(&f)->committed_serial, 2);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 2);
    QS_CHECK_EQ_INT(history_rows(&f), 2);
    QS_CHECK_EQ_INT(counts_mismatch(&f), 0);
    fx_close(&f);
}

/* A partition dropped under the writer's cache (retention) is created
 * again after one RETRY_LATER. */
static void
test_pg_partition_dropped_under_cache(void)
{
    struct fx f;
    int64_t now;
    Quietstate__StateMessage m[1];
    char sql[200];
    int rc = -1;

    fx_open(&f);
    now = qs_clock_now_ms(&f.clock);
    m[0] = msg(1, now - 1000, 500, "KB1", 2);
    add_batch(&f, 0, f.client, m, 1);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    snprintf(sql, sizeof sql, "DROP TABLE history_%lld_500; DELETE FROM partitions",
             (long long)qs_epoch_of(now - 1000));
    q_exec(&f, sql);
    for (int i = 0; i < 3 && rc != 0; i++) {
        m[0] = msg(2, now - 900, 500, "KB1", 3);
        add_batch(&f, 0, f.client, m, 1);
        rc = commit(&f, 0);
    }
    QS_CHECK_EQ_INT(rc, 0);
    QS_CHECK_EQ_INT(history_rows(&f), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT sum(rows) FROM partitions"), 1);
    fx_close(&f);
}

/* One machine, one state (adopt.h) on PostgreSQL: a bound key's message
 * naming another machine is refused, an empty machine field is the bound
 * one, and the re-enrolled machine's first batch (on the other writer)
 * takes over the rows of its old key and of a placeholder client. */
static void
test_pg_bound_machine_checked_and_taken_over(void)
{
    struct fx f;
    Quietstate__StateMessage m[3];
    qs_keypair_t *fresh = qs_keypair_generate();
    uint8_t name_ps[QS_PSEUDONYM_BYTES], machine_ps[QS_PSEUDONYM_BYTES];
    int64_t t, new_id;
    char err[256];
    int n = 0;

    fx_open(&f);
    t = qs_clock_now_ms(&f.clock) - 60000;
    m[0] = msg(1, t, 500, "KB1", 2);
    m[1] = msg(2, t, 500, "KB2", 2);
    m[2] = msg(3, t + 5000, 500, "KB3", 3);
    add_batch(&f, 0, f.client, m, 3);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    m[0] = msg(1, t + 10000, 500, "KB3", 1);     /* newer than the old key's */
    m[1] = msg(2, t, 500, "KB4", 2);
    m[2] = msg(3, t - 10000, 500, "KB1", 1);     /* older */
    add_batch(&f, 1, f.client2, m, 3);
    QS_CHECK_EQ_INT(commit(&f, 1), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 6);
    qs_pseudonym(name_ps, f.site_key, QS_PSEUDO_CLIENT, "pc-1");
    qs_pseudonym(machine_ps, f.site_key, QS_PSEUDO_MACHINE, "PC-0001");
    QS_CHECK_EQ_INT(qs_sitedb_revoke(f.admin, name_ps, qs_clock_now_ms(&f.clock), &n), 0);
    QS_CHECK_EQ_INT(qs_sitedb_enroll(f.admin, name_ps, qs_keypair_public(fresh),
                                     qs_clock_now_ms(&f.clock), err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_sitedb_bind_machine(f.admin, qs_keypair_public(fresh), machine_ps, err,
                                           sizeof err), 0);
    m[0] = msg(1, t + 20000, 500, "KB1", 3);
    m[0].machine_name = (char *)"";
    m[1] = msg(2, t + 20000, 500, "KB9", 3);
    m[1].machine_name = (char *)"PC-0002";
    add_batch(&f, 0, fresh, m, 2);
    QS_CHECK_EQ_INT(commit(&f, 0), 0);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 2);
    QS_CHECK_EQ_INT(last_ack(&f)->n_rejected, 1);
    if (last_ack(&f)->n_rejected == 1)
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[0]->code, QUIETSTATE__CODE__MACHINE_MISMATCH);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.MACHINE_MISMATCH"), 1);
    new_id = q_int(&f, "SELECT max(client_id) FROM clients");
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 4);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(DISTINCT client_id) FROM latest"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT min(client_id) FROM latest"), new_id);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest WHERE topic_id = 'KB1'"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest WHERE topic_id = 'KB3'"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest WHERE machine_ps IS NULL"), 0);
    QS_CHECK_EQ_INT(counts_mismatch(&f), 0);
    /* Its next batch, on the other writer, adopts nothing more. */
    m[0] = msg(3, t + 30000, 500, "KB5", 2);
    add_batch(&f, 1, fresh, m, 1);
    QS_CHECK_EQ_INT(commit(&f, 1), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 5);
    QS_CHECK_EQ_INT(counts_mismatch(&f), 0);
    qs_keypair_destroy(&fresh);
    fx_close(&f);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_log_init("test_write_pg", QS_LOG_ERROR);
    QS_RUN(test_pg_stores_batch_and_acks_committed_serial);
    QS_RUN(test_pg_drops_duplicates_and_fills_gaps);
    QS_RUN(test_pg_group_with_two_batches_of_one_client);
    QS_RUN(test_pg_latest_follows_newest_and_counts_follow);
    QS_RUN(test_pg_details_sealed_under_chain_key);
    QS_RUN(test_pg_retry_later_then_reconnect);
    QS_RUN(test_pg_partition_dropped_under_cache);
    QS_RUN(test_pg_bound_machine_checked_and_taken_over);
    return qs_test_summary();
}
