/* qs_verifydoc.h - the JSON document of a verify run, built once for qsctl and qs-web.
 *
 * `qsctl verify --format json` and GET /api/v1/verify print the same
 * document (DESIGN.md): {"ok": bool[, "counts_rebuilt": N], "findings":
 * ["...", ...], "checked": {"policy_configured", "policy_version",
 * "partitions", "history_rows", "latest_rows", "keys", "audit_entries",
 * "names", "files_searched", "grace_seconds"}}.
 */
#ifndef QS_VERIFYDOC_H
#define QS_VERIFYDOC_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "verify.h"

/* The document of v after qs_verify_run (verified: it returned 0). With
 * repair != 0, "counts_rebuilt" is repaired_groups. A new object (caller
 * deletes); aborts on out of memory. */
cJSON *qs_verify_doc(const qs_verify_t *v, int verified, int repair, int64_t repaired_groups);

#endif
