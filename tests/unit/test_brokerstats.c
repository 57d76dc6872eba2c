/* test_brokerstats.c - brokerstats.c: format/parse round trip, malformed
 * files named, a missing file, save's mode and time stamp. */
#include "qs_brokerstats.h"
#include "qs_test.h"

#include <sys/stat.h>
#include <unistd.h>

static void
test_brokerstats_round_trip_and_add(void)
{
    qs_brokerstats_t a = { 0 }, b, sum;
    char err[256], *text;

    a.forwarded = 10;
    a.replies = 9;
    a.notice_revoked = 2;
    a.zap_admitted = 3;
    a.zap_refused = 4;
    text = qs_brokerstats_format(&a);
    QS_CHECK(text != NULL && strstr(text, QS_BROKERSTATS_REVOKED) != NULL);
    QS_CHECK_EQ_INT(qs_brokerstats_parse(&b, text, err, sizeof err), 0);
    QS_CHECK(qs_brokerstats_same(&a, &b));
    free(text);
    sum = a;
    qs_brokerstats_add(&sum, &b);
    QS_CHECK_EQ_INT(sum.forwarded, 20);
    QS_CHECK_EQ_INT(sum.zap_refused, 8);
    QS_CHECK(!qs_brokerstats_same(&sum, &a));
}

static void
test_brokerstats_parse_refuses_malformed_text(void)
{
    qs_brokerstats_t s;
    char err[256];

    QS_CHECK_EQ_INT(qs_brokerstats_parse(&s, "not json", err, sizeof err), -1);
    QS_CHECK(err[0] != '\0');
    QS_CHECK_EQ_INT(qs_brokerstats_parse(&s, "[1,2]", err, sizeof err), -1);
    QS_CHECK_EQ_INT(s.forwarded, 0);
}

static void
test_brokerstats_save_and_load(void)
{
    char dir[256], path[512], err[512];
    qs_brokerstats_t s = { 0 }, back;
    struct stat st;

    qs_test_tmpdir(dir, sizeof dir, "bstats");
    snprintf(path, sizeof path, "%s/%s", dir, QS_BROKERSTATS_FILE);
    QS_CHECK_EQ_INT(qs_brokerstats_load(&back, path, err, sizeof err), 1);
    s.forwarded = 7;
    QS_CHECK_EQ_INT(qs_brokerstats_save(&s, path, 1795608000000LL, err, sizeof err), 0);
    QS_CHECK_STR(s.updated_utc, "2026-11-25T12:00:00Z");
    QS_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    QS_CHECK_EQ_INT(qs_brokerstats_load(&back, path, err, sizeof err), 0);
    QS_CHECK_EQ_INT(back.forwarded, 7);
    {
        FILE *f = fopen(path, "w");
        QS_CHECK(f != NULL);
        if (f != NULL) {
            fputs("{\"forwarded\": \"many\"}", f);
            fclose(f);
        }
    }
    QS_CHECK_EQ_INT(qs_brokerstats_load(&back, path, err, sizeof err), -1);
    QS_CHECK(strstr(err, QS_BROKERSTATS_FILE) != NULL);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    QS_RUN(test_brokerstats_round_trip_and_add);
    QS_RUN(test_brokerstats_parse_refuses_malformed_text);
    QS_RUN(test_brokerstats_save_and_load);
    return qs_test_summary();
}
