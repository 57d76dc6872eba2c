/* qs_store_check.h - what `qsctl verify` asks of store.db: facts to judge, not verdicts.
 *
 * The store measures (rows per topic type or partition, rows older than a
 * cutoff, identities that are not pseudonyms, columns that could hold text,
 * compliance_counts against latest, storage settings that scrubbing needs);
 * the caller (retention/verify.c) decides what is a finding and words it.
 * The cutoff of a topic type is qs_policy_cutoff_ms less grace_ms (the lag
 * allowed for qs-retention to get there), computed here once per type.
 * Functions that walk many items call back once per item, in order, so a
 * failure part way still leaves what was seen; errmsg then gets the
 * engine's reason.
 */
#ifndef QS_STORE_CHECK_H
#define QS_STORE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "qs_policy.h"
#include "qs_storedb.h"

/* One topic type of latest. */
typedef struct {
    uint32_t topic_type;
    int64_t rows;
    int64_t not_pseudonym;      /* rows whose machine or domain is not a 16-byte pseudonym */
    int64_t expired;            /* rows last reported before the type's cutoff */
    int64_t oldest_report_ms;   /* the earliest last report of the type */
} qs_check_latest_t;

typedef void (*qs_check_latest_cb)(void *ctx, const qs_check_latest_t *t);

/* Call cb for every topic type present in latest, in topic type order.
 * Returns 0, or -1 with errmsg. */
int qs_storedb_check_latest(qs_storedb_t *db, qs_check_latest_cb cb, void *ctx,
                            const qs_policy_t *p, int64_t now_ms, int64_t grace_ms,
                            char *errmsg, size_t errmsg_len);

/* One history partition present in store.db. */
typedef struct {
    int64_t epoch;
    uint32_t topic_type;
    int64_t rows;
    int64_t not_pseudonym;      /* rows whose machine, domain or user is not a pseudonym */
    int64_t expired;            /* rows whose time is before the type's cutoff */
    const char *error;          /* NULL, or why it could not be read (counts are 0) */
} qs_check_partition_t;

typedef void (*qs_check_partition_cb)(void *ctx, const qs_check_partition_t *part);

/* Call cb for every history partition present (registered, or only present
 * as a table; qs_storedb_partitions_present), oldest first; a partition
 * registered without a table holds nothing and is skipped. Returns 0, or
 * -1 with errmsg when the partitions cannot be listed. */
int qs_storedb_check_partitions(qs_storedb_t *db, qs_check_partition_cb cb, void *ctx,
                                const qs_policy_t *p, int64_t now_ms, int64_t grace_ms,
                                char *errmsg, size_t errmsg_len);

/* A column of store.db that could hold text, other than the ones that must
 * (topic ids, counter names): a place an identifier could be kept. type is
 * the column's declared type. */
typedef void (*qs_check_column_cb)(void *ctx, const char *table, const char *column,
                                   const char *type);

/* Call cb for every such column, by table and position. Returns 0, or -1
 * with errmsg when the schema cannot be read. */
int qs_storedb_check_text_columns(qs_storedb_t *db, qs_check_column_cb cb, void *ctx,
                                  char *errmsg, size_t errmsg_len);

/* Where a raw name occurs in the database's rows: the counterpart, for an
 * engine whose data does not live in the site home, of verify's byte scan
 * of the home's files. rows counts the rows of table whose column holds
 * name (ASCII case-insensitive). */
typedef void (*qs_check_name_cb)(void *ctx, const char *table, const char *column,
                                 int64_t rows);

/* Search every column of every table that could hold a name's bytes (text
 * and binary) for name, calling cb for each column where it occurs.
 * *searched = 1 when the engine searched; 0 on SQLite, where store.db and
 * its WAL are files under the home that verify scans byte by byte (deleted
 * content included), which is the stronger check. Returns 0, or -1 with
 * errmsg. */
int qs_storedb_check_name(qs_storedb_t *db, const char *name, int *searched,
                          qs_check_name_cb cb, void *ctx, char *errmsg, size_t errmsg_len);

/* Storage settings deleted data depends on (for SQLite, incremental
 * auto-vacuum: without it freed pages are never returned). Returns 1 with
 * a sentence in problem when one is wrong, else 0 (also when the setting
 * cannot be read). */
int qs_storedb_check_storage(qs_storedb_t *db, char *problem, size_t problem_len);

/* compliance_counts against latest (qs_storedb_counts_check, qs_counts.h):
 * *missing groups absent or wrong, *stale groups latest does not have.
 * Returns 0, or -1 with errmsg. */
int qs_storedb_check_counts(qs_storedb_t *db, int64_t *missing, int64_t *stale,
                            char *errmsg, size_t errmsg_len);

/* scope_counts against latest (qs_storedb_scope_check, qs_counts.h):
 * *wrong topic types whose machine count is absent, different or left
 * over. Returns 0, or -1 with errmsg. */
int qs_storedb_check_scope(qs_storedb_t *db, int64_t *wrong, char *errmsg, size_t errmsg_len);

/* installed_hours against latest (qs_storedb_installed_check, qs_counts.h;
 * the hour counts `qsctl compliance --deployment` reads, either engine):
 * *wrong hours absent, different or left over. Returns 0, or -1 with
 * errmsg. */
int qs_storedb_check_installed(qs_storedb_t *db, int64_t *wrong, char *errmsg,
                               size_t errmsg_len);

/* Rebuild compliance_counts, scope_counts and installed_hours from latest in one write transaction of its
 * own (the store's commits wait for it, so no write is counted twice or
 * lost); *groups gets the groups written. Returns 0, or -1 with errmsg, a
 * whole sentence (nothing was changed). */
int qs_storedb_counts_repair(qs_storedb_t *db, int64_t *groups, char *errmsg,
                             size_t errmsg_len) __attribute__((warn_unused_result));

#endif
