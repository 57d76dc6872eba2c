/* qs_sqlutil.h - small SQLite helpers shared by site.db, store.db and qsctl. */
#ifndef QS_SQLUTIL_H
#define QS_SQLUTIL_H

#include <sqlite3.h>
#include <stdint.h>

/* Run sql (one statement, no parameters) and put the first column of its
 * first row in *out: 0 when there is no row, or the value is NULL.
 * Returns 0, or -1 on an SQLite error (sqlite3_errmsg(db) says which). */
int qs_sql_int64(sqlite3 *db, const char *sql, int64_t *out);

#endif
