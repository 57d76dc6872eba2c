/* deb822.h - a small streaming parser of Debian control data (deb822(5)):
 * dpkg's status file, apt's Packages lists, Release and InRelease files.
 *
 * Paragraphs are separated by blank lines; a field is "Name: value", a line
 * starting with a space or tab continues the previous field, a line starting
 * with '#' is a comment. The caller names the fields it wants (matched
 * case-insensitively); only those are kept, each at most
 * QS_DEB822_MAX_VALUE bytes, so memory stays bounded whatever the file (a
 * Packages list is tens of MB). Input arrives in pieces of any size
 * (qs_deb822_feed), lines at most QS_DEB822_MAX_LINE bytes.
 *
 * Bad input never stops the parse: a paragraph with a malformed line (no
 * colon, a continuation before any field, a NUL byte, a duplicate field, an
 * over-long line or value) is skipped whole and counted in `errors`; the
 * first error is kept as "line N: what" for the caller's message.
 */
#ifndef QS_PRODUCER_DEB822_H
#define QS_PRODUCER_DEB822_H

#include <stddef.h>
#include <stdint.h>

#define QS_DEB822_MAX_LINE  65536u
#define QS_DEB822_MAX_VALUE 8192u
#define QS_DEB822_MAX_FIELDS 16u

/* Flags for qs_deb822_new. */
#define QS_DEB822_PGP 1u   /* an InRelease file: skip the OpenPGP clear-sign armour */

typedef struct qs_deb822 qs_deb822_t;

/* One complete paragraph, as passed to the callback. */
typedef struct {
    const char *const *values;   /* values[i] for fields[i], NULL when absent */
    uint64_t line;               /* line number of its first field */
} qs_deb822_para_t;

/* Called once per well-formed paragraph that has at least one line; return
 * non-zero to stop the parse (qs_deb822_feed then returns 1). */
typedef int (*qs_deb822_cb)(void *ctx, const qs_deb822_para_t *p);

typedef struct {
    uint64_t paragraphs;   /* passed to the callback */
    uint64_t errors;       /* malformed paragraphs skipped */
    uint64_t lines;
    char first_error[160]; /* "line N: ..." or "" */
} qs_deb822_stats_t;

/* A parser keeping fields[0..nfields) (nfields <= QS_DEB822_MAX_FIELDS; the
 * strings must outlive the parser). NULL when nfields is too large. */
qs_deb822_t *qs_deb822_new(const char *const *fields, size_t nfields, unsigned flags,
                           qs_deb822_cb cb, void *ctx);

/* Parse the next len bytes. Returns 0, or 1 when the callback stopped it. */
int qs_deb822_feed(qs_deb822_t *p, const char *data, size_t len);

/* End of input: the last line and paragraph need no trailing newline.
 * Returns 0, or 1 when the callback stopped it. */
int qs_deb822_finish(qs_deb822_t *p);

const qs_deb822_stats_t *qs_deb822_stats(const qs_deb822_t *p);

/* Free; sets *p_p to NULL. No-op on NULL. */
void qs_deb822_destroy(qs_deb822_t **p_p);

/* Parse a whole file. Returns 0 (stats in *st, which may be NULL), 1 when
 * the callback stopped it, -1 with errmsg when the file cannot be read. */
int qs_deb822_parse_file(const char *path, const char *const *fields, size_t nfields,
                         unsigned flags, qs_deb822_cb cb, void *ctx, qs_deb822_stats_t *st,
                         char *errmsg, size_t errmsg_len);

#endif
