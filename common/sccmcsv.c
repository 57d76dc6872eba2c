/* sccmcsv.c - the state-message export's header and rows, field by field.
 *
 * Column names compare ASCII case-insensitively after trimming blanks
 * (exports differ in case, and spreadsheets pad). Numbers are plain
 * decimals (a leading '+' or blanks are refused: an id that is not what it
 * seems is better skipped with its line than guessed). The SQL Server time
 * form is rewritten into the ISO form and parsed by the one ISO 8601
 * parser (qs_time_parse_iso8601).
 */
#include "qs_sccmcsv.h"
#include "qs_clock.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const column_names[QS_SCCM_COLUMNS] = {
    "MachineName", "Domain", "TopicType", "TopicID", "StateID", "StateTime",
};

const char *
qs_sccm_column_name(int column)
{
    return column >= 0 && column < QS_SCCM_COLUMNS ? column_names[column] : "?";
}

/* 1 when field, blanks trimmed, is name in any ASCII case. */
static int
names(const char *field, const char *name)
{
    size_t len;

    while (*field == ' ' || *field == '\t')
        field++;
    len = strlen(field);
    while (len > 0 && (field[len - 1] == ' ' || field[len - 1] == '\t'))
        len--;
    return len == strlen(name) && strncasecmp(field, name, len) == 0;
}

int
qs_sccm_header(qs_sccm_header_t *h, const char *const *fields, size_t n, char *errmsg,
               size_t errmsg_len)
{
    size_t found = 0, off = 0;

    for (int c = 0; c < QS_SCCM_COLUMNS; c++) {
        h->col[c] = -1;
        for (size_t i = 0; i < n && h->col[c] < 0; i++)
            if (names(fields[i], column_names[c]))
                h->col[c] = (int)i;
        found += h->col[c] >= 0;
    }
    if (found == 0) {
        snprintf(errmsg, errmsg_len, "the first line is not a header row: it names none of "
                 "the columns MachineName,Domain,TopicType,TopicID,StateID,StateTime");
        return -2;
    }
    errmsg[0] = '\0';
    for (int c = 0; c < QS_SCCM_COLUMNS; c++) {
        int w;
        if (h->col[c] >= 0 || c == QS_SCCM_DOMAIN)
            continue;
        w = snprintf(errmsg + off, errmsg_len - off, "%s%s", off == 0 ?
                     "the header row has no column " : ", ", column_names[c]);
        if (w < 0 || (size_t)w >= errmsg_len - off)
            break;
        off += (size_t)w;
    }
    return off == 0 ? 0 : -1;
}

/* A decimal in [0, max]. 0 or -1. */
static int
parse_u32(uint32_t *out, const char *text, uint32_t max)
{
    uint64_t v = 0;

    if (*text == '\0')
        return -1;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int
qs_sccm_time_parse(int64_t *out_ms, const char *text)
{
    char iso[40];
    size_t len = strlen(text);

    /* "YYYY-MM-DD HH:MM:SS" and ".fff": the ISO form with T and Z. */
    if (len >= 19 && len <= 23 && text[10] == ' ' && strchr(text, 'Z') == NULL &&
        strchr(text, 'T') == NULL) {
        memcpy(iso, text, len);
        iso[10] = 'T';
        iso[len] = 'Z';
        iso[len + 1] = '\0';
        return qs_time_parse_iso8601(out_ms, iso);
    }
    return qs_time_parse_iso8601(out_ms, text);
}

static const char *
field_of(const qs_sccm_header_t *h, int c, const char *const *fields, size_t n)
{
    if (h->col[c] < 0)
        return "";
    return (size_t)h->col[c] < n ? fields[h->col[c]] : NULL;
}

int
qs_sccm_row(qs_sccm_row_t *r, const qs_sccm_header_t *h, const char *const *fields, size_t n,
            char *errmsg, size_t errmsg_len)
{
    const char *v[QS_SCCM_COLUMNS];

    for (int c = 0; c < QS_SCCM_COLUMNS; c++) {
        v[c] = field_of(h, c, fields, n);
        if (v[c] == NULL) {
            snprintf(errmsg, errmsg_len, "column %s: missing (the line has %zu fields)",
                     column_names[c], n);
            return -1;
        }
    }
    r->machine = v[QS_SCCM_MACHINE];
    r->domain = v[QS_SCCM_DOMAIN];
    r->topic_id = v[QS_SCCM_TOPIC_ID];
    if (parse_u32(&r->topic_type, v[QS_SCCM_TOPIC_TYPE], UINT32_MAX) != 0) {
        snprintf(errmsg, errmsg_len, "column TopicType: not a number");
        return -1;
    }
    if (parse_u32(&r->state_id, v[QS_SCCM_STATE_ID], UINT32_MAX) != 0) {
        snprintf(errmsg, errmsg_len, "column StateID: not a number");
        return -1;
    }
    if (qs_sccm_time_parse(&r->time_ms, v[QS_SCCM_STATE_TIME]) != 0) {
        snprintf(errmsg, errmsg_len, "column StateTime: not a UTC time "
                 "(YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SSZ)");
        return -1;
    }
    return 0;
}
