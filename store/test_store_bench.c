/* test_store_bench.c - qs_store_bench.h: qs-bench's writes land in store.db as
 * the store's own would (clients, history partitions and their row counts,
 * latest with its conflict rule, low-water marks), and a bulk load of latest
 * gets its indexes, triggers and compliance_counts back. */
#include "qs_clock.h"
#include "qs_counts.h"
#include "qs_store_bench.h"
#include "qs_storedb.h"
#include "qs_test.h"
#include "storedb_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static qs_storedb_t *
setup(const char *name)
{
    char cmd[600], path[400], err[256];
    qs_storedb_t *db;

    snprintf(dir, sizeof dir, "/tmp/qs-test-store-bench-%s-%d", name, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    QS_CHECK_EQ_INT(system(cmd), 0);
    snprintf(path, sizeof path, "%s/store.db", dir);
    db = qs_storedb_open(path, 1, err, sizeof err);
    QS_CHECK(db != NULL);
    return db;
}

static void
teardown(qs_storedb_t **db)
{
    char cmd[600];

    qs_storedb_destroy(db);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)system(cmd);
}

static int64_t
q_int(qs_storedb_t *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(qs_storedb_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK)
        return -2;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void
test_store_bench_writes_rows_like_the_store(void)
{
    qs_storedb_t *db = setup("rows");
    qs_store_bench_t *b = qs_store_bench_new(db, NULL, 0);
    uint8_t ps[16] = { 7 }, sealed[40] = { 1 };
    int64_t epoch = 20000, t = epoch * QS_MS_PER_DAY + 5000;
    qs_store_bench_row_t row = { 1, 1, 500, "KB5000001", 2, 0, 0, ps, ps, NULL, NULL, 0 };
    char name[64], sql[256];

    QS_CHECK(b != NULL);
    row.time_ms = t;
    row.report_ms = t;
    QS_CHECK(qs_store_bench_begin(b) == 0);
    QS_CHECK(qs_store_bench_clients(b, 3, t) == 0);
    QS_CHECK(qs_store_bench_history(b, &row) == 0);
    QS_CHECK(qs_store_bench_latest(b, &row) == 0);
    row.serial = 2;
    row.state_id = 3;
    row.time_ms = t + 1000;
    row.details = sealed;
    row.details_len = sizeof sealed;
    QS_CHECK(qs_store_bench_history(b, &row) == 0);
    QS_CHECK(qs_store_bench_latest(b, &row) == 0);
    row.state_id = 1;      /* older: latest keeps state 3 */
    row.time_ms = t - 1000;
    QS_CHECK(qs_store_bench_latest(b, &row) == 0);
    QS_CHECK(qs_store_bench_low_water(b, 1, 2, t) == 0);
    QS_CHECK(qs_store_bench_commit(b) == 0);

    QS_CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM clients"), 3);
    QS_CHECK_EQ_INT(q_int(db, "SELECT max(client_id) FROM clients"), 3);
    QS_CHECK_EQ_INT(q_int(db, "SELECT low_water FROM clients WHERE client_id = 1"), 2);
    QS_CHECK(qs_storedb_partition_name(name, sizeof name, epoch, 500) == 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", name);
    QS_CHECK_EQ_INT(q_int(db, sql), 2);
    snprintf(sql, sizeof sql, "SELECT length(details) FROM %s WHERE serial = 2", name);
    QS_CHECK_EQ_INT(q_int(db, sql), sizeof sealed);
    QS_CHECK_EQ_INT(q_int(db, "SELECT rows FROM partitions WHERE epoch = 20000"), 2);
    QS_CHECK_EQ_INT(q_int(db, "SELECT state_id FROM latest"), 3);
    QS_CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM latest"), 1);

    /* Client ids 1..n only on an empty store. */
    QS_CHECK(qs_store_bench_begin(b) == 0);
    QS_CHECK(qs_store_bench_clients(b, 1, t) != 0);
    qs_storedb_rollback(db);
    qs_store_bench_destroy(&b);
    QS_CHECK(b == NULL);
    teardown(&db);
}

static void
test_store_bench_bulk_latest_restores_schema_and_counts(void)
{
    qs_storedb_t *db = setup("bulk");
    qs_store_bench_t *b = qs_store_bench_new(db, NULL, 0);
    const char *schema = "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'latest' "
                         "AND type IN ('index', 'trigger') AND sql IS NOT NULL";
    qs_store_bench_row_t row = { 0 };
    int64_t before = q_int(db, schema), missing = -1, stale = -1;

    QS_CHECK(before >= 3);
    QS_CHECK(qs_store_bench_fast(b, 1) == 0);
    QS_CHECK(qs_store_bench_bulk_latest(b, 1) == 0);
    QS_CHECK_EQ_INT(q_int(db, schema), 0);
    QS_CHECK(qs_store_bench_begin(b) == 0);
    row.topic_type = 500;
    row.topic_id = "KB5000001";
    for (int c = 1; c <= 10; c++) {
        row.client_id = c;
        row.state_id = 1 + (uint32_t)(c % 3);
        row.time_ms = row.report_ms = 1000 * c;
        QS_CHECK(qs_store_bench_latest(b, &row) == 0);
    }
    QS_CHECK(qs_store_bench_commit(b) == 0);
    QS_CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM compliance_counts"), 0);
    QS_CHECK(qs_store_bench_bulk_latest(b, 0) == 0);
    QS_CHECK(qs_store_bench_fast(b, 0) == 0);
    QS_CHECK_EQ_INT(q_int(db, schema), before);
    QS_CHECK(qs_storedb_counts_check(db, &missing, &stale) == 0);
    QS_CHECK_EQ_INT(missing, 0);
    QS_CHECK_EQ_INT(stale, 0);
    QS_CHECK_EQ_INT(q_int(db, "SELECT sum(count) FROM compliance_counts"), 10);
    qs_store_bench_destroy(&b);
    teardown(&db);
}

int
main(void)
{
    QS_RUN(test_store_bench_writes_rows_like_the_store);
    QS_RUN(test_store_bench_bulk_latest_restores_schema_and_counts);
    return qs_test_summary();
}
