/* fuzz_time.c - libFuzzer target for ISO 8601 times (qs_time_parse_iso8601,
 * qs_time_format_iso8601).
 *
 * The input, made NUL-terminated, is a time text. An accepted time is
 * formatted (with milliseconds, and without when it has none) into the
 * documented 25 bytes, and parsing the result must give the same ms. The
 * first 8 input bytes are also read as a ms count: every time from
 * 0000-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z must format and parse
 * back to itself.
 */
#include "fuzz_util.h"
#include "qs_clock.h"

#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* The range that "YYYY-MM-DDTHH:MM:SS.fffZ" can spell. */
#define FUZZ_TIME_MIN_MS (-62167219200000LL)   /* 0000-01-01T00:00:00.000Z */
#define FUZZ_TIME_MAX_MS (253402300799999LL)   /* 9999-12-31T23:59:59.999Z */

static void
check_round_trip(int64_t ms)
{
    char text[25];
    int64_t back = 0;

    if (qs_time_format_iso8601(text, sizeof text, ms, 1) != 0) {
        fprintf(stderr, "time %lld does not format\n", (long long)ms);
        FUZZ_CHECK(!"time formats");
    }
    if (qs_time_parse_iso8601(&back, text) != 0 || back != ms) {
        fprintf(stderr, "time %lld formats as '%s', which parses to %lld\n",
                (long long)ms, text, (long long)back);
        FUZZ_CHECK(!"formatted time parses to the same ms");
    }
    if (ms % 1000 == 0) {
        FUZZ_CHECK(qs_time_format_iso8601(text, sizeof text, ms, 0) == 0);
        FUZZ_CHECK(qs_time_parse_iso8601(&back, text) == 0 && back == ms);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);
    int64_t ms = 0;

    if (qs_time_parse_iso8601(&ms, text) == 0)
        check_round_trip(ms);
    free(text);

    if (size >= sizeof(uint64_t)) {
        uint64_t raw;
        memcpy(&raw, data, sizeof raw);
        ms = FUZZ_TIME_MIN_MS +
             (int64_t)(raw % (uint64_t)(FUZZ_TIME_MAX_MS - FUZZ_TIME_MIN_MS + 1));
        check_round_trip(ms);
    }
    return 0;
}
