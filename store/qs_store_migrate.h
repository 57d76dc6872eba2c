/* qs_store_migrate.h - copy an SQLite store.db into an empty PostgreSQL database.
 *
 * Engine-neutral for its callers (qsctl migrate): only store/ names the
 * tables of either engine. Every table is copied as it is, in one
 * PostgreSQL transaction, with COPY FROM STDIN:
 *
 *   clients       with their client_id values (seen, latest and every
 *                 history row refer to them; the history's associated
 *                 data binds client_id and serial), then the identity
 *                 sequence is moved past the largest;
 *   seen, latest  as they are (latest.serial, which PostgreSQL's workers use
 *                 to break a tie of two reports of the same millisecond,
 *                 starts at 0: SQLite does not keep it);
 *   compliance_counts, counters, partitions   into shard 0 (storedb_pg.h);
 *   installed_hours, scope_counts   not copied: made from the copied latest
 *                 (a fill, the target's triggers), then their sums compared
 *                 with store.db's;
 *   history_E_T   every partition present, sealed details unchanged: the
 *                 epoch keys stay the same files in keys/epochs.
 *
 * Epoch keys: an SQLite site has one random key file per partition, a
 * PostgreSQL site one hash chain per topic type (epochchain.h: workers on
 * several hosts derive the same keys). Given a chains_dir, the chains are
 * created there (a staging directory, not yet in force) and every detail is
 * opened under its old key and sealed again under the chain's key for the
 * same (client_id, serial, epoch, topic_type); a detail whose key was
 * already shredded is copied as it is (nobody can open it either way).
 * After the switch the caller installs the chains and shreds the old key
 * files (qs_store_migrate_keys_*).
 *
 * The target must be empty: no row in any of the store's tables and no
 * history table (the tables are created, under the schema lock, if the
 * database has none). Before COMMIT the rows of every table are counted on
 * both sides and the sums of compliance_counts compared; any difference
 * rolls everything back. The SQLite file is read in one read transaction
 * (a consistent snapshot) and left untouched; its owner must be stopped.
 */
#ifndef QS_STORE_MIGRATE_H
#define QS_STORE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

/* What was copied (equal on both sides when the call returned 0). */
typedef struct {
    int64_t clients, seen, latest;
    int64_t compliance_groups;   /* rows of compliance_counts */
    int64_t compliance_sum;      /* sum of their counts (= rows of latest) */
    int64_t counters, partitions;
    int64_t history_tables, history_rows;
    int64_t total_rows;          /* every row copied */
    int64_t resealed;            /* details sealed again under the chains */
} qs_migrate_counts_t;

/* Called now and then while rows are copied: table being copied, rows
 * copied so far over all tables, and the total to copy. */
typedef void (*qs_migrate_progress_fn)(void *arg, const char *table, int64_t done,
                                       int64_t total);

/* The target held data: nothing was written. */
#define QS_MIGRATE_NOT_EMPTY (-2)

/* Copy the store at sqlite_path into the PostgreSQL database at url (a
 * libpq URI). progress may be NULL. Returns 0 with *counts filled;
 * QS_MIGRATE_NOT_EMPTY when the target is not empty; -1 with errmsg on any
 * other failure (the target is left as it was, apart from the schema's
 * empty tables). */
int qs_store_migrate(const char *sqlite_path, const char *url, const char *epochs_dir,
                     const char *chains_dir, qs_migrate_counts_t *counts,
                     qs_migrate_progress_fn progress, void *progress_arg, char *errmsg,
                     size_t errmsg_len) __attribute__((warn_unused_result));

/* 1 when epochs_dir already holds key chains (nothing to re-seal: pass
 * chains_dir NULL), 0 when it holds key files only. */
int qs_store_migrate_keys_chained(const char *epochs_dir);

/* Move the chains from staging into epochs_dir (rename, fsync), remove
 * staging. 0 or -1 with errmsg. */
int qs_store_migrate_keys_install(const char *staging, const char *epochs_dir, char *errmsg,
                                  size_t errmsg_len);

/* Shred every chain file in dir (and remove dir when remove_dir): the
 * chains of a migration that did not happen. 0 or -1 with errmsg. */
int qs_store_migrate_keys_discard(const char *dir, int remove_dir, char *errmsg,
                                  size_t errmsg_len);

/* Shred every per-partition key file (<epoch>-<topic_type>.key) of
 * epochs_dir; how many into *n. 0 or -1 with errmsg. */
int qs_store_migrate_keys_shred_files(const char *epochs_dir, int64_t *n, char *errmsg,
                                      size_t errmsg_len);

/* Run ANALYZE on the database at url, so that the planner knows the
 * copied tables' sizes before the first query. 0 or -1 with errmsg. */
int qs_store_migrate_analyze(const char *url, char *errmsg, size_t errmsg_len);

#endif
