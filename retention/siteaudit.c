/* siteaudit.c - load the audit key, record one entry, wipe the key. */
#include "siteaudit.h"
#include "qs_audit.h"
#include "qs_keys.h"

#include <sodium.h>
#include <stdio.h>

int
qs_siteaudit_head_path(char *out, size_t out_len, const qs_site_paths_t *paths)
{
    int n = snprintf(out, out_len, "%s", paths->audit_head);
    return (n < 0 || (size_t)n >= out_len) ? -1 : 0;
}

int
qs_siteaudit_append(qs_sitedb_t *db, const qs_site_paths_t *paths, int64_t time_ms,
                    const char *actor, const char *action, const char *detail,
                    char *errmsg, size_t errmsg_len)
{
    uint8_t *key = NULL;
    int rc;

    if (qs_secret_load(&key, paths->audit_key, 0, errmsg, errmsg_len) != 0)
        return -1;
    rc = qs_audit_record(db, key, paths->audit_head, time_ms, actor, action, detail, errmsg,
                         errmsg_len);
    sodium_free(key);
    return rc;
}
