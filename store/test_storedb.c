/* test_storedb.c - store.db schema: compliance_counts kept exact (triggers
 * for rows in and out, qs_count_deltas for state moves) under every kind of
 * write to latest, and the schema upgrade of an older file (version 0: no
 * counts, index latest_compliance). */
#include "qs_counts.h"
#include "qs_epochkeys.h"
#include "qs_limits.h"
#include "qs_storedb.h"
#include "qs_test.h"
#include "storedb_sqlite.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Change one row's state the way a writer must (qs_counts.h): read the old
 * state, update, record the move. */
static int
move_state(sqlite3 *db, qs_count_deltas_t *d, long client, int tt, const char *id, long state)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT state_id FROM latest WHERE client_id = ?1 AND "
                           "topic_type = ?2 AND topic_id = ?3", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int(st, 2, tt);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        qs_count_deltas_move(d, (uint32_t)tt, id, (uint32_t)sqlite3_column_int64(st, 0),
                             (uint32_t)state);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : -1;
    if (sqlite3_prepare_v2(db, "UPDATE latest SET state_id = ?4 WHERE client_id = ?1 AND "
                           "topic_type = ?2 AND topic_id = ?3", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int(st, 2, tt);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, state);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Random transactions of inserts (INSERT OR IGNORE), state moves through
 * qs_count_deltas, time-only updates and deletes (by client, by topic and
 * state: what retention and forget do), a tenth of them rolled back: after
 * each, the counts equal latest grouped and no zero group is left. A
 * missing trigger, a lost delta, a delta applied after a rollback or a zero
 * group not pruned fails here. */
static void
test_counts_follow_every_write_to_latest(void)
{
    qs_storedb_t *s;
    qs_count_deltas_t *d = qs_count_deltas_new();
    sqlite3 *db;
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
    for (int txn = 0; txn < 400 && ok; txn++) {
        int rollback = txn % 10 == 3, n_ops = 1 + txn % 13;

        ok &= qs_storedb_begin(s) == 0;
        for (int op = 0; op < n_ops && ok; op++) {
            uint64_t r = next_rand(&x);
            long c = (long)(r % 40) + 1, state = (long)((r >> 16) % 4) + 1;
            int tt = (r >> 24) % 2 ? 500 : 501;
            char id[16];

            snprintf(id, sizeof id, "KB%ld", (long)((r >> 8) % 5));
            switch ((r >> 40) % 7) {
            case 0: case 1:         /* a new row (or none: already there) */
                snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO latest(client_id, topic_type, "
                         "topic_id, state_id, time_ms, report_ms) VALUES (%ld, %d, '%s', %ld, "
                         "0, 0)", c, tt, id, state);
                ok &= exec(db, sql) == 0;
                break;
            case 2: case 3:         /* the state moves */
                ok &= move_state(db, d, c, tt, id, state) == 0;
                break;
            case 4:                 /* times only */
                snprintf(sql, sizeof sql, "UPDATE latest SET time_ms = time_ms + 1, "
                         "report_ms = report_ms + 1 WHERE client_id = %ld", c);
                ok &= exec(db, sql) == 0;
                break;
            case 5:                 /* forget: a client's rows */
                snprintf(sql, sizeof sql, "DELETE FROM latest WHERE client_id = %ld", c);
                ok &= exec(db, sql) == 0;
                break;
            default:                /* expiry: a group's rows */
                snprintf(sql, sizeof sql, "DELETE FROM latest WHERE topic_id = '%s' AND "
                         "state_id = %ld", id, state);
                ok &= exec(db, sql) == 0;
                break;
            }
        }
        if (rollback) {
            qs_storedb_rollback(s);
            qs_count_deltas_clear(d);
        } else {
            ok &= qs_storedb_counts_apply(s, d) == 0;
            ok &= qs_storedb_commit(s) == 0;
        }
        QS_CHECK_EQ_INT(qs_count_deltas_size(d), 0);
        ok &= counts_agree(s);
        ok &= q_int(db, "SELECT count(*) FROM compliance_counts WHERE count <= 0") == 0;
        if (!ok)
            fprintf(stderr, "  first disagreement after transaction %d\n", txn);
    }
    QS_CHECK(ok);
    QS_CHECK(q_int(db, "SELECT count(*) FROM latest") > 20);
    QS_CHECK(q_int(db, "SELECT count(*) FROM compliance_counts") > 5);
    /* Everything deleted: no topic id is left in the counts either. */
    QS_CHECK_EQ_INT(exec(db, "DELETE FROM latest"), 0);
    QS_CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM compliance_counts"), 0);
    /* Deltas net out inside a transaction; a group of 1 moved away is pruned. */
    QS_CHECK_EQ_INT(exec(db, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                             "time_ms, report_ms) VALUES (1, 500, 'KB1', 2, 0, 0), "
                             "(2, 500, 'KB1', 2, 0, 0), (3, 500, 'KB2', 1, 0, 0)"), 0);
    QS_CHECK_EQ_INT(q_int(db, "SELECT count FROM compliance_counts WHERE topic_id = 'KB1'"), 2);
    QS_CHECK_EQ_INT(qs_storedb_begin(s), 0);
    QS_CHECK_EQ_INT(move_state(db, d, 1, 500, "KB1", 3), 0);
    QS_CHECK_EQ_INT(move_state(db, d, 1, 500, "KB1", 2), 0);
    QS_CHECK_EQ_INT(move_state(db, d, 3, 500, "KB2", 4), 0);
    QS_CHECK_EQ_INT(qs_count_deltas_size(d), 2);     /* KB2 1 -> 4; KB1 nets to 0 */
    QS_CHECK_EQ_INT(qs_storedb_counts_apply(s, d), 0);
    QS_CHECK_EQ_INT(qs_storedb_commit(s), 0);
    QS_CHECK(counts_agree(s));
    QS_CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM compliance_counts WHERE topic_id = 'KB2'"),
                    1);
    /* The check itself sees a tampered count, and the rebuild repairs it. */
    QS_CHECK_EQ_INT(exec(db, "UPDATE compliance_counts SET count = 5 WHERE topic_id = 'KB1';"
                             "INSERT INTO compliance_counts VALUES (500, 'KB-GONE', 1, 3)"), 0);
    {
        int64_t missing = 0, stale = 0;
        QS_CHECK_EQ_INT(qs_storedb_counts_check(s, &missing, &stale), 0);
        QS_CHECK_EQ_INT(missing, 1);
        QS_CHECK_EQ_INT(stale, 1);     /* KB-GONE; KB1 is "wrong", not stale */
    }
    {
        int64_t groups = -1;
        QS_CHECK_EQ_INT(qs_storedb_counts_rebuild(s, &groups), 0);
        QS_CHECK_EQ_INT(groups, 2);
    }
    QS_CHECK(counts_agree(s));
    /* A topic id no message could carry (an edited file) is an error, not a
     * crash, for the check and the rebuild alike. */
    {
        char long_id[QS_MAX_TOPIC_ID_BYTES + 40], q[512];
        int64_t missing, stale;
        memset(long_id, 'K', sizeof long_id - 1);
        long_id[sizeof long_id - 1] = '\0';
        snprintf(q, sizeof q, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                 "time_ms, report_ms) VALUES (9, 500, '%s', 1, 0, 0)", long_id);
        QS_CHECK_EQ_INT(exec(db, q), 0);
        QS_CHECK_EQ_INT(qs_storedb_counts_check(s, &missing, &stale), -1);
        QS_CHECK_EQ_INT(qs_storedb_counts_rebuild(s, NULL), -1);
        QS_CHECK_EQ_INT(exec(db, "DELETE FROM latest WHERE client_id = 9"), 0);
        QS_CHECK(counts_agree(s));
    }
    qs_count_deltas_destroy(&d);
    QS_CHECK(d == NULL);
    qs_storedb_destroy(&s);
    teardown();
}

