/* simgen.c - deterministic simulated messages and their expected outcome.
 *
 * mix() is splitmix64's finaliser over (client, serial): cheap, stateless
 * and well spread, which is all a load generator needs. Messages are packed
 * from a stack StateMessage whose strings live in small stack buffers, so
 * generating a batch allocates nothing.
 */
#include "simgen.h"

#include <stdio.h>
#include <string.h>

static uint64_t
mix(uint32_t c, uint64_t s)
{
    uint64_t z = ((uint64_t)c << 40) ^ s;

    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t
qs_simgen_count(uint64_t messages, uint32_t clients, uint32_t c)
{
    if (clients == 0 || c == 0 || c > clients)
        return 0;
    return messages / clients + ((uint64_t)(c - 1) < messages % clients ? 1 : 0);
}

uint32_t
qs_simgen_topic(uint32_t c, uint64_t s)
{
    return (uint32_t)(((uint64_t)c * 7 + s) % QS_SIM_TOPICS);
}

uint32_t
qs_simgen_state(uint32_t c, uint64_t s)
{
    return 1 + (uint32_t)(mix(c, s) % 3);
}

static size_t pack_as(uint8_t *buf, size_t cap, uint32_t c, uint64_t s, uint64_t serial,
                      int64_t base_ms);

size_t
qs_simgen_pack(uint8_t *buf, size_t cap, uint32_t c, uint64_t s, int64_t base_ms)
{
    return pack_as(buf, cap, c, s, s, base_ms);
}

/* The highest s <= n with topic t for client c, or 0. */
static uint64_t
last_of_topic(uint32_t c, uint64_t n, uint32_t t)
{
    uint64_t r = (t + QS_SIM_TOPICS - ((uint64_t)c * 7) % QS_SIM_TOPICS) % QS_SIM_TOPICS;
    uint64_t s = n - ((n % QS_SIM_TOPICS) + QS_SIM_TOPICS - r) % QS_SIM_TOPICS;

    return n == 0 || s < 1 || s > n ? 0 : s;
}

uint64_t
qs_simgen_current_topics(uint32_t c, uint64_t count)
{
    uint64_t n = 0;

    for (uint32_t t = 0; t < QS_SIM_TOPICS; t++)
        n += last_of_topic(c, count, t) != 0;
    return n;
}

size_t
qs_simgen_pack_current(uint8_t *buf, size_t cap, uint32_t c, uint64_t count, uint64_t k,
                       uint64_t serial, int64_t base_ms)
{
    for (uint32_t t = 0; t < QS_SIM_TOPICS; t++) {
        uint64_t s = last_of_topic(c, count, t);
        if (s != 0 && k-- == 0)
            return pack_as(buf, cap, c, s, serial, base_ms);
    }
    return 0;
}

/* Message (c, s) as serial `serial` (a resync restates it under a new one). */
static size_t
pack_as(uint8_t *buf, size_t cap, uint32_t c, uint64_t s, uint64_t serial, int64_t base_ms)
{
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;
    char topic[16], machine[24], domain[] = "simcorp", empty[] = "";
    size_t len;

    snprintf(topic, sizeof topic, "KB%u", QS_SIM_FIRST_KB + qs_simgen_topic(c, s));
    snprintf(machine, sizeof machine, "sim-host-%05u", c);
    m.serial = serial;
    m.time_utc_ms = base_ms + (int64_t)s;
    m.topic_type = QS_SIM_TOPIC_TYPE;
    m.topic_id = topic;
    m.state_id = qs_simgen_state(c, s);
    m.details = empty;
    m.machine_name = machine;
    m.domain = domain;
    m.user_name = empty;
    len = quietstate__state_message__get_packed_size(&m);
    if (len > cap)
        return 0;
    return quietstate__state_message__pack(&m, buf);
}

void
qs_simgen_expected_latest(uint64_t out[QS_SIM_TOPICS][QS_SIM_STATES], uint32_t clients,
                          uint64_t messages)
{
    memset(out, 0, sizeof(uint64_t) * QS_SIM_TOPICS * QS_SIM_STATES);
    for (uint32_t c = 1; c <= clients; c++) {
        uint64_t n = qs_simgen_count(messages, clients, c);
        for (uint32_t t = 0; t < QS_SIM_TOPICS; t++) {
            /* The highest s <= n with (7c + s) % 20 == t, i.e. s % 20 == r. */
            uint64_t s = last_of_topic(c, n, t);
            if (s != 0)
                out[t][qs_simgen_state(c, s)]++;
        }
    }
}

static int
gen_take(void *ctx, uint64_t after, qs_msgref_t *refs, size_t max_refs, uint8_t *buf,
         size_t buf_cap, size_t *n_out)
{
    qs_simgen_client_t *c = ctx;
    uint64_t s = (after > c->acked ? after : c->acked) + 1;
    size_t n = 0, used = 0;

    qs_simgen_resync_due(c);
    for (; n < max_refs && (s <= c->count || (c->rs_first != 0 && s <= c->rs_last)); s++, n++) {
        size_t len = s <= c->count
            ? qs_simgen_pack(buf + used, buf_cap - used, c->client, s, c->base_ms)
            : qs_simgen_pack_current(buf + used, buf_cap - used, c->client, c->count,
                                     s - c->rs_first, s, c->base_ms);
        if (len == 0)
            break;
        refs[n].serial = s;
        refs[n].off = used;
        refs[n].len = len;
        used += len;
    }
    *n_out = n;
    return 0;
}

static int
gen_ack(void *ctx, uint64_t committed)
{
    qs_simgen_client_t *c = ctx;

    if (committed > c->rs_acked)
        c->rs_acked = committed;
    if (committed > c->count)
        committed = c->count;
    if (committed > c->acked) {
        c->acked = committed;
        c->dirty = 1;
    }
    return 0;
}

static int
gen_reject(void *ctx, uint64_t serial, Quietstate__Status status, Quietstate__Code code,
           const char *reason)
{
    qs_simgen_client_t *c = ctx;

    (void)status;
    (void)code;
    (void)reason;
    if (serial > c->acked && serial <= c->count) {
        c->rejected++;
        c->dirty = 1;
    }
    return 0;
}

qs_source_t
qs_simgen_source(qs_simgen_client_t *c)
{
    qs_source_t s = { c, gen_take, gen_ack, gen_reject, qs_simgen_fields, qs_simgen_resync };
    return s;
}
