/* ops_deploy.h - the worker's deployment operations (ops_deploy.c).
 *
 * GET /api/v1/deployments lists them; GET /api/v1/compliance?deployment=ID
 * evaluates one (wk_op_compliance hands over when the argument is there).
 */
#ifndef QS_WEB_OPS_DEPLOY_H
#define QS_WEB_OPS_DEPLOY_H

#include "worker_int.h"

/* {"deployments": [...]}: qsctl deployment list --format json. 200 or 500. */
int wk_op_deployments(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);

/* qsctl compliance --deployment ID --format json. 200; 400 when args has
 * another filter too; 404 for an unknown id; 500. */
int wk_op_compliance_deployment(wk_t *w, const cJSON *args, const char *id, cJSON **body);

#endif
