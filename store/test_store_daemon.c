/* test_store_daemon.c - runs the real qs-store process against a stand-in broker.
 *
 * The stand-in is a CurveZMQ ROUTER with the broker's key (no ZAP: libzmq
 * admits every CURVE client when no handler is bound, which is all this test
 * needs). It waits for the store's READY heartbeat, forwards sealed batches as
 * [client routing id][client key][envelope], and checks the sealed acks that
 * come back; then SIGTERM must stop the store with exit status 0. The command
 * line contract (--help, usage errors, loose key permissions, one qs-store
 * per store.db) is checked too.
 */
#define _XOPEN_SOURCE 700   /* nftw */
#include "qs_clock.h"
#include "qs_config.h"
#include "qs_envelope.h"
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_site.h"
#include "qs_sitedb.h"
#include "qs_storedb.h"
#include "qs_test.h"
#include "qs_workerproto.h"
#include "qs_zmqutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef QS_STORE_BIN
#error "QS_STORE_BIN must name the qs-store executable"
#endif

struct site {
    char dir[512];
    qs_site_paths_t paths;
    qs_keypair_t *broker, *store, *client;
    char endpoint[QS_MAX_ENDPOINT_BYTES];
    char log_path[600];
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
die(const char *what, const char *err)
{
    fprintf(stderr, "setup: %s: %s\n", what, err);
    exit(2);
}

/* Write quietstate.conf with defaults and this backend endpoint. */
static void
site_set_backend(struct site *s, const char *endpoint)
{
    char err[512], conf[2048];
    qs_config_t cfg;

    snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
    qs_config_defaults(&cfg);
    snprintf(cfg.backend, sizeof cfg.backend, "%s", endpoint);
    if (qs_config_format(conf, sizeof conf, &cfg) != 0 ||
        qs_fs_write_private(s->paths.conf, conf, strlen(conf), err, sizeof err) != 0)
        die("conf", err);
}

/* What `qsctl init` + `enroll` + `policy set` leave behind. */
static void
site_make(struct site *s, int with_policy)
{
    char err[512];
    qs_sitedb_t *db;
    uint8_t *site_key = NULL, ps[QS_PSEUDONYM_BYTES];
    qs_clock_t clock;
    int64_t version;

    memset(s, 0, sizeof *s);
    qs_clock_init(&clock);
    qs_test_tmpdir(s->dir, sizeof s->dir, "stored");
    if (qs_site_paths(&s->paths, s->dir, err, sizeof err) != 0)
        die("paths", err);
    if (qs_fs_mkdir_private(s->paths.keys_dir, err, sizeof err) != 0)
        die("keys dir", err);
    /* Port 9 (discard) until a stand-in broker has bound a free one. */
    site_set_backend(s, "tcp://127.0.0.1:9");
    s->broker = qs_keypair_generate();
    s->store = qs_keypair_generate();
    s->client = qs_keypair_generate();
    if (qs_keypair_save(s->broker, s->paths.broker_key, s->paths.broker_pub, err, sizeof err) != 0 ||
        qs_keypair_save(s->store, s->paths.store_key, s->paths.store_pub, err, sizeof err) != 0 ||
        qs_secret_load(&site_key, s->paths.site_key, 1, err, sizeof err) != 0)
        die("keys", err);
    if ((db = qs_sitedb_open(s->paths.site_db, 1, err, sizeof err)) == NULL)
        die("site.db", err);
    qs_pseudonym(ps, site_key, QS_PSEUDO_CLIENT, "pc-1");
    if (qs_sitedb_enroll(db, ps, qs_keypair_public(s->client), qs_clock_now_ms(&clock), err,
                         sizeof err) != 0)
        die("enroll", err);
    if (with_policy) {
        qs_policy_t p;
        qs_policy_defaults(&p);
        if (qs_sitedb_policy_put(db, &p, "test", qs_clock_now_ms(&clock), &version, err,
                                 sizeof err) != 0)
            die("policy", err);
    }
    qs_sitedb_destroy(&db);
    sodium_free(site_key);
    snprintf(s->log_path, sizeof s->log_path, "%s/store.log", s->dir);
}

static void
site_destroy(struct site *s)
{
    qs_keypair_destroy(&s->broker);
    qs_keypair_destroy(&s->store);
    qs_keypair_destroy(&s->client);
    if (getenv("KEEP") == NULL)
        nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Start qs-store with args; its stderr goes to log_path. */
static pid_t
spawn(const char *log_path, char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        unsetenv("QS_HOME");
        execv(QS_STORE_BIN, argv);
        _exit(127);
    }
    return pid;
}

static int
wait_exit(pid_t pid, int timeout_ms)
{
    int status = 0;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static int
log_contains(const char *path, const char *needle)
{
    char buf[16384];
    FILE *fp = fopen(path, "r");
    size_t n;

    if (fp == NULL)
        return 0;
    n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Receive one multipart message (up to 4 frames) within timeout_ms. */
static int
recv_parts(void *sock, zmq_msg_t *parts, int max, int timeout_ms)
{
    zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
    int n = 0;

    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return 0;
    do {
        if (n == max)
            return -1;
        zmq_msg_init(&parts[n]);
        if (zmq_msg_recv(&parts[n], sock, 0) < 0)
            return -1;
        n++;
    } while (zmq_msg_more(&parts[n - 1]));
    return n;
}

static void
close_parts(zmq_msg_t *parts, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

static void
test_store_help_and_usage_exit_codes(void)
{
    char log_path[] = "/tmp/qs-store-usage-XXXXXX";
    int fd = mkstemp(log_path);
    char *help[] = { (char *)"qs-store", (char *)"--help", NULL };
    char *bad[] = { (char *)"qs-store", (char *)"--frobnicate", NULL };
    char *nohome[] = { (char *)"qs-store", NULL };

    QS_CHECK(fd >= 0);
    close(fd);
    QS_CHECK_EQ_INT(wait_exit(spawn(log_path, help), 5000), 0);
    QS_CHECK(log_contains(log_path, "usage: qs-store --home DIR"));
    QS_CHECK_EQ_INT(wait_exit(spawn(log_path, bad), 5000), 2);
    QS_CHECK_EQ_INT(wait_exit(spawn(log_path, nohome), 5000), 2);
    unlink(log_path);
}

static void
test_store_refuses_readable_store_key(void)
{
    struct site s;
    char *argv[] = { (char *)"qs-store", (char *)"--home", NULL, NULL };

    site_make(&s, 1);
    argv[2] = s.dir;
    QS_CHECK(chmod(s.paths.store_key, 0644) == 0);
    QS_CHECK_EQ_INT(wait_exit(spawn(s.log_path, argv), 5000), 1);
    QS_CHECK(log_contains(s.log_path, "store.key"));
    QS_CHECK(log_contains(s.log_path, "chmod 600"));
    site_destroy(&s);
}

/* Wait until the store's log says it started (or it exited). */
static int
wait_started(pid_t pid, const char *log_path, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (log_contains(log_path, "started:"))
            return 1;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 0;
        usleep(10000);
    }
    return 0;
}

static void
test_store_refuses_second_store_on_same_store_db(void)
{
    struct site s;
    char *argv[] = { (char *)"qs-store", (char *)"--home", NULL, NULL };
    char second_log[700], lock[600], want[QS_MAX_PATH_BYTES + 700];
    struct stat st;
    pid_t first, again;

    site_make(&s, 1);
    argv[2] = s.dir;
    snprintf(second_log, sizeof second_log, "%s/second.log", s.dir);
    snprintf(lock, sizeof lock, "%s/store.lock", s.dir);
    first = spawn(s.log_path, argv);
    QS_CHECK(wait_started(first, s.log_path, 10000));

    QS_CHECK_EQ_INT(wait_exit(spawn(second_log, argv), 5000), 1);
    snprintf(want, sizeof want, "qs-store: another qs-store is running on '%s' "
             "(lock held on '%s')", s.paths.store_db, lock);
    QS_CHECK(log_contains(second_log, want));
    QS_CHECK(stat(lock, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* The first one is untouched and stops cleanly; the lock goes with it. */
    kill(first, SIGTERM);
    QS_CHECK_EQ_INT(wait_exit(first, 10000), 0);
    again = spawn(second_log, argv);
    QS_CHECK(wait_started(again, second_log, 10000));
    kill(again, SIGTERM);
    QS_CHECK_EQ_INT(wait_exit(again, 10000), 0);
    site_destroy(&s);
}

/* Skip heartbeats until the reply [store id][client routing id][Reply];
 * 1 when it is a sealed Ack, OK, committed_serial 1. */
static int
recv_ok_ack(void *router, const uint8_t shared[QS_KEY_BYTES])
{
    zmq_msg_t parts[4];
    uint8_t plain[4096];
    size_t plain_len = 0;
    int n, got_ack = 0;

    for (int tries = 0; tries < 20 && !got_ack; tries++) {
        n = recv_parts(router, parts, 4, 5000);
        if (n == 3) {
            Quietstate__Reply *rep;
            QS_CHECK(zmq_msg_size(&parts[1]) == 8 &&
                     memcmp(zmq_msg_data(&parts[1]), "client-1", 8) == 0);
            rep = quietstate__reply__unpack(NULL, zmq_msg_size(&parts[2]), zmq_msg_data(&parts[2]));
            QS_CHECK(rep != NULL && rep->sealed_ack != NULL);
            if (rep != NULL && rep->sealed_ack != NULL &&
                qs_envelope_open(plain, &plain_len, sizeof plain, QS_ENVELOPE_TO_CLIENT,
                                 rep->sealed_ack, shared) == 0) {
                Quietstate__Ack *ack = quietstate__ack__unpack(NULL, plain_len, plain);
                QS_CHECK(ack != NULL);
                if (ack != NULL) {
                    QS_CHECK_EQ_INT(ack->status, QUIETSTATE__STATUS__OK);
                    QS_CHECK_EQ_INT(ack->committed_serial, 1);
                    got_ack = 1;
                }
                quietstate__ack__free_unpacked(ack, NULL);
            }
            quietstate__reply__free_unpacked(rep, NULL);
        }
        if (n > 0)
            close_parts(parts, n);
        if (n < 0)
            break;
    }
    return got_ack;
}

static void
test_store_daemon_acks_after_commit_and_stops_on_sigterm(void)
{
    struct site s;
    char *argv[] = { (char *)"qs-store", (char *)"--home", NULL, NULL };
    void *ctx = zmq_ctx_new(), *router = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, n, got_ack, linger = 0;
    zmq_msg_t parts[4];
    uint8_t store_id[256], frame[4096], shared[QS_KEY_BYTES], plain[4096];
    size_t store_id_len = 0, frame_len = 0, batch_len;
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT, *mp = &m;
    Quietstate__Batch batch = QUIETSTATE__BATCH__INIT;
    qs_clock_t clock;
    pid_t pid;

    site_make(&s, 1);
    argv[2] = s.dir;
    qs_clock_init(&clock);
    zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, qs_keypair_secret(s.broker), QS_KEY_BYTES);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    QS_CHECK(zmq_bind(router, "tcp://127.0.0.1:*") == 0);
    {
        char last[64];
        size_t last_len = sizeof last;
        QS_CHECK(zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, last, &last_len) == 0);
        site_set_backend(&s, last);
    }
    pid = spawn(s.log_path, argv);

    /* READY first: that is how the broker learns the worker's routing id. */
    n = recv_parts(router, parts, 4, 10000);
    QS_CHECK_EQ_INT(n, 2);
    if (n == 2) {
        QS_CHECK(zmq_msg_size(&parts[1]) == QS_WORKER_READY_LEN &&
                 memcmp(zmq_msg_data(&parts[1]), QS_WORKER_READY, QS_WORKER_READY_LEN) == 0);
        store_id_len = zmq_msg_size(&parts[0]);
        memcpy(store_id, zmq_msg_data(&parts[0]), store_id_len);
    }
    if (n > 0)
        close_parts(parts, n);

    m.serial = 1;
    m.time_utc_ms = qs_clock_now_ms(&clock) - 1000;
    m.topic_type = 500;
    m.topic_id = (char *)"KB5030219";
    m.state_id = 3;
    m.machine_name = (char *)"DAEMON-TEST-PC";
    batch.n_messages = 1;
    batch.messages = &mp;
    batch_len = quietstate__batch__pack(&batch, plain);
    QS_CHECK(crypto_box_beforenm(shared, qs_keypair_public(s.store),
                                 qs_keypair_secret(s.client)) == 0);
    QS_CHECK(qs_envelope_seal(frame, &frame_len, sizeof frame, QS_ENVELOPE_TO_STORE, plain, batch_len,
                              qs_keypair_public(s.client), shared) == 0);
    zmq_send(router, store_id, store_id_len, ZMQ_SNDMORE);
    zmq_send(router, "client-1", 8, ZMQ_SNDMORE);
    zmq_send(router, qs_keypair_public(s.client), QS_KEY_BYTES, ZMQ_SNDMORE);
    zmq_send(router, frame, frame_len, 0);

    got_ack = recv_ok_ack(router, shared);
    QS_CHECK(got_ack);

    kill(pid, SIGTERM);
    QS_CHECK_EQ_INT(wait_exit(pid, 10000), 0);
    QS_CHECK(log_contains(s.log_path, "stopping on signal"));
    QS_CHECK(!log_contains(s.log_path, "DAEMON-TEST-PC"));
    {
        char err[256];
        int64_t stored = -1;
        qs_storedb_t *db = qs_storedb_open(s.paths.store_db, 0, err, sizeof err);
        QS_CHECK(db != NULL);
        if (db != NULL) {
            QS_CHECK(qs_storedb_counter_get(db, "stored", &stored) == 0);
            QS_CHECK_EQ_INT(stored, 1);
            qs_storedb_destroy(&db);
        }
    }
    zmq_close(router);
    zmq_ctx_term(ctx);
    site_destroy(&s);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_log_init("test_store_daemon", QS_LOG_ERROR);
    signal(SIGPIPE, SIG_IGN);
    QS_RUN(test_store_help_and_usage_exit_codes);
    QS_RUN(test_store_refuses_readable_store_key);
    QS_RUN(test_store_refuses_second_store_on_same_store_db);
    QS_RUN(test_store_daemon_acks_after_commit_and_stops_on_sigterm);
    return qs_test_summary();
}
