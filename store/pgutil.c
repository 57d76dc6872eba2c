/* pgutil.c - statements, binary results and shared deletions for store/'s PostgreSQL read side.
 *
 * See pgutil.h. Every failure is worded here once, as one line (the
 * server's message can span several: DETAIL, HINT), so the modules above
 * only say what they were doing.
 */
#include "pgutil.h"
#include "deadline_rules.h"
#include "qs_log.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "<what>: <message>" on one line into errmsg. */
static void
note(char *errmsg, size_t errmsg_len, const char *what, const PGresult *r, PGconn *conn)
{
    const char *e = r != NULL ? PQresultErrorMessage(r) : NULL;
    size_t n;

    if (errmsg_len == 0)
        return;
    if (e == NULL || *e == '\0')
        e = PQerrorMessage(conn);
    snprintf(errmsg, errmsg_len, "%s: %s", what, e != NULL && *e != '\0' ? e : "unknown error");
    for (char *p = errmsg; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    n = strlen(errmsg);
    while (n > 0 && errmsg[n - 1] == ' ')
        errmsg[--n] = '\0';
}

PGresult *
qs_pg_query(qs_pgdb_t *pg, const char *what, const char *sql, int n,
            const char *const *values, const int *lengths, const int *formats,
            char *errmsg, size_t errmsg_len)
{
    PGconn *conn = qs_pgdb_conn(pg);
    PGresult *r = PQexecParams(conn, sql, n, NULL, values, lengths, formats, 1);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    note(errmsg, errmsg_len, what, r, conn);
    PQclear(r);
    return NULL;
}

int
qs_pg_run(qs_pgdb_t *pg, const char *what, const char *sql, int n,
          const char *const *values, const int *lengths, const int *formats,
          int64_t *changes, char *errmsg, size_t errmsg_len)
{
    PGresult *r = qs_pg_query(pg, what, sql, n, values, lengths, formats, errmsg, errmsg_len);

    if (r == NULL)
        return -1;
    if (changes != NULL)
        *changes = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

int64_t
qs_pg_i64(const PGresult *r, int row, int col)
{
    uint64_t be;

    if (PQgetisnull(r, row, col))
        return 0;
    QS_ASSERT(PQgetlength(r, row, col) == (int)sizeof be);   /* a bigint, as pgutil.h asks */
    memcpy(&be, PQgetvalue(r, row, col), sizeof be);
    return (int64_t)be64toh(be);
}

int
qs_pg_table_exists(qs_pgdb_t *pg, const char *name, char *errmsg, size_t errmsg_len)
{
    const char *params[1] = { name };
    PGresult *r = qs_pg_query(pg, "cannot read the catalog",
                              "SELECT count(*) FROM pg_tables WHERE schemaname = "
                              "current_schema() AND tablename = $1", 1, params, NULL, NULL,
                              errmsg, errmsg_len);
    int exists;

    if (r == NULL)
        return -1;
    exists = PQntuples(r) == 1 && qs_pg_i64(r, 0, 0) > 0;
    PQclear(r);
    return exists;
}

int
qs_pg_ensure(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    char err[512];

    if (qs_pgdb_ok(pg))
        return 0;
    if (qs_pgdb_reconnect(pg, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "the store's database is unreachable: %s", err);
        return -1;
    }
    log_info("reconnected to the store's database");
    return 0;
}

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
qs_pg_keep_tables(qs_pgdb_t *pg, qs_partition_t *parts, size_t *n, char *errmsg,
                  size_t errmsg_len)
{
    PGresult *r = qs_pg_query(pg, "cannot read the catalog",
                              "SELECT tablename::text FROM pg_tables WHERE schemaname = "
                              "current_schema() AND tablename LIKE 'history\\_%'",
                              0, NULL, NULL, NULL, errmsg, errmsg_len);
    const char **names;
    size_t kept = 0, count;

    if (r == NULL)
        return -1;
    count = (size_t)PQntuples(r);
    names = qs_calloc(count > 0 ? count : 1, sizeof *names);
    for (size_t i = 0; i < count; i++)
        names[i] = PQgetvalue(r, (int)i, 0);
    qsort(names, count, sizeof *names, cmp_name);
    for (size_t i = 0; i < *n; i++) {
        char name[64];
        const char *key = name;

        if (qs_storedb_partition_name(name, sizeof name, parts[i].epoch,
                                      parts[i].topic_type) == 0 &&
            bsearch(&key, names, count, sizeof *names, cmp_name) != NULL)
            parts[kept++] = parts[i];
    }
    *n = kept;
    free(names);
    PQclear(r);
    return 0;
}

int
qs_pg_read_begin(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    static const char begin[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    if (qs_pg_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pg_run(pg, "cannot start a read transaction", begin, 0, NULL, NULL, NULL, NULL,
                  errmsg, errmsg_len) == 0)
        return 0;
    /* The first statement after a server restart is what finds out. */
    if (qs_pgdb_ok(pg) || qs_pg_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    return qs_pg_run(pg, "cannot start a read transaction", begin, 0, NULL, NULL, NULL, NULL,
                     errmsg, errmsg_len);
}

void
qs_pg_read_end(qs_pgdb_t *pg)
{
    qs_pgdb_rollback(pg);   /* nothing was written: ending it is all */
}

/* values/lengths/formats of n parameters plus one text parameter at the
 * end (malloc'd arrays the caller frees). */
static void
params_plus(int n, const char *const *values, const int *lengths, const int *formats,
            const char *extra, const char ***v, int **l, int **f)
{
    *v = qs_calloc((size_t)n + 1, sizeof **v);
    *l = qs_calloc((size_t)n + 1, sizeof **l);
    *f = qs_calloc((size_t)n + 1, sizeof **f);
    for (int i = 0; i < n; i++) {
        (*v)[i] = values[i];
        (*l)[i] = lengths != NULL ? lengths[i] : 0;
        (*f)[i] = formats != NULL ? formats[i] : 0;
    }
    (*v)[n] = extra;
}

int
qs_pg_latest_delete(qs_pgdb_t *pg, int64_t *deleted, const char *where, int n,
                    const char *const *values, const int *lengths, const int *formats,
                    char *errmsg, size_t errmsg_len)
{
    char sql[3072], shard[8];
    const char **v;
    int *l, *f, len;
    PGresult *r;

    *deleted = 0;
    /* Data-modifying CTEs run to completion whether read or not: the
     * count upsert happens even though only g is selected. */
    len = snprintf(sql, sizeof sql,
                   "WITH d AS (DELETE FROM latest WHERE %s "
                   "           RETURNING topic_type, topic_id, state_id, time_ms), "
                   "     g AS (SELECT topic_type, topic_id, state_id, count(*) AS n FROM d "
                   "           GROUP BY topic_type, topic_id, state_id), "
                   "     u AS (INSERT INTO compliance_counts(topic_type, topic_id, state_id, "
                   "           shard, count) SELECT topic_type, topic_id, state_id, $%d, -n "
                   "           FROM g ORDER BY topic_type, topic_id" QS_PG_BYTE_ORDER ", "
                   "           state_id ON CONFLICT (topic_type, topic_id, state_id, shard) "
                   "           DO UPDATE SET count = compliance_counts.count + excluded.count), "
                   "     h AS (INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, "
                   "           shard, count) SELECT topic_type, topic_id, state_id, "
                   QS_INSTALLED_HOUR_SQL("time_ms") ", $%d, -count(*) FROM d WHERE "
                   QS_DEADLINE_INSTALLED_SQL " GROUP BY 1, 2, 3, 4 ORDER BY topic_type, "
                   "           topic_id" QS_PG_BYTE_ORDER ", state_id, 4 "
                   "           ON CONFLICT (topic_type, topic_id, state_id, hour, shard) "
                   "           DO UPDATE SET count = installed_hours.count + excluded.count) "
                   "SELECT coalesce(sum(n), 0)::bigint FROM g", where, n + 1, n + 1);
    if (len < 0 || (size_t)len >= sizeof sql) {
        snprintf(errmsg, errmsg_len, "the condition on latest is too long");
        return -1;
    }
    snprintf(shard, sizeof shard, "%d", qs_pgdb_shard(pg));
    params_plus(n, values, lengths, formats, shard, &v, &l, &f);
    r = qs_pg_query(pg, "cannot delete from latest", sql, n + 1, v, l, f, errmsg, errmsg_len);
    free(v);
    free(l);
    free(f);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 1)
        *deleted = qs_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* Lower a registered partition's row count by deleted, in this
 * connection's shard (an unregistered table has no count to keep). */
static int
lower_rows(qs_pgdb_t *pg, int64_t epoch, uint32_t topic_type, int64_t deleted,
           char *errmsg, size_t errmsg_len)
{
    char e[24], t[16], s[8], d[24];
    const char *params[4] = { e, t, s, d };

    snprintf(e, sizeof e, "%lld", (long long)epoch);
    snprintf(t, sizeof t, "%u", topic_type);
    snprintf(s, sizeof s, "%d", qs_pgdb_shard(pg));
    snprintf(d, sizeof d, "%lld", (long long)-deleted);
    return qs_pg_run(pg, "cannot lower the partition's row count",
                     "INSERT INTO partitions(epoch, topic_type, shard, rows) "
                     "SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM partitions "
                     "  WHERE epoch = $1 AND topic_type = $2) "
                     "ON CONFLICT (epoch, topic_type, shard) DO UPDATE SET "
                     "rows = partitions.rows + excluded.rows", 4, params, NULL, NULL, NULL,
                     errmsg, errmsg_len);
}

int
qs_pg_history_delete(qs_pgdb_t *pg, int64_t *deleted, int64_t epoch, uint32_t topic_type,
                     const char *where, int n, const char *const *values,
                     const int *lengths, const int *formats, char *errmsg,
                     size_t errmsg_len)
{
    char name[64], sql[512];
    int exists, len;

    *deleted = 0;
    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
        return -1;
    len = snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s", name, where);
    if (len < 0 || (size_t)len >= sizeof sql) {
        snprintf(errmsg, errmsg_len, "the condition on '%s' is too long", name);
        return -1;
    }
    exists = qs_pg_table_exists(pg, name, errmsg, errmsg_len);
    if (exists <= 0)
        return exists;      /* registered only: nothing stored there */
    if (qs_pg_run(pg, "cannot delete rows", sql, n, values, lengths, formats, deleted,
                  errmsg, errmsg_len) != 0)
        return -1;
    if (*deleted > 0 && lower_rows(pg, epoch, topic_type, *deleted, errmsg, errmsg_len) != 0) {
        *deleted = 0;
        return -1;
    }
    return 0;
}

int
qs_pg_vacuum_partition(qs_pgdb_t *pg, int64_t epoch, uint32_t topic_type, char *errmsg,
                       size_t errmsg_len)
{
    char name[64], sql[96];

    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
        return -1;
    snprintf(sql, sizeof sql, "VACUUM %s", name);
    return qs_pg_run(pg, "VACUUM failed", sql, 0, NULL, NULL, NULL, NULL, errmsg, errmsg_len);
}

int
qs_pg_prune_zero_groups(qs_pgdb_t *pg, int64_t *groups, char *errmsg, size_t errmsg_len)
{
#define ZERO_GROUPS "(topic_type, topic_id, state_id) IN (SELECT topic_type, topic_id, " \
                    "state_id FROM compliance_counts GROUP BY topic_type, topic_id, state_id " \
                    "HAVING sum(count) = 0)"
#define ZERO_HOURS "(topic_type, topic_id, state_id, hour) IN (SELECT topic_type, topic_id, " \
                   "state_id, hour FROM installed_hours GROUP BY 1, 2, 3, 4 " \
                   "HAVING sum(count) = 0)"
    int64_t rows = 0;

    if (groups != NULL)
        *groups = 0;
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        return -1;
    }
    /* Rows summing to 0 stay at 0 while locked: deleting them changes no
     * group's count, whatever a worker adds meanwhile in a new row. */
    if (qs_pg_run(pg, "cannot lock groups at 0", "SELECT 1 FROM compliance_counts WHERE "
                  ZERO_GROUPS " ORDER BY topic_type, topic_id" QS_PG_BYTE_ORDER ", state_id, "
                  "shard FOR UPDATE", 0, NULL, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, "cannot delete groups at 0", "DELETE FROM compliance_counts WHERE "
                  ZERO_GROUPS, 0, NULL, NULL, NULL, &rows, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, "cannot lock installed hours at 0", "SELECT 1 FROM installed_hours WHERE "
                  ZERO_HOURS " ORDER BY topic_type, topic_id" QS_PG_BYTE_ORDER ", state_id, "
                  "hour, shard FOR UPDATE", 0, NULL, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, "cannot delete installed hours at 0", "DELETE FROM installed_hours WHERE "
                  ZERO_HOURS, 0, NULL, NULL, NULL, NULL, errmsg, errmsg_len) != 0)
        goto fail;
    if (qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        goto fail;
    }
    if (groups != NULL)
        *groups = rows;
    return 0;
fail:
    qs_pgdb_rollback(pg);
    return -1;
#undef ZERO_GROUPS
#undef ZERO_HOURS
}

int
qs_pg_who_set(qs_pg_who_t *w, const qs_machine_ps_t *who, char *errmsg, size_t errmsg_len)
{
    const uint8_t *params[2 * QS_PSEUDONYM_SPELLINGS];

    w->n = qs_who_params(params, who);
    for (int i = 0; i < w->n; i++) {
        w->values[i] = (const char *)params[i];
        w->lengths[i] = QS_PSEUDONYM_BYTES;
        w->formats[i] = 1;
    }
    if (qs_who_where(w->where, sizeof w->where, who, '$') != 0) {
        snprintf(errmsg, errmsg_len, "the condition on the machine is too long");
        return -1;
    }
    return 0;
}
