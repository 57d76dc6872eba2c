/* siteaudit.c - one audit entry per call, in its own write transaction.
 *
 * Inside a transaction qs_audit_append leaves DIR/audit.head alone; it is
 * rewritten with qs_audit_sync_head after COMMIT, so the head never claims an
 * entry the log does not have.
 */
#include "siteaudit.h"
#include "qs_audit.h"
#include "qs_keys.h"

#include <sodium.h>
#include <stdio.h>

int
qs_siteaudit_head_path(char *out, size_t out_len, const qs_site_paths_t *paths)
{
    int n = snprintf(out, out_len, "%s/audit.head", paths->home);
    return (n < 0 || (size_t)n >= out_len) ? -1 : 0;
}

int
qs_siteaudit_append(qs_sitedb_t *db, const qs_site_paths_t *paths, int64_t time_ms,
                    const char *actor, const char *action, const char *detail,
                    char *errmsg, size_t errmsg_len)
{
    char head[QS_MAX_PATH_BYTES];
    uint8_t *key = NULL;
    int rc;

    if (qs_siteaudit_head_path(head, sizeof head, paths) != 0) {
        snprintf(errmsg, errmsg_len, "audit head path too long");
        return -1;
    }
    if (qs_secret_load(&key, paths->audit_key, 0, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_sitedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "audit: cannot lock site.db: %s",
                 sqlite3_errmsg(qs_sitedb_sqlite(db)));
        sodium_free(key);
        return -1;
    }
    rc = qs_audit_append(db, key, head, time_ms, actor, action, detail, errmsg, errmsg_len);
    sodium_free(key);
    if (rc == 0 && qs_sitedb_commit(db) != 0) {
        snprintf(errmsg, errmsg_len, "audit: cannot commit: %s",
                 sqlite3_errmsg(qs_sitedb_sqlite(db)));
        rc = -1;
    }
    if (rc != 0) {
        qs_sitedb_rollback(db);
        return -1;
    }
    /* Only now, with the entry committed, may the head claim it. */
    return qs_audit_sync_head(db, head, errmsg, errmsg_len);
}
