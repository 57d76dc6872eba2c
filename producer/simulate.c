/* simulate.c - the fleet simulator behind `qs-producer simulate` (simulate.h).
 *
 * Start-up: DIR/sim/state.db (0600, in a 0700 directory) holds the run's
 * parameters, its base time and, per client, the secret key, message count,
 * acked low-water mark and rejections. A first run creates it (keys first,
 * durably), then enrolls every client not yet in site.db in one site.db
 * transaction with one audit entry. Enrollment is idempotent: a client whose
 * key is already enrolled is skipped, so a crash between the two steps, or a
 * restart, resumes instead of re-enrolling; a sim-NNNNN name held by a key
 * this state does not know (a removed DIR/sim) is revoked and enrolled anew
 * (simenroll.c, an audited transaction of common/qs_audit.h).
 *
 * Delivery: one qs_sender_t per unfinished client, sharing one workspace,
 * all in one poll loop (fleet_turn); a client is closed as soon as all its messages
 * are acked. Flow control keeps about SIM_BUDGET_MESSAGES messages in
 * flight across the fleet (senders are paused and released in rotating
 * order): a thousand clients sending at once would otherwise queue more
 * than a store commits within the 5 s reply timeout, and the resends that
 * follow a timeout only add load. Once a second: progress saved, a TTY progress line, and
 * one log line for any reconnects or retry answers across the fleet.
 */
#include "simulate.h"

#include "sender.h"
#include "simenroll.h"
#include "simgen.h"

#include "qs_clock.h"
#include "qs_config.h"
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_secpool.h"
#include "qs_site.h"
#include "qs_zmqutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define SIM_DEFAULT_TIMEOUT_S   600
#define SIM_TARGET_INFLIGHT     1024   /* batches in flight across the fleet */
#define SIM_BUDGET_MESSAGES     32768  /* messages in flight across the fleet */

typedef struct {
    qs_site_paths_t paths;
    qs_config_t cfg;
    qs_clock_t clock;
    uint8_t broker_pk[QS_KEY_BYTES];
    uint8_t store_pk[QS_KEY_BYTES];
    char sim_dir[QS_MAX_PATH_BYTES];
    char state_path[QS_MAX_PATH_BYTES];
    sqlite3 *state;
    sqlite3_stmt *save;
    uint32_t n;
    uint64_t m;
    int64_t base_ms;
    qs_simgen_client_t *clients;      /* n */
    qs_keypair_t **keys;              /* n */
} sim_t;

static const char state_schema[] =
    "CREATE TABLE IF NOT EXISTS run("
    "  id INTEGER PRIMARY KEY CHECK (id = 1), clients INTEGER NOT NULL,"
    "  messages INTEGER NOT NULL, base_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS clients("
    "  idx INTEGER PRIMARY KEY, sk BLOB NOT NULL, count INTEGER NOT NULL,"
    "  acked INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0);";

