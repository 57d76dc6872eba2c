/* siteaudit.h - append to the site's audit chain from qs-retention and qsctl.
 *
 * A thin wrapper over qs_audit_append: it loads DIR/keys/audit.key (refusing
 * it when group/world-readable), takes site.db's write lock with BEGIN
 * IMMEDIATE (so two appenders never race on the chain's head), appends one
 * entry, commits, then rewrites DIR/audit.head. The key is wiped afterwards.
 */
#ifndef QS_SITEAUDIT_H
#define QS_SITEAUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "qs_site.h"
#include "qs_sitedb.h"

/* DIR/audit.head. Returns 0, -1 if out is too small. */
int qs_siteaudit_head_path(char *out, size_t out_len, const qs_site_paths_t *paths);

/* Append one entry (detail: a JSON object as text). Returns 0 or -1 with errmsg. */
int qs_siteaudit_append(qs_sitedb_t *db, const qs_site_paths_t *paths, int64_t time_ms,
                        const char *actor, const char *action, const char *detail,
                        char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

#endif
