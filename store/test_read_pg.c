/* test_read_pg.c - the read and retention side on PostgreSQL answers as on SQLite.
 *
 * Each test fills a fresh SQLite store.db and a fresh PostgreSQL store (a
 * real server the wrapper tests/pg/read_pg.sh starts; its URI comes in
 * QS_TEST_PG_URL) with the same rows, written as each engine's writers
 * write them: on SQLite the triggers count latest, on PostgreSQL the test
 * writes compliance_counts, counters and partition row counts spread over
 * several writer shards, negative shard rows and a group whose shards sum
 * to 0 included (storedb_pg.h). Then both are read, expired, forgotten and
 * checked through the engine-neutral API only, and the answers compared:
 * compliance with suppression, stats, lookup with details opened, expiry
 * and forget with the counts staying exact, verify's measurements and the
 * repair of counts, and the retention lock between two connections.
 */
#include "qs_counts.h"
#include "qs_epochkeys.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "qs_store_check.h"
#include "qs_store_expire.h"
#include "qs_store_forget.h"
#include "qs_store_lookup.h"
#include "qs_store_query.h"
#include "qs_test.h"
#include "storedb_pg.h"
#include "storedb_sqlite.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY_MS 86400000LL
#define NOW_MS (20000LL * DAY_MS + 12 * 3600000LL)     /* noon of day 20000 */

static const char *pg_url;

struct pair {
    char dir[256];
    qs_storedb_t *lite, *pg;
    PGconn *raw;            /* the test's own connection, for fixtures and damage */
    qs_epochkeys_t *ks;
};

static void
raw_exec(struct pair *p, const char *sql)
{
    PGresult *r = PQexec(p->raw, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "pg fixture failed: %s: %s\n", sql, PQresultErrorMessage(r));
        exit(2);
    }
    PQclear(r);
}

