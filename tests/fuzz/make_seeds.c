/* make_seeds.c - writes the seed corpus for the quietstate fuzz targets.
 *
 * Usage: make_seeds OUTDIR   (writes OUTDIR/<target>/<seed-name> files)
 *
 * Seeds are small valid inputs plus one of each interesting rejection, built
 * with the same code the producer uses (protobuf-c pack, qs_envelope_seal with
 * the fixed key of fuzz_util.h), so that libFuzzer starts deep inside each
 * decoder instead of guessing the wire format. Envelope seeds carry a random
 * nonce, so regenerating changes their bytes but not what they cover. The
 * committed corpus in tests/fuzz/corpus/ was made with this program and then
 * grown with run.sh --merge. The envelope corpus also keeps the version 1
 * seeds (corpus/envelope/v1-*: unpadded, one key both ways) as negative
 * cases: every one must now be refused.
 */
#include "fuzz_util.h"
#include "qs_codec.h"
#include "qs_config.h"
#include "qs_envelope.h"
#include "qs_hex.h"
#include "qs_policy.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

static const char *outdir;

static void
write_seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    FILE *f;
    int n;

    n = snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (n < 0 || (size_t)n >= sizeof path)
        abort();
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    n = snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    if (n < 0 || (size_t)n >= sizeof path)
        abort();
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void
write_text(const char *target, const char *name, const char *text)
{
    write_seed(target, name, text, strlen(text));
}

/* A valid message of the given topic; vary the strings with i. */
static void
message_init(Quietstate__StateMessage *m, uint64_t serial, uint32_t topic_type, uint32_t state_id)
{
    quietstate__state_message__init(m);
    m->serial = serial;
    m->time_utc_ms = FUZZ_NOW_MS - 60000 * (int64_t)serial;
    m->topic_type = topic_type;
    m->topic_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    m->state_id = state_id;
    m->details = "";
    m->machine_name = "ws-0042";
    m->domain = "corp.example";
    m->user_name = "";
}

/* Pack a batch of n messages into a fresh buffer. */
static uint8_t *
pack_batch(size_t *len, Quietstate__StateMessage *msgs, size_t n)
{
    Quietstate__Batch b = QUIETSTATE__BATCH__INIT;
    Quietstate__StateMessage **ptrs = calloc(n > 0 ? n : 1, sizeof *ptrs);
    uint8_t *buf;

    for (size_t i = 0; i < n; i++)
        ptrs[i] = &msgs[i];
    b.n_messages = n;
    b.messages = ptrs;
    *len = quietstate__batch__get_packed_size(&b);
    buf = malloc(*len > 0 ? *len : 1);
    quietstate__batch__pack(&b, buf);
    free(ptrs);
    return buf;
}

static void
batch_seed(const char *name, Quietstate__StateMessage *msgs, size_t n)
{
    size_t len;
    uint8_t *buf = pack_batch(&len, msgs, n);
    write_seed("batch", name, buf, len);
    free(buf);
}

static void
envelope_seed(const char *name, qs_envelope_dir_t dir, const uint8_t *plain, size_t plain_len)
{
    size_t cap = qs_envelope_sealed_size(plain_len), len = 0;
    uint8_t *buf = malloc(cap);

    if (qs_envelope_seal(buf, &len, cap, dir, plain, plain_len, fuzz_sender_pk,
                         fuzz_shared_key) != 0)
        abort();
    write_seed("envelope", name, buf, len);
    free(buf);
}

/* An authentic envelope (the client-to-store key, derived as envelope.c
 * documents) around padded bytes given as they are: for the padding checks
 * that only run after the MAC has passed. */
