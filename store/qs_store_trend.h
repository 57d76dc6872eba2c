/* qs_store_trend.h - compliance per UTC day: daily snapshots of the kept counts, and their suppressed read.
 *
 * History expires (the policy's maximum age), so a trend cannot be
 * recomputed from it. Instead qs-retention copies compliance_counts (the
 * current machines per topic and state, qs_storedb.h) into the day's rows
 * of compliance_daily on every pass: the last pass of a UTC day wins, so a
 * day's rows are its state at (about) its end; the first pass after
 * midnight writes the new day at once, so a site whose retention runs at
 * least daily has no missing day. compliance_days records which days have
 * a snapshot and when it was taken: a day without one is *missing* (shown
 * as null), never zero. Days older than the kept horizon are deleted by
 * the same pass.
 *
 *   compliance_daily(day, topic_type, topic_id, state_id) PK -> count
 *   compliance_days(day) PK -> taken_ms
 *   day: UTC day number (days since 1970-01-01, as history partitions count)
 *
 * Both tables are created when missing by the first snapshot (keyed on the
 * table's existence, not on the schema version: an older store just has no
 * days yet, and a reader of a store without them sees every day missing).
 *
 * What leaves store/ is suppressed exactly as qs_storedb_compliance is
 * (qs_store_query.h, query_rules.h), day by day: each day's answer is the
 * compliance answer of that day's snapshot under the k of the policy the
 * caller passes. Types are engine-neutral; the PostgreSQL engine (trend_pg.c)
 * fills the same structs.
 */
#ifndef QS_STORE_TREND_H
#define QS_STORE_TREND_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "qs_policy.h"
#include "qs_store_query.h"

/* Days kept: a snapshot older than this many days before today is deleted
 * by the pass that writes today's. Also the largest --days a query takes. */
#define QS_TREND_KEEP_DAYS 400

/* The count of a (day, group) whose day has no snapshot: unknown, not 0. */
#define QS_TREND_MISSING (-2)

typedef struct {
    int64_t day;             /* UTC day number */
    uint32_t topic_type;
    char *topic_id;          /* owned by the result */
    uint32_t state_id;
    int64_t count;           /* or QS_STOREDB_SUPPRESSED, or QS_TREND_MISSING */
} qs_storedb_trend_row_t;

typedef struct {
    int k;                   /* the threshold that was applied */
    int64_t first_day, last_day;            /* the range asked, inclusive */
    int64_t *missing_days;   /* days of the range without a snapshot, ascending */
    size_t n_missing;
    qs_storedb_trend_row_t *rows;   /* (day, topic_type, topic_id bytes, state_id) order */
    size_t n;
} qs_storedb_trend_t;

/* Copy compliance_counts into day (UTC day number) in one transaction:
 * the day's earlier rows are replaced, compliance_days notes taken_ms, and
 * days before day - keep_days + 1 are deleted. Creates the tables when
 * missing. *groups (may be NULL) gets the rows written. On PostgreSQL the
 * caller holds the retention lock (one writer of the day at a time).
 * Returns 0, or -1 with errmsg (nothing changed). */
int qs_storedb_trend_snapshot(qs_storedb_t *db, int64_t day, int64_t taken_ms, int keep_days,
                              int64_t *groups, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* The days [last_day - days + 1, last_day] (days 1..QS_TREND_KEEP_DAYS),
 * filtered as qs_storedb_compliance is (topic_type / topic_id NULL for
 * all), suppressed per day under the policy's k. Every group that appears
 * on some day of the answer also gets a QS_TREND_MISSING row on each
 * missing day, so a chart has a gap there, not a zero. Fills *out (free
 * with qs_storedb_trend_free). Returns 0, or -1 with errmsg (*out empty). */
int qs_storedb_trend(qs_storedb_t *db, qs_storedb_trend_t *out, const qs_policy_t *policy,
                     int64_t last_day, int days, const uint32_t *topic_type,
                     const char *topic_id, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Free the rows and days; leaves *t empty. No-op on an empty result. */
void qs_storedb_trend_free(qs_storedb_trend_t *t);

/* The JSON document of an answer (what `qsctl compliance --trend --format
 * json` prints and qs-web answers):
 *   {"k": K, "days": N, "first_day": "YYYY-MM-DD", "last_day": "…",
 *    "missing_days": ["YYYY-MM-DD", …],
 *    "rows": [{"day": "YYYY-MM-DD", "topic_type": 500, "topic_id": "…",
 *              "state_id": 3, "state": "installed", "count": 17}, …]}
 * a suppressed cell has "count": null, "suppressed": true; a cell of a
 * missing day "count": null, "missing": true. Aborts on out of memory. */
cJSON *qs_storedoc_trend(const qs_storedb_trend_t *t);

#endif
