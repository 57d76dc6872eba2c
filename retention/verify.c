/* verify.c - the checks behind `qsctl verify`, each adding findings to a list.
 *
 * Checks run in a fixed order (permissions, audit chain, store.db expiry and
 * identity, site.db identity, epoch keys, raw names) and never stop at the
 * first finding: an auditor wants the whole list. Databases are opened with
 * the same helpers the daemons use, so WAL content is seen too; the raw-name
 * search reads the files byte by byte (db, -wal, -shm, keys, logs, anything).
 */
#define _GNU_SOURCE     /* memmem */
#include "verify.h"
#include "purge.h"
#include "qs_audit.h"
#include "qs_clock.h"
#include "qs_config.h"
#include "qs_epochkeys.h"
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_sitedb.h"
#include "qs_store_check.h"
#include "qs_storedb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WALK_DEPTH 16
#define SCAN_CHUNK (1u << 20)

struct pattern {
    uint8_t *bytes;     /* lowercased ASCII, or its UTF-16LE spelling */
    size_t len;
    size_t name_index;
};

struct scan {
    struct pattern *pats;
    size_t n_pats, max_len;
    uint8_t *buf;
    int *found;         /* per pattern, for the current file */
};

struct qs_verify {
    qs_site_paths_t paths;
    int64_t now_ms;
    char **names;
    size_t n_names;
    char **findings;
    size_t n_findings, cap_findings;
    qs_verify_summary_t sum;
    qs_policy_t policy;
    int pg_site;            /* [store] database names a PostgreSQL database */
    uint32_t *types;        /* topic types with rows in the store (check_store) */
    size_t n_types;
    struct scan *scan;      /* during check_names only */
};

qs_verify_t *
qs_verify_new(const qs_site_paths_t *paths, int64_t now_ms, int64_t grace_ms)
{
    qs_verify_t *v = qs_calloc(1, sizeof *v);
    v->paths = *paths;
    v->now_ms = now_ms;
    v->sum.grace_ms = grace_ms;
    return v;
}

void
qs_verify_destroy(qs_verify_t **v_p)
{
    qs_verify_t *v;

    if (v_p == NULL || *v_p == NULL)
        return;
    v = *v_p;
    for (size_t i = 0; i < v->n_names; i++) {
        sodium_memzero(v->names[i], strlen(v->names[i]));
        free(v->names[i]);
    }
    free(v->names);
    for (size_t i = 0; i < v->n_findings; i++)
        free(v->findings[i]);
    free(v->findings);
    free(v->types);
    free(v);
    *v_p = NULL;
}

void
qs_verify_add_name(qs_verify_t *v, const char *name)
{
    v->names = qs_realloc(v->names, (v->n_names + 1) * sizeof *v->names);
    v->names[v->n_names++] = qs_strdup(name);
}

size_t
qs_verify_count(const qs_verify_t *v)
{
    return v->n_findings;
}

const char *
qs_verify_finding(const qs_verify_t *v, size_t i)
{
    QS_ASSERT(i < v->n_findings);
    return v->findings[i];
}

const qs_verify_summary_t *
qs_verify_summary(const qs_verify_t *v)
{
    return &v->sum;
}

static void finding(qs_verify_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
finding(qs_verify_t *v, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (v->n_findings == v->cap_findings) {
        v->cap_findings = v->cap_findings ? v->cap_findings * 2 : 16;
        v->findings = qs_realloc(v->findings, v->cap_findings * sizeof *v->findings);
    }
    v->findings[v->n_findings++] = qs_strdup(line);
}

/* ---- permissions ---------------------------------------------------------- */

static void
check_dir_mode(qs_verify_t *v, const char *path, unsigned mode, int must_exist)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (must_exist || errno != ENOENT)
            finding(v, "permissions: cannot stat directory '%s': %s", path, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        finding(v, "permissions: '%s' is not a directory", path);
        return;
    }
    if ((st.st_mode & 0777) != mode)
        finding(v, "permissions: directory '%s' is mode %04o, must be %04o (chmod %o '%s')",
                path, (unsigned)(st.st_mode & 07777), mode, mode, path);
}

