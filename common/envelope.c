/* envelope.c - crypto_box_*_afternm sealing and a per-peer shared-key cache.
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

size_t
qs_envelope_sealed_size(size_t plain_len)
{
    /* protobuf overhead: 4 tags, 4 length prefixes (<= 5 bytes each), version. */
    return plain_len + QS_MAC_BYTES + QS_KEY_BYTES + QS_NONCE_BYTES + 32;
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
qs_envelope_seal(uint8_t *out, size_t *out_len, size_t out_cap,
                 const uint8_t *plain, size_t plain_len,
                 const uint8_t sender_pk[QS_KEY_BYTES],
                 const uint8_t shared[QS_KEY_BYTES])
{
    size_t off = 0, ct_len = plain_len + QS_MAC_BYTES;
    uint8_t *nonce;

    if (out_cap < qs_envelope_sealed_size(plain_len))
        return -1;
    /* The Envelope is written field by field (the same bytes protobuf-c
     * packs, in field order) so that the ciphertext is produced in place:
     * no allocation and no copy per batch on the hot path. */
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
    crypto_box_easy_afternm(out + off, plain, plain_len, nonce, shared);
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
        qs_envelope_seal(out + REPLY_HEAD_MAX, &env_len, out_cap - REPLY_HEAD_MAX, plain,
                         plain_len, sender_pk, shared) != 0)
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

int
qs_envelope_open(uint8_t *out, size_t *out_len, size_t out_cap,
                 const Quietstate__Envelope *env, const uint8_t shared[QS_KEY_BYTES])
{
    if (env->ciphertext.len < QS_MAC_BYTES || out_cap < env->ciphertext.len - QS_MAC_BYTES)
        return -1;
    if (crypto_box_open_easy_afternm(out, env->ciphertext.data, env->ciphertext.len,
                                     env->nonce.data, shared) != 0)
        return -1;
    *out_len = env->ciphertext.len - QS_MAC_BYTES;
    return 0;
}
