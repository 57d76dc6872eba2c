/* test_csv.c - csv.c and sccmcsv.c: RFC 4180 records (quoting, CRLF, BOM, blank
 * lines, bad records with their line numbers) and the export's columns in any
 * order, extra columns ignored, both time forms. */
#include "qs_csv.h"
#include "qs_sccmcsv.h"
#include "qs_test.h"

#include <string.h>

/* The next record of c must be the n fields given, starting on line. */
static void
expect_record(qs_csv_t *c, uint64_t want_line, size_t want_n, const char *const *want)
{
    const char *const *f = NULL;
    const char *why = NULL;
    uint64_t line = 0;
    size_t n = 0;

    QS_CHECK_EQ_INT(qs_csv_next(c, &f, &n, &line, &why), 1);
    QS_CHECK_EQ_INT((int)line, (int)want_line);
    QS_CHECK_EQ_INT((int)n, (int)want_n);
    for (size_t i = 0; i < n && i < want_n; i++)
        QS_CHECK_STR(f[i], want[i]);
}

static int
next_rc(qs_csv_t *c, uint64_t *line, const char **why)
{
    const char *const *f;
    size_t n;

    return qs_csv_next(c, &f, &n, line, why);
}

static void
test_csv_quoting_crlf_bom_and_blank_lines(void)
{
    static const char text[] =
        "\xEF\xBB\xBF" "a,b,c\r\n"
        "\"x,1\",\"say \"\"hi\"\"\",\r\n"
        "\r\n"
        "\"two\nlines\",\"\",plain\"quote\n"
        "\n"
        "last,no,newline";
    qs_csv_t *c = qs_csv_new(text, sizeof text - 1);
    uint64_t line;
    const char *why;

    expect_record(c, 1, 3, (const char *const[]){ "a", "b", "c" });
    expect_record(c, 2, 3, (const char *const[]){ "x,1", "say \"hi\"", "" });
    expect_record(c, 4, 3, (const char *const[]){ "two\nlines", "", "plain\"quote" });
    expect_record(c, 7, 3, (const char *const[]){ "last", "no", "newline" });
    QS_CHECK_EQ_INT(next_rc(c, &line, &why), 0);
    QS_CHECK_EQ_INT(next_rc(c, &line, &why), 0);
    qs_csv_destroy(&c);
    QS_CHECK(c == NULL);
    qs_csv_destroy(&c);
}

static void
test_csv_bad_records_are_reported_and_skipped(void)
{
    static const char text[] =
        "a,b\n"
        "\"x\"y,b\n"
        "ok,1\n"
        "n\0l,2\n"
        "ok,3\n"
        "\"never closed,4\nstill,5\n";
    qs_csv_t *c = qs_csv_new(text, sizeof text - 1);
    const char *why = NULL;
    uint64_t line = 0;

    expect_record(c, 1, 2, (const char *const[]){ "a", "b" });
    QS_CHECK_EQ_INT(next_rc(c, &line, &why), -1);
    QS_CHECK_EQ_INT((int)line, 2);
    QS_CHECK(strstr(why, "closing quote") != NULL);
    expect_record(c, 3, 2, (const char *const[]){ "ok", "1" });
    QS_CHECK_EQ_INT(next_rc(c, &line, &why), -1);
    QS_CHECK_EQ_INT((int)line, 4);
    QS_CHECK(strstr(why, "NUL") != NULL);
    expect_record(c, 5, 2, (const char *const[]){ "ok", "3" });
    QS_CHECK_EQ_INT(next_rc(c, &line, &why), -1);
    QS_CHECK_EQ_INT((int)line, 6);
    QS_CHECK(strstr(why, "never closed") != NULL);
    QS_CHECK_EQ_INT(next_rc(c, &line, &why), 0);
    qs_csv_destroy(&c);
}

static void
test_csv_too_many_fields_is_a_bad_record(void)
{
    char text[3 * QS_CSV_MAX_FIELDS + 16];
    size_t len = 0;
    const char *why = NULL;
    uint64_t line = 0;
    qs_csv_t *c;

    for (size_t i = 0; i <= QS_CSV_MAX_FIELDS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "x,");
    text[len++] = '\n';
    c = qs_csv_new(text, len);
    QS_CHECK_EQ_INT(next_rc(c, &line, &why), -1);
    QS_CHECK(strstr(why, "fields") != NULL);
    qs_csv_destroy(&c);
}

