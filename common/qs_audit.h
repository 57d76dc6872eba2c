/* qs_audit.h - the tamper-evident audit log: a keyed hash chain in site.db.
 *
 * Each entry's hash = BLAKE2b-256 keyed with keys/audit.key over the previous
 * hash and the entry's seq, time, actor, action and detail (length-prefixed).
 * Editing, removing or reordering an entry breaks the chain at that entry;
 * removing entries from the end is caught by the head file (DIR/audit.head:
 * the last seq and hash, rewritten after every committed append; a missing
 * head with a non-empty log is itself a finding). Without the audit key,
 * nobody can forge a consistent chain.
 *
 * Actions used: "policy.set", "retention.pass", "forget", "enroll", "revoke",
 * "init".
 */
#ifndef QS_AUDIT_H
#define QS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "qs_sitedb.h"

#define QS_AUDIT_HASH_BYTES 32u

/* An audited change to site.db: the one way to change site.db and append
 * its audit entry in one transaction.
 *
 *   tx = qs_audit_tx_begin(db, key, paths.audit_head, err, len);   BEGIN IMMEDIATE
 *   qs_sitedb_enroll(db, ...) / qs_sitedb_policy_put(db, ...) ...  the change
 *   qs_audit_tx_append(tx, now, actor, "enroll", detail, err, len); its entry
 *   qs_audit_tx_commit(&tx, err, len);                              COMMIT, head
 *
 * BEGIN IMMEDIATE takes the write lock before anything is read, so a
 * read-modify-write and the chain's end are race-free between processes.
 * The head file is rewritten only after COMMIT: it never claims an entry
 * that may still roll back (a crash between the two leaves the head one
 * entry behind, which verify accepts). On any failure call
 * qs_audit_tx_rollback(&tx): nothing was changed, the head is untouched. */
typedef struct qs_audit_tx qs_audit_tx_t;

/* Begin. key (32 bytes) and head_path are borrowed until commit or rollback.
 * Returns the transaction, or NULL with errmsg ("cannot start a transaction
 * on '…/site.db': why (another process may be writing: try again)"). */
qs_audit_tx_t *qs_audit_tx_begin(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                                 char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Append one entry (detail: a JSON object as text) to the chain inside tx.
 * Returns 0, or -1 with errmsg; the entry is then not in the log and the
 * transaction is still open (roll it back). */
int qs_audit_tx_append(qs_audit_tx_t *tx, int64_t time_ms, const char *actor,
                       const char *action, const char *detail, char *errmsg,
                       size_t errmsg_len) __attribute__((warn_unused_result));

/* COMMIT, then rewrite the head. Consumes *tx_p (set to NULL). A change
 * without an audit entry is a programming error (asserted). Returns 0; -1
 * with errmsg "cannot commit to '…': why; nothing was changed" (rolled
 * back), or "committed, but cannot update the audit head: why". */
int qs_audit_tx_commit(qs_audit_tx_t **tx_p, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* ROLLBACK and free; sets *tx_p to NULL. No-op on NULL. */
void qs_audit_tx_rollback(qs_audit_tx_t **tx_p);

/* One entry in a transaction of its own (begin, append, commit): for an
 * action whose effect is outside site.db (a retention pass, an erasure).
 * Returns 0, or -1 with errmsg as above. */
int qs_audit_record(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                    int64_t time_ms, const char *actor, const char *action,
                    const char *detail, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

typedef struct {
    int64_t seq;
    int64_t time_ms;
    const char *actor;
    const char *action;
    const char *detail;
} qs_audit_entry_t;

typedef int (*qs_audit_cb)(void *ctx, const qs_audit_entry_t *entry);

/* Call cb for each entry in seq order; stops when cb returns != 0. */
int qs_audit_each(qs_sitedb_t *db, qs_audit_cb cb, void *ctx);

/* Check the whole chain and the head file. Returns 0 when intact; 1 when
 * tampered, with *bad_seq the first bad entry and finding saying what is
 * wrong ("entry 7: hash mismatch (edited or reordered)"); -1 on a read error. */
int qs_audit_verify(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                    int64_t *bad_seq, char *finding, size_t finding_len);

/* qs_audit_verify in one read transaction that also counts the entries
 * (*entries; valid when the result is 0), so the count and the check see
 * the same log. Same returns as qs_audit_verify; on -1 finding holds the
 * database's reason. */
int qs_audit_check(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                   int64_t *entries, int64_t *bad_seq, char *finding, size_t finding_len);

/* Checkpoints. A checkpoint is the text "SEQ HASH_HEX" (the head file's
 * format): `qsctl audit head` prints one, a privacy officer keeps it off
 * the site, and `qsctl audit verify --checkpoint FILE` fails unless the
 * chain still passes through it. Whoever can write site.db can cut entries
 * off the end and rewrite the head file; they cannot make the chain pass
 * through a checkpoint kept elsewhere (nor unsend the syslog copy every
 * committed entry gets, LOG_AUTHPRIV | LOG_NOTICE). */

/* The last entry: *seq (0 on an empty log) and its hash. 0 or -1. */
int qs_audit_head(int64_t *seq, uint8_t hash[QS_AUDIT_HASH_BYTES], qs_sitedb_t *db);

/* Parse a checkpoint's text. 0, or -1 when malformed. */
int qs_audit_checkpoint_parse(int64_t *seq, uint8_t hash[QS_AUDIT_HASH_BYTES],
                              const char *text) __attribute__((warn_unused_result));

/* qs_audit_check, and also: the chain passes through the checkpoint in the
 * file checkpoint_path (NULL: none; unreadable or malformed: a finding). */
int qs_audit_check_checkpoint(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                              const char *checkpoint_path, int64_t *entries, int64_t *bad_seq,
                              char *finding, size_t finding_len);

#endif
