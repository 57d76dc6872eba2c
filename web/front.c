/* front.c - qs-web's HTTP front: one poll loop over libmicrohttpd and the worker.
 *
 * libmicrohttpd (external epoll mode, no thread of its own) parses HTTP,
 * terminates TLS, enforces the connection limit and the idle timeout, and
 * answers malformed HTTP itself. For each request this file: refuses odd
 * paths (400: "..", "//", backslashes, control characters), matches the
 * route table (404 unknown path, 405 known path with another method),
 * answers 413 for a body over [web] max_body_bytes (at once when
 * Content-Length says so), asks the worker who holds the bearer token (401),
 * checks the role (403, ops.h), turns the query string or the JSON body into
 * the operation's args (400 on unknown parameters or malformed JSON) and
 * relays the worker's answer. Every answer is counted by route and status.
 */
#include "front.h"
#include "netaddr.h"
#include "ops.h"
#include "qs_fsutil.h"
#include "qs_log.h"
#include "qs_notify.h"
#include "qs_storestats.h"
#include "static.h"
#include "wire.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifndef QS_WEB_STATIC_DIR
#define QS_WEB_STATIC_DIR "/usr/local/share/quietstate/static"
#endif

#define FRONT_ERR_BYTES 512u

typedef struct {
    const char *method;
    const char *path;       /* exact path, or the prefix before a NAME */
    int takes_name;         /* 1: path + NAME (one segment) */
    const char *op;         /* ops.h */
} route_t;

static const route_t routes[] = {
    { "GET", "/api/v1/compliance", 0, "compliance" },
    { "GET", "/api/v1/compliance/trend", 0, "compliance.trend" },
    { "GET", "/api/v1/stats", 0, "stats" },
    { "GET", "/api/v1/policy", 0, "policy.get" },
    { "PUT", "/api/v1/policy", 0, "policy.put" },
    { "GET", "/api/v1/policy/history", 0, "policy.history" },
    { "GET", "/api/v1/machines/", 1, "lookup" },
    { "POST", "/api/v1/clients", 0, "client.enroll" },
    { "DELETE", "/api/v1/clients/", 1, "client.revoke" },
    { "GET", "/api/v1/audit", 0, "audit.show" },
    { "GET", "/api/v1/audit/verify", 0, "audit.verify" },
    { "POST", "/api/v1/forget", 0, "forget" },
    { "GET", "/api/v1/verify", 0, "verify" },
    { "GET", "/api/v1/me", 0, "me" },
    { "GET", "/metrics", 0, "metrics" },
    { "GET", "/api/v1/deployments", 0, "deployments" },
    { "GET", "", 0, "static" },       /* never matched by path: static.h's list */
};
#define N_ROUTES (sizeof routes / sizeof routes[0])
_Static_assert(N_ROUTES <= QS_WEB_MAX_ROUTES, "routes fit the counters");

/* Counter names, in the order of routes[]. */
static const char *const route_names[N_ROUTES] = {
    "GET /api/v1/compliance", "GET /api/v1/compliance/trend", "GET /api/v1/stats",
    "GET /api/v1/policy", "PUT /api/v1/policy", "GET /api/v1/policy/history", "GET /api/v1/machines/NAME", "POST /api/v1/clients",
    "DELETE /api/v1/clients/NAME", "GET /api/v1/audit", "GET /api/v1/audit/verify",
    "POST /api/v1/forget", "GET /api/v1/verify", "GET /api/v1/me", "GET /metrics",
    "GET /api/v1/deployments", "GET dashboard file",
};
#define ROUTE_STATIC (N_ROUTES - 1)

struct qs_web_front {
    struct MHD_Daemon *mhd;
    int worker_fd;
    int worker_dead;
    size_t max_body;
    qs_web_counters_t *counters;
    char *tls_cert;          /* malloc'd PEM */
    char *tls_key;           /* sodium_malloc'd PEM (via qs_fs_read_small secret) */
    qs_web_static_t *files;  /* the dashboard (static.h) */
    int metrics_public;      /* [web] metrics_public = loopback */
    double start_s;          /* process start, UTC seconds */
};

/* Per-request state, from the first call of the handler to completion. */
typedef struct {
    size_t route;            /* index, or QS_WEB_ROUTE_NONE */
    char *body;
    size_t body_len;
    int too_large;
    int answered;
} request_t;

