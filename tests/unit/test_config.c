/* test_config.c - config.c: parse errors name the key, defaults, format and
 * load round trip. */
#include "qs_config.h"
#include "qs_fsutil.h"
#include "qs_test.h"

#include <unistd.h>

static void
test_config_parse_errors_name_the_key(void)
{
    qs_config_t cfg;
    char err[256], text[2048];

    QS_CHECK(qs_config_parse(&cfg, "[broker]\nfronted = tcp://127.0.0.1:1\n", err,
                             sizeof err) != 0);
    QS_CHECK(strstr(err, "fronted") != NULL);
    QS_CHECK(qs_config_parse(&cfg, "[retention]\ninterval_seconds = soon\n", err,
                             sizeof err) != 0);
    QS_CHECK(strstr(err, "interval_seconds") != NULL);
    QS_CHECK(qs_config_parse(&cfg, "[broker]\nfrontend = http://x\n", err, sizeof err) != 0);
    qs_config_defaults(&cfg);
    QS_CHECK(strncmp(cfg.frontend, "tcp://127.0.0.1:", 16) == 0);   /* loopback default */
    cfg.retention_interval_s = 77;
    QS_CHECK(qs_config_format(text, sizeof text, &cfg) == 0);
    QS_CHECK(qs_config_parse(&cfg, text, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(cfg.retention_interval_s, 77);
}

static void
test_config_load_reads_a_file_and_names_a_missing_one(void)
{
    char dir[256], path[512], err[512], text[2048];
    qs_config_t cfg, back;

    qs_test_tmpdir(dir, sizeof dir, "config");
    snprintf(path, sizeof path, "%s/quietstate.conf", dir);
    QS_CHECK(qs_config_load(&back, path, err, sizeof err) != 0);
    QS_CHECK(strstr(err, "quietstate.conf") != NULL);
    qs_config_defaults(&cfg);
    snprintf(cfg.frontend, sizeof cfg.frontend, "tcp://127.0.0.1:6001");
    cfg.broker_hwm = 1234;
    QS_CHECK_EQ_INT(qs_config_format(text, sizeof text, &cfg), 0);
    QS_CHECK_EQ_INT(qs_fs_write_private(path, text, strlen(text), err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_config_load(&back, path, err, sizeof err), 0);
    QS_CHECK_STR(back.frontend, "tcp://127.0.0.1:6001");
    QS_CHECK_STR(back.backend, cfg.backend);
    QS_CHECK_EQ_INT(back.broker_hwm, 1234);
    QS_CHECK(qs_config_format(text, 16, &cfg) != 0);   /* too small: refused */
    unlink(path);
    rmdir(dir);
}

/* Several brokers: frontend and backend take lists (blanks or commas); a
 * list with a bad or a repeated endpoint is refused, naming the key. */
static void
test_config_accepts_a_list_of_brokers(void)
{
    qs_config_t cfg;
    char err[256];

    QS_CHECK(qs_config_parse(&cfg, "[broker]\nfrontend = tcp://10.0.0.1:5570 tcp://10.0.0.2:5570\n"
                             "backend = tcp://10.0.0.1:5571,tcp://10.0.0.2:5571\n", err,
                             sizeof err) == 0);
    QS_CHECK_STR(cfg.frontend, "tcp://10.0.0.1:5570 tcp://10.0.0.2:5570");
    QS_CHECK_STR(cfg.backend, "tcp://10.0.0.1:5571,tcp://10.0.0.2:5571");
    QS_CHECK(qs_config_parse(&cfg, "[broker]\nfrontend = tcp://a:1 tcp://a:1\n", err,
                             sizeof err) != 0);
    QS_CHECK(strstr(err, "frontend") != NULL);
    QS_CHECK(qs_config_parse(&cfg, "[broker]\nbackend = tcp://a:1 udp://b:1\n", err,
                             sizeof err) != 0);
    QS_CHECK(strstr(err, "backend") != NULL);
}

int
main(void)
{
    QS_RUN(test_config_parse_errors_name_the_key);
    QS_RUN(test_config_load_reads_a_file_and_names_a_missing_one);
    QS_RUN(test_config_accepts_a_list_of_brokers);
    return qs_test_summary();
}
