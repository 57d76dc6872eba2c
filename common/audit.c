/* audit.c - keyed BLAKE2b hash chain over audit entries, plus a head file.
 *
 * Entries are appended only inside an audited transaction (qs_audit_tx_*),
 * so a change to site.db and its entry commit together; the head file is
 * written after the COMMIT, from the last committed entry.
 */
#include "qs_audit.h"
#include "qs_fsutil.h"
#include "qs_hex.h"
#include "qs_log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
hash_field(crypto_generichash_state *st, const void *data, size_t len)
{
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (uint8_t)((uint64_t)len >> (8 * i));
    crypto_generichash_update(st, lenbuf, sizeof lenbuf);
    crypto_generichash_update(st, data, len);
}

static void
entry_hash(uint8_t out[QS_AUDIT_HASH_BYTES], const uint8_t key[32],
           const uint8_t prev[QS_AUDIT_HASH_BYTES], int64_t seq, int64_t time_ms,
           const char *actor, const char *action, const char *detail)
{
    crypto_generichash_state st;
    char nums[64];
    int n = snprintf(nums, sizeof nums, "%lld/%lld", (long long)seq, (long long)time_ms);

    crypto_generichash_init(&st, key, 32, QS_AUDIT_HASH_BYTES);
    hash_field(&st, prev, QS_AUDIT_HASH_BYTES);
    hash_field(&st, nums, (size_t)n);
    hash_field(&st, actor, strlen(actor));
    hash_field(&st, action, strlen(action));
    hash_field(&st, detail, strlen(detail));
    crypto_generichash_final(&st, out, QS_AUDIT_HASH_BYTES);
}

static int
write_head(const char *head_path, int64_t seq, const uint8_t hash[QS_AUDIT_HASH_BYTES],
           char *errmsg, size_t errmsg_len)
{
    char hex[QS_AUDIT_HASH_BYTES * 2 + 1], line[128];
    int n;

    qs_hex_encode(hex, sizeof hex, hash, QS_AUDIT_HASH_BYTES);
    n = snprintf(line, sizeof line, "%lld %s\n", (long long)seq, hex);
    return qs_fs_write_private(head_path, line, (size_t)n, errmsg, errmsg_len);
}

struct qs_audit_tx {
    qs_sitedb_t *db;
    const uint8_t *key;
    const char *head_path;
    int64_t entries;   /* appended in this transaction */
};

/* Append one entry to the chain, in a savepoint of the open transaction so
 * that a failure leaves no half-written entry. */
