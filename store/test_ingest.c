/* test_ingest.c - unit tests of the store's ingest pipeline, without sockets.
 *
 * Each test builds a real site (site.db with an enrolled client and, unless
 * the test is about its absence, a policy; store.db; an epoch key directory)
 * in a private temporary directory, seals batches exactly as a producer does,
 * feeds them to qs_ingest_add/qs_ingest_commit and checks the sealed acks,
 * the counters and the database (including its raw file bytes).
 * The routing id of every envelope is the client's public key, so the reply
 * callback knows which key opens the sealed ack.
 */
#define _XOPEN_SOURCE 700   /* nftw */
#include "ingest.h"

#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_envelope.h"
#include "qs_hex.h"
#include "qs_epochkeys.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_sitedb.h"
#include "qs_counts.h"
#include "qs_storedb.h"
#include "qs_test.h"
#include "storedb_sqlite.h"

#include <ftw.h>
#include <poll.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ACKS 32

struct got_ack {
    Quietstate__Ack *ack;   /* unpacked with the default allocator */
    int sealed;             /* 1: came as sealed_ack and opened; 0: notice */
};

struct fx {
    char dir[512];
    char site_db[600], store_db[600], epochs[600];
    uint8_t site_key[32];
    qs_keypair_t *store_kp;
    qs_keypair_t *client;
    uint8_t client_name_ps[QS_PSEUDONYM_BYTES];
    qs_sitedb_t *admin;     /* another connection, like qsctl */
    qs_sitedb_t *sitedb;    /* the store's */
    qs_storedb_t *storedb;
    qs_epochkeys_t *ek;
    qs_clock_t clock;
    qs_ingest_t *ingest;
    struct got_ack acks[MAX_ACKS];
    size_t n_acks;
    int commit_rc;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int64_t
now_ms(struct fx *f)
{
    return qs_clock_now_ms(&f->clock);
}

static void
enroll(struct fx *f, const qs_keypair_t *kp, const char *name)
{
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char err[256];

    qs_pseudonym(ps, f->site_key, QS_PSEUDO_CLIENT, name);
    if (qs_sitedb_enroll(f->admin, ps, qs_keypair_public(kp), now_ms(f), err, sizeof err) != 0) {
        fprintf(stderr, "enroll: %s\n", err);
        exit(2);
    }
}

static void
set_policy(struct fx *f, const qs_policy_t *p)
{
    char err[256];
    int64_t version;

    if (qs_sitedb_policy_put(f->admin, p, "test", now_ms(f), &version, err, sizeof err) != 0) {
        fprintf(stderr, "policy: %s\n", err);
        exit(2);
    }
}

/* policy: NULL for none (not configured). */
static void
fx_open(struct fx *f, const qs_policy_t *policy)
{
    qs_ingest_config_t cfg;
    char err[512];

    memset(f, 0, sizeof *f);
    qs_test_tmpdir(f->dir, sizeof f->dir, "ingest");
    snprintf(f->site_db, sizeof f->site_db, "%s/site.db", f->dir);
    snprintf(f->store_db, sizeof f->store_db, "%s/store.db", f->dir);
    snprintf(f->epochs, sizeof f->epochs, "%s/epochs", f->dir);
    qs_clock_init(&f->clock);
    randombytes_buf(f->site_key, sizeof f->site_key);
    f->store_kp = qs_keypair_generate();
    f->client = qs_keypair_generate();
    f->admin = qs_sitedb_open(f->site_db, 1, err, sizeof err);
    if (f->admin == NULL) {
        fprintf(stderr, "site.db: %s\n", err);
        exit(2);
    }
    enroll(f, f->client, "pc-1");
    qs_pseudonym(f->client_name_ps, f->site_key, QS_PSEUDO_CLIENT, "pc-1");
    if (policy != NULL)
        set_policy(f, policy);
    f->sitedb = qs_sitedb_open(f->site_db, 0, err, sizeof err);
    f->storedb = qs_storedb_open(f->store_db, 1, err, sizeof err);
    f->ek = qs_epochkeys_open(f->epochs, 1, err, sizeof err);
    if (f->sitedb == NULL || f->storedb == NULL || f->ek == NULL) {
        fprintf(stderr, "open: %s\n", err);
        exit(2);
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.store_kp = f->store_kp;
    cfg.site_key = f->site_key;
    cfg.sitedb = f->sitedb;
    cfg.storedb = f->storedb;
    cfg.epochkeys = f->ek;
    cfg.clock = &f->clock;
    cfg.skew_ms = 300000;
    cfg.group_max_messages = 20000;
    f->ingest = qs_ingest_new(&cfg, err, sizeof err);
    if (f->ingest == NULL) {
        fprintf(stderr, "ingest: %s\n", err);
        exit(2);
    }
}

static void
fx_clear_acks(struct fx *f)
{
    for (size_t i = 0; i < f->n_acks; i++)
        quietstate__ack__free_unpacked(f->acks[i].ack, NULL);
    f->n_acks = 0;
}

static void
fx_close(struct fx *f)
{
    fx_clear_acks(f);
    qs_ingest_destroy(&f->ingest);
    qs_epochkeys_destroy(&f->ek);
    qs_storedb_destroy(&f->storedb);
    qs_sitedb_destroy(&f->sitedb);
    qs_sitedb_destroy(&f->admin);
    qs_keypair_destroy(&f->client);
    qs_keypair_destroy(&f->store_kp);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
on_reply(void *ctx, const uint8_t *rid, size_t rid_len, const uint8_t *reply, size_t reply_len,
         const Quietstate__Ack *clear)
{
    struct fx *f = ctx;
    Quietstate__Reply *rep = quietstate__reply__unpack(NULL, reply_len, reply);
    struct got_ack *g;

    (void)clear;
    if (rep == NULL || f->n_acks == MAX_ACKS) {
        fprintf(stderr, "  reply does not unpack\n");
        quietstate__reply__free_unpacked(rep, NULL);
        return;
    }
    {
        /* The Reply is built around the sealed bytes: protobuf-c packs the
         * very same bytes (producers cannot tell). */
        uint8_t *repacked = qs_malloc(quietstate__reply__get_packed_size(rep));
        int same = quietstate__reply__pack(rep, repacked) == reply_len &&
                   memcmp(repacked, reply, reply_len) == 0;
        free(repacked);
        if (!same) {
            fprintf(stderr, "  reply is not protobuf-c's packing of itself\n");
            quietstate__reply__free_unpacked(rep, NULL);
            return;
        }
    }
    g = &f->acks[f->n_acks];
    memset(g, 0, sizeof *g);
    if (rep->sealed_ack != NULL && rid_len == QS_KEY_BYTES) {
        uint8_t shared[QS_KEY_BYTES], plain[65536];
        size_t plain_len = 0;
        /* beforenm(client_pk, store_sk) is the key the producer derives as
         * beforenm(store_pk, client_sk): opening here proves it opens there. */
        if (memcmp(rep->sealed_ack->sender_pk.data, qs_keypair_public(f->store_kp),
                   QS_KEY_BYTES) == 0 &&
            crypto_box_beforenm(shared, rid, qs_keypair_secret(f->store_kp)) == 0 &&
            qs_envelope_open(plain, &plain_len, sizeof plain, QS_ENVELOPE_TO_CLIENT, rep->sealed_ack,
                             shared) == 0) {
            g->ack = quietstate__ack__unpack(NULL, plain_len, plain);
            g->sealed = 1;
        }
    } else if (rep->notice != NULL) {
        uint8_t buf[65536];
        size_t n = quietstate__ack__pack(rep->notice, buf);
        g->ack = quietstate__ack__unpack(NULL, n, buf);
    }
    quietstate__reply__free_unpacked(rep, NULL);
    if (g->ack != NULL)
        f->n_acks++;
}

/* ---- building and sending batches ---- */

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

/* Seal msgs as kp would, into frame. */
static size_t
seal_batch(struct fx *f, const qs_keypair_t *kp, Quietstate__StateMessage *msgs, size_t n,
           uint8_t *frame, size_t cap)
{
    Quietstate__Batch b = QUIETSTATE__BATCH__INIT;
    Quietstate__StateMessage *ptrs[64];
    uint8_t shared[QS_KEY_BYTES], plain[65536];
    size_t plain_len, out_len = 0;

    for (size_t i = 0; i < n; i++)
        ptrs[i] = &msgs[i];
    b.n_messages = n;
    b.messages = ptrs;
    plain_len = quietstate__batch__pack(&b, plain);
    if (crypto_box_beforenm(shared, qs_keypair_public(f->store_kp), qs_keypair_secret(kp)) != 0 ||
        qs_envelope_seal(frame, &out_len, cap, QS_ENVELOPE_TO_STORE, plain, plain_len,
                         qs_keypair_public(kp), shared) != 0) {
        fprintf(stderr, "seal failed\n");
        exit(2);
    }
    return out_len;
}

static Quietstate__Status
add_frame(struct fx *f, const qs_keypair_t *transport, const uint8_t *frame, size_t len)
{
    return qs_ingest_add(f->ingest, qs_keypair_public(transport), QS_KEY_BYTES,
                         qs_keypair_public(transport), QS_KEY_BYTES, frame, len);
}

static Quietstate__Status
add_batch(struct fx *f, const qs_keypair_t *kp, Quietstate__StateMessage *msgs, size_t n)
{
    uint8_t frame[70000];
    size_t len = seal_batch(f, kp, msgs, n, frame, sizeof frame);
    return add_frame(f, kp, frame, len);
}

static void
commit(struct fx *f)
{
    f->commit_rc = qs_ingest_commit(f->ingest, on_reply, f);
}

static const Quietstate__Ack *
last_ack(struct fx *f)
{
    static Quietstate__Ack empty = QUIETSTATE__ACK__INIT;
    return f->n_acks ? f->acks[f->n_acks - 1].ack : &empty;
}

/* ---- reading the database ---- */

static int64_t
q_int(struct fx *f, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(qs_storedb_sqlite(f->storedb), sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "  sql error: %s: %s\n", sql,
                sqlite3_errmsg(qs_storedb_sqlite(f->storedb)));
        return -2;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -3 : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t
counter(struct fx *f, const char *name)
{
    int64_t v = -1;
    (void)qs_ingest_tick(f->ingest, 1);   /* flush pending counters first */
    if (qs_storedb_counter_get(f->storedb, name, &v) != 0)
        return -1;
    return v;
}

static int64_t
history_rows(struct fx *f)
{
    qs_partition_t *parts = NULL;
    size_t n = 0;
    int64_t total = 0;
    char name[64], sql[128];

    if (qs_storedb_partitions(f->storedb, &parts, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (qs_storedb_partition_name(name, sizeof name, parts[i].epoch, parts[i].topic_type) != 0)
            continue;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", name);
        total += q_int(f, sql);
    }
    free(parts);
    return total;
}

static int
store_files_contain(struct fx *f, const char *needle)
{
    char path[700];
    const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", f->store_db, suffix[i]);
        if (qs_test_file_contains(path, needle, strlen(needle)))
            return 1;
    }
    return 0;
}

static qs_policy_t
default_policy(void)
{
    qs_policy_t p;
    qs_policy_defaults(&p);
    return p;
}

/* ---- tests ---- */

static void
test_store_stores_valid_batch_and_acks_committed_serial(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[3];

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB5030219", 2);
    m[1] = msg(2, now_ms(&f) - 4000, 500, "KB5030220", 3);
    m[2] = msg(3, now_ms(&f) - 3000, 301, "deploy-7", 4);
    QS_CHECK_EQ_INT(add_batch(&f, f.client, m, 3), QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(qs_ingest_pending(f.ingest), 1);
    commit(&f);
    QS_CHECK_EQ_INT(f.commit_rc, 0);
    QS_CHECK_EQ_INT(f.n_acks, 1);
    QS_CHECK(f.acks[0].sealed);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 3);
    QS_CHECK_EQ_INT(last_ack(&f)->first_serial, 1);
    QS_CHECK_EQ_INT(last_ack(&f)->last_serial, 3);
    QS_CHECK_EQ_INT(last_ack(&f)->n_rejected, 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest WHERE topic_id = 'KB5030220'"), 3);
    QS_CHECK_EQ_INT(history_rows(&f), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT sum(rows) FROM partitions"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT low_water FROM clients"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM seen"), 0);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 3);
    QS_CHECK_EQ_INT(qs_ingest_pending(f.ingest), 0);
    fx_close(&f);
}

static void
test_store_drops_duplicate_serial(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[2];

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    m[1] = msg(2, now_ms(&f) - 4000, 500, "KB2", 2);
    add_batch(&f, f.client, m, 2);
    commit(&f);
    /* A resend (lost ack) of the same batch, and in the same group again. */
    add_batch(&f, f.client, m, 2);
    add_batch(&f, f.client, m, 2);
    commit(&f);
    QS_CHECK_EQ_INT(f.n_acks, 3);
    QS_CHECK_EQ_INT(f.acks[1].ack->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(f.acks[1].ack->committed_serial, 2);
    QS_CHECK_EQ_INT(f.acks[2].ack->committed_serial, 2);
    QS_CHECK_EQ_INT(f.acks[2].ack->n_rejected, 0);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 2);
    QS_CHECK_EQ_INT(counter(&f, "duplicates"), 4);
    QS_CHECK_EQ_INT(history_rows(&f), 2);
    fx_close(&f);
}

static void
test_store_low_water_jumps_when_gap_filled(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage late[2], early[2];

    fx_open(&f, &p);
    late[0] = msg(3, now_ms(&f) - 3000, 500, "KB3", 2);
    late[1] = msg(4, now_ms(&f) - 2000, 500, "KB4", 2);
    early[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    early[1] = msg(2, now_ms(&f) - 4000, 500, "KB2", 2);
    add_batch(&f, f.client, late, 2);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 0);
    QS_CHECK_EQ_INT(last_ack(&f)->first_serial, 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM seen"), 2);
    add_batch(&f, f.client, early, 2);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 4);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM seen"), 0);
    /* Out-of-order stored serials are remembered: resending is a duplicate. */
    add_batch(&f, f.client, late, 1);
    commit(&f);
    QS_CHECK_EQ_INT(counter(&f, "duplicates"), 1);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 4);
    fx_close(&f);
}

static void
test_store_out_of_order_inside_one_batch(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[3];

    fx_open(&f, &p);
    m[0] = msg(3, now_ms(&f) - 3000, 500, "KB3", 2);
    m[1] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    m[2] = msg(2, now_ms(&f) - 4000, 500, "KB2", 2);
    add_batch(&f, f.client, m, 3);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 3);
    QS_CHECK_EQ_INT(last_ack(&f)->first_serial, 1);
    QS_CHECK_EQ_INT(last_ack(&f)->last_serial, 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM seen"), 0);
    fx_close(&f);
}

static void
test_store_not_configured_before_policy(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];

    fx_open(&f, NULL);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    QS_CHECK_EQ_INT(add_batch(&f, f.client, m, 1), QUIETSTATE__STATUS__NOT_CONFIGURED);
    commit(&f);
    QS_CHECK_EQ_INT(f.commit_rc, 0);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__NOT_CONFIGURED);
    QS_CHECK_EQ_INT(last_ack(&f)->code, QUIETSTATE__CODE__NO_POLICY);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 0);
    QS_CHECK(qs_status_is_transient(last_ack(&f)->status));
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM clients"), 0);
    QS_CHECK_EQ_INT(history_rows(&f), 0);
    QS_CHECK_EQ_INT(counter(&f, "retries.NOT_CONFIGURED"), 1);   /* an answer, not a refusal */
    QS_CHECK_EQ_INT(counter(&f, "rejected.NOT_CONFIGURED"), 0);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.NO_POLICY"), 0);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 0);
    /* A policy set by another process takes effect without a restart. */
    set_policy(&f, &p);
    QS_CHECK_EQ_INT(add_batch(&f, f.client, m, 1), QUIETSTATE__STATUS__OK);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 1);
    fx_close(&f);
}

static void
test_store_rejects_unknown_sender(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];
    qs_keypair_t *stranger = qs_keypair_generate();

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    QS_CHECK_EQ_INT(add_batch(&f, stranger, m, 1), QUIETSTATE__STATUS__UNKNOWN_SENDER);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__UNKNOWN_SENDER);
    QS_CHECK_EQ_INT(last_ack(&f)->code, QUIETSTATE__CODE__CLIENT_UNKNOWN);
    QS_CHECK(f.n_acks == 1 && f.acks[0].sealed);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM clients"), 0);
    QS_CHECK_EQ_INT(counter(&f, "rejected.UNKNOWN_SENDER"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.CLIENT_UNKNOWN"), 1);
    qs_keypair_destroy(&stranger);
    fx_close(&f);
}

static void
test_store_rejects_revoked_sender(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[2];
    int n = 0;

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    m[1] = msg(2, now_ms(&f) - 4000, 500, "KB2", 2);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK(qs_sitedb_revoke(f.admin, f.client_name_ps, now_ms(&f), &n) == 0 && n == 1);
    QS_CHECK_EQ_INT(add_batch(&f, f.client, m + 1, 1), QUIETSTATE__STATUS__REVOKED);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__REVOKED);
    QS_CHECK_EQ_INT(last_ack(&f)->code, QUIETSTATE__CODE__CLIENT_REVOKED);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected.REVOKED"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.CLIENT_REVOKED"), 1);
    fx_close(&f);
}

