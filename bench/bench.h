/* bench.h - what the qs-bench sub-commands share: options, clock, a site opened
 * like the daemons open it, and bench clients enrolled straight into site.db.
 *
 * Each sub-command lives in its own file (bench_limits.c: the hardware
 * limits and main; bench_ideal.c: the ideal store; bench_latency.c: the
 * rate-limited ack-latency client; bench_fill.c: the data for the purge and
 * query measurements; bench_http.c: the fixed-rate HTTP load on qs-web) and prints one JSON line that bench/run turns into
 * ratios. Nothing here is used by the daemons.
 */
#ifndef QS_BENCH_H
#define QS_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "qs_clock.h"
#include "qs_config.h"
#include "qs_keys.h"
#include "qs_site.h"

struct bench_opts {
    double seconds;          /* --seconds: how long a timed loop runs */
    long messages;           /* --messages */
    int batch;               /* --batch: messages per envelope */
    const char *dir;         /* --dir: scratch directory for limit databases */
    const char *home;        /* --home: a site made by qsctl init */
    long clients;            /* --clients */
    double rate;             /* --rate: messages per second (latency) */
    long details_every;      /* --details-every N: every Nth message carries details */
    int steady;              /* --steady: states never change (ideal) */
    long topics;             /* --topics: topics per client (fill-latest) */
    long rows;               /* --rows: history rows per day (fill-history) */
    long days;               /* --days: retained days (fill-history) */
    long history;            /* --history: history rows in all (grow; 0: the fill's) */
    long scale;              /* --scale: multiplier of retained days (purge) */
    long group;              /* --group: messages per transaction (sqlite) */
    const char *url;         /* --url: what http GETs */
    const char *token_file;  /* --token-file: the bearer token (http) */
    long connections;        /* --connections: keep-alive connections at most (http) */
};

/* Monotonic seconds. */
double bench_now_s(void);

/* A site home opened as qs-store opens it: paths, config, store and broker
 * keys, site key. bench_site_close wipes the secrets. */
typedef struct {
    qs_site_paths_t paths;
    qs_config_t cfg;
    qs_keypair_t *store_kp;
    uint8_t broker_pk[QS_KEY_BYTES];
    uint8_t store_pk[QS_KEY_BYTES];
    uint8_t *site_key;       /* sodium_malloc'd, 32 bytes */
} bench_site_t;

int bench_site_open(bench_site_t *site, const char *home);
void bench_site_close(bench_site_t *site);

/* Generate n client key pairs and enroll them in site.db in one
 * transaction under the names "<prefix>-<index>" (pseudonymized as qsctl
 * does). *keys_out is a calloc'd array of n key pairs (free with
 * bench_keys_free). No audit entry: a benchmark site is thrown away. */
int bench_enroll(bench_site_t *site, const char *prefix, size_t n, qs_keypair_t ***keys_out);
void bench_keys_free(qs_keypair_t **keys, size_t n);

/* Pack one simulated StateMessage exactly as `qs-producer simulate` does
 * (qs_simgen_pack); with details != 0 the same message carrying a short error
 * text in details; with steady != 0 each (client, topic) always reports the
 * same state, as a fleet re-sending its unchanged state does. Returns its
 * length, 0 if it does not fit. */
size_t bench_pack_message(uint8_t *buf, size_t cap, uint32_t client, uint64_t serial,
                          int64_t base_ms, int details, int steady);

/* Frame n packed messages (refs into msgs) as a Batch in out: the same
 * framing the producer's sender uses. Returns the Batch length. */
size_t bench_frame_batch(uint8_t *out, const uint8_t *msgs, const size_t *lens, size_t n);

int bench_ideal(const struct bench_opts *o);
int bench_latency(const struct bench_opts *o);
int bench_fill_latest(const struct bench_opts *o);
int bench_purge(const struct bench_opts *o);
int bench_http(const struct bench_opts *o);
int bench_grow(const struct bench_opts *o);   /* bench_pg.c */
int bench_trend_days(const struct bench_opts *o);   /* bench_trend.c */

/* The store as qs-store opens it, in process (site.db, the site's store on
 * its engine, the epoch keys, the ingest pipeline): what the ideal store
 * (bench_ideal.c) and the cost growth (bench_pg.c) drive. */
typedef struct {
    struct qs_sitedb *sitedb;
    struct qs_storedb *storedb;
    struct qs_epochkeys *epochkeys;
    struct qs_ingest *ingest;
} bench_store_t;

/* Open every part of st for site; who names the sub-command in the one
 * line printed on failure. 0, or -1 (close st then). */
int bench_store_open(bench_store_t *st, const bench_site_t *site, const qs_clock_t *clock,
                     const char *who);
void bench_store_close(bench_store_t *st);

#endif
