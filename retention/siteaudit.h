/* siteaudit.h - one audit entry from qs-retention, with the key loaded per call.
 *
 * qs-retention appends rarely (once per pass that removed something), so it
 * does not keep keys/audit.key in memory: each call loads it (refusing it
 * when group/world-readable), records the entry with qs_audit_record (common/
 * qs_audit.h: its own audited transaction, head rewritten after the COMMIT)
 * and wipes the key.
 */
#ifndef QS_SITEAUDIT_H
#define QS_SITEAUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "qs_site.h"
#include "qs_sitedb.h"

/* DIR/audit.head (paths->audit_head). Returns 0, -1 if out is too small. */
int qs_siteaudit_head_path(char *out, size_t out_len, const qs_site_paths_t *paths);

/* Append one entry (detail: a JSON object as text). Returns 0 or -1 with errmsg. */
int qs_siteaudit_append(qs_sitedb_t *db, const qs_site_paths_t *paths, int64_t time_ms,
                        const char *actor, const char *action, const char *detail,
                        char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

#endif