static void
test_store_rejects_sender_not_transport_key(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];
    qs_keypair_t *other = qs_keypair_generate();
    uint8_t frame[4096];
    size_t len;

    fx_open(&f, &p);
    enroll(&f, other, "pc-2");
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    /* Sealed by the client, but delivered on other's authenticated connection. */
    len = seal_batch(&f, f.client, m, 1, frame, sizeof frame);
    QS_CHECK_EQ_INT(add_frame(&f, other, frame, len), QUIETSTATE__STATUS__BAD_ENVELOPE);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__BAD_ENVELOPE);
    QS_CHECK_EQ_INT(last_ack(&f)->code, QUIETSTATE__CODE__SENDER_MISMATCH);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 0);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.SENDER_MISMATCH"), 1);
    qs_keypair_destroy(&other);
    fx_close(&f);
}

static void
test_store_counts_tampered_ciphertext(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];
    uint8_t frame[4096];
    size_t len;

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    len = seal_batch(&f, f.client, m, 1, frame, sizeof frame);
    frame[len - 1] ^= 0x01;   /* ciphertext is the last field */
    QS_CHECK_EQ_INT(add_frame(&f, f.client, frame, len), QUIETSTATE__STATUS__BAD_ENVELOPE);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__BAD_ENVELOPE);
    QS_CHECK_EQ_INT(last_ack(&f)->code, QUIETSTATE__CODE__DECRYPT_FAILED);
    QS_CHECK_EQ_INT(counter(&f, "rejected.BAD_ENVELOPE"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.DECRYPT_FAILED"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 0);
    fx_close(&f);
}

static void
test_store_rejects_garbage_and_missing_frames(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };

    fx_open(&f, &p);
    add_frame(&f, f.client, garbage, sizeof garbage);
    qs_ingest_add(f.ingest, (const uint8_t *)"x", 1, NULL, 0, NULL, 0);
    commit(&f);
    QS_CHECK_EQ_INT(f.n_acks, 2);
    QS_CHECK_EQ_INT(f.acks[0].ack->status, QUIETSTATE__STATUS__BAD_ENVELOPE);
    QS_CHECK_EQ_INT(f.acks[0].ack->code, QUIETSTATE__CODE__NOT_PROTOBUF);
    QS_CHECK(f.acks[0].sealed);
    QS_CHECK_EQ_INT(f.acks[1].ack->code, QUIETSTATE__CODE__BAD_FRAMES);
    QS_CHECK(!f.acks[1].sealed);   /* no key to seal for: a notice */
    QS_CHECK_EQ_INT(counter(&f, "rejected.BAD_ENVELOPE"), 2);
    fx_close(&f);
}

