/* envelope.c - padded, direction-keyed crypto_box_*_afternm sealing and a per-peer shared-key cache.
 *
 * The cache is an open-addressing table keyed by the peer's public key; the
 * shared keys live in one sodium_malloc'd (locked, guarded) slab. When the
 * table fills, it is wiped and refilled: recomputing a beforenm costs one
 * scalar multiplication, so an LRU would buy little for its complexity.
 */
#include "qs_envelope.h"
#include "qs_log.h"

#include <sodium.h>
#include <string.h>

struct qs_peer_cache {
    const qs_keypair_t *self;
    size_t slots;          /* power of two, >= 2 * capacity */
    size_t capacity;
    size_t used;
    uint8_t *peer_pks;     /* slots * 32, plain memory (public keys) */
    uint8_t *filled;       /* slots */
    uint8_t *shared;       /* slots * 32, sodium_malloc'd */
    uint64_t hits, misses;
};

qs_peer_cache_t *
qs_peer_cache_new(const qs_keypair_t *self, size_t capacity)
{
    qs_peer_cache_t *c = qs_calloc(1, sizeof *c);
    size_t slots = 16;

    if (capacity < 4)
        capacity = 4;
    while (slots < capacity * 2)
        slots <<= 1;
    c->self = self;
    c->slots = slots;
    c->capacity = capacity;
    c->peer_pks = qs_calloc(slots, QS_KEY_BYTES);
    c->filled = qs_calloc(slots, 1);
    c->shared = sodium_malloc(slots * QS_KEY_BYTES);
    if (c->shared == NULL) {
        free(c->peer_pks);
        free(c->filled);
        free(c);
        return NULL;
    }
    return c;
}

static size_t
slot_of(const qs_peer_cache_t *c, const uint8_t pk[QS_KEY_BYTES])
{
    uint64_t h;
    /* Public keys are uniformly random already: their first bytes hash well. */
    memcpy(&h, pk, sizeof h);
    return (size_t)(h & (c->slots - 1));
}

const uint8_t *
qs_peer_cache_get(qs_peer_cache_t *c, const uint8_t peer_pk[QS_KEY_BYTES])
{
    size_t i = slot_of(c, peer_pk);

    while (c->filled[i]) {
        if (memcmp(c->peer_pks + i * QS_KEY_BYTES, peer_pk, QS_KEY_BYTES) == 0) {
            c->hits++;
            return c->shared + i * QS_KEY_BYTES;
        }
        i = (i + 1) & (c->slots - 1);
    }
    c->misses++;
    if (c->used >= c->capacity) {
        sodium_memzero(c->shared, c->slots * QS_KEY_BYTES);
        memset(c->filled, 0, c->slots);
        c->used = 0;
        i = slot_of(c, peer_pk);
    }
    if (crypto_box_beforenm(c->shared + i * QS_KEY_BYTES, peer_pk,
                            qs_keypair_secret(c->self)) != 0)
        return NULL;
    memcpy(c->peer_pks + i * QS_KEY_BYTES, peer_pk, QS_KEY_BYTES);
    c->filled[i] = 1;
    c->used++;
    return c->shared + i * QS_KEY_BYTES;
}

void
qs_peer_cache_counts(const qs_peer_cache_t *c, uint64_t *hits, uint64_t *misses)
{
    *hits = c->hits;
    *misses = c->misses;
}

void
qs_peer_cache_destroy(qs_peer_cache_t **cache_p)
{
    qs_peer_cache_t *c;

    if (cache_p == NULL || *cache_p == NULL)
        return;
    c = *cache_p;
    sodium_free(c->shared);
    free(c->peer_pks);
    free(c->filled);
    free(c);
    *cache_p = NULL;
}

/* The largest valid StateMessage inside a Batch: serial and time (tag +
 * 10-byte varint each), topic_type and state_id (tag + 5), the five strings
 * at their bounds (tag + 2-byte length each) and the Batch's own tag and
 * 2-byte length. Plus the 0x80 padding byte, it must fit the smallest bucket:
 * then a one-message batch is one size whether or not it carries details. */
#define QS_MAX_VALID_MESSAGE_IN_BATCH                                              \
    (2u * 11u + 2u * 6u + 3u + QS_MAX_TOPIC_ID_BYTES + 3u + QS_MAX_DETAILS_BYTES +  \
     3u * (3u + QS_MAX_NAME_BYTES) + 3u)
_Static_assert(QS_MAX_VALID_MESSAGE_IN_BATCH + 1u <= QS_ENVELOPE_MIN_PADDED,
               "one maximal message fits the smallest bucket");
_Static_assert(QS_MAX_BATCH_BYTES + 1u <= QS_ENVELOPE_MAX_PADDED,
               "the largest batch fits the last bucket");
