/* qs_store_query.h - fleet-wide reads of store.db: suppressed compliance counts, statistics.
 *
 * Compliance is latest grouped by (topic_type, topic_id, state_id). Small
 * groups are suppressed here, inside store/, before any count leaves it: the
 * threshold k is read from the policy the caller passes (QS_DEFAULT_K when
 * the policy has none), and a group smaller than k comes back as
 * QS_STOREDB_SUPPRESSED, never as its number. No caller can forget the rule
 * or apply another one.
 *
 * Totals (docs/store.md, "Totals and percentages"): the scope of a topic
 * type is the number of machines with at least one latest row of that type
 * (scope_counts, kept exact by the writers). Every row carries its type's
 * scope, and each topic gets one more cell, "no report": scope minus the
 * machines with any state for that topic (no_report = 1, last of its topic).
 *
 * Suppression that survives differencing (docs/privacy.md, "Suppression"),
 * over a topic's cells: its states and its no-report cell, which with the
 * published scope sum to a known total:
 *   - primary: a cell with 0 < count < k is suppressed (a no-report cell of
 *     0 is shown: it is nobody);
 *   - complementary: the scope minus a topic's shown cells is the sum H
 *     of its m hidden cells. While that would give a cell away - m == 1
 *     (H is the cell), H < k (the hidden cells are a small group
 *     together), H == m (all are 1) or H == m (k - 1) (all are k - 1) -
 *     the smallest remaining cell of count >= k is suppressed too (the
 *     first in state order on a tie, the no-report cell last). So a topic
 *     shows 0 or >= 2 hidden cells, and what subtraction yields is a sum
 *     of at least k that no bound pins to one split;
 *   - a topic all of whose state groups are below k, or one with nothing
 *     left to hide, is not returned at all: no row carries its id.
 * INVARIANT: the pattern of a topic depends only on that topic's own
 * groups and k, never on the filter: whatever topic_type / topic_id filter
 * is asked, a topic's rows are either absent (filtered out or dropped) or
 * exactly the rows the unfiltered query returns for it. Differencing two
 * filtered answers therefore yields nothing the unfiltered one does not.
 *
 * Every query reads one consistent snapshot: a live qs-store keeps
 * committing while it runs, and neither waits for the other. Nothing here
 * writes. Types are engine-neutral: a second engine fills the same structs.
 */
#ifndef QS_STORE_QUERY_H
#define QS_STORE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "qs_policy.h"
#include "qs_storedb.h"

/* The count of a group smaller than k: not a number of machines. */
#define QS_STOREDB_SUPPRESSED (-1)
#define QS_STOREDB_MAX_COUNTER_NAME 64u

/* state_id of a topic's "no report" row (no_report = 1). */
#define QS_STOREDB_NO_REPORT_STATE UINT32_MAX

typedef struct {
    uint32_t topic_type;
    char *topic_id;          /* owned by the result */
    uint32_t state_id;       /* QS_STOREDB_NO_REPORT_STATE on the no-report row */
    int64_t count;           /* QS_STOREDB_SUPPRESSED when the cell is hidden */
    int64_t scope;           /* machines of the topic type (the percentage's base) */
    int no_report;           /* 1: machines of the scope without a row for this topic */
} qs_storedb_compliance_row_t;

typedef struct {
    int k;                                /* the threshold that was applied */
    qs_storedb_compliance_row_t *rows;    /* in (topic_type, topic_id, state_id) order,
                                           * each topic's no-report row last */
    size_t n;
} qs_storedb_compliance_t;

/* Machines per (topic type, topic id, state), with each topic's scope and
 * no-report cell, suppressed below the policy's k. Filters: topic_type NULL for every type, topic_id NULL for every id; a
 * filter that matches nothing is an empty result. Fills *out (free with
 * qs_storedb_compliance_free). Returns 0, or -1 with errmsg naming the
 * database problem (*out is then empty). */
int qs_storedb_compliance(qs_storedb_t *db, qs_storedb_compliance_t *out,
                          const qs_policy_t *policy, const uint32_t *topic_type,
                          const char *topic_id, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Free the rows; leaves *res empty. No-op on an empty result. */
void qs_storedb_compliance_free(qs_storedb_compliance_t *res);

typedef struct {
    char name[QS_STOREDB_MAX_COUNTER_NAME];   /* without its prefix: "BAD_MESSAGE" */
    int64_t value;
} qs_storedb_counter_t;

typedef struct {
    int64_t stored;            /* messages accepted, ever */
    int64_t duplicates;        /* resent messages dropped */
    int64_t clients;           /* client keys that ever delivered */
    int64_t history_rows;      /* retained events (sum over registered partitions) */
    int64_t partitions;        /* registered history partitions */
    int64_t latest_rows;       /* current states (machine x topic) */
    qs_storedb_counter_t *rejected;         /* refusals by status, in name order */
    size_t n_rejected;
    qs_storedb_counter_t *rejected_detail;  /* refusals by reason code, in name order */
    size_t n_rejected_detail;
    qs_storedb_counter_t *retries;          /* transient answers (resend) by status */
    size_t n_retries;
} qs_storedb_stats_t;

/* Fill *out with the store's counters and row counts (free with
 * qs_storedb_stats_free). Returns 0, or -1 with errmsg (*out is then empty). */
int qs_storedb_stats(qs_storedb_t *db, qs_storedb_stats_t *out, char *errmsg,
                     size_t errmsg_len) __attribute__((warn_unused_result));

/* As qs_storedb_stats, but latest_rows is the sum of the groups that
 * qs_storedb_compliance publishes under policy (the suppressed ones left
 * out), read in the same snapshot: the total an operator may see, from
 * which no suppressed count can be recovered by subtraction (any
 * conditional release of the remainder would tell on which side of the
 * condition it lies; docs/privacy.md). Returns 0 or -1 with errmsg. */
int qs_storedb_stats_published(qs_storedb_t *db, qs_storedb_stats_t *out,
                               const qs_policy_t *policy, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Count n more refusals with this status and code in st's rejected and
 * rejected_detail maps (for refusals counted outside store.db, such as the
 * broker's): adds to an existing counter or inserts one in name order.
 * n <= 0 adds nothing. Names are shorter than QS_STOREDB_MAX_COUNTER_NAME. */
void qs_storedb_stats_add_rejected(qs_storedb_stats_t *st, const char *status,
                                   const char *code, int64_t n);

/* Free the counter maps; leaves *st's maps empty. */
void qs_storedb_stats_free(qs_storedb_stats_t *st);

#endif
