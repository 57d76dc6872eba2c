/* qs_storedb.h - the data database (store.db): schema, partitions, counters, scrubbing.
 *
 * Shared by qs-store (writes), qs-retention (expires) and qsctl (reads). The
 * schema, with why it looks this way:
 *
 *   clients(client_id PK, pk BLOB UNIQUE, low_water, first_ms, last_ms)
 *       one row per client key; low_water = every serial <= it is handled.
 *   seen(client_id, serial) PK          serials handled above low_water
 *       (out-of-order arrivals), deleted as low_water passes them: exact
 *       dedup without keeping every serial forever.
 *   latest(client_id, topic_type, topic_id) PK -> state_id, time_ms (state
 *       change, policy precision), report_ms (store time of the last report
 *       of this topic: what ageing uses), machine_ps, domain_ps
 *       index latest_by_machine(machine_ps)
 *       index latest_by_report(report_ms): ageing
 *   compliance_counts(topic_type, topic_id, state_id) PK -> count
 *       = latest grouped by (topic_type, topic_id, state_id), no zero group:
 *       `qsctl compliance` reads a few hundred rows instead of counting
 *       millions. Triggers on latest count rows in and out; the store counts
 *       state changes (qs_counts.h).
 *   scope_counts(topic_type) PK -> machines           (schema version 2)
 *       = the number of distinct clients with at least one latest row of the
 *       topic type: the "scope" a compliance percentage divides by
 *       (docs/store.md, "Totals and percentages"). Triggers on latest count
 *       a client in when its first row of the type appears and out when its
 *       last one leaves (one probe of latest's primary key each); a state
 *       change does not touch it.
 *   installed_hours(topic_type, topic_id, state_id, hour) PK -> count
 *       (schema version 3) = latest's rows in an installed state
 *       (QS_DEADLINE_INSTALLED_SQL) per hour of time_ms: a deadline's
 *       on-time count sums hours (qs_store_deadline.h). Triggers count rows
 *       in and out; the store counts state and time moves (qs_counts.h).
 *   partitions(epoch, topic_type) PK -> rows
 *   history_<epoch>_<topic_type>(client_id, serial) PK -> state_id, topic_id,
 *       time_ms, machine_ps, domain_ps, user_ps, details (XChaCha20-Poly1305
 *       under the (epoch, topic_type) key; nonce || ciphertext)
 *       One table per UTC day (epoch = time_ms / 86400000) and topic type, so
 *       expiry is DROP TABLE plus shredding one key: its cost does not depend
 *       on how much younger data is kept, and per-topic maximum ages apply to
 *       whole tables.
 *   resync(client_id PK) -> instance, gap_since_ms, want_gen, due_ms, sent_gen,
 *       start_ms, last_serial: the resync rules' state per client (store/resync.h,
 *       docs/resync.md); created when missing by the writer and qsctl resync.
 *   counters(name PK, value)   "stored", "duplicates", "rejected.<STATUS>",
 *       "rejected_detail.<CODE>": updated in the same transaction as the data.
 *
 * PRAGMA user_version is the schema version; qs_storedb_open upgrades an
 * older file in place (one transaction) and refuses a newer one.
 *
 * Pragmas: WAL, synchronous=FULL (an ack survives power loss), secure_delete
 * (deleted content is zeroed), auto_vacuum=INCREMENTAL (freed pages can be
 * returned), foreign keys off (hot path). The file is created 0600.
 */
#ifndef QS_STOREDB_H
#define QS_STOREDB_H

#include <stddef.h>
#include <stdint.h>

typedef struct qs_storedb qs_storedb_t;

typedef struct {
    int64_t epoch;          /* UTC day number */
    uint32_t topic_type;
    int64_t rows;
} qs_partition_t;

#define QS_STOREDB_SCHEMA_VERSION 4

/* Open the store's database. location is either the path of an SQLite
 * store.db or a PostgreSQL URI (postgresql://...; see storedb_pg.h for that
 * engine's schema, which differs where several writers need it to):
 * qs_storedb_location() picks it from the site's config. With create != 0
 * make the file (0600) or the tables if missing. An existing store of an
 * older schema version is upgraded. NULL with errmsg on failure. */
qs_storedb_t *qs_storedb_open(const char *location, int create, char *errmsg, size_t errmsg_len);

/* Which engine a store uses: callers print it (qsctl stats, verify) and
 * tests branch on it; nothing else should. */
typedef enum { QS_STOREDB_SQLITE = 1, QS_STOREDB_POSTGRESQL = 2 } qs_storedb_engine_t;
qs_storedb_engine_t qs_storedb_engine(const qs_storedb_t *db);

/* The location of the site's store: store_database ([store] database of
 * quietstate.conf) when set, the home's store.db path otherwise. Returns one
 * of its arguments (borrowed). */
const char *qs_storedb_location(const char *store_database, const char *store_db_path);

/* Open the site's store: read [store] database from conf_path
 * (quietstate.conf) and open that, or store_db_path. An SQLite store.db
 * that does not exist and create == 0 is refused with a message naming
 * 'qsctl init'. NULL with errmsg. */
qs_storedb_t *qs_storedb_open_site(const char *conf_path, const char *store_db_path,
                                   const char *home, int create, char *errmsg,
                                   size_t errmsg_len);
void qs_storedb_destroy(qs_storedb_t **db_p);

/* Epoch (UTC day number) of a time. */
int64_t qs_epoch_of(int64_t time_ms);

/* "history_<epoch>_<topic_type>". Returns 0, -1 if out is too small. */
int qs_storedb_partition_name(char *out, size_t out_len, int64_t epoch, uint32_t topic_type);

/* Create the partition table if missing and register it (inside the caller's
 * transaction). */
int qs_storedb_partition_ensure(qs_storedb_t *db, int64_t epoch, uint32_t topic_type);

/* All registered partitions, oldest first; *out is malloc'd (caller frees). */
int qs_storedb_partitions(qs_storedb_t *db, qs_partition_t **out, size_t *n);

/* Every history partition present in store.db: registered in `partitions`
 * or, after a crash or a foreign writer, only present as a history_E_T table.
 * Oldest first; *out is malloc'd (caller frees). Returns 0 or -1. */
int qs_storedb_partitions_present(qs_storedb_t *db, qs_partition_t **out, size_t *n);

/* Drop one partition and unregister it (inside the caller's transaction). */
int qs_storedb_partition_drop(qs_storedb_t *db, int64_t epoch, uint32_t topic_type);

/* Add delta to a named counter (inside the caller's transaction). */
int qs_storedb_counter_add(qs_storedb_t *db, const char *name, int64_t delta);

/* Read one counter (0 when absent). */
int qs_storedb_counter_get(qs_storedb_t *db, const char *name, int64_t *value);

/* After a purge: checkpoint the WAL with TRUNCATE (retrying while readers
 * hold it) and return free pages with an incremental vacuum, so deleted
 * content survives neither in the WAL nor on free pages. */
int qs_storedb_scrub(qs_storedb_t *db, char *errmsg, size_t errmsg_len);


#endif
