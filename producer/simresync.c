/* simresync.c - a simulated client's side of a resync (simgen.h, docs/resync.md).
 *
 * The instance id is a function of the client and the run's base time: a
 * resumed run is the same outbox, a new run (new base time) a new one. A
 * request is run once per generation, when due: the client's current
 * state (one message per topic it sent) becomes serials after everything
 * it has sent, marked as that generation's resync.
 */
#include "simgen.h"

#include "batchfields.h"
#include "qs_clock.h"
#include "qs_log.h"

#include <string.h>
#include <time.h>

static uint64_t
mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int
qs_simgen_busy(const qs_simgen_client_t *c)
{
    return c->acked < c->count || c->rs_pending ||
           (c->rs_first != 0 && c->rs_acked < c->rs_last);
}

size_t
qs_simgen_fields(void *ctx, uint64_t first, uint64_t last, uint8_t *buf)
{
    const qs_simgen_client_t *c = ctx;
    uint64_t a = mix64(((uint64_t)c->client << 32) ^ (uint64_t)c->base_ms);
    uint8_t inst[QS_INSTANCE_BYTES];
    uint64_t b = mix64(a ^ 0x5153u);

    memcpy(inst, &a, 8);
    memcpy(inst + 8, &b, 8);
    return qs_batch_fields(buf, inst, first, last, c->rs_first ? c->rs_gen : 0, c->rs_first,
                           c->rs_last);
}

int
qs_simgen_resync(void *ctx, uint64_t gen, uint64_t delay_ms)
{
    qs_simgen_client_t *c = ctx;

    if (gen == c->rs_gen)
        return 0;   /* heard before: it runs once */
    c->rs_gen = gen;
    c->rs_pending = 1;
    c->rs_due_mono = qs_clock_mono_ms() + (int64_t)(delay_ms > 86400000u ? 86400000u : delay_ms);
    qs_simgen_resync_due(c);
    return c->rs_pending ? 0 : 1;
}

void
qs_simgen_resync_due(qs_simgen_client_t *c)
{
    uint64_t after, n;
    struct timespec ts;

    if (!c->rs_pending || qs_clock_mono_ms() < c->rs_due_mono)
        return;
    after = c->rs_last > c->count ? c->rs_last : c->count;
    n = qs_simgen_current_topics(c->client, c->count);
    c->rs_pending = 0;
    if (n == 0)
        return;
    c->rs_first = after + 1;
    c->rs_last = after + n;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->rs_ran_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    log_debug("simulate: client %u resync %llu: serials %llu..%llu", c->client,
              (unsigned long long)c->rs_gen, (unsigned long long)c->rs_first,
              (unsigned long long)c->rs_last);
}
