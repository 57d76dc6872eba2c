/* trend_pg.c - daily compliance snapshots on PostgreSQL: write one day, read a range (trend_int.h).
 *
 * The same tables as on SQLite (trend_sqlite.c), created when missing
 * under the schema's advisory lock (as the resync table is, so several
 * processes starting at once create them once). compliance_counts has one
 * row per group and writer shard (storedb_pg.h): a day's row is the sum
 * over the shards, groups at 0 left out. qs-retention writes the day
 * while holding the retention lock, after its fold: one writer of the
 * day at a time; the groups' days are written in the same transaction
 * (snapshot_groups). Reads run in one REPEATABLE READ snapshot and order
 * topic ids by bytes, as SQLite does.
 */
#include "trend_int.h"
#include "groups_rules.h"
#include "pgutil.h"

#include <stdio.h>
#include <string.h>

static const char sql_tables[] =
    "CREATE TABLE IF NOT EXISTS compliance_daily("
    "  day bigint NOT NULL, topic_type bigint NOT NULL, topic_id text NOT NULL,"
    "  state_id bigint NOT NULL, count bigint NOT NULL,"
    "  PRIMARY KEY(day, topic_type, topic_id, state_id));"
    "CREATE TABLE IF NOT EXISTS compliance_days("
    "  day bigint PRIMARY KEY, taken_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS compliance_daily_group("
    "  group_name text NOT NULL, day bigint NOT NULL, topic_type bigint NOT NULL,"
    "  topic_id text NOT NULL, state_id bigint NOT NULL, count bigint NOT NULL,"
    "  PRIMARY KEY(group_name, day, topic_type, topic_id, state_id));"
    "CREATE TABLE IF NOT EXISTS compliance_days_group("
    "  day bigint NOT NULL, group_name text NOT NULL, PRIMARY KEY(day, group_name));";

int
qs_trend_pg_tables(qs_pgdb_t *pg)
{
    char sql[1400];

    /* One simple query is one transaction (or part of the caller's): the
     * lock is held until its end. */
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d, %d); %s", QS_PG_LOCK_CLASS,
             QS_PG_LOCK_SCHEMA, sql_tables);
    return qs_pgdb_exec(pg, sql);
}

static int
tables_ensure(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    if (qs_trend_pg_tables(pg) == 0)
        return 0;
    snprintf(errmsg, errmsg_len, "cannot create the daily compliance tables: %s",
             qs_pgdb_errmsg(pg));
    return -1;
}

/* Every group's day (trend_sqlite.c has the same statements), when the
 * group tables exist. $1 day, $2 first day kept. The groups' rows are
 * share-locked first: a `group remove` (which locks its row FOR UPDATE,
 * groups_pg.c) either waits for this snapshot and then deletes its day
 * too, or commits first and is not snapshotted; a removed group's day
 * never outlives it. The rows follow the days noted, so no row is without
 * its day (READ COMMITTED: each statement sees the groups committed then). */
static int
snapshot_groups(qs_pgdb_t *pg, const char *const *drop, char *errmsg, size_t errmsg_len)
{
    const char *what = "daily group snapshot failed";
    int have = qs_pg_table_exists(pg, "group_members", errmsg, errmsg_len);

    if (have < 0 || qs_pg_run(pg, what, "DELETE FROM compliance_daily_group WHERE "
                              "(group_name, day) IN (SELECT group_name, day FROM "
                              "compliance_days_group WHERE day = $1 OR day < $2)", 2, drop,
                              NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, what, "DELETE FROM compliance_days_group WHERE day = $1 OR day < $2", 2,
                  drop, NULL, NULL, NULL, errmsg, errmsg_len) != 0)
        return -1;
    if (have == 0)
        return 0;   /* no group was ever made */
    return qs_pg_run(pg, what, "SELECT 1 FROM machine_groups FOR SHARE", 0, NULL, NULL, NULL,
                     NULL, errmsg, errmsg_len) != 0 ||
                   qs_pg_run(pg, what, "INSERT INTO compliance_days_group(day, group_name) "
                             "SELECT $1::bigint, name FROM machine_groups", 1, drop, NULL, NULL,
                             NULL, errmsg, errmsg_len) != 0 ||
                   qs_pg_run(pg, what,
                             "INSERT INTO compliance_daily_group(day, group_name, topic_type, "
                             "topic_id, state_id, count) SELECT $1::bigint, c.* FROM ("
                             QS_GROUP_SQL_CELLS("m.group_name, ", "m.group_name IN (SELECT "
                                                "group_name FROM compliance_days_group WHERE "
                                                "day = $1::bigint)") ") c",
                             1, drop, NULL, NULL, NULL, errmsg, errmsg_len) != 0
               ? -1 : 0;
}