/* Queue a JSON answer (doc consumed) and count it. */
static enum MHD_Result
answer_json(qs_web_front_t *f, struct MHD_Connection *c, request_t *r, int status, cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    size_t len;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    cJSON_Delete(doc);
    if (text == NULL)
        qs_fatal("out of memory rendering an answer");
    len = strlen(text);
    text = qs_realloc(text, len + 2);
    text[len++] = '\n';
    text[len] = '\0';
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    qs_web_security_headers(resp, f->tls_cert != NULL);
    if (status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"quietstate\"");
    if (status == 405 && r->route < N_ROUTES)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, routes[r->route].method);
    ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    qs_web_counters_answer(f->counters, r->route, status);
    r->answered = 1;
    return ret;
}

static enum MHD_Result answer_error(qs_web_front_t *f, struct MHD_Connection *c, request_t *r,
                                    int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result
answer_error(qs_web_front_t *f, struct MHD_Connection *c, request_t *r, int status,
             const char *fmt, ...)
{
    char msg[FRONT_ERR_BYTES];
    cJSON *doc = cJSON_CreateObject();
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(doc, "error", msg);
    return answer_json(f, c, r, status, doc);
}

/* 1 if the (already percent-decoded) path may be routed at all. */
static int
path_ok(const char *url)
{
    if (url[0] != '/' || strstr(url, "//") != NULL || strstr(url, "/./") != NULL ||
        strstr(url, "/../") != NULL || strchr(url, '\\') != NULL)
        return 0;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    size_t len = strlen(url);
    return !(len >= 2 && strcmp(url + len - 2, "/.") == 0) &&
           !(len >= 3 && strcmp(url + len - 3, "/..") == 0);
}

/* Find the route. Returns 200 with *route and *name (NAME segment or NULL),
 * 404 when no path matches, 405 (with *route = a route of that path) when
 * only the method differs. */
static int
route_find(size_t *route, const char **name, const char *method, const char *url)
{
    int path_seen = 0;

    *name = NULL;
    for (size_t i = 0; i < N_ROUTES; i++) {
        const route_t *rt = &routes[i];
        size_t plen = strlen(rt->path);
        const char *tail = url + plen;
        if (rt->takes_name ? (strncmp(url, rt->path, plen) != 0 || *tail == '\0' ||
                              strchr(tail, '/') != NULL || strcmp(tail, "..") == 0 ||
                              strcmp(tail, ".") == 0)
                           : strcmp(url, rt->path) != 0)
            continue;
        if (!path_seen)
            *route = i;
        path_seen = 1;
        if (strcmp(method, rt->method) == 0) {
            *route = i;
            *name = rt->takes_name ? tail : NULL;
            return 200;
        }
    }
    return path_seen ? 405 : 404;
}

/* Send req (consumed) to the worker and wait for its answer. Returns the
 * status with *body set, or 502 when the worker is gone. */
static int
ask_worker(qs_web_front_t *f, cJSON *req, cJSON **body)
{
    cJSON *reply = NULL, *st;
    int status;

    *body = NULL;
    if (f->worker_dead || qs_wire_send(f->worker_fd, req) != 0 ||
        qs_wire_recv(&reply, f->worker_fd) != 0) {
        cJSON_Delete(req);
        cJSON_Delete(reply);
        f->worker_dead = 1;
        log_error("the worker does not answer: stopping");
        return 502;
    }
    cJSON_Delete(req);
    st = cJSON_GetObjectItemCaseSensitive(reply, "status");
    status = cJSON_IsNumber(st) ? (int)st->valuedouble : 502;
    *body = cJSON_DetachItemFromObjectCaseSensitive(reply, "body");
    cJSON_Delete(reply);
    if (*body == NULL)
        status = 502;
    return status;
}

static cJSON *
worker_request(const char *op, const char *user, const char *token, cJSON *args)
{
    cJSON *req = cJSON_CreateObject();

    if (req == NULL)
        qs_fatal("out of memory");
    cJSON_AddStringToObject(req, "op", op);
    if (user != NULL)
        cJSON_AddStringToObject(req, "user", user);
    else
        cJSON_AddNullToObject(req, "user");
    cJSON_AddStringToObject(req, "token", token ? token : "");
    cJSON_AddItemToObject(req, "args", args ? args : cJSON_CreateObject());
    return req;
}

/* The bearer token of the request, or NULL. */
static const char *
bearer_token(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);

    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

typedef struct {
    const char *const *allowed;   /* NULL-terminated */
    cJSON *args;
    char bad[FRONT_ERR_BYTES];
} query_ctx_t;

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    query_ctx_t *q = cls;
    size_t i = 0;

    (void)kind;
    while (q->allowed[i] != NULL && strcmp(q->allowed[i], key) != 0)
        i++;
    if (q->allowed[i] == NULL)
        snprintf(q->bad, sizeof q->bad, "unknown query parameter '%.64s'", key);
    else if (cJSON_GetObjectItemCaseSensitive(q->args, key) != NULL)
        snprintf(q->bad, sizeof q->bad, "query parameter '%.64s' given twice", key);
    else
        cJSON_AddStringToObject(q->args, key, value ? value : "");
    return q->bad[0] ? MHD_NO : MHD_YES;
}

