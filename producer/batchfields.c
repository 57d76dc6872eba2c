/* batchfields.c - Batch.instance and the resync markers, packed (batchfields.h). */
#include "batchfields.h"

#include "source.h"

#include <string.h>

_Static_assert(2 + QS_INSTANCE_BYTES + 2 * 11 <= QS_SOURCE_FIELDS_MAX,
               "the batch fields fit what the sender reserves");

size_t
qs_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t
qs_batch_fields(uint8_t *buf, const uint8_t instance[QS_INSTANCE_BYTES], uint64_t first,
                uint64_t last, uint64_t gen, uint64_t rs_first, uint64_t rs_last)
{
    size_t n = 0;

    buf[n++] = (2u << 3) | 2u;             /* instance: bytes */
    buf[n++] = QS_INSTANCE_BYTES;
    memcpy(buf + n, instance, QS_INSTANCE_BYTES);
    n += QS_INSTANCE_BYTES;
    if (gen != 0 && rs_first != 0 && first <= rs_last && last >= rs_first) {
        buf[n++] = 3u << 3;                /* resync_generation: varint */
        n += qs_put_varint(buf + n, gen);
        buf[n++] = 4u << 3;                /* resync_last_serial: varint */
        n += qs_put_varint(buf + n, rs_last);
    }
    return n;
}
