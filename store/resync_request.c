/* resync_request.c - qsctl resync's requests, on both engines (qs_store_resync.h).
 *
 * One INSERT ... SELECT over the clients asked, upserting each one's
 * resync row: a generation above any it was asked before (the producer
 * runs each generation once), its due time, and no resync in progress.
 * The spread hash is in SQL so that a million clients cost one statement.
 */
#include "qs_store_resync.h"

#include "lookup_rules.h"
#include "pgutil.h"
#include "resync.h"
#include "storedb_pg.h"
#include "storedb_sqlite.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Knuth's multiplicative hash constant: consecutive client ids land far
 * apart in the window. */
#define SPREAD_MULT "2654435761"

static int
sqlite_request(qs_storedb_t *db, const qs_machine_ps_t *who, int64_t now_ms, int64_t window_ms,
               qs_resync_request_counts_t *out, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    const uint8_t *params[2 * QS_PSEUDONYM_SPELLINGS];
    char where[240], q[1200];
    sqlite3_stmt *st = NULL;
    int n = 0, rc;

    if (who != NULL) {
        char w[160];
        if (qs_who_where(w, sizeof w, who, '?') != 0)
            return snprintf(errmsg, errmsg_len, "too many spellings of the name"), -1;
        snprintf(where, sizeof where, "client_id IN (SELECT client_id FROM latest WHERE %s)", w);
        n = qs_who_params(params, who);
    } else {
        snprintf(where, sizeof where, "1");
    }
    snprintf(q, sizeof q,
             "INSERT INTO resync(client_id, want_gen, due_ms) "
             "SELECT client_id, %" PRId64 ", %" PRId64 " + (client_id * " SPREAD_MULT ") %% %" PRId64
             " FROM clients WHERE %s "
             "ON CONFLICT(client_id) DO UPDATE SET "
             " want_gen = max(excluded.want_gen, resync.want_gen + 1, resync.sent_gen + 1),"
             " due_ms = excluded.due_ms, start_ms = 0, last_serial = 0",
             now_ms, now_ms, window_ms > 0 ? window_ms : 1, where);
    if (qs_storedb_begin(db) != 0 ||
        sqlite3_exec(sql, QS_RESYNC_SQL_TABLE, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < n; i++)
        sqlite3_bind_blob(st, i + 1, params[i], QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE)
        goto fail;
    out->clients = sqlite3_changes(sql);
    snprintf(q, sizeof q, "SELECT count(*), min(due_ms), max(due_ms) FROM resync "
             "WHERE want_gen != 0 AND %s", where);
    if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < n; i++)
        sqlite3_bind_blob(st, i + 1, params[i], QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->clients = sqlite3_column_int64(st, 0);
        out->first_due_ms = sqlite3_column_int64(st, 1);
        out->last_due_ms = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (qs_storedb_commit(db) != 0)
        goto fail;
    return 0;
fail:
    snprintf(errmsg, errmsg_len, "cannot record the request: %s", sqlite3_errmsg(sql));
    sqlite3_finalize(st);
    qs_storedb_rollback(db);
    return -1;
}

static int
pg_request(qs_storedb_t *db, const qs_machine_ps_t *who, int64_t now_ms, int64_t window_ms,
           qs_resync_request_counts_t *out, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char where[240], q[1200];
    qs_pg_who_t w;
    PGresult *r;
    int n = 0;

    if (who != NULL) {
        if (qs_pg_who_set(&w, who, errmsg, errmsg_len) != 0)
            return -1;
        snprintf(where, sizeof where, "client_id IN (SELECT client_id FROM latest WHERE %s)",
                 w.where);
        n = w.n;
    } else {
        snprintf(where, sizeof where, "true");
    }
    if (qs_pg_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot begin a transaction: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    /* Clients are not locked here: a worker holding one's row lock writes
     * its resync row after us (the upsert waits) or before (we see it). */
    snprintf(q, sizeof q,
             "INSERT INTO resync(client_id, want_gen, due_ms) "
             "SELECT client_id, %" PRId64 ", %" PRId64 " + (client_id * " SPREAD_MULT ") %% %" PRId64
             " FROM clients WHERE %s ORDER BY client_id "
             "ON CONFLICT(client_id) DO UPDATE SET "
             " want_gen = GREATEST(excluded.want_gen, resync.want_gen + 1, resync.sent_gen + 1),"
             " due_ms = excluded.due_ms, start_ms = 0, last_serial = 0",
             now_ms, now_ms, window_ms > 0 ? window_ms : 1, where);
    if (qs_pgdb_exec(pg, QS_RESYNC_SQL_TABLE) != 0 ||
        qs_pg_run(pg, "cannot record the request", q, n, who ? w.values : NULL,
                  who ? w.lengths : NULL, who ? w.formats : NULL, NULL, errmsg,
                  errmsg_len) != 0)
        goto fail;
    snprintf(q, sizeof q, "SELECT count(*)::bigint, COALESCE(min(due_ms), 0)::bigint, "
             "COALESCE(max(due_ms), 0)::bigint FROM resync WHERE want_gen != 0 AND %s", where);
    r = qs_pg_query(pg, "cannot count the requests", q, n, who ? w.values : NULL,
                    who ? w.lengths : NULL, who ? w.formats : NULL, errmsg, errmsg_len);
    if (r == NULL)
        goto fail;
    out->clients = qs_pg_i64(r, 0, 0);
    out->first_due_ms = qs_pg_i64(r, 0, 1);
    out->last_due_ms = qs_pg_i64(r, 0, 2);
    PQclear(r);
    if (qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot commit: %s", qs_pgdb_errmsg(pg));
        goto fail;
    }
    return 0;
fail:
    if (errmsg[0] == '\0')
        snprintf(errmsg, errmsg_len, "cannot record the request: %s", qs_pgdb_errmsg(pg));
    qs_pgdb_rollback(pg);
    return -1;
}

int
qs_storedb_resync_request(qs_storedb_t *db, const qs_machine_ps_t *who, int64_t now_ms,
                          int64_t window_ms, qs_resync_request_counts_t *out, char *errmsg,
                          size_t errmsg_len)
{
    memset(out, 0, sizeof *out);
    errmsg[0] = '\0';
    if (qs_storedb_pgdb(db) != NULL)
        return pg_request(db, who, now_ms, window_ms, out, errmsg, errmsg_len);
    return sqlite_request(db, who, now_ms, window_ms, out, errmsg, errmsg_len);
}
