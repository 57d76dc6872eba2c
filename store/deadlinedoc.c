/* deadlinedoc.c - JSON of deployments and deadline compliance (qs_deadlinedoc.h). */
#include "qs_deadlinedoc.h"
#include "qs_clock.h"
#include "qs_docs.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "qs_store_group.h"

#include <stdio.h>
#include <string.h>


static void
add_time(cJSON *obj, const char *name, int64_t ms)
{
    char text[40];

    if (ms == QS_DEPLOYMENT_NO_TIME ||
        qs_time_format_iso8601(text, sizeof text, ms, ms % 1000 != 0) != 0) {
        cJSON_AddNullToObject(obj, name);
        return;
    }
    cJSON_AddStringToObject(obj, name, text);
}

cJSON *
qs_deadlinedoc_deployment(const qs_deployment_t *d)
{
    cJSON *obj = cJSON_CreateObject(), *ids = cJSON_CreateArray();

    if (obj == NULL || ids == NULL)
        qs_fatal("out of memory building a deployment document");
    cJSON_AddStringToObject(obj, "id", d->id);
    cJSON_AddNumberToObject(obj, "topic_type", d->topic_type);
    for (size_t i = 0; i < d->n_topic_ids; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(d->topic_ids[i]));
    cJSON_AddItemToObject(obj, "topic_ids", ids);
    add_time(obj, "available_utc", d->available_ms);
    add_time(obj, "deadline_utc", d->deadline_ms);
    qs_doc_add_string_or_null(obj, "group", d->group);
    add_time(obj, "created_utc", d->created_ms);
    qs_doc_add_string_or_null(obj, "actor", d->actor);
    return obj;
}

cJSON *
qs_deadlinedoc_deployments(const qs_deployment_t *list, size_t n)
{
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_CreateArray();

    if (doc == NULL || arr == NULL)
        qs_fatal("out of memory building the deployments document");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, qs_deadlinedoc_deployment(&list[i]));
    cJSON_AddItemToObject(doc, "deployments", arr);
    return doc;
}

/* One cell: {"topic_id"?, "class", "count", "percent"[, "suppressed"]}. */
static cJSON *
cell(const char *topic_id, qs_deadline_class_t c, int64_t count, int64_t of)
{
    cJSON *obj = cJSON_CreateObject();

    if (obj == NULL)
        qs_fatal("out of memory building the deadline compliance document");
    if (topic_id != NULL)
        cJSON_AddStringToObject(obj, "topic_id", topic_id);
    cJSON_AddStringToObject(obj, "class", qs_deadline_class_name(c));
    if (count == QS_STOREDB_SUPPRESSED || of <= 0) {
        cJSON_AddNullToObject(obj, "count");
        cJSON_AddNullToObject(obj, "percent");
        cJSON_AddTrueToObject(obj, "suppressed");
        return obj;
    }
    cJSON_AddNumberToObject(obj, "count", (double)count);
    cJSON_AddNumberToObject(obj, "percent", (double)((count * 1000 + of / 2) / of) / 10.0);
    return obj;
}

static void
add_count_or_null(cJSON *obj, const char *name, int64_t v)
{
    if (v < 0)
        cJSON_AddNullToObject(obj, name);
    else
        cJSON_AddNumberToObject(obj, name, (double)v);
}

static cJSON *
total_doc(const qs_storedb_deadline_t *res)
{
    cJSON *total = cJSON_CreateObject(), *rows = cJSON_CreateArray();

    if (total == NULL || rows == NULL)
        qs_fatal("out of memory building the deadline compliance document");
    add_count_or_null(total, "pairs", res->pairs);
    add_count_or_null(total, "suppressed", res->suppressed);
    for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
        cJSON_AddItemToArray(rows, cell(NULL, (qs_deadline_class_t)c,
                                        res->pairs < 0 ? QS_STOREDB_SUPPRESSED : res->total[c],
                                        res->pairs));
    cJSON_AddItemToObject(total, "rows", rows);
    return total;
}

cJSON *
qs_deadlinedoc_compliance(const qs_deployment_t *d, const qs_storedb_deadline_t *res,
                          int64_t now_ms, int64_t precision_ms)
{
    cJSON *doc = cJSON_CreateObject(), *rows = cJSON_CreateArray();

    if (doc == NULL || rows == NULL)
        qs_fatal("out of memory building the deadline compliance document");
    cJSON_AddNumberToObject(doc, "k", res->k);
    cJSON_AddStringToObject(doc, "deployment", d->id);
    cJSON_AddNumberToObject(doc, "topic_type", d->topic_type);
    add_time(doc, "deadline_utc", d->deadline_ms);
    add_time(doc, "available_utc", d->available_ms);
    qs_doc_add_string_or_null(doc, "group", d->group);
    /* With a group every count is over its members (docs/deployments.md). */
    cJSON_AddBoolToObject(doc, "group_applied", d->group != NULL);
    add_time(doc, "evaluated_utc", now_ms);
    cJSON_AddBoolToObject(doc, "deadline_passed", res->deadline_passed);
    cJSON_AddStringToObject(doc, "time_precision", qs_policy_precision_name(precision_ms));
    add_count_or_null(doc, "machines", res->scope);
    for (size_t i = 0; i < res->n; i++)
        for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
            cJSON_AddItemToArray(rows, cell(res->rows[i].topic_id, (qs_deadline_class_t)c,
                                            res->rows[i].count[c], res->scope));
    cJSON_AddItemToObject(doc, "rows", rows);
    cJSON_AddItemToObject(doc, "total", total_doc(res));
    return doc;
}

int
qs_deadlinedoc_evaluate(cJSON **doc, int *not_found, qs_sitedb_t *sitedb, qs_storedb_t *storedb,
                        const char *id, int64_t now_ms, char *errmsg, size_t errmsg_len)
{
    qs_deployment_t d;
    qs_policy_t policy;
    qs_storedb_deadline_t res;
    qs_deadline_query_t q;
    int configured, found, rc;
    int64_t version;

    *doc = NULL;
    *not_found = 0;
    if (qs_deployments_get(sitedb, id, &d, &found, errmsg, errmsg_len) != 0)
        return -1;
    if (!found) {
        *not_found = 1;
        snprintf(errmsg, errmsg_len, "no deployment '%s' in '%s': 'qsctl deployment list' "
                 "shows them", id, qs_sitedb_path(sitedb));
        return -1;
    }
    if (qs_sitedb_policy_get(sitedb, &policy, &configured, &version) != 0) {
        snprintf(errmsg, errmsg_len, "cannot read the policy (for k) from '%s'; 'qsctl policy "
                 "history' shows the stored versions", qs_sitedb_path(sitedb));
        qs_deployment_free(&d);
        return -1;
    }
    memset(&q, 0, sizeof q);
    q.topic_type = d.topic_type;
    q.topic_ids = (const char *const *)d.topic_ids;
    q.n_topic_ids = d.n_topic_ids;
    q.deadline_ms = d.deadline_ms;
    q.now_ms = now_ms;
    q.group = d.group;
    rc = qs_storedb_deadline(storedb, &res, &policy, &q, errmsg, errmsg_len);
    if (rc == 0) {
        *doc = qs_deadlinedoc_compliance(&d, &res, now_ms, policy.time_precision_ms);
        qs_storedb_deadline_free(&res);
    }
    qs_deployment_free(&d);
    *not_found = rc == QS_GROUP_UNKNOWN;   /* its group is gone: nothing to evaluate */
    return rc == 0 ? 0 : -1;
}
