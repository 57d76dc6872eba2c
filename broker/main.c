/* main.c - qs-broker: the stateless CurveZMQ router between producers and store workers.
 *
 * Start-up: resolve the site home (--home or QS_HOME), load quietstate.conf,
 * the broker key pair (refused if group/world-readable), the store's public
 * key and the key set from site.db; bind the ZAP handler, then the frontend
 * and backend ROUTERs (in that order: a CURVE socket without a ZAP handler
 * would admit anyone). Then one loop, no threads of its own: ZAP requests,
 * backend (heartbeats, replies), frontend (client envelopes); every
 * QS_BROKER_RELOAD_MS it asks site.db whether another process committed
 * (qsctl enroll/revoke) and reloads the key set, so a revocation cuts off a
 * live client within a second; every minute, and at shutdown, one stats line.
 * Its counters go to DIR/broker.stats (qs_brokerstats.h) at most once every
 * QS_BROKER_SAVE_MS when they changed, and at shutdown; at start it continues
 * from that file, so qsctl stats counts the broker's own refusals across
 * restarts (the file is small and written rarely: the loop stays single).
 * SIGTERM/SIGINT only set a flag; the loop sees it within one poll timeout,
 * closes every socket with linger 0 and exits 0.
 *
 * Several brokers (docs/broker.md): [broker] frontend and backend may be
 * lists (qs_endpoints.h); --instance N makes this process the Nth broker,
 * binding the Nth entry of each list (a list of one serves every instance)
 * and keeping its counters in DIR/broker-N.stats for N > 1, so that two
 * brokers on one home do not overwrite each other's file.
 */
#include "guard.h"
#include "logthrottle.h"
#include "router.h"
#include "zap.h"

#include "qs_brokerstats.h"
#include "qs_clock.h"
#include "qs_config.h"
#include "qs_endpoints.h"
#include "qs_keys.h"
#include "qs_keyset.h"
#include "qs_log.h"
#include "qs_notify.h"
#include "qs_process.h"
#include "qs_secpool.h"
#include "qs_signal.h"
#include "qs_site.h"
#include "qs_sitedb.h"
#include "qs_storestats.h"
#include "qs_zmqutil.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define QS_BROKER_RELOAD_MS 200      /* site.db change check; revocation latency */
#define QS_BROKER_STATS_MS  60000    /* periodic stats line */
#define QS_BROKER_SAVE_MS   1000     /* DIR/broker.stats at most this often */
#define QS_BROKER_SAVE_CPU_S 0.1    /* ...or when its CPU time moved this much */
#define QS_BROKER_GUARD_MS  50       /* connection byte accounting (guard.h) */
/* Frames larger than this come from mmap and go back to the system when
 * freed; glibc would otherwise raise the threshold after the first large
 * free and keep a flood's memory in its heap after the flood. */
#define QS_BROKER_MMAP_THRESHOLD (128 * 1024)
#define ERRLEN (QS_MAX_PATH_BYTES + 512)   /* room for a path and a message */

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void __attribute__((noreturn))
usage(FILE *out, int status)
{
    fprintf(out,
            "usage: qs-broker [--home DIR] [--instance N]\n"
            "\n"
            "Route producers' encrypted envelopes to store workers over CurveZMQ.\n"
            "Admits only enrolled, unrevoked clients (from DIR/site.db, reloaded\n"
            "on change) and only the store key on the backend.\n"
            "\n"
            "  --home DIR   site home (default: $QS_HOME), set up by 'qsctl init'\n"
            "  --instance N this is broker N (1..8) of several: bind the Nth endpoint\n"
            "               of [broker] frontend and backend; counters in\n"
            "               DIR/broker-N.stats for N > 1 (docs/broker.md)\n"
            "  --help       show this help\n"
            "\n"
            "Reads [broker] frontend, backend, hwm and its limits (conn_max_kb,\n"
            "total_max_mb, worker_max_mb, handshakes_per_second,\n"
            "log_lines_per_second) from DIR/quietstate.conf.\n"
            "Keeps its counters in DIR/broker.stats (shown by 'qsctl stats').\n"
            "Stops cleanly on SIGTERM or SIGINT. Exit: 0 ok, 1 failure, 2 usage.\n");
    exit(status);
}


