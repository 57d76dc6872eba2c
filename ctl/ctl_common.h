/* ctl_common.h - helpers shared by qsctl sub-commands: the opened site,
 * transactions with their audit entry, the acting user, output formats.
 *
 * A command resolves --home (or QS_HOME) and opens only what it needs with
 * ctl_site_open(); a change to site.db goes through ctl_site_begin(),
 * ctl_site_audit() and ctl_site_commit() (common/qs_audit.h's audited
 * transaction), so that the change and its audit entry are one transaction
 * and a failed commit leaves DIR/audit.head as it was. Output helpers print tables with aligned columns, RFC 4180 CSV, and
 * one JSON document (cJSON) per run; text that came from clients (topic ids)
 * is escaped before it reaches a terminal or a spreadsheet.
 *
 * Errors go to stderr as one line "qsctl CMD: what failed: why; how to fix".
 * Commands return exit codes (0 ok, 1 failure, 2 usage) instead of calling
 * exit(), so that unit tests can run them in-process.
 */
#ifndef QS_CTL_COMMON_H
#define QS_CTL_COMMON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qs_audit.h"
#include "qs_clock.h"
#include "qs_policy.h"
#include "qs_site.h"
#include "qs_sitedb.h"
#include "qs_storedb.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

#define CTL_ERRMSG_BYTES (2u * QS_MAX_PATH_BYTES + 512u)
#define CTL_MAX_ACTOR_BYTES 64u
/* An actor as ctl_actor writes it: "OSUSER (sudo NAME) as NAME". */
#define CTL_ACTOR_BYTES (3u * CTL_MAX_ACTOR_BYTES + 32u)
#define CTL_TIME_BYTES 32u

/* Output formats; a command says which it accepts as a bit set. */
typedef enum {
    CTL_FORMAT_TABLE = 1,
    CTL_FORMAT_JSON = 2,
    CTL_FORMAT_CSV = 4,
} ctl_format_t;

/* Parse "table", "json" or "csv" into *out when it is in allowed (a bit set
 * of ctl_format_t). Returns 0, or -1 if unknown or not allowed. */
int ctl_format_parse(ctl_format_t *out, const char *text, unsigned allowed)
    __attribute__((warn_unused_result));

/* What ctl_site_open() opens or loads, besides resolving and checking paths. */
enum {
    CTL_OPEN_SITEDB = 1u << 0,    /* site.db (must exist) */
    CTL_OPEN_STOREDB = 1u << 1,   /* store.db (must exist; WAL reader) */
    CTL_OPEN_SITE_KEY = 1u << 2,  /* keys/site.key (pseudonyms) */
    CTL_OPEN_AUDIT_KEY = 1u << 3, /* keys/audit.key (audit chain) */
};

/* An opened site. Fields are read by commands; only ctl_site_* write them. */
typedef struct {
    qs_site_paths_t paths;
    qs_clock_t clock;
    qs_sitedb_t *sitedb;      /* NULL unless CTL_OPEN_SITEDB */
    qs_storedb_t *storedb;    /* NULL unless CTL_OPEN_STOREDB */
    uint8_t *site_key;        /* sodium_malloc'd, NULL unless CTL_OPEN_SITE_KEY */
    uint8_t *audit_key;       /* sodium_malloc'd, NULL unless CTL_OPEN_AUDIT_KEY */
    qs_audit_tx_t *tx;        /* between ctl_site_begin() and commit/rollback */
} ctl_site_t;

/* Resolve home (NULL: QS_HOME), check that it is a site made by qsctl init
 * and open what `what` asks for. On failure returns -1 with errmsg saying
 * what failed and how to fix it; the site is then closed (safe to close again). */
