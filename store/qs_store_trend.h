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
 * The same pass, in the same transaction, snapshots every group of machines
 * that exists then (qs_store_group.h), counted by the rule group compliance
 * uses (groups_rules.h QS_GROUP_SQL_CELLS: its members' rows of latest),
 * and notes the group in compliance_days_group. A group's day is present
 * only when that row is there: the days before the group was created (or
 * before this release) are missing for it, even when the fleet has them,
 * never 0. Removing a group (qs_storedb_group_remove of the whole group)
 * deletes its snapshots in the same transaction: a name created again
 * later starts with no days.
 *
 *   compliance_daily(day, topic_type, topic_id, state_id) PK -> count
 *   compliance_days(day) PK -> taken_ms
 *   compliance_daily_group(group_name, day, topic_type, topic_id, state_id) PK -> count
 *   compliance_days_group(day, group_name) PK
 *   day: UTC day number (days since 1970-01-01, as history partitions count)
 *
 * The tables are created when missing by the first snapshot (keyed on the
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
#include "qs_sitedb.h"
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
    char *group;             /* owned: the group whose snapshots these are; NULL: the fleet's */
    char *deployment;        /* owned: the deployment asked about; NULL when none */
    int64_t first_day, last_day;            /* the range asked, inclusive */
    int64_t *missing_days;   /* days of the range without a snapshot, ascending */
    size_t n_missing;
    qs_storedb_trend_row_t *rows;   /* (day, topic_type, topic_id bytes, state_id) order */
    size_t n;
} qs_storedb_trend_t;

/* Copy compliance_counts into day (UTC day number) in one transaction,
 * and every existing group's counts into its day: the day's earlier rows
 * are replaced, compliance_days (and compliance_days_group per group)
 * note the day, and days before day - keep_days + 1 are deleted. Creates
 * the tables when missing. *groups (may be NULL) gets the rows written. On PostgreSQL the
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

/* What a trend is asked about: the fleet's or one group's snapshots,
 * filtered by topic. Every member may be NULL / 0 (no filter). */
typedef struct {
    const uint32_t *topic_type;     /* only this topic type */
    const char *topic_id;           /* only this topic id */
    const char *const *topic_ids;   /* with n_topic_ids > 0: only these ids (a deployment's) */
    size_t n_topic_ids;
    const char *group;              /* this group's snapshots instead of the fleet's */
} qs_trend_query_t;

/* qs_storedb_trend with every filter of q. With q->group: that group's
 * days (a day without the group's snapshot is missing), suppressed per
 * day by the same rules; QS_GROUP_UNKNOWN (errmsg says so) when the group
 * does not exist now (its snapshots went with it). 0; QS_GROUP_UNKNOWN; or
 * -1 with errmsg (*out empty). */
int qs_storedb_trend_query(qs_storedb_t *db, qs_storedb_trend_t *out, const qs_policy_t *policy,
                           int64_t last_day, int days, const qs_trend_query_t *q, char *errmsg,
                           size_t errmsg_len) __attribute__((warn_unused_result));

/* The deployment was not found in site.db (errmsg says how to list them). */
#define QS_TREND_NO_DEPLOYMENT (-3)

/* The trend of deployment id (site.db, qs_deployments.h): its updates'
 * rows only (its topic type and topic ids), from its group's snapshots when
 * it has a group, else the fleet's. Counts per (update, state) per day, as
 * every trend: a deployment's deadline classes are not kept per day.
 * 0; QS_TREND_NO_DEPLOYMENT; QS_GROUP_UNKNOWN (the deployment's group does
 * not exist any more); or -1, each with errmsg (*out empty). */
int qs_storedb_trend_deployment(qs_storedb_t *db, qs_storedb_trend_t *out, qs_sitedb_t *sitedb,
                                const qs_policy_t *policy, int64_t last_day, int days,
                                const char *id, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Free the rows and days; leaves *t empty. No-op on an empty result. */
void qs_storedb_trend_free(qs_storedb_trend_t *t);

/* The JSON document of an answer (what `qsctl compliance --trend --format
 * json` prints and qs-web answers):
 *   {"k": K, "group": "NAME" or null, "deployment": "ID" or null,
 *    "days": N, "first_day": "YYYY-MM-DD", "last_day": "…",
 *    "missing_days": ["YYYY-MM-DD", …],
 *    "rows": [{"day": "YYYY-MM-DD", "topic_type": 500, "topic_id": "…",
 *              "state_id": 3, "state": "installed", "count": 17}, …]}
 * a suppressed cell has "count": null, "suppressed": true; a cell of a
 * missing day "count": null, "missing": true. Aborts on out of memory. */
cJSON *qs_storedoc_trend(const qs_storedb_trend_t *t);

#endif