/* Everything the broker owns, destroyed in reverse order of creation. */
typedef struct {
    qs_site_paths_t paths;
    qs_config_t cfg;
    int instance;                    /* --instance N, 0 when not given */
    char frontend[QS_MAX_ENDPOINT_BYTES];   /* this broker's entries of the lists */
    char backend[QS_MAX_ENDPOINT_BYTES];
    qs_keypair_t *kp;
    uint8_t store_pk[QS_KEY_BYTES];
    qs_sitedb_t *sitedb;
    qs_keyset_t *keys;
    void *ctx;
    qs_zap_t *zap;
    qs_router_t *router;
    qs_lograte_t *lograte;           /* the global budget of event log lines */
    qs_guard_t *guard;               /* frontend connection accounting */
    int keys_changed;                /* reloaded since the last guard check */
    int keys_revoked;                /* ...and a key was revoked or removed */
    int reload_pending;              /* the last reload failed: try again */
    qs_clock_t clock;                /* UTC, for broker.stats updated_utc */
    qs_brokerstats_t base;           /* counters from broker.stats at start */
    qs_brokerstats_t saved;          /* the totals last written (or read) */
    int save_failing;                /* the last write of broker.stats failed */
} broker_t;

/* Load the key set into a fresh set and swap it in only on success, so a
 * failed read never leaves the broker with a half-empty allowlist. */
static int
broker_reload_keys(broker_t *b)
{
    qs_keyset_t *fresh = qs_keyset_new();
    size_t enrolled = 0, revoked = 0;

    if (qs_sitedb_load_keyset(b->sitedb, fresh) != 0) {
        qs_keyset_destroy(&fresh);
        log_warn("cannot reload the key set from '%s': keeping the previous one, retrying",
                 b->paths.site_db);
        b->reload_pending = 1;
        return -1;
    }
    if (b->keys != NULL) {
        enrolled = qs_keyset_count(b->keys, QS_KEY_ENROLLED);
        revoked = qs_keyset_count(b->keys, QS_KEY_REVOKED);
    }
    /* A key revoked or removed: the guard closes its open connections. */
    if (qs_keyset_count(fresh, QS_KEY_REVOKED) > revoked ||
        qs_keyset_count(fresh, QS_KEY_ENROLLED) < enrolled)
        b->keys_revoked = 1;
    b->keys_changed = 1;
    qs_keyset_destroy(&b->keys);
    b->keys = fresh;
    b->reload_pending = 0;
    log_info("loaded the key set: %zu enrolled, %zu revoked",
             qs_keyset_count(b->keys, QS_KEY_ENROLLED),
             qs_keyset_count(b->keys, QS_KEY_REVOKED));
    return 0;
}

static void
broker_check_site(broker_t *b)
{
    int changed = 0;

    if (qs_sitedb_changed(b->sitedb, &changed) != 0) {
        log_warn("cannot check '%s' for changes", b->paths.site_db);
        return;
    }
    if (changed || b->reload_pending)
        (void)broker_reload_keys(b);
}

static void
broker_log_stats(broker_t *b, int64_t now_ms, const char *when)
{
    qs_router_stats_t s;
    qs_guard_stats_t g;
    qs_secpool_stats_t pool;
    uint64_t admitted = 0, refused = 0;
    size_t workers = qs_router_expire(b->router, now_ms);

    qs_router_stats(b->router, &s);
    qs_guard_stats(b->guard, &g);
    qs_zap_counts(b->zap, &admitted, &refused);
    qs_secpool_stats(&pool);
    log_info("stats%s: forwarded=%" PRIu64 " replies=%" PRIu64 " replies_dropped=%" PRIu64
             " notices retry_later=%" PRIu64 " revoked=%" PRIu64 " bad_envelope=%" PRIu64
             " dropped=%" PRIu64 " backend_malformed=%" PRIu64
             " zap admitted=%" PRIu64 " refused=%" PRIu64 " rate_limited=%" PRIu64
             " workers=%zu worker_full=%" PRIu64 " connections=%" PRIu64
             " pending_peak=%" PRIu64 " closed oversize=%" PRIu64 " revoked=%" PRIu64
             " flooding=%" PRIu64 " log_suppressed=%" PRIu64
             " secure_buffers reused=%" PRIu64 " allocated=%" PRIu64,
             when, s.forwarded, s.replies, s.replies_dropped, s.notice_retry_later,
             s.notice_revoked, s.notice_bad_envelope, s.notices_dropped,
             s.backend_malformed, admitted, refused, qs_zap_rate_limited(b->zap), workers,
             s.worker_full_bytes, g.connections, g.pending_peak, g.closed_oversize,
             g.closed_revoked, g.closed_flooding, qs_lograte_suppressed(b->lograte),
             pool.reused, pool.allocated);
}

