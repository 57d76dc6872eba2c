/* group.h - what an ingest group holds, shared by ingest.c, write.c and ack.c (private to store/).
 *
 * qs_ingest_add turns each envelope into a qs_group_batch_t and its messages
 * into qs_group_msg_t records (one array for the whole group; a batch names
 * its slice by first_msg/n_msgs). write.c fills in each message's outcome
 * and the batch's totals inside the transaction; ack.c reads both to build
 * the Ack. A qs_tally_t is a set of counter increments waiting to be written
 * to the counters table.
 */
#ifndef QS_STORE_GROUP_H
#define QS_STORE_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "quietstate.pb-c.h"

#define QS_TALLY_STATUSES 32
#define QS_TALLY_CODES 64

/* Counter increments: stored, duplicates, rejected.<STATUS>,
 * rejected_detail.<CODE>. */
typedef struct {
    int64_t stored, duplicates;
    int64_t status[QS_TALLY_STATUSES];
    int64_t code[QS_TALLY_CODES];
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
} qs_group_batch_t;

#endif