/* Many distinct groups in one transaction: the delta table grows and keeps
 * every group. */
static void
test_count_deltas_grow_without_losing_a_group(void)
{
    qs_count_deltas_t *d = qs_count_deltas_new();
    char id[32];

    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "KB%d", i % 2500);
        qs_count_deltas_move(d, 500, id, 1, 2 + (uint32_t)(i / 2500));
    }
    /* 2,500 topics leave state 1 twice; enter states 2 and 3 once each. */
    QS_CHECK_EQ_INT(qs_count_deltas_size(d), 7500);
    qs_count_deltas_move(d, 500, "KB7", 2, 1);
    qs_count_deltas_move(d, 500, "KB7", 3, 1);     /* KB7 back in state 1 */
    QS_CHECK_EQ_INT(qs_count_deltas_size(d), 7497);
    qs_count_deltas_move(d, 500, "KB7", 4, 4);     /* no move at all */
    QS_CHECK_EQ_INT(qs_count_deltas_size(d), 7497);
    qs_count_deltas_clear(d);
    QS_CHECK_EQ_INT(qs_count_deltas_size(d), 0);
    qs_count_deltas_destroy(&d);
}

/* A store.db written before compliance_counts existed (user_version 0, the
 * indexes latest_compliance and latest_by_report) is upgraded on open:
 * counts filled from latest, indexes dropped, version set; and the triggers work from then on. */
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
    /* Version 4: expiry passes over the primary key, not this index. */
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT count(*) FROM sqlite_master "
                          "WHERE name = 'latest_by_report'"), 0);
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT count(*) FROM compliance_counts"), 12);
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT sum(count) FROM compliance_counts"), 300);
    QS_CHECK(counts_agree(s));
    QS_CHECK_EQ_INT(exec(qs_storedb_sqlite(s), "INSERT INTO latest VALUES (301, 500, 'KB9', "
                         "9, 0, 0, NULL, NULL); DELETE FROM latest WHERE client_id > 290"), 0);
    QS_CHECK_EQ_INT(q_int(qs_storedb_sqlite(s), "SELECT sum(count) FROM compliance_counts "
                          "WHERE state_id = 9"), 0);
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

