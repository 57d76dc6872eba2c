/* test_simgen.c - unit tests of the simulator's generator: message shape and
 * determinism, the spread of messages over clients, expected_latest against
 * brute force, and the generator-backed source. */
#include "simgen.h"

#include "qs_codec.h"
#include "qs_log.h"
#include "qs_test.h"

#include <sodium.h>

static void
test_simgen_spreads_messages_with_remainder_to_first_clients(void)
{
    uint64_t sum = 0;

    for (uint32_t c = 1; c <= 7; c++)
        sum += qs_simgen_count(100, 7, c);
    QS_CHECK_EQ_INT(sum, 100);
    QS_CHECK_EQ_INT(qs_simgen_count(100, 7, 1), 15);
    QS_CHECK_EQ_INT(qs_simgen_count(100, 7, 2), 15);
    QS_CHECK_EQ_INT(qs_simgen_count(100, 7, 3), 14);
    QS_CHECK_EQ_INT(qs_simgen_count(3, 10, 3), 1);
    QS_CHECK_EQ_INT(qs_simgen_count(3, 10, 4), 0);
    QS_CHECK_EQ_INT(qs_simgen_count(3, 10, 11), 0);
}

static void
test_simgen_messages_are_deterministic_and_valid(void)
{
    uint8_t a[256], b[256];
    size_t la, lb;
    Quietstate__StateMessage *m;
    Quietstate__Status st;
    Quietstate__Code code;
    const char *why = NULL;
    const int64_t base = 1764072000000LL;

    la = qs_simgen_pack(a, sizeof a, 42, 17, base);
    lb = qs_simgen_pack(b, sizeof b, 42, 17, base);
    QS_CHECK(la > 0);
    QS_CHECK_EQ_INT(la, lb);
    QS_CHECK(memcmp(a, b, la) == 0);
    m = quietstate__state_message__unpack(NULL, la, a);
    QS_CHECK(m != NULL);
    if (m == NULL)
        return;
    QS_CHECK_EQ_INT(m->serial, 17);
    QS_CHECK_EQ_INT(m->time_utc_ms, base + 17);
    QS_CHECK_EQ_INT(m->topic_type, 500);
    /* (42*7 + 17) % 20 = 311 % 20 = 11 */
    QS_CHECK_STR(m->topic_id, "KB5000012");
    QS_CHECK(m->state_id >= 1 && m->state_id <= 3);
    QS_CHECK_EQ_INT(m->state_id, qs_simgen_state(42, 17));
    QS_CHECK_STR(m->machine_name, "sim-host-00042");
    QS_CHECK_STR(m->domain, "simcorp");
    QS_CHECK(qs_message_validate(m, base + 1000, 300000, &st, &code, &why) == 0);
    quietstate__state_message__free_unpacked(m, NULL);
    /* All three states occur. */
    {
        int seen[4] = { 0 };
        for (uint64_t s = 1; s <= 100; s++)
            seen[qs_simgen_state(3, s)]++;
        QS_CHECK(seen[0] == 0 && seen[1] > 0 && seen[2] > 0 && seen[3] > 0);
    }
    QS_CHECK_EQ_INT(qs_simgen_pack(a, 10, 1, 1, base), 0);
}

static void
brute_latest(uint64_t out[QS_SIM_TOPICS][QS_SIM_STATES], uint32_t clients, uint64_t messages)
{
    memset(out, 0, sizeof(uint64_t) * QS_SIM_TOPICS * QS_SIM_STATES);
    for (uint32_t c = 1; c <= clients; c++) {
        int state[QS_SIM_TOPICS];
        uint64_t n = qs_simgen_count(messages, clients, c);
        for (uint32_t t = 0; t < QS_SIM_TOPICS; t++)
            state[t] = -1;
        for (uint64_t s = 1; s <= n; s++)
            state[qs_simgen_topic(c, s)] = (int)qs_simgen_state(c, s);
        for (uint32_t t = 0; t < QS_SIM_TOPICS; t++)
            if (state[t] >= 0)
                out[t][state[t]]++;
    }
}

static void
test_simgen_expected_latest_matches_brute_force(void)
{
    static const struct { uint32_t clients; uint64_t messages; } cases[] = {
        { 1, 1 }, { 1, 19 }, { 1, 20 }, { 1, 21 }, { 3, 7 }, { 10, 3 },
        { 13, 1000 }, { 50, 999 }, { 7, 12345 }, { 100, 100000 },
    };
    uint64_t fast[QS_SIM_TOPICS][QS_SIM_STATES], slow[QS_SIM_TOPICS][QS_SIM_STATES];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t total = 0;
        qs_simgen_expected_latest(fast, cases[i].clients, cases[i].messages);
        brute_latest(slow, cases[i].clients, cases[i].messages);
        QS_CHECK(memcmp(fast, slow, sizeof fast) == 0);
        for (uint32_t t = 0; t < QS_SIM_TOPICS; t++)
            for (uint32_t s = 0; s < QS_SIM_STATES; s++)
                total += fast[t][s];
        /* Every client that sent anything counts once per topic it sent. */
        if (cases[i].messages >= 20ULL * cases[i].clients)
            QS_CHECK_EQ_INT(total, 20ULL * cases[i].clients);
        if (cases[i].messages < cases[i].clients)
            QS_CHECK_EQ_INT(total, cases[i].messages);
    }
}

static void
test_simgen_source_takes_after_acked_and_counts_rejections(void)
{
    qs_simgen_client_t c = { .client = 5, .count = 10, .base_ms = 1764072000000LL };
    qs_source_t src = qs_simgen_source(&c);
    qs_msgref_t refs[16];
    uint8_t buf[4096];
    size_t n = 0;

    QS_CHECK(src.take(src.ctx, 0, refs, 4, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 4);
    QS_CHECK_EQ_INT(refs[0].serial, 1);
    QS_CHECK_EQ_INT(refs[3].serial, 4);
    QS_CHECK(src.take(src.ctx, 8, refs, 16, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 2);
    QS_CHECK(src.reject(src.ctx, 6, QUIETSTATE__STATUS__BAD_MESSAGE,
                        QUIETSTATE__CODE__CODE_NONE, "x") == 0);
    QS_CHECK_EQ_INT(c.rejected, 1);
    QS_CHECK(src.ack(src.ctx, 6) == 0);
    QS_CHECK_EQ_INT(c.acked, 6);
    QS_CHECK_EQ_INT(c.dirty, 1);
    /* take after 0 now starts above the acked low-water mark */
    QS_CHECK(src.take(src.ctx, 0, refs, 16, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 4);
    QS_CHECK_EQ_INT(refs[0].serial, 7);
    /* an ack never goes back, nor past the count */
    QS_CHECK(src.ack(src.ctx, 3) == 0);
    QS_CHECK_EQ_INT(c.acked, 6);
    QS_CHECK(src.ack(src.ctx, 99) == 0);
    QS_CHECK_EQ_INT(c.acked, 10);
    QS_CHECK(src.take(src.ctx, 0, refs, 16, buf, sizeof buf, &n) == 0);
    QS_CHECK_EQ_INT(n, 0);
}

int
main(void)
{
    qs_log_init("test_simgen", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 1;
    QS_RUN(test_simgen_spreads_messages_with_remainder_to_first_clients);
    QS_RUN(test_simgen_messages_are_deterministic_and_valid);
    QS_RUN(test_simgen_expected_latest_matches_brute_force);
    QS_RUN(test_simgen_source_takes_after_acked_and_counts_rejections);
    return qs_test_summary();
}
