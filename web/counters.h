/* counters.h - qs-web's request counters, kept in the HTTP front.
 *
 * Every answer is counted by (route, status): 2xx, and each refusal (401,
 * 403, 404, 405, 413, 429, 400…) on its own line, so an operator sees probing
 * and abuse. Connections the HTTP library ended itself (timeouts, malformed
 * HTTP, client aborts) are counted by reason. Rendered as Prometheus text
 * for /metrics (which comes with "What operators look at").
 */
#ifndef QS_WEB_COUNTERS_H
#define QS_WEB_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#define QS_WEB_MAX_ROUTES 24u
#define QS_WEB_ROUTE_NONE QS_WEB_MAX_ROUTES     /* no route matched */

typedef enum {
    QS_WEB_END_OK = 0,
    QS_WEB_END_ERROR,        /* the library answered an error or gave up */
    QS_WEB_END_TIMEOUT,      /* idle or slow client, closed */
    QS_WEB_END_ABORTED,      /* the client went away */
    QS_WEB_END_SHUTDOWN,
    QS_WEB_END_COUNT,
} qs_web_end_t;

typedef struct qs_web_counters qs_web_counters_t;

/* New zeroed counters for routes named names[0..n) (borrowed, n <= QS_WEB_MAX_ROUTES). */
qs_web_counters_t *qs_web_counters_new(const char *const *names, size_t n);
void qs_web_counters_destroy(qs_web_counters_t **c_p);

/* Count one answer: route index (or QS_WEB_ROUTE_NONE) and HTTP status. */
void qs_web_counters_answer(qs_web_counters_t *c, size_t route, int status);

/* Count one request the library ended. */
void qs_web_counters_end(qs_web_counters_t *c, qs_web_end_t why);

/* Count of answers with this route and status (for tests and logs). */
uint64_t qs_web_counters_get(const qs_web_counters_t *c, size_t route, int status);

/* printf-append to a growing text buffer (*buf malloc'd, *cap its size). */
void qs_web_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Render as Prometheus text exposition (caller frees). Never NULL. */
char *qs_web_counters_render(const qs_web_counters_t *c);

#endif
