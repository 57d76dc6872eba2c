/* check_pg.c - the measurements `qsctl verify` takes of the store on PostgreSQL.
 *
 * The same facts as check.c: latest in one grouped scan with each topic
 * type's cutoff in a CASE, each history partition present in one scan of
 * its own, the columns that could hold text from information_schema, the
 * counts against latest (counts_pg.c). A value is a pseudonym when it is
 * NULL or 16 bytes (the columns are bytea: no other type can be stored).
 * What verify cannot see on this engine (the server's data files, WAL
 * archives, base backups) and why that is safe: docs/privacy.md.
 */
#include "check_rules.h"
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQL true when column c is neither NULL nor 16 bytes long. */
#define NOT_PS(c) "(" c " IS NOT NULL AND length(" c ") <> 16)"

int
qs_storedb_check_latest_pg(qs_storedb_t *db, qs_check_latest_cb cb, void *ctx,
                           const qs_policy_t *p, int64_t now_ms, int64_t grace_ms,
                           char *errmsg, size_t errmsg_len)
{
    char q[2048];
    PGresult *r;

    qs_check_latest_sql(q, sizeof q, NOT_PS("machine_ps") " OR " NOT_PS("domain_ps"), p, now_ms,
                        grace_ms);
    r = qs_pg_query(qs_storedb_pgdb(db), "cannot scan latest", q, 0, NULL, NULL, NULL, errmsg,
                    errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        const qs_check_latest_t t = {
            .topic_type = (uint32_t)qs_pg_i64(r, i, 0),
            .rows = qs_pg_i64(r, i, 1),
            .not_pseudonym = qs_pg_i64(r, i, 2),
            .expired = qs_pg_i64(r, i, 3),
            .oldest_report_ms = qs_pg_i64(r, i, 4),
        };
        cb(ctx, &t);
    }
    PQclear(r);
    return 0;
}