static void
test_store_rejects_invalid_message_alone(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[4];

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    m[1] = msg(2, now_ms(&f) - 5000, 500, "KB2", 9);                 /* state out of range */
    m[2] = msg(3, now_ms(&f) + 3600 * 1000, 500, "KB3", 2);          /* in the future */
    m[3] = msg(4, now_ms(&f) - 4000, 500, "KB4", 1);
    QS_CHECK_EQ_INT(add_batch(&f, f.client, m, 4), QUIETSTATE__STATUS__OK);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 4);
    QS_CHECK_EQ_INT(last_ack(&f)->n_rejected, 2);
    if (last_ack(&f)->n_rejected == 2) {
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[0]->serial, 2);
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[0]->status, QUIETSTATE__STATUS__BAD_MESSAGE);
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[0]->code, QUIETSTATE__CODE__STATE_OUT_OF_RANGE);
        QS_CHECK(strlen(last_ack(&f)->rejected[0]->reason) > 0);
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[1]->serial, 3);
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[1]->status, QUIETSTATE__STATUS__CLOCK_SKEW);
    }
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 2);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 2);
    QS_CHECK_EQ_INT(counter(&f, "rejected.BAD_MESSAGE"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected.CLOCK_SKEW"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.STATE_OUT_OF_RANGE"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.TIME_IN_FUTURE"), 1);
    /* A resend lists the rejection again but does not count it twice. */
    add_batch(&f, f.client, m, 4);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->n_rejected, 2);
    QS_CHECK_EQ_INT(counter(&f, "rejected.BAD_MESSAGE"), 1);
    QS_CHECK_EQ_INT(counter(&f, "duplicates"), 2);
    fx_close(&f);
}

