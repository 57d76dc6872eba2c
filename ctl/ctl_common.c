/* ctl_common.c - qsctl's shared helpers: site opening, audited transactions,
 * actor names, safe text, tables, CSV and JSON output.
 *
 * Audited transactions are common/audit's (qs_audit_tx_*): the change and its
 * entry commit together and DIR/audit.head is written only after the
 * COMMIT, so an aborted change never leaves a head that claims an entry the
 * log does not have. ctl_site_* only adds the site's key, paths and clock.
 */
#include "ctl_common.h"
#include "qs_audit.h"
#include "qs_codec.h"
#include "qs_enroll.h"
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_log.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
ctl_format_parse(ctl_format_t *out, const char *text, unsigned allowed)
{
    static const struct { const char *name; ctl_format_t fmt; } names[] = {
        { "table", CTL_FORMAT_TABLE }, { "json", CTL_FORMAT_JSON }, { "csv", CTL_FORMAT_CSV },
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(text, names[i].name) == 0 && (allowed & (unsigned)names[i].fmt) != 0) {
            *out = names[i].fmt;
            return 0;
        }
    return -1;
}

int
ctl_site_open(ctl_site_t *site, const char *home, unsigned what, char *errmsg,
              size_t errmsg_len)
{
    memset(site, 0, sizeof *site);
    if (qs_site_paths(&site->paths, home, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_clock_init(&site->clock) != 0) {
        snprintf(errmsg, errmsg_len,
                 "QS_CLOCK_OFFSET_S is not an integer number of seconds: unset it");
        return -1;
    }
    if (qs_site_check(&site->paths, errmsg, errmsg_len) != 0)
        return -1;
    if (what & CTL_OPEN_SITEDB) {
        site->sitedb = qs_sitedb_open(site->paths.site_db, 0, errmsg, errmsg_len);
        if (site->sitedb == NULL)
            goto fail;
    }
    if (what & CTL_OPEN_STOREDB) {
        site->storedb = qs_storedb_open_site(site->paths.conf, site->paths.store_db,
                                             site->paths.home, 0, errmsg, errmsg_len);
        if (site->storedb == NULL)
            goto fail;
    }
    if ((what & CTL_OPEN_SITE_KEY) &&
        qs_secret_load(&site->site_key, site->paths.site_key, 0, errmsg, errmsg_len) != 0)
        goto fail;
    if ((what & CTL_OPEN_AUDIT_KEY) &&
        qs_secret_load(&site->audit_key, site->paths.audit_key, 0, errmsg, errmsg_len) != 0)
        goto fail;
    return 0;
fail:
    ctl_site_close(site);
    return -1;
}

int
ctl_home_missing(const char *cmd, const char *home)
{
    const char *env = getenv("QS_HOME");

    if ((home != NULL && *home != '\0') || (env != NULL && *env != '\0'))
        return 0;
    (void)ctl_usage_error(cmd, "no site home: pass --home DIR or set QS_HOME");
    return 1;
}

int
ctl_site_policy(ctl_site_t *site, qs_policy_t *policy, int *configured, const char *cmd)
{
    int64_t version;

    if (qs_sitedb_policy_get(site->sitedb, policy, configured, &version) == 0)
        return 0;
    ctl_error(cmd, "cannot read the policy (for k) from '%s'; 'qsctl policy history' "
              "shows the stored versions", site->paths.site_db);
    return -1;
}

void
ctl_site_close(ctl_site_t *site)
{
    ctl_site_rollback(site);
    qs_storedb_destroy(&site->storedb);
    qs_sitedb_destroy(&site->sitedb);
    if (site->site_key != NULL)
        sodium_free(site->site_key);
    if (site->audit_key != NULL)
        sodium_free(site->audit_key);
    site->site_key = NULL;
    site->audit_key = NULL;
}

int64_t
ctl_site_now(const ctl_site_t *site)
{
    return qs_clock_now_ms(&site->clock);
}

int
ctl_site_begin(ctl_site_t *site, char *errmsg, size_t errmsg_len)
{
    QS_ASSERT(site->sitedb != NULL && site->audit_key != NULL && site->tx == NULL);
    site->tx = qs_audit_tx_begin(site->sitedb, site->audit_key, site->paths.audit_head,
                                 errmsg, errmsg_len);
    return site->tx != NULL ? 0 : -1;
}

int
ctl_site_audit(ctl_site_t *site, const char *actor, const char *action, const cJSON *detail,
               char *errmsg, size_t errmsg_len)
{
    char *text;
    int rc;

    QS_ASSERT(site->tx != NULL);
    text = detail != NULL ? cJSON_PrintUnformatted(detail) : qs_strdup("{}");
    if (text == NULL)
        qs_fatal("out of memory rendering an audit detail");
    rc = qs_audit_tx_append(site->tx, ctl_site_now(site), actor, action, text, errmsg,
                            errmsg_len);
    free(text);
    return rc;
}

int
ctl_site_commit(ctl_site_t *site, char *errmsg, size_t errmsg_len)
{
    QS_ASSERT(site->tx != NULL);
    return qs_audit_tx_commit(&site->tx, errmsg, errmsg_len);
}

void
ctl_site_rollback(ctl_site_t *site)
{
    qs_audit_tx_rollback(&site->tx);
}

int
ctl_actor(char *out, size_t out_len, const char *as, char *errmsg, size_t errmsg_len)
{
    struct passwd *pw = getpwuid(geteuid());
    const char *sudo = getenv("SUDO_USER");
    char os[2 * CTL_MAX_ACTOR_BYTES + 16];

    if (as != NULL && !qs_text_printable(as, CTL_MAX_ACTOR_BYTES)) {
        snprintf(errmsg, errmsg_len, "--as must be 1..%u printable characters",
                 CTL_MAX_ACTOR_BYTES);
        return -1;
    }
    if (pw != NULL && pw->pw_name != NULL && qs_text_printable(pw->pw_name, CTL_MAX_ACTOR_BYTES))
        snprintf(os, sizeof os, "%s", pw->pw_name);
    else
        snprintf(os, sizeof os, "uid %lu", (unsigned long)geteuid());
    /* sudo sets SUDO_USER for root: who asked is worth recording, marked as sudo's word. */
    if (geteuid() == 0 && sudo != NULL && qs_text_printable(sudo, CTL_MAX_ACTOR_BYTES))
        snprintf(os + strlen(os), sizeof os - strlen(os), " (sudo %s)", sudo);
    if (as != NULL)
        snprintf(out, out_len, "%s as %s", os, as);
    else
        snprintf(out, out_len, "%s", os);
    return 0;
}

int
ctl_name_check(const char *name, char *errmsg, size_t errmsg_len)
{
    return qs_client_name_check(name, "--name", errmsg, errmsg_len);
}

void
ctl_getopt_reset(void)
{
    optind = 0;
    opterr = 0;
}

int
ctl_parse_long(long *out, const char *text, long min, long max)
{
    char *end = NULL;
    long v;

    if (text == NULL || *text == '\0' || *text == ' ' || *text == '+')
        return -1;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void
ctl_time_text(char out[CTL_TIME_BYTES], int64_t ms, int with_ms)
{
    if (qs_time_format_iso8601(out, CTL_TIME_BYTES, ms, with_ms) != 0)
        snprintf(out, CTL_TIME_BYTES, "%lld", (long long)ms);
}

void
ctl_error(const char *cmd, const char *fmt, ...)
{
    char msg[2 * CTL_ERRMSG_BYTES];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "qsctl %s: %s\n", cmd, msg);
}

int
ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[2 * CTL_ERRMSG_BYTES];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "qsctl %s: %s\nrun 'qsctl %s --help' for its options\n", cmd, msg, cmd);
    return CTL_EXIT_USAGE;
}

