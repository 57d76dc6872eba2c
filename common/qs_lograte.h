/* qs_lograte.h - a process-wide budget of event log lines.
 *
 * Used wherever a flood from outside could otherwise write the log full:
 * the broker's refusals and admissions, the store's rejected batches. No
 * flood - of keys, of addresses, of bad batches - writes more than
 * per_second lines a second on average (bursts up to QS_LOGRATE_BURST_S
 * seconds' worth). Lines over budget are counted and reported in one
 * summary line once the budget is back.
 */
#ifndef QS_LOGRATE_H
#define QS_LOGRATE_H

#include <stdint.h>

#define QS_LOGRATE_BURST_S 5

typedef struct qs_lograte qs_lograte_t;

qs_lograte_t *qs_lograte_new(int per_second);

/* 1 if one more event line may be logged at now_ms (spends it), 0 if not
 * (counted as suppressed). NULL allows everything. Logs the summary line of
 * suppressed lines itself, at most once every 10 s. */
int qs_lograte_allow(qs_lograte_t *lr, int64_t now_ms);

/* Lines suppressed so far. */
uint64_t qs_lograte_suppressed(const qs_lograte_t *lr);

/* Free; sets *lr_p to NULL. No-op on NULL. */
void qs_lograte_destroy(qs_lograte_t **lr_p);

#endif
