/* qs_envelope.h - end-to-end sealing: crypto_box with precomputed shared keys.
 *
 * A producer seals each encoded Batch for the store; the store seals each Ack
 * back for the producer. Both sides precompute the X25519 shared key once per
 * peer (crypto_box_beforenm) and keep it in a qs_peer_cache_t, so the hot path
 * is one XSalsa20-Poly1305 pass (crypto_box_*_afternm). Nonces are random
 * (24 bytes: collisions are negligible), so no nonce state must survive crashes.
 *
 * The wire form is the protobuf Envelope {version, sender_pk, nonce, ciphertext}.
 */
#ifndef QS_ENVELOPE_H
#define QS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "qs_keys.h"
#include "qs_limits.h"
#include "quietstate.pb-c.h"

typedef struct qs_peer_cache qs_peer_cache_t;

/* Which way a sealed message travels; each way has its own key. */
typedef enum {
    QS_ENVELOPE_TO_STORE = 1,    /* a Batch: client -> store */
    QS_ENVELOPE_TO_CLIENT = 2,   /* an Ack: store -> client */
} qs_envelope_dir_t;

/* The smallest padded plaintext: holds any one valid message with maximal
 * strings (see the _Static_assert in envelope.c), so a one-message batch has
 * the same size whatever it carries. Buckets double from here. */
#define QS_ENVELOPE_MIN_PADDED 2048u
/* The largest padded plaintext (the last bucket): a sealed envelope of it
 * still fits QS_MAX_FRAME_BYTES, and it holds a QS_MAX_BATCH_BYTES batch. */
#define QS_ENVELOPE_MAX_PADDED (QS_MAX_FRAME_BYTES - 128u)

/* A cache of shared keys between self and up to capacity peers. Keeps a
 * reference to self (which must outlive the cache). NULL if out of locked memory. */
qs_peer_cache_t *qs_peer_cache_new(const qs_keypair_t *self, size_t capacity);

/* The shared key for peer_pk, computed on first use. NULL if peer_pk is a
 * weak (low-order) key that crypto_box refuses. The pointer is valid until
 * the next call that may insert (treat it as borrowed for one operation). */
const uint8_t *qs_peer_cache_get(qs_peer_cache_t *cache, const uint8_t peer_pk[QS_KEY_BYTES]);

/* Hits and misses so far (for stats and benchmarks). */
void qs_peer_cache_counts(const qs_peer_cache_t *cache, uint64_t *hits, uint64_t *misses);

void qs_peer_cache_destroy(qs_peer_cache_t **cache_p);

/* The bucket plain_len bytes are padded to: the smallest bucket that holds
 * plain_len + 1 (the padding is at least the 0x80 byte), or 0 when plain_len
 * is too large for any (beyond QS_ENVELOPE_MAX_PADDED - 1). */
size_t qs_envelope_padded_size(size_t plain_len);

/* Pad plain to its bucket and seal it for direction dir into a packed
 * Envelope written to out (out_cap bytes; needs qs_envelope_sealed_size
 * (plain_len)); plain must not overlap out. Returns 0, -1 if out_cap is too
 * small or plain_len too large to pad. */
int qs_envelope_seal(uint8_t *out, size_t *out_len, size_t out_cap, qs_envelope_dir_t dir,
                     const uint8_t *plain, size_t plain_len,
                     const uint8_t sender_pk[QS_KEY_BYTES],
                     const uint8_t shared[QS_KEY_BYTES]);

/* Upper bound on a sealed envelope's packed size. */
size_t qs_envelope_sealed_size(size_t plain_len);

/* qs_envelope_seal (QS_ENVELOPE_TO_CLIENT), wrapped as a packed Reply whose sealed_ack is that
 * Envelope: byte for byte what protobuf-c packs for such a Reply, written in
 * place (no unpack and repack of the sealed bytes). The Reply starts at
 * *reply inside out (out_cap >= qs_envelope_reply_size(plain_len)); returns
 * 0, -1 if out_cap is too small. */
int qs_envelope_seal_reply(const uint8_t **reply, size_t *reply_len,
                           uint8_t *out, size_t out_cap,
                           const uint8_t *plain, size_t plain_len,
                           const uint8_t sender_pk[QS_KEY_BYTES],
                           const uint8_t shared[QS_KEY_BYTES]);

/* Upper bound on qs_envelope_seal_reply's output. */
size_t qs_envelope_reply_size(size_t plain_len);

/* The one check of an unpacked Envelope's fields, for every side that
 * receives one (the store a batch, a producer a sealed ack): version, sender
 * key and nonce lengths, a ciphertext at least one MAC long and, when from
 * is not NULL, a sender_pk equal to from (constant time). Returns 0, or -1
 * with *code set (BAD_VERSION, BAD_KEY_LENGTH, BAD_NONCE, SENDER_MISMATCH). */
int qs_envelope_check(const Quietstate__Envelope *env, const uint8_t *from,
                      Quietstate__Code *code) __attribute__((warn_unused_result));

/* Unpack the envelope frame and qs_envelope_check it (from may be NULL: any
 * sender) without decrypting. On failure returns -1 with *code set
 * (NOT_PROTOBUF, FRAME_TOO_LARGE or a qs_envelope_check code). Free the
 * result with quietstate__envelope__free_unpacked(env, NULL). */
int qs_envelope_parse_from(Quietstate__Envelope **out, const uint8_t *frame, size_t frame_len,
                           const uint8_t *from, Quietstate__Code *code)
    __attribute__((warn_unused_result));

/* qs_envelope_parse_from for any sender. */
int qs_envelope_parse(Quietstate__Envelope **out, const uint8_t *frame, size_t frame_len,
                      Quietstate__Code *code) __attribute__((warn_unused_result));

/* Decrypt env, sealed for direction dir, into out (out_cap >= ciphertext
 * length - QS_MAC_BYTES) and strip its padding: *out_len is the unpadded
 * length. Returns 0, or -1 when the ciphertext was tampered with, the nonce
 * is wrong, the key is not the one it was sealed with, it was sealed for the
 * other direction, its length is not a bucket, or its padding is malformed
 * (all indistinguishable to the sender, as they should be). On -1 nothing
 * decrypted is left in out. */
int qs_envelope_open(uint8_t *out, size_t *out_len, size_t out_cap, qs_envelope_dir_t dir,
                     const Quietstate__Envelope *env,
                     const uint8_t shared[QS_KEY_BYTES]) __attribute__((warn_unused_result));

#endif
