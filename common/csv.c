/* csv.c - RFC 4180 records out of a buffer, one at a time, with line numbers.
 *
 * A small state machine over the bytes: at the start of a field it decides
 * quoted or not; a quoted field ends at a '"' not followed by another one,
 * and must then be followed by ',' or the end of the record. Field bytes go
 * into one growing buffer, each followed by a NUL; the field pointers are
 * set once the record is complete (the buffer may move while it grows).
 * Line numbers count LF bytes, also inside quoted fields, so that a line
 * number names the line an editor shows.
 */
#include "qs_csv.h"
#include "qs_log.h"

#include <stdlib.h>
#include <string.h>

struct qs_csv {
    const char *p, *end;
    uint64_t line;              /* line of *p */
    char *buf;                  /* decoded fields, NUL after each */
    size_t buf_len, buf_cap;
    size_t offs[QS_CSV_MAX_FIELDS];
    const char *fields[QS_CSV_MAX_FIELDS];
    size_t n;
};

qs_csv_t *
qs_csv_new(const char *data, size_t len)
{
    qs_csv_t *self = qs_calloc(1, sizeof *self);

    self->p = data;
    self->end = data + len;
    self->line = 1;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        self->p += 3;
    return self;
}

void
qs_csv_destroy(qs_csv_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

static int
put(qs_csv_t *self, char c)
{
    if (self->buf_len >= QS_CSV_MAX_RECORD_BYTES)
        return -1;
    qs_grow((void **)&self->buf, &self->buf_cap, self->buf_len + 1, 1);
    self->buf[self->buf_len++] = c;
    return 0;
}

/* After an error: past the end of the current line. */
static void
skip_line(qs_csv_t *self)
{
    while (self->p < self->end && *self->p != '\n')
        self->p++;
    if (self->p < self->end) {
        self->p++;
        self->line++;
    }
}

/* At a record's end: LF, CRLF or the end of the text. Consumes it. */
static int
at_record_end(qs_csv_t *self)
{
    if (self->p >= self->end)
        return 1;
    if (*self->p == '\n' || (*self->p == '\r' && self->p + 1 < self->end && self->p[1] == '\n')) {
        self->p += *self->p == '\r' ? 2 : 1;
        self->line++;
        return 1;
    }
    return 0;
}

/* A quoted field, p just past its opening quote. 0, or -1 with *why. */
static int
quoted(qs_csv_t *self, const char **why)
{
    for (;;) {
        char c;
        if (self->p >= self->end) {
            *why = "a quoted field is never closed";
            return -1;
        }
        c = *self->p++;
        if (c == '"') {
            if (self->p < self->end && *self->p == '"')
                self->p++;
            else
                return 0;
        } else if (c == '\0') {
            *why = "a NUL byte: not a text file";
            return -1;
        } else if (c == '\n') {
            self->line++;
        }
        if (put(self, c) != 0) {
            *why = "a record is longer than 64 KiB";
            return -1;
        }
    }
}

/* One field, then its separator. 1 when the record ended after it, 0 when
 * a ',' follows, -1 with *why. */
static int
field(qs_csv_t *self, const char **why)
{
    if (self->p < self->end && *self->p == '"') {
        self->p++;
        if (quoted(self, why) != 0)
            return -1;
        if (at_record_end(self))
            return 1;
        if (*self->p != ',') {
            *why = "text after a closing quote (a '\"' inside a field is written '\"\"')";
            return -1;
        }
        self->p++;
        return 0;
    }
    for (;;) {
        if (at_record_end(self))
            return 1;
        if (*self->p == ',') {
            self->p++;
            return 0;
        }
        if (*self->p == '\0') {
            *why = "a NUL byte: not a text file";
            return -1;
        }
        if (put(self, *self->p++) != 0) {
            *why = "a record is longer than 64 KiB";
            return -1;
        }
    }
}

static int
record(qs_csv_t *self, const char **why)
{
    int rc;

    self->buf_len = 0;
    self->n = 0;
    do {
        if (self->n == QS_CSV_MAX_FIELDS) {
            *why = "more than 64 fields in a record";
            return -1;
        }
        self->offs[self->n++] = self->buf_len;
        rc = field(self, why);
        if (rc < 0 || put(self, '\0') != 0) {
            if (rc >= 0)
                *why = "a record is longer than 64 KiB";
            return -1;
        }
    } while (rc == 0);
    for (size_t i = 0; i < self->n; i++)
        self->fields[i] = self->buf + self->offs[i];
    return 0;
}

int
qs_csv_next(qs_csv_t *self, const char *const **fields, size_t *n, uint64_t *line,
            const char **why)
{
    /* Blank lines (and a last line without text) carry no record. */
    while (self->p < self->end &&
           (*self->p == '\n' || (*self->p == '\r' && self->p + 1 < self->end &&
                                 self->p[1] == '\n')))
        (void)at_record_end(self);
    if (self->p >= self->end)
        return 0;
    *line = self->line;
    if (record(self, why) != 0) {
        skip_line(self);   /* *line: where the bad record starts */
        return -1;
    }
    *fields = self->fields;
    *n = self->n;
    return 1;
}
