/* group.h - what an ingest group holds, shared by ingest.c, write.c and ack.c (private to store/).
 *
 * qs_ingest_add turns each envelope into a qs_group_batch_t and its messages
 * into qs_group_msg_t records (one array for the whole group; a batch names
 * its slice by first_msg/n_msgs). write.c fills in each message's outcome
 * and the batch's totals inside the transaction; ack.c reads both to build
 * the Ack. A qs_tally_t is a set of counter increments waiting to be written
 * to the counters table. A qs_group_t is the whole group as it travels
 * between ingest's two threads (see qs_group_t below).
 */
#ifndef QS_STORE_GROUP_H
#define QS_STORE_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "ingest.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "quietstate.pb-c.h"

#define QS_TALLY_STATUSES 32
#define QS_TALLY_CODES 64

/* Resync events (docs/resync.md), counted as "resync.<name>". */
enum {
    QS_RESYNC_NEW_INSTANCE = 0,  /* a fresh outbox reused an enrolled key */
    QS_RESYNC_GAP_GIVEN_UP,      /* serials missing for too long */
    QS_RESYNC_REQUESTED,         /* an Ack carried a new request */
    QS_RESYNC_APPLIED,           /* a client's state replaced by its resync */
    QS_RESYNC_COUNTERS
};

/* Counter increments: stored, duplicates, rejected.<STATUS>,
 * rejected_detail.<CODE>, resync.<event>. */
typedef struct {
    int64_t stored, duplicates;
    int64_t status[QS_TALLY_STATUSES];
    int64_t code[QS_TALLY_CODES];
    int64_t resync[QS_RESYNC_COUNTERS];
    int nonzero;
} qs_tally_t;

static inline void
qs_tally_reject(qs_tally_t *t, Quietstate__Status status, Quietstate__Code code)
{
    QS_ASSERT((unsigned)status < QS_TALLY_STATUSES && (unsigned)code < QS_TALLY_CODES);
    t->status[status]++;
    t->code[code]++;
    t->nonzero = 1;
}

/* What the transaction did with a message. */
enum { QS_OUT_NONE = 0, QS_OUT_STORED, QS_OUT_DUPLICATE, QS_OUT_REJECTED };

typedef struct {
    const Quietstate__StateMessage *m;   /* in the group's arena */
    Quietstate__Status status;   /* the rejection, when !valid */
    Quietstate__Code code;
    const char *why;
    uint8_t valid;
    uint8_t repeated;            /* SERIAL_REPEATED: never goes through dedup */
    uint8_t fresh;               /* its serial was new in this transaction */
    uint8_t outcome;             /* QS_OUT_* */
    uint32_t owner;              /* repeated: index (in the batch) of the first copy */
} qs_group_msg_t;

typedef struct {
    uint8_t rid[QS_INGEST_MAX_ROUTING_ID];
    size_t rid_len;
    uint8_t pk[QS_KEY_BYTES];    /* transport-authenticated key */
    int has_pk;
    int report_lw;               /* sender authenticated and enrolled */
    int decoded;                 /* a Batch was decoded: first/last_serial known */
    int in_txn;                  /* decoded and goes through the transaction */
    Quietstate__Status status;
    Quietstate__Code code;
    const char *reason;
    size_t first_msg, n_msgs;    /* its slice of the group's messages */
    uint64_t first_serial, last_serial;
    uint64_t low_water;          /* after the transaction */
    uint32_t n_stored, n_dup, n_rejected;
    /* resync (docs/resync.md): what the Batch says ... */
    int has_instance;            /* instance: a 16-byte outbox instance id */
    uint8_t instance[16];
    uint64_t rs_gen, rs_last;    /* resync_generation, resync_last_serial */
    /* ... and what its Ack asks (set in the transaction) */
    uint64_t resync_gen, resync_delay_ms;
    /* one machine, one state (adopt.h): the machine its key is bound to */
    int bound;
    uint8_t machine_ps[16];      /* QS_PSEUDONYM_BYTES */
} qs_group_batch_t;

/* One group. ingest.c keeps two: the receiving thread fills one while the
 * commit thread (committer.c) runs commit.c's qs_commit_group on the other;
 * a group belongs to exactly one thread at a time (the handoff is
 * committer.c's). The commit thread reads the batches, messages and policy,
 * writes the outcomes and the results below; the receiving thread then
 * builds the acks from them and resets the group. */
typedef struct {
    qs_group_batch_t *batches;
    size_t n_batches, cap_batches;
    qs_group_msg_t *msgs;
    size_t n_msgs, cap_msgs;
    size_t messages;             /* messages in in_txn batches */
    qs_arena_t *arena;           /* the decoded Batches */
    qs_policy_t policy;          /* in force when the group was handed over */
    qs_tally_t pending;          /* batch-level counters: written by its transaction */
    int64_t pending_since_mono;
    int write_pending;           /* no transaction over batches: write pending alone */

    /* results, written by the commit thread */
    qs_tally_t txn;              /* message-level counters of its transaction */
    int ran_txn;                 /* a transaction over its batches was tried */
    int rc;                      /* 0 committed or nothing to commit, -1 rolled back */
    int pending_written;         /* pending is in store.db */
    uint32_t n_retry;            /* batches answered RETRY_LATER by the rollback */
    double seconds;              /* how long the commit thread spent on it */
    char errmsg[256];            /* the database's error, when rc = -1 */
} qs_group_t;

static inline void
qs_tally_add(qs_tally_t *to, const qs_tally_t *t)
{
    to->stored += t->stored;
    to->duplicates += t->duplicates;
    for (size_t i = 0; i < QS_TALLY_STATUSES; i++)
        to->status[i] += t->status[i];
    for (size_t i = 0; i < QS_TALLY_CODES; i++)
        to->code[i] += t->code[i];
    for (size_t i = 0; i < QS_RESYNC_COUNTERS; i++)
        to->resync[i] += t->resync[i];
    to->nonzero |= t->nonzero;
}

#endif
