/* resync_sqlite.c - the resync table and the resync actions on SQLite (resync.h).
 *
 * Runs inside write.c's transaction, on its connection: the row is read and
 * written under the same write lock as the client's dedup state.
 */
#include "resync.h"

#include "qs_log.h"

#include <stdlib.h>
#include <string.h>

struct qs_resync_sql {
    sqlite3 *db;
    sqlite3_stmt *load, *save, *max_seen, *drop_seen, *drop_stale;
};

static int
prep(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
               ? 0 : -1;
}

qs_resync_sql_t *
qs_resync_sql_new(sqlite3 *db)
{
    qs_resync_sql_t *self;

    if (sqlite3_exec(db, QS_RESYNC_SQL_TABLE, NULL, NULL, NULL) != SQLITE_OK)
        return NULL;
    self = qs_calloc(1, sizeof *self);
    self->db = db;
    if (prep(db, &self->load,
             "SELECT instance, gap_since_ms, want_gen, due_ms, sent_gen, start_ms, last_serial "
             "FROM resync WHERE client_id = ?1") != 0 ||
        prep(db, &self->save,
             "INSERT OR REPLACE INTO resync(client_id, instance, gap_since_ms, want_gen, "
             "due_ms, sent_gen, start_ms, last_serial) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)") != 0 ||
        prep(db, &self->max_seen, "SELECT max(serial) FROM seen WHERE client_id = ?1") != 0 ||
        prep(db, &self->drop_seen, "DELETE FROM seen WHERE client_id = ?1") != 0 ||
        prep(db, &self->drop_stale,
             "DELETE FROM latest WHERE client_id = ?1 AND report_ms < ?2") != 0)
        qs_resync_sql_destroy(&self);
    return self;
}

void
qs_resync_sql_destroy(qs_resync_sql_t **self_p)
{
    qs_resync_sql_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    sqlite3_finalize(self->load);
    sqlite3_finalize(self->save);
    sqlite3_finalize(self->max_seen);
    sqlite3_finalize(self->drop_seen);
    sqlite3_finalize(self->drop_stale);
    free(self);
    *self_p = NULL;
}

static int
done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_resync_sql_load(qs_resync_sql_t *self, int64_t client_id, qs_resync_row_t *r)
{
    sqlite3_stmt *st = self->load;
    int rc;

    memset(r, 0, sizeof *r);
    r->client_id = client_id;
    sqlite3_bind_int64(st, 1, client_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->exists = 1;
        if (sqlite3_column_bytes(st, 0) == QS_RESYNC_INSTANCE_BYTES) {
            memcpy(r->instance, sqlite3_column_blob(st, 0), QS_RESYNC_INSTANCE_BYTES);
            r->has_instance = 1;
        }
        r->gap_since_ms = sqlite3_column_int64(st, 1);
        r->want_gen = (uint64_t)sqlite3_column_int64(st, 2);
        r->due_ms = sqlite3_column_int64(st, 3);
        r->sent_gen = (uint64_t)sqlite3_column_int64(st, 4);
        r->start_ms = sqlite3_column_int64(st, 5);
        r->last_serial = (uint64_t)sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
qs_resync_sql_save(qs_resync_sql_t *self, qs_resync_row_t *r)
{
    sqlite3_stmt *st = self->save;

    if (!r->dirty)
        return 0;
    sqlite3_bind_int64(st, 1, r->client_id);
    if (r->has_instance)
        sqlite3_bind_blob(st, 2, r->instance, QS_RESYNC_INSTANCE_BYTES, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, r->gap_since_ms);
    sqlite3_bind_int64(st, 4, (int64_t)r->want_gen);
    sqlite3_bind_int64(st, 5, r->due_ms);
    sqlite3_bind_int64(st, 6, (int64_t)r->sent_gen);
    sqlite3_bind_int64(st, 7, r->start_ms);
    sqlite3_bind_int64(st, 8, (int64_t)r->last_serial);
    if (done(st) != 0)
        return -1;
    r->dirty = 0;
    r->exists = 1;
    return 0;
}

int
qs_resync_sql_max_seen(qs_resync_sql_t *self, int64_t client_id, int *has, uint64_t *max)
{
    sqlite3_stmt *st = self->max_seen;
    int rc;

    *has = 0;
    *max = 0;
    sqlite3_bind_int64(st, 1, client_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *has = 1;
        *max = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
qs_resync_sql_drop_seen(qs_resync_sql_t *self, int64_t client_id)
{
    sqlite3_bind_int64(self->drop_seen, 1, client_id);
    return done(self->drop_seen);
}

int
qs_resync_sql_drop_stale(qs_resync_sql_t *self, int64_t client_id, int64_t start_ms)
{
    sqlite3_bind_int64(self->drop_stale, 1, client_id);
    sqlite3_bind_int64(self->drop_stale, 2, start_ms);
    return done(self->drop_stale);
}
