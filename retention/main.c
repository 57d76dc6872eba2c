/* main.c - qs-retention: applies the privacy policy to store.db, once or every interval.
 *
 * Each pass reads the clock (QS_CLOCK_OFFSET_S moves it in tests) and the
 * current policy from site.db (reloaded every pass, so a `qsctl policy set`
 * applies at the next pass without a restart), runs qs_purge_pass and writes
 * one "retention.pass" entry to the audit chain with what it removed. With no
 * policy the site collects nothing, so there is nothing to expire: the pass
 * logs that and writes no audit entry. Between passes the process sleeps in
 * pselect() with SIGTERM/SIGINT unblocked only there, so a signal ends the
 * sleep at once; during a pass the handler only sets a flag, which the purge
 * polls between steps: the current step finishes, the pass stops, the process
 * exits 0. On PostgreSQL several hosts may run qs-retention: each pass takes
 * the store's retention lock first (the others wait) and ends by folding
 * the workers' count shards under it.
 */
#include "purge.h"
#include "qs_audit.h"
#include "qs_clock.h"
#include "qs_config.h"
#include "qs_epochkeys.h"
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_notify.h"
#include "qs_signal.h"
#include "qs_policy.h"
#include "qs_process.h"
#include "qs_site.h"
#include "qs_sitedb.h"
#include "qs_store_expire.h"
#include "qs_store_trend.h"
#include "qs_storedb.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    qs_site_paths_t paths;
    qs_config_t cfg;
    qs_clock_t clock;
    qs_sitedb_t *site;
    qs_storedb_t *store;        /* opened when store.db exists */
    qs_epochkeys_t *keys;       /* opened when keys/epochs exists */
} retention_t;

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
            "usage: qs-retention --home DIR [--once]\n"
            "\n"
            "Apply the site's retention policy to store.db: drop history partitions\n"
            "whose day is older than the topic's maximum age and shred their keys,\n"
            "delete older history rows and latest rows of machines that stopped\n"
            "reporting, then scrub the WAL and free pages. Every pass is audited.\n"
            "Every pass also writes the UTC day's compliance snapshot (what\n"
            "'qsctl compliance --trend' reads; kept 400 days).\n"
            "On a PostgreSQL store one pass runs at a time across hosts: a second\n"
            "qs-retention waits for the store's retention lock.\n"
            "\n"
            "  --home DIR   site home (or QS_HOME)\n"
            "  --once       run one pass and exit (default: one pass every\n"
            "               [retention] interval_seconds of quietstate.conf)\n"
            "  --help       this text\n"
            "\n"
            "Exit 0 on success or SIGTERM, 1 on failure, 2 on a usage error.\n");
    exit(code);
}

/* store.db and keys/epochs appear once qs-store has run: open them lazily. */
static int
open_store(retention_t *r)
{
    char err[512];
    struct stat st;

    if (r->store == NULL) {
        const char *where = qs_storedb_location(r->cfg.store_database, r->paths.store_db);

        if (where == r->paths.store_db && stat(where, &st) != 0)
            return 0;       /* nothing stored yet */
        r->store = qs_storedb_open(where, 0, err, sizeof err);
        if (r->store == NULL) {
            log_error("cannot open store database: %s", err);
            return -1;
        }
    }
    if (r->keys == NULL) {
        if (stat(r->paths.epochs_dir, &st) != 0 &&
            qs_fs_mkdir_private(r->paths.epochs_dir, err, sizeof err) != 0) {
            log_error("cannot create epoch key directory: %s", err);
            return -1;
        }
        r->keys = qs_epochkeys_open(r->paths.epochs_dir, 0, err, sizeof err);
        if (r->keys == NULL) {
            log_error("cannot open epoch keys: %s", err);
            return -1;
        }
    }
    return 1;
}

static char *
pass_detail(const qs_purge_counts_t *c, int64_t policy_version)
{
    cJSON *o = cJSON_CreateObject();
    char *text;

    if (o == NULL)
        qs_fatal("out of memory");
    cJSON_AddNumberToObject(o, "partitions_dropped", (double)c->partitions_dropped);
    cJSON_AddNumberToObject(o, "history_rows_deleted", (double)c->history_rows_deleted);
    cJSON_AddNumberToObject(o, "latest_rows_deleted", (double)c->latest_rows_deleted);
    cJSON_AddNumberToObject(o, "keys_shredded", (double)c->keys_shredded);
    cJSON_AddNumberToObject(o, "policy_version", (double)policy_version);
    cJSON_AddBoolToObject(o, "scrubbed", c->scrubbed);
    if (c->interrupted)
        cJSON_AddBoolToObject(o, "interrupted", 1);
    if (c->errors)
        cJSON_AddNumberToObject(o, "errors", c->errors);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL)
        qs_fatal("out of memory");
    return text;
}

