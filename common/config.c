/* config.c - quietstate.conf parsing with inih: strict keys, bounded values,
 * all from one key table (qs_config_keys). */
#include "qs_config.h"
#include "qs_endpoints.h"
#include "qs_fsutil.h"
#include "qs_log.h"

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

/* An endpoint must also read back as written: no control characters, and no
 * ';' or '#', which start comments (inih leaves an inline comment in a
 * continuation line's value, but strips it from key = value). The value may
 * name several brokers, separated by blanks or commas (qs_endpoints.h). */
static int
endpoint_ok(const char *v)
{
    qs_endpoints_t eps;
    char err[160];

    return strlen(v) <= CONFIG_MAX_ENDPOINT_CHARS &&
           qs_endpoints_parse(&eps, v, err, sizeof err) == 0;
}

/* One token of printable ASCII without blanks, ';' or '#' (reads back as written). */
static int
web_text_ok(const char *v, size_t max)
{
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == ';' || *p == '#')
            return 0;
    return strlen(v) <= max;
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define F(field) offsetof(qs_config_t, field), sizeof(((qs_config_t *)0)->field)
#define ENDPOINT_PROBLEM "must be tcp://, ipc:// or inproc:// endpoints (several separated by " \
    "blanks or commas) without ';' or '#'"

/* Every key of quietstate.conf: the parser, the defaults and docs/config.md
 * (checked by ctl/test_ctl_config_doc.c) all read this one table. */
