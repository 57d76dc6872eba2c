/* epochchain.c - per-topic-type hash chains of epoch keys: files, derivation, expiry.
 *
 * The format, derivation and expiry are told in epochchain.h. Every process
 * holding the chains (qs-store, qs-retention, qsctl, qs-web) keeps each
 * state in locked memory and stats its file before a derivation: when
 * another process of the host moved the chain, the state is read again and
 * the older one wiped, so no process keeps deriving a key its host has
 * shredded. Changes of the files are serialized by an flock on
 * chains.lock in the directory.
 */
#include "epochchain.h"
#include "qs_codec.h"
#include "qs_fsutil.h"
#include "qs_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CHAINS 64
#define NEXT_CTX "quietstate epoch chain"
#define KEY_CTX "quietstate epoch key"

struct chain {
    uint32_t topic_type;
    int64_t epoch;                 /* E */
    ino_t ino;                     /* of the file last read */
    struct timespec mtime;
};

struct qs_epochchains {
    char dir[4096];
    struct chain chains[MAX_CHAINS];
    size_t n;
    uint8_t *states;               /* MAX_CHAINS * 32, sodium_malloc'd (S_E) */
};

static void
put_le(uint8_t *out, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *in, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)in[i] << (8 * i);
    return v;
}

static void
chain_next(uint8_t s[32])
{
    uint8_t out[32];

    crypto_generichash(out, 32, (const uint8_t *)NEXT_CTX, sizeof NEXT_CTX - 1, s, 32);
    memcpy(s, out, 32);
    sodium_memzero(out, sizeof out);
}