/* A key file that exists but is refused (loose mode) is not "shredded":
 * qs_epochkeys_find tells the three cases apart, and says why. */
static void
test_epochkey_refused_is_not_shredded(void)
{
    char keys[400], path[500], why[512];
    const uint8_t *key = NULL;
    qs_epochkeys_t *ks;

    setup("ekref");
    snprintf(keys, sizeof keys, "%s/epochs", dir);
    snprintf(path, sizeof path, "%s/20000-500.key", keys);
    ks = qs_epochkeys_open(keys, 1, why, sizeof why);
    QS_CHECK(ks != NULL && qs_epochkeys_get(ks, 20000, 500, 1) != NULL);
    qs_epochkeys_destroy(&ks);

    ks = qs_epochkeys_open(keys, 0, why, sizeof why);   /* a fresh cache */
    QS_CHECK(ks != NULL);
    QS_CHECK_EQ_INT(chmod(path, 0644), 0);
    QS_CHECK_EQ_INT(qs_epochkeys_find(&key, ks, 20000, 500, why, sizeof why), -1);
    QS_CHECK(key == NULL && strstr(why, "20000-500.key") != NULL);
    QS_CHECK_EQ_INT(qs_epochkeys_find(&key, ks, 20001, 500, why, sizeof why), 1);
    QS_CHECK_EQ_INT(chmod(path, 0600), 0);
    QS_CHECK_EQ_INT(qs_epochkeys_find(&key, ks, 20000, 500, why, sizeof why), 0);
    QS_CHECK(key != NULL);
    QS_CHECK_EQ_INT(qs_epochkeys_shred(ks, 20000, 500, why, sizeof why), 0);
    QS_CHECK_EQ_INT(qs_epochkeys_find(&key, ks, 20000, 500, why, sizeof why), 1);
    qs_epochkeys_destroy(&ks);
    teardown();
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    QS_RUN(test_counts_follow_every_write_to_latest);
    QS_RUN(test_count_deltas_grow_without_losing_a_group);
    QS_RUN(test_upgrade_from_version_0);
    QS_RUN(test_newer_or_foreign_file_refused_untouched);
    QS_RUN(test_epochkey_refused_is_not_shredded);
    return qs_test_summary();
}
