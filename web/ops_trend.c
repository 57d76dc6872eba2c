/* ops_trend.c - the worker's compliance trend: GET /api/v1/compliance/trend (docs/api.md).
 *
 * Per-day counts from store/'s daily snapshots (qs_store_trend.h), each day
 * suppressed there under the policy's k exactly as compliance is; the
 * answer is the document `qsctl compliance --trend --format json` prints
 * (qs_storedoc_trend). "Today" is the worker's UTC day. The filters are
 * compliance's (topic_type, topic_id in one spelling); group and
 * deployment are refused (400) until they exist, never ignored.
 */
#include "qs_codec.h"
#include "qs_store_trend.h"
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>

/* days as text ("90") or a number: 1..QS_TREND_KEEP_DAYS; 0 or -1. */
static int
days_arg(const cJSON *args, int *days)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(args, "days");
    char *end = NULL;
    long v;

    if (cJSON_IsNumber(d))
        v = (long)d->valuedouble;
    else if (cJSON_IsString(d) && d->valuestring[0] != '\0')
        v = strtol(d->valuestring, &end, 10);
    else
        return -1;
    if ((end != NULL && *end != '\0') || v < 1 || v > QS_TREND_KEEP_DAYS)
        return -1;
    *days = (int)v;
    return 0;
}

int
wk_op_compliance_trend(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *topic_id = wk_arg_str(args, "topic_id");
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(args, "topic_type");
    char id[QS_MAX_TOPIC_ID_BYTES + 1], err[WK_ERR_BYTES];
    uint32_t topic_type = 0;
    qs_storedb_trend_t res;
    qs_policy_t policy;
    int configured, days;
    int64_t version;

    (void)user;
    if (wk_arg_str(args, "group") != NULL || wk_arg_str(args, "deployment") != NULL)
        return wk_error(body, 400, "'%s' is not available yet for the trend: the daily "
                        "snapshots are kept per update (topic_id) only",
                        wk_arg_str(args, "group") != NULL ? "group" : "deployment");
    if (days_arg(args, &days) != 0)
        return wk_error(body, 400, "'days' is required: a whole number from 1 to %d",
                        QS_TREND_KEEP_DAYS);
    if (topic_id != NULL) {   /* stored ids have one spelling: so has the filter */
        size_t len = strlen(topic_id);
        if (len == 0 || len > QS_MAX_TOPIC_ID_BYTES || !qs_utf8_valid(topic_id, len))
            return wk_error(body, 400, "'topic_id' must be 1..%u bytes of UTF-8",
                            QS_MAX_TOPIC_ID_BYTES);
        snprintf(id, sizeof id, "%s", topic_id);
        (void)qs_topic_id_normalize(id);
        topic_id = id;
    }
    if (tt != NULL) {
        if (!cJSON_IsNumber(tt) || tt->valuedouble < 1 || tt->valuedouble > 100000 ||
            qs_topic_check((uint32_t)tt->valuedouble, 0) == -1)
            return wk_error(body, 400, "'topic_type' is not a known topic type "
                            "(300, 301, 302, 400, 401, 402, 500, 501 or 700)");
        topic_type = (uint32_t)tt->valuedouble;
    }
    if (qs_sitedb_policy_get(w->sitedb, &policy, &configured, &version) != 0)
        return wk_error(body, 500, "cannot read the policy (for k) from site.db");
    if (qs_storedb_trend(w->storedb, &res, &policy, qs_epoch_of(qs_clock_now_ms(&w->clock)),
                         days, tt != NULL ? &topic_type : NULL, topic_id, err,
                         sizeof err) != 0)
        return wk_error(body, 500, "%s", err);
    *body = qs_storedoc_trend(&res);
    qs_storedb_trend_free(&res);
    return 200;
}