static void
padded_seed(const char *name, const uint8_t *padded, size_t padded_len)
{
    static const char c2s[crypto_kdf_CONTEXTBYTES] = "qs-c2s";
    Quietstate__Envelope env = QUIETSTATE__ENVELOPE__INIT;
    uint8_t key[QS_KEY_BYTES], nonce[QS_NONCE_BYTES];
    uint8_t *ct = malloc(padded_len + QS_MAC_BYTES), *buf = malloc(padded_len + 256);
    size_t len;

    if (ct == NULL || buf == NULL ||
        crypto_kdf_derive_from_key(key, sizeof key, QS_ENVELOPE_VERSION, c2s, fuzz_shared_key) != 0)
        abort();
    randombytes_buf(nonce, sizeof nonce);
    crypto_box_easy_afternm(ct, padded, padded_len, nonce, key);
    env.version = QS_ENVELOPE_VERSION;
    env.sender_pk.data = (uint8_t *)fuzz_sender_pk;
    env.sender_pk.len = QS_KEY_BYTES;
    env.nonce.data = nonce;
    env.nonce.len = sizeof nonce;
    env.ciphertext.data = ct;
    env.ciphertext.len = padded_len + QS_MAC_BYTES;
    len = quietstate__envelope__pack(&env, buf);
    write_seed("envelope", name, buf, len);
    free(ct);
    free(buf);
}

/* One authentic envelope per padding rule (and one that keeps them all). */
static void
make_padding_seeds(void)
{
    uint8_t padded[QS_ENVELOPE_MIN_PADDED * 2] = { 0 };

    padded[0] = 0x80;
    padded_seed("padded-empty", padded, QS_ENVELOPE_MIN_PADDED);
    padded_seed("padded-not-a-bucket", padded, QS_ENVELOPE_MIN_PADDED - 1);
    padded_seed("padded-over-padded", padded, QS_ENVELOPE_MIN_PADDED * 2);
    padded[0] = 0;
    padded_seed("padded-no-mark", padded, QS_ENVELOPE_MIN_PADDED);
    padded[0] = 0x81;
    padded_seed("padded-wrong-mark", padded, QS_ENVELOPE_MIN_PADDED);
    padded[0] = 0x80;
    padded[QS_ENVELOPE_MIN_PADDED - 1] = 0x01;
    padded_seed("padded-junk-after-mark", padded, QS_ENVELOPE_MIN_PADDED);
}

/* An unsealed frame with chosen field lengths (for the rejection paths). */
static void
frame_seed(const char *name, uint32_t version, size_t pk_len, size_t nonce_len, size_t ct_len)
{
    Quietstate__Envelope env = QUIETSTATE__ENVELOPE__INIT;
    uint8_t zeros[64] = { 0 }, buf[256];
    size_t len;

    env.version = version;
    env.sender_pk.data = zeros;
    env.sender_pk.len = pk_len;
    env.nonce.data = zeros;
    env.nonce.len = nonce_len;
    env.ciphertext.data = zeros;
    env.ciphertext.len = ct_len;
    len = quietstate__envelope__pack(&env, buf);
    write_seed("envelope", name, buf, len);
}