/* Append the pass's audit entry. The key is loaded for this one entry and
 * wiped (qs-retention appends rarely: it keeps no key in memory between
 * passes); loading refuses a key others can read. Returns 0 or -1 with errmsg. */
static int
audit_pass(const retention_t *r, int64_t now_ms, const char *detail, char *errmsg,
           size_t errmsg_len)
{
    uint8_t *key = NULL;
    int rc;

    if (qs_secret_load(&key, r->paths.audit_key, 0, errmsg, errmsg_len) != 0)
        return -1;
    rc = qs_audit_record(r->site, key, r->paths.audit_head, now_ms, "qs-retention",
                         "retention.pass", detail, errmsg, errmsg_len);
    sodium_free(key);
    return rc;
}

/* Take the store's retention lock (qs_store_expire.h): at once on SQLite;
 * on PostgreSQL it may be held by a qs-retention on another host, and this
 * one waits, saying so once, polling every second so that SIGTERM still
 * ends it. Returns 1 taken, 0 stopped while waiting, -1 on an error. */
static int
retention_lock(retention_t *r)
{
    char err[512];
    int rc, said = 0;

    while ((rc = qs_storedb_retention_trylock(r->store, err, sizeof err)) == 0) {
        if (!said) {
            log_info("another qs-retention is running a pass on this store: waiting for it");
            said = 1;
        }
        if (stop_requested)
            return 0;
        (void)usleep(1000000);     /* a signal cuts it short */
        if (stop_requested)
            return 0;
    }
    if (rc < 0) {
        log_error("cannot take the store's retention lock: %s", err);
        return -1;
    }
    if (said)
        log_info("the other qs-retention finished: running this pass");
    return 1;
}

/* Copy the current counts into today's UTC day of the trend
 * (qs_store_trend.h): every pass replaces the day, so the last pass of a
 * day wins and the first one after midnight starts the new day. Under the
 * lock (PostgreSQL: one writer of the day), after the fold. 0 or -1. */
static int
trend_snapshot(retention_t *r, int64_t now_ms)
{
    char err[512];
    int64_t groups = 0, day = qs_epoch_of(now_ms);

    if (qs_storedb_trend_snapshot(r->store, day, now_ms, QS_TREND_KEEP_DAYS, &groups, err,
                                  sizeof err) != 0) {
        log_error("cannot write the day's compliance snapshot: %s", err);
        return -1;
    }
    log_debug("compliance snapshot of day %lld: %lld groups", (long long)day,
              (long long)groups);
    return 0;
}

/* Purge under the lock, then fold the writers' shards (PostgreSQL): no
 * group left at 0 by this pass outlives it; then the day's snapshot. */
static int
locked_pass(retention_t *r, const qs_policy_t *policy, int64_t now_ms,
            qs_purge_counts_t *counts, char *err, size_t err_len)
{
    char fold_err[512];
    int rc;

    rc = qs_purge_pass(r->store, r->keys, policy, now_ms, &stop_requested, counts, err,
                       err_len);
    if (qs_storedb_retention_fold(r->store, fold_err, sizeof fold_err) != 0) {
        log_error("cannot fold the store's count shards: %s", fold_err);
        if (counts->errors++ == 0)
            snprintf(err, err_len, "%s", fold_err);
        rc = -1;
    }
    if (trend_snapshot(r, now_ms) != 0) {
        if (counts->errors++ == 0)
            snprintf(err, err_len, "the daily compliance snapshot failed (see the log)");
        rc = -1;
    }
    qs_storedb_retention_unlock(r->store);
    return rc;
}

/* One pass. Returns 0 when it completed (or there was nothing to do), -1
 * when a step failed. */
