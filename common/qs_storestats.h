/* qs_storestats.h - DIR/store.stats: qs-store's commit timings and process usage, for /metrics.
 *
 * What store.db cannot say about itself: how long each group commit took,
 * how many envelopes it carried, and the store process's CPU and memory.
 * qs-store writes this file (atomically, mode 0600) at most once a second
 * when something changed and at a clean stop; qs-web's worker reads it for
 * /metrics. Counts are since the process started (a restart starts them at
 * zero again, which Prometheus reads as a counter reset). One JSON object of
 * counts, seconds and a UTC time only (no keys, no identifiers):
 *
 *   {"commits":N,"commit_failures":N,
 *    "commit_seconds":{"buckets":[N,…],"sum":S},     non-cumulative, one per
 *    "group_envelopes":{"buckets":[N,…],"sum":N},    bound below, then +Inf
 *    "cpu_seconds":S,"rss_bytes":N,"pid":N,"updated_utc":"2026-11-25T12:00:00Z",
 *    "cpu_user_seconds":S,"cpu_system_seconds":S,
 *    "disk_reserve_low":0|1,"disk_free_bytes":N,
 *    "resync_requested":N,"resync_applied":N}
 *
 * cpu_seconds is user + system; the two parts came later, so a file without
 * them still reads (as 0); so do the disk reserve's two (docs/quotas.md)
 * and the resync counts (docs/resync.md).
 * Reading is strict (a bucket array of the wrong length, a negative or
 * fractional count, a bad time: malformed) and ignores unknown keys.
 */
#ifndef QS_STORESTATS_H
#define QS_STORESTATS_H

#include <stddef.h>
#include <stdint.h>

#define QS_STORESTATS_FILE      "store.stats"   /* in the site home */
#define QS_STORESTATS_MAX_BYTES 4096u
#define QS_STORESTATS_TIME_BYTES 32u

/* Upper bounds of the histogram buckets (the last bucket is +Inf). */
#define QS_STORESTATS_COMMIT_BOUNDS 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5
#define QS_STORESTATS_N_COMMIT 11u
#define QS_STORESTATS_GROUP_BOUNDS 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000
#define QS_STORESTATS_N_GROUP 11u

typedef struct {
    uint64_t commits;                                   /* groups committed */
    uint64_t commit_failures;                           /* rolled back */
    uint64_t commit_buckets[QS_STORESTATS_N_COMMIT + 1];   /* last: +Inf */
    double commit_sum_s;
    uint64_t group_buckets[QS_STORESTATS_N_GROUP + 1];
    uint64_t group_sum;                                 /* envelopes over all groups */
    double cpu_seconds;                                 /* user + system */
    double cpu_user_seconds;                            /* this process's, since it started */
    double cpu_system_seconds;
    uint64_t rss_bytes;
    int64_t pid;
    char updated_utc[QS_STORESTATS_TIME_BYTES];         /* "" until written */
    /* The disk reserve (docs/quotas.md); later additions, absent read as 0. */
    int disk_reserve_low;                               /* 1: ingest refused DISK_RESERVE */
    uint64_t disk_free_bytes;                           /* store.db's file system; 0: not watched */
    uint64_t resync_requested;                          /* resync requests sent (docs/resync.md) */
    uint64_t resync_applied;                            /* resyncs that replaced a machine's state */
} qs_storestats_t;

/* The bucket bounds, for rendering (n = QS_STORESTATS_N_COMMIT / _N_GROUP). */
extern const double qs_storestats_commit_bounds[QS_STORESTATS_N_COMMIT];
extern const double qs_storestats_group_bounds[QS_STORESTATS_N_GROUP];

/* Count one group commit of envelopes that took seconds (ok 0: it failed). */
void qs_storestats_observe(qs_storestats_t *s, double seconds, uint64_t envelopes, int ok);

/* This process's CPU seconds (user + system) and resident memory in bytes
 * (0 when /proc is not there). */
void qs_procstat_self(double *cpu_seconds, uint64_t *rss_bytes);

/* This process's user and system CPU seconds (all its threads; 0 if unknown). */
void qs_procstat_cpu(double *user_seconds, double *system_seconds);

/* JSON text and a newline (malloc'd). Aborts on OOM. */
char *qs_storestats_format(const qs_storestats_t *s);

/* Parse; 0, or -1 with errmsg (*out zeroed either way first). */
int qs_storestats_parse(qs_storestats_t *out, const char *text, char *errmsg,
                        size_t errmsg_len) __attribute__((warn_unused_result));

/* Read path: 0 read, 1 no such file, -1 unreadable or malformed (errmsg). */
int qs_storestats_load(qs_storestats_t *out, const char *path, char *errmsg,
                       size_t errmsg_len) __attribute__((warn_unused_result));

/* Set updated_utc, the cpu times, rss and pid, then write to path (temp, fsync, rename;
 * 0600). 0, or -1 with errmsg. */
int qs_storestats_save(qs_storestats_t *s, const char *path, int64_t now_ms, char *errmsg,
                       size_t errmsg_len) __attribute__((warn_unused_result));

#endif
