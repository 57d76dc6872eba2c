/* expire.c - the SQL of expiry: drop a history partition, trim one, delete aged latest rows.
 *
 * Each public operation is its own BEGIN IMMEDIATE transaction (latest: one
 * per batch), so the store's commits wait at most one short step. A history
 * table is dropped whole (secure_delete zeroes its pages); the partition
 * straddling a cutoff loses its older rows through qs_history_delete, the
 * one place that lowers partitions.rows when rows go; latest rows go in
 * steps of one pass over its primary key, and the compliance_counts
 * triggers follow each row out. A PostgreSQL store is handed to
 * expire_pg.c at the top of each public function.
 */
#include "expire_rules.h"
#include "history_rows.h"
#include "ops_pg.h"
#include "qs_log.h"
#include "qs_sqlutil.h"
#include "qs_store_expire.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define STOPPED(stop) ((stop) != NULL && *(stop))

const char *
qs_storedb_errmsg(qs_storedb_t *db)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_pgdb_errmsg(qs_storedb_pgdb(db));
    return sqlite3_errmsg(qs_storedb_sqlite(db));
}

static void
note(char *errmsg, size_t errmsg_len, const char *what, qs_storedb_t *db)
{
    if (errmsg_len > 0)
        snprintf(errmsg, errmsg_len, "%s%s", what, qs_storedb_errmsg(db));
}

int
qs_storedb_table_exists(qs_storedb_t *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(qs_storedb_sqlite(db), "SELECT 1 FROM sqlite_master WHERE "
                           "type = 'table' AND name = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
lower_row_count(sqlite3 *sql, int64_t epoch, uint32_t topic_type, int64_t deleted)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(sql, "UPDATE partitions SET rows = max(rows - ?3, 0) "
                           "WHERE epoch = ?1 AND topic_type = ?2", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, epoch);
    sqlite3_bind_int64(st, 2, topic_type);
    sqlite3_bind_int64(st, 3, deleted);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_history_delete(qs_storedb_t *db, int64_t *deleted, int64_t epoch, uint32_t topic_type,
                  const char *where, qs_history_bind_fn bind, const void *ctx)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    char name[64], q[512];
    int exists;

    *deleted = 0;
    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0 ||
        snprintf(q, sizeof q, "DELETE FROM \"%s\" WHERE %s", name, where) >= (int)sizeof q)
        return -1;
    exists = qs_storedb_table_exists(db, name);
    if (exists <= 0)
        return exists;      /* registered only: nothing stored there */
    if (qs_sql_run(sql, q, bind, ctx, deleted) != 0)
        return -1;
    if (*deleted > 0 && lower_row_count(sql, epoch, topic_type, *deleted) != 0) {
        *deleted = 0;
        return -1;
    }
    return 0;
}

int
qs_storedb_expire_partition(qs_storedb_t *db, int64_t *rows, int64_t epoch,
                            uint32_t topic_type, char *errmsg, size_t errmsg_len)
{
    char name[64], q[128];

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_expire_partition_pg(db, rows, epoch, topic_type, errmsg, errmsg_len);
    *rows = 0;
    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0) {
        snprintf(errmsg, errmsg_len, "partition name too long");
        return -1;
    }
    if (qs_storedb_begin(db) != 0) {
        note(errmsg, errmsg_len, "", db);
        return -1;
    }
    snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\"", name);
    if (qs_storedb_table_exists(db, name) == 1 &&
        qs_sql_int64(qs_storedb_sqlite(db), q, rows) != 0) {
        note(errmsg, errmsg_len, "cannot count its rows: ", db);
        goto fail;
    }
    if (qs_storedb_partition_drop(db, epoch, topic_type) != 0 || qs_storedb_commit(db) != 0) {
        note(errmsg, errmsg_len, "", db);
        goto fail;
    }
    return 0;
fail:
    qs_storedb_rollback(db);
    *rows = 0;
    return -1;
}

static int
bind_cutoff(sqlite3_stmt *st, const void *ctx)
{
    return sqlite3_bind_int64(st, 1, *(const int64_t *)ctx) == SQLITE_OK ? 0 : -1;
}

int
qs_storedb_expire_history(qs_storedb_t *db, int64_t *deleted, int64_t epoch,
                          uint32_t topic_type, int64_t cutoff_ms,
                          char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_expire_history_pg(db, deleted, epoch, topic_type, cutoff_ms, errmsg,
                                            errmsg_len);
    *deleted = 0;
    if (qs_storedb_begin(db) != 0) {
        note(errmsg, errmsg_len, "", db);
        return -1;
    }
    /* No index on time_ms: one day of one topic is scanned once. */
    if (qs_history_delete(db, deleted, epoch, topic_type, "time_ms < ?1", bind_cutoff,
                          &cutoff_ms) != 0 ||
        qs_storedb_commit(db) != 0) {
        note(errmsg, errmsg_len, "", db);
        qs_storedb_rollback(db);
        *deleted = 0;
        return -1;
    }
    return 0;
}

int
qs_expire_topics_sql(char *out, size_t out_len, const qs_expire_topics_t *topics)
{
    size_t off;

    if (topics->topic_type != 0) {
        off = (size_t)snprintf(out, out_len, "topic_type = %u", topics->topic_type);
    } else if (topics->n_except == 0) {
        off = (size_t)snprintf(out, out_len, "1 = 1");
    } else {
        off = (size_t)snprintf(out, out_len, "topic_type NOT IN (");
        for (size_t i = 0; i < topics->n_except && off < out_len; i++)
            off += (size_t)snprintf(out + off, out_len - off, "%s%u", i ? ", " : "",
                                    topics->except[i]);
        if (off < out_len)
            off += (size_t)snprintf(out + off, out_len - off, ")");
    }
    return off < out_len ? 0 : -1;
}

