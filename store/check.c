/* check.c - the measurements `qsctl verify` takes of store.db.
 *
 * latest is read in one grouped scan whose per-row cutoff is a CASE over the
 * topic types with an age of their own; each history partition in one scan
 * of its own (no index is needed to count a day). A value is a pseudonym
 * when it is NULL or a 16-byte blob: anything else could be a name. The
 * text-column walk is qs_sql_text_columns (shared with site.db's check),
 * filtered by the columns store.db is meant to have as text. A PostgreSQL
 * store is handed to check_pg.c and counts_pg.c.
 */
#include "check_rules.h"
#include "ops_pg.h"
#include "qs_counts.h"
#include "qs_log.h"
#include "qs_sqlutil.h"
#include "qs_store_check.h"
#include "storedb_sqlite.h"

#include <stdlib.h>
#include <string.h>

/* SQL true when column c is neither NULL nor a 16-byte blob. */
#define NOT_PS(c) "(" c " IS NOT NULL AND (typeof(" c ") <> 'blob' OR length(" c ") <> 16))"

static void
note(char *errmsg, size_t errmsg_len, sqlite3 *sql)
{
    if (errmsg_len > 0)
        snprintf(errmsg, errmsg_len, "%s", sqlite3_errmsg(sql));
}

void
qs_check_latest_sql(char *q, size_t q_len, const char *bad_ps, const qs_policy_t *p,
                    int64_t now_ms, int64_t grace_ms)
{
    size_t off;

    /* A CASE needs at least one WHEN: without own ages, one cutoff. */
    off = (size_t)snprintf(q, q_len, "SELECT topic_type, count(*), count(*) FILTER (WHERE %s), "
                           "count(*) FILTER (WHERE report_ms < %s", bad_ps,
                           p->n_topics > 0 ? "CASE topic_type" : "(");
    for (size_t i = 0; i < p->n_topics && off < q_len; i++)
        off += (size_t)snprintf(q + off, q_len - off, " WHEN %u THEN %lld",
                                p->topics[i].topic_type,
                                (long long)(qs_policy_cutoff_ms(p, p->topics[i].topic_type,
                                                                now_ms) - grace_ms));
    if (off < q_len)
        off += (size_t)snprintf(q + off, q_len - off, " %s %lld %s), min(report_ms) "
                                "FROM latest GROUP BY topic_type ORDER BY topic_type",
                                p->n_topics > 0 ? "ELSE" : "",
                                (long long)(qs_policy_cutoff_ms(p, 0, now_ms) - grace_ms),
                                p->n_topics > 0 ? "END" : ")");
    QS_ASSERT(off < q_len);
}

int
qs_storedb_check_latest(qs_storedb_t *db, qs_check_latest_cb cb, void *ctx,
                        const qs_policy_t *p, int64_t now_ms, int64_t grace_ms,
                        char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    char q[2048];
    int rc;

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_check_latest_pg(db, cb, ctx, p, now_ms, grace_ms, errmsg, errmsg_len);
    qs_check_latest_sql(q, sizeof q, NOT_PS("machine_ps") " OR " NOT_PS("domain_ps"), p, now_ms,
                        grace_ms);
    if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK) {
        note(errmsg, errmsg_len, sql);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const qs_check_latest_t t = {
            .topic_type = (uint32_t)sqlite3_column_int64(st, 0),
            .rows = sqlite3_column_int64(st, 1),
            .not_pseudonym = sqlite3_column_int64(st, 2),
            .expired = sqlite3_column_int64(st, 3),
            .oldest_report_ms = sqlite3_column_int64(st, 4),
        };
        cb(ctx, &t);
    }
    if (rc != SQLITE_DONE)
        note(errmsg, errmsg_len, sql);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Measure one partition into *m; 1 when it has no table, 0, or -1 with
 * errmsg. */
static int
measure_partition(sqlite3 *sql, qs_check_partition_t *m, int64_t cutoff_ms,
                  char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    char name[64], q[512];

    if (qs_storedb_partition_name(name, sizeof name, m->epoch, m->topic_type) != 0)
        return 1;
    snprintf(q, sizeof q, "SELECT count(*), total(" NOT_PS("machine_ps") " OR "
             NOT_PS("domain_ps") " OR " NOT_PS("user_ps") "), total(time_ms < ?1) FROM \"%s\"",
             name);
    if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK) {
        /* Registered but no table: nothing is stored there. */
        if (strstr(sqlite3_errmsg(sql), "no such table") != NULL)
            return 1;
        note(errmsg, errmsg_len, sql);
        return -1;
    }
    sqlite3_bind_int64(st, 1, cutoff_ms);
    if (sqlite3_step(st) != SQLITE_ROW) {
        note(errmsg, errmsg_len, sql);
        sqlite3_finalize(st);
        return -1;
    }
    m->rows = sqlite3_column_int64(st, 0);
    m->not_pseudonym = (int64_t)sqlite3_column_double(st, 1);
    m->expired = (int64_t)sqlite3_column_double(st, 2);
    sqlite3_finalize(st);
    return 0;
}

