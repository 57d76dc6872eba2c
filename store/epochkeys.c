/* epochkeys.c - one key file per (epoch, topic_type), or per-topic hash chains; cached in locked memory.
 *
 * Two schemes behind one API (qs_epochkeys.h): an SQLite site keeps one
 * random key file per partition; a directory holding key chains (a
 * PostgreSQL site, epochchain.h) derives every key from its topic type's
 * chain. The cache is a small array (a store touches a handful of
 * partitions a day); a key is looked up by linear scan, which beats
 * hashing at this size. With chains, a cached key is only served while its
 * chain has not moved past its epoch (checked against the file).
 */
#include "qs_epochkeys.h"
#include "epochchain.h"
#include "qs_fsutil.h"
#include "qs_hex.h"
#include "qs_keys.h"
#include "qs_log.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_SLOTS 64

struct cached {
    int64_t epoch;
    uint32_t topic_type;
    int used;
};

struct qs_epochkeys {
    char dir[4096];
    struct cached meta[CACHE_SLOTS];
    uint8_t *keys;          /* CACHE_SLOTS * 32, sodium_malloc'd */
    size_t next_victim;
    qs_epochchains_t *chains;   /* NULL: one key file per partition */
    int expire_failing;         /* log a failing move once, not per message */
};

qs_epochkeys_t *
qs_epochkeys_open(const char *dir, int create, char *errmsg, size_t errmsg_len)
{
    qs_epochkeys_t *ks;
    struct stat st;
    int failed = 0;

    if (create && qs_fs_mkdir_private(dir, errmsg, errmsg_len) != 0)
        return NULL;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errmsg, errmsg_len, "epoch key directory '%s' is missing", dir);
        return NULL;
    }
    if (qs_fs_check_private(dir, errmsg, errmsg_len) != 0)
        return NULL;
    ks = qs_calloc(1, sizeof *ks);
    snprintf(ks->dir, sizeof ks->dir, "%s", dir);
    ks->keys = sodium_malloc(CACHE_SLOTS * 32);
    if (ks->keys == NULL) {
        free(ks);
        snprintf(errmsg, errmsg_len, "out of locked memory for epoch keys");
        return NULL;
    }
    ks->chains = qs_epochchains_open(dir, &failed, errmsg, errmsg_len);
    if (failed) {
        qs_epochkeys_destroy(&ks);
        return NULL;
    }
    return ks;
}

void
qs_epochkeys_destroy(qs_epochkeys_t **ks_p)
{
    if (ks_p == NULL || *ks_p == NULL)
        return;
    sodium_free((*ks_p)->keys);
    qs_epochchains_destroy(&(*ks_p)->chains);
    free(*ks_p);
    *ks_p = NULL;
}

static int
key_path(char *out, size_t out_len, const qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type)
{
    int n = snprintf(out, out_len, "%s/%lld-%u.key", ks->dir, (long long)epoch, topic_type);
    return (n < 0 || (size_t)n >= out_len) ? -1 : 0;
}

/* The cached key of a partition, or NULL. */
static const uint8_t *
cache_find(const qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (ks->meta[i].used && ks->meta[i].epoch == epoch &&
            ks->meta[i].topic_type == topic_type)
            return ks->keys + i * 32;
    return NULL;
}

/* Load (or with create, make) a key file into the cache. 0, or -1 with err. */
static int
cache_load(const uint8_t **key, qs_epochkeys_t *ks, const char *path, int64_t epoch,
           uint32_t topic_type, int create, char *err, size_t err_len)
{
    uint8_t *loaded = NULL;
    size_t slot;

    if (qs_secret_load(&loaded, path, create, err, err_len) != 0)
        return -1;
    slot = ks->next_victim;
    ks->next_victim = (ks->next_victim + 1) % CACHE_SLOTS;
    memcpy(ks->keys + slot * 32, loaded, 32);
    sodium_free(loaded);
    ks->meta[slot].epoch = epoch;
    ks->meta[slot].topic_type = topic_type;
    ks->meta[slot].used = 1;
    *key = ks->keys + slot * 32;
    return 0;
}

/* Forget (wipe) the cached keys of topic_type older than first. */
static void
cache_drop_before(qs_epochkeys_t *ks, uint32_t topic_type, int64_t first)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (ks->meta[i].used && ks->meta[i].topic_type == topic_type &&
            ks->meta[i].epoch < first) {
            sodium_memzero(ks->keys + i * 32, 32);
            ks->meta[i].used = 0;
        }
}

/* With chains: 0 and *key (cached), 1 when the chain has moved past the
 * epoch or the type has no chain, -1 with why. */
static int
chain_get(const uint8_t **key, qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type,
          char *why, size_t why_len)
{
    int64_t first = 0;
    size_t slot;
    int rc = qs_epochchains_first(ks->chains, &first, topic_type, why, why_len);

    if (rc != 0)
        return rc;
    cache_drop_before(ks, topic_type, first);
    if (epoch < first)
        return 1;
    if ((*key = cache_find(ks, epoch, topic_type)) != NULL)
        return 0;
    slot = ks->next_victim;
    ks->next_victim = (ks->next_victim + 1) % CACHE_SLOTS;
    ks->meta[slot].used = 0;
    rc = qs_epochchains_key(ks->chains, ks->keys + slot * 32, epoch, topic_type, why, why_len);
    if (rc != 0)
        return rc;
    ks->meta[slot].epoch = epoch;
    ks->meta[slot].topic_type = topic_type;
    ks->meta[slot].used = 1;
    *key = ks->keys + slot * 32;
    return 0;
}

