/* cmd_init.c - qsctl init: create a site home with its keys, config and databases.
 *
 * Creates DIR (0700), DIR/keys and DIR/keys/epochs (0700), the broker and
 * store key pairs, the pseudonym and audit secrets (0600), quietstate.conf,
 * site.db and store.db (0600, with their schemas) and a first audit entry
 * "init". With --database URL the store is that PostgreSQL database
 * instead of store.db: init writes [store] database = URL, creates the
 * schema there (refusing a URL with a password, an unreachable database
 * and one that already holds a store's data) and the epoch key chains in
 * keys/epochs that every worker host must share (docs/scale.md). It never overwrites a key: a directory that already holds a whole
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
#include "qs_epochkeys.h"
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
    char path[INIT_MAX_STEPS][64];      /* relative to the home */
    char what[INIT_MAX_STEPS][64];      /* for the summary */
    int created[INIT_MAX_STEPS];
    size_t n;
} init_report_t;

/* init's flags besides the configuration they ask for. */
typedef struct {
    const char *home, *as;
    ctl_format_t fmt;
} init_args_t;

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl init --home DIR [--frontend ENDPOINT] [--backend ENDPOINT]\n"
        "                  [--web ADDR] [--database URL] [--as NAME]\n"
        "                  [--format table|json]\n"
        "\n"
        "Create a site home: keys, quietstate.conf, site.db, store.db, audit log.\n"
        "\n"
        "  --home DIR           site home to create (0700); default $QS_HOME\n"
        "  --database URL       keep the store in this PostgreSQL database instead of\n"
        "                       store.db (a libpq URI, e.g.\n"
        "                       postgresql:///quietstate?host=/run/postgresql);\n"
        "                       no password in it: use PGPASSFILE or a service file.\n"
        "                       The database must be reachable and hold no store's\n"
        "                       data; init creates the schema and the epoch key\n"
        "                       chains that every worker host copies (docs/scale.md)\n"
        "  --frontend ENDPOINT  where producers connect to the broker\n"
        "                       (default %s)\n"
        "  --backend ENDPOINT   where store workers connect to the broker\n"
        "                       (default %s)\n"
        "  --web ADDR           where qs-web listens, HOST:PORT (default %s);\n"
        "                       beyond loopback it needs [web] tls_cert and tls_key\n"
        "  --as NAME            who runs it, for the audit log (beside the OS user)\n"
        "  --format table|json  output format (default table)\n"
        "  --help               show this help\n"
        "\n"
        "Endpoints are tcp://HOST:PORT or ipc://PATH; the defaults listen on loopback\n"
        "only. init never overwrites a key: it refuses a directory that already holds\n"
        "a site and completes one whose init was interrupted.\n",
        QS_DEFAULT_FRONTEND, QS_DEFAULT_BACKEND, QS_DEFAULT_WEB_LISTEN);
}

