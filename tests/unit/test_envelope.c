/* test_envelope.c - end-to-end sealing: round trip, tamper and wrong-key
 * detection, envelope frame checks, peer-key cache. */
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
    QS_CHECK(qs_envelope_seal(out, &len, cap, (const uint8_t *)text, strlen(text),
                              qs_keypair_public(client), shared) == 0);
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
            qs_envelope_open((uint8_t *)out, &plain_len, cap - 1, env, shared) == 0) {
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
    uint8_t frame[512];
    char out[128];
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

        QS_CHECK(qs_envelope_seal(frame, &len, cap, plain, sizes[i],
                                  qs_keypair_public(client), shared) == 0);
        QS_CHECK(qs_envelope_parse(&env, frame, len, &code) == 0);
        if (env != NULL) {
            QS_CHECK_EQ_INT(env->ciphertext.len, sizes[i] + QS_MAC_BYTES);
            repacked = quietstate__envelope__pack(env, again);
            QS_CHECK_EQ_INT(repacked, len);
            QS_CHECK(repacked == len && memcmp(frame, again, len) == 0);
            quietstate__envelope__free_unpacked(env, NULL);
        }
        QS_CHECK(qs_envelope_seal(frame, &len, cap - 1, plain, sizes[i],
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
    uint8_t frame[512];
    char out[128];
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
    uint8_t frame[512], plain[128];
    size_t len = seal_sample(frame, sizeof frame, "for the store only"), plain_len;

    QS_CHECK(qs_envelope_parse(&env, frame, len, &code) == 0);
    QS_CHECK(qs_envelope_open(plain, &plain_len, sizeof plain, env,
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

    e.version = 2;
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
    uint8_t frame[512];
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
        QS_CHECK(qs_envelope_open(buf, &plen, cap, rep->sealed_ack, shared) == 0);
        QS_CHECK(plen == sizes[i] && memcmp(buf, plain, plen) == 0);
        quietstate__reply__free_unpacked(rep, NULL);
        free(repacked);
        free(plain);
        free(buf);
    }
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
    qs_keypair_destroy(&client);
    qs_keypair_destroy(&store);
    return qs_test_summary();
}
