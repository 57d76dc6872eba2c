/* test_trend.c - compliance per UTC day (qs_store_trend.h) on SQLite, and on PostgreSQL when given one.
 *
 * Each test sets compliance_counts as the writers would leave it (on
 * PostgreSQL spread over two writer shards, as the workers leave it before
 * a fold), takes snapshots of chosen days as qs-retention does and reads
 * the trend through the engine-neutral API only: a snapshot copies the
 * counts, a second one of the same day replaces it, days beyond the kept
 * horizon go, a day without a snapshot is missing (never 0), every day is
 * suppressed as compliance is, the filters select whole topics, and the
 * JSON document marks suppressed and missing cells. Groups: each group's
 * day counts its members' rows of latest (not the fleet's counts), days
 * before the group existed are missing for it, removing it drops its days. With QS_TEST_PG_URL
 * set (tests/pg/read_pg.sh starts a server) every test runs on both engines.
 */
#include "qs_policy.h"
#include "qs_store_group.h"
#include "qs_store_trend.h"
#include "qs_test.h"
#include "storedb_pg.h"
#include "storedb_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 20000          /* a UTC day number: 2024-10-04 */

static const char *pg_url;
static char dir[512];
static int on_pg;

static qs_storedb_t *
open_store(void)
{
    char path[700], err[256];
    qs_storedb_t *s;

    if (on_pg) {
        s = qs_storedb_open(pg_url, 1, err, sizeof err);
        if (s == NULL || qs_pgdb_exec(qs_storedb_pgdb(s), "DROP TABLE IF EXISTS "
                                      "compliance_daily, compliance_days, "
                                      "compliance_daily_group, compliance_days_group, "
                                      "machine_groups, group_members; "
                                      "DELETE FROM compliance_counts; DELETE FROM latest") != 0) {
            fprintf(stderr, "cannot open PostgreSQL: %s\n", err);
            exit(2);
        }
        return s;
    }
    qs_test_tmpdir(dir, sizeof dir, "trend");
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
    if (on_pg)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void
exec(qs_storedb_t *s, const char *sql)
{
    int rc = on_pg ? qs_pgdb_exec(qs_storedb_pgdb(s), sql)
                   : (sqlite3_exec(qs_storedb_sqlite(s), sql, NULL, NULL, NULL) == SQLITE_OK
                          ? 0 : -1);
    if (rc != 0) {
        fprintf(stderr, "sql failed: %s\n", sql);
        exit(2);
    }
}

/* The group's count as the writers keep it (PostgreSQL: over two shards). */
static void
set_count(qs_storedb_t *s, uint32_t type, const char *id, uint32_t state, int64_t count)
{
    char sql[512];

    snprintf(sql, sizeof sql, "DELETE FROM compliance_counts WHERE topic_type = %u AND "
             "topic_id = '%s' AND state_id = %u", type, id, state);
    exec(s, sql);
    if (count == 0)
        return;
    if (on_pg)
        snprintf(sql, sizeof sql, "INSERT INTO compliance_counts(topic_type, topic_id, "
                 "state_id, shard, count) VALUES (%u, '%s', %u, 0, %lld), (%u, '%s', %u, 7, 1)",
                 type, id, state, (long long)count - 1, type, id, state);
    else
        snprintf(sql, sizeof sql, "INSERT INTO compliance_counts(topic_type, topic_id, "
                 "state_id, count) VALUES (%u, '%s', %u, %lld)", type, id, state,
                 (long long)count);
    exec(s, sql);
}

static void
snapshot(qs_storedb_t *s, int64_t day, int keep)
{
    char err[256];
    int64_t groups;

    if (qs_storedb_trend_snapshot(s, day, day * 86400000LL + 3600000, keep, &groups, err,
                                  sizeof err) != 0) {
        fprintf(stderr, "snapshot failed: %s\n", err);
        exit(2);
    }
}

static void
trend(qs_storedb_t *s, qs_storedb_trend_t *t, int64_t last, int days, const uint32_t *type,
      const char *id)
{
    qs_policy_t p;
    char err[256];

    qs_policy_defaults(&p);   /* k = 5 */
    if (qs_storedb_trend(s, t, &p, last, days, type, id, err, sizeof err) != 0) {
        fprintf(stderr, "trend failed: %s\n", err);
        exit(2);
    }
}

/* The count of (day, type, id, state), or -100 when there is no such row. */
static int64_t
cell(const qs_storedb_trend_t *t, int64_t day, uint32_t type, const char *id, uint32_t state)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->rows[i].day == day && t->rows[i].topic_type == type &&
            strcmp(t->rows[i].topic_id, id) == 0 && t->rows[i].state_id == state)
            return t->rows[i].count;
    return -100;
}