static int
state_open(sim_t *sim)
{
    char err[512];
    char *sqlerr = NULL;
    int fd;

    if (qs_fs_mkdir_private(sim->sim_dir, err, sizeof err) != 0 ||
        qs_fs_check_private(sim->sim_dir, err, sizeof err) != 0) {
        log_error("simulate: %s", err);
        return -1;
    }
    fd = open(sim->state_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("simulate: cannot create '%s': %s", sim->state_path, strerror(errno));
        return -1;
    }
    close(fd);
    if (qs_fs_check_private(sim->state_path, err, sizeof err) != 0) {
        log_error("simulate: %s", err);
        return -1;
    }
    if (sqlite3_open_v2(sim->state_path, &sim->state,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(sim->state, 10000) != SQLITE_OK ||
        sqlite3_exec(sim->state, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                 "PRAGMA secure_delete=ON;", NULL, NULL, &sqlerr) != SQLITE_OK ||
        sqlite3_exec(sim->state, state_schema, NULL, NULL, &sqlerr) != SQLITE_OK ||
        sqlite3_prepare_v2(sim->state, "UPDATE clients SET acked = ?2, rejected = ?3 "
                           "WHERE idx = ?1", -1, &sim->save, NULL) != SQLITE_OK) {
        log_error("simulate: cannot open '%s': %s", sim->state_path,
                  sqlerr ? sqlerr : sqlite3_errmsg(sim->state));
        sqlite3_free(sqlerr);
        return -1;
    }
    return 0;
}

/* First run: the parameters, the base time and a fresh key per client, in
 * one durable transaction, before any of them is enrolled. */
static int
state_create(sim_t *sim)
{
    sqlite3_stmt *st = NULL;
    int64_t now = qs_clock_now_ms(&sim->clock);
    /* Every message time lies in the past: the last serial of the busiest
     * client is base_ms + count, a second before the first start. */
    int64_t base_ms = now - (int64_t)qs_simgen_count(sim->m, sim->n, 1) - 1000;

    if (sqlite3_exec(sim->state, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto db_error;
    if (sqlite3_prepare_v2(sim->state, "INSERT INTO run(id, clients, messages, base_ms, "
                           "created_ms) VALUES (1, ?1, ?2, ?3, ?4)", -1, &st, NULL) != SQLITE_OK)
        goto db_error_rollback;
    sqlite3_bind_int64(st, 1, sim->n);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)sim->m);
    sqlite3_bind_int64(st, 3, base_ms);
    sqlite3_bind_int64(st, 4, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto db_error_rollback;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(sim->state, "INSERT INTO clients(idx, sk, count) VALUES (?1, ?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        goto db_error_rollback;
    for (uint32_t c = 1; c <= sim->n; c++) {
        qs_keypair_t *kp = qs_keypair_generate();
        int rc;
        if (kp == NULL)
            qs_fatal("simulate: out of locked memory generating keys");
        sqlite3_bind_int64(st, 1, c);
        sqlite3_bind_blob(st, 2, qs_keypair_secret(kp), QS_KEY_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)qs_simgen_count(sim->m, sim->n, c));
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        qs_keypair_destroy(&kp);
        if (rc != SQLITE_DONE)
            goto db_error_rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(sim->state, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto db_error_rollback;
    return 0;
db_error_rollback:
    log_error("simulate: cannot write '%s': %s", sim->state_path, sqlite3_errmsg(sim->state));
    sqlite3_finalize(st);
    (void)sqlite3_exec(sim->state, "ROLLBACK", NULL, NULL, NULL);
    return -1;
db_error:
    log_error("simulate: cannot write '%s': %s", sim->state_path, sqlite3_errmsg(sim->state));
    return -1;
}

/* Load the run (creating it on first start) into sim->clients and sim->keys. */
static int
state_load(sim_t *sim)
{
    sqlite3_stmt *st = NULL;
    uint32_t loaded = 0;
    int rc;

    if (sqlite3_prepare_v2(sim->state, "SELECT clients, messages, base_ms FROM run "
                           "WHERE id = 1", -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        st = NULL;
        if (state_create(sim) != 0)
            return -1;
        log_info("simulate: new run of %u clients and %llu messages", sim->n,
                 (unsigned long long)sim->m);
        return state_load(sim);
    }
    if (rc != SQLITE_ROW)
        goto db_error;
    if ((uint64_t)sqlite3_column_int64(st, 0) != sim->n ||
        (uint64_t)sqlite3_column_int64(st, 1) != sim->m) {
        log_error("simulate: '%s' holds a run of %lld clients and %lld messages, not %u and "
                  "%llu: rerun with those to resume it, or remove '%s' to start a new one",
                  sim->state_path, (long long)sqlite3_column_int64(st, 0),
                  (long long)sqlite3_column_int64(st, 1), sim->n,
                  (unsigned long long)sim->m, sim->sim_dir);
        sqlite3_finalize(st);
        return -1;
    }
    sim->base_ms = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    st = NULL;

    sim->clients = qs_calloc(sim->n, sizeof *sim->clients);
    sim->keys = qs_calloc(sim->n, sizeof *sim->keys);
    if (sqlite3_prepare_v2(sim->state, "SELECT idx, sk, count, acked, rejected FROM clients "
                           "ORDER BY idx", -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t idx = sqlite3_column_int64(st, 0);
        qs_simgen_client_t *c;
        if (idx < 1 || idx > (int64_t)sim->n || sim->keys[idx - 1] != NULL ||
            sqlite3_column_bytes(st, 1) != QS_KEY_BYTES) {
            log_error("simulate: '%s' is inconsistent (client %lld)", sim->state_path,
                      (long long)idx);
            sqlite3_finalize(st);
            return -1;
        }
        c = &sim->clients[idx - 1];
        c->client = (uint32_t)idx;
        c->count = (uint64_t)sqlite3_column_int64(st, 2);
        c->acked = (uint64_t)sqlite3_column_int64(st, 3);
        c->rejected = (uint64_t)sqlite3_column_int64(st, 4);
        c->base_ms = sim->base_ms;
        sim->keys[idx - 1] = qs_keypair_from_secret(sqlite3_column_blob(st, 1));
        if (sim->keys[idx - 1] == NULL)
            qs_fatal("simulate: out of locked memory loading keys");
        loaded++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        goto db_error;
    if (loaded != sim->n) {
        log_error("simulate: '%s' has %u of %u clients: remove '%s' to start over",
                  sim->state_path, loaded, sim->n, sim->sim_dir);
        return -1;
    }
    return 0;
db_error:
    log_error("simulate: cannot read '%s': %s", sim->state_path, sqlite3_errmsg(sim->state));
    sqlite3_finalize(st);
    return -1;
}

/* Save every changed low-water mark in one transaction. */
static int
state_save(sim_t *sim)
{
    int any = 0, rc = 0;

    for (uint32_t i = 0; i < sim->n && !any; i++)
        any = sim->clients[i].dirty;
    if (!any)
        return 0;
    if (sqlite3_exec(sim->state, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto db_error;
    for (uint32_t i = 0; i < sim->n; i++) {
        qs_simgen_client_t *c = &sim->clients[i];
        if (!c->dirty)
            continue;
        sqlite3_bind_int64(sim->save, 1, c->client);
        sqlite3_bind_int64(sim->save, 2, (sqlite3_int64)c->acked);
        sqlite3_bind_int64(sim->save, 3, (sqlite3_int64)c->rejected);
        rc = sqlite3_step(sim->save);
        sqlite3_reset(sim->save);
        if (rc != SQLITE_DONE) {
            (void)sqlite3_exec(sim->state, "ROLLBACK", NULL, NULL, NULL);
            goto db_error;
        }
    }
    if (sqlite3_exec(sim->state, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        (void)sqlite3_exec(sim->state, "ROLLBACK", NULL, NULL, NULL);
        goto db_error;
    }
    for (uint32_t i = 0; i < sim->n; i++)
        sim->clients[i].dirty = 0;
    return 0;
db_error:
    log_error("simulate: cannot save progress to '%s': %s", sim->state_path,
              sqlite3_errmsg(sim->state));
    return -1;
}

static void
totals(const sim_t *sim, uint64_t *acked, uint64_t *rejected)
{
    *acked = 0;
    *rejected = 0;
    for (uint32_t i = 0; i < sim->n; i++) {
        *acked += sim->clients[i].acked;
        *rejected += sim->clients[i].rejected;
    }
    *acked -= *rejected;   /* committed covers rejected serials too */
}

static void
add_stats(qs_sender_stats_t *sum, const qs_sender_stats_t *s)
{
    sum->reconnects += s->reconnects;
    sum->failovers += s->failovers;
    sum->transient += s->transient;
    sum->bad_replies += s->bad_replies;
}

static int
print_json(const sim_t *sim, uint64_t acked, uint64_t rejected, double elapsed, double rate,
           const double cpu[2])
{
    uint64_t latest[QS_SIM_TOPICS][QS_SIM_STATES];
    cJSON *doc = cJSON_CreateObject(), *rows = cJSON_CreateArray();
    qs_secpool_stats_t pool;
    char *text;

    qs_simgen_expected_latest(latest, sim->n, sim->m);
    cJSON_AddNumberToObject(doc, "clients", sim->n);
    cJSON_AddNumberToObject(doc, "messages", (double)sim->m);
    cJSON_AddNumberToObject(doc, "acked", (double)acked);
    cJSON_AddNumberToObject(doc, "rejected", (double)rejected);
    cJSON_AddNumberToObject(doc, "elapsed_s", (double)(int64_t)(elapsed * 1000 + 0.5) / 1000);
    cJSON_AddNumberToObject(doc, "msgs_per_s", (double)(int64_t)(rate * 10 + 0.5) / 10);
    /* This process's CPU over the same interval (bench/run's accounting). */
    cJSON_AddNumberToObject(doc, "cpu_user_s", (double)(int64_t)(cpu[0] * 1e6 + 0.5) / 1e6);
    cJSON_AddNumberToObject(doc, "cpu_system_s", (double)(int64_t)(cpu[1] * 1e6 + 0.5) / 1e6);
    /* CurveZMQ handshake buffers: reused from the pool / fresh (qs_secpool.h). */
    qs_secpool_stats(&pool);
    cJSON_AddNumberToObject(doc, "secure_buffers_reused", (double)pool.reused);
    cJSON_AddNumberToObject(doc, "secure_buffers_allocated", (double)pool.allocated);
    for (uint32_t t = 0; t < QS_SIM_TOPICS; t++) {
        for (uint32_t st = 0; st < QS_SIM_STATES; st++) {
            cJSON *row;
            char topic[16];
            if (latest[t][st] == 0)
                continue;
            snprintf(topic, sizeof topic, "KB%u", QS_SIM_FIRST_KB + t);
            row = cJSON_CreateObject();
            cJSON_AddNumberToObject(row, "topic_type", QS_SIM_TOPIC_TYPE);
            cJSON_AddStringToObject(row, "topic_id", topic);
            cJSON_AddNumberToObject(row, "state_id", st);
            cJSON_AddNumberToObject(row, "count", (double)latest[t][st]);
            cJSON_AddItemToArray(rows, row);
        }
    }
    cJSON_AddItemToObject(doc, "expected_latest", rows);
    text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (text == NULL)
        qs_fatal("out of memory formatting JSON");
    printf("%s\n", text);
    free(text);
    return fflush(stdout) == 0 ? 0 : -1;
}

static void
sim_free(sim_t *sim)
{
    if (sim->keys != NULL)
        for (uint32_t i = 0; i < sim->n; i++)
            qs_keypair_destroy(&sim->keys[i]);
    free(sim->keys);
    free(sim->clients);
    sqlite3_finalize(sim->save);
    sqlite3_close(sim->state);
}

/* The clients still delivering, and their senders (created when a client
 * first gets a share of the in-flight budget, closed when it is done). */
typedef struct {
    void *zctx;
    qs_sender_ws_t *ws;
    size_t batch, window;
    int failover_ms;                  /* several brokers (sender.h); 0 = default */
    uint32_t *active;                 /* client indices (0-based), unfinished */
    size_t n_active;
    qs_sender_t **senders;            /* by client index; NULL = not yet opened */
    struct pollfd *pfds;              /* the polled senders' ZMQ_FDs */
    uint32_t *polled;                 /* client index of each poll item */
    uint8_t *dirty;                   /* by client index: look before blocking (see fleet_turn) */
    uint64_t rotor;
    qs_sender_stats_t retired;        /* stats of closed senders */
} fleet_t;

static int
fleet_open_sender(fleet_t *f, sim_t *sim, uint32_t i)
{
    qs_sender_opts_t o = { 0 };
    char err[512];

    o.endpoint = sim->cfg.frontend;
    o.broker_pk = sim->broker_pk;
    o.store_pk = sim->store_pk;
    o.keypair = sim->keys[i];
    o.source = qs_simgen_source(&sim->clients[i]);
    o.batch = f->batch;
    o.window = f->window;
    o.failover_ms = f->failover_ms;
    o.quiet = 1;
    f->senders[i] = qs_sender_new(f->zctx, f->ws, &o, err, sizeof err);
    if (f->senders[i] == NULL) {
        log_error("simulate: client %u: %s", i + 1, err);
        return -1;
    }
    f->dirty[i] = 1;
    return 0;
}

/* Flow control: hand out about SIM_BUDGET_MESSAGES of window space, from a
 * rotating start so every client gets its turn; a client's socket is opened
 * on its first turn, so connections to the broker ramp up instead of
 * arriving all at once. */
static int
fleet_share_budget(fleet_t *f, sim_t *sim)
{
    uint64_t est = 0, cap = (uint64_t)f->window * f->batch;
    size_t first = (size_t)(f->rotor++ % f->n_active);

    for (size_t k = 0; k < f->n_active; k++) {
        qs_sender_t *s = f->senders[f->active[k]];
        if (s != NULL)
            est += qs_sender_inflight(s);
    }
    for (size_t k = 0; k < f->n_active; k++) {
        uint32_t i = f->active[(first + k) % f->n_active];
        uint64_t inf;
        if (f->senders[i] == NULL) {
            if (est >= SIM_BUDGET_MESSAGES)
                continue;
            if (fleet_open_sender(f, sim, i) != 0)
                return -1;
        }
        inf = qs_sender_inflight(f->senders[i]);
        if (inf >= cap)
            continue;
        qs_sender_set_paused(f->senders[i], est >= SIM_BUDGET_MESSAGES);
        if (est < SIM_BUDGET_MESSAGES)
            est += cap - inf;
    }
    return 0;
}

static void
add_retired(fleet_t *f, const qs_sender_t *s)
{
    qs_sender_stats_t st;

    qs_sender_stats(s, &st);
    add_stats(&f->retired, &st);
}

/* The ZMQ_FD of s's socket (changes on every reconnect), -1 if unknown. */
static int
sender_fd(const qs_sender_t *s)
{
    zmq_pollitem_t item;
    int fd = -1;
    size_t len = sizeof fd;

    qs_sender_pollitem(s, &item);
    if (item.socket == NULL || zmq_getsockopt(item.socket, ZMQ_FD, &fd, &len) != 0)
        return -1;
    return fd;
}

/* One turn: share the budget, poll the senders that can have something to
 * do, handle replies and deadlines, close finished clients.
 *
 * One poll(2) over the sockets' ZMQ_FDs instead of zmq_poll: zmq_poll asks
 * every socket for ZMQ_EVENTS (two system calls each) twice per call, and a
 * fleet polls hundreds of sockets for each reply. A ZMQ_FD only signals a
 * change, though: after a sender sent (on_tick), or read replies (it may
 * have stopped at its batch bound), a signal may already be consumed, so
 * such a sender is "dirty" and is read once more, without waiting, until a
 * read of its own finds nothing. */
static int
fleet_turn(fleet_t *f, sim_t *sim, int64_t wake)
{
    size_t n_items = 0, j = 0;
    int64_t now = qs_clock_mono_ms();
    int dirty = 0, n;

    if (fleet_share_budget(f, sim) != 0)
        return -1;
    for (size_t k = 0; k < f->n_active; k++) {
        uint32_t i = f->active[k];
        qs_sender_t *s = f->senders[i];
        int64_t d;
        if (s == NULL)
            continue;
        d = qs_sender_next_deadline(s);
        if (d < wake)
            wake = d;
        /* A paused sender with nothing in flight expects no reply: leave it
         * out of the poll set (thousands of idle sockets cost every poll). */
        if (qs_sender_paused(s) && qs_sender_inflight(s) == 0)
            continue;
        /* No socket (a reconnect failed): nothing to read; its deadline,
         * the end of its backoff, wakes the loop. */
        f->pfds[n_items] = (struct pollfd){ .fd = sender_fd(s), .events = POLLIN };
        if (f->pfds[n_items].fd < 0)
            continue;
        dirty |= f->dirty[i];
        f->polled[n_items] = i;
        n_items++;
    }
    n = poll(f->pfds, (nfds_t)n_items, dirty ? 0 : wake > now ? (int)(wake - now) : 0);
    if (n < 0 && errno != EINTR) {
        log_error("simulate: poll: %s", strerror(errno));
        return -1;
    }
    now = qs_clock_mono_ms();
    for (size_t k = 0; k < n_items; k++) {
        uint32_t i = f->polled[k];
        if ((n > 0 && f->pfds[k].revents != 0) || f->dirty[i])
            f->dirty[i] = qs_sender_on_readable(f->senders[i], now) != 0;
    }
    for (size_t k = 0; k < f->n_active; k++) {
        uint32_t i = f->active[k];
        qs_sender_t *s = f->senders[i];
        if (s != NULL && qs_sender_next_deadline(s) <= now) {
            (void)qs_sender_on_tick(s, now);
            f->dirty[i] = 1;
        }
    }
    for (size_t k = 0; k < f->n_active; k++) {
        uint32_t i = f->active[k];
        if (!qs_simgen_busy(&sim->clients[i])) {   /* its resync too (docs/resync.md) */
            if (f->senders[i] != NULL) {
                add_retired(f, f->senders[i]);
                qs_sender_destroy(&f->senders[i]);
            }
            continue;
        }
        f->active[j++] = i;
    }
    f->n_active = j;
    return 0;
}

static void
fleet_stats(const fleet_t *f, qs_sender_stats_t *sum)
{
    *sum = f->retired;
    for (size_t k = 0; k < f->n_active; k++) {
        const qs_sender_t *s = f->senders[f->active[k]];
        if (s != NULL) {
            qs_sender_stats_t st;
            qs_sender_stats(s, &st);
            add_stats(sum, &st);
        }
    }
}

static void
fleet_close(fleet_t *f, uint32_t n)
{
    if (f->senders != NULL)
        for (uint32_t i = 0; i < n; i++)
            qs_sender_destroy(&f->senders[i]);
    free(f->senders);
    free(f->active);
    free(f->pfds);
    free(f->polled);
    free(f->dirty);
    qs_sender_ws_destroy(&f->ws);
    if (f->zctx != NULL)
        zmq_ctx_term(f->zctx);
    memset(f, 0, sizeof *f);
}

/* Check the options, resolve the site and load (or create) the run, then
 * enroll its clients. Returns 0 or -1 (logged). */
static int
sim_open(sim_t *sim, const qs_simulate_opts_t *opts)
{
    char err[512];

    if (opts->clients == 0 || opts->clients > QS_SIM_MAX_CLIENTS) {
        log_error("simulate: --clients must be 1..%u", QS_SIM_MAX_CLIENTS);
        return -1;
    }
    sim->n = opts->clients;
    sim->m = opts->messages;
    if (qs_clock_init(&sim->clock) != 0)
        log_warn("ignoring QS_CLOCK_OFFSET_S: not an integer number of seconds");
    if (qs_site_paths(&sim->paths, opts->home, err, sizeof err) != 0 ||
        qs_site_check(&sim->paths, err, sizeof err) != 0 ||
        qs_config_load(&sim->cfg, sim->paths.conf, err, sizeof err) != 0 ||
        qs_pubkey_load(sim->broker_pk, sim->paths.broker_pub, err, sizeof err) != 0 ||
        qs_pubkey_load(sim->store_pk, sim->paths.store_pub, err, sizeof err) != 0) {
        log_error("simulate: %s", err);
        return -1;
    }
    if (qs_path_join(sim->sim_dir, sizeof sim->sim_dir, sim->paths.home, "sim") != 0 ||
        qs_path_join(sim->state_path, sizeof sim->state_path, sim->sim_dir, "state.db") != 0) {
        log_error("simulate: site home path too long");
        return -1;
    }
    return state_open(sim) == 0 && state_load(sim) == 0 &&
           qs_sim_enroll(&sim->paths, qs_clock_now_ms(&sim->clock), sim->keys, sim->n) == 0 ? 0 : -1;
}

/* The fleet: one ZeroMQ context, the shared workspace, every unfinished client. */
static void
fleet_open(fleet_t *f, const sim_t *sim, size_t batch, int failover_ms)
{
    qs_raise_fd_limit();
    f->zctx = qs_zmq_ctx_new((int)sim->n + 64);
    if (sim->n >= 100)
        (void)zmq_ctx_set(f->zctx, ZMQ_IO_THREADS, 2);
    f->ws = qs_sender_ws_new();
    f->batch = batch ? batch : QS_DEFAULT_BATCH_MESSAGES;
    f->failover_ms = failover_ms;
    f->window = SIM_TARGET_INFLIGHT / sim->n;
    if (f->window < 1)
        f->window = 1;
    if (f->window > QS_SENDER_DEFAULT_WINDOW)
        f->window = QS_SENDER_DEFAULT_WINDOW;
    f->senders = qs_calloc(sim->n, sizeof *f->senders);
    f->active = qs_calloc(sim->n, sizeof *f->active);
    f->pfds = qs_calloc(sim->n, sizeof *f->pfds);
    f->polled = qs_calloc(sim->n, sizeof *f->polled);
    f->dirty = qs_calloc(sim->n, sizeof *f->dirty);
    for (uint32_t i = 0; i < sim->n; i++)
        if (sim->clients[i].acked < sim->clients[i].count)
            f->active[f->n_active++] = i;
}

/* Once a second: log what changed in the fleet's counters, save progress,
 * redraw the TTY progress line. */
static void
once_a_second(fleet_t *f, sim_t *sim, qs_sender_stats_t *last_sum, int tty, uint64_t acked0,
              int64_t start, int64_t now)
{
    qs_sender_stats_t sum;
    uint64_t acked, rejected;

    fleet_stats(f, &sum);
    if (sum.reconnects > last_sum->reconnects)
        log_warn("simulate: %llu reconnects in the last second (no reply in time)",
                 (unsigned long long)(sum.reconnects - last_sum->reconnects));
    if (sum.failovers > last_sum->failovers)
        log_warn("simulate: %llu clients failed over to another broker in the last second",
                 (unsigned long long)(sum.failovers - last_sum->failovers));
    if (sum.transient > last_sum->transient)
        log_info("simulate: %llu retry answers in the last second (store busy, "
                 "unavailable or not configured)",
                 (unsigned long long)(sum.transient - last_sum->transient));
    if (sum.bad_replies > last_sum->bad_replies)
        log_warn("simulate: %llu replies ignored in the last second (not sealed by "
                 "the store key)",
                 (unsigned long long)(sum.bad_replies - last_sum->bad_replies));
    *last_sum = sum;
    (void)state_save(sim);
    if (tty) {
        totals(sim, &acked, &rejected);
        fprintf(stderr, "\rsimulate: %llu/%llu acked, %llu rejected, %zu clients "
                "to go, %.0f msg/s   ",
                (unsigned long long)acked, (unsigned long long)sim->m,
                (unsigned long long)rejected, f->n_active,
                (double)(acked - acked0) * 1000.0 / (double)(now - start));
    }
}

/* How a delivery run ended. */
typedef struct {
    int interrupted, timed_out;
    int64_t start;        /* monotonic ms, 0 if delivery never started */
    uint64_t acked0;      /* acked before this run */
    double cpu0[2];       /* user, system CPU seconds when delivery started */
} sim_outcome_t;

/* This process's user and system CPU seconds so far (all its threads). */
static void
cpu_now(double out[2])
{
    struct rusage ru;

    out[0] = out[1] = 0.0;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return;
    out[0] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    out[1] = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Deliver until every message is acked, the timeout, or *stop. Returns 0
 * (also when interrupted or timed out: see out), -1 on an error. */
static int
deliver(fleet_t *f, sim_t *sim, const qs_simulate_opts_t *opts, int timeout_s,
        sim_outcome_t *out)
{
    qs_sender_stats_t last_sum = { 0 };
    int tty = isatty(STDERR_FILENO);
    int64_t end, next_second;

    out->start = qs_clock_mono_ms();
    cpu_now(out->cpu0);
    end = out->start + (int64_t)timeout_s * 1000;
    next_second = out->start + 1000;
    while (f->n_active > 0) {
        int64_t now = qs_clock_mono_ms();

        if (opts->stop != NULL && *opts->stop) {
            out->interrupted = 1;
            break;
        }
        if (now >= end) {
            out->timed_out = 1;
            break;
        }
        if (fleet_turn(f, sim, next_second < end ? next_second : end) != 0)
            return -1;
        now = qs_clock_mono_ms();
        if (now >= next_second) {
            once_a_second(f, sim, &last_sum, tty, out->acked0, out->start, now);
            next_second = now + 1000;
        }
    }
    return 0;
}

/* The closing summary (and JSON with opts->json). Returns rc, or -1 when
 * the run did not deliver everything. */
static int
report_run(const sim_t *sim, const qs_simulate_opts_t *opts, const sim_outcome_t *o,
           int timeout_s, int rc)
{
    uint64_t acked, rejected;
    double elapsed, rate, cpu[2];

    totals(sim, &acked, &rejected);
    cpu_now(cpu);
    cpu[0] = o->start > 0 ? cpu[0] - o->cpu0[0] : 0.0;
    cpu[1] = o->start > 0 ? cpu[1] - o->cpu0[1] : 0.0;
    elapsed = o->start > 0 ? (double)(qs_clock_mono_ms() - o->start) / 1000.0 : 0;
    if (elapsed <= 0)
        elapsed = 0.001;
    rate = (double)(acked - o->acked0) / elapsed;
    if (isatty(STDERR_FILENO))
        fputc('\n', stderr);
    if (o->interrupted)
        log_warn("simulate: interrupted: %llu of %llu acked; progress saved, rerun to "
                 "resume", (unsigned long long)acked, (unsigned long long)sim->m);
    if (o->timed_out)
        log_error("simulate: timeout after %d s: %llu of %llu acked", timeout_s,
                  (unsigned long long)acked, (unsigned long long)sim->m);
    if (rejected > 0)
        log_error("simulate: the store rejected %llu generated messages",
                  (unsigned long long)rejected);
    if (opts->json && print_json(sim, acked, rejected, elapsed, rate, cpu) != 0)
        rc = -1;
    fprintf(opts->json ? stderr : stdout,
            "simulate: %u clients, %llu of %llu messages acked, %llu rejected, "
            "%.3f s, %.1f msg/s\n", sim->n, (unsigned long long)acked,
            (unsigned long long)sim->m, (unsigned long long)rejected, elapsed, rate);
    if (o->interrupted || o->timed_out || rejected > 0 || acked + rejected < sim->m)
        rc = -1;
    return rc;
}

int
qs_simulate_run(const qs_simulate_opts_t *opts)
{
    sim_t sim = { 0 };
    fleet_t fleet = { 0 };
    sim_outcome_t outcome = { 0 };
    uint64_t rejected = 0;
    int timeout_s = opts->timeout_s > 0 ? opts->timeout_s : SIM_DEFAULT_TIMEOUT_S;
    int rc = -1;

    if (sim_open(&sim, opts) != 0)
        goto out;
    fleet_open(&fleet, &sim, opts->batch, opts->failover_ms);
    totals(&sim, &outcome.acked0, &rejected);
    log_info("simulate: %u clients, %llu messages (%llu acked before), delivering to '%s'",
             sim.n, (unsigned long long)sim.m, (unsigned long long)outcome.acked0,
             sim.cfg.frontend);
    rc = deliver(&fleet, &sim, opts, timeout_s, &outcome);
out:
    fleet_close(&fleet, sim.n);
    if (sim.clients == NULL || sim.state == NULL) {
        sim_free(&sim);
        return -1;
    }
    if (state_save(&sim) != 0)
        rc = -1;
    if (rc == 0 || outcome.interrupted || outcome.timed_out)
        rc = report_run(&sim, opts, &outcome, timeout_s, rc);
    sim_free(&sim);
    return rc;
}
