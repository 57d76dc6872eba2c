/* qs_store_bench.h - PRIVATE test header: the few store.db writes qs-bench needs, done by store/.
 *
 * Not a public interface: only bench/ and tests include it (qsctl's and
 * retention's tests write their fixtures and their damage through it).
 * qs-bench measures SQLite's limit with exactly the statements the store
 * writes with (write.h names their SQL once) and fills store.db for its
 * query and retention measurements; without this header it would need the
 * SQLite handle and SQL over store tables. Rows are given already minimized
 * (pseudonyms, truncated times, sealed details): nothing here pseudonymizes
 * or encrypts.
 */
#ifndef QS_STORE_BENCH_H
#define QS_STORE_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "qs_storedb.h"

/* One row as the store writes it. Pseudonyms are QS_PSEUDONYM_BYTES or NULL;
 * details is the sealed blob (qs_details_seal) or NULL. history uses every
 * field but report_ms; latest every field but serial, user_ps and details. */
typedef struct {
    int64_t client_id;
    uint64_t serial;
    uint32_t topic_type;
    const char *topic_id;
    uint32_t state_id;
    int64_t time_ms;
    int64_t report_ms;
    const uint8_t *machine_ps, *domain_ps, *user_ps;
    const uint8_t *details;
    size_t details_len;
} qs_store_bench_row_t;

typedef struct qs_store_bench qs_store_bench_t;

/* The store's statements on db (borrowed: must outlive the result). NULL
 * with errmsg when db is not a store database. */
qs_store_bench_t *qs_store_bench_new(qs_storedb_t *db, char *errmsg, size_t errmsg_len);

void qs_store_bench_destroy(qs_store_bench_t **self_p);

/* BEGIN IMMEDIATE / the partitions' row counts and COMMIT. 0 or -1. */
int qs_store_bench_begin(qs_store_bench_t *self);
int qs_store_bench_commit(qs_store_bench_t *self);

/* In the open transaction: n clients with random keys (client ids 1..n on
 * an empty store.db; -1 otherwise). */
int qs_store_bench_clients(qs_store_bench_t *self, long n, int64_t now_ms);

/* In the open transaction: a history row in its (epoch, topic type)
 * partition (created and registered on first use), the latest upsert, or a
 * client's low-water mark, each with the store's own statement. */
int qs_store_bench_history(qs_store_bench_t *self, const qs_store_bench_row_t *row);
int qs_store_bench_latest(qs_store_bench_t *self, const qs_store_bench_row_t *row);
int qs_store_bench_low_water(qs_store_bench_t *self, int64_t client_id, uint64_t low_water,
                             int64_t now_ms);

/* on: a fill that is set-up, not measured (synchronous=OFF, a large page
 * cache). off: the store's durability again (synchronous=FULL) and the WAL
 * checkpointed into the database. Outside a transaction. */
int qs_store_bench_fast(qs_store_bench_t *self, int on);

/* on: drop latest's secondary indexes and triggers (a bulk load keeps no
 * index up to date row by row). off: recreate them from their own text,
 * rebuild compliance_counts in one transaction and ANALYZE. Outside a
 * transaction. */
int qs_store_bench_bulk_latest(qs_store_bench_t *self, int on);

/* Either engine, outside any transaction (bench_history.c): copy up to
 * limit rows of history partition (from_epoch, topic_type), every column,
 * into the partition of to_epoch (created and registered as the store
 * does, its row count added), in one transaction; *copied gets the rows
 * copied. Earlier days' history for a cost-growth fill. 0 or -1 with
 * errmsg. */
int qs_store_bench_copy_history(qs_storedb_t *db, int64_t from_epoch, uint32_t topic_type,
                                int64_t to_epoch, int64_t limit, int64_t *copied, char *errmsg,
                                size_t errmsg_len);

/* Either engine, outside any transaction (bench_history.c), after a bulk
 * set-up and before a timed phase: the store as a running site's is, with
 * the set-up's own work done - SQLite's WAL checkpointed into the database
 * and truncated; PostgreSQL's tables vacuumed and analyzed (the visibility
 * map and hint bits of the copied rows written, which autovacuum would do
 * later, during the timed phase), a CHECKPOINT after it, and every table
 * and index read into the operating system's page cache (pg_prewarm,
 * 'read') except the history partitions of days before cold_before_epoch:
 * the pages a site's ingest touches all day are in memory when they fit,
 * its earlier days are not. (SQLite's store is read through the same page
 * cache and is left as the set-up left it.) 0 or -1 with errmsg. */
int qs_store_bench_settle(qs_storedb_t *db, int64_t cold_before_epoch, char *errmsg,
                          size_t errmsg_len);

/* The database's last error, for a message. */
const char *qs_store_bench_errmsg(qs_store_bench_t *self);

/* Damage a test makes to play a foreign writer (another program, or an
 * attacker with the file): what qsctl verify and qs-retention must detect or
 * survive. Each runs outside the store's transactions, on its own. */
typedef enum {
    QS_STORE_DAMAGE_UNREGISTER_PARTITIONS,   /* empty `partitions`; history tables stay */
    QS_STORE_DAMAGE_ADD_NAME_COLUMN,         /* latest gains a text column "machine_name" */
    QS_STORE_DAMAGE_DROP_NAME_COLUMN,        /* ... and loses it again */
    QS_STORE_DAMAGE_RAW_MACHINE_NAME,        /* every latest.machine_ps = arg (text) */
    QS_STORE_DAMAGE_SHORT_DOMAIN_PS,         /* domain_ps = 2 bytes in history table arg */
} qs_store_damage_t;

/* Apply one damage; arg as the kind says (may be NULL). Returns 0 or -1. */
int qs_store_bench_damage(qs_store_bench_t *self, qs_store_damage_t kind, const char *arg);

#endif
