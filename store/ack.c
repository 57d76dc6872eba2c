/* ack.c - each batch's Ack, packed once and sealed straight into its Reply.
 *
 * An OK batch's Ack lists every message whose outcome is QS_OUT_REJECTED
 * (serial, status, code, reason) and a one-line summary; a refused batch's
 * Ack carries the refusal. The buffers grow to the largest ack seen and are
 * reused for every batch: nothing is allocated per ack once warm.
 */
#include "ack.h"

#include "qs_envelope.h"
#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct qs_acks {
    const qs_keypair_t *store_kp;
    char reason[160];
    Quietstate__Rejected *rej;
    Quietstate__Rejected **rej_ptrs;
    size_t cap_rej, cap_rej_ptrs;
    uint8_t *ack_buf, *reply_buf;
    size_t cap_ack, cap_reply;
};

qs_acks_t *
qs_acks_new(const qs_keypair_t *store_kp)
{
    qs_acks_t *self = qs_calloc(1, sizeof *self);

    self->store_kp = store_kp;
    return self;
}

void
qs_acks_destroy(qs_acks_t **self_p)
{
    qs_acks_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    free(self->rej);
    free(self->rej_ptrs);
    free(self->ack_buf);
    free(self->reply_buf);
    free(self);
    *self_p = NULL;
}

/* The rejected messages of an OK batch, in batch order. */
static void
list_rejected(qs_acks_t *self, Quietstate__Ack *ack, const qs_group_batch_t *b,
              const qs_group_msg_t *msgs)
{
    size_t n_rej = 0;

    qs_grow((void **)&self->rej, &self->cap_rej, b->n_msgs, sizeof *self->rej);
    qs_grow((void **)&self->rej_ptrs, &self->cap_rej_ptrs, b->n_msgs, sizeof *self->rej_ptrs);
    for (size_t i = 0; i < b->n_msgs; i++) {
        const qs_group_msg_t *r = &msgs[b->first_msg + i];
        Quietstate__Rejected *x = &self->rej[n_rej];
        if (r->outcome != QS_OUT_REJECTED)
            continue;
        quietstate__rejected__init(x);
        x->serial = r->m->serial;
        x->status = r->status;
        x->code = r->code;
        x->reason = (char *)r->why;
        self->rej_ptrs[n_rej++] = x;
    }
    ack->n_rejected = n_rej;
    ack->rejected = n_rej ? self->rej_ptrs : NULL;
}

/* The Reply: the packed Ack sealed for the client, or a plain notice. */
static void
pack_reply(qs_acks_t *self, const uint8_t **reply, size_t *reply_len,
           const Quietstate__Ack *ack, const uint8_t *shared)
{
    Quietstate__Reply rep = QUIETSTATE__REPLY__INIT;
    size_t len = quietstate__ack__get_packed_size(ack);

    qs_grow((void **)&self->ack_buf, &self->cap_ack, len, 1);
    len = quietstate__ack__pack(ack, self->ack_buf);
    if (shared != NULL) {
        qs_grow((void **)&self->reply_buf, &self->cap_reply, qs_envelope_reply_size(len), 1);
        if (qs_envelope_seal_reply(reply, reply_len, self->reply_buf, self->cap_reply,
                                   self->ack_buf, len, qs_keypair_public(self->store_kp),
                                   shared) == 0)
            return;
    }
    rep.notice = (Quietstate__Ack *)ack;   /* nothing to seal for: advisory only */
    len = quietstate__reply__get_packed_size(&rep);
    qs_grow((void **)&self->reply_buf, &self->cap_reply, len, 1);
    *reply_len = quietstate__reply__pack(&rep, self->reply_buf);
    *reply = self->reply_buf;
}

void
qs_acks_build(qs_acks_t *self, Quietstate__Ack *ack, const uint8_t **reply, size_t *reply_len,
              const qs_group_batch_t *b, const qs_group_msg_t *msgs, uint64_t committed,
              const uint8_t *shared)
{
    quietstate__ack__init(ack);
    ack->status = b->status;
    ack->code = b->code;
    ack->first_serial = b->decoded ? b->first_serial : 0;
    ack->last_serial = b->decoded ? b->last_serial : 0;
    ack->committed_serial = committed;
    if (b->status == QUIETSTATE__STATUS__OK) {   /* a rolled-back request was never made */
        ack->resync_generation = b->resync_gen;
        ack->resync_delay_ms = b->resync_delay_ms;
    }
    if (b->status == QUIETSTATE__STATUS__OK) {
        snprintf(self->reason, sizeof self->reason, "stored %u, duplicates %u, rejected %u",
                 b->n_stored, b->n_dup, b->n_rejected);
        ack->reason = self->reason;
        list_rejected(self, ack, b, msgs);
    } else {
        ack->reason = (char *)b->reason;
    }
    pack_reply(self, reply, reply_len, ack, shared);
}
