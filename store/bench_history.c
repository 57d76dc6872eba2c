/* bench_history.c - qs-bench's bulk history: copies of a partition into earlier days, either engine.
 *
 * The cost-growth measurement (bench/bench_pg.c) needs a store whose history
 * holds several times as many rows as `latest` (the 20M latest rows
 * and 100M history rows). Sending 100M messages through the write path takes
 * an hour per engine on a small machine; the rows a site keeps for earlier
 * days are, for the ingest of today, only pages it does not touch. So the
 * fill writes today's rows through the real ingest and this module copies
 * them, row for row (pseudonyms, sealed details, times), into the partitions
 * of earlier days: same tables, same indexes, registered with their row
 * counts as the store registers its own. Set-up, not measured.
 */
#include "qs_store_bench.h"

#include "storedb_pg.h"
#include "storedb_sqlite.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdio.h>

/* The copy: every column. SQLite reads a WITHOUT ROWID table in key order,
 * so the target's primary key is appended to rather than split; PostgreSQL's
 * heap is in the fill's order already (an ORDER BY would sort it again). */
#define COPY_SQL "INSERT INTO %s(client_id, serial, state_id, topic_id, time_ms, machine_ps, " \
                 "domain_ps, user_ps, details) SELECT client_id, serial, state_id, topic_id, " \
                 "time_ms, machine_ps, domain_ps, user_ps, details FROM %s LIMIT %lld"

/* The copy's rows added to the target's registered count. */
static void
count_sql(char *out, size_t out_len, int pg, int64_t to_epoch, uint32_t topic_type,
          int64_t copied)
{
    snprintf(out, out_len,
             "UPDATE partitions SET rows = rows + %lld WHERE epoch = %lld AND topic_type = %u%s",
             (long long)copied, (long long)to_epoch, topic_type, pg ? " AND shard = 0" : "");
}

static int
copy_sqlite(qs_storedb_t *db, int64_t to_epoch, uint32_t topic_type, const char *sql,
            int64_t *copied, char *errmsg, size_t errmsg_len)
{
    sqlite3 *s = qs_storedb_sqlite(db);
    char upd[256];
    int rc = -1;

    /* The target's machine_ps index is written in random order: a page
     * cache that holds it, for the copy only. */
    if (sqlite3_exec(s, "PRAGMA cache_size=-2097152", NULL, NULL, NULL) != SQLITE_OK ||
        qs_storedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "%s", sqlite3_errmsg(s));
        goto out;
    }
    if (qs_storedb_partition_ensure(db, to_epoch, topic_type) != 0 ||
        sqlite3_exec(s, sql, NULL, NULL, NULL) != SQLITE_OK)
        goto fail_tx;
    *copied = sqlite3_changes64(s);
    count_sql(upd, sizeof upd, 0, to_epoch, topic_type, *copied);
    if (sqlite3_exec(s, upd, NULL, NULL, NULL) != SQLITE_OK || qs_storedb_commit(db) != 0)
        goto fail_tx;
    rc = 0;
    goto out;
fail_tx:
    snprintf(errmsg, errmsg_len, "%s", sqlite3_errmsg(s));
    qs_storedb_rollback(db);
out:
    /* The store's own cache size again (storedb.c). */
    if (sqlite3_exec(s, "PRAGMA cache_size=" QS_STOREDB_SQLITE_CACHE_SIZE ";"
                     "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
                     NULL) != SQLITE_OK && rc == 0) {
        snprintf(errmsg, errmsg_len, "%s", sqlite3_errmsg(s));
        rc = -1;
    }
    return rc;
}