static void
check_file_mode(qs_verify_t *v, const char *path, int must_exist)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (must_exist || errno != ENOENT)
            finding(v, "permissions: cannot stat '%s': %s", path, strerror(errno));
        return;
    }
    if (S_ISLNK(st.st_mode)) {
        finding(v, "permissions: '%s' is a symbolic link: secrets and databases must be "
                "regular files inside the site home", path);
        return;
    }
    if ((st.st_mode & 077) != 0)
        finding(v, "permissions: '%s' is mode %04o: group or others can reach it "
                "(chmod 600 '%s')", path, (unsigned)(st.st_mode & 07777), path);
}

/* Every file of a PATTERN entry (the epoch keys, "*.tmp.*"): the entries of its
 * directory whose names match, each checked like an optional FILE. */
static void
check_pattern_mode(qs_verify_t *v, const qs_site_file_t *f)
{
    char dir[QS_MAX_PATH_BYTES], path[QS_MAX_PATH_BYTES];
    const char *slash = strrchr(f->rel, '/'), *glob = slash ? slash + 1 : f->rel;
    int n = slash ? snprintf(dir, sizeof dir, "%s/%.*s", v->paths.home,
                             (int)(slash - f->rel), f->rel)
                  : snprintf(dir, sizeof dir, "%s", v->paths.home);
    struct dirent *e;
    DIR *d;

    if (n < 0 || (size_t)n >= sizeof dir) {
        finding(v, "permissions: path too long under '%s'", v->paths.home);
        return;
    }
    d = opendir(dir);
    if (d == NULL) {
        if (errno != ENOENT)
            finding(v, "permissions: cannot list '%s': %s", dir, strerror(errno));
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || fnmatch(glob, e->d_name, 0) != 0)
            continue;
        if (qs_path_join(path, sizeof path, dir, e->d_name) != 0)
            finding(v, "permissions: path too long under '%s'", dir);
        else
            check_file_mode(v, path, 0);
    }
    closedir(d);
}

/* Every entry of the site home's table (qs_site_files): the same list init
 * creates from and docs/operators.md shows. */
static void
check_permissions(qs_verify_t *v)
{
    size_t n;
    const qs_site_file_t *files = qs_site_files(&n);

    for (size_t i = 0; i < n; i++) {
        const qs_site_file_t *f = &files[i];
        const char *path = qs_site_file_path(&v->paths, f);
        char joined[QS_MAX_PATH_BYTES];

        if (f->kind == QS_SITE_PATTERN) {
            check_pattern_mode(v, f);
            continue;
        }
        if (path == NULL) {
            if (qs_path_join(joined, sizeof joined, v->paths.home, f->rel) != 0) {
                finding(v, "permissions: path too long under '%s'", v->paths.home);
                continue;
            }
            path = joined;
        }
        if (f->kind == QS_SITE_DIR)
            check_dir_mode(v, path, f->mode, f->required);
        else    /* a PostgreSQL site has no store.db; a stray one is still checked */
            check_file_mode(v, path, f->required &&
                            !(v->pg_site && strncmp(f->rel, "store.db", 8) == 0));
    }
}

/* ---- audit chain ---------------------------------------------------------- */

static int
count_entry(void *ctx, const qs_audit_entry_t *e)
{
    (void)e;
    ((qs_verify_t *)ctx)->sum.audit_entries++;
    return 0;
}

static void
check_audit(qs_verify_t *v, qs_sitedb_t *site)
{
    char err[512], what[512] = "";
    uint8_t *key = NULL;
    int64_t bad_seq = 0;
    int rc;

    if (qs_secret_load(&key, v->paths.audit_key, 0, err, sizeof err) != 0) {
        finding(v, "audit: cannot load the audit key: %s", err);
        return;
    }
    rc = qs_audit_check(site, key, v->paths.audit_head, &v->sum.audit_entries, &bad_seq, what,
                        sizeof what);
    sodium_free(key);
    if (rc == 0)
        return;
    if (rc == 1)
        finding(v, "audit: chain broken: %s", what);
    else
        finding(v, "audit: cannot read the audit log: %s",
                what[0] != '\0' ? what : qs_sitedb_errmsg(site));
    /* The summary still says how long the log is, whatever broke it. */
    v->sum.audit_entries = 0;
    if (qs_audit_each(site, count_entry, v) != 0)
        finding(v, "audit: cannot count entries");
}

/* ---- schema: no text but topic ids, identities only as pseudonyms ---------- */

