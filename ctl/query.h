/* query.h - read-only queries on store.db (and counts on site.db) for
 * qsctl compliance and qsctl stats.
 *
 * Compliance is the `latest` table grouped by (topic_type, topic_id,
 * state_id), read from compliance_counts, which triggers keep equal to that
 * grouping in every writer's transaction: SQLite reads a few hundred rows in
 * primary-key order instead of counting millions, and a --topic-type or
 * --topic-id filter is a key range. Small groups are suppressed here, before any count leaves
 * the module: a group with fewer than k members has count
 * QUERY_SUPPRESSED. The queries run inside one read transaction so that a
 * live qs-store committing meanwhile cannot make the numbers inconsistent.
 */
#ifndef QS_CTL_QUERY_H
#define QS_CTL_QUERY_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define QUERY_SUPPRESSED (-1)
#define QUERY_MAX_COUNTER_NAME 64u

typedef struct {
    uint32_t topic_type;
    char *topic_id;          /* owned by the result */
    uint32_t state_id;
    int64_t count;           /* QUERY_SUPPRESSED when the group is smaller than k */
} query_compliance_row_t;

typedef struct {
    query_compliance_row_t *rows;   /* in (topic_type, topic_id, state_id) order */
    size_t n;
} query_compliance_t;

/* Filters: topic_type NULL for every type, topic_id NULL for every id.
 * k >= 1. Fills *out (free with query_compliance_free). Returns 0, or -1 with
 * errmsg naming the database problem. */
int query_compliance(query_compliance_t *out, sqlite3 *store_db, const uint32_t *topic_type,
                     const char *topic_id, int k, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* The SQL query_compliance() runs for these filters (for EXPLAIN in tests). */
const char *query_compliance_sql(int by_topic_type, int by_topic_id);

/* Free rows; leaves *res empty. No-op on an empty result. */
void query_compliance_free(query_compliance_t *res);

typedef struct {
    char name[QUERY_MAX_COUNTER_NAME];   /* without its prefix: "BAD_MESSAGE" */
    int64_t value;
} query_counter_t;

typedef struct {
    int64_t stored;            /* counter "stored" */
    int64_t duplicates;        /* counter "duplicates" */
    int64_t clients;           /* rows in store.db clients */
    int64_t history_rows;      /* sum of partitions.rows */
    int64_t partitions;        /* registered history partitions */
    int64_t latest_rows;       /* rows in latest */
    query_counter_t *rejected; /* counters "rejected.<STATUS>", by name */
    size_t n_rejected;
    query_counter_t *rejected_detail;  /* counters "rejected_detail.<CODE>" */
    size_t n_rejected_detail;
} query_stats_t;

/* Fill *out from store.db (free with query_stats_free). 0, or -1 with errmsg. */
int query_stats(query_stats_t *out, sqlite3 *store_db, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

void query_stats_free(query_stats_t *st);

/* Count n more refusals with this status and code in st's rejected and
 * rejected_detail maps (for refusals counted outside store.db, such as the
 * broker's): adds to an existing counter or inserts one in name order.
 * n <= 0 adds nothing. */
void query_stats_add_rejected(query_stats_t *st, const char *status, const char *code,
                              int64_t n);

/* Enrolled (never revoked) and revoked client keys in site.db. */
int query_site_clients(int64_t *enrolled, int64_t *revoked, sqlite3 *site_db,
                       char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

#endif
