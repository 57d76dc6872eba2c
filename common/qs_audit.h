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

/* Append one entry. detail is a JSON object as text. Outside a transaction
 * the entry commits at once and head_path is rewritten; inside the caller's
 * transaction the head is left alone (it must never claim an entry that may
 * still roll back): call qs_audit_sync_head after COMMIT. Returns 0 or -1. */
int qs_audit_append(qs_sitedb_t *db, const uint8_t key[32], const char *head_path,
                    int64_t time_ms, const char *actor, const char *action,
                    const char *detail, char *errmsg, size_t errmsg_len);

/* Rewrite head_path from the last committed entry (no-op on an empty log). */
int qs_audit_sync_head(qs_sitedb_t *db, const char *head_path, char *errmsg, size_t errmsg_len);

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

#endif