static void
test_store_rejects_serial_repeated_in_batch(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[4];

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    m[1] = msg(2, now_ms(&f) - 5000, 500, "KB2", 2);
    m[2] = msg(1, now_ms(&f) - 4000, 500, "KB1", 3);
    m[3] = msg(1, now_ms(&f) - 3000, 500, "KB1", 1);
    add_batch(&f, f.client, m, 4);
    commit(&f);
    /* Every copy of serial 1 is refused (none of them can be trusted); the
     * serial is handled all the same, so low_water passes it. */
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 2);
    QS_CHECK_EQ_INT(last_ack(&f)->n_rejected, 3);
    for (size_t i = 0; i < last_ack(&f)->n_rejected; i++) {
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[i]->serial, 1);
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[i]->code, QUIETSTATE__CODE__SERIAL_REPEATED);
    }
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest WHERE topic_id = 'KB1'"), 0);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.SERIAL_REPEATED"), 3);
    /* Resent: listed again, not counted again; serial 2 is a duplicate. */
    add_batch(&f, f.client, m, 4);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->n_rejected, 3);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.SERIAL_REPEATED"), 3);
    QS_CHECK_EQ_INT(counter(&f, "duplicates"), 1);
    fx_close(&f);
}

static void
test_store_pseudonyms_stable_and_no_raw_names_in_files(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[3];
    uint8_t want[QS_PSEUDONYM_BYTES];
    sqlite3_stmt *st = NULL;
    int rows = 0, same = 1;

    p.collect_user_names = 1;
    fx_open(&f, &p);
    for (int i = 0; i < 3; i++) {
        m[i] = msg((uint64_t)i + 1, now_ms(&f) - 5000 + i, 500, i == 2 ? "KB2" : "KB1", 2);
        m[i].machine_name = (char *)(i == 1 ? "secret-pc-4711" : "SECRET-PC-4711");
        m[i].domain = (char *)"CORP-DOMAIN-X";
        m[i].user_name = (char *)"alice.q.user";
        m[i].details = (char *)"install failed on SECRET-PC-4711";
    }
    add_batch(&f, f.client, m, 3);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 3);
    qs_pseudonym(want, f.site_key, QS_PSEUDO_MACHINE, "SECRET-PC-4711");
    sqlite3_prepare_v2(qs_storedb_sqlite(f.storedb), "SELECT machine_ps FROM latest", -1, &st,
                       NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        same &= sqlite3_column_bytes(st, 0) == QS_PSEUDONYM_BYTES &&
                memcmp(sqlite3_column_blob(st, 0), want, QS_PSEUDONYM_BYTES) == 0;
    }
    sqlite3_finalize(st);
    QS_CHECK_EQ_INT(rows, 2);
    QS_CHECK(same);
    QS_CHECK(!store_files_contain(&f, "SECRET-PC-4711"));
    QS_CHECK(!store_files_contain(&f, "secret-pc-4711"));
    QS_CHECK(!store_files_contain(&f, "CORP-DOMAIN-X"));
    QS_CHECK(!store_files_contain(&f, "alice.q.user"));
    QS_CHECK(!store_files_contain(&f, "install failed"));
    /* Sanity: the scan does see what is there in clear. */
    QS_CHECK(store_files_contain(&f, "KB1"));
    fx_close(&f);
}

static void
test_store_user_name_only_when_policy_collects(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[2];
    uint8_t want[QS_PSEUDONYM_BYTES];
    int64_t epoch;
    char part[64], sql[256];
    sqlite3_stmt *st = NULL;

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    m[1] = msg(2, now_ms(&f) - 4000, 500, "KB2", 2);
    m[0].user_name = m[1].user_name = (char *)"bob.user";
    add_batch(&f, f.client, m, 1);
    commit(&f);
    epoch = qs_epoch_of(now_ms(&f) - 5000);
    QS_CHECK(qs_storedb_partition_name(part, sizeof part, epoch, 500) == 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE user_ps IS NULL", part);
    QS_CHECK_EQ_INT(q_int(&f, sql), 1);
    p.collect_user_names = 1;
    set_policy(&f, &p);
    add_batch(&f, f.client, m + 1, 1);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 2);
    epoch = qs_epoch_of(now_ms(&f) - 4000);
    QS_CHECK(qs_storedb_partition_name(part, sizeof part, epoch, 500) == 0);
    snprintf(sql, sizeof sql, "SELECT user_ps FROM %s WHERE serial = 2", part);
    qs_pseudonym(want, f.site_key, QS_PSEUDO_USER, "bob.user");
    QS_CHECK(sqlite3_prepare_v2(qs_storedb_sqlite(f.storedb), sql, -1, &st, NULL) == SQLITE_OK);
    QS_CHECK(st != NULL && sqlite3_step(st) == SQLITE_ROW &&
             sqlite3_column_bytes(st, 0) == QS_PSEUDONYM_BYTES &&
             memcmp(sqlite3_column_blob(st, 0), want, QS_PSEUDONYM_BYTES) == 0);
    sqlite3_finalize(st);
    QS_CHECK(!store_files_contain(&f, "bob.user"));
    fx_close(&f);
}

static void
test_store_old_message_updates_latest_not_history(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];
    int64_t report1;

    p.max_age_days = 30;
    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 40 * QS_MS_PER_DAY, 500, "KB1", 2);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 2);
    QS_CHECK_EQ_INT(history_rows(&f), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM partitions"), 0);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 1);
    report1 = q_int(&f, "SELECT report_ms FROM latest");
    /* Older still: the state stays, the report time moves on. */
    m[0] = msg(2, now_ms(&f) - 50 * QS_MS_PER_DAY, 500, "KB1", 3);
    f.clock.offset_ms += 1000;   /* report_ms is kept at the policy's precision (1 s) */
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 2);
    QS_CHECK(q_int(&f, "SELECT report_ms FROM latest") > report1);
    /* Newer: it wins, and history takes it (a per-topic age allows it). */
    m[0] = msg(3, now_ms(&f) - 1000, 500, "KB1", 3);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 3);
    QS_CHECK_EQ_INT(history_rows(&f), 1);
    fx_close(&f);
}