/* Turn a known string argument into a typed one; -1 with q->bad set. */
static int
typed_args(query_ctx_t *q)
{
    cJSON *tt = cJSON_GetObjectItemCaseSensitive(q->args, "topic_type");
    cJSON *hist = cJSON_GetObjectItemCaseSensitive(q->args, "history");

    if (tt != NULL) {
        char *end = NULL;
        long v = strtol(tt->valuestring, &end, 10);
        if (end == tt->valuestring || *end != '\0' || v < 1 || v > 100000) {
            snprintf(q->bad, sizeof q->bad, "'topic_type' must be an integer from 1 to 100000");
            return -1;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(q->args, "topic_type", cJSON_CreateNumber(v));
    }
    if (hist != NULL) {
        int on = strcmp(hist->valuestring, "1") == 0 || strcmp(hist->valuestring, "true") == 0;
        if (!on && strcmp(hist->valuestring, "0") != 0 && strcmp(hist->valuestring, "false") != 0) {
            snprintf(q->bad, sizeof q->bad, "'history' must be 1, 0, true or false");
            return -1;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(q->args, "history", cJSON_CreateBool(on));
    }
    return 0;
}

/* The operation's args from the query string, the path's NAME and the body.
 * NULL with bad set on a client error. */
static cJSON *
build_args(struct MHD_Connection *c, const route_t *rt, const char *name,
           const request_t *r, char *bad, size_t bad_len)
{
    static const char *const none[] = { NULL };
    static const char *const compliance[] = { "topic_type", "topic_id", "group", "deployment", NULL };
    static const char *const lookup[] = { "reason", "history", "domain", NULL };
    /* group and deployment reach the worker, which refuses them by name. */
    static const char *const trend[] = { "days", "topic_type", "topic_id", "group",
                                         "deployment", NULL };
    query_ctx_t q = { none, cJSON_CreateObject(), "" };

    if (strcmp(rt->op, "compliance") == 0)
        q.allowed = compliance;
    else if (strcmp(rt->op, "lookup") == 0)
        q.allowed = lookup;
    else if (strcmp(rt->op, "compliance.trend") == 0)
        q.allowed = trend;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    if (q.bad[0] == '\0')
        (void)typed_args(&q);
    if (q.bad[0] == '\0' && name != NULL)
        cJSON_AddStringToObject(q.args, strcmp(rt->op, "lookup") == 0 ? "machine" : "name",
                                name);
    if (q.bad[0] == '\0' && (strcmp(rt->method, "PUT") == 0 || strcmp(rt->method, "POST") == 0)) {
        cJSON *body = r->body_len ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
        if (!cJSON_IsObject(body)) {
            snprintf(q.bad, sizeof q.bad, "the body must be one JSON object");
            cJSON_Delete(body);
        } else {
            cJSON_Delete(q.args);   /* such routes take no query parameters */
            q.args = body;
        }
    }
    if (q.bad[0] != '\0') {
        snprintf(bad, bad_len, "%s", q.bad);
        cJSON_Delete(q.args);
        return NULL;
    }
    return q.args;
}

/* ---- the dashboard's files and /metrics ---- */

/* One of static.h's files: 304 when the browser's copy is current. */
static enum MHD_Result
answer_static(qs_web_front_t *f, struct MHD_Connection *c, request_t *r,
              const qs_web_static_file_t *file)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    int status = inm != NULL && strcmp(inm, file->etag) == 0 ? 304 : 200;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        status == 304 ? 0 : file->len, (void *)file->data, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, file->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, file->etag);
    /* Cacheable, revalidated with the ETag after 10 minutes (an upgrade
     * shows within that); the files hold nothing secret. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=600");
    qs_web_security_headers(resp, f->tls_cert != NULL);
    ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    qs_web_counters_answer(f->counters, r->route, status);
    r->answered = 1;
    return ret;
}

/* Prometheus text (consumed). */
static enum MHD_Result
answer_metrics_text(qs_web_front_t *f, struct MHD_Connection *c, request_t *r, char *text)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text,
                                                                MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    qs_web_security_headers(resp, f->tls_cert != NULL);
    ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    qs_web_counters_answer(f->counters, r->route, 200);
    r->answered = 1;
    return ret;
}

