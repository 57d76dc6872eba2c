/* docs.c - JSON documents shared by qsctl and qs-web (see qs_docs.h). */
#include "qs_docs.h"
#include "qs_clock.h"
#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCS_TIME_BYTES 32

static void
time_text(char out[DOCS_TIME_BYTES], int64_t ms, int with_ms)
{
    if (qs_time_format_iso8601(out, DOCS_TIME_BYTES, ms, with_ms) != 0)
        snprintf(out, DOCS_TIME_BYTES, "%lld", (long long)ms);
}

cJSON *
qs_doc_policy_version(int64_t version, int64_t set_ms, const char *actor, const char *json)
{
    cJSON *obj = json ? cJSON_Parse(json) : NULL;
    char when[DOCS_TIME_BYTES];

    if (obj == NULL || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        obj = cJSON_CreateObject();
        if (obj == NULL)
            qs_fatal("out of memory building a policy document");
        cJSON_AddBoolToObject(obj, "invalid", 1);
        cJSON_AddStringToObject(obj, "json", json ? json : "");
    }
    time_text(when, set_ms, 0);
    cJSON_AddNumberToObject(obj, "version", (double)version);
    cJSON_AddStringToObject(obj, "set_utc", when);
    cJSON_AddStringToObject(obj, "actor", actor ? actor : "");
    return obj;
}

cJSON *
qs_doc_audit_entry(const qs_audit_entry_t *e)
{
    const char *detail = e->detail ? e->detail : "";
    cJSON *obj = cJSON_CreateObject(), *d = cJSON_Parse(detail);
    char when[DOCS_TIME_BYTES];

    if (obj == NULL)
        qs_fatal("out of memory building an audit document");
    time_text(when, e->time_ms, 1);
    cJSON_AddNumberToObject(obj, "seq", (double)e->seq);
    cJSON_AddStringToObject(obj, "time_utc", when);
    cJSON_AddStringToObject(obj, "actor", e->actor ? e->actor : "");
    cJSON_AddStringToObject(obj, "action", e->action ? e->action : "");
    /* Details are JSON objects; anything else is shown as the text it is. */
    cJSON_AddItemToObject(obj, "detail", d != NULL ? d : cJSON_CreateString(detail));
    return obj;
}

/* Merge changes into cur (a policy object, changed in place). */
static void
merge_policy(cJSON *cur, const cJSON *changes)
{
    static const char *const ignored[] = { "version", "set_utc", "actor", "configured" };
    const cJSON *item, *t;

    cJSON_ArrayForEach(item, changes) {
        cJSON *topics = cJSON_GetObjectItemCaseSensitive(cur, item->string);
        int skip = 0;
        for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
            skip |= strcmp(item->string, ignored[i]) == 0;
        if (skip)
            continue;
        if (strcmp(item->string, "topic_max_age_days") == 0 && cJSON_IsObject(item) &&
            cJSON_IsObject(topics)) {
            cJSON_ArrayForEach(t, item) {
                cJSON_DeleteItemFromObjectCaseSensitive(topics, t->string);
                if (!(cJSON_IsNumber(t) && t->valuedouble == 0))
                    cJSON_AddItemToObject(topics, t->string, cJSON_Duplicate(t, 1));
            }
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(cur, item->string);
        cJSON_AddItemToObject(cur, item->string, cJSON_Duplicate(item, 1));
    }
}

int
qs_doc_policy_apply(qs_policy_t *next, const qs_policy_t *cur, const cJSON *changes,
                    char *errmsg, size_t errmsg_len)
{
    char *cur_json = qs_policy_to_json(cur), *merged_text;
    cJSON *merged = cur_json ? cJSON_Parse(cur_json) : NULL;
    int rc;

    free(cur_json);
    if (merged == NULL)
        qs_fatal("out of memory serialising the policy");
    if (!cJSON_IsObject(changes)) {
        cJSON_Delete(merged);
        snprintf(errmsg, errmsg_len, "a policy change must be a JSON object");
        return -1;
    }
    merge_policy(merged, changes);
    merged_text = cJSON_PrintUnformatted(merged);
    cJSON_Delete(merged);
    if (merged_text == NULL)
        qs_fatal("out of memory serialising the policy");
    rc = qs_policy_from_json(next, merged_text, errmsg, errmsg_len);
    free(merged_text);
    return rc;
}

typedef struct {
    int64_t want;      /* the version to keep, 0 for every version */
    cJSON *versions;
} versions_ctx_t;

static int
collect_version(void *vctx, int64_t version, int64_t set_ms, const char *actor,
                const char *json)
{
    versions_ctx_t *ctx = vctx;

    if (ctx->want == 0 || ctx->want == version)
        cJSON_AddItemToArray(ctx->versions, qs_doc_policy_version(version, set_ms, actor, json));
    return 0;
}

int
qs_doc_policy_read(cJSON **doc, qs_sitedb_t *db, int history)
{
    versions_ctx_t ctx = { 0, NULL };
    qs_policy_t p;
    int configured = 1, rc = -1;

    *doc = NULL;
    if (qs_sitedb_begin_read(db) != 0)
        return -1;
    if (!history && qs_sitedb_policy_get(db, &p, &configured, &ctx.want) != 0)
        goto done;
    ctx.versions = cJSON_CreateArray();
    if (ctx.versions == NULL)
        qs_fatal("out of memory building the policy document");
    if (configured && qs_sitedb_policy_each(db, collect_version, &ctx) != 0) {
        cJSON_Delete(ctx.versions);
        goto done;
    }
    if (history) {
        *doc = cJSON_CreateObject();
        cJSON_AddItemToObject(*doc, "versions", ctx.versions);
    } else if (cJSON_GetArraySize(ctx.versions) == 0) {
        *doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(*doc, "configured", 0);
        cJSON_Delete(ctx.versions);
    } else {
        *doc = cJSON_DetachItemFromArray(ctx.versions, 0);
        cJSON_AddBoolToObject(*doc, "configured", 1);
        cJSON_Delete(ctx.versions);
    }
    if (*doc == NULL)
        qs_fatal("out of memory building the policy document");
    rc = 0;
done:
    (void)qs_sitedb_commit(db);
    return rc;
}

void
qs_doc_add_string_or_null(cJSON *obj, const char *name, const char *text)
{
    if (text == NULL)
        cJSON_AddNullToObject(obj, name);
    else
        cJSON_AddStringToObject(obj, name, text);
}