int
qs_storedb_check_partitions(qs_storedb_t *db, qs_check_partition_cb cb, void *ctx,
                            const qs_policy_t *p, int64_t now_ms, int64_t grace_ms,
                            char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    char err[512];

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_check_partitions_pg(db, cb, ctx, p, now_ms, grace_ms, errmsg,
                                              errmsg_len);
    if (qs_storedb_partitions_present(db, &parts, &n_parts) != 0) {
        note(errmsg, errmsg_len, sql);
        return -1;
    }
    for (size_t i = 0; i < n_parts; i++) {
        qs_check_partition_t m = { .epoch = parts[i].epoch, .topic_type = parts[i].topic_type };
        int64_t cutoff = qs_policy_cutoff_ms(p, m.topic_type, now_ms) - grace_ms;

        switch (measure_partition(sql, &m, cutoff, err, sizeof err)) {
        case 1:
            continue;
        case -1:
            m.error = err;
            break;
        default:
            break;
        }
        cb(ctx, &m);
    }
    free(parts);
    return 0;
}

struct column_filter {
    qs_check_column_cb cb;
    void *ctx;
};

/* Text store.db must hold: topic ids (latest, compliance_counts,
 * installed_hours, history partitions), counter names and group names. */
static void
filter_store_text(void *ctx, const char *table, const char *column, const char *type)
{
    const struct column_filter *f = ctx;

    if (strcmp(column, "topic_id") == 0 &&
        (strcmp(table, "latest") == 0 || strcmp(table, "compliance_counts") == 0 ||
         strcmp(table, "compliance_daily") == 0 || strcmp(table, "compliance_daily_group") == 0 ||
         strcmp(table, "installed_hours") == 0 ||
         strncmp(table, "history_", 8) == 0))
        return;
    if (strcmp(table, "counters") == 0 && strcmp(column, "name") == 0)
        return;
    if ((strcmp(table, "machine_groups") == 0 && strcmp(column, "name") == 0) ||
        (strcmp(table, "group_members") == 0 && strcmp(column, "group_name") == 0) ||
        ((strcmp(table, "compliance_daily_group") == 0 ||
          strcmp(table, "compliance_days_group") == 0) && strcmp(column, "group_name") == 0))
        return;   /* group names are not personal (docs/groups.md), nor their days' */
    f->cb(f->ctx, table, column, type);
}

int
qs_storedb_check_text_columns(qs_storedb_t *db, qs_check_column_cb cb, void *ctx,
                              char *errmsg, size_t errmsg_len)
{
    struct column_filter f = { cb, ctx };

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_check_text_columns_pg(db, cb, ctx, errmsg, errmsg_len);
    if (qs_sql_text_columns(qs_storedb_sqlite(db), filter_store_text, &f) != 0) {
        note(errmsg, errmsg_len, qs_storedb_sqlite(db));
        return -1;
    }
    return 0;
}

int
qs_storedb_check_storage(qs_storedb_t *db, char *problem, size_t problem_len)
{
    sqlite3_stmt *st = NULL;
    int found = 0;

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_check_storage_pg(db, problem, problem_len);
    if (sqlite3_prepare_v2(qs_storedb_sqlite(db), "PRAGMA auto_vacuum", -1, &st, NULL) ==
            SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) != 2) {
        snprintf(problem, problem_len, "store.db auto_vacuum is %d, not INCREMENTAL (2): freed "
                 "pages cannot be returned to the file system", sqlite3_column_int(st, 0));
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

int
qs_storedb_check_counts(qs_storedb_t *db, int64_t *missing, int64_t *stale,
                        char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_counts_check_pg(db, missing, stale, errmsg, errmsg_len);
    if (qs_storedb_counts_check(db, missing, stale) == 0)
        return 0;
    note(errmsg, errmsg_len, qs_storedb_sqlite(db));
    return -1;
}

int
qs_storedb_check_scope(qs_storedb_t *db, int64_t *wrong, char *errmsg, size_t errmsg_len)
{
    return qs_storedb_scope_check(db, wrong, errmsg, errmsg_len);
}

int
qs_storedb_check_installed(qs_storedb_t *db, int64_t *wrong, char *errmsg, size_t errmsg_len)
{
    return qs_storedb_installed_check(db, wrong, errmsg, errmsg_len);
}

int
qs_storedb_counts_repair(qs_storedb_t *db, int64_t *groups, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_counts_repair_pg(db, groups, errmsg, errmsg_len);
    if (qs_storedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot lock store.db to rebuild compliance_counts: %s",
                 sqlite3_errmsg(sql));
        return -1;
    }
    if (qs_storedb_counts_rebuild(db, groups) != 0 || qs_storedb_commit(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot rebuild compliance_counts in store.db: %s "
                 "(nothing was changed)", sqlite3_errmsg(sql));
        qs_storedb_rollback(db);
        return -1;
    }
    return 0;
}

int
qs_storedb_check_name(qs_storedb_t *db, const char *name, int *searched, qs_check_name_cb cb,
                      void *ctx, char *errmsg, size_t errmsg_len)
{
    *searched = 0;
    if (qs_storedb_pgdb(db) != NULL) {
        *searched = 1;
        return qs_storedb_check_name_pg(db, name, cb, ctx, errmsg, errmsg_len);
    }
    return 0;
}
