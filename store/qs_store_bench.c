/* qs_store_bench.c - qs-bench's writes to store.db, with the store's own statements (qs_store_bench.h).
 *
 * The history INSERT, the latest upsert and the client updates are the SQL
 * of write.h, prepared here once each; one history partition's INSERT is
 * cached at a time and its row count written at commit, as the store does.
 * The bulk mode of latest reads the table's secondary indexes and triggers
 * back from sqlite_master, drops them, and recreates them from that text.
 */
#include "qs_store_bench.h"
#include "qs_sqlutil.h"

#include "qs_counts.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "storedb_sqlite.h"
#include "write.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a bulk load of latest drops and recreates around itself. */
#define LATEST_SCHEMA_SQL "SELECT type, name, sql FROM sqlite_master " \
                          "WHERE type IN ('index', 'trigger') AND tbl_name = 'latest' " \
                          "AND sql IS NOT NULL"

struct qs_store_bench {
    qs_storedb_t *storedb;
    sqlite3 *db;
    sqlite3_stmt *ins_client, *upd_client, *upsert_latest, *add_part_rows;
    sqlite3_stmt *hist;          /* the INSERT of partition (epoch, topic_type) */
    int64_t epoch;
    uint32_t topic_type;
    int64_t rows_delta;          /* rows inserted there by the open transaction */
    char **dropped;              /* bulk mode: the CREATE text of what was dropped */
    size_t n_dropped;
};

