/* ack.h - building each batch's Ack and sealing it into the Reply a producer receives (private to store/).
 *
 * The Ack is packed once and sealed for the client straight into the Reply
 * buffer (qs_envelope_seal_reply: padded to a size bucket, with the
 * store-to-client key): the Reply is the sealed Envelope with a two- to
 * four-byte head, the same bytes protobuf-c would pack. Only when there is no
 * key to seal for (or the client speaks another envelope version) is the Ack
 * sent as a plain notice.
 */
#ifndef QS_STORE_ACK_H
#define QS_STORE_ACK_H

#include <stddef.h>
#include <stdint.h>

#include "group.h"
#include "qs_keys.h"
#include "quietstate.pb-c.h"

typedef struct qs_acks qs_acks_t;

/* Buffers for acks sealed with store_kp (borrowed; must outlive the result). */
qs_acks_t *qs_acks_new(const qs_keypair_t *store_kp);

void qs_acks_destroy(qs_acks_t **self_p);

/* Build b's Ack into *ack (its strings and rejected list point into self and
 * into msgs) and its packed Reply into *reply and *reply_len (in self): sealed
 * with shared (the client's precomputed key) when not NULL, else the Ack as
 * a plain notice. committed is the Ack's committed_serial. Everything is
 * valid until the next call. */
void qs_acks_build(qs_acks_t *self, Quietstate__Ack *ack, const uint8_t **reply,
                   size_t *reply_len, const qs_group_batch_t *b, const qs_group_msg_t *msgs,
                   uint64_t committed, const uint8_t *shared);

#endif
