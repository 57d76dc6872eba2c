/* history_rows.h - store/'s one way to delete rows of a history partition (private to store/).
 *
 * Expiry (expire.c) and forget (forget.c) both delete some rows of one
 * partition; partitions.rows must follow, in the same transaction. Both go
 * through qs_history_delete, so the count is lowered in one place.
 */
#ifndef QS_HISTORY_ROWS_H
#define QS_HISTORY_ROWS_H

#include <stdint.h>

#include "qs_sqlutil.h"
#include "storedb_sqlite.h"

/* Binds the parameters of a WHERE clause (?1, ?2, ...) on st. 0 or -1. */
typedef qs_sql_bind_fn qs_history_bind_fn;

/* 1 when store.db has a table of that name, 0 when not, -1 on error. */
int qs_storedb_table_exists(qs_storedb_t *db, const char *name);

/* DELETE FROM partition (epoch, topic_type) WHERE where (bound by bind),
 * then lower partitions.rows by the rows deleted (never below 0), inside
 * the caller's transaction. A partition without a table deletes nothing.
 * *deleted gets the rows deleted. Returns 0, or -1 (sqlite3_errmsg says
 * why; the caller rolls back). */
int qs_history_delete(qs_storedb_t *db, int64_t *deleted, int64_t epoch, uint32_t topic_type,
                      const char *where, qs_history_bind_fn bind, const void *ctx);

#endif
