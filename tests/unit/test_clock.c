/* test_clock.c - clock.c: ISO 8601 parse/format (UTC only), the test clock
 * offset, the monotonic clock. */
#include "qs_clock.h"
#include "qs_test.h"

#include <stdlib.h>

static void
test_clock_iso8601_utc_only(void)
{
    int64_t ms = 0;
    char buf[32];
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-11-25T12:00:00Z") == 0);
    QS_CHECK_EQ_INT(ms, 1795608000000LL);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-11-25T12:00:00.250Z") == 0);
    QS_CHECK_EQ_INT(ms, 1795608000250LL);
    QS_CHECK(qs_time_format_iso8601(buf, sizeof buf, ms, 1) == 0);
    QS_CHECK_STR(buf, "2026-11-25T12:00:00.250Z");
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-11-25T12:00:00+02:00") != 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-11-25 12:00:00Z") != 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-02-30T00:00:00Z") != 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2025-02-29T00:00:00Z") != 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2024-02-29T00:00:00Z") == 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "yesterday") != 0);
}

static void
test_clock_format_without_ms_and_too_small_buffer(void)
{
    char buf[32], tiny[8];

    QS_CHECK(qs_time_format_iso8601(buf, sizeof buf, 0, 0) == 0);
    QS_CHECK_STR(buf, "1970-01-01T00:00:00Z");
    QS_CHECK(qs_time_format_iso8601(buf, sizeof buf, 1795608000999LL, 0) == 0);
    QS_CHECK_STR(buf, "2026-11-25T12:00:00Z");
    QS_CHECK(qs_time_format_iso8601(tiny, sizeof tiny, 1795608000999LL, 1) != 0);
}

static void
test_clock_format_day_as_a_date_or_its_number(void)
{
    char buf[32], tiny[8];

    qs_time_format_day(buf, sizeof buf, 0);
    QS_CHECK_STR(buf, "1970-01-01");
    qs_time_format_day(buf, sizeof buf, 20000);
    QS_CHECK_STR(buf, "2024-10-04");
    qs_time_format_day(tiny, sizeof tiny, 20000);    /* no room for a date */
    QS_CHECK_STR(tiny, "day 200");
    qs_time_format_day(buf, sizeof buf, INT64_MAX);  /* beyond any time_t */
    QS_CHECK_STR(buf, "day 9223372036854775807");
}

static void
test_clock_offset_from_environment(void)
{
    qs_clock_t c;
    int64_t before, now;

    QS_CHECK_EQ_INT(setenv("QS_CLOCK_OFFSET_S", "-86400", 1), 0);
    QS_CHECK_EQ_INT(qs_clock_init(&c), 0);
    QS_CHECK_EQ_INT(c.offset_ms, -86400000LL);
    unsetenv("QS_CLOCK_OFFSET_S");
    {
        qs_clock_t real;
        QS_CHECK_EQ_INT(qs_clock_init(&real), 0);
        QS_CHECK_EQ_INT(real.offset_ms, 0);
        before = qs_clock_now_ms(&real);
        now = qs_clock_now_ms(&c);
        QS_CHECK(before - now >= 86400000LL - 1000 && before - now <= 86400000LL + 1000);
    }
    QS_CHECK_EQ_INT(setenv("QS_CLOCK_OFFSET_S", "soon", 1), 0);
    QS_CHECK_EQ_INT(qs_clock_init(&c), -1);
    unsetenv("QS_CLOCK_OFFSET_S");
}

static void
test_clock_mono_never_goes_back(void)
{
    int64_t a = qs_clock_mono_ms(), b;

    QS_CHECK(a >= 0);
    for (int i = 0; i < 1000; i++) {
        b = qs_clock_mono_ms();
        QS_CHECK(b >= a);
        a = b;
    }
}

int
main(void)
{
    QS_RUN(test_clock_iso8601_utc_only);
    QS_RUN(test_clock_format_without_ms_and_too_small_buffer);
    QS_RUN(test_clock_format_day_as_a_date_or_its_number);
    QS_RUN(test_clock_offset_from_environment);
    QS_RUN(test_clock_mono_never_goes_back);
    return qs_test_summary();
}
