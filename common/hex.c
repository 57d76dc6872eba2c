/* hex.c - hex encode/decode with exact lengths (libsodium constant-time codecs). */
#include "qs_hex.h"
#include "qs_log.h"

#include <sodium.h>
#include <string.h>

void
qs_hex_encode(char *out, size_t out_len, const uint8_t *bin, size_t bin_len)
{
    QS_ASSERT(out_len >= bin_len * 2 + 1);
    sodium_bin2hex(out, out_len, bin, bin_len);
}

int
qs_hex_decode(uint8_t *bin, size_t bin_len, const char *hex)
{
    size_t got = 0;
    const char *end = NULL;

    if (strlen(hex) != bin_len * 2)
        return -1;
    if (sodium_hex2bin(bin, bin_len, hex, bin_len * 2, NULL, &got, &end) != 0 ||
        got != bin_len || *end != '\0')
        return -1;
    return 0;
}
