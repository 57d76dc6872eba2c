/* test_query.c - store/'s read side: compliance counts with k-suppression
 * (complementary suppression, the same under every filter; the plan of
 * their query), the published total, statistics and the merge of refusals
 * counted elsewhere, and lookup of one machine's current states and
 * retained events with their details opened, shredded or unreadable.
 *
 * Each test fills a fresh store.db as qs-store would (rows in latest, which
 * the triggers count into compliance_counts; history partitions whose
 * details are sealed under their epoch key) and reads it through the public
 * API only, apart from the EXPLAIN check, which needs the private SQL.
 */
#include "qs_epochkeys.h"
#include "qs_limits.h"
#include "qs_policy.h"
#include "qs_store_check.h"
#include "qs_store_lookup.h"
#include "qs_store_query.h"
#include "qs_storedoc.h"
#include "qs_test.h"
#include "query_sqlite.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[512];

static qs_storedb_t *
open_store(const char *tag)
{
    char path[700], err[256];
    qs_storedb_t *s;

    qs_test_tmpdir(dir, sizeof dir, tag);
    snprintf(path, sizeof path, "%s/store.db", dir);
    s = qs_storedb_open(path, 1, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "cannot create %s: %s\n", path, err);
        exit(2);
    }
    return s;
}

static void
close_store(qs_storedb_t **s)
{
    char cmd[600];

    qs_storedb_destroy(s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void
exec(qs_storedb_t *s, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(qs_storedb_sqlite(s), sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sql failed: %s: %s\n", sql, err ? err : "?");
        exit(2);
    }
}

/* n rows in latest for (topic_type, topic_id, state_id), client ids from
 * first_client, all for machine pseudonym machine (its first byte; 0: NULL). */
static void
add_latest(qs_storedb_t *s, int64_t first_client, int n, uint32_t topic_type,
           const char *topic_id, uint32_t state_id, uint8_t machine, uint8_t domain)
{
    uint8_t mps[QS_PSEUDONYM_BYTES] = { machine }, dps[QS_PSEUDONYM_BYTES] = { domain };
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(qs_storedb_sqlite(s), "INSERT INTO latest(client_id, topic_type, "
                           "topic_id, state_id, time_ms, report_ms, machine_ps, domain_ps) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?5 + 1000, ?6, ?7)", -1, &st,
                           NULL) != SQLITE_OK)
        exit(2);
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, first_client + i);
        sqlite3_bind_int64(st, 2, topic_type);
        sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, state_id);
        sqlite3_bind_int64(st, 5, 1767225600000LL + i);
        if (machine != 0)
            sqlite3_bind_blob(st, 6, mps, sizeof mps, SQLITE_STATIC);
        if (domain != 0)
            sqlite3_bind_blob(st, 7, dps, sizeof dps, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            exit(2);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

/* The data set every compliance test uses (k = 5):
 *   500 KB100  state 0 x5 (= k, but the smallest remaining: complementary),
 *              1 x4 (suppressed), 2 x17, 3 x6
 *   500 KB200  state 3 x2 (every group below k: the topic is not shown)
 *   500 "=HYPERLINK(\"x\")"  state 1 x5
 *   500 "a,\"b"   state 2 x5
 *   301 DEP-1  state 4 x9 */
static qs_storedb_t *
open_filled(const char *tag)
{
    qs_storedb_t *s = open_store(tag);

    exec(s, "BEGIN");
    add_latest(s, 1, 5, 500, "KB100", 0, 0, 0);
    add_latest(s, 100, 4, 500, "KB100", 1, 0, 0);
    add_latest(s, 200, 17, 500, "KB100", 2, 0, 0);
    add_latest(s, 300, 6, 500, "KB100", 3, 0, 0);
    add_latest(s, 400, 2, 500, "KB200", 3, 0, 0);
    add_latest(s, 500, 5, 500, "=HYPERLINK(\"x\")", 1, 0, 0);
    add_latest(s, 600, 5, 500, "a,\"b", 2, 0, 0);
    add_latest(s, 700, 9, 301, "DEP-1", 4, 0, 0);
    exec(s, "COMMIT");
    return s;
}

static qs_policy_t
policy_k(int k)
{
    qs_policy_t p;

    qs_policy_defaults(&p);
    p.k = k;
    return p;
}

static void
test_compliance_groups_and_suppresses_below_k(void)
{
    qs_storedb_t *s = open_filled("qcg");
    qs_storedb_compliance_t res;
    qs_policy_t k5 = policy_k(5), k1 = policy_k(1);
    char err[256];
    uint32_t t500 = 500;

    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &k5, NULL, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.k, 5);
    QS_CHECK_EQ_INT(res.n, 11);
    /* Ordered by (topic_type, topic_id, state_id), each topic's no-report
     * cell last; scope: 9 machines of type 301, 44 of type 500. */
    QS_CHECK_EQ_INT(res.rows[0].topic_type, 301);
    QS_CHECK_STR(res.rows[0].topic_id, "DEP-1");
    QS_CHECK_EQ_INT(res.rows[0].count, 9);
    QS_CHECK_EQ_INT(res.rows[0].scope, 9);
    QS_CHECK(res.rows[1].no_report && res.rows[1].count == 0);   /* 0 is shown */
    QS_CHECK_STR(res.rows[2].topic_id, "=HYPERLINK(\"x\")");
    QS_CHECK_EQ_INT(res.rows[2].count, 5);
    QS_CHECK_EQ_INT(res.rows[2].scope, 44);
    QS_CHECK(res.rows[3].no_report && res.rows[3].count == 39);
    QS_CHECK_STR(res.rows[4].topic_id, "KB100");
    QS_CHECK_EQ_INT(res.rows[4].state_id, 0);
    QS_CHECK_EQ_INT(res.rows[4].count, QS_STOREDB_SUPPRESSED);  /* complementary */
    QS_CHECK_EQ_INT(res.rows[5].state_id, 1);
    QS_CHECK_EQ_INT(res.rows[5].count, QS_STOREDB_SUPPRESSED);  /* 4 < k */
    QS_CHECK_EQ_INT(res.rows[6].count, 17);
    QS_CHECK_EQ_INT(res.rows[7].count, 6);
    QS_CHECK(res.rows[8].no_report && res.rows[8].count == 44 - 32);
    QS_CHECK_EQ_INT(res.rows[8].state_id, QS_STOREDB_NO_REPORT_STATE);
    QS_CHECK_STR(res.rows[9].topic_id, "a,\"b");               /* KB200: not shown */
    QS_CHECK(res.rows[10].no_report && res.rows[10].count == 39);
    for (size_t i = 0; i < res.n; i++)
        QS_CHECK(strcmp(res.rows[i].topic_id, "KB200") != 0);
    qs_storedb_compliance_free(&res);
    QS_CHECK(res.rows == NULL && res.n == 0);

    /* k = 1 suppresses nothing; a topic-type filter keeps only that type. */
    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &k1, &t500, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 11);
    for (size_t i = 0; i < res.n; i++) {
        QS_CHECK_EQ_INT(res.rows[i].topic_type, 500);
        QS_CHECK(res.rows[i].count > 0);
    }
    qs_storedb_compliance_free(&res);

    /* A topic id without a type: every type, one index range each. */
    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &k5, NULL, "KB100", err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 5);
    qs_storedb_compliance_free(&res);
    close_store(&s);
}

