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
    wk_topic_filter_t f;
    char err[WK_ERR_BYTES];
    qs_storedb_trend_t res;
    qs_policy_t policy;
    int configured, days, status;
    int64_t version;

    (void)user;
    if (wk_arg_str(args, "group") != NULL || wk_arg_str(args, "deployment") != NULL)
        return wk_error(body, 400, "'%s' is not available yet for the trend: the daily "
                        "snapshots are kept per update (topic_id) only",
                        wk_arg_str(args, "group") != NULL ? "group" : "deployment");
    if (days_arg(args, &days) != 0)
        return wk_error(body, 400, "'days' is required: a whole number from 1 to %d",
                        QS_TREND_KEEP_DAYS);
    if ((status = wk_topic_filter(&f, args, body)) != 0)
        return status;
    if (qs_sitedb_policy_get(w->sitedb, &policy, &configured, &version) != 0)
        return wk_error(body, 500, "cannot read the policy (for k) from site.db");
    if (qs_storedb_trend(w->storedb, &res, &policy, qs_epoch_of(qs_clock_now_ms(&w->clock)),
                         days, f.has_type ? &f.topic_type : NULL, f.topic_id, err,
                         sizeof err) != 0)
        return wk_error(body, 500, "%s", err);
    *body = qs_storedoc_trend(&res);
    qs_storedb_trend_free(&res);
    return 200;
}
