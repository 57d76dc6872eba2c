/* test_storedb.c - store.db schema: compliance_counts kept exact by its
 * triggers under every kind of write to latest, and the schema upgrade of
 * an older file (version 0: no counts, index latest_compliance). */
#include "qs_storedb.h"
#include "qs_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void
setup(const char *name)
{
    char cmd[600];

    snprintf(dir, sizeof dir, "/tmp/qs-test-storedb-%s-%d", name, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    QS_CHECK_EQ_INT(system(cmd), 0);
}

static void
teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)system(cmd);
}

static int64_t
q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "  sql error: %s: %s\n", sql, sqlite3_errmsg(db));
        return -2;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int
exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "  sql error: %s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    return rc == SQLITE_OK ? 0 : -1;
}

static int
counts_agree(qs_storedb_t *s)
{
    int64_t missing = -1, stale = -1;
    if (qs_storedb_counts_check(s, &missing, &stale) != 0)
        return 0;
    if (missing != 0 || stale != 0)
        fprintf(stderr, "  counts: %lld missing or wrong, %lld stale\n", (long long)missing,
                (long long)stale);
    return missing == 0 && stale == 0;
}

static uint64_t
next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Random inserts, the store's upsert (both branches), state updates,
 * time-only updates, topic renames and deletes, with rollbacks among them:
 * after each step the counts equal latest grouped, and no zero group is
 * left. A missing or wrong trigger fails here. */