/* The database owner leaves out the columns that hold text by design. */
struct text_check {
    qs_verify_t *v;
    const char *dbname;
};

static void
text_column_finding(void *ctx, const char *table, const char *column, const char *type)
{
    const struct text_check *tc = ctx;

    finding(tc->v, "identifier: %s column '%s.%s' holds text (%s): only topic ids, "
                "counter names, policy and audit fields may", tc->dbname, table, column, type);
}

static void
check_site_identities(qs_verify_t *v, qs_sitedb_t *site)
{
    struct text_check tc = { v, "site.db" };
    int64_t bad = 0;
    char err[512];

    if (qs_sitedb_check_text_columns(site, text_column_finding, &tc, err, sizeof err) != 0)
        finding(v, "identifier: cannot read the schema of site.db: %s", err);
    if (qs_sitedb_check_client_names(site, &bad, err, sizeof err) != 0)
        finding(v, "identifier: cannot check site.db client names: %s", err);
    else if (bad > 0)
        finding(v, "identifier: %lld site.db clients rows have a name that is not a 16-byte "
                "pseudonym", (long long)bad);
}

/* ---- store.db: expiry and identities --------------------------------------- */

/* Remember a topic type the store holds rows of (for the key chains). */
static void
note_type(qs_verify_t *v, uint32_t topic_type)
{
    for (size_t i = 0; i < v->n_types; i++)
        if (v->types[i] == topic_type)
            return;
    v->types = qs_realloc(v->types, (v->n_types + 1) * sizeof *v->types);
    v->types[v->n_types++] = topic_type;
}

static void
latest_findings(void *ctx, const qs_check_latest_t *t)
{
    qs_verify_t *v = ctx;
    char cut[32];

    note_type(v, t->topic_type);
    v->sum.latest_rows += t->rows;
    if (t->not_pseudonym > 0)
        finding(v, "identifier: %lld latest rows of topic %u have a machine or domain that "
                "is not a 16-byte pseudonym", (long long)t->not_pseudonym, t->topic_type);
    if (v->sum.policy_configured && t->expired > 0) {
        if (qs_time_format_iso8601(cut, sizeof cut, t->oldest_report_ms, 0) != 0)
            snprintf(cut, sizeof cut, "?");
        finding(v, "expired: %lld latest rows of topic %u were last reported more than "
                "%d days ago (oldest %s): qs-retention has not removed them",
                (long long)t->expired, t->topic_type,
                qs_policy_max_age_days(&v->policy, t->topic_type), cut);
    }
}

static void
partition_findings(void *ctx, const qs_check_partition_t *part)
{
    qs_verify_t *v = ctx;
    char name[64], day[32];
    int max_age = qs_policy_max_age_days(&v->policy, part->topic_type);

    if (qs_storedb_partition_name(name, sizeof name, part->epoch, part->topic_type) != 0)
        return;
    if (part->error != NULL) {
        finding(v, "store: cannot check partition '%s': %s", name, part->error);
        return;
    }
    qs_time_format_day(day, sizeof day, part->epoch);
    note_type(v, part->topic_type);
    v->sum.partitions++;
    v->sum.history_rows += part->rows;
    if (part->not_pseudonym > 0)
        finding(v, "identifier: %lld rows of '%s' have a machine, domain or user that is not a "
                "16-byte pseudonym", (long long)part->not_pseudonym, name);
    if (!v->sum.policy_configured)
        return;
    if (qs_policy_partition_expired(&v->policy, part->epoch, part->topic_type, v->now_ms,
                                   v->sum.grace_ms)) {
        if (part->rows > 0)
            finding(v, "expired: partition '%s' (%s, topic %u) is older than the policy's "
                    "%d days and still has %lld rows", name, day, part->topic_type, max_age,
                    (long long)part->rows);
    } else if (part->expired > 0) {
        finding(v, "expired: %lld rows of partition '%s' (%s, topic %u) are older than the "
                "policy's %d days", (long long)part->expired, name, day, part->topic_type,
                max_age);
    }
}

/* `qsctl compliance` reads only compliance_counts and scope_counts;
 * --deployment installed_hours too. */
