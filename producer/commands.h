/* commands.h - qs-producer's sub-commands that live outside main.c:
 * state and status (cmd_state.c), scan (cmd_scan.c), simulate and the
 * shared option parsers (cmd_simulate.c).
 *
 * Each parses its own flags with getopt_long (--outbox may follow the
 * sub-command: *outbox is updated), prints its --help, and returns the exit
 * status: 0 ok, 1 failure, 2 usage error (docs/commands.md).
 */
#ifndef QS_PRODUCER_COMMANDS_H
#define QS_PRODUCER_COMMANDS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

int qs_cmd_state(const char **outbox, int argc, char **argv);
int qs_cmd_status(const char **outbox, int argc, char **argv);
int qs_cmd_scan(const char **outbox, int argc, char **argv);

/* simulate: a whole fleet from the site's home; stops early when *stop. */
int qs_cmd_simulate(volatile sig_atomic_t *stop, int argc, char **argv);

/* A decimal number in [min, max] (no sign); 0 or -1. */
int qs_cmd_parse_u64(uint64_t *out, const char *s, uint64_t min, uint64_t max);

/* --batch N and --failover-ms MS of flush, run and simulate: 0, or -1 after
 * printing the usage error for cmd. */
int qs_cmd_parse_batch(size_t *batch, const char *cmd, const char *arg);
int qs_cmd_parse_failover(int *ms, const char *cmd, const char *arg);

/* Output formats shared by the commands above. */
typedef enum { QS_FMT_TABLE, QS_FMT_JSON, QS_FMT_CSV } qs_fmt_t;

/* "table"/"text", "json", "csv" (those allowed: bit 1 << qs_fmt_t). 0, -1. */
int qs_cmd_parse_format(const char *s, unsigned allowed, qs_fmt_t *out);

/* Print "qs-producer CMD: message" and a pointer to --help; returns 2. */
int qs_cmd_usage_error(const char *cmd, const char *msg, const char *arg);

/* One CSV record (RFC 4180, "\n"); a cell a spreadsheet would run as a
 * formula gets a leading single quote; control bytes print as \xHH. */
void qs_cmd_csv_row(size_t n, const char *const *cells);

/* s with control bytes as \xHH, into out (for tables on a terminal). */
const char *qs_cmd_text_safe(char *out, size_t out_len, const char *s);

#endif
