/* test_sender.c - the delivery engine against a fake broker+store in the same
 * thread: a CurveZMQ ROUTER on an ephemeral loopback port that opens each
 * batch with the store key and answers as scripted (sealed OK acks, per-
 * message rejections, NOT_CONFIGURED, broker notices, silence, forged acks).
 * The sender and the fake share one zmq_poll loop, so the tests are
 * deterministic apart from the clock. */
#include "outbox.h"
#include "sender.h"

#include "qs_codec.h"
#include "qs_envelope.h"
#include "qs_log.h"
#include "qs_test.h"
#include "qs_zmqutil.h"

#include <sodium.h>

#define FAKE_MAX_SERIAL 4096

typedef struct {
    void *router;
    char endpoint[128];
    qs_keypair_t *broker, *store, *forger;
    uint8_t stored[FAKE_MAX_SERIAL + 1];   /* 1 stored, 2 rejected */
    uint64_t committed;
    int frames;
    int drop_first;          /* stay silent for the first N frames */
    int notconf_first;       /* then answer NOT_CONFIGURED N times */
    int notice_first;        /* then send a RETRY_LATER broker notice N times */
    int forge_first;         /* then answer N times with an ack sealed by another key */
    int reflect_first;       /* then answer N times with the client's own envelope */
    int stored_count, duplicates;
} fake_t;

static char dir[512];

static void
fake_start(fake_t *f, void *zctx)
{
    size_t len = sizeof f->endpoint;

    memset(f, 0, sizeof *f);
    f->broker = qs_keypair_generate();
    f->store = qs_keypair_generate();
    f->forger = qs_keypair_generate();
    f->router = zmq_socket(zctx, ZMQ_ROUTER);
    QS_ASSERT(qs_zmq_socket_limits(f->router, 1000, 0) == 0);
    {
        int one = 1;
        QS_ASSERT(zmq_setsockopt(f->router, ZMQ_CURVE_SERVER, &one, sizeof one) == 0);
        QS_ASSERT(zmq_setsockopt(f->router, ZMQ_CURVE_SECRETKEY,
                                 qs_keypair_secret(f->broker), QS_KEY_BYTES) == 0);
    }
    QS_ASSERT(zmq_bind(f->router, "tcp://127.0.0.1:*") == 0);
    QS_ASSERT(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len) == 0);
}

static void
fake_stop(fake_t *f)
{
    zmq_close(f->router);
    qs_keypair_destroy(&f->broker);
    qs_keypair_destroy(&f->store);
    qs_keypair_destroy(&f->forger);
}

static void
send_reply(fake_t *f, zmq_msg_t *id, const Quietstate__Reply *r)
{
    size_t len = quietstate__reply__get_packed_size(r);
    uint8_t *buf = qs_malloc(len);

    quietstate__reply__pack(r, buf);
    zmq_msg_send(id, f->router, ZMQ_SNDMORE);
    zmq_send(f->router, buf, len, 0);
    free(buf);
}

static void
send_sealed(fake_t *f, zmq_msg_t *id, const Quietstate__Ack *ack, const uint8_t client_pk[32],
            const qs_keypair_t *signer)
{
    Quietstate__Reply r = QUIETSTATE__REPLY__INIT;
    Quietstate__Envelope *env = NULL;
    Quietstate__Code code;
    uint8_t shared[QS_KEY_BYTES], plain[65536], frame[70000];
    size_t plen = quietstate__ack__pack(ack, plain), flen = 0;

    QS_ASSERT(crypto_box_beforenm(shared, client_pk, qs_keypair_secret(signer)) == 0);
    QS_ASSERT(qs_envelope_seal(frame, &flen, sizeof frame, QS_ENVELOPE_TO_CLIENT, plain, plen,
                               qs_keypair_public(signer), shared) == 0);
    QS_ASSERT(qs_envelope_parse(&env, frame, flen, &code) == 0);
    r.sealed_ack = env;
    send_reply(f, id, &r);
    quietstate__envelope__free_unpacked(env, NULL);
}

/* The client's own sealed batch back as a sealed ack, renamed as the
 * store's: sealed with the client's shared key, but for the other direction. */
static void
send_reflected(fake_t *f, zmq_msg_t *id, Quietstate__Envelope *env)
{
    Quietstate__Reply r = QUIETSTATE__REPLY__INIT;

    memcpy(env->sender_pk.data, qs_keypair_public(f->store), QS_KEY_BYTES);
    r.sealed_ack = env;
    send_reply(f, id, &r);
}

