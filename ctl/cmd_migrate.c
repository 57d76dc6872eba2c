/* cmd_migrate.c - qsctl migrate: move a site's store from SQLite to PostgreSQL.
 *
 * The copy itself (every table, one PostgreSQL transaction, counts checked
 * before COMMIT) is store/'s qs_store_migrate(); this file checks that the
 * site may move (qs-store stopped: its store.lock is free, and held here
 * for the whole run so that no qs-store starts meanwhile; the site still on
 * SQLite; a URL without a password), shows progress on a terminal, then
 * switches quietstate.conf's [store] database to the URL (temp file +
 * rename: a crash leaves the old or the new file, never half of one) in
 * the same step as the "migrate" audit entry. store.db is left in place:
 * the operator removes it after checking the site on PostgreSQL.
 */
#include "ctl_common.h"
#include "qs_config.h"
#include "qs_ctl.h"
#include "qs_fsutil.h"
#include "qs_log.h"
#include "qs_store_migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define CMD "migrate"
#define CONF_MAX_BYTES (64u * 1024u)

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl migrate --home DIR --to URL [--as NAME] [--format table|json]\n"
        "\n"
        "Copy the site's SQLite store (DIR/store.db) into an empty PostgreSQL\n"
        "database in one transaction, check that every table has as many rows on\n"
        "both sides (and that the compliance counts sum alike), then set\n"
        "[store] database = URL in quietstate.conf. qs-store must be stopped (its\n"
        "lock is checked); stop qs-retention and qs-web too, and restart all of them\n"
        "after. store.db is left in place: remove it once the site is checked.\n"
        "A target that holds any store row or history table is refused.\n"
        "\n"
        "  --home DIR       site home (default $QS_HOME)\n"
        "  --to URL         libpq URI, e.g. postgresql:///quietstate?host=/run/postgresql;\n"
        "                   no password in it (use PGPASSFILE or a service file)\n"
        "  --as NAME        who migrates, for the audit log (beside the OS user)\n"
        "  --format table|json  output format (default table); json prints the audit\n"
        "                   entry's detail: {to, clients, seen, latest, compliance_groups,\n"
        "                   compliance_sum, counters, partitions, history_tables,\n"
        "                   history_rows, total_rows, seconds}\n"
        "  --help           show this help\n");
}

struct migrate_args {
    const char *home, *to, *as;
    ctl_format_t fmt;
};

