/* test_stats.c - DIR/broker.stats: the JSON round trip, strict reading, 0600 writes.
 *
 * qs-broker writes its counters with qs_brokerstats_save and continues from
 * qs_brokerstats_load at start; qsctl stats reads the same file. These tests
 * pin the format (the keys qsctl and operators rely on), that whatever is
 * written reads back equal, that a malformed file is refused with a reason
 * (the broker then starts from 0), and that the file is private.
 */
#include "qs_test.h"

#include "qs_brokerstats.h"
#include "qs_clock.h"
#include "qs_fsutil.h"
#include "qs_log.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static qs_brokerstats_t
sample(void)
{
    qs_brokerstats_t s;

    memset(&s, 0, sizeof s);
    s.forwarded = 1234;
    s.replies = 1230;
    s.notice_bad_frames = 3;
    s.notice_revoked = 2;
    s.notice_retry_later = 17;
    s.zap_admitted = 40;
    s.zap_refused = 5000000000ull;   /* beyond 32 bits */
    snprintf(s.updated_utc, sizeof s.updated_utc, "2026-11-25T12:00:00Z");
    return s;
}

static void
test_format_has_the_documented_keys(void)
{
    qs_brokerstats_t s = sample();
    char *text = qs_brokerstats_format(&s);
    cJSON *doc, *notices;

    QS_CHECK_STR(text, "{\"forwarded\":1234,\"replies\":1230,\"notices\":{"
                       "\"BAD_ENVELOPE/BAD_FRAMES\":3,\"REVOKED/CLIENT_REVOKED\":2,"
                       "\"RETRY_LATER/STORE_BUSY\":17},\"zap_admitted\":40,"
                       "\"zap_refused\":5000000000,\"cpu_user_seconds\":0,"
                       "\"cpu_system_seconds\":0,\"updated_utc\":\"2026-11-25T12:00:00Z\"}\n");
    doc = cJSON_Parse(text);
    QS_CHECK(doc != NULL);
    notices = cJSON_GetObjectItemCaseSensitive(doc, "notices");
    QS_CHECK(cJSON_IsObject(notices));
    QS_CHECK_EQ_INT(cJSON_GetArraySize(doc), 8);
    QS_CHECK_EQ_INT(cJSON_GetArraySize(notices), 3);
    cJSON_Delete(doc);
    free(text);
}

static void
test_round_trip(void)
{
    qs_brokerstats_t s = sample(), back, zero;
    char err[256] = "";
    char *text = qs_brokerstats_format(&s);

    QS_CHECK_EQ_INT(qs_brokerstats_parse(&back, text, err, sizeof err), 0);
    QS_CHECK(qs_brokerstats_same(&s, &back));
    QS_CHECK_STR(back.updated_utc, s.updated_utc);
    free(text);

    /* Never written: no updated_utc; still reads back. */
    memset(&zero, 0, sizeof zero);
    text = qs_brokerstats_format(&zero);
    QS_CHECK(strstr(text, "updated_utc") == NULL);
    QS_CHECK_EQ_INT(qs_brokerstats_parse(&back, text, err, sizeof err), 0);
    QS_CHECK(qs_brokerstats_same(&zero, &back));
    QS_CHECK_STR(back.updated_utc, "");
    free(text);
}

static void
test_parse_is_lenient_about_unknown_and_missing_keys(void)
{
    qs_brokerstats_t s;
    char err[256] = "";

    /* A newer broker's extra keys are ignored; a missing counter is 0. */
    QS_CHECK_EQ_INT(qs_brokerstats_parse(&s, "{\"forwarded\":5,\"future\":[1,2],"
                                             "\"notices\":{\"NEW/KIND\":9,"
                                             "\"REVOKED/CLIENT_REVOKED\":4}}",
                                         err, sizeof err), 0);
    QS_CHECK_EQ_INT(s.forwarded, 5);
    QS_CHECK_EQ_INT(s.notice_revoked, 4);
    QS_CHECK_EQ_INT(s.notice_bad_frames, 0);
    QS_CHECK_EQ_INT(s.replies, 0);
    QS_CHECK_EQ_INT(qs_brokerstats_parse(&s, " {} \n", err, sizeof err), 0);
}

static void
test_parse_refuses_malformed(void)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "42",
        "null",
        "{\"forwarded\":1",                              /* truncated */
        "{\"forwarded\":1} trailing",
        "{\"forwarded\":-1}",
        "{\"forwarded\":1.5}",
        "{\"forwarded\":\"12\"}",
        "{\"replies\":1e300}",
        "{\"zap_refused\":true}",
        "{\"notices\":[1]}",
        "{\"notices\":{\"BAD_ENVELOPE/BAD_FRAMES\":-3}}",
        "{\"updated_utc\":\"yesterday\"}",
        "{\"updated_utc\":\"2026-11-25T12:00:00\"}",   /* no Z: not UTC */
        "{\"updated_utc\":7}",
    };
    qs_brokerstats_t s;
    char err[256];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        memset(&s, 0xff, sizeof s);
        if (qs_brokerstats_parse(&s, bad[i], err, sizeof err) != -1)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        QS_CHECK(err[0] != '\0');
        QS_CHECK_EQ_INT(s.forwarded, 0);      /* zeroed on failure */
        QS_CHECK_EQ_INT(s.zap_refused, 0);
    }
}

