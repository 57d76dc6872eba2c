/* test_storefill.h - store.db fixtures for store/'s unit tests (test only).
 *
 * Rows are written the way qs-store writes them (partition ensured and
 * registered, partitions.rows kept, details sealed under the partition's
 * key), through store/'s private SQLite view: tests of store/ may name its
 * tables, nothing else may.
 */
#ifndef QS_TEST_STOREFILL_H
#define QS_TEST_STOREFILL_H

#include "qs_epochkeys.h"
#include "qs_log.h"
#include "qs_test.h"
#include "storedb_sqlite.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct storefill {
    char dir[256];
    char db_path[512];
    char epochs[512];
    qs_storedb_t *db;
    qs_epochkeys_t *ks;
};

static inline void
storefill_open(struct storefill *f, const char *tag)
{
    char err[512];

    qs_test_tmpdir(f->dir, sizeof f->dir, tag);
    snprintf(f->db_path, sizeof f->db_path, "%s/store.db", f->dir);
    snprintf(f->epochs, sizeof f->epochs, "%s/epochs", f->dir);
    f->db = qs_storedb_open(f->db_path, 1, err, sizeof err);
    f->ks = qs_epochkeys_open(f->epochs, 1, err, sizeof err);
    if (f->db == NULL || f->ks == NULL) {
        fprintf(stderr, "fixture: %s\n", err);
        exit(2);
    }
}

static inline void
storefill_close(struct storefill *f)
{
    char cmd[600];

    qs_epochkeys_destroy(&f->ks);
    qs_storedb_destroy(&f->db);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
}

static inline void
storefill_exec(struct storefill *f, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(qs_storedb_sqlite(f->db), sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sql failed: %s: %s\n", sql, err);
        exit(2);
    }
}

/* The first column of the first row of q; -1 on error or no row. */
static inline int64_t
storefill_int(struct storefill *f, const char *q)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (sqlite3_prepare_v2(qs_storedb_sqlite(f->db), q, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* One history row (own transaction unless the caller has one open);
 * domain_ps may be NULL. */
static inline void
storefill_history(struct storefill *f, uint32_t topic, int64_t time_ms, int64_t client,
                  int64_t serial, const char *topic_id, const uint8_t machine_ps[16],
                  const uint8_t *domain_ps)
{
    sqlite3 *sql = qs_storedb_sqlite(f->db);
    sqlite3_stmt *st = NULL;
    int64_t epoch = qs_epoch_of(time_ms);
    uint8_t ad[QS_DETAILS_AD_BYTES], sealed[128];
    size_t sealed_len = 0;
    char name[64], q[512];
    const uint8_t *key;
    int own_tx = sqlite3_get_autocommit(sql);

    if (own_tx)
        QS_ASSERT(qs_storedb_begin(f->db) == 0);
    QS_ASSERT(qs_storedb_partition_ensure(f->db, epoch, topic) == 0);
    key = qs_epochkeys_get(f->ks, epoch, topic, 1);
    QS_ASSERT(key != NULL);
    qs_details_ad(ad, client, (uint64_t)serial, epoch, topic);
    QS_ASSERT(qs_details_seal(sealed, &sealed_len, sizeof sealed, (const uint8_t *)"0x80070005",
                              10, ad, sizeof ad, key) == 0);
    QS_ASSERT(qs_storedb_partition_name(name, sizeof name, epoch, topic) == 0);
    snprintf(q, sizeof q, "INSERT INTO %s(client_id, serial, state_id, topic_id, time_ms, "
             "machine_ps, domain_ps, user_ps, details) VALUES (?1, ?2, 2, ?3, ?4, ?5, ?6, "
             "NULL, ?7)", name);
    QS_ASSERT(sqlite3_prepare_v2(sql, q, -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int64(st, 2, serial);
    sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, time_ms);
    sqlite3_bind_blob(st, 5, machine_ps, 16, SQLITE_STATIC);
    if (domain_ps != NULL)
        sqlite3_bind_blob(st, 6, domain_ps, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, sealed, (int)sealed_len, SQLITE_STATIC);
    QS_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    snprintf(q, sizeof q, "UPDATE partitions SET rows = rows + 1 WHERE epoch = %lld AND "
             "topic_type = %u", (long long)epoch, topic);
    storefill_exec(f, q);
    if (own_tx)
        QS_ASSERT(qs_storedb_commit(f->db) == 0);
}

/* One latest row (state 2, changed and last reported at report_ms). */
static inline void
storefill_latest(struct storefill *f, int64_t client, uint32_t topic, const char *topic_id,
                 int64_t report_ms, const uint8_t machine_ps[16], const uint8_t *domain_ps)
{
    sqlite3_stmt *st = NULL;

    QS_ASSERT(sqlite3_prepare_v2(qs_storedb_sqlite(f->db),
                                 "INSERT OR REPLACE INTO latest(client_id, topic_type, topic_id, "
                                 "state_id, time_ms, report_ms, machine_ps, domain_ps) "
                                 "VALUES (?1, ?2, ?3, 2, ?4, ?4, ?5, ?6)", -1, &st,
                                 NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int64(st, 2, topic);
    sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, report_ms);
    sqlite3_bind_blob(st, 5, machine_ps, 16, SQLITE_STATIC);
    if (domain_ps != NULL)
        sqlite3_bind_blob(st, 6, domain_ps, 16, SQLITE_STATIC);
    QS_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
}

/* A recognisable 16-byte pseudonym for machine number n. */
static inline void
storefill_ps(uint8_t out[16], int n)
{
    memset(out, 0, 16);
    out[0] = 0xA5;
    out[1] = (uint8_t)n;
    out[15] = 0x5A;
}

#endif