/* Handle one request: [id][envelope]. */
static void
fake_on_request(fake_t *f)
{
    zmq_msg_t id, body;
    Quietstate__Envelope *env = NULL;
    Quietstate__Batch *batch = NULL;
    Quietstate__Status status;
    Quietstate__Code code;
    Quietstate__Ack ack = QUIETSTATE__ACK__INIT;
    Quietstate__Rejected rej[64], *rejp[64];
    uint8_t shared[QS_KEY_BYTES], plain[QS_MAX_BATCH_BYTES / 4];
    size_t plen = 0, n_rej = 0;

    zmq_msg_init(&id);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&id, f->router, ZMQ_DONTWAIT) < 0)
        goto out;
    QS_ASSERT(zmq_msg_more(&id));
    QS_ASSERT(zmq_msg_recv(&body, f->router, 0) >= 0);
    f->frames++;
    QS_ASSERT(qs_envelope_parse(&env, zmq_msg_data(&body), zmq_msg_size(&body), &code) == 0);
    QS_ASSERT(crypto_box_beforenm(shared, env->sender_pk.data,
                                  qs_keypair_secret(f->store)) == 0);
    QS_ASSERT(qs_envelope_open(plain, &plen, sizeof plain, QS_ENVELOPE_TO_STORE, env, shared) == 0);
    QS_ASSERT(qs_batch_decode(&batch, plain, plen, NULL, &status, &code) == 0);
    ack.first_serial = batch->messages[0]->serial;
    ack.last_serial = batch->messages[batch->n_messages - 1]->serial;
    if (f->drop_first > 0) {
        f->drop_first--;
        goto out;
    }
    if (f->notconf_first > 0) {
        f->notconf_first--;
        ack.status = QUIETSTATE__STATUS__NOT_CONFIGURED;
        ack.committed_serial = f->committed;
        send_sealed(f, &id, &ack, env->sender_pk.data, f->store);
        goto out;
    }
    if (f->notice_first > 0) {
        Quietstate__Reply r = QUIETSTATE__REPLY__INIT;
        Quietstate__Ack notice = QUIETSTATE__ACK__INIT;
        f->notice_first--;
        notice.status = QUIETSTATE__STATUS__RETRY_LATER;
        notice.committed_serial = 999999;   /* advisory: must never delete anything */
        r.notice = &notice;
        send_reply(f, &id, &r);
        goto out;
    }
    if (f->forge_first > 0) {
        f->forge_first--;
        ack.status = QUIETSTATE__STATUS__OK;
        ack.committed_serial = ack.last_serial;
        send_sealed(f, &id, &ack, env->sender_pk.data, f->forger);
        goto out;
    }
    if (f->reflect_first > 0) {
        f->reflect_first--;
        send_reflected(f, &id, env);
        goto out;
    }
    for (size_t i = 0; i < batch->n_messages; i++) {
        const Quietstate__StateMessage *m = batch->messages[i];
        QS_ASSERT(m->serial > 0 && m->serial <= FAKE_MAX_SERIAL);
        if (f->stored[m->serial]) {
            f->duplicates++;
            continue;
        }
        if (strcmp(m->topic_id, "BAD") == 0 && n_rej < 64) {
            Quietstate__Rejected r0 = QUIETSTATE__REJECTED__INIT;
            r0.serial = m->serial;
            r0.status = QUIETSTATE__STATUS__BAD_MESSAGE;
            r0.code = QUIETSTATE__CODE__BAD_TOPIC_ID;
            r0.reason = (char *)"topic_id is refused by the test";
            rej[n_rej] = r0;
            rejp[n_rej] = &rej[n_rej];
            n_rej++;
            f->stored[m->serial] = 2;
            continue;
        }
        f->stored[m->serial] = 1;
        f->stored_count++;
    }
    while (f->committed < FAKE_MAX_SERIAL && f->stored[f->committed + 1])
        f->committed++;
    ack.status = QUIETSTATE__STATUS__OK;
    ack.committed_serial = f->committed;
    ack.n_rejected = n_rej;
    ack.rejected = rejp;
    send_sealed(f, &id, &ack, env->sender_pk.data, f->store);
out:
    if (batch != NULL)
        quietstate__batch__free_unpacked(batch, NULL);
    if (env != NULL)
        quietstate__envelope__free_unpacked(env, NULL);
    zmq_msg_close(&id);
    zmq_msg_close(&body);
}

typedef struct {
    void *zctx;
    fake_t fake;
    qs_outbox_t *ob;
    qs_keypair_t *client;
    qs_sender_ws_t *ws;
    qs_sender_t *sender;
} rig_t;