int
ctl_json_print(cJSON *doc)
{
    char *text;

    if (doc == NULL)
        return -1;
    text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (text == NULL)
        return -1;
    fputs(text, stdout);
    fputc('\n', stdout);
    cJSON_free(text);
    return 0;
}

int
ctl_output_done(const char *cmd)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        ctl_error(cmd, "cannot write output: %s", strerror(errno));
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t
utf8_seq(const unsigned char *p)
{
    size_t n;
    uint32_t cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void
ctl_text_safe(char *out, size_t out_len, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t o = 0;

    QS_ASSERT(out_len > 0);
    while (*p) {
        size_t n = utf8_seq(p);
        int escape = n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)) ||
                     (n == 2 && p[0] == 0xc2 && p[1] <= 0x9f);
        if (escape) {
            /* One byte at a time: \xHH for each byte of the bad sequence. */
            size_t count = n == 0 ? 1 : n;
            for (size_t i = 0; i < count; i++) {
                if (o + 4 >= out_len)
                    goto done;
                snprintf(out + o, out_len - o, "\\x%02x", p[i]);
                o += 4;
            }
            p += count;
            continue;
        }
        if (o + n >= out_len)
            break;
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
done:
    out[o] = '\0';
}

size_t
ctl_text_width(const char *text)
{
    size_t w = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xc0) != 0x80)
            w++;
    return w;
}

struct ctl_table {
    size_t ncols;
    size_t nrows;        /* including the header */
    size_t cap;
    char **cells;        /* nrows * ncols */
    unsigned char *right;
};

ctl_table_t *
ctl_table_new(size_t ncols, const char *const *headers)
{
    ctl_table_t *t = qs_calloc(1, sizeof *t);

    QS_ASSERT(ncols > 0);
    t->ncols = ncols;
    t->right = qs_calloc(ncols, 1);
    ctl_table_add(t, headers);
    return t;
}

void
ctl_table_align_right(ctl_table_t *t, size_t col)
{
    QS_ASSERT(col < t->ncols);
    t->right[col] = 1;
}

void
ctl_table_add(ctl_table_t *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = qs_realloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    for (size_t c = 0; c < t->ncols; c++) {
        const char *in = cells[c] ? cells[c] : "";
        size_t len = strlen(in) * 4 + 1;   /* worst case: every byte escaped */
        char *copy = qs_malloc(len);
        ctl_text_safe(copy, len, in);
        t->cells[t->nrows * t->ncols + c] = copy;
    }
    t->nrows++;
}