static void
test_counts_follow_every_write_to_latest(void)
{
    qs_storedb_t *s;
    sqlite3 *db;
    sqlite3_stmt *upsert = NULL;
    char path[300], err[256], sql[256];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    int ok = 1;

    setup("counts");
    snprintf(path, sizeof path, "%s/store.db", dir);
    s = qs_storedb_open(path, 1, err, sizeof err);
    QS_CHECK(s != NULL);
    if (s == NULL)
        return;
    db = qs_storedb_sqlite(s);
    QS_CHECK_EQ_INT(q_int(db, "PRAGMA user_version"), QS_STOREDB_SCHEMA_VERSION);
    QS_CHECK_EQ_INT(sqlite3_prepare_v2(db,
        "INSERT INTO latest(client_id, topic_type, topic_id, state_id, time_ms, report_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(client_id, topic_type, topic_id) DO UPDATE "
        "SET state_id = CASE WHEN excluded.time_ms >= latest.time_ms THEN excluded.state_id "
        "ELSE latest.state_id END, time_ms = max(latest.time_ms, excluded.time_ms)",
        -1, &upsert, NULL), SQLITE_OK);
    for (int step = 0; step < 3000 && ok; step++) {
        uint64_t r = next_rand(&x);
        long c = (long)(r % 40) + 1, topic = (long)((r >> 8) % 5), state = (long)((r >> 16) % 4) + 1;
        int tt = (r >> 24) % 2 ? 500 : 501, rollback = (r >> 32) % 10 == 0;
        char id[16];

        snprintf(id, sizeof id, "KB%ld", topic);
        if (rollback && exec(db, "BEGIN") != 0)
            ok = 0;
        switch ((r >> 40) % 6) {
        case 0: case 1: case 2:     /* the store's upsert: insert or update */
            sqlite3_bind_int64(upsert, 1, c);
            sqlite3_bind_int(upsert, 2, tt);
            sqlite3_bind_text(upsert, 3, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(upsert, 4, state);
            sqlite3_bind_int64(upsert, 5, (int64_t)((r >> 48) % 1000));
            ok &= sqlite3_step(upsert) == SQLITE_DONE;
            sqlite3_reset(upsert);
            break;
        case 3:                     /* times only (touch_latest) */
            snprintf(sql, sizeof sql, "UPDATE latest SET time_ms = time_ms + 1, "
                     "report_ms = report_ms + 1 WHERE client_id = %ld", c);
            ok &= exec(db, sql) == 0;
            break;
        case 4:                     /* several rows change state, or topic */
            snprintf(sql, sizeof sql, (r >> 50) % 2
                     ? "UPDATE latest SET state_id = %ld WHERE client_id %% 7 = %ld"
                     : "UPDATE OR IGNORE latest SET topic_id = 'KB9' WHERE client_id %% 7 = %ld "
                       "AND %ld > 0", state, c % 7);
            ok &= exec(db, sql) == 0;
            break;
        default:                    /* retention and forget: deletes */
            snprintf(sql, sizeof sql, "DELETE FROM latest WHERE client_id = %ld OR "
                     "(topic_id = '%s' AND state_id = %ld)", c, id, state);
            ok &= exec(db, sql) == 0;
            break;
        }
        if (rollback)
            ok &= exec(db, "ROLLBACK") == 0;
        if (step % 25 == 0 || step == 2999)
            ok &= counts_agree(s);
        ok &= q_int(db, "SELECT count(*) FROM compliance_counts WHERE count <= 0") == 0;
        if (!ok)
            fprintf(stderr, "  first disagreement at step %d\n", step);
    }
    QS_CHECK(ok);
    QS_CHECK(q_int(db, "SELECT count(*) FROM latest") > 0);
    QS_CHECK_EQ_INT(q_int(db, "SELECT sum(count) FROM compliance_counts"),
                    q_int(db, "SELECT count(*) FROM latest"));
    /* Everything deleted: no topic id is left in the counts either. */
    QS_CHECK_EQ_INT(exec(db, "DELETE FROM latest"), 0);
    QS_CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM compliance_counts"), 0);
    /* The check itself sees a tampered count, and the rebuild repairs it. */
    QS_CHECK_EQ_INT(exec(db, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                             "time_ms, report_ms) VALUES (1, 500, 'KB1', 2, 0, 0), "
                             "(2, 500, 'KB1', 2, 0, 0)"), 0);
    QS_CHECK_EQ_INT(q_int(db, "SELECT count FROM compliance_counts WHERE topic_id = 'KB1'"), 2);
    QS_CHECK_EQ_INT(exec(db, "UPDATE compliance_counts SET count = 5;"
                             "INSERT INTO compliance_counts VALUES (500, 'KB-GONE', 1, 3)"), 0);
    {
        int64_t missing = 0, stale = 0;
        QS_CHECK_EQ_INT(qs_storedb_counts_check(s, &missing, &stale), 0);
        QS_CHECK_EQ_INT(missing, 1);
        QS_CHECK_EQ_INT(stale, 2);
    }
    QS_CHECK_EQ_INT(qs_storedb_counts_rebuild(s), 0);
    QS_CHECK(counts_agree(s));
    sqlite3_finalize(upsert);
    qs_storedb_destroy(&s);
    teardown();
}

/* A store.db written before compliance_counts existed (user_version 0, the
 * index latest_compliance) is upgraded on open: counts filled from latest,
 * index dropped, version set; and the triggers work from then on. */
static void
test_upgrade_from_version_0(void)
{
    qs_storedb_t *s;
    sqlite3 *raw = NULL;
    char path[300], err[256];

    setup("upgrade");
    snprintf(path, sizeof path, "%s/store.db", dir);
    QS_CHECK_EQ_INT(sqlite3_open(path, &raw), SQLITE_OK);
    QS_CHECK_EQ_INT(exec(raw,
        "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
        "CREATE TABLE clients(client_id INTEGER PRIMARY KEY, pk BLOB NOT NULL UNIQUE,"
        "  low_water INTEGER NOT NULL DEFAULT 0, first_ms INTEGER NOT NULL,"
        "  last_ms INTEGER NOT NULL);"
        "CREATE TABLE seen(client_id INTEGER NOT NULL, serial INTEGER NOT NULL,"
        "  PRIMARY KEY(client_id, serial)) WITHOUT ROWID;"
        "CREATE TABLE latest(client_id INTEGER NOT NULL, topic_type INTEGER NOT NULL,"
        "  topic_id TEXT NOT NULL, state_id INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
        "  report_ms INTEGER NOT NULL, machine_ps BLOB, domain_ps BLOB,"
        "  PRIMARY KEY(client_id, topic_type, topic_id)) WITHOUT ROWID;"
        "CREATE INDEX latest_compliance ON latest(topic_type, topic_id, state_id);"
        "CREATE INDEX latest_by_machine ON latest(machine_ps);"
        "CREATE INDEX latest_by_report ON latest(report_ms);"
        "CREATE TABLE partitions(epoch INTEGER NOT NULL, topic_type INTEGER NOT NULL,"
        "  rows INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(epoch, topic_type)) WITHOUT ROWID;"
        "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
        "INSERT INTO latest SELECT i, 500, 'KB' || (i % 3), 1 + i % 4, 0, 0, NULL, NULL FROM n;"),
        0);
    sqlite3_close(raw);

    s = qs_storedb_open(path, 0, err, sizeof err);
    if (s == NULL)
        fprintf(stderr, "  open: %s\n", err);
    QS_CHECK(s != NULL);
    if (s == NULL)
        return;
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "PRAGMA user_version"),
                    QS_STOREDB_SCHEMA_VERSION);
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT count(*) FROM sqlite_master "
                          "WHERE name = 'latest_compliance'"), 0);
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT count(*) FROM compliance_counts"), 12);
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT sum(count) FROM compliance_counts"), 300);
    QS_CHECK(counts_agree(s));
    QS_CHECK_EQ_INT(exec(qs_storedb_sqlite(s), "UPDATE latest SET state_id = 9 WHERE "
                         "client_id <= 10; DELETE FROM latest WHERE client_id > 290"), 0);
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT sum(count) FROM compliance_counts "
                          "WHERE state_id = 9"), 10);
    QS_CHECK(counts_agree(s));
    qs_storedb_destroy(&s);
    /* Opened again: nothing more to do, the counts stay. */
    s = qs_storedb_open(path, 0, err, sizeof err);
    QS_CHECK(s != NULL);
    if (s != NULL)
        QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT sum(count) FROM compliance_counts"),
                        290);
    qs_storedb_destroy(&s);
    teardown();
}