static void
test_compliance_k_comes_from_the_policy_with_a_floor_of_the_default(void)
{
    qs_storedb_t *s = open_filled("qck");
    qs_storedb_compliance_t res;
    qs_policy_t p = policy_k(2);
    char err[256];
    uint32_t t500 = 500, t300 = 300;

    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &p, &t500, "KB200", err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.k, 2);
    QS_CHECK_EQ_INT(res.n, 2);
    QS_CHECK_EQ_INT(res.rows[0].count, 2);
    QS_CHECK_EQ_INT(res.rows[1].count, 42);
    qs_storedb_compliance_free(&res);

    p.k = 3;   /* KB200's only group is below k: the topic id is not returned */
    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &p, &t500, "KB200", err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 0);
    qs_storedb_compliance_free(&res);

    /* A policy without a usable k cannot turn suppression off. */
    p.k = 0;
    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &p, NULL, "KB100", err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.k, QS_DEFAULT_K);
    QS_CHECK_EQ_INT(res.n, 5);
    QS_CHECK_EQ_INT(res.rows[1].count, QS_STOREDB_SUPPRESSED);
    qs_storedb_compliance_free(&res);

    /* A filter that matches nothing is an empty result, not an error. */
    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &p, &t300, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 0);
    qs_storedb_compliance_free(&res);
    close_store(&s);
}

/* The suppression pattern of every topic, as "type/id/state=count|-" lines. */
static void
pattern(char *out, size_t out_len, const qs_storedb_compliance_t *res)
{
    out[0] = '\0';
    for (size_t i = 0; i < res->n; i++) {
        size_t len = strlen(out);
        if (res->rows[i].no_report)
            snprintf(out + len, out_len - len, "%u/%s/NR=%lld;", res->rows[i].topic_type,
                     res->rows[i].topic_id, (long long)res->rows[i].count);
        else
            snprintf(out + len, out_len - len, "%u/%s/%u=%lld;", res->rows[i].topic_type,
                     res->rows[i].topic_id, res->rows[i].state_id,
                     (long long)res->rows[i].count);
    }
}

/* k = 5; type 500 has 109 machines, type 301 18 (no-report cells: NR).
 * T1: 3, 7, 9, 20, NR 70 -> one primary: 7 (smallest remaining) hidden too.
 * T2: 2, 3, 50, NR 54 -> two primaries: nothing more. T3: 1, 4 -> all
 * below k: dropped. T4: 4, 6, NR 99 -> 6 hidden with 4, the topic still
 * shown. T5 (type 301): 8, 8, 2, NR 0 -> the tie goes to the first in
 * state order; a no-report cell of 0 is shown. */
