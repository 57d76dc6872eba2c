/* import_read.c - stored states and low-water marks of many machines, for qsctl import (both engines).
 *
 * SQLite: one prepared statement each, stepped per machine (an index seek
 * in the same process costs microseconds). PostgreSQL: one statement per
 * call with the keys as a bytea[] parameter (text form
 * {"\\x…","\\x…"}), which the planner answers with an index scan per key
 * (latest_by_machine, the clients' unique pk); rows come back ordered, or
 * are matched by key.
 */
#include "import_read.h"

#include "pgutil.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "storedb_pg.h"
#include "storedb_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
qs_import_haves_clear(qs_import_haves_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->rows[i].topic_id);
    h->n = 0;
}

static qs_import_have_t *
push(qs_import_haves_t *h)
{
    qs_grow((void **)&h->rows, &h->cap, h->n + 1, sizeof *h->rows);
    memset(&h->rows[h->n], 0, sizeof h->rows[h->n]);
    return &h->rows[h->n++];
}

/* {"\\xHEX","\\xHEX",...} of n keys of len bytes; malloc'd. */
static char *
bytea_array(const uint8_t *keys, size_t n, size_t len)
{
    size_t cap = 3 + n * (2 * len + 7), off = 0;
    char *out = qs_malloc(cap);

    out[off++] = '{';
    for (size_t i = 0; i < n; i++) {
        off += (size_t)snprintf(out + off, cap - off, "%s\"\\\\x", i ? "," : "");
        qs_hex_encode(out + off, cap - off, keys + i * len, len);
        off += 2 * len;
        out[off++] = '"';
    }
    out[off++] = '}';
    out[off] = '\0';
    return out;
}

/* ------------------------------------------------------------- states */

static int
states_sqlite(sqlite3 *db, const uint8_t (*ps)[QS_PSEUDONYM_BYTES], size_t n,
              qs_import_haves_t *out, char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;

    if (sqlite3_prepare_v2(db, "SELECT l.topic_type, l.topic_id, l.state_id, l.time_ms, c.pk "
                           "FROM latest AS l JOIN clients AS c ON c.client_id = l.client_id "
                           "WHERE l.machine_ps = ?1", -1, &st, NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "cannot read latest: %s", sqlite3_errmsg(db));
        return -1;
    }
    for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
        sqlite3_bind_blob(st, 1, ps[i], QS_PSEUDONYM_BYTES, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            qs_import_have_t *h = push(out);
            const char *tid = (const char *)sqlite3_column_text(st, 1);
            memcpy(h->ps, ps[i], QS_PSEUDONYM_BYTES);
            h->topic_type = (uint32_t)sqlite3_column_int64(st, 0);
            h->topic_id = qs_strdup(tid != NULL ? tid : "");
            h->state_id = (uint32_t)sqlite3_column_int64(st, 2);
            h->time_ms = sqlite3_column_int64(st, 3);
            if (sqlite3_column_bytes(st, 4) == QS_KEY_BYTES)
                memcpy(h->pk, sqlite3_column_blob(st, 4), QS_KEY_BYTES);
        }
        sqlite3_reset(st);
    }
    if (rc != SQLITE_DONE)
        snprintf(errmsg, errmsg_len, "cannot read latest: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int
states_pg(qs_pgdb_t *pg, const uint8_t (*ps)[QS_PSEUDONYM_BYTES], size_t n,
          qs_import_haves_t *out, char *errmsg, size_t errmsg_len)
{
    char *arr = bytea_array((const uint8_t *)ps, n, QS_PSEUDONYM_BYTES);
    const char *values[1] = { arr };
    PGresult *r = qs_pg_query(pg, "cannot read latest",
                              "SELECT l.machine_ps, l.topic_type, l.topic_id, l.state_id, "
                              "l.time_ms, c.pk FROM latest AS l JOIN clients AS c "
                              "ON c.client_id = l.client_id "
                              "WHERE l.machine_ps = ANY($1::bytea[]) ORDER BY l.machine_ps",
                              1, values, NULL, NULL, errmsg, errmsg_len);

    free(arr);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        qs_import_have_t *h = push(out);
        if (PQgetlength(r, i, 0) == QS_PSEUDONYM_BYTES)
            memcpy(h->ps, PQgetvalue(r, i, 0), QS_PSEUDONYM_BYTES);
        h->topic_type = (uint32_t)qs_pg_i64(r, i, 1);
        h->topic_id = qs_strdup(PQgetvalue(r, i, 2));
        h->state_id = (uint32_t)qs_pg_i64(r, i, 3);
        h->time_ms = qs_pg_i64(r, i, 4);
        if (PQgetlength(r, i, 5) == QS_KEY_BYTES)
            memcpy(h->pk, PQgetvalue(r, i, 5), QS_KEY_BYTES);
    }
    PQclear(r);
    return 0;
}

