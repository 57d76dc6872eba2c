/* qs_enroll.h - enrolling a client: its key under its name's pseudonym in site.db.
 *
 * The one place where a client name becomes a pseudonym (QS_PSEUDO_CLIENT,
 * keyed with keys/site.key: the raw name is never stored) and a public key
 * is allowed in site.db. qsctl enroll uses qs_enroll_client (a fresh key
 * pair, its profile and an "enroll" audit entry, all or nothing); qs-web's
 * POST /api/v1/clients uses qs_enroll_client_tx (the same steps inside its
 * own audited transaction, the profile returned as text); the fleet
 * simulator and qs-bench enroll many keys with qs_enroll_key inside one
 * transaction of their own. qs_revoke_client_tx is the way back out, for
 * both doors. qs_client_name_check is the one rule for a
 * client name, applied by every door before anything is touched.
 */
#ifndef QS_ENROLL_H
#define QS_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "qs_audit.h"
#include "qs_limits.h"
#include "qs_pseudonym.h"
#include "qs_sitedb.h"

#define QS_ENROLL_PREFIX_BYTES 8u   /* key and pseudonym prefixes shown and audited */
#define QS_ENROLL_PREFIX_CHARS (2u * QS_ENROLL_PREFIX_BYTES)
#define QS_ENROLL_REFUSED (-2)      /* qs_enroll_client_tx: name held or key reused */
#define QS_ENROLL_NOT_FOUND (-3)    /* qs_revoke_client_tx: no such unrevoked client */

/* A client name as a profile can hold it and a terminal can show it:
 * 1..QS_MAX_NAME_BYTES bytes of UTF-8 without control characters (C0, DEL,
 * C1), not blank and without a leading or trailing blank. Returns 0, or -1
 * with errmsg starting with `what` (e.g. "--name", "'name'"). */
int qs_client_name_check(const char *name, const char *what, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Allow pk under name's pseudonym (written to name_ps when not NULL), inside
 * the caller's open transaction on db. With replace != 0, a name held by
 * another unrevoked key is taken over: that key is revoked first and
 * *replaced is set to 1 (the simulator re-enrolling its own sim-NNNNN
 * names); otherwise such a name is refused. Returns 0, or -1 with errmsg
 * (name taken, key enrolled before, database error). */
int qs_enroll_key(uint8_t name_ps[QS_PSEUDONYM_BYTES], int *replaced, qs_sitedb_t *db,
                  const uint8_t site_key[32], const char *name,
                  const uint8_t pk[QS_KEY_BYTES], int64_t now_ms, int replace,
                  char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* The site, as qs_enroll_client needs it. Everything is borrowed. */
typedef struct {
    qs_sitedb_t *db;
    const uint8_t *site_key;                /* keys/site.key, 32 bytes */
    const uint8_t *audit_key;               /* keys/audit.key, 32 bytes */
    const char *audit_head;                 /* DIR/audit.head */
    const char *actor;                      /* who enrolls, for the audit entry */
    int64_t now_ms;
    const char *endpoint;                   /* the broker frontend, for the profile */
    const uint8_t *broker_pk, *store_pk;    /* QS_KEY_BYTES each */
    const char *machine;    /* bind the key to this machine (docs/privacy.md, "One
                             * machine, one state"); NULL: none, or with replace
                             * the replaced key's machine */
    const uint8_t *machine_ps;  /* with machine NULL: bind to this machine pseudonym
                                 * (QS_PSEUDONYM_BYTES) when site.db binds the replaced
                                 * key to none (qsctl: the machine it reported) */
    int replace;            /* a name held by another key: revoke that key, take over */
} qs_enroll_site_t;

/* What qs_enroll_client enrolled: hex prefixes of the new public key and of
 * the name's pseudonym (what the audit entry records). */
typedef struct {
    char key[QS_ENROLL_PREFIX_CHARS + 1];
    char name_ps[QS_ENROLL_PREFIX_CHARS + 1];
    char machine_ps[QS_ENROLL_PREFIX_CHARS + 1];   /* "" when bound to no machine */
    int replaced;                                  /* another key's name taken over */
} qs_enroll_ids_t;

/* Enroll one client: make a fresh key pair, allow it under name, write its
 * profile (qs_profile_write, 0600) to profile_path and append an "enroll"
 * audit entry {"name_ps": prefix, "key": prefix} (plus "machine_ps": prefix
 * when the key is bound to a machine, "replaced": 1 when site->replace took
 * the name over from another key, which is revoked in the same transaction),
 * in one audited transaction.
 * The profile path is reserved with O_EXCL | O_NOFOLLOW first: an existing
 * file or symlink is never overwritten. All or nothing: on failure nothing
 * is committed and a profile this call created is removed. Returns 0, or -1
 * with errmsg. */
int qs_enroll_client(qs_enroll_ids_t *ids, const qs_enroll_site_t *site, const char *name,
                     const char *profile_path, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* qs_enroll_client's steps inside the caller's open audited transaction tx
 * (the caller commits, or rolls back after a failure), with the profile
 * returned as text instead of written to a file: *profile is
 * sodium_malloc'd, NUL-terminated and holds the client's secret key; the
 * caller sodium_free()s it, which wipes it. site->audit_key and
 * site->audit_head are not used (tx holds them). Returns 0;
 * QS_ENROLL_REFUSED with errmsg when site.db refuses the enrollment (the
 * name is held by an unrevoked client, or the key was enrolled before); -1
 * with errmsg for any other failure. *profile is NULL unless 0 is returned. */
int qs_enroll_client_tx(qs_enroll_ids_t *ids, char **profile, qs_audit_tx_t *tx,
                        const qs_enroll_site_t *site, const char *name, char *errmsg,
                        size_t errmsg_len) __attribute__((warn_unused_result));

/* Revoke every unrevoked key enrolled under name and append a "revoke"
 * audit entry {"name_ps": prefix, "keys": N} inside the caller's open
 * audited transaction tx (the caller commits): what `qsctl revoke` and
 * DELETE /api/v1/clients/NAME both do. ps_hex receives the prefix of the
 * name's pseudonym, *n_revoked the number of keys. Returns 0;
 * QS_ENROLL_NOT_FOUND when no unrevoked client has that name (nothing
 * changed); -1 with errmsg on a database or audit failure. */
int qs_revoke_client_tx(int *n_revoked, char ps_hex[QS_ENROLL_PREFIX_CHARS + 1],
                        qs_audit_tx_t *tx, qs_sitedb_t *db, const uint8_t site_key[32],
                        const char *actor, int64_t now_ms, const char *name, char *errmsg,
                        size_t errmsg_len) __attribute__((warn_unused_result));

#endif
