/* commit.c - one group's transaction on the commit thread: BEGIN, every batch, counters, COMMIT.
 *
 * Runs while the receiving thread decodes the next group (committer.h says
 * why a thread). Nothing here logs what the receiving thread logs about the
 * group (rejections, failures): it records results in the group and
 * ingest.c reports them when it answers the group, so that the log
 * throttle and the stats stay on one thread.
 */
#include "commit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double
mono_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
run_transaction(const qs_commit_ctx_t *ctx, qs_group_t *g)
{
    int64_t now_ms = qs_clock_now_ms(ctx->clock);

    if (qs_write_begin(ctx->write) != 0)
        return -1;
    for (size_t i = 0; i < g->n_batches; i++) {
        qs_group_batch_t *b = &g->batches[i];
        if (b->in_txn &&
            qs_write_batch(ctx->write, &g->policy, b, g->msgs, &g->txn, now_ms) != 0)
            return -1;
    }
    if (qs_write_tally(ctx->write, &g->txn) != 0 || qs_write_tally(ctx->write, &g->pending) != 0)
        return -1;
    return qs_write_commit(ctx->write);
}

/* Nothing of the group is kept: every batch that went into the
 * transaction is answered RETRY_LATER (producers resend). */
static void
rolled_back(const qs_commit_ctx_t *ctx, qs_group_t *g)
{
    snprintf(g->errmsg, sizeof g->errmsg, "%s", qs_write_errmsg(ctx->write));
    qs_write_rollback(ctx->write);
    g->rc = -1;
    memset(&g->txn, 0, sizeof g->txn);
    for (size_t i = 0; i < g->n_batches; i++) {
        qs_group_batch_t *b = &g->batches[i];
        if (!b->in_txn)
            continue;
        b->in_txn = 0;
        b->status = QUIETSTATE__STATUS__RETRY_LATER;
        b->code = QUIETSTATE__CODE__STORE_BUSY;
        b->reason = "the store could not commit: send again later";
        g->n_retry++;
    }
}

void
qs_commit_group(const qs_commit_ctx_t *ctx, qs_group_t *g)
{
    double t0 = mono_seconds();
    int any_txn = 0;

    g->rc = 0;
    g->pending_written = 0;
    g->n_retry = 0;
    g->errmsg[0] = '\0';
    memset(&g->txn, 0, sizeof g->txn);
    for (size_t i = 0; i < g->n_batches; i++)
        any_txn |= g->batches[i].in_txn;
    g->ran_txn = any_txn;
    if (any_txn) {
        if (run_transaction(ctx, g) == 0)
            g->pending_written = 1;
        else
            rolled_back(ctx, g);
    } else if (g->write_pending && g->pending.nonzero) {
        if (qs_write_begin(ctx->write) == 0 && qs_write_tally(ctx->write, &g->pending) == 0 &&
            qs_write_commit(ctx->write) == 0)
            g->pending_written = 1;
        else
            rolled_back(ctx, g);
    }
    /* After COMMIT (or ROLLBACK), outside any transaction: the mark a
     * refused batch's Ack reports is one already on disk. */
    for (size_t i = 0; i < g->n_batches; i++) {
        qs_group_batch_t *b = &g->batches[i];
        if (b->status != QUIETSTATE__STATUS__OK)
            b->low_water = b->report_lw ? qs_write_low_water(ctx->write, b->pk) : 0;
    }
    qs_write_end_group(ctx->write);
    g->seconds = mono_seconds() - t0;
}
