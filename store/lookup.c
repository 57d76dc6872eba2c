/* lookup.c - one machine's current states or retained events, by pseudonym (SQLite).
 *
 * Current states come from latest through its latest_by_machine index;
 * events from every history partition present (registered or not) through
 * each one's machine_ps index; both in one read transaction, so a live
 * qs-store or a retention pass cannot show half of a change. Each event's
 * details are opened with its partition's key and the row's identity as
 * associated data, exactly as qs-store sealed them; the plaintext is wiped
 * when the result is freed. The engine-neutral parts (collecting rows,
 * opening details, the order of events: lookup_rules.h) are defined here
 * and shared with lookup_pg.c, to which a PostgreSQL store is handed.
 */
#include "qs_store_lookup.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "lookup_rules.h"
#include "ops_pg.h"
#include "query_sqlite.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef qs_lookup_rows_t rows_t;

qs_storedb_lookup_row_t *
qs_lookup_push(qs_lookup_rows_t *r)
{
    qs_storedb_lookup_t *res = r->res;

    if (res->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        res->rows = qs_realloc(res->rows, r->cap * sizeof *res->rows);
    }
    memset(&res->rows[res->n], 0, sizeof res->rows[res->n]);
    return &res->rows[res->n++];
}

void
qs_storedb_lookup_free(qs_storedb_lookup_t *res)
{
    for (size_t i = 0; i < res->n; i++) {
        free(res->rows[i].topic_id);
        if (res->rows[i].details != NULL) {
            sodium_memzero(res->rows[i].details, strlen(res->rows[i].details));
            free(res->rows[i].details);
        }
    }
    free(res->rows);
    memset(res, 0, sizeof *res);
}

static const char *
text_col(sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t ? t : "";
}

