/* test_resync.c - the store's resync rules (store/resync.c), engine-free.
 *
 * Both engines' writers run these very functions on the row they loaded;
 * the end-to-end tests (tests/e2e/resync*.sh) run them through real
 * processes on both engines. Here: each rule's edges.
 */
#include "resync.h"
#include "qs_test.h"

#include <string.h>

static qs_group_batch_t
batch_with(uint8_t inst_byte, uint64_t rs_gen, uint64_t rs_last)
{
    qs_group_batch_t b;

    memset(&b, 0, sizeof b);
    if (inst_byte != 0) {
        memset(b.instance, inst_byte, sizeof b.instance);
        b.has_instance = 1;
    }
    b.rs_gen = rs_gen;
    b.rs_last = rs_last;
    return b;
}

static void
test_instance_first_recorded_then_change_restarts(void)
{
    qs_resync_row_t r = { 0 };
    qs_tally_t t = { 0 };
    qs_group_batch_t old = batch_with(0, 0, 0), a = batch_with(1, 0, 0), b = batch_with(2, 0, 0);

    QS_CHECK_EQ_INT(qs_resync_on_instance(&r, &old, &t, 1000), 0);   /* no id: nothing */
    QS_CHECK_EQ_INT(r.dirty, 0);
    QS_CHECK_EQ_INT(qs_resync_on_instance(&r, &a, &t, 1000), 0);     /* first id: recorded */
    QS_CHECK(r.has_instance && r.dirty && r.want_gen == 0);
    r.dirty = 0;
    QS_CHECK_EQ_INT(qs_resync_on_instance(&r, &a, &t, 2000), 0);     /* same id */
    QS_CHECK_EQ_INT(r.dirty, 0);
    QS_CHECK_EQ_INT(qs_resync_on_instance(&r, &b, &t, 3000), 1);     /* a fresh outbox */
    QS_CHECK(r.want_gen == 3000 && r.due_ms == 3000 && r.instance[0] == 2);
    QS_CHECK_EQ_INT(t.resync[QS_RESYNC_NEW_INSTANCE], 1);
    /* Back to the first one within the same millisecond: a newer generation. */
    QS_CHECK_EQ_INT(qs_resync_on_instance(&r, &a, &t, 3000), 1);
    QS_CHECK(r.want_gen == 3001);
}

static void
test_gap_given_up_after_the_limit(void)
{
    qs_resync_row_t r = { 0 };
    qs_tally_t t = { 0 };
    qs_group_batch_t b = batch_with(1, 0, 0);
    uint64_t lw = 4;
    int64_t start = 0;

    QS_CHECK_EQ_INT(qs_resync_after(&r, &b, &lw, 1, 6, &t, 10000, 2000, &start), 0);
    QS_CHECK(r.gap_since_ms == 10000 && lw == 4 && r.want_gen == 0);
    QS_CHECK_EQ_INT(qs_resync_after(&r, &b, &lw, 1, 6, &t, 11999, 2000, &start), 0);
    QS_CHECK(lw == 4 && r.want_gen == 0);
    QS_CHECK_EQ_INT(qs_resync_after(&r, &b, &lw, 1, 7, &t, 12000, 2000, &start), 0);
    QS_CHECK(lw == 7 && r.gap_since_ms == 0 && r.want_gen == 12000);
    QS_CHECK_EQ_INT(t.resync[QS_RESYNC_GAP_GIVEN_UP], 1);
    /* A gap that closes forgets its start. */
    r.gap_since_ms = 500;
    QS_CHECK_EQ_INT(qs_resync_after(&r, &b, &lw, 0, 0, &t, 13000, 2000, &start), 0);
    QS_CHECK_EQ_INT(r.gap_since_ms, 0);
}

static void
test_request_answered_until_started_counted_once(void)
{
    qs_resync_row_t r = { 0 };
    qs_tally_t t = { 0 };
    qs_group_batch_t b = batch_with(1, 0, 0);

    r.want_gen = 77;
    r.due_ms = 5000;
    qs_resync_answer(&r, &b, &t, 2000);
    QS_CHECK(b.resync_gen == 77 && b.resync_delay_ms == 3000);
    qs_resync_answer(&r, &b, &t, 6000);
    QS_CHECK(b.resync_gen == 77 && b.resync_delay_ms == 0);
    QS_CHECK_EQ_INT(t.resync[QS_RESYNC_REQUESTED], 1);
    r.start_ms = 6500;
    qs_resync_answer(&r, &b, &t, 7000);
    QS_CHECK_EQ_INT(b.resync_gen, 0);
}

static void
test_resync_split_completes_when_low_water_reaches_its_end(void)
{
    qs_resync_row_t r = { 0 };
    qs_tally_t t = { 0 };
    qs_group_batch_t stale = batch_with(1, 76, 20), part = batch_with(1, 77, 20);
    qs_group_batch_t plain = batch_with(1, 0, 0);
    uint64_t lw = 10;
    int64_t start = 0;

    r.want_gen = 77;
    QS_CHECK_EQ_INT(qs_resync_after(&r, &stale, &lw, 0, 0, &t, 100, 2000, &start), 0);
    QS_CHECK_EQ_INT(r.start_ms, 0);                      /* another generation: ignored */
    lw = 15;
    QS_CHECK_EQ_INT(qs_resync_after(&r, &part, &lw, 0, 0, &t, 200, 2000, &start), 0);
    QS_CHECK(r.start_ms == 200 && r.last_serial == 20);
    lw = 19;   /* a batch without markers: the resync is not over yet */
    QS_CHECK_EQ_INT(qs_resync_after(&r, &plain, &lw, 0, 0, &t, 300, 2000, &start), 0);
    lw = 22;   /* the rest arrived (any batch closing the range will do) */
    QS_CHECK_EQ_INT(qs_resync_after(&r, &plain, &lw, 0, 0, &t, 400, 2000, &start), 1);
    QS_CHECK_EQ_INT(start, 200);
    qs_resync_applied(&r, &t);
    QS_CHECK(r.want_gen == 0 && r.start_ms == 0 && r.last_serial == 0);
    QS_CHECK_EQ_INT(t.resync[QS_RESYNC_APPLIED], 1);
}

int
main(void)
{
    QS_RUN(test_instance_first_recorded_then_change_restarts);
    QS_RUN(test_gap_given_up_after_the_limit);
    QS_RUN(test_request_answered_until_started_counted_once);
    QS_RUN(test_resync_split_completes_when_low_water_reaches_its_end);
    return qs_test_summary();
}
