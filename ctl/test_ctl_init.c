/* test_ctl_init.c - qsctl init: private modes, loopback defaults, no clobbering.
 *
 * Runs under umask 0 so that every mode checked is the one init sets, not
 * one the umask happened to give. Proves init refuses an existing site (and
 * leaves its keys byte for byte), completes an interrupted init without
 * replacing a key, refuses a finished site that lost files, refuses a
 * foreign non-empty directory, and validates endpoints.
 */
#include "qs_config.h"
#include "test_ctl.h"

#include <sys/stat.h>

static char dir[512], home[600];
static ctl_run_t run;

static unsigned
mode_of(const char *rel)
{
    char path[800];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", home, rel);
    if (lstat(path, &st) != 0)
        return 01000000;   /* missing */
    return (unsigned)(st.st_mode & 07777);
}

static char *
read_rel(const char *rel)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", home, rel);
    return ctl_test_read(path);
}

static void
remove_rel(const char *rel)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", home, rel);
    QS_CHECK_EQ_INT(unlink(path), 0);
}

static void
new_home(const char *tag)
{
    qs_test_tmpdir(dir, sizeof dir, tag);
    snprintf(home, sizeof home, "%s/site", dir);
}

static void
test_init_creates_private_dirs_and_keys(void)
{
    static const char *const files[] = {
        "keys/broker.key", "keys/broker.pub", "keys/store.key", "keys/store.pub",
        "keys/site.key", "keys/audit.key", "quietstate.conf", "site.db", "store.db",
        "audit.head",
    };
    qs_config_t cfg;
    char conf[800], err[256];
    mode_t old = umask(0);

    new_home("in");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 0);
    umask(old);
    QS_CHECK_STR(run.err, "");
    QS_CHECK_EQ_INT(mode_of("."), 0700);
    QS_CHECK_EQ_INT(mode_of("keys"), 0700);
    QS_CHECK_EQ_INT(mode_of("keys/epochs"), 0700);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (mode_of(files[i]) != 0600)
            fprintf(stderr, "  %s: mode %o\n", files[i], mode_of(files[i]));
        QS_CHECK_EQ_INT(mode_of(files[i]), 0600);
    }
    /* Loopback endpoints by default, and a config every daemon can load. */
    snprintf(conf, sizeof conf, "%s/quietstate.conf", home);
    QS_CHECK_EQ_INT(qs_config_load(&cfg, conf, err, sizeof err), 0);
    QS_CHECK_STR(cfg.frontend, "tcp://127.0.0.1:5570");
    QS_CHECK_STR(cfg.backend, "tcp://127.0.0.1:5571");
    QS_CHECK_STR(cfg.web_listen, "127.0.0.1:8080");
    QS_CHECK(strstr(run.out, "qs-web listens here (HTTP API, docs/web.md): 127.0.0.1:8080\n")
             != NULL);
    QS_CHECK(strstr(run.out, "next steps") != NULL);
    QS_CHECK(strstr(run.out, "qsctl policy set") != NULL);
    QS_CHECK(strstr(run.out, "qsctl enroll") != NULL);
    /* The first audit entry is "init", and the chain verifies. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 0);
    QS_CHECK_STR(run.out, "audit log intact: 1 entries\n");
    ctl_test_rmrf(dir);
}

static void
test_init_refuses_an_existing_site_and_keeps_its_keys(void)
{
    char *broker, *site, *audit;

    new_home("ir");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 0);
    broker = read_rel("keys/broker.key");
    site = read_rel("keys/site.key");
    audit = read_rel("keys/audit.key");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--frontend",
                                 "tcp://127.0.0.1:6000", (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "already holds a quietstate site") != NULL);
    QS_CHECK_STR(run.out, "");
    {
        char *b2 = read_rel("keys/broker.key"), *s2 = read_rel("keys/site.key");
        char *a2 = read_rel("keys/audit.key"), *conf = read_rel("quietstate.conf");
        QS_CHECK(b2 != NULL && broker != NULL && strcmp(b2, broker) == 0);
        QS_CHECK(s2 != NULL && site != NULL && strcmp(s2, site) == 0);
        QS_CHECK(a2 != NULL && audit != NULL && strcmp(a2, audit) == 0);
        QS_CHECK(conf != NULL && strstr(conf, "6000") == NULL);
        free(b2);
        free(s2);
        free(a2);
        free(conf);
    }
    free(broker);
    free(site);
    free(audit);
    ctl_test_rmrf(dir);
}

static void
test_init_completes_an_interrupted_init_without_replacing_keys(void)
{
    char *broker, *broker_pub, *b2, *p2;

    new_home("ii");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 0);
    broker = read_rel("keys/broker.key");
    broker_pub = read_rel("keys/broker.pub");
    /* As if init had stopped right after the broker key pair. */
    remove_rel("keys/store.key");
    remove_rel("keys/store.pub");
    remove_rel("keys/site.key");
    remove_rel("keys/audit.key");
    remove_rel("keys/broker.pub");
    remove_rel("quietstate.conf");
    remove_rel("site.db");
    remove_rel("store.db");
    remove_rel("audit.head");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "completed the interrupted init") != NULL);
    QS_CHECK(strstr(run.out, "kept     keys/broker.key") != NULL);
    b2 = read_rel("keys/broker.key");
    p2 = read_rel("keys/broker.pub");
    QS_CHECK(b2 != NULL && broker != NULL && strcmp(b2, broker) == 0);
    /* The public key is derived again from the kept secret. */
    QS_CHECK(p2 != NULL && broker_pub != NULL && strcmp(p2, broker_pub) == 0);
    QS_CHECK_EQ_INT(mode_of("keys/store.key"), 0600);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 0);
    free(broker);
    free(broker_pub);
    free(b2);
    free(p2);
    ctl_test_rmrf(dir);
}

