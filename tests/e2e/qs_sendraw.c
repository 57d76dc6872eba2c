/* qs_sendraw.c - send one hand-built (and optionally corrupted) batch to a broker.
 *
 * A test tool, not a producer: it loads a client profile, builds a Batch from
 * the flags, seals it for the store with the common/ envelope module exactly
 * as qs-producer does, then applies one corruption chosen by --corrupt (see
 * `--list`) to the batch, the envelope or the frames, sends it over a real
 * CurveZMQ DEALER to the broker named in the profile and prints every reply:
 * who answered (store: a sealed Ack it decrypts and checks; broker: a notice),
 * the status, the code, committed_serial and each rejected serial. It has no
 * outbox: serials are whatever --serial says.
 *
 * Exit status: 0 when a reply arrived (and matched every --expect given),
 * 3 when no reply arrived within --timeout (0 if --expect none was given),
 * 1 when a reply did not match --expect, 2 on a usage error, 4 when the
 * profile or the local set-up failed.
 *
 * --expect STATUS[:CODE] may be given several times (STATUS "*" is any; "none"
 * is no reply): the reply matches when
 * its batch status (and code), or any rejected message's, equals one of them.
 */
#include "qs_profile.h"
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_envelope.h"
#include "qs_keys.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_zmqutil.h"
#include "quietstate.pb-c.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define EXIT_NO_REPLY 3
#define EXIT_SETUP 4
#define MAX_EXPECT 16
#define MAX_FRAMES 4

typedef struct {
    const char *name;
    const char *what;       /* what it does */
    const char *expect;     /* the answer the contract calls for */
} kind_t;

static const kind_t kinds[] = {
    { "none", "a valid batch", "OK" },
    { "not-protobuf", "the frame is 64 bytes of 0xff, not an Envelope", "BAD_ENVELOPE:NOT_PROTOBUF" },
    { "empty-frame", "a zero-length frame", "BAD_ENVELOPE:NOT_PROTOBUF (or BAD_FRAMES)" },
    { "truncated", "a valid envelope cut to half its length", "BAD_ENVELOPE:NOT_PROTOBUF" },
    { "oversized", "an envelope frame of QS_MAX_FRAME_BYTES + 1024 bytes", "TOO_LARGE:FRAME_TOO_LARGE" },
    { "huge", "a 2 MiB frame, beyond the socket's maximum message size", "no reply (disconnected)" },
    { "too-many", "QS_MAX_BATCH_MESSAGES + 1 valid messages in one batch", "TOO_LARGE:TOO_MANY_MESSAGES" },
    { "wrong-version", "envelope version QS_ENVELOPE_VERSION + 1", "BAD_ENVELOPE:BAD_VERSION" },
    { "old-version", "a version 1 envelope (no padding, one key both ways)", "BAD_ENVELOPE:BAD_VERSION (a plain notice)" },
    { "reflected-ack", "the store's sealed ack to an empty batch, sent back as the client's envelope", "BAD_ENVELOPE:DECRYPT_FAILED" },
    { "bad-key-length", "a 31-byte sender_pk", "BAD_ENVELOPE:BAD_KEY_LENGTH" },
    { "bad-nonce-length", "a 23-byte nonce", "BAD_ENVELOPE:BAD_NONCE" },
    { "sender-mismatch", "sealed by and naming another key than the transport key", "BAD_ENVELOPE:SENDER_MISMATCH" },
    { "tamper", "one ciphertext byte flipped", "BAD_ENVELOPE:DECRYPT_FAILED" },
    { "wrong-nonce", "one nonce byte flipped", "BAD_ENVELOPE:DECRYPT_FAILED" },
    { "wrong-key", "sealed for a random key instead of the store's", "BAD_ENVELOPE:DECRYPT_FAILED" },
    { "replay", "the same valid frame sent twice (the second reply is printed last)", "OK, messages DUPLICATE" },
    { "batch-not-protobuf", "a valid seal around 64 bytes of 0xff", "BAD_MESSAGE:BATCH_NOT_PROTOBUF" },
    { "empty-batch", "a valid seal around a Batch with no message", "BAD_MESSAGE:EMPTY_BATCH" },
    { "serial-zero", "every message has serial 0", "BAD_MESSAGE:SERIAL_ZERO" },
    { "dup-serial", "two messages with the same serial in one batch", "BAD_MESSAGE:SERIAL_REPEATED" },
    { "future-time", "time one day ahead of now", "CLOCK_SKEW:TIME_IN_FUTURE" },
    { "old-time", "time 1999-12-31T00:00:00Z", "BAD_MESSAGE:TIME_TOO_OLD (or CLOCK_SKEW)" },
    { "unknown-topic", "topic_type 999", "BAD_MESSAGE:UNKNOWN_TOPIC_TYPE" },
    { "state-range", "topic_type 500 with state_id 99", "BAD_MESSAGE:STATE_OUT_OF_RANGE" },
    { "bad-utf8-topic", "topic_id with bytes ff fe (not UTF-8)", "BAD_MESSAGE:BAD_TOPIC_ID" },
    { "long-topic", "topic_id of QS_MAX_TOPIC_ID_BYTES + 1 bytes", "BAD_MESSAGE:BAD_TOPIC_ID" },
    { "empty-topic", "an empty topic_id", "BAD_MESSAGE:BAD_TOPIC_ID" },
    { "long-details", "details of QS_MAX_DETAILS_BYTES + 1 bytes", "BAD_MESSAGE:DETAILS_TOO_LARGE" },
    { "bad-utf8-details", "details with bytes c3 28 (not UTF-8)", "BAD_MESSAGE:BAD_STRING" },
    { "long-machine", "machine_name of QS_MAX_NAME_BYTES + 1 bytes", "BAD_MESSAGE:BAD_STRING" },
    { "sql-text", "SQL in topic_id, machine, domain, user and details", "OK (stored as data)" },
    { "extra-frames", "a valid envelope followed by a second frame", "BAD_ENVELOPE:BAD_FRAMES" },
    { "fresh-key", "a never-enrolled client key (same as --fresh-key)", "no reply (ZAP refuses)" },
};