static void
test_trend_snapshot_copies_the_counts_of_the_day(void)
{
    qs_storedb_t *s = open_store();
    qs_storedb_trend_t t;

    set_count(s, 500, "KB1", 2, 12);
    set_count(s, 500, "KB1", 3, 30);
    set_count(s, 500, "KB2", 3, 9);
    snapshot(s, DAY, QS_TREND_KEEP_DAYS);
    set_count(s, 500, "KB1", 3, 31);          /* after the snapshot: not in it */
    trend(s, &t, DAY, 1, NULL, NULL);
    QS_CHECK_EQ_INT(t.n, 3);
    QS_CHECK_EQ_INT(t.n_missing, 0);
    QS_CHECK_EQ_INT(t.k, 5);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB1", 2), 12);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB1", 3), 30);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB2", 3), 9);
    QS_CHECK(t.n == 3 && strcmp(t.rows[0].topic_id, "KB1") == 0 && t.rows[0].state_id == 2 &&
             strcmp(t.rows[2].topic_id, "KB2") == 0);
    qs_storedb_trend_free(&t);
    close_store(&s);
}

static void
test_trend_second_snapshot_of_a_day_replaces_it(void)
{
    qs_storedb_t *s = open_store();
    qs_storedb_trend_t t;

    set_count(s, 500, "KB1", 2, 12);
    set_count(s, 500, "KB1", 3, 30);
    snapshot(s, DAY, QS_TREND_KEEP_DAYS);
    set_count(s, 500, "KB1", 2, 0);           /* every machine installed it */
    set_count(s, 500, "KB1", 3, 42);
    set_count(s, 500, "KB3", 3, 6);
    snapshot(s, DAY, QS_TREND_KEEP_DAYS);
    trend(s, &t, DAY, 1, NULL, NULL);
    QS_CHECK_EQ_INT(t.n, 2);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB1", 2), -100);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB1", 3), 42);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB3", 3), 6);
    qs_storedb_trend_free(&t);
    close_store(&s);
}

static void
test_trend_day_without_snapshot_is_missing_not_zero(void)
{
    qs_storedb_t *s = open_store();
    qs_storedb_trend_t t;

    set_count(s, 500, "KB1", 2, 20);
    snapshot(s, DAY - 3, QS_TREND_KEEP_DAYS);
    set_count(s, 500, "KB1", 2, 10);
    set_count(s, 500, "KB1", 3, 10);
    snapshot(s, DAY - 1, QS_TREND_KEEP_DAYS);
    trend(s, &t, DAY, 4, NULL, NULL);
    QS_CHECK_EQ_INT(t.first_day, DAY - 3);
    QS_CHECK_EQ_INT(t.last_day, DAY);
    QS_CHECK_EQ_INT(t.n_missing, 2);
    QS_CHECK(t.n_missing == 2 && t.missing_days[0] == DAY - 2 && t.missing_days[1] == DAY);
    QS_CHECK_EQ_INT(cell(&t, DAY - 3, 500, "KB1", 2), 20);
    QS_CHECK_EQ_INT(cell(&t, DAY - 3, 500, "KB1", 3), -100);   /* none then: absent */
    QS_CHECK_EQ_INT(cell(&t, DAY - 2, 500, "KB1", 2), QS_TREND_MISSING);
    QS_CHECK_EQ_INT(cell(&t, DAY - 2, 500, "KB1", 3), QS_TREND_MISSING);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB1", 3), 10);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB1", 2), QS_TREND_MISSING);
    QS_CHECK_EQ_INT(t.n, 1 + 2 + 2 + 2);
    for (size_t i = 1; i < t.n; i++)
        QS_CHECK(t.rows[i - 1].day <= t.rows[i].day);
    qs_storedb_trend_free(&t);

    /* A store that never had a snapshot: every day missing, no rows. */
    close_store(&s);
    s = open_store();
    trend(s, &t, DAY, 7, NULL, NULL);
    QS_CHECK_EQ_INT(t.n_missing, 7);
    QS_CHECK_EQ_INT(t.n, 0);
    qs_storedb_trend_free(&t);
    close_store(&s);
}

