/* test_deadline.c - deadline compliance (qs_store_deadline.h): the classes at
 * the edges of the deadline, at second, hour and day precision, with a
 * client clock ahead within the skew limit, the suppression of every
 * count an operator sees, and random fleets against an independent
 * classification.
 *
 * Each test fills a fresh store.db with rows in latest as qs-store stores
 * them (time_ms = the message time truncated to the policy's precision,
 * t - t % p, as store/write.c does; the triggers count them into
 * compliance_counts) and reads them through qs_storedb_deadline only. The
 * e2e test tests/e2e/deployment.sh sends the same kind of states through
 * the real daemons.
 */
#include "deadline_rules.h"
#include "qs_counts.h"
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_keys.h"
#include "qs_limits.h"
#include "qs_policy.h"
#include "qs_store_deadline.h"
#include "qs_test.h"
#include "query_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D0 1767225600000LL   /* 2026-01-01T00:00:00Z: on every precision boundary */

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

/* A machine (client key) that last delivered at last_ms, as qs-store keeps it. */
static void
client(qs_storedb_t *s, int64_t id, int64_t last_ms)
{
    sqlite3_stmt *st = NULL;
    uint8_t pk[QS_KEY_BYTES] = { 0 };

    memcpy(pk, &id, sizeof id);
    if (sqlite3_prepare_v2(qs_storedb_sqlite(s), "INSERT OR IGNORE INTO clients(client_id, pk, "
                           "first_ms, last_ms) VALUES (?1, ?2, ?3, ?3)", -1, &st,
                           NULL) != SQLITE_OK)
        exit(2);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_blob(st, 2, pk, sizeof pk, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, last_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        exit(2);
    sqlite3_finalize(st);
}

/* One machine's state for (500, topic_id) with message time t, stored at
 * precision p as qs-store stores it; the machine delivered at D0. */
static void
put(qs_storedb_t *s, int64_t id, const char *topic_id, uint32_t state, int64_t t, int64_t p)
{
    sqlite3_stmt *st = NULL;

    client(s, id, D0);

    if (sqlite3_prepare_v2(qs_storedb_sqlite(s), "INSERT INTO latest(client_id, topic_type, "
                           "topic_id, state_id, time_ms, report_ms) VALUES (?1, 500, ?2, ?3, "
                           "?4, ?4)", -1, &st, NULL) != SQLITE_OK)
        exit(2);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, state);
    sqlite3_bind_int64(st, 4, t - t % p);
    if (sqlite3_step(st) != SQLITE_DONE)
        exit(2);
    sqlite3_finalize(st);
}

static qs_storedb_deadline_t
eval(qs_storedb_t *s, int k, const char *const *ids, size_t n, int64_t deadline, int64_t now)
{
    qs_policy_t p;
    qs_deadline_query_t q = { 500, ids, n, deadline, now, NULL };
    qs_storedb_deadline_t res;
    char err[256];

    qs_policy_defaults(&p);
    p.k = k;
    if (qs_storedb_deadline(s, &res, &p, &q, err, sizeof err) != 0) {
        fprintf(stderr, "qs_storedb_deadline: %s\n", err);
        exit(2);
    }
    return res;
}