static void
report(init_report_t *r, const char *path, const char *what, int created)
{
    QS_ASSERT(r->n < INIT_MAX_STEPS);
    snprintf(r->path[r->n], sizeof r->path[r->n], "%s", path);
    snprintf(r->what[r->n], sizeof r->what[r->n], "%s", what);
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

/* 1 if a qs-web HOST:PORT only listens on this host. */
static int
web_is_local(const char *addr)
{
    char ep[QS_MAX_ENDPOINT_BYTES + 8];

    snprintf(ep, sizeof ep, "tcp://%s", addr);
    return endpoint_is_local(ep);
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

/* --web ADDR: the [web] listen value, checked by the daemons' own parser
 * (the same text in quietstate.conf would be refused by qs-web otherwise);
 * a line break would smuggle extra keys into that text, so it is refused
 * first. Returns 0 with want->web_listen set, or -1 with errmsg. */
static int
web_check(qs_config_t *want, const char *addr, char *errmsg, size_t errmsg_len)
{
    char text[QS_MAX_ENDPOINT_BYTES + 32], err[512];
    qs_config_t back;

    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            snprintf(errmsg, errmsg_len, "--web must not contain control characters");
            return -1;
        }
    if (snprintf(text, sizeof text, "[web]\nlisten = %s\n", addr) >= (int)sizeof text) {
        snprintf(errmsg, errmsg_len, "--web is too long (at most %u characters)",
                 QS_MAX_ENDPOINT_BYTES - 1);
        return -1;
    }
    qs_config_defaults(&back);
    if (qs_config_parse(&back, text, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "--web '%s' is not accepted: %s", addr, err);
        return -1;
    }
    snprintf(want->web_listen, sizeof want->web_listen, "%s", back.web_listen);
    return 0;
}

/* --database URL: a PostgreSQL URI [store] database accepts (no password:
 * quietstate.conf is no place for one). 0 or -1 with errmsg. */
static int
database_check(qs_config_t *want, const char *url, char *errmsg, size_t errmsg_len)
{
    if (!qs_config_database_is_pg(url)) {
        snprintf(errmsg, errmsg_len, "--database must be a postgresql:// URI (without it "
                 "the store is store.db in the home)");
        return -1;
    }
    if (!qs_config_database_ok(url)) {
        snprintf(errmsg, errmsg_len, "--database must not hold a password, blanks or control "
                 "characters (at most %u characters): give the password through PGPASSFILE "
                 "or a service file", QS_MAX_DATABASE_BYTES - 1);
        return -1;
    }
    snprintf(want->store_database, sizeof want->store_database, "%s", url);
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
        snprintf(errmsg, errmsg_len, "--frontend, --backend, --web or --database is not "
                 "accepted in quietstate.conf: %s", err);
        return -1;
    }
    if (strcmp(back.frontend, want->frontend) != 0 || strcmp(back.backend, want->backend) != 0 ||
        strcmp(back.web_listen, want->web_listen) != 0 ||
        strcmp(back.store_database, want->store_database) != 0) {
        snprintf(errmsg, errmsg_len, "--frontend, --backend, --web or --database does not "
                 "read back unchanged from quietstate.conf: use a shorter value");
        return -1;
    }
    return 0;
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
        if (qs_site_is_init_entry(e->d_name))
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

/* A PostgreSQL store: reachable, and without data of a site already (new
 * keys could not read it, and two sites must not share one database).
 * Creates the schema when missing. 0 or -1 with errmsg. */
static int
pg_store(const char *url, char *errmsg, size_t errmsg_len)
{
    char err[CTL_ERRMSG_BYTES - 64];
    qs_storedb_t *db = qs_storedb_open(url, 1, err, sizeof err);
    int64_t stored = 0;

    if (db == NULL) {
        snprintf(errmsg, errmsg_len, "cannot use --database: %s", err);
        return -1;
    }
    if (qs_storedb_counter_get(db, "stored", &stored) != 0 || stored > 0) {
        snprintf(errmsg, errmsg_len, "the database '%s' already holds a quietstate store "
                 "with data: a new site needs an empty one (another host of the same site "
                 "copies the first host's home instead of running init)", url);
        qs_storedb_destroy(&db);
        return -1;
    }
    qs_storedb_destroy(&db);
    return 0;
}

static int
databases(const qs_site_paths_t *paths, const qs_config_t *used, init_report_t *r,
          char *errmsg, size_t errmsg_len)
{
    qs_sitedb_t *sdb;
    qs_storedb_t *stdb;
    int created = !exists(paths->site_db);

    sdb = qs_sitedb_open(paths->site_db, 1, errmsg, errmsg_len);
    if (sdb == NULL)
        return -1;
    qs_sitedb_destroy(&sdb);
    report(r, "site.db", "clients, policy, audit log", created);
    if (used->store_database[0] != '\0') {
        /* The chains every worker host derives the epoch keys from. */
        if (qs_epochkeys_chains_create(paths->epochs_dir, errmsg, errmsg_len) != 0 ||
            pg_store(used->store_database, errmsg, errmsg_len) != 0)
            return -1;
        report(r, "keys/epochs/chain-*.state", "epoch key chains (copy to every host)", 1);
        report(r, "[store] database", "PostgreSQL schema", 1);
        return 0;
    }
    created = !exists(paths->store_db);
    stdb = qs_storedb_open(paths->store_db, 1, errmsg, errmsg_len);
    if (stdb == NULL)
        return -1;
    qs_storedb_destroy(&stdb);
    report(r, "store.db", "state data", created);
    return 0;
}

/* 1 when the home's quietstate.conf (if any) keeps the store in PostgreSQL:
 * such a site has no store.db. */
static int
site_is_pg(const qs_site_paths_t *p)
{
    qs_config_t cfg;
    char err[512];

    return exists(p->conf) && qs_config_load(&cfg, p->conf, err, sizeof err) == 0 &&
           qs_config_database_is_pg(cfg.store_database);
}

/* List the site files that are missing ("keys/audit.key, store.db") into
 * out; returns how many. The required entries of the site table are what
 * a finished init leaves. */
static int
site_missing(const qs_site_paths_t *p, char *out, size_t out_len)
{
    size_t n_files, o = 0;
    const qs_site_file_t *files = qs_site_files(&n_files);
    int n = 0, pg = site_is_pg(p);

    out[0] = '\0';
    for (size_t i = 0; i < n_files; i++) {
        const char *path = qs_site_file_path(p, &files[i]);
        if (!files[i].required || path == NULL || strcmp(files[i].rel, ".") == 0 ||
            exists(path) || (pg && strcmp(path, p->store_db) == 0))
            continue;
        if (o < out_len) {
            int w = snprintf(out + o, out_len - o, "%s%s%s", n ? ", " : "", files[i].rel,
                             files[i].kind == QS_SITE_DIR ? "/" : "");
            o += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    return n;
}

static int
audit_init(const char *home, const char *actor, const qs_config_t *cfg,
           const init_report_t *r, int resumed, char *errmsg, size_t errmsg_len)
{
    ctl_site_t site;
    cJSON *detail, *created;
    int rc = -1;

    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      errmsg_len) != 0)
        return -1;
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "frontend", cfg->frontend);
    cJSON_AddStringToObject(detail, "backend", cfg->backend);
    cJSON_AddStringToObject(detail, "web", cfg->web_listen);
    cJSON_AddStringToObject(detail, "database", cfg->store_database);
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
    ctl_site_close(&site);
    return rc;
}