static void
test_trend_snapshot_drops_days_beyond_the_horizon(void)
{
    qs_storedb_t *s = open_store();
    qs_storedb_trend_t t;

    set_count(s, 500, "KB1", 3, 8);
    snapshot(s, DAY - 10, 5);
    snapshot(s, DAY - 5, 5);
    snapshot(s, DAY - 4, 5);
    snapshot(s, DAY, 5);                      /* keeps DAY-4 .. DAY */
    trend(s, &t, DAY, 20, NULL, NULL);
    QS_CHECK_EQ_INT(t.n_missing, 18);
    QS_CHECK_EQ_INT(cell(&t, DAY - 10, 500, "KB1", 3), QS_TREND_MISSING);
    QS_CHECK_EQ_INT(cell(&t, DAY - 5, 500, "KB1", 3), QS_TREND_MISSING);
    QS_CHECK_EQ_INT(cell(&t, DAY - 4, 500, "KB1", 3), 8);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB1", 3), 8);
    qs_storedb_trend_free(&t);
    close_store(&s);
}

static void
test_trend_each_day_is_suppressed_as_compliance(void)
{
    qs_storedb_t *s = open_store();
    qs_storedb_trend_t t;
    cJSON *doc;
    char *text;

    set_count(s, 500, "KB1", 2, 3);           /* primary ... */
    set_count(s, 500, "KB1", 3, 40);          /* ... and its complementary */
    set_count(s, 500, "KB2", 2, 2);           /* a topic all below k: dropped */
    set_count(s, 500, "KB2", 3, 4);
    snapshot(s, DAY - 1, QS_TREND_KEEP_DAYS);
    set_count(s, 500, "KB1", 2, 6);           /* the next day no group is small */
    set_count(s, 500, "KB2", 3, 0);
    set_count(s, 500, "KB2", 2, 0);
    snapshot(s, DAY, QS_TREND_KEEP_DAYS);
    trend(s, &t, DAY, 3, NULL, NULL);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB1", 2), QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB1", 3), QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB2", 2), -100);
    QS_CHECK_EQ_INT(cell(&t, DAY - 2, 500, "KB2", 3), -100);   /* no id, missing or not */
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB1", 2), 6);
    QS_CHECK_EQ_INT(cell(&t, DAY, 500, "KB1", 3), 40);
    QS_CHECK_EQ_INT(cell(&t, DAY - 2, 500, "KB1", 3), QS_TREND_MISSING);
    for (size_t i = 0; i < t.n; i++)
        QS_CHECK(t.rows[i].count < 0 || t.rows[i].count >= 5);

    doc = qs_storedoc_trend(&t);
    text = cJSON_PrintUnformatted(doc);
    QS_CHECK(strstr(text, "\"group\":null,\"deployment\":null,\"days\":3,") != NULL);
    QS_CHECK(strstr(text, "\"days\":3,\"first_day\":\"2024-10-02\",\"last_day\":"
                          "\"2024-10-04\",\"missing_days\":[\"2024-10-02\"]") != NULL);
    QS_CHECK(strstr(text, "{\"day\":\"2024-10-03\",\"topic_type\":500,\"topic_id\":\"KB1\","
                          "\"state_id\":2,\"state\":\"required\",\"count\":null,"
                          "\"suppressed\":true}") != NULL);
    QS_CHECK(strstr(text, "{\"day\":\"2024-10-02\",\"topic_type\":500,\"topic_id\":\"KB1\","
                          "\"state_id\":3,\"state\":\"installed\",\"count\":null,"
                          "\"missing\":true}") != NULL);
    QS_CHECK(strstr(text, "KB2") == NULL);
    free(text);
    cJSON_Delete(doc);
    qs_storedb_trend_free(&t);
    close_store(&s);
}

static void
test_trend_filters_select_whole_topics(void)
{
    qs_storedb_t *s = open_store();
    qs_storedb_trend_t t;
    uint32_t t500 = 500, t300 = 300;

    set_count(s, 500, "KB1", 3, 10);
    set_count(s, 500, "KB2", 3, 11);
    set_count(s, 300, "KB1", 1, 12);
    snapshot(s, DAY, QS_TREND_KEEP_DAYS);
    trend(s, &t, DAY, 2, &t500, NULL);
    QS_CHECK_EQ_INT(t.n, 4);                  /* two groups, and their missing day */
    qs_storedb_trend_free(&t);
    trend(s, &t, DAY, 1, NULL, "KB1");
    QS_CHECK_EQ_INT(t.n, 2);
    QS_CHECK_EQ_INT(cell(&t, DAY, 300, "KB1", 1), 12);
    qs_storedb_trend_free(&t);
    trend(s, &t, DAY, 1, &t300, "KB2");
    QS_CHECK_EQ_INT(t.n, 0);
    QS_CHECK_EQ_INT(t.n_missing, 0);
    qs_storedb_trend_free(&t);
    close_store(&s);
}