_Static_assert(QS_ENVELOPE_MAX_PADDED + QS_MAC_BYTES + QS_KEY_BYTES + QS_NONCE_BYTES + 32u <=
               QS_MAX_FRAME_BYTES, "an envelope of the last bucket fits a frame");
_Static_assert(crypto_kdf_KEYBYTES == QS_KEY_BYTES, "a shared key is a kdf master key");

#define PAD_MARK 0x80u   /* ISO/IEC 7816-4: one 0x80 byte, then zeros */

size_t
qs_envelope_padded_size(size_t plain_len)
{
    size_t need = plain_len + 1, b = QS_ENVELOPE_MIN_PADDED;

    if (plain_len >= QS_ENVELOPE_MAX_PADDED)
        return 0;
    while (b < need) {
        if (b > QS_ENVELOPE_MAX_PADDED / 2)
            return QS_ENVELOPE_MAX_PADDED;
        b <<= 1;
    }
    return b;
}

/* 1 when n is one of the bucket sizes. */
static int
is_bucket(size_t n)
{
    return n > 0 && qs_envelope_padded_size(n - 1) == n;
}

size_t
qs_envelope_sealed_size(size_t plain_len)
{
    size_t padded = qs_envelope_padded_size(plain_len);

    /* Too large to pad: seal refuses it whatever the buffer, so any size does. */
    if (padded == 0)
        padded = plain_len + 1;
    /* protobuf overhead: 4 tags, 4 length prefixes (<= 5 bytes each), version. */
    return padded + QS_MAC_BYTES + QS_KEY_BYTES + QS_NONCE_BYTES + 32;
}

/* The key for one direction: crypto_kdf (BLAKE2b) of the crypto_box shared
 * key with a context per direction and the envelope version as subkey id, so
 * the two directions, and any future version, never share a key. */
static void
direction_key(uint8_t key[QS_KEY_BYTES], const uint8_t shared[QS_KEY_BYTES],
              qs_envelope_dir_t dir)
{
    static const char c2s[crypto_kdf_CONTEXTBYTES] = "qs-c2s";
    static const char s2c[crypto_kdf_CONTEXTBYTES] = "qs-s2c";

    QS_ASSERT(dir == QS_ENVELOPE_TO_STORE || dir == QS_ENVELOPE_TO_CLIENT);
    if (crypto_kdf_derive_from_key(key, QS_KEY_BYTES, QS_ENVELOPE_VERSION,
                                   dir == QS_ENVELOPE_TO_STORE ? c2s : s2c, shared) != 0)
        qs_fatal("crypto_kdf_derive_from_key failed");
}

/* Append a protobuf varint; returns bytes written. */
static size_t
put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int
qs_envelope_seal(uint8_t *out, size_t *out_len, size_t out_cap, qs_envelope_dir_t dir,
                 const uint8_t *plain, size_t plain_len,
                 const uint8_t sender_pk[QS_KEY_BYTES],
                 const uint8_t shared[QS_KEY_BYTES])
{
    size_t off = 0, padded = qs_envelope_padded_size(plain_len), ct_len = padded + QS_MAC_BYTES;
    uint8_t key[QS_KEY_BYTES], *nonce, *body;

    if (padded == 0 || out_cap < qs_envelope_sealed_size(plain_len))
        return -1;
    /* The Envelope is written field by field (the same bytes protobuf-c
     * packs, in field order) so that the ciphertext is produced in place:
     * no allocation per batch on the hot path, one copy to pad. */
    out[off++] = 0x08;                                  /* 1: version, varint */
    off += put_varint(out + off, QS_ENVELOPE_VERSION);
    out[off++] = 0x12;                                  /* 2: sender_pk, bytes */
    out[off++] = QS_KEY_BYTES;
    memcpy(out + off, sender_pk, QS_KEY_BYTES);
    off += QS_KEY_BYTES;
    out[off++] = 0x1a;                                  /* 3: nonce, bytes */
    out[off++] = QS_NONCE_BYTES;
    nonce = out + off;
    randombytes_buf(nonce, QS_NONCE_BYTES);
    off += QS_NONCE_BYTES;
    out[off++] = 0x22;                                  /* 4: ciphertext, bytes */
    off += put_varint(out + off, ct_len);
    QS_ASSERT(off + ct_len <= out_cap);
    /* The padded plaintext goes where its ciphertext will be (after the
     * MAC), and is encrypted in place. */
    body = out + off + QS_MAC_BYTES;
    memcpy(body, plain, plain_len);
    body[plain_len] = PAD_MARK;
    memset(body + plain_len + 1, 0, padded - plain_len - 1);
    direction_key(key, shared, dir);
    crypto_box_easy_afternm(out + off, body, padded, nonce, key);
    sodium_memzero(key, sizeof key);
    *out_len = off + ct_len;
    return 0;
}

