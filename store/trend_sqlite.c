/* trend_sqlite.c - daily compliance snapshots on SQLite: write one day, read a range (trend_int.h).
 *
 * The tables are created when missing by the snapshot, inside its
 * transaction (CREATE TABLE IF NOT EXISTS: keyed on the table's existence,
 * so no schema version is needed and an older store.db simply starts
 * collecting days). compliance_counts is already the current state grouped
 * (kept exact by the writers, qs_storedb.h): a snapshot is a copy of a few
 * hundred rows, whatever the fleet's size. Each group of machines
 * (machine_groups, made with the first group) gets its day in the same
 * transaction, counted from latest by the group compliance rule
 * (QS_GROUP_SQL_CELLS). A read is two key-order range reads (the fleet's
 * or one group's) inside one deferred transaction (a WAL snapshot).
 */
#include "trend_int.h"
#include "groups_rules.h"
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
    "  day INTEGER PRIMARY KEY, taken_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS compliance_daily_group("
    "  group_name TEXT NOT NULL, day INTEGER NOT NULL, topic_type INTEGER NOT NULL,"
    "  topic_id TEXT NOT NULL, state_id INTEGER NOT NULL, count INTEGER NOT NULL,"
    "  PRIMARY KEY(group_name, day, topic_type, topic_id, state_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS compliance_days_group("
    "  day INTEGER NOT NULL, group_name TEXT NOT NULL,"
    "  PRIMARY KEY(day, group_name)) WITHOUT ROWID;";

/* ?1 day, ?2 taken_ms, ?3 first day kept. A group's rows are found
 * through its days (compliance_days_group is keyed by day, the rows by
 * group first, for the read of one group): they are written together, so
 * no row is without its day. */
static const char *const sql_snapshot[] = {
    "DELETE FROM compliance_daily WHERE day = ?1 OR day < ?3",
    "DELETE FROM compliance_days WHERE day = ?1 OR day < ?3",
    ("INSERT INTO compliance_daily(day, topic_type, topic_id, state_id, count) "
     "  SELECT ?1, topic_type, topic_id, state_id, count FROM compliance_counts WHERE count <> 0"),
    "INSERT INTO compliance_days(day, taken_ms) VALUES (?1, ?2)",
    ("DELETE FROM compliance_daily_group WHERE (group_name, day) IN "
     "  (SELECT group_name, day FROM compliance_days_group WHERE day = ?1 OR day < ?3)"),
    "DELETE FROM compliance_days_group WHERE day = ?1 OR day < ?3",
};
#define SNAPSHOT_ROWS 2   /* the statement whose changes are the rows written */

/* Every group's day, when groups exist (the group tables are made with the
 * first group, groups_rules.h). ?1 day. */