/* The counters so far: what broker.stats held at start plus this run's. */
static void
broker_totals(const broker_t *b, qs_brokerstats_t *out)
{
    qs_router_stats_t s;
    qs_brokerstats_t run;

    memset(&run, 0, sizeof run);
    qs_router_stats(b->router, &s);
    qs_zap_counts(b->zap, &run.zap_admitted, &run.zap_refused);
    run.forwarded = s.forwarded;
    run.replies = s.replies;
    run.notice_bad_frames = s.notice_bad_envelope;   /* the router's only BAD_ENVELOPE */
    run.notice_revoked = s.notice_revoked;
    run.notice_retry_later = s.notice_retry_later;
    *out = b->base;
    qs_brokerstats_add(out, &run);
}

/* Write DIR/broker.stats if the counters changed since the last write, or
 * the process's CPU time moved by QS_BROKER_SAVE_CPU_S (an idle broker
 * rewrites it rarely), or always with force. A failure is logged once and
 * retried next time. */
static void
broker_save_stats(broker_t *b, int force)
{
    qs_brokerstats_t now;
    char err[ERRLEN];

    broker_totals(b, &now);
    qs_procstat_cpu(&now.cpu_user_seconds, &now.cpu_system_seconds);
    if (!force && !b->save_failing && qs_brokerstats_same(&now, &b->saved) &&
        now.cpu_user_seconds + now.cpu_system_seconds <
            b->saved.cpu_user_seconds + b->saved.cpu_system_seconds + QS_BROKER_SAVE_CPU_S)
        return;
    if (qs_brokerstats_save(&now, b->paths.broker_stats, qs_clock_now_ms(&b->clock), err,
                            sizeof err) != 0) {
        if (!b->save_failing)
            log_warn("cannot save the counters: %s; retrying every second", err);
        else
            log_debug("cannot save the counters: %s", err);
        b->save_failing = 1;
        return;
    }
    if (b->save_failing)
        log_info("saved the counters to '%s' again", b->paths.broker_stats);
    b->save_failing = 0;
    b->saved = now;
}

/* Continue from DIR/broker.stats; a missing or malformed file means 0. */
static void
broker_load_stats(broker_t *b)
{
    char err[ERRLEN];
    int rc = qs_brokerstats_load(&b->base, b->paths.broker_stats, err, sizeof err);

    if (rc == 1)
        log_info("no counters saved yet ('%s'): counting from 0", b->paths.broker_stats);
    else if (rc != 0)
        log_warn("cannot continue the counters: %s; counting from 0", err);
    /* The CPU seconds were the previous process's: this one starts at 0. */
    b->base.cpu_user_seconds = b->base.cpu_system_seconds = 0.0;
    b->saved = b->base;
}

/* This instance's endpoint of list (`key`), into out. 0, or -1 with err. */
static int
broker_pick(char out[QS_MAX_ENDPOINT_BYTES], const char *key, const char *list, int instance,
            char *err, size_t err_len)
{
    qs_endpoints_t eps;
    char why[256];

    if (qs_endpoints_parse(&eps, list, why, sizeof why) != 0) {
        snprintf(err, err_len, "[broker] %s: %s", key, why);
        return -1;
    }
    if (eps.n > 1 && instance == 0) {
        snprintf(err, err_len, "[broker] %s names %zu brokers: start each with --instance N "
                 "(1..%zu) to say which one it is", key, eps.n, eps.n);
        return -1;
    }
    if (eps.n > 1 && (size_t)instance > eps.n) {
        snprintf(err, err_len, "--instance %d, but [broker] %s names only %zu brokers",
                 instance, key, eps.n);
        return -1;
    }
    snprintf(out, QS_MAX_ENDPOINT_BYTES, "%s", eps.ep[eps.n > 1 ? instance - 1 : 0]);
    return 0;
}

