/* test_epochchain.c - epoch keys from per-topic hash chains (a PostgreSQL site's scheme).
 *
 * Two key holders (two copies of keys/epochs, as on two hosts) derive the
 * same key for a partition; after each shreds an epoch neither can derive
 * it, nor any older one; the chain state file never holds an expired
 * epoch's key material; an interrupted move is finished on the next open.
 */
#define _XOPEN_SOURCE 700   /* nftw */
#include "epochchain.h"
#include "qs_epochkeys.h"
#include "qs_log.h"
#include "qs_test.h"

#include <dirent.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
copy_file(const char *from, const char *to)
{
    uint8_t buf[4096];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;

    if (in == NULL || out == NULL) {
        perror("copy");
        exit(2);
    }
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    chmod(to, 0600);
}

/* host A's keys/epochs made by init, host B's a copy of it. */
static void
two_hosts(char *a, char *b, size_t len, const char *base)
{
    char err[256], from[700], to[700];
    DIR *d;
    struct dirent *e;

    snprintf(a, len, "%s/a", base);
    snprintf(b, len, "%s/b", base);
    QS_ASSERT(mkdir(a, 0700) == 0 && mkdir(b, 0700) == 0);
    QS_ASSERT(qs_epochkeys_chains_create(a, err, sizeof err) == 0);
    d = opendir(a);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "chain-", 6) == 0) {
            snprintf(from, sizeof from, "%s/%s", a, e->d_name);
            snprintf(to, sizeof to, "%s/%s", b, e->d_name);
            copy_file(from, to);
        }
    closedir(d);
}

