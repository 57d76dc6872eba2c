/* debver.c - dpkg's version comparison (see debver.h).
 *
 * A faithful port of dpkg's lib/dpkg/version.c (order, verrevcmp,
 * dpkg_version_compare) and of the checks parseversion makes, working on
 * the string in place: no allocation, so comparing thousands of candidates
 * costs nothing.
 */
#include "debver.h"

#include <limits.h>
#include <string.h>

typedef struct {
    unsigned long epoch;
    const char *up;     /* upstream: [up, up_end) */
    const char *up_end;
    const char *rev;    /* revision: [rev, rev_end), empty when none */
    const char *rev_end;
} parts_t;

static int
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Split v; -1 when dpkg would refuse it. */
static int
split(const char *v, parts_t *p)
{
    const char *colon = strchr(v, ':'), *hyphen, *end = v + strlen(v);

    memset(p, 0, sizeof *p);
    if (*v == '\0')
        return -1;
    p->up = v;
    if (colon != NULL) {
        if (colon == v)
            return -1;
        for (const char *c = v; c < colon; c++) {
            if (!is_digit(*c))
                return -1;
            p->epoch = p->epoch * 10 + (unsigned long)(*c - '0');
            if (p->epoch > INT_MAX)
                return -1;
        }
        p->up = colon + 1;
    }
    hyphen = strrchr(p->up, '-');
    p->up_end = hyphen != NULL ? hyphen : end;
    p->rev = hyphen != NULL ? hyphen + 1 : end;
    p->rev_end = end;
    if (p->up == p->up_end || (hyphen != NULL && p->rev == p->rev_end))
        return -1;
    for (const char *c = p->up; c < p->up_end; c++)
        if (!is_digit(*c) && !is_alpha(*c) && strchr(".-+~:", *c) == NULL)
            return -1;
    for (const char *c = p->rev; c < p->rev_end; c++)
        if (!is_digit(*c) && !is_alpha(*c) && strchr(".+~", *c) == NULL)
            return -1;
    return 0;
}

int
qs_debver_valid(const char *v)
{
    parts_t p;
    return v != NULL ? split(v, &p) : -1;
}

/* dpkg's order(): '~' sorts before everything, even the end of the part;
 * letters before other characters. c == 0 stands for the end. */
static int
order(int c)
{
    if (is_digit(c))
        return 0;
    if (is_alpha(c))
        return c;
    if (c == '~')
        return -1;
    if (c != 0)
        return c + 256;
    return 0;
}

/* dpkg's verrevcmp over [a, ae) and [b, be). */
static int
verrevcmp(const char *a, const char *ae, const char *b, const char *be)
{
#define AT(p, e) ((p) < (e) ? (unsigned char)*(p) : 0)
    while (a < ae || b < be) {
        int first_diff = 0;

        while ((a < ae && !is_digit(AT(a, ae))) || (b < be && !is_digit(AT(b, be)))) {
            int ac = order(AT(a, ae)), bc = order(AT(b, be));
            if (ac != bc)
                return ac - bc;
            a++;
            b++;
        }
        while (a < ae && *a == '0')
            a++;
        while (b < be && *b == '0')
            b++;
        while (is_digit(AT(a, ae)) && is_digit(AT(b, be))) {
            if (first_diff == 0)
                first_diff = AT(a, ae) - AT(b, be);
            a++;
            b++;
        }
        if (is_digit(AT(a, ae)))
            return 1;
        if (is_digit(AT(b, be)))
            return -1;
        if (first_diff != 0)
            return first_diff;
    }
    return 0;
#undef AT
}

int
qs_debver_compare(const char *a, const char *b, int *cmp)
{
    parts_t pa, pb;
    int r;

    *cmp = 0;
    if (a == NULL || b == NULL || split(a, &pa) != 0 || split(b, &pb) != 0)
        return -1;
    if (pa.epoch != pb.epoch) {
        *cmp = pa.epoch > pb.epoch ? 1 : -1;
        return 0;
    }
    r = verrevcmp(pa.up, pa.up_end, pb.up, pb.up_end);
    if (r == 0)
        r = verrevcmp(pa.rev, pa.rev_end, pb.rev, pb.rev_end);
    *cmp = r > 0 ? 1 : r < 0 ? -1 : 0;
    return 0;
}
