/* source.h - where a sender gets its messages: a small pluggable interface.
 *
 * A sender (sender.h) does not know whether its messages sit in a SQLite
 * outbox (report, flush, run) or are generated on demand (simulate). It asks
 * its source for packed StateMessages with serials above some point, tells it
 * the store's committed serial, and hands it permanent per-message rejections.
 * Messages are exchanged packed (protobuf) in a caller buffer, so taking a
 * batch allocates nothing per message.
 */
#ifndef QS_PRODUCER_SOURCE_H
#define QS_PRODUCER_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "qs_limits.h"
#include "quietstate.pb-c.h"

/* Upper bound on one packed StateMessage that passes qs_message_validate
 * (every field at its limit, with tags and length prefixes). */
#define QS_MAX_MESSAGE_BYTES 2400u

/* serial and time: tag + 10-byte varint; topic_type and state_id: tag + 5;
 * strings: tag + 2-byte length + bytes. */
_Static_assert(QS_MAX_MESSAGE_BYTES >= 2 * 11 + 2 * 6 + (3 + QS_MAX_TOPIC_ID_BYTES) +
                                           (3 + QS_MAX_DETAILS_BYTES) +
                                           3 * (3 + QS_MAX_NAME_BYTES),
               "QS_MAX_MESSAGE_BYTES bounds a valid packed StateMessage");

/* One taken message: its serial and where its packed bytes lie in the buffer
 * passed to take. */
typedef struct {
    uint64_t serial;
    size_t off;
    size_t len;
} qs_msgref_t;

typedef struct {
    void *ctx;
    /* Up to max_refs pending messages with serial > after, in serial order,
     * packed back to back into buf (buf_cap bytes; stops early rather than
     * overflow). Returns 0 with *n_out (0 = nothing pending), -1 on error. */
    int (*take)(void *ctx, uint64_t after, qs_msgref_t *refs, size_t max_refs,
                uint8_t *buf, size_t buf_cap, size_t *n_out);
    /* Every serial <= committed is durably handled by the store: forget them.
     * Returns 0, -1 on error (the sender retries with the next ack). */
    int (*ack)(void *ctx, uint64_t committed);
    /* The store refused serial for good: keep it aside with the reason.
     * Returns 0, -1 on error. */
    int (*reject)(void *ctx, uint64_t serial, Quietstate__Status status,
                  Quietstate__Code code, const char *reason);
    /* Optional (NULL: none). The Batch fields other than messages for the
     * batch of serials first..last, packed (protobuf, any order): the
     * outbox instance id and the resync markers (docs/resync.md). At most
     * QS_SOURCE_FIELDS_MAX bytes into buf; returns how many. */
    size_t (*fields)(void *ctx, uint64_t first, uint64_t last, uint8_t *buf);
    /* Optional. The store asks for a full resync of generation gen, due in
     * delay_ms: 1 when messages are ready to take now, 0 when not (later,
     * or that generation was already run), -1 on error. */
    int (*resync)(void *ctx, uint64_t gen, uint64_t delay_ms);
} qs_source_t;

/* Batch.instance (2 + 16) and two uint64 fields (2 x 11), with room. */
#define QS_SOURCE_FIELDS_MAX 64u

#endif
