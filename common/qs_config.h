/* qs_config.h - the site's quietstate.conf (INI), with defaults and bounds.
 *
 * Written by `qsctl init`, read by every daemon and by qsctl. Unknown keys and
 * out-of-range values are errors naming the line and key, never ignored: a
 * typo in a retention interval must not silently keep data longer.
 *
 *   [broker]    frontend, backend, hwm; conn_max_kb, total_max_mb, worker_max_mb,
 *               handshakes_per_second, log_lines_per_second (docs/broker.md)
 *   [store]     skew_limit_seconds, group_commit_max_messages, backend (sqlite),
 *               quota_messages_per_minute, quota_details_kb_per_minute,
 *               quota_topics_per_client, disk_reserve_mb (docs/quotas.md),
 *               database (empty: SQLite store.db in the home; a postgresql:// URI:
 *               PostgreSQL, docs/scale.md)
 *   [retention] interval_seconds
 *   [web]       listen, tls_cert, tls_key, max_connections, timeout_seconds,
 *               max_body_bytes, lookups_per_minute (qs-web, docs/web.md),
 *               static_dir, metrics_public = loopback|token (docs/dashboard.md)
 */
#ifndef QS_CONFIG_H
#define QS_CONFIG_H

#include <stddef.h>

#include "qs_limits.h"

typedef struct {
    char frontend[QS_MAX_ENDPOINT_BYTES];   /* producers connect here */
    char backend[QS_MAX_ENDPOINT_BYTES];    /* store workers connect here */
    int broker_hwm;                         /* messages queued per peer */
    int skew_limit_s;                       /* accepted clock skew into the future */
    int group_commit_max_messages;          /* most messages in one transaction */
    /* [store] protection (docs/quotas.md); 0 turns one off. */
    int quota_messages_per_minute;          /* per client, per qs-store worker */
    int quota_details_kb_per_minute;        /* details KiB per client, per worker */
    int quota_topics_per_client;            /* latest rows one client may hold */
    int disk_reserve_mb;                    /* SQLite: free space kept for retention */
    char store_database[QS_MAX_DATABASE_BYTES]; /* "" = store.db; else a libpq URI */
    int retention_interval_s;               /* seconds between retention passes */
    /* [web]: qs-web (docs/web.md). TLS is required when listen is not loopback. */
    char web_listen[QS_MAX_ENDPOINT_BYTES]; /* host:port, IPv4 or [IPv6] */
    char web_tls_cert[QS_MAX_PATH_BYTES];   /* PEM certificate chain, "" for none */
    char web_tls_key[QS_MAX_PATH_BYTES];    /* PEM private key, "" for none */
    int web_max_connections;                /* open connections at once */
    int web_timeout_s;                      /* idle connection closed after this */
    int web_max_body_bytes;                 /* larger request bodies get 413 */
    int web_lookups_per_minute;             /* per admin; more get 429 */
    /* [web] for the dashboard and /metrics (docs/dashboard.md). */
    char web_static_dir[QS_MAX_PATH_BYTES]; /* dashboard files, "" = built-in default */
    int web_metrics_public;
    /* [log] */
    int log_json;                           /* 1: one JSON object per log line */                 /* 1: /metrics without a token from loopback */
    /* [broker] limits: qs-broker's memory and flood bounds (docs/broker.md). */
    int broker_conn_max_kb;                 /* bytes pending in one client connection */
    int broker_total_max_mb;                /* bytes pending in all client connections */
    int broker_worker_max_mb;               /* bytes queued toward one store worker */
    int broker_handshakes_per_s;            /* refused handshakes per source address */
    int broker_log_lines_per_s;             /* event log lines, all kinds together */
} qs_config_t;

#define QS_DEFAULT_FRONTEND "tcp://127.0.0.1:5570"
#define QS_DEFAULT_BACKEND  "tcp://127.0.0.1:5571"
#define QS_DEFAULT_WEB_LISTEN "127.0.0.1:8080"

/* How a key's value is checked and kept. */
typedef enum {
    QS_CONFIG_INT,        /* decimal integer in [min, max] into an int */
    QS_CONFIG_ENDPOINT,   /* tcp://, ipc:// or inproc:// ZeroMQ endpoint */
    QS_CONFIG_LISTEN,     /* host:port */
    QS_CONFIG_PATH,       /* a file path (one token) */
    QS_CONFIG_DIR,        /* a directory path (one token) */
    QS_CONFIG_CHOICE,     /* one of `choices`; an int field gets its index */
    QS_CONFIG_DATABASE,   /* "" or a postgresql:// URI without a password */
} qs_config_kind_t;

/* One key of quietstate.conf: the single source of the parser, the
 * defaults and docs/config.md (a test checks that the two agree). */
typedef struct {
    const char *section, *key;
    qs_config_kind_t kind;
    size_t offset, size;      /* the field in qs_config_t; offset (size_t)-1: none */
    const char *def;          /* default as written in the file; "" for none */
    long min, max;            /* QS_CONFIG_INT: the accepted range */
    const char *unit;         /* "seconds", "MiB", ... or "" */
    const char *readers;      /* programs that read it, comma-separated */
    const char *problem;      /* the error for a bad value (QS_CONFIG_INT: generated) */
    const char *help;         /* one line for docs/config.md */
    const char *choices;      /* QS_CONFIG_CHOICE: the values, '|'-separated */
} qs_config_key_t;

/* The index of value among k's choices (QS_CONFIG_CHOICE), or -1. */
int qs_config_choice(const qs_config_key_t *k, const char *value);

/* 1 when value may be [store] database: empty (SQLite in the home) or a
 * postgresql:// or postgres:// URI of printable ASCII without blanks, ';'
 * or '#', and without a password (neither user:password@ nor password=):
 * quietstate.conf is readable by the service account and is copied to
 * every host, so secrets go through libpq's PGPASSFILE or service file. */
int qs_config_database_ok(const char *value);

/* 1 when value names a PostgreSQL database (a URI qs_config_database_ok
 * accepts, not empty). */
int qs_config_database_is_pg(const char *value);

/* The key table, in file order; *n receives its length. */
const qs_config_key_t *qs_config_keys(size_t *n);

/* Fill with defaults. */
void qs_config_defaults(qs_config_t *cfg);

/* Parse INI text over the defaults. Returns 0, or -1 with errmsg naming the
 * key ("unknown key 'fronted' in [broker]") or the first malformed line. */
int qs_config_parse(qs_config_t *cfg, const char *text, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Read and parse a file (at most 64 KiB). */
int qs_config_load(qs_config_t *cfg, const char *path, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Render cfg as INI text with comments into out. Returns 0, -1 if too small. */
int qs_config_format(char *out, size_t out_len, const qs_config_t *cfg);

#endif
