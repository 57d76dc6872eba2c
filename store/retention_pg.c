/* retention_pg.c - qs-retention's share of a PostgreSQL store: its lock and the fold of shards.
 *
 * Several hosts may run qs-retention against one database; one pass at a
 * time runs, the others wait. The lock is a session advisory lock
 * (QS_PG_LOCK_CLASS, QS_PG_LOCK_RETENTION): it lives with the connection,
 * so a qs-retention killed mid-pass releases it when the server sees the
 * connection gone, and a pass that lost its connection simply has no lock.
 *
 * The fold (qs_pgdb_fold) rewrites every shard row of partitions,
 * compliance_counts, installed_hours and counters. Workers take their own
 * shard's rows at the end of their transactions, table by table in that
 * order (write_pg.c), each in ascending key order; the fold first locks
 * every row of the four tables
 * in the same table order and ascending (key, shard) order, which is
 * consistent with the workers', so the two wait for each other instead of
 * deadlocking. Should PostgreSQL still find a deadlock (across tables),
 * it aborts one side: a worker answers RETRY_LATER and its batch is sent
 * again, or the fold fails and the next pass folds.
 */
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdio.h>
#include <string.h>

/* pg_try_advisory_lock on the retention key: 1, 0, or -1 with errmsg. */
static int
try_lock(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    char sql[128];
    PGresult *r;
    int64_t got;

    snprintf(sql, sizeof sql, "SELECT CASE WHEN pg_try_advisory_lock(%d, %d) THEN 1 ELSE 0 "
             "END::bigint", QS_PG_LOCK_CLASS, QS_PG_LOCK_RETENTION);
    r = qs_pg_query(pg, "cannot take the retention lock", sql, 0, NULL, NULL, NULL, errmsg,
                    errmsg_len);
    if (r == NULL)
        return -1;
    got = qs_pg_i64(r, 0, 0);
    PQclear(r);
    return got == 1;
}

int
qs_storedb_retention_trylock_pg(qs_storedb_t *db, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    int rc;

    if (!qs_pgdb_ok(pg) && qs_pgdb_reconnect(pg, errmsg, errmsg_len) != 0)
        return -1;
    rc = try_lock(pg, errmsg, errmsg_len);
    /* A server restarted since the last pass: the first statement finds out. */
    if (rc < 0 && !qs_pgdb_ok(pg)) {
        if (qs_pgdb_reconnect(pg, errmsg, errmsg_len) != 0)
            return -1;
        log_info("reconnected to the store's database");
        rc = try_lock(pg, errmsg, errmsg_len);
    }
    return rc;
}

void
qs_storedb_retention_unlock_pg(qs_storedb_t *db)
{
    char sql[96];

    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%d, %d)", QS_PG_LOCK_CLASS,
             QS_PG_LOCK_RETENTION);
    /* A lost connection has released it already. */
    (void)qs_pgdb_exec(qs_storedb_pgdb(db), sql);
}

int
qs_storedb_retention_fold_pg(qs_storedb_t *db, char *errmsg, size_t errmsg_len)
{
    static const char lock_rows[] =
        "SELECT 1 FROM partitions ORDER BY epoch, topic_type, shard FOR UPDATE;"
        "SELECT 1 FROM compliance_counts ORDER BY topic_type, topic_id" QS_PG_BYTE_ORDER
        ", state_id, shard FOR UPDATE;"
        "SELECT 1 FROM installed_hours ORDER BY topic_type, topic_id" QS_PG_BYTE_ORDER
        ", state_id, hour, shard FOR UPDATE;"
        "SELECT 1 FROM counters ORDER BY name" QS_PG_BYTE_ORDER ", shard FOR UPDATE";
    qs_pgdb_t *pg = qs_storedb_pgdb(db);

    if (qs_pgdb_begin(pg) != 0 || qs_pgdb_exec(pg, lock_rows) != 0 || qs_pgdb_fold(pg) != 0 ||
        qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "%s", qs_pgdb_errmsg(pg));
        qs_pgdb_rollback(pg);
        return -1;
    }
    return 0;
}
