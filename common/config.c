/* config.c - quietstate.conf parsing with inih: strict keys, bounded values. */
#include "qs_config.h"
#include "qs_fsutil.h"

#include <errno.h>
#include <stddef.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* inih (built with its default INI_MAX_LINE) reads a longer line as two,
 * silently: such lines are refused, and an endpoint must fit on the line
 * qs_config_format writes for it. */
#define CONFIG_MAX_LINE_CHARS (INI_MAX_LINE - 1)
#define CONFIG_MAX_ENDPOINT_CHARS (CONFIG_MAX_LINE_CHARS - (sizeof "frontend = " - 1))
_Static_assert(CONFIG_MAX_ENDPOINT_CHARS < QS_MAX_ENDPOINT_BYTES, "endpoint fits the struct");

struct parse_ctx {
    qs_config_t *cfg;
    char *errmsg;
    size_t errmsg_len;
    int failed;
};

static int
parse_int(int *out, const char *value, long min, long max)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* An endpoint must also read back as written: no blanks or control
 * characters, and no ';' or '#', which start comments (inih leaves an inline
 * comment in a continuation line's value, but strips it from key = value). */
static int
endpoint_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == ';' || *p == '#')
            return 0;
    return strlen(v) <= CONFIG_MAX_ENDPOINT_CHARS &&
           (strncmp(v, "tcp://", 6) == 0 || strncmp(v, "ipc://", 6) == 0 ||
            strncmp(v, "inproc://", 9) == 0);
}

/* ---- [broker] limits (qs-broker's flood bounds): kept apart, owned with broker/ ---- */

/* 1 if name is one of the [broker] limits (problem set when value is bad), 0 if not. */
static int
on_broker_limit_entry(qs_config_t *cfg, const char *name, const char *value,
                      const char **problem)
{
    static const struct { const char *name; size_t off; long min, max; const char *range; } keys[] = {
        { "conn_max_kb", offsetof(qs_config_t, broker_conn_max_kb), 2048, 4194304,
          "must be an integer from 2048 to 4194304" },
        { "total_max_mb", offsetof(qs_config_t, broker_total_max_mb), 8, 65536,
          "must be an integer from 8 to 65536" },
        { "worker_max_mb", offsetof(qs_config_t, broker_worker_max_mb), 2, 65536,
          "must be an integer from 2 to 65536" },
        { "handshakes_per_second", offsetof(qs_config_t, broker_handshakes_per_s), 1, 100000,
          "must be an integer from 1 to 100000" },
        { "log_lines_per_second", offsetof(qs_config_t, broker_log_lines_per_s), 1, 10000,
          "must be an integer from 1 to 10000" },
    };

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(name, keys[i].name) != 0)
            continue;
        if (parse_int((int *)((char *)cfg + keys[i].off), value, keys[i].min, keys[i].max) != 0)
            *problem = keys[i].range;
        return 1;
    }
    return 0;
}

static void
broker_limit_defaults(qs_config_t *cfg)
{
    cfg->broker_conn_max_kb = 32768;      /* 16 in-flight 1 MiB envelopes, twice over */
    cfg->broker_total_max_mb = 256;
    cfg->broker_worker_max_mb = 64;
    cfg->broker_handshakes_per_s = 20;
    cfg->broker_log_lines_per_s = 20;
}

/* ---- [web] (qs-web): kept apart from the other sections ---- */

/* One token of printable ASCII without blanks, ';' or '#' (reads back as written). */
static int
web_text_ok(const char *v, size_t max)
{
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == ';' || *p == '#')
            return 0;
    return strlen(v) <= max;
}

