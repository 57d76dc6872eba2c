/* ops_pg.h - the PostgreSQL engine's read, retention and check operations (private to store/).
 *
 * Each engine-neutral function of qs_store_query.h, qs_store_lookup.h,
 * qs_store_expire.h, qs_store_forget.h, qs_store_check.h and qs_counts.h
 * starts with `if (qs_storedb_pgdb(db) != NULL) return <name>_pg(...)`;
 * these are the <name>_pg, with the same contracts as the functions they
 * stand in for (see those headers). Only store/ includes this header.
 */
#ifndef QS_OPS_PG_H
#define QS_OPS_PG_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "qs_counts.h"
#include "qs_store_check.h"
#include "qs_store_expire.h"
#include "qs_store_forget.h"
#include "qs_store_lookup.h"
#include "qs_store_query.h"
#include "storedb_pg.h"

/* query_pg.c */
int qs_storedb_compliance_pg(qs_storedb_t *db, qs_storedb_compliance_t *out,
                             const qs_policy_t *policy, const uint32_t *topic_type,
                             const char *topic_id, char *errmsg, size_t errmsg_len);
/* policy NULL: qs_storedb_stats; else qs_storedb_stats_published. */
int qs_storedb_stats_pg(qs_storedb_t *db, qs_storedb_stats_t *out, const qs_policy_t *policy,
                        char *errmsg, size_t errmsg_len);

/* lookup_pg.c */
int qs_storedb_lookup_pg(qs_storedb_t *db, qs_storedb_lookup_t *out,
                         const qs_machine_ps_t *who, int history, qs_epochkeys_t *ks,
                         char *errmsg, size_t errmsg_len);

/* expire_pg.c */
int qs_storedb_expire_partition_pg(qs_storedb_t *db, int64_t *rows, int64_t epoch,
                                   uint32_t topic_type, char *errmsg, size_t errmsg_len);
int qs_storedb_expire_history_pg(qs_storedb_t *db, int64_t *deleted, int64_t epoch,
                                 uint32_t topic_type, int64_t cutoff_ms,
                                 char *errmsg, size_t errmsg_len);
int qs_storedb_expire_latest_pg(qs_storedb_t *db, int64_t *deleted, int *interrupted,
                                const qs_expire_topics_t *topics, int64_t cutoff_ms,
                                size_t batch, const volatile sig_atomic_t *stop,
                                char *errmsg, size_t errmsg_len);

/* retention_pg.c */
int qs_storedb_retention_trylock_pg(qs_storedb_t *db, char *errmsg, size_t errmsg_len);
void qs_storedb_retention_unlock_pg(qs_storedb_t *db);
int qs_storedb_retention_fold_pg(qs_storedb_t *db, char *errmsg, size_t errmsg_len);

/* forget_pg.c */
int qs_storedb_forget_machine_pg(qs_storedb_t *db, qs_forget_counts_t *counts,
                                 const qs_machine_ps_t *who, char *errmsg, size_t errmsg_len);

/* check_pg.c */
int qs_storedb_check_latest_pg(qs_storedb_t *db, qs_check_latest_cb cb, void *ctx,
                               const qs_policy_t *p, int64_t now_ms, int64_t grace_ms,
                               char *errmsg, size_t errmsg_len);
int qs_storedb_check_partitions_pg(qs_storedb_t *db, qs_check_partition_cb cb, void *ctx,
                                   const qs_policy_t *p, int64_t now_ms, int64_t grace_ms,
                                   char *errmsg, size_t errmsg_len);
int qs_storedb_check_text_columns_pg(qs_storedb_t *db, qs_check_column_cb cb, void *ctx,
                                     char *errmsg, size_t errmsg_len);
int qs_storedb_check_storage_pg(qs_storedb_t *db, char *problem, size_t problem_len);
int qs_storedb_check_name_pg(qs_storedb_t *db, const char *name, qs_check_name_cb cb, void *ctx,
                             char *errmsg, size_t errmsg_len);

/* counts_pg.c: compliance_counts (summed over shards) against latest. */
int qs_storedb_counts_check_pg(qs_storedb_t *db, int64_t *missing, int64_t *stale,
                               char *errmsg, size_t errmsg_len);
/* Inside the caller's transaction; locks latest against writers first. */
int qs_storedb_counts_rebuild_pg(qs_storedb_t *db, int64_t *groups, char *errmsg,
                                 size_t errmsg_len);
int qs_storedb_scope_check_pg(qs_storedb_t *db, int64_t *wrong, char *errmsg,
                              size_t errmsg_len);
int qs_storedb_installed_check_pg(qs_storedb_t *db, int64_t *wrong, char *errmsg,
                                  size_t errmsg_len);
int qs_storedb_counts_repair_pg(qs_storedb_t *db, int64_t *groups, char *errmsg,
                                size_t errmsg_len);

#endif