/* The endpoints this instance binds and, past the first, its own counters file. */
static int
broker_instance(broker_t *b, char *err, size_t err_len)
{
    int n;

    if (broker_pick(b->frontend, "frontend", b->cfg.frontend, b->instance, err, err_len) != 0 ||
        broker_pick(b->backend, "backend", b->cfg.backend, b->instance, err, err_len) != 0)
        return -1;
    if (b->instance <= 1)
        return 0;
    n = snprintf(b->paths.broker_stats, sizeof b->paths.broker_stats, "%s/broker-%d.stats",
                 b->paths.home, b->instance);
    if (n < 0 || (size_t)n >= sizeof b->paths.broker_stats) {
        snprintf(err, err_len, "the site home path is too long");
        return -1;
    }
    return 0;
}

static int
broker_open(broker_t *b, const char *home)
{
    char err[ERRLEN];

    if (qs_site_paths(&b->paths, home, err, sizeof err) != 0 ||
        qs_site_check(&b->paths, err, sizeof err) != 0 ||
        qs_config_load(&b->cfg, b->paths.conf, err, sizeof err) != 0)
        goto fail;
    qs_log_set_json(b->cfg.log_json);
    if (broker_instance(b, err, sizeof err) != 0)
        goto fail;
    if (qs_clock_init(&b->clock) != 0) {
        snprintf(err, sizeof err, "QS_CLOCK_OFFSET_S is not an integer number of seconds");
        goto fail;
    }
    if ((b->kp = qs_keypair_load(b->paths.broker_key, err, sizeof err)) == NULL ||
        qs_pubkey_load(b->store_pk, b->paths.store_pub, err, sizeof err) != 0)
        goto fail;
    if ((b->sitedb = qs_sitedb_open(b->paths.site_db, 0, err, sizeof err)) == NULL)
        goto fail;
    /* Take the change marker first: a commit racing the load is then seen again. */
    {
        int changed;
        if (qs_sitedb_changed(b->sitedb, &changed) != 0) {
            snprintf(err, sizeof err, "cannot read '%s'", b->paths.site_db);
            goto fail;
        }
    }
    if (broker_reload_keys(b) != 0) {
        snprintf(err, sizeof err, "cannot load the enrolled clients from '%s'",
                 b->paths.site_db);
        goto fail;
    }
    b->ctx = qs_zmq_ctx_new(0);
    /* ZAP first: libzmq admits every CURVE handshake when no handler is bound. */
    if ((b->zap = qs_zap_new(b->ctx, b->store_pk, err, sizeof err)) == NULL)
        goto fail;
    b->router = qs_router_new(b->ctx, b->frontend, b->backend, b->cfg.broker_hwm,
                              b->kp, b->store_pk, err, sizeof err);
    if (b->router == NULL)
        goto fail;
    b->lograte = qs_lograte_new(b->cfg.broker_log_lines_per_s);
    b->guard = qs_guard_new(b->ctx, qs_router_frontend(b->router),
                            (uint64_t)b->cfg.broker_conn_max_kb * 1024,
                            (uint64_t)b->cfg.broker_total_max_mb * 1024 * 1024, b->lograte,
                            err, sizeof err);
    if (b->guard == NULL)
        goto fail;
    qs_guard_set_refuse(b->guard, qs_zap_source_flooding, b->zap);
    qs_zap_set_limits(b->zap, b->cfg.broker_handshakes_per_s, b->lograte);
    qs_router_set_limits(b->router, b->guard, b->lograte,
                         (uint64_t)b->cfg.broker_worker_max_mb * 1024 * 1024);
    b->keys_changed = b->keys_revoked = 0;
    broker_load_stats(b);
    log_info("listening: frontend '%s', backend '%s', hwm %d", b->frontend, b->backend,
             b->cfg.broker_hwm);
    qs_notify_log("READY=1");
    log_info("limits: conn_max_kb %d, total_max_mb %d, worker_max_mb %d, "
             "handshakes_per_second %d, log_lines_per_second %d",
             b->cfg.broker_conn_max_kb, b->cfg.broker_total_max_mb, b->cfg.broker_worker_max_mb,
             b->cfg.broker_handshakes_per_s, b->cfg.broker_log_lines_per_s);
    return 0;
fail:
    log_error("%s", err);
    return -1;
}

static void
broker_close(broker_t *b)
{
    /* Router sockets before the ZAP handler (see zap.h), sockets before the context. */
    qs_guard_destroy(&b->guard);
    qs_router_destroy(&b->router);
    qs_zap_destroy(&b->zap);
    if (b->ctx != NULL) {
        zmq_ctx_term(b->ctx);
        b->ctx = NULL;
    }
    qs_lograte_destroy(&b->lograte);
    qs_keyset_destroy(&b->keys);
    qs_sitedb_destroy(&b->sitedb);
    qs_keypair_destroy(&b->kp);
    sodium_memzero(b->store_pk, sizeof b->store_pk);
}