/* Measure one partition (whose table exists) into *m; 0, or -1 with errmsg. */
static int
measure_partition(qs_pgdb_t *pg, qs_check_partition_t *m, int64_t cutoff_ms,
                  char *errmsg, size_t errmsg_len)
{
    char name[64], q[512], cut[24];
    const char *params[1] = { cut };
    PGresult *r;

    if (qs_storedb_partition_name(name, sizeof name, m->epoch, m->topic_type) != 0)
        return -1;
    snprintf(cut, sizeof cut, "%lld", (long long)cutoff_ms);
    snprintf(q, sizeof q, "SELECT count(*), count(*) FILTER (WHERE " NOT_PS("machine_ps")
             " OR " NOT_PS("domain_ps") " OR " NOT_PS("user_ps") "), count(*) FILTER (WHERE "
             "time_ms < $1::bigint) FROM %s", name);
    r = qs_pg_query(pg, "cannot scan it", q, 1, params, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    m->rows = qs_pg_i64(r, 0, 0);
    m->not_pseudonym = qs_pg_i64(r, 0, 1);
    m->expired = qs_pg_i64(r, 0, 2);
    PQclear(r);
    return 0;
}

int
qs_storedb_check_partitions_pg(qs_storedb_t *db, qs_check_partition_cb cb, void *ctx,
                               const qs_policy_t *p, int64_t now_ms, int64_t grace_ms,
                               char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    char err[512];

    if (qs_pgdb_partitions_present(pg, &parts, &n_parts) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        return -1;
    }
    /* A partition registered without a table holds nothing: skipped. */
    if (qs_pg_keep_tables(pg, parts, &n_parts, errmsg, errmsg_len) != 0) {
        free(parts);
        return -1;
    }
    for (size_t i = 0; i < n_parts; i++) {
        qs_check_partition_t m = { .epoch = parts[i].epoch, .topic_type = parts[i].topic_type };
        int64_t cutoff = qs_policy_cutoff_ms(p, m.topic_type, now_ms) - grace_ms;

        if (measure_partition(pg, &m, cutoff, err, sizeof err) != 0) {
            m.error = err;
            m.rows = m.not_pseudonym = m.expired = 0;
        }
        cb(ctx, &m);
    }
    free(parts);
    return 0;
}

/* Text the store must hold: topic ids (latest, compliance_counts,
 * installed_hours, history partitions), counter names, meta's keys and
 * group names (not personal: docs/groups.md). */
static int
text_allowed(const char *table, const char *column)
{
    if (strcmp(column, "topic_id") == 0)
        return strcmp(table, "latest") == 0 || strcmp(table, "compliance_counts") == 0 ||
               strcmp(table, "compliance_daily") == 0 ||
               strcmp(table, "compliance_daily_group") == 0 ||
               strcmp(table, "installed_hours") == 0 || strncmp(table, "history_", 8) == 0;
    return (strcmp(table, "counters") == 0 && strcmp(column, "name") == 0) ||
           (strcmp(table, "meta") == 0 && strcmp(column, "key") == 0) ||
           (strcmp(table, "machine_groups") == 0 && strcmp(column, "name") == 0) ||
           (strcmp(table, "group_members") == 0 && strcmp(column, "group_name") == 0) ||
           ((strcmp(table, "compliance_daily_group") == 0 ||
             strcmp(table, "compliance_days_group") == 0) && strcmp(column, "group_name") == 0);
}

int
qs_storedb_check_text_columns_pg(qs_storedb_t *db, qs_check_column_cb cb, void *ctx,
                                 char *errmsg, size_t errmsg_len)
{
    /* Every type a name could be written into as text: character types,
     * documents, arrays and anything user-defined (a domain over text). */
    PGresult *r = qs_pg_query(qs_storedb_pgdb(db), "cannot read information_schema",
        "SELECT table_name::text, column_name::text, "
        "       CASE WHEN data_type IN ('USER-DEFINED', 'ARRAY') THEN udt_name::text "
        "            ELSE data_type::text END "
        "FROM information_schema.columns WHERE table_schema = current_schema() AND "
        "     data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', "
        "                   'xml', 'name', '\"char\"', 'ARRAY', 'USER-DEFINED', 'tsvector') "
        "ORDER BY table_name" QS_PG_BYTE_ORDER ", ordinal_position",
        0, NULL, NULL, NULL, errmsg, errmsg_len);

    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        if (!text_allowed(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)))
            cb(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    PQclear(r);
    return 0;
}

/* SQLite's check is incremental auto-vacuum; its counterpart here is the
 * VACUUM qs_storedb_scrub runs after every purge and forget, which needs no
 * setting. Nothing to report. */
int
qs_storedb_check_storage_pg(qs_storedb_t *db, char *problem, size_t problem_len)
{
    (void)db;
    (void)problem;
    (void)problem_len;
    return 0;
}

/* Rows of table whose column holds name, in one scan of the table. Text
 * is compared lowercased; bytea through its escape form, in which every
 * printable ASCII byte but the backslash stands for itself. */
static int
count_name(qs_pgdb_t *pg, const char *table, const char *column, int binary, const char *name,
           int64_t *rows, char *errmsg, size_t errmsg_len)
{
    const char *params[1] = { name };
    char q[512], *t, *c;
    PGconn *conn = qs_pgdb_conn(pg);
    PGresult *r;

    t = PQescapeIdentifier(conn, table, strlen(table));
    c = PQescapeIdentifier(conn, column, strlen(column));
    if (t == NULL || c == NULL) {
        snprintf(errmsg, errmsg_len, "cannot quote '%s.%s'", table, column);
        PQfreemem(t);
        PQfreemem(c);
        return -1;
    }
    snprintf(q, sizeof q, "SELECT count(*) FROM %s WHERE strpos(lower(%s%s%s), lower($1)) > 0",
             t, binary ? "encode(" : "", c, binary ? ", 'escape')" : "::text");
    PQfreemem(t);
    PQfreemem(c);
    r = qs_pg_query(pg, "cannot search for the name", q, 1, params, NULL, NULL, errmsg,
                    errmsg_len);
    if (r == NULL)
        return -1;
    *rows = qs_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int
qs_storedb_check_name_pg(qs_storedb_t *db, const char *name, qs_check_name_cb cb, void *ctx,
                         char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    PGresult *cols = qs_pg_query(pg, "cannot read information_schema",
        "SELECT table_name::text, column_name::text, (data_type = 'bytea')::int::bigint "
        "FROM information_schema.columns WHERE table_schema = current_schema() AND "
        "     data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', "
        "                   'xml', 'name', 'ARRAY', 'USER-DEFINED', 'bytea') "
        "ORDER BY table_name" QS_PG_BYTE_ORDER ", ordinal_position",
        0, NULL, NULL, NULL, errmsg, errmsg_len);
    int rc = 0;

    if (cols == NULL)
        return -1;
    for (int i = 0; i < PQntuples(cols) && rc == 0; i++) {
        int64_t rows = 0;

        rc = count_name(pg, PQgetvalue(cols, i, 0), PQgetvalue(cols, i, 1),
                        qs_pg_i64(cols, i, 2) == 1, name, &rows, errmsg, errmsg_len);
        if (rc == 0 && rows > 0)
            cb(ctx, PQgetvalue(cols, i, 0), PQgetvalue(cols, i, 1), rows);
    }
    PQclear(cols);
    return rc;
}
