/* qs_log.h - one log line per event, to stderr, with a UTC timestamp and a level.
 *
 * Format: "2026-11-25T12:00:00.123Z qs-store info: message". Messages are
 * lowercase, failure first, subject quoted. Never log a secret or a raw
 * machine/user name: log pseudonyms or key prefixes instead.
 */
#ifndef QS_LOG_H
#define QS_LOG_H

#include <stdio.h>
#include <stdlib.h>

typedef enum { QS_LOG_DEBUG = 0, QS_LOG_INFO, QS_LOG_WARN, QS_LOG_ERROR } qs_log_level_t;

/* Set the program name shown in each line and the minimum level (from
 * QS_LOG_LEVEL=debug|info|warn|error when level < 0). Call once from main. */
void qs_log_init(const char *progname, int level);

/* json != 0: each line is one JSON object {"time": "…Z", "program": "…",
 * "level": "…", "msg": "…"} ([log] format = json), for collectors that parse
 * logs; the text form otherwise. Set once by main after reading the config. */
void qs_log_set_json(int json);

void qs_log(qs_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void qs_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_debug(...) qs_log(QS_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  qs_log(QS_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  qs_log(QS_LOG_WARN, __VA_ARGS__)
#define log_error(...) qs_log(QS_LOG_ERROR, __VA_ARGS__)

/* Programmer errors: always on, names file and line, aborts. */
#define QS_ASSERT(x) \
    do { if (!(x)) qs_assert_fail(#x, __FILE__, __LINE__); } while (0)
void qs_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

/* Out of memory is not recoverable here: these abort with a log line. */
void *qs_malloc(size_t n);
void *qs_calloc(size_t n, size_t size);
void *qs_realloc(void *p, size_t n);
char *qs_strdup(const char *s);
/* Make the array *p of *cap elements of elem bytes hold at least need,
 * doubling from 16 (amortised O(1) appends); aborts on out of memory. */
void qs_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
