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
#include "qs_lograte.h"

#define QS_LOGTHROTTLE_SLOTS 32u

typedef struct qs_logthrottle qs_logthrottle_t;

/* A throttle that lets one event per key through every interval_ms. */
qs_logthrottle_t *qs_logthrottle_new(int64_t interval_ms);

/* 1 if an event for key at now_ms should be logged loudly (and remembers it),
 * 0 if one was logged for the same key less than interval_ms ago. */
int qs_logthrottle_allow(qs_logthrottle_t *t, const uint8_t key[QS_KEY_BYTES], int64_t now_ms);

/* Free; sets *t_p to NULL. No-op on NULL. */
void qs_logthrottle_destroy(qs_logthrottle_t **t_p);

/* The process-wide line budget, qs_lograte_t, is in qs_lograte.h. */

#endif
