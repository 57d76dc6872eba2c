/* worker_int.h - what the worker's operation files share (private to web/).
 *
 * An operation gets the worker, the authenticated user and the request's
 * args, and returns an HTTP status with *body set to the JSON answer (an
 * {"error": "..."} object for 4xx/5xx; wk_error builds it).
 */
#ifndef QS_WEB_WORKER_INT_H
#define QS_WEB_WORKER_INT_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "qs_clock.h"
#include "qs_config.h"
#include "qs_site.h"
#include "qs_sitedb.h"
#include "qs_users.h"
#include "qs_audit.h"
#include "qs_epochkeys.h"
#include "qs_storedb.h"

#define WK_ERR_BYTES 1024u
#define WK_MAX_RATE_USERS 64u
#define WK_REASON_MAX_BYTES 256u

typedef struct {
    char name[QS_USER_NAME_MAX + 1];
    int64_t window_ms;    /* start of the current minute window (mono) */
    int count;            /* lookups in that window */
} wk_rate_t;

/* /metrics' retention totals, read from the audit log's retention.pass
 * entries and kept between scrapes (ops_metrics.c). */
typedef struct {
    int64_t next_scan_ms;
    int64_t last_seq;
    uint64_t passes, history_rows, latest_rows, partitions;
    int64_t last_run_ms;
} wk_retention_totals_t;

typedef struct {
    qs_site_paths_t paths;
    qs_config_t cfg;
    qs_clock_t clock;
    qs_sitedb_t *sitedb;
    qs_storedb_t *storedb;        /* read-write: forget deletes */
    qs_epochkeys_t *epochkeys;    /* lookup's history details; NULL: shown as shredded */
    uint8_t *site_key;       /* sodium_malloc'd */
    uint8_t *audit_key;      /* sodium_malloc'd */
    char head_path[QS_MAX_PATH_BYTES];
    qs_audit_tx_t *tx;            /* the open audited transaction, or NULL */
    wk_rate_t rates[WK_MAX_RATE_USERS];
    wk_retention_totals_t retention;
} wk_t;

typedef int (*wk_op_fn)(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);

/* *body = {"error": message}; returns status. */
int wk_error(cJSON **body, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A string argument, or NULL when absent or not a string. */
const char *wk_arg_str(const cJSON *args, const char *name);

/* The topic filter of a compliance route (topic_type, topic_id; either may
 * be absent), checked: *topic_id points at id (normalized, the stored
 * spelling) or is NULL; *has_type says whether *topic_type is set. 0, or
 * the HTTP status of the refusal with *body set. */
typedef struct {
    char id[QS_MAX_TOPIC_ID_BYTES + 1];
    const char *topic_id;
    uint32_t topic_type;
    int has_type;
} wk_topic_filter_t;
int wk_topic_filter(wk_topic_filter_t *f, const cJSON *args, cJSON **body);

/* 0 when every member of args is one of names; else 400 naming the field. */
int wk_only_fields(const cJSON *args, const char *const *names, size_t n, cJSON **body);

/* Audited change: begin (BEGIN IMMEDIATE), append entries under "web:NAME"
 * (detail borrowed), commit (then DIR/audit.head is rewritten). A failure
 * rolls back; returns 0 or -1 with errmsg.
 * TEMPORARY ADAPTER (issue #11): the same three steps as ctl/ctl_common.c's
 * ctl_site_begin/ctl_site_audit/ctl_site_commit; CONVENTIONS #14 wants them
 * once, in common/audit (qs_audit_tx_*), called by both. */
int wk_begin(wk_t *w, char *errmsg, size_t errmsg_len);
int wk_audit(wk_t *w, const qs_user_t *user, const char *action, const cJSON *detail,
             char *errmsg, size_t errmsg_len);
int wk_commit(wk_t *w, char *errmsg, size_t errmsg_len);
void wk_rollback(wk_t *w);

/* Operations on site.db (ops_site.c). */
int wk_op_policy_get(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_policy_history(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_policy_put(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_audit_show(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_audit_verify(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_client_enroll(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_client_revoke(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);

/* Operations on store.db (ops_store.c), through store/'s interface. */
int wk_op_compliance(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
/* ops_trend.c: GET /api/v1/compliance/trend */
int wk_op_compliance_trend(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_stats(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_lookup(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_forget(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);
int wk_op_verify(wk_t *w, const qs_user_t *user, const cJSON *args, cJSON **body);

#endif
