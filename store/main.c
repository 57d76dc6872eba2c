/* main.c - qs-store: decrypts, minimizes and durably stores state messages, then acks.
 *
 * One DEALER socket to each broker's backend ([broker] backend may name
 * several brokers, qs_endpoints.h; CurveZMQ client with the store key,
 * pinned to the broker key all brokers share) and one zmq_poll loop over
 * them and the ingest commit thread's fd: drain every envelope already
 * waiting (up to group_commit_max_messages) into the ingest group; hand the
 * group to the commit thread as soon as it is free, and keep draining into
 * the next one while it commits; when it is done, send that group's sealed
 * acks. An envelope's routing id goes to ingest with the index of the
 * socket it came in on in front, so its ack goes back through that socket,
 * to the broker that holds the client's connection. Between those:
 * heartbeat every broker (QS_WORKER_READY every QS_WORKER_HEARTBEAT_MS,
 * qs_workerproto.h), reload site.db changes, flush pending counters and
 * print a stats line every minute. SIGTERM/SIGINT only set a flag: the loop
 * finishes the commit in flight, commits the group already received, sends
 * their acks and exits 0.
 *
 * One qs-store per SQLite store.db: before opening anything it takes an exclusive
 * flock on DIR/store.lock (0600, never removed: the lock, not the file, is
 * what counts, and the kernel drops it when the process dies however it
 * dies). A second qs-store on the same home exits 1 naming the holder's lock.
 * All the ingest logic lives in ingest.c; this file is wiring.
 */
#include "checkpointer.h"
#include "ingest.h"

#include "qs_clock.h"
#include "qs_config.h"
#include "qs_endpoints.h"
#include "qs_epochkeys.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_notify.h"
#include "qs_process.h"
#include "qs_signal.h"
#include "qs_site.h"
#include "qs_sitedb.h"
#include "qs_storedb.h"
#include "qs_storestats.h"
#include "qs_workerproto.h"
#include "qs_zmqutil.h"
#include "storedb_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define STATS_MS 60000
#define POLL_MS 100
#define LINGER_MS 2000
#define LOCK_FILE "store.lock"

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
            "usage: qs-store --home DIR\n"
            "\n"
            "Receives encrypted state messages from qs-broker, checks the sender,\n"
            "decrypts, validates, drops duplicates, minimizes (pseudonyms, policy\n"
            "time precision, user names only when the policy collects them, details\n"
            "encrypted per epoch) and commits them to DIR/store.db; acks only after\n"
            "the commit is durable. Stops cleanly on SIGTERM or SIGINT.\n"
            "\n"
            "  --home DIR   the site home (default: $QS_HOME)\n"
            "  --help       this text\n"
            "\n"
            "Only one qs-store may run on a store.db: a second one exits 1. On a\n"
            "PostgreSQL store ([store] database) several may share the database.\n"
            "\n"
            "Exit status: 0 stopped cleanly, 1 failure, 2 usage error.\n");
    exit(code);
}

struct loop {
    void *socks[QS_MAX_BROKERS];     /* one DEALER per broker backend */
    size_t n_socks;
    uint64_t acks_sent, acks_dropped;
};