/* 1 if latest's machine_ps for topic_id is the pseudonym of name ("" = NULL). */
static int
latest_machine_is(struct fx *f, const char *topic_id, const char *name)
{
    sqlite3_stmt *st = NULL;
    uint8_t want[QS_PSEUDONYM_BYTES];
    int ok = 0;

    qs_pseudonym(want, f->site_key, QS_PSEUDO_MACHINE, name);
    if (sqlite3_prepare_v2(qs_storedb_sqlite(f->storedb),
                           "SELECT machine_ps FROM latest WHERE topic_id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, topic_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (*name == '\0')
            ok = sqlite3_column_type(st, 0) == SQLITE_NULL;
        else
            ok = sqlite3_column_bytes(st, 0) == QS_PSEUDONYM_BYTES &&
                 memcmp(sqlite3_column_blob(st, 0), want, QS_PSEUDONYM_BYTES) == 0;
    }
    sqlite3_finalize(st);
    return ok;
}

/* latest is written by a plain UPDATE when the row exists with the same
 * pseudonyms (state unchanged, or changed), else by the upsert; every path
 * must give what the single upsert gave: state and pseudonyms follow the
 * newest message time, report_ms the latest report. */
static void
test_store_latest_follows_newest_through_each_write_path(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[3];
    int64_t t0, report;

    fx_open(&f, &p);
    t0 = now_ms(&f) - 60000;
    /* Insert. */
    m[0] = msg(1, t0, 500, "KB1", 2);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 2);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT time_ms FROM latest"), t0 - t0 % 1000);
    QS_CHECK(latest_machine_is(&f, "KB1", "PC-0001"));
    /* Newer, same state, same machine: only the times move. */
    m[0] = msg(2, t0 + 10000, 500, "KB1", 2);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 2);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT time_ms FROM latest"), (t0 + 10000) - (t0 + 10000) % 1000);
    /* Newer, new state. */
    m[0] = msg(3, t0 + 20000, 500, "KB1", 3);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 3);
    report = q_int(&f, "SELECT report_ms FROM latest");
    /* Older, other state: the state and its time stay, the report moves. */
    m[0] = msg(4, t0 + 5000, 500, "KB1", 1);
    f.clock.offset_ms += 1000;   /* report_ms is kept at the policy's precision (1 s) */
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT time_ms FROM latest"), (t0 + 20000) - (t0 + 20000) % 1000);
    QS_CHECK(q_int(&f, "SELECT report_ms FROM latest") > report);
    /* Newer from a renamed machine: the pseudonym follows. */
    m[0] = msg(5, t0 + 30000, 500, "KB1", 3);
    m[0].machine_name = (char *)"PC-RENAMED";
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK(latest_machine_is(&f, "KB1", "PC-RENAMED"));
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 3);
    /* Older, under yet another name: nothing of it wins. */
    m[0] = msg(6, t0 + 25000, 500, "KB1", 1);
    m[0].machine_name = (char *)"PC-OLDNAME";
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK(latest_machine_is(&f, "KB1", "PC-RENAMED"));
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 3);
    /* Newer without a machine name (NULL pseudonym), twice. */
    m[0] = msg(7, t0 + 40000, 500, "KB1", 2);
    m[0].machine_name = (char *)"";
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK(latest_machine_is(&f, "KB1", ""));
    m[0] = msg(8, t0 + 50000, 500, "KB1", 1);
    m[0].machine_name = (char *)"";
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK(latest_machine_is(&f, "KB1", ""));
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest"), 1);
    /* One batch naming two machines in turn: each message its own pseudonym. */
    m[0] = msg(9, t0 + 51000, 500, "KB2", 2);
    m[1] = msg(10, t0 + 52000, 500, "KB3", 2);
    m[2] = msg(11, t0 + 53000, 500, "KB4", 2);
    m[0].machine_name = m[2].machine_name = (char *)"PC-A";
    m[1].machine_name = (char *)"PC-B";
    add_batch(&f, f.client, m, 3);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 11);
    QS_CHECK(latest_machine_is(&f, "KB2", "PC-A"));
    QS_CHECK(latest_machine_is(&f, "KB3", "PC-B"));
    QS_CHECK(latest_machine_is(&f, "KB4", "PC-A"));
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 4);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 11);
    /* Through every path above, compliance_counts followed: KB1 is counted
     * once, in its last state, and the states it left are gone. */
    {
        int64_t missing = -1, stale = -1;
        QS_CHECK_EQ_INT(qs_storedb_counts_check(f.storedb, &missing, &stale), 0);
        QS_CHECK_EQ_INT(missing, 0);
        QS_CHECK_EQ_INT(stale, 0);
    }
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM compliance_counts WHERE topic_id = 'KB1'"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count FROM compliance_counts WHERE topic_id = 'KB1' "
                          "AND state_id = 1"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT sum(count) FROM compliance_counts"), 4);
    fx_close(&f);
}

/* Random traffic from three clients through the real ingest: new rows,
 * state moves, older messages, renamed machines, repeated serials, several
 * batches of one client in a group, message times over four hours (an
 * installed state re-reported later moves to another hour). After every
 * commit compliance_counts equals latest grouped and installed_hours
 * latest's installed rows per hour (the store counts state and time moves
 * itself, qs_counts.h): a move recorded under another rule than the
 * statements', or not at all, fails here. */
static void
test_store_compliance_counts_follow_random_traffic(void)
{
    static const char *const machines[] = { "PC-R1", "PC-R2" };
    struct fx f;
    qs_policy_t p = default_policy();
    qs_keypair_t *clients[3];
    uint64_t serial[3] = { 0, 0, 0 }, x = 0x2545f4914f6cdd1dULL;
    Quietstate__StateMessage m[8];
    char topics[8][16];
    int64_t t0;
    int ok = 1, hours_seen = 0;

    fx_open(&f, &p);
    t0 = now_ms(&f) - 4 * 3600000;
    t0 -= t0 % 3600000;   /* on an hour: the hours below do not depend on the clock */
    clients[0] = f.client;
    for (int c = 1; c < 3; c++) {
        char name[32];
        clients[c] = qs_keypair_generate();
        snprintf(name, sizeof name, "client-r%d", c);
        enroll(&f, clients[c], name);
    }
    for (int group = 0; group < 60 && ok; group++) {
        for (int b = 0; b < 1 + group % 4; b++) {
            int c = (int)(x % 3), n;
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            n = 1 + (int)(x % 8);
            for (int i = 0; i < n; i++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                snprintf(topics[i], sizeof topics[i], "KB%d", (int)(x % 4));
                /* A tenth repeat the last serial: a duplicate, not a move. */
                if (!(x >> 20 & 0xf) && serial[c] > 0 && i == 0)
                    m[i] = msg(serial[c], t0, 500, topics[i], 1);
                else
                    m[i] = msg(++serial[c], t0 + (int64_t)((x >> 24) % (4 * 3600000)), 500,
                               topics[i], 1 + (uint32_t)(x >> 8 & 3));
                m[i].machine_name = (char *)machines[x >> 40 & 1];
            }
            add_batch(&f, clients[c], m, (size_t)n);
        }
        commit(&f);
        ok &= f.commit_rc == 0;
        fx_clear_acks(&f);
        {
            int64_t missing = -1, stale = -1;
            int64_t wrong = -1;
            char err[256];
            ok &= qs_storedb_counts_check(f.storedb, &missing, &stale) == 0 && missing == 0 &&
                  stale == 0;
            ok &= qs_storedb_installed_check(f.storedb, &wrong, err, sizeof err) == 0 &&
                  wrong == 0;
        }
        ok &= q_int(&f, "SELECT count(*) FROM compliance_counts WHERE count <= 0") == 0;
        for (int h = 0; h < 4; h++) {
            char sql[96];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM installed_hours WHERE hour = %lld",
                     (long long)(t0 / 3600000 + h));
            if (q_int(&f, sql) > 0)
                hours_seen |= 1 << h;
        }
        if (!ok)
            fprintf(stderr, "  kept counts disagree after group %d\n", group);
    }
    QS_CHECK(ok);
    QS_CHECK(q_int(&f, "SELECT count(*) FROM latest") >= 8);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT sum(count) FROM compliance_counts"),
                    q_int(&f, "SELECT count(*) FROM latest"));
    QS_CHECK(counter(&f, "stored") > 100);
    /* the traffic did move installations between hours (a fixed seed: three
     * of the four hours held some at a commit) */
    QS_CHECK(__builtin_popcount((unsigned)hours_seen) >= 3);
    for (int c = 1; c < 3; c++)
        qs_keypair_destroy(&clients[c]);
    fx_close(&f);
}

static void
test_store_per_topic_max_age(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[2];

    p.max_age_days = 90;
    QS_CHECK(qs_policy_set_topic_age(&p, 501, 7) == 0);
    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 10 * QS_MS_PER_DAY, 500, "KB1", 2);   /* kept: 90 days */
    m[1] = msg(2, now_ms(&f) - 10 * QS_MS_PER_DAY, 501, "scan", 3);  /* too old: 7 days */
    add_batch(&f, f.client, m, 2);
    commit(&f);
    QS_CHECK_EQ_INT(history_rows(&f), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 2);
    fx_close(&f);
}

