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
#include "qs_store_bench.h"
#include "qs_storedb.h"
#include "qs_test.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
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

/* Write store.db rows through store/'s private test writer (qs_store_bench.h:
 * the store's own statements), never by SQL of the test's own: store.db's
 * tables belong to store/. Exits 2 on any failure (a broken fixture). */
typedef void (*ctl_test_store_fn)(qs_store_bench_t *w, void *ctx);

static inline void
ctl_test_store_write(const char *home, ctl_test_store_fn fn, void *ctx)
{
    char path[4200], err[256];
    qs_storedb_t *db;
    qs_store_bench_t *w;

    snprintf(path, sizeof path, "%s/store.db", home);
    db = qs_storedb_open(path, 0, err, sizeof err);
    w = db ? qs_store_bench_new(db, err, sizeof err) : NULL;
    if (w == NULL || qs_store_bench_begin(w) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, w ? qs_store_bench_errmsg(w) : err);
        exit(2);
    }
    fn(w, ctx);
    if (qs_store_bench_commit(w) != 0) {
        fprintf(stderr, "cannot commit %s: %s\n", path, qs_store_bench_errmsg(w));
        exit(2);
    }
    qs_store_bench_destroy(&w);
    qs_storedb_destroy(&db);
}

struct ctl_test_rows {
    int64_t first_client;
    int n;
    uint32_t topic_type;
    const char *topic_id;
    uint32_t state_id;
};

static inline void
ctl_test_latest_rows(qs_store_bench_t *w, void *ctx)
{
    const struct ctl_test_rows *r = ctx;

    for (int i = 0; i < r->n; i++) {
        qs_store_bench_row_t row = {
            .client_id = r->first_client + i, .topic_type = r->topic_type,
            .topic_id = r->topic_id, .state_id = r->state_id,
            .time_ms = 1767225600000LL + i, .report_ms = 1767225600000LL + i };
        if (qs_store_bench_latest(w, &row) != 0) {
            fprintf(stderr, "insert into latest: %s\n", qs_store_bench_errmsg(w));
            exit(2);
        }
    }
}

/* n rows of latest for (topic_type, topic_id, state_id), client ids from
 * first_client, in one transaction. */
static inline void
ctl_test_latest(const char *home, int64_t first_client, int n, uint32_t topic_type,
                const char *topic_id, uint32_t state_id)
{
    struct ctl_test_rows r = { first_client, n, topic_type, topic_id, state_id };

    ctl_test_store_write(home, ctl_test_latest_rows, &r);
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

/* The actor qsctl records: the OS user (from the kernel, not $USER), and
 * with --as NAME "OSUSER as NAME". Static buffer: use before the next call. */
static inline const char *
ctl_test_actor(const char *as)
{
    static char buf[256];
    struct passwd *pw = getpwuid(geteuid());

    snprintf(buf, sizeof buf, "%s%s%s", pw ? pw->pw_name : "?", as ? " as " : "", as ? as : "");
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
