/* test_ctl.h - helpers for qsctl's unit tests: run a sub-command in-process
 * with its stdout and stderr captured, make a site, fill store.db.
 *
 * Commands return their exit code instead of exiting (see ctl_common.h), so
 * a test calls cmd_policy() & co. directly with an argv and checks the code
 * and the exact output, on real temporary site directories.
 */
#ifndef QS_TEST_CTL_H
#define QS_TEST_CTL_H

#include "ctl_common.h"
#include "qs_ctl.h"
#include "qs_log.h"
#include "qs_test.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTL_TEST_MAX_ARGS 32

typedef struct {
    int rc;
    char out[1 << 16];
    char err[1 << 14];
} ctl_run_t;

static void
ctl_test_slurp(char *buf, size_t len, FILE *f)
{
    size_t n;

    rewind(f);
    n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
}

/* Run fn with argv = the NULL-terminated strings; capture stdout/stderr. */
static inline int
ctl_test_run(ctl_run_t *r, int (*fn)(int, char **), ...)
{
    char *argv[CTL_TEST_MAX_ARGS + 1];
    int argc = 0, saved_out, saved_err;
    FILE *out = tmpfile(), *err = tmpfile();
    const char *a;
    va_list ap;

    if (out == NULL || err == NULL) {
        perror("tmpfile");
        exit(2);
    }
    va_start(ap, fn);
    while ((a = va_arg(ap, const char *)) != NULL && argc < CTL_TEST_MAX_ARGS)
        argv[argc++] = strdup(a);
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    r->rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    ctl_test_slurp(r->out, sizeof r->out, out);
    ctl_test_slurp(r->err, sizeof r->err, err);
    fclose(out);
    fclose(err);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return r->rc;
}

/* A fresh site: dir/site made by `qsctl init`; home receives its path. */
static inline void
ctl_test_site(char *dir, size_t dir_len, char *home, size_t home_len, const char *tag)
{
    static ctl_run_t r;

    qs_test_tmpdir(dir, dir_len, tag);
    snprintf(home, home_len, "%s/site", dir);
    if (ctl_test_run(&r, cmd_init, "init", "--home", home, (char *)NULL) != 0) {
        fprintf(stderr, "qsctl init failed in test setup: %s\n", r.err);
        exit(2);
    }
}

static inline void
ctl_test_rmrf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* Open home/NAME with plain sqlite3 (as an attacker or a test would). */
static inline sqlite3 *
ctl_test_sqlite(const char *home, const char *name)
{
    char path[4200];
    sqlite3 *db = NULL;

    snprintf(path, sizeof path, "%s/%s", home, name);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static inline void
ctl_test_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sql failed: %s: %s\n", sql, err ? err : "?");
        exit(2);
    }
}

/* Insert n rows into latest for (topic_type, topic_id, state_id), with
 * client ids starting at first_client. */
static inline void
ctl_test_latest(sqlite3 *db, int64_t first_client, int n, uint32_t topic_type,
                const char *topic_id, uint32_t state_id)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                           "time_ms, report_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)", -1, &st,
                           NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
        exit(2);
    }
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, first_client + i);
        sqlite3_bind_int64(st, 2, topic_type);
        sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, state_id);
        sqlite3_bind_int64(st, 5, 1767225600000LL + i);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
            exit(2);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

/* Contents of a file into a malloc'd string (NULL if missing). */
static inline char *
ctl_test_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = malloc((size_t)len + 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* Init libsodium for tests that call commands directly (main.c does it). */
static inline void
ctl_test_init(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "sodium_init failed\n");
        exit(2);
    }
    qs_log_init("test", QS_LOG_ERROR);
    /* Audit actors come from the environment: make them predictable. */
    unsetenv("SUDO_USER");
    setenv("USER", "tester", 1);
    unsetenv("QS_HOME");
    unsetenv("QS_CLOCK_OFFSET_S");
}

#endif