static void
make_batches_and_envelopes(void)
{
    static const struct { uint32_t topic, state; } topics[] = {
        { 300, 1 }, { 301, 4 }, { 302, 3 }, { 400, 2 }, { 401, 7 },
        { 402, 14 }, { 500, 0 }, { 501, 6 }, { 700, 0 },
    };
    Quietstate__StateMessage msgs[16], *m = msgs;
    char details_max[QS_MAX_DETAILS_BYTES + 2];
    char topic_max[QS_MAX_TOPIC_ID_BYTES + 2];
    size_t len;
    uint8_t *buf;

    /* Valid: one message, every topic type, every string field set. */
    message_init(m, 1, 500, 2);
    batch_seed("valid-one-message", msgs, 1);
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        message_init(&msgs[i], i + 1, topics[i].topic, topics[i].state);
    msgs[1].details = "0x80070002 file not found";
    msgs[2].user_name = "j\xc3\xb6rg";                 /* UTF-8 */
    msgs[3].topic_id = "KB5031356";
    msgs[4].domain = "\xe6\x97\xa5\xe6\x9c\xac.example";
    msgs[5].machine_name = "\xf0\x9f\x96\xa5-host";
    batch_seed("valid-every-topic", msgs, sizeof topics / sizeof topics[0]);

    /* The same batch sealed, as a producer sends it. */
    buf = pack_batch(&len, msgs, sizeof topics / sizeof topics[0]);
    envelope_seed("sealed-every-topic", QS_ENVELOPE_TO_STORE, buf, len);
    /* Sealed the other way (an Ack's direction): must not open for the store. */
    envelope_seed("sealed-for-the-client", QS_ENVELOPE_TO_CLIENT, buf, len);
    free(buf);
    buf = pack_batch(&len, msgs, 1);
    envelope_seed("sealed-one-message", QS_ENVELOPE_TO_STORE, buf, len);
    free(buf);
    envelope_seed("sealed-empty-plaintext", QS_ENVELOPE_TO_STORE, (const uint8_t *)"", 0);
    envelope_seed("sealed-not-a-batch", QS_ENVELOPE_TO_STORE, (const uint8_t *)"\xff\xff\xff", 3);
    make_padding_seeds();

    /* Envelope rejections: one per code. */
    frame_seed("bad-version", QS_ENVELOPE_VERSION + 1, QS_KEY_BYTES, QS_NONCE_BYTES, QS_MAC_BYTES);
    frame_seed("old-version", 1, QS_KEY_BYTES, QS_NONCE_BYTES, QS_MAC_BYTES + 32);
    frame_seed("bad-key-length", QS_ENVELOPE_VERSION, 31, QS_NONCE_BYTES, QS_MAC_BYTES);
    frame_seed("bad-nonce", QS_ENVELOPE_VERSION, QS_KEY_BYTES, 23, QS_MAC_BYTES);
    frame_seed("short-ciphertext", QS_ENVELOPE_VERSION, QS_KEY_BYTES, QS_NONCE_BYTES,
               QS_MAC_BYTES - 1);
    frame_seed("mac-only", QS_ENVELOPE_VERSION, QS_KEY_BYTES, QS_NONCE_BYTES, QS_MAC_BYTES);
    write_seed("envelope", "not-protobuf", "\x0a\xff\xff\xff\xff\x0f", 6);

    /* Message rejections: one per check, each alone in a batch. */
    message_init(m, 0, 500, 2);
    batch_seed("serial-zero", msgs, 1);
    message_init(m, 1, 500, 2);
    m->time_utc_ms = FUZZ_NOW_MS + FUZZ_SKEW_MS + 1;
    batch_seed("time-in-future", msgs, 1);
    m->time_utc_ms = QS_MIN_TIME_UTC_MS - 1;
    batch_seed("time-too-old", msgs, 1);
    m->time_utc_ms = INT64_MIN;
    batch_seed("time-int64-min", msgs, 1);
    message_init(m, 1, 999, 0);
    batch_seed("unknown-topic", msgs, 1);
    message_init(m, 1, 402, 15);
    batch_seed("state-out-of-range", msgs, 1);
    message_init(m, 1, 500, 2);
    m->topic_id = "";
    batch_seed("empty-topic-id", msgs, 1);
    memset(topic_max, 'a', sizeof topic_max - 1);
    topic_max[sizeof topic_max - 1] = '\0';
    m->topic_id = topic_max;
    batch_seed("topic-id-too-long", msgs, 1);
    message_init(m, 1, 500, 2);
    memset(details_max, 'e', sizeof details_max - 1);
    details_max[sizeof details_max - 1] = '\0';
    m->details = details_max;
    batch_seed("details-too-large", msgs, 1);
    message_init(m, 1, 500, 2);
    m->machine_name = "bad\xc0\xafutf8";
    batch_seed("name-overlong-utf8", msgs, 1);
    message_init(m, 1, 500, 2);
    m->details = "\xed\xa0\x80";                       /* a surrogate */
    batch_seed("details-surrogate", msgs, 1);

    /* Batch rejections: empty, not protobuf, one message too many (empty
     * messages, two bytes each). */
    write_seed("batch", "empty", "", 0);
    write_seed("batch", "not-protobuf", "\x0a\x05\x08", 3);
    {
        size_t n = QS_MAX_BATCH_MESSAGES + 1;
        uint8_t *many = malloc(2 * n);
        for (size_t i = 0; i < n; i++) {
            many[2 * i] = 0x0a;
            many[2 * i + 1] = 0x00;
        }
        write_seed("batch", "too-many-messages", many, 2 * n);
        free(many);
    }
}