/* One step of the pass: ?1 = the last client_id of the step before (-1
 * first), ?2 = the cutoff, ?3 = the step's last client_id. */
static int
latest_delete_query(char *q, size_t q_len, const qs_expire_topics_t *topics)
{
    char where[512];

    if (qs_expire_topics_sql(where, sizeof where, topics) != 0)
        return -1;
    return snprintf(q, q_len, "DELETE FROM latest WHERE client_id > ?1 AND client_id <= ?3 "
                    "AND report_ms < ?2 AND %s", where) >= (int)q_len ? -1 : 0;
}

int
qs_expire_latest_pass(qs_expire_step_fn step, void *ctx, int64_t *deleted, int *interrupted,
                      const volatile sig_atomic_t *stop, char *errmsg, size_t errmsg_len)
{
    int64_t n, lo = -1, hi;
    int last = 0;

    *deleted = 0;
    *interrupted = 0;
    while (!last) {
        if (STOPPED(stop)) {
            *interrupted = 1;
            break;
        }
        if (step(ctx, lo, &n, &hi, &last, errmsg, errmsg_len) != 0)
            return -1;
        *deleted += n;
        lo = hi;
    }
    return 0;
}

struct latest_step_ctx {
    qs_storedb_t *db;
    sqlite3_stmt *bound;    /* the client_id of the batch-th row after ?1 */
    sqlite3_stmt *del;      /* latest_delete_query */
    size_t batch;
    int64_t cutoff_ms;
};

/* *hi: the client of the batch-th row after lo, or INT64_MAX with *last = 1. */
static int
step_end(struct latest_step_ctx *c, int64_t lo, int64_t *hi, int *last)
{
    int rc;

    sqlite3_bind_int64(c->bound, 1, lo);
    sqlite3_bind_int64(c->bound, 2, (sqlite3_int64)c->batch - 1);
    rc = sqlite3_step(c->bound);
    *last = rc == SQLITE_DONE;
    *hi = rc == SQLITE_ROW ? sqlite3_column_int64(c->bound, 0) : INT64_MAX;
    sqlite3_reset(c->bound);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* A qs_expire_step_fn: one step in its own transaction. */
static int
latest_step(void *ctx, int64_t lo, int64_t *n, int64_t *hi, int *last, char *errmsg,
            size_t errmsg_len)
{
    struct latest_step_ctx *c = ctx;

    *n = 0;
    if (qs_storedb_begin(c->db) != 0) {
        note(errmsg, errmsg_len, "", c->db);
        return -1;
    }
    if (step_end(c, lo, hi, last) == 0) {
        int rc;
        sqlite3_bind_int64(c->del, 1, lo);
        sqlite3_bind_int64(c->del, 2, c->cutoff_ms);
        sqlite3_bind_int64(c->del, 3, *hi);
        rc = sqlite3_step(c->del);
        sqlite3_reset(c->del);
        if (rc == SQLITE_DONE) {
            *n = sqlite3_changes(qs_storedb_sqlite(c->db));
            if (qs_storedb_commit(c->db) == 0)
                return 0;
        }
    }
    note(errmsg, errmsg_len, "", c->db);   /* before the rollback resets it */
    qs_storedb_rollback(c->db);
    *n = 0;
    return -1;
}

/* No index on report_ms (schema version 4: it moved on every report, a
 * random page per update of a full store, docs/scale.md): the rows are
 * found by one pass over latest's primary key, batch rows a step. */
int
qs_storedb_expire_latest(qs_storedb_t *db, int64_t *deleted, int *interrupted,
                         const qs_expire_topics_t *topics, int64_t cutoff_ms, size_t batch,
                         const volatile sig_atomic_t *stop, char *errmsg, size_t errmsg_len)
{
    struct latest_step_ctx c = { .db = db, .batch = batch, .cutoff_ms = cutoff_ms };
    char q[1024];
    int rc = -1;

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_expire_latest_pg(db, deleted, interrupted, topics, cutoff_ms, batch,
                                           stop, errmsg, errmsg_len);
    *deleted = 0;
    *interrupted = 0;
    QS_ASSERT(batch > 0);
    if (latest_delete_query(q, sizeof q, topics) != 0) {
        snprintf(errmsg, errmsg_len, "too many topic types with an age of their own");
        return -1;
    }
    if (sqlite3_prepare_v2(qs_storedb_sqlite(db), q, -1, &c.del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(qs_storedb_sqlite(db), "SELECT client_id FROM latest "
                           "WHERE client_id > ?1 ORDER BY client_id LIMIT 1 OFFSET ?2", -1,
                           &c.bound, NULL) != SQLITE_OK)
        note(errmsg, errmsg_len, "cannot prepare the delete: ", db);
    else
        rc = qs_expire_latest_pass(latest_step, &c, deleted, interrupted, stop, errmsg,
                                   errmsg_len);
    sqlite3_finalize(c.bound);
    sqlite3_finalize(c.del);
    return rc;
}

int
qs_storedb_retention_trylock(qs_storedb_t *db, char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_retention_trylock_pg(db, errmsg, errmsg_len);
    return 1;
}

void
qs_storedb_retention_unlock(qs_storedb_t *db)
{
    if (qs_storedb_pgdb(db) != NULL)
        qs_storedb_retention_unlock_pg(db);
}

int
qs_storedb_retention_fold(qs_storedb_t *db, char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_retention_fold_pg(db, errmsg, errmsg_len);
    return 0;
}