static void
test_store_details_sealed_with_epoch_key(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];
    const char *details = "0x80070005 ACCESS-DENIED-DETAIL";
    int64_t t, epoch, client_id;
    char part[64], sql[256];
    sqlite3_stmt *st = NULL;
    uint8_t ad[QS_DETAILS_AD_BYTES], out[QS_MAX_DETAILS_BYTES];
    size_t out_len = 0;
    const uint8_t *key;

    fx_open(&f, &p);
    t = now_ms(&f) - 5000;
    m[0] = msg(1, t, 402, "ci-42", 11);
    m[0].details = (char *)details;
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 1);
    QS_CHECK(!store_files_contain(&f, "ACCESS-DENIED-DETAIL"));
    epoch = qs_epoch_of(t);
    client_id = q_int(&f, "SELECT client_id FROM clients");
    QS_CHECK(qs_storedb_partition_name(part, sizeof part, epoch, 402) == 0);
    snprintf(sql, sizeof sql, "SELECT details FROM %s WHERE serial = 1", part);
    key = qs_epochkeys_get(f.ek, epoch, 402, 0);
    QS_CHECK(key != NULL);
    QS_CHECK(sqlite3_prepare_v2(qs_storedb_sqlite(f.storedb), sql, -1, &st, NULL) == SQLITE_OK);
    if (key != NULL && st != NULL && sqlite3_step(st) == SQLITE_ROW) {
        qs_details_ad(ad, client_id, 1, epoch, 402);
        QS_CHECK(qs_details_open(out, &out_len, sizeof out, sqlite3_column_blob(st, 0),
                                 (size_t)sqlite3_column_bytes(st, 0), ad, sizeof ad, key) == 0);
        QS_CHECK(out_len == strlen(details) && memcmp(out, details, out_len) == 0);
        /* Bound to its row: another serial's AD does not open it. */
        qs_details_ad(ad, client_id, 2, epoch, 402);
        QS_CHECK(qs_details_open(out, &out_len, sizeof out, sqlite3_column_blob(st, 0),
                                 (size_t)sqlite3_column_bytes(st, 0), ad, sizeof ad, key) != 0);
    } else {
        QS_CHECK(!"history row with details missing");
    }
    sqlite3_finalize(st);
    fx_close(&f);
}

static void
test_store_truncates_history_time_to_policy_precision(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];
    int64_t t;
    char part[64], sql[256];

    p.time_precision_ms = 3600000;   /* hour */
    fx_open(&f, &p);
    t = now_ms(&f) - 5000;
    m[0] = msg(1, t, 500, "KB1", 2);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK(qs_storedb_partition_name(part, sizeof part, qs_epoch_of(t), 500) == 0);
    snprintf(sql, sizeof sql, "SELECT time_ms FROM %s", part);
    QS_CHECK_EQ_INT(q_int(&f, sql), t - t % 3600000);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT time_ms FROM latest"), t - t % 3600000);
    fx_close(&f);
}

static void
test_store_group_commit_mixes_clients_and_rejections(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[2];
    qs_keypair_t *c2 = qs_keypair_generate(), *stranger = qs_keypair_generate();

    fx_open(&f, &p);
    enroll(&f, c2, "pc-2");
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    m[1] = msg(2, now_ms(&f) - 4000, 500, "KB2", 2);
    add_batch(&f, f.client, m, 2);
    add_batch(&f, stranger, m, 2);
    add_batch(&f, c2, m, 1);
    QS_CHECK_EQ_INT(qs_ingest_pending(f.ingest), 3);
    commit(&f);
    QS_CHECK_EQ_INT(f.n_acks, 3);
    if (f.n_acks == 3) {
        QS_CHECK_EQ_INT(f.acks[0].ack->committed_serial, 2);
        QS_CHECK_EQ_INT(f.acks[1].ack->status, QUIETSTATE__STATUS__UNKNOWN_SENDER);
        QS_CHECK_EQ_INT(f.acks[2].ack->committed_serial, 1);
    }
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM clients"), 2);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 3);
    QS_CHECK_EQ_INT(counter(&f, "rejected.UNKNOWN_SENDER"), 1);
    qs_keypair_destroy(&c2);
    qs_keypair_destroy(&stranger);
    fx_close(&f);
}

static void
test_store_answers_retry_later_when_locked(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];
    sqlite3 *other = NULL;

    fx_open(&f, &p);
    sqlite3_busy_timeout(qs_storedb_sqlite(f.storedb), 50);
    QS_CHECK(sqlite3_open(f.store_db, &other) == SQLITE_OK);
    QS_CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(f.commit_rc, -1);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__RETRY_LATER);
    QS_CHECK_EQ_INT(last_ack(&f)->code, QUIETSTATE__CODE__STORE_BUSY);
    QS_CHECK_EQ_INT(last_ack(&f)->first_serial, 1);
    QS_CHECK(qs_status_is_transient(last_ack(&f)->status));
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    /* Still usable; the resend is stored once. */
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(f.commit_rc, 0);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 1);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 1);
    QS_CHECK_EQ_INT(counter(&f, "retries.RETRY_LATER"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected.RETRY_LATER"), 0);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.STORE_BUSY"), 0);
    QS_CHECK_EQ_INT(history_rows(&f), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT sum(rows) FROM partitions"), 1);
    fx_close(&f);
}

static void
test_store_group_full_at_max_messages(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[3];
    qs_ingest_config_t cfg;
    char err[256];

    fx_open(&f, &p);
    qs_ingest_destroy(&f.ingest);
    memset(&cfg, 0, sizeof cfg);
    cfg.store_kp = f.store_kp;
    cfg.site_key = f.site_key;
    cfg.sitedb = f.sitedb;
    cfg.storedb = f.storedb;
    cfg.epochkeys = f.ek;
    cfg.clock = &f.clock;
    cfg.skew_ms = 300000;
    cfg.group_max_messages = 4;
    f.ingest = qs_ingest_new(&cfg, err, sizeof err);
    QS_CHECK(f.ingest != NULL);
    for (int i = 0; i < 3; i++)
        m[i] = msg((uint64_t)i + 1, now_ms(&f) - 5000, 500, "KB1", 2);
    add_batch(&f, f.client, m, 3);
    QS_CHECK(!qs_ingest_full(f.ingest));
    m[0].serial = 4;
    add_batch(&f, f.client, m, 1);
    QS_CHECK(qs_ingest_full(f.ingest));
    commit(&f);
    QS_CHECK(!qs_ingest_full(f.ingest));
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 4);
    fx_close(&f);
}

/* The pipeline (docs/performance.md): a group commits on the commit thread
 * while the next one is filled; its acks come only from qs_ingest_collect,
 * in order; the next group's dedup sees the first one committed; the fd
 * says when to collect; a group still in flight at destroy is waited for. */
