/* qs_hex.h - lowercase hex for keys and pseudonyms (thin wrappers on libsodium). */
#ifndef QS_HEX_H
#define QS_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*bin_len hex chars and a NUL; out_len must be >= 2*bin_len+1. */
void qs_hex_encode(char *out, size_t out_len, const uint8_t *bin, size_t bin_len);

/* Decodes exactly bin_len bytes from hex; returns -1 on any other length or
 * a non-hex character. */
int qs_hex_decode(uint8_t *bin, size_t bin_len, const char *hex)
    __attribute__((warn_unused_result));

#endif