static int
copy_pg(qs_storedb_t *db, int64_t to_epoch, uint32_t topic_type, const char *sql,
        int64_t *copied, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char upd[256];

    if (qs_pg_run(pg, "BEGIN", "BEGIN", 0, NULL, NULL, NULL, NULL, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_storedb_partition_ensure(db, to_epoch, topic_type) != 0) {
        snprintf(errmsg, errmsg_len, "cannot create the partition of day %lld: %s",
                 (long long)to_epoch, qs_pgdb_errmsg(pg));
        goto fail;
    }
    if (qs_pg_run(pg, "copy a partition", sql, 0, NULL, NULL, NULL, copied, errmsg,
                  errmsg_len) != 0)
        goto fail;
    count_sql(upd, sizeof upd, 1, to_epoch, topic_type, *copied);
    if (qs_pg_run(pg, "count the copy", upd, 0, NULL, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, "COMMIT", "COMMIT", 0, NULL, NULL, NULL, NULL, errmsg, errmsg_len) != 0)
        goto fail;
    return 0;
fail:
    (void)qs_pg_run(pg, "ROLLBACK", "ROLLBACK", 0, NULL, NULL, NULL, NULL, NULL, 0);
    return -1;
}

int
qs_store_bench_copy_history(qs_storedb_t *db, int64_t from_epoch, uint32_t topic_type,
                            int64_t to_epoch, int64_t limit, int64_t *copied, char *errmsg,
                            size_t errmsg_len)
{
    char from[64], to[64], sql[768];

    *copied = 0;
    if (from_epoch == to_epoch || limit <= 0 ||
        qs_storedb_partition_name(from, sizeof from, from_epoch, topic_type) != 0 ||
        qs_storedb_partition_name(to, sizeof to, to_epoch, topic_type) != 0) {
        snprintf(errmsg, errmsg_len, "bug: copy of partition %lld to %lld, limit %lld",
                 (long long)from_epoch, (long long)to_epoch, (long long)limit);
        return -1;
    }
    snprintf(sql, sizeof sql, COPY_SQL, to, from, (long long)limit);
    if (qs_storedb_engine(db) == QS_STOREDB_POSTGRESQL)
        return copy_pg(db, to_epoch, topic_type, sql, copied, errmsg, errmsg_len);
    return copy_sqlite(db, to_epoch, topic_type, sql, copied, errmsg, errmsg_len);
}

/* Every table and index of the store's schema but the history partitions
 * (and their indexes) of days before $1, read into the page cache. */
#define PREWARM_SQL \
    "SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0)::bigint FROM pg_class c " \
    "LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid " \
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i') " \
    "AND coalesce(substring(coalesce(t.relname, c.relname) " \
    "FROM '^history_(-?[0-9]+)_[0-9]+$')::bigint >= $1::bigint, true)"

static int
settle_pg(qs_pgdb_t *pg, int64_t cold_before_epoch, char *errmsg, size_t errmsg_len)
{
    char epoch[32];
    const char *values[1] = { epoch };
    PGresult *r;

    /* VACUUM first: it dirties every page it marks, which the CHECKPOINT
     * then writes. Neither may run in a transaction. */
    if (qs_pg_run(pg, "VACUUM (ANALYZE)", "VACUUM (ANALYZE)", 0, NULL, NULL, NULL, NULL, errmsg,
                  errmsg_len) != 0 ||
        qs_pg_run(pg, "CHECKPOINT", "CHECKPOINT", 0, NULL, NULL, NULL, NULL, errmsg,
                  errmsg_len) != 0 ||
        qs_pg_run(pg, "CREATE EXTENSION pg_prewarm (in Debian's postgresql package)",
                  "CREATE EXTENSION IF NOT EXISTS pg_prewarm", 0, NULL, NULL, NULL, NULL, errmsg,
                  errmsg_len) != 0)
        return -1;
    snprintf(epoch, sizeof epoch, "%lld", (long long)cold_before_epoch);
    if ((r = qs_pg_query(pg, "pg_prewarm", PREWARM_SQL, 1, values, NULL, NULL, errmsg,
                         errmsg_len)) == NULL)
        return -1;
    log_info("settle: %lld MB of tables and indexes read into the page cache",
             (long long)(qs_pg_i64(r, 0, 0) * 8 / 1024));
    PQclear(r);
    return 0;
}

int
qs_store_bench_settle(qs_storedb_t *db, int64_t cold_before_epoch, char *errmsg,
                      size_t errmsg_len)
{
    if (qs_storedb_engine(db) == QS_STOREDB_POSTGRESQL)
        return settle_pg(qs_storedb_pgdb(db), cold_before_epoch, errmsg, errmsg_len);
    if (sqlite3_exec(qs_storedb_sqlite(db), "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
                     NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "%s", sqlite3_errmsg(qs_storedb_sqlite(db)));
        return -1;
    }
    return 0;
}
