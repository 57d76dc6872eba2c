/* storedb_pg.h - store/'s private view of the store as a PostgreSQL database.
 *
 * Only the PostgreSQL engine's modules in store/ (files named *_pg.c)
 * include this header, as only the SQLite modules include storedb_sqlite.h.
 * qs_storedb_open() hands a postgresql:// location to qs_pgdb_open(); the
 * engine-neutral functions of qs_storedb.h and the headers it groups
 * dispatch on qs_storedb_pgdb(db) != NULL.
 *
 * Schema (version 4). It follows store.db's (qs_storedb.h) with these
 * differences, all because several qs-store workers write at once:
 *
 *   clients.client_id is an identity column; pk is UNIQUE. A worker locks a
 *       client's row (SELECT ... FOR UPDATE, clients in ascending pk order
 *       within a transaction) before its dedup decision, so two workers
 *       holding batches of one client serialize on that row and the second
 *       sees the first's seen/low_water once it commits: exactly-once effect.
 *   compliance_counts(topic_type, topic_id, state_id, shard) -> count
 *   resync(client_id) -> instance, gap and request state (store/resync.h,
 *       docs/resync.md): created when missing by the writers (under
 *       QS_PG_LOCK_SCHEMA) and qsctl resync; a worker reads its clients'
 *       rows FOR UPDATE in ascending client_id right after their locks.
 *   counters(name, shard) -> value
 *   partitions(epoch, topic_type, shard) -> rows
 *       Each connection writes its own shard (qs_pgdb_shard(), one of
 *       QS_PG_SHARDS, chosen at open): workers never wait on each other's
 *       hot counter rows. A reader sums over shards; a group whose sum is 0
 *       does not exist. Rows of one shard may be negative (a row counted by
 *       one worker and removed by retention). No trigger on latest keeps
 *       these: every writer of latest applies its count changes itself, in
 *       ascending key order at the end of its transaction (no deadlock).
 *       qs_pgdb_fold() folds the shards (retention does it under its lock),
 *       so no topic id outlives its last row by more than one pass.
 *   latest.serial: the serial of the message that set the row's state. Two
 *       messages of one client and topic with the same (truncated) time are
 *       ordered by it: SQLite's "ties: the later arrival" is one worker's
 *       arrival order, which several workers do not have; the client's
 *       serial order is what that arrival order is on one worker. 0 for a
 *       row copied from SQLite (any later message of the same time wins).
 *   latest's fillfactor is 90 (schema version 4): room on each page for a
 *       report that changes no indexed column to be a HOT update (no index
 *       entry written, no dead index entry for vacuum).
 *   history_<epoch>_<topic_type>: one table per partition as in SQLite; its
 *       creation takes a transaction-scoped advisory lock (workers race to
 *       create a new day's table at midnight).
 *   client_types(client_id, topic_type) -> rows     (schema version 2)
 *   scope_counts(topic_type, shard) -> machines
 *       Machines per topic type, the base of a compliance percentage (on
 *       SQLite one table kept by triggers, qs_storedb.h). Statement
 *       triggers on latest keep both, for every writer; why a per-client
 *       count and how it stays exact with several writers: counts_pg.c.
 *       Shards by backend (pg_backend_pid() % QS_PG_SHARDS).
 *   installed_hours(topic_type, topic_id, state_id, hour, shard) -> count
 *       (schema version 3) latest's rows in an installed state per UTC
 *       hour of time_ms (qs_storedb.h, deadline_rules.h), what the on-time
 *       count of compliance --deployment sums. Sharded like
 *       compliance_counts and kept by the same writers in the same
 *       statements or transactions (counts_pg.c says why not triggers).
 *   meta(key, value): "schema_version".
 *
 * Types: every integer is bigint (SQLite's INTEGER is 64-bit), blobs bytea,
 * topic ids text.
 */
#ifndef QS_STOREDB_PG_H
#define QS_STOREDB_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "qs_storedb.h"

#define QS_PG_SCHEMA_VERSION 4
#define QS_PG_SHARDS 16
#define QS_PG_SHARDS_TEXT "16"   /* QS_PG_SHARDS, for SQL text */

/* Advisory lock keys (pg_advisory_lock(QS_PG_LOCK_CLASS, key)). */
#define QS_PG_LOCK_CLASS      0x7173        /* "qs" */
#define QS_PG_LOCK_SCHEMA     1             /* schema creation and upgrade */
#define QS_PG_LOCK_RETENTION  2             /* one qs-retention at a time */
#define QS_PG_LOCK_PARTITIONS 3             /* creating/dropping history_* tables */

