/* lookup_pg.c - one machine's current states or retained events, by pseudonym (PostgreSQL).
 *
 * What lookup.c does, on the PostgreSQL engine: current states from latest
 * through latest_by_machine, events from every history partition present
 * through each one's machine_ps index, all in one read-only REPEATABLE READ
 * snapshot. Collecting rows, opening details with the epoch keys and the
 * order of events are lookup.c's (lookup_rules.h), so both engines answer
 * alike; topic ids sort in byte order as on SQLite.
 */
#include "lookup_rules.h"
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
read_latest(qs_lookup_rows_t *out, qs_pgdb_t *pg, const qs_pg_who_t *w, char *errmsg,
            size_t errmsg_len)
{
    char sql[480];
    PGresult *r;

    snprintf(sql, sizeof sql, "SELECT topic_type, topic_id, state_id, time_ms, report_ms "
             "FROM latest WHERE %s ORDER BY topic_type, topic_id"
             QS_PG_BYTE_ORDER ", client_id", w->where);
    r = qs_pg_query(pg, "cannot read latest", sql, w->n, w->values, w->lengths, w->formats,
                    errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        qs_storedb_lookup_row_t *row = qs_lookup_push(out);
        row->topic_type = (uint32_t)qs_pg_i64(r, i, 0);
        row->topic_id = qs_strdup(PQgetvalue(r, i, 1));
        row->state_id = (uint32_t)qs_pg_i64(r, i, 2);
        row->time_ms = qs_pg_i64(r, i, 3);
        row->report_ms = qs_pg_i64(r, i, 4);
        row->serial = -1;
    }
    PQclear(r);
    return 0;
}

/* Append the machine's events in one partition (whose table exists:
 * read_history keeps only those). */
static int
read_partition(qs_lookup_rows_t *out, qs_pgdb_t *pg, const qs_partition_t *part,
               qs_epochkeys_t *ks, const qs_pg_who_t *w, char *errmsg, size_t errmsg_len)
{
    char name[64], sql[384], what[96];
    PGresult *r;

    if (qs_storedb_partition_name(name, sizeof name, part->epoch, part->topic_type) != 0)
        return 0;
    snprintf(sql, sizeof sql, "SELECT client_id, serial, state_id, topic_id, time_ms, details "
             "FROM %s WHERE %s", name, w->where);
    snprintf(what, sizeof what, "cannot read '%s'", name);
    r = qs_pg_query(pg, what, sql, w->n, w->values, w->lengths, w->formats, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        qs_storedb_lookup_row_t *row = qs_lookup_push(out);
        row->topic_type = part->topic_type;
        row->serial = qs_pg_i64(r, i, 1);
        row->state_id = (uint32_t)qs_pg_i64(r, i, 2);
        row->topic_id = qs_strdup(PQgetvalue(r, i, 3));
        row->time_ms = qs_pg_i64(r, i, 4);
        row->report_ms = -1;
        if (!PQgetisnull(r, i, 5))
            qs_lookup_open_details(row, ks, qs_pg_i64(r, i, 0), part->epoch,
                                   (const uint8_t *)PQgetvalue(r, i, 5),
                                   (size_t)PQgetlength(r, i, 5));
    }
    PQclear(r);
    return 0;
}

static int
read_history(qs_lookup_rows_t *out, qs_pgdb_t *pg, qs_epochkeys_t *ks, const qs_pg_who_t *w,
             char *errmsg, size_t errmsg_len)
{
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    int rc = 0;

    if (qs_pgdb_partitions_present(pg, &parts, &n_parts) != 0) {
        snprintf(errmsg, errmsg_len, "cannot list history partitions: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    /* A partition registered but never written has no table: nothing to read. */
    rc = qs_pg_keep_tables(pg, parts, &n_parts, errmsg, errmsg_len);
    for (size_t i = 0; i < n_parts && rc == 0; i++)
        rc = read_partition(out, pg, &parts[i], ks, w, errmsg, errmsg_len);
    free(parts);
    return rc;
}

int
qs_storedb_lookup_pg(qs_storedb_t *db, qs_storedb_lookup_t *out,
                     const qs_machine_ps_t *who, int history, qs_epochkeys_t *ks,
                     char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    qs_lookup_rows_t rows = { out, 0 };
    qs_pg_who_t w;
    int rc;

    memset(out, 0, sizeof *out);
    if (qs_pg_who_set(&w, who, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    rc = history ? read_history(&rows, pg, ks, &w, errmsg, errmsg_len)
                 : read_latest(&rows, pg, &w, errmsg, errmsg_len);
    qs_pg_read_end(pg);
    if (rc != 0) {
        qs_storedb_lookup_free(out);
        return -1;
    }
    if (history)
        qs_lookup_sort_events(out);
    return 0;
}