/* --format json: {"home": HOME, "resumed": BOOL, "files": [{"path", "what",
 * "created"}], "frontend", "backend", "web"}. */
static int
print_json(const qs_site_paths_t *paths, const qs_config_t *cfg, const init_report_t *r,
           int resumed)
{
    cJSON *doc = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(doc, "files");

    cJSON_AddStringToObject(doc, "home", paths->home);
    cJSON_AddBoolToObject(doc, "resumed", resumed);
    for (size_t i = 0; i < r->n; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", r->path[i]);
        cJSON_AddStringToObject(f, "what", r->what[i]);
        cJSON_AddBoolToObject(f, "created", r->created[i]);
        cJSON_AddItemToArray(files, f);
    }
    cJSON_AddStringToObject(doc, "frontend", cfg->frontend);
    cJSON_AddStringToObject(doc, "backend", cfg->backend);
    cJSON_AddStringToObject(doc, "web", cfg->web_listen);
    cJSON_AddStringToObject(doc, "database", cfg->store_database);
    return ctl_json_print(doc);
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
    printf("qs-web listens here (HTTP API, docs/web.md): %s\n", cfg->web_listen);
    if (cfg->store_database[0] != '\0')
        printf("store: PostgreSQL database %s\n"
               "  every host that runs qs-store, qs-retention, qsctl or qs-web for this site\n"
               "  needs a copy of keys/ and quietstate.conf (docs/scale.md)\n",
               cfg->store_database);
    printf("\nnext steps:\n"
           "  1. set a privacy policy; nothing is collected until one exists:\n"
           "       qsctl policy set --home %s --max-age-days 90\n"
           "  2. start the daemons, each with --home %s:\n"
           "       qs-broker, qs-store, qs-retention\n"
           "  3. enroll each client and hand it its profile (0600, holds its secret key):\n"
           "       qsctl enroll --home %s --name NAME --out NAME.profile\n",
           paths->home, paths->home, paths->home);
}

