/* docs.c - JSON documents shared by qsctl and qs-web (see qs_docs.h). */
#include "qs_docs.h"
#include "qs_clock.h"
#include "qs_log.h"

#include <stdio.h>

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
