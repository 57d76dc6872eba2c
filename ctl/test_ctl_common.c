/* test_ctl_common.c - qsctl's shared helpers: formats, actors, names, safe
 * text, tables and CSV. */
#include "test_ctl.h"

static void
capture(char *buf, size_t len, void (*fn)(FILE *, const void *), const void *arg)
{
    FILE *f = tmpfile();
    size_t n;

    fn(f, arg);
    rewind(f);
    n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void
test_format_parse_accepts_only_allowed_names(void)
{
    ctl_format_t f;

    QS_CHECK_EQ_INT(ctl_format_parse(&f, "json", CTL_FORMAT_TABLE | CTL_FORMAT_JSON), 0);
    QS_CHECK_EQ_INT(f, CTL_FORMAT_JSON);
    QS_CHECK_EQ_INT(ctl_format_parse(&f, "csv", CTL_FORMAT_TABLE | CTL_FORMAT_JSON), -1);
    QS_CHECK_EQ_INT(ctl_format_parse(&f, "JSON", CTL_FORMAT_JSON), -1);
    QS_CHECK_EQ_INT(ctl_format_parse(&f, "csv", CTL_FORMAT_CSV), 0);
    QS_CHECK_EQ_INT(f, CTL_FORMAT_CSV);
}

static void
test_actor_is_the_os_user_with_as_beside_it(void)
{
    char a[CTL_ACTOR_BYTES], want[CTL_ACTOR_BYTES], err[256];

    /* $USER is anyone's to set: it is never the actor. */
    setenv("USER", "plain", 1);
    unsetenv("SUDO_USER");
    QS_CHECK_EQ_INT(ctl_actor(a, sizeof a, NULL, err, sizeof err), 0);
    QS_CHECK_STR(a, ctl_test_actor(NULL));
    QS_CHECK(strcmp(a, "plain") != 0);
    QS_CHECK_EQ_INT(ctl_actor(a, sizeof a, "given", err, sizeof err), 0);
    QS_CHECK_STR(a, ctl_test_actor("given"));
    if (geteuid() == 0) {
        setenv("SUDO_USER", "sudoer", 1);
        QS_CHECK_EQ_INT(ctl_actor(a, sizeof a, "given", err, sizeof err), 0);
        snprintf(want, sizeof want, "%s (sudo sudoer) as given", ctl_test_actor(NULL));
        QS_CHECK_STR(a, want);
        setenv("SUDO_USER", "bad\x1bname", 1);     /* unusable: left out */
        QS_CHECK_EQ_INT(ctl_actor(a, sizeof a, NULL, err, sizeof err), 0);
        QS_CHECK_STR(a, ctl_test_actor(NULL));
        unsetenv("SUDO_USER");
    }
    QS_CHECK_EQ_INT(ctl_actor(a, sizeof a, "x\ny", err, sizeof err), -1);
    QS_CHECK_EQ_INT(ctl_actor(a, sizeof a,
                              "01234567890123456789012345678901234567890123456789012345678901234",
                              err, sizeof err), -1);
    QS_CHECK_EQ_INT(ctl_actor(a, sizeof a, "J\xc3\xb6rg", err, sizeof err), 0);
    QS_CHECK_EQ_INT(ctl_actor(a, sizeof a, "\xc3\x28", err, sizeof err), -1);
    setenv("USER", "tester", 1);
}

static void
test_name_check_rejects_blank_control_and_long_names(void)
{
    char err[256], longname[300];

    QS_CHECK_EQ_INT(ctl_name_check("PC-01.corp.example", err, sizeof err), 0);
    QS_CHECK_EQ_INT(ctl_name_check("", err, sizeof err), -1);
    QS_CHECK_EQ_INT(ctl_name_check("   ", err, sizeof err), -1);
    QS_CHECK_EQ_INT(ctl_name_check(" a", err, sizeof err), -1);
    QS_CHECK_EQ_INT(ctl_name_check("a ", err, sizeof err), -1);
    QS_CHECK_EQ_INT(ctl_name_check("a\tb", err, sizeof err), -1);
    QS_CHECK_EQ_INT(ctl_name_check("a\xc2\x9b" "b", err, sizeof err), -1);   /* C1 CSI */
    memset(longname, 'a', 256);
    longname[256] = '\0';
    QS_CHECK_EQ_INT(ctl_name_check(longname, err, sizeof err), -1);
    longname[255] = '\0';
    QS_CHECK_EQ_INT(ctl_name_check(longname, err, sizeof err), 0);
}

static void
test_parse_long_is_strict(void)
{
    long v;

    QS_CHECK_EQ_INT(ctl_parse_long(&v, "42", 1, 100), 0);
    QS_CHECK_EQ_INT(v, 42);
    QS_CHECK_EQ_INT(ctl_parse_long(&v, "0", 1, 100), -1);
    QS_CHECK_EQ_INT(ctl_parse_long(&v, "101", 1, 100), -1);
    QS_CHECK_EQ_INT(ctl_parse_long(&v, "4x", 1, 100), -1);
    QS_CHECK_EQ_INT(ctl_parse_long(&v, "", 1, 100), -1);
    QS_CHECK_EQ_INT(ctl_parse_long(&v, " 4", 1, 100), -1);
    QS_CHECK_EQ_INT(ctl_parse_long(&v, "+4", 1, 100), -1);
    QS_CHECK_EQ_INT(ctl_parse_long(&v, "99999999999999999999", 1, 100), -1);
}

static void
test_text_safe_escapes_terminal_controls(void)
{
    char out[128];

    ctl_text_safe(out, sizeof out, "plain KB500");
    QS_CHECK_STR(out, "plain KB500");
    ctl_text_safe(out, sizeof out, "a\x1b[31mb\n");
    QS_CHECK_STR(out, "a\\x1b[31mb\\x0a");
    ctl_text_safe(out, sizeof out, "\xc2\x9b" "2J");              /* C1 CSI */
    QS_CHECK_STR(out, "\\xc2\\x9b2J");
    ctl_text_safe(out, sizeof out, "caf\xc3\xa9 \xff");           /* valid é, invalid byte */
    QS_CHECK_STR(out, "caf\xc3\xa9 \\xff");
    ctl_text_safe(out, 6, "\x01\x02\x03");                        /* truncates whole escapes */
    QS_CHECK_STR(out, "\\x01");
    QS_CHECK_EQ_INT(ctl_text_width("caf\xc3\xa9"), 4);
}

static void
print_table(FILE *f, const void *arg)
{
    static const char *const head[] = { "NAME", "N", "NOTE" };
    static const char *const r1[] = { "a", "1", "x" };
    static const char *const r2[] = { "longer", "1234", "" };
    ctl_table_t *t = ctl_table_new(3, head);

    (void)arg;
    ctl_table_align_right(t, 1);
    ctl_table_add(t, r1);
    ctl_table_add(t, r2);
    QS_CHECK_EQ_INT(ctl_table_rows(t), 2);
    ctl_table_print(t, f);
    ctl_table_destroy(&t);
    QS_CHECK(t == NULL);
    ctl_table_destroy(&t);
}

static void
test_table_aligns_columns_without_trailing_blanks(void)
{
    char out[512];

    capture(out, sizeof out, print_table, NULL);
    QS_CHECK_STR(out,
        "NAME       N  NOTE\n"
        "a          1  x\n"
        "longer  1234\n");
}

static void
print_csv(FILE *f, const void *arg)
{
    static const char *const cells[] = {
        "plain", "with,comma", "with \"quote\"", "=SUM(A1)", "+1", "-3", "@x", " pad", "", NULL,
    };
    (void)arg;
    ctl_csv_row(f, sizeof cells / sizeof cells[0], cells);
}

static void
test_csv_quotes_and_defuses_formulas(void)
{
    char out[512];

    capture(out, sizeof out, print_csv, NULL);
    QS_CHECK_STR(out, "plain,\"with,comma\",\"with \"\"quote\"\"\",\"'=SUM(A1)\",+1,-3,"
                      "\"'@x\",\" pad\",,\n");
}

/* Hostile topic ids: a terminal escape, a line break that would forge a
 * row, a tab-led formula, broken UTF-8 - readable and inert in CSV, escaped
 * exactly as tables print them. */
static void
print_csv_hostile(FILE *f, const void *arg)
{
    static const char *const cells[] = {
        "EVIL\x1b[2J", "two\nrows", "\t=cmd|' /C calc'!A0", "-2+3", "bad\xc3\x28", "\x7f",
    };
    (void)arg;
    ctl_csv_row(f, sizeof cells / sizeof cells[0], cells);
}

static void
test_csv_escapes_control_characters_like_tables(void)
{
    char out[512];

    capture(out, sizeof out, print_csv_hostile, NULL);
    QS_CHECK_STR(out, "EVIL\\x1b[2J,two\\x0arows,\\x09=cmd|' /C calc'!A0,\"'-2+3\","
                      "bad\\xc3(,\\x7f\n");
    QS_CHECK(strchr(out, '\x1b') == NULL && strchr(out, '\t') == NULL);
}

int
main(void)
{
    ctl_test_init();
    QS_RUN(test_format_parse_accepts_only_allowed_names);
    QS_RUN(test_actor_is_the_os_user_with_as_beside_it);
    QS_RUN(test_name_check_rejects_blank_control_and_long_names);
    QS_RUN(test_parse_long_is_strict);
    QS_RUN(test_text_safe_escapes_terminal_controls);
    QS_RUN(test_table_aligns_columns_without_trailing_blanks);
    QS_RUN(test_csv_quotes_and_defuses_formulas);
    QS_RUN(test_csv_escapes_control_characters_like_tables);
    return qs_test_summary();
}
