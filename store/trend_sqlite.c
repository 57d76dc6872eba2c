/* trend_sqlite.c - daily compliance snapshots on SQLite: write one day, read a range (trend_int.h).
 *
 * The tables are created when missing by the snapshot, inside its
 * transaction (CREATE TABLE IF NOT EXISTS: keyed on the table's existence,
 * so no schema version is needed and an older store.db simply starts
 * collecting days). compliance_counts is already the current state grouped
 * (kept exact by the writers, qs_storedb.h): a snapshot is a copy of a few
 * hundred rows, whatever the fleet's size. A read is two key-order range
 * reads inside one deferred transaction (a WAL snapshot).
 */
#include "trend_int.h"
#include "qs_sqlutil.h"
#include "query_sqlite.h"

#include <stdio.h>
#include <string.h>

static const char sql_tables[] =
    "CREATE TABLE IF NOT EXISTS compliance_daily("
    "  day INTEGER NOT NULL, topic_type INTEGER NOT NULL, topic_id TEXT NOT NULL,"
    "  state_id INTEGER NOT NULL, count INTEGER NOT NULL,"
    "  PRIMARY KEY(day, topic_type, topic_id, state_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS compliance_days("
    "  day INTEGER PRIMARY KEY, taken_ms INTEGER NOT NULL);";

/* ?1 day, ?2 taken_ms, ?3 first day kept. */
static const char *const sql_snapshot[] = {
    "DELETE FROM compliance_daily WHERE day = ?1 OR day < ?3",
    "DELETE FROM compliance_days WHERE day = ?1 OR day < ?3",
    ("INSERT INTO compliance_daily(day, topic_type, topic_id, state_id, count) "
     "  SELECT ?1, topic_type, topic_id, state_id, count FROM compliance_counts WHERE count <> 0"),
    "INSERT INTO compliance_days(day, taken_ms) VALUES (?1, ?2)",
};

static int
run_bound(sqlite3 *db, const char *sql, int64_t day, int64_t taken_ms, int64_t first_kept,
          int64_t *changes)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++)
        sqlite3_bind_int64(st, i, i == 1 ? day : i == 2 ? taken_ms : first_kept);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (changes != NULL)
        *changes = sqlite3_changes(db);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_trend_snapshot_sqlite(qs_storedb_t *db, int64_t day, int64_t taken_ms, int keep_days,
                         int64_t *groups, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    int64_t first_kept = day - keep_days + 1;

    if (qs_storedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot begin the daily snapshot: %s", sqlite3_errmsg(sql));
        return -1;
    }
    if (sqlite3_exec(sql, sql_tables, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < sizeof sql_snapshot / sizeof sql_snapshot[0]; i++)
        if (run_bound(sql, sql_snapshot[i], day, taken_ms, first_kept,
                      i == 2 ? groups : NULL) != 0)
            goto fail;
    if (qs_storedb_commit(db) != 0)
        goto fail;
    return 0;
fail:
    snprintf(errmsg, errmsg_len, "daily compliance snapshot failed: %s", sqlite3_errmsg(sql));
    qs_storedb_rollback(db);
    return -1;
}

/* ?1..?2 the days; ?3 topic type or NULL; ?4 topic id or NULL. The
 * primary key's order: no sort. */
static const char sql_rows[] =
    "SELECT day, topic_type, topic_id, state_id, count FROM compliance_daily "
    "WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR topic_type = ?3) "
    "AND (?4 IS NULL OR topic_id = ?4) ORDER BY day, topic_type, topic_id, state_id";
static const char sql_days[] =
    "SELECT day FROM compliance_days WHERE day BETWEEN ?1 AND ?2 ORDER BY day";

static int
fetch_locked(sqlite3 *sql, qs_trend_raw_t *raw, int64_t first_day, int64_t last_day,
             const uint32_t *topic_type, const char *topic_id)
{
    sqlite3_stmt *days = NULL, *rows = NULL;
    int rc = -1, step;

    if (sqlite3_prepare_v2(sql, sql_days, -1, &days, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sql, sql_rows, -1, &rows, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(days, 1, first_day);
    sqlite3_bind_int64(days, 2, last_day);
    while ((step = sqlite3_step(days)) == SQLITE_ROW)
        qs_trend_raw_day(raw, sqlite3_column_int64(days, 0));
    if (step != SQLITE_DONE)
        goto out;
    sqlite3_bind_int64(rows, 1, first_day);
    sqlite3_bind_int64(rows, 2, last_day);
    if (topic_type != NULL)
        sqlite3_bind_int64(rows, 3, *topic_type);
    if (topic_id != NULL)
        sqlite3_bind_text(rows, 4, topic_id, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(rows)) == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(rows, 2);
        qs_trend_raw_row(raw, sqlite3_column_int64(rows, 0),
                         (uint32_t)sqlite3_column_int64(rows, 1), id ? (const char *)id : "",
                         (uint32_t)sqlite3_column_int64(rows, 3), sqlite3_column_int64(rows, 4));
    }
    rc = step == SQLITE_DONE ? 0 : -1;
out:
    sqlite3_finalize(days);
    sqlite3_finalize(rows);
    return rc;
}

int
qs_trend_fetch_sqlite(qs_storedb_t *db, qs_trend_raw_t *raw, int64_t first_day,
                      int64_t last_day, const uint32_t *topic_type, const char *topic_id,
                      char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    int64_t present = 0;
    int rc;

    if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "trend query on store.db failed: %s", sqlite3_errmsg(sql));
        return -1;
    }
    rc = qs_sql_int64(sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                      "name IN ('compliance_daily', 'compliance_days')", &present);
    if (rc == 0 && present == 2)   /* else no snapshot was ever taken: every day missing */
        rc = fetch_locked(sql, raw, first_day, last_day, topic_type, topic_id);
    if (rc != 0) {
        snprintf(errmsg, errmsg_len, "trend query on store.db failed: %s", sqlite3_errmsg(sql));
        qs_trend_raw_free(raw);
    }
    qs_storedb_read_end(db);
    return rc;
}
