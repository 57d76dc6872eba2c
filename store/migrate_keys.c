/* migrate_keys.c - qsctl migrate's epoch keys: from one file per partition to chains.
 *
 * An SQLite site seals each partition's details under a random key file
 * (<epoch>-<topic_type>.key); a PostgreSQL site derives them from one hash
 * chain per topic type (epochchain.h), because workers on several hosts
 * must agree on them without talking. qs_store_migrate() makes the chains
 * in a staging directory and re-seals every detail under them while it
 * copies; these functions then put the chains in force (install), or throw
 * them away (discard), and shred the old key files once the site has moved:
 * kept beside the chains, no retention pass would ever shred them, and the
 * old store.db's details would stay readable for good.
 */
#include "qs_store_migrate.h"
#include "epochchain.h"
#include "qs_fsutil.h"
#include "qs_limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
is_chain(const char *name)
{
    size_t n = strlen(name), p = strlen(QS_CHAIN_PREFIX), s = strlen(QS_CHAIN_SUFFIX);

    return n > p + s && strncmp(name, QS_CHAIN_PREFIX, p) == 0 &&
           strcmp(name + n - s, QS_CHAIN_SUFFIX) == 0;
}

/* "<epoch>-<topic_type>.key", the spelling epochkeys.c writes. */
static int
is_key_file(const char *name)
{
    long long e;
    unsigned t;
    int end = 0;

    return sscanf(name, "%lld-%u.key%n", &e, &t, &end) == 2 && end > 0 &&
           name[end] == '\0';
}

static int
fsync_dir(const char *dir, char *errmsg, size_t errmsg_len)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) != 0) {
        snprintf(errmsg, errmsg_len, "cannot sync '%s': %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Shred every file of dir that keep() accepts; the count into *n. */
static int
shred_where(const char *dir, int (*keep)(const char *), int64_t *n, char *errmsg,
            size_t errmsg_len)
{
    char path[QS_MAX_PATH_BYTES];
    struct dirent *de;
    DIR *d = opendir(dir);
    int rc = 0;

    if (n != NULL)
        *n = 0;
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(errmsg, errmsg_len, "cannot read '%s': %s", dir, strerror(errno));
        return -1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!keep(de->d_name))
            continue;
        if (qs_path_join(path, sizeof path, dir, de->d_name) != 0 ||
            qs_fs_shred(path, errmsg, errmsg_len) != 0)
            rc = -1;
        else if (n != NULL)
            (*n)++;
    }
    closedir(d);
    return rc;
}

/* The chains' lock file (empty; epochchain.c makes it beside them). */
static int
remove_lock(const char *dir, char *errmsg, size_t errmsg_len)
{
    char path[QS_MAX_PATH_BYTES];

    if (qs_path_join(path, sizeof path, dir, "chains.lock") != 0 ||
        (unlink(path) != 0 && errno != ENOENT)) {
        snprintf(errmsg, errmsg_len, "cannot remove the lock file in '%s'", dir);
        return -1;
    }
    return 0;
}

int
qs_store_migrate_keys_install(const char *staging, const char *epochs_dir, char *errmsg,
                              size_t errmsg_len)
{
    char from[QS_MAX_PATH_BYTES], to[QS_MAX_PATH_BYTES];
    struct dirent *de;
    DIR *d = opendir(staging);
    int rc = 0;

    if (d == NULL) {
        snprintf(errmsg, errmsg_len, "cannot read '%s': %s", staging, strerror(errno));
        return -1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!is_chain(de->d_name))
            continue;
        if (qs_path_join(from, sizeof from, staging, de->d_name) != 0 ||
            qs_path_join(to, sizeof to, epochs_dir, de->d_name) != 0 ||
            rename(from, to) != 0) {
            snprintf(errmsg, errmsg_len, "cannot move '%s' into '%s': %s", de->d_name,
                     epochs_dir, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    if (rc != 0 || fsync_dir(epochs_dir, errmsg, errmsg_len) != 0)
        return -1;
    if (remove_lock(staging, errmsg, errmsg_len) != 0)
        return -1;
    if (rmdir(staging) != 0) {
        snprintf(errmsg, errmsg_len, "cannot remove '%s': %s", staging, strerror(errno));
        return -1;
    }
    return 0;
}

int
qs_store_migrate_keys_discard(const char *dir, int remove_dir, char *errmsg,
                              size_t errmsg_len)
{
    if (shred_where(dir, is_chain, NULL, errmsg, errmsg_len) != 0)
        return -1;
    if (remove_dir && (remove_lock(dir, errmsg, errmsg_len) != 0 ||
                       (rmdir(dir) != 0 && errno != ENOENT))) {
        snprintf(errmsg, errmsg_len, "cannot remove '%s': %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int
qs_store_migrate_keys_shred_files(const char *epochs_dir, int64_t *n, char *errmsg,
                                  size_t errmsg_len)
{
    return shred_where(epochs_dir, is_key_file, n, errmsg, errmsg_len);
}

int
qs_store_migrate_keys_chained(const char *epochs_dir)
{
    struct dirent *de;
    DIR *d = opendir(epochs_dir);
    int found = 0;

    if (d == NULL)
        return 0;
    while (!found && (de = readdir(d)) != NULL)
        found = is_chain(de->d_name);
    closedir(d);
    return found;
}