static void
test_two_holders_derive_the_same_key(void)
{
    char base[512], a[600], b[600], err[256];
    qs_epochkeys_t *ka, *kb;
    uint8_t k1[32];
    const uint8_t *k;

    qs_test_tmpdir(base, sizeof base, "chain");
    two_hosts(a, b, sizeof a, base);
    ka = qs_epochkeys_open(a, 0, err, sizeof err);
    kb = qs_epochkeys_open(b, 0, err, sizeof err);
    QS_CHECK(ka != NULL && kb != NULL);
    QS_CHECK(qs_epochkeys_chained(ka) && qs_epochkeys_chained(kb));
    k = qs_epochkeys_get(ka, 20400, 500, 1);
    QS_CHECK(k != NULL);
    memcpy(k1, k, 32);
    k = qs_epochkeys_get(kb, 20400, 500, 1);
    QS_CHECK(k != NULL && memcmp(k, k1, 32) == 0);
    /* Another epoch or another topic type: another key. */
    k = qs_epochkeys_get(kb, 20401, 500, 1);
    QS_CHECK(k != NULL && memcmp(k, k1, 32) != 0);
    k = qs_epochkeys_get(kb, 20400, 501, 1);
    QS_CHECK(k != NULL && memcmp(k, k1, 32) != 0);
    /* B moves first (its worker saw the cutoff pass): A still derives. */
    QS_CHECK_EQ_INT(qs_epochkeys_expire(kb, 500, 20300), 0);
    k = qs_epochkeys_get(kb, 20400, 500, 1);
    QS_CHECK(k != NULL && memcmp(k, k1, 32) == 0);
    qs_epochkeys_destroy(&ka);
    qs_epochkeys_destroy(&kb);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
dir_contains(const char *dir, const uint8_t *needle, size_t len)
{
    char path[800];
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        found |= qs_test_file_contains(path, needle, len);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

static void
test_shredded_epoch_cannot_be_derived_by_anyone(void)
{
    char base[512], a[600], b[600], err[256], path[700];
    qs_epochkeys_t *ka, *kb;
    uint8_t old_key[32], older_key[32], old_state[48];
    const uint8_t *k;
    FILE *fp;

    qs_test_tmpdir(base, sizeof base, "chain");
    two_hosts(a, b, sizeof a, base);
    ka = qs_epochkeys_open(a, 0, err, sizeof err);
    kb = qs_epochkeys_open(b, 0, err, sizeof err);
    QS_CHECK(ka != NULL && kb != NULL);
    QS_CHECK_EQ_INT(qs_epochkeys_expire(ka, 300, 20399), 0);
    QS_CHECK_EQ_INT(qs_epochkeys_expire(kb, 300, 20399), 0);
    snprintf(path, sizeof path, "%s/chain-300.state", a);
    fp = fopen(path, "rb");
    QS_CHECK(fp != NULL && fread(old_state, 1, sizeof old_state, fp) == sizeof old_state);
    if (fp != NULL)
        fclose(fp);
    memcpy(older_key, qs_epochkeys_get(ka, 20399, 300, 1), 32);
    memcpy(old_key, qs_epochkeys_get(ka, 20400, 300, 1), 32);

    /* A's retention drops the partition of 20400; B's worker passes the
     * cutoff on its own. */
    QS_CHECK_EQ_INT(qs_epochkeys_shred(ka, 20400, 300, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_epochkeys_expire(kb, 300, 20401), 0);
    QS_CHECK(qs_epochkeys_get(ka, 20400, 300, 1) == NULL);
    QS_CHECK(qs_epochkeys_get(kb, 20400, 300, 1) == NULL);
    QS_CHECK(qs_epochkeys_get(ka, 20399, 300, 1) == NULL);
    QS_CHECK_EQ_INT(qs_epochkeys_find(&k, ka, 20400, 300, err, sizeof err), 1);
    /* The next epoch is still the same on both. */
    k = qs_epochkeys_get(ka, 20401, 300, 1);
    QS_CHECK(k != NULL);
    QS_CHECK(k != NULL && memcmp(k, qs_epochkeys_get(kb, 20401, 300, 1), 32) == 0);
    /* Neither directory holds the old state or an expired key. */
    QS_CHECK(!dir_contains(a, old_state + 16, 32) && !dir_contains(b, old_state + 16, 32));
    QS_CHECK(!dir_contains(a, old_key, 32) && !dir_contains(b, old_key, 32));
    QS_CHECK(!dir_contains(a, older_key, 32) && !dir_contains(b, older_key, 32));
    /* A fresh process (another holder on host A) sees the moved chain. */
    qs_epochkeys_destroy(&ka);
    ka = qs_epochkeys_open(a, 0, err, sizeof err);
    QS_CHECK(ka != NULL && qs_epochkeys_get(ka, 20400, 300, 1) == NULL);
    qs_epochkeys_destroy(&ka);
    qs_epochkeys_destroy(&kb);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Two processes of one host: one moves the chain, the other's cache must
 * not keep serving the expired key. */
static void
test_other_process_move_is_seen(void)
{
    char base[512], a[600], b[600], err[256];
    qs_epochkeys_t *k1, *k2;

    qs_test_tmpdir(base, sizeof base, "chain");
    two_hosts(a, b, sizeof a, base);
    k1 = qs_epochkeys_open(a, 0, err, sizeof err);
    k2 = qs_epochkeys_open(a, 0, err, sizeof err);
    QS_CHECK(qs_epochkeys_get(k1, 20400, 402, 1) != NULL);
    QS_CHECK(qs_epochkeys_get(k2, 20400, 402, 1) != NULL);
    QS_CHECK_EQ_INT(qs_epochkeys_shred(k2, 20400, 402, err, sizeof err), 0);
    QS_CHECK(qs_epochkeys_get(k1, 20400, 402, 1) == NULL);
    qs_epochkeys_destroy(&k1);
    qs_epochkeys_destroy(&k2);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A crash after the new state was written and before the old one was
 * shredded leaves both files: the next open keeps the later one and
 * shreds the other. */
static void
test_interrupted_move_is_finished(void)
{
    char base[512], a[600], b[600], err[256], cur[700], next[700];
    qs_epochkeys_t *ka;
    uint8_t state[48];
    FILE *fp;

    qs_test_tmpdir(base, sizeof base, "chain");
    two_hosts(a, b, sizeof a, base);
    snprintf(cur, sizeof cur, "%s/chain-500.state", a);
    snprintf(next, sizeof next, "%s/chain-500.next", a);
    fp = fopen(cur, "rb");
    QS_CHECK(fp != NULL && fread(state, 1, sizeof state, fp) == sizeof state);
    if (fp != NULL)
        fclose(fp);
    /* b's copy, moved, stands for the .next a crash left behind. */
    ka = qs_epochkeys_open(b, 0, err, sizeof err);
    QS_CHECK_EQ_INT(qs_epochkeys_expire(ka, 500, 20000), 0);
    qs_epochkeys_destroy(&ka);
    snprintf(cur, sizeof cur, "%s/chain-500.state", b);
    copy_file(cur, next);
    snprintf(cur, sizeof cur, "%s/chain-500.state", a);
    ka = qs_epochkeys_open(a, 0, err, sizeof err);
    QS_CHECK(ka != NULL);
    QS_CHECK(access(next, F_OK) != 0);
    QS_CHECK(!qs_test_file_contains(cur, state + 16, 32));
    QS_CHECK(qs_epochkeys_get(ka, 19999, 500, 1) == NULL);
    QS_CHECK(qs_epochkeys_get(ka, 20000, 500, 1) != NULL);
    qs_epochkeys_destroy(&ka);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Without chains the per-partition key files work as before, and expire
 * is a no-op there. */
static void
test_sqlite_site_keeps_key_files(void)
{
    char base[512], err[256];
    qs_epochkeys_t *ks;

    qs_test_tmpdir(base, sizeof base, "chain");
    ks = qs_epochkeys_open(base, 1, err, sizeof err);
    QS_CHECK(ks != NULL && !qs_epochkeys_chained(ks));
    QS_CHECK(qs_epochkeys_get(ks, 20400, 500, 1) != NULL);
    QS_CHECK_EQ_INT(qs_epochkeys_expire(ks, 500, 20500), 0);
    QS_CHECK(qs_epochkeys_get(ks, 20400, 500, 0) != NULL);
    qs_epochkeys_destroy(&ks);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_log_init("test_epochchain", QS_LOG_ERROR);
    QS_RUN(test_two_holders_derive_the_same_key);
    QS_RUN(test_shredded_epoch_cannot_be_derived_by_anyone);
    QS_RUN(test_other_process_move_is_seen);
    QS_RUN(test_interrupted_move_is_finished);
    QS_RUN(test_sqlite_site_keeps_key_files);
    return qs_test_summary();
}