/* Field 1 of Reply (sealed_ack), length-delimited: tag and length in front
 * of the Envelope, at most 1 + 10 bytes. */
#define REPLY_SEALED_ACK_TAG 0x0a
#define REPLY_HEAD_MAX 11

static size_t
varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t
qs_envelope_reply_size(size_t plain_len)
{
    return REPLY_HEAD_MAX + qs_envelope_sealed_size(plain_len);
}

int
qs_envelope_seal_reply(const uint8_t **reply, size_t *reply_len, uint8_t *out, size_t out_cap,
                       const uint8_t *plain, size_t plain_len,
                       const uint8_t sender_pk[QS_KEY_BYTES], const uint8_t shared[QS_KEY_BYTES])
{
    size_t env_len = 0, head;
    uint8_t *start;

    if (out_cap < qs_envelope_reply_size(plain_len) ||
        qs_envelope_seal(out + REPLY_HEAD_MAX, &env_len, out_cap - REPLY_HEAD_MAX,
                         QS_ENVELOPE_TO_CLIENT, plain, plain_len, sender_pk, shared) != 0)
        return -1;
    /* The Envelope is in place; its Reply head goes right before it. */
    head = 1 + varint_len(env_len);
    start = out + REPLY_HEAD_MAX - head;
    start[0] = REPLY_SEALED_ACK_TAG;
    (void)put_varint(start + 1, env_len);
    *reply = start;
    *reply_len = head + env_len;
    return 0;
}

int
qs_envelope_check(const Quietstate__Envelope *env, const uint8_t *from, Quietstate__Code *code)
{
    if (env->version != QS_ENVELOPE_VERSION)
        *code = QUIETSTATE__CODE__BAD_VERSION;
    else if (env->sender_pk.len != QS_KEY_BYTES)
        *code = QUIETSTATE__CODE__BAD_KEY_LENGTH;
    else if (env->nonce.len != QS_NONCE_BYTES || env->ciphertext.len < QS_MAC_BYTES)
        *code = QUIETSTATE__CODE__BAD_NONCE;
    else if (from != NULL && sodium_memcmp(env->sender_pk.data, from, QS_KEY_BYTES) != 0)
        *code = QUIETSTATE__CODE__SENDER_MISMATCH;
    else
        return 0;
    return -1;
}

int
qs_envelope_parse_from(Quietstate__Envelope **out, const uint8_t *frame, size_t frame_len,
                       const uint8_t *from, Quietstate__Code *code)
{
    Quietstate__Envelope *env;

    *out = NULL;
    if (frame_len > QS_MAX_FRAME_BYTES) {
        *code = QUIETSTATE__CODE__FRAME_TOO_LARGE;
        return -1;
    }
    env = quietstate__envelope__unpack(NULL, frame_len, frame);
    if (env == NULL) {
        *code = QUIETSTATE__CODE__NOT_PROTOBUF;
        return -1;
    }
    if (qs_envelope_check(env, from, code) != 0) {
        quietstate__envelope__free_unpacked(env, NULL);
        return -1;
    }
    *out = env;
    return 0;
}

int
qs_envelope_parse(Quietstate__Envelope **out, const uint8_t *frame, size_t frame_len,
                  Quietstate__Code *code)
{
    return qs_envelope_parse_from(out, frame, frame_len, NULL, code);
}

/* The unpadded length of an ISO/IEC 7816-4 padded buffer: the last
 * non-zero byte must be the 0x80 mark. Only ever run on authenticated
 * plaintext (the MAC is checked first), so its timing tells nothing a
 * forger could use. */
static int
unpad(size_t *len, const uint8_t *buf, size_t padded)
{
    size_t i = padded;

    while (i > 0 && buf[i - 1] == 0)
        i--;
    if (i == 0 || buf[i - 1] != PAD_MARK)
        return -1;
    *len = i - 1;
    return 0;
}

int
qs_envelope_open(uint8_t *out, size_t *out_len, size_t out_cap, qs_envelope_dir_t dir,
                 const Quietstate__Envelope *env, const uint8_t shared[QS_KEY_BYTES])
{
    uint8_t key[QS_KEY_BYTES];
    size_t padded;
    int rc;

    if (env->ciphertext.len < QS_MAC_BYTES)
        return -1;
    padded = env->ciphertext.len - QS_MAC_BYTES;
    /* A length that is not a bucket was not padded by a current sender. */
    if (!is_bucket(padded) || out_cap < padded)
        return -1;
    direction_key(key, shared, dir);
    rc = crypto_box_open_easy_afternm(out, env->ciphertext.data, env->ciphertext.len,
                                      env->nonce.data, key);
    sodium_memzero(key, sizeof key);
    if (rc != 0)
        return -1;
    if (unpad(out_len, out, padded) != 0) {
        sodium_memzero(out, padded);
        return -1;
    }
    return 0;
}