/* The loop's sockets, in the order a pass serves them: ZAP first, so
 * handshakes waiting on it finish; then the backend, so heartbeats are fresh
 * when the frontend picks a worker. */
enum { SOCK_ZAP, SOCK_BACKEND, SOCK_FRONTEND, SOCK_MONITOR, N_SOCKS };

/* Serve every socket marked in dirty, and mark what may be left unread. A
 * ZeroMQ socket's ZMQ_FD only signals a change: once a receive has said
 * EAGAIN, new work makes it readable; but a handler that stopped at its
 * batch bound left work behind, and a send can consume the signal of a
 * message that arrived meanwhile (libzmq processes a socket's commands on
 * send too). So a socket stays dirty after a full batch, and a socket
 * another handler sent on becomes dirty, until a call of its own ends on
 * EAGAIN. (ZAP's batch bound is its own: any answer marks it.) -1 on a
 * socket error. */
static int
broker_pass(broker_t *b, int dirty[N_SOCKS], int64_t now)
{
    int n;

    if (dirty[SOCK_ZAP]) {
        /* A client enrolled a moment ago must not be refused because the
         * periodic reload has not run yet: handshakes are rare, so check
         * site.db (one PRAGMA data_version) before answering them. */
        broker_check_site(b);
        if ((n = qs_zap_handle(b->zap, b->keys, now)) < 0)
            return -1;
        dirty[SOCK_ZAP] = n > 0;
    }
    if (dirty[SOCK_BACKEND]) {
        if ((n = qs_router_on_backend(b->router, now)) < 0)
            return -1;
        dirty[SOCK_BACKEND] = n >= QS_ROUTER_BATCH;
        dirty[SOCK_FRONTEND] |= n > 0;            /* replies went out there */
    }
    if (dirty[SOCK_FRONTEND]) {
        if ((n = qs_router_on_frontend(b->router, b->keys, now)) < 0)
            return -1;
        dirty[SOCK_FRONTEND] = n >= QS_ROUTER_BATCH;
        dirty[SOCK_BACKEND] |= n > 0;             /* envelopes went out there */
    }
    if (dirty[SOCK_MONITOR])
        dirty[SOCK_MONITOR] = qs_guard_on_monitor(b->guard, now) >= QS_GUARD_MONITOR_BATCH;
    return 0;
}

/* Wait for any of the sockets (their ZMQ_FD) for up to wait_ms; marks the
 * ones that signalled. 0, or -1 on a poll error. */
