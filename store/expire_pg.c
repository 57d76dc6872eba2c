/* expire_pg.c - expiry on PostgreSQL: drop a history partition, trim one, delete aged latest rows.
 *
 * The same operations as expire.c, each in its own short transaction (latest:
 * one per batch) so that the store workers keep committing. Differences,
 * all from storedb_pg.h's multi-writer rules: there are no triggers, so
 * deleting from latest subtracts the deleted rows from this connection's
 * shard of compliance_counts in the same statement (qs_pg_latest_delete);
 * a partition's row count is lowered in this connection's shard; and since
 * PostgreSQL has no secure_delete, a trimmed partition is VACUUMed after
 * its commit so that the space of its deleted rows is reused soon (what
 * VACUUM cannot reach is covered by crypto-shredding: docs/privacy.md).
 */
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdio.h>
#include <string.h>

#define STOPPED(stop) ((stop) != NULL && *(stop))

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

/* The batch's condition: $1 = the cutoff; the key subquery takes at most
 * batch rows, and the outer condition is checked again on a row a worker
 * updated meanwhile, so a row reported since the snapshot stays. */
static int
latest_where(char *q, size_t q_len, const qs_expire_topics_t *topics, size_t batch)
{
    char which[512];
    size_t off;

    if (topics->topic_type != 0) {
        off = (size_t)snprintf(which, sizeof which, "topic_type = %u", topics->topic_type);
    } else if (topics->n_except == 0) {
        off = (size_t)snprintf(which, sizeof which, "true");
    } else {
        off = (size_t)snprintf(which, sizeof which, "topic_type NOT IN (");
        for (size_t i = 0; i < topics->n_except && off < sizeof which; i++)
            off += (size_t)snprintf(which + off, sizeof which - off, "%s%u", i ? ", " : "",
                                    topics->except[i]);
        if (off < sizeof which)
            off += (size_t)snprintf(which + off, sizeof which - off, ")");
    }
    if (off >= sizeof which)
        return -1;
    return snprintf(q, q_len, "report_ms < $1::bigint AND %s AND (client_id, topic_type, "
                    "topic_id) IN (SELECT client_id, topic_type, topic_id FROM latest "
                    "WHERE report_ms < $1::bigint AND %s LIMIT %zu)", which, which, batch)
                   >= (int)q_len ? -1 : 0;
}

/* One batch in its own transaction; *n gets the rows deleted. */
static int
latest_batch(qs_pgdb_t *pg, const char *where, const char *cutoff, int64_t *n,
             char *errmsg, size_t errmsg_len)
{
    const char *params[1] = { cutoff };

    *n = 0;
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        return -1;
    }
    if (qs_pg_latest_delete(pg, n, where, 1, params, NULL, NULL, errmsg, errmsg_len) == 0) {
        if (qs_pgdb_commit(pg) == 0)
            return 0;
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
    }
    qs_pgdb_rollback(pg);
    *n = 0;
    return -1;
}

int
qs_storedb_expire_latest_pg(qs_storedb_t *db, int64_t *deleted, int *interrupted,
                            const qs_expire_topics_t *topics, int64_t cutoff_ms, size_t batch,
                            const volatile sig_atomic_t *stop, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char where[1536], cut[24];
    int64_t n;

    *deleted = 0;
    *interrupted = 0;
    QS_ASSERT(batch > 0);
    if (latest_where(where, sizeof where, topics, batch) != 0) {
        snprintf(errmsg, errmsg_len, "too many topic types with an age of their own");
        return -1;
    }
    snprintf(cut, sizeof cut, "%lld", (long long)cutoff_ms);
    for (;;) {
        if (STOPPED(stop)) {
            *interrupted = 1;
            break;
        }
        if (latest_batch(pg, where, cut, &n, errmsg, errmsg_len) != 0)
            return -1;
        *deleted += n;
        if (n < (int64_t)batch)
            break;
    }
    return 0;
}