static int
step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int
exec(qs_store_bench_t *self, const char *sql)
{
    return sqlite3_exec(self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void
bind_blob_or_null(sqlite3_stmt *st, int col, const uint8_t *p, size_t len)
{
    if (p == NULL)
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_blob(st, col, p, (int)len, SQLITE_STATIC);
}

qs_store_bench_t *
qs_store_bench_new(qs_storedb_t *db, char *errmsg, size_t errmsg_len)
{
    qs_store_bench_t *self = qs_calloc(1, sizeof *self);

    self->storedb = db;
    self->db = qs_storedb_sqlite(db);
    if (sqlite3_prepare_v2(self->db, QS_WRITE_SQL_INSERT_CLIENT, -1, &self->ins_client,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, QS_WRITE_SQL_UPDATE_CLIENT, -1, &self->upd_client,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, QS_WRITE_SQL_UPSERT_LATEST, -1, &self->upsert_latest,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, QS_WRITE_SQL_ADD_PART_ROWS, -1, &self->add_part_rows,
                           NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "store.db is not a quietstate store database: %s",
                 sqlite3_errmsg(self->db));
        qs_store_bench_destroy(&self);
        return NULL;
    }
    return self;
}

void
qs_store_bench_destroy(qs_store_bench_t **self_p)
{
    qs_store_bench_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    sqlite3_finalize(self->ins_client);
    sqlite3_finalize(self->upd_client);
    sqlite3_finalize(self->upsert_latest);
    sqlite3_finalize(self->add_part_rows);
    sqlite3_finalize(self->hist);
    for (size_t i = 0; i < self->n_dropped; i++)
        free(self->dropped[i]);
    free(self->dropped);
    free(self);
    *self_p = NULL;
}

int
qs_store_bench_begin(qs_store_bench_t *self)
{
    return qs_storedb_begin(self->storedb);
}

static int
flush_rows(qs_store_bench_t *self)
{
    if (self->hist == NULL || self->rows_delta == 0)
        return 0;
    sqlite3_bind_int64(self->add_part_rows, 1, self->epoch);
    sqlite3_bind_int64(self->add_part_rows, 2, self->topic_type);
    sqlite3_bind_int64(self->add_part_rows, 3, self->rows_delta);
    self->rows_delta = 0;
    return step_done(self->add_part_rows);
}

int
qs_store_bench_commit(qs_store_bench_t *self)
{
    if (flush_rows(self) != 0)
        return -1;
    return qs_storedb_commit(self->storedb);
}

int
qs_store_bench_clients(qs_store_bench_t *self, long n, int64_t now_ms)
{
    uint8_t pk[QS_KEY_BYTES];

    for (long c = 1; c <= n; c++) {
        randombytes_buf(pk, sizeof pk);
        sqlite3_bind_blob(self->ins_client, 1, pk, sizeof pk, SQLITE_TRANSIENT);
        sqlite3_bind_int64(self->ins_client, 2, now_ms);
        if (step_done(self->ins_client) != 0 || sqlite3_last_insert_rowid(self->db) != c)
            return -1;
    }
    return 0;
}

/* The INSERT of the row's partition, ensured and prepared on first use. */
static sqlite3_stmt *
history_insert(qs_store_bench_t *self, int64_t epoch, uint32_t topic_type)
{
    char name[64], sql[512];

    if (self->hist != NULL && self->epoch == epoch && self->topic_type == topic_type)
        return self->hist;
    if (flush_rows(self) != 0)
        return NULL;
    sqlite3_finalize(self->hist);
    self->hist = NULL;
    if (qs_storedb_partition_ensure(self->storedb, epoch, topic_type) != 0 ||
        qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
        return NULL;
    snprintf(sql, sizeof sql, QS_WRITE_SQL_INSERT_HISTORY_FMT, name);
    if (sqlite3_prepare_v2(self->db, sql, -1, &self->hist, NULL) != SQLITE_OK)
        return NULL;
    self->epoch = epoch;
    self->topic_type = topic_type;
    return self->hist;
}

int
qs_store_bench_history(qs_store_bench_t *self, const qs_store_bench_row_t *r)
{
    sqlite3_stmt *st = history_insert(self, qs_epoch_of(r->time_ms), r->topic_type);

    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, r->client_id);
    sqlite3_bind_int64(st, 2, (int64_t)r->serial);
    sqlite3_bind_int64(st, 3, r->state_id);
    sqlite3_bind_text(st, 4, r->topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, r->time_ms);
    bind_blob_or_null(st, 6, r->machine_ps, QS_PSEUDONYM_BYTES);
    bind_blob_or_null(st, 7, r->domain_ps, QS_PSEUDONYM_BYTES);
    bind_blob_or_null(st, 8, r->user_ps, QS_PSEUDONYM_BYTES);
    bind_blob_or_null(st, 9, r->details, r->details_len);
    if (step_done(st) != 0)
        return -1;
    self->rows_delta += sqlite3_changes(self->db);
    return 0;
}

int
qs_store_bench_latest(qs_store_bench_t *self, const qs_store_bench_row_t *r)
{
    sqlite3_stmt *st = self->upsert_latest;

    sqlite3_bind_int64(st, 1, r->client_id);
    sqlite3_bind_int64(st, 2, r->topic_type);
    sqlite3_bind_text(st, 3, r->topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, r->state_id);
    sqlite3_bind_int64(st, 5, r->time_ms);
    sqlite3_bind_int64(st, 6, r->report_ms);
    bind_blob_or_null(st, 7, r->machine_ps, QS_PSEUDONYM_BYTES);
    bind_blob_or_null(st, 8, r->domain_ps, QS_PSEUDONYM_BYTES);
    return step_done(st);
}

int
qs_store_bench_low_water(qs_store_bench_t *self, int64_t client_id, uint64_t low_water,
                         int64_t now_ms)
{
    sqlite3_bind_int64(self->upd_client, 1, client_id);
    sqlite3_bind_int64(self->upd_client, 2, (int64_t)low_water);
    sqlite3_bind_int64(self->upd_client, 3, now_ms);
    return step_done(self->upd_client);
}

int
qs_store_bench_fast(qs_store_bench_t *self, int on)
{
    return exec(self, on ? "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144"
                         : "PRAGMA synchronous=FULL; PRAGMA wal_checkpoint(TRUNCATE)");
}

/* Drop latest's secondary indexes and triggers one at a time, keeping
 * their CREATE text (the schema's own definitions). */
static int
drop_latest_schema(qs_store_bench_t *self)
{
    sqlite3_stmt *st = NULL;
    char drop[256];

    for (;;) {
        if (sqlite3_prepare_v2(self->db, LATEST_SCHEMA_SQL, -1, &st, NULL) != SQLITE_OK)
            return -1;
        if (sqlite3_step(st) != SQLITE_ROW)
            break;
        self->dropped = qs_realloc(self->dropped, (self->n_dropped + 1) * sizeof *self->dropped);
        self->dropped[self->n_dropped++] = qs_strdup((const char *)sqlite3_column_text(st, 2));
        snprintf(drop, sizeof drop, "DROP %s \"%s\"", sqlite3_column_text(st, 0),
                 sqlite3_column_text(st, 1));
        sqlite3_finalize(st);
        st = NULL;
        if (exec(self, drop) != 0)
            return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int
qs_store_bench_bulk_latest(qs_store_bench_t *self, int on)
{
    if (on)
        return drop_latest_schema(self);
    for (size_t i = 0; i < self->n_dropped; i++)
        if (exec(self, self->dropped[i]) != 0)
            return -1;
    for (size_t i = 0; i < self->n_dropped; i++)
        free(self->dropped[i]);
    self->n_dropped = 0;
    if (qs_storedb_begin(self->storedb) != 0)
        return -1;
    if (qs_storedb_counts_rebuild(self->storedb, NULL) != 0 ||
        qs_storedb_commit(self->storedb) != 0) {
        qs_storedb_rollback(self->storedb);
        return -1;
    }
    return exec(self, "ANALYZE");
}

const char *
qs_store_bench_errmsg(qs_store_bench_t *self)
{
    return sqlite3_errmsg(self->db);
}

static int
bind_arg(sqlite3_stmt *st, const void *ctx)
{
    return sqlite3_bind_text(st, 1, ctx, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
}

int
qs_store_bench_damage(qs_store_bench_t *self, qs_store_damage_t kind, const char *arg)
{
    char sql[256];

    switch (kind) {
    case QS_STORE_DAMAGE_UNREGISTER_PARTITIONS:
        return qs_sql_run(self->db, "DELETE FROM partitions", NULL, NULL, NULL);
    case QS_STORE_DAMAGE_ADD_NAME_COLUMN:
        return qs_sql_run(self->db, "ALTER TABLE latest ADD COLUMN machine_name TEXT", NULL,
                          NULL, NULL);
    case QS_STORE_DAMAGE_DROP_NAME_COLUMN:
        return qs_sql_run(self->db, "ALTER TABLE latest DROP COLUMN machine_name", NULL, NULL,
                          NULL);
    case QS_STORE_DAMAGE_RAW_MACHINE_NAME:
        return qs_sql_run(self->db, "UPDATE latest SET machine_ps = ?1", bind_arg, arg, NULL);
    case QS_STORE_DAMAGE_SHORT_DOMAIN_PS:
        if (arg == NULL || strchr(arg, '"') != NULL ||
            snprintf(sql, sizeof sql, "UPDATE \"%s\" SET domain_ps = x'0102'", arg) >=
                (int)sizeof sql)
            return -1;
        return qs_sql_run(self->db, sql, NULL, NULL, NULL);
    }
    return -1;
}