/* The front's own lines: HTTP answers and this process's usage. */
static char *
front_metrics(const qs_web_front_t *f, const char *worker_text)
{
    char *http = qs_web_counters_render(f->counters), *buf;
    size_t len = 0, cap = strlen(worker_text) + strlen(http) + 1024;
    double cpu;
    uint64_t rss;

    buf = qs_malloc(cap);
    buf[0] = '\0';
    qs_procstat_self(&cpu, &rss);
    qs_web_appendf(&buf, &len, &cap, "%s%s", worker_text, http);
    qs_web_appendf(&buf, &len, &cap,
                   "# HELP process_cpu_seconds_total qs-web (HTTP front) CPU, user+system.\n"
                   "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.17g\n"
                   "# HELP process_resident_memory_bytes qs-web (HTTP front) resident memory.\n"
                   "# TYPE process_resident_memory_bytes gauge\n"
                   "process_resident_memory_bytes %llu\n"
                   "# HELP process_start_time_seconds qs-web start, UTC seconds.\n"
                   "# TYPE process_start_time_seconds gauge\n"
                   "process_start_time_seconds %.17g\n",
                   cpu, (unsigned long long)rss, f->start_s);
    free(http);
    return buf;
}

/* GET /metrics: without a token from loopback when metrics_public, else
 * with any valid token. The site-side numbers come from the worker. */
static enum MHD_Result
serve_metrics(qs_web_front_t *f, struct MHD_Connection *c, request_t *r, const char *token)
{
    cJSON *body = NULL;
    const cJSON *text;
    int status;

    if (!(f->metrics_public && qs_web_client_is_loopback(c))) {
        if (token == NULL)
            return answer_error(f, c, r, 401, "missing bearer token (Authorization: Bearer "
                                "TOKEN): /metrics needs one beyond loopback");
        status = ask_worker(f, worker_request("auth", NULL, token, NULL), &body);
        if (status != 200)
            return answer_json(f, c, r, status, body ? body : cJSON_CreateObject());
        cJSON_Delete(body);
    }
    status = ask_worker(f, worker_request("metrics", NULL, NULL, NULL), &body);
    text = cJSON_GetObjectItemCaseSensitive(body, "text");
    if (status != 200 || !cJSON_IsString(text)) {
        cJSON_Delete(body);
        return answer_error(f, c, r, 502, "the worker gave no metrics");
    }
    status = answer_metrics_text(f, c, r, front_metrics(f, text->valuestring)) == MHD_YES;
    cJSON_Delete(body);
    return status ? MHD_YES : MHD_NO;
}

/* Authenticate, authorise, run. The request is routed and its body complete. */
static enum MHD_Result
serve(qs_web_front_t *f, struct MHD_Connection *c, request_t *r, const char *name)
{
    const route_t *rt = &routes[r->route];
    const char *token = bearer_token(c);
    const qs_web_op_t *op = qs_web_op_find(rt->op);
    char bad[FRONT_ERR_BYTES];
    cJSON *who = NULL, *args, *body = NULL;
    const cJSON *user, *role;
    qs_role_t role_id;
    int status;

    if (strcmp(rt->op, "metrics") == 0)
        return serve_metrics(f, c, r, token);
    if (token == NULL)
        return answer_error(f, c, r, 401, "missing bearer token (Authorization: Bearer TOKEN)");
    status = ask_worker(f, worker_request("auth", NULL, token, NULL), &who);
    if (status != 200)
        return answer_json(f, c, r, status, who ? who : cJSON_CreateObject());
    user = cJSON_GetObjectItemCaseSensitive(who, "user");
    role = cJSON_GetObjectItemCaseSensitive(who, "role");
    if (!cJSON_IsString(user) || !cJSON_IsString(role) ||
        qs_role_parse(&role_id, role->valuestring) != 0) {
        cJSON_Delete(who);
        return answer_error(f, c, r, 502, "the worker gave a malformed answer");
    }
    if (!qs_web_op_allows(op, role_id)) {
        status = answer_error(f, c, r, 403, "role %s may not use %s", role->valuestring,
                              route_names[r->route]) == MHD_YES ? 1 : 0;
        cJSON_Delete(who);
        return status ? MHD_YES : MHD_NO;
    }
    if (strcmp(rt->op, "me") == 0)   /* who holds this token: the dashboard's menu */
        return answer_json(f, c, r, 200, who);
    args = build_args(c, rt, name, r, bad, sizeof bad);
    if (args == NULL) {
        cJSON_Delete(who);
        return answer_error(f, c, r, 400, "%s", bad);
    }
    status = ask_worker(f, worker_request(rt->op, user->valuestring, token, args), &body);
    cJSON_Delete(who);
    if (body == NULL)
        return answer_error(f, c, r, 502, "the worker is unavailable");
    return answer_json(f, c, r, status, body);
}