/* A [web] key: 1 handled (problem set when the value is bad), 0 not a [web] key. */
static int
on_web_entry(qs_config_t *cfg, const char *name, const char *value, const char **problem)
{
    if (strcmp(name, "listen") == 0) {
        if (*value == '\0' || !web_text_ok(value, CONFIG_MAX_ENDPOINT_CHARS) ||
            strrchr(value, ':') == NULL)
            *problem = "must be host:port (e.g. 127.0.0.1:8080 or [::1]:8080)";
        else
            snprintf(cfg->web_listen, sizeof cfg->web_listen, "%s", value);
    } else if (strcmp(name, "tls_cert") == 0 || strcmp(name, "tls_key") == 0) {
        char *dst = name[4] == 'c' ? cfg->web_tls_cert : cfg->web_tls_key;
        if (*value == '\0' || !web_text_ok(value, CONFIG_MAX_ENDPOINT_CHARS))
            *problem = "must be a file path without blanks, ';' or '#'";
        else
            snprintf(dst, QS_MAX_PATH_BYTES, "%s", value);
    } else if (strcmp(name, "max_connections") == 0) {
        if (parse_int(&cfg->web_max_connections, value, 1, 10000) != 0)
            *problem = "must be an integer from 1 to 10000";
    } else if (strcmp(name, "timeout_seconds") == 0) {
        if (parse_int(&cfg->web_timeout_s, value, 1, 3600) != 0)
            *problem = "must be an integer from 1 to 3600";
    } else if (strcmp(name, "max_body_bytes") == 0) {
        if (parse_int(&cfg->web_max_body_bytes, value, 64, 16 * 1024 * 1024) != 0)
            *problem = "must be an integer from 64 to 16777216";
    } else if (strcmp(name, "static_dir") == 0) {   /* dashboard (docs/dashboard.md) */
        if (*value == '\0' || !web_text_ok(value, QS_MAX_PATH_BYTES - 1))
            *problem = "must be a directory path without blanks, ';' or '#'";
        else
            snprintf(cfg->web_static_dir, sizeof cfg->web_static_dir, "%s", value);
    } else if (strcmp(name, "metrics_public") == 0) {   /* /metrics (docs/dashboard.md) */
        if (strcmp(value, "loopback") != 0 && strcmp(value, "token") != 0)
            *problem = "must be loopback or token";
        else
            cfg->web_metrics_public = strcmp(value, "loopback") == 0;
    } else if (strcmp(name, "lookups_per_minute") == 0) {
        if (parse_int(&cfg->web_lookups_per_minute, value, 1, 100000) != 0)
            *problem = "must be an integer from 1 to 100000";
    } else {
        return 0;
    }
    return 1;
}

static int
on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *ctx = user;
    qs_config_t *cfg = ctx->cfg;
    const char *problem = NULL;

    if (ctx->failed)
        return 0;
    if (strcmp(section, "broker") == 0 && strcmp(name, "frontend") == 0) {
        if (!endpoint_ok(value))
            problem = "must be a tcp://, ipc:// or inproc:// endpoint "
                      "without blanks, ';' or '#'";
        else
            snprintf(cfg->frontend, sizeof cfg->frontend, "%s", value);
    } else if (strcmp(section, "broker") == 0 && strcmp(name, "backend") == 0) {
        if (!endpoint_ok(value))
            problem = "must be a tcp://, ipc:// or inproc:// endpoint "
                      "without blanks, ';' or '#'";
        else
            snprintf(cfg->backend, sizeof cfg->backend, "%s", value);
    } else if (strcmp(section, "broker") == 0 && strcmp(name, "hwm") == 0) {
        if (parse_int(&cfg->broker_hwm, value, 1, 1000000) != 0)
            problem = "must be an integer from 1 to 1000000";
    } else if (strcmp(section, "broker") == 0 &&
               on_broker_limit_entry(cfg, name, value, &problem)) {
        /* handled (problem set if the value is bad) */
    } else if (strcmp(section, "store") == 0 && strcmp(name, "skew_limit_seconds") == 0) {
        if (parse_int(&cfg->skew_limit_s, value, 0, 86400) != 0)
            problem = "must be an integer from 0 to 86400";
    } else if (strcmp(section, "store") == 0 &&
               strcmp(name, "group_commit_max_messages") == 0) {
        if (parse_int(&cfg->group_commit_max_messages, value, 1, 1000000) != 0)
            problem = "must be an integer from 1 to 1000000";
    } else if (strcmp(section, "store") == 0 && strcmp(name, "backend") == 0) {
        if (strcmp(value, "sqlite") != 0)
            problem = "must be 'sqlite'";
    } else if (strcmp(section, "retention") == 0 && strcmp(name, "interval_seconds") == 0) {
        if (parse_int(&cfg->retention_interval_s, value, 1, 7 * 86400) != 0)
            problem = "must be an integer from 1 to 604800";
    } else if (strcmp(section, "web") == 0 && on_web_entry(cfg, name, value, &problem)) {
        /* handled (problem set if the value is bad) */
    } else {
        snprintf(ctx->errmsg, ctx->errmsg_len, "unknown key '%s' in [%s]", name, section);
        ctx->failed = 1;
        return 0;
    }
    if (problem != NULL) {
        snprintf(ctx->errmsg, ctx->errmsg_len, "[%s] %s %s", section, name, problem);
        ctx->failed = 1;
        return 0;
    }
    return 1;
}