static void
test_store_pipeline_overlaps_groups(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage a[2], b[2];
    qs_keypair_t *stranger = qs_keypair_generate();
    qs_ingest_done_t done;
    struct pollfd pfd;

    fx_open(&f, &p);
    a[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    a[1] = msg(2, now_ms(&f) - 4000, 500, "KB2", 2);
    b[0] = msg(3, now_ms(&f) - 3000, 500, "KB3", 2);
    b[1] = msg(4, now_ms(&f) - 2000, 500, "KB4", 2);
    QS_CHECK_EQ_INT(qs_ingest_submit(f.ingest), 0);          /* nothing to hand over */
    add_batch(&f, f.client, a, 2);
    QS_CHECK_EQ_INT(qs_ingest_submit(f.ingest), 1);
    QS_CHECK(qs_ingest_busy(f.ingest));
    QS_CHECK_EQ_INT(qs_ingest_pending(f.ingest), 0);
    /* The next group fills while the first commits: a resend of it, new
     * serials, and a refusal. */
    QS_CHECK_EQ_INT(add_batch(&f, f.client, a, 2), QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(add_batch(&f, f.client, b, 2), QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(add_batch(&f, stranger, b, 2), QUIETSTATE__STATUS__UNKNOWN_SENDER);
    QS_CHECK_EQ_INT(qs_ingest_submit(f.ingest), 0);          /* one group in flight at most */
    QS_CHECK_EQ_INT(f.n_acks, 0);                            /* acks only at collect */
    QS_CHECK_EQ_INT(qs_ingest_collect(f.ingest, 1, on_reply, &f, &done), 1);
    QS_CHECK_EQ_INT(done.envelopes, 1);
    QS_CHECK_EQ_INT(done.rc, 0);
    QS_CHECK_EQ_INT(f.n_acks, 1);
    QS_CHECK_EQ_INT(f.acks[0].ack->committed_serial, 2);
    QS_CHECK(!qs_ingest_busy(f.ingest));
    QS_CHECK_EQ_INT(qs_ingest_collect(f.ingest, 1, on_reply, &f, &done), 0);
    pfd.fd = qs_ingest_fd(f.ingest);
    pfd.events = POLLIN;
    QS_CHECK_EQ_INT(poll(&pfd, 1, 0), 0);                   /* taken: no longer readable */
    QS_CHECK_EQ_INT(qs_ingest_pending(f.ingest), 3);
    QS_CHECK_EQ_INT(qs_ingest_submit(f.ingest), 1);
    QS_CHECK_EQ_INT(poll(&pfd, 1, 30000), 1);                /* readable once committed */
    QS_CHECK_EQ_INT(qs_ingest_collect(f.ingest, 0, on_reply, &f, &done), 1);
    QS_CHECK_EQ_INT(done.envelopes, 3);
    QS_CHECK_EQ_INT(f.n_acks, 4);
    QS_CHECK_EQ_INT(f.acks[1].ack->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(f.acks[1].ack->committed_serial, 2);
    QS_CHECK_EQ_INT(f.acks[2].ack->committed_serial, 4);
    QS_CHECK_EQ_INT(f.acks[3].ack->status, QUIETSTATE__STATUS__UNKNOWN_SENDER);
    QS_CHECK_EQ_INT(counter(&f, "stored"), 4);
    QS_CHECK_EQ_INT(counter(&f, "duplicates"), 2);
    QS_CHECK_EQ_INT(counter(&f, "rejected.UNKNOWN_SENDER"), 1);
    QS_CHECK_EQ_INT(history_rows(&f), 4);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT low_water FROM clients"), 4);
    /* Destroyed with a group in flight: it commits, unanswered. */
    b[0].serial = 5;
    add_batch(&f, f.client, b, 1);
    QS_CHECK_EQ_INT(qs_ingest_submit(f.ingest), 1);
    qs_ingest_destroy(&f.ingest);
    QS_CHECK_EQ_INT(f.n_acks, 4);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT low_water FROM clients"), 5);
    qs_keypair_destroy(&stranger);
    fx_close(&f);
}

/* A steady stream of refusals alone never leaves the pipeline idle for
 * qs_ingest_tick: once its counters have waited QS_INGEST_COUNTER_FLUSH_MS
 * a refusal-only group writes them itself. */
static void
test_store_refusals_alone_write_their_counters(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];
    qs_keypair_t *stranger = qs_keypair_generate();
    int64_t v = -1;

    fx_open(&f, &p);
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    add_batch(&f, stranger, m, 1);
    QS_CHECK_EQ_INT(qs_ingest_submit(f.ingest), 1);
    QS_CHECK_EQ_INT(qs_ingest_collect(f.ingest, 1, on_reply, &f, NULL), 1);
    QS_CHECK(qs_storedb_counter_get(f.storedb, "rejected.UNKNOWN_SENDER", &v) != 0 || v <= 0);
    usleep((QS_INGEST_COUNTER_FLUSH_MS + 50) * 1000);
    add_batch(&f, stranger, m, 1);
    QS_CHECK_EQ_INT(qs_ingest_submit(f.ingest), 1);
    QS_CHECK_EQ_INT(qs_ingest_collect(f.ingest, 1, on_reply, &f, NULL), 1);
    QS_CHECK_EQ_INT(f.n_acks, 2);
    v = -1;
    QS_CHECK_EQ_INT(qs_storedb_counter_get(f.storedb, "rejected.UNKNOWN_SENDER", &v), 0);
    QS_CHECK_EQ_INT(v, 2);
    qs_keypair_destroy(&stranger);
    fx_close(&f);
}

/* ---- one machine, one state (adopt.h) ---- */

static void
bind_machine(struct fx *f, const qs_keypair_t *kp, const char *machine)
{
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char err[256];

    qs_pseudonym(ps, f->site_key, QS_PSEUDO_MACHINE, machine);
    if (qs_sitedb_bind_machine(f->admin, qs_keypair_public(kp), ps, err, sizeof err) != 0) {
        fprintf(stderr, "bind: %s\n", err);
        exit(2);
    }
}

/* compliance_counts equals latest grouped (what qsctl verify checks). */
static int64_t
counts_off(struct fx *f)
{
    return q_int(f, "SELECT count(*) FROM compliance_counts c WHERE count <> (SELECT count(*) "
                    "FROM latest l WHERE l.topic_type = c.topic_type AND l.topic_id = c.topic_id "
                    "AND l.state_id = c.state_id)") +
           q_int(f, "SELECT (SELECT coalesce(sum(count), 0) FROM compliance_counts) - "
                    "(SELECT count(*) FROM latest)");
}

static void
test_store_refuses_message_naming_another_machine(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[4];
    uint8_t ps[QS_PSEUDONYM_BYTES];
    char sql[256], hex[2 * QS_PSEUDONYM_BYTES + 1];

    fx_open(&f, &p);
    bind_machine(&f, f.client, "PC-0001");
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    m[1] = msg(2, now_ms(&f) - 5000, 500, "KB2", 2);
    m[1].machine_name = (char *)"PC-0002";            /* another machine: refused */
    m[2] = msg(3, now_ms(&f) - 5000, 500, "KB3", 2);
    m[2].machine_name = (char *)"";                   /* none: the bound one */
    m[3] = msg(4, now_ms(&f) - 5000, 500, "KB4", 3);
    m[3].machine_name = (char *)" pc-0001";           /* the same machine, other spelling */
    QS_CHECK_EQ_INT(add_batch(&f, f.client, m, 4), QUIETSTATE__STATUS__OK);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->status, QUIETSTATE__STATUS__OK);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 4);
    QS_CHECK_EQ_INT(last_ack(&f)->n_rejected, 1);
    if (last_ack(&f)->n_rejected == 1) {
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[0]->serial, 2);
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[0]->status, QUIETSTATE__STATUS__BAD_MESSAGE);
        QS_CHECK_EQ_INT(last_ack(&f)->rejected[0]->code, QUIETSTATE__CODE__MACHINE_MISMATCH);
    }
    QS_CHECK_EQ_INT(counter(&f, "rejected.BAD_MESSAGE"), 1);
    QS_CHECK_EQ_INT(counter(&f, "rejected_detail.MACHINE_MISMATCH"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest WHERE topic_id = 'KB2'"), 0);
    qs_pseudonym(ps, f.site_key, QS_PSEUDO_MACHINE, "PC-0001");
    qs_hex_encode(hex, sizeof hex, ps, sizeof ps);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM latest WHERE machine_ps = x'%s'", hex);
    QS_CHECK_EQ_INT(q_int(&f, sql), 3);
    QS_CHECK_EQ_INT(history_rows(&f), 3);
    /* An unbound key is not checked: it may name any machine. */
    {
        qs_keypair_t *other = qs_keypair_generate();
        enroll(&f, other, "pc-2");
        m[0] = msg(1, now_ms(&f) - 4000, 500, "KB9", 2);
        m[0].machine_name = (char *)"PC-0002";
        add_batch(&f, other, m, 1);
        commit(&f);
        QS_CHECK_EQ_INT(last_ack(&f)->n_rejected, 0);
        QS_CHECK_EQ_INT(counter(&f, "stored"), 4);
        qs_keypair_destroy(&other);
    }
    fx_close(&f);
}

static void
test_store_reenrolled_machine_takes_over_its_state(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[3];
    qs_keypair_t *placeholder = qs_keypair_generate(), *fresh = qs_keypair_generate();
    uint8_t name_ps[QS_PSEUDONYM_BYTES];
    int64_t t, new_id;
    char err[256];
    int n = 0;

    fx_open(&f, &p);
    t = now_ms(&f) - 60000;
    /* The machine's old key: KB1, KB2 at t, KB3 at t + 5 s. */
    m[0] = msg(1, t, 500, "KB1", 2);
    m[1] = msg(2, t, 500, "KB2", 2);
    m[2] = msg(3, t + 5000, 500, "KB3", 3);
    add_batch(&f, f.client, m, 3);
    commit(&f);
    /* Rows of the same machine under another client (as an import makes):
     * KB3 newer than the old key's, KB4 only there, KB1 older. */
    enroll(&f, placeholder, "import-placeholder");
    m[0] = msg(1, t + 10000, 500, "KB3", 1);
    m[1] = msg(2, t, 500, "KB4", 2);
    m[2] = msg(3, t - 10000, 500, "KB1", 1);
    add_batch(&f, placeholder, m, 3);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 6);
    QS_CHECK_EQ_INT(counts_off(&f), 0);
    /* Re-enroll "pc-1" with a new key bound to the machine: the old key is revoked. */
    qs_pseudonym(name_ps, f.site_key, QS_PSEUDO_CLIENT, "pc-1");
    QS_CHECK_EQ_INT(qs_sitedb_revoke(f.admin, name_ps, now_ms(&f), &n), 0);
    QS_CHECK_EQ_INT(n, 1);
    QS_CHECK_EQ_INT(qs_sitedb_enroll(f.admin, name_ps, qs_keypair_public(fresh), now_ms(&f), err,
                                     sizeof err), 0);
    bind_machine(&f, fresh, "PC-0001");
    /* Its first report: KB1 newer, with an empty machine field. */
    m[0] = msg(1, t + 20000, 500, "KB1", 3);
    m[0].machine_name = (char *)"";
    QS_CHECK_EQ_INT(add_batch(&f, fresh, m, 1), QUIETSTATE__STATUS__OK);
    commit(&f);
    QS_CHECK_EQ_INT(last_ack(&f)->committed_serial, 1);
    new_id = q_int(&f, "SELECT max(client_id) FROM clients");
    /* One machine, one state: four topics, all the new key's, newest wins. */
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 4);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(DISTINCT client_id) FROM latest"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT min(client_id) FROM latest"), new_id);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest WHERE topic_id = 'KB1'"), 3);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest WHERE topic_id = 'KB2'"), 2);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest WHERE topic_id = 'KB3'"), 1);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT state_id FROM latest WHERE topic_id = 'KB4'"), 2);
    QS_CHECK_EQ_INT(counts_off(&f), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count FROM compliance_counts WHERE topic_id = 'KB3' "
                              "AND state_id = 3"), -1);   /* the group is gone */
    /* The old key is refused; its rows do not come back. */
    m[0] = msg(4, t + 30000, 500, "KB1", 1);
    QS_CHECK_EQ_INT(add_batch(&f, f.client, m, 1), QUIETSTATE__STATUS__REVOKED);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 4);
    /* A second batch of the new key adopts nothing more. */
    m[0] = msg(2, t + 30000, 500, "KB5", 2);
    add_batch(&f, fresh, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT count(*) FROM latest"), 5);
    QS_CHECK_EQ_INT(counts_off(&f), 0);
    qs_keypair_destroy(&placeholder);
    qs_keypair_destroy(&fresh);
    fx_close(&f);
}

