/* cmd_init.c - qsctl init: create a site home with its keys, config and databases.
 *
 * Creates DIR (0700), DIR/keys and DIR/keys/epochs (0700), the broker and
 * store key pairs, the pseudonym and audit secrets (0600), quietstate.conf,
 * site.db and store.db (0600, with their schemas) and a first audit entry
 * "init". It never overwrites a key: a directory that already holds a whole
 * site is refused, and an incomplete one (an interrupted init) is completed,
 * keeping every file that is already there. A directory that is not empty
 * and holds nothing of a site is refused too, so that init never tightens
 * the permissions of, or writes into, somebody's unrelated directory.
 */
#include "ctl_common.h"
#include "qs_config.h"
#include "qs_ctl.h"
#include "qs_fsutil.h"
#include "qs_hex.h"
#include "qs_keys.h"
#include "qs_log.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "init"
#define INIT_MAX_STEPS 16

/* What init did for each part of the site, for the summary and the audit. */
typedef struct {
    const char *path[INIT_MAX_STEPS];   /* relative to the home */
    const char *what[INIT_MAX_STEPS];   /* for the summary */
    int created[INIT_MAX_STEPS];
    size_t n;
} init_report_t;

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl init --home DIR [--frontend ENDPOINT] [--backend ENDPOINT]\n"
        "\n"
        "Create a site home: keys, quietstate.conf, site.db, store.db, audit log.\n"
        "\n"
        "  --home DIR           site home to create (0700); default $QS_HOME\n"
        "  --frontend ENDPOINT  where producers connect to the broker\n"
        "                       (default %s)\n"
        "  --backend ENDPOINT   where store workers connect to the broker\n"
        "                       (default %s)\n"
        "  --help               show this help\n"
        "\n"
        "Endpoints are tcp://HOST:PORT or ipc://PATH; the defaults listen on loopback\n"
        "only. init never overwrites a key: it refuses a directory that already holds\n"
        "a site and completes one whose init was interrupted.\n",
        QS_DEFAULT_FRONTEND, QS_DEFAULT_BACKEND);
}

static void
report(init_report_t *r, const char *path, const char *what, int created)
{
    QS_ASSERT(r->n < INIT_MAX_STEPS);
    r->path[r->n] = path;
    r->what[r->n] = what;
    r->created[r->n] = created;
    r->n++;
}

static int
exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* 1 if the endpoint only listens on this host. */
static int
endpoint_is_local(const char *ep)
{
    const char *host, *colon;
    size_t len;

    if (strncmp(ep, "ipc://", 6) == 0)
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    host = ep + 6;
    colon = strrchr(host, ':');
    len = colon ? (size_t)(colon - host) : strlen(host);
    return (len == 9 && strncmp(host, "localhost", 9) == 0) ||
           (len == 5 && strncmp(host, "[::1]", 5) == 0) ||
           (len >= 4 && strncmp(host, "127.", 4) == 0);
}

/* Endpoint syntax: no blanks or control characters (they would end up in
 * quietstate.conf as extra lines), tcp:// or ipc:// only (inproc:// cannot
 * join separate processes). Returns 0 or -1 with errmsg. */
static int
endpoint_check(const char *flag, const char *ep, char *errmsg, size_t errmsg_len)
{
    for (const unsigned char *p = (const unsigned char *)ep; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '#' || *p == ';') {
            snprintf(errmsg, errmsg_len, "%s must not contain blanks, control characters, "
                     "'#' or ';'", flag);
            return -1;
        }
    if (strlen(ep) >= QS_MAX_ENDPOINT_BYTES ||
        (strncmp(ep, "tcp://", 6) != 0 && strncmp(ep, "ipc://", 6) != 0) ||
        strlen(ep) <= 6) {
        snprintf(errmsg, errmsg_len, "%s must be tcp://HOST:PORT or ipc://PATH "
                 "(at most %u characters)", flag, QS_MAX_ENDPOINT_BYTES - 1);
        return -1;
    }
    return 0;
}

