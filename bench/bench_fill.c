/* bench_fill.c - data for the query and retention measurements.
 *
 * fill-latest: C clients (the clients table) x T topics (update detection,
 * topic type 500, "KB5000001"...) written straight into the `latest` table of the site's
 * store.db (created with the real schema by qs_storedb_open), states 1..3
 * spread deterministically, machine pseudonyms random per client, with the
 * store's own latest upsert (qs_store_bench.h). It drops the table's
 * secondary indexes and its compliance_counts triggers first and recreates
 * them afterwards from their own text (exactly the schema's definitions),
 * then rebuilds compliance_counts in one statement, which is much faster
 * than keeping them up to date row by row; the fill itself runs with
 * synchronous=OFF (setup, not measured). bench/run then times the real
 * `qsctl compliance`.
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
#include "qs_store_bench.h"
#include "qs_storedb.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILL_COMMIT_ROWS 200000

static uint64_t
mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The latest rows of fill-latest, a transaction every FILL_COMMIT_ROWS.
 * Returns the number of rows, -1 on error. */
static long
fill_latest_rows(qs_store_bench_t *st, const struct bench_opts *o, int64_t now)
{
    uint8_t machine[16], domain[16];
    qs_store_bench_row_t row = { 0 };
    long rows = 0;

    randombytes_buf(domain, sizeof domain);
    row.topic_type = 500;
    row.machine_ps = machine;
    row.domain_ps = domain;
    /* The clients too: `qsctl compliance --deployment` counts its scope
     * there (qs_store_deadline.h). */
    if (qs_store_bench_begin(st) != 0 || qs_store_bench_clients(st, o->clients, now) != 0)
        return -1;
    for (long c = 1; c <= o->clients; c++) {
        randombytes_buf(machine, sizeof machine);
        for (long t = 0; t < o->topics; t++) {
            char topic[32];
            snprintf(topic, sizeof topic, "KB%ld", 5000001 + t);
            row.client_id = c;
            row.topic_id = topic;
            row.state_id = 1 + (uint32_t)(mix64((uint64_t)c * 131 + (uint64_t)t) % 3);
            row.time_ms = row.report_ms = now - (c % 86400) * 1000;
            if (qs_store_bench_latest(st, &row) != 0)
                return -1;
            if (++rows % FILL_COMMIT_ROWS == 0 &&
                (qs_store_bench_commit(st) != 0 || qs_store_bench_begin(st) != 0))
                return -1;
        }
    }
    return qs_store_bench_commit(st) == 0 ? rows : -1;
}