int ctl_site_open(ctl_site_t *site, const char *home, unsigned what,
                  char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* The policy in force from the open site.db (k, precision; *configured 0
 * when none is set: the defaults). 0, or -1 after printing the error for
 * cmd. */
int ctl_site_policy(ctl_site_t *site, qs_policy_t *policy, int *configured, const char *cmd)
    __attribute__((warn_unused_result));

/* The usage rule for the site home: when home is NULL or empty and QS_HOME
 * is unset too, print the usage error "no site home: pass --home DIR or set
 * QS_HOME" for cmd and return 1 (the caller exits CTL_EXIT_USAGE); else 0.
 * A home that is given but does not exist is a failure (1), found later by
 * ctl_site_open. */
int ctl_home_missing(const char *cmd, const char *home);

/* Roll back an open transaction, close databases, wipe keys. Idempotent. */
void ctl_site_close(ctl_site_t *site);

/* UTC now in ms (honours QS_CLOCK_OFFSET_S, like the daemons). */
int64_t ctl_site_now(const ctl_site_t *site);

/* Begin an audited transaction on site.db (qs_audit_tx_begin: the write
 * lock is taken before anything is read, so read-modify-write is atomic).
 * Needs CTL_OPEN_AUDIT_KEY. Returns 0 or -1 with errmsg. */
int ctl_site_begin(ctl_site_t *site, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Append an audit entry inside the open transaction. detail is borrowed and
 * rendered as compact JSON. Returns 0 or -1. */
int ctl_site_audit(ctl_site_t *site, const char *actor, const char *action,
                   const cJSON *detail, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* COMMIT, then rewrite DIR/audit.head. On failure rolls back and returns -1. */
int ctl_site_commit(ctl_site_t *site, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* ROLLBACK (DIR/audit.head was not touched). No-op outside a transaction. */
void ctl_site_rollback(ctl_site_t *site);

/* The acting user for audit entries: the OS user qsctl runs as, from the
 * kernel (getpwuid(geteuid())), never from the environment; under sudo,
 * "root (sudo NAME)" with sudo's $SUDO_USER; then " as NAME" when --as was
 * given (a name the person asserts, recorded beside the one they cannot).
 * --as must be 1..64 printable characters. Returns 0, or -1 with errmsg
 * when `as` is not acceptable. out should hold CTL_ACTOR_BYTES. */
int ctl_actor(char *out, size_t out_len, const char *as, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* A client name given as --name: qs_client_name_check (qs_enroll.h, the
 * one rule qs-web applies too) with errors naming --name. 0 or -1. */
int ctl_name_check(const char *name, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Make getopt_long() start afresh (optind = 0 on glibc), so that a command
 * can run more than once in one process (unit tests). Also silences
 * getopt's own messages: commands report usage errors themselves. */
void ctl_getopt_reset(void);

/* Parse a decimal integer in [min, max]; 0 or -1. */
int ctl_parse_long(long *out, const char *text, long min, long max)
    __attribute__((warn_unused_result));

/* UTC ISO 8601 text for ms ("2026-01-31T12:00:00Z", or with ".123" when
 * with_ms); out must hold CTL_TIME_BYTES. Never fails for real times. */
void ctl_time_text(char out[CTL_TIME_BYTES], int64_t ms, int with_ms);

/* "qsctl CMD: message" on stderr. */
void ctl_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A usage error: "qsctl CMD: message" and a pointer to --help on stderr.
 * Returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print doc as one compact JSON document and a newline on stdout, then
 * delete doc. Returns 0, -1 if out of memory. */
int ctl_json_print(cJSON *doc) __attribute__((warn_unused_result));

/* Flush stdout; 0, or 1 after printing "qsctl CMD: cannot write output". */
int ctl_output_done(const char *cmd);

/* Copy text for display on a terminal: control characters (C0, DEL, C1)
 * and invalid UTF-8 become \xHH, so client-supplied text cannot move the
 * cursor or recolour the screen. Truncates to out_len - 1 bytes. */
void ctl_text_safe(char *out, size_t out_len, const char *text);

/* Display width of UTF-8 text in columns (code points; no wide-char tables). */
size_t ctl_text_width(const char *text);

/* A table printed with aligned columns: first row is the header. */
typedef struct ctl_table ctl_table_t;

/* New table with ncols columns named by headers. Never NULL (aborts on OOM). */
ctl_table_t *ctl_table_new(size_t ncols, const char *const *headers);

/* Right-align column col (numbers). */
void ctl_table_align_right(ctl_table_t *t, size_t col);

/* Append a row of ncols cells; each cell is copied through ctl_text_safe. */
void ctl_table_add(ctl_table_t *t, const char *const *cells);

/* Rows added so far (without the header). */
size_t ctl_table_rows(const ctl_table_t *t);

/* Print header and rows, columns separated by two spaces, no trailing blanks. */
void ctl_table_print(const ctl_table_t *t, FILE *out);

/* Free; sets *t_p to NULL. No-op on NULL. */
void ctl_table_destroy(ctl_table_t **t_p);

/* Print one CSV record (RFC 4180: quoted when needed, CRLF not used: "\n").
 * A cell that a spreadsheet would run as a formula (starting with = + - @
 * tab or CR) is prefixed with a single quote, unless it is a plain number. */
void ctl_csv_row(FILE *out, size_t ncells, const char *const *cells);

/* Print a CSV header (headers) and one record per object of the array rows,
 * taking field fields[i] of each object for column i: strings as they are,
 * numbers as integers when whole, true/false, null or missing as empty,
 * objects and arrays as compact JSON. Cells go through ctl_csv_row. */
void ctl_csv_objects(FILE *out, const cJSON *rows, size_t ncols, const char *const *headers,
                     const char *const *fields);

/* Print doc as CSV "name,value" records, nested objects flattened with dots
 * ("rejected.BAD_MESSAGE"); arrays as compact JSON. */
void ctl_csv_flat(FILE *out, const cJSON *doc);

#endif
