/* ops_metrics.h - the worker's "metrics" operation: the site-side numbers of /metrics.
 *
 * Unlike every other operation, "metrics" needs no token in the worker: it
 * answers fleet-wide counters only (messages stored, duplicates, rejections
 * by reason code, the broker's and the store's stats files, retention
 * passes, the worker's own CPU and memory) — nothing per machine, no label
 * built from a topic id or a name. Who may read /metrics at all (loopback
 * without a token, or any valid token: [web] metrics_public) is the front's
 * rule; the worker never hands out anything a token would protect here.
 */
#ifndef QS_WEB_OPS_METRICS_H
#define QS_WEB_OPS_METRICS_H

#include <cjson/cJSON.h>

#include "worker_int.h"

/* *body = {"text": Prometheus text exposition}; returns 200. */
int wk_op_metrics(wk_t *w, cJSON **body);

#endif
