/* test_deb822.c - unit tests of the deb822 parser (deb822.h), dpkg's version
 * comparison (debver.h) and the scan's topic ids (scan.h). When dpkg is
 * installed, a few hundred random version pairs are also compared by
 * `dpkg --compare-versions` and must agree.
 */
#include "deb822.h"
#include "debver.h"
#include "scan.h"

#include "qs_log.h"
#include "qs_test.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const fields[] = { "Package", "Version", "Description" };

typedef struct {
    int n;
    char pkg[8][64], ver[8][64], desc[8][256];
    uint64_t line[8];
    int stop_after;
} seen_t;

static int
on_para(void *ctx, const qs_deb822_para_t *p)
{
    seen_t *s = ctx;
    if (s->n < 8) {
        snprintf(s->pkg[s->n], 64, "%s", p->values[0] ? p->values[0] : "(none)");
        snprintf(s->ver[s->n], 64, "%s", p->values[1] ? p->values[1] : "(none)");
        snprintf(s->desc[s->n], 256, "%s", p->values[2] ? p->values[2] : "(none)");
        s->line[s->n] = p->line;
    }
    s->n++;
    return s->stop_after > 0 && s->n >= s->stop_after;
}

/* Parse text fed in pieces of `step` bytes (0: all at once). */
static qs_deb822_stats_t
parse(const char *text, size_t step, unsigned flags, seen_t *s)
{
    qs_deb822_t *p = qs_deb822_new(fields, 3, flags, on_para, s);
    size_t len = strlen(text);
    qs_deb822_stats_t st;

    if (step == 0)
        step = len ? len : 1;
    for (size_t off = 0; off < len; off += step)
        if (qs_deb822_feed(p, text + off, len - off < step ? len - off : step) != 0)
            break;
    (void)qs_deb822_finish(p);
    st = *qs_deb822_stats(p);
    qs_deb822_destroy(&p);
    QS_CHECK(p == NULL);
    return st;
}

static void
test_deb822_paragraphs_fields_and_continuations(void)
{
    static const char text[] =
        "# a comment\n"
        "Package: libc6\n"
        "Version:  2.36-9 \n"
        "description: GNU C Library\n"
        " second line\n"
        " .\n"
        "Other-Field: ignored\n"
        "\n\n   \n"
        "Package: vim\r\n"
        "Version: 2:9.0\r\n"
        "\t\n"
        "Package: last-no-newline\n"
        "Version: 1";
    for (size_t step = 0; step < 8; step++) {
        seen_t s = { 0 };
        qs_deb822_stats_t st = parse(text, step, 0, &s);
        QS_CHECK_EQ_INT(s.n, 3);
        QS_CHECK_EQ_INT(st.errors, 0);
        QS_CHECK_STR(s.pkg[0], "libc6");
        QS_CHECK_STR(s.ver[0], "2.36-9");
        QS_CHECK_STR(s.desc[0], "GNU C Library\nsecond line\n.");
        QS_CHECK_EQ_INT(s.line[0], 2);
        QS_CHECK_STR(s.pkg[1], "vim");
        QS_CHECK_STR(s.ver[1], "2:9.0");
        QS_CHECK_STR(s.desc[1], "(none)");
        QS_CHECK_STR(s.pkg[2], "last-no-newline");
        QS_CHECK_STR(s.ver[2], "1");
    }
}

