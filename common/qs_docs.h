/* qs_docs.h - the JSON documents qsctl and qs-web both print: one builder each.
 *
 * qsctl's `--format json` output and qs-web's API answers must be the same
 * documents (DESIGN.md), so the objects are built here once, from what
 * common/ reads out of site.db, and both doors print them.
 *
 * TEMPORARY (issue #11): cmd_policy.c (version_object) and cmd_audit.c
 * (collect_entry's JSON half) still carry their own static copies of these
 * two builders; they are to call these instead (see the issue #11 report).
 */
#ifndef QS_DOCS_H
#define QS_DOCS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "qs_audit.h"

/* One stored policy version as `qsctl policy show|history --format json`
 * prints it: the policy fields plus "version", "set_utc" and "actor". A
 * version whose text does not parse is {"invalid": true, "json": "…", …}.
 * Returns a new object (caller deletes); aborts on out of memory. */
cJSON *qs_doc_policy_version(int64_t version, int64_t set_ms, const char *actor,
                             const char *json);

/* One audit entry as `qsctl audit show --format json` prints it:
 * {"seq", "time_utc" (with ms), "actor", "action", "detail" (object, or the
 * text when it is not JSON)}. Returns a new object (caller deletes). */
cJSON *qs_doc_audit_entry(const qs_audit_entry_t *e);

#endif