static int
snapshot_locked(qs_pgdb_t *pg, int64_t day, int64_t taken_ms, int keep_days, int64_t *groups,
                char *errmsg, size_t errmsg_len)
{
    char d[24], t[24], first[24];
    const char *drop[2] = { d, first }, *take[2] = { d, t };
    const char *what = "daily compliance snapshot failed";

    snprintf(d, sizeof d, "%lld", (long long)day);
    snprintf(t, sizeof t, "%lld", (long long)taken_ms);
    snprintf(first, sizeof first, "%lld", (long long)(day - keep_days + 1));
    return qs_pg_run(pg, what, "DELETE FROM compliance_daily WHERE day = $1 OR day < $2", 2,
                     drop, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
                   qs_pg_run(pg, what, "DELETE FROM compliance_days WHERE day = $1 OR day < $2",
                             2, drop, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
                   qs_pg_run(pg, what,
                             "INSERT INTO compliance_daily(day, topic_type, topic_id, state_id, "
                             "count) SELECT $1::bigint, topic_type, topic_id, state_id, "
                             "sum(count)::bigint FROM compliance_counts "
                             "GROUP BY topic_type, topic_id, state_id HAVING sum(count) <> 0",
                             1, drop, NULL, NULL, groups, errmsg, errmsg_len) != 0 ||
                   qs_pg_run(pg, what,
                             "INSERT INTO compliance_days(day, taken_ms) VALUES ($1, $2)", 2,
                             take, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
                   snapshot_groups(pg, drop, errmsg, errmsg_len) != 0
               ? -1 : 0;
}

int
qs_trend_snapshot_pg(qs_storedb_t *db, int64_t day, int64_t taken_ms, int keep_days,
                     int64_t *groups, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);

    if (qs_pg_ensure(pg, errmsg, errmsg_len) != 0 || tables_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot begin the daily snapshot: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    if (snapshot_locked(pg, day, taken_ms, keep_days, groups, errmsg, errmsg_len) != 0) {
        qs_pgdb_rollback(pg);
        return -1;
    }
    if (qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot commit the daily snapshot: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    return 0;
}

static const char sql_rows[] =
    "SELECT day, topic_type, topic_id, state_id, count FROM compliance_daily "
    "WHERE day BETWEEN $1 AND $2 AND ($3::bigint IS NULL OR topic_type = $3) "
    "AND ($4::text IS NULL OR topic_id = $4) "
    "ORDER BY day, topic_type, topic_id" QS_PG_BYTE_ORDER ", state_id";
static const char sql_group_rows[] =
    "SELECT day, topic_type, topic_id, state_id, count FROM compliance_daily_group "
    "WHERE group_name = $5 AND day BETWEEN $1 AND $2 AND ($3::bigint IS NULL OR topic_type = $3) "
    "AND ($4::text IS NULL OR topic_id = $4) "
    "ORDER BY day, topic_type, topic_id" QS_PG_BYTE_ORDER ", state_id";

static int
fetch_locked(qs_pgdb_t *pg, qs_trend_raw_t *raw, int64_t first_day, int64_t last_day,
             const qs_trend_query_t *q, char *errmsg, size_t errmsg_len)
{
    char from[24], to[24], type[16];
    const char *params[5] = { from, to, NULL, q->topic_id, q->group };
    PGresult *r;

    snprintf(from, sizeof from, "%lld", (long long)first_day);
    snprintf(to, sizeof to, "%lld", (long long)last_day);
    if (q->topic_type != NULL) {
        snprintf(type, sizeof type, "%u", *q->topic_type);
        params[2] = type;
    }
    if (q->group != NULL)   /* $5 after $1 and $2: the two others are not in it */
        params[2] = q->group;
    r = qs_pg_query(pg, "trend query failed",
                    q->group ? "SELECT day FROM compliance_days_group WHERE day BETWEEN $1 "
                               "AND $2 AND group_name = $3 ORDER BY day"
                             : "SELECT day FROM compliance_days WHERE day BETWEEN $1 AND $2 "
                               "ORDER BY day",
                    q->group ? 3 : 2, params, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        qs_trend_raw_day(raw, qs_pg_i64(r, i, 0));
    PQclear(r);
    params[2] = q->topic_type != NULL ? type : NULL;
    r = qs_pg_query(pg, "trend query failed", q->group ? sql_group_rows : sql_rows,
                    q->group ? 5 : 4, params, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        qs_trend_raw_row(raw, qs_pg_i64(r, i, 0), (uint32_t)qs_pg_i64(r, i, 1),
                         PQgetvalue(r, i, 2), (uint32_t)qs_pg_i64(r, i, 3), qs_pg_i64(r, i, 4));
    PQclear(r);
    return 0;
}

int
qs_trend_fetch_pg(qs_storedb_t *db, qs_trend_raw_t *raw, int64_t first_day, int64_t last_day,
                  const qs_trend_query_t *q, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    int rc = 0, have_rows, have_days;

    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    have_rows = qs_pg_table_exists(pg, q->group ? "compliance_daily_group" : "compliance_daily",
                                   errmsg, errmsg_len);
    have_days = have_rows < 0 ? -1
                              : qs_pg_table_exists(pg, q->group ? "compliance_days_group"
                                                                : "compliance_days",
                                                   errmsg, errmsg_len);
    if (have_rows < 0 || have_days < 0)
        rc = -1;
    else if (have_rows && have_days)   /* else no snapshot was ever taken: every day missing */
        rc = fetch_locked(pg, raw, first_day, last_day, q, errmsg, errmsg_len);
    qs_pg_read_end(pg);
    if (rc != 0)
        qs_trend_raw_free(raw);
    return rc;
}

int
qs_trend_group_forget_pg(qs_pgdb_t *pg, const char *name, char *errmsg, size_t errmsg_len)
{
    const char *params[1] = { name };
    const char *what = "cannot delete the group's daily snapshots";
    int have = qs_pg_table_exists(pg, "compliance_days_group", errmsg, errmsg_len);

    if (have <= 0)
        return have;   /* 0: no group was ever snapshotted */
    return qs_pg_run(pg, what, "DELETE FROM compliance_daily_group WHERE group_name = $1", 1,
                     params, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
                   qs_pg_run(pg, what, "DELETE FROM compliance_days_group WHERE group_name = $1",
                             1, params, NULL, NULL, NULL, errmsg, errmsg_len) != 0
               ? -1 : 0;
}