static void
check_counts(qs_verify_t *v, qs_storedb_t *db)
{
    int64_t missing, stale;
    char err[512];

    if (qs_storedb_check_counts(db, &missing, &stale, err, sizeof err) != 0)
        finding(v, "store: cannot compare compliance_counts with latest: %s", err);
    else if (missing > 0 || stale > 0)
        finding(v, "store: compliance_counts disagrees with latest (%lld groups missing or "
                "wrong, %lld stale): qsctl compliance is wrong until `qsctl verify "
                "--repair-counts` rebuilds it", (long long)missing, (long long)stale);
    if (qs_storedb_check_scope(db, &missing, err, sizeof err) != 0)
        finding(v, "store: cannot compare scope_counts with latest: %s", err);
    else if (missing > 0)
        finding(v, "store: scope_counts disagrees with latest (%lld topic types wrong): the "
                "scope and percentages of qsctl compliance are wrong until `qsctl verify "
                "--repair-counts` rebuilds it", (long long)missing);
    if (qs_storedb_check_installed(db, &missing, err, sizeof err) != 0)
        finding(v, "store: cannot compare installed_hours with latest: %s", err);
    else if (missing > 0)
        finding(v, "store: installed_hours disagrees with latest (%lld hours wrong): the "
                "on-time counts of qsctl compliance --deployment are wrong until `qsctl "
                "verify --repair-counts` rebuilds it", (long long)missing);
}

struct name_hit {
    qs_verify_t *v;
    const char *name;
};

static void
name_finding(void *ctx, const char *table, const char *column, int64_t rows)
{
    const struct name_hit *h = ctx;

    finding(h->v, "identifier: raw name '%s' found in %lld rows of the store database's "
            "'%s.%s'", h->name, (long long)rows, table, column);
}

/* The names given, searched in the database's rows where the engine keeps
 * them outside the home (PostgreSQL); store.db's bytes are scanned with
 * the home's files. */
static void
check_store_names(qs_verify_t *v, qs_storedb_t *db)
{
    char err[512];
    int searched = 0;

    for (size_t i = 0; i < v->n_names; i++) {
        struct name_hit h = { v, v->names[i] };

        if (qs_storedb_check_name(db, v->names[i], &searched, name_finding, &h, err,
                                  sizeof err) != 0) {
            finding(v, "identifier: cannot search the store database for names: %s", err);
            return;
        }
        if (!searched)
            return;
    }
}

static void
check_store(qs_verify_t *v)
{
    struct text_check tc = { v, v->pg_site ? "the store database" : "store.db" };
    qs_storedb_t *db;
    qs_config_t cfg;
    const char *where;
    char err[512];
    struct stat sb;

    if (qs_config_load(&cfg, v->paths.conf, err, sizeof err) != 0) {
        finding(v, "store: %s", err);
        return;
    }
    where = qs_storedb_location(cfg.store_database, v->paths.store_db);
    if (where == v->paths.store_db && stat(where, &sb) != 0 && errno == ENOENT)
        return;     /* nothing stored yet */
    db = qs_storedb_open(where, 0, err, sizeof err);
    if (db == NULL) {
        finding(v, "store: %s", err);
        return;
    }
    if (qs_storedb_check_text_columns(db, text_column_finding, &tc, err, sizeof err) != 0)
        finding(v, "identifier: cannot read the schema of store.db: %s", err);
    if (qs_storedb_check_storage(db, err, sizeof err) != 0)
        finding(v, "store: %s", err);
    if (qs_storedb_check_latest(db, latest_findings, v, &v->policy, v->now_ms, v->sum.grace_ms,
                                err, sizeof err) != 0)
        finding(v, "store: cannot check latest: %s", err);
    check_counts(v, db);
    if (qs_storedb_check_partitions(db, partition_findings, v, &v->policy, v->now_ms,
                                    v->sum.grace_ms, err, sizeof err) != 0)
        finding(v, "store: cannot list history partitions: %s", err);
    check_store_names(v, db);
    qs_storedb_destroy(&db);
}

/* A chain matters where something was sealed under it: a topic type with
 * rows in the store (the workers move a type's chain to its cutoff before
 * sealing; retention moves every chain each pass). A chain of a type never
 * reported may still start at its first day: no key of it ever sealed a
 * byte. */
