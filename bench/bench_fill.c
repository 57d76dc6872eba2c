/* bench_fill.c - data for the query and retention measurements.
 *
 * fill-latest: C clients x T topics (update detection, topic type 500,
 * "KB5000001"...) written straight into the `latest` table of the site's
 * store.db (created with the real schema by qs_storedb_open), states 1..3
 * spread deterministically, machine pseudonyms random per client. It drops
 * the table's secondary indexes and its compliance_counts triggers first and
 * recreates them afterwards from their own text (read back from
 * sqlite_master: exactly the schema's definitions), then rebuilds
 * compliance_counts in one statement, which is much faster than keeping them
 * up to date row by row; the fill itself runs with synchronous=OFF (setup, not
 * measured). bench/run then times the real `qsctl compliance`.
 *
 * purge: one retention pass (qs_purge_pass, retention/purge.h) that expires
 * one epoch, on a store.db filled here: "now" is one hour into a UTC day; the
 * policy keeps history for D x K days; the day that has just expired as a
 * whole holds R rows, and so does every retained day (D x K + 1 partitions,
 * the youngest of which straddles nothing, the oldest straddles the cutoff:
 * its first hour is expired). 10% of the rows carry sealed details (one
 * epoch key per day, created in DIR/epochs). `latest` holds 1,000 clients x
 * 20 topics, a tenth of them last reported before the cutoff. So with
 * --scale 10 ten times as much history is kept as with --scale 1, while the
 * work a pass has to do (one day to drop and shred, one hour of one day to
 * delete, 2,000 latest rows) is the same: the pass's time should not grow
 * with what is kept.
 */
#include "bench.h"

#include "purge.h"
#include "qs_clock.h"
#include "qs_epochkeys.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "qs_counts.h"
#include "qs_storedb.h"
#include "storedb_sqlite.h" /* TODO(store-interface): must go */

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILL_COMMIT_ROWS 200000
/* What the fill drops and recreates around its bulk insert. */
#define FILL_SCHEMA_SQL "SELECT type, name, sql FROM sqlite_master " \
                        "WHERE type IN ('index', 'trigger') AND tbl_name = 'latest' " \
                        "AND sql IS NOT NULL"