static void
test_compliance_complementary_suppression_is_the_same_under_every_filter(void)
{
    qs_storedb_t *s = open_store("qcc");
    qs_storedb_compliance_t all, one;
    qs_policy_t k5 = policy_k(5);
    char err[256], pat_all[2048], pat_one[2048], want[512];
    uint32_t t500 = 500, t301 = 301;
    const char *ids[] = { "T1", "T2", "T3", "T4", "T5" };
    int hidden_t1 = 0;

    exec(s, "BEGIN");
    add_latest(s, 1, 3, 500, "T1", 0, 0, 0);
    add_latest(s, 10, 7, 500, "T1", 1, 0, 0);
    add_latest(s, 20, 9, 500, "T1", 2, 0, 0);
    add_latest(s, 30, 20, 500, "T1", 3, 0, 0);
    add_latest(s, 100, 2, 500, "T2", 0, 0, 0);
    add_latest(s, 110, 3, 500, "T2", 1, 0, 0);
    add_latest(s, 120, 50, 500, "T2", 2, 0, 0);
    add_latest(s, 200, 1, 500, "T3", 1, 0, 0);
    add_latest(s, 210, 4, 500, "T3", 2, 0, 0);
    add_latest(s, 300, 4, 500, "T4", 2, 0, 0);
    add_latest(s, 310, 6, 500, "T4", 3, 0, 0);
    add_latest(s, 400, 8, 301, "T5", 4, 0, 0);
    add_latest(s, 410, 8, 301, "T5", 5, 0, 0);
    add_latest(s, 420, 2, 301, "T5", 6, 0, 0);
    exec(s, "COMMIT");

    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &all, &k5, NULL, NULL, err, sizeof err), 0);
    pattern(pat_all, sizeof pat_all, &all);
    QS_CHECK_STR(pat_all, "301/T5/4=-1;301/T5/5=8;301/T5/6=-1;301/T5/NR=0;"
                          "500/T1/0=-1;500/T1/1=-1;500/T1/2=9;500/T1/3=20;500/T1/NR=70;"
                          "500/T2/0=-1;500/T2/1=-1;500/T2/2=50;500/T2/NR=54;"
                          "500/T4/2=-1;500/T4/3=-1;500/T4/NR=99;");
    for (size_t i = 0; i < all.n; i++)
        hidden_t1 += strcmp(all.rows[i].topic_id, "T1") == 0 &&
                     all.rows[i].count == QS_STOREDB_SUPPRESSED;
    QS_CHECK_EQ_INT(hidden_t1, 2);
    /* Every filter returns exactly the unfiltered rows of its topics. */
    for (size_t t = 0; t < sizeof ids / sizeof ids[0]; t++) {
        for (int with_type = 0; with_type < 2; with_type++) {
            uint32_t *type = with_type ? (t == 4 ? &t301 : &t500) : NULL;
            QS_CHECK_EQ_INT(qs_storedb_compliance(s, &one, &k5, type, ids[t], err, sizeof err),
                            0);
            pattern(pat_one, sizeof pat_one, &one);
            snprintf(want, sizeof want, "/%s/", ids[t]);
            for (char *line = pat_one; *line; line = strchr(line, ';') + 1) {
                char row[128];
                size_t n = (size_t)(strchr(line, ';') - line) + 1;
                snprintf(row, sizeof row, "%.*s", (int)n, line);
                QS_CHECK(strstr(row, want) != NULL);
                QS_CHECK(strstr(pat_all, row) != NULL);
            }
            if (t == 2)
                QS_CHECK_EQ_INT(one.n, 0);   /* T3: all below k, under every filter */
            qs_storedb_compliance_free(&one);
        }
    }
    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &one, &k5, &t500, NULL, err, sizeof err), 0);
    pattern(pat_one, sizeof pat_one, &one);
    QS_CHECK(strstr(pat_all, pat_one) != NULL);
    qs_storedb_compliance_free(&one);
    qs_storedb_compliance_free(&all);
    close_store(&s);
}

/* The pattern of one topic in res ("" when absent). */
static void
topic_pattern(char *out, size_t out_len, const qs_storedb_compliance_t *res, const char *id)
{
    qs_storedb_compliance_t one = *res;
    size_t first = res->n, n = 0;

    for (size_t i = 0; i < res->n; i++) {
        if (strcmp(res->rows[i].topic_id, id) == 0) {
            if (first == res->n)
                first = i;
            n++;
        }
    }
    one.rows = res->rows + (first < res->n ? first : 0);
    one.n = n;
    pattern(out, out_len, &one);
}

/* k = 5, type 500 with 100 machines, each topic's states from its own
 * clients and the rest of the 100 reporting other topics only:
 *   A: 10, 20          NR 70 -> nothing hidden, percents of 100
 *   B: 10, 87          NR 3  -> NR primary, 10 hidden with it
 *   C: 2, 30           NR 68 -> 2 primary, 30 (smallest >= k) hidden
 *   D: 2, 91, 7        NR 0  -> 2 primary, 7 hidden; NR 0 is no complement
 *   E: 60, 38          NR 2  -> NR primary, 38 hidden
 *   F: 4, 4, 92        NR 0  -> 4 + 4 = 2 (k - 1) would make both 4: 92 too
 *   G: 1, 1, 98        NR 0  -> 1 + 1 = 2 cells would make both 1: 98 too
 * In every topic, the hidden cells number 0 or >= 2: the scope minus the
 * shown cells is their sum, never one of them. */
