/* counters.c - (route, status) answer counts and connection endings (see counters.h). */
#include "counters.h"
#include "qs_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const int statuses[] = { 200, 201, 304, 400, 401, 403, 404, 405, 409, 413, 429,
                                500, 501, 502, 503 };
#define N_STATUSES (sizeof statuses / sizeof statuses[0])
#define OTHER N_STATUSES   /* any status not listed */

static const char *const end_names[QS_WEB_END_COUNT] = {
    "completed", "error", "timeout", "aborted", "shutdown",
};

struct qs_web_counters {
    const char *const *names;
    size_t n_routes;
    uint64_t answers[QS_WEB_MAX_ROUTES + 1][N_STATUSES + 1];
    uint64_t ends[QS_WEB_END_COUNT];
};

qs_web_counters_t *
qs_web_counters_new(const char *const *names, size_t n)
{
    qs_web_counters_t *c;

    QS_ASSERT(n <= QS_WEB_MAX_ROUTES);
    c = qs_calloc(1, sizeof *c);
    c->names = names;
    c->n_routes = n;
    return c;
}

void
qs_web_counters_destroy(qs_web_counters_t **c_p)
{
    if (c_p == NULL || *c_p == NULL)
        return;
    free(*c_p);
    *c_p = NULL;
}

static size_t
status_slot(int status)
{
    for (size_t i = 0; i < N_STATUSES; i++)
        if (statuses[i] == status)
            return i;
    return OTHER;
}

static size_t
route_slot(const qs_web_counters_t *c, size_t route)
{
    return route < c->n_routes ? route : QS_WEB_ROUTE_NONE;
}

void
qs_web_counters_answer(qs_web_counters_t *c, size_t route, int status)
{
    c->answers[route_slot(c, route)][status_slot(status)]++;
}

void
qs_web_counters_end(qs_web_counters_t *c, qs_web_end_t why)
{
    if ((unsigned)why < QS_WEB_END_COUNT)
        c->ends[why]++;
}

uint64_t
qs_web_counters_get(const qs_web_counters_t *c, size_t route, int status)
{
    return c->answers[route_slot(c, route)][status_slot(status)];
}

void
qs_web_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            qs_fatal("cannot format counters");
        if ((size_t)n < *cap - *len)
            break;
        *cap = 2 * *cap + (size_t)n;
        *buf = qs_realloc(*buf, *cap);
    }
    *len += (size_t)n;
}

char *
qs_web_counters_render(const qs_web_counters_t *c)
{
    size_t len = 0, cap = 4096;
    char *buf = qs_malloc(cap), code[16];

    buf[0] = '\0';
    qs_web_appendf(&buf, &len, &cap, "# HELP qs_web_requests_total qs-web answers by route and "
                   "status.\n# TYPE qs_web_requests_total counter\n");
    for (size_t r = 0; r <= QS_WEB_MAX_ROUTES; r++) {
        const char *route = r < c->n_routes ? c->names[r] : "none";
        if (r >= c->n_routes && r != QS_WEB_ROUTE_NONE)
            continue;
        for (size_t s = 0; s <= N_STATUSES; s++) {
            if (c->answers[r][s] == 0)
                continue;
            if (s < N_STATUSES)
                snprintf(code, sizeof code, "%d", statuses[s]);
            else
                snprintf(code, sizeof code, "other");
            qs_web_appendf(&buf, &len, &cap,
                           "qs_web_requests_total{route=\"%s\",status=\"%s\"} %llu\n", route,
                           code, (unsigned long long)c->answers[r][s]);
        }
    }
    qs_web_appendf(&buf, &len, &cap, "# HELP qs_web_requests_ended_total Requests by how their "
                   "connection ended.\n# TYPE qs_web_requests_ended_total counter\n");
    for (size_t e = 0; e < QS_WEB_END_COUNT; e++)
        qs_web_appendf(&buf, &len, &cap, "qs_web_requests_ended_total{how=\"%s\"} %llu\n",
               end_names[e], (unsigned long long)c->ends[e]);
    return buf;
}