static int
chain_path(char *out, size_t len, const char *dir, uint32_t topic_type, const char *suffix)
{
    int n = snprintf(out, len, "%s/" QS_CHAIN_PREFIX "%u%s", dir, topic_type, suffix);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* Read one state file; 0, 1 when missing, -1 with errmsg. */
static int
read_state(const char *path, int64_t *epoch, uint8_t state[32], struct stat *st,
           char *errmsg, size_t errmsg_len)
{
    uint8_t buf[QS_CHAIN_FILE_BYTES];
    ssize_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0 || fstat(fd, st) != 0) {
        snprintf(errmsg, errmsg_len, "cannot read key chain '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    got = read(fd, buf, sizeof buf);
    close(fd);
    if ((st->st_mode & 077) != 0) {
        snprintf(errmsg, errmsg_len, "key chain '%s' is readable by others (mode %03o): "
                 "chmod 600 it", path, (unsigned)(st->st_mode & 0777));
        return -1;
    }
    if (got != (ssize_t)sizeof buf || memcmp(buf, "qsch", 4) != 0 || get_le(buf + 4, 4) != 1) {
        snprintf(errmsg, errmsg_len, "key chain '%s' is malformed", path);
        sodium_memzero(buf, sizeof buf);
        return -1;
    }
    *epoch = (int64_t)get_le(buf + 8, 8);
    memcpy(state, buf + 16, 32);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

static int
write_state(const char *path, int64_t epoch, const uint8_t state[32], char *errmsg,
            size_t errmsg_len)
{
    uint8_t buf[QS_CHAIN_FILE_BYTES];
    int rc;

    memcpy(buf, "qsch", 4);
    put_le(buf + 4, 1, 4);
    put_le(buf + 8, (uint64_t)epoch, 8);
    memcpy(buf + 16, state, 32);
    rc = qs_fs_write_private(path, buf, sizeof buf, errmsg, errmsg_len);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/* Finish an interrupted move (see epochchain.h): of .state and .next keep
 * the later, shred the other. Under the directory's lock. */
static int
settle(const char *dir, uint32_t topic_type, char *errmsg, size_t errmsg_len)
{
    char cur[4200], next[4200];
    uint8_t s1[32], s2[32];
    int64_t e1 = 0, e2 = 0;
    struct stat st;
    int r1, r2, rc = 0;

    if (chain_path(cur, sizeof cur, dir, topic_type, QS_CHAIN_SUFFIX) != 0 ||
        chain_path(next, sizeof next, dir, topic_type, ".next") != 0)
        return -1;
    r2 = read_state(next, &e2, s2, &st, errmsg, errmsg_len);
    if (r2 == 1)
        return 0;
    r1 = read_state(cur, &e1, s1, &st, errmsg, errmsg_len);
    if (r2 < 0 || (r1 == 0 && e1 >= e2)) {
        rc = qs_fs_shred(next, errmsg, errmsg_len);           /* a torn or stale .next */
    } else {
        if (r1 == 0)
            rc = qs_fs_shred(cur, errmsg, errmsg_len);
        if (rc == 0 && rename(next, cur) != 0) {
            snprintf(errmsg, errmsg_len, "cannot rename '%s': %s", next, strerror(errno));
            rc = -1;
        }
    }
    sodium_memzero(s1, sizeof s1);
    sodium_memzero(s2, sizeof s2);
    return rc;
}

static int
lock_dir(const char *dir, char *errmsg, size_t errmsg_len)
{
    char path[4200];
    int fd;

    snprintf(path, sizeof path, "%s/chains.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(errmsg, errmsg_len, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            snprintf(errmsg, errmsg_len, "cannot lock '%s': %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    return fd;
}

/* (Re)load chain i from its file. 0, 1 when it is gone, -1 with errmsg. */
static int
load(qs_epochchains_t *c, size_t i, char *errmsg, size_t errmsg_len)
{
    struct chain *ch = &c->chains[i];
    char path[4200];
    struct stat st;
    int fd, rc;

    if ((fd = lock_dir(c->dir, errmsg, errmsg_len)) < 0)
        return -1;
    rc = settle(c->dir, ch->topic_type, errmsg, errmsg_len);
    if (rc == 0 && chain_path(path, sizeof path, c->dir, ch->topic_type, QS_CHAIN_SUFFIX) == 0)
        rc = read_state(path, &ch->epoch, c->states + 32 * i, &st, errmsg, errmsg_len);
    close(fd);
    if (rc == 0) {
        ch->ino = st.st_ino;
        ch->mtime = st.st_mtim;
    }
    return rc;
}

static int
parse_name(const char *name, uint32_t *topic_type)
{
    unsigned t;
    int consumed = 0;

    if (sscanf(name, QS_CHAIN_PREFIX "%u" QS_CHAIN_SUFFIX "%n", &t, &consumed) != 1 ||
        name[consumed] != '\0' || strncmp(name, QS_CHAIN_PREFIX, 6) != 0)
        return -1;
    *topic_type = t;
    return 0;
}

qs_epochchains_t *
qs_epochchains_open(const char *dir, int *failed, char *errmsg, size_t errmsg_len)
{
    qs_epochchains_t *c;
    DIR *d = opendir(dir);
    struct dirent *e;
    uint32_t t;

    *failed = 0;
    if (d == NULL)
        return NULL;
    c = qs_calloc(1, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    c->states = sodium_malloc(MAX_CHAINS * 32);
    if (c->states == NULL)
        qs_fatal("out of locked memory for key chains");
    while ((e = readdir(d)) != NULL)
        if (parse_name(e->d_name, &t) == 0 && c->n < MAX_CHAINS)
            c->chains[c->n++].topic_type = t;
    closedir(d);
    for (size_t i = 0; i < c->n && !*failed; i++)
        *failed = load(c, i, errmsg, errmsg_len) != 0;
    if (c->n == 0 || *failed)
        qs_epochchains_destroy(&c);
    return c;
}

void
qs_epochchains_destroy(qs_epochchains_t **c_p)
{
    if (c_p == NULL || *c_p == NULL)
        return;
    sodium_free((*c_p)->states);
    free(*c_p);
    *c_p = NULL;
}

int
qs_epochchains_create(const char *dir, char *errmsg, size_t errmsg_len)
{
    uint32_t types[MAX_CHAINS];
    size_t n = qs_topic_types(types, MAX_CHAINS);
    uint8_t s[32];
    char path[4200];
    struct stat st;

    QS_ASSERT(n <= MAX_CHAINS);
    for (size_t i = 0; i < n; i++) {
        if (chain_path(path, sizeof path, dir, types[i], QS_CHAIN_SUFFIX) != 0) {
            snprintf(errmsg, errmsg_len, "key chain path too long");
            return -1;
        }
        if (lstat(path, &st) == 0)
            continue;
        randombytes_buf(s, sizeof s);
        if (write_state(path, QS_CHAIN_FIRST_EPOCH, s, errmsg, errmsg_len) != 0) {
            sodium_memzero(s, sizeof s);
            return -1;
        }
    }
    sodium_memzero(s, sizeof s);
    return 0;
}

static struct chain *
find(qs_epochchains_t *c, uint32_t topic_type, size_t *idx)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->chains[i].topic_type == topic_type) {
            *idx = i;
            return &c->chains[i];
        }
    return NULL;
}

/* Read the chain again when its file changed under us. 0, 1 gone, -1. */
static int
refresh(qs_epochchains_t *c, size_t i, char *errmsg, size_t errmsg_len)
{
    struct chain *ch = &c->chains[i];
    char path[4200];
    struct stat st;

    if (chain_path(path, sizeof path, c->dir, ch->topic_type, QS_CHAIN_SUFFIX) != 0)
        return -1;
    if (stat(path, &st) == 0 && st.st_ino == ch->ino && st.st_mtim.tv_sec == ch->mtime.tv_sec &&
        st.st_mtim.tv_nsec == ch->mtime.tv_nsec)
        return 0;
    return load(c, i, errmsg, errmsg_len);
}

int
qs_epochchains_first(qs_epochchains_t *c, int64_t *first, uint32_t topic_type, char *why,
                     size_t why_len)
{
    size_t i;
    struct chain *ch = find(c, topic_type, &i);
    int rc;

    if (ch == NULL)
        return 1;
    if ((rc = refresh(c, i, why, why_len)) != 0)
        return rc;
    *first = ch->epoch;
    return 0;
}

int
qs_epochchains_key(qs_epochchains_t *c, uint8_t out[32], int64_t epoch, uint32_t topic_type,
                   char *why, size_t why_len)
{
    uint8_t s[32], msg[sizeof KEY_CTX - 1 + 12];
    size_t i;
    struct chain *ch = find(c, topic_type, &i);
    int rc;

    if (ch == NULL)
        return 1;
    if ((rc = refresh(c, i, why, why_len)) != 0)
        return rc;
    if (epoch < ch->epoch)
        return 1;
    if (epoch - ch->epoch > QS_CHAIN_MAX_WALK) {
        snprintf(why, why_len, "epoch %lld is too far ahead of key chain %u",
                 (long long)epoch, topic_type);
        return -1;
    }
    memcpy(s, c->states + 32 * i, 32);
    for (int64_t e = ch->epoch; e < epoch; e++)
        chain_next(s);
    memcpy(msg, KEY_CTX, sizeof KEY_CTX - 1);
    put_le(msg + sizeof KEY_CTX - 1, topic_type, 4);
    put_le(msg + sizeof KEY_CTX - 1 + 4, (uint64_t)epoch, 8);
    crypto_generichash(out, 32, msg, sizeof msg, s, 32);
    sodium_memzero(s, sizeof s);
    return 0;
}

/* Move chain i to first_kept: write .next, shred the old file, rename.
 * Under the directory's lock, from the file's state (another process may
 * have moved it further already). */
static int
advance(qs_epochchains_t *c, size_t i, int64_t first_kept, char *errmsg, size_t errmsg_len)
{
    struct chain *ch = &c->chains[i];
    char cur[4200], next[4200];
    uint8_t *s = c->states + 32 * i;
    int fd, rc;

    if (chain_path(cur, sizeof cur, c->dir, ch->topic_type, QS_CHAIN_SUFFIX) != 0 ||
        chain_path(next, sizeof next, c->dir, ch->topic_type, ".next") != 0)
        return -1;
    if ((fd = lock_dir(c->dir, errmsg, errmsg_len)) < 0)
        return -1;
    rc = settle(c->dir, ch->topic_type, errmsg, errmsg_len);
    if (rc == 0) {
        struct stat st;
        rc = read_state(cur, &ch->epoch, s, &st, errmsg, errmsg_len);
    }
    if (rc == 0 && ch->epoch < first_kept) {
        while (ch->epoch < first_kept) {
            chain_next(s);
            ch->epoch++;
        }
        rc = write_state(next, ch->epoch, s, errmsg, errmsg_len) != 0 ||
                     qs_fs_shred(cur, errmsg, errmsg_len) != 0 ? -1 : 0;
        if (rc == 0 && rename(next, cur) != 0) {
            snprintf(errmsg, errmsg_len, "cannot rename '%s': %s", next, strerror(errno));
            rc = -1;
        }
    }
    close(fd);
    if (rc == 0) {
        struct stat st;
        if (stat(cur, &st) == 0) {
            ch->ino = st.st_ino;
            ch->mtime = st.st_mtim;
        }
    }
    return rc < 0 ? -1 : 0;
}

int
qs_epochchains_expire(qs_epochchains_t *c, uint32_t topic_type, int64_t first_kept,
                      char *errmsg, size_t errmsg_len)
{
    size_t i;
    struct chain *ch = find(c, topic_type, &i);

    if (ch == NULL || ch->epoch >= first_kept)
        return 0;
    if (first_kept - ch->epoch > QS_CHAIN_MAX_WALK) {
        snprintf(errmsg, errmsg_len, "refusing to move key chain %u by more than %d days",
                 topic_type, QS_CHAIN_MAX_WALK);
        return -1;
    }
    return advance(c, i, first_kept, errmsg, errmsg_len);
}

void
qs_epochchains_each(qs_epochchains_t *c, qs_epochchain_cb cb, void *ctx)
{
    for (size_t i = 0; i < c->n; i++)
        if (cb(ctx, c->chains[i].epoch, c->chains[i].topic_type) != 0)
            break;
}