static int
read_latest(rows_t *out, sqlite3 *sql, const uint8_t *machine_ps, const uint8_t *domain_ps,
            char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(sql, domain_ps
                           ? "SELECT topic_type, topic_id, state_id, time_ms, report_ms FROM latest "
                             "WHERE machine_ps = ?1 AND domain_ps = ?2 "
                             "ORDER BY topic_type, topic_id, client_id"
                           : "SELECT topic_type, topic_id, state_id, time_ms, report_ms FROM latest "
                             "WHERE machine_ps = ?1 ORDER BY topic_type, topic_id, client_id",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_blob(st, 1, machine_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    if (domain_ps)
        sqlite3_bind_blob(st, 2, domain_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        qs_storedb_lookup_row_t *row = qs_lookup_push(out);
        row->topic_type = (uint32_t)sqlite3_column_int64(st, 0);
        row->topic_id = qs_strdup(text_col(st, 1));
        row->state_id = (uint32_t)sqlite3_column_int64(st, 2);
        row->time_ms = sqlite3_column_int64(st, 3);
        row->report_ms = sqlite3_column_int64(st, 4);
        row->serial = -1;
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    return 0;
fail:
    snprintf(errmsg, errmsg_len, "cannot read latest: %s", sqlite3_errmsg(sql));
    sqlite3_finalize(st);
    return -1;
}

/* Decrypt one row's details with its partition key (bound to the row's
 * identity, exactly as qs-store sealed it). */
void
qs_lookup_open_details(qs_storedb_lookup_row_t *row, qs_epochkeys_t *ks, int64_t client_id,
                       int64_t epoch, const uint8_t *sealed, size_t sealed_len)
{
    uint8_t ad[QS_DETAILS_AD_BYTES], plain[QS_MAX_DETAILS_BYTES + 1];
    size_t plain_len = 0;
    const uint8_t *key = NULL;
    char why[512];
    int found = ks ? qs_epochkeys_find(&key, ks, epoch, row->topic_type, why, sizeof why) : 1;

    if (found == 1) {
        row->details_state = QS_LOOKUP_DETAILS_SHREDDED;
        return;
    }
    if (found != 0) {
        /* Present but refused (say, a loose mode): never "shredded". */
        log_warn("cannot use epoch key %lld-%u: %s", (long long)epoch, row->topic_type, why);
        row->details_state = QS_LOOKUP_DETAILS_UNREADABLE;
        return;
    }
    qs_details_ad(ad, client_id, (uint64_t)row->serial, epoch, row->topic_type);
    if (qs_details_open(plain, &plain_len, sizeof plain - 1, sealed, sealed_len, ad, sizeof ad,
                        key) != 0) {
        row->details_state = QS_LOOKUP_DETAILS_UNREADABLE;
        return;
    }
    plain[plain_len] = '\0';
    row->details = qs_strdup((const char *)plain);
    row->details_state = QS_LOOKUP_DETAILS_OPEN;
    sodium_memzero(plain, sizeof plain);
}

/* Append the machine's events in one partition. A partition registered but
 * never written has no table: nothing to read, not an error. */
static int
read_partition(rows_t *out, sqlite3 *sql, const qs_partition_t *part, qs_epochkeys_t *ks,
               const uint8_t *machine_ps, const uint8_t *domain_ps,
               char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    char name[64], q[256];
    int rc;

    if (qs_storedb_partition_name(name, sizeof name, part->epoch, part->topic_type) != 0)
        return 0;
    snprintf(q, sizeof q, "SELECT client_id, serial, state_id, topic_id, time_ms, details "
             "FROM \"%s\" WHERE machine_ps = ?1%s", name,
             domain_ps ? " AND domain_ps = ?2" : "");
    if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK) {
        if (strstr(sqlite3_errmsg(sql), "no such table") != NULL)
            return 0;   /* registered, never written */
        snprintf(errmsg, errmsg_len, "cannot read '%s': %s", name, sqlite3_errmsg(sql));
        return -1;
    }
    sqlite3_bind_blob(st, 1, machine_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    if (domain_ps)
        sqlite3_bind_blob(st, 2, domain_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        qs_storedb_lookup_row_t *row = qs_lookup_push(out);
        row->topic_type = part->topic_type;
        row->serial = sqlite3_column_int64(st, 1);
        row->state_id = (uint32_t)sqlite3_column_int64(st, 2);
        row->topic_id = qs_strdup(text_col(st, 3));
        row->time_ms = sqlite3_column_int64(st, 4);
        row->report_ms = -1;
        if (sqlite3_column_type(st, 5) == SQLITE_BLOB)
            qs_lookup_open_details(row, ks, sqlite3_column_int64(st, 0), part->epoch,
                                   sqlite3_column_blob(st, 5),
                                   (size_t)sqlite3_column_bytes(st, 5));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(errmsg, errmsg_len, "cannot read '%s': %s", name, sqlite3_errmsg(sql));
        return -1;
    }
    return 0;
}

static int
read_history(rows_t *out, qs_storedb_t *db, qs_epochkeys_t *ks, const uint8_t *machine_ps,
             const uint8_t *domain_ps, char *errmsg, size_t errmsg_len)
{
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    int rc = 0;

    if (qs_storedb_partitions_present(db, &parts, &n_parts) != 0) {
        snprintf(errmsg, errmsg_len, "cannot list history partitions: %s",
                 sqlite3_errmsg(qs_storedb_sqlite(db)));
        return -1;
    }
    for (size_t i = 0; i < n_parts && rc == 0; i++)
        rc = read_partition(out, qs_storedb_sqlite(db), &parts[i], ks, machine_ps, domain_ps,
                            errmsg, errmsg_len);
    free(parts);
    return rc;
}

static int
cmp_event(const void *a, const void *b)
{
    const qs_storedb_lookup_row_t *x = a, *y = b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    if (x->topic_type != y->topic_type)
        return x->topic_type < y->topic_type ? -1 : 1;
    return (x->serial > y->serial) - (x->serial < y->serial);
}

void
qs_lookup_sort_events(qs_storedb_lookup_t *out)
{
    if (out->n > 1)
        qsort(out->rows, out->n, sizeof *out->rows, cmp_event);
}

int
qs_storedb_lookup(qs_storedb_t *db, qs_storedb_lookup_t *out,
                  const uint8_t machine_ps[QS_PSEUDONYM_BYTES], const uint8_t *domain_ps,
                  int history, qs_epochkeys_t *ks, char *errmsg, size_t errmsg_len)
{
    rows_t rows = { out, 0 };
    int rc;

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_lookup_pg(db, out, machine_ps, domain_ps, history, ks, errmsg,
                                    errmsg_len);
    memset(out, 0, sizeof *out);
    /* One read transaction: one consistent snapshot while qs-store writes. */
    if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot read store.db: %s",
                 sqlite3_errmsg(qs_storedb_sqlite(db)));
        return -1;
    }
    rc = history ? read_history(&rows, db, ks, machine_ps, domain_ps, errmsg, errmsg_len)
                 : read_latest(&rows, qs_storedb_sqlite(db), machine_ps, domain_ps, errmsg,
                               errmsg_len);
    qs_storedb_read_end(db);
    if (rc != 0) {
        qs_storedb_lookup_free(out);
        return -1;
    }
    if (history)
        qs_lookup_sort_events(out);
    return 0;
}
