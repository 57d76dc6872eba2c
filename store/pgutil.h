/* pgutil.h - store/'s small helpers for the PostgreSQL read and retention modules (private).
 *
 * The *_pg.c modules of the read side (query, lookup, expire, forget,
 * check, counts) run their statements through these: one call that runs a
 * statement and words its failure as one line into the caller's errmsg,
 * typed readers of binary results, a table-exists test, the read snapshot,
 * and the one statement that deletes rows of latest together with their
 * compliance counts (expiry and forget share it). Connection, schema and
 * partitions are storedb_pg.h's.
 *
 * Results are asked for in binary format: integer columns must be bigint
 * (cast sums: sum(bigint) is numeric), bytea comes back as raw bytes, text
 * as its bytes with a terminating NUL.
 */
#ifndef QS_PGUTIL_H
#define QS_PGUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "lookup_rules.h"
#include "storedb_pg.h"

/* Topic ids sort in byte order (SQLite's BINARY, the C writers' memcmp),
 * whatever the database's collation: results come out in the same order on
 * both engines, and every writer takes count rows in the same order. */
#define QS_PG_BYTE_ORDER " COLLATE \"C\""

/* Run sql with n parameters (values[i] text unless formats[i] == 1, then
 * lengths[i] bytes; arrays may be NULL when n == 0 or all are text); binary
 * results. NULL on failure, with "<what>: <server's message>" in errmsg (one
 * line). The caller PQclear()s the result. */
PGresult *qs_pg_query(qs_pgdb_t *pg, const char *what, const char *sql, int n,
                      const char *const *values, const int *lengths, const int *formats,
                      char *errmsg, size_t errmsg_len);

/* As qs_pg_query for a statement without rows; *changes (may be NULL) gets
 * the rows it touched. 0 or -1 with errmsg. */
int qs_pg_run(qs_pgdb_t *pg, const char *what, const char *sql, int n,
              const char *const *values, const int *lengths, const int *formats,
              int64_t *changes, char *errmsg, size_t errmsg_len);

/* A bigint (binary result) at (row, col); 0 when NULL. */
int64_t qs_pg_i64(const PGresult *r, int row, int col);

/* 1 when the store's schema has a table of that name, 0 when not, -1 with
 * errmsg. */
int qs_pg_table_exists(qs_pgdb_t *pg, const char *name, char *errmsg, size_t errmsg_len);

/* Make sure the connection is usable: re-establish one found broken by an
 * earlier statement (server restarted, session terminated), as long-lived
 * readers such as qs-web's worker need. 0 or -1 with errmsg. */
int qs_pg_ensure(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len);

/* Keep in parts[0..*n) only the partitions whose history table exists (one
 * catalog query, not one per partition), order unchanged. 0 or -1 with
 * errmsg (parts unchanged). */
int qs_pg_keep_tables(qs_pgdb_t *pg, qs_partition_t *parts, size_t *n, char *errmsg,
                      size_t errmsg_len);

/* A read-only REPEATABLE READ transaction: every statement until
 * qs_pg_read_end sees one snapshot, as SQLite's deferred read transaction
 * does in WAL mode; writers go on meanwhile. A connection lost since the
 * last call (found broken at BEGIN) is re-established once. 0 or -1 with
 * errmsg. */
int qs_pg_read_begin(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len);
void qs_pg_read_end(qs_pgdb_t *pg);

/* Inside the caller's write transaction: DELETE FROM latest WHERE where
 * ($1..$n bound from values/lengths/formats; $n+1 is taken for this
 * connection's shard) and subtract the deleted rows from this connection's
 * shard of compliance_counts per group and of installed_hours per
 * installed hour, in ascending key order (byte order of topic ids), in the
 * same statement: no trigger on latest keeps them (counts_pg.c). The condition is re-checked on a row a writer changed
 * meanwhile (READ COMMITTED), and the counts follow the version deleted.
 * *deleted gets the rows deleted. 0 or -1 with errmsg. */
int qs_pg_latest_delete(qs_pgdb_t *pg, int64_t *deleted, const char *where, int n,
                        const char *const *values, const int *lengths, const int *formats,
                        char *errmsg, size_t errmsg_len);

/* Inside the caller's transaction: delete the rows of history partition
 * (epoch, topic_type) matching where (parameters as above) and lower its
 * row count in this connection's shard of partitions. A partition without
 * a table deletes nothing. *deleted gets the rows deleted. 0 or -1. */
int qs_pg_history_delete(qs_pgdb_t *pg, int64_t *deleted, int64_t epoch, uint32_t topic_type,
                         const char *where, int n, const char *const *values,
                         const int *lengths, const int *formats, char *errmsg,
                         size_t errmsg_len);

/* In a transaction of its own: delete every compliance_counts group and
 * every installed_hours hour whose shards sum to 0 (what SQLite's triggers
 * do at once), so that a topic id forget removed does not stay in either
 * table until retention's next fold. The rows are locked first, table by
 * table in ascending (key, shard) order, which is consistent with the
 * workers' order: no deadlock. *groups (may be NULL) gets the
 * compliance_counts groups removed. 0 or -1 with errmsg. */
int qs_pg_prune_zero_groups(qs_pgdb_t *pg, int64_t *groups, char *errmsg, size_t errmsg_len);

/* VACUUM one history partition (outside a transaction): the space of its
 * deleted rows is marked free for reuse soon (storedb_pg.c's scrub does the
 * fixed tables). 0 or -1 with errmsg. */
int qs_pg_vacuum_partition(qs_pgdb_t *pg, int64_t epoch, uint32_t topic_type, char *errmsg,
                           size_t errmsg_len);

/* One machine's pseudonyms (every spelling, lookup_rules.h) as binary bytea
 * parameters $1.. and the condition on them, the same rule as on SQLite:
 * what lookup and forget select by. */
typedef struct {
    const char *values[2 * QS_PSEUDONYM_SPELLINGS];
    int lengths[2 * QS_PSEUDONYM_SPELLINGS];
    int formats[2 * QS_PSEUDONYM_SPELLINGS];
    int n;
    char where[160];
} qs_pg_who_t;

/* Fill w from who (its values point into who: keep who alive). 0, or -1
 * with errmsg when the condition does not fit. */
int qs_pg_who_set(qs_pg_who_t *w, const qs_machine_ps_t *who, char *errmsg, size_t errmsg_len);

#endif