static void
test_init_refuses_a_finished_site_that_lost_a_key(void)
{
    new_home("il");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 0);
    remove_rel("keys/site.key");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "keys/site.key") != NULL);
    QS_CHECK(strstr(run.err, "backup") != NULL);
    QS_CHECK_EQ_INT(mode_of("keys/site.key"), 01000000);   /* not recreated */
    ctl_test_rmrf(dir);
}

static void
test_init_refuses_a_public_key_without_its_secret(void)
{
    char path[800];
    FILE *f;

    new_home("ip");
    QS_CHECK_EQ_INT(mkdir(home, 0700), 0);
    snprintf(path, sizeof path, "%s/keys", home);
    QS_CHECK_EQ_INT(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/keys/broker.pub", home);
    f = fopen(path, "w");
    QS_CHECK(f != NULL);
    if (f != NULL) {
        fputs("00\n", f);
        fclose(f);
    }
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "broker.pub' exists without its secret key") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_init_refuses_a_foreign_directory_and_tightens_an_empty_one(void)
{
    char path[800];
    FILE *f;

    new_home("if");
    QS_CHECK_EQ_INT(mkdir(home, 0755), 0);
    snprintf(path, sizeof path, "%s/notes.txt", home);
    f = fopen(path, "w");
    QS_CHECK(f != NULL);
    if (f != NULL)
        fclose(f);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "not empty") != NULL);
    QS_CHECK_EQ_INT(mode_of("."), 0755);                   /* left alone */
    QS_CHECK_EQ_INT(unlink(path), 0);
    QS_CHECK_EQ_INT(chmod(home, 0755), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, (char *)NULL), 0);
    QS_CHECK_EQ_INT(mode_of("."), 0700);
    ctl_test_rmrf(dir);

    /* A file where the home should be, and a home whose parent is missing. */
    new_home("ix");
    snprintf(path, sizeof path, "%s/missing/site", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", path, (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "cannot create directory") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_init_takes_endpoints_and_rejects_bad_ones(void)
{
    char *conf;

    new_home("ie");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--frontend",
                                 "tcp://127.0.0.1:7001", "--backend", "ipc:///tmp/qs-be",
                                 (char *)NULL), 0);
    conf = read_rel("quietstate.conf");
    QS_CHECK(conf != NULL && strstr(conf, "frontend = tcp://127.0.0.1:7001\n") != NULL);
    QS_CHECK(conf != NULL && strstr(conf, "backend = ipc:///tmp/qs-be\n") != NULL);
    free(conf);
    ctl_test_rmrf(dir);

    new_home("ie2");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--frontend",
                                 "tcp://127.0.0.1:1\nhwm = 1", (char *)NULL), 2);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--frontend",
                                 "inproc://x", (char *)NULL), 2);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--frontend",
                                 "tcp://127.0.0.1:5571", (char *)NULL), 2);
    QS_CHECK(strstr(run.err, "must differ") != NULL);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "stray",
                                 (char *)NULL), 2);
    QS_CHECK_EQ_INT(mode_of("."), 01000000);                /* nothing was created */
    /* A non-loopback endpoint works, with a warning. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--frontend",
                                 "tcp://0.0.0.0:7002", (char *)NULL), 0);
    QS_CHECK(strstr(run.err, "not a loopback address") != NULL);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--help", (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "usage: qsctl init") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_init_records_web_and_rejects_bad_addresses(void)
{
    static const char *const bad[] = {
        "8080",                        /* no host:port */
        "127.0.0.1 :8080",             /* a blank */
        "127.0.0.1:8080\nlisten=x:1",  /* a second line would smuggle a key in */
        "127.0.0.1:80#80",             /* a comment character */
        "",
    };
    qs_config_t cfg;
    char conf[800], err[256];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        new_home("iwb");
        QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--web", bad[i],
                                     (char *)NULL), 2);
        QS_CHECK(strstr(run.err, "--web") != NULL);
        QS_CHECK_EQ_INT(mode_of("."), 01000000);   /* nothing was created */
        ctl_test_rmrf(dir);
    }
    new_home("iw");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--web",
                                 "[::1]:9443", (char *)NULL), 0);
    QS_CHECK_STR(run.err, "");
    snprintf(conf, sizeof conf, "%s/quietstate.conf", home);
    QS_CHECK_EQ_INT(qs_config_load(&cfg, conf, err, sizeof err), 0);
    QS_CHECK_STR(cfg.web_listen, "[::1]:9443");
    QS_CHECK(strstr(run.out, ": [::1]:9443\n") != NULL);
    ctl_test_rmrf(dir);
    /* Beyond loopback: accepted, with a warning that TLS is then needed. */
    new_home("iwp");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_init, "init", "--home", home, "--web",
                                 "0.0.0.0:8443", (char *)NULL), 0);
    QS_CHECK(strstr(run.err, "warning: --web '0.0.0.0:8443' is not a loopback address") != NULL);
    snprintf(conf, sizeof conf, "%s/quietstate.conf", home);
    QS_CHECK_EQ_INT(qs_config_load(&cfg, conf, err, sizeof err), 0);
    QS_CHECK_STR(cfg.web_listen, "0.0.0.0:8443");
    ctl_test_rmrf(dir);
}

int
main(void)
{
    ctl_test_init();
    QS_RUN(test_init_creates_private_dirs_and_keys);
    QS_RUN(test_init_refuses_an_existing_site_and_keeps_its_keys);
    QS_RUN(test_init_completes_an_interrupted_init_without_replacing_keys);
    QS_RUN(test_init_refuses_a_finished_site_that_lost_a_key);
    QS_RUN(test_init_refuses_a_public_key_without_its_secret);
    QS_RUN(test_init_refuses_a_foreign_directory_and_tightens_an_empty_one);
    QS_RUN(test_init_takes_endpoints_and_rejects_bad_ones);
    QS_RUN(test_init_records_web_and_rejects_bad_addresses);
    return qs_test_summary();
}
