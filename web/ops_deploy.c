/* ops_deploy.c - the worker's deployment operations: list, and compliance against a deadline.
 *
 * The documents are qsctl's (store/qs_deadlinedoc.h, built by the same
 * functions), the counts come through store/'s interface with suppression
 * applied there (qs_store_deadline.h). Reading deployments changes nothing:
 * every role may (operators see aggregates only, and a deployment holds no
 * machine's data).
 */
#include "ops_deploy.h"
#include "qs_deadlinedoc.h"
#include "qs_deployments.h"

#include <string.h>

int
wk_op_deployments(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body)
{
    qs_deployment_t *list = NULL;
    size_t n = 0;
    char err[WK_ERR_BYTES];

    (void)user;
    (void)args;
    if (qs_deployments_list(w->sitedb, &list, &n, err, sizeof err) != 0)
        return wk_error(body, 500, "%s", err);
    *body = qs_deadlinedoc_deployments(list, n);
    qs_deployments_list_free(&list, &n);
    return 200;
}

int
wk_op_compliance_deployment(wk_t *w, const cJSON *args, const char *id, cJSON **body)
{
    char err[WK_ERR_BYTES];
    int not_found;

    if (cJSON_GetObjectItemCaseSensitive(args, "topic_type") != NULL ||
        cJSON_GetObjectItemCaseSensitive(args, "topic_id") != NULL)
        return wk_error(body, 400, "'deployment' takes its topic type and updates from the "
                        "deployment: drop 'topic_type' and 'topic_id'");
    if (qs_deployment_id_check(id, err, sizeof err) != 0)
        return wk_error(body, 400, "'deployment' must be 1..%u characters of letters, digits, "
                        "'.', '_' and '-'", QS_MAX_DEPLOYMENT_ID_BYTES);
    if (qs_deadlinedoc_evaluate(body, &not_found, w->sitedb, w->storedb, id,
                                qs_clock_now_ms(&w->clock), err, sizeof err) != 0)
        return wk_error(body, not_found ? 404 : 500, "%s", err);
    return 200;
}