int
qs_import_read_states(qs_storedb_t *db, const uint8_t (*ps)[QS_PSEUDONYM_BYTES], size_t n,
                      qs_import_haves_t *out, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);

    qs_import_haves_clear(out);
    if (n == 0)
        return 0;
    if (pg != NULL)
        return states_pg(pg, ps, n, out, errmsg, errmsg_len);
    return states_sqlite(qs_storedb_sqlite(db), ps, n, out, errmsg, errmsg_len);
}

/* ---------------------------------------------------------- low water */

static int
low_water_sqlite(sqlite3 *db, const uint8_t (*pk)[QS_KEY_BYTES], size_t n, uint64_t *lw,
                 char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;

    if (sqlite3_prepare_v2(db, "SELECT low_water FROM clients WHERE pk = ?1", -1, &st,
                           NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "cannot read clients: %s", sqlite3_errmsg(db));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_blob(st, 1, pk[i], QS_KEY_BYTES, SQLITE_STATIC);
        rc = sqlite3_step(st);
        lw[i] = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            break;
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        snprintf(errmsg, errmsg_len, "cannot read clients: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

struct keyed {
    const uint8_t *pk;
    size_t index;
};

static int
cmp_keyed(const void *a, const void *b)
{
    return memcmp(((const struct keyed *)a)->pk, ((const struct keyed *)b)->pk, QS_KEY_BYTES);
}

static int
low_water_pg(qs_pgdb_t *pg, const uint8_t (*pk)[QS_KEY_BYTES], size_t n, uint64_t *lw,
             char *errmsg, size_t errmsg_len)
{
    char *arr = bytea_array((const uint8_t *)pk, n, QS_KEY_BYTES);
    const char *values[1] = { arr };
    struct keyed *byk = qs_calloc(n, sizeof *byk);
    PGresult *r = qs_pg_query(pg, "cannot read clients",
                              "SELECT pk, low_water FROM clients WHERE pk = ANY($1::bytea[])",
                              1, values, NULL, NULL, errmsg, errmsg_len);

    free(arr);
    if (r == NULL) {
        free(byk);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        byk[i].pk = pk[i];
        byk[i].index = i;
        lw[i] = 0;
    }
    qsort(byk, n, sizeof *byk, cmp_keyed);
    for (int i = 0; i < PQntuples(r); i++) {
        struct keyed want = { (const uint8_t *)PQgetvalue(r, i, 0), 0 }, *hit;
        if (PQgetlength(r, i, 0) != QS_KEY_BYTES)
            continue;
        hit = bsearch(&want, byk, n, sizeof *byk, cmp_keyed);
        if (hit != NULL)
            lw[hit->index] = (uint64_t)qs_pg_i64(r, i, 1);
    }
    PQclear(r);
    free(byk);
    return 0;
}

int
qs_import_read_low_water(qs_storedb_t *db, const uint8_t (*pk)[QS_KEY_BYTES], size_t n,
                         uint64_t *lw, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);

    if (n == 0)
        return 0;
    if (pg != NULL)
        return low_water_pg(pg, pk, n, lw, errmsg, errmsg_len);
    return low_water_sqlite(qs_storedb_sqlite(db), pk, n, lw, errmsg, errmsg_len);
}