static int
exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "qs-bench: %s: %s\n", sql, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static uint64_t
mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int
bench_fill_latest(const struct bench_opts *o)
{
    bench_site_t site;
    qs_storedb_t *storedb = NULL;
    sqlite3 *db;
    sqlite3_stmt *ins = NULL, *idx = NULL;
    char err[1024], **index_sql = NULL;
    size_t n_index = 0;
    uint8_t machine[16], domain[16];
    int64_t now = (int64_t)time(NULL) * 1000;
    double t0 = bench_now_s();
    long rows = 0;
    int rc = 1;

    if (bench_site_open(&site, o->home) != 0)
        return 1;
    if ((storedb = qs_storedb_open(site.paths.store_db, 1, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench fill-latest: %s\n", err);
        goto out;
    }
    db = qs_storedb_sqlite(storedb);
    if (exec_sql(db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144") != 0)
        goto out;
    /* The secondary indexes and triggers of latest, as the schema defines them. */
    if (sqlite3_prepare_v2(db, FILL_SCHEMA_SQL, -1, &idx, NULL) != SQLITE_OK)
        goto db_error;
    while (sqlite3_step(idx) == SQLITE_ROW) {
        char drop[256];
        index_sql = qs_realloc(index_sql, (n_index + 1) * sizeof *index_sql);
        index_sql[n_index++] = qs_strdup((const char *)sqlite3_column_text(idx, 2));
        snprintf(drop, sizeof drop, "DROP %s \"%s\"", sqlite3_column_text(idx, 0),
                 sqlite3_column_text(idx, 1));
        sqlite3_finalize(idx);
        idx = NULL;
        if (exec_sql(db, drop) != 0)
            goto out;
        if (sqlite3_prepare_v2(db, FILL_SCHEMA_SQL, -1, &idx, NULL) != SQLITE_OK)
            goto db_error;
    }
    sqlite3_finalize(idx);
    idx = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                           "time_ms, report_ms, machine_ps, domain_ps) VALUES "
                           "(?1, 500, ?2, ?3, ?4, ?4, ?5, ?6)", -1, &ins, NULL) != SQLITE_OK)
        goto db_error;
    randombytes_buf(domain, sizeof domain);
    if (exec_sql(db, "BEGIN") != 0)
        goto out;
    for (long c = 1; c <= o->clients; c++) {
        randombytes_buf(machine, sizeof machine);
        for (long t = 0; t < o->topics; t++) {
            char topic[32];
            snprintf(topic, sizeof topic, "KB%ld", 5000001 + t);
            sqlite3_bind_int64(ins, 1, c);
            sqlite3_bind_text(ins, 2, topic, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(ins, 3, 1 + (int)(mix64((uint64_t)c * 131 + (uint64_t)t) % 3));
            sqlite3_bind_int64(ins, 4, now - (c % 86400) * 1000);
            sqlite3_bind_blob(ins, 5, machine, sizeof machine, SQLITE_STATIC);
            sqlite3_bind_blob(ins, 6, domain, sizeof domain, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto db_error;
            sqlite3_reset(ins);
            if (++rows % FILL_COMMIT_ROWS == 0 &&
                (exec_sql(db, "COMMIT") != 0 || exec_sql(db, "BEGIN") != 0))
                goto out;
        }
    }
    if (exec_sql(db, "COMMIT") != 0)
        goto out;
    for (size_t i = 0; i < n_index; i++)
        if (exec_sql(db, index_sql[i]) != 0)
            goto out;
    if (exec_sql(db, "BEGIN") != 0)
        goto out;
    if (qs_storedb_counts_rebuild(storedb, NULL) != 0)
        goto db_error;
    if (exec_sql(db, "COMMIT") != 0)
        goto out;
    if (exec_sql(db, "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)") != 0)
        goto out;
    printf("{\"name\": \"fill_latest\", \"rows\": %ld, \"clients\": %ld, \"topics\": %ld, "
           "\"seconds\": %.1f}\n", rows, o->clients, o->topics, bench_now_s() - t0);
    rc = 0;
    goto out;
db_error:
    fprintf(stderr, "qs-bench fill-latest: %s\n", sqlite3_errmsg(qs_storedb_sqlite(storedb)));
out:
    sqlite3_finalize(idx);
    sqlite3_finalize(ins);
    for (size_t i = 0; i < n_index; i++)
        free(index_sql[i]);
    free(index_sql);
    qs_storedb_destroy(&storedb);
    bench_site_close(&site);
    return rc;
}

/* One day's partition of `rows` history rows, times spread over the day. */
static int
fill_partition(qs_storedb_t *s, qs_epochkeys_t *ks, int64_t epoch, long rows)
{
    sqlite3 *db = qs_storedb_sqlite(s);
    sqlite3_stmt *ins = NULL, *cnt = NULL;
    char name[64], sql[512];
    uint8_t machine[16], details[128];
    const uint8_t *key;
    int rc = -1;

    if (qs_storedb_partition_ensure(s, epoch, 500) != 0 ||
        qs_storedb_partition_name(name, sizeof name, epoch, 500) != 0 ||
        (key = qs_epochkeys_get(ks, epoch, 500, 1)) == NULL)
        goto out;
    snprintf(sql, sizeof sql, "INSERT INTO %s(client_id, serial, state_id, topic_id, time_ms, "
             "machine_ps, domain_ps, user_ps, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, NULL, "
             "?7)", name);
    if (sqlite3_prepare_v2(db, sql, -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE partitions SET rows = rows + ?3 WHERE epoch = ?1 AND "
                           "topic_type = ?2", -1, &cnt, NULL) != SQLITE_OK)
        goto out;
    for (long i = 0; i < rows; i++) {
        /* 1,000 clients, serials rising through the day. */
        int64_t client = 1 + i % 1000, serial = epoch * 100000 + i / 1000 + 1;
        int64_t t = epoch * QS_MS_PER_DAY + (int64_t)((double)i / (double)rows * QS_MS_PER_DAY);
        char topic[32];
        snprintf(topic, sizeof topic, "KB%ld", 5000001 + i % 20);
        memset(machine, (int)(client & 0xff), sizeof machine);
        machine[0] = (uint8_t)(client >> 8);
        sqlite3_bind_int64(ins, 1, client);
        sqlite3_bind_int64(ins, 2, serial);
        sqlite3_bind_int(ins, 3, 1 + (int)(i % 3));
        sqlite3_bind_text(ins, 4, topic, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 5, t);
        sqlite3_bind_blob(ins, 6, machine, sizeof machine, SQLITE_STATIC);
        if (i % 10 == 0) {
            uint8_t ad[QS_DETAILS_AD_BYTES];
            size_t dlen = 0;
            static const char text[] = "0x80240022: the download of the update failed";
            qs_details_ad(ad, client, (uint64_t)serial, epoch, 500);
            if (qs_details_seal(details, &dlen, sizeof details, (const uint8_t *)text,
                                sizeof text - 1, ad, sizeof ad, key) != 0)
                goto out;
            sqlite3_bind_blob(ins, 7, details, (int)dlen, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(ins, 7);
        }
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto out;
        sqlite3_reset(ins);
    }
    sqlite3_bind_int64(cnt, 1, epoch);
    sqlite3_bind_int64(cnt, 2, 500);
    sqlite3_bind_int64(cnt, 3, rows);
    if (sqlite3_step(cnt) != SQLITE_DONE)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "qs-bench purge: cannot fill partition %lld: %s\n", (long long)epoch,
                sqlite3_errmsg(db));
    sqlite3_finalize(ins);
    sqlite3_finalize(cnt);
    return rc;
}

int
bench_purge(const struct bench_opts *o)
{
    char path[4096], epochs[4096], err[1024];
    qs_storedb_t *s = NULL;
    qs_epochkeys_t *ks = NULL;
    qs_policy_t pol;
    qs_purge_counts_t counts;
    sqlite3 *db;
    sqlite3_stmt *ins = NULL;
    long keep_days = o->days * o->scale;
    int64_t today = 20000, now = today * QS_MS_PER_DAY + 3600000LL;
    int64_t first = today - keep_days - 1, kept_rows = 0;
    double fill_s, t0, el;
    int rc = 1;

    if (keep_days > QS_POLICY_MAX_AGE_DAYS) {
        fprintf(stderr, "qs-bench purge: --days x --scale is more than %d days\n",
                QS_POLICY_MAX_AGE_DAYS);
        return 2;
    }
    snprintf(path, sizeof path, "%s/purge-%ld.db", o->dir, o->scale);
    snprintf(epochs, sizeof epochs, "%s/purge-%ld-epochs", o->dir, o->scale);
    unlink(path);
    if ((s = qs_storedb_open(path, 1, err, sizeof err)) == NULL ||
        (ks = qs_epochkeys_open(epochs, 1, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench purge: %s\n", err);
        goto out;
    }
    db = qs_storedb_sqlite(s);
    t0 = bench_now_s();
    if (exec_sql(db, "PRAGMA synchronous=OFF") != 0)
        goto out;
    /* first: expired as a whole; first + 1: straddles the cutoff; then kept. */
    for (int64_t e = first; e <= today; e++) {
        if (exec_sql(db, "BEGIN") != 0 || fill_partition(s, ks, e, o->rows) != 0 ||
            exec_sql(db, "COMMIT") != 0)
            goto out;
        if (e > first)
            kept_rows += o->rows;
    }
    if (exec_sql(db, "BEGIN") != 0 ||
        sqlite3_prepare_v2(db, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                           "time_ms, report_ms, machine_ps, domain_ps) VALUES "
                           "(?1, 500, ?2, 1, ?3, ?3, NULL, NULL)", -1, &ins, NULL) != SQLITE_OK)
        goto out;
    for (int c = 1; c <= 1000; c++)
        for (int t = 0; t < 20; t++) {
            char topic[32];
            /* A tenth of the clients stopped reporting before the cutoff. */
            int64_t report = c % 10 == 0 ? (first + 1) * QS_MS_PER_DAY : now - 60000;
            snprintf(topic, sizeof topic, "KB%d", 5000001 + t);
            sqlite3_bind_int(ins, 1, c);
            sqlite3_bind_text(ins, 2, topic, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(ins, 3, report);
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto out;
            sqlite3_reset(ins);
        }
    if (exec_sql(db, "COMMIT") != 0 ||
        exec_sql(db, "PRAGMA synchronous=FULL; PRAGMA wal_checkpoint(TRUNCATE)") != 0)
        goto out;
    fill_s = bench_now_s() - t0;

    qs_policy_defaults(&pol);
    pol.max_age_days = (int)keep_days;
    memset(&counts, 0, sizeof counts);
    t0 = bench_now_s();
    if (qs_purge_pass(s, ks, &pol, now, NULL, &counts, err, sizeof err) != 0) {
        fprintf(stderr, "qs-bench purge: the retention pass failed: %s\n", err);
        goto out;
    }
    el = bench_now_s() - t0;
    if (counts.partitions_dropped != 1 || counts.keys_shredded < 1) {
        fprintf(stderr, "qs-bench purge: expected one partition dropped and its key shredded, "
                "got %lld dropped, %lld keys shredded\n", (long long)counts.partitions_dropped,
                (long long)counts.keys_shredded);
        goto out;
    }
    printf("{\"name\": \"purge\", \"scale\": %ld, \"seconds\": %.3f, \"kept_history_rows\": "
           "%lld, \"expired_partition_rows\": %ld, \"history_rows_deleted\": %lld, "
           "\"latest_rows_deleted\": %lld, \"partitions_dropped\": %lld, \"keys_shredded\": %lld, "
           "\"scrubbed\": %d, \"fill_seconds\": %.1f}\n",
           o->scale, el, (long long)kept_rows, o->rows, (long long)counts.history_rows_deleted,
           (long long)counts.latest_rows_deleted, (long long)counts.partitions_dropped,
           (long long)counts.keys_shredded, counts.scrubbed, fill_s);
    rc = 0;
out:
    sqlite3_finalize(ins);
    qs_epochkeys_destroy(&ks);
    qs_storedb_destroy(&s);
    return rc;
}