static const qs_config_key_t config_keys[] = {
    { "broker", "frontend", QS_CONFIG_ENDPOINT, F(frontend), QS_DEFAULT_FRONTEND, 0, 0, "",
      "qs-broker, qsctl enroll, qs-web, qs-producer simulate", ENDPOINT_PROBLEM,
      "where producers connect (written into each profile); several brokers: a list", NULL },
    { "broker", "backend", QS_CONFIG_ENDPOINT, F(backend), QS_DEFAULT_BACKEND, 0, 0, "",
      "qs-broker, qs-store", ENDPOINT_PROBLEM,
      "where qs-store's workers connect; several brokers: a list (each worker connects to all)",
      NULL },
    { "broker", "hwm", QS_CONFIG_INT, F(broker_hwm), "1000", 1, 1000000, "messages",
      "qs-broker, qs-store", NULL, "ZeroMQ high-water mark: messages queued per peer", NULL },
    { "broker", "conn_max_kb", QS_CONFIG_INT, F(broker_conn_max_kb), "32768", 2048, 4194304,
      "KiB", "qs-broker", NULL, "bytes pending in one client connection (docs/broker.md)", NULL },
    { "broker", "total_max_mb", QS_CONFIG_INT, F(broker_total_max_mb), "256", 8, 65536, "MiB",
      "qs-broker", NULL, "bytes pending in all client connections together", NULL },
    { "broker", "worker_max_mb", QS_CONFIG_INT, F(broker_worker_max_mb), "64", 2, 65536, "MiB",
      "qs-broker", NULL, "bytes queued toward one store worker", NULL },
    { "broker", "handshakes_per_second", QS_CONFIG_INT, F(broker_handshakes_per_s), "20", 1,
      100000, "per second", "qs-broker", NULL, "refused handshakes per source address", NULL },
    { "broker", "log_lines_per_second", QS_CONFIG_INT, F(broker_log_lines_per_s), "20", 1,
      10000, "per second", "qs-broker", NULL, "event log lines, all kinds together", NULL },
    { "store", "backend", QS_CONFIG_CHOICE, (size_t)-1, 0, "sqlite", 0, 0, "", "qs-store",
      "must be 'sqlite'", "kept for older files; the engine follows [store] database",
      "sqlite" },
    { "store", "database", QS_CONFIG_DATABASE, F(store_database), "", 0, 0, "",
      "qs-store, qs-retention, qsctl, qs-web",
      "must be empty or a postgresql:// URI without blanks and without a password "
      "(give passwords through PGPASSFILE or a service file)",
      "empty: SQLite store.db in the home; a PostgreSQL URI: that database (docs/scale.md)",
      NULL },
    { "store", "skew_limit_seconds", QS_CONFIG_INT, F(skew_limit_s), STR(QS_DEFAULT_SKEW_LIMIT_S), 0, 86400,
      "seconds", "qs-store", NULL, "accepted clock skew of a report into the future", NULL },
    { "store", "group_commit_max_messages", QS_CONFIG_INT, F(group_commit_max_messages),
      "20000", 1, 1000000, "messages", "qs-store", NULL, "most messages in one transaction", NULL },
    { "store", "quota_messages_per_minute", QS_CONFIG_INT, F(quota_messages_per_minute),
      "30000", 0, 100000000, "per minute", "qs-store", NULL,
      "messages one client may send each store worker (more: RETRY_LATER/QUOTA_RATE); 0: "
      "no limit (docs/quotas.md)", NULL },
    { "store", "quota_details_kb_per_minute", QS_CONFIG_INT, F(quota_details_kb_per_minute),
      "65536", 0, 100000000, "KiB per minute", "qs-store", NULL,
      "details bytes one client may send each store worker (more: RETRY_LATER/QUOTA_DETAILS); "
      "0: no limit", NULL },
    { "store", "quota_topics_per_client", QS_CONFIG_INT, F(quota_topics_per_client),
      "100000", 0, 100000000, "topics", "qs-store", NULL,
      "current-state rows (topic type and id) one client may hold (a new one beyond: "
      "BAD_MESSAGE/QUOTA_TOPICS); 0: no limit", NULL },
    { "store", "disk_reserve_mb", QS_CONFIG_INT, F(disk_reserve_mb), "64", 0, 1048576, "MiB",
      "qs-store", NULL,
      "SQLite: free space on store.db's file system below which ingest is refused "
      "(RETRY_LATER/DISK_RESERVE), kept for retention and forget; 0: no reserve", NULL },
    { "retention", "interval_seconds", QS_CONFIG_INT, F(retention_interval_s), "3600", 1,
      604800, "seconds", "qs-retention, qsctl verify, qs-web", NULL,
      "seconds between retention passes", NULL },
    { "web", "listen", QS_CONFIG_LISTEN, F(web_listen), QS_DEFAULT_WEB_LISTEN, 0, 0, "",
      "qs-web", "must be host:port (e.g. 127.0.0.1:8080 or [::1]:8080)",
      "HTTP API address; beyond loopback tls_cert and tls_key are required", NULL },
    { "web", "tls_cert", QS_CONFIG_PATH, F(web_tls_cert), "", 0, 0, "", "qs-web",
      "must be a file path without blanks, ';' or '#'", "PEM certificate chain", NULL },
    { "web", "tls_key", QS_CONFIG_PATH, F(web_tls_key), "", 0, 0, "", "qs-web",
      "must be a file path without blanks, ';' or '#'", "PEM private key", NULL },
    { "web", "max_connections", QS_CONFIG_INT, F(web_max_connections), "64", 1, 10000,
      "connections", "qs-web", NULL, "open connections at once", NULL },
    { "web", "timeout_seconds", QS_CONFIG_INT, F(web_timeout_s), "10", 1, 3600, "seconds",
      "qs-web", NULL, "an idle connection is closed after this", NULL },
    { "web", "max_body_bytes", QS_CONFIG_INT, F(web_max_body_bytes), "65536", 64, 16777216,
      "bytes", "qs-web", NULL, "larger request bodies get 413", NULL },
    { "web", "lookups_per_minute", QS_CONFIG_INT, F(web_lookups_per_minute), "10", 1, 100000,
      "per minute", "qs-web", NULL, "lookups per admin; more get 429", NULL },
    { "web", "static_dir", QS_CONFIG_DIR, F(web_static_dir), "", 0, 0, "", "qs-web",
      "must be a directory path without blanks, ';' or '#'",
      "dashboard files; empty: the built-in default (docs/dashboard.md)", NULL },
    { "web", "metrics_public", QS_CONFIG_CHOICE, F(web_metrics_public), "loopback", 0, 0, "",
      "qs-web", "must be loopback or token",
      "loopback: /metrics without a token from loopback; token: always a token",
      "token|loopback" },
    { "log", "format", QS_CONFIG_CHOICE, F(log_json), "text", 0, 0, "",
      "qs-broker, qs-store, qs-retention, qs-web", "must be text or json",
      "text: one line per event; json: one JSON object per line (time, program, level, msg)",
      "text|json" },
};

const qs_config_key_t *
qs_config_keys(size_t *n)
{
    *n = sizeof config_keys / sizeof config_keys[0];
    return config_keys;
}

int
qs_config_choice(const qs_config_key_t *k, const char *value)
{
    size_t len = strlen(value);
    int index = 0;

    for (const char *p = k->choices; p != NULL && *p; index++) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, value, n) == 0)
            return index;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return -1;
}

