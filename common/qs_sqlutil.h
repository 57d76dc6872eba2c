/* qs_sqlutil.h - small SQLite helpers shared by site.db, store.db and qsctl. */
#ifndef QS_SQLUTIL_H
#define QS_SQLUTIL_H

#include <sqlite3.h>
#include <stdint.h>

/* Run sql (one statement, no parameters) and put the first column of its
 * first row in *out: 0 when there is no row, or the value is NULL.
 * Returns 0, or -1 on an SQLite error (sqlite3_errmsg(db) says which). */
int qs_sql_int64(sqlite3 *db, const char *sql, int64_t *out);

/* Called for a column with TEXT affinity: table, column, declared type. */
/* Binds a statement's parameters from ctx; 0, or -1 to give up. */
typedef int (*qs_sql_bind_fn)(sqlite3_stmt *st, const void *ctx);

/* Prepare sql, bind it with bind(ctx) (may be NULL), step it to the end
 * once and finalize it; *changes (may be NULL) gets the rows it changed.
 * For statements run once, not on a hot path. Returns 0 or -1 (the
 * database's message stays in sqlite3_errmsg(db)). */
int qs_sql_run(sqlite3 *db, const char *sql, qs_sql_bind_fn bind, const void *ctx,
               int64_t *changes);

typedef void (*qs_sql_column_cb)(void *ctx, const char *table, const char *column,
                                 const char *type);

/* Call cb for every column of every table but SQLite's own whose declared
 * type gives it TEXT affinity (names CHAR, CLOB or TEXT and not INT), by
 * table name and column position: where a database could keep a name.
 * Returns 0, or -1 on an SQLite error (sqlite3_errmsg(db) says which). */
int qs_sql_text_columns(sqlite3 *db, qs_sql_column_cb cb, void *ctx);

#endif
