/* fuzz_envelope.c - libFuzzer target for the store's first decoder: the
 * Envelope frame (qs_envelope_parse) and its decryption (qs_envelope_open).
 *
 * Each input is used twice. As a frame off the wire: parse it, and when the
 * frame is well formed open it with the fixed test key, for the store, into a
 * buffer of exactly the promised size; a frame that opens (the sealed seeds
 * from make_seeds.c do) has a bucket-sized ciphertext, never opens for the
 * client as well, and is then decoded as a Batch. As a plaintext: seal it,
 * and check that the sealed envelope parses, has the ciphertext of its
 * bucket, opens to the same bytes, does not open for the other direction,
 * with another key or with one ciphertext bit flipped, and that sealing
 * refuses a buffer one byte short of qs_envelope_sealed_size().
 */
#include "fuzz_util.h"
#include "qs_codec.h"
#include "qs_envelope.h"

#include <sodium.h>
#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    return 0;
}

static void
fuzz_frame(const uint8_t *data, size_t size)
{
    Quietstate__Envelope *env = NULL;
    Quietstate__Code code = QUIETSTATE__CODE__CODE_NONE;
    uint8_t *plain;
    size_t cap, plain_len = 0;

    if (qs_envelope_parse(&env, data, size, &code) != 0) {
        FUZZ_CHECK(env == NULL);
        FUZZ_CHECK(code == QUIETSTATE__CODE__NOT_PROTOBUF ||
                   code == QUIETSTATE__CODE__BAD_VERSION ||
                   code == QUIETSTATE__CODE__BAD_KEY_LENGTH ||
                   code == QUIETSTATE__CODE__BAD_NONCE ||
                   code == QUIETSTATE__CODE__FRAME_TOO_LARGE);
        return;
    }
    FUZZ_CHECK(env != NULL);
    FUZZ_CHECK(env->version == QS_ENVELOPE_VERSION);
    FUZZ_CHECK(env->sender_pk.len == QS_KEY_BYTES);
    FUZZ_CHECK(env->nonce.len == QS_NONCE_BYTES);
    FUZZ_CHECK(env->ciphertext.len >= QS_MAC_BYTES);

    cap = env->ciphertext.len - QS_MAC_BYTES;
    plain = malloc(cap > 0 ? cap : 1);
    FUZZ_CHECK(plain != NULL);
    /* One byte short must be refused, not overflowed. */
    if (cap > 0)
        FUZZ_CHECK(qs_envelope_open(plain, &plain_len, cap - 1, QS_ENVELOPE_TO_STORE, env,
                                    fuzz_shared_key) != 0);
    if (qs_envelope_open(plain, &plain_len, cap, QS_ENVELOPE_TO_STORE, env, fuzz_shared_key) == 0) {
        Quietstate__Batch *batch = NULL;
        Quietstate__Status status;
        Quietstate__Code bcode;
        size_t other_len = 0;

        FUZZ_CHECK(plain_len < cap && qs_envelope_padded_size(plain_len) <= cap);
        FUZZ_CHECK(qs_envelope_open(plain, &other_len, cap, QS_ENVELOPE_TO_CLIENT, env,
                                    fuzz_shared_key) != 0);
        FUZZ_CHECK(qs_envelope_open(plain, &plain_len, cap, QS_ENVELOPE_TO_STORE, env,
                                    fuzz_shared_key) == 0);
        if (qs_batch_decode(&batch, plain, plain_len, NULL, &status, &bcode) == 0)
            quietstate__batch__free_unpacked(batch, NULL);
    }
    free(plain);
    quietstate__envelope__free_unpacked(env, NULL);
}

static void
fuzz_seal_open(const uint8_t *data, size_t size)
{
    uint8_t other_key[QS_KEY_BYTES];
    size_t cap = qs_envelope_sealed_size(size), sealed_len = 0, plain_len = 0;
    size_t padded = qs_envelope_padded_size(size);
    uint8_t *sealed = malloc(cap), *plain = malloc(padded);
    Quietstate__Envelope *env = NULL;
    Quietstate__Code code = QUIETSTATE__CODE__CODE_NONE;

    FUZZ_CHECK(sealed != NULL && plain != NULL && padded > size);
    FUZZ_CHECK(qs_envelope_seal(sealed, &sealed_len, cap - 1, QS_ENVELOPE_TO_STORE, data, size,
                                fuzz_sender_pk, fuzz_shared_key) != 0);
    FUZZ_CHECK(qs_envelope_seal(sealed, &sealed_len, cap, QS_ENVELOPE_TO_STORE, data, size,
                                fuzz_sender_pk, fuzz_shared_key) == 0);
    FUZZ_CHECK(sealed_len <= cap);

    FUZZ_CHECK(qs_envelope_parse(&env, sealed, sealed_len, &code) == 0);
    FUZZ_CHECK(memcmp(env->sender_pk.data, fuzz_sender_pk, QS_KEY_BYTES) == 0);
    FUZZ_CHECK(env->ciphertext.len == padded + QS_MAC_BYTES);

    FUZZ_CHECK(qs_envelope_open(plain, &plain_len, padded - 1, QS_ENVELOPE_TO_STORE, env,
                                fuzz_shared_key) != 0);
    FUZZ_CHECK(qs_envelope_open(plain, &plain_len, padded, QS_ENVELOPE_TO_STORE, env,
                                fuzz_shared_key) == 0);
    FUZZ_CHECK(plain_len == size);
    FUZZ_CHECK(size == 0 || memcmp(plain, data, size) == 0);

    /* The other direction, another key, or one flipped bit anywhere in the
     * ciphertext, must fail. */
    FUZZ_CHECK(qs_envelope_open(plain, &plain_len, padded, QS_ENVELOPE_TO_CLIENT, env,
                                fuzz_shared_key) != 0);
    memcpy(other_key, fuzz_shared_key, sizeof other_key);
    other_key[size % QS_KEY_BYTES] ^= 0x01;
    FUZZ_CHECK(qs_envelope_open(plain, &plain_len, padded, QS_ENVELOPE_TO_STORE, env,
                                other_key) != 0);
    env->ciphertext.data[(size * 7) % env->ciphertext.len] ^= 0x80;
    FUZZ_CHECK(qs_envelope_open(plain, &plain_len, padded, QS_ENVELOPE_TO_STORE, env,
                                fuzz_shared_key) != 0);

    quietstate__envelope__free_unpacked(env, NULL);
    free(sealed);
    free(plain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_frame(data, size);
    fuzz_seal_open(data, size);
    return 0;
}
