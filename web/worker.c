/* worker.c - qs-web's worker process: opens the site, authenticates, dispatches.
 *
 * It opens site.db, store.db (read-write: forget deletes), the site and
 * audit keys and the epoch keys at start; the front never opens any of them.
 * One request at a time: read {"op", "user", "token", "args"}, authenticate
 * the token against site.db's users (qs_users_authenticate), check the role
 * against the shared operation table (ops.h), run the operation and write
 * {"status", "body"}. "auth" is the one operation without a role: it answers
 * who holds the token. The worker ignores SIGTERM and SIGINT: it ends when
 * the front closes its end of the socket (after the front's own clean stop,
 * or when the front died), so a signal to the process group never cuts a
 * transaction short or leaves the front without its worker mid-request.
 */
#include "ops.h"
#include "ops_deploy.h"
#include "ops_metrics.h"
#include "qs_audit.h"
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "wire.h"
#include "worker.h"
#include "worker_int.h"

#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
wk_error(cJSON **body, int status, const char *fmt, ...)
{
    char msg[WK_ERR_BYTES];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *body = cJSON_CreateObject();
    if (*body == NULL)
        qs_fatal("out of memory");
    cJSON_AddStringToObject(*body, "error", msg);
    return status;
}

const char *
wk_arg_str(const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
wk_only_fields(const cJSON *args, const char *const *names, size_t n, cJSON **body)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, args) {
        size_t i = 0;
        while (i < n && strcmp(item->string, names[i]) != 0)
            i++;
        if (i == n)
            return wk_error(body, 400, "unknown field '%.64s'", item->string);
    }
    return 0;
}

int
wk_begin(wk_t *w, char *errmsg, size_t errmsg_len)
{
    QS_ASSERT(w->tx == NULL);
    w->tx = qs_audit_tx_begin(w->sitedb, w->audit_key, w->head_path, errmsg, errmsg_len);
    return w->tx != NULL ? 0 : -1;
}

int
wk_audit(wk_t *w, const qs_user_t *user, const char *action, const cJSON *detail,
         char *errmsg, size_t errmsg_len)
{
    char actor[sizeof "web:" + QS_USER_NAME_MAX], err[WK_ERR_BYTES], *text;
    int rc;

    QS_ASSERT(w->tx != NULL);
    snprintf(actor, sizeof actor, "web:%s", user->name);
    text = detail != NULL ? cJSON_PrintUnformatted(detail) : qs_strdup("{}");
    if (text == NULL)
        qs_fatal("out of memory rendering an audit detail");
    rc = qs_audit_tx_append(w->tx, qs_clock_now_ms(&w->clock), actor, action, text, err,
                            sizeof err);
    free(text);
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "cannot append to the audit log: %s", err);
    return rc;
}

int
wk_commit(wk_t *w, char *errmsg, size_t errmsg_len)
{
    QS_ASSERT(w->tx != NULL);
    return qs_audit_tx_commit(&w->tx, errmsg, errmsg_len);
}

void
wk_rollback(wk_t *w)
{
    qs_audit_tx_rollback(&w->tx);
}

static const struct {
    const char *name;
    wk_op_fn fn;
} handlers[] = {
    { "compliance", wk_op_compliance },
    { "compliance.trend", wk_op_compliance_trend },
    { "stats", wk_op_stats },
    { "policy.get", wk_op_policy_get },
    { "policy.history", wk_op_policy_history },
    { "policy.put", wk_op_policy_put },
    { "lookup", wk_op_lookup },
    { "client.enroll", wk_op_client_enroll },
    { "client.revoke", wk_op_client_revoke },
    { "audit.show", wk_op_audit_show },
    { "audit.verify", wk_op_audit_verify },
    { "forget", wk_op_forget },
    { "verify", wk_op_verify },
    { "deployments", wk_op_deployments },
};