static void
test_deadline_exactly_at_the_deadline_is_compliant(void)
{
    qs_storedb_t *s = open_store("deadline-edge");
    const char *ids[] = { "KB1" };
    qs_storedb_deadline_t r;

    put(s, 1, "KB1", 3, D0 - 1, 1);           /* installed 1 ms before: compliant */
    put(s, 2, "KB1", 3, D0, 1);               /* exactly at: compliant */
    put(s, 3, "KB1", 3, D0 + 1, 1);           /* 1 ms after: late */
    put(s, 4, "KB1", 1, D0 + 5000, 1);        /* not required: compliant, whenever */
    put(s, 5, "KB1", 2, D0 - 9000, 1);        /* required */
    put(s, 6, "KB1", 0, D0 - 9000, 1);        /* unknown state: not installed */
    put(s, 7, "KB2", 3, D0, 1);               /* no KB1 state: unknown for KB1 */
    client(s, 8, D0);                         /* no state of the type: out of scope */
    client(s, 9, D0 - 400LL * QS_MS_PER_DAY); /* quiet, no state: out */
    r = eval(s, 1, ids, 1, D0, D0 + 1);       /* deadline passed */
    QS_CHECK_EQ_INT(r.scope, 7);
    QS_CHECK(r.deadline_passed);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_COMPLIANT], 3);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_LATE], 1);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_NONCOMPLIANT], 2);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_IN_PROGRESS], 0);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_UNKNOWN], 1);
    qs_storedb_deadline_free(&r);
    /* Every installed time on one side of the deadline (the bounds decide). */
    r = eval(s, 1, ids, 1, D0 + 10000, D0 + 20000);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_COMPLIANT], 4);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_LATE], 0);
    qs_storedb_deadline_free(&r);
    r = eval(s, 1, ids, 1, D0 - 10000, D0);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_COMPLIANT], 1);   /* not required */
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_LATE], 3);
    qs_storedb_deadline_free(&r);
    r = eval(s, 1, ids, 1, D0, D0);           /* now == deadline: not past yet */
    QS_CHECK(!r.deadline_passed);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_NONCOMPLIANT], 0);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_IN_PROGRESS], 2);
    qs_storedb_deadline_free(&r);
    close_store(&s);
}

/* At precision p a state is stored at trunc(t); "at or before D" is
 * trunc(t) <= D: a state in D's own precision interval counts as in time. */
static void
check_precision(int64_t p)
{
    qs_storedb_t *s = open_store("deadline-precision");
    const char *ids[] = { "KB1" };
    int64_t mid = D0 + p / 2;                 /* a deadline inside an interval */
    qs_storedb_deadline_t r;

    put(s, 1, "KB1", 3, D0, p);               /* at the interval's start */
    put(s, 2, "KB1", 3, mid + p / 4, p);      /* after mid, same interval: in time */
    put(s, 3, "KB1", 3, D0 + p, p);           /* next interval: late */
    put(s, 4, "KB1", 3, D0 - 1, p);           /* previous interval: in time */
    r = eval(s, 1, ids, 1, mid, mid + 1);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_COMPLIANT], 3);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_LATE], 1);
    qs_storedb_deadline_free(&r);
    /* A deadline on the boundary: a state up to p - 1 ms after it is stored
     * at D and counts in time; D + p is late. */
    r = eval(s, 1, ids, 1, D0, D0 + p);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_COMPLIANT], 3);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_LATE], 1);
    qs_storedb_deadline_free(&r);
    /* The last ms of the previous interval: only the one before is in time. */
    r = eval(s, 1, ids, 1, D0 - 1, D0 + p);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_COMPLIANT], 1);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_LATE], 3);
    qs_storedb_deadline_free(&r);
    close_store(&s);
}

static void
test_deadline_at_second_hour_and_day_precision(void)
{
    check_precision(1000);
    check_precision(3600000LL);     /* hour */
    check_precision(86400000LL);    /* day */
}

/* A client clock ahead of the store's (within the skew limit the store
 * accepts) stamps an installation after the deadline although the store
 * received it before: classes follow the message time. */
static void
test_deadline_client_clock_ahead_within_skew_limit(void)
{
    qs_storedb_t *s = open_store("deadline-skew");
    const char *ids[] = { "KB1" };
    int64_t now = D0, deadline = D0 + 60000;
    int64_t skew = (int64_t)QS_DEFAULT_SKEW_LIMIT_S * 1000;
    qs_storedb_deadline_t r;

    put(s, 1, "KB1", 3, now + 30000, 1000);       /* 30 s ahead, before D */
    put(s, 2, "KB1", 3, now + skew, 1000);        /* at the skew limit, after D */
    put(s, 3, "KB1", 2, now + skew, 1000);
    r = eval(s, 1, ids, 1, deadline, now);
    QS_CHECK(!r.deadline_passed);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_COMPLIANT], 1);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_LATE], 1);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_IN_PROGRESS], 1);
    qs_storedb_deadline_free(&r);
    close_store(&s);
}