static int
retention_pass(retention_t *r)
{
    qs_policy_t policy;
    qs_purge_counts_t counts;
    int configured = 0, opened, rc;
    int64_t version = 0, now_ms = qs_clock_now_ms(&r->clock);
    char err[768], *detail;

    if (qs_sitedb_policy_get(r->site, &policy, &configured, &version) != 0) {
        log_error("cannot read the policy from site.db: %s",
                  qs_sitedb_errmsg(r->site));
        return -1;
    }
    if (!configured) {
        log_info("site not configured: no policy, nothing is collected, nothing to expire");
        return 0;
    }
    opened = open_store(r);
    if (opened < 0)
        return -1;
    if (opened == 0) {
        log_info("no store database yet: nothing to expire (policy version %lld)",
                 (long long)version);
        return 0;
    }
    switch (retention_lock(r)) {
    case 0:
        return 0;           /* stopped while waiting: nothing done, nothing to audit */
    case -1:
        return -1;
    default:
        break;
    }
    rc = locked_pass(r, &policy, now_ms, &counts, err, sizeof err);
    detail = pass_detail(&counts, version);
    if (audit_pass(r, now_ms, detail, err, sizeof err) != 0) {
        log_error("cannot audit retention pass: %s", err);
        rc = -1;
    }
    log_info("retention pass %s: %s", counts.interrupted ? "interrupted" :
             rc == 0 ? "done" : "incomplete", detail);
    free(detail);
    return rc;
}

/* Sleep up to seconds, returning early on SIGTERM/SIGINT (blocked outside). */
static void
sleep_interruptibly(int seconds, const sigset_t *unblocked)
{
    struct timespec ts = { seconds, 0 };
    if (!stop_requested)
        (void)pselect(0, NULL, NULL, NULL, &ts, unblocked);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "once", no_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    retention_t r;
    const char *home = NULL;
    int once = 0, c, failed = 0;
    char err[512];
    sigset_t block, orig;
    uint8_t *audit_key = NULL;

    qs_log_init("qs-retention", -1);
    memset(&r, 0, sizeof r);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 'o': once = 1; break;
        case 'h': usage(stdout, 0);
        default: usage(stderr, 2);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "qs-retention: unexpected argument '%s'\n", argv[optind]);
        usage(stderr, 2);
    }
    if (qs_site_paths(&r.paths, home, err, sizeof err) != 0) {
        fprintf(stderr, "qs-retention: %s\n", err);
        usage(stderr, 2);
    }
    if (sodium_init() < 0)
        qs_fatal("cannot initialise libsodium");
    if (qs_process_no_core(err, sizeof err) != 0)
        log_warn("core dumps stay enabled: %s", err);
    if (qs_clock_init(&r.clock) != 0)
        qs_fatal("QS_CLOCK_OFFSET_S is not an integer number of seconds");
    if (qs_site_check(&r.paths, err, sizeof err) != 0)
        qs_fatal("%s", err);
    if (qs_config_load(&r.cfg, r.paths.conf, err, sizeof err) != 0)
        qs_fatal("bad configuration: %s", err);
    qs_log_set_json(r.cfg.log_json);
    /* Refuse to run on secrets others can read; the audit key is needed on
     * every pass, so check it (and its permissions) now. */
    if (qs_fs_check_private(r.paths.home, err, sizeof err) != 0 ||
        qs_fs_check_private(r.paths.keys_dir, err, sizeof err) != 0 ||
        (access(r.paths.epochs_dir, F_OK) == 0 &&
         qs_fs_check_private(r.paths.epochs_dir, err, sizeof err) != 0) ||
        qs_secret_load(&audit_key, r.paths.audit_key, 0, err, sizeof err) != 0)
        qs_fatal("%s", err);
    sodium_free(audit_key);
    r.site = qs_sitedb_open(r.paths.site_db, 0, err, sizeof err);
    if (r.site == NULL)
        qs_fatal("%s", err);

    (void)qs_signal_on_stop(on_signal);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);

    if (once) {
        log_info("one retention pass on '%s'", r.paths.home);
    } else {
        log_info("started on '%s': one pass every %d s", r.paths.home,
                 r.cfg.retention_interval_s);
        qs_notify_log("READY=1");
    }
    while (!stop_requested) {
        if (retention_pass(&r) != 0)
            failed = 1;
        if (once)
            break;
        /* Block the signals, check the flag, then sleep with them unblocked:
         * a signal arriving between the check and the sleep is not lost. */
        sigprocmask(SIG_BLOCK, &block, &orig);
        sleep_interruptibly(r.cfg.retention_interval_s, &orig);
        sigprocmask(SIG_SETMASK, &orig, NULL);
    }
    if (stop_requested) {
        qs_notify_log("STOPPING=1");
        log_info("stopping on signal");
    }
    qs_epochkeys_destroy(&r.keys);
    qs_storedb_destroy(&r.store);
    qs_sitedb_destroy(&r.site);
    /* A daemon that is asked to stop has done its job; --once reports the pass. */
    return (once && failed && !stop_requested) ? 1 : 0;
}