static void
test_compliance_no_report_cell_takes_part_in_suppression(void)
{
    qs_storedb_t *s = open_store("qnr");
    qs_storedb_compliance_t res;
    qs_policy_t k5 = policy_k(5);
    char err[256], pat[512];

    exec(s, "BEGIN");
    add_latest(s, 1, 100, 500, "Z", 1, 0, 0);          /* the scope: 100 machines */
    add_latest(s, 1, 10, 500, "A", 2, 0, 0);
    add_latest(s, 11, 20, 500, "A", 3, 0, 0);
    add_latest(s, 1, 10, 500, "B", 2, 0, 0);
    add_latest(s, 11, 87, 500, "B", 3, 0, 0);
    add_latest(s, 1, 2, 500, "C", 2, 0, 0);
    add_latest(s, 3, 30, 500, "C", 3, 0, 0);
    add_latest(s, 1, 2, 500, "D", 1, 0, 0);
    add_latest(s, 3, 91, 500, "D", 2, 0, 0);
    add_latest(s, 94, 7, 500, "D", 3, 0, 0);
    add_latest(s, 1, 4, 500, "F", 1, 0, 0);
    add_latest(s, 5, 4, 500, "F", 2, 0, 0);
    add_latest(s, 9, 92, 500, "F", 3, 0, 0);
    add_latest(s, 1, 1, 500, "G", 1, 0, 0);
    add_latest(s, 2, 1, 500, "G", 2, 0, 0);
    add_latest(s, 3, 98, 500, "G", 3, 0, 0);
    add_latest(s, 1, 60, 500, "E", 2, 0, 0);
    add_latest(s, 61, 38, 500, "E", 3, 0, 0);
    exec(s, "COMMIT");
    QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &k5, NULL, NULL, err, sizeof err), 0);
    for (size_t i = 0; i < res.n; i++)
        QS_CHECK_EQ_INT(res.rows[i].scope, 100);
    topic_pattern(pat, sizeof pat, &res, "A");
    QS_CHECK_STR(pat, "500/A/2=10;500/A/3=20;500/A/NR=70;");
    topic_pattern(pat, sizeof pat, &res, "B");
    QS_CHECK_STR(pat, "500/B/2=-1;500/B/3=87;500/B/NR=-1;");
    topic_pattern(pat, sizeof pat, &res, "C");
    QS_CHECK_STR(pat, "500/C/2=-1;500/C/3=-1;500/C/NR=68;");
    topic_pattern(pat, sizeof pat, &res, "D");
    QS_CHECK_STR(pat, "500/D/1=-1;500/D/2=91;500/D/3=-1;500/D/NR=0;");
    topic_pattern(pat, sizeof pat, &res, "E");
    QS_CHECK_STR(pat, "500/E/2=60;500/E/3=-1;500/E/NR=-1;");
    topic_pattern(pat, sizeof pat, &res, "F");
    QS_CHECK_STR(pat, "500/F/1=-1;500/F/2=-1;500/F/3=-1;500/F/NR=0;");
    topic_pattern(pat, sizeof pat, &res, "G");
    QS_CHECK_STR(pat, "500/G/1=-1;500/G/2=-1;500/G/3=-1;500/G/NR=0;");
    qs_storedb_compliance_free(&res);
    close_store(&s);
}

/* Random fleets: whatever the counts, every cell with 0 < count < k is
 * hidden, a topic never shows exactly one hidden cell (so scope minus the
 * shown cells never is a suppressed count), what subtraction yields is a
 * sum no bound splits (>= k, not all 1, not all k - 1), and with nothing
 * hidden the cells add up to the scope. */
static void
test_compliance_no_suppressed_count_follows_from_the_scope(void)
{
    qs_policy_t k5 = policy_k(5);
    char err[256];
    unsigned seed = 12345;

    for (int round = 0; round < 8; round++) {
        qs_storedb_t *s = open_store("qdf");
        qs_storedb_compliance_t res;
        int64_t client = 1, exact[64];
        char id[16];
        size_t i = 0;

        exec(s, "BEGIN");
        for (int t = 0; t < 12; t++) {
            snprintf(id, sizeof id, "U%02d", t);
            for (uint32_t st = 0; st < 4; st++) {
                int n = (int)(rand_r(&seed) % 12);   /* 0..11: around k */
                add_latest(s, client, n, 500, id, st, 0, 0);
                client += n;
            }
        }
        add_latest(s, client, (int)(rand_r(&seed) % 8), 500, "ZZZ", 1, 0, 0);
        exec(s, "COMMIT");
        (void)exact;
        QS_CHECK_EQ_INT(qs_storedb_compliance(s, &res, &k5, NULL, NULL, err, sizeof err), 0);
        while (i < res.n) {
            size_t j = i, hidden = 0;
            int64_t sum = 0;
            while (j < res.n && strcmp(res.rows[j].topic_id, res.rows[i].topic_id) == 0) {
                int64_t c = res.rows[j].count;
                QS_CHECK(c == QS_STOREDB_SUPPRESSED || c == 0 || c >= 5);
                hidden += c == QS_STOREDB_SUPPRESSED;
                sum += c > 0 ? c : 0;
                j++;
            }
            QS_CHECK(res.rows[j - 1].no_report);
            QS_CHECK(hidden == 0 || hidden >= 2);
            if (hidden == 0) {
                QS_CHECK_EQ_INT(sum, res.rows[i].scope);
            } else {
                /* What subtraction yields: H over the hidden cells. */
                int64_t h = res.rows[i].scope - sum, m = (int64_t)hidden;
                QS_CHECK(h >= 5 && h != m && h != m * 4);
            }
            i = j;
        }
        qs_storedb_compliance_free(&res);
        close_store(&s);
    }
}