static void
make_configs(void)
{
    qs_config_t cfg;
    char text[4096];

    qs_config_defaults(&cfg);
    if (qs_config_format(text, sizeof text, &cfg) != 0)
        abort();
    write_text("config", "defaults", text);
    write_text("config", "empty", "");
    write_text("config", "every-key",
               "[broker]\nfrontend = tcp://*:5570\nbackend = ipc:///run/qs/backend\nhwm = 1\n"
               "[store]\nbackend = sqlite\nskew_limit_seconds = 0\n"
               "group_commit_max_messages = 1000000\n"
               "[retention]\ninterval_seconds = 604800\n");
    write_text("config", "comments-crlf-bom",
               "\xef\xbb\xbf; written by hand\r\n[broker]\r\n# loopback only\r\n"
               "frontend=inproc://front ; inline comment\r\nhwm : 500\r\n");
    write_text("config", "continuation", "[store]\nskew_limit_seconds = 60\n  120\n");
    write_text("config", "unknown-key", "[broker]\nfronted = tcp://127.0.0.1:1\n");
    write_text("config", "out-of-range", "[retention]\ninterval_seconds = 604801\n");
    write_text("config", "bad-endpoint", "[broker]\nbackend = udp://127.0.0.1:1\n");
    write_text("config", "not-ini", "[broker\nhwm\n");
}

static void
make_policies(void)
{
    qs_policy_t p;
    char *json;

    qs_policy_defaults(&p);
    json = qs_policy_to_json(&p);
    write_text("policy", "defaults", json);
    free(json);
    write_text("policy", "every-field",
               "{\"max_age_days\": 90, \"topic_max_age_days\": {\"500\": 30, \"402\": 365},\n"
               " \"collect_user_names\": true, \"k\": 5, \"time_precision\": \"minute\"}");
    write_text("policy", "precision-ms", "{\"time_precision\":\"millisecond\",\"k\":1}");
    write_text("policy", "precision-day", "{\"time_precision\":\"day\",\"max_age_days\":36500}");
    write_text("policy", "empty-object", "{}");
    write_text("policy", "unknown-field", "{\"max_age\": 90}");
    write_text("policy", "not-integer", "{\"k\": 2.5}");
    write_text("policy", "exponent", "{\"k\": 1e3, \"max_age_days\": 3.65e4}");
    write_text("policy", "unknown-topic", "{\"topic_max_age_days\": {\"999\": 30}}");
    write_text("policy", "not-object", "[1, 2, 3]");
}

static void
make_times(void)
{
    write_text("time", "plain", "2026-11-25T12:00:00Z");
    write_text("time", "with-ms", "2026-11-25T12:00:00.123Z");
    write_text("time", "one-digit-ms", "2000-01-01T00:00:00.5Z");
    write_text("time", "many-digits", "2024-02-29T23:59:59.999999Z");
    write_text("time", "leap-second", "2016-12-31T23:59:60Z");
    write_text("time", "epoch", "1970-01-01T00:00:00.000Z");
    write_text("time", "year-zero", "0000-03-01T00:00:00Z");
    write_text("time", "year-9999", "9999-12-31T23:59:59.999Z");
    write_text("time", "not-leap", "2100-02-29T00:00:00Z");
    write_text("time", "no-z", "2026-11-25T12:00:00");
    write_text("time", "offset", "2026-11-25T12:00:00+01:00");
    /* The binary half of fuzz_time: 8 bytes read as a ms count. */
    write_seed("time", "raw-ms", "\x00\x10\x7a\x4f\x9b\x01\x00\x00", 8);
}

/* Client profiles in the format of common/qs_profile.h, written by hand here
 * (make_seeds does not link the producer): a fixed test key pair. */