static const char *const sql_snapshot_groups[] = {
    ("INSERT INTO compliance_daily_group(day, group_name, topic_type, topic_id, state_id, "
     "count) SELECT ?1, c.* FROM (" QS_GROUP_SQL_CELLS("m.group_name, ", "1 = 1") ") c"),
    "INSERT INTO compliance_days_group(day, group_name) SELECT ?1, name FROM machine_groups",
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
    int64_t first_kept = day - keep_days + 1, have_groups = 0;

    if (qs_storedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot begin the daily snapshot: %s", sqlite3_errmsg(sql));
        return -1;
    }
    if (sqlite3_exec(sql, sql_tables, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < sizeof sql_snapshot / sizeof sql_snapshot[0]; i++)
        if (run_bound(sql, sql_snapshot[i], day, taken_ms, first_kept,
                      i == SNAPSHOT_ROWS ? groups : NULL) != 0)
            goto fail;
    if (qs_sql_int64(sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                     "name IN ('machine_groups', 'group_members')", &have_groups) != 0)
        goto fail;
    for (size_t i = 0; have_groups == 2 && i < 2; i++)
        if (run_bound(sql, sql_snapshot_groups[i], day, taken_ms, first_kept, NULL) != 0)
            goto fail;
    if (qs_storedb_commit(db) != 0)
        goto fail;
    return 0;
fail:
    snprintf(errmsg, errmsg_len, "daily compliance snapshot failed: %s", sqlite3_errmsg(sql));
    qs_storedb_rollback(db);
    return -1;
}

/* ?1..?2 the days; ?3 topic type or NULL; ?4 topic id or NULL; ?5 the
 * group. The primary key's order: no sort. */
static const char sql_rows[] =
    "SELECT day, topic_type, topic_id, state_id, count FROM compliance_daily "
    "WHERE day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR topic_type = ?3) "
    "AND (?4 IS NULL OR topic_id = ?4) ORDER BY day, topic_type, topic_id, state_id";
static const char sql_days[] =
    "SELECT day FROM compliance_days WHERE day BETWEEN ?1 AND ?2 ORDER BY day";
static const char sql_group_rows[] =
    "SELECT day, topic_type, topic_id, state_id, count FROM compliance_daily_group "
    "WHERE group_name = ?5 AND day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR topic_type = ?3) "
    "AND (?4 IS NULL OR topic_id = ?4) ORDER BY day, topic_type, topic_id, state_id";
static const char sql_group_days[] =
    "SELECT day FROM compliance_days_group WHERE day BETWEEN ?1 AND ?2 AND group_name = ?5 "
    "ORDER BY day";

static void
bind_query(sqlite3_stmt *st, int64_t first_day, int64_t last_day, const qs_trend_query_t *q)
{
    int n = sqlite3_bind_parameter_count(st);

    sqlite3_bind_int64(st, 1, first_day);
    sqlite3_bind_int64(st, 2, last_day);
    if (n >= 3 && q->topic_type != NULL)
        sqlite3_bind_int64(st, 3, *q->topic_type);
    if (n >= 4 && q->topic_id != NULL)
        sqlite3_bind_text(st, 4, q->topic_id, -1, SQLITE_STATIC);
    if (n >= 5 && q->group != NULL)
        sqlite3_bind_text(st, 5, q->group, -1, SQLITE_STATIC);
}

static int
fetch_locked(sqlite3 *sql, qs_trend_raw_t *raw, int64_t first_day, int64_t last_day,
             const qs_trend_query_t *q)
{
    sqlite3_stmt *days = NULL, *rows = NULL;
    int rc = -1, step;

    if (sqlite3_prepare_v2(sql, q->group ? sql_group_days : sql_days, -1, &days,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sql, q->group ? sql_group_rows : sql_rows, -1, &rows,
                           NULL) != SQLITE_OK)
        goto out;
    bind_query(days, first_day, last_day, q);
    while ((step = sqlite3_step(days)) == SQLITE_ROW)
        qs_trend_raw_day(raw, sqlite3_column_int64(days, 0));
    if (step != SQLITE_DONE)
        goto out;
    bind_query(rows, first_day, last_day, q);
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
                      int64_t last_day, const qs_trend_query_t *q, char *errmsg,
                      size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    int64_t present = 0;
    int rc;

    if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "trend query on store.db failed: %s", sqlite3_errmsg(sql));
        return -1;
    }
    rc = qs_sql_int64(sql, q->group != NULL
                               ? "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name IN ('compliance_daily_group', 'compliance_days_group')"
                               : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name IN ('compliance_daily', 'compliance_days')",
                      &present);
    if (rc == 0 && present == 2)   /* else no snapshot was ever taken: every day missing */
        rc = fetch_locked(sql, raw, first_day, last_day, q);
    if (rc != 0) {
        snprintf(errmsg, errmsg_len, "trend query on store.db failed: %s", sqlite3_errmsg(sql));
        qs_trend_raw_free(raw);
    }
    qs_storedb_read_end(db);
    return rc;
}

static int
bind_group(sqlite3_stmt *st, const void *name)
{
    return sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
}

int
qs_trend_group_forget_sqlite(sqlite3 *sql, const char *name)
{
    int64_t present = 0;

    if (qs_sql_int64(sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                     "name IN ('compliance_daily_group', 'compliance_days_group')",
                     &present) != 0)
        return -1;
    if (present != 2)
        return 0;   /* no group was ever snapshotted */
    return qs_sql_run(sql, "DELETE FROM compliance_daily_group WHERE group_name = ?1",
                      bind_group, name, NULL) != 0 ||
                   qs_sql_run(sql, "DELETE FROM compliance_days_group WHERE group_name = ?1",
                              bind_group, name, NULL) != 0
               ? -1 : 0;
}