static void
test_deb822_malformed_paragraphs_skipped_and_counted(void)
{
    static const char text[] =
        "Package: good1\nVersion: 1\n\n"
        "Package: nocolon\nthis line has no colon\nVersion: 2\n\n"
        " continuation before any field\nPackage: orphan\n\n"
        "Package: twice\nPackage: again\n\n"
        "Package: nul\nVersion: 1\0x\n\n"
        ": empty name\n\n"
        "Package: good2\nVersion: 3\n";
    seen_t s = { 0 };
    qs_deb822_t *p = qs_deb822_new(fields, 3, 0, on_para, &s);
    const qs_deb822_stats_t *st;

    /* sizeof - 1: the embedded NUL is part of the input. */
    QS_CHECK(qs_deb822_feed(p, text, sizeof text - 1) == 0);
    QS_CHECK(qs_deb822_finish(p) == 0);
    st = qs_deb822_stats(p);
    QS_CHECK_EQ_INT(s.n, 2);
    QS_CHECK_STR(s.pkg[0], "good1");
    QS_CHECK_STR(s.pkg[1], "good2");
    QS_CHECK_EQ_INT(st->errors, 5);
    QS_CHECK_EQ_INT(st->paragraphs, 2);
    QS_CHECK_STR(st->first_error, "line 5: a field line without ':'");
    qs_deb822_destroy(&p);
}

static void
test_deb822_overlong_line_and_value(void)
{
    size_t big = QS_DEB822_MAX_LINE + 100;
    char *text = qs_malloc(big + 200);
    seen_t s = { 0 };
    qs_deb822_stats_t st;
    int n;

    n = snprintf(text, 200, "Package: huge\nDescription: ");
    memset(text + n, 'x', big);
    snprintf(text + n + big, 200, "\n\nPackage: after\nVersion: 1\n");
    st = parse(text, 4096, 0, &s);
    QS_CHECK_EQ_INT(s.n, 1);
    QS_CHECK_STR(s.pkg[0], "after");
    QS_CHECK_EQ_INT(st.errors, 1);
    QS_CHECK(strstr(st.first_error, "longer than") != NULL);
    /* A value over QS_DEB822_MAX_VALUE in continuation lines. */
    memset(&s, 0, sizeof s);
    n = snprintf(text, 200, "Package: long\nDescription: start\n");
    for (int i = 0; i < 200; i++)
        n += snprintf(text + n, big + 200 - (size_t)n, " %.60s\n",
                      "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
    snprintf(text + n, big + 200 - (size_t)n, "\nPackage: ok\n");
    st = parse(text, 0, 0, &s);
    QS_CHECK_EQ_INT(s.n, 1);
    QS_CHECK_STR(s.pkg[0], "ok");
    QS_CHECK_EQ_INT(st.errors, 1);
    free(text);
}

static void
test_deb822_pgp_armour_and_stop(void)
{
    static const char text[] =
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"
        "Package: signed\nVersion: 1\n- Description: dash-escaped\n"
        "-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n-----END PGP SIGNATURE-----\n";
    seen_t s = { 0 };
    qs_deb822_stats_t st = parse(text, 3, QS_DEB822_PGP, &s);

    QS_CHECK_EQ_INT(s.n, 1);
    QS_CHECK_EQ_INT(st.errors, 0);
    QS_CHECK_STR(s.pkg[0], "signed");
    QS_CHECK_STR(s.desc[0], "dash-escaped");
    /* Without the flag the armour line is a malformed paragraph. */
    memset(&s, 0, sizeof s);
    st = parse(text, 0, 0, &s);
    QS_CHECK(st.errors >= 1);
    /* The callback stops the parse. */
    memset(&s, 0, sizeof s);
    s.stop_after = 1;
    st = parse("Package: a\n\nPackage: b\n\nPackage: c\n", 0, 0, &s);
    QS_CHECK_EQ_INT(s.n, 1);
}

static void
test_deb822_parse_file_errors(void)
{
    char err[256] = "";
    seen_t s = { 0 };
    QS_CHECK(qs_deb822_parse_file("/nonexistent/status", fields, 3, 0, on_para, &s, NULL, err,
                                  sizeof err) == -1);
    QS_CHECK(strstr(err, "/nonexistent/status") != NULL);
    QS_CHECK(qs_deb822_new(fields, QS_DEB822_MAX_FIELDS + 1, 0, on_para, &s) == NULL);
}

/* a < b, per dpkg. */
static const char *const ordered[][2] = {
    { "1.0", "1.1" },         { "1.0", "1.0-1" },        { "1.0~rc1", "1.0" },
    { "1.0~~", "1.0~" },      { "1.0~", "1.0" },         { "1.0", "1.0a" },
    { "1.0a", "1.0+" },       { "1.0+", "1.0.1" },       { "1:0.9", "2:0.1" },
    { "9.9", "1:0.1" },       { "1.2.3", "1.2.10" },     { "1.0-1", "1.0-2" },
    { "1.0-1", "1.0-1.1" },   { "1.0-9", "1.0-10" },     { "2.36-9+deb12u3", "2.36-9+deb12u4" },
    { "3.0.11-1~deb12u1", "3.0.13-1~deb12u1" },          { "1.0-1~bpo1", "1.0-1" },
    { "0.9", "1.0" },         { "1.0a", "1.0b" },        { "1.0", "1.0.0" },
    { "1.0-0", "1.0-0.1" },   { "a", "b" },              { "1.0-A", "1.0-a" },
};
/* Equal per dpkg. */
static const char *const same[][2] = {
    { "1.0", "1.0" }, { "0:1.0", "1.0" }, { "1.0-0", "1.0" }, { "1.01", "1.1" },
    { "1.0-00", "1.0" }, { "00:1.0", "1.0" }, { "1:1.0-1", "1:1.0-1" },
};

static void
test_debver_known_pairs(void)
{
    int cmp = 9;

    for (size_t i = 0; i < sizeof ordered / sizeof ordered[0]; i++) {
        QS_CHECK(qs_debver_compare(ordered[i][0], ordered[i][1], &cmp) == 0);
        if (cmp >= 0)
            fprintf(stderr, "  %s < %s: got %d\n", ordered[i][0], ordered[i][1], cmp);
        QS_CHECK(cmp < 0);
        QS_CHECK(qs_debver_compare(ordered[i][1], ordered[i][0], &cmp) == 0);
        QS_CHECK(cmp > 0);
    }
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        QS_CHECK(qs_debver_compare(same[i][0], same[i][1], &cmp) == 0);
        QS_CHECK_EQ_INT(cmp, 0);
    }
}