static void
test_store_keeps_report_and_client_times_at_policy_precision(void)
{
    struct fx f;
    qs_policy_t p = default_policy();
    Quietstate__StateMessage m[1];

    p.time_precision_ms = 60000;
    fx_open(&f, &p);
    f.clock.offset_ms += 1234;   /* off a whole second and minute, most likely */
    m[0] = msg(1, now_ms(&f) - 5000, 500, "KB1", 2);
    add_batch(&f, f.client, m, 1);
    commit(&f);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT report_ms % 60000 FROM latest"), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT first_ms % 60000 FROM clients"), 0);
    QS_CHECK_EQ_INT(q_int(&f, "SELECT last_ms % 60000 FROM clients"), 0);
    QS_CHECK(q_int(&f, "SELECT report_ms FROM latest") > now_ms(&f) - 60000);
    fx_close(&f);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_log_init("test_ingest", QS_LOG_ERROR);
    QS_RUN(test_store_stores_valid_batch_and_acks_committed_serial);
    QS_RUN(test_store_drops_duplicate_serial);
    QS_RUN(test_store_low_water_jumps_when_gap_filled);
    QS_RUN(test_store_out_of_order_inside_one_batch);
    QS_RUN(test_store_not_configured_before_policy);
    QS_RUN(test_store_rejects_unknown_sender);
    QS_RUN(test_store_rejects_revoked_sender);
    QS_RUN(test_store_rejects_sender_not_transport_key);
    QS_RUN(test_store_counts_tampered_ciphertext);
    QS_RUN(test_store_rejects_garbage_and_missing_frames);
    QS_RUN(test_store_rejects_invalid_message_alone);
    QS_RUN(test_store_rejects_serial_repeated_in_batch);
    QS_RUN(test_store_pseudonyms_stable_and_no_raw_names_in_files);
    QS_RUN(test_store_user_name_only_when_policy_collects);
    QS_RUN(test_store_old_message_updates_latest_not_history);
    QS_RUN(test_store_latest_follows_newest_through_each_write_path);
    QS_RUN(test_store_compliance_counts_follow_random_traffic);
    QS_RUN(test_store_per_topic_max_age);
    QS_RUN(test_store_details_sealed_with_epoch_key);
    QS_RUN(test_store_truncates_history_time_to_policy_precision);
    QS_RUN(test_store_group_commit_mixes_clients_and_rejections);
    QS_RUN(test_store_answers_retry_later_when_locked);
    QS_RUN(test_store_group_full_at_max_messages);
    QS_RUN(test_store_pipeline_overlaps_groups);
    QS_RUN(test_store_refusals_alone_write_their_counters);
    QS_RUN(test_store_refuses_message_naming_another_machine);
    QS_RUN(test_store_reenrolled_machine_takes_over_its_state);
    QS_RUN(test_store_keeps_report_and_client_times_at_policy_precision);
    return qs_test_summary();
}
