/* sqlutil.c - small SQLite helpers. */
#include "qs_sqlutil.h"

#include <stddef.h>
#include <string.h>

int
qs_sql_int64(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* SQLite's affinity rule for a declared type: TEXT when it names CHAR, CLOB
 * or TEXT and not INT. */
static int
text_affinity(const char *decl)
{
    char up[128];
    size_t i;

    if (decl == NULL)
        return 0;
    for (i = 0; decl[i] != '\0' && i + 1 < sizeof up; i++)
        up[i] = (char)((decl[i] >= 'a' && decl[i] <= 'z') ? decl[i] - 32 : decl[i]);
    up[i] = '\0';
    if (strstr(up, "INT") != NULL)
        return 0;
    return strstr(up, "CHAR") != NULL || strstr(up, "CLOB") != NULL ||
           strstr(up, "TEXT") != NULL;
}

int
qs_sql_text_columns(sqlite3 *db, qs_sql_column_cb cb, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT m.name, p.name, p.type FROM sqlite_master AS m, "
                           "pragma_table_info(m.name) AS p WHERE m.type = 'table' AND "
                           "m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, p.cid",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        const char *c = (const char *)sqlite3_column_text(st, 1);
        const char *decl = (const char *)sqlite3_column_text(st, 2);
        if (t != NULL && c != NULL && text_affinity(decl))
            cb(ctx, t, c, decl);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_sql_run(sqlite3 *db, const char *sql, qs_sql_bind_fn bind, const void *ctx, int64_t *changes)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (bind != NULL && bind(st, ctx) != 0) {
        sqlite3_finalize(st);
        return -1;
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (changes != NULL)
        *changes = sqlite3_changes(db);
    return 0;
}
