/* test_hex.c - hex.c: lowercase encoding, exact-length strict decoding. */
#include "qs_hex.h"
#include "qs_test.h"

static void
test_hex_round_trip_lowercase(void)
{
    const uint8_t bin[4] = { 0x00, 0xab, 0x7f, 0xff };
    uint8_t back[4];
    char hex[9];

    qs_hex_encode(hex, sizeof hex, bin, sizeof bin);
    QS_CHECK_STR(hex, "00ab7fff");
    QS_CHECK_EQ_INT(qs_hex_decode(back, sizeof back, hex), 0);
    QS_CHECK(memcmp(back, bin, sizeof bin) == 0);
    QS_CHECK_EQ_INT(qs_hex_decode(back, sizeof back, "00AB7FFF"), 0);   /* either case */
    QS_CHECK(memcmp(back, bin, sizeof bin) == 0);
}

static void
test_hex_decode_refuses_wrong_length_and_non_hex(void)
{
    uint8_t back[4];

    QS_CHECK_EQ_INT(qs_hex_decode(back, sizeof back, "00ab7f"), -1);
    QS_CHECK_EQ_INT(qs_hex_decode(back, sizeof back, "00ab7fff00"), -1);
    QS_CHECK_EQ_INT(qs_hex_decode(back, sizeof back, "00ab7fgf"), -1);
    QS_CHECK_EQ_INT(qs_hex_decode(back, sizeof back, "00ab7ff"), -1);
    QS_CHECK_EQ_INT(qs_hex_decode(back, sizeof back, ""), -1);
}

int
main(void)
{
    QS_RUN(test_hex_round_trip_lowercase);
    QS_RUN(test_hex_decode_refuses_wrong_length_and_non_hex);
    return qs_test_summary();
}
