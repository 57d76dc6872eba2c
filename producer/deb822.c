/* deb822.c - the streaming deb822 parser (see deb822.h).
 *
 * Bytes are cut into lines in a fixed buffer of QS_DEB822_MAX_LINE bytes;
 * each complete line goes through handle_line, which keeps only the wanted
 * fields of the current paragraph. An error marks the paragraph bad: it is
 * still read to its end (so the next paragraph starts where it should) and
 * then dropped, never half-delivered.
 */
#include "deb822.h"

#include "qs_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { PGP_START, PGP_ARMOUR, PGP_BODY, PGP_SIGNATURE };
enum { CUR_NONE = -2, CUR_SKIPPED = -1 };

struct qs_deb822 {
    const char *const *fields;
    size_t nfields;
    unsigned flags;
    qs_deb822_cb cb;
    void *ctx;
    char *line;               /* QS_DEB822_MAX_LINE bytes */
    size_t line_len;
    int line_overflow;
    char *values[QS_DEB822_MAX_FIELDS];   /* QS_DEB822_MAX_VALUE + 1 bytes each */
    size_t vlen[QS_DEB822_MAX_FIELDS];
    int present[QS_DEB822_MAX_FIELDS];
    int cur;                  /* field being continued: index, CUR_SKIPPED or CUR_NONE */
    int in_para, bad, stopped, pgp;
    uint64_t para_line;
    qs_deb822_stats_t st;
};

qs_deb822_t *
qs_deb822_new(const char *const *fields, size_t nfields, unsigned flags, qs_deb822_cb cb,
              void *ctx)
{
    qs_deb822_t *p;

    if (nfields > QS_DEB822_MAX_FIELDS)
        return NULL;
    p = qs_calloc(1, sizeof *p);
    p->fields = fields;
    p->nfields = nfields;
    p->flags = flags;
    p->cb = cb;
    p->ctx = ctx;
    p->line = qs_malloc(QS_DEB822_MAX_LINE);
    for (size_t i = 0; i < nfields; i++)
        p->values[i] = qs_malloc(QS_DEB822_MAX_VALUE + 1);
    p->cur = CUR_NONE;
    p->pgp = (flags & QS_DEB822_PGP) ? PGP_START : PGP_BODY;
    return p;
}

static void
para_error(qs_deb822_t *p, const char *what)
{
    p->in_para = 1;
    if (p->bad)
        return;
    p->bad = 1;
    p->st.errors++;
    if (p->st.first_error[0] == '\0')
        snprintf(p->st.first_error, sizeof p->st.first_error, "line %llu: %s",
                 (unsigned long long)p->st.lines, what);
}

/* The paragraph ends: deliver it when it is good. 1 when the callback stops. */
static int
end_para(qs_deb822_t *p)
{
    const char *vals[QS_DEB822_MAX_FIELDS];
    int stop = 0;

    if (p->in_para && !p->bad) {
        qs_deb822_para_t para = { vals, p->para_line };
        for (size_t i = 0; i < p->nfields; i++)
            vals[i] = p->present[i] ? p->values[i] : NULL;
        p->st.paragraphs++;
        stop = p->cb(p->ctx, &para) != 0;
    }
    p->in_para = 0;
    p->bad = 0;
    p->cur = CUR_NONE;
    memset(p->present, 0, sizeof p->present);
    return stop;
}

static int
is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

/* Append s (len bytes, blanks around it trimmed) to field i's value. */
static void
value_append(qs_deb822_t *p, int i, const char *s, size_t len, int newline)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (p->vlen[i] + (size_t)newline + len > QS_DEB822_MAX_VALUE) {
        char what[96];
        snprintf(what, sizeof what, "value of %.40s longer than %u bytes", p->fields[i],
                 QS_DEB822_MAX_VALUE);
        para_error(p, what);
        return;
    }
    if (newline)
        p->values[i][p->vlen[i]++] = '\n';
    memcpy(p->values[i] + p->vlen[i], s, len);
    p->vlen[i] += len;
    p->values[i][p->vlen[i]] = '\0';
}

static void
field_line(qs_deb822_t *p, const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    size_t nlen;

    if (!p->in_para) {
        p->in_para = 1;
        p->para_line = p->st.lines;
    }
    if (colon == NULL) {
        para_error(p, "a field line without ':'");
        return;
    }
    nlen = (size_t)(colon - s);
    for (size_t i = 0; i < nlen; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            para_error(p, "a field name with a blank or a non-ASCII byte");
            return;
        }
    if (nlen == 0 || s[0] == '-') {
        para_error(p, "an empty field name or one starting with '-'");
        return;
    }
    p->cur = CUR_SKIPPED;
    for (size_t i = 0; i < p->nfields; i++) {
        if (strlen(p->fields[i]) != nlen || strncasecmp(p->fields[i], s, nlen) != 0)
            continue;
        if (p->present[i]) {
            char what[96];
            snprintf(what, sizeof what, "field %.40s given twice", p->fields[i]);
            para_error(p, what);
            return;
        }
        p->present[i] = 1;
        p->vlen[i] = 0;
        p->values[i][0] = '\0';
        p->cur = (int)i;
        value_append(p, (int)i, colon + 1, len - nlen - 1, 0);
        return;
    }
}

