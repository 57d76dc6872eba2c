/* clock.c - UTC clock with a test offset, and strict ISO 8601 (Z only). */
#include "qs_clock.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QS_TIME_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

int
qs_clock_init(qs_clock_t *clock)
{
    const char *env = getenv("QS_CLOCK_OFFSET_S");
    char *end = NULL;
    long long v;

    clock->offset_ms = 0;
    if (env == NULL || *env == '\0')
        return 0;
    errno = 0;
    v = strtoll(env, &end, 10);
    if (errno != 0 || *end != '\0' || v > 100LL * 365 * 86400 || v < -100LL * 365 * 86400)
        return -1;
    clock->offset_ms = v * 1000LL;
    return 0;
}

int64_t
qs_clock_now_ms(const qs_clock_t *clock)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + clock->offset_ms;
}

int64_t
qs_clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil): no timegm(), no TZ involved. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int
parse_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int
qs_time_parse_iso8601(int64_t *out_ms, const char *text)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, s, ms = 0;
    int64_t ms64;
    const char *p = text;

    if (strlen(text) < 20)
        return -1;
    if (parse_digits(p, 4, &y) || p[4] != '-' || parse_digits(p + 5, 2, &mo) ||
        p[7] != '-' || parse_digits(p + 8, 2, &d) || p[10] != 'T' ||
        parse_digits(p + 11, 2, &h) || p[13] != ':' || parse_digits(p + 14, 2, &mi) ||
        p[16] != ':' || parse_digits(p + 17, 2, &s))
        return -1;
    p += 19;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (p[0] != 'Z' || p[1] != '\0')
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    ms64 = (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
            h * 3600 + mi * 60 + s) * 1000LL + ms;
    /* A leap second on 9999-12-31 would be year 10000: not four digits. */
    if (ms64 > QS_TIME_MAX_MS)
        return -1;
    *out_ms = ms64;
    return 0;
}

int
qs_time_format_iso8601(char *out, size_t out_len, int64_t ms, int with_ms)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    int n;

    if (gmtime_r(&secs, &tm) == NULL)
        return -1;
    /* Not strftime: its %Y does not zero-pad years before 1000, which the
     * parser (four digits) would then refuse. */
    n = snprintf(out, out_len, "%04lld-%02d-%02dT%02d:%02d:%02d",
                 (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n < 0 || (size_t)n >= out_len)
        return -1;
    if (with_ms)
        n += snprintf(out + n, out_len - (size_t)n, ".%03dZ", frac);
    else
        n += snprintf(out + n, out_len - (size_t)n, "Z");
    return (size_t)n >= out_len ? -1 : 0;
}

void
qs_time_format_day(char *out, size_t out_len, int64_t epoch)
{
    char iso[32];

    if (out_len > 10 && epoch <= INT64_MAX / QS_MS_PER_DAY && epoch >= INT64_MIN / QS_MS_PER_DAY &&
        qs_time_format_iso8601(iso, sizeof iso, epoch * QS_MS_PER_DAY, 0) == 0)
        snprintf(out, out_len, "%.10s", iso);
    else
        snprintf(out, out_len, "day %lld", (long long)epoch);
}
