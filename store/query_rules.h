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

/* Machines of one topic type (scope_counts summed, read in the same
 * snapshot as the groups). */
typedef struct {
    uint32_t topic_type;
    int64_t machines;
} qs_compliance_scope_t;

/* Give every topic of out (exact counts in) its scope (scopes, n_scopes:
 * any order; a type not there has scope 0) and its no-report cell, apply
 * suppression under out->k to all its cells, and drop the topics whose
 * state groups are all below k. A scope below the sum of its topic's
 * groups (counts not rebuilt yet) is raised to that sum: no cell is
 * negative. */
void qs_compliance_suppress(qs_storedb_compliance_t *out, const qs_compliance_scope_t *scopes,
                            size_t n_scopes);

/* The sum of the state groups a suppressed answer publishes (no-report
 * cells are not rows of latest). */
int64_t qs_compliance_published(const qs_storedb_compliance_t *res);

/* Sort one counter row (name, summed value) into out: the named totals,
 * or a rejected/retries map (rows must come in name order). */
void qs_storedb_stats_counter(qs_storedb_stats_t *out, const char *name, int64_t value);

#endif