int
qs_config_database_is_pg(const char *value)
{
    return value != NULL && (strncmp(value, "postgresql://", 13) == 0 ||
                             strncmp(value, "postgres://", 11) == 0);
}

int
qs_config_database_ok(const char *value)
{
    const char *rest, *at, *slash;

    if (*value == '\0')
        return 1;
    if (!qs_config_database_is_pg(value) || !web_text_ok(value, QS_MAX_DATABASE_BYTES - 1))
        return 0;
    rest = strstr(value, "://") + 3;
    slash = strchr(rest, '/');
    at = strchr(rest, '@');
    /* user:password@host: a ':' in the userinfo part is a password. */
    if (at != NULL && (slash == NULL || at < slash) && memchr(rest, ':', (size_t)(at - rest)))
        return 0;
    return strstr(value, "password=") == NULL;
}

/* Set k's field from value; 0, or -1 when the value is out of k's rules. */
static int
key_set(qs_config_t *cfg, const qs_config_key_t *k, const char *value)
{
    /* A key without a field ((size_t)-1: [store] backend) is only checked:
     * no pointer is formed for it (that arithmetic would overflow). */
    char *field = k->offset != (size_t)-1 ? (char *)cfg + k->offset : NULL;

    switch (k->kind) {
    case QS_CONFIG_INT:
        return parse_int((int *)field, value, k->min, k->max);
    case QS_CONFIG_ENDPOINT:
        if (!endpoint_ok(value))
            return -1;
        break;
    case QS_CONFIG_LISTEN:
        if (*value == '\0' || !web_text_ok(value, CONFIG_MAX_ENDPOINT_CHARS) ||
            strrchr(value, ':') == NULL)
            return -1;
        break;
    case QS_CONFIG_PATH:
    case QS_CONFIG_DIR:
        if (*value == '\0' || !web_text_ok(value, k->kind == QS_CONFIG_PATH
                                                      ? CONFIG_MAX_ENDPOINT_CHARS
                                                      : k->size - 1))
            return -1;
        break;
    case QS_CONFIG_DATABASE:
        if (!qs_config_database_ok(value))
            return -1;
        break;
    case QS_CONFIG_CHOICE: {
        int index = qs_config_choice(k, value);
        if (index < 0)
            return -1;
        if (field != NULL)
            *(int *)field = index;
        return 0;
    }
    }
    snprintf(field, k->size, "%s", value);
    return 0;
}

static int
on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *ctx = user;
    char range[64];

    if (ctx->failed)
        return 0;
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
        const qs_config_key_t *k = &config_keys[i];
        if (strcmp(section, k->section) != 0 || strcmp(name, k->key) != 0)
            continue;
        if (key_set(ctx->cfg, k, value) == 0)
            return 1;
        snprintf(range, sizeof range, "must be an integer from %ld to %ld", k->min, k->max);
        snprintf(ctx->errmsg, ctx->errmsg_len, "[%s] %s %s", section, name,
                 k->kind == QS_CONFIG_INT ? range : k->problem);
        ctx->failed = 1;
        return 0;
    }
    snprintf(ctx->errmsg, ctx->errmsg_len, "unknown key '%s' in [%s]", name, section);
    ctx->failed = 1;
    return 0;
}

void
qs_config_defaults(qs_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++)
        if (config_keys[i].offset != (size_t)-1 && config_keys[i].def[0] != '\0' &&
            key_set(cfg, &config_keys[i], config_keys[i].def) != 0)
            qs_fatal("config key table: the default of [%s] %s breaks its own rule",
                     config_keys[i].section, config_keys[i].key);
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
        "%s%s%s"
        "skew_limit_seconds = %d\n"
        "group_commit_max_messages = %d\n"
        "# Store protection (docs/quotas.md), defaults shown; 0 turns one off.\n"
        "# quota_messages_per_minute = 30000\n"
        "# quota_details_kb_per_minute = 65536\n"
        "# quota_topics_per_client = 100000\n"
        "# disk_reserve_mb = 64\n"
        "\n[retention]\n"
        "interval_seconds = %d\n",
        cfg->frontend, cfg->backend, cfg->broker_hwm,
        cfg->store_database[0] ? "database = " : "", cfg->store_database,
        cfg->store_database[0] ? "\n" : "", cfg->skew_limit_s,
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
