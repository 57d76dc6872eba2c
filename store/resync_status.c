/* resync_status.c - how far the requested resyncs are, on both engines (qs_store_resync.h).
 *
 * Counts over the resync table (one row per client that ever had an
 * instance id, a gap or a request) and the resync.* counters, in one
 * snapshot. Only numbers: no client, no machine.
 */
#include "qs_store_resync.h"

#include "pgutil.h"
#include "qs_sqlutil.h"
#include "query_sqlite.h"
#include "resync.h"
#include "storedb_pg.h"
#include "storedb_sqlite.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Columns: waiting, due, in_progress, gaps, first and last due time of
 * the waiting ones (the one %-conversion is now). */
#define STATUS_SQL                                                                   \
    "SELECT "                                                                              \
    " coalesce(sum(CASE WHEN want_gen != 0 AND start_ms = 0 THEN 1 ELSE 0 END), 0),"       \
    " coalesce(sum(CASE WHEN want_gen != 0 AND start_ms = 0 AND due_ms <= %" PRId64        \
    "   THEN 1 ELSE 0 END), 0),"                                                           \
    " coalesce(sum(CASE WHEN want_gen != 0 AND start_ms != 0 THEN 1 ELSE 0 END), 0),"      \
    " coalesce(sum(CASE WHEN gap_since_ms != 0 THEN 1 ELSE 0 END), 0),"                    \
    " coalesce(min(CASE WHEN want_gen != 0 AND start_ms = 0 THEN due_ms END), 0),"         \
    " coalesce(max(CASE WHEN want_gen != 0 AND start_ms = 0 THEN due_ms END), 0) "         \
    "FROM resync"
#define COUNTERS_SQL(cast)                                                                 \
    "SELECT name, sum(value)" cast " FROM counters WHERE name LIKE 'resync.%' GROUP BY name"

static void
status_counter(qs_resync_status_t *out, const char *name, int64_t value)
{
    static const char prefix[] = "resync.";

    if (name == NULL || strncmp(name, prefix, sizeof prefix - 1) != 0)
        return;
    name += sizeof prefix - 1;
    if (strcmp(name, "requested") == 0)
        out->requested = value;
    else if (strcmp(name, "applied") == 0)
        out->applied = value;
    else if (strcmp(name, "new_instance") == 0)
        out->new_instance = value;
    else if (strcmp(name, "gap_given_up") == 0)
        out->gap_given_up = value;
}

static int
sqlite_status(qs_storedb_t *db, int64_t now_ms, qs_resync_status_t *out)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    int64_t has_table = 0;
    char q[1024];
    int rc = -1;

    if (qs_sql_int64(sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                          "AND name = 'resync'", &has_table) != 0)
        return -1;
    if (has_table) {
        snprintf(q, sizeof q, STATUS_SQL, now_ms);
        if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW)
            goto done;
        out->waiting = sqlite3_column_int64(st, 0);
        out->due = sqlite3_column_int64(st, 1);
        out->in_progress = sqlite3_column_int64(st, 2);
        out->gaps_open = sqlite3_column_int64(st, 3);
        out->first_due_ms = sqlite3_column_int64(st, 4);
        out->last_due_ms = sqlite3_column_int64(st, 5);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (sqlite3_prepare_v2(sql, COUNTERS_SQL(""), -1, &st, NULL) != SQLITE_OK)
        goto done;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        status_counter(out, (const char *)sqlite3_column_text(st, 0),
                       sqlite3_column_int64(st, 1));
    rc = rc == SQLITE_DONE ? 0 : -1;
done:
    sqlite3_finalize(st);
    return rc;
}

static int
pg_status(qs_pgdb_t *pg, int64_t now_ms, qs_resync_status_t *out, char *errmsg,
          size_t errmsg_len)
{
    PGresult *r;
    char inner[1024], q[1200];
    int has_table = qs_pg_table_exists(pg, "resync", errmsg, errmsg_len);

    if (has_table < 0)
        return -1;
    if (has_table) {
        /* sum() of bigints is numeric on PostgreSQL: cast back, the
         * results are read in binary as bigints. */
        snprintf(inner, sizeof inner, STATUS_SQL, now_ms);
        snprintf(q, sizeof q, "SELECT w::bigint, d::bigint, p::bigint, g::bigint, f::bigint, "
                 "l::bigint FROM (%s) AS s(w, d, p, g, f, l)", inner);
        r = qs_pg_query(pg, "cannot count the resyncs", q, 0, NULL, NULL, NULL, errmsg,
                        errmsg_len);
        if (r == NULL)
            return -1;
        out->waiting = qs_pg_i64(r, 0, 0);
        out->due = qs_pg_i64(r, 0, 1);
        out->in_progress = qs_pg_i64(r, 0, 2);
        out->gaps_open = qs_pg_i64(r, 0, 3);
        out->first_due_ms = qs_pg_i64(r, 0, 4);
        out->last_due_ms = qs_pg_i64(r, 0, 5);
        PQclear(r);
    }
    r = qs_pg_query(pg, "cannot read the resync counters", COUNTERS_SQL("::bigint"), 0, NULL,
                    NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        status_counter(out, PQgetvalue(r, i, 0), qs_pg_i64(r, i, 1));
    PQclear(r);
    return 0;
}

int
qs_storedb_resync_status(qs_storedb_t *db, int64_t now_ms, qs_resync_status_t *out,
                         char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    int rc;

    memset(out, 0, sizeof *out);
    errmsg[0] = '\0';
    if (pg != NULL) {
        if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
            return -1;
        rc = pg_status(pg, now_ms, out, errmsg, errmsg_len);
        qs_pg_read_end(pg);
        return rc;
    }
    if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s",
                 sqlite3_errmsg(qs_storedb_sqlite(db)));
        return -1;
    }
    rc = sqlite_status(db, now_ms, out);
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "cannot count the resyncs: %s",
                 sqlite3_errmsg(qs_storedb_sqlite(db)));
    qs_storedb_read_end(db);
    return rc;
}
