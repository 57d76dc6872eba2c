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
#include <syslog.h>

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
    char **lines;      /* their syslog copies, sent after COMMIT */
};

/* The syslog copy of one entry: seq, hash, time, actor, action, detail, with
 * every byte outside printable ASCII escaped (\xHH) so that no field can
 * forge a second record or a terminal sequence. */
static char *
syslog_line(int64_t seq, const uint8_t hash[QS_AUDIT_HASH_BYTES], int64_t time_ms,
            const char *actor, const char *action, const char *detail)
{
    const char *fields[3] = { actor, action, detail };
    size_t cap = 160 + 4 * (strlen(actor) + strlen(action) + strlen(detail)), off;
    char *out = qs_malloc(cap), hex[2 * QS_AUDIT_HASH_BYTES + 1];

    qs_hex_encode(hex, sizeof hex, hash, QS_AUDIT_HASH_BYTES);
    off = (size_t)snprintf(out, cap, "audit seq=%lld hash=%s time_ms=%lld", (long long)seq,
                           hex, (long long)time_ms);
    for (size_t f = 0; f < 3; f++) {
        static const char *const names[3] = { "actor", "action", "detail" };
        off += (size_t)snprintf(out + off, cap - off, " %s=", names[f]);
        for (const unsigned char *c = (const unsigned char *)fields[f]; *c; c++)
            off += (size_t)snprintf(out + off, cap - off, *c >= 0x20 && *c < 0x7f && *c != '\\'
                                    ? "%c" : "\\x%02x", *c);
    }
    return out;
}

static void
free_lines(qs_audit_tx_t *tx)
{
    for (int64_t i = 0; i < tx->entries && tx->lines != NULL; i++)
        free(tx->lines[i]);
    free(tx->lines);
    tx->lines = NULL;
}

/* Append one entry to the chain, in a savepoint of the open transaction so
 * that a failure leaves no half-written entry. */
static int
append_entry(char **line, qs_sitedb_t *s, const uint8_t key[32], int64_t time_ms,
             const char *actor, const char *action, const char *detail, char *errmsg,
             size_t errmsg_len)
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
    *line = syslog_line(seq, hash, time_ms, actor, action, detail);
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
    char err[512], *line = NULL;

    if (append_entry(&line, tx->db, tx->key, time_ms, actor, action, detail, err,
                     sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "cannot append to the audit log in '%s': %s",
                 qs_sitedb_path(tx->db), err);
        return -1;
    }
    tx->lines = qs_realloc(tx->lines, (size_t)(tx->entries + 1) * sizeof *tx->lines);
    tx->lines[tx->entries++] = line;
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
    /* Only now, with the entries committed, may the head claim them, and
     * syslog (journald, a remote collector) keep the copy that a writer of
     * site.db cannot take back. */
    for (int64_t i = 0; i < tx->entries; i++)
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", tx->lines[i]);
    free_lines(tx);
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
    free_lines(*tx_p);
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
/* A point the chain must still pass through: the head file the site keeps,
 * or a checkpoint a privacy officer keeps elsewhere (the same text). */
struct checkpoint {
    const char *path;
    int is_head;       /* the site's own head file (its findings keep their wording) */
    int present;
    int64_t seq;
    uint8_t hash[QS_AUDIT_HASH_BYTES];
    int matched;       /* 1 passed, -1 a different entry there, 0 not reached */
};

/* Read "SEQ HEX" from path; a missing file is not present (0), a malformed
 * one is a finding (1). */
static int
checkpoint_read(struct checkpoint *cp, const char *path, int is_head, char *finding,
                size_t finding_len)
{
    char *text = NULL, err[256];
    size_t len;

    memset(cp, 0, sizeof *cp);
    cp->path = path;
    cp->is_head = is_head;
    if (path == NULL || qs_fs_read_small(&text, &len, path, 256, 0, err, sizeof err) != 0)
        return 0;
    if (qs_audit_checkpoint_parse(&cp->seq, cp->hash, text) != 0) {
        free(text);
        snprintf(finding, finding_len, "audit %s '%s' is malformed",
                 is_head ? "head file" : "checkpoint", path);
        return 1;
    }
    free(text);
    cp->present = 1;
    return 0;
}

/* The finding for a checkpoint the chain did not pass through. */
static int
checkpoint_missed(const struct checkpoint *cp, int64_t last, int64_t *bad_seq, char *finding,
                  size_t finding_len)
{
    *bad_seq = cp->seq;
    if (cp->is_head && cp->matched == 0)
        snprintf(finding, finding_len, "entry %lld: missing (the log ends at %lld: "
                 "entries were removed from the end)", (long long)cp->seq, (long long)last);
    else if (cp->is_head)
        snprintf(finding, finding_len, "entry %lld: does not match the audit head "
                 "(rewritten log)", (long long)cp->seq);
    else if (cp->matched == 0)
        snprintf(finding, finding_len, "entry %lld: missing (the log ends at %lld: entries "
                 "were removed from the end; checkpoint '%s')", (long long)cp->seq,
                 (long long)last, cp->path);
    else
        snprintf(finding, finding_len, "entry %lld: does not match checkpoint '%s' "
                 "(rewritten log)", (long long)cp->seq, cp->path);
    return 1;
}

