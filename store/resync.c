/* resync.c - the store's resync rules: restart and gap detection, requests, completion.
 *
 * Plain functions on one client's row (resync.h); both engines' writers call
 * them with the row they loaded under the client's lock and save it when
 * dirty, so the two engines cannot drift apart. docs/resync.md says why
 * each rule is what it is.
 */
#include "resync.h"

#include <stdlib.h>
#include <string.h>

const char *
qs_resync_counter_name(size_t i)
{
    static const char *const names[QS_RESYNC_COUNTERS] = {
        [QS_RESYNC_NEW_INSTANCE] = "new_instance",
        [QS_RESYNC_GAP_GIVEN_UP] = "gap_given_up",
        [QS_RESYNC_REQUESTED] = "requested",
        [QS_RESYNC_APPLIED] = "applied",
    };
    return i < QS_RESYNC_COUNTERS ? names[i] : "?";
}

int64_t
qs_resync_gap_ms(void)
{
    const char *v = getenv("QS_TEST_RESYNC_GAP_MS");   /* test only (docs/resync.md) */
    char *end;
    long long ms;

    if (v == NULL || *v == '\0')
        return QS_RESYNC_GAP_MS;
    ms = strtoll(v, &end, 10);
    return *end == '\0' && ms > 0 ? (int64_t)ms : QS_RESYNC_GAP_MS;
}

static void
count(qs_tally_t *t, int which)
{
    t->resync[which]++;
    t->nonzero = 1;
}

/* Ask for a new resync, due now: a generation above every earlier one of
 * this client, so the producer (which runs each generation once) runs it. */
static void
request(qs_resync_row_t *r, int64_t now_ms)
{
    uint64_t gen = now_ms > 0 ? (uint64_t)now_ms : 1;

    if (gen <= r->want_gen)
        gen = r->want_gen + 1;
    if (gen <= r->sent_gen)
        gen = r->sent_gen + 1;
    r->want_gen = gen;
    r->due_ms = now_ms;
    r->start_ms = 0;
    r->last_serial = 0;
    r->dirty = 1;
}

int
qs_resync_on_instance(qs_resync_row_t *r, const qs_group_batch_t *b, qs_tally_t *t,
                      int64_t now_ms)
{
    if (!b->has_instance)
        return 0;   /* an older producer: nothing to compare */
    if (r->has_instance && memcmp(r->instance, b->instance, sizeof r->instance) == 0)
        return 0;
    memcpy(r->instance, b->instance, sizeof r->instance);
    r->dirty = 1;
    if (!r->has_instance) {
        r->has_instance = 1;   /* first id seen: the serials so far are its own */
        return 0;
    }
    /* A fresh outbox under an enrolled key: its serials start at 1 again,
     * and the old outbox's state may hold topics the new one never sends. */
    r->gap_since_ms = 0;
    request(r, now_ms);
    count(t, QS_RESYNC_NEW_INSTANCE);
    return 1;
}

int
qs_resync_after(qs_resync_row_t *r, const qs_group_batch_t *b, uint64_t *lw, int has_seen,
                uint64_t max_seen, qs_tally_t *t, int64_t now_ms, int64_t gap_ms,
                int64_t *start_ms)
{
    /* A batch of the wanted resync: its start is the store time of the
     * first of its batches; every row it restates is reported at or after. */
    if (r->want_gen != 0 && b->rs_gen == r->want_gen) {
        if (r->start_ms == 0) {
            r->start_ms = now_ms > 0 ? now_ms : 1;
            r->dirty = 1;
        }
        if (b->rs_last > r->last_serial) {
            r->last_serial = b->rs_last;
            r->dirty = 1;
        }
    }
    if (!has_seen || max_seen <= *lw) {
        if (r->gap_since_ms != 0) {
            r->gap_since_ms = 0;
            r->dirty = 1;
        }
    } else if (r->gap_since_ms == 0) {
        r->gap_since_ms = now_ms > 0 ? now_ms : 1;
        r->dirty = 1;
    } else if (now_ms - r->gap_since_ms >= gap_ms) {
        /* The missing serials are not coming: jump over them (seen stays
         * bounded) and ask for the whole state instead. */
        *lw = max_seen;
        r->gap_since_ms = 0;
        request(r, now_ms);
        count(t, QS_RESYNC_GAP_GIVEN_UP);
        return 0;
    }
    if (r->want_gen != 0 && r->start_ms != 0 && r->last_serial != 0 &&
        *lw >= r->last_serial) {
        *start_ms = r->start_ms;
        return 1;
    }
    return 0;
}

void
qs_resync_applied(qs_resync_row_t *r, qs_tally_t *t)
{
    r->want_gen = 0;      /* due_ms stays: when it was due, for the record */
    r->start_ms = 0;
    r->last_serial = 0;
    r->dirty = 1;
    count(t, QS_RESYNC_APPLIED);
}

void
qs_resync_answer(qs_resync_row_t *r, qs_group_batch_t *b, qs_tally_t *t, int64_t now_ms)
{
    b->resync_gen = 0;
    b->resync_delay_ms = 0;
    /* Asked until the resync starts: an Ack may be lost, the producer runs
     * a generation once however often it hears it. */
    if (r->want_gen == 0 || r->start_ms != 0)
        return;
    b->resync_gen = r->want_gen;
    b->resync_delay_ms = r->due_ms > now_ms ? (uint64_t)(r->due_ms - now_ms) : 0;
    if (r->sent_gen != r->want_gen) {
        r->sent_gen = r->want_gen;
        r->dirty = 1;
        count(t, QS_RESYNC_REQUESTED);
    }
}
