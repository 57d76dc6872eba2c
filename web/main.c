/* main.c - qs-web: the HTTP/JSON API of a site, with roles and an audited door.
 *
 * Start-up: resolve the home, refuse loose modes on the home and its keys
 * (like the other daemons), read quietstate.conf, then fork. The child
 * becomes the worker (worker.h: site.db and keys, narrow requests over a
 * socketpair); the parent becomes the HTTP front (front.h: parses HTTP,
 * holds no site secret). SIGTERM/SIGINT stop the front's loop; closing its
 * end of the socketpair ends the worker, which the parent then reaps. Exit 0
 * on a clean stop, 1 on failure, 2 on a usage error.
 */
#include "front.h"
#include "qs_config.h"
#include "qs_fsutil.h"
#include "qs_log.h"
#include "qs_process.h"
#include "qs_signal.h"
#include "qs_site.h"
#include "worker.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void __attribute__((noreturn))
usage(FILE *out, int code)
{
    fprintf(out,
            "usage: qs-web --home DIR\n"
            "\n"
            "Serve the site's HTTP/JSON API (/api/v1/..., docs/api.md) on [web] listen of\n"
            "quietstate.conf (default 127.0.0.1:8080). Every request needs a bearer token\n"
            "made with 'qsctl user add'; each role sees only its own routes. HTTPS with\n"
            "[web] tls_cert and tls_key; required when listening beyond loopback.\n"
            "\n"
            "  --home DIR   site home (or QS_HOME)\n"
            "  --help       this text\n"
            "\n"
            "Exit 0 on SIGTERM, 1 on failure, 2 on a usage error.\n");
    exit(code);
}

static const char *
parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL, *env_home;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 'h': usage(stdout, 0);
        case ':':
            fprintf(stderr, "qs-web: %s needs a value\n", argv[optind - 1]);
            usage(stderr, 2);
        default:
            fprintf(stderr, "qs-web: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr, 2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "qs-web: unexpected argument '%s'\n", argv[optind]);
        usage(stderr, 2);
    }
    /* The exit-code rule (docs/commands.md): a missing home is a usage error. */
    env_home = getenv("QS_HOME");
    if ((home == NULL || *home == '\0') && (env_home == NULL || *env_home == '\0')) {
        fprintf(stderr, "qs-web: no site home: pass --home DIR or set QS_HOME\n");
        usage(stderr, 2);
    }
    return home;
}

/* Paths, modes and configuration; 0 or -1 (logged). */
static int
load_site(qs_site_paths_t *paths, qs_config_t *cfg, const char *home)
{
    char err[2 * QS_MAX_PATH_BYTES];

    if (qs_site_paths(paths, home, err, sizeof err) != 0 ||
        qs_site_check(paths, err, sizeof err) != 0 ||
        qs_fs_check_private(paths->home, err, sizeof err) != 0 ||
        qs_fs_check_private(paths->keys_dir, err, sizeof err) != 0 ||
        qs_fs_check_private(paths->site_db, err, sizeof err) != 0 ||
        qs_fs_check_private(paths->site_key, err, sizeof err) != 0 ||
        qs_fs_check_private(paths->audit_key, err, sizeof err) != 0 ||
        qs_config_load(cfg, paths->conf, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    qs_log_set_json(cfg->log_json);
    return 0;
}

/* The front: runs until a signal or the worker's end. Returns the exit code. */
static int
run_front(const qs_config_t *cfg, int fd)
{
    char err[2 * QS_MAX_PATH_BYTES];
    qs_web_front_t *front = qs_web_front_new(cfg, fd, err, sizeof err);
    int rc;

    if (front == NULL) {
        log_error("%s", err);
        return 1;
    }
    rc = qs_web_front_run(front, &stop_requested);
    qs_web_front_destroy(&front);
    if (rc == 0)
        log_info("stopped");
    return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    qs_site_paths_t paths;
    qs_config_t cfg;
    const char *home;
    int sv[2], rc, status = 0;
    pid_t pid;

    qs_log_init("qs-web", -1);
    home = parse_args(argc, argv);
    if (sodium_init() < 0) {
        log_error("cannot initialise libsodium");
        return 1;
    }
    {
        char why[256];
        /* Before the fork: the worker (keys, tokens' hashes) inherits it. */
        if (qs_process_no_core(why, sizeof why) != 0)
            log_warn("core dumps stay enabled: %s", why);
    }
    if (load_site(&paths, &cfg, home) != 0)
        return 1;
    if (qs_signal_on_stop(on_signal) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        log_error("cannot set up: %s", strerror(errno));
        return 1;
    }
    pid = fork();
    if (pid < 0) {
        log_error("cannot fork the worker: %s", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        close(sv[0]);
        qs_log_init("qs-web[worker]", -1);
        _exit(qs_web_worker_main(sv[1], &paths, &cfg));
    }
    close(sv[1]);
    rc = run_front(&cfg, sv[0]);
    close(sv[0]);   /* the worker reads end of stream and exits */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        log_error("the worker ended with status %d", WIFEXITED(status) ? WEXITSTATUS(status)
                                                                      : 128 + WTERMSIG(status));
        rc = 1;
    }
    return rc;
}
