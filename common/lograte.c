/* lograte.c - the log line budget (qs_lograte.h): a token bucket in
 * milli-lines, refilled from a monotonic clock. */
#include "qs_lograte.h"
#include "qs_log.h"

#include <stdlib.h>

#define LOGRATE_SUMMARY_MS 10000

struct qs_lograte {
    int64_t per_second;
    int64_t tokens_milli;          /* lines * 1000 available now */
    int64_t last_ms;
    int64_t last_summary_ms;
    uint64_t suppressed;           /* since start */
    uint64_t unreported;           /* since the last summary line */
};

qs_lograte_t *
qs_lograte_new(int per_second)
{
    qs_lograte_t *lr = qs_calloc(1, sizeof *lr);
    lr->per_second = per_second > 0 ? per_second : 1;
    lr->tokens_milli = lr->per_second * QS_LOGRATE_BURST_S * 1000;
    lr->last_ms = -1;
    return lr;
}

int
qs_lograte_allow(qs_lograte_t *lr, int64_t now_ms)
{
    int64_t cap;

    if (lr == NULL)
        return 1;
    cap = lr->per_second * QS_LOGRATE_BURST_S * 1000;
    if (lr->last_ms >= 0 && now_ms > lr->last_ms) {
        lr->tokens_milli += (now_ms - lr->last_ms) * lr->per_second;
        if (lr->tokens_milli > cap)
            lr->tokens_milli = cap;
    }
    if (lr->last_ms < 0 || now_ms > lr->last_ms)
        lr->last_ms = now_ms;
    if (lr->tokens_milli < 1000) {
        lr->suppressed++;
        lr->unreported++;
        return 0;
    }
    lr->tokens_milli -= 1000;
    /* The summary rides on an allowed line: one extra line per 10 s at most. */
    if (lr->unreported > 0 && now_ms - lr->last_summary_ms >= LOGRATE_SUMMARY_MS) {
        log_warn("suppressed %llu log lines over the budget of %lld a second",
                 (unsigned long long)lr->unreported, (long long)lr->per_second);
        lr->unreported = 0;
        lr->last_summary_ms = now_ms;
    }
    return 1;
}

uint64_t
qs_lograte_suppressed(const qs_lograte_t *lr)
{
    return lr == NULL ? 0 : lr->suppressed;
}

void
qs_lograte_destroy(qs_lograte_t **lr_p)
{
    if (lr_p == NULL || *lr_p == NULL)
        return;
    free(*lr_p);
    *lr_p = NULL;
}
