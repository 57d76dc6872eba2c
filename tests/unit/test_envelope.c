/* test_envelope.c - end-to-end sealing: round trip, tamper and wrong-key
 * detection, padding buckets, directional keys, envelope frame checks, peer-key cache. */
#include "qs_envelope.h"
#include "qs_log.h"
#include "qs_test.h"

#include <sodium.h>

static qs_keypair_t *client, *store;

static size_t
seal_sample(uint8_t *out, size_t cap, const char *text)
{
    qs_peer_cache_t *cache = qs_peer_cache_new(client, 8);
    const uint8_t *shared = qs_peer_cache_get(cache, qs_keypair_public(store));
    size_t len = 0;
    QS_CHECK(shared != NULL);
    QS_CHECK(qs_envelope_seal(out, &len, cap, QS_ENVELOPE_TO_STORE, (const uint8_t *)text,
                              strlen(text), qs_keypair_public(client), shared) == 0);
    qs_peer_cache_destroy(&cache);
    QS_CHECK(cache == NULL);
    return len;
}

static int
open_sample(const uint8_t *frame, size_t len, char *out, size_t cap, Quietstate__Code *code)
{
    qs_peer_cache_t *cache = qs_peer_cache_new(store, 8);
    Quietstate__Envelope *env = NULL;
    size_t plain_len = 0;
    int rc = -1;

    if (qs_envelope_parse(&env, frame, len, code) == 0) {
        const uint8_t *shared = qs_peer_cache_get(cache, env->sender_pk.data);
        if (shared != NULL &&
            qs_envelope_open((uint8_t *)out, &plain_len, cap - 1, QS_ENVELOPE_TO_STORE, env,
                             shared) == 0) {
            out[plain_len] = '\0';
            rc = 0;
        } else {
            *code = QUIETSTATE__CODE__DECRYPT_FAILED;
        }
        quietstate__envelope__free_unpacked(env, NULL);
    }
    qs_peer_cache_destroy(&cache);
    return rc;
}

static void
test_envelope_round_trip(void)
{
    uint8_t frame[4096];
    char out[4096];
    Quietstate__Code code = 0;
    size_t len = seal_sample(frame, sizeof frame, "batch bytes");
    QS_CHECK(open_sample(frame, len, out, sizeof out, &code) == 0);
    QS_CHECK_STR(out, "batch bytes");
}

static void
test_envelope_bytes_are_canonical_protobuf(void)
{
    /* seal writes the Envelope by hand: it must be exactly what protobuf-c
     * packs for the same fields, for small and multi-byte-length payloads. */
    static const size_t sizes[] = { 0, 1, 100, 111, 112, 20000, 300000 };
    qs_peer_cache_t *cache = qs_peer_cache_new(client, 8);
    const uint8_t *shared = qs_peer_cache_get(cache, qs_keypair_public(store));

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t cap = qs_envelope_sealed_size(sizes[i]), len = 0, repacked;
        uint8_t *plain = calloc(1, sizes[i] + 1), *frame = malloc(cap), *again = malloc(cap);
        Quietstate__Envelope *env = NULL;
        Quietstate__Code code = 0;

        QS_CHECK(qs_envelope_seal(frame, &len, cap, QS_ENVELOPE_TO_STORE, plain, sizes[i],
                                  qs_keypair_public(client), shared) == 0);
        QS_CHECK(qs_envelope_parse(&env, frame, len, &code) == 0);
        if (env != NULL) {
            QS_CHECK_EQ_INT(env->ciphertext.len,
                            qs_envelope_padded_size(sizes[i]) + QS_MAC_BYTES);
            repacked = quietstate__envelope__pack(env, again);
            QS_CHECK_EQ_INT(repacked, len);
            QS_CHECK(repacked == len && memcmp(frame, again, len) == 0);
            quietstate__envelope__free_unpacked(env, NULL);
        }
        QS_CHECK(qs_envelope_seal(frame, &len, cap - 1, QS_ENVELOPE_TO_STORE, plain, sizes[i],
                                  qs_keypair_public(client), shared) != 0);
        free(plain);
        free(frame);
        free(again);
    }
    qs_peer_cache_destroy(&cache);
}

