/* quota.h - per-client rate quotas of one qs-store worker: messages and details bytes per minute.
 *
 * docs/quotas.md is the operator's view. Each client (transport key) has
 * two token buckets in this process's memory, refilled continuously at the
 * configured rate per minute and holding at most one minute's worth. A
 * batch is admitted when both buckets hold its cost (messages, details
 * bytes), and takes it. A batch larger than a minute's budget passes when
 * the bucket is full and leaves it in debt (nothing stalls for ever); the
 * debt is repaid before the client's next batch passes. Over any span T a
 * client gets at most rate x T + one minute's budget + one batch through.
 * A batch refused leaves the bucket as it was, so the batches behind it in
 * the producer's window are refused too (no out-of-order admissions that
 * would come back as duplicates).
 *
 * A refused batch is answered RETRY_LATER (code QUOTA_RATE or
 * QUOTA_DETAILS): nothing of it is stored, the producer keeps it, backs off
 * and resends (docs/protocol.md). The buckets are checked before the
 * transaction, so a refusal costs no database work.
 *
 * Per worker, not shared: with several PostgreSQL workers a client may get
 * up to workers x the rate through. Sharing would put a row lock or a
 * round trip on every batch's path for a limit that exists to protect each
 * worker's own CPU and its share of the database; a per-worker budget does
 * exactly that. Memory: one entry per client active in the last minute;
 * entries whose buckets are full again are dropped every minute.
 */
#ifndef QS_STORE_QUOTA_H
#define QS_STORE_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "qs_keys.h"
#include "quietstate.pb-c.h"

typedef struct qs_quota qs_quota_t;

/* 0 turns a bucket off. */
typedef struct {
    uint64_t messages_per_minute;
    uint64_t details_bytes_per_minute;
} qs_quota_conf_t;

/* Always returns a quota (allocation failure aborts). */
qs_quota_t *qs_quota_new(const qs_quota_conf_t *conf);
void qs_quota_destroy(qs_quota_t **q_p);

/* Charge one batch of client pk: messages and the sum of their details
 * lengths, at monotonic time now_ms. QUIETSTATE__CODE__CODE_NONE when
 * admitted (and charged), else QUOTA_RATE or QUOTA_DETAILS (nothing
 * charged). */
Quietstate__Code qs_quota_take(qs_quota_t *q, const uint8_t pk[QS_KEY_BYTES], uint64_t messages,
                               uint64_t details_bytes, int64_t now_ms);

/* The reason an Ack carries for a quota code. */
const char *qs_quota_reason(Quietstate__Code code);

/* Clients with a bucket in memory (tests, the stats line). */
size_t qs_quota_clients(const qs_quota_t *q);

#endif