static void
send_reply(void *ctx, const uint8_t *routing_id, size_t routing_id_len,
           const uint8_t *reply, size_t reply_len, const Quietstate__Ack *ack)
{
    struct loop *lp = ctx;
    void *sock = routing_id_len > 1 && routing_id[0] < lp->n_socks ? lp->socks[routing_id[0]]
                                                                   : NULL;

    (void)ack;
    /* Never block the loop on a full or absent broker: a lost ack only makes
     * the producer resend, and the resend is a counted duplicate. The first
     * byte is the socket's index (recv_one); the rest, the broker's id. */
    if (sock == NULL ||
        zmq_send(sock, routing_id + 1, routing_id_len - 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(sock, reply, reply_len, ZMQ_DONTWAIT) < 0) {
        if (lp->acks_dropped++ == 0)
            log_warn("cannot send an ack to the broker: %s (dropping; producers resend)",
                     zmq_strerror(zmq_errno()));
        return;
    }
    lp->acks_sent++;
}

static int
recv_frame(zmq_msg_t *msg, void *sock, int flags)
{
    for (;;) {
        int rc = zmq_msg_recv(msg, sock, flags);
        if (rc >= 0 || zmq_errno() != EINTR || (flags & ZMQ_DONTWAIT))
            return rc;
    }
}

/* Receive one message from socket `tag` of lp without blocking and add it
 * to the group, its routing id tagged with the socket's index (send_reply).
 * Returns 1 when one was added, 0 when none is waiting, -1 on socket error. */
static int
recv_one(struct loop *lp, size_t tag, qs_ingest_t *ingest)
{
    void *sock = lp->socks[tag];
    zmq_msg_t parts[3];
    uint8_t rid[QS_INGEST_MAX_ROUTING_ID];
    size_t rid_len;
    int n = 0, more, extra = 0, rc = 1;

    for (int i = 0; i < 3; i++)
        zmq_msg_init(&parts[i]);
    if (recv_frame(&parts[0], sock, ZMQ_DONTWAIT) < 0) {
        rc = (zmq_errno() == EAGAIN || zmq_errno() == EINTR) ? 0 : -1;
        goto out;
    }
    n = 1;
    more = zmq_msg_more(&parts[0]);
    while (more) {
        /* The rest of a multipart message is already here: no real wait. */
        if (n < 3) {
            if (recv_frame(&parts[n], sock, 0) < 0) {
                rc = -1;
                goto out;
            }
            more = zmq_msg_more(&parts[n]);
            n++;
        } else {
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            if (recv_frame(&junk, sock, 0) < 0) {
                zmq_msg_close(&junk);
                rc = -1;
                goto out;
            }
            more = zmq_msg_more(&junk);
            zmq_msg_close(&junk);
            extra = 1;
        }
    }
    /* The broker's routing ids are 5 bytes: a longer one than fits beside
     * the tag is cut, and its ack cannot be routed (the producer resends). */
    rid[0] = (uint8_t)tag;
    rid_len = zmq_msg_size(&parts[0]);
    if (rid_len > sizeof rid - 1)
        rid_len = sizeof rid - 1;
    memcpy(rid + 1, zmq_msg_data(&parts[0]), rid_len);
    rid_len++;
    if (n == 3 && !extra)
        (void)qs_ingest_add(ingest, rid, rid_len, zmq_msg_data(&parts[1]),
                            zmq_msg_size(&parts[1]), zmq_msg_data(&parts[2]),
                            zmq_msg_size(&parts[2]));
    else
        (void)qs_ingest_add(ingest, rid, rid_len, NULL, 0, NULL, 0);
out:
    for (int i = 0; i < 3; i++)
        zmq_msg_close(&parts[i]);
    return rc;
}

static void
log_stats(const qs_ingest_t *ingest, const struct loop *lp)
{
    qs_ingest_stats_t s;

    qs_ingest_stats(ingest, &s);
    log_info("stats: %llu envelopes, %llu stored, %llu duplicates, %llu batches and "
             "%llu messages rejected, %llu commits, %llu failed commits, %llu acks sent, "
             "%llu dropped",
             (unsigned long long)s.batches, (unsigned long long)s.stored,
             (unsigned long long)s.duplicates, (unsigned long long)s.rejected_batches,
             (unsigned long long)s.rejected_messages, (unsigned long long)s.commits,
             (unsigned long long)s.commit_failures, (unsigned long long)lp->acks_sent,
             (unsigned long long)lp->acks_dropped);
}

/* Everything the daemon opens, in the order it opens it. */
struct store {
    qs_site_paths_t paths;
    qs_config_t cfg;
    qs_clock_t clock;
    int lock_fd;
    qs_keypair_t *store_kp;
    uint8_t broker_pk[QS_KEY_BYTES];
    uint8_t *site_key;
    qs_sitedb_t *sitedb;
    qs_storedb_t *storedb;
    qs_checkpointer_t *checkpointer;   /* SQLite: the WAL's checkpoints */
    qs_epochkeys_t *epochkeys;
    qs_ingest_t *ingest;
    void *ctx;
    struct loop lp;
    qs_storestats_t stats;      /* DIR/store.stats for /metrics (store_stats_*) */
    int stats_dirty;
};

/* --home DIR (or NULL for $QS_HOME); exits on --help and usage errors. */
static const char *
parse_args(int argc, char **argv)
{
    const char *home = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            usage(stdout, 0);
        else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
            home = argv[++i];
        else if (strncmp(argv[i], "--home=", 7) == 0)
            home = argv[i] + 7;
        else {
            fprintf(stderr, "qs-store: %s '%s'\n", strncmp(argv[i], "-", 1) == 0
                    ? (strcmp(argv[i], "--home") == 0 ? "a value is needed after"
                                                       : "unknown option")
                    : "unexpected argument", argv[i]);
            usage(stderr, 2);
        }
    }
    return home;
}

