/* fuzz_csv.c - libFuzzer target for the CSV reader and the model system's
 * export columns (qs_csv_next, qs_sccm_header, qs_sccm_row,
 * qs_sccm_time_parse): what `qsctl import` runs over a file.
 *
 * The input is the file. Every record read has 1..QS_CSV_MAX_FIELDS fields
 * and starts on a line no earlier than the previous one (and on a line that
 * exists); a bad record has a reason. A record, written again with every
 * field quoted (RFC 4180), reads back as the same fields on line 1. The
 * first record is mapped as the header; when it is one, every other record
 * is mapped as a row, and an accepted StateTime parses again to the same ms.
 */
#include "fuzz_util.h"
#include "qs_csv.h"
#include "qs_sccmcsv.h"

#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* The fields quoted into out (malloc'd), then read back: same fields. */
static void
check_round_trip(const char *const *f, size_t n)
{
    size_t cap = 4, len = 0;
    const char *const *g = NULL;
    const char *why = NULL;
    uint64_t line = 0;
    size_t m = 0;
    char *out;
    qs_csv_t *c;

    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(f[i]) + 3;
    out = malloc(cap);
    FUZZ_CHECK(out != NULL);
    for (size_t i = 0; i < n; i++) {
        out[len++] = '"';
        for (const char *p = f[i]; *p != '\0'; p++) {
            if (*p == '"')
                out[len++] = '"';
            out[len++] = *p;
        }
        out[len++] = '"';
        out[len++] = i + 1 < n ? ',' : '\n';
    }
    c = qs_csv_new(out, len);
    /* Quoting adds bytes: a record near the limit may not fit again. */
    if (qs_csv_next(c, &g, &m, &line, &why) == 1) {
        FUZZ_CHECK(line == 1 && m == n);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(strcmp(f[i], g[i]) == 0);
    } else {
        FUZZ_CHECK(len > QS_CSV_MAX_RECORD_BYTES / 2);
    }
    qs_csv_destroy(&c);
    free(out);
}

static void
check_row(const qs_sccm_header_t *h, const char *const *f, size_t n)
{
    qs_sccm_row_t r;
    char err[256];
    int64_t again = 0;

    err[0] = '\0';
    if (qs_sccm_row(&r, h, f, n, err, sizeof err) != 0) {
        FUZZ_CHECK(strncmp(err, "column ", 7) == 0);
        return;
    }
    FUZZ_CHECK(r.machine != NULL && r.domain != NULL && r.topic_id != NULL);
    FUZZ_CHECK(qs_sccm_time_parse(&again, f[h->col[QS_SCCM_STATE_TIME]]) == 0);
    FUZZ_CHECK(again == r.time_ms);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qs_csv_t *c = qs_csv_new((const char *)data, size);
    const char *const *f;
    const char *why;
    uint64_t line = 0, last = 0, lines = 1;
    qs_sccm_header_t h;
    int header = -3, rc;
    size_t n, records = 0;
    char err[512];

    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    while ((rc = qs_csv_next(c, &f, &n, &line, &why)) != 0) {
        FUZZ_CHECK(line >= 1 && line >= last && line <= lines);
        FUZZ_CHECK(++records <= size);
        last = line;
        if (rc < 0) {
            FUZZ_CHECK(why != NULL && why[0] != '\0');
            continue;
        }
        FUZZ_CHECK(n >= 1 && n <= QS_CSV_MAX_FIELDS);
        check_round_trip(f, n);
        if (header == -3) {
            header = qs_sccm_header(&h, f, n, err, sizeof err);
            FUZZ_CHECK(header == 0 || (header < 0 && err[0] != '\0'));
        } else if (header == 0) {
            check_row(&h, f, n);
        }
    }
    qs_csv_destroy(&c);
    return 0;
}