static void
test_envelope_rejects_tampered_ciphertext(void)
{
    uint8_t frame[4096];
    char out[4096];
    Quietstate__Code code = 0;
    size_t len = seal_sample(frame, sizeof frame, "batch bytes");
    frame[len - 3] ^= 0x01;   /* inside the ciphertext, the last field */
    QS_CHECK(open_sample(frame, len, out, sizeof out, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__DECRYPT_FAILED);
}

static void
test_envelope_rejects_wrong_recipient(void)
{
    qs_keypair_t *other = qs_keypair_generate();
    qs_peer_cache_t *cache = qs_peer_cache_new(other, 4);
    Quietstate__Envelope *env = NULL;
    Quietstate__Code code = 0;
    uint8_t frame[4096], plain[4096];
    size_t len = seal_sample(frame, sizeof frame, "for the store only"), plain_len;

    QS_CHECK(qs_envelope_parse(&env, frame, len, &code) == 0);
    QS_CHECK(qs_envelope_open(plain, &plain_len, sizeof plain, QS_ENVELOPE_TO_STORE, env,
                              qs_peer_cache_get(cache, env->sender_pk.data)) != 0);
    quietstate__envelope__free_unpacked(env, NULL);
    qs_peer_cache_destroy(&cache);
    qs_keypair_destroy(&other);
    QS_CHECK(other == NULL);
}

static void
test_envelope_parse_rejects_bad_frames(void)
{
    Quietstate__Envelope e = QUIETSTATE__ENVELOPE__INIT, *out = NULL;
    uint8_t key[32] = { 1 }, nonce[24] = { 2 }, ct[32] = { 3 }, buf[256];
    Quietstate__Code code = 0;
    size_t len;

    QS_CHECK(qs_envelope_parse(&out, (const uint8_t *)"\xff\xff\xff", 3, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__NOT_PROTOBUF);

    e.version = QS_ENVELOPE_VERSION + 1;
    e.sender_pk.data = key; e.sender_pk.len = 32;
    e.nonce.data = nonce; e.nonce.len = 24;
    e.ciphertext.data = ct; e.ciphertext.len = sizeof ct;
    len = quietstate__envelope__pack(&e, buf);
    QS_CHECK(qs_envelope_parse(&out, buf, len, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__BAD_VERSION);

    e.version = QS_ENVELOPE_VERSION;
    e.sender_pk.len = 31;
    len = quietstate__envelope__pack(&e, buf);
    QS_CHECK(qs_envelope_parse(&out, buf, len, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__BAD_KEY_LENGTH);

    e.sender_pk.len = 32;
    e.nonce.len = 12;
    len = quietstate__envelope__pack(&e, buf);
    QS_CHECK(qs_envelope_parse(&out, buf, len, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__BAD_NONCE);

    e.nonce.len = 24;
    e.ciphertext.len = 8;   /* shorter than the MAC: truncated */
    len = quietstate__envelope__pack(&e, buf);
    QS_CHECK(qs_envelope_parse(&out, buf, len, &code) != 0);

    QS_CHECK(qs_envelope_parse(&out, buf, QS_MAX_FRAME_BYTES + 1, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__FRAME_TOO_LARGE);
    QS_CHECK(out == NULL);
}

static void
test_peer_cache_reuses_shared_keys(void)
{
    qs_peer_cache_t *cache = qs_peer_cache_new(store, 4);
    qs_keypair_t *peers[10];
    uint64_t hits, misses;
    uint8_t first[32];

    for (int i = 0; i < 10; i++)
        peers[i] = qs_keypair_generate();
    memcpy(first, qs_peer_cache_get(cache, qs_keypair_public(peers[0])), 32);
    QS_CHECK(memcmp(first, qs_peer_cache_get(cache, qs_keypair_public(peers[0])), 32) == 0);
    qs_peer_cache_counts(cache, &hits, &misses);
    QS_CHECK_EQ_INT(hits, 1);
    QS_CHECK_EQ_INT(misses, 1);
    /* Past capacity the cache refills, and keys stay correct. */
    for (int i = 1; i < 10; i++)
        QS_CHECK(qs_peer_cache_get(cache, qs_keypair_public(peers[i])) != NULL);
    QS_CHECK(memcmp(first, qs_peer_cache_get(cache, qs_keypair_public(peers[0])), 32) == 0);
    /* A low-order point is refused, not cached. */
    {
        uint8_t zero[32] = { 0 };
        QS_CHECK(qs_peer_cache_get(cache, zero) == NULL);
    }
    for (int i = 0; i < 10; i++)
        qs_keypair_destroy(&peers[i]);
    qs_peer_cache_destroy(&cache);
}

/* The one check every receiver calls: fields first, then the sender. */
static void
test_envelope_check_names_sender_mismatch(void)
{
    uint8_t frame[4096];
    size_t len = seal_sample(frame, sizeof frame, "who sent this");
    Quietstate__Envelope *env = NULL;
    Quietstate__Code code = 0;

    QS_CHECK(qs_envelope_parse_from(&env, frame, len, qs_keypair_public(client), &code) == 0);
    QS_CHECK(qs_envelope_check(env, NULL, &code) == 0);
    QS_CHECK(qs_envelope_check(env, qs_keypair_public(store), &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__SENDER_MISMATCH);
    env->nonce.len = 12;   /* a bad field is named before the sender */
    QS_CHECK(qs_envelope_check(env, qs_keypair_public(store), &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__BAD_NONCE);
    env->nonce.len = 24;
    quietstate__envelope__free_unpacked(env, NULL);
    QS_CHECK(qs_envelope_parse_from(&env, frame, len, qs_keypair_public(store), &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__SENDER_MISMATCH);
    QS_CHECK(env == NULL);
}

/* A Reply sealed in place is exactly what protobuf-c packs for it, whatever
 * the length prefix's size (1, 2 and 3 byte varints). */
static void
test_envelope_seal_reply_is_protobuf_reply(void)
{
    static const size_t sizes[] = { 10, 200, 20000 };
    qs_peer_cache_t *cache = qs_peer_cache_new(store, 4);
    const uint8_t *shared = qs_peer_cache_get(cache, qs_keypair_public(client));

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t cap = qs_envelope_reply_size(sizes[i]), rlen = 0, plen = 0;
        uint8_t *buf = qs_malloc(cap), *plain = qs_calloc(1, sizes[i]), *repacked;
        const uint8_t *reply = NULL;
        Quietstate__Code code = 0;
        Quietstate__Reply *rep;

        randombytes_buf(plain, sizes[i]);
        QS_CHECK(qs_envelope_seal_reply(&reply, &rlen, buf, cap - 1, plain, sizes[i],
                                        qs_keypair_public(store), shared) != 0);
        QS_CHECK(qs_envelope_seal_reply(&reply, &rlen, buf, cap, plain, sizes[i],
                                        qs_keypair_public(store), shared) == 0);
        QS_CHECK(reply >= buf && reply + rlen <= buf + cap);
        rep = quietstate__reply__unpack(NULL, rlen, reply);
        QS_CHECK(rep != NULL && rep->sealed_ack != NULL && rep->notice == NULL);
        repacked = qs_malloc(quietstate__reply__get_packed_size(rep));
        QS_CHECK_EQ_INT(quietstate__reply__pack(rep, repacked), rlen);
        QS_CHECK(memcmp(repacked, reply, rlen) == 0);
        QS_CHECK(qs_envelope_check(rep->sealed_ack, qs_keypair_public(store), &code) == 0);
        QS_CHECK(qs_envelope_open(buf, &plen, cap, QS_ENVELOPE_TO_CLIENT, rep->sealed_ack,
                                  shared) == 0);
        QS_CHECK(plen == sizes[i] && memcmp(buf, plain, plen) == 0);
        quietstate__reply__free_unpacked(rep, NULL);
        free(repacked);
        free(plain);
        free(buf);
    }
    qs_peer_cache_destroy(&cache);
}

/* Every length inside a bucket seals to the same frame length, one byte
 * more moves to the next bucket, and the last bucket holds the largest batch. */
static void
test_envelope_pads_to_buckets(void)
{
    static const struct { size_t plain, padded; } cases[] = {
        { 0, 2048 }, { 1, 2048 }, { 2047, 2048 }, { 2048, 4096 }, { 4095, 4096 },
        { 4096, 8192 }, { 16383, 16384 }, { 16384, 32768 }, { 524287, 524288 },
        { 524288, QS_ENVELOPE_MAX_PADDED }, { QS_MAX_BATCH_BYTES, QS_ENVELOPE_MAX_PADDED },
        { QS_ENVELOPE_MAX_PADDED - 1, QS_ENVELOPE_MAX_PADDED }, { QS_ENVELOPE_MAX_PADDED, 0 },
    };
    qs_peer_cache_t *cache = qs_peer_cache_new(client, 8);
    const uint8_t *shared = qs_peer_cache_get(cache, qs_keypair_public(store));
    size_t cap = qs_envelope_sealed_size(QS_MAX_BATCH_BYTES), frame_len[3] = { 0 };
    uint8_t *plain = qs_calloc(1, QS_ENVELOPE_MAX_PADDED + 1), *frame = qs_malloc(cap);
    uint8_t *opened = qs_malloc(QS_ENVELOPE_MAX_PADDED);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        QS_CHECK_EQ_INT(qs_envelope_padded_size(cases[i].plain), cases[i].padded);
    QS_CHECK(qs_envelope_seal(frame, &frame_len[0], cap, QS_ENVELOPE_TO_STORE, plain,
                              QS_ENVELOPE_MAX_PADDED, qs_keypair_public(client), shared) != 0);
    /* Whole frames: 0, 1000 and 2047 bytes of plaintext are one size. */
    QS_CHECK(qs_envelope_seal(frame, &frame_len[0], cap, QS_ENVELOPE_TO_STORE, plain, 0,
                              qs_keypair_public(client), shared) == 0);
    QS_CHECK(qs_envelope_seal(frame, &frame_len[1], cap, QS_ENVELOPE_TO_STORE, plain, 1000,
                              qs_keypair_public(client), shared) == 0);
    QS_CHECK(qs_envelope_seal(frame, &frame_len[2], cap, QS_ENVELOPE_TO_STORE, plain, 2047,
                              qs_keypair_public(client), shared) == 0);
    QS_CHECK_EQ_INT(frame_len[0], frame_len[1]);
    QS_CHECK_EQ_INT(frame_len[1], frame_len[2]);
    QS_CHECK(qs_envelope_seal(frame, &frame_len[1], cap, QS_ENVELOPE_TO_STORE, plain, 2048,
                              qs_keypair_public(client), shared) == 0);
    QS_CHECK(frame_len[1] > frame_len[0]);
    /* The largest batch: sealed, it still fits one frame, and opens whole. */
    randombytes_buf(plain, QS_MAX_BATCH_BYTES);
    QS_CHECK(qs_envelope_seal(frame, &frame_len[0], cap, QS_ENVELOPE_TO_STORE, plain,
                              QS_MAX_BATCH_BYTES, qs_keypair_public(client), shared) == 0);
    QS_CHECK(frame_len[0] <= QS_MAX_FRAME_BYTES);
    {
        Quietstate__Envelope *env = NULL;
        Quietstate__Code code = 0;
        size_t len = 0;
        QS_CHECK(qs_envelope_parse(&env, frame, frame_len[0], &code) == 0);
        QS_CHECK(env != NULL && qs_envelope_open(opened, &len, QS_ENVELOPE_MAX_PADDED,
                                                 QS_ENVELOPE_TO_STORE, env, shared) == 0);
        QS_CHECK(len == QS_MAX_BATCH_BYTES && memcmp(opened, plain, len) == 0);
        quietstate__envelope__free_unpacked(env, NULL);
    }
    free(plain);
    free(frame);
    free(opened);
    qs_peer_cache_destroy(&cache);
}

/* A v2 envelope around any padded plaintext, sealed the way envelope.c
 * documents it (crypto_kdf of the shared key, context "qs-c2s"): packs it
 * with protobuf-c into frame and returns its length. */
static size_t
seal_raw(uint8_t *frame, const uint8_t *padded, size_t padded_len, uint32_t version,
         int derive, const uint8_t shared[QS_KEY_BYTES])
{
    static const char c2s[crypto_kdf_CONTEXTBYTES] = "qs-c2s";
    Quietstate__Envelope e = QUIETSTATE__ENVELOPE__INIT;
    uint8_t key[QS_KEY_BYTES], nonce[QS_NONCE_BYTES], *ct = qs_malloc(padded_len + QS_MAC_BYTES);
    size_t len;

    if (derive)
        QS_CHECK(crypto_kdf_derive_from_key(key, sizeof key, QS_ENVELOPE_VERSION, c2s, shared) == 0);
    else
        memcpy(key, shared, sizeof key);   /* version 1: the shared key itself */
    randombytes_buf(nonce, sizeof nonce);
    crypto_box_easy_afternm(ct, padded, padded_len, nonce, key);
    e.version = version;
    e.sender_pk.data = (uint8_t *)qs_keypair_public(client);
    e.sender_pk.len = QS_KEY_BYTES;
    e.nonce.data = nonce;
    e.nonce.len = sizeof nonce;
    e.ciphertext.data = ct;
    e.ciphertext.len = padded_len + QS_MAC_BYTES;
    len = quietstate__envelope__pack(&e, frame);
    free(ct);
    return len;
}

/* Open frame for the store; 0 when it opens, and then the unpadded length. */
static int
open_raw(const uint8_t *frame, size_t len, size_t *plain_len, const uint8_t *shared)
{
    Quietstate__Envelope *env = NULL;
    Quietstate__Code code = 0;
    uint8_t out[8192];
    int rc = -1;

    memset(out, 0x5a, sizeof out);
    if (qs_envelope_parse(&env, frame, len, &code) == 0) {
        rc = qs_envelope_open(out, plain_len, sizeof out, QS_ENVELOPE_TO_STORE, env, shared);
        quietstate__envelope__free_unpacked(env, NULL);
    }
    if (rc != 0) {   /* nothing decrypted is left behind */
        for (size_t i = 0; i < 4096; i++)
            QS_CHECK(out[i] == 0x5a || out[i] == 0);
    }
    return rc;
}

/* Padding is checked after the MAC: an authentic plaintext whose padding is
 * not ISO/IEC 7816-4, or whose length is not a bucket, is still refused. */
static void
test_envelope_refuses_tampered_padding(void)
{
    qs_peer_cache_t *cache = qs_peer_cache_new(store, 4);
    const uint8_t *shared = qs_peer_cache_get(cache, qs_keypair_public(client));
    uint8_t padded[4096], frame[8192];
    size_t len = 0;

    memset(padded, 0, sizeof padded);
    memcpy(padded, "batch", 5);
    padded[5] = 0x80;
    /* Well formed: opens (so the refusals below are the padding's). */
    QS_CHECK(open_raw(frame, seal_raw(frame, padded, 2048, QS_ENVELOPE_VERSION, 1, shared),
                      &len, shared) == 0);
    QS_CHECK_EQ_INT(len, 5);
    /* Not a bucket length: 2000 and 3072 bytes. */
    QS_CHECK(open_raw(frame, seal_raw(frame, padded, 2000, QS_ENVELOPE_VERSION, 1, shared),
                      &len, shared) != 0);
    QS_CHECK(open_raw(frame, seal_raw(frame, padded, 3072, QS_ENVELOPE_VERSION, 1, shared),
                      &len, shared) != 0);
    /* A non-zero byte after the mark. */
    padded[2047] = 0x01;
    QS_CHECK(open_raw(frame, seal_raw(frame, padded, 2048, QS_ENVELOPE_VERSION, 1, shared),
                      &len, shared) != 0);
    /* A wrong mark, and no mark at all. */
    padded[2047] = 0;
    padded[5] = 0x81;
    QS_CHECK(open_raw(frame, seal_raw(frame, padded, 2048, QS_ENVELOPE_VERSION, 1, shared),
                      &len, shared) != 0);
    memset(padded, 0, sizeof padded);
    QS_CHECK(open_raw(frame, seal_raw(frame, padded, 2048, QS_ENVELOPE_VERSION, 1, shared),
                      &len, shared) != 0);
    qs_peer_cache_destroy(&cache);
}

/* A message sealed one way never opens the other way, even when its
 * plaintext would decode as the other way's message. */
static void
test_envelope_direction_is_part_of_the_key(void)
{
    Quietstate__Ack ack = QUIETSTATE__ACK__INIT;
    qs_peer_cache_t *cc = qs_peer_cache_new(client, 4), *sc = qs_peer_cache_new(store, 4);
    const uint8_t *c_shared = qs_peer_cache_get(cc, qs_keypair_public(store));
    const uint8_t *s_shared = qs_peer_cache_get(sc, qs_keypair_public(client));
    uint8_t plain[64], frame[4096], out[4096];
    const uint8_t *reply = NULL;
    size_t plen, flen = 0, rlen = 0, olen = 0;
    Quietstate__Envelope *env = NULL;
    Quietstate__Reply *rep;
    Quietstate__Code code = 0;

    ack.status = QUIETSTATE__STATUS__OK;
    ack.committed_serial = 1000;
    plen = quietstate__ack__pack(&ack, plain);
    /* The client seals an Ack-shaped plaintext towards the store... */
    QS_CHECK(qs_envelope_seal(frame, &flen, sizeof frame, QS_ENVELOPE_TO_STORE, plain, plen,
                              qs_keypair_public(client), c_shared) == 0);
    QS_CHECK(qs_envelope_parse(&env, frame, flen, &code) == 0);
    /* ...reflected at the client as from the store, it does not open. */
    memcpy(env->sender_pk.data, qs_keypair_public(store), QS_KEY_BYTES);
    QS_CHECK(qs_envelope_check(env, qs_keypair_public(store), &code) == 0);
    QS_CHECK(qs_envelope_open(out, &olen, sizeof out, QS_ENVELOPE_TO_CLIENT, env, c_shared) != 0);
    QS_CHECK(qs_envelope_open(out, &olen, sizeof out, QS_ENVELOPE_TO_STORE, env, s_shared) == 0);
    QS_CHECK(olen == plen && memcmp(out, plain, plen) == 0);
    quietstate__envelope__free_unpacked(env, NULL);

    /* The store's sealed Ack, reflected at the store as from the client. */
    QS_CHECK(qs_envelope_seal_reply(&reply, &rlen, frame, sizeof frame, plain, plen,
                                    qs_keypair_public(store), s_shared) == 0);
    rep = quietstate__reply__unpack(NULL, rlen, reply);
    QS_CHECK(rep != NULL && rep->sealed_ack != NULL);
    if (rep != NULL && rep->sealed_ack != NULL) {
        memcpy(rep->sealed_ack->sender_pk.data, qs_keypair_public(client), QS_KEY_BYTES);
        QS_CHECK(qs_envelope_check(rep->sealed_ack, qs_keypair_public(client), &code) == 0);
        QS_CHECK(qs_envelope_open(out, &olen, sizeof out, QS_ENVELOPE_TO_STORE, rep->sealed_ack,
                                  s_shared) != 0);
        QS_CHECK(qs_envelope_open(out, &olen, sizeof out, QS_ENVELOPE_TO_CLIENT,
                                  rep->sealed_ack, c_shared) == 0);
        quietstate__reply__free_unpacked(rep, NULL);
    }
    qs_peer_cache_destroy(&cc);
    qs_peer_cache_destroy(&sc);
}

/* A version 1 envelope (the shared key itself, no padding) is refused by
 * version, and would not open either if its version were rewritten. */
static void
test_envelope_refuses_old_version(void)
{
    qs_peer_cache_t *cache = qs_peer_cache_new(store, 4);
    const uint8_t *shared = qs_peer_cache_get(cache, qs_keypair_public(client));
    Quietstate__Envelope *env = NULL;
    Quietstate__Code code = 0;
    uint8_t frame[8192];
    size_t flen, len = 0;

    flen = seal_raw(frame, (const uint8_t *)"batch", 5, 1, 0, shared);
    QS_CHECK(qs_envelope_parse(&env, frame, flen, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__BAD_VERSION);
    QS_CHECK(env == NULL);
    flen = seal_raw(frame, (const uint8_t *)"batch", 5, QS_ENVELOPE_VERSION, 0, shared);
    QS_CHECK(open_raw(frame, flen, &len, shared) != 0);
    qs_peer_cache_destroy(&cache);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    client = qs_keypair_generate();
    store = qs_keypair_generate();
    QS_RUN(test_envelope_round_trip);
    QS_RUN(test_envelope_check_names_sender_mismatch);
    QS_RUN(test_envelope_seal_reply_is_protobuf_reply);
    QS_RUN(test_envelope_bytes_are_canonical_protobuf);
    QS_RUN(test_envelope_rejects_tampered_ciphertext);
    QS_RUN(test_envelope_rejects_wrong_recipient);
    QS_RUN(test_envelope_parse_rejects_bad_frames);
    QS_RUN(test_peer_cache_reuses_shared_keys);
    QS_RUN(test_envelope_pads_to_buckets);
    QS_RUN(test_envelope_refuses_tampered_padding);
    QS_RUN(test_envelope_direction_is_part_of_the_key);
    QS_RUN(test_envelope_refuses_old_version);
    qs_keypair_destroy(&client);
    qs_keypair_destroy(&store);
    return qs_test_summary();
}
