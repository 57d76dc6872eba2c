/* config.c - quietstate.conf parsing with inih: strict keys, bounded values. */
#include "qs_config.h"
#include "qs_fsutil.h"

#include <errno.h>
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
    return (n < 0 || (size_t)n >= out_len) ? -1 : 0;
}