static int
chain_finding(void *ctx, int64_t epoch, uint32_t topic_type)
{
    qs_verify_t *v = ctx;
    char day[32];
    int used = 0;

    for (size_t i = 0; i < v->n_types && !used; i++)
        used = v->types[i] == topic_type;
    if (used && v->sum.policy_configured &&
        qs_policy_partition_expired(&v->policy, epoch, topic_type, v->now_ms, v->sum.grace_ms)) {
        qs_time_format_day(day, sizeof day, epoch);
        finding(v, "expired: the key chain of topic %u in '%s' can still derive the key of "
                "%s, older than the policy's %d days: qs-retention has not moved it",
                topic_type, v->paths.epochs_dir, day,
                qs_policy_max_age_days(&v->policy, topic_type));
    }
    return 0;
}

/* A PostgreSQL site's key chains (qs_epochkeys.h): each chain's oldest
 * derivable day must not be expired. Read through qs_epochkeys, which
 * refuses a loose directory (a permission finding already). */
static void
check_chains(qs_verify_t *v)
{
    qs_epochkeys_t *ks;
    char err[512];

    ks = qs_epochkeys_open(v->paths.epochs_dir, 0, err, sizeof err);
    if (ks == NULL) {
        finding(v, "keys: cannot read the key chains in '%s': %s", v->paths.epochs_dir, err);
        return;
    }
    if (qs_epochkeys_each(ks, chain_finding, v) != 0)
        finding(v, "keys: cannot list the key chains in '%s'", v->paths.epochs_dir);
    qs_epochkeys_destroy(&ks);
}

/* Every key file in keys/epochs, listed here rather than through
 * qs_epochkeys_open (which refuses a loose directory: that is a permission
 * finding already, and the expiry check must still run). */
static void
check_keys(qs_verify_t *v)
{
    DIR *d = opendir(v->paths.epochs_dir);
    struct dirent *e;
    char day[32];
    int chains = 0;

    if (d == NULL) {
        if (errno != ENOENT)
            finding(v, "keys: cannot list '%s': %s", v->paths.epochs_dir, strerror(errno));
        return;
    }
    while ((e = readdir(d)) != NULL) {
        long long epoch;
        unsigned topic;
        int consumed = 0;

        if (sscanf(e->d_name, "chain-%u.state%n", &topic, &consumed) == 1 &&
            e->d_name[consumed] == '\0') {
            v->sum.keys++;      /* its mode: the site table's pattern */
            chains = 1;
            continue;
        }
        consumed = 0;
        if (sscanf(e->d_name, "%lld-%u.key%n", &epoch, &topic, &consumed) != 2 ||
            e->d_name[consumed] != '\0')
            continue;
        v->sum.keys++;
        if (v->sum.policy_configured &&
            qs_policy_partition_expired(&v->policy, epoch, topic, v->now_ms, v->sum.grace_ms)) {
            qs_time_format_day(day, sizeof day, epoch);
            finding(v, "expired: key file '%s/%s' of partition (%s, topic %u) outlived the "
                    "policy's %d days: it must be shredded", v->paths.epochs_dir, e->d_name,
                    day, topic, qs_policy_max_age_days(&v->policy, topic));
        }
    }
    closedir(d);
    if (chains)
        check_chains(v);
}

/* ---- raw names in file bytes ----------------------------------------------- */

typedef void (*walk_cb)(qs_verify_t *v, const char *path, const struct stat *st);

/* Depth-first over dir (not following symbolic links); cb sees every entry. */
static void
walk(qs_verify_t *v, const char *dir, int depth, walk_cb cb)
{
    DIR *d;
    struct dirent *e;

    if (depth > MAX_WALK_DEPTH) {
        finding(v, "files: '%s' is nested too deep to inspect", dir);
        return;
    }
    d = opendir(dir);
    if (d == NULL) {
        finding(v, "files: cannot list '%s': %s", dir, strerror(errno));
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[QS_MAX_PATH_BYTES];
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (qs_path_join(path, sizeof path, dir, e->d_name) != 0) {
            finding(v, "files: path too long under '%s'", dir);
            continue;
        }
        if (lstat(path, &st) != 0)
            continue;   /* removed meanwhile (a WAL being checkpointed away) */
        cb(v, path, &st);
        if (S_ISDIR(st.st_mode))
            walk(v, path, depth + 1, cb);
    }
    closedir(d);
}

static void
lower_ascii(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (uint8_t)(p[i] + 32);
}

/* Search one file for every pattern, in chunks with an overlap of the
 * longest pattern, so a name spanning two chunks is still found. */
