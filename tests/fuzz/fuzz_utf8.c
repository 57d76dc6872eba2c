/* fuzz_utf8.c - libFuzzer target for qs_utf8_valid, checked against a second,
 * independent implementation.
 *
 * The reference below is the table of well-formed byte sequences from the
 * Unicode standard (chapter 3, table 3-7), written as byte ranges rather than
 * by decoding code points, plus quietstate's own rule that NUL is refused. Any
 * input on which the two disagree is a bug in one of them. Each input is
 * also checked cut short by up to 8 bytes, since a sequence truncated by the
 * length (not by a NUL) is where decoders read too far.
 */
#include "fuzz_util.h"
#include "qs_codec.h"

#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int
in(uint8_t b, uint8_t lo, uint8_t hi)
{
    return b >= lo && b <= hi;
}

static int
reference_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t left = len - i;
        if (c == 0x00)
            return 0;
        if (c <= 0x7F) {
            i += 1;
        } else if (in(c, 0xC2, 0xDF)) {
            if (left < 2 || !in(s[i + 1], 0x80, 0xBF))
                return 0;
            i += 2;
        } else if (in(c, 0xE0, 0xEF)) {
            uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (left < 3 || !in(s[i + 1], lo, hi) || !in(s[i + 2], 0x80, 0xBF))
                return 0;
            i += 3;
        } else if (in(c, 0xF0, 0xF4)) {
            uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (left < 4 || !in(s[i + 1], lo, hi) || !in(s[i + 2], 0x80, 0xBF) ||
                !in(s[i + 3], 0x80, 0xBF))
                return 0;
            i += 4;
        } else {
            return 0;   /* 0x80..0xC1, 0xF5..0xFF never start a sequence */
        }
    }
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so a read past the end is an ASan report. */
    char *copy = malloc(size > 0 ? size : 1);

    FUZZ_CHECK(copy != NULL);
    if (size > 0)
        memcpy(copy, data, size);
    for (size_t len = size > 8 ? size - 8 : 0; len <= size; len++)
        FUZZ_CHECK(qs_utf8_valid(copy, len) == reference_utf8_valid((const uint8_t *)copy, len));
    free(copy);
    return 0;
}