size_t
ctl_table_rows(const ctl_table_t *t)
{
    return t->nrows - 1;
}

void
ctl_table_print(const ctl_table_t *t, FILE *out)
{
    size_t *width = qs_calloc(t->ncols, sizeof *width);
    size_t line_cap = 1, len;
    char *line;

    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w = ctl_text_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    for (size_t c = 0; c < t->ncols; c++)
        line_cap += 2 + width[c] * 4;   /* a code point is at most 4 bytes */
    line = qs_malloc(line_cap);
    for (size_t r = 0; r < t->nrows; r++) {
        len = 0;
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            size_t pad = width[c] - ctl_text_width(cell), clen = strlen(cell);
            if (c > 0) {
                memcpy(line + len, "  ", 2);
                len += 2;
            }
            if (t->right[c]) {
                memset(line + len, ' ', pad);
                len += pad;
            }
            memcpy(line + len, cell, clen);
            len += clen;
            if (!t->right[c]) {
                memset(line + len, ' ', pad);
                len += pad;
            }
        }
        while (len > 0 && line[len - 1] == ' ')
            len--;
        line[len] = '\0';
        fputs(line, out);
        fputc('\n', out);
    }
    free(line);
    free(width);
}

void
ctl_table_destroy(ctl_table_t **t_p)
{
    ctl_table_t *t;

    if (t_p == NULL || *t_p == NULL)
        return;
    t = *t_p;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->right);
    free(t);
    *t_p = NULL;
}

static int
plain_number(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if ((*s < '0' || *s > '9') && *s != '.')
            return 0;
    return 1;
}

void
ctl_csv_row(FILE *out, size_t ncells, const char *const *cells)
{
    for (size_t i = 0; i < ncells; i++) {
        const char *raw = cells[i] ? cells[i] : "";
        size_t cap = strlen(raw) * 4 + 1;          /* every byte may become \xHH */
        char *cell = qs_malloc(cap);
        int formula, quote;

        /* Control characters and broken UTF-8 as \xHH, exactly as tables
         * print them: a CSV opened in a terminal or a spreadsheet runs no
         * escape sequence. */
        ctl_text_safe(cell, cap, raw);
        formula = strchr("=+-@", cell[0]) != NULL && cell[0] != '\0' && !plain_number(cell);
        quote = formula || strpbrk(cell, ",\"\r\n") != NULL ||
                    (cell[0] != '\0' && (cell[0] == ' ' || cell[strlen(cell) - 1] == ' '));
        if (i > 0)
            fputc(',', out);
        if (quote)
            fputc('"', out);
        if (formula)
            fputc('\'', out);
        for (const char *p = cell; *p; p++) {
            if (*p == '"')
                fputc('"', out);
            fputc(*p, out);
        }
        if (quote)
            fputc('"', out);
        free(cell);
    }
    fputc('\n', out);
}

/* Text of a JSON value for a CSV cell, in buf or a new string (*owned). */
static const char *
csv_cell(const cJSON *v, char *buf, size_t buf_len, char **owned)
{
    *owned = NULL;
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d)
            snprintf(buf, buf_len, "%lld", (long long)d);
        else
            snprintf(buf, buf_len, "%.17g", d);
        return buf;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        *owned = cJSON_PrintUnformatted(v);
        if (*owned == NULL)
            qs_fatal("out of memory printing CSV");
        return *owned;
    }
    return "";
}

void
ctl_csv_objects(FILE *out, const cJSON *rows, size_t ncols, const char *const *headers,
                const char *const *fields)
{
    const char **cells = qs_calloc(ncols, sizeof *cells);
    char (*bufs)[32] = qs_calloc(ncols, sizeof *bufs);
    char **owned = qs_calloc(ncols, sizeof *owned);
    const cJSON *row;

    ctl_csv_row(out, ncols, headers);
    cJSON_ArrayForEach(row, rows) {
        for (size_t i = 0; i < ncols; i++)
            cells[i] = csv_cell(cJSON_GetObjectItemCaseSensitive(row, fields[i]), bufs[i],
                                sizeof bufs[i], &owned[i]);
        ctl_csv_row(out, ncols, cells);
        for (size_t i = 0; i < ncols; i++) {
            cJSON_free(owned[i]);
            owned[i] = NULL;
        }
    }
    free(owned);
    free(bufs);
    free(cells);
}

static void
csv_flat_into(FILE *out, const cJSON *obj, const char *prefix)
{
    const cJSON *v;

    cJSON_ArrayForEach(v, obj) {
        char name[256], buf[32], *owned;
        const char *cells[2];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", v->string);
        if (cJSON_IsObject(v)) {
            csv_flat_into(out, v, name);
            continue;
        }
        cells[0] = name;
        cells[1] = csv_cell(v, buf, sizeof buf, &owned);
        ctl_csv_row(out, 2, cells);
        cJSON_free(owned);
    }
}

void
ctl_csv_flat(FILE *out, const cJSON *doc)
{
    static const char *const head[] = { "name", "value" };

    ctl_csv_row(out, 2, head);
    csv_flat_into(out, doc, "");
}