/* First call: route, check Content-Length. Returns MHD_YES to go on. */
static enum MHD_Result
first_call(qs_web_front_t *f, struct MHD_Connection *c, request_t *r)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (cl != NULL && strtoull(cl, NULL, 10) > f->max_body) {
        r->too_large = 1;
        return answer_error(f, c, r, 413, "request body larger than %zu bytes", f->max_body);
    }
    return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **state)
{
    qs_web_front_t *f = cls;
    request_t *r = *state;
    const char *name = NULL;
    int found;

    (void)version;
    if (r == NULL) {
        r = qs_calloc(1, sizeof *r);
        r->route = QS_WEB_ROUTE_NONE;
        *state = r;
        if (!path_ok(url))
            return answer_error(f, c, r, 400, "malformed path");
        if (strcmp(method, "GET") == 0 && qs_web_static_find(f->files, url) != NULL) {
            r->route = ROUTE_STATIC;
            return answer_static(f, c, r, qs_web_static_find(f->files, url));
        }
        found = route_find(&r->route, &name, method, url);
        if (found == 404)
            return answer_error(f, c, r, 404, "no such resource");
        if (found == 405)
            return answer_error(f, c, r, 405, "method %s not allowed here", method);
        return first_call(f, c, r);
    }
    if (r->answered) {          /* answered early: drop whatever still arrives */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (r->too_large || r->body_len + *upload_size > f->max_body) {
            r->too_large = 1;   /* keep reading (bounded by the timeout), keep nothing */
        } else {
            r->body = qs_realloc(r->body, r->body_len + *upload_size);
            memcpy(r->body + r->body_len, upload, *upload_size);
            r->body_len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_large)
        return answer_error(f, c, r, 413, "request body larger than %zu bytes", f->max_body);
    (void)route_find(&r->route, &name, method, url);
    return serve(f, c, r, name);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **state,
             enum MHD_RequestTerminationCode toe)
{
    qs_web_front_t *f = cls;
    request_t *r = *state;
    qs_web_end_t why;

    (void)c;
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: why = QS_WEB_END_OK; break;
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: why = QS_WEB_END_TIMEOUT; break;
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: why = QS_WEB_END_SHUTDOWN; break;
    case MHD_REQUEST_TERMINATED_READ_ERROR:
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: why = QS_WEB_END_ABORTED; break;
    default: why = QS_WEB_END_ERROR; break;
    }
    qs_web_counters_end(f->counters, why);
    if (r != NULL) {
        free(r->body);
        free(r);
    }
    *state = NULL;
}

/* libmicrohttpd's own messages: fmt is its printf format (MHD_OPTION_EXTERNAL_LOGGER). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[FRONT_ERR_BYTES];
    size_t len;

    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    len = strlen(msg);
    while (len > 0 && msg[len - 1] == '\n')
        msg[--len] = '\0';
    log_warn("http: %s", msg);
}

/* ---- setup and the loop ---- */

/* Read the TLS certificate and key (the key must be 0600 or stricter). */
static int
load_tls(qs_web_front_t *f, const qs_config_t *cfg, char *errmsg, size_t errmsg_len)
{
    size_t len;

    if (cfg->web_tls_cert[0] == '\0' && cfg->web_tls_key[0] == '\0')
        return 0;
    if (cfg->web_tls_cert[0] == '\0' || cfg->web_tls_key[0] == '\0') {
        snprintf(errmsg, errmsg_len, "[web] needs both tls_cert and tls_key, or neither");
        return -1;
    }
    if (qs_fs_check_private(cfg->web_tls_key, errmsg, errmsg_len) != 0 ||
        qs_fs_read_small(&f->tls_cert, &len, cfg->web_tls_cert, 1u << 20, 0, errmsg,
                         errmsg_len) != 0 ||
        qs_fs_read_small(&f->tls_key, &len, cfg->web_tls_key, 1u << 20, 1, errmsg,
                         errmsg_len) != 0)
        return -1;
    return 0;
}