static int
append_entry(qs_sitedb_t *s, const uint8_t key[32], int64_t time_ms, const char *actor,
             const char *action, const char *detail, char *errmsg, size_t errmsg_len)
{
    sqlite3 *db = qs_sitedb_sqlite(s);
    sqlite3_stmt *st = NULL;
    uint8_t prev[QS_AUDIT_HASH_BYTES] = { 0 }, hash[QS_AUDIT_HASH_BYTES];
    int64_t seq = 1;
    int rc;

    if (sqlite3_exec(db, "SAVEPOINT audit_append", NULL, NULL, NULL) != SQLITE_OK)
        goto db_error;
    if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        goto db_error_rollback;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        seq = sqlite3_column_int64(st, 0) + 1;
        if (sqlite3_column_bytes(st, 1) == QS_AUDIT_HASH_BYTES)
            memcpy(prev, sqlite3_column_blob(st, 1), QS_AUDIT_HASH_BYTES);
    } else if (rc != SQLITE_DONE) {
        goto db_error_rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    entry_hash(hash, key, prev, seq, time_ms, actor, action, detail);
    if (sqlite3_prepare_v2(db, "INSERT INTO audit(seq, time_ms, actor, action, detail, "
                           "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &st, NULL) != SQLITE_OK)
        goto db_error_rollback;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, time_ms);
    sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, prev, QS_AUDIT_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, hash, QS_AUDIT_HASH_BYTES, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto db_error_rollback;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(db, "RELEASE audit_append", NULL, NULL, NULL) != SQLITE_OK)
        goto db_error;
    return 0;
db_error_rollback:
    snprintf(errmsg, errmsg_len, "audit: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    (void)sqlite3_exec(db, "ROLLBACK TO audit_append; RELEASE audit_append", NULL, NULL, NULL);
    return -1;
db_error:
    snprintf(errmsg, errmsg_len, "audit: %s", sqlite3_errmsg(db));
    return -1;
}

/* Rewrite head_path from the last committed entry (no-op on an empty log). */
static int
sync_head(qs_sitedb_t *s, const char *head_path, char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    uint8_t hash[QS_AUDIT_HASH_BYTES];
    int64_t seq;
    int rc;

    if (sqlite3_prepare_v2(qs_sitedb_sqlite(s), "SELECT seq, hash FROM audit ORDER BY seq DESC "
                           "LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "audit: %s", sqlite3_errmsg(qs_sitedb_sqlite(s)));
        return -1;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW || sqlite3_column_bytes(st, 1) != QS_AUDIT_HASH_BYTES) {
        if (rc != SQLITE_DONE)
            snprintf(errmsg, errmsg_len, "audit: %s", sqlite3_errmsg(qs_sitedb_sqlite(s)));
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    seq = sqlite3_column_int64(st, 0);
    memcpy(hash, sqlite3_column_blob(st, 1), sizeof hash);
    sqlite3_finalize(st);
    return write_head(head_path, seq, hash, errmsg, errmsg_len);
}

qs_audit_tx_t *
qs_audit_tx_begin(qs_sitedb_t *db, const uint8_t key[32], const char *head_path, char *errmsg,
                  size_t errmsg_len)
{
    qs_audit_tx_t *tx;

    QS_ASSERT(db != NULL && key != NULL && head_path != NULL);
    if (qs_sitedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot start a transaction on '%s': %s "
                 "(another process may be writing: try again)", qs_sitedb_path(db),
                 qs_sitedb_errmsg(db));
        return NULL;
    }
    tx = qs_calloc(1, sizeof *tx);
    tx->db = db;
    tx->key = key;
    tx->head_path = head_path;
    return tx;
}

int
qs_audit_tx_append(qs_audit_tx_t *tx, int64_t time_ms, const char *actor, const char *action,
                   const char *detail, char *errmsg, size_t errmsg_len)
{
    char err[512];

    if (append_entry(tx->db, tx->key, time_ms, actor, action, detail, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "cannot append to the audit log in '%s': %s",
                 qs_sitedb_path(tx->db), err);
        return -1;
    }
    tx->entries++;
    return 0;
}

int
qs_audit_tx_commit(qs_audit_tx_t **tx_p, char *errmsg, size_t errmsg_len)
{
    qs_audit_tx_t *tx = *tx_p;
    char err[512];
    int rc = 0;

    QS_ASSERT(tx != NULL && tx->entries > 0);
    if (qs_sitedb_commit(tx->db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot commit to '%s': %s; nothing was changed",
                 qs_sitedb_path(tx->db), qs_sitedb_errmsg(tx->db));
        qs_audit_tx_rollback(tx_p);
        return -1;
    }
    /* Only now, with the entries committed, may the head claim them. */
    if (sync_head(tx->db, tx->head_path, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "committed, but cannot update the audit head: %s", err);
        rc = -1;
    }
    free(tx);
    *tx_p = NULL;
    return rc;
}

void
qs_audit_tx_rollback(qs_audit_tx_t **tx_p)
{
    if (tx_p == NULL || *tx_p == NULL)
        return;
    qs_sitedb_rollback((*tx_p)->db);
    free(*tx_p);
    *tx_p = NULL;
}

int
qs_audit_record(qs_sitedb_t *db, const uint8_t key[32], const char *head_path, int64_t time_ms,
                const char *actor, const char *action, const char *detail, char *errmsg,
                size_t errmsg_len)
{
    qs_audit_tx_t *tx = qs_audit_tx_begin(db, key, head_path, errmsg, errmsg_len);

    if (tx == NULL)
        return -1;
    if (qs_audit_tx_append(tx, time_ms, actor, action, detail, errmsg, errmsg_len) != 0) {
        qs_audit_tx_rollback(&tx);
        return -1;
    }
    return qs_audit_tx_commit(&tx, errmsg, errmsg_len);
}

int
qs_audit_each(qs_sitedb_t *s, qs_audit_cb cb, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(qs_sitedb_sqlite(s), "SELECT seq, time_ms, actor, action, detail "
                           "FROM audit ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        qs_audit_entry_t e = {
            sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
            (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
            (const char *)sqlite3_column_text(st, 4) };
        if (cb(ctx, &e) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* qs_audit_verify, also giving the number of entries checked. */
static int
verify_chain(qs_sitedb_t *s, const uint8_t key[32], const char *head_path, int64_t *entries,
             int64_t *bad_seq, char *finding, size_t finding_len)
{
    sqlite3_stmt *st = NULL;
    uint8_t prev[QS_AUDIT_HASH_BYTES] = { 0 }, hash[QS_AUDIT_HASH_BYTES];
    uint8_t head_hash[QS_AUDIT_HASH_BYTES];
    int64_t expect = 1, head_seq = 0;
    int have_head = 0, head_matched = 0, rc;
    char *text = NULL, err[256];
    size_t len;

    *bad_seq = 0;
    if (qs_fs_read_small(&text, &len, head_path, 256, 0, err, sizeof err) == 0) {
        char hex[QS_AUDIT_HASH_BYTES * 2 + 1];
        long long hs;
        if (sscanf(text, "%lld %64s", &hs, hex) != 2 ||
            qs_hex_decode(head_hash, sizeof head_hash, hex) != 0) {
            free(text);
            snprintf(finding, finding_len, "audit head file '%s' is malformed", head_path);
            return 1;
        }
        head_seq = hs;
        have_head = 1;
        free(text);
    }
    if (sqlite3_prepare_v2(qs_sitedb_sqlite(s), "SELECT seq, time_ms, actor, action, detail, "
                           "prev_hash, hash FROM audit ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        if (seq != expect) {
            *bad_seq = expect;
            snprintf(finding, finding_len, "entry %lld: missing (removed); next present is %lld",
                     (long long)expect, (long long)seq);
            sqlite3_finalize(st);
            return 1;
        }
        entry_hash(hash, key, prev, seq, sqlite3_column_int64(st, 1),
                   (const char *)sqlite3_column_text(st, 2),
                   (const char *)sqlite3_column_text(st, 3),
                   (const char *)sqlite3_column_text(st, 4));
        if (sqlite3_column_bytes(st, 6) != QS_AUDIT_HASH_BYTES ||
            sodium_memcmp(hash, sqlite3_column_blob(st, 6), QS_AUDIT_HASH_BYTES) != 0 ||
            sqlite3_column_bytes(st, 5) != QS_AUDIT_HASH_BYTES ||
            sodium_memcmp(prev, sqlite3_column_blob(st, 5), QS_AUDIT_HASH_BYTES) != 0) {
            *bad_seq = seq;
            snprintf(finding, finding_len,
                     "entry %lld: hash mismatch (edited, reordered or forged)", (long long)seq);
            sqlite3_finalize(st);
            return 1;
        }
        if (have_head && seq == head_seq)
            head_matched = sodium_memcmp(hash, head_hash, QS_AUDIT_HASH_BYTES) == 0 ? 1 : -1;
        memcpy(prev, hash, sizeof prev);
        expect++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    *entries = expect - 1;
    if (!have_head && expect > 1) {
        *bad_seq = expect - 1;
        snprintf(finding, finding_len, "audit head file is missing ('%s') while the log has "
                 "%lld entries: entries may have been removed from the end", head_path,
                 (long long)(expect - 1));
        return 1;
    }
    if (have_head && head_matched != 1) {
        *bad_seq = head_seq;
        if (head_matched == 0)
            snprintf(finding, finding_len, "entry %lld: missing (the log ends at %lld: "
                     "entries were removed from the end)", (long long)head_seq,
                     (long long)(expect - 1));
        else
            snprintf(finding, finding_len, "entry %lld: does not match the audit head "
                     "(rewritten log)", (long long)head_seq);
        return 1;
    }
    return 0;
}

int
qs_audit_verify(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                int64_t *bad_seq, char *finding, size_t finding_len)
{
    int64_t entries = 0;

    return verify_chain(db, key, head_path, &entries, bad_seq, finding, finding_len);
}

int
qs_audit_check(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
               int64_t *entries, int64_t *bad_seq, char *finding, size_t finding_len)
{
    int rc;

    *entries = 0;
    *bad_seq = 0;
    if (qs_sitedb_begin_read(db) != 0)
        return -1;
    rc = verify_chain(db, key, head_path, entries, bad_seq, finding, finding_len);
    if (rc < 0)
        snprintf(finding, finding_len, "%s", qs_sitedb_errmsg(db));
    (void)qs_sitedb_commit(db);
    return rc;
}
