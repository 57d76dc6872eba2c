/* test_quota.c - the rate buckets (quota.c) and the disk reserve's check (headroom.c).
 *
 * Time is passed in, so the buckets are tested to the message: a minute's
 * budget passes at once, the next batch waits for exactly its refill, a
 * batch over the whole budget passes on a full bucket and leaves it in
 * debt, a refused batch costs nothing, clients are independent, and a
 * client idle for a minute is forgotten.
 */
#include "headroom.h"
#include "qs_test.h"
#include "quota.h"

#include <string.h>

static void
key(uint8_t pk[QS_KEY_BYTES], uint8_t v)
{
    memset(pk, v, QS_KEY_BYTES);
}

static void
test_quota_messages_per_minute(void)
{
    qs_quota_t *q = qs_quota_new(&(qs_quota_conf_t){ 600, 0 });
    uint8_t a[QS_KEY_BYTES], b[QS_KEY_BYTES];
    int64_t t = 1000000;

    key(a, 1);
    key(b, 2);
    for (int i = 0; i < 6; i++)
        QS_CHECK_EQ_INT(qs_quota_take(q, a, 100, 0, t), QUIETSTATE__CODE__CODE_NONE);
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 100, 0, t), QUIETSTATE__CODE__QUOTA_RATE);
    /* Another client has its own bucket. */
    QS_CHECK_EQ_INT(qs_quota_take(q, b, 600, 0, t), QUIETSTATE__CODE__CODE_NONE);
    /* 10 messages a second: 100 after 10 s, not one ms earlier. */
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 100, 0, t + 9999), QUIETSTATE__CODE__QUOTA_RATE);
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 100, 0, t + 10000), QUIETSTATE__CODE__CODE_NONE);
    /* A refused batch took nothing: 10 messages after 1 more second. */
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 100, 0, t + 10500), QUIETSTATE__CODE__QUOTA_RATE);
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 10, 0, t + 11000), QUIETSTATE__CODE__CODE_NONE);
    QS_CHECK_EQ_INT(qs_quota_clients(q), 2);
    qs_quota_destroy(&q);
    QS_CHECK(q == NULL);
}

static void
test_quota_batch_over_the_budget_leaves_debt(void)
{
    qs_quota_t *q = qs_quota_new(&(qs_quota_conf_t){ 600, 0 });
    uint8_t a[QS_KEY_BYTES];
    int64_t t = 5000;

    key(a, 3);
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 1000, 0, t), QUIETSTATE__CODE__CODE_NONE);
    /* -400: one message passes only after 40.1 s. */
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 1, 0, t + 40000), QUIETSTATE__CODE__QUOTA_RATE);
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 1, 0, t + 40100), QUIETSTATE__CODE__CODE_NONE);
    /* Empty again; another 1000 needs the bucket full: 60 s later. */
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 1000, 0, t + 100099), QUIETSTATE__CODE__QUOTA_RATE);
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 1000, 0, t + 100100), QUIETSTATE__CODE__CODE_NONE);
    qs_quota_destroy(&q);
}

static void
test_quota_details_bytes(void)
{
    qs_quota_t *q = qs_quota_new(&(qs_quota_conf_t){ 0, 4096 });
    uint8_t a[QS_KEY_BYTES];

    key(a, 4);
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 5, 5000, 0), QUIETSTATE__CODE__CODE_NONE);
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 1, 10, 1), QUIETSTATE__CODE__QUOTA_DETAILS);
    /* Without details a batch passes; the message rate is off. */
    QS_CHECK_EQ_INT(qs_quota_take(q, a, 100000, 0, 2), QUIETSTATE__CODE__CODE_NONE);
    QS_CHECK(strstr(qs_quota_reason(QUIETSTATE__CODE__QUOTA_DETAILS),
                    "quota_details_kb_per_minute") != NULL);
    qs_quota_destroy(&q);
}

/* Clients idle long enough for a full bucket are dropped at the sweep;
 * the table grows past its first size and shrinks back. */
static void
test_quota_forgets_idle_clients(void)
{
    qs_quota_t *q = qs_quota_new(&(qs_quota_conf_t){ 60, 0 });
    uint8_t pk[QS_KEY_BYTES];

    for (uint32_t i = 0; i < 5000; i++) {
        key(pk, 0);
        memcpy(pk, &i, sizeof i);
        QS_CHECK_EQ_INT(qs_quota_take(q, pk, 1, 0, 1000), QUIETSTATE__CODE__CODE_NONE);
    }
    QS_CHECK_EQ_INT(qs_quota_clients(q), 5000);
    key(pk, 9);
    QS_CHECK_EQ_INT(qs_quota_take(q, pk, 1, 0, 1000 + 61000), QUIETSTATE__CODE__CODE_NONE);
    QS_CHECK_EQ_INT(qs_quota_clients(q), 1);
    qs_quota_destroy(&q);
}

static void
test_quota_off(void)
{
    qs_quota_t *q = qs_quota_new(&(qs_quota_conf_t){ 0, 0 });
    uint8_t a[QS_KEY_BYTES];

    key(a, 5);
    for (int i = 0; i < 100; i++)
        QS_CHECK_EQ_INT(qs_quota_take(q, a, 1000, 1000000, 0), QUIETSTATE__CODE__CODE_NONE);
    QS_CHECK_EQ_INT(qs_quota_clients(q), 0);
    qs_quota_destroy(&q);
}

static void
test_headroom(void)
{
    qs_headroom_t *off = qs_headroom_new(NULL, 1), *huge = qs_headroom_new(".", UINT64_MAX / 2);
    qs_headroom_t *tiny = qs_headroom_new(".", 1);

    QS_CHECK_EQ_INT(qs_headroom_low(off, 0), 0);
    QS_CHECK_EQ_INT(qs_headroom_free(off), 0);
    QS_CHECK_EQ_INT(qs_headroom_low(huge, 0), 1);
    QS_CHECK_EQ_INT(qs_headroom_low(tiny, 0), 0);
    QS_CHECK(qs_headroom_free(tiny) > 0);
    qs_headroom_destroy(&off);
    qs_headroom_destroy(&huge);
    qs_headroom_destroy(&tiny);
    QS_CHECK(tiny == NULL);
}

int
main(void)
{
    QS_RUN(test_quota_messages_per_minute);
    QS_RUN(test_quota_batch_over_the_budget_leaves_debt);
    QS_RUN(test_quota_details_bytes);
    QS_RUN(test_quota_forgets_idle_clients);
    QS_RUN(test_quota_off);
    QS_RUN(test_headroom);
    return qs_test_summary();
}
