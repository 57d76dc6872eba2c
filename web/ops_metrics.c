/* ops_metrics.c - the worker's "metrics" operation (see ops_metrics.h).
 *
 * Sources, each read at most once per scrape and each cheap, so a scrape
 * stays well under 10 ms on a large store: store.db's counters table by
 * primary key (never a count over latest or history), DIR/broker.stats and
 * DIR/store.stats (small files the daemons rewrite), and the audit log's
 * retention.pass entries, scanned at most every RETENTION_SCAN_MS and only
 * past the last entry already counted. store.db is opened on the first
 * scrape and kept open (a missing store.db is retried on the next scrape).
 */
#include "counters.h"
#include "ops_metrics.h"
#include "qs_brokerstats.h"
#include "qs_clock.h"
#include "qs_storedb.h"
#include "qs_log.h"
#include "qs_storestats.h"
#include "quietstate.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETENTION_SCAN_MS 15000

typedef struct {
    char *buf;
    size_t len, cap;
} text_t;

#define OUT(t, ...) qs_web_appendf(&(t)->buf, &(t)->len, &(t)->cap, __VA_ARGS__)

static void
family(text_t *t, const char *name, const char *type, const char *help)
{
    OUT(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one(text_t *t, const char *name, const char *type, const char *help, double v)
{
    family(t, name, type, help);
    OUT(t, "%s %.17g\n", name, v);
}

static int64_t
counter(qs_storedb_t *db, const char *name)
{
    int64_t v = 0;

    return qs_storedb_counter_get(db, name, &v) == 0 ? v : 0;
}

/* store.db's own counters: stored, duplicates, refusals by reason code. */
static void
store_counters(text_t *t, wk_t *w)
{
    char name[96];

    /* The worker's own store.db handle: no second connection for metrics. */
    one(t, "qs_store_db_readable", "gauge", "1 when store.db could be read for this scrape.",
        w->storedb != NULL);
    if (w->storedb == NULL)
        return;
    one(t, "qs_store_messages_stored_total", "counter", "Messages committed to store.db, ever.",
        (double)counter(w->storedb, "stored"));
    one(t, "qs_store_duplicates_total", "counter", "Resent messages dropped as duplicates.",
        (double)counter(w->storedb, "duplicates"));
    family(t, "qs_store_rejected_total", "counter",
           "Messages and batches the store refused, by reason code.");
    for (unsigned i = 0; i < quietstate__code__descriptor.n_values; i++) {
        const char *code = quietstate__code__descriptor.values[i].name;
        snprintf(name, sizeof name, "rejected_detail.%s", code);
        OUT(t, "qs_store_rejected_total{reason=\"%s\"} %lld\n", code,
            (long long)counter(w->storedb, name));
    }
}

static double
utc_seconds(const char *utc)
{
    int64_t ms = 0;

    return utc[0] != '\0' && qs_time_parse_iso8601(&ms, utc) == 0 ? (double)ms / 1000.0 : 0.0;
}

/* NAME{mode="user|system"}: one process's CPU seconds by mode. */
static void
cpu_by_mode(text_t *t, const char *name, const char *help, double user_s, double system_s)
{
    family(t, name, "counter", help);
    OUT(t, "%s{mode=\"user\"} %.17g\n%s{mode=\"system\"} %.17g\n", name, user_s, name,
        system_s);
}

static void
broker_stats(text_t *t, wk_t *w)
{
    qs_brokerstats_t b;
    char err[WK_ERR_BYTES];
    int rc = qs_brokerstats_load_all(&b, w->paths.broker_stats, err, sizeof err);

    one(t, "qs_broker_stats_readable", "gauge", "1 when DIR/broker.stats was read.", rc == 0);
    if (rc != 0)
        return;
    one(t, "qs_broker_forwarded_total", "counter", "Envelopes handed to a store worker.",
        (double)b.forwarded);
    one(t, "qs_broker_replies_total", "counter", "Store replies delivered to clients.",
        (double)b.replies);
    one(t, "qs_broker_queue_depth", "gauge",
        "Envelopes forwarded and not yet answered (forwarded - replies).",
        b.forwarded > b.replies ? (double)(b.forwarded - b.replies) : 0.0);
    family(t, "qs_broker_refused_total", "counter", "Messages the broker answered itself.");
    OUT(t, "qs_broker_refused_total{reason=\"BAD_FRAMES\"} %llu\n",
        (unsigned long long)b.notice_bad_frames);
    OUT(t, "qs_broker_refused_total{reason=\"CLIENT_REVOKED\"} %llu\n",
        (unsigned long long)b.notice_revoked);
    OUT(t, "qs_broker_refused_total{reason=\"STORE_BUSY\"} %llu\n",
        (unsigned long long)b.notice_retry_later);
    family(t, "qs_broker_handshakes_total", "counter", "CurveZMQ handshakes by result.");
    OUT(t, "qs_broker_handshakes_total{result=\"admitted\"} %llu\n",
        (unsigned long long)b.zap_admitted);
    OUT(t, "qs_broker_handshakes_total{result=\"refused\"} %llu\n",
        (unsigned long long)b.zap_refused);
    cpu_by_mode(t, "qs_broker_cpu_seconds_total",
                "qs-broker CPU time by mode (all its threads), since it started.",
                b.cpu_user_seconds, b.cpu_system_seconds);
    one(t, "qs_broker_stats_updated_timestamp_seconds", "gauge",
        "When qs-broker last wrote broker.stats.", utc_seconds(b.updated_utc));
}

static void
histogram(text_t *t, const char *name, const char *help, const double *bounds, size_t n,
          const uint64_t *buckets, double sum)
{
    uint64_t cum = 0;

    family(t, name, "histogram", help);
    for (size_t i = 0; i < n; i++) {
        cum += buckets[i];
        OUT(t, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cum += buckets[n];
    OUT(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", name,
        (unsigned long long)cum, name, sum, name, (unsigned long long)cum);
}

static void
store_stats(text_t *t, wk_t *w)
{
    qs_storestats_t s;
    char err[WK_ERR_BYTES], path[QS_MAX_PATH_BYTES];
    int rc = -1;

    if (snprintf(path, sizeof path, "%s/%s", w->paths.home, QS_STORESTATS_FILE) <
        (int)sizeof path)
        rc = qs_storestats_load(&s, path, err, sizeof err);
    one(t, "qs_store_stats_readable", "gauge", "1 when DIR/store.stats was read.", rc == 0);
    if (rc != 0)
        return;
    one(t, "qs_store_commits_total", "counter", "Group commits since qs-store started.",
        (double)s.commits);
    one(t, "qs_store_commit_failures_total", "counter",
        "Group commits rolled back (answered RETRY_LATER) since qs-store started.",
        (double)s.commit_failures);
    one(t, "qs_store_resync_requested_total", "counter",
        "Resync requests sent in acks since qs-store started (docs/resync.md).",
        (double)s.resync_requested);
    one(t, "qs_store_resync_applied_total", "counter",
        "Resyncs that replaced a machine's state since qs-store started.",
        (double)s.resync_applied);
    histogram(t, "qs_store_commit_duration_seconds", "Time of one group commit.",
              qs_storestats_commit_bounds, QS_STORESTATS_N_COMMIT, s.commit_buckets,
              s.commit_sum_s);
    histogram(t, "qs_store_commit_group_envelopes", "Envelopes in one group commit.",
              qs_storestats_group_bounds, QS_STORESTATS_N_GROUP, s.group_buckets,
              (double)s.group_sum);
    one(t, "qs_store_process_cpu_seconds_total", "counter", "qs-store CPU time (user+system).",
        s.cpu_seconds);
    cpu_by_mode(t, "qs_store_cpu_seconds_total",
                "qs-store CPU time by mode (all its threads), since it started.",
                s.cpu_user_seconds, s.cpu_system_seconds);
    one(t, "qs_store_process_resident_memory_bytes", "gauge", "qs-store resident memory.",
        (double)s.rss_bytes);
    one(t, "qs_store_disk_reserve_low", "gauge",
        "1 while store.db's free space is under [store] disk_reserve_mb (ingest refused).",
        s.disk_reserve_low);
    one(t, "qs_store_disk_free_bytes", "gauge",
        "Free bytes on store.db's file system (0: not watched, PostgreSQL).",
        (double)s.disk_free_bytes);
    one(t, "qs_store_stats_updated_timestamp_seconds", "gauge",
        "When qs-store last wrote store.stats.", utc_seconds(s.updated_utc));
}

static double
detail_number(const cJSON *d, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);

    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : 0.0;
}

static int
on_audit(void *ctx, const qs_audit_entry_t *e)
{
    wk_retention_totals_t *m = ctx;
    cJSON *d;

    if (e->seq <= m->last_seq)
        return 0;
    m->last_seq = e->seq;
    if (e->action == NULL || strcmp(e->action, "retention.pass") != 0)
        return 0;
    d = cJSON_Parse(e->detail ? e->detail : "{}");
    m->passes++;
    m->last_run_ms = e->time_ms;
    m->history_rows += (uint64_t)detail_number(d, "history_rows_deleted");
    m->latest_rows += (uint64_t)detail_number(d, "latest_rows_deleted");
    m->partitions += (uint64_t)detail_number(d, "partitions_dropped");
    cJSON_Delete(d);
    return 0;
}

static void
retention(text_t *t, wk_t *w)
{
    wk_retention_totals_t *m = &w->retention;
    int64_t now = qs_clock_mono_ms();

    if (now >= m->next_scan_ms) {
        (void)qs_audit_each(w->sitedb, on_audit, m);
        m->next_scan_ms = now + RETENTION_SCAN_MS;
    }
    one(t, "qs_retention_passes_total", "counter", "Retention passes in the audit log.",
        (double)m->passes);
    one(t, "qs_retention_last_run_timestamp_seconds", "gauge",
        "When the last retention pass ran (0: never).", (double)m->last_run_ms / 1000.0);
    family(t, "qs_retention_rows_purged_total", "counter", "Rows retention removed, by table.");
    OUT(t, "qs_retention_rows_purged_total{table=\"history\"} %llu\n",
        (unsigned long long)m->history_rows);
    OUT(t, "qs_retention_rows_purged_total{table=\"latest\"} %llu\n",
        (unsigned long long)m->latest_rows);
    one(t, "qs_retention_partitions_dropped_total", "counter",
        "History partitions (day x topic type) retention dropped.", (double)m->partitions);
}

int
wk_op_metrics(wk_t *w, cJSON **body)
{
    text_t t = { qs_malloc(8192), 0, 8192 };
    double cpu;
    uint64_t rss;

    t.buf[0] = '\0';
    store_counters(&t, w);
    broker_stats(&t, w);
    store_stats(&t, w);
    retention(&t, w);
    qs_procstat_self(&cpu, &rss);
    one(&t, "qs_web_worker_cpu_seconds_total", "counter", "qs-web worker CPU (user+system).",
        cpu);
    one(&t, "qs_web_worker_resident_memory_bytes", "gauge", "qs-web worker resident memory.",
        (double)rss);
    *body = cJSON_CreateObject();
    if (*body == NULL || cJSON_AddStringToObject(*body, "text", t.buf) == NULL)
        qs_fatal("out of memory");
    free(t.buf);
    return 200;
}