static int64_t
raw_int(struct pair *p, const char *sql)
{
    PGresult *r = PQexec(p->raw, sql);
    int64_t v = -1;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static void
lite_exec(struct pair *p, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(qs_storedb_sqlite(p->lite), sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite fixture failed: %s: %s\n", sql, err ? err : "?");
        exit(2);
    }
}

/* Fresh stores: an empty schema on the server, a new store.db, one key dir. */
static void
pair_open(struct pair *p, const char *tag)
{
    char path[400], err[512];

    qs_test_tmpdir(p->dir, sizeof p->dir, tag);
    p->raw = PQconnectdb(pg_url);
    if (PQstatus(p->raw) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", pg_url, PQerrorMessage(p->raw));
        exit(2);
    }
    raw_exec(p, "SET client_min_messages = warning");
    raw_exec(p, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    snprintf(path, sizeof path, "%s/store.db", p->dir);
    p->lite = qs_storedb_open(path, 1, err, sizeof err);
    if (p->lite != NULL)
        p->pg = qs_storedb_open(pg_url, 1, err, sizeof err);
    snprintf(path, sizeof path, "%s/epochs", p->dir);
    if (p->pg != NULL)
        p->ks = qs_epochkeys_open(path, 1, err, sizeof err);
    if (p->ks == NULL) {
        fprintf(stderr, "fixture: %s\n", err);
        exit(2);
    }
}

static void
pair_close(struct pair *p)
{
    char cmd[400];

    qs_epochkeys_destroy(&p->ks);
    qs_storedb_destroy(&p->lite);
    qs_storedb_destroy(&p->pg);
    PQfinish(p->raw);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", p->dir);
}

static void
ps_of(uint8_t out[QS_PSEUDONYM_BYTES], int n)
{
    memset(out, 0, QS_PSEUDONYM_BYTES);
    out[0] = 0xA5;
    out[1] = (uint8_t)n;
    out[15] = 0x5A;
}

/* One latest row in both stores: machine m (0: none), domain d (0: none). */
static void
add_latest(struct pair *p, int64_t client, uint32_t tt, const char *id, uint32_t state,
           int64_t report_ms, int m, int d)
{
    uint8_t mps[QS_PSEUDONYM_BYTES], dps[QS_PSEUDONYM_BYTES];
    char c[24], t[16], s[16], rep[24];
    const char *v[6] = { c, t, id, s, rep, NULL }, *dv;
    int len[7] = { 0, 0, 0, 0, 0, QS_PSEUDONYM_BYTES, QS_PSEUDONYM_BYTES };
    int fmt[7] = { 0, 0, 0, 0, 0, 1, 1 };
    const char *pv[7];
    sqlite3_stmt *st = NULL;
    PGresult *r;

    ps_of(mps, m);
    ps_of(dps, d);
    QS_ASSERT(sqlite3_prepare_v2(qs_storedb_sqlite(p->lite), "INSERT INTO latest(client_id, "
              "topic_type, topic_id, state_id, time_ms, report_ms, machine_ps, domain_ps) "
              "VALUES (?1, ?2, ?3, ?4, ?5 - 1000, ?5, ?6, ?7)", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int64(st, 2, tt);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, state);
    sqlite3_bind_int64(st, 5, report_ms);
    if (m)
        sqlite3_bind_blob(st, 6, mps, sizeof mps, SQLITE_STATIC);
    if (d)
        sqlite3_bind_blob(st, 7, dps, sizeof dps, SQLITE_STATIC);
    QS_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);

    snprintf(c, sizeof c, "%lld", (long long)client);
    snprintf(t, sizeof t, "%u", tt);
    snprintf(s, sizeof s, "%u", state);
    snprintf(rep, sizeof rep, "%lld", (long long)report_ms);
    dv = d ? (const char *)dps : NULL;
    memcpy(pv, v, sizeof v);
    pv[5] = m ? (const char *)mps : NULL;
    pv[6] = dv;
    r = PQexecParams(p->raw, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                     "time_ms, report_ms, machine_ps, domain_ps) VALUES ($1, $2, $3, $4, "
                     "$5::bigint - 1000, $5, $6, $7)", 7, NULL, pv, len, fmt, 0);
    QS_ASSERT(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
}

/* One history row in both stores, details sealed under the partition's key. */
static void
add_history(struct pair *p, uint32_t tt, int64_t time_ms, int64_t client, int64_t serial,
            const char *id, uint32_t state, int m, int d)
{
    uint8_t mps[QS_PSEUDONYM_BYTES], dps[QS_PSEUDONYM_BYTES], ad[QS_DETAILS_AD_BYTES];
    uint8_t sealed[128];
    size_t sealed_len = 0;
    int64_t epoch = qs_epoch_of(time_ms);
    const uint8_t *key;
    char name[64], q[512], c[24], se[24], s[16], tm[24], e[24], t[16];
    const char *pv[8];
    int len[8] = { 0, 0, 0, 0, 0, QS_PSEUDONYM_BYTES, QS_PSEUDONYM_BYTES, 0 };
    int fmt[8] = { 0, 0, 0, 0, 0, 1, 1, 1 };
    sqlite3_stmt *st = NULL;
    PGresult *r;

    ps_of(mps, m);
    ps_of(dps, d);
    key = qs_epochkeys_get(p->ks, epoch, tt, 1);
    QS_ASSERT(key != NULL);
    qs_details_ad(ad, client, (uint64_t)serial, epoch, tt);
    snprintf(q, sizeof q, "details of %lld", (long long)serial);
    QS_ASSERT(qs_details_seal(sealed, &sealed_len, sizeof sealed, (const uint8_t *)q, strlen(q),
                              ad, sizeof ad, key) == 0);
    QS_ASSERT(qs_storedb_partition_name(name, sizeof name, epoch, tt) == 0);
    /* SQLite, as qs-store writes it. */
    QS_ASSERT(qs_storedb_begin(p->lite) == 0);
    QS_ASSERT(qs_storedb_partition_ensure(p->lite, epoch, tt) == 0);
    snprintf(q, sizeof q, "INSERT INTO %s(client_id, serial, state_id, topic_id, time_ms, "
             "machine_ps, domain_ps, user_ps, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
             "NULL, ?8)", name);
    QS_ASSERT(sqlite3_prepare_v2(qs_storedb_sqlite(p->lite), q, -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int64(st, 2, serial);
    sqlite3_bind_int64(st, 3, state);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, time_ms);
    if (m)
        sqlite3_bind_blob(st, 6, mps, sizeof mps, SQLITE_STATIC);
    if (d)
        sqlite3_bind_blob(st, 7, dps, sizeof dps, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, sealed, (int)sealed_len, SQLITE_STATIC);
    QS_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    snprintf(q, sizeof q, "UPDATE partitions SET rows = rows + 1 WHERE epoch = %lld AND "
             "topic_type = %u", (long long)epoch, tt);
    lite_exec(p, q);
    QS_ASSERT(qs_storedb_commit(p->lite) == 0);

    /* PostgreSQL: the table through the engine, the row and its count by
     * hand, the count in a shard of its own (serial picks it). */
    QS_ASSERT(qs_storedb_begin(p->pg) == 0);
    QS_ASSERT(qs_storedb_partition_ensure(p->pg, epoch, tt) == 0);
    QS_ASSERT(qs_storedb_commit(p->pg) == 0);
    snprintf(c, sizeof c, "%lld", (long long)client);
    snprintf(se, sizeof se, "%lld", (long long)serial);
    snprintf(s, sizeof s, "%u", state);
    snprintf(tm, sizeof tm, "%lld", (long long)time_ms);
    pv[0] = c; pv[1] = se; pv[2] = s; pv[3] = id; pv[4] = tm;
    pv[5] = m ? (const char *)mps : NULL;
    pv[6] = d ? (const char *)dps : NULL;
    pv[7] = (const char *)sealed;
    len[7] = (int)sealed_len;
    snprintf(q, sizeof q, "INSERT INTO %s(client_id, serial, state_id, topic_id, time_ms, "
             "machine_ps, domain_ps, user_ps, details) VALUES ($1, $2, $3, $4, $5, $6, $7, "
             "NULL, $8)", name);
    r = PQexecParams(p->raw, q, 8, NULL, pv, len, fmt, 0);
    QS_ASSERT(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    snprintf(e, sizeof e, "%lld", (long long)epoch);
    snprintf(t, sizeof t, "%u", tt);
    snprintf(q, sizeof q, "INSERT INTO partitions(epoch, topic_type, shard, rows) VALUES "
             "(%s, %s, %lld, 1) ON CONFLICT (epoch, topic_type, shard) DO UPDATE SET "
             "rows = partitions.rows + 1", e, t, (long long)(1 + serial % 5));
    raw_exec(p, q);
}

/* PostgreSQL's counts for what latest holds, spread over shards as
 * several workers and a retention pass leave them: shard 3 holds count + 2,
 * shard 9 holds -2, and one group sums to 0 (it must not exist). Counters
 * and clients in both stores. */
static void
finish_counts(struct pair *p)
{
    raw_exec(p, "INSERT INTO compliance_counts(topic_type, topic_id, state_id, shard, count) "
                "SELECT topic_type, topic_id, state_id, 3, count(*) + 2 FROM latest "
                "GROUP BY 1, 2, 3");
    raw_exec(p, "INSERT INTO compliance_counts(topic_type, topic_id, state_id, shard, count) "
                "SELECT topic_type, topic_id, state_id, 9, -2 FROM latest GROUP BY 1, 2, 3");
    raw_exec(p, "INSERT INTO compliance_counts VALUES (500, 'GONE', 1, 4, 7), "
                "(500, 'GONE', 1, 11, -7)");
    lite_exec(p, "INSERT INTO counters(name, value) VALUES ('stored', 40), ('duplicates', 3), "
                 "('rejected.BAD_MESSAGE', 2), ('rejected_detail.BAD_TOPIC_ID', 2), "
                 "('retries.RETRY_LATER', 1)");
    raw_exec(p, "INSERT INTO counters(name, shard, value) VALUES ('stored', 0, 25), "
                "('stored', 6, 15), ('duplicates', 2, 3), ('rejected.BAD_MESSAGE', 1, 1), "
                "('rejected.BAD_MESSAGE', 8, 1), ('rejected_detail.BAD_TOPIC_ID', 5, 2), "
                "('retries.RETRY_LATER', 0, 1)");
    for (int i = 1; i <= 3; i++) {
        char q[200];
        snprintf(q, sizeof q, "INSERT INTO clients(pk, first_ms, last_ms) VALUES "
                 "(x'%02x', 1, 2)", i);
        lite_exec(p, q);
        snprintf(q, sizeof q, "INSERT INTO clients(pk, first_ms, last_ms) VALUES "
                 "('\\x%02x', 1, 2)", i);
        raw_exec(p, q);
    }
}

/* The fleet every test starts from (now = noon of day 20000):
 *   500 KB100  state 0 x5 (= k 5: complementary), 1 x4, 2 x17 (10 of them
 *              last reported 40 days ago), 3 x6
 *   500 KB200  state 3 x2 (all below k: not shown)
 *   500 Zeta / alpha / "é" (byte order differs from most collations)
 *   301 DEP-1  state 4 x9
 * machine 7 (domain 3) has rows in latest and events in four partitions,
 * one of them 40 days old (expired under 30 days), one straddling the
 * cutoff; topic 301 keeps 60 days. */
static void
fill_fleet(struct pair *p)
{
    static const struct { uint32_t tt; const char *id; uint32_t state; int n; } g[] = {
        { 500, "KB100", 0, 5 }, { 500, "KB100", 1, 4 }, { 500, "KB100", 2, 17 },
        { 500, "KB100", 3, 6 }, { 500, "KB200", 3, 2 }, { 500, "Zeta", 1, 6 },
        { 500, "alpha", 1, 6 }, { 500, "\xc3\xa9", 2, 7 }, { 301, "DEP-1", 4, 9 },
    };
    int64_t client = 1;
    int64_t day = qs_epoch_of(NOW_MS) * DAY_MS;

    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        for (int j = 0; j < g[i].n; j++, client++) {
            int old = g[i].state == 2 && g[i].n == 17 && j < 10;
            int m = client % 10 == 1 ? 7 : (int)(20 + client % 200);
            add_latest(p, client, g[i].tt, g[i].id, g[i].state,
                       NOW_MS - (old ? 40 : 1) * DAY_MS, m, m == 7 ? 3 : 4);
        }
    }
    add_history(p, 500, day - DAY_MS + 1000, 1, 11, "KB100", 0, 7, 3);
    add_history(p, 500, day - DAY_MS + 2000, 1, 12, "KB100", 2, 7, 3);
    add_history(p, 500, day - DAY_MS + 3000, 2, 13, "KB100", 2, 8, 3);
    add_history(p, 500, day - 40 * DAY_MS, 1, 5, "KB100", 1, 7, 3);
    add_history(p, 500, day - 40 * DAY_MS + 5000, 3, 6, "KB100", 1, 9, 4);
    add_history(p, 500, day - 30 * DAY_MS + 6 * 3600000LL, 1, 7, "KB100", 1, 7, 3);
    add_history(p, 500, day - 30 * DAY_MS + 18 * 3600000LL, 1, 8, "KB100", 1, 7, 3);
    add_history(p, 500, day - 30 * DAY_MS + 7 * 3600000LL, 4, 9, "Zeta", 1, 9, 4);
    add_history(p, 301, day - 40 * DAY_MS, 1, 20, "DEP-1", 4, 7, 4);
    add_history(p, 301, day - 2 * DAY_MS, 5, 21, "DEP-1", 4, 10, 4);
    finish_counts(p);
}

static qs_policy_t
policy_of(int k)
{
    qs_policy_t pol;

    qs_policy_defaults(&pol);
    pol.k = k;
    pol.max_age_days = 30;
    QS_ASSERT(qs_policy_set_topic_age(&pol, 301, 60) == 0);
    return pol;
}

/* Both engines give the same compliance answer; returns the rows compared. */
static size_t
same_compliance(struct pair *p, int k, const uint32_t *tt, const char *id)
{
    qs_storedb_compliance_t a, b;
    qs_policy_t pol = policy_of(k);
    char err[512];
    size_t n;

    QS_CHECK_EQ_INT(qs_storedb_compliance(p->lite, &a, &pol, tt, id, err, sizeof err), 0);
    if (qs_storedb_compliance(p->pg, &b, &pol, tt, id, err, sizeof err) != 0) {
        fprintf(stderr, "  pg compliance: %s\n", err);
        QS_CHECK(0);
        qs_storedb_compliance_free(&a);
        return 0;
    }
    QS_CHECK_EQ_INT(a.k, b.k);
    QS_CHECK_EQ_INT(a.n, b.n);
    for (size_t i = 0; i < a.n && i < b.n; i++) {
        QS_CHECK_EQ_INT(a.rows[i].topic_type, b.rows[i].topic_type);
        QS_CHECK_STR(a.rows[i].topic_id, b.rows[i].topic_id);
        QS_CHECK_EQ_INT(a.rows[i].state_id, b.rows[i].state_id);
        QS_CHECK_EQ_INT(a.rows[i].count, b.rows[i].count);
        QS_CHECK_EQ_INT(a.rows[i].scope, b.rows[i].scope);
        QS_CHECK_EQ_INT(a.rows[i].no_report, b.rows[i].no_report);
    }
    n = a.n;
    qs_storedb_compliance_free(&a);
    qs_storedb_compliance_free(&b);
    return n;
}

static void
test_compliance_on_postgresql_equals_sqlite_under_every_filter(void)
{
    struct pair p = { 0 };
    uint32_t t500 = 500, t301 = 301, t999 = 999;
    qs_storedb_compliance_t res;
    qs_policy_t pol = policy_of(5);
    char err[512];

    pair_open(&p, "rpc");
    fill_fleet(&p);
    QS_CHECK(same_compliance(&p, 5, NULL, NULL) > 0);
    QS_CHECK(same_compliance(&p, 1, NULL, NULL) > 0);
    QS_CHECK(same_compliance(&p, 7, NULL, NULL) > 0);
    QS_CHECK(same_compliance(&p, 5, &t500, NULL) > 0);
    QS_CHECK(same_compliance(&p, 5, &t301, NULL) > 0);
    /* Each topic's states and its no-report cell, with the same scope. */
    QS_CHECK(same_compliance(&p, 5, &t500, "KB100") == 5);
    QS_CHECK(same_compliance(&p, 5, NULL, "KB100") == 5);
    QS_CHECK(same_compliance(&p, 2, NULL, "KB200") == 2);
    QS_CHECK(same_compliance(&p, 5, NULL, "KB200") == 0);
    QS_CHECK(same_compliance(&p, 5, &t999, NULL) == 0);
    QS_CHECK(same_compliance(&p, 1, NULL, "GONE") == 0);   /* shards sum to 0 */
    /* Complementary suppression happened (KB100 state 0 = k hidden). */
    QS_CHECK_EQ_INT(qs_storedb_compliance(p.pg, &res, &pol, &t500, "KB100", err, sizeof err), 0);
    QS_CHECK(res.n == 5 && res.rows[0].count == QS_STOREDB_SUPPRESSED &&
             res.rows[1].count == QS_STOREDB_SUPPRESSED && res.rows[2].count == 17);
    qs_storedb_compliance_free(&res);
    pair_close(&p);
}

static void
same_stats(struct pair *p, const qs_policy_t *pol)
{
    qs_storedb_stats_t a, b;
    char err[512];

    if (pol != NULL) {
        QS_CHECK_EQ_INT(qs_storedb_stats_published(p->lite, &a, pol, err, sizeof err), 0);
        QS_CHECK_EQ_INT(qs_storedb_stats_published(p->pg, &b, pol, err, sizeof err), 0);
    } else {
        QS_CHECK_EQ_INT(qs_storedb_stats(p->lite, &a, err, sizeof err), 0);
        QS_CHECK_EQ_INT(qs_storedb_stats(p->pg, &b, err, sizeof err), 0);
    }
    QS_CHECK_EQ_INT(a.stored, b.stored);
    QS_CHECK_EQ_INT(a.duplicates, b.duplicates);
    QS_CHECK_EQ_INT(a.clients, b.clients);
    QS_CHECK_EQ_INT(a.history_rows, b.history_rows);
    QS_CHECK_EQ_INT(a.partitions, b.partitions);
    QS_CHECK_EQ_INT(a.latest_rows, b.latest_rows);
    QS_CHECK_EQ_INT(a.n_rejected, b.n_rejected);
    QS_CHECK_EQ_INT(a.n_rejected_detail, b.n_rejected_detail);
    QS_CHECK_EQ_INT(a.n_retries, b.n_retries);
    for (size_t i = 0; i < a.n_rejected && i < b.n_rejected; i++) {
        QS_CHECK_STR(a.rejected[i].name, b.rejected[i].name);
        QS_CHECK_EQ_INT(a.rejected[i].value, b.rejected[i].value);
    }
    qs_storedb_stats_free(&a);
    qs_storedb_stats_free(&b);
}

static void
test_stats_on_postgresql_sum_the_shards_as_sqlite_counts(void)
{
    struct pair p = { 0 };
    qs_policy_t pol = policy_of(5);
    qs_storedb_stats_t st;
    char err[512];

    pair_open(&p, "rps");
    fill_fleet(&p);
    same_stats(&p, NULL);
    same_stats(&p, &pol);
    QS_CHECK_EQ_INT(qs_storedb_stats(p.pg, &st, err, sizeof err), 0);
    QS_CHECK_EQ_INT(st.stored, 40);
    QS_CHECK_EQ_INT(st.history_rows, 10);
    QS_CHECK_EQ_INT(st.partitions, 5);
    QS_CHECK_EQ_INT(st.latest_rows, 62);
    qs_storedb_stats_free(&st);

    /* The server ends the session (a restart, an administrator): the next
     * read reconnects instead of failing for ever (qs-web's worker lives on). */
    raw_exec(&p, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                 "datname = current_database() AND pid <> pg_backend_pid()");
    if (qs_storedb_stats(p.pg, &st, err, sizeof err) != 0) {
        fprintf(stderr, "  stats after the session ended: %s\n", err);
        QS_CHECK(0);
    }
    QS_CHECK_EQ_INT(st.latest_rows, 62);
    qs_storedb_stats_free(&st);
    same_compliance(&p, 5, NULL, NULL);
    pair_close(&p);
}

/* Both engines give the same lookup; returns the rows compared. */
static size_t
same_lookup(struct pair *p, int m, int d, int history)
{
    uint8_t mps[QS_PSEUDONYM_BYTES], dps[QS_PSEUDONYM_BYTES];
    qs_storedb_lookup_t a, b;
    char err[512];
    size_t n;

    ps_of(mps, m);
    ps_of(dps, d);
    QS_CHECK_EQ_INT(qs_storedb_lookup(p->lite, &a, mps, d ? dps : NULL, history, p->ks, err,
                                      sizeof err), 0);
    if (qs_storedb_lookup(p->pg, &b, mps, d ? dps : NULL, history, p->ks, err,
                          sizeof err) != 0) {
        fprintf(stderr, "  pg lookup: %s\n", err);
        QS_CHECK(0);
        qs_storedb_lookup_free(&a);
        return 0;
    }
    QS_CHECK_EQ_INT(a.n, b.n);
    for (size_t i = 0; i < a.n && i < b.n; i++) {
        QS_CHECK_EQ_INT(a.rows[i].topic_type, b.rows[i].topic_type);
        QS_CHECK_STR(a.rows[i].topic_id, b.rows[i].topic_id);
        QS_CHECK_EQ_INT(a.rows[i].state_id, b.rows[i].state_id);
        QS_CHECK_EQ_INT(a.rows[i].time_ms, b.rows[i].time_ms);
        QS_CHECK_EQ_INT(a.rows[i].report_ms, b.rows[i].report_ms);
        QS_CHECK_EQ_INT(a.rows[i].serial, b.rows[i].serial);
        QS_CHECK_EQ_INT(a.rows[i].details_state, b.rows[i].details_state);
        if (a.rows[i].details != NULL || b.rows[i].details != NULL)
            QS_CHECK_STR(a.rows[i].details, b.rows[i].details);
    }
    n = a.n;
    qs_storedb_lookup_free(&a);
    qs_storedb_lookup_free(&b);
    return n;
}

static void
test_lookup_on_postgresql_opens_details_as_sqlite_does(void)
{
    struct pair p = { 0 };
    uint8_t mps[QS_PSEUDONYM_BYTES];
    qs_storedb_lookup_t res;
    char err[512];
    int64_t day = qs_epoch_of(NOW_MS);

    pair_open(&p, "rpl");
    fill_fleet(&p);
    /* A partition registered without a table (a foreign writer): nothing to read. */
    lite_exec(&p, "INSERT INTO partitions(epoch, topic_type, rows) VALUES (19000, 500, 0)");
    raw_exec(&p, "INSERT INTO partitions VALUES (19000, 500, 0, 0)");
    QS_CHECK(same_lookup(&p, 7, 0, 0) > 0);
    QS_CHECK(same_lookup(&p, 7, 3, 0) > 0);
    QS_CHECK(same_lookup(&p, 7, 4, 0) == 0);
    QS_CHECK_EQ_INT(same_lookup(&p, 7, 0, 1), 6);
    QS_CHECK_EQ_INT(same_lookup(&p, 7, 3, 1), 5);
    QS_CHECK_EQ_INT(same_lookup(&p, 99, 0, 1), 0);
    ps_of(mps, 7);
    QS_CHECK_EQ_INT(qs_storedb_lookup(p.pg, &res, mps, NULL, 1, p.ks, err, sizeof err), 0);
    QS_CHECK(res.n == 6 && res.rows[0].details_state == QS_LOOKUP_DETAILS_OPEN &&
             strcmp(res.rows[0].details, "details of 20") == 0);
    qs_storedb_lookup_free(&res);
    /* A shredded key: both report the partition's details as shredded. */
    QS_CHECK_EQ_INT(qs_epochkeys_shred(p.ks, day - 1, 500, err, sizeof err), 0);
    QS_CHECK_EQ_INT(same_lookup(&p, 7, 0, 1), 6);
    QS_CHECK_EQ_INT(qs_storedb_lookup(p.pg, &res, mps, NULL, 1, NULL, err, sizeof err), 0);
    for (size_t i = 0; i < res.n; i++)
        QS_CHECK_EQ_INT(res.rows[i].details_state, QS_LOOKUP_DETAILS_SHREDDED);
    qs_storedb_lookup_free(&res);
    pair_close(&p);
}

/* The counts of the PostgreSQL store agree with its latest. */
static void
counts_exact(struct pair *p)
{
    int64_t missing = -1, stale = -1;
    char err[512];

    QS_CHECK_EQ_INT(qs_storedb_check_counts(p->pg, &missing, &stale, err, sizeof err), 0);
    QS_CHECK_EQ_INT(missing, 0);
    QS_CHECK_EQ_INT(stale, 0);
}

static void
test_expiry_on_postgresql_deletes_what_sqlite_deletes_and_keeps_counts_exact(void)
{
    struct pair p = { 0 };
    qs_storedb_t *dbs[2];
    int64_t del[2] = { 0 }, rows[2] = { 0 }, trimmed[2] = { 0 };
    int interrupted = 0;
    uint32_t own[1] = { 301 };
    qs_expire_topics_t rest = { 0, own, 1 };
    int64_t day = qs_epoch_of(NOW_MS), cutoff = NOW_MS - 30 * DAY_MS;
    char err[512];

    pair_open(&p, "rpe");
    fill_fleet(&p);
    dbs[0] = p.lite;
    dbs[1] = p.pg;
    for (int e = 0; e < 2; e++) {
        /* Batches of 3: several transactions, the last one short. */
        QS_CHECK_EQ_INT(qs_storedb_expire_latest(dbs[e], &del[e], &interrupted, &rest, cutoff,
                                                 3, NULL, err, sizeof err), 0);
        QS_CHECK_EQ_INT(qs_storedb_expire_partition(dbs[e], &rows[e], day - 40, 500, err,
                                                    sizeof err), 0);
        QS_CHECK_EQ_INT(qs_storedb_expire_history(dbs[e], &trimmed[e], day - 30, 500, cutoff,
                                                  err, sizeof err), 0);
    }
    QS_CHECK_EQ_INT(del[0], 10);
    QS_CHECK_EQ_INT(del[1], 10);
    QS_CHECK_EQ_INT(rows[0], 2);
    QS_CHECK_EQ_INT(rows[1], 2);
    QS_CHECK_EQ_INT(trimmed[0], 2);
    QS_CHECK_EQ_INT(trimmed[1], 2);
    counts_exact(&p);
    same_compliance(&p, 5, NULL, NULL);
    same_compliance(&p, 1, NULL, NULL);
    same_stats(&p, NULL);
    QS_CHECK_EQ_INT(same_lookup(&p, 7, 0, 1), 4);
    /* The fold leaves one row per group, none at 0, and the same answers. */
    QS_CHECK_EQ_INT(qs_storedb_retention_fold(p.pg, err, sizeof err), 0);
    QS_CHECK_EQ_INT(raw_int(&p, "SELECT count(*) FROM compliance_counts WHERE shard <> 0 "
                                "OR count = 0"), 0);
    QS_CHECK_EQ_INT(raw_int(&p, "SELECT count(*) FROM compliance_counts WHERE topic_id = "
                                "'GONE'"), 0);
    QS_CHECK_EQ_INT(raw_int(&p, "SELECT count(*) FROM counters WHERE shard <> 0"), 0);
    counts_exact(&p);
    same_compliance(&p, 5, NULL, NULL);
    same_stats(&p, NULL);
    /* An empty batch run and a stop flag set before it. */
    {
        volatile sig_atomic_t stop = 1;
        QS_CHECK_EQ_INT(qs_storedb_expire_latest(p.pg, &del[1], &interrupted, &rest, cutoff, 3,
                                                 &stop, err, sizeof err), 0);
        QS_CHECK_EQ_INT(interrupted, 1);
        QS_CHECK_EQ_INT(del[1], 0);
    }
    pair_close(&p);
}

static void
test_forget_on_postgresql_deletes_the_machine_everywhere_with_its_counts(void)
{
    struct pair p = { 0 };
    uint8_t mps[QS_PSEUDONYM_BYTES], dps[QS_PSEUDONYM_BYTES];
    qs_forget_counts_t a, b;
    char err[512];

    pair_open(&p, "rpf");
    fill_fleet(&p);
    ps_of(mps, 7);
    ps_of(dps, 3);
    QS_CHECK_EQ_INT(qs_storedb_forget_machine(p.lite, &a, mps, dps, err, sizeof err), 0);
    if (qs_storedb_forget_machine(p.pg, &b, mps, dps, err, sizeof err) != 0) {
        fprintf(stderr, "  pg forget: %s\n", err);
        QS_CHECK(0);
    }
    QS_CHECK_EQ_INT(a.latest_rows, b.latest_rows);
    QS_CHECK_EQ_INT(a.history_rows, b.history_rows);
    QS_CHECK_EQ_INT(a.partitions, b.partitions);
    QS_CHECK_EQ_INT(b.history_rows, 5);
    QS_CHECK_EQ_INT(b.partitions, 3);
    QS_CHECK(b.latest_rows > 0);
    QS_CHECK_EQ_INT(b.scrubbed, 1);
    QS_CHECK_EQ_INT(same_lookup(&p, 7, 0, 0), 0);
    QS_CHECK_EQ_INT(same_lookup(&p, 7, 0, 1), 1);    /* the event of another domain */
    QS_CHECK_EQ_INT(raw_int(&p, "SELECT count(*) FROM latest WHERE get_byte(machine_ps, 0) = "
                                "165 AND get_byte(machine_ps, 1) = 7"), 0);
    counts_exact(&p);
    same_compliance(&p, 5, NULL, NULL);
    same_compliance(&p, 1, NULL, NULL);
    same_stats(&p, NULL);
    pair_close(&p);
}

struct seen {
    int64_t rows, not_ps, expired, partitions, columns;
    char last_column[128];
};

static void
on_latest(void *ctx, const qs_check_latest_t *t)
{
    struct seen *s = ctx;

    s->rows += t->rows * 1000 + t->topic_type;
    s->not_ps += t->not_pseudonym;
    s->expired += t->expired;
}

static void
on_partition(void *ctx, const qs_check_partition_t *part)
{
    struct seen *s = ctx;

    QS_CHECK(part->error == NULL);
    s->partitions += part->epoch * 1000 + part->topic_type;
    s->rows += part->rows;
    s->not_ps += part->not_pseudonym;
    s->expired += part->expired;
}

static void
on_column(void *ctx, const char *table, const char *column, const char *type)
{
    struct seen *s = ctx;

    s->columns++;
    snprintf(s->last_column, sizeof s->last_column, "%s.%s %s", table, column, type);
}

static void
on_name(void *ctx, const char *table, const char *column, int64_t rows)
{
    struct seen *s = ctx;

    s->rows += rows;
    snprintf(s->last_column, sizeof s->last_column, "%s.%s", table, column);
}

/* verify's measurements of both engines; returns PostgreSQL's in *pg. */
static void
same_checks(struct pair *p, struct seen *pg)
{
    qs_policy_t pol = policy_of(5);
    struct seen s[2];
    qs_storedb_t *dbs[2] = { p->lite, p->pg };
    char err[512];

    memset(s, 0, sizeof s);
    for (int e = 0; e < 2; e++) {
        QS_CHECK_EQ_INT(qs_storedb_check_latest(dbs[e], on_latest, &s[e], &pol, NOW_MS, 0, err,
                                                sizeof err), 0);
        QS_CHECK_EQ_INT(qs_storedb_check_partitions(dbs[e], on_partition, &s[e], &pol, NOW_MS,
                                                    0, err, sizeof err), 0);
        QS_CHECK_EQ_INT(qs_storedb_check_text_columns(dbs[e], on_column, &s[e], err,
                                                      sizeof err), 0);
        QS_CHECK_EQ_INT(qs_storedb_check_storage(dbs[e], err, sizeof err), 0);
    }
    QS_CHECK_EQ_INT(s[0].rows, s[1].rows);
    QS_CHECK_EQ_INT(s[0].not_ps, s[1].not_ps);
    QS_CHECK_EQ_INT(s[0].expired, s[1].expired);
    QS_CHECK_EQ_INT(s[0].partitions, s[1].partitions);
    QS_CHECK_EQ_INT(s[0].columns, s[1].columns);
    *pg = s[1];
}

static void
test_verify_checks_on_postgresql_find_what_they_find_on_sqlite(void)
{
    struct pair p = { 0 };
    struct seen s;
    int64_t groups = 0, missing = 0, stale = 0;
    char err[512];

    pair_open(&p, "rpv");
    fill_fleet(&p);
    lite_exec(&p, "INSERT INTO partitions(epoch, topic_type, rows) VALUES (19000, 500, 0)");
    raw_exec(&p, "INSERT INTO partitions VALUES (19000, 500, 0, 0)");
    same_checks(&p, &s);
    QS_CHECK_EQ_INT(s.columns, 0);
    QS_CHECK_EQ_INT(s.not_ps, 0);
    QS_CHECK(s.expired > 0);     /* 10 latest rows, 3 + 1 history rows */
    counts_exact(&p);

    /* A name column and a name where a pseudonym belongs, on both. */
    lite_exec(&p, "ALTER TABLE latest ADD COLUMN machine_name TEXT");
    raw_exec(&p, "ALTER TABLE latest ADD COLUMN machine_name text");
    lite_exec(&p, "UPDATE latest SET machine_ps = CAST('host-a' AS BLOB) WHERE client_id = 2");
    raw_exec(&p, "UPDATE latest SET machine_ps = 'host-a'::bytea WHERE client_id = 2");
    same_checks(&p, &s);
    QS_CHECK_EQ_INT(s.columns, 1);
    QS_CHECK_STR(s.last_column, "latest.machine_name text");
    QS_CHECK_EQ_INT(s.not_ps, 1);

    /* Counts that disagree with latest are found and rebuilt. */
    raw_exec(&p, "UPDATE compliance_counts SET count = count + 1 WHERE topic_id = 'DEP-1' "
                 "AND shard = 3");
    raw_exec(&p, "INSERT INTO compliance_counts VALUES (500, 'STALE', 1, 2, 4)");
    QS_CHECK_EQ_INT(qs_storedb_check_counts(p.pg, &missing, &stale, err, sizeof err), 0);
    QS_CHECK_EQ_INT(missing, 1);
    QS_CHECK_EQ_INT(stale, 1);
    QS_CHECK_EQ_INT(qs_storedb_counts_repair(p.pg, &groups, err, sizeof err), 0);
    QS_CHECK_EQ_INT(groups, 9);
    counts_exact(&p);
    same_compliance(&p, 5, NULL, NULL);

    /* Raw names: searched in PostgreSQL's rows (text and bytea), not on
     * SQLite, whose file verify scans byte by byte. */
    {
        struct seen hits = { 0 };
        int searched = -1;

        raw_exec(&p, "UPDATE latest SET machine_name = 'Host-B' WHERE client_id IN (3, 4)");
        QS_CHECK_EQ_INT(qs_storedb_check_name(p.lite, "host-a", &searched, on_name, &hits, err,
                                              sizeof err), 0);
        QS_CHECK_EQ_INT(searched, 0);
        QS_CHECK_EQ_INT(qs_storedb_check_name(p.pg, "HOST-A", &searched, on_name, &hits, err,
                                              sizeof err), 0);
        QS_CHECK_EQ_INT(searched, 1);
        QS_CHECK_EQ_INT(hits.rows, 1);
        QS_CHECK_STR(hits.last_column, "latest.machine_ps");
        QS_CHECK_EQ_INT(qs_storedb_check_name(p.pg, "host-b", &searched, on_name, &hits, err,
                                              sizeof err), 0);
        QS_CHECK_EQ_INT(hits.rows, 3);
        QS_CHECK_STR(hits.last_column, "latest.machine_name");
        QS_CHECK_EQ_INT(qs_storedb_check_name(p.pg, "nobody-here", &searched, on_name, &hits,
                                              err, sizeof err), 0);
        QS_CHECK_EQ_INT(hits.rows, 3);
    }
    pair_close(&p);
}

/* The retention lock of a connection that ended is released once its
 * server process has seen the end: asynchronous, so poll for at most 20 s. */
static int
trylock_eventually(qs_storedb_t *db)
{
    char err[512];
    int got = 0;

    for (int i = 0; i < 400 && (got = qs_storedb_retention_trylock(db, err, sizeof err)) == 0;
         i++)
        usleep(50000);
    return got;
}

static void
test_one_retention_pass_at_a_time_on_postgresql(void)
{
    struct pair p = { 0 };
    qs_storedb_t *second;
    char err[512];

    pair_open(&p, "rpk");
    second = qs_storedb_open(pg_url, 0, err, sizeof err);
    QS_ASSERT(second != NULL);
    QS_CHECK_EQ_INT(qs_storedb_retention_trylock(p.lite, err, sizeof err), 1);   /* SQLite */
    /* An earlier test's connection may still hold it for a moment. */
    QS_CHECK_EQ_INT(trylock_eventually(p.pg), 1);
    QS_CHECK_EQ_INT(qs_storedb_retention_trylock(second, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_storedb_retention_trylock(second, err, sizeof err), 0);
    qs_storedb_retention_unlock(p.pg);
    QS_CHECK_EQ_INT(qs_storedb_retention_trylock(second, err, sizeof err), 1);
    QS_CHECK_EQ_INT(qs_storedb_retention_trylock(p.pg, err, sizeof err), 0);
    /* A holder whose connection ends releases it (once its server process
     * has seen the end: asynchronous, so poll, for at most 20 s). */
    qs_storedb_destroy(&second);
    QS_CHECK_EQ_INT(trylock_eventually(p.pg), 1);
    qs_storedb_retention_unlock(p.pg);
    pair_close(&p);
}

int
main(void)
{
    pg_url = getenv("QS_TEST_PG_URL");
    if (pg_url == NULL || pg_url[0] == '\0') {
        fprintf(stderr, "QS_TEST_PG_URL is not set: run tests/pg/read_pg.sh (it starts a "
                "server)\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_compliance_on_postgresql_equals_sqlite_under_every_filter);
    QS_RUN(test_stats_on_postgresql_sum_the_shards_as_sqlite_counts);
    QS_RUN(test_lookup_on_postgresql_opens_details_as_sqlite_does);
    QS_RUN(test_expiry_on_postgresql_deletes_what_sqlite_deletes_and_keeps_counts_exact);
    QS_RUN(test_forget_on_postgresql_deletes_the_machine_everywhere_with_its_counts);
    QS_RUN(test_verify_checks_on_postgresql_find_what_they_find_on_sqlite);
    QS_RUN(test_one_retention_pass_at_a_time_on_postgresql);
    return qs_test_summary();
}
