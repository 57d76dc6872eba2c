/* ops_trend.c - the worker's compliance trend: GET /api/v1/compliance/trend (docs/api.md).
 *
 * Per-day counts from store/'s daily snapshots (qs_store_trend.h), each day
 * suppressed there under the policy's k exactly as compliance is; the
 * answer is the document `qsctl compliance --trend --format json` prints
 * (qs_storedoc_trend). "Today" is the worker's UTC day. The filters are
 * compliance's (topic_type, topic_id in one spelling); group=G reads G's
 * own snapshots (404 for an unknown group, as GET /api/v1/compliance);
 * deployment=ID its updates over its group (404 for an unknown deployment
 * or a deployment whose group is gone); deployment with group, topic_type
 * or topic_id is 400, as the CLI refuses it.
 */
#include "qs_codec.h"
#include "qs_deployments.h"
#include "qs_store_group.h"
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

/* Check group and deployment; 0 to go on, else the status (body set). */
static int
check_scope(const cJSON *args, const char *group, const char *deployment, cJSON **body)
{
    char err[WK_ERR_BYTES];

    if (group != NULL && qs_group_name_check(group, err, sizeof err) != 0)
        return wk_error(body, 400, "'group': %s", err);
    if (deployment == NULL)
        return 0;
    if (group != NULL)
        return wk_error(body, 400, "'group': a deployment's group is part of it: drop 'group'");
    if (cJSON_GetObjectItemCaseSensitive(args, "topic_type") != NULL ||
        cJSON_GetObjectItemCaseSensitive(args, "topic_id") != NULL)
        return wk_error(body, 400, "'deployment' takes its topic type and updates from the "
                        "deployment: drop 'topic_type' and 'topic_id'");
    if (qs_deployment_id_check(deployment, err, sizeof err) != 0)
        return wk_error(body, 400, "'deployment' must be 1..%u characters of letters, digits, "
                        "'.', '_' and '-'", QS_MAX_DEPLOYMENT_ID_BYTES);
    return 0;
}

int
wk_op_compliance_trend(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    const char *group = wk_arg_str(args, "group"), *deployment = wk_arg_str(args, "deployment");
    wk_topic_filter_t f;
    qs_trend_query_t q;
    char err[WK_ERR_BYTES];
    qs_storedb_trend_t res;
    qs_policy_t policy;
    int configured, days, status, rc;
    int64_t version, today;

    (void)user;
    if (days_arg(args, &days) != 0)
        return wk_error(body, 400, "'days' is required: a whole number from 1 to %d",
                        QS_TREND_KEEP_DAYS);
    if ((status = check_scope(args, group, deployment, body)) != 0)
        return status;
    if ((status = wk_topic_filter(&f, args, body)) != 0)
        return status;
    if (qs_sitedb_policy_get(w->sitedb, &policy, &configured, &version) != 0)
        return wk_error(body, 500, "cannot read the policy (for k) from site.db");
    today = qs_epoch_of(qs_clock_now_ms(&w->clock));
    q = (qs_trend_query_t){ .topic_type = f.has_type ? &f.topic_type : NULL,
                            .topic_id = f.topic_id, .group = group };
    rc = deployment != NULL
             ? qs_storedb_trend_deployment(w->storedb, &res, w->sitedb, &policy, today, days,
                                           deployment, err, sizeof err)
             : qs_storedb_trend_query(w->storedb, &res, &policy, today, days, &q, err,
                                      sizeof err);
    if (rc == QS_GROUP_UNKNOWN && deployment == NULL)
        return wk_error(body, 404, "unknown group '%s'", group);
    if (rc == QS_GROUP_UNKNOWN || rc == QS_TREND_NO_DEPLOYMENT)
        return wk_error(body, 404, "%s", err);
    if (rc != 0)
        return wk_error(body, 500, "%s", err);
    *body = qs_storedoc_trend(&res);
    qs_storedb_trend_free(&res);
    return 200;
}