static void
test_percent_is_rounded_half_up_to_two_decimals(void)
{
    QS_CHECK(qs_storedoc_percent(1, 3) == 33.33);
    QS_CHECK(qs_storedoc_percent(2, 3) == 66.67);
    QS_CHECK(qs_storedoc_percent(1, 8) == 12.5);
    QS_CHECK(qs_storedoc_percent(1, 800) == 0.13);
    QS_CHECK(qs_storedoc_percent(7, 7) == 100.0);
    QS_CHECK(qs_storedoc_percent(0, 7) == 0.0);
    QS_CHECK(qs_storedoc_percent(3, 0) == 0.0);
}

static int64_t
scope_of_type(qs_storedb_t *s, uint32_t topic_type)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;

    if (sqlite3_prepare_v2(qs_storedb_sqlite(s), "SELECT machines FROM scope_counts "
                           "WHERE topic_type = ?1", -1, &st, NULL) != SQLITE_OK)
        exit(2);
    sqlite3_bind_int64(st, 1, topic_type);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* A machine is counted once per topic type however many topics it
 * reports, leaves the scope with its last row of the type, moves with a
 * row given to another client; verify sees a wrong count and the repair
 * rebuilds it. */
static void
test_scope_counts_machines_once_and_is_checked_and_repaired(void)
{
    qs_storedb_t *s = open_store("qsc");
    int64_t wrong = -1, groups = 0;
    char err[256];

    exec(s, "BEGIN");
    add_latest(s, 1, 10, 500, "KB1", 2, 0, 0);
    add_latest(s, 1, 10, 500, "KB2", 3, 0, 0);    /* the same 10 machines */
    add_latest(s, 5, 10, 500, "KB3", 3, 0, 0);    /* 4 more: 14 */
    add_latest(s, 1, 3, 301, "DEP", 4, 0, 0);
    exec(s, "COMMIT");
    QS_CHECK_EQ_INT(scope_of_type(s, 500), 14);
    QS_CHECK_EQ_INT(scope_of_type(s, 301), 3);
    exec(s, "UPDATE latest SET state_id = 1 WHERE topic_type = 500");   /* no move */
    exec(s, "DELETE FROM latest WHERE client_id = 1 AND topic_id = 'KB1'");
    QS_CHECK_EQ_INT(scope_of_type(s, 500), 14);                       /* KB2, KB3 left */
    exec(s, "DELETE FROM latest WHERE client_id = 1 AND topic_type = 500");
    QS_CHECK_EQ_INT(scope_of_type(s, 500), 13);
    exec(s, "UPDATE latest SET client_id = 99 WHERE client_id = 2 AND topic_id = 'KB1'");
    QS_CHECK_EQ_INT(scope_of_type(s, 500), 14);                       /* 99 is new; 2 keeps KB2 */
    exec(s, "DELETE FROM latest WHERE topic_type = 301");
    QS_CHECK_EQ_INT(scope_of_type(s, 301), 0);
    QS_CHECK_EQ_INT(qs_storedb_check_scope(s, &wrong, err, sizeof err), 0);
    QS_CHECK_EQ_INT(wrong, 0);

    exec(s, "UPDATE scope_counts SET machines = machines + 1; "
            "INSERT INTO scope_counts VALUES (700, 4)");
    QS_CHECK_EQ_INT(qs_storedb_check_scope(s, &wrong, err, sizeof err), 0);
    QS_CHECK_EQ_INT(wrong, 2);
    QS_CHECK_EQ_INT(qs_storedb_counts_repair(s, &groups, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_storedb_check_scope(s, &wrong, err, sizeof err), 0);
    QS_CHECK_EQ_INT(wrong, 0);
    QS_CHECK_EQ_INT(scope_of_type(s, 500), 14);
    close_store(&s);
}

static void
test_stats_published_total_leaves_the_suppressed_cells_out(void)
{
    qs_storedb_t *s = open_filled("qsp");
    qs_storedb_stats_t full, pub;
    qs_policy_t k5 = policy_k(5), k1 = policy_k(1);
    char err[256];

    QS_CHECK_EQ_INT(qs_storedb_stats(s, &full, err, sizeof err), 0);
    QS_CHECK_EQ_INT(full.latest_rows, 5 + 4 + 17 + 6 + 2 + 5 + 5 + 9);
    QS_CHECK_EQ_INT(qs_storedb_stats_published(s, &pub, &k5, err, sizeof err), 0);
    /* Published: DEP-1 9, =HYPERLINK 5, KB100 17 + 6, a,"b 5. */
    QS_CHECK_EQ_INT(pub.latest_rows, 9 + 5 + 17 + 6 + 5);
    QS_CHECK_EQ_INT(pub.stored, full.stored);
    QS_CHECK_EQ_INT(pub.clients, full.clients);
    qs_storedb_stats_free(&pub);
    QS_CHECK_EQ_INT(qs_storedb_stats_published(s, &pub, &k1, err, sizeof err), 0);
    QS_CHECK_EQ_INT(pub.latest_rows, full.latest_rows);   /* nothing suppressed */
    qs_storedb_stats_free(&pub);
    qs_storedb_stats_free(&full);
    close_store(&s);
}

static void
test_compliance_query_reads_the_counts_in_key_order(void)
{
    qs_storedb_t *s = open_filled("qcp");

    for (int v = 0; v < 3; v++) {
        char sql[1024], plan[2048] = "";
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s",
                 qs_storedb_compliance_sql(v >= 1, v >= 2));
        QS_CHECK_EQ_INT(sqlite3_prepare_v2(qs_storedb_sqlite(s), sql, -1, &st, NULL),
                        SQLITE_OK);
        while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
            strncat(plan, (const char *)sqlite3_column_text(st, 3),
                    sizeof plan - strlen(plan) - 2);
            strcat(plan, ";");
        }
        sqlite3_finalize(st);
        if (strstr(plan, "compliance_counts") == NULL || strstr(plan, "latest") != NULL ||
            strstr(plan, "TEMP B-TREE") != NULL || (v > 0 && strstr(plan, "SEARCH") == NULL))
            fprintf(stderr, "  plan %d: %s\n", v, plan);
        QS_CHECK(strstr(plan, "compliance_counts") != NULL);
        QS_CHECK(strstr(plan, "latest") == NULL);
        QS_CHECK(strstr(plan, "TEMP B-TREE") == NULL);
        if (v > 0)   /* a filter is a key range, not a scan */
            QS_CHECK(strstr(plan, "SEARCH") != NULL);
    }
    close_store(&s);
}

