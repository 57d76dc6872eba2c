/* test_brokerstats.c - brokerstats.c: format/parse round trip, malformed
 * files named, a missing file, save's mode and time stamp, the process's
 * CPU seconds. */
#include "qs_brokerstats.h"
#include "qs_storestats.h"
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

/* Several brokers (qs-broker --instance N): broker.stats and broker-N.stats
 * add up, in any combination; a malformed one is named and -1. */
static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    QS_CHECK(f != NULL);
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static void
test_brokerstats_load_all_adds_every_instance(void)
{
    char dir[256], p1[512], p3[512], err[512];
    qs_brokerstats_t all;

    qs_test_tmpdir(dir, sizeof dir, "bstats_all");
    snprintf(p1, sizeof p1, "%s/%s", dir, QS_BROKERSTATS_FILE);
    snprintf(p3, sizeof p3, "%s/broker-3.stats", dir);
    QS_CHECK_EQ_INT(qs_brokerstats_load_all(&all, p1, err, sizeof err), 1);
    write_text(p3, "{\"forwarded\":5,\"replies\":4,\"cpu_user_seconds\":1.5,"
                   "\"updated_utc\":\"2026-11-25T12:00:00Z\"}");
    QS_CHECK_EQ_INT(qs_brokerstats_load_all(&all, p1, err, sizeof err), 0);
    QS_CHECK_EQ_INT(all.forwarded, 5);
    write_text(p1, "{\"forwarded\":7,\"replies\":7,\"cpu_user_seconds\":0.5,"
                   "\"updated_utc\":\"2026-11-25T11:00:00Z\"}");
    QS_CHECK_EQ_INT(qs_brokerstats_load_all(&all, p1, err, sizeof err), 0);
    QS_CHECK_EQ_INT(all.forwarded, 12);
    QS_CHECK_EQ_INT(all.replies, 11);
    QS_CHECK(all.cpu_user_seconds > 1.99 && all.cpu_user_seconds < 2.01);
    QS_CHECK_STR(all.updated_utc, "2026-11-25T12:00:00Z");
    write_text(p3, "{\"forwarded\":\"many\"}");
    QS_CHECK_EQ_INT(qs_brokerstats_load_all(&all, p1, err, sizeof err), -1);
    QS_CHECK(strstr(err, "broker-3.stats") != NULL);
    unlink(p1);
    unlink(p3);
    rmdir(dir);
}

/* Spend some CPU, so that this process's user time is surely above 0. */
static void
burn_cpu(void)
{
    double u = 0.0, sys = 0.0;
    volatile uint64_t x = 1;

    for (int round = 0; round < 1000 && u < 0.002; round++) {
        for (int i = 0; i < 1000000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        qs_procstat_cpu(&u, &sys);
    }
}

/* broker.stats carries the writing process's CPU seconds, user and system
 * (what /metrics shows as qs_broker_cpu_seconds_total{mode}): save sets
 * them, the text holds them, parse reads them back; they are no counter
 * (not compared, not added: a restart starts them at 0); a file from an
 * older broker has none (0); anything but seconds is refused. */
static void
test_brokerstats_cpu_seconds(void)
{
    char dir[256], path[512], err[512], *text;
    qs_brokerstats_t a = { 0 }, b, sum;

    a.forwarded = 3;
    a.cpu_user_seconds = 1.5;
    a.cpu_system_seconds = 0.25;
    text = qs_brokerstats_format(&a);
    QS_CHECK(strstr(text, "\"cpu_user_seconds\":1.5") != NULL);
    QS_CHECK(strstr(text, "\"cpu_system_seconds\":0.25") != NULL);
    QS_CHECK_EQ_INT(qs_brokerstats_parse(&b, text, err, sizeof err), 0);
    free(text);
    QS_CHECK(b.cpu_user_seconds == 1.5 && b.cpu_system_seconds == 0.25);
    b.cpu_user_seconds = 9.0;
    QS_CHECK(qs_brokerstats_same(&a, &b));
    sum = a;
    qs_brokerstats_add(&sum, &b);
    QS_CHECK(sum.cpu_user_seconds == 1.5 && sum.forwarded == 6);

    QS_CHECK_EQ_INT(qs_brokerstats_parse(&b, "{\"forwarded\":1}", err, sizeof err), 0);
    QS_CHECK(b.cpu_user_seconds == 0.0 && b.cpu_system_seconds == 0.0);
    QS_CHECK_EQ_INT(qs_brokerstats_parse(&b, "{\"cpu_user_seconds\":-1}", err, sizeof err), -1);
    QS_CHECK(strstr(err, "cpu_user_seconds") != NULL);
    QS_CHECK_EQ_INT(qs_brokerstats_parse(&b, "{\"cpu_system_seconds\":\"x\"}", err, sizeof err),
                    -1);

    burn_cpu();
    qs_test_tmpdir(dir, sizeof dir, "bstats-cpu");
    snprintf(path, sizeof path, "%s/%s", dir, QS_BROKERSTATS_FILE);
    a.cpu_user_seconds = a.cpu_system_seconds = 0.0;
    QS_CHECK_EQ_INT(qs_brokerstats_save(&a, path, 1795608000000LL, err, sizeof err), 0);
    QS_CHECK(a.cpu_user_seconds > 0.0);
    QS_CHECK(qs_test_file_contains(path, "\"cpu_user_seconds\":", 19));
    QS_CHECK(qs_test_file_contains(path, "\"cpu_system_seconds\":", 21));
    QS_CHECK_EQ_INT(qs_brokerstats_load(&b, path, err, sizeof err), 0);
    QS_CHECK(b.cpu_user_seconds == a.cpu_user_seconds &&
             b.cpu_system_seconds == a.cpu_system_seconds);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    QS_RUN(test_brokerstats_round_trip_and_add);
    QS_RUN(test_brokerstats_parse_refuses_malformed_text);
    QS_RUN(test_brokerstats_save_and_load);
    QS_RUN(test_brokerstats_cpu_seconds);
    QS_RUN(test_brokerstats_load_all_adds_every_instance);
    return qs_test_summary();
}