/* Walk the chain from entry 1, checking every link and every checkpoint. */
static int
walk_chain(qs_sitedb_t *s, const uint8_t key[32], struct checkpoint *cps, size_t n_cps,
           int64_t *last, int64_t *bad_seq, char *finding, size_t finding_len)
{
    sqlite3_stmt *st = NULL;
    uint8_t prev[QS_AUDIT_HASH_BYTES] = { 0 }, hash[QS_AUDIT_HASH_BYTES];
    int64_t expect = 1;
    int rc;

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
        for (size_t i = 0; i < n_cps; i++)
            if (cps[i].present && seq == cps[i].seq)
                cps[i].matched = sodium_memcmp(hash, cps[i].hash, sizeof hash) == 0 ? 1 : -1;
        memcpy(prev, hash, sizeof prev);
        expect++;
    }
    sqlite3_finalize(st);
    *last = expect - 1;
    return rc == SQLITE_DONE ? 0 : -1;
}

static int
verify_chain(qs_sitedb_t *s, const uint8_t key[32], const char *head_path,
             const char *checkpoint_path, int64_t *entries, int64_t *bad_seq, char *finding,
             size_t finding_len)
{
    struct checkpoint cps[2];
    int64_t last = 0;
    int rc;

    *bad_seq = 0;
    if (checkpoint_read(&cps[0], head_path, 1, finding, finding_len) != 0 ||
        checkpoint_read(&cps[1], checkpoint_path, 0, finding, finding_len) != 0)
        return 1;
    if (checkpoint_path != NULL && !cps[1].present) {
        snprintf(finding, finding_len, "cannot read audit checkpoint '%s'", checkpoint_path);
        return 1;
    }
    rc = walk_chain(s, key, cps, 2, &last, bad_seq, finding, finding_len);
    if (rc != 0)
        return rc;
    *entries = last;
    if (!cps[0].present && last > 0) {
        *bad_seq = last;
        snprintf(finding, finding_len, "audit head file is missing ('%s') while the log has "
                 "%lld entries: entries may have been removed from the end", head_path,
                 (long long)last);
        return 1;
    }
    for (size_t i = 0; i < 2; i++)
        if (cps[i].present && cps[i].matched != 1)
            return checkpoint_missed(&cps[i], last, bad_seq, finding, finding_len);
    return 0;
}

int
qs_audit_checkpoint_parse(int64_t *seq, uint8_t hash[QS_AUDIT_HASH_BYTES], const char *text)
{
    char hex[QS_AUDIT_HASH_BYTES * 2 + 1];
    long long v;

    if (sscanf(text, "%lld %64s", &v, hex) != 2 || v < 1 ||
        qs_hex_decode(hash, QS_AUDIT_HASH_BYTES, hex) != 0)
        return -1;
    *seq = v;
    return 0;
}

int
qs_audit_head(int64_t *seq, uint8_t hash[QS_AUDIT_HASH_BYTES], qs_sitedb_t *db)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *seq = 0;
    if (sqlite3_prepare_v2(qs_sitedb_sqlite(db), "SELECT seq, hash FROM audit ORDER BY seq "
                           "DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == QS_AUDIT_HASH_BYTES) {
        *seq = sqlite3_column_int64(st, 0);
        memcpy(hash, sqlite3_column_blob(st, 1), QS_AUDIT_HASH_BYTES);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
qs_audit_verify(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                int64_t *bad_seq, char *finding, size_t finding_len)
{
    int64_t entries = 0;

    return verify_chain(db, key, head_path, NULL, &entries, bad_seq, finding, finding_len);
}

int
qs_audit_check(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
               int64_t *entries, int64_t *bad_seq, char *finding, size_t finding_len)
{
    return qs_audit_check_checkpoint(db, key, head_path, NULL, entries, bad_seq, finding,
                                     finding_len);
}

int
qs_audit_check_checkpoint(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                          const char *checkpoint_path, int64_t *entries, int64_t *bad_seq,
                          char *finding, size_t finding_len)
{
    int rc;

    *entries = 0;
    *bad_seq = 0;
    if (qs_sitedb_begin_read(db) != 0)
        return -1;
    rc = verify_chain(db, key, head_path, checkpoint_path, entries, bad_seq, finding,
                      finding_len);
    if (rc < 0)
        snprintf(finding, finding_len, "%s", qs_sitedb_errmsg(db));
    (void)qs_sitedb_commit(db);
    return rc;
}
