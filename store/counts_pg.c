/* counts_pg.c - compliance_counts on PostgreSQL: check against latest, rebuild, repair.
 *
 * The table has one row per group and writer shard (storedb_pg.h): a
 * group's count is the sum over shards, and a group whose sum is 0 does
 * not exist. Both are compared with latest grouped in one statement (the
 * server groups; nothing is carried to the client but two numbers). A
 * rebuild first locks latest in SHARE mode: every worker's transaction that
 * changed latest has committed (with its counts) before it, and none can
 * start until the rebuild commits, so no change is counted twice or lost.
 */
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdio.h>
#include <string.h>

int
qs_storedb_counts_check_pg(qs_storedb_t *db, int64_t *missing, int64_t *stale,
                           char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    PGresult *r;

    *missing = *stale = 0;
    /* One statement: one snapshot for both sides. */
    r = qs_pg_query(pg, "cannot compare compliance_counts with latest",
                    "WITH l AS (SELECT topic_type, topic_id, state_id, count(*) AS n "
                    "           FROM latest GROUP BY topic_type, topic_id, state_id), "
                    "     c AS (SELECT topic_type, topic_id, state_id, sum(count) AS n "
                    "           FROM compliance_counts GROUP BY topic_type, topic_id, state_id "
                    "           HAVING sum(count) <> 0) "
                    "SELECT count(*) FILTER (WHERE l.n IS NOT NULL AND "
                    "                        (c.n IS NULL OR c.n <> l.n)), "
                    "       count(*) FILTER (WHERE l.n IS NULL) "
                    "FROM l FULL JOIN c USING (topic_type, topic_id, state_id)",
                    0, NULL, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    *missing = qs_pg_i64(r, 0, 0);
    *stale = qs_pg_i64(r, 0, 1);
    PQclear(r);
    return 0;
}

int
qs_storedb_counts_rebuild_pg(qs_storedb_t *db, int64_t *groups, char *errmsg,
                             size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    int64_t n = 0;

    if (qs_pg_run(pg, "cannot lock latest", "LOCK TABLE latest IN SHARE MODE", 0, NULL, NULL,
                  NULL, NULL, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, "cannot empty compliance_counts", "DELETE FROM compliance_counts", 0,
                  NULL, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, "cannot fill compliance_counts",
                  "INSERT INTO compliance_counts(topic_type, topic_id, state_id, shard, count) "
                  "SELECT topic_type, topic_id, state_id, 0, count(*) FROM latest "
                  "GROUP BY topic_type, topic_id, state_id "
                  "ORDER BY topic_type, topic_id" QS_PG_BYTE_ORDER ", state_id",
                  0, NULL, NULL, NULL, &n, errmsg, errmsg_len) != 0)
        return -1;
    if (groups != NULL)
        *groups = n;
    return 0;
}

int
qs_storedb_counts_repair_pg(qs_storedb_t *db, int64_t *groups, char *errmsg,
                            size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char err[512];

    if (qs_pg_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot begin a transaction to rebuild "
                 "compliance_counts: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    if (qs_storedb_counts_rebuild_pg(db, groups, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "cannot rebuild compliance_counts: %s (nothing was "
                 "changed)", err);
        qs_pgdb_rollback(pg);
        return -1;
    }
    if (qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot rebuild compliance_counts: %s (nothing was "
                 "changed)", qs_pgdb_errmsg(pg));
        qs_pgdb_rollback(pg);
        return -1;
    }
    return 0;
}