static int
parse_args(struct migrate_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "to", required_argument, NULL, 't' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof *a);
    a->fmt = CTL_FORMAT_TABLE;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a->home = optarg; break;
        case 't': a->to = optarg; break;
        case 'a': a->as = optarg; break;
        case 'f':
            if (ctl_format_parse(&a->fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
                return ctl_usage_error(CMD, "--format must be table or json");
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (a->to == NULL)
        return ctl_usage_error(CMD, "--to URL is required (a postgresql:// URI)");
    if (!qs_config_database_is_pg(a->to))
        return ctl_usage_error(CMD, "--to must be a postgresql:// (or postgres://) URI");
    if (!qs_config_database_ok(a->to))
        return ctl_usage_error(CMD, "--to must not hold a password (nor control characters, "
                               "nor be longer than %u bytes): give the password through "
                               "PGPASSFILE or a service file", QS_MAX_DATABASE_BYTES - 1);
    if (ctl_home_missing(CMD, a->home))
        return CTL_EXIT_USAGE;
    return -1;
}

/* Hold DIR/store.lock (qs-store's single-instance lock) for the run: the
 * fd, or -1 with errmsg when a qs-store holds it. */
static int
lock_store(const char *home, char *errmsg, size_t errmsg_len)
{
    char path[QS_MAX_PATH_BYTES];
    int fd;

    if (qs_path_join(path, sizeof path, home, "store.lock") != 0) {
        snprintf(errmsg, errmsg_len, "the home's path is too long");
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(errmsg, errmsg_len, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        snprintf(errmsg, errmsg_len, errno == EWOULDBLOCK
                 ? "qs-store is running on this site (it holds '%s'): stop it first"
                 : "cannot lock '%s'", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* text with [store] database = url right under the [store] header (any
 * database line of that section dropped), or a new [store] section at the
 * end. Comments and every other line stay as they are. Caller frees. */
static char *
conf_with_database(const char *text, const char *url)
{
    size_t cap = strlen(text) + strlen(url) + 64;
    char *out = malloc(cap), *o = out;
    const char *p = text;
    int in_store = 0, done = 0;

    if (out == NULL)
        return NULL;
    while (*p != '\0') {
        const char *end = strchr(p, '\n'), *s = p, *eq = strchr(p, '=');
        size_t n = end ? (size_t)(end - p + 1) : strlen(p);

        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '[')
            in_store = strncmp(s, "[store]", 7) == 0;
        p += n;
        /* "database" then blanks then '=' on this line: the old value. */
        if (in_store && *s != '[' && strncmp(s, "database", 8) == 0 && eq != NULL &&
            (end == NULL || eq < end) && s + 8 + strspn(s + 8, " \t") == eq)
            continue;
        memcpy(o, p - n, n);
        o += n;
        if (end == NULL)
            *o++ = '\n';
        if (in_store && *s == '[' && !done) {
            o += sprintf(o, "database = %s\n", url);
            done = 1;
        }
    }
    if (!done)
        o += sprintf(o, "\n[store]\ndatabase = %s\n", url);
    *o = '\0';
    return out;
}

/* Rewrite quietstate.conf with the new [store] database, after checking
 * that the new text reads back to exactly that URL. 0 or -1 with errmsg. */
static int
conf_switch(const char *conf, const char *url, char *errmsg, size_t errmsg_len)
{
    char *text = NULL, *next;
    char err[256] = "";
    size_t len = 0;
    qs_config_t back;
    int rc = -1;

    if (qs_fs_read_small(&text, &len, conf, CONF_MAX_BYTES, 0, errmsg, errmsg_len) != 0)
        return -1;
    next = conf_with_database(text, url);
    if (next == NULL) {
        snprintf(errmsg, errmsg_len, "out of memory");
    } else if (qs_config_parse(&back, next, err, sizeof err) != 0 ||
               strcmp(back.store_database, url) != 0) {
        snprintf(errmsg, errmsg_len, "the new quietstate.conf would not read back: %s",
                 err[0] != '\0' ? err : "[store] database differs");
    } else {
        rc = qs_fs_write_private(conf, next, strlen(next), errmsg, errmsg_len);
    }
    free(next);
    free(text);
    return rc;
}

/* Progress on a terminal: one line rewritten in place. */
static void
progress(void *arg, const char *table, int64_t done, int64_t total)
{
    (void)arg;
    if (strcmp(table, "done") == 0) {
        fprintf(stderr, "\r\033[Kqsctl migrate: copied %lld rows\n", (long long)done);
        return;
    }
    fprintf(stderr, "\r\033[Kqsctl migrate: %s: %lld of %lld rows (%lld%%)", table,
            (long long)done, (long long)total, total > 0 ? (long long)(100 * done / total) : 0);
}

static cJSON *
detail_of(const char *url, const qs_migrate_counts_t *c, double seconds)
{
    cJSON *d = cJSON_CreateObject();

    if (d == NULL)
        qs_fatal("out of memory");
    cJSON_AddStringToObject(d, "to", url);
    cJSON_AddNumberToObject(d, "clients", (double)c->clients);
    cJSON_AddNumberToObject(d, "seen", (double)c->seen);
    cJSON_AddNumberToObject(d, "latest", (double)c->latest);
    cJSON_AddNumberToObject(d, "compliance_groups", (double)c->compliance_groups);
    cJSON_AddNumberToObject(d, "compliance_sum", (double)c->compliance_sum);
    cJSON_AddNumberToObject(d, "counters", (double)c->counters);
    cJSON_AddNumberToObject(d, "partitions", (double)c->partitions);
    cJSON_AddNumberToObject(d, "history_tables", (double)c->history_tables);
    cJSON_AddNumberToObject(d, "history_rows", (double)c->history_rows);
    cJSON_AddNumberToObject(d, "total_rows", (double)c->total_rows);
    cJSON_AddNumberToObject(d, "resealed", (double)c->resealed);
    cJSON_AddNumberToObject(d, "seconds", (double)(int64_t)(seconds * 1000) / 1000.0);
    return d;
}

static void
print_text(const ctl_site_t *site, const char *url, const qs_migrate_counts_t *c)
{
    printf("copied %s into %s:\n"
           "  %lld clients, %lld seen serials, %lld current states (latest)\n"
           "  %lld compliance groups summing to %lld, %lld counters\n"
           "  %lld history partitions with %lld events\n"
           "every table has as many rows on both sides; %lld details sealed again under\n"
           "  the epoch key chains of keys/epochs (the old key files are shredded)\n"
           "quietstate.conf: [store] database = %s\n"
           "restart qs-store, qs-retention and qs-web; '%s' is left in place: remove it\n"
           "once 'qsctl compliance' and 'qsctl stats' look right on PostgreSQL\n",
           site->paths.store_db, url, (long long)c->clients, (long long)c->seen,
           (long long)c->latest, (long long)c->compliance_groups,
           (long long)c->compliance_sum, (long long)c->counters,
           (long long)c->history_tables, (long long)c->history_rows, (long long)c->resealed,
           url,
           site->paths.store_db);
}

/* Put the chains in force and the URL in quietstate.conf, or neither. */
static int
switch_site(ctl_site_t *site, const char *url, const char *staging, char *errmsg,
            size_t errmsg_len)
{
    char ignored[256];

    if (staging != NULL &&
        qs_store_migrate_keys_install(staging, site->paths.epochs_dir, errmsg, errmsg_len) != 0)
        return -1;
    if (conf_switch(site->paths.conf, url, errmsg, errmsg_len) == 0)
        return 0;
    if (staging != NULL)   /* the site stays on SQLite: its key files rule */
        (void)qs_store_migrate_keys_discard(site->paths.epochs_dir, 0, ignored, sizeof ignored);
    return -1;
}

/* After the switch: the old key files, which no retention pass would shred
 * any more. A failure leaves them for the operator (said, exit 1). */
static int
shred_old_keys(const ctl_site_t *site)
{
    char errmsg[CTL_ERRMSG_BYTES];
    int64_t n = 0;

    if (qs_store_migrate_keys_shred_files(site->paths.epochs_dir, &n, errmsg,
                                          sizeof errmsg) != 0) {
        ctl_error(CMD, "the site moved, but not every old key file could be shredded: %s; "
                  "shred the remaining keys/epochs/*.key by hand", errmsg);
        return -1;
    }
    return 0;
}

/* Copy, then switch keys and config and audit it as one step; the exit code. */
static int
migrate_site(ctl_site_t *site, const struct migrate_args *a, const char *actor)
{
    char errmsg[CTL_ERRMSG_BYTES], warn[CTL_ERRMSG_BYTES], staging[QS_MAX_PATH_BYTES];
    const char *chains = NULL;
    qs_migrate_counts_t counts;
    struct timespec t0, t1;
    cJSON *detail;
    int rc;

    /* An SQLite site's key files become chains (qs_store_migrate.h). */
    if (!qs_store_migrate_keys_chained(site->paths.epochs_dir)) {
        if (qs_path_join(staging, sizeof staging, site->paths.keys_dir, "epochs.migrate") != 0) {
            ctl_error(CMD, "the home's path is too long");
            return CTL_EXIT_FAIL;
        }
        chains = staging;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = qs_store_migrate(site->paths.store_db, a->to, site->paths.epochs_dir, chains, &counts,
                          isatty(STDERR_FILENO) ? progress : NULL, NULL, errmsg, sizeof errmsg);
    if (rc != 0) {
        if (isatty(STDERR_FILENO))
            fputc('\n', stderr);
        ctl_error(CMD, "%s%s", errmsg, rc == QS_MIGRATE_NOT_EMPTY ? "" :
                  "; nothing was committed and quietstate.conf is unchanged");
        return CTL_EXIT_FAIL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* The planner's statistics: without them the first queries on the
     * copied tables may pick sequential scans. Failing here loses nothing
     * (autovacuum's ANALYZE comes later). */
    if (qs_store_migrate_analyze(a->to, warn, sizeof warn) != 0)
        ctl_error(CMD, "warning: %s", warn);
    detail = detail_of(a->to, &counts, (double)(t1.tv_sec - t0.tv_sec) +
                       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (ctl_site_begin(site, errmsg, sizeof errmsg) != 0 ||
        ctl_site_audit(site, actor, "migrate", detail, errmsg, sizeof errmsg) != 0 ||
        switch_site(site, a->to, chains, errmsg, sizeof errmsg) != 0) {
        ctl_site_rollback(site);
        ctl_error(CMD, "the store was copied into %s, but the site was not switched: %s; "
                  "it stays on SQLite: empty that database (dropdb, createdb) before trying "
                  "again", a->to, errmsg);
        cJSON_Delete(detail);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_commit(site, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "the site now uses %s, but the audit entry could not be written: %s",
                  a->to, errmsg);
        cJSON_Delete(detail);
        return CTL_EXIT_FAIL;
    }
    rc = chains != NULL ? shred_old_keys(site) : 0;
    if (a->fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(detail) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        print_text(site, a->to, &counts);
        cJSON_Delete(detail);
    }
    return ctl_output_done(CMD) != 0 || rc != 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

int
cmd_migrate(int argc, char **argv)
{
    struct migrate_args a;
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    qs_config_t cfg;
    ctl_site_t site;
    int rc, lock_fd;

    if ((rc = parse_args(&a, argc, argv)) >= 0)
        return rc;
    if (ctl_actor(actor, sizeof actor, a.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    if (ctl_site_open(&site, a.home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    rc = CTL_EXIT_FAIL;
    lock_fd = -1;
    if (qs_config_load(&cfg, site.paths.conf, errmsg, sizeof errmsg) != 0)
        ctl_error(CMD, "cannot read '%s': %s", site.paths.conf, errmsg);
    else if (cfg.store_database[0] != '\0')
        ctl_error(CMD, "the site's store is already in %s ([store] database): migrate copies "
                  "an SQLite store.db only", cfg.store_database);
    else if (access(site.paths.store_db, F_OK) != 0)
        ctl_error(CMD, "'%s' is missing: nothing to migrate", site.paths.store_db);
    else if ((lock_fd = lock_store(site.paths.home, errmsg, sizeof errmsg)) < 0)
        ctl_error(CMD, "%s", errmsg);
    else
        rc = migrate_site(&site, &a, actor);
    if (lock_fd >= 0)
        close(lock_fd);
    ctl_site_close(&site);
    return rc;
}