static void
test_sccm_header_any_order_any_case_extra_columns(void)
{
    const char *hdr[] = { "ResourceID", " statetime ", "TOPICID", "StateID", "StateName",
                          "MachineName", "TopicType", "Domain" };
    const char *rec[] = { "17", "2026-10-01 12:34:56", "kb5031356", "2", "required",
                          "PC-1", "500", "CORP" };
    qs_sccm_header_t h;
    qs_sccm_row_t r;
    char err[256];

    QS_CHECK_EQ_INT(qs_sccm_header(&h, hdr, 8, err, sizeof err), 0);
    QS_CHECK_EQ_INT(h.col[QS_SCCM_MACHINE], 5);
    QS_CHECK_EQ_INT(h.col[QS_SCCM_STATE_TIME], 1);
    QS_CHECK_EQ_INT(qs_sccm_row(&r, &h, rec, 8, err, sizeof err), 0);
    QS_CHECK_STR(r.machine, "PC-1");
    QS_CHECK_STR(r.domain, "CORP");
    QS_CHECK_STR(r.topic_id, "kb5031356");
    QS_CHECK_EQ_INT((int)r.topic_type, 500);
    QS_CHECK_EQ_INT((int)r.state_id, 2);
    QS_CHECK(r.time_ms == 1790858096000LL);   /* 2026-10-01T12:34:56Z */
}

static void
test_sccm_header_names_missing_columns_or_is_no_header(void)
{
    const char *partial[] = { "MachineName", "TopicID", "Extra" };
    const char *data[] = { "PC-1", "CORP", "500" };
    const char *no_domain[] = { "MachineName", "TopicType", "TopicID", "StateID", "StateTime" };
    const char *rec[] = { "PC-1", "500", "KB1", "2", "2026-10-01T12:34:56.5Z" };
    qs_sccm_header_t h;
    qs_sccm_row_t r;
    char err[256];

    QS_CHECK_EQ_INT(qs_sccm_header(&h, partial, 3, err, sizeof err), -1);
    QS_CHECK(strstr(err, "TopicType, StateID, StateTime") != NULL);
    QS_CHECK(strstr(err, "Domain") == NULL);
    QS_CHECK_EQ_INT(qs_sccm_header(&h, data, 3, err, sizeof err), -2);
    QS_CHECK_EQ_INT(qs_sccm_header(&h, no_domain, 5, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_sccm_row(&r, &h, rec, 5, err, sizeof err), 0);
    QS_CHECK_STR(r.domain, "");
    QS_CHECK(r.time_ms == 1790858096500LL);
}

static void
test_sccm_row_errors_name_the_column(void)
{
    const char *hdr[] = { "MachineName", "Domain", "TopicType", "TopicID", "StateID",
                          "StateTime" };
    const char *bad_type[] = { "PC", "D", "5x", "KB1", "2", "2026-10-01 00:00:00" };
    const char *bad_state[] = { "PC", "D", "500", "KB1", "-1", "2026-10-01 00:00:00" };
    const char *bad_time[] = { "PC", "D", "500", "KB1", "2", "01/10/2026 00:00" };
    const char *local_time[] = { "PC", "D", "500", "KB1", "2", "2026-10-01T00:00:00" };
    const char *short_rec[] = { "PC", "D", "500" };
    qs_sccm_header_t h;
    qs_sccm_row_t r;
    char err[256];

    QS_CHECK_EQ_INT(qs_sccm_header(&h, hdr, 6, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_sccm_row(&r, &h, bad_type, 6, err, sizeof err), -1);
    QS_CHECK(strstr(err, "TopicType") != NULL);
    QS_CHECK_EQ_INT(qs_sccm_row(&r, &h, bad_state, 6, err, sizeof err), -1);
    QS_CHECK(strstr(err, "StateID") != NULL);
    QS_CHECK_EQ_INT(qs_sccm_row(&r, &h, bad_time, 6, err, sizeof err), -1);
    QS_CHECK(strstr(err, "StateTime") != NULL);
    QS_CHECK_EQ_INT(qs_sccm_row(&r, &h, local_time, 6, err, sizeof err), -1);
    QS_CHECK_EQ_INT(qs_sccm_row(&r, &h, short_rec, 3, err, sizeof err), -1);
    QS_CHECK(strstr(err, "TopicID: missing") != NULL);
}

int
main(void)
{
    QS_RUN(test_csv_quoting_crlf_bom_and_blank_lines);
    QS_RUN(test_csv_bad_records_are_reported_and_skipped);
    QS_RUN(test_csv_too_many_fields_is_a_bad_record);
    QS_RUN(test_sccm_header_any_order_any_case_extra_columns);
    QS_RUN(test_sccm_header_names_missing_columns_or_is_no_header);
    QS_RUN(test_sccm_row_errors_name_the_column);
    return qs_test_summary();
}