static void
test_stats_reads_counters_and_row_counts(void)
{
    qs_storedb_t *s = open_store("qsr");
    qs_storedb_stats_t st;
    char err[256];

    QS_CHECK_EQ_INT(qs_storedb_begin(s), 0);
    QS_CHECK_EQ_INT(qs_storedb_partition_ensure(s, 20454, 500), 0);
    QS_CHECK_EQ_INT(qs_storedb_partition_ensure(s, 20455, 500), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "stored", 42), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "duplicates", 3), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.BAD_MESSAGE", 4), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.CLOCK_SKEW", 1), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected_detail.STATE_OUT_OF_RANGE", 4), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.", 9), 0);   /* no name: ignored */
    QS_CHECK_EQ_INT(qs_storedb_commit(s), 0);
    exec(s, "UPDATE partitions SET rows = 10 WHERE epoch = 20454;"
            "UPDATE partitions SET rows = 7 WHERE epoch = 20455;"
            "INSERT INTO clients(client_id, pk, first_ms, last_ms) VALUES "
            "(1, x'01', 0, 0), (2, x'02', 0, 0);");
    add_latest(s, 1, 2, 500, "KB1", 2, 0, 0);

    QS_CHECK_EQ_INT(qs_storedb_stats(s, &st, err, sizeof err), 0);
    QS_CHECK_EQ_INT(st.stored, 42);
    QS_CHECK_EQ_INT(st.duplicates, 3);
    QS_CHECK_EQ_INT(st.clients, 2);
    QS_CHECK_EQ_INT(st.history_rows, 17);
    QS_CHECK_EQ_INT(st.partitions, 2);
    QS_CHECK_EQ_INT(st.latest_rows, 2);
    QS_CHECK_EQ_INT(st.n_rejected, 2);
    QS_CHECK_STR(st.rejected[0].name, "BAD_MESSAGE");
    QS_CHECK_EQ_INT(st.rejected[0].value, 4);
    QS_CHECK_STR(st.rejected[1].name, "CLOCK_SKEW");
    QS_CHECK_EQ_INT(st.n_rejected_detail, 1);
    QS_CHECK_STR(st.rejected_detail[0].name, "STATE_OUT_OF_RANGE");
    qs_storedb_stats_free(&st);
    QS_CHECK(st.rejected == NULL && st.n_rejected == 0 && st.n_rejected_detail == 0);
    close_store(&s);
}

static void
test_stats_merges_refusals_counted_elsewhere(void)
{
    qs_storedb_t *s = open_store("qsb");
    qs_storedb_stats_t st;
    char err[256];

    QS_CHECK_EQ_INT(qs_storedb_begin(s), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "stored", 7), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.BAD_ENVELOPE", 2), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.CLOCK_SKEW", 1), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected_detail.NOT_PROTOBUF", 2), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected_detail.TIME_IN_FUTURE", 1), 0);
    QS_CHECK_EQ_INT(qs_storedb_commit(s), 0);

    /* The merge itself: existing counters grow, new ones go in name order. */
    QS_CHECK_EQ_INT(qs_storedb_stats(s, &st, err, sizeof err), 0);
    qs_storedb_stats_add_rejected(&st, "BAD_ENVELOPE", "BAD_FRAMES", 3);
    qs_storedb_stats_add_rejected(&st, "REVOKED", "CLIENT_REVOKED", 1);
    qs_storedb_stats_add_rejected(&st, "ALPHA", "ZETA", 0);          /* nothing to add */
    QS_CHECK_EQ_INT(st.n_rejected, 3);
    QS_CHECK_STR(st.rejected[0].name, "BAD_ENVELOPE");
    QS_CHECK_EQ_INT(st.rejected[0].value, 5);
    QS_CHECK_STR(st.rejected[1].name, "CLOCK_SKEW");
    QS_CHECK_STR(st.rejected[2].name, "REVOKED");
    QS_CHECK_EQ_INT(st.n_rejected_detail, 4);
    QS_CHECK_STR(st.rejected_detail[0].name, "BAD_FRAMES");
    QS_CHECK_STR(st.rejected_detail[1].name, "CLIENT_REVOKED");
    QS_CHECK_STR(st.rejected_detail[2].name, "NOT_PROTOBUF");
    QS_CHECK_STR(st.rejected_detail[3].name, "TIME_IN_FUTURE");
    qs_storedb_stats_free(&st);
    close_store(&s);
}