static void
rig_open(rig_t *r, const char *name, int n_messages, int bad_every, int timeout_ms)
{
    char path[600], err[256];
    qs_sender_opts_t o = { 0 };

    memset(r, 0, sizeof *r);
    r->zctx = qs_zmq_ctx_new(64);
    fake_start(&r->fake, r->zctx);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    r->ob = qs_outbox_open(path, err, sizeof err);
    QS_ASSERT(r->ob != NULL);
    for (int i = 1; i <= n_messages; i++) {
        Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;
        uint64_t serial;
        m.time_utc_ms = 1764072000000LL + i;
        m.topic_type = 500;
        m.topic_id = (char *)(bad_every && i % bad_every == 0 ? "BAD" : "KB5000001");
        m.state_id = 2;
        QS_ASSERT(qs_outbox_append(r->ob, &m, &serial, err, sizeof err) == 0);
    }
    r->client = qs_keypair_generate();
    r->ws = qs_sender_ws_new();
    o.endpoint = r->fake.endpoint;
    o.broker_pk = qs_keypair_public(r->fake.broker);
    o.store_pk = qs_keypair_public(r->fake.store);
    o.keypair = r->client;
    o.source = qs_outbox_source(r->ob);
    o.batch = 100;
    o.reply_timeout_ms = timeout_ms;
    o.quiet = 1;
    r->sender = qs_sender_new(r->zctx, r->ws, &o, err, sizeof err);
    QS_ASSERT(r->sender != NULL);
}

/* Drive sender and fake until the outbox is empty or max_ms pass. */
static uint64_t
rig_drive(rig_t *r, int64_t max_ms)
{
    int64_t end = qs_clock_mono_ms() + max_ms;
    uint64_t pending = 1;

    while (qs_clock_mono_ms() < end) {
        zmq_pollitem_t items[2];
        int64_t now = qs_clock_mono_ms(), wait = qs_sender_next_deadline(r->sender) - now;
        QS_ASSERT(qs_outbox_pending_count(r->ob, &pending) == 0);
        if (pending == 0)
            break;
        if (wait > 50)
            wait = 50;
        if (wait < 0)
            wait = 0;
        qs_sender_pollitem(r->sender, &items[0]);
        items[1].socket = r->fake.router;
        items[1].fd = 0;
        items[1].events = ZMQ_POLLIN;
        items[1].revents = 0;
        zmq_poll(items, 2, (long)wait);
        now = qs_clock_mono_ms();
        if (items[1].revents & ZMQ_POLLIN)
            fake_on_request(&r->fake);
        if (items[0].revents != 0)
            (void)qs_sender_on_readable(r->sender, now);
        if (qs_sender_next_deadline(r->sender) <= now)
            (void)qs_sender_on_tick(r->sender, now);
    }
    return pending;
}

static void
rig_close(rig_t *r)
{
    qs_sender_destroy(&r->sender);
    QS_CHECK(r->sender == NULL);
    qs_sender_ws_destroy(&r->ws);
    qs_keypair_destroy(&r->client);
    qs_outbox_destroy(&r->ob);
    fake_stop(&r->fake);
    zmq_ctx_term(r->zctx);
}

static void
test_sender_delivers_outbox_and_deletes_on_sealed_ack(void)
{
    rig_t r;
    qs_sender_stats_t st;

    rig_open(&r, "deliver.db", 250, 0, 2000);
    QS_CHECK_EQ_INT(rig_drive(&r, 10000), 0);
    QS_CHECK_EQ_INT(r.fake.stored_count, 250);
    QS_CHECK_EQ_INT(r.fake.committed, 250);
    qs_sender_stats(r.sender, &st);
    QS_CHECK_EQ_INT(st.committed, 250);
    QS_CHECK(st.batches_sent >= 3);
    QS_CHECK_EQ_INT(st.reconnects, 0);
    rig_close(&r);
}

static void
test_sender_moves_permanent_rejections_to_rejected_list(void)
{
    rig_t r;
    uint64_t rejected = 0;

    rig_open(&r, "reject.db", 30, 10, 2000);
    QS_CHECK_EQ_INT(rig_drive(&r, 10000), 0);
    QS_CHECK(qs_outbox_rejected_count(r.ob, &rejected) == 0);
    QS_CHECK_EQ_INT(rejected, 3);
    QS_CHECK_EQ_INT(r.fake.stored_count, 27);
    rig_close(&r);
}

static void
test_sender_keeps_messages_through_transient_answers(void)
{
    rig_t r;
    qs_sender_stats_t st;

    rig_open(&r, "transient.db", 20, 0, 2000);
    r.fake.notconf_first = 2;
    r.fake.notice_first = 1;
    QS_CHECK_EQ_INT(rig_drive(&r, 15000), 0);
    qs_sender_stats(r.sender, &st);
    QS_CHECK(st.transient >= 3);
    QS_CHECK_EQ_INT(st.notices, 1);
    QS_CHECK_EQ_INT(r.fake.stored_count, 20);
    rig_close(&r);
}

static void
test_sender_reconnects_and_resends_when_no_reply(void)
{
    rig_t r;
    qs_sender_stats_t st;

    rig_open(&r, "silent.db", 50, 0, 300);
    r.fake.drop_first = 2;
    QS_CHECK_EQ_INT(rig_drive(&r, 10000), 0);
    qs_sender_stats(r.sender, &st);
    QS_CHECK(st.reconnects >= 1);
    QS_CHECK_EQ_INT(r.fake.stored_count, 50);
    rig_close(&r);
}

