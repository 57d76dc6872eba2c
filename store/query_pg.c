/* query_pg.c - compliance counts and statistics read from the store on PostgreSQL.
 *
 * The same answers as query.c, fetched differently: each query runs in one
 * read-only REPEATABLE READ transaction (one snapshot, writers go on), and
 * compliance_counts has one row per group and writer shard (storedb_pg.h),
 * so a group's count is the sum over its shards and a group whose sum is 0
 * does not exist. Rows come in (topic_type, topic_id bytes, state_id) order,
 * as SQLite's BINARY order gives them; suppression and the published total
 * are query.c's (query_rules.h), applied before anything leaves store/.
 */
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"
#include "query_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exact groups under the filters, summed over shards, in key order. */
static const char sql_groups[] =
    "SELECT topic_type, topic_id, state_id, sum(count)::bigint FROM compliance_counts "
    "WHERE ($1::bigint IS NULL OR topic_type = $1) AND ($2::text IS NULL OR topic_id = $2) "
    "GROUP BY topic_type, topic_id, state_id HAVING sum(count) <> 0 "
    "ORDER BY topic_type, topic_id" QS_PG_BYTE_ORDER ", state_id";

/* Machines per topic type: scope_counts has one row per type and shard. */
static const char sql_scopes[] =
    "SELECT topic_type, sum(machines)::bigint FROM scope_counts GROUP BY topic_type";

/* Fetch the exact groups and scopes into out (inside the caller's snapshot) and
 * suppress them. 0, or -1 with errmsg (out freed). */
static int
compliance_fetch(qs_pgdb_t *pg, qs_storedb_compliance_t *out, const uint32_t *topic_type,
                 const char *topic_id, char *errmsg, size_t errmsg_len)
{
    char type[16];
    const char *params[2] = { NULL, topic_id };
    size_t cap = 0, n;
    qs_compliance_scope_t *scopes;
    PGresult *r;

    if (topic_type != NULL) {
        snprintf(type, sizeof type, "%u", *topic_type);
        params[0] = type;
    }
    r = qs_pg_query(pg, "compliance query failed", sql_groups, 2, params, NULL, NULL, errmsg,
                    errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        qs_compliance_push(out, &cap, (uint32_t)qs_pg_i64(r, i, 0), PQgetvalue(r, i, 1),
                           (uint32_t)qs_pg_i64(r, i, 2), qs_pg_i64(r, i, 3));
    PQclear(r);
    r = qs_pg_query(pg, "scope query failed", sql_scopes, 0, NULL, NULL, NULL, errmsg,
                    errmsg_len);
    if (r == NULL) {
        qs_storedb_compliance_free(out);
        return -1;
    }
    n = (size_t)PQntuples(r);
    scopes = qs_calloc(n + 1, sizeof *scopes);
    for (size_t i = 0; i < n; i++) {
        scopes[i].topic_type = (uint32_t)qs_pg_i64(r, (int)i, 0);
        scopes[i].machines = qs_pg_i64(r, (int)i, 1);
    }
    PQclear(r);
    qs_compliance_suppress(out, scopes, n);
    free(scopes);
    return 0;
}

int
qs_storedb_compliance_pg(qs_storedb_t *db, qs_storedb_compliance_t *out,
                         const qs_policy_t *policy, const uint32_t *topic_type,
                         const char *topic_id, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    int rc;

    memset(out, 0, sizeof *out);
    out->k = qs_compliance_k(policy);
    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    rc = compliance_fetch(pg, out, topic_type, topic_id, errmsg, errmsg_len);
    qs_pg_read_end(pg);
    if (rc != 0)
        qs_storedb_compliance_free(out);
    return rc;
}

/* Row counts and counters (summed over shards), in the caller's snapshot.
 * count(*) of latest, as on SQLite: the number of rows, not what the
 * counts say (qsctl verify compares the two). */
static int
stats_read(qs_pgdb_t *pg, qs_storedb_stats_t *out, char *errmsg, size_t errmsg_len)
{
    PGresult *r = qs_pg_query(pg, "statistics query failed",
                              "SELECT (SELECT count(*) FROM clients), "
                              "       (SELECT count(*) FROM latest), "
                              "       (SELECT coalesce(sum(rows), 0)::bigint FROM partitions), "
                              "       (SELECT count(*) FROM (SELECT DISTINCT epoch, topic_type "
                              "                              FROM partitions) AS p)",
                              0, NULL, NULL, NULL, errmsg, errmsg_len);

    if (r == NULL)
        return -1;
    out->clients = qs_pg_i64(r, 0, 0);
    out->latest_rows = qs_pg_i64(r, 0, 1);
    out->history_rows = qs_pg_i64(r, 0, 2);
    out->partitions = qs_pg_i64(r, 0, 3);
    PQclear(r);
    r = qs_pg_query(pg, "statistics query failed",
                    "SELECT name, sum(value)::bigint FROM counters GROUP BY name "
                    "ORDER BY name" QS_PG_BYTE_ORDER, 0, NULL, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        qs_storedb_stats_counter(out, PQgetvalue(r, i, 0), qs_pg_i64(r, i, 1));
    PQclear(r);
    return 0;
}

int
qs_storedb_stats_pg(qs_storedb_t *db, qs_storedb_stats_t *out, const qs_policy_t *policy,
                    char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    qs_storedb_compliance_t res;
    int rc;

    memset(out, 0, sizeof *out);
    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    rc = stats_read(pg, out, errmsg, errmsg_len);
    if (rc == 0 && policy != NULL) {
        /* The published total, from the same snapshot (qs_store_query.h). */
        memset(&res, 0, sizeof res);
        res.k = qs_compliance_k(policy);
        rc = compliance_fetch(pg, &res, NULL, NULL, errmsg, errmsg_len);
        if (rc == 0)
            out->latest_rows = qs_compliance_published(&res);
        qs_storedb_compliance_free(&res);
    }
    qs_pg_read_end(pg);
    if (rc != 0)
        qs_storedb_stats_free(out);
    return rc;
}