/* k = 5. KB1: 20 on time, 2 late (hidden, and compliant with it), 10
 * required; KB2: 30 installed on time, 2 required (hidden alone, so the
 * smallest visible non-zero class, compliant, goes with it, and late with
 * compliant). */
static void
test_deadline_suppresses_small_classes_and_their_complements(void)
{
    qs_storedb_t *s = open_store("deadline-k");
    const char *ids[] = { "KB1", "KB2" };
    qs_storedb_deadline_t r;
    int64_t c = 1;

    for (int i = 0; i < 20; i++, c++) {
        put(s, c, "KB1", 3, D0 - 1000, 1);
        put(s, c, "KB2", 3, D0 - 1000, 1);
    }
    for (int i = 0; i < 2; i++, c++) {
        put(s, c, "KB1", 3, D0 + 1000, 1);
        put(s, c, "KB2", 2, D0, 1);
    }
    for (int i = 0; i < 10; i++, c++) {
        put(s, c, "KB1", 2, D0, 1);
        put(s, c, "KB2", 3, D0, 1);
    }
    r = eval(s, 5, ids, 2, D0, D0 + 1);
    QS_CHECK_EQ_INT(r.scope, 32);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_COMPLIANT], QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_LATE], QS_STOREDB_SUPPRESSED);
    /* Two hidden cells: then the row shows no single hidden one. */
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_NONCOMPLIANT], 10);
    QS_CHECK_EQ_INT(r.rows[0].count[QS_DEADLINE_UNKNOWN], 0);
    /* KB2: 30 compliant, 2 non-compliant (hidden): compliant goes with it. */
    QS_CHECK_EQ_INT(r.rows[1].count[QS_DEADLINE_NONCOMPLIANT], QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(r.rows[1].count[QS_DEADLINE_COMPLIANT], QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(r.rows[1].count[QS_DEADLINE_LATE], QS_STOREDB_SUPPRESSED);
    /* Totals add only what is shown; the rest is one suppressed sum. */
    QS_CHECK_EQ_INT(r.pairs, 64);
    QS_CHECK_EQ_INT(r.total[QS_DEADLINE_NONCOMPLIANT], 10);
    QS_CHECK_EQ_INT(r.total[QS_DEADLINE_COMPLIANT], 0);
    QS_CHECK_EQ_INT(r.suppressed, 54);
    qs_storedb_deadline_free(&r);
    /* A scope below k: nothing at all. */
    r = eval(s, 40, ids, 2, D0, D0 + 1);
    QS_CHECK_EQ_INT(r.scope, QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(r.rows[1].count[QS_DEADLINE_UNKNOWN], QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(r.suppressed, -1);
    qs_storedb_deadline_free(&r);
    close_store(&s);
}

static void
test_deadline_row_never_shows_exactly_one_hidden_cell(void)
{
    /* Only unknown is small: the smallest visible non-zero class hides with it. */
    int64_t a[QS_DEADLINE_CLASSES] = { 50, 0, 9, 0, 3 };
    /* Only late is small: compliant hides with it (their sum is public). */
    int64_t b[QS_DEADLINE_CLASSES] = { 50, 1, 9, 0, 0 };
    /* Zero cells hide nothing and are shown. */
    int64_t c[QS_DEADLINE_CLASSES] = { 50, 0, 0, 0, 0 };

    qs_deadline_suppress_row(a, 5);
    QS_CHECK_EQ_INT(a[QS_DEADLINE_UNKNOWN], QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(a[QS_DEADLINE_NONCOMPLIANT], QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(a[QS_DEADLINE_COMPLIANT], 50);
    qs_deadline_suppress_row(b, 5);
    QS_CHECK_EQ_INT(b[QS_DEADLINE_COMPLIANT], QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(b[QS_DEADLINE_LATE], QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(b[QS_DEADLINE_NONCOMPLIANT], 9);
    qs_deadline_suppress_row(c, 5);
    QS_CHECK_EQ_INT(c[QS_DEADLINE_COMPLIANT], 50);
    QS_CHECK_EQ_INT(c[QS_DEADLINE_LATE], 0);
}

/* The partial index holds exactly the installed states of the topic table,
 * in each of the three spellings of the list (PostgreSQL's IN, SQLite's
 * ORs, the writer's C test). */
static void
test_deadline_index_covers_every_installed_state(void)
{
    uint32_t types[64], installed;
    size_t n = qs_topic_types(types, 64);
    char want[128] = "state_id IN (", want_or[160] = "(", part[32];
    int first = 1;
    uint32_t states[16];
    size_t ns = 0;

    for (size_t i = 0; i < n && i < 64; i++)
        if (qs_state_parse(types[i], "installed", &installed) == 0)
            states[ns++] = installed;
    /* ascending, as the SQL lists them */
    for (size_t i = 0; i < ns; i++)
        for (size_t j = i + 1; j < ns; j++)
            if (states[j] < states[i]) {
                uint32_t t = states[i];
                states[i] = states[j];
                states[j] = t;
            }
    for (size_t i = 0; i < ns; i++) {
        snprintf(part, sizeof part, "%s%u", first ? "" : ", ", states[i]);
        strcat(want, part);
        snprintf(part, sizeof part, "%sstate_id = %u", first ? "" : " OR ", states[i]);
        strcat(want_or, part);
        first = 0;
    }
    strcat(want, ")");
    strcat(want_or, ")");
    QS_CHECK_STR(want, QS_DEADLINE_INSTALLED_SQL);
    QS_CHECK_STR(want_or, QS_DEADLINE_INSTALLED_OR("state_id"));
    for (uint32_t st = 0; st < 64; st++) {
        int listed = 0;
        for (size_t i = 0; i < ns; i++)
            listed |= states[i] == st;
        QS_CHECK_EQ_INT(qs_deadline_installed_like(st), listed);
    }
}

static void
test_deadline_refuses_a_topic_type_without_installed(void)
{
    char err[256];

    QS_CHECK(qs_deadline_topic_type_check(500, err, sizeof err) == 0);
    QS_CHECK(qs_deadline_topic_type_check(301, err, sizeof err) == 0);
    QS_CHECK(qs_deadline_topic_type_check(501, err, sizeof err) == -1);
    QS_CHECK(strstr(err, "installed") != NULL);
}

/* Random fleets: every class count equals an independent classification
 * of the rows the test wrote (k = 1: nothing hidden), at a random
 * precision, for a deadline passed and one ahead; the deployment's totals
 * are the sums of its updates. */
static void
test_deadline_random_fleets_match_an_independent_classification(void)
{
    static const int64_t precisions[] = { 1000, 3600 * 1000, QS_MS_PER_DAY };
    static const char *const ids[] = { "KB1", "KB2", "KB3" };
    unsigned seed = 20261203u;

    for (int round = 0; round < 6; round++) {
        qs_storedb_t *s = open_store("deadline-random");
        /* Even rounds: a deadline on every precision boundary; odd: not. */
        int64_t p = precisions[round % 3];
        int64_t deadline = D0 + (round % 2 ? (int64_t)(round * 7919) * 1000 + 17 : 0);
        int64_t want[2][3][QS_DEADLINE_CLASSES];
        int fleet = 150 + (int)(rand_r(&seed) % 150), machines = 0;

        memset(want, 0, sizeof want);
        for (int m = 1; m <= fleet; m++) {
            /* The scope is the machines with a state of the type: one
             * without any is in no class, not unknown. */
            int64_t mine[2][3][QS_DEADLINE_CLASSES];
            int rows = 0;

            memset(mine, 0, sizeof mine);
            client(s, m, D0);
            for (int u = 0; u < 3; u++) {
                uint32_t state = (uint32_t)(rand_r(&seed) % 5);   /* 4: no row */
                /* Times at the edges (at, 1 ms around, within one precision
                 * step after the deadline) and anywhere within +-30 h. */
                int64_t edges[] = { 0, 1, -1, p - 1, p }, t;
                int64_t stored, e = rand_r(&seed) % 6;
                t = deadline + (e < 5 ? edges[e]
                                      : ((int64_t)(rand_r(&seed) % 7200) - 3600) * 1000 * 30);
                stored = t - t % p;
                for (int passed = 0; passed < 2; passed++) {
                    int c;
                    if (state == 4)
                        c = QS_DEADLINE_UNKNOWN;
                    else if (state == 1 || (state == 3 && stored <= deadline))
                        c = QS_DEADLINE_COMPLIANT;
                    else if (state == 3)
                        c = QS_DEADLINE_LATE;
                    else
                        c = passed ? QS_DEADLINE_NONCOMPLIANT : QS_DEADLINE_IN_PROGRESS;
                    mine[passed][u][c]++;
                }
                if (state != 4) {
                    put(s, m, ids[u], state, t, p);
                    rows++;
                }
            }
            if (rows == 0)
                continue;
            machines++;
            for (int i = 0; i < 2 * 3 * QS_DEADLINE_CLASSES; i++)
                (&want[0][0][0])[i] += (&mine[0][0][0])[i];
        }
        for (int passed = 0; passed < 2; passed++) {
            int64_t now = passed ? deadline + 1 : deadline - 1;
            qs_storedb_deadline_t r = eval(s, 1, ids, 3, deadline, now);
            QS_CHECK_EQ_INT(r.scope, machines);
            QS_CHECK_EQ_INT(r.deadline_passed, passed);
            QS_CHECK_EQ_INT((int)r.n, 3);
            for (int c = 0; c < QS_DEADLINE_CLASSES; c++) {
                int64_t sum = 0;
                for (int u = 0; u < 3 && u < (int)r.n; u++) {
                    QS_CHECK_EQ_INT(r.rows[u].count[c], want[passed][u][c]);
                    sum += want[passed][u][c];
                }
                QS_CHECK_EQ_INT(r.total[c], sum);
            }
            QS_CHECK_EQ_INT(r.pairs, 3LL * machines);
            qs_storedb_deadline_free(&r);
        }
        {   /* the hour counts the on-time sums read are latest's (triggers) */
            int64_t wrong = -1;
            char err[256];
            QS_CHECK_EQ_INT(qs_storedb_installed_check(s, &wrong, err, sizeof err), 0);
            QS_CHECK_EQ_INT(wrong, 0);
            QS_CHECK_EQ_INT(sqlite3_exec(qs_storedb_sqlite(s), "DELETE FROM latest WHERE "
                                         "client_id % 3 = 0", NULL, NULL, NULL), SQLITE_OK);
            QS_CHECK_EQ_INT(qs_storedb_installed_check(s, &wrong, err, sizeof err), 0);
            QS_CHECK_EQ_INT(wrong, 0);
        }
        close_store(&s);
    }
}

int
main(void)
{
    QS_RUN(test_deadline_exactly_at_the_deadline_is_compliant);
    QS_RUN(test_deadline_at_second_hour_and_day_precision);
    QS_RUN(test_deadline_client_clock_ahead_within_skew_limit);
    QS_RUN(test_deadline_suppresses_small_classes_and_their_complements);
    QS_RUN(test_deadline_row_never_shows_exactly_one_hidden_cell);
    QS_RUN(test_deadline_refuses_a_topic_type_without_installed);
    QS_RUN(test_deadline_index_covers_every_installed_state);
    QS_RUN(test_deadline_random_fleets_match_an_independent_classification);
    return qs_test_summary();
}
