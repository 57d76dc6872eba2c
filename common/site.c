/* site.c - site home path resolution. */
#include "qs_site.h"

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
