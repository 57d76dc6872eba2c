/* test_storestats.c - storestats.c: format/parse round trip, strict reading,
 * and the process's CPU seconds by mode that save writes (what /metrics
 * shows as qs_store_cpu_seconds_total{mode}). */
#include "qs_storestats.h"
#include "qs_test.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static qs_storestats_t
sample(void)
{
    qs_storestats_t s = { 0 };

    qs_storestats_observe(&s, 0.004, 3, 1);
    qs_storestats_observe(&s, 0.3, 120, 1);
    qs_storestats_observe(&s, 1.0, 7, 0);
    s.cpu_seconds = 2.5;
    s.cpu_user_seconds = 2.0;
    s.cpu_system_seconds = 0.5;
    s.rss_bytes = 4096;
    s.pid = 42;
    return s;
}

static void
test_storestats_round_trip(void)
{
    qs_storestats_t a = sample(), b;
    char err[256], *text = qs_storestats_format(&a);

    QS_CHECK(strstr(text, "\"cpu_user_seconds\":2") != NULL);
    QS_CHECK(strstr(text, "\"cpu_system_seconds\":0.5") != NULL);
    QS_CHECK_EQ_INT(qs_storestats_parse(&b, text, err, sizeof err), 0);
    free(text);
    QS_CHECK_EQ_INT(b.commits, 2);
    QS_CHECK_EQ_INT(b.commit_failures, 1);
    QS_CHECK_EQ_INT(b.group_sum, 123);
    QS_CHECK(b.cpu_seconds == 2.5 && b.cpu_user_seconds == 2.0 && b.cpu_system_seconds == 0.5);
    QS_CHECK_EQ_INT(b.pid, 42);
}

/* A file written before the two modes existed still reads (as 0); a bad
 * value of either is refused and named. */
static void
test_storestats_cpu_modes_optional_but_checked(void)
{
    qs_storestats_t a = sample(), b;
    char err[256], *text, *cut, bad[4096];

    a.cpu_user_seconds = a.cpu_system_seconds = 0.0;
    text = qs_storestats_format(&a);
    cut = strstr(text, ",\"cpu_user_seconds\"");
    QS_CHECK(cut != NULL);
    if (cut == NULL) {
        free(text);
        return;
    }
    strcpy(cut, "}");
    QS_CHECK_EQ_INT(qs_storestats_parse(&b, text, err, sizeof err), 0);
    QS_CHECK(b.cpu_user_seconds == 0.0 && b.cpu_system_seconds == 0.0 && b.cpu_seconds == 2.5);
    snprintf(bad, sizeof bad, "%.*s,\"cpu_user_seconds\":-3}", (int)(cut - text), text);
    QS_CHECK_EQ_INT(qs_storestats_parse(&b, bad, err, sizeof err), -1);
    QS_CHECK(strstr(err, "cpu_user_seconds") != NULL);
    snprintf(bad, sizeof bad, "%.*s,\"cpu_system_seconds\":\"1\"}", (int)(cut - text), text);
    QS_CHECK_EQ_INT(qs_storestats_parse(&b, bad, err, sizeof err), -1);
    QS_CHECK(strstr(err, "cpu_system_seconds") != NULL);
    free(text);
    QS_CHECK_EQ_INT(qs_storestats_parse(&b, "{\"commits\":1}", err, sizeof err), -1);
}

/* save fills in this process's CPU: user and system, adding up to cpu_seconds. */
static void
test_storestats_save_writes_cpu_modes(void)
{
    char dir[256], path[512], err[512];
    qs_storestats_t s = { 0 }, back;
    volatile uint64_t x = 1;
    double u = 0.0, sys = 0.0;
    struct stat st;

    for (int round = 0; round < 1000 && u < 0.002; round++) {
        for (int i = 0; i < 1000000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        qs_procstat_cpu(&u, &sys);
    }
    qs_test_tmpdir(dir, sizeof dir, "sstats");
    snprintf(path, sizeof path, "%s/%s", dir, QS_STORESTATS_FILE);
    QS_CHECK_EQ_INT(qs_storestats_load(&back, path, err, sizeof err), 1);
    QS_CHECK_EQ_INT(qs_storestats_save(&s, path, 1795608000000LL, err, sizeof err), 0);
    QS_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    QS_CHECK(s.cpu_user_seconds > 0.0);
    QS_CHECK(fabs(s.cpu_user_seconds + s.cpu_system_seconds - s.cpu_seconds) < 0.05);
    QS_CHECK_EQ_INT(qs_storestats_load(&back, path, err, sizeof err), 0);
    QS_CHECK(back.cpu_user_seconds == s.cpu_user_seconds &&
             back.cpu_system_seconds == s.cpu_system_seconds);
    QS_CHECK_EQ_INT(back.pid, (int64_t)getpid());
    unlink(path);
    rmdir(dir);
}

/* The disk reserve's two fields round-trip; a file without them reads as
 * 0; a low flag other than 0 or 1 is refused and named. */
static void
test_storestats_disk_reserve(void)
{
    qs_storestats_t a = sample(), b;
    char err[256], bad[4096], *text, *cut;

    a.disk_reserve_low = 1;
    a.disk_free_bytes = 6291456;
    text = qs_storestats_format(&a);
    QS_CHECK(strstr(text, "\"disk_reserve_low\":1") != NULL);
    QS_CHECK_EQ_INT(qs_storestats_parse(&b, text, err, sizeof err), 0);
    QS_CHECK_EQ_INT(b.disk_reserve_low, 1);
    QS_CHECK_EQ_INT(b.disk_free_bytes, 6291456);
    cut = strstr(text, ",\"disk_reserve_low\"");
    QS_CHECK(cut != NULL);
    snprintf(bad, sizeof bad, "%.*s}", (int)(cut - text), text);
    QS_CHECK_EQ_INT(qs_storestats_parse(&b, bad, err, sizeof err), 0);
    QS_CHECK_EQ_INT(b.disk_reserve_low, 0);
    QS_CHECK_EQ_INT(b.disk_free_bytes, 0);
    snprintf(bad, sizeof bad, "%.*s,\"disk_reserve_low\":2}", (int)(cut - text), text);
    QS_CHECK_EQ_INT(qs_storestats_parse(&b, bad, err, sizeof err), -1);
    QS_CHECK(strstr(err, "disk_reserve_low") != NULL);
    free(text);
}

int
main(void)
{
    QS_RUN(test_storestats_disk_reserve);
    QS_RUN(test_storestats_round_trip);
    QS_RUN(test_storestats_cpu_modes_optional_but_checked);
    QS_RUN(test_storestats_save_writes_cpu_modes);
    return qs_test_summary();
}
