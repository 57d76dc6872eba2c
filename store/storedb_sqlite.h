/* storedb_sqlite.h - store/'s private view of store.db as an SQLite database.
 *
 * Only the SQLite engine's own modules in store/ include this header: it is
 * what makes the rest of the tree unable to name a table or hold a handle
 * of store.db. Callers outside store/ use qs_storedb.h (engine-neutral).
 */
#ifndef QS_STOREDB_SQLITE_H
#define QS_STOREDB_SQLITE_H

#include <sqlite3.h>

#include "qs_storedb.h"

/* The page cache the store runs with (PRAGMA cache_size: 64 MiB). */
#define QS_STOREDB_SQLITE_CACHE_SIZE "-65536"

/* The connection (borrowed; lives as long as db). */
sqlite3 *qs_storedb_sqlite(qs_storedb_t *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (on PostgreSQL: BEGIN / COMMIT /
 * ROLLBACK of storedb_pg.h, so engine-neutral code may call them too). */
int qs_storedb_begin(qs_storedb_t *db);
int qs_storedb_commit(qs_storedb_t *db);
void qs_storedb_rollback(qs_storedb_t *db);

#endif
