/* site.c - site home path resolution and the table of the home's files.
 *
 * The table is the one list of what a home holds: init creates from it,
 * verify checks against it, the docs are tested against it. An entry with a
 * qs_site_paths_t field names it by index into paths_fields below, so the
 * table and qs_site_paths() cannot disagree on a path.
 */
#include "qs_site.h"
#include "qs_log.h"

#include <fnmatch.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define JOIN(field, fmt, ...)                                                   \
    do {                                                                        \
        int n_ = snprintf(paths->field, sizeof paths->field, fmt, __VA_ARGS__); \
        if (n_ < 0 || (size_t)n_ >= sizeof paths->field)                        \
            goto too_long;                                                      \
    } while (0)

int
qs_site_paths(qs_site_paths_t *paths, const char *home, char *errmsg, size_t errmsg_len)
{
    if (home == NULL || *home == '\0')
        home = getenv("QS_HOME");
    if (home == NULL || *home == '\0') {
        snprintf(errmsg, errmsg_len, "no site home: pass --home DIR or set QS_HOME");
        return -1;
    }
    memset(paths, 0, sizeof *paths);
    JOIN(home, "%s", home);
    JOIN(conf, "%s/quietstate.conf", home);
    JOIN(site_db, "%s/site.db", home);
    JOIN(store_db, "%s/store.db", home);
    JOIN(broker_stats, "%s/broker.stats", home);
    JOIN(keys_dir, "%s/keys", home);
    JOIN(broker_key, "%s/keys/broker.key", home);
    JOIN(broker_pub, "%s/keys/broker.pub", home);
    JOIN(store_key, "%s/keys/store.key", home);
    JOIN(store_pub, "%s/keys/store.pub", home);
    JOIN(site_key, "%s/keys/site.key", home);
    JOIN(audit_key, "%s/keys/audit.key", home);
    JOIN(epochs_dir, "%s/keys/epochs", home);
    JOIN(audit_head, "%s/audit.head", home);
    return 0;
too_long:
    snprintf(errmsg, errmsg_len, "site home path too long: '%s'", home);
    return -1;
}

int
qs_site_check(const qs_site_paths_t *paths, char *errmsg, size_t errmsg_len)
{
    struct stat st;

    if (stat(paths->home, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errmsg, errmsg_len,
                 "site home '%s' does not exist: create it with 'qsctl init --home %s'",
                 paths->home, paths->home);
        return -1;
    }
    if (stat(paths->conf, &st) != 0 || stat(paths->site_db, &st) != 0) {
        snprintf(errmsg, errmsg_len,
                 "'%s' is not a quietstate site (no quietstate.conf or site.db): "
                 "run 'qsctl init --home %s'", paths->home, paths->home);
        return -1;
    }
    return 0;
}

/* The qs_site_paths_t fields an entry can name (qs_site_file_t.paths_field). */
enum {
    F_HOME, F_CONF, F_SITE_DB, F_STORE_DB, F_AUDIT_HEAD, F_BROKER_STATS, F_KEYS_DIR,
    F_BROKER_KEY, F_BROKER_PUB, F_STORE_KEY, F_STORE_PUB, F_SITE_KEY, F_AUDIT_KEY,
    F_EPOCHS_DIR, F_COUNT
};

static const size_t paths_fields[F_COUNT] = {
    [F_HOME] = offsetof(qs_site_paths_t, home),
    [F_CONF] = offsetof(qs_site_paths_t, conf),
    [F_SITE_DB] = offsetof(qs_site_paths_t, site_db),
    [F_STORE_DB] = offsetof(qs_site_paths_t, store_db),
    [F_AUDIT_HEAD] = offsetof(qs_site_paths_t, audit_head),
    [F_BROKER_STATS] = offsetof(qs_site_paths_t, broker_stats),
    [F_KEYS_DIR] = offsetof(qs_site_paths_t, keys_dir),
    [F_BROKER_KEY] = offsetof(qs_site_paths_t, broker_key),
    [F_BROKER_PUB] = offsetof(qs_site_paths_t, broker_pub),
    [F_STORE_KEY] = offsetof(qs_site_paths_t, store_key),
    [F_STORE_PUB] = offsetof(qs_site_paths_t, store_pub),
    [F_SITE_KEY] = offsetof(qs_site_paths_t, site_key),
    [F_AUDIT_KEY] = offsetof(qs_site_paths_t, audit_key),
    [F_EPOCHS_DIR] = offsetof(qs_site_paths_t, epochs_dir),
};

#define INIT "qsctl init"
#define D QS_SITE_DIR
#define F QS_SITE_FILE
#define P QS_SITE_PATTERN

