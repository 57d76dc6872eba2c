/* log.c - stderr logger with UTC timestamps; see qs_log.h.
 *
 * The only process-wide state is the program name and level, set once by
 * main before any thread exists: that is configuration, not mutable state.
 */
#include "qs_log.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *log_progname = "quietstate";
static int log_min_level = QS_LOG_INFO;
static int log_json;

void
qs_log_init(const char *progname, int level)
{
    log_progname = progname;
    if (level < 0) {
        const char *env = getenv("QS_LOG_LEVEL");
        level = QS_LOG_INFO;
        if (env != NULL) {
            if (strcasecmp(env, "debug") == 0) level = QS_LOG_DEBUG;
            else if (strcasecmp(env, "warn") == 0) level = QS_LOG_WARN;
            else if (strcasecmp(env, "error") == 0) level = QS_LOG_ERROR;
        }
    }
    log_min_level = level;
}

void
qs_log_set_json(int json)
{
    log_json = json != 0;
}

/* msg as a JSON string body: quotes, backslashes and control bytes escaped. */
static void
json_escape(char *out, size_t out_len, const char *msg)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 7 < out_len; p++) {
        if (*p == '"' || *p == '\\')
            o += (size_t)snprintf(out + o, out_len - o, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(out + o, out_len - o, "\\u%04x", *p);
        else
            out[o++] = (char)*p;
    }
    out[o] = '\0';
}

static void log_vemit(qs_log_level_t level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
log_vemit(qs_log_level_t level, const char *fmt, va_list ap)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    char stamp[32], line[2048];
    struct timespec ts;
    struct tm tm;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_json) {
        char msg[2048], esc[6 * 2048 + 1];
        vsnprintf(msg, sizeof msg, fmt, ap);
        json_escape(esc, sizeof esc, msg);
        fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"program\":\"%s\",\"level\":\"%s\","
                "\"msg\":\"%s\"}\n", stamp, ts.tv_nsec / 1000000L, log_progname,
                names[level], esc);
        return;
    }
    n = snprintf(line, sizeof line, "%s.%03ldZ %s %s: ", stamp,
                 ts.tv_nsec / 1000000L, log_progname, names[level]);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /* One write per line so that lines from several processes never interleave. */
    fprintf(stderr, "%s\n", line);
}

void
qs_log(qs_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    if ((int)level < log_min_level)
        return;
    va_start(ap, fmt);
    log_vemit(level, fmt, ap);
    va_end(ap);
}

void
qs_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(QS_LOG_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}

void
qs_assert_fail(const char *expr, const char *file, int line)
{
    qs_log(QS_LOG_ERROR, "bug: assertion '%s' failed at %s:%d", expr, file, line);
    abort();
}

void *
qs_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        qs_log(QS_LOG_ERROR, "out of memory allocating %zu bytes", n);
        abort();
    }
    return p;
}

void *
qs_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        qs_log(QS_LOG_ERROR, "out of memory allocating %zu x %zu bytes", n, size);
        abort();
    }
    return p;
}

void *
qs_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        qs_log(QS_LOG_ERROR, "out of memory reallocating %zu bytes", n);
        abort();
    }
    return q;
}

void
qs_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 16;

    if (need <= *cap)
        return;
    while (c < need)
        c *= 2;
    *p = qs_realloc(*p, c * elem);
    *cap = c;
}

char *
qs_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = qs_malloc(n);
    memcpy(p, s, n);
    return p;
}
