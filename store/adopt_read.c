/* adopt_read.c - the machine a client key reported, read from store.db on either engine (qs_store_adopt.h). */
#include "qs_store_adopt.h"
#include "pgutil.h"
#include "storedb_pg.h"
#include "storedb_sqlite.h"

#include <stdio.h>
#include <string.h>

#define REPORTED \
    "SELECT DISTINCT l.machine_ps FROM latest l JOIN clients c ON c.client_id = l.client_id " \
    "WHERE c.pk = $1 AND l.machine_ps IS NOT NULL LIMIT 2"

static int
reported_pg(uint8_t machine_ps[QS_PSEUDONYM_BYTES], int *n, qs_pgdb_t *pg,
            const uint8_t pk[QS_KEY_BYTES], char *errmsg, size_t errmsg_len)
{
    const char *values[1] = { (const char *)pk };
    const int lengths[1] = { QS_KEY_BYTES }, formats[1] = { 1 };
    PGresult *r;

    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    r = qs_pg_query(pg, "cannot read the key's machine", REPORTED, 1, values, lengths, formats,
                    errmsg, errmsg_len);
    qs_pg_read_end(pg);
    if (r == NULL)
        return -1;
    *n = PQntuples(r);
    if (*n == 1 && PQgetlength(r, 0, 0) == QS_PSEUDONYM_BYTES)
        memcpy(machine_ps, PQgetvalue(r, 0, 0), QS_PSEUDONYM_BYTES);
    else if (*n == 1)
        *n = 0;
    PQclear(r);
    return 0;
}

int
qs_store_reported_machine(uint8_t machine_ps[QS_PSEUDONYM_BYTES], int *n, qs_storedb_t *db,
                          const uint8_t pk[QS_KEY_BYTES], char *errmsg, size_t errmsg_len)
{
    sqlite3 *sq = NULL;
    sqlite3_stmt *st = NULL;
    int rc;

    *n = 0;
    if (qs_storedb_pgdb(db) != NULL)
        return reported_pg(machine_ps, n, qs_storedb_pgdb(db), pk, errmsg, errmsg_len);
    sq = qs_storedb_sqlite(db);
    if (sqlite3_prepare_v2(sq, REPORTED, -1, &st, NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "store.db: %s", sqlite3_errmsg(sq));
        return -1;
    }
    sqlite3_bind_blob(st, 1, pk, QS_KEY_BYTES, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == 0 && sqlite3_column_bytes(st, 0) == QS_PSEUDONYM_BYTES)
            memcpy(machine_ps, sqlite3_column_blob(st, 0), QS_PSEUDONYM_BYTES);
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(errmsg, errmsg_len, "store.db: %s", sqlite3_errmsg(sq));
        return -1;
    }
    return 0;
}
