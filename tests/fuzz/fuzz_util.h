/* fuzz_util.h - what every quietstate fuzz target shares: the fixed test key
 * and a property check that crashes loudly.
 *
 * A fuzz target proves two things: no input makes a decoder crash, leak or hit
 * undefined behaviour (AddressSanitizer, UBSan and LeakSanitizer watch that),
 * and the properties written with FUZZ_CHECK hold for every input. A failed
 * FUZZ_CHECK prints file, line and the expression and aborts, which libFuzzer
 * reports as a crash and saves the input as crash-<sha1>. make_seeds.c uses
 * the same key, so its sealed envelopes open in fuzz_envelope.
 */
#ifndef QS_FUZZ_UTIL_H
#define QS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "qs_limits.h"

/* A fixed crypto_box shared key (the output of crypto_box_beforenm) and a
 * fixed sender public key: test values only, never used outside tests/fuzz. */
static const uint8_t fuzz_shared_key[QS_KEY_BYTES] = {
    0x71, 0x73, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x73, 0x68, 0x61, 0x72, 0x65, 0x64, 0x2d, 0x6b,
    0x65, 0x79, 0x2d, 0x30, 0x31, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6f, 0x6e, 0x6c, 0x79, 0x21,
};
static const uint8_t fuzz_sender_pk[QS_KEY_BYTES] = {
    0x2f, 0x9c, 0x41, 0x07, 0xd3, 0x5e, 0x88, 0x12, 0x6a, 0xb0, 0x3c, 0xe4, 0x59, 0x21, 0x7d, 0x90,
    0x0e, 0xc6, 0x34, 0xfa, 0x15, 0x8b, 0x62, 0xd7, 0x49, 0xa3, 0x1f, 0x70, 0xbe, 0x05, 0xcc, 0x48,
};

/* "now" for qs_message_validate: fixed, so a crash reproduces on any day
 * (2025-11-24T14:40:00Z), with the default skew limit. */
#define FUZZ_NOW_MS  1764000000000LL
#define FUZZ_SKEW_MS ((int64_t)QS_DEFAULT_SKEW_LIMIT_S * 1000)

#define FUZZ_CHECK(cond)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                           \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* A NUL-terminated heap copy of the input, exactly size + 1 bytes long (so
 * AddressSanitizer catches a read past the terminator). Free with free(). */
static inline char *
fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    for (size_t i = 0; i < size; i++)
        s[i] = (char)data[i];
    s[size] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