static void
test_trend_refuses_days_out_of_range(void)
{
    qs_storedb_t *s = open_store();
    qs_storedb_trend_t t;
    qs_policy_t p;
    char err[256] = "";

    qs_policy_defaults(&p);
    QS_CHECK(qs_storedb_trend(s, &t, &p, DAY, 0, NULL, NULL, err, sizeof err) == -1);
    QS_CHECK(strstr(err, "1..400") != NULL);
    QS_CHECK(qs_storedb_trend(s, &t, &p, DAY, QS_TREND_KEEP_DAYS + 1, NULL, NULL, err,
                              sizeof err) == -1);
    QS_CHECK_EQ_INT(t.n, 0);
    close_store(&s);
}

/* One row of latest for machine m (client m, pseudonym 16 bytes of m). */
static void
add_latest(qs_storedb_t *s, uint8_t m, const char *topic_id, uint32_t state)
{
    char sql[400], hex[2 * QS_PSEUDONYM_BYTES + 1];

    for (unsigned i = 0; i < QS_PSEUDONYM_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", m);
    snprintf(sql, sizeof sql, on_pg ? "INSERT INTO latest(client_id, topic_type, topic_id, "
             "state_id, time_ms, report_ms, machine_ps) VALUES (%u, 500, '%s', %u, 1, 2, "
             "'\\x%s'::bytea)" : "INSERT INTO latest(client_id, topic_type, topic_id, "
             "state_id, time_ms, report_ms, machine_ps) VALUES (%u, 500, '%s', %u, 1, 2, X'%s')",
             m, topic_id, state, hex);
    exec(s, sql);
}

static void
group_add(qs_storedb_t *s, const char *name, uint8_t first, uint8_t last)
{
    uint8_t ps[32][QS_PSEUDONYM_BYTES];
    char err[256];
    int created = 0;
    int64_t added = 0;
    size_t n = 0;

    QS_CHECK_EQ_INT(qs_storedb_group_create(s, name, 1, &created, err, sizeof err), 0);
    for (unsigned m = first; m <= last; m++)
        memset(ps[n++], (int)m, QS_PSEUDONYM_BYTES);
    QS_CHECK_EQ_INT(qs_storedb_group_add(s, name, (const uint8_t(*)[QS_PSEUDONYM_BYTES])ps, n,
                                         &added, err, sizeof err), 0);
}

static int
trend_q(qs_storedb_t *s, qs_storedb_trend_t *t, int k, int64_t last, int days,
        const qs_trend_query_t *q)
{
    qs_policy_t p;
    char err[256];

    qs_policy_defaults(&p);
    p.k = k;
    return qs_storedb_trend_query(s, t, &p, last, days, q, err, sizeof err);
}

static void
test_trend_group_days_count_its_members_from_its_creation(void)
{
    qs_storedb_t *s = open_store();
    qs_storedb_trend_t t;
    qs_trend_query_t lab = { .group = "lab" }, nope = { .group = "nope" };
    const char *kb1[] = { "KB1" };
    qs_trend_query_t lab_kb1 = { .group = "lab", .topic_ids = kb1, .n_topic_ids = 1 };
    char err[256];
    int64_t removed = 0;
    int created = 0;

    for (uint8_t m = 1; m <= 8; m++)          /* 1..6 installed, 7 and 8 required */
        add_latest(s, m, "KB1", m <= 6 ? 3 : 2);
    add_latest(s, 1, "KB2", 3);
    set_count(s, 500, "KB1", 3, 6);           /* the fleet's counts, as the writers keep them */
    set_count(s, 500, "KB1", 2, 2);
    set_count(s, 500, "KB2", 3, 1);
    snapshot(s, DAY - 2, QS_TREND_KEEP_DAYS);   /* before any group */
    group_add(s, "lab", 2, 7);                /* 2..6 installed (5), 7 required (1) */
    group_add(s, "empty", 30, 31);            /* members without rows */
    snapshot(s, DAY - 1, QS_TREND_KEEP_DAYS);

    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY, 3, &lab), 0);
    QS_CHECK_EQ_INT(t.n_missing, 2);          /* before the group, and today: no snapshot */
    QS_CHECK(t.n_missing == 2 && t.missing_days[0] == DAY - 2 && t.missing_days[1] == DAY);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB1", 3), 5);   /* the fleet has 6 */
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB1", 2), 1);   /* the fleet has 2 */
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB2", 3), -100);   /* machine 1 is not in lab */
    QS_CHECK_EQ_INT(cell(&t, DAY - 2, 500, "KB1", 3), QS_TREND_MISSING);   /* not 0 */
    qs_storedb_trend_free(&t);

    QS_CHECK_EQ_INT(trend_q(s, &t, 2, DAY - 1, 1, &lab), 0);   /* the 1 hides, and the 5 */
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB1", 2), QS_STOREDB_SUPPRESSED);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB1", 3), QS_STOREDB_SUPPRESSED);
    qs_storedb_trend_free(&t);
    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY - 1, 2, &(qs_trend_query_t){ 0 }), 0);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB1", 3), 6);   /* the fleet's days: as they were */
    QS_CHECK_EQ_INT(cell(&t, DAY - 2, 500, "KB1", 2), 2);
    qs_storedb_trend_free(&t);

    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY - 1, 2, &(qs_trend_query_t){ .group = "empty" }), 0);
    QS_CHECK_EQ_INT(t.n, 0);                  /* its day is there, with nobody */
    QS_CHECK(t.n_missing == 1 && t.missing_days[0] == DAY - 2);
    qs_storedb_trend_free(&t);

    add_latest(s, 2, "KB2", 3);               /* a deployment's ids: KB1 only */
    snapshot(s, DAY - 1, QS_TREND_KEEP_DAYS);
    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY - 1, 1, &lab), 0);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB2", 3), 1);
    qs_storedb_trend_free(&t);
    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY - 1, 1, &lab_kb1), 0);
    QS_CHECK_EQ_INT(t.n, 2);
    QS_CHECK_EQ_INT(cell(&t, DAY - 1, 500, "KB2", 3), -100);
    qs_storedb_trend_free(&t);

    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY, 3, &nope), QS_GROUP_UNKNOWN);
    QS_CHECK_EQ_INT(t.n, 0);
    /* Removing the group drops its days: made again, it starts with none. */
    QS_CHECK_EQ_INT(qs_storedb_group_remove(s, "lab", NULL, 0, &removed, err, sizeof err), 0);
    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY, 3, &lab), QS_GROUP_UNKNOWN);
    QS_CHECK_EQ_INT(qs_storedb_group_create(s, "lab", 2, &created, err, sizeof err), 0);
    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY, 3, &lab), 0);
    QS_CHECK_EQ_INT(t.n_missing, 3);
    QS_CHECK_EQ_INT(t.n, 0);
    qs_storedb_trend_free(&t);
    /* The horizon drops the groups' days with the fleet's. */
    snapshot(s, DAY + 5, 3);
    QS_CHECK_EQ_INT(trend_q(s, &t, 1, DAY + 5, 10, &(qs_trend_query_t){ .group = "empty" }), 0);
    QS_CHECK_EQ_INT(t.n_missing, 9);          /* only DAY + 5 is kept */
    qs_storedb_trend_free(&t);
    close_store(&s);
}

static void
run_all(void)
{
    QS_RUN(test_trend_snapshot_copies_the_counts_of_the_day);
    QS_RUN(test_trend_second_snapshot_of_a_day_replaces_it);
    QS_RUN(test_trend_day_without_snapshot_is_missing_not_zero);
    QS_RUN(test_trend_snapshot_drops_days_beyond_the_horizon);
    QS_RUN(test_trend_each_day_is_suppressed_as_compliance);
    QS_RUN(test_trend_filters_select_whole_topics);
    QS_RUN(test_trend_refuses_days_out_of_range);
    QS_RUN(test_trend_group_days_count_its_members_from_its_creation);
}

int
main(void)
{
    run_all();
    pg_url = getenv("QS_TEST_PG_URL");
    if (pg_url != NULL && *pg_url != '\0') {
        printf("-- on PostgreSQL\n");
        on_pg = 1;
        run_all();
    }
    return qs_test_summary();
}
