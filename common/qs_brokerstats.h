/* qs_brokerstats.h - DIR/broker.stats: qs-broker's counters, kept across restarts.
 *
 * The broker refuses some messages itself (wrong frames, a revoked or unknown
 * key on a live connection, a refused handshake): those never reach the
 * store, so store.db cannot count them. qs-broker writes its counters to
 * DIR/broker.stats (atomically, mode 0600) at most once a second when they
 * changed and at clean shutdown, and continues from the file at start;
 * qsctl stats reads it. One JSON object, counts and a UTC time only (no keys,
 * no identifiers):
 *
 *   {"forwarded":N,"replies":N,
 *    "notices":{"BAD_ENVELOPE/BAD_FRAMES":N,"REVOKED/CLIENT_REVOKED":N,
 *               "RETRY_LATER/STORE_BUSY":N},
 *    "zap_admitted":N,"zap_refused":N,
 *    "cpu_user_seconds":S,"cpu_system_seconds":S,"updated_utc":"2026-11-25T12:00:00Z"}
 *
 * The counters carry on across restarts; the CPU seconds do not: they are
 * the writing process's own (all its threads, since it started), so a
 * restart starts them at 0 again (Prometheus reads that as a counter reset).
 * Reading is strict about what it knows (a counter must be a whole number
 * 0..2^53, updated_utc a UTC time) and ignores keys it does not know, so a
 * newer broker's file still reads; a missing counter is 0.
 */
#ifndef QS_BROKERSTATS_H
#define QS_BROKERSTATS_H

#include <stddef.h>
#include <stdint.h>

#define QS_BROKERSTATS_FILE      "broker.stats"   /* in the site home */
#define QS_BROKERSTATS_MAX_BYTES 4096u            /* a longer file is malformed */

/* Keys of the "notices" map: STATUS/CODE of the notice the broker answered. */
#define QS_BROKERSTATS_BAD_FRAMES  "BAD_ENVELOPE/BAD_FRAMES"
#define QS_BROKERSTATS_REVOKED     "REVOKED/CLIENT_REVOKED"
#define QS_BROKERSTATS_RETRY_LATER "RETRY_LATER/STORE_BUSY"

#define QS_BROKERSTATS_TIME_BYTES 32u

typedef struct {
    uint64_t forwarded;           /* envelopes handed to a store worker */
    uint64_t replies;             /* store replies delivered to clients */
    uint64_t notice_bad_frames;   /* BAD_ENVELOPE/BAD_FRAMES: not one non-empty frame */
    uint64_t notice_revoked;      /* REVOKED/CLIENT_REVOKED: revoked or unknown key */
    uint64_t notice_retry_later;  /* RETRY_LATER/STORE_BUSY: no store could take it */
    uint64_t zap_admitted;        /* handshakes admitted */
    uint64_t zap_refused;         /* handshakes refused */
    double cpu_user_seconds;      /* the writing process's (not a counter carried on) */
    double cpu_system_seconds;
    char updated_utc[QS_BROKERSTATS_TIME_BYTES];   /* "" until written */
} qs_brokerstats_t;

/* Counters equal (updated_utc and the CPU seconds are not compared)? */
int qs_brokerstats_same(const qs_brokerstats_t *a, const qs_brokerstats_t *b);

/* Add b's counters to a (a's updated_utc and CPU seconds are kept). */
void qs_brokerstats_add(qs_brokerstats_t *a, const qs_brokerstats_t *b);

/* The JSON text of s and a newline (malloc'd: free()). Aborts on OOM. */
char *qs_brokerstats_format(const qs_brokerstats_t *s);

/* Parse text (NUL-terminated) into *out. 0, or -1 with errmsg saying what is
 * wrong; *out is zeroed either way before parsing. */
int qs_brokerstats_parse(qs_brokerstats_t *out, const char *text, char *errmsg,
                         size_t errmsg_len) __attribute__((warn_unused_result));

/* Read path: 0 read, 1 no such file (*out zeroed, no errmsg), -1 unreadable
 * or malformed (*out zeroed, errmsg names the file and the problem). */
int qs_brokerstats_load(qs_brokerstats_t *out, const char *path, char *errmsg,
                        size_t errmsg_len) __attribute__((warn_unused_result));

/* Every broker of the site: broker_stats_path (DIR/broker.stats) and the
 * DIR/broker-N.stats of instances 2..QS_MAX_BROKERS (qs-broker --instance),
 * added up (CPU seconds too; updated_utc is the newest). 0 when at least
 * one was read, 1 when none exists (*out zeroed), -1 when one is
 * unreadable or malformed (errmsg names it; *out holds the others). */
int qs_brokerstats_load_all(qs_brokerstats_t *out, const char *broker_stats_path, char *errmsg,
                            size_t errmsg_len) __attribute__((warn_unused_result));

/* Set s->updated_utc from now_ms (UTC ms) and the CPU seconds from this
 * process (qs_procstat_cpu), and write s to path with
 * qs_fs_write_private (temp file, fsync, rename; 0600). 0, or -1 with errmsg. */
int qs_brokerstats_save(qs_brokerstats_t *s, const char *path, int64_t now_ms, char *errmsg,
                        size_t errmsg_len) __attribute__((warn_unused_result));

#endif
