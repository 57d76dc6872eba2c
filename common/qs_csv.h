/* qs_csv.h - an RFC 4180 CSV record reader over a buffer in memory.
 *
 * Reads one record at a time from text the caller holds (a file read or
 * mapped whole): fields separated by ',', records ended by LF or CRLF (or
 * the end of the text), a field in double quotes may hold ',', CR, LF and
 * '""' (one '"'). A UTF-8 byte order mark at the very start is skipped,
 * blank lines are skipped. A '"' inside an unquoted field is kept as it is
 * (as spreadsheets do). The decoded fields are NUL-terminated copies in the
 * reader's own buffer, valid until the next call.
 *
 * A malformed record (text after a closing quote, a quote never closed,
 * a NUL byte, too many fields, a record over QS_CSV_MAX_RECORD_BYTES) is
 * reported with the line it starts on and skipped up to the end of its line
 * (an unclosed quote: to the end of the text), so that a caller can list
 * every bad line and go on.
 */
#ifndef QS_CSV_H
#define QS_CSV_H

#include <stddef.h>
#include <stdint.h>

#define QS_CSV_MAX_FIELDS 64u
#define QS_CSV_MAX_RECORD_BYTES (64u * 1024u)

typedef struct qs_csv qs_csv_t;

/* A reader over data[0..len) (borrowed: it must outlive the reader). Never
 * NULL (aborts when out of memory). */
qs_csv_t *qs_csv_new(const char *data, size_t len);

/* Free; sets *self_p to NULL. No-op on NULL. */
void qs_csv_destroy(qs_csv_t **self_p);

/* The next record: returns 1 with *fields (n of them, each NUL-terminated,
 * owned by the reader) and *line (1-based line where the record starts);
 * 0 at the end of the text; -1 for a malformed record with *line and *why
 * (a static reason), the reader then being past it. */
int qs_csv_next(qs_csv_t *self, const char *const **fields, size_t *n, uint64_t *line,
                const char **why);

#endif
