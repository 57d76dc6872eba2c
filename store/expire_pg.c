/* expire_pg.c - expiry on PostgreSQL: drop a history partition, trim one, delete aged latest rows.
 *
 * The same operations as expire.c, each in its own short transaction (latest:
 * one per step of its pass over the primary key) so that the store workers
 * keep committing. Differences, all from storedb_pg.h's multi-writer rules:
 * there are no triggers, so deleting from latest subtracts the deleted rows
 * from this connection's shard of compliance_counts in the same statement
 * (qs_pg_latest_delete); a partition's row count is lowered in this
 * connection's shard; and since PostgreSQL has no secure_delete, a trimmed
 * partition is VACUUMed after its commit so that the space of its deleted
 * rows is reused soon (what VACUUM cannot reach is covered by
 * crypto-shredding: docs/privacy.md).
 */
#include "expire_rules.h"
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int
qs_storedb_expire_partition_pg(qs_storedb_t *db, int64_t *rows, int64_t epoch,
                               uint32_t topic_type, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char name[64], sql[128];
    PGresult *r;
    int exists;

    *rows = 0;
    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0) {
        snprintf(errmsg, errmsg_len, "partition name too long");
        return -1;
    }
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        return -1;
    }
    /* The partitions' lock first, as a worker creating a table takes it
     * before it writes rows; then the table itself, so that no worker adds a
     * row between the count and the DROP. */
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d, %d)", QS_PG_LOCK_CLASS,
             QS_PG_LOCK_PARTITIONS);
    if (qs_pg_run(pg, "cannot take the partitions' lock", sql, 0, NULL, NULL, NULL, NULL,
                  errmsg, errmsg_len) != 0)
        goto fail;
    exists = qs_pg_table_exists(pg, name, errmsg, errmsg_len);
    if (exists < 0)
        goto fail;
    if (exists) {
        snprintf(sql, sizeof sql, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", name);
        if (qs_pg_run(pg, "cannot lock it", sql, 0, NULL, NULL, NULL, NULL, errmsg,
                      errmsg_len) != 0)
            goto fail;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", name);
        r = qs_pg_query(pg, "cannot count its rows", sql, 0, NULL, NULL, NULL, errmsg,
                        errmsg_len);
        if (r == NULL)
            goto fail;
        *rows = qs_pg_i64(r, 0, 0);
        PQclear(r);
    }
    if (qs_pgdb_partition_drop(pg, epoch, topic_type) != 0 || qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        goto fail;
    }
    return 0;
fail:
    qs_pgdb_rollback(pg);
    *rows = 0;
    return -1;
}

int
qs_storedb_expire_history_pg(qs_storedb_t *db, int64_t *deleted, int64_t epoch,
                             uint32_t topic_type, int64_t cutoff_ms,
                             char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char cut[24], err[512];
    const char *params[1] = { cut };

    *deleted = 0;
    snprintf(cut, sizeof cut, "%lld", (long long)cutoff_ms);
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        return -1;
    }
    /* No index on time_ms: one day of one topic is scanned once. */
    if (qs_pg_history_delete(pg, deleted, epoch, topic_type, "time_ms < $1", 1, params, NULL,
                             NULL, errmsg, errmsg_len) != 0)
        goto fail;
    if (qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        goto fail;
    }
    if (*deleted > 0 && qs_pg_vacuum_partition(pg, epoch, topic_type, err, sizeof err) != 0)
        log_warn("deleted rows stay in their pages until autovacuum: %s", err);
    return 0;
fail:
    qs_pgdb_rollback(pg);
    *deleted = 0;
    return -1;
}

/* One step's condition: $1 = the cutoff, $2 the last client_id of the step
 * before (-1 first), $3 the step's last. The condition is checked again on
 * a row a worker updated meanwhile, so a row reported since the snapshot
 * stays. */
static int
latest_where(char *q, size_t q_len, const qs_expire_topics_t *topics)
{
    char which[512];

    if (qs_expire_topics_sql(which, sizeof which, topics) != 0)
        return -1;
    return snprintf(q, q_len, "client_id > $2::bigint AND client_id <= $3::bigint AND "
                    "report_ms < $1::bigint AND %s", which) >= (int)q_len ? -1 : 0;
}

struct latest_step_ctx {
    qs_pgdb_t *pg;
    const char *where;      /* latest_where */
    const char *cutoff;
    const char *bound;      /* the client_id of the batch-th row after $1, or -1 */
};

/* A qs_expire_step_fn: one step in its own transaction. */
static int
latest_step(void *ctx, int64_t lo, int64_t *n, int64_t *hi, int *last, char *errmsg,
            size_t errmsg_len)
{
    struct latest_step_ctx *c = ctx;
    char lo_s[24], hi_s[24];
    const char *params[3] = { c->cutoff, lo_s, hi_s };

    *n = 0;
    snprintf(lo_s, sizeof lo_s, "%lld", (long long)lo);
    if (qs_pgdb_begin(c->pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(c->pg));
        return -1;
    }
    if (qs_pgdb_int64(c->pg, hi, c->bound, 1, params + 1) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(c->pg));
        goto fail;
    }
    *last = *hi < 0;
    if (*last)
        *hi = INT64_MAX;
    snprintf(hi_s, sizeof hi_s, "%lld", (long long)*hi);
    if (qs_pg_latest_delete(c->pg, n, c->where, 3, params, NULL, NULL, errmsg,
                            errmsg_len) == 0) {
        if (qs_pgdb_commit(c->pg) == 0)
            return 0;
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(c->pg));
    }
fail:
    qs_pgdb_rollback(c->pg);
    *n = 0;
    return -1;
}

int
qs_storedb_expire_latest_pg(qs_storedb_t *db, int64_t *deleted, int *interrupted,
                            const qs_expire_topics_t *topics, int64_t cutoff_ms, size_t batch,
                            const volatile sig_atomic_t *stop, char *errmsg, size_t errmsg_len)
{
    char where[1536], cut[24], bound[200];
    struct latest_step_ctx c = { qs_storedb_pgdb(db), where, cut, bound };

    *deleted = 0;
    *interrupted = 0;
    QS_ASSERT(batch > 0);
    if (latest_where(where, sizeof where, topics) != 0) {
        snprintf(errmsg, errmsg_len, "too many topic types with an age of their own");
        return -1;
    }
    snprintf(cut, sizeof cut, "%lld", (long long)cutoff_ms);
    snprintf(bound, sizeof bound, "SELECT coalesce((SELECT client_id FROM latest WHERE "
             "client_id > $1::bigint ORDER BY client_id OFFSET %zu LIMIT 1), -1)", batch - 1);
    return qs_expire_latest_pass(latest_step, &c, deleted, interrupted, stop, errmsg,
                                 errmsg_len);
}
