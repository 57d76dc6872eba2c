/* keyset.c - open-addressing hash set of 32-byte public keys, grown by doubling. */
#include "qs_keyset.h"
#include "qs_log.h"
#include "qs_pseudonym.h"

#include <string.h>

struct entry {
    uint8_t pk[QS_KEY_BYTES];
    uint8_t standing;   /* 0 = empty slot */
    uint8_t bound;      /* machine_ps holds the machine pk is bound to */
    uint8_t machine_ps[QS_PSEUDONYM_BYTES];
};

struct qs_keyset {
    struct entry *slots;
    size_t n_slots;     /* power of two */
    size_t used;
};

qs_keyset_t *
qs_keyset_new(void)
{
    qs_keyset_t *s = qs_calloc(1, sizeof *s);
    s->n_slots = 64;
    s->slots = qs_calloc(s->n_slots, sizeof *s->slots);
    return s;
}

void
qs_keyset_clear(qs_keyset_t *s)
{
    memset(s->slots, 0, s->n_slots * sizeof *s->slots);
    s->used = 0;
}

static size_t
slot_of(size_t n_slots, const uint8_t pk[QS_KEY_BYTES])
{
    uint64_t h;
    memcpy(&h, pk + 8, sizeof h);   /* keys are random; any 8 bytes hash well */
    return (size_t)(h & (n_slots - 1));
}

static struct entry *
find(struct entry *slots, size_t n_slots, const uint8_t pk[QS_KEY_BYTES])
{
    size_t i = slot_of(n_slots, pk);
    while (slots[i].standing != 0 && memcmp(slots[i].pk, pk, QS_KEY_BYTES) != 0)
        i = (i + 1) & (n_slots - 1);
    return &slots[i];
}

static void
grow(qs_keyset_t *s)
{
    size_t n = s->n_slots * 2;
    struct entry *slots = qs_calloc(n, sizeof *slots);

    for (size_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].standing != 0)
            *find(slots, n, s->slots[i].pk) = s->slots[i];
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
}

void
qs_keyset_put(qs_keyset_t *s, const uint8_t pk[QS_KEY_BYTES], qs_key_standing_t standing)
{
    struct entry *e;

    QS_ASSERT(standing == QS_KEY_ENROLLED || standing == QS_KEY_REVOKED);
    if ((s->used + 1) * 2 > s->n_slots)
        grow(s);
    e = find(s->slots, s->n_slots, pk);
    if (e->standing == 0) {
        memcpy(e->pk, pk, QS_KEY_BYTES);
        s->used++;
    }
    if (e->standing != QS_KEY_REVOKED)
        e->standing = (uint8_t)standing;
}

void
qs_keyset_bind(qs_keyset_t *s, const uint8_t pk[QS_KEY_BYTES], const uint8_t *machine_ps)
{
    struct entry *e = find(s->slots, s->n_slots, pk);

    QS_ASSERT(e->standing != 0);
    memcpy(e->machine_ps, machine_ps, QS_PSEUDONYM_BYTES);
    e->bound = 1;
}

const uint8_t *
qs_keyset_machine(const qs_keyset_t *s, const uint8_t pk[QS_KEY_BYTES])
{
    const struct entry *e = find(s->slots, s->n_slots, pk);

    return e->standing != 0 && e->bound ? e->machine_ps : NULL;
}

qs_key_standing_t
qs_keyset_get(const qs_keyset_t *s, const uint8_t pk[QS_KEY_BYTES])
{
    return (qs_key_standing_t)find(s->slots, s->n_slots, pk)->standing;
}

size_t
qs_keyset_count(const qs_keyset_t *s, qs_key_standing_t standing)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_slots; i++)
        n += s->slots[i].standing == standing;
    return n;
}

void
qs_keyset_destroy(qs_keyset_t **set_p)
{
    if (set_p == NULL || *set_p == NULL)
        return;
    free((*set_p)->slots);
    free(*set_p);
    *set_p = NULL;
}