static void
test_lookup_finds_current_states_by_machine_and_domain(void)
{
    qs_storedb_t *s = open_store("qlc");
    qs_storedb_lookup_t res;
    uint8_t m1[QS_PSEUDONYM_BYTES] = { 1 }, m9[QS_PSEUDONYM_BYTES] = { 9 };
    uint8_t d1[QS_PSEUDONYM_BYTES] = { 1 }, d2[QS_PSEUDONYM_BYTES] = { 2 };
    char err[256];

    add_latest(s, 1, 1, 500, "KB200", 3, 1, 1);
    add_latest(s, 1, 1, 500, "KB100", 2, 1, 1);
    add_latest(s, 1, 1, 301, "DEP-1", 4, 1, 1);
    add_latest(s, 2, 1, 500, "KB100", 1, 1, 2);    /* same name, other domain */
    add_latest(s, 3, 1, 500, "KB100", 0, 7, 1);    /* another machine */

    QS_CHECK_EQ_INT(qs_storedb_lookup(s, &res, m1, NULL, 0, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 4);
    /* Ordered by (topic_type, topic_id). */
    QS_CHECK_EQ_INT(res.rows[0].topic_type, 301);
    QS_CHECK_STR(res.rows[0].topic_id, "DEP-1");
    QS_CHECK_EQ_INT(res.rows[0].state_id, 4);
    QS_CHECK_EQ_INT(res.rows[0].time_ms, 1767225600000LL);
    QS_CHECK_EQ_INT(res.rows[0].report_ms, 1767225601000LL);
    QS_CHECK_EQ_INT(res.rows[0].serial, -1);
    QS_CHECK_EQ_INT(res.rows[0].details_state, QS_LOOKUP_DETAILS_NONE);
    QS_CHECK_STR(res.rows[1].topic_id, "KB100");
    QS_CHECK_STR(res.rows[3].topic_id, "KB200");
    qs_storedb_lookup_free(&res);

    QS_CHECK_EQ_INT(qs_storedb_lookup(s, &res, m1, d2, 0, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 1);
    QS_CHECK_EQ_INT(res.rows[0].state_id, 1);
    qs_storedb_lookup_free(&res);
    QS_CHECK_EQ_INT(qs_storedb_lookup(s, &res, m1, d1, 0, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 3);
    qs_storedb_lookup_free(&res);

    /* An unknown pseudonym is an empty answer, not an error. */
    QS_CHECK_EQ_INT(qs_storedb_lookup(s, &res, m9, NULL, 0, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 0);
    qs_storedb_lookup_free(&res);
    close_store(&s);
}

/* One history row for machine pseudonym {1}, domain {1}; details sealed
 * under the partition's key (made when missing) when given. */
static void
add_event(qs_storedb_t *s, qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type,
          int64_t client_id, int64_t serial, int64_t time_ms, const char *details)
{
    uint8_t ps[QS_PSEUDONYM_BYTES] = { 1 }, ad[QS_DETAILS_AD_BYTES];
    uint8_t sealed[QS_MAX_DETAILS_BYTES + QS_DETAILS_OVERHEAD];
    size_t sealed_len = 0;
    char name[64], sql[256];
    sqlite3_stmt *st = NULL;

    QS_CHECK_EQ_INT(qs_storedb_partition_ensure(s, epoch, topic_type), 0);
    QS_CHECK_EQ_INT(qs_storedb_partition_name(name, sizeof name, epoch, topic_type), 0);
    snprintf(sql, sizeof sql, "INSERT INTO %s(client_id, serial, state_id, topic_id, time_ms, "
             "machine_ps, domain_ps, details) VALUES (?1, ?2, 2, 'KB1', ?3, ?4, ?4, ?5)", name);
    QS_CHECK_EQ_INT(sqlite3_prepare_v2(qs_storedb_sqlite(s), sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, client_id);
    sqlite3_bind_int64(st, 2, serial);
    sqlite3_bind_int64(st, 3, time_ms);
    sqlite3_bind_blob(st, 4, ps, sizeof ps, SQLITE_STATIC);
    if (details != NULL) {
        const uint8_t *key = qs_epochkeys_get(ks, epoch, topic_type, 1);
        QS_CHECK(key != NULL);
        qs_details_ad(ad, client_id, (uint64_t)serial, epoch, topic_type);
        QS_CHECK_EQ_INT(qs_details_seal(sealed, &sealed_len, sizeof sealed,
                                        (const uint8_t *)details, strlen(details), ad,
                                        sizeof ad, key), 0);
        sqlite3_bind_blob(st, 5, sealed, (int)sealed_len, SQLITE_STATIC);
    }
    QS_CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static void
test_lookup_history_opens_details_while_the_key_exists(void)
{
    qs_storedb_t *s = open_store("qlh");
    qs_storedb_lookup_t res;
    uint8_t m1[QS_PSEUDONYM_BYTES] = { 1 }, d2[QS_PSEUDONYM_BYTES] = { 2 };
    char err[256], keys[700];
    qs_epochkeys_t *ks;
    const int64_t day = 86400000LL;

    snprintf(keys, sizeof keys, "%s/epochs", dir);
    ks = qs_epochkeys_open(keys, 1, err, sizeof err);
    QS_CHECK(ks != NULL);
    add_event(s, ks, 20000, 500, 1, 8, 20000 * day + 50, "later, same time");
    add_event(s, ks, 20000, 500, 1, 7, 20000 * day + 50, "kb1 installed");
    add_event(s, ks, 20000, 301, 1, 9, 20000 * day + 50, NULL);
    add_event(s, ks, 19999, 500, 1, 3, 19999 * day + 10, "shredded soon");
    add_event(s, ks, 20001, 500, 1, 11, 20001 * day, "tampered");
    exec(s, "UPDATE history_20001_500 SET details = zeroblob(length(details))");
    /* Present but not registered (a crash): still read. Registered but
     * never written: nothing to read, not an error. */
    add_event(s, ks, 20002, 500, 1, 12, 20002 * day, NULL);
    exec(s, "DELETE FROM partitions WHERE epoch = 20002");
    QS_CHECK_EQ_INT(qs_storedb_partition_ensure(s, 20003, 500), 0);
    exec(s, "DROP TABLE history_20003_500");
    QS_CHECK_EQ_INT(qs_epochkeys_shred(ks, 19999, 500, err, sizeof err), 0);

    QS_CHECK_EQ_INT(qs_storedb_lookup(s, &res, m1, NULL, 1, ks, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 6);
    /* Ordered by (time, topic type, serial). */
    QS_CHECK_EQ_INT(res.rows[0].serial, 3);
    QS_CHECK_EQ_INT(res.rows[0].details_state, QS_LOOKUP_DETAILS_SHREDDED);
    QS_CHECK(res.rows[0].details == NULL);
    QS_CHECK_EQ_INT(res.rows[1].topic_type, 301);
    QS_CHECK_EQ_INT(res.rows[1].details_state, QS_LOOKUP_DETAILS_NONE);
    QS_CHECK_EQ_INT(res.rows[2].serial, 7);
    QS_CHECK_EQ_INT(res.rows[2].details_state, QS_LOOKUP_DETAILS_OPEN);
    QS_CHECK_STR(res.rows[2].details, "kb1 installed");
    QS_CHECK_EQ_INT(res.rows[2].report_ms, -1);
    QS_CHECK_STR(res.rows[2].topic_id, "KB1");
    QS_CHECK_EQ_INT(res.rows[2].state_id, 2);
    QS_CHECK_EQ_INT(res.rows[3].serial, 8);
    QS_CHECK_STR(res.rows[3].details, "later, same time");
    QS_CHECK_EQ_INT(res.rows[4].serial, 11);
    QS_CHECK_EQ_INT(res.rows[4].details_state, QS_LOOKUP_DETAILS_UNREADABLE);
    QS_CHECK_EQ_INT(res.rows[5].serial, 12);
    qs_storedb_lookup_free(&res);

    /* Without a key store every sealed detail counts as shredded. */
    QS_CHECK_EQ_INT(qs_storedb_lookup(s, &res, m1, NULL, 1, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 6);
    QS_CHECK_EQ_INT(res.rows[2].details_state, QS_LOOKUP_DETAILS_SHREDDED);
    qs_storedb_lookup_free(&res);

    /* Another domain: none of these events. */
    QS_CHECK_EQ_INT(qs_storedb_lookup(s, &res, m1, d2, 1, ks, err, sizeof err), 0);
    QS_CHECK_EQ_INT(res.n, 0);
    qs_storedb_lookup_free(&res);
    qs_epochkeys_destroy(&ks);
    close_store(&s);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_compliance_groups_and_suppresses_below_k);
    QS_RUN(test_compliance_k_comes_from_the_policy_with_a_floor_of_the_default);
    QS_RUN(test_compliance_complementary_suppression_is_the_same_under_every_filter);
    QS_RUN(test_compliance_no_report_cell_takes_part_in_suppression);
    QS_RUN(test_compliance_no_suppressed_count_follows_from_the_scope);
    QS_RUN(test_percent_is_rounded_half_up_to_two_decimals);
    QS_RUN(test_scope_counts_machines_once_and_is_checked_and_repaired);
    QS_RUN(test_stats_published_total_leaves_the_suppressed_cells_out);
    QS_RUN(test_compliance_query_reads_the_counts_in_key_order);
    QS_RUN(test_stats_reads_counters_and_row_counts);
    QS_RUN(test_stats_merges_refusals_counted_elsewhere);
    QS_RUN(test_lookup_finds_current_states_by_machine_and_domain);
    QS_RUN(test_lookup_history_opens_details_while_the_key_exists);
    return qs_test_summary();
}