static struct MHD_Daemon *
start_mhd(qs_web_front_t *f, const qs_config_t *cfg, const struct sockaddr_storage *addr)
{
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

    if (addr->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (f->tls_cert != NULL)
        flags |= MHD_USE_TLS;
    /* The port comes from SOCK_ADDR; the 0 here is ignored. */
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, f,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, f,   /* first, so it sees every message */
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->web_max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->web_timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
        f->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, f->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, f->tls_key,
        MHD_OPTION_END);
}

qs_web_front_t *
qs_web_front_new(const qs_config_t *cfg, int worker_fd, char *errmsg, size_t errmsg_len)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    qs_web_front_t *f = qs_calloc(1, sizeof *f);

    f->worker_fd = worker_fd;
    f->max_body = (size_t)cfg->web_max_body_bytes;
    f->counters = qs_web_counters_new(route_names, N_ROUTES);
    f->metrics_public = cfg->web_metrics_public;
    f->start_s = (double)time(NULL);
    if (qs_web_listen_addr(&addr, &addr_len, cfg->web_listen, errmsg, errmsg_len) != 0 ||
        load_tls(f, cfg, errmsg, errmsg_len) != 0)
        goto fail;
    f->files = qs_web_static_load(cfg->web_static_dir[0] ? cfg->web_static_dir
                                                         : QS_WEB_STATIC_DIR, errmsg, errmsg_len);
    if (f->files == NULL)
        goto fail;
    if (!qs_web_is_loopback(&addr) && f->tls_cert == NULL) {
        snprintf(errmsg, errmsg_len, "refusing to serve HTTP on '%s', which is not loopback: "
                 "set [web] tls_cert and tls_key in quietstate.conf (HTTPS is required "
                 "beyond loopback), or listen on 127.0.0.1", cfg->web_listen);
        goto fail;
    }
    f->mhd = start_mhd(f, cfg, &addr);
    if (f->mhd == NULL) {
        snprintf(errmsg, errmsg_len, "cannot listen on '%s' (in use, no permission, or a bad "
                 "TLS certificate or key; see the message above)", cfg->web_listen);
        goto fail;
    }
    log_info("listening on %s (%s), at most %d connections, %d s timeout, bodies up to %d "
             "bytes", cfg->web_listen, f->tls_cert ? "https" : "http",
             cfg->web_max_connections, cfg->web_timeout_s, cfg->web_max_body_bytes);
    qs_notify_log("READY=1");   /* the front is the unit's main process */
    return f;
fail:
    qs_web_front_destroy(&f);
    return NULL;
}

int
qs_web_front_run(qs_web_front_t *f, volatile sig_atomic_t *stop)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    struct pollfd fds[2];

    if (info == NULL)
        return -1;
    fds[0].fd = info->epoll_fd;
    fds[0].events = POLLIN;
    fds[1].fd = f->worker_fd;   /* readable while idle: the worker went away */
    fds[1].events = POLLIN;
    while (!*stop && !f->worker_dead) {
        MHD_UNSIGNED_LONG_LONG to = 0;
        int timeout = 1000;
        if (MHD_get_timeout(f->mhd, &to) == MHD_YES && to < 1000)
            timeout = (int)to;
        if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return -1;
        }
        if (fds[1].revents != 0) {
            log_error("the worker exited: stopping");
            return -1;
        }
        MHD_run(f->mhd);
    }
    return f->worker_dead ? -1 : 0;
}

const qs_web_counters_t *
qs_web_front_counters(const qs_web_front_t *f)
{
    return f->counters;
}

void
qs_web_front_destroy(qs_web_front_t **f_p)
{
    qs_web_front_t *f;

    if (f_p == NULL || *f_p == NULL)
        return;
    f = *f_p;
    if (f->mhd != NULL)
        MHD_stop_daemon(f->mhd);
    qs_web_counters_destroy(&f->counters);
    qs_web_static_destroy(&f->files);
    free(f->tls_cert);
    if (f->tls_key != NULL)
        sodium_free(f->tls_key);
    free(f);
    *f_p = NULL;
}
