/* commit.h - one group's transaction, as the commit thread runs it (private to store/).
 *
 * qs_commit_group is the body of the commit thread's job (committer.h):
 * it touches the database only through qs_write_* (whatever engine is
 * behind it) and nothing of ingest's receiving side but the group handed
 * over. Every dedup decision that depends on the database (clients'
 * low_water, seen) is taken inside the group's own transaction, after the
 * previous group's COMMIT returned: two groups in the pipeline never
 * decide on the same state.
 */
#ifndef QS_STORE_COMMIT_H
#define QS_STORE_COMMIT_H

#include "group.h"
#include "qs_clock.h"
#include "write.h"

/* What the commit thread borrows, for every group. */
typedef struct {
    qs_write_t *write;
    const qs_clock_t *clock;
} qs_commit_ctx_t;

/* Commit g: when a batch goes through the transaction, BEGIN, each in_txn
 * batch (qs_write_batch under g->policy), the message counters and
 * g->pending, COMMIT (durable when it returns: synchronous=FULL); on
 * failure ROLLBACK, and every in_txn batch becomes RETRY_LATER/STORE_BUSY.
 * A group with no batch for the transaction writes its pending counters
 * alone when g->write_pending says so. Then each
 * batch not stored gets the client's committed low-water mark (for its
 * Ack), and the remembered pseudonyms are wiped. Fills g's results. */
void qs_commit_group(const qs_commit_ctx_t *ctx, qs_group_t *g);

#endif
