/* logthrottle.c - per-key log throttle; see logthrottle.h.
 *
 * Linear scan over QS_LOGTHROTTLE_SLOTS entries: it runs only on refusals,
 * never on the forwarding path, so simplicity beats a hash here.
 */
#include "logthrottle.h"
#include "qs_log.h"

#include <string.h>

#define PREFIX_BYTES 8u

struct slot {
    uint8_t prefix[PREFIX_BYTES];
    int64_t last_ms;
    int used;
};

struct qs_logthrottle {
    int64_t interval_ms;
    struct slot slots[QS_LOGTHROTTLE_SLOTS];
};

qs_logthrottle_t *
qs_logthrottle_new(int64_t interval_ms)
{
    qs_logthrottle_t *t = qs_calloc(1, sizeof *t);
    t->interval_ms = interval_ms;
    return t;
}

int
qs_logthrottle_allow(qs_logthrottle_t *t, const uint8_t key[QS_KEY_BYTES], int64_t now_ms)
{
    struct slot *oldest = &t->slots[0];

    for (size_t i = 0; i < QS_LOGTHROTTLE_SLOTS; i++) {
        struct slot *s = &t->slots[i];
        if (s->used && memcmp(s->prefix, key, PREFIX_BYTES) == 0) {
            if (now_ms - s->last_ms < t->interval_ms)
                return 0;
            s->last_ms = now_ms;
            return 1;
        }
        if (!s->used || (oldest->used && s->last_ms < oldest->last_ms))
            oldest = s;
    }
    memcpy(oldest->prefix, key, PREFIX_BYTES);
    oldest->last_ms = now_ms;
    oldest->used = 1;
    return 1;
}

void
qs_logthrottle_destroy(qs_logthrottle_t **t_p)
{
    if (t_p == NULL || *t_p == NULL)
        return;
    free(*t_p);
    *t_p = NULL;
}
