/* endpoints.c - splitting and joining lists of broker endpoints; see qs_endpoints.h.
 *
 * The separators are blanks and commas: neither appears in a tcp:// address
 * quietstate accepts, and both read well in an INI value. Duplicates are
 * refused because two entries for one broker would make a producer "fail
 * over" to the broker it just gave up on.
 */
#include "qs_endpoints.h"

#include <stdio.h>
#include <string.h>

static int
is_sep(char c)
{
    return c == ' ' || c == '\t' || c == ',';
}

/* One endpoint of len bytes at s: a known transport, printable, no comment characters. */
static int
one_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == ';' || c == '#')
            return 0;
    }
    return (len > 6 && (strncmp(s, "tcp://", 6) == 0 || strncmp(s, "ipc://", 6) == 0)) ||
           (len > 9 && strncmp(s, "inproc://", 9) == 0);
}

int
qs_endpoints_parse(qs_endpoints_t *out, const char *list, char *errmsg, size_t errmsg_len)
{
    const char *p = list;

    out->n = 0;
    if (list == NULL || strlen(list) >= QS_MAX_ENDPOINT_BYTES) {
        snprintf(errmsg, errmsg_len, "the endpoint list is longer than %u bytes",
                 QS_MAX_ENDPOINT_BYTES - 1);
        return -1;
    }
    for (;;) {
        size_t len;

        while (is_sep(*p))
            p++;
        if (*p == '\0')
            break;
        len = strcspn(p, " \t,");
        if (!one_ok(p, len)) {
            snprintf(errmsg, errmsg_len, "'%.*s' is not a tcp://, ipc:// or inproc:// endpoint "
                     "(without ';', '#' or control characters)", (int)(len > 64 ? 64 : len), p);
            return -1;
        }
        if (out->n == QS_MAX_BROKERS) {
            snprintf(errmsg, errmsg_len, "more than %u endpoints in one list", QS_MAX_BROKERS);
            return -1;
        }
        memcpy(out->ep[out->n], p, len);
        out->ep[out->n][len] = '\0';
        for (size_t i = 0; i < out->n; i++) {
            if (strcmp(out->ep[i], out->ep[out->n]) == 0) {
                snprintf(errmsg, errmsg_len, "'%.64s' is listed twice", out->ep[i]);
                return -1;
            }
        }
        out->n++;
        p += len;
    }
    if (out->n == 0) {
        snprintf(errmsg, errmsg_len, "no endpoint given");
        return -1;
    }
    return 0;
}

int
qs_endpoints_join(char *out, size_t out_cap, const qs_endpoints_t *eps)
{
    size_t used = 0;

    if (out_cap == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < eps->n; i++) {
        int n = snprintf(out + used, out_cap - used, "%s%s", i ? " " : "", eps->ep[i]);
        if (n < 0 || (size_t)n >= out_cap - used) {
            out[0] = '\0';
            return -1;
        }
        used += (size_t)n;
    }
    return 0;
}