static int
scan_file(struct scan *s, const char *path)
{
    size_t keep = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    memset(s->found, 0, s->n_pats * sizeof *s->found);
    if (fd < 0)
        return -1;
    for (;;) {
        ssize_t r = read(fd, s->buf + keep, SCAN_CHUNK);
        size_t have;

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        lower_ascii(s->buf + keep, (size_t)r);
        have = keep + (size_t)r;
        for (size_t i = 0; i < s->n_pats; i++)
            if (!s->found[i] && memmem(s->buf, have, s->pats[i].bytes, s->pats[i].len) != NULL)
                s->found[i] = 1;
        keep = s->max_len - 1 < have ? s->max_len - 1 : have;
        memmove(s->buf, s->buf + have - keep, keep);
    }
    close(fd);
    return 0;
}

static void
scan_entry(qs_verify_t *v, const char *path, const struct stat *st)
{
    struct scan *s = v->scan;
    int *reported;

    if (!S_ISREG(st->st_mode))
        return;
    v->sum.files_scanned++;
    if (scan_file(s, path) != 0) {
        finding(v, "identifier: cannot read '%s' to search it for names: %s", path,
                strerror(errno));
        return;
    }
    /* One finding per name per file, whichever spelling matched. */
    reported = qs_calloc(v->n_names, sizeof *reported);
    for (size_t i = 0; i < s->n_pats; i++) {
        size_t n = s->pats[i].name_index;
        if (s->found[i] && !reported[n]) {
            reported[n] = 1;
            finding(v, "identifier: raw name '%s' found in the bytes of '%s'", v->names[n], path);
        }
    }
    free(reported);
}

static void
check_names(qs_verify_t *v)
{
    struct scan s = { 0 };

    v->sum.names = (int64_t)v->n_names;
    if (v->n_names == 0)
        return;
    s.pats = qs_calloc(v->n_names * 2, sizeof *s.pats);
    for (size_t i = 0; i < v->n_names; i++) {
        size_t len = strlen(v->names[i]);
        struct pattern *a = &s.pats[s.n_pats++], *w = &s.pats[s.n_pats++];

        a->bytes = qs_malloc(len);
        memcpy(a->bytes, v->names[i], len);
        lower_ascii(a->bytes, len);
        a->len = len;
        a->name_index = i;
        w->bytes = qs_calloc(len * 2, 1);    /* UTF-16LE of the ASCII spelling */
        for (size_t j = 0; j < len; j++)
            w->bytes[2 * j] = a->bytes[j];
        w->len = len * 2;
        w->name_index = i;
        if (w->len > s.max_len)
            s.max_len = w->len;
    }
    s.buf = qs_malloc(SCAN_CHUNK + s.max_len);
    s.found = qs_calloc(s.n_pats, sizeof *s.found);
    v->scan = &s;
    walk(v, v->paths.home, 0, scan_entry);
    v->scan = NULL;
    for (size_t i = 0; i < s.n_pats; i++) {
        sodium_memzero(s.pats[i].bytes, s.pats[i].len);
        free(s.pats[i].bytes);
    }
    sodium_memzero(s.buf, SCAN_CHUNK + s.max_len);
    free(s.buf);
    free(s.found);
    free(s.pats);
}

/* ---- all of it --------------------------------------------------------------- */

int
qs_verify_run(qs_verify_t *v)
{
    qs_sitedb_t *site;
    char err[512];
    int configured = 0;
    qs_config_t cfg;

    if (qs_config_load(&cfg, v->paths.conf, err, sizeof err) == 0)
        v->pg_site = qs_config_database_is_pg(cfg.store_database);
    check_permissions(v);
    site = qs_sitedb_open(v->paths.site_db, 0, err, sizeof err);
    if (site == NULL) {
        finding(v, "site: %s", err);
    } else {
        if (qs_sitedb_policy_get(site, &v->policy, &configured, &v->sum.policy_version) != 0)
            finding(v, "policy: cannot read the current policy from site.db");
        v->sum.policy_configured = configured;
        check_audit(v, site);
        check_site_identities(v, site);
        qs_sitedb_destroy(&site);
    }
    check_store(v);
    check_keys(v);
    check_names(v);
    return v->n_findings == 0 ? 0 : 1;
}