static int
broker_wait(const int fds[N_SOCKS], int dirty[N_SOCKS], int64_t wait_ms)
{
    struct pollfd p[N_SOCKS];

    for (int i = 0; i < N_SOCKS; i++)
        p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    if (poll(p, N_SOCKS, (int)wait_ms) < 0) {
        if (errno == EINTR)
            return 0;
        log_error("cannot poll: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < N_SOCKS; i++)
        if (p[i].revents != 0)
            dirty[i] = 1;
    return 0;
}

/* The sockets' ZMQ_FDs (they do not change while the sockets live). */
static int
broker_fds(broker_t *b, int fds[N_SOCKS])
{
    void *socks[N_SOCKS] = { qs_zap_socket(b->zap), qs_router_backend(b->router),
                             qs_router_frontend(b->router), qs_guard_socket(b->guard) };

    for (int i = 0; i < N_SOCKS; i++) {
        size_t len = sizeof fds[i];
        if (zmq_getsockopt(socks[i], ZMQ_FD, &fds[i], &len) != 0) {
            log_error("cannot get a socket's file descriptor: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
}

/* Serve the sockets until none has work, then block in one poll(2) on their
 * ZMQ_FDs: a busy broker makes no poll call at all, an idle one a single
 * one (zmq_poll would ask every socket for ZMQ_EVENTS twice per wake-up,
 * two system calls each). */
static int
broker_run(broker_t *b)
{
    int64_t now = qs_clock_mono_ms();
    int64_t next_check = now + QS_BROKER_RELOAD_MS;
    int64_t next_stats = now + QS_BROKER_STATS_MS;
    int64_t next_save = now + QS_BROKER_SAVE_MS;
    int64_t next_guard = now + QS_BROKER_GUARD_MS;
    int fds[N_SOCKS], dirty[N_SOCKS] = { 1, 1, 1, 1 };

    if (broker_fds(b, fds) != 0)
        return -1;
    while (!stop_requested) {
        int busy = 0;

        if (broker_pass(b, dirty, now) != 0)
            return -1;
        for (int i = 0; i < N_SOCKS; i++)
            busy |= dirty[i];
        if (!busy) {
            int64_t wait = (next_guard < next_check ? next_guard : next_check) - now;
            if (broker_wait(fds, dirty, wait < 0 ? 0 : wait) != 0)
                return -1;
        }
        now = qs_clock_mono_ms();
        if (now >= next_check) {
            broker_check_site(b);
            (void)qs_router_expire(b->router, now);
            next_check = now + QS_BROKER_RELOAD_MS;
        }
        if (now >= next_guard || b->keys_changed) {
            (void)qs_guard_check(b->guard, b->keys, b->keys_changed, b->keys_revoked, now);
            b->keys_changed = b->keys_revoked = 0;
            next_guard = now + QS_BROKER_GUARD_MS;
            dirty[SOCK_MONITOR] = 1;   /* the check read it: it may have stopped at its bound */
        }
        if (now >= next_stats) {
            broker_log_stats(b, now, "");
            next_stats = now + QS_BROKER_STATS_MS;
        }
        if (now >= next_save) {
            broker_save_stats(b, 0);
            next_save = now + QS_BROKER_SAVE_MS;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    broker_t b;
    const char *home = NULL, *env_home = getenv("QS_HOME"), *instance = NULL;
    int rc, inst = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            usage(stdout, 0);
        else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
            home = argv[++i];
        else if (strncmp(argv[i], "--home=", 7) == 0)
            home = argv[i] + 7;
        else if (strcmp(argv[i], "--instance") == 0 && i + 1 < argc)
            instance = argv[++i];
        else if (strncmp(argv[i], "--instance=", 11) == 0)
            instance = argv[i] + 11;
        else {
            fprintf(stderr, "qs-broker: %s '%s'\n", strncmp(argv[i], "-", 1) == 0
                    ? (strcmp(argv[i], "--home") == 0 || strcmp(argv[i], "--instance") == 0
                           ? "a value is needed after" : "unknown option")
                    : "unexpected argument", argv[i]);
            usage(stderr, 2);
        }
    }
    if (instance != NULL) {
        char *end = NULL;
        long v = strtol(instance, &end, 10);
        if (*instance == '\0' || *end != '\0' || v < 1 || v > (long)QS_MAX_BROKERS) {
            fprintf(stderr, "qs-broker: --instance: '%s' is not a number from 1 to %u\n",
                    instance, QS_MAX_BROKERS);
            usage(stderr, 2);
        }
        inst = (int)v;
    }
    /* The exit-code rule (docs/commands.md): a missing home is a usage error. */
    if ((home == NULL || *home == '\0') && (env_home == NULL || *env_home == '\0')) {
        fprintf(stderr, "qs-broker: no site home: pass --home DIR or set QS_HOME\n");
        usage(stderr, 2);
    }
    qs_log_init("qs-broker", -1);
    if (sodium_init() < 0)
        qs_fatal("cannot initialise libsodium");
    {
        char why[256];
        if (qs_process_no_core(why, sizeof why) != 0)   /* it holds the broker's key */
            log_warn("core dumps stay enabled: %s", why);
    }

    if (qs_signal_on_stop(on_signal) != 0)
        qs_fatal("cannot install signal handlers");
    signal(SIGPIPE, SIG_IGN);

    (void)mallopt(M_MMAP_THRESHOLD, QS_BROKER_MMAP_THRESHOLD);
    memset(&b, 0, sizeof b);
    b.instance = inst;
    if (broker_open(&b, home) != 0) {
        broker_close(&b);
        return 1;
    }
    rc = broker_run(&b);
    broker_log_stats(&b, qs_clock_mono_ms(), " at shutdown");
    broker_save_stats(&b, 1);
    qs_notify_log("STOPPING=1");
    log_info("%s", rc == 0 ? "stopped" : "stopped on an error");
    broker_close(&b);
    return rc == 0 ? 0 : 1;
}