static void
test_debver_invalid_versions(void)
{
    static const char *const bad[] = { "", ":1.0", "a:1.0", "1:", "1.0-", "1 0", "1.0_1",
                                       "99999999999:1", "1.0-a:b", "1.0-1/2", "é" };
    int cmp = 5;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        QS_CHECK(qs_debver_valid(bad[i]) == -1);
        QS_CHECK(qs_debver_compare(bad[i], "1.0", &cmp) == -1);
        QS_CHECK_EQ_INT(cmp, 0);
    }
    QS_CHECK(qs_debver_valid(NULL) == -1);
    QS_CHECK(qs_debver_valid("1:2.0~rc1+dfsg-1.1~bpo12+1") == 0);
    QS_CHECK(qs_debver_valid("2:9.0.1378-2") == 0);
}

static void
random_version(char *out, size_t len)
{
    static const char alphabet[] = "0123456789.~+ab";
    size_t n = 0;

    if (randombytes_uniform(3) == 0)
        n += (size_t)snprintf(out, len, "%u:", randombytes_uniform(3));
    out[n++] = (char)('0' + randombytes_uniform(10));
    for (uint32_t k = randombytes_uniform(6); k > 0 && n + 2 < len; k--)
        out[n++] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    if (randombytes_uniform(2) == 0 && n + 4 < len) {
        out[n++] = '-';
        out[n++] = (char)('0' + randombytes_uniform(10));
        for (uint32_t k = randombytes_uniform(4); k > 0 && n + 2 < len; k--)
            out[n++] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    }
    out[n] = '\0';
}

/* dpkg --compare-versions A OP B: 0 true, 1 false, -1 could not run. */
static int
dpkg_says(const char *a, const char *op, const char *b)
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp("dpkg", "dpkg", "--compare-versions", a, op, b, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) > 1)
        return -1;
    return WEXITSTATUS(status);
}

