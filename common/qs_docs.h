/* qs_docs.h - the JSON documents qsctl and qs-web both print: one builder each.
 *
 * qsctl's `--format json` output and qs-web's API answers must be the same
 * documents (DESIGN.md), so the objects are built here once, from what
 * common/ reads out of site.db, and both doors print them.
 * A policy change is one document too: `qsctl policy set`'s flags and the
 * body of PUT /api/v1/policy are both a change object applied to the
 * current policy by qs_doc_policy_apply.
 */
#ifndef QS_DOCS_H
#define QS_DOCS_H

#include <cjson/cJSON.h>

#include "qs_sitedb.h"
#include <stdint.h>

#include "qs_audit.h"
#include "qs_policy.h"

/* One stored policy version as `qsctl policy show|history --format json`
 * prints it: the policy fields plus "version", "set_utc" and "actor". A
 * version whose text does not parse is {"invalid": true, "json": "…", …}.
 * Returns a new object (caller deletes); aborts on out of memory. */
cJSON *qs_doc_policy_version(int64_t version, int64_t set_ms, const char *actor,
                             const char *json);

/* One audit entry as `qsctl audit show --format json` prints it:
 * {"seq", "time_utc" (with ms), "actor", "action", "detail" (object, or the
 * text when it is not JSON)}. Returns a new object (caller deletes). */
/* The document of `qsctl policy show` (history == 0: the current version's
 * object with "configured", or {"configured": false}) or `policy history`
 * ({"versions": [...]}) read from db in one snapshot: what GET
 * /api/v1/policy and /api/v1/policy/history answer too. 0 and *doc (the
 * caller deletes it), or -1 when site.db cannot be read. */
int qs_doc_policy_read(cJSON **doc, qs_sitedb_t *db, int history)
    __attribute__((warn_unused_result));

cJSON *qs_doc_audit_entry(const qs_audit_entry_t *e);

/* obj[name] = text, or null when text is NULL (an optional string of any
 * document: a deployment's group, a trend's group and deployment). */
void qs_doc_add_string_or_null(cJSON *obj, const char *name, const char *text);

/* The policy that the change object `changes` makes of cur, as both
 * `qsctl policy set` and PUT /api/v1/policy store it. changes holds any of
 * the policy's fields; a field not given keeps its value; each entry of
 * "topic_max_age_days" sets that topic type's own age and 0 removes it;
 * "version", "set_utc", "actor" and "configured" (what GET returns) are
 * ignored, so a GET document can be edited and sent back. The result is
 * checked by qs_policy_from_json, the parser every daemon uses: what they
 * could not load is refused. Returns 0 with *next, or -1 with errmsg naming
 * the field that is wrong or unknown. */
int qs_doc_policy_apply(qs_policy_t *next, const qs_policy_t *cur, const cJSON *changes,
                        char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

#endif