static void
make_profiles(void)
{
    static const char *const header = "# quietstate client profile (qsctl enroll)\n";
    uint8_t sk[QS_KEY_BYTES], pk[QS_KEY_BYTES];
    char sk_hex[QS_HEX_KEY_CHARS + 1], pk_hex[QS_HEX_KEY_CHARS + 1];
    char srv_hex[QS_HEX_KEY_CHARS + 1], text[4096], name[QS_MAX_NAME_BYTES + 1];

    for (size_t i = 0; i < sizeof sk; i++)
        sk[i] = (uint8_t)(0x40 + i);
    if (crypto_scalarmult_base(pk, sk) != 0)
        abort();
    qs_hex_encode(sk_hex, sizeof sk_hex, sk, sizeof sk);
    qs_hex_encode(pk_hex, sizeof pk_hex, pk, sizeof pk);
    qs_hex_encode(srv_hex, sizeof srv_hex, fuzz_sender_pk, sizeof fuzz_sender_pk);

#define PROFILE(seed, fmt, ...)                                              \
    do {                                                                     \
        int n_ = snprintf(text, sizeof text, fmt, __VA_ARGS__);              \
        if (n_ < 0 || (size_t)n_ >= sizeof text)                             \
            abort();                                                         \
        write_text("profile", seed, text);                                   \
    } while (0)

    PROFILE("valid", "%s[client]\nname = ws-0042\npublic_key = %s\nsecret_key = %s\n"
            "[server]\nendpoint = tcp://127.0.0.1:5570\nbroker_public_key = %s\n"
            "store_public_key = %s\n", header, pk_hex, sk_hex, srv_hex, srv_hex);
    PROFILE("server-first-crlf-comments",
            "; hand edited\r\n[server]\r\n\tendpoint=ipc:///run/qs/front\r\n"
            "store_public_key = %s\r\nbroker_public_key = %s\r\n\r\n[ client ]\r\n"
            "# the key pair\r\nsecret_key = %s\r\npublic_key = %s\r\n"
            "name = j\xc3\xb6rg's laptop\r\n", srv_hex, srv_hex, sk_hex, pk_hex);
    memset(name, 'n', QS_MAX_NAME_BYTES);
    name[QS_MAX_NAME_BYTES] = '\0';
    PROFILE("longest-name", "[client]\nname = %s\npublic_key = %s\nsecret_key = %s\n"
            "[server]\nendpoint = inproc://x\nbroker_public_key = %s\nstore_public_key = %s\n",
            name, pk_hex, sk_hex, srv_hex, srv_hex);
    PROFILE("mismatched-public-key", "[client]\nname = c\npublic_key = %s\nsecret_key = %s\n"
            "[server]\nendpoint = tcp://h:1\nbroker_public_key = %s\nstore_public_key = %s\n",
            srv_hex, sk_hex, srv_hex, srv_hex);
    PROFILE("given-twice", "[client]\nname = a\nname = b\npublic_key = %s\nsecret_key = %s\n"
            "[server]\nendpoint = tcp://h:1\nbroker_public_key = %s\nstore_public_key = %s\n",
            pk_hex, sk_hex, srv_hex, srv_hex);
    PROFILE("missing-store-key", "[client]\nname = c\npublic_key = %s\nsecret_key = %s\n"
            "[server]\nendpoint = tcp://h:1\nbroker_public_key = %s\n", pk_hex, sk_hex, srv_hex);
    write_text("profile", "unknown-section", "[clients]\nname = c\n");
    write_text("profile", "bad-header", "[client\n");
    {
        static const char not_text[] = "[client]\nname = a\0b\n";
        write_seed("profile", "not-text", not_text, sizeof not_text - 1);
    }
#undef PROFILE
}

static void
make_utf8(void)
{
    write_text("utf8", "ascii", "ws-0042.corp.example");
    write_text("utf8", "two-three-four", "j\xc3\xb6rg \xe6\x97\xa5 \xf0\x9f\x96\xa5 \xf4\x8f\xbf\xbf");
    write_text("utf8", "overlong", "\xc0\xaf\xe0\x80\xaf\xf0\x80\x80\xaf");
    write_text("utf8", "surrogate", "\xed\xa0\x80\xed\xbf\xbf");
    write_text("utf8", "beyond-max", "\xf4\x90\x80\x80\xf5\x80\x80\x80");
    write_text("utf8", "truncated", "ab\xe6\x97");
    write_seed("utf8", "nul", "a\0b", 3);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds OUTDIR\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    make_batches_and_envelopes();
    make_configs();
    make_policies();
    make_times();
    make_profiles();
    make_utf8();
    return 0;
}