/* Parse init's flags into *a and *want. Returns 0, 1 for --help, or -1
 * with errmsg (a usage error). */
static int
parse_init(init_args_t *a, qs_config_t *want, int argc, char **argv, char *errmsg,
           size_t errmsg_len)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'F' },
        { "frontend", required_argument, NULL, 'f' },
        { "backend", required_argument, NULL, 'b' },
        { "web", required_argument, NULL, 'w' },
        { "database", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    qs_config_defaults(want);
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a->home = optarg; break;
        case 'a': a->as = optarg; break;
        case 'F':
            if (ctl_format_parse(&a->fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0) {
                snprintf(errmsg, errmsg_len, "--format must be table or json");
                return -1;
            }
            break;
        case 'f':
        case 'b':
            if (endpoint_check(c == 'f' ? "--frontend" : "--backend", optarg, errmsg,
                               errmsg_len) != 0)
                return -1;
            snprintf(c == 'f' ? want->frontend : want->backend, QS_MAX_ENDPOINT_BYTES, "%s",
                     optarg);
            break;
        case 'w':
            if (web_check(want, optarg, errmsg, errmsg_len) != 0)
                return -1;
            break;
        case 'd':
            if (database_check(want, optarg, errmsg, errmsg_len) != 0)
                return -1;
            break;
        case 'h': return 1;
        case ':':
            snprintf(errmsg, errmsg_len, "%s needs a value", argv[optind - 1]);
            return -1;
        default:
            snprintf(errmsg, errmsg_len, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(errmsg, errmsg_len, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (strcmp(want->frontend, want->backend) == 0) {
        snprintf(errmsg, errmsg_len, "--frontend and --backend must differ");
        return -1;
    }
    return config_roundtrip(want, errmsg, errmsg_len);
}

/* The home directory must be new, empty, or an interrupted init. Returns 0
 * (with *resumed), or -1 after printing why not. */
static int
check_home(const qs_site_paths_t *paths, int *resumed)
{
    char errmsg[CTL_ERRMSG_BYTES], missing[512];
    int site_n, other_n;
    int64_t n_audit;
    struct stat st;

    *resumed = 0;
    if (lstat(paths->home, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        ctl_error(CMD, "cannot inspect '%s': %s", paths->home, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        ctl_error(CMD, "'%s' exists and is not a directory: choose another --home", paths->home);
        return -1;
    }
    if (site_missing(paths, missing, sizeof missing) == 0) {
        ctl_error(CMD, "'%s' already holds a quietstate site; init never overwrites "
                  "keys: use another --home, or remove the directory to start over "
                  "(that destroys the site's keys and data)", paths->home);
        return -1;
    }
    if (scan_home(paths->home, &site_n, &other_n, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return -1;
    }
    if (site_n == 0 && other_n > 0) {
        ctl_error(CMD, "'%s' is not empty and holds no quietstate site: choose a new "
                  "or empty directory", paths->home);
        return -1;
    }
    *resumed = site_n > 0;
    /* The init audit entry is written last, so a site.db with entries means an
     * init that finished: a file missing now was lost, not left unwritten. */
    if (qs_sitedb_audit_entries(&n_audit, paths->site_db, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "cannot read existing '%s' (%s): it is not a quietstate site "
                  "database; remove it or choose another --home", paths->site_db, errmsg);
        return -1;
    }
    if (n_audit > 0) {
        ctl_error(CMD, "'%s' holds a site whose init finished (site.db has %lld audit "
                  "entries) but files are missing: %s. init will not replace them "
                  "(new keys could not read the existing data or verify the audit "
                  "log): restore them from a backup", paths->home, (long long)n_audit,
                  missing);
        return -1;
    }
    return 0;
}

/* The directories of the site table that init makes, parents first. */
static int
create_dirs(const qs_site_paths_t *paths, init_report_t *r, char *errmsg, size_t errmsg_len)
{
    size_t n_files;
    const qs_site_file_t *files = qs_site_files(&n_files);

    for (size_t i = 0; i < n_files; i++) {
        const qs_site_file_t *f = &files[i];
        char rel[64], what[64];
        int created;
        if (f->kind != QS_SITE_DIR || !f->required || qs_site_file_path(paths, f) == NULL)
            continue;
        if (private_dir(qs_site_file_path(paths, f), &created, errmsg, errmsg_len) != 0)
            return -1;
        snprintf(rel, sizeof rel, "%s/", f->rel);
        snprintf(what, sizeof what, "%04o, %s", f->mode, f->what);
        report(r, rel, what, created);
    }
    return 0;
}

/* Create (or complete) every part of the site, noting each in r. */
static int
create_site(const qs_site_paths_t *paths, const qs_config_t *want, qs_config_t *used,
            init_report_t *r, char *errmsg, size_t errmsg_len)
{
    int created;

    if (create_dirs(paths, r, errmsg, errmsg_len) != 0)
        return -1;
    if (key_pair("broker", paths->broker_key, paths->broker_pub, &created, errmsg,
                 errmsg_len) != 0)
        return -1;
    report(r, "keys/broker.key, keys/broker.pub", "broker key pair", created);
    if (key_pair("store", paths->store_key, paths->store_pub, &created, errmsg,
                 errmsg_len) != 0)
        return -1;
    report(r, "keys/store.key, keys/store.pub", "store key pair", created);
    if (secret(paths->site_key, &created, errmsg, errmsg_len) != 0)
        return -1;
    report(r, "keys/site.key", "pseudonym key", created);
    if (secret(paths->audit_key, &created, errmsg, errmsg_len) != 0)
        return -1;
    report(r, "keys/audit.key", "audit chain key", created);
    if (write_config(paths, want, &created, used, errmsg, errmsg_len) != 0)
        return -1;
    report(r, "quietstate.conf", "endpoints and options", created);
    if (!created && (strcmp(used->frontend, want->frontend) != 0 ||
                     strcmp(used->backend, want->backend) != 0 ||
                     strcmp(used->web_listen, want->web_listen) != 0))
        ctl_error(CMD, "note: kept the existing quietstate.conf; its endpoints apply "
                  "(edit '%s' to change them)", paths->conf);
    if (!created && strcmp(used->store_database, want->store_database) != 0)
        ctl_error(CMD, "note: kept the existing quietstate.conf; its [store] database "
                  "applies");
    return databases(paths, used, r, errmsg, errmsg_len);
}

int
cmd_init(int argc, char **argv)
{
    init_args_t a = { .home = NULL, .as = NULL, .fmt = CTL_FORMAT_TABLE };
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    qs_site_paths_t paths;
    qs_config_t want, used;
    init_report_t r = { .n = 0 };
    int prc, resumed;

    prc = parse_init(&a, &want, argc, argv, errmsg, sizeof errmsg);
    if (prc > 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (prc < 0 || qs_site_paths(&paths, a.home, errmsg, sizeof errmsg) != 0 ||
        ctl_actor(actor, sizeof actor, a.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    for (int i = 0; i < 2; i++) {
        const char *ep = i == 0 ? want.frontend : want.backend;
        if (!endpoint_is_local(ep))
            ctl_error(CMD, "warning: %s '%s' is not a loopback address: the broker will "
                      "accept connections from other hosts (only enrolled keys get in)",
                      i == 0 ? "--frontend" : "--backend", ep);
    }
    if (!web_is_local(want.web_listen))
        ctl_error(CMD, "warning: --web '%s' is not a loopback address: qs-web starts there "
                  "only with [web] tls_cert and tls_key set in quietstate.conf",
                  want.web_listen);
    if (check_home(&paths, &resumed) != 0)
        return CTL_EXIT_FAIL;
    /* An unreachable database is refused before anything is created. */
    if (!resumed && want.store_database[0] != '\0' &&
        pg_store(want.store_database, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (create_site(&paths, &want, &used, &r, errmsg, sizeof errmsg) != 0 ||
        audit_init(paths.home, actor, &used, &r, resumed, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (a.fmt == CTL_FORMAT_JSON) {
        if (print_json(&paths, &used, &r, resumed) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        print_summary(&paths, &used, &r, resumed);
    }
    return ctl_output_done(CMD);
}
