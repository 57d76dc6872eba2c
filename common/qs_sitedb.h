/* qs_sitedb.h - the control-plane database (site.db): clients, policy, audit.
 *
 * site.db is small and written rarely (enroll, revoke, policy set, audit);
 * daemons hold it open read-mostly and call qs_sitedb_changed() a few times a
 * second, which costs one PRAGMA data_version: when another process commits,
 * they reload the key set or the policy. That is how revocation and policy
 * changes take effect without a restart.
 *
 * Client names are stored only as pseudonyms (QS_PSEUDO_CLIENT), like machine
 * names: an administrator revokes by name, but nobody can list names.
 */
#ifndef QS_SITEDB_H
#define QS_SITEDB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "qs_keyset.h"
#include "qs_limits.h"
#include "qs_policy.h"
#include "qs_pseudonym.h"

typedef struct qs_sitedb qs_sitedb_t;

/* Open site.db (creating the schema if create != 0; the file is made 0600).
 * NULL with errmsg on failure. */
qs_sitedb_t *qs_sitedb_open(const char *path, int create, char *errmsg, size_t errmsg_len);
void qs_sitedb_destroy(qs_sitedb_t **db_p);

/* The underlying handle, for the audit module which shares the file. */
sqlite3 *qs_sitedb_sqlite(qs_sitedb_t *db);

/* *changed = 1 if another connection committed since the last call. */
int qs_sitedb_changed(qs_sitedb_t *db, int *changed);

/* Explicit transaction around several calls (e.g. enrolling a fleet).
 * A change that must be audited goes through qs_audit_tx_begin() instead
 * (qs_audit.h), which wraps these. */
int qs_sitedb_begin(qs_sitedb_t *db);
int qs_sitedb_commit(qs_sitedb_t *db);
void qs_sitedb_rollback(qs_sitedb_t *db);

/* How many client keys are enrolled (never revoked) and how many revoked,
 * read in one snapshot. Returns 0, or -1 with errmsg. */
int qs_sitedb_client_counts(qs_sitedb_t *db, int64_t *enrolled, int64_t *revoked,
                            char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* A read transaction (several reads see one snapshot); end it with
 * qs_sitedb_commit(). Returns 0 or -1. */
int qs_sitedb_begin_read(qs_sitedb_t *db);

/* The path the database was opened with (for messages). */
const char *qs_sitedb_path(const qs_sitedb_t *db);

/* The database's message for the last failed call on db. */
const char *qs_sitedb_errmsg(qs_sitedb_t *db);

/* *n = the number of audit entries in the site.db at path, opened read-only
 * (nothing is created): 0 when there is no such file or no audit table yet.
 * -1 with errmsg (the database's reason) when path is not a readable
 * database. qsctl init uses it to tell an interrupted init from a damaged site. */
int qs_sitedb_audit_entries(int64_t *n, const char *path, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Called for a column of site.db that could hold text but is not one that
 * must (policy: actor, json; audit: actor, action, detail): a place a name
 * could be kept. type is the column's declared type. */
typedef void (*qs_sitedb_column_cb)(void *ctx, const char *table, const char *column,
                                    const char *type);

/* Call cb for every such column, by table and position (qsctl verify).
 * Returns 0, or -1 with errmsg (the database's reason) when the schema
 * cannot be read. */
int qs_sitedb_check_text_columns(qs_sitedb_t *db, qs_sitedb_column_cb cb, void *ctx,
                                 char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* *not_pseudonym = the clients rows whose name (or bound machine) is not
 * a 16-byte pseudonym (qsctl verify). Returns 0, or -1 with errmsg (the database's reason). */
int qs_sitedb_check_client_names(qs_sitedb_t *db, int64_t *not_pseudonym, char *errmsg,
                                 size_t errmsg_len) __attribute__((warn_unused_result));

/* Clear set and fill it with every enrolled and revoked key and the
 * machine each is bound to (qs_keyset_bind). */
int qs_sitedb_load_keyset(qs_sitedb_t *db, qs_keyset_t *set);

/* Enroll pk under a name pseudonym. -1 with errmsg when an unrevoked client
 * already has that name, or when pk was ever enrolled (keys are single-use). */
int qs_sitedb_enroll(qs_sitedb_t *db, const uint8_t name_ps[QS_PSEUDONYM_BYTES],
                     const uint8_t pk[QS_KEY_BYTES], int64_t now_ms,
                     char *errmsg, size_t errmsg_len);

/* The machine an unrevoked key enrolled under name_ps is bound to:
 * *bound = 1 and machine_ps set, or *bound = 0 (none bound, or a site.db
 * without bindings). Returns 0 or -1. */
int qs_sitedb_machine_of_name(uint8_t machine_ps[QS_PSEUDONYM_BYTES], int *bound,
                              qs_sitedb_t *db, const uint8_t name_ps[QS_PSEUDONYM_BYTES])
    __attribute__((warn_unused_result));

/* The key enrolled (unrevoked) under name_ps: *found = 1 and pk set, or
 * *found = 0. Returns 0 or -1. */
int qs_sitedb_key_of_name(uint8_t pk[QS_KEY_BYTES], int *found, qs_sitedb_t *db,
                          const uint8_t name_ps[QS_PSEUDONYM_BYTES])
    __attribute__((warn_unused_result));

/* Bind the enrolled key pk to a machine (its QS_PSEUDO_MACHINE pseudonym):
 * the store then refuses its messages naming another machine and keeps its
 * state as that machine's. -1 with errmsg when another unrevoked key is
 * bound to the machine (one machine, one key) or on a database error. */
int qs_sitedb_bind_machine(qs_sitedb_t *db, const uint8_t pk[QS_KEY_BYTES],
                           const uint8_t machine_ps[QS_PSEUDONYM_BYTES], char *errmsg,
                           size_t errmsg_len) __attribute__((warn_unused_result));

/* Revoke every unrevoked key with this name pseudonym; *n_revoked says how many. */
int qs_sitedb_revoke(qs_sitedb_t *db, const uint8_t name_ps[QS_PSEUDONYM_BYTES],
                     int64_t now_ms, int *n_revoked);

/* Current policy. *configured = 0 (and p = defaults) when none was ever set. */
int qs_sitedb_policy_get(qs_sitedb_t *db, qs_policy_t *p, int *configured, int64_t *version);

/* Store p as the next policy version. */
int qs_sitedb_policy_put(qs_sitedb_t *db, const qs_policy_t *p, const char *actor,
                         int64_t now_ms, int64_t *version, char *errmsg, size_t errmsg_len);

typedef int (*qs_policy_version_cb)(void *ctx, int64_t version, int64_t set_ms,
                                    const char *actor, const char *json);

/* Call cb for every policy version, oldest first; stops if cb returns != 0. */
int qs_sitedb_policy_each(qs_sitedb_t *db, qs_policy_version_cb cb, void *ctx);

#endif