typedef struct {
    const char *profile_path;
    const char *endpoint;
    const char *corrupt;
    int timeout_ms;
    uint64_t serial;
    long count;
    uint32_t topic_type;
    const char *topic_id;
    uint32_t state_id;
    const char *machine;
    const char *domain;
    const char *user;
    const char *details;
    int64_t time_ms;
    int have_time;
    int fresh_key;
    int repeat;
    int json;
    const char *expect[MAX_EXPECT];
    int n_expect;
} opts_t;

/* A frame being built: owned bytes. */
typedef struct {
    uint8_t *data;
    size_t len;
} buf_t;

static void
usage(FILE *out, int rc)
{
    fprintf(out,
        "usage: qs_sendraw --profile FILE [options]\n"
        "  --profile FILE        client profile written by qsctl enroll\n"
        "  --endpoint URL        connect here instead of the profile's endpoint\n"
        "  --corrupt KIND        what to break (default none; --list shows the kinds)\n"
        "  --fresh-key           use a fresh, never-enrolled client key\n"
        "  --serial N            first serial (default 1)\n"
        "  --count N             messages in the batch (default 1)\n"
        "  --topic-type T        (default 500)\n"
        "  --topic-id ID         (default KB5030211)\n"
        "  --state S             (default 2)\n"
        "  --machine NAME        (default PC-SENDRAW)\n"
        "  --domain D            (default CORP)\n"
        "  --user U              (default none)\n"
        "  --details TEXT        (default none)\n"
        "  --time-ms MS          message time, UTC ms (default now)\n"
        "  --repeat N            send the same frames N times (default 1)\n"
        "  --timeout MS          wait this long for each reply (default 5000)\n"
        "  --expect S[:C]|none   exit 1 unless the last reply matches (repeatable)\n"
        "  --format text|json    output (default text)\n"
        "  --list                print the corruption kinds and exit\n"
        "  --help\n"
        "exit: 0 reply (as expected), 1 not as expected, 2 usage, 3 no reply, 4 set-up\n");
    exit(rc);
}

