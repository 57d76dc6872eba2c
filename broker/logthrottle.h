/* logthrottle.h - decide whether a repeated per-key event deserves a log line.
 *
 * A refused or revoked client retries: libzmq reconnects every 100 ms and a
 * producer resends with backoff, so logging every refusal at warn would flood
 * the log. The broker logs the first event per key at warn/info and repeats
 * within the interval at debug. The table is small and fixed (bounded memory):
 * when it is full the oldest entry is forgotten, which at worst logs one more
 * line. Keys are compared by an 8-byte prefix, which is all that is kept.
 */
#ifndef QS_LOGTHROTTLE_H
#define QS_LOGTHROTTLE_H

#include <stdint.h>

#include "qs_limits.h"

#define QS_LOGTHROTTLE_SLOTS 32u

typedef struct qs_logthrottle qs_logthrottle_t;

/* A throttle that lets one event per key through every interval_ms. */
qs_logthrottle_t *qs_logthrottle_new(int64_t interval_ms);

/* 1 if an event for key at now_ms should be logged loudly (and remembers it),
 * 0 if one was logged for the same key less than interval_ms ago. */
int qs_logthrottle_allow(qs_logthrottle_t *t, const uint8_t key[QS_KEY_BYTES], int64_t now_ms);

/* Free; sets *t_p to NULL. No-op on NULL. */
void qs_logthrottle_destroy(qs_logthrottle_t **t_p);

/* The process-wide budget of event log lines (refusals, admissions, closed
 * connections), so that no flood - of keys, of addresses, of anything - can
 * write more than per_second lines a second on average (bursts up to
 * QS_LOGRATE_BURST_S seconds' worth). Lines over budget are counted and
 * reported in one summary line once the budget is back. */
#define QS_LOGRATE_BURST_S 5

typedef struct qs_lograte qs_lograte_t;

qs_lograte_t *qs_lograte_new(int per_second);

/* 1 if one more event line may be logged at now_ms (spends it), 0 if not
 * (counted as suppressed). NULL allows everything. Logs the summary line of
 * suppressed lines itself, at most once every 10 s. */
int qs_lograte_allow(qs_lograte_t *lr, int64_t now_ms);

/* Lines suppressed so far. */
uint64_t qs_lograte_suppressed(const qs_lograte_t *lr);

void qs_lograte_destroy(qs_lograte_t **lr_p);

#endif
