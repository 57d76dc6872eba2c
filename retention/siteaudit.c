/* siteaudit.c - one audit entry per call, in its own write transaction.
 *
 * qs_audit_append rewrites DIR/audit.head before our COMMIT; if the commit
 * fails, the head read under the write lock is put back, so the head never
 * claims an entry the log does not have.
 */
#include "siteaudit.h"
#include "qs_audit.h"
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>

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
    char head[QS_MAX_PATH_BYTES], err[512];
    char *saved = NULL;
    size_t saved_len = 0;
    uint8_t *key = NULL;
    int rc, had_head;

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
    had_head = access(head, F_OK) == 0;
    if (had_head && qs_fs_read_small(&saved, &saved_len, head, 256, 0, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "audit: %s", err);
        sodium_free(key);
        qs_sitedb_rollback(db);
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
        if (!had_head && unlink(head) != 0 && errno != ENOENT)
            log_warn("cannot remove '%s' after a failed audit append: %s", head, strerror(errno));
        if (had_head && qs_fs_write_private(head, saved, saved_len, err, sizeof err) != 0)
            log_warn("cannot restore '%s' after a failed audit append: %s", head, err);
    }
    free(saved);
    return rc;
}