/* The config text init would write must read back to the same endpoints
 * with the daemons' own parser (which has limits of its own, such as the
 * INI line length). Returns 0, or -1 with the parser's complaint. */
static int
config_roundtrip(const qs_config_t *want, char *errmsg, size_t errmsg_len)
{
    char text[4096], err[512];
    qs_config_t back;

    if (qs_config_format(text, sizeof text, want) != 0) {
        snprintf(errmsg, errmsg_len, "the endpoints are too long for quietstate.conf");
        return -1;
    }
    qs_config_defaults(&back);
    if (qs_config_parse(&back, text, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "--frontend or --backend is not accepted in "
                 "quietstate.conf: %s", err);
        return -1;
    }
    if (strcmp(back.frontend, want->frontend) != 0 || strcmp(back.backend, want->backend) != 0) {
        snprintf(errmsg, errmsg_len, "--frontend or --backend does not read back unchanged "
                 "from quietstate.conf: use a shorter endpoint");
        return -1;
    }
    return 0;
}

/* Is this directory entry one that a site (or an interrupted init) leaves? */
static int
site_entry(const char *name)
{
    static const char *const known[] = {
        "quietstate.conf", "site.db", "site.db-wal", "site.db-shm", "store.db",
        "store.db-wal", "store.db-shm", "keys", "audit.head",
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(name, known[i]) == 0)
            return 1;
    return strstr(name, ".tmp.") != NULL;   /* qs_fs_write_private leftovers */
}