/* Authenticate, authorise and run one request. Returns the status. */
static int
dispatch(wk_t *w, const cJSON *req, cJSON **body)
{
    const char *opname = wk_arg_str(req, "op"), *token = wk_arg_str(req, "token");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(req, "args");
    const qs_web_op_t *op;
    qs_user_t user;
    int rc;

    if (opname != NULL && strcmp(opname, "metrics") == 0)
        return wk_op_metrics(w, body);   /* no token: aggregates only (ops_metrics.h) */
    rc = qs_users_authenticate(&user, w->sitedb, token);
    if (rc < 0)
        return wk_error(body, 500, "cannot read the users table of site.db");
    if (opname != NULL && strcmp(opname, "auth") == 0) {
        if (rc != 0)
            return wk_error(body, 401, "missing or unknown bearer token");
        *body = cJSON_CreateObject();
        cJSON_AddStringToObject(*body, "user", user.name);
        cJSON_AddStringToObject(*body, "role", qs_role_name(user.role));
        return 200;
    }
    if (rc != 0)
        return wk_error(body, 401, "missing or unknown bearer token");
    op = qs_web_op_find(opname);
    if (op == NULL)
        return wk_error(body, 400, "unknown operation");
    if (!qs_web_op_allows(op, user.role))
        return wk_error(body, 403, "role %s may not %s", qs_role_name(user.role), op->name);
    if (!cJSON_IsObject(args))
        return wk_error(body, 400, "request has no args object");
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(handlers[i].name, op->name) == 0) {
            rc = handlers[i].fn(w, &user, args, body);
            wk_rollback(w);   /* an operation that failed half-way changes nothing */
            return rc;
        }
    return wk_error(body, 500, "operation %s has no handler", op->name);
}

static int
worker_open(wk_t *w, const qs_site_paths_t *paths, const qs_config_t *cfg)
{
    char err[WK_ERR_BYTES];

    memset(w, 0, sizeof *w);
    w->paths = *paths;
    w->cfg = *cfg;
    if (qs_clock_init(&w->clock) != 0) {
        log_error("QS_CLOCK_OFFSET_S is not an integer number of seconds");
        return -1;
    }
    if (qs_path_join(w->head_path, sizeof w->head_path, paths->home, "audit.head") != 0) {
        log_error("site home path too long: '%s'", paths->home);
        return -1;
    }
    w->sitedb = qs_sitedb_open(paths->site_db, 0, err, sizeof err);
    if (w->sitedb == NULL ||
        qs_secret_load(&w->site_key, paths->site_key, 0, err, sizeof err) != 0 ||
        qs_secret_load(&w->audit_key, paths->audit_key, 0, err, sizeof err) != 0 ||
        qs_users_init(w->sitedb, err, sizeof err) != 0) {
        log_error("worker: %s", err);
        return -1;
    }
    w->storedb = qs_storedb_open_site(paths->conf, paths->store_db, paths->home, 0, err,
                                      sizeof err);
    if (w->storedb == NULL) {
        log_error("worker: %s", err);
        return -1;
    }
    w->epochkeys = qs_epochkeys_open(paths->epochs_dir, 0, err, sizeof err);
    if (w->epochkeys == NULL)
        log_warn("worker: no epoch keys (%s): lookups show history details as shredded", err);
    return 0;
}

static void
worker_close(wk_t *w)
{
    wk_rollback(w);
    qs_sitedb_destroy(&w->sitedb);
    qs_storedb_destroy(&w->storedb);
    qs_epochkeys_destroy(&w->epochkeys);
    if (w->site_key != NULL)
        sodium_free(w->site_key);
    if (w->audit_key != NULL)
        sodium_free(w->audit_key);
    w->site_key = w->audit_key = NULL;
}

int
qs_web_worker_main(int fd, const qs_site_paths_t *paths, const qs_config_t *cfg)
{
    static wk_t w;   /* large (paths); one per process */
    int rc = 0;

    if (signal(SIGTERM, SIG_IGN) == SIG_ERR || signal(SIGINT, SIG_IGN) == SIG_ERR ||
        worker_open(&w, paths, cfg) != 0) {
        worker_close(&w);
        return 1;
    }
    log_info("worker ready (site.db, store.db and keys open; the HTTP front holds none)");
    for (;;) {
        cJSON *req = NULL, *reply, *body = NULL;
        int status, r = qs_wire_recv(&req, fd);
        if (r == 1)
            break;                       /* the front is gone: stop */
        if (r < 0) {
            log_error("worker: malformed or failed request from the front; stopping");
            rc = 1;
            break;
        }
        status = dispatch(&w, req, &body);
        cJSON_Delete(req);
        reply = cJSON_CreateObject();
        if (reply == NULL)
            qs_fatal("out of memory");
        cJSON_AddNumberToObject(reply, "status", status);
        cJSON_AddItemToObject(reply, "body", body);
        r = qs_wire_send(fd, reply);
        cJSON_Delete(reply);
        if (r != 0) {
            log_error("worker: cannot answer the front; stopping");
            rc = 1;
            break;
        }
    }
    worker_close(&w);
    return rc;
}