int
qs_epochkeys_chained(const qs_epochkeys_t *ks)
{
    return ks->chains != NULL;
}

int
qs_epochkeys_expire(qs_epochkeys_t *ks, uint32_t topic_type, int64_t first_kept)
{
    char err[512];

    if (ks->chains == NULL)
        return 0;
    cache_drop_before(ks, topic_type, first_kept);
    if (qs_epochchains_expire(ks->chains, topic_type, first_kept, err, sizeof err) != 0) {
        if (!ks->expire_failing)
            log_error("cannot move the key chain of topic %u past its expired days: %s "
                      "(retrying; logged again once it works)", topic_type, err);
        ks->expire_failing = 1;
        return -1;
    }
    if (ks->expire_failing)
        log_info("moved the key chain of topic %u past its expired days again", topic_type);
    ks->expire_failing = 0;
    return 0;
}

int
qs_epochkeys_chains_create(const char *dir, char *errmsg, size_t errmsg_len)
{
    return qs_epochchains_create(dir, errmsg, errmsg_len);
}

const uint8_t *
qs_epochkeys_get(qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type, int create)
{
    char path[4200], err[512];
    const uint8_t *key = NULL;

    if (ks->chains != NULL) {
        if (chain_get(&key, ks, epoch, topic_type, err, sizeof err) < 0)
            log_error("cannot derive epoch key: %s", err);
        return key;
    }
    key = cache_find(ks, epoch, topic_type);
    if (key != NULL)
        return key;
    if (key_path(path, sizeof path, ks, epoch, topic_type) != 0)
        return NULL;
    if (cache_load(&key, ks, path, epoch, topic_type, create, err, sizeof err) != 0) {
        if (create)
            log_error("cannot load or create epoch key: %s", err);
        return NULL;
    }
    return key;
}

int
qs_epochkeys_find(const uint8_t **key, qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type,
                  char *why, size_t why_len)
{
    char path[4200];
    struct stat st;

    if (ks->chains != NULL)
        return chain_get(key, ks, epoch, topic_type, why, why_len);
    *key = cache_find(ks, epoch, topic_type);
    if (*key != NULL)
        return 0;
    if (key_path(path, sizeof path, ks, epoch, topic_type) != 0) {
        snprintf(why, why_len, "epoch key path too long");
        return -1;
    }
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 1;
    return cache_load(key, ks, path, epoch, topic_type, 0, why, why_len);
}

int
qs_epochkeys_shred(qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type,
                   char *errmsg, size_t errmsg_len)
{
    char path[4200];

    if (ks->chains != NULL) {
        /* A chain forgets every epoch up to this one (expiry is in epoch
         * order for a topic type: its older partitions are expired too). */
        cache_drop_before(ks, topic_type, epoch + 1);
        return qs_epochchains_expire(ks->chains, topic_type, epoch + 1, errmsg, errmsg_len);
    }
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (ks->meta[i].used && ks->meta[i].epoch == epoch &&
            ks->meta[i].topic_type == topic_type) {
            sodium_memzero(ks->keys + i * 32, 32);
            ks->meta[i].used = 0;
        }
    if (key_path(path, sizeof path, ks, epoch, topic_type) != 0) {
        snprintf(errmsg, errmsg_len, "epoch key path too long");
        return -1;
    }
    return qs_fs_shred(path, errmsg, errmsg_len);
}

int
qs_epochkeys_each(qs_epochkeys_t *ks, qs_epochkey_cb cb, void *ctx)
{
    DIR *d;
    struct dirent *e;

    if (ks->chains != NULL) {
        qs_epochchains_each(ks->chains, cb, ctx);
        return 0;
    }
    if ((d = opendir(ks->dir)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        long long epoch;
        unsigned topic;
        char tail[8];
        if (sscanf(e->d_name, "%lld-%u.%7s", &epoch, &topic, tail) == 3 &&
            strcmp(tail, "key") == 0) {
            if (cb(ctx, (int64_t)epoch, (uint32_t)topic) != 0)
                break;
        }
    }
    closedir(d);
    return 0;
}

int
qs_details_seal(uint8_t *out, size_t *out_len, size_t out_cap,
                const uint8_t *details, size_t len,
                const uint8_t *ad, size_t ad_len, const uint8_t key[32])
{
    unsigned long long clen = 0;

    if (out_cap < len + QS_DETAILS_OVERHEAD)
        return -1;
    randombytes_buf(out, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(
            out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen, details, len, ad, ad_len,
            NULL, out, key) != 0)
        return -1;
    *out_len = (size_t)clen + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    return 0;
}

static void
put_le(uint8_t *out, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

void
qs_details_ad(uint8_t ad[QS_DETAILS_AD_BYTES], int64_t client_id, uint64_t serial,
              int64_t epoch, uint32_t topic_type)
{
    put_le(ad, (uint64_t)client_id, 8);
    put_le(ad + 8, serial, 8);
    put_le(ad + 16, (uint64_t)epoch, 8);
    put_le(ad + 24, topic_type, 4);
}

int
qs_details_open(uint8_t *out, size_t *out_len, size_t out_cap,
                const uint8_t *sealed, size_t sealed_len,
                const uint8_t *ad, size_t ad_len, const uint8_t key[32])
{
    unsigned long long mlen = 0;

    if (sealed_len < QS_DETAILS_OVERHEAD || out_cap < sealed_len - QS_DETAILS_OVERHEAD)
        return -1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, &mlen, NULL, sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            sealed_len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, ad_len, sealed,
            key) != 0)
        return -1;
    *out_len = (size_t)mlen;
    return 0;
}