/* Inspect an existing home: *site_entries and *other_entries counts. */
static int
scan_home(const char *home, int *site_entries, int *other_entries, char *errmsg,
          size_t errmsg_len)
{
    DIR *d = opendir(home);
    struct dirent *e;

    *site_entries = *other_entries = 0;
    if (d == NULL) {
        snprintf(errmsg, errmsg_len, "cannot read directory '%s': %s", home, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (site_entry(e->d_name))
            (*site_entries)++;
        else
            (*other_entries)++;
    }
    closedir(d);
    return 0;
}

/* Create dir 0700, or tighten an existing one we are allowed to take over. */
static int
private_dir(const char *path, int *created, char *errmsg, size_t errmsg_len)
{
    struct stat st;

    *created = !exists(path);
    if (qs_fs_mkdir_private(path, errmsg, errmsg_len) != 0)
        return -1;
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errmsg, errmsg_len, "'%s' is not a directory", path);
        return -1;
    }
    if ((st.st_mode & 077) != 0 && chmod(path, 0700) != 0) {
        snprintf(errmsg, errmsg_len, "cannot make '%s' private (chmod 700): %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* A key pair file set: generate when both are missing, derive a missing .pub
 * from the secret, refuse a .pub without its secret (never replace a key
 * that profiles may already carry). */
static int
key_pair(const char *role, const char *key_path, const char *pub_path, int *created,
         char *errmsg, size_t errmsg_len)
{
    qs_keypair_t *kp;
    int rc;

    *created = 0;
    if (exists(key_path)) {
        char hex[QS_HEX_KEY_CHARS + 2];
        kp = qs_keypair_load(key_path, errmsg, errmsg_len);
        if (kp == NULL)
            return -1;
        rc = 0;
        if (!exists(pub_path)) {
            qs_hex_encode(hex, sizeof hex, qs_keypair_public(kp), QS_KEY_BYTES);
            hex[QS_HEX_KEY_CHARS] = '\n';
            rc = qs_fs_write_private(pub_path, hex, QS_HEX_KEY_CHARS + 1, errmsg, errmsg_len);
        }
        qs_keypair_destroy(&kp);
        return rc;
    }
    if (exists(pub_path)) {
        snprintf(errmsg, errmsg_len,
                 "'%s' exists without its secret key '%s': restore the %s secret key from "
                 "a backup, or remove '%s' to generate a new pair (every client profile "
                 "must then be issued again)", pub_path, key_path, role, pub_path);
        return -1;
    }
    kp = qs_keypair_generate();
    if (kp == NULL) {
        snprintf(errmsg, errmsg_len, "cannot allocate locked memory for the %s key "
                 "(check 'ulimit -l')", role);
        return -1;
    }
    rc = qs_keypair_save(kp, key_path, pub_path, errmsg, errmsg_len);
    qs_keypair_destroy(&kp);
    *created = rc == 0;
    return rc;
}

static int
secret(const char *path, int *created, char *errmsg, size_t errmsg_len)
{
    uint8_t *key = NULL;

    *created = !exists(path);
    if (qs_secret_load(&key, path, 1, errmsg, errmsg_len) != 0)
        return -1;
    sodium_free(key);
    return 0;
}

static int
write_config(const qs_site_paths_t *paths, const qs_config_t *want, int *created,
             qs_config_t *used, char *errmsg, size_t errmsg_len)
{
    char text[4096], err[1024];

    *created = 0;
    if (exists(paths->conf)) {
        /* An interrupted init: keep what is there if it is valid. */
        if (qs_config_load(used, paths->conf, err, sizeof err) != 0) {
            snprintf(errmsg, errmsg_len, "existing '%s' is invalid (%s): fix or remove it",
                     paths->conf, err);
            return -1;
        }
        return 0;
    }
    *used = *want;
    if (qs_config_format(text, sizeof text, want) != 0) {
        snprintf(errmsg, errmsg_len, "configuration text too long");
        return -1;
    }
    if (qs_fs_write_private(paths->conf, text, strlen(text), errmsg, errmsg_len) != 0)
        return -1;
    *created = 1;
    return 0;
}

static int
databases(const qs_site_paths_t *paths, int *site_created, int *store_created,
          char *errmsg, size_t errmsg_len)
{
    qs_sitedb_t *sdb;
    qs_storedb_t *stdb;

    *site_created = !exists(paths->site_db);
    sdb = qs_sitedb_open(paths->site_db, 1, errmsg, errmsg_len);
    if (sdb == NULL)
        return -1;
    qs_sitedb_destroy(&sdb);
    *store_created = !exists(paths->store_db);
    stdb = qs_storedb_open(paths->store_db, 1, errmsg, errmsg_len);
    if (stdb == NULL)
        return -1;
    qs_storedb_destroy(&stdb);
    return 0;
}

/* Audit entries already in site.db: 0 when there is no site.db yet (or no
 * audit table), -1 with errmsg when the file is not a database. The init
 * audit entry is written last, so a site.db with entries means an init that
 * finished: a file missing now was lost, not left unwritten. */
static int64_t
audit_entries(const qs_site_paths_t *p, char *errmsg, size_t errmsg_len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (!exists(p->site_db))
        return 0;
    if (sqlite3_open_v2(p->site_db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE name = 'audit'", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW) {
        n = 0;
        goto out;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto out;
    n = sqlite3_column_int64(st, 0);
out:
    if (n < 0)
        snprintf(errmsg, errmsg_len, "cannot read existing '%s' (%s): it is not a quietstate "
                 "site database; remove it or choose another --home", p->site_db,
                 db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* List the site files that are missing ("keys/audit.key, store.db") into
 * out; returns how many. */
static int
site_missing(const qs_site_paths_t *p, char *out, size_t out_len)
{
    const struct { const char *path, *name; } parts[] = {
        { p->conf, "quietstate.conf" }, { p->site_db, "site.db" },
        { p->store_db, "store.db" }, { p->broker_key, "keys/broker.key" },
        { p->broker_pub, "keys/broker.pub" }, { p->store_key, "keys/store.key" },
        { p->store_pub, "keys/store.pub" }, { p->site_key, "keys/site.key" },
        { p->audit_key, "keys/audit.key" }, { p->epochs_dir, "keys/epochs/" },
    };
    size_t o = 0;
    int n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (exists(parts[i].path))
            continue;
        if (o < out_len) {
            int w = snprintf(out + o, out_len - o, "%s%s", n ? ", " : "", parts[i].name);
            o += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    return n;
}

static int
audit_init(const char *home, const qs_config_t *cfg, const init_report_t *r, int resumed,
           char *errmsg, size_t errmsg_len)
{
    ctl_site_t site;
    char actor[CTL_MAX_ACTOR_BYTES + 1];
    cJSON *detail, *created;
    int rc = -1;

    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      errmsg_len) != 0)
        return -1;
    if (ctl_actor(actor, sizeof actor, NULL, errmsg, errmsg_len) != 0)
        goto out;
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "frontend", cfg->frontend);
    cJSON_AddStringToObject(detail, "backend", cfg->backend);
    created = cJSON_AddArrayToObject(detail, "created");
    for (size_t i = 0; i < r->n; i++)
        if (r->created[i])
            cJSON_AddItemToArray(created, cJSON_CreateString(r->path[i]));
    cJSON_AddBoolToObject(detail, "resumed", resumed);
    if (ctl_site_begin(&site, errmsg, errmsg_len) == 0 &&
        ctl_site_audit(&site, actor, "init", detail, errmsg, errmsg_len) == 0 &&
        ctl_site_commit(&site, errmsg, errmsg_len) == 0)
        rc = 0;
    cJSON_Delete(detail);
out:
    ctl_site_close(&site);
    return rc;
}

static void
print_summary(const qs_site_paths_t *paths, const qs_config_t *cfg, const init_report_t *r,
              int resumed)
{
    printf("%s site home '%s'\n", resumed ? "completed the interrupted init of" : "created",
           paths->home);
    for (size_t i = 0; i < r->n; i++)
        printf("  %-8s %-34s %s\n", r->created[i] ? "created" : "kept", r->path[i],
               r->what[i]);
    printf("broker frontend (producers connect here): %s\n", cfg->frontend);
    printf("broker backend (store workers connect here): %s\n", cfg->backend);
    printf("\nnext steps:\n"
           "  1. set a privacy policy; nothing is collected until one exists:\n"
           "       qsctl policy set --home %s --max-age-days 90\n"
           "  2. start the daemons, each with --home %s:\n"
           "       qs-broker, qs-store, qs-retention\n"
           "  3. enroll each client and hand it its profile (0600, holds its secret key):\n"
           "       qsctl enroll --home %s --name NAME --out NAME.profile\n",
           paths->home, paths->home, paths->home);
}

int
cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "frontend", required_argument, NULL, 'f' },
        { "backend", required_argument, NULL, 'b' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL;
    char errmsg[CTL_ERRMSG_BYTES];
    qs_site_paths_t paths;
    qs_config_t want, used;
    init_report_t r = { .n = 0 };
    int c, created, site_created, store_created, resumed = 0, site_n, other_n;
    int64_t n_audit;
    char missing[512];
    struct stat st;

    qs_config_defaults(&want);
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 'f':
        case 'b':
            if (endpoint_check(c == 'f' ? "--frontend" : "--backend", optarg, errmsg,
                               sizeof errmsg) != 0)
                goto usage_error;
            snprintf(c == 'f' ? want.frontend : want.backend, QS_MAX_ENDPOINT_BYTES, "%s",
                     optarg);
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':':
            snprintf(errmsg, sizeof errmsg, "%s needs a value", argv[optind - 1]);
            goto usage_error;
        default:
            snprintf(errmsg, sizeof errmsg, "unknown option '%s'", argv[optind - 1]);
            goto usage_error;
        }
    }
    if (optind < argc) {
        snprintf(errmsg, sizeof errmsg, "unexpected argument '%s'", argv[optind]);
        goto usage_error;
    }
    if (strcmp(want.frontend, want.backend) == 0) {
        snprintf(errmsg, sizeof errmsg, "--frontend and --backend must differ");
        goto usage_error;
    }
    if (config_roundtrip(&want, errmsg, sizeof errmsg) != 0)
        goto usage_error;
    if (qs_site_paths(&paths, home, errmsg, sizeof errmsg) != 0)
        goto usage_error;
    for (int i = 0; i < 2; i++) {
        const char *ep = i == 0 ? want.frontend : want.backend;
        if (!endpoint_is_local(ep))
            ctl_error(CMD, "warning: %s '%s' is not a loopback address: the broker will "
                      "accept connections from other hosts (only enrolled keys get in)",
                      i == 0 ? "--frontend" : "--backend", ep);
    }

    /* The home directory: new, empty, or an interrupted init. */
    if (lstat(paths.home, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            ctl_error(CMD, "'%s' exists and is not a directory: choose another --home",
                      paths.home);
            return CTL_EXIT_FAIL;
        }
        if (site_missing(&paths, missing, sizeof missing) == 0) {
            ctl_error(CMD, "'%s' already holds a quietstate site; init never overwrites "
                      "keys: use another --home, or remove the directory to start over "
                      "(that destroys the site's keys and data)", paths.home);
            return CTL_EXIT_FAIL;
        }
        if (scan_home(paths.home, &site_n, &other_n, errmsg, sizeof errmsg) != 0)
            goto fail;
        if (site_n == 0 && other_n > 0) {
            ctl_error(CMD, "'%s' is not empty and holds no quietstate site: choose a new "
                      "or empty directory", paths.home);
            return CTL_EXIT_FAIL;
        }
        resumed = site_n > 0;
        n_audit = audit_entries(&paths, errmsg, sizeof errmsg);
        if (n_audit < 0)
            goto fail;
        if (n_audit > 0) {
            ctl_error(CMD, "'%s' holds a site whose init finished (site.db has %lld audit "
                      "entries) but files are missing: %s. init will not replace them "
                      "(new keys could not read the existing data or verify the audit "
                      "log): restore them from a backup", paths.home, (long long)n_audit,
                      missing);
            return CTL_EXIT_FAIL;
        }
    } else if (errno != ENOENT) {
        snprintf(errmsg, sizeof errmsg, "cannot inspect '%s': %s", paths.home, strerror(errno));
        goto fail;
    }

    if (private_dir(paths.home, &created, errmsg, sizeof errmsg) != 0)
        goto fail;
    report(&r, "./", "site home, 0700", created);
    if (private_dir(paths.keys_dir, &created, errmsg, sizeof errmsg) != 0)
        goto fail;
    report(&r, "keys/", "0700", created);
    if (private_dir(paths.epochs_dir, &created, errmsg, sizeof errmsg) != 0)
        goto fail;
    report(&r, "keys/epochs/", "0700, per-day data keys", created);
    if (key_pair("broker", paths.broker_key, paths.broker_pub, &created, errmsg,
                 sizeof errmsg) != 0)
        goto fail;
    report(&r, "keys/broker.key, keys/broker.pub", "broker key pair", created);
    if (key_pair("store", paths.store_key, paths.store_pub, &created, errmsg,
                 sizeof errmsg) != 0)
        goto fail;
    report(&r, "keys/store.key, keys/store.pub", "store key pair", created);
    if (secret(paths.site_key, &created, errmsg, sizeof errmsg) != 0)
        goto fail;
    report(&r, "keys/site.key", "pseudonym key", created);
    if (secret(paths.audit_key, &created, errmsg, sizeof errmsg) != 0)
        goto fail;
    report(&r, "keys/audit.key", "audit chain key", created);
    if (write_config(&paths, &want, &created, &used, errmsg, sizeof errmsg) != 0)
        goto fail;
    report(&r, "quietstate.conf", "endpoints and options", created);
    if (!created && (strcmp(used.frontend, want.frontend) != 0 ||
                     strcmp(used.backend, want.backend) != 0))
        ctl_error(CMD, "note: kept the existing quietstate.conf; its endpoints apply "
                  "(edit '%s' to change them)", paths.conf);
    if (databases(&paths, &site_created, &store_created, errmsg, sizeof errmsg) != 0)
        goto fail;
    report(&r, "site.db", "clients, policy, audit log", site_created);
    report(&r, "store.db", "state data", store_created);
    if (audit_init(paths.home, &used, &r, resumed, errmsg, sizeof errmsg) != 0)
        goto fail;
    print_summary(&paths, &used, &r, resumed);
    return ctl_output_done(CMD);

usage_error:
    return ctl_usage_error(CMD, "%s", errmsg);
fail:
    ctl_error(CMD, "%s", errmsg);
    return CTL_EXIT_FAIL;
}