/* The exclusive lock on DIR/store.lock, held until exit. -1 with a message
 * when another qs-store holds it or the file cannot be opened. */
static int
take_lock(struct store *st)
{
    char lock[QS_MAX_PATH_BYTES];
    int n = snprintf(lock, sizeof lock, "%s/%s", st->paths.home, LOCK_FILE);

    if (n < 0 || (size_t)n >= sizeof lock) {
        log_error("cannot start: the lock file path is too long");
        return -1;
    }
    st->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (st->lock_fd < 0) {
        log_error("cannot start: cannot open the lock file '%s': %s", lock, strerror(errno));
        return -1;
    }
    while (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK)
            fprintf(stderr, "qs-store: another qs-store is running on '%s' (lock held on "
                    "'%s')\n", st->paths.store_db, lock);
        else
            log_error("cannot start: cannot lock '%s': %s", lock, strerror(errno));
        return -1;
    }
    return 0;
}

/* Site, lock, keys and databases, then the ingest pipeline. 0, or -1 logged. */
static int
store_open(struct store *st, const char *home)
{
    qs_ingest_config_t icfg;
    char err[1024];

    if (qs_site_paths(&st->paths, home, err, sizeof err) != 0) {
        fprintf(stderr, "qs-store: %s\n", err);
        usage(stderr, 2);
    }
    if (qs_site_check(&st->paths, err, sizeof err) != 0 ||
        qs_config_load(&st->cfg, st->paths.conf, err, sizeof err) != 0) {
        log_error("cannot start: %s", err);
        return -1;
    }
    qs_log_set_json(st->cfg.log_json);
    if (qs_clock_init(&st->clock) != 0) {
        log_error("cannot start: QS_CLOCK_OFFSET_S is not an integer number of seconds");
        return -1;
    }
    /* On PostgreSQL several workers share the database (row locks keep
     * them exactly-once): the file lock is SQLite's rule only. */
    if (!qs_config_database_is_pg(qs_storedb_location(st->cfg.store_database,
                                                      st->paths.store_db)) &&
        take_lock(st) != 0)
        return -1;
    if ((st->store_kp = qs_keypair_load(st->paths.store_key, err, sizeof err)) == NULL ||
        qs_pubkey_load(st->broker_pk, st->paths.broker_pub, err, sizeof err) != 0 ||
        qs_secret_load(&st->site_key, st->paths.site_key, 0, err, sizeof err) != 0 ||
        (st->sitedb = qs_sitedb_open(st->paths.site_db, 0, err, sizeof err)) == NULL ||
        (st->storedb = qs_storedb_open(qs_storedb_location(st->cfg.store_database,
                                                           st->paths.store_db),
                                       1, err, sizeof err)) == NULL ||
        (st->epochkeys = qs_epochkeys_open(st->paths.epochs_dir, 1, err, sizeof err)) == NULL) {
        log_error("cannot start: %s", err);
        return -1;
    }
    if (qs_storedb_engine(st->storedb) == QS_STOREDB_SQLITE) {
        sqlite3_busy_timeout(qs_storedb_sqlite(st->storedb), QS_WORKER_BUSY_TIMEOUT_MS);
        /* Before the commit thread exists: it is the hook's thread. */
        if ((st->checkpointer = qs_checkpointer_start(st->storedb, st->paths.store_db, err,
                                                      sizeof err)) == NULL) {
            log_error("cannot start: %s", err);
            return -1;
        }
    }
    memset(&icfg, 0, sizeof icfg);
    icfg.store_kp = st->store_kp;
    icfg.site_key = st->site_key;
    icfg.sitedb = st->sitedb;
    icfg.storedb = st->storedb;
    icfg.epochkeys = st->epochkeys;
    icfg.clock = &st->clock;
    icfg.skew_ms = (int64_t)st->cfg.skew_limit_s * 1000;
    icfg.group_max_messages = (size_t)st->cfg.group_commit_max_messages;
    /* Store protection (docs/quotas.md). The disk reserve watches store.db's
     * file system; a PostgreSQL database's disk is not this host's. */
    icfg.quota_messages_per_minute = (uint64_t)st->cfg.quota_messages_per_minute;
    icfg.quota_details_per_minute = (uint64_t)st->cfg.quota_details_kb_per_minute * 1024u;
    icfg.quota_topics = (uint64_t)st->cfg.quota_topics_per_client;
    if (qs_storedb_engine(st->storedb) == QS_STOREDB_SQLITE) {
        icfg.reserve_dir = st->paths.home;
        icfg.reserve_bytes = (uint64_t)st->cfg.disk_reserve_mb * 1024u * 1024u;
    }
    if ((st->ingest = qs_ingest_new(&icfg, err, sizeof err)) == NULL) {
        log_error("cannot start: %s", err);
        return -1;
    }
    log_info("protection (docs/quotas.md; 0: off): per client %d messages and %d KiB of "
             "details a minute, %d topics; disk reserve %d MiB%s",
             st->cfg.quota_messages_per_minute, st->cfg.quota_details_kb_per_minute,
             st->cfg.quota_topics_per_client, icfg.reserve_bytes > 0 ? st->cfg.disk_reserve_mb : 0,
             icfg.reserve_dir == NULL ? " (PostgreSQL: the database server's disk)" : "");
    return 0;
}

