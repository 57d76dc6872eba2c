/* qs_clock.h - UTC time for quietstate: now, ISO 8601 parse and format.
 *
 * Everything is UTC milliseconds since the Unix epoch (int64). A test can move
 * a process's clock with QS_CLOCK_OFFSET_S=<seconds> (may be negative): that is
 * how retention and ageing are tested without waiting days. The offset is read
 * once per qs_clock_t, so a daemon's notion of time never jumps mid-run.
 */
#ifndef QS_CLOCK_H
#define QS_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t offset_ms;   /* from QS_CLOCK_OFFSET_S, 0 in production */
} qs_clock_t;

#define QS_MS_PER_DAY 86400000LL

/* Initialise from the environment. Returns 0, or -1 if QS_CLOCK_OFFSET_S is
 * not an integer (the clock is then left at offset 0). */
int qs_clock_init(qs_clock_t *clock);

/* Current UTC time in ms, including the test offset. */
int64_t qs_clock_now_ms(const qs_clock_t *clock);

/* Milliseconds of CLOCK_MONOTONIC: for timeouts, intervals and deadlines,
 * never for data (it has no relation to UTC and ignores the test offset). */
int64_t qs_clock_mono_ms(void);

/* Parse "YYYY-MM-DDTHH:MM:SS[.fff]Z" (the Z is required: UTC only).
 * Returns 0 and *out_ms, or -1 if the text is not such a time. */
int qs_time_parse_iso8601(int64_t *out_ms, const char *text)
    __attribute__((warn_unused_result));

/* Format as "YYYY-MM-DDTHH:MM:SS.fffZ" (with_ms) or without ms. out must
 * hold at least 25 bytes. Returns 0, -1 if out_len is too small. */
int qs_time_format_iso8601(char *out, size_t out_len, int64_t ms, int with_ms);

/* The UTC day number epoch (days since 1970-01-01, as history partitions
 * and epoch keys count them) as "YYYY-MM-DD", or "day <epoch>" when that
 * does not fit or cannot be formatted: for messages, never fails. */
void qs_time_format_day(char *out, size_t out_len, int64_t epoch);

#endif
