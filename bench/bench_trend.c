/* bench_trend.c - qs-bench trend-days: N days of compliance snapshots for the trend measurement.
 *
 * Writes the daily snapshots qs-retention writes, one per day for the
 * --days days ending today (UTC), through the same store call
 * (qs_storedb_trend_snapshot): each a copy of the site's current
 * compliance_counts. A real site gets one such day per day; the benchmark
 * needs 90 of them at once. Prints {"name": "trend_days", "days", "groups",
 * "seconds"}.
 */
#include "bench.h"
#include "qs_store_trend.h"
#include "qs_storedb.h"

#include <stdio.h>

int
bench_trend_days(const struct bench_opts *o)
{
    bench_site_t site;
    qs_storedb_t *db = NULL;
    qs_clock_t clock;
    char err[1024];
    double t0 = bench_now_s();
    int64_t today, groups = 0;
    int rc = 1;

    if (o->days > QS_TREND_KEEP_DAYS) {
        fprintf(stderr, "qs-bench trend-days: --days must be 1..%d\n", QS_TREND_KEEP_DAYS);
        return 2;
    }
    if (bench_site_open(&site, o->home) != 0)
        return 1;
    (void)qs_clock_init(&clock);
    today = qs_epoch_of(qs_clock_now_ms(&clock));
    db = qs_storedb_open(qs_storedb_location(site.cfg.store_database, site.paths.store_db), 0,
                         err, sizeof err);
    if (db == NULL)
        goto fail;
    for (int64_t day = today - o->days + 1; day <= today; day++)
        if (qs_storedb_trend_snapshot(db, day, day * QS_MS_PER_DAY, QS_TREND_KEEP_DAYS, &groups,
                                      err, sizeof err) != 0)
            goto fail;
    printf("{\"name\": \"trend_days\", \"days\": %ld, \"groups\": %lld, \"seconds\": %.3f}\n",
           o->days, (long long)groups, bench_now_s() - t0);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "qs-bench trend-days: %s\n", err);
out:
    qs_storedb_destroy(&db);
    bench_site_close(&site);
    return rc;
}