static void
list_kinds(void)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        printf("%-20s %s\n%-20s   expected: %s\n", kinds[i].name, kinds[i].what, "",
               kinds[i].expect);
}

static int
kind_known(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return 1;
    return 0;
}

static int
is(const opts_t *o, const char *kind)
{
    return strcmp(o->corrupt, kind) == 0;
}

static int
parse_u64(uint64_t *out, const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
repeat_char(char c, size_t n)
{
    char *s = qs_malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Pack the Batch the options describe (with the message-level corruptions). */
static buf_t
build_batch(const opts_t *o)
{
    buf_t out = { NULL, 0 };
    Quietstate__Batch batch = QUIETSTATE__BATCH__INIT;
    Quietstate__StateMessage *msgs, **ptrs;
    size_t n = (size_t)o->count;
    char *long_topic = NULL, *long_details = NULL, *long_machine = NULL;
    int64_t t = o->have_time ? o->time_ms : now_ms();

    if (is(o, "too-many"))
        n = QS_MAX_BATCH_MESSAGES + 1;
    else if (is(o, "dup-serial") && n < 2)
        n = 2;
    else if (is(o, "empty-batch") || is(o, "reflected-ack"))
        n = 0;
    if (is(o, "future-time"))
        t = now_ms() + QS_MS_PER_DAY;
    else if (is(o, "old-time"))
        t = QS_MIN_TIME_UTC_MS - QS_MS_PER_DAY;
    long_topic = repeat_char('K', QS_MAX_TOPIC_ID_BYTES + 1);
    long_details = repeat_char('d', QS_MAX_DETAILS_BYTES + 1);
    long_machine = repeat_char('m', QS_MAX_NAME_BYTES + 1);

    msgs = qs_calloc(n ? n : 1, sizeof *msgs);
    ptrs = qs_calloc(n ? n : 1, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        Quietstate__StateMessage *m = &msgs[i];
        quietstate__state_message__init(m);
        m->serial = is(o, "serial-zero") ? 0 : is(o, "dup-serial") ? o->serial : o->serial + i;
        m->time_utc_ms = t;
        m->topic_type = is(o, "unknown-topic") ? 999 : o->topic_type;
        m->state_id = is(o, "state-range") ? 99 : o->state_id;
        m->topic_id = (char *)o->topic_id;
        m->machine_name = (char *)o->machine;
        m->domain = (char *)o->domain;
        m->user_name = (char *)(o->user ? o->user : "");
        m->details = (char *)(o->details ? o->details : "");
        if (is(o, "state-range"))
            m->topic_type = 500;
        if (is(o, "bad-utf8-topic"))
            m->topic_id = "KB\xff\xfe" "5030211";
        else if (is(o, "long-topic"))
            m->topic_id = long_topic;
        else if (is(o, "empty-topic"))
            m->topic_id = "";
        if (is(o, "long-details"))
            m->details = long_details;
        else if (is(o, "bad-utf8-details"))
            m->details = "error \xc3\x28 0x80070005";
        if (is(o, "long-machine"))
            m->machine_name = long_machine;
        if (is(o, "sql-text")) {
            m->topic_id = "KB1'; DROP TABLE latest;--";
            m->machine_name = "PC'); DELETE FROM history; --";
            m->domain = "CORP\" OR 1=1 --";
            m->user_name = "bob'; UPDATE counters SET n=0;--";
            m->details = "0x80070005'); DROP TABLE clients;--";
        }
        ptrs[i] = m;
    }
    batch.n_messages = n;
    batch.messages = ptrs;
    out.len = quietstate__batch__get_packed_size(&batch);
    out.data = qs_malloc(out.len ? out.len : 1);
    quietstate__batch__pack(&batch, out.data);
    free(msgs);
    free(ptrs);
    free(long_topic);
    free(long_details);
    free(long_machine);
    return out;
}

/* Seal plain with common/ (qs_envelope_seal), then take the envelope apart
 * again (qs_envelope_parse) and apply the envelope-level corruption (old-version:
 * what version 1 sealed, the Batch unpadded with the shared key itself). */
static int
build_frame(buf_t *frame, const opts_t *o, const buf_t *plain, const qs_keypair_t *client,
            const uint8_t store_pk[QS_KEY_BYTES])
{
    uint8_t shared[QS_KEY_BYTES];
    uint8_t other_pk[QS_KEY_BYTES], other_sk[QS_KEY_BYTES];
    const uint8_t *sender_pk = qs_keypair_public(client);
    const uint8_t *seal_store_pk = store_pk;
    const uint8_t *seal_sk = qs_keypair_secret(client);
    uint8_t *sealed;
    size_t sealed_len = 0, cap = qs_envelope_sealed_size(plain->len);
    Quietstate__Envelope *env = NULL, out = QUIETSTATE__ENVELOPE__INIT;
    Quietstate__Code code = QUIETSTATE__CODE__CODE_NONE;
    uint8_t *ct = NULL;
    size_t ct_len;

    crypto_box_keypair(other_pk, other_sk);
    if (is(o, "sender-mismatch")) {
        sender_pk = other_pk;
        seal_sk = other_sk;
    } else if (is(o, "wrong-key")) {
        seal_store_pk = other_pk;
    }
    if (crypto_box_beforenm(shared, seal_store_pk, seal_sk) != 0) {
        fprintf(stderr, "qs_sendraw: the store public key is weak\n");
        return -1;
    }
    sealed = qs_malloc(cap);
    if (qs_envelope_seal(sealed, &sealed_len, cap, QS_ENVELOPE_TO_STORE, plain->data, plain->len,
                         sender_pk, shared) != 0) {
        fprintf(stderr, "qs_sendraw: qs_envelope_seal failed\n");
        free(sealed);
        return -1;
    }
    sodium_memzero(other_sk, sizeof other_sk);
    if (qs_envelope_parse(&env, sealed, sealed_len, &code) != 0) {
        fprintf(stderr, "qs_sendraw: our own envelope does not parse: %s\n", qs_code_name(code));
        free(sealed);
        return -1;
    }
    free(sealed);

    ct_len = is(o, "oversized") ? QS_MAX_FRAME_BYTES + 1024 : is(o, "huge") ? 2u * 1024u * 1024u
             : is(o, "old-version") ? plain->len + QS_MAC_BYTES : env->ciphertext.len;
    ct = qs_malloc(ct_len);
    if (is(o, "old-version"))
        crypto_box_easy_afternm(ct, plain->data, plain->len, env->nonce.data, shared);
    else if (ct_len == env->ciphertext.len)
        memcpy(ct, env->ciphertext.data, ct_len);
    else
        randombytes_buf(ct, ct_len);
    sodium_memzero(shared, sizeof shared);

    out.version = env->version;
    out.sender_pk = env->sender_pk;
    out.nonce = env->nonce;
    out.ciphertext.data = ct;
    out.ciphertext.len = ct_len;
    if (is(o, "wrong-version"))
        out.version = QS_ENVELOPE_VERSION + 1;
    else if (is(o, "old-version"))
        out.version = 1;
    else if (is(o, "bad-key-length"))
        out.sender_pk.len = QS_KEY_BYTES - 1;
    else if (is(o, "bad-nonce-length"))
        out.nonce.len = QS_NONCE_BYTES - 1;
    else if (is(o, "tamper"))
        ct[ct_len / 2] ^= 0x01;
    else if (is(o, "wrong-nonce"))
        env->nonce.data[0] ^= 0x80;   /* out.nonce points at it */

    frame->len = quietstate__envelope__get_packed_size(&out);
    frame->data = qs_malloc(frame->len);
    quietstate__envelope__pack(&out, frame->data);
    if (is(o, "truncated"))
        frame->len /= 2;
    free(ct);
    quietstate__envelope__free_unpacked(env, NULL);
    return 0;
}

/* One reply, decoded. */
typedef struct {
    int from_store;                 /* 1 sealed ack, 0 broker notice */
    int sealed_ok;                  /* the sealed ack decrypted and came from the store */
    Quietstate__Ack *ack;           /* NULL when nothing decodable */
    Quietstate__Ack *to_free_ack;
    Quietstate__Reply *reply;
    int not_reply;                  /* the frame was not a Reply */
    size_t frames;
} answer_t;

static void
answer_free(answer_t *a)
{
    if (a->to_free_ack)
        quietstate__ack__free_unpacked(a->to_free_ack, NULL);
    if (a->reply)
        quietstate__reply__free_unpacked(a->reply, NULL);
    memset(a, 0, sizeof *a);
}

static void
decode_answer(answer_t *a, const uint8_t *data, size_t len, const uint8_t shared[QS_KEY_BYTES],
              const uint8_t store_pk[QS_KEY_BYTES])
{
    a->reply = quietstate__reply__unpack(NULL, len, data);
    if (a->reply == NULL) {
        a->not_reply = 1;
        return;
    }
    if (a->reply->sealed_ack != NULL) {
        const Quietstate__Envelope *e = a->reply->sealed_ack;
        uint8_t *plain;
        size_t plain_len = 0;

        a->from_store = 1;
        if (e->sender_pk.len != QS_KEY_BYTES || memcmp(e->sender_pk.data, store_pk, QS_KEY_BYTES) != 0 ||
            e->nonce.len != QS_NONCE_BYTES || e->ciphertext.len < QS_MAC_BYTES)
            return;
        plain = qs_malloc(e->ciphertext.len);
        if (qs_envelope_open(plain, &plain_len, e->ciphertext.len, QS_ENVELOPE_TO_CLIENT, e,
                             shared) == 0) {
            a->to_free_ack = quietstate__ack__unpack(NULL, plain_len, plain);
            a->ack = a->to_free_ack;
            a->sealed_ok = a->ack != NULL;
        }
        free(plain);
    } else if (a->reply->notice != NULL) {
        a->ack = a->reply->notice;
    }
}

static const char *
answer_source(const answer_t *a)
{
    if (a->not_reply)
        return "garbage";
    if (a->from_store)
        return a->sealed_ok ? "store" : "store-unverified";
    return a->ack ? "broker" : "empty";
}

static void
print_answer(const opts_t *o, int n, const answer_t *a)
{
    const Quietstate__Ack *k = a->ack;

    if (o->json) {
        cJSON *j = cJSON_CreateObject(), *rej;
        char *s;

        cJSON_AddNumberToObject(j, "reply", n);
        cJSON_AddStringToObject(j, "from", answer_source(a));
        cJSON_AddNumberToObject(j, "frames", (double)a->frames);
        if (k) {
            cJSON_AddStringToObject(j, "status", qs_status_name(k->status));
            cJSON_AddStringToObject(j, "code", qs_code_name(k->code));
            cJSON_AddNumberToObject(j, "committed_serial", (double)k->committed_serial);
            cJSON_AddNumberToObject(j, "first_serial", (double)k->first_serial);
            cJSON_AddNumberToObject(j, "last_serial", (double)k->last_serial);
            cJSON_AddStringToObject(j, "reason", k->reason ? k->reason : "");
            rej = cJSON_AddArrayToObject(j, "rejected");
            for (size_t i = 0; i < k->n_rejected; i++) {
                cJSON *r = cJSON_CreateObject();
                cJSON_AddNumberToObject(r, "serial", (double)k->rejected[i]->serial);
                cJSON_AddStringToObject(r, "status", qs_status_name(k->rejected[i]->status));
                cJSON_AddStringToObject(r, "code", qs_code_name(k->rejected[i]->code));
                cJSON_AddStringToObject(r, "reason", k->rejected[i]->reason ? k->rejected[i]->reason : "");
                cJSON_AddItemToArray(rej, r);
            }
        }
        s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
        return;
    }
    printf("reply %d: from=%s", n, answer_source(a));
    if (k) {
        printf(" status=%s code=%s committed=%llu first=%llu last=%llu rejected=%zu reason=\"%s\"",
               qs_status_name(k->status), qs_code_name(k->code),
               (unsigned long long)k->committed_serial, (unsigned long long)k->first_serial,
               (unsigned long long)k->last_serial, k->n_rejected, k->reason ? k->reason : "");
    }
    printf("\n");
    if (k)
        for (size_t i = 0; i < k->n_rejected; i++)
            printf("  rejected serial=%llu status=%s code=%s reason=\"%s\"\n",
                   (unsigned long long)k->rejected[i]->serial,
                   qs_status_name(k->rejected[i]->status), qs_code_name(k->rejected[i]->code),
                   k->rejected[i]->reason ? k->rejected[i]->reason : "");
}

static int
one_matches(const char *want, const char *status, const char *code)
{
    const char *colon = strchr(want, ':');
    size_t slen = colon ? (size_t)(colon - want) : strlen(want);

    if (!(slen == 1 && want[0] == '*') &&
        (strlen(status) != slen || strncmp(want, status, slen) != 0))
        return 0;
    return colon == NULL || strcmp(colon + 1, code) == 0;
}

/* 1 when the answer (or its absence, a == NULL) matches one of the expectations. */
static int
matches(const opts_t *o, const answer_t *a)
{
    for (int i = 0; i < o->n_expect; i++) {
        const char *w = o->expect[i];
        const Quietstate__Ack *k = a ? a->ack : NULL;

        if (strcmp(w, "none") == 0) {
            if (a == NULL)
                return 1;
            continue;
        }
        if (k == NULL)
            continue;
        if (a->from_store && !a->sealed_ok)
            continue;
        if (one_matches(w, qs_status_name(k->status), qs_code_name(k->code)))
            return 1;
        for (size_t r = 0; r < k->n_rejected; r++)
            if (one_matches(w, qs_status_name(k->rejected[r]->status),
                            qs_code_name(k->rejected[r]->code)))
                return 1;
    }
    return 0;
}

/* reflected-ack: the next frame is a's sealed ack, renamed as the client's. */
static int
reflect_ack(buf_t *frame, const answer_t *a, const uint8_t client_pk[QS_KEY_BYTES])
{
    Quietstate__Envelope e;

    if (a->reply == NULL || a->reply->sealed_ack == NULL)
        return -1;
    e = *a->reply->sealed_ack;
    e.sender_pk.data = (uint8_t *)client_pk;
    e.sender_pk.len = QS_KEY_BYTES;
    free(frame->data);
    frame->data = qs_malloc(quietstate__envelope__get_packed_size(&e));
    frame->len = quietstate__envelope__pack(&e, frame->data);
    return 0;
}

static int
send_frames(void *sock, buf_t *frames, size_t n_frames)
{
    for (size_t i = 0; i < n_frames; i++) {
        int flags = i + 1 < n_frames ? ZMQ_SNDMORE : 0;
        if (zmq_send(sock, frames[i].data, frames[i].len, flags) < 0) {
            fprintf(stderr, "qs_sendraw: zmq_send: %s\n", zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
}

/* Wait for one multipart reply; decode the first frame. 0 got one, 1 timeout. */
static int
receive_answer(void *sock, int timeout_ms, answer_t *a, const uint8_t shared[QS_KEY_BYTES],
               const uint8_t store_pk[QS_KEY_BYTES])
{
    zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
    int rc = zmq_poll(&item, 1, timeout_ms);
    int more = 1;
    size_t more_len = sizeof more;

    memset(a, 0, sizeof *a);
    if (rc <= 0)
        return 1;
    while (more) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, sock, 0) < 0) {
            zmq_msg_close(&msg);
            return 1;
        }
        if (a->frames == 0)
            decode_answer(a, zmq_msg_data(&msg), zmq_msg_size(&msg), shared, store_pk);
        a->frames++;
        zmq_msg_close(&msg);
        if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len) != 0)
            more = 0;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "profile", required_argument, NULL, 'p' },
        { "endpoint", required_argument, NULL, 'E' },
        { "corrupt", required_argument, NULL, 'c' },
        { "fresh-key", no_argument, NULL, 'F' },
        { "serial", required_argument, NULL, 's' },
        { "count", required_argument, NULL, 'n' },
        { "topic-type", required_argument, NULL, 'T' },
        { "topic-id", required_argument, NULL, 'I' },
        { "state", required_argument, NULL, 'S' },
        { "machine", required_argument, NULL, 'm' },
        { "domain", required_argument, NULL, 'd' },
        { "user", required_argument, NULL, 'u' },
        { "details", required_argument, NULL, 'D' },
        { "time-ms", required_argument, NULL, 't' },
        { "repeat", required_argument, NULL, 'r' },
        { "timeout", required_argument, NULL, 'w' },
        { "expect", required_argument, NULL, 'x' },
        { "format", required_argument, NULL, 'f' },
        { "list", no_argument, NULL, 'L' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    opts_t o = {
        .corrupt = "none", .timeout_ms = 5000, .serial = 1, .count = 1, .topic_type = 500,
        .topic_id = "KB5030211", .state_id = 2, .machine = "PC-SENDRAW", .domain = "CORP",
        .repeat = 1,
    };
    char errmsg[512];
    qs_profile_t *profile = NULL;
    qs_keypair_t *fresh = NULL;
    const qs_keypair_t *client;
    const uint8_t *store_pk;
    uint8_t shared[QS_KEY_BYTES];
    buf_t plain = { NULL, 0 }, frames[MAX_FRAMES];
    size_t n_frames = 0;
    void *ctx = NULL, *sock = NULL;
    int c, exit_rc = 0, last_got = 0;
    uint64_t u;
    answer_t last;

    memset(frames, 0, sizeof frames);
    memset(&last, 0, sizeof last);
    qs_log_init("qs_sendraw", -1);
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o.profile_path = optarg; break;
        case 'E': o.endpoint = optarg; break;
        case 'c': o.corrupt = optarg; break;
        case 'F': o.fresh_key = 1; break;
        case 's': if (parse_u64(&o.serial, optarg) != 0) usage(stderr, 2); break;
        case 'n':
            if (parse_u64(&u, optarg) != 0 || u > 100000) usage(stderr, 2);
            o.count = (long)u;
            break;
        case 'T': if (parse_u64(&u, optarg) != 0 || u > UINT32_MAX) usage(stderr, 2);
            o.topic_type = (uint32_t)u; break;
        case 'I': o.topic_id = optarg; break;
        case 'S': if (parse_u64(&u, optarg) != 0 || u > UINT32_MAX) usage(stderr, 2);
            o.state_id = (uint32_t)u; break;
        case 'm': o.machine = optarg; break;
        case 'd': o.domain = optarg; break;
        case 'u': o.user = optarg; break;
        case 'D': o.details = optarg; break;
        case 't': {
            char *end;
            errno = 0;
            o.time_ms = strtoll(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0') usage(stderr, 2);
            o.have_time = 1;
            break;
        }
        case 'r': if (parse_u64(&u, optarg) != 0 || u < 1 || u > 1000) usage(stderr, 2);
            o.repeat = (int)u; break;
        case 'w': if (parse_u64(&u, optarg) != 0 || u > 600000) usage(stderr, 2);
            o.timeout_ms = (int)u; break;
        case 'x':
            if (o.n_expect == MAX_EXPECT) usage(stderr, 2);
            o.expect[o.n_expect++] = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "json") == 0) o.json = 1;
            else if (strcmp(optarg, "text") == 0) o.json = 0;
            else usage(stderr, 2);
            break;
        case 'L': list_kinds(); return 0;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);
        }
    }
    if (optind != argc || o.profile_path == NULL)
        usage(stderr, 2);
    if (!kind_known(o.corrupt)) {
        fprintf(stderr, "qs_sendraw: unknown --corrupt kind '%s' (see --list)\n", o.corrupt);
        return 2;
    }
    if (is(&o, "fresh-key"))
        o.fresh_key = 1;
    if ((is(&o, "replay") || is(&o, "reflected-ack")) && o.repeat < 2)
        o.repeat = 2;
    if (sodium_init() < 0) {
        fprintf(stderr, "qs_sendraw: cannot initialise libsodium\n");
        return EXIT_SETUP;
    }
    profile = qs_profile_load(o.profile_path, errmsg, sizeof errmsg);
    if (profile == NULL) {
        fprintf(stderr, "qs_sendraw: %s\n", errmsg);
        return EXIT_SETUP;
    }
    client = qs_profile_keypair(profile);
    if (o.fresh_key) {
        fresh = qs_keypair_generate();
        if (fresh == NULL) {
            fprintf(stderr, "qs_sendraw: cannot make a key pair\n");
            exit_rc = EXIT_SETUP;
            goto done;
        }
        client = fresh;
    }
    store_pk = qs_profile_store_pk(profile);
    if (crypto_box_beforenm(shared, store_pk, qs_keypair_secret(client)) != 0) {
        fprintf(stderr, "qs_sendraw: the profile's store key is weak\n");
        exit_rc = EXIT_SETUP;
        goto done;
    }

    /* The frames. */
    if (is(&o, "not-protobuf")) {
        frames[0].len = 64;
        frames[0].data = qs_malloc(64);
        memset(frames[0].data, 0xff, 64);
        n_frames = 1;
    } else if (is(&o, "empty-frame")) {
        frames[0].data = qs_malloc(1);
        frames[0].len = 0;
        n_frames = 1;
    } else {
        if (is(&o, "batch-not-protobuf")) {
            plain.len = 64;
            plain.data = qs_malloc(64);
            memset(plain.data, 0xff, 64);
        } else {
            plain = build_batch(&o);
        }
        if (build_frame(&frames[0], &o, &plain, client, store_pk) != 0) {
            exit_rc = EXIT_SETUP;
            goto done;
        }
        n_frames = 1;
        if (is(&o, "extra-frames")) {
            frames[1].data = (uint8_t *)qs_strdup("extra");
            frames[1].len = 5;
            n_frames = 2;
        }
    }

    /* The socket. */
    ctx = qs_zmq_ctx_new(0);
    sock = zmq_socket(ctx, ZMQ_DEALER);
    if (sock == NULL || qs_zmq_socket_limits(sock, 1000, 0) != 0 ||
        qs_zmq_curve_client(sock, client, qs_profile_broker_pk(profile)) != 0 ||
        zmq_connect(sock, o.endpoint ? o.endpoint : qs_profile_endpoint(profile)) != 0) {
        fprintf(stderr, "qs_sendraw: cannot set up the DEALER socket to '%s': %s\n",
                o.endpoint ? o.endpoint : qs_profile_endpoint(profile), zmq_strerror(zmq_errno()));
        exit_rc = EXIT_SETUP;
        goto done;
    }

    for (int r = 1; r <= o.repeat; r++) {
        answer_t a;
        if (send_frames(sock, frames, n_frames) != 0) {
            exit_rc = EXIT_SETUP;
            goto done;
        }
        if (receive_answer(sock, o.timeout_ms, &a, shared, store_pk) != 0) {
            if (o.json)
                printf("{\"reply\":%d,\"from\":\"none\"}\n", r);
            else
                printf("reply %d: none within %d ms\n", r, o.timeout_ms);
            answer_free(&last);
            last_got = 0;
            continue;
        }
        print_answer(&o, r, &a);
        if (is(&o, "reflected-ack") && r == 1 &&
            reflect_ack(&frames[0], &a, qs_keypair_public(client)) != 0) {
            fprintf(stderr, "qs_sendraw: reflected-ack: the first reply holds no sealed ack\n");
            answer_free(&a);
            exit_rc = EXIT_SETUP;
            goto done;
        }
        answer_free(&last);
        last = a;
        last_got = 1;
    }
    fflush(stdout);

    if (o.n_expect > 0) {
        if (matches(&o, last_got ? &last : NULL)) {
            exit_rc = 0;
        } else {
            fprintf(stderr, "qs_sendraw: --corrupt %s: the last reply does not match", o.corrupt);
            for (int i = 0; i < o.n_expect; i++)
                fprintf(stderr, "%s %s", i ? " or" : "", o.expect[i]);
            fprintf(stderr, "\n");
            exit_rc = 1;
        }
    } else {
        exit_rc = last_got ? 0 : EXIT_NO_REPLY;
    }

done:
    answer_free(&last);
    sodium_memzero(shared, sizeof shared);
    for (size_t i = 0; i < MAX_FRAMES; i++)
        free(frames[i].data);
    free(plain.data);
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    qs_keypair_destroy(&fresh);
    qs_profile_destroy(&profile);
    return exit_rc;
}
