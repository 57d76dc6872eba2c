/* batchfields.h - the Batch fields a producer adds beside its messages (docs/resync.md).
 *
 * The sender frames a Batch by hand (sender.c): each message is field 1.
 * The instance id and the resync markers are fields 2..4, appended after
 * the messages (protobuf accepts fields in any order). Shared by the
 * outbox's and the simulator's sources.
 */
#ifndef QS_PRODUCER_BATCHFIELDS_H
#define QS_PRODUCER_BATCHFIELDS_H

#include <stddef.h>
#include <stdint.h>

#define QS_INSTANCE_BYTES 16u

/* v as a protobuf varint at p (at most 10 bytes); returns its length. */
size_t qs_put_varint(uint8_t *p, uint64_t v);

/* Batch.instance, and when the batch of serials first..last holds part of
 * the resync rs_first..rs_last of generation gen (gen != 0), its
 * resync_generation and resync_last_serial, into buf (at least
 * QS_SOURCE_FIELDS_MAX bytes). Returns the bytes written. */
size_t qs_batch_fields(uint8_t *buf, const uint8_t instance[QS_INSTANCE_BYTES], uint64_t first,
                       uint64_t last, uint64_t gen, uint64_t rs_first, uint64_t rs_last);

#endif
