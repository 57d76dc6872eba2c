/* qs_deadlinedoc.h - the JSON documents of deployments and of their deadline compliance.
 *
 * Built once for qsctl (`deployment list|show`, `compliance --deployment`)
 * and qs-web, like qs_storedoc.h. Every builder returns a new object the
 * caller deletes, and aborts on out of memory.
 */
#ifndef QS_DEADLINEDOC_H
#define QS_DEADLINEDOC_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "qs_deployments.h"
#include "qs_sitedb.h"
#include "qs_store_deadline.h"

/* {"id", "topic_type", "topic_ids": [...], "available_utc" (null when none),
 * "deadline_utc", "group" (null when none), "created_utc", "actor"}. */
cJSON *qs_deadlinedoc_deployment(const qs_deployment_t *d);

/* {"deployments": [ qs_deadlinedoc_deployment, ... ]}. */
cJSON *qs_deadlinedoc_deployments(const qs_deployment_t *list, size_t n);

/* {"k", "deployment", "topic_type", "deadline_utc", "available_utc",
 *  "group", "group_applied" (true: counts over the group's members), "evaluated_utc", "deadline_passed",
 *  "time_precision", "machines" (scope; null when below k),
 *  "rows": [{"topic_id", "class", "count", "percent"}, ...] (per update,
 *           classes in qs_deadline_class_t order),
 *  "total": {"pairs", "suppressed", "rows": [{"class", "count", "percent"}, ...]}}
 * A hidden cell has "count": null, "percent": null, "suppressed": true.
 * percent: of machines in scope (rows) or of pairs (total), one decimal. */
cJSON *qs_deadlinedoc_compliance(const qs_deployment_t *d, const qs_storedb_deadline_t *res,
                                 int64_t now_ms, int64_t precision_ms);

/* The whole question, for qsctl and qs-web alike: read deployment id and the
 * policy (k, precision) from sitedb, evaluate it on storedb at now_ms and
 * build the document above into *doc. Returns 0; -1 with errmsg, and
 * *not_found = 1 when there is no such deployment (errmsg says how to list
 * them) or its group no longer exists (errmsg says so), else 0. */
int qs_deadlinedoc_evaluate(cJSON **doc, int *not_found, qs_sitedb_t *sitedb,
                            qs_storedb_t *storedb, const char *id, int64_t now_ms,
                            char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

#endif
