/* quota.c - per-client token buckets (quota.h says what they promise).
 *
 * An open-addressing table keyed by the client key (already uniformly
 * random: its first 8 bytes are the hash). It doubles past half full and is
 * rebuilt every minute without the entries whose buckets have refilled:
 * those carry no information, so the table holds the clients active in
 * the last minute and nobody else.
 */
#include "quota.h"

#include "qs_log.h"

#include <stdlib.h>
#include <string.h>

#define SWEEP_MS 60000
#define MINUTE_MS 60000

/* Tokens are counted in units of 1/60000 (one per millisecond of refill at
 * one per minute), so refills are exact integers: a unit costs 60000. */
struct entry {
    uint8_t pk[QS_KEY_BYTES];
    int used;
    int64_t last_ms;             /* when the buckets were last refilled */
    int64_t messages, bytes;     /* scaled tokens; may be negative (debt) */
};

struct qs_quota {
    qs_quota_conf_t conf;
    struct entry *tab;
    size_t cap, n;               /* cap: a power of two */
    int64_t next_sweep;
};

qs_quota_t *
qs_quota_new(const qs_quota_conf_t *conf)
{
    qs_quota_t *q = qs_calloc(1, sizeof *q);

    q->conf = *conf;
    q->cap = 1024;
    q->tab = qs_calloc(q->cap, sizeof *q->tab);
    return q;
}

void
qs_quota_destroy(qs_quota_t **q_p)
{
    if (q_p == NULL || *q_p == NULL)
        return;
    free((*q_p)->tab);
    free(*q_p);
    *q_p = NULL;
}

static size_t
slot_of(const qs_quota_t *q, const uint8_t pk[QS_KEY_BYTES])
{
    uint64_t h;

    memcpy(&h, pk, sizeof h);
    return (size_t)h & (q->cap - 1);
}

static struct entry *
find(qs_quota_t *q, const uint8_t pk[QS_KEY_BYTES], int create)
{
    size_t i = slot_of(q, pk);

    while (q->tab[i].used) {
        if (memcmp(q->tab[i].pk, pk, QS_KEY_BYTES) == 0)
            return &q->tab[i];
        i = (i + 1) & (q->cap - 1);
    }
    if (!create)
        return NULL;
    memcpy(q->tab[i].pk, pk, QS_KEY_BYTES);
    q->tab[i].used = 1;
    q->n++;
    return &q->tab[i];
}

/* A full bucket (one minute's worth), scaled. Rates are bounded by the
 * config (100000000 per minute, KiB for details): no overflow. */
static int64_t
full(uint64_t per_minute)
{
    return (int64_t)per_minute * MINUTE_MS;
}

static void
refill_one(int64_t *tokens, int64_t dt, uint64_t per_minute)
{
    *tokens += dt * (int64_t)per_minute;
    if (*tokens > full(per_minute))
        *tokens = full(per_minute);
}

static void
refill(const qs_quota_t *q, struct entry *e, int64_t now_ms)
{
    int64_t dt = now_ms - e->last_ms;

    if (dt <= 0)
        return;
    if (dt > MINUTE_MS + 1)
        dt = MINUTE_MS + 1;   /* full after a minute anyway; no overflow */
    refill_one(&e->messages, dt, q->conf.messages_per_minute);
    refill_one(&e->bytes, dt, q->conf.details_bytes_per_minute);
    e->last_ms = now_ms;
}

static int
is_full(const qs_quota_t *q, const struct entry *e)
{
    return e->messages >= full(q->conf.messages_per_minute) &&
           e->bytes >= full(q->conf.details_bytes_per_minute);
}

/* Rebuild into cap slots, keeping (keep_full or) the entries still in use. */
static void
rebuild(qs_quota_t *q, size_t cap, int64_t now_ms, int keep_full)
{
    struct entry *old = q->tab;
    size_t old_cap = q->cap;

    q->cap = cap;
    q->tab = qs_calloc(cap, sizeof *q->tab);
    q->n = 0;
    for (size_t i = 0; i < old_cap; i++) {
        struct entry *e = &old[i];
        if (!e->used)
            continue;
        refill(q, e, now_ms);
        if (!keep_full && is_full(q, e))
            continue;
        *find(q, e->pk, 1) = *e;
    }
    free(old);
}

/* A cost fits when the bucket holds it, or - a batch larger than a
 * minute's budget - when the bucket is full (it then goes into debt). */
static int
fits(int64_t tokens, uint64_t cost, uint64_t per_minute)
{
    uint64_t need = cost < per_minute ? cost : per_minute;

    return tokens >= (int64_t)need * MINUTE_MS;
}

Quietstate__Code
qs_quota_take(qs_quota_t *q, const uint8_t pk[QS_KEY_BYTES], uint64_t messages,
              uint64_t details_bytes, int64_t now_ms)
{
    struct entry *e;

    if (q->conf.messages_per_minute == 0 && q->conf.details_bytes_per_minute == 0)
        return QUIETSTATE__CODE__CODE_NONE;
    if (now_ms >= q->next_sweep) {
        size_t cap = q->cap;
        while (cap > 1024 && q->n < cap / 8)
            cap /= 2;
        rebuild(q, cap, now_ms, 0);
        q->next_sweep = now_ms + SWEEP_MS;
    }
    if ((q->n + 1) * 2 > q->cap)
        rebuild(q, q->cap * 2, now_ms, 1);
    e = find(q, pk, 0);
    if (e == NULL) {
        e = find(q, pk, 1);
        e->last_ms = now_ms;
        e->messages = full(q->conf.messages_per_minute);
        e->bytes = full(q->conf.details_bytes_per_minute);
    }
    refill(q, e, now_ms);
    if (q->conf.messages_per_minute > 0 &&
        !fits(e->messages, messages, q->conf.messages_per_minute))
        return QUIETSTATE__CODE__QUOTA_RATE;
    if (q->conf.details_bytes_per_minute > 0 && details_bytes > 0 &&
        !fits(e->bytes, details_bytes, q->conf.details_bytes_per_minute))
        return QUIETSTATE__CODE__QUOTA_DETAILS;
    /* Costs are bounded by one batch (QS_MAX_BATCH_MESSAGES, frame size). */
    if (q->conf.messages_per_minute > 0)
        e->messages -= (int64_t)messages * MINUTE_MS;
    if (q->conf.details_bytes_per_minute > 0)
        e->bytes -= (int64_t)details_bytes * MINUTE_MS;
    return QUIETSTATE__CODE__CODE_NONE;
}

const char *
qs_quota_reason(Quietstate__Code code)
{
    switch (code) {
    case QUIETSTATE__CODE__QUOTA_RATE:
        return "this client is over [store] quota_messages_per_minute: keep the messages and "
               "resend later";
    case QUIETSTATE__CODE__QUOTA_DETAILS:
        return "this client is over [store] quota_details_kb_per_minute: keep the messages "
               "and resend later";
    default:
        return "over a store quota";
    }
}

size_t
qs_quota_clients(const qs_quota_t *q)
{
    return q->n;
}