/* A file from a newer release is refused, not half-understood; a file that
 * is no store database is refused and left as it was. */
static void
test_newer_or_foreign_file_refused_untouched(void)
{
    qs_storedb_t *s;
    sqlite3 *raw = NULL;
    char path[300], err[256] = "";

    setup("refuse");
    snprintf(path, sizeof path, "%s/store.db", dir);
    s = qs_storedb_open(path, 1, err, sizeof err);
    QS_CHECK(s != NULL);
    QS_CHECK_EQ_INT(exec(qs_storedb_sqlite(s), "PRAGMA user_version = 99"), 0);
    qs_storedb_destroy(&s);
    s = qs_storedb_open(path, 0, err, sizeof err);
    QS_CHECK(s == NULL);
    QS_CHECK(strstr(err, "schema version 99") != NULL && strstr(err, "newer") != NULL);
    qs_storedb_destroy(&s);

    snprintf(path, sizeof path, "%s/other.db", dir);
    QS_CHECK_EQ_INT(sqlite3_open(path, &raw), SQLITE_OK);
    QS_CHECK_EQ_INT(exec(raw, "CREATE TABLE notes(x)"), 0);
    sqlite3_close(raw);
    err[0] = '\0';
    s = qs_storedb_open(path, 0, err, sizeof err);
    QS_CHECK(s == NULL);
    QS_CHECK(strstr(err, "not a quietstate store database") != NULL);
    qs_storedb_destroy(&s);
    raw = NULL;
    QS_CHECK_EQ_INT(sqlite3_open(path, &raw), SQLITE_OK);
    QS_CHECK_EQ_INT(q_int(raw, "SELECT count(*) FROM sqlite_master"), 1);
    QS_CHECK_EQ_INT(q_int(raw, "PRAGMA user_version"), 0);
    sqlite3_close(raw);
    teardown();
}

int
main(void)
{
    QS_RUN(test_counts_follow_every_write_to_latest);
    QS_RUN(test_upgrade_from_version_0);
    QS_RUN(test_newer_or_foreign_file_refused_untouched);
    return qs_test_summary();
}
