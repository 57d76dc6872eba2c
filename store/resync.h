/* resync.h - when the store asks a client for its whole current state, and how it applies it (private to store/).
 *
 * docs/resync.md has the protocol. Per client the store keeps one row of
 * the `resync` table (both engines; qs_store_resync.h creates it):
 *
 *   resync(client_id PK, instance, gap_since_ms, want_gen, due_ms, sent_gen,
 *          start_ms, last_serial)
 *
 * instance      the outbox instance id the client's batches carry (16 bytes;
 *               NULL until one is seen): a different one means a fresh
 *               outbox whose serials restarted at 1.
 * gap_since_ms  store time since which serials have been missing above
 *               low_water (0: none). Past the gap limit the gap is given up.
 * want_gen      nonzero: a resync is wanted, of this generation (unique per
 *               client, increasing); due_ms: not before this store time.
 * sent_gen      the last generation an Ack carried (counts requests once).
 * start_ms      store time of the first batch of want_gen (0: not started);
 *               last_serial the resync's last serial as its batches say.
 *
 * The rules are plain functions on a qs_resync_row_t so that both engines'
 * writers (write.c, write_pg_flush.c) apply the very same ones; the engines
 * only load and save the row and carry out the two actions that touch other
 * tables (restart: low_water 0 and the client's seen rows dropped; give up
 * or apply: see below).
 */
#ifndef QS_STORE_RESYNC_PRIV_H
#define QS_STORE_RESYNC_PRIV_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "group.h"

/* How long serials may stay missing above low_water before the store gives
 * the gap up (low_water jumps over it, the client's seen rows are dropped,
 * a resync is requested): the sender resends what it holds every few
 * seconds at most (5 s backoff), so a gap still open after this long cannot
 * close. QS_TEST_RESYNC_GAP_MS (test only) overrides it. */
#define QS_RESYNC_GAP_MS (15 * 60 * 1000)

/* Batch.instance is this long; any other length is ignored. */
#define QS_RESYNC_INSTANCE_BYTES 16u

/* The row: the resync table's columns for one client. */
typedef struct {
    int64_t client_id;
    int exists;                   /* loaded from the table (else all zero) */
    int dirty;                    /* to be saved */
    int has_instance;
    uint8_t instance[QS_RESYNC_INSTANCE_BYTES];
    int64_t gap_since_ms, due_ms, start_ms;
    uint64_t want_gen, sent_gen, last_serial;
} qs_resync_row_t;

/* "new_instance", "gap_given_up", "requested", "applied" (counter names
 * "resync.<name>"). */
const char *qs_resync_counter_name(size_t i);

/* The gap limit in force: QS_RESYNC_GAP_MS, or QS_TEST_RESYNC_GAP_MS. */
int64_t qs_resync_gap_ms(void);

/* Before dedup. 1 when b carries an instance id that differs from the one
 * recorded: the client's serials restarted; the caller sets low_water to 0
 * and drops its seen rows, and a resync is requested. 0 otherwise (a first
 * id is just recorded). Counts t->resync[QS_RESYNC_NEW_INSTANCE]. */
int qs_resync_on_instance(qs_resync_row_t *r, const qs_group_batch_t *b, qs_tally_t *t,
                          int64_t now_ms);

/* After dedup, with the client's low_water and, when it has seen rows
 * left, the highest of them (has_seen 0: none). Records the start of a
 * resync b belongs to; gives a gap up when it is older than gap_ms: returns
 * the new low_water through *lw (the caller drops the client's seen rows
 * when it changed). Returns 1 when the resync is complete (every serial up
 * to its last handled): the caller deletes the client's latest rows with
 * report_ms < *start_ms (not restated by it) and then calls
 * qs_resync_applied. 0 otherwise. */
int qs_resync_after(qs_resync_row_t *r, const qs_group_batch_t *b, uint64_t *lw, int has_seen,
                    uint64_t max_seen, qs_tally_t *t, int64_t now_ms, int64_t gap_ms,
                    int64_t *start_ms);

/* The resync was applied: the request is done. */
void qs_resync_applied(qs_resync_row_t *r, qs_tally_t *t);

/* What b's Ack asks for (b->resync_gen, b->resync_delay_ms), counting a
 * generation the first time it goes out. */
void qs_resync_answer(qs_resync_row_t *r, qs_group_batch_t *b, qs_tally_t *t, int64_t now_ms);

/* The table, created when missing: the schema's upgrade path on both
 * engines (an older store simply has no rows). */
#define QS_RESYNC_SQL_TABLE \
    "CREATE TABLE IF NOT EXISTS resync(" \
    " client_id BIGINT PRIMARY KEY, instance BYTEA," \
    " gap_since_ms BIGINT NOT NULL DEFAULT 0, want_gen BIGINT NOT NULL DEFAULT 0," \
    " due_ms BIGINT NOT NULL DEFAULT 0, sent_gen BIGINT NOT NULL DEFAULT 0," \
    " start_ms BIGINT NOT NULL DEFAULT 0, last_serial BIGINT NOT NULL DEFAULT 0)"

/* ---- SQLite (resync_sqlite.c): the row and the actions, on write.c's connection.
 * (PostgreSQL: resync_pg.c, declared in write_pg_int.h.) */

typedef struct qs_resync_sql qs_resync_sql_t;

/* Create the table when missing and prepare the statements. NULL on error. */
qs_resync_sql_t *qs_resync_sql_new(sqlite3 *db);
void qs_resync_sql_destroy(qs_resync_sql_t **self_p);

/* Load client_id's row (all zero, exists 0, when it has none). 0 or -1. */
int qs_resync_sql_load(qs_resync_sql_t *self, int64_t client_id, qs_resync_row_t *r);

/* Write r when dirty. 0 or -1. */
int qs_resync_sql_save(qs_resync_sql_t *self, qs_resync_row_t *r);

/* The client's highest seen serial (*has 0: none). 0 or -1. */
int qs_resync_sql_max_seen(qs_resync_sql_t *self, int64_t client_id, int *has, uint64_t *max);

/* Delete every seen row of the client. 0 or -1. */
int qs_resync_sql_drop_seen(qs_resync_sql_t *self, int64_t client_id);

/* Delete the client's latest rows reported before start_ms (compliance_counts
 * follows through the schema's delete trigger). 0 or -1. */
int qs_resync_sql_drop_stale(qs_resync_sql_t *self, int64_t client_id, int64_t start_ms);

#endif
