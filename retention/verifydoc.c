/* verifydoc.c - the JSON document of a verify run (qs_verifydoc.h).
 *
 * Moved from ctl/cmd_verify.c so that qsctl and qs-web print one shape.
 */
#include "qs_verifydoc.h"
#include "qs_log.h"

cJSON *
qs_verify_doc(const qs_verify_t *v, int verified, int repair, int64_t repaired_groups)
{
    const qs_verify_summary_t *sum = qs_verify_summary(v);
    cJSON *doc = cJSON_CreateObject(), *arr, *checked;

    if (doc == NULL)
        qs_fatal("out of memory building the verify document");
    cJSON_AddBoolToObject(doc, "ok", verified);
    if (repair)
        cJSON_AddNumberToObject(doc, "counts_rebuilt", (double)repaired_groups);
    arr = cJSON_AddArrayToObject(doc, "findings");
    for (size_t i = 0; arr != NULL && i < qs_verify_count(v); i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(qs_verify_finding(v, i)));
    checked = cJSON_AddObjectToObject(doc, "checked");
    if (arr == NULL || checked == NULL)
        qs_fatal("out of memory building the verify document");
    cJSON_AddBoolToObject(checked, "policy_configured", sum->policy_configured);
    cJSON_AddNumberToObject(checked, "policy_version", (double)sum->policy_version);
    cJSON_AddNumberToObject(checked, "partitions", (double)sum->partitions);
    cJSON_AddNumberToObject(checked, "history_rows", (double)sum->history_rows);
    cJSON_AddNumberToObject(checked, "latest_rows", (double)sum->latest_rows);
    cJSON_AddNumberToObject(checked, "keys", (double)sum->keys);
    cJSON_AddNumberToObject(checked, "audit_entries", (double)sum->audit_entries);
    cJSON_AddNumberToObject(checked, "names", (double)sum->names);
    cJSON_AddNumberToObject(checked, "files_searched", (double)sum->files_scanned);
    cJSON_AddNumberToObject(checked, "grace_seconds", (double)(sum->grace_ms / 1000));
    return doc;
}