static void
test_sender_ignores_acks_not_sealed_by_the_store(void)
{
    rig_t r;
    qs_sender_stats_t st;
    uint64_t pending = 0;

    rig_open(&r, "forged.db", 10, 0, 300);
    r.fake.forge_first = 1000000;
    QS_CHECK_EQ_INT(rig_drive(&r, 1500), 10);
    qs_sender_stats(r.sender, &st);
    QS_CHECK(st.bad_replies >= 1);
    QS_CHECK_EQ_INT(st.committed, 0);
    QS_CHECK(qs_outbox_pending_count(r.ob, &pending) == 0);
    QS_CHECK_EQ_INT(pending, 10);
    r.fake.forge_first = 0;
    QS_CHECK_EQ_INT(rig_drive(&r, 10000), 0);
    rig_close(&r);
}

static void
test_sender_refuses_its_own_batch_reflected_as_an_ack(void)
{
    rig_t r;
    qs_sender_stats_t st;

    rig_open(&r, "reflected.db", 10, 0, 300);
    r.fake.reflect_first = 1000000;
    QS_CHECK_EQ_INT(rig_drive(&r, 1500), 10);
    qs_sender_stats(r.sender, &st);
    QS_CHECK(st.bad_replies >= 1);
    QS_CHECK_EQ_INT(st.committed, 0);
    r.fake.reflect_first = 0;
    QS_CHECK_EQ_INT(rig_drive(&r, 10000), 0);
    rig_close(&r);
}

/* Several brokers: the first one the client key picks is down (nothing
 * listens there); after failover_ms without a connection the sender moves to
 * the next and delivers everything there. */
static void
test_sender_fails_over_to_the_next_broker(void)
{
    rig_t r;
    qs_sender_opts_t o = { 0 };
    qs_sender_stats_t st;
    char list[300], err[256];
    const uint8_t *pk;

    rig_open(&r, "failover.db", 40, 0, 2000);
    qs_sender_destroy(&r.sender);
    /* A client key that starts at broker 0 of 2 (sender.h: first two key bytes mod n). */
    do {
        qs_keypair_destroy(&r.client);
        r.client = qs_keypair_generate();
        pk = qs_keypair_public(r.client);
    } while ((((unsigned)pk[0] | (unsigned)pk[1] << 8) % 2) != 0);
    snprintf(list, sizeof list, "tcp://127.0.0.1:1 %s", r.fake.endpoint);
    o.endpoint = list;
    o.broker_pk = qs_keypair_public(r.fake.broker);
    o.store_pk = qs_keypair_public(r.fake.store);
    o.keypair = r.client;
    o.source = qs_outbox_source(r.ob);
    o.batch = 10;
    o.failover_ms = 300;
    o.quiet = 1;
    r.sender = qs_sender_new(r.zctx, r.ws, &o, err, sizeof err);
    QS_ASSERT(r.sender != NULL);
    QS_CHECK_STR(qs_sender_endpoint(r.sender), "tcp://127.0.0.1:1");
    QS_CHECK_EQ_INT(rig_drive(&r, 10000), 0);
    qs_sender_stats(r.sender, &st);
    QS_CHECK(st.failovers >= 1);
    QS_CHECK_STR(qs_sender_endpoint(r.sender), r.fake.endpoint);
    QS_CHECK_EQ_INT(r.fake.stored_count, 40);
    /* A bad list or failover timeout is refused up front. */
    o.endpoint = "tcp://127.0.0.1:1 tcp://127.0.0.1:1";
    QS_CHECK(qs_sender_new(r.zctx, r.ws, &o, err, sizeof err) == NULL);
    o.endpoint = list;
    o.failover_ms = 10;
    QS_CHECK(qs_sender_new(r.zctx, r.ws, &o, err, sizeof err) == NULL);
    rig_close(&r);
}

int
main(void)
{
    char cmd[700];

    qs_log_init("test_sender", QS_LOG_ERROR);
    if (sodium_init() < 0)
        return 1;
    qs_test_tmpdir(dir, sizeof dir, "sender");
    QS_RUN(test_sender_delivers_outbox_and_deletes_on_sealed_ack);
    QS_RUN(test_sender_moves_permanent_rejections_to_rejected_list);
    QS_RUN(test_sender_keeps_messages_through_transient_answers);
    QS_RUN(test_sender_reconnects_and_resends_when_no_reply);
    QS_RUN(test_sender_ignores_acks_not_sealed_by_the_store);
    QS_RUN(test_sender_refuses_its_own_batch_reflected_as_an_ack);
    QS_RUN(test_sender_fails_over_to_the_next_broker);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return qs_test_summary();
}