void
qs_config_defaults(qs_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->frontend, sizeof cfg->frontend, "%s", QS_DEFAULT_FRONTEND);
    snprintf(cfg->backend, sizeof cfg->backend, "%s", QS_DEFAULT_BACKEND);
    cfg->broker_hwm = 1000;
    cfg->skew_limit_s = QS_DEFAULT_SKEW_LIMIT_S;
    cfg->group_commit_max_messages = 20000;
    cfg->retention_interval_s = 3600;
    snprintf(cfg->web_listen, sizeof cfg->web_listen, "%s", QS_DEFAULT_WEB_LISTEN);
    cfg->web_max_connections = 64;
    cfg->web_timeout_s = 10;
    cfg->web_max_body_bytes = 65536;
    cfg->web_lookups_per_minute = 10;
    cfg->web_metrics_public = 1;   /* /metrics from loopback without a token */
    broker_limit_defaults(cfg);
}

/* The number of the first line longer than inih reads whole, or 0. */
static int
first_long_line(const char *text)
{
    int lineno = 1;
    size_t len = 0;

    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\n') {
            lineno++;
            len = 0;
        } else if (++len > CONFIG_MAX_LINE_CHARS) {
            return lineno;
        }
    }
    return 0;
}

int
qs_config_parse(qs_config_t *cfg, const char *text, char *errmsg, size_t errmsg_len)
{
    struct parse_ctx ctx = { cfg, errmsg, errmsg_len, 0 };
    int rc;

    qs_config_defaults(cfg);
    rc = first_long_line(text);
    if (rc != 0) {
        snprintf(errmsg, errmsg_len, "line %d: longer than %d characters", rc,
                 CONFIG_MAX_LINE_CHARS);
        return -1;
    }
    rc = ini_parse_string(text, on_entry, &ctx);
    if (ctx.failed)
        return -1;
    if (rc != 0) {
        snprintf(errmsg, errmsg_len, "line %d: not an INI line (expected [section] or key = value)",
                 rc);
        return -1;
    }
    return 0;
}

int
qs_config_load(qs_config_t *cfg, const char *path, char *errmsg, size_t errmsg_len)
{
    char *text = NULL, inner[512];
    size_t len = 0;
    int rc;

    if (qs_fs_read_small(&text, &len, path, 65536, 0, errmsg, errmsg_len) != 0)
        return -1;
    rc = qs_config_parse(cfg, text, inner, sizeof inner);
    free(text);
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "%s: %s", path, inner);
    return rc;
}

int
qs_config_format(char *out, size_t out_len, const qs_config_t *cfg)
{
    int n = snprintf(out, out_len,
        "# quietstate site configuration (written by qsctl init).\n"
        "# Endpoints default to loopback: change them only to serve other hosts.\n"
        "[broker]\n"
        "frontend = %s\n"
        "backend = %s\n"
        "hwm = %d\n"
        "\n[store]\n"
        "backend = sqlite\n"
        "skew_limit_seconds = %d\n"
        "group_commit_max_messages = %d\n"
        "\n[retention]\n"
        "interval_seconds = %d\n",
        cfg->frontend, cfg->backend, cfg->broker_hwm, cfg->skew_limit_s,
        cfg->group_commit_max_messages, cfg->retention_interval_s);
    size_t used = (n < 0) ? out_len : (size_t)n;
    int m;

    if (used >= out_len)
        return -1;
    /* [web]: qs-web's address; TLS files only when set (required off loopback). */
    m = snprintf(out + used, out_len - used,
        "\n[web]\n"
        "# qs-web (docs/web.md). Beyond loopback, set tls_cert and tls_key.\n"
        "listen = %s\n%s%s%s%s%s%s",
        cfg->web_listen,
        cfg->web_tls_cert[0] ? "tls_cert = " : "", cfg->web_tls_cert,
        cfg->web_tls_cert[0] ? "\n" : "",
        cfg->web_tls_key[0] ? "tls_key = " : "", cfg->web_tls_key,
        cfg->web_tls_key[0] ? "\n" : "");
    return (m < 0 || (size_t)m >= out_len - used) ? -1 : 0;
}
