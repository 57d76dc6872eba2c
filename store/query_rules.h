/* query_rules.h - the read side's engine-neutral rules, shared by both engines (private to store/).
 *
 * query.c (SQLite) and query_pg.c (PostgreSQL) differ only in how they
 * fetch exact counts and counters; what is published of them is decided
 * here, once: suppression (qs_store_query.h, docs/privacy.md), the
 * published total, and how counter names map onto qs_storedb_stats_t.
 */
#ifndef QS_QUERY_RULES_H
#define QS_QUERY_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "qs_store_query.h"

/* The k a compliance answer applies under policy (QS_DEFAULT_K without one). */
int qs_compliance_k(const qs_policy_t *policy);

/* Append one exact group to out (cap: the rows allocated, 0 at first).
 * Rows must be appended in (topic_type, topic_id bytes, state_id) order. */
void qs_compliance_push(qs_storedb_compliance_t *out, size_t *cap, uint32_t topic_type,
                        const char *topic_id, uint32_t state_id, int64_t count);

/* Apply suppression under out->k to every topic of out (exact counts in)
 * and drop the topics that are all below k. */
void qs_compliance_suppress(qs_storedb_compliance_t *out);

/* The sum of the groups a suppressed answer publishes. */
int64_t qs_compliance_published(const qs_storedb_compliance_t *res);

/* Sort one counter row (name, summed value) into out: the named totals,
 * or a rejected/retries map (rows must come in name order). */
void qs_storedb_stats_counter(qs_storedb_stats_t *out, const char *name, int64_t value);

#endif