typedef struct qs_pgdb qs_pgdb_t;

/* Connect to url; with create != 0 create the schema if missing (under
 * QS_PG_LOCK_SCHEMA). A database without the schema and create == 0 is
 * refused ("run qsctl init --database"). NULL with errmsg. */
qs_pgdb_t *qs_pgdb_open(const char *url, int create, char *errmsg, size_t errmsg_len);
void qs_pgdb_destroy(qs_pgdb_t **pg_p);

/* The PostgreSQL engine of db, or NULL when db is SQLite. */
qs_pgdb_t *qs_storedb_pgdb(qs_storedb_t *db);

/* The connection (borrowed; lives as long as pg). */
PGconn *qs_pgdb_conn(qs_pgdb_t *pg);

/* This connection's shard of the sharded tables, in [0, QS_PG_SHARDS). */
int qs_pgdb_shard(const qs_pgdb_t *pg);

/* 1 while the connection is usable; after a failure (server restarted,
 * network gone) 0: call qs_pgdb_reconnect before the next transaction. */
int qs_pgdb_ok(qs_pgdb_t *pg);

/* Mark the connection unusable (its protocol state is unknown after a
 * failed pipeline): qs_pgdb_ok says 0 until qs_pgdb_reconnect. */
void qs_pgdb_invalidate(qs_pgdb_t *pg);

/* Re-establish the connection (PQreset); 0 or -1 with errmsg. Prepared
 * statements are gone after it: qs_pgdb_generation() changes, so a module
 * that caches prepared statements re-prepares when it sees a new value. */
int qs_pgdb_reconnect(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len);
unsigned qs_pgdb_generation(const qs_pgdb_t *pg);

/* The last error of the connection, one line (borrowed until the next call). */
const char *qs_pgdb_errmsg(qs_pgdb_t *pg);

/* Run sql (no parameters, results ignored); 0 or -1 (see qs_pgdb_errmsg). */
int qs_pgdb_exec(qs_pgdb_t *pg, const char *sql);

/* One bigint from a query with text parameters (NULL result -> 0);
 * 0 or -1. */
int qs_pgdb_int64(qs_pgdb_t *pg, int64_t *out, const char *sql, int nparams,
                  const char *const *params);

/* BEGIN (READ COMMITTED) / COMMIT / ROLLBACK. 0 or -1. */
int qs_pgdb_begin(qs_pgdb_t *pg);
int qs_pgdb_commit(qs_pgdb_t *pg);
void qs_pgdb_rollback(qs_pgdb_t *pg);

/* Create (or replace) scope_counts, client_types and their triggers on
 * latest (counts_pg.c); with fill != 0 also lock latest (SHARE) and fill
 * both from it. Inside the caller's transaction; 0 or -1 (see
 * qs_pgdb_errmsg). */
int qs_pgdb_scope_schema(qs_pgdb_t *pg, int fill);

/* Create installed_hours (counts_pg.c); with fill != 0 also lock latest
 * (SHARE) and fill it from latest. qs_pgdb_installed_fill: only the fill
 * (empty it, then latest's installed rows per hour into shard 0), for a
 * caller that has latest to itself (qsctl migrate after its COPY). Inside
 * the caller's transaction; 0 or -1 (see qs_pgdb_errmsg). */
int qs_pgdb_installed_schema(qs_pgdb_t *pg, int fill);
int qs_pgdb_installed_fill(qs_pgdb_t *pg);

/* The engine's parts of qs_storedb.h (same contracts). */
int qs_pgdb_partition_ensure(qs_pgdb_t *pg, int64_t epoch, uint32_t topic_type);
int qs_pgdb_partitions(qs_pgdb_t *pg, qs_partition_t **out, size_t *n);
int qs_pgdb_partitions_present(qs_pgdb_t *pg, qs_partition_t **out, size_t *n);
int qs_pgdb_partition_drop(qs_pgdb_t *pg, int64_t epoch, uint32_t topic_type);
int qs_pgdb_counter_add(qs_pgdb_t *pg, const char *name, int64_t delta);
int qs_pgdb_counter_get(qs_pgdb_t *pg, const char *name, int64_t *value);
int qs_pgdb_scrub(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len);

/* Fold every sharded table: one row per key in shard 0, zero rows deleted
 * (inside the caller's transaction). 0 or -1. */
int qs_pgdb_fold(qs_pgdb_t *pg);

#endif