static void
test_debver_agrees_with_dpkg(void)
{
    int checked = 0, disagree = 0;

    if (dpkg_says("1.0", "lt", "1.1") != 0) {
        printf("     (dpkg not available: cross-check skipped)\n");
        return;
    }
    for (int i = 0; i < 300; i++) {
        char a[40], b[40];
        int cmp, lt, eq;
        random_version(a, sizeof a);
        if (i % 5 == 0)
            snprintf(b, sizeof b, "%s", a);
        else
            random_version(b, sizeof b);
        if (qs_debver_compare(a, b, &cmp) != 0) {
            fprintf(stderr, "  generated an invalid pair: '%s' '%s'\n", a, b);
            disagree++;
            continue;
        }
        lt = dpkg_says(a, "lt", b);
        eq = dpkg_says(a, "eq", b);
        if (lt < 0 || eq < 0)
            continue;
        checked++;
        if ((lt == 0) != (cmp < 0) || (eq == 0) != (cmp == 0)) {
            fprintf(stderr, "  dpkg disagrees on '%s' vs '%s': ours %d\n", a, b, cmp);
            disagree++;
        }
    }
    printf("     (%d pairs cross-checked with dpkg)\n", checked);
    QS_CHECK(checked >= 250);
    QS_CHECK_EQ_INT(disagree, 0);
}

static void
test_scan_topic_ids_are_stable_and_bounded(void)
{
    char id[QS_MAX_TOPIC_ID_BYTES + 1], id2[QS_MAX_TOPIC_ID_BYTES + 1], longver[200];
    int64_t ms = 0;

    qs_scan_topic_id(id, "openssl", "3.0.13-1~deb12u1");
    QS_CHECK_STR(id, "deb:openssl:3.0.13-1~deb12u1");
    qs_scan_topic_id(id, "vim", "2:9.0.1378-2");
    QS_CHECK_STR(id, "deb:vim:2:9.0.1378-2");
    memset(longver, '1', sizeof longver - 1);
    longver[sizeof longver - 1] = '\0';
    qs_scan_topic_id(id, "pkg", longver);
    qs_scan_topic_id(id2, "pkg", longver);
    QS_CHECK_STR(id, id2);
    QS_CHECK(strncmp(id, "deb:#", 5) == 0);
    QS_CHECK_EQ_INT(strlen(id), 5 + 64);
    QS_CHECK(qs_scan_parse_duration("90", &ms) == 0 && ms == 90000);
    QS_CHECK(qs_scan_parse_duration("15m", &ms) == 0 && ms == 900000);
    QS_CHECK(qs_scan_parse_duration("1d", &ms) == 0 && ms == 86400000);
    QS_CHECK(qs_scan_parse_duration("31d", &ms) == -1);
    QS_CHECK(qs_scan_parse_duration("0", &ms) == -1);
    QS_CHECK(qs_scan_parse_duration("5x", &ms) == -1);
    QS_CHECK(qs_scan_parse_duration("-5", &ms) == -1);
    QS_CHECK(qs_scan_parse_duration("5mm", &ms) == -1);
}

int
main(void)
{
    qs_log_init("test_deb822", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 1;
    QS_RUN(test_deb822_paragraphs_fields_and_continuations);
    QS_RUN(test_deb822_malformed_paragraphs_skipped_and_counted);
    QS_RUN(test_deb822_overlong_line_and_value);
    QS_RUN(test_deb822_pgp_armour_and_stop);
    QS_RUN(test_deb822_parse_file_errors);
    QS_RUN(test_debver_known_pairs);
    QS_RUN(test_debver_invalid_versions);
    QS_RUN(test_debver_agrees_with_dpkg);
    QS_RUN(test_scan_topic_ids_are_stable_and_bounded);
    return qs_test_summary();
}