static const qs_site_file_t files[] = {
    { ".", D, 0700, INIT, 0, 1, F_HOME, "site home" },
    { "keys", D, 0700, INIT, 0, 1, F_KEYS_DIR, "the site's keys" },
    { "keys/epochs", D, 0700, INIT, 0, 1, F_EPOCHS_DIR, "per-day data keys" },
    { "keys/broker.key", F, 0600, INIT, 1, 1, F_BROKER_KEY, "broker secret key" },
    { "keys/broker.pub", F, 0600, INIT, 0, 1, F_BROKER_PUB, "broker public key" },
    { "keys/store.key", F, 0600, INIT, 1, 1, F_STORE_KEY, "store secret key" },
    { "keys/store.pub", F, 0600, INIT, 0, 1, F_STORE_PUB, "store public key" },
    { "keys/site.key", F, 0600, INIT, 1, 1, F_SITE_KEY,
      "pseudonym key (machine, domain, user and client names)" },
    { "keys/audit.key", F, 0600, INIT, 1, 1, F_AUDIT_KEY, "audit hash-chain key" },
    { "keys/epochs/*.key", P, 0600, "qs-store", 1, 0, -1,
      "one data key per day and topic type; shredded when the day expires" },
    { "keys/epochs/chain-*.state", P, 0600, "qsctl init --database", 1, 0, -1,
      "PostgreSQL site: one epoch key chain per topic type (every host holds a copy), "
      "moved past each expired day" },
    { "keys/epochs/chain-*.next", P, 0600, "qs-store", 1, 0, -1,
      "a key chain being moved (left over by a crash; finished on the next open)" },
    { "keys/epochs/chains.lock", F, 0600, "qs-store", 0, 0, -1,
      "serializes the moves of the key chains between a host's processes (empty)" },
    { "quietstate.conf", F, 0600, INIT, 0, 1, F_CONF, "endpoints and options" },
    { "site.db", F, 0600, INIT, 0, 1, F_SITE_DB,
      "enrolled and revoked clients, policy versions, audit log" },
    { "site.db-wal", F, 0600, "SQLite", 0, 0, -1, "site.db's write-ahead log" },
    { "site.db-shm", F, 0600, "SQLite", 0, 0, -1, "site.db's WAL index" },
    { "site.db-journal", F, 0600, "SQLite", 0, 0, -1, "site.db's rollback journal" },
    { "store.db", F, 0600, INIT, 0, 1, F_STORE_DB,
      "state data: latest, history partitions, counters" },
    { "store.db-wal", F, 0600, "SQLite", 0, 0, -1, "store.db's write-ahead log" },
    { "store.db-shm", F, 0600, "SQLite", 0, 0, -1, "store.db's WAL index" },
    { "store.db-journal", F, 0600, "SQLite", 0, 0, -1, "store.db's rollback journal" },
    { "audit.head", F, 0600, INIT, 0, 0, F_AUDIT_HEAD,
      "last audit entry's seq and hash (rewritten after every audited change)" },
    { "store.lock", F, 0600, "qs-store", 0, 0, -1,
      "qs-store's lock: one qs-store per store.db (empty, never removed)" },
    { "broker.stats", F, 0600, "qs-broker", 0, 0, F_BROKER_STATS,
      "qs-broker's counters (qsctl stats reads them)" },
    { "sim", D, 0700, "qs-producer simulate", 0, 0, -1, "the fleet simulator's run" },
    { "sim/state.db", F, 0600, "qs-producer simulate", 1, 0, -1,
      "simulated clients' secret keys and progress" },
    { "*.tmp.*", P, 0600, "any writer", 0, 0, -1,
      "a file being replaced atomically (left over by a crash)" },
};

#undef D
#undef F
#undef P

const qs_site_file_t *
qs_site_files(size_t *n)
{
    *n = sizeof files / sizeof files[0];
    return files;
}

const qs_site_file_t *
qs_site_file_find(const char *rel)
{
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (strcmp(files[i].rel, rel) == 0)
            return &files[i];
    return NULL;
}

const char *
qs_site_file_path(const qs_site_paths_t *paths, const qs_site_file_t *f)
{
    if (f->paths_field < 0)
        return NULL;
    QS_ASSERT(f->paths_field < F_COUNT);
    return (const char *)paths + paths_fields[f->paths_field];
}

int
qs_site_is_init_entry(const char *name)
{
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *rel = files[i].rel, *by = files[i].creator;
        if (strcmp(rel, ".") == 0 || strchr(rel, '/') != NULL ||
            (strcmp(by, INIT) != 0 && strcmp(by, "SQLite") != 0 && strcmp(by, "any writer") != 0))
            continue;
        if (files[i].kind == QS_SITE_PATTERN ? fnmatch(rel, name, 0) == 0
                                             : strcmp(rel, name) == 0)
            return 1;
    }
    return 0;
}