/* One DEALER per broker backend: a DEALER connected to several would
 * spread heartbeats and acks round-robin over the brokers. */
static int
store_connect(struct store *st)
{
    qs_endpoints_t eps;
    char err[256];

    if (qs_endpoints_parse(&eps, st->cfg.backend, err, sizeof err) != 0) {
        log_error("cannot start: [broker] backend: %s", err);
        return -1;
    }
    st->ctx = qs_zmq_ctx_new(0);
    for (size_t i = 0; i < eps.n; i++) {
        void *sock = zmq_socket(st->ctx, ZMQ_DEALER);
        st->lp.socks[st->lp.n_socks] = sock;
        if (sock != NULL)
            st->lp.n_socks++;
        if (sock == NULL || qs_zmq_socket_limits(sock, st->cfg.broker_hwm, LINGER_MS) != 0 ||
            qs_zmq_curve_client(sock, st->store_kp, st->broker_pk) != 0 ||
            zmq_connect(sock, eps.ep[i]) != 0) {
            log_error("cannot connect to the broker backend '%s': %s", eps.ep[i],
                      zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
}

/* Take every envelope already waiting, up to a full group: one from each
 * broker in turn, so a busy broker cannot crowd the others out of a group. */
static void
drain(struct store *st)
{
    int any = 1;

    while (any && !qs_ingest_full(st->ingest)) {
        any = 0;
        for (size_t k = 0; k < st->lp.n_socks && !qs_ingest_full(st->ingest); k++) {
            int got = recv_one(&st->lp, k, st->ingest);
            if (got < 0)
                log_error("cannot receive from the broker: %s", zmq_strerror(zmq_errno()));
            else if (got > 0)
                any = 1;
        }
    }
}

/* Heartbeat when it is due (or due within early_ms): the broker routes only
 * to workers heard from within QS_WORKER_TTL_MS. */
static void
beat(struct store *st, int64_t *next_beat, int64_t now, int64_t early_ms)
{
    if (now < *next_beat - early_ms)
        return;
    for (size_t k = 0; k < st->lp.n_socks; k++)
        (void)zmq_send(st->lp.socks[k], QS_WORKER_READY, QS_WORKER_READY_LEN, ZMQ_DONTWAIT);
    *next_beat = now + QS_WORKER_HEARTBEAT_MS;
}

/* ---- DIR/store.stats (qs_storestats.h): commit timings and usage for qs-web's /metrics ---- */

#define STATS_FILE_MS 1000

/* Send the acks of the group in flight once it has committed (wait: block
 * until it has), timing its commit and counting its envelopes. */
static void
store_stats_collect(struct store *st, int wait)
{
    qs_ingest_done_t done;
    qs_ingest_stats_t is;

    if (qs_ingest_collect(st->ingest, wait, send_reply, &st->lp, &done) != 1 ||
        done.envelopes == 0)
        return;
    qs_storestats_observe(&st->stats, done.seconds, (uint64_t)done.envelopes, done.rc == 0);
    qs_ingest_stats(st->ingest, &is);   /* resync counts (docs/resync.md) */
    st->stats.resync_requested = is.resync_requested;
    st->stats.resync_applied = is.resync_applied;
    st->stats_dirty = 1;
}

/* Write the stats file when it changed (at most every STATS_FILE_MS unless
 * force); a failure is logged once per minute at most, never fatal. */
static void
store_stats_save(struct store *st, int force)
{
    static int64_t next_ms, next_warn_ms;
    char path[QS_MAX_PATH_BYTES], err[512] = "the site home path is too long";
    int64_t now = qs_clock_mono_ms();
    qs_ingest_stats_t is;

    /* The disk reserve's state is news even when nothing commits. */
    qs_ingest_stats(st->ingest, &is);
    if (is.disk_low != st->stats.disk_reserve_low ||
        is.disk_free_bytes >> 20 != st->stats.disk_free_bytes >> 20) {
        st->stats.disk_reserve_low = is.disk_low;
        st->stats.disk_free_bytes = is.disk_free_bytes;
        st->stats_dirty = 1;
    }
    if ((!st->stats_dirty && next_ms != 0) || (!force && now < next_ms))
        return;
    next_ms = now + STATS_FILE_MS;
    st->stats_dirty = 0;
    if (snprintf(path, sizeof path, "%s/%s", st->paths.home, QS_STORESTATS_FILE) >=
            (int)sizeof path ||
        qs_storestats_save(&st->stats, path, qs_clock_now_ms(&st->clock), err, sizeof err) != 0) {
        if (now >= next_warn_ms)
            log_warn("cannot write %s: %s", QS_STORESTATS_FILE, err);
        next_warn_ms = now + STATS_MS;
    }
}

static int
socks_readable(const zmq_pollitem_t *items, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (items[k].revents & ZMQ_POLLIN)
            return 1;
    return 0;
}

/* The zmq_poll loop, until a signal. 0 stopped on a signal, -1 socket error. */
static int
store_run(struct store *st)
{
    int64_t next_beat = qs_clock_mono_ms(), next_stats = next_beat + STATS_MS;

    while (!stop_requested) {
        /* The sockets, then the commit thread's fd. A full group waits for
         * the commit thread: leave the rest of the envelopes in the sockets
         * (their HWM is the backpressure). */
        zmq_pollitem_t items[QS_MAX_BROKERS + 1];
        short want = qs_ingest_full(st->ingest) ? 0 : ZMQ_POLLIN;
        size_t n = st->lp.n_socks;
        int64_t now = qs_clock_mono_ms();
        long timeout = POLL_MS;
        int rc;

        for (size_t k = 0; k < n; k++)
            items[k] = (zmq_pollitem_t){ st->lp.socks[k], 0, want, 0 };
        items[n] = (zmq_pollitem_t){ NULL, qs_ingest_fd(st->ingest), ZMQ_POLLIN, 0 };
        beat(st, &next_beat, now, 0);
        if (next_beat - now < timeout)
            timeout = (long)(next_beat - now);
        rc = zmq_poll(items, (int)n + 1, timeout);
        if (rc < 0 && zmq_errno() != EINTR) {
            log_error("cannot poll the broker socket: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (rc > 0 && (items[n].revents & ZMQ_POLLIN))
            store_stats_collect(st, 0);
        if (rc > 0 && socks_readable(items, n))
            drain(st);
        /* The commit thread free: it takes the group at once, and this
         * thread goes on receiving and decoding into the next one. */
        (void)qs_ingest_submit(st->ingest);
        (void)qs_ingest_tick(st->ingest, 0);
        store_stats_save(st, 0);
        if (qs_clock_mono_ms() >= next_stats) {
            log_stats(st->ingest, &st->lp);
            next_stats = qs_clock_mono_ms() + STATS_MS;
        }
    }
    return 0;
}

static void
store_close(struct store *st)
{
    for (size_t k = 0; k < st->lp.n_socks; k++)
        zmq_close(st->lp.socks[k]);
    if (st->ctx != NULL)
        zmq_ctx_term(st->ctx);
    qs_ingest_destroy(&st->ingest);   /* the commit thread ends here */
    if (st->checkpointer != NULL) {
        qs_checkpointer_stats_t ck;
        qs_checkpointer_stats(st->checkpointer, &ck);
        log_info("WAL checkpoints: %" PRIu64 " in the background (%" PRIu64 " pages), %" PRIu64
                 " by the commit thread, %" PRIu64 " failed",
                 ck.background, ck.pages, ck.inline_runs, ck.failed);
        qs_checkpointer_destroy(&st->checkpointer);
    }
    qs_epochkeys_destroy(&st->epochkeys);
    qs_storedb_destroy(&st->storedb);
    qs_sitedb_destroy(&st->sitedb);
    if (st->site_key != NULL)
        sodium_free(st->site_key);
    qs_keypair_destroy(&st->store_kp);
    if (st->lock_fd >= 0)
        close(st->lock_fd);   /* releases the lock */
}

int
main(int argc, char **argv)
{
    struct store st = { .lock_fd = -1 };
    const char *home = parse_args(argc, argv);
    char errmsg[256];
    int status = 1;

    qs_log_init("qs-store", -1);
    if (sodium_init() < 0) {
        log_error("cannot initialise libsodium");
        return 1;
    }
    if (qs_process_no_core(errmsg, sizeof errmsg) != 0)
        log_warn("core dumps stay enabled: %s", errmsg);
    if (store_open(&st, home) != 0 || store_connect(&st) != 0)
        goto done;
    (void)qs_signal_on_stop(on_signal);
    signal(SIGPIPE, SIG_IGN);
    log_info("started: broker backend '%s', group commit up to %d messages",
             st.cfg.backend, st.cfg.group_commit_max_messages);
    qs_notify_log("READY=1");
    if (store_run(&st) != 0)
        goto done;
    /* The commit in flight, then the group already received: their acks
     * go out before the socket closes (LINGER_MS). */
    store_stats_collect(&st, 1);
    if (qs_ingest_submit(st.ingest) == 1)
        store_stats_collect(&st, 1);
    if (qs_ingest_tick(st.ingest, 1) != 0)
        log_warn("cannot write the last rejection counters to store.db");
    store_stats_save(&st, 1);
    qs_notify_log("STOPPING=1");
    log_info("stopping on signal after the last commit");
    log_stats(st.ingest, &st.lp);
    status = 0;
done:
    store_close(&st);
    return status;
}