int
bench_fill_latest(const struct bench_opts *o)
{
    bench_site_t site;
    qs_storedb_t *storedb = NULL;
    qs_store_bench_t *st = NULL;
    char err[1024];
    double t0 = bench_now_s();
    long rows = 0;
    int rc = 1;

    if (bench_site_open(&site, o->home) != 0)
        return 1;
    if ((storedb = qs_storedb_open(site.paths.store_db, 1, err, sizeof err)) == NULL ||
        (st = qs_store_bench_new(storedb, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench fill-latest: %s\n", err);
        goto out;
    }
    /* Set-up, not measured: no fsync, and latest's secondary indexes and
     * triggers rebuilt once at the end instead of row by row. */
    if (qs_store_bench_fast(st, 1) != 0 || qs_store_bench_bulk_latest(st, 1) != 0 ||
        (rows = fill_latest_rows(st, o, (int64_t)time(NULL) * 1000)) < 0 ||
        qs_store_bench_bulk_latest(st, 0) != 0 || qs_store_bench_fast(st, 0) != 0) {
        fprintf(stderr, "qs-bench fill-latest: %s\n", qs_store_bench_errmsg(st));
        goto out;
    }
    printf("{\"name\": \"fill_latest\", \"rows\": %ld, \"clients\": %ld, \"topics\": %ld, "
           "\"seconds\": %.1f}\n", rows, o->clients, o->topics, bench_now_s() - t0);
    rc = 0;
out:
    qs_store_bench_destroy(&st);
    qs_storedb_destroy(&storedb);
    bench_site_close(&site);
    return rc;
}

/* One day's partition of `rows` history rows, times spread over the day,
 * in one transaction. */
static int
fill_partition(qs_store_bench_t *st, qs_epochkeys_t *ks, int64_t epoch, long rows)
{
    static const char text[] = "0x80240022: the download of the update failed";
    uint8_t machine[16], details[128];
    qs_store_bench_row_t row = { 0 };
    const uint8_t *key;

    if ((key = qs_epochkeys_get(ks, epoch, 500, 1)) == NULL || qs_store_bench_begin(st) != 0)
        return -1;
    row.topic_type = 500;
    row.machine_ps = row.domain_ps = machine;
    for (long i = 0; i < rows; i++) {
        char topic[32];
        /* 1,000 clients, serials rising through the day. */
        row.client_id = 1 + i % 1000;
        row.serial = (uint64_t)(epoch * 100000 + i / 1000 + 1);
        row.time_ms = epoch * QS_MS_PER_DAY + (int64_t)((double)i / (double)rows * QS_MS_PER_DAY);
        row.state_id = 1 + (uint32_t)(i % 3);
        snprintf(topic, sizeof topic, "KB%ld", 5000001 + i % 20);
        row.topic_id = topic;
        memset(machine, (int)(row.client_id & 0xff), sizeof machine);
        machine[0] = (uint8_t)(row.client_id >> 8);
        row.details = NULL;
        if (i % 10 == 0) {
            uint8_t ad[QS_DETAILS_AD_BYTES];
            qs_details_ad(ad, row.client_id, row.serial, epoch, 500);
            if (qs_details_seal(details, &row.details_len, sizeof details, (const uint8_t *)text,
                                sizeof text - 1, ad, sizeof ad, key) != 0)
                return -1;
            row.details = details;
        }
        if (qs_store_bench_history(st, &row) != 0)
            return -1;
    }
    return qs_store_bench_commit(st);
}

/* 1,000 clients x 20 topics in latest; a tenth of the clients stopped
 * reporting before the cutoff (the first day kept). */
static int
fill_purge_latest(qs_store_bench_t *st, int64_t first, int64_t now)
{
    qs_store_bench_row_t row = { 0 };

    if (qs_store_bench_begin(st) != 0)
        return -1;
    row.topic_type = 500;
    row.state_id = 1;
    for (int c = 1; c <= 1000; c++)
        for (int t = 0; t < 20; t++) {
            char topic[32];
            snprintf(topic, sizeof topic, "KB%d", 5000001 + t);
            row.client_id = c;
            row.topic_id = topic;
            row.time_ms = row.report_ms = c % 10 == 0 ? (first + 1) * QS_MS_PER_DAY : now - 60000;
            if (qs_store_bench_latest(st, &row) != 0)
                return -1;
        }
    return qs_store_bench_commit(st);
}

/* The purge's store.db: every day from first to today (first: expired as a
 * whole; first + 1: straddles the cutoff; then kept) and latest. Returns
 * the kept history rows, -1 on error. */
static int64_t
fill_purge(qs_store_bench_t *st, qs_epochkeys_t *ks, const struct bench_opts *o, int64_t first,
           int64_t today, int64_t now)
{
    int64_t kept_rows = 0;

    if (qs_store_bench_fast(st, 1) != 0)
        return -1;
    for (int64_t e = first; e <= today; e++) {
        if (fill_partition(st, ks, e, o->rows) != 0) {
            fprintf(stderr, "qs-bench purge: cannot fill partition %lld: %s\n", (long long)e,
                    qs_store_bench_errmsg(st));
            return -1;
        }
        if (e > first)
            kept_rows += o->rows;
    }
    if (fill_purge_latest(st, first, now) != 0 || qs_store_bench_fast(st, 0) != 0)
        return -1;
    return kept_rows;
}

int
bench_purge(const struct bench_opts *o)
{
    char path[4096], epochs[4096], err[1024];
    qs_storedb_t *s = NULL;
    qs_store_bench_t *st = NULL;
    qs_epochkeys_t *ks = NULL;
    qs_policy_t pol;
    qs_purge_counts_t counts;
    long keep_days = o->days * o->scale;
    int64_t today = 20000, now = today * QS_MS_PER_DAY + 3600000LL;
    int64_t first = today - keep_days - 1, kept_rows;
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
        (st = qs_store_bench_new(s, err, sizeof err)) == NULL ||
        (ks = qs_epochkeys_open(epochs, 1, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench purge: %s\n", err);
        goto out;
    }
    t0 = bench_now_s();
    if ((kept_rows = fill_purge(st, ks, o, first, today, now)) < 0)
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
    qs_store_bench_destroy(&st);
    qs_epochkeys_destroy(&ks);
    qs_storedb_destroy(&s);
    return rc;
}