static void
test_add_and_same(void)
{
    qs_brokerstats_t a = sample(), b = sample();

    QS_CHECK(qs_brokerstats_same(&a, &b));
    snprintf(b.updated_utc, sizeof b.updated_utc, "2027-01-01T00:00:00Z");
    QS_CHECK(qs_brokerstats_same(&a, &b));       /* the time is not a counter */
    b.notice_retry_later++;
    QS_CHECK(!qs_brokerstats_same(&a, &b));
    qs_brokerstats_add(&a, &b);
    QS_CHECK_EQ_INT(a.forwarded, 2468);
    QS_CHECK_EQ_INT(a.notice_retry_later, 35);
    QS_CHECK_STR(a.updated_utc, "2026-11-25T12:00:00Z");
}

static void
test_save_and_load(void)
{
    char dir[256], path[512], err[600] = "";
    qs_brokerstats_t s = sample(), back;
    struct stat st;
    int64_t ms = 0;
    char *text = NULL;
    size_t len = 0;

    qs_test_tmpdir(dir, sizeof dir, "brokerstats");
    snprintf(path, sizeof path, "%s/%s", dir, QS_BROKERSTATS_FILE);

    /* Missing: 1, zeros, no error. */
    memset(&back, 0xff, sizeof back);
    QS_CHECK_EQ_INT(qs_brokerstats_load(&back, path, err, sizeof err), 1);
    QS_CHECK_EQ_INT(back.forwarded, 0);

    umask(022);   /* the file must be 0600 whatever the umask */
    QS_CHECK_EQ_INT(qs_time_parse_iso8601(&ms, "2026-12-01T08:30:00Z"), 0);
    QS_CHECK_EQ_INT(qs_brokerstats_save(&s, path, ms + 250, err, sizeof err), 0);
    QS_CHECK_STR(s.updated_utc, "2026-12-01T08:30:00Z");
    QS_CHECK(stat(path, &st) == 0);
    QS_CHECK_EQ_INT(st.st_mode & 0777, 0600);
    QS_CHECK_EQ_INT(qs_brokerstats_load(&back, path, err, sizeof err), 0);
    QS_CHECK(qs_brokerstats_same(&s, &back));
    QS_CHECK_STR(back.updated_utc, "2026-12-01T08:30:00Z");

    /* Only counts and a time: no hex key material in the file. */
    QS_CHECK_EQ_INT(qs_fs_read_small(&text, &len, path, 4096, 0, err, sizeof err), 0);
    for (size_t i = 0, run = 0; text != NULL && i < len; i++) {
        int hex = (text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f');
        run = hex ? run + 1 : 0;
        QS_CHECK(run < 16);
    }
    free(text);

    /* Malformed: -1 with the path and the reason, zeros. */
    QS_CHECK_EQ_INT(qs_fs_write_private(path, "{\"forwarded\":", 13, err, sizeof err), 0);
    err[0] = '\0';
    QS_CHECK_EQ_INT(qs_brokerstats_load(&back, path, err, sizeof err), -1);
    QS_CHECK(strstr(err, QS_BROKERSTATS_FILE) != NULL && strstr(err, "malformed") != NULL);
    QS_CHECK_EQ_INT(back.forwarded, 0);
    QS_CHECK_EQ_INT(qs_fs_write_private(path, "{}\0{}", 5, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_brokerstats_load(&back, path, err, sizeof err), -1);

    /* Too large to be ours. */
    {
        size_t big = QS_BROKERSTATS_MAX_BYTES + 1;
        char *junk = qs_malloc(big);
        memset(junk, ' ', big);
        junk[0] = '{';
        junk[big - 1] = '}';
        QS_CHECK_EQ_INT(qs_fs_write_private(path, junk, big, err, sizeof err), 0);
        QS_CHECK_EQ_INT(qs_brokerstats_load(&back, path, err, sizeof err), -1);
        free(junk);
    }

    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    qs_log_init("test_stats", QS_LOG_ERROR);
    QS_RUN(test_format_has_the_documented_keys);
    QS_RUN(test_round_trip);
    QS_RUN(test_parse_is_lenient_about_unknown_and_missing_keys);
    QS_RUN(test_parse_refuses_malformed);
    QS_RUN(test_add_and_same);
    QS_RUN(test_save_and_load);
    return qs_test_summary();
}