/* The OpenPGP clear-sign armour of an InRelease file. 1: the line is
 * consumed; 0: parse it (*s, *len may move past a dash-escape). */
static int
pgp_line(qs_deb822_t *p, const char **s, size_t *len)
{
    static const char begin[] = "-----BEGIN PGP SIGNED MESSAGE-----";
    static const char sig[] = "-----BEGIN PGP SIGNATURE-----";

    switch (p->pgp) {
    case PGP_START:
        if (is_blank(*s, *len))
            return 1;
        if (*len == sizeof begin - 1 && memcmp(*s, begin, *len) == 0) {
            p->pgp = PGP_ARMOUR;
            return 1;
        }
        p->pgp = PGP_BODY;
        return 0;
    case PGP_ARMOUR:
        if (is_blank(*s, *len))
            p->pgp = PGP_BODY;
        return 1;
    case PGP_BODY:
        if (*len >= sizeof sig - 1 && memcmp(*s, sig, sizeof sig - 1) == 0) {
            p->pgp = PGP_SIGNATURE;
            return 1;
        }
        if (*len >= 2 && (*s)[0] == '-' && (*s)[1] == ' ') {
            *s += 2;
            *len -= 2;
        }
        return 0;
    default:
        return 1;
    }
}

/* One complete line (without its newline). 1 when the callback stops. */
static int
handle_line(qs_deb822_t *p, const char *s, size_t len)
{
    p->st.lines++;
    if (len > 0 && s[len - 1] == '\r')
        len--;
    if (memchr(s, '\0', len) != NULL) {
        para_error(p, "a NUL byte");
        return 0;
    }
    if (pgp_line(p, &s, &len))
        return p->pgp == PGP_SIGNATURE ? end_para(p) : 0;
    if (is_blank(s, len))
        return end_para(p);
    if (s[0] == '#')
        return 0;
    if (s[0] == ' ' || s[0] == '\t') {
        if (!p->in_para || p->cur == CUR_NONE)
            para_error(p, "a continuation line before any field");
        else if (p->cur >= 0 && !p->bad)
            value_append(p, p->cur, s, len, 1);
        return 0;
    }
    if (!p->bad)
        field_line(p, s, len);
    return 0;
}

static void
overflow_line(qs_deb822_t *p)
{
    char what[64];

    p->st.lines++;
    snprintf(what, sizeof what, "a line longer than %u bytes", QS_DEB822_MAX_LINE);
    para_error(p, what);
}

int
qs_deb822_feed(qs_deb822_t *p, const char *data, size_t len)
{
    while (len > 0 && !p->stopped) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl != NULL ? (size_t)(nl - data) : len;
        int stop = 0;

        if (!p->line_overflow) {
            if (p->line_len + seg > QS_DEB822_MAX_LINE) {
                p->line_overflow = 1;
            } else {
                memcpy(p->line + p->line_len, data, seg);
                p->line_len += seg;
            }
        }
        if (nl != NULL) {
            if (p->line_overflow)
                overflow_line(p);
            else
                stop = handle_line(p, p->line, p->line_len);
            p->line_len = 0;
            p->line_overflow = 0;
            seg++;
        }
        data += seg;
        len -= seg;
        if (stop)
            p->stopped = 1;
    }
    return p->stopped ? 1 : 0;
}

int
qs_deb822_finish(qs_deb822_t *p)
{
    if (p->stopped)
        return 1;
    if (p->line_overflow)
        overflow_line(p);
    else if (p->line_len > 0 && handle_line(p, p->line, p->line_len))
        p->stopped = 1;
    p->line_len = 0;
    p->line_overflow = 0;
    if (!p->stopped && end_para(p))
        p->stopped = 1;
    return p->stopped ? 1 : 0;
}

const qs_deb822_stats_t *
qs_deb822_stats(const qs_deb822_t *p)
{
    return &p->st;
}

void
qs_deb822_destroy(qs_deb822_t **p_p)
{
    qs_deb822_t *p;

    if (p_p == NULL || *p_p == NULL)
        return;
    p = *p_p;
    for (size_t i = 0; i < p->nfields; i++)
        free(p->values[i]);
    free(p->line);
    free(p);
    *p_p = NULL;
}

int
qs_deb822_parse_file(const char *path, const char *const *fields, size_t nfields,
                     unsigned flags, qs_deb822_cb cb, void *ctx, qs_deb822_stats_t *st,
                     char *errmsg, size_t errmsg_len)
{
    char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    qs_deb822_t *p;
    ssize_t n;

    if (fd < 0) {
        snprintf(errmsg, errmsg_len, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    p = qs_deb822_new(fields, nfields, flags, cb, ctx);
    if (p == NULL) {
        snprintf(errmsg, errmsg_len, "too many fields asked of '%s'", path);
        close(fd);
        return -1;
    }
    while (rc == 0 && (n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(errmsg, errmsg_len, "cannot read '%s': %s", path, strerror(errno));
            rc = -1;
            break;
        }
        rc = qs_deb822_feed(p, buf, (size_t)n);
    }
    if (rc == 0)
        rc = qs_deb822_finish(p);
    if (st != NULL)
        *st = p->st;
    qs_deb822_destroy(&p);
    close(fd);
    return rc;
}
