/* keys.c - key pairs in guarded memory, and hex key files with tight modes. */
#include "qs_keys.h"
#include "qs_fsutil.h"
#include "qs_hex.h"
#include "qs_log.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct qs_keypair {
    uint8_t pk[QS_KEY_BYTES];
    uint8_t *sk;   /* sodium_malloc'd, locked */
};

static qs_keypair_t *
keypair_alloc(void)
{
    qs_keypair_t *kp = qs_calloc(1, sizeof *kp);
    kp->sk = sodium_malloc(QS_KEY_BYTES);
    if (kp->sk == NULL) {
        free(kp);
        return NULL;
    }
    return kp;
}

qs_keypair_t *
qs_keypair_generate(void)
{
    qs_keypair_t *kp = keypair_alloc();
    if (kp != NULL)
        crypto_box_keypair(kp->pk, kp->sk);
    return kp;
}

qs_keypair_t *
qs_keypair_from_secret(const uint8_t sk[QS_KEY_BYTES])
{
    qs_keypair_t *kp = keypair_alloc();
    if (kp == NULL)
        return NULL;
    memcpy(kp->sk, sk, QS_KEY_BYTES);
    if (crypto_scalarmult_base(kp->pk, kp->sk) != 0) {
        qs_keypair_destroy(&kp);
        return NULL;
    }
    return kp;
}

qs_keypair_t *
qs_keypair_from_hex(const char *secret_hex)
{
    qs_keypair_t *kp = keypair_alloc();
    if (kp == NULL)
        return NULL;
    if (qs_hex_decode(kp->sk, QS_KEY_BYTES, secret_hex) != 0 ||
        crypto_scalarmult_base(kp->pk, kp->sk) != 0) {
        qs_keypair_destroy(&kp);
        return NULL;
    }
    return kp;
}

/* Trim trailing whitespace in place (key files end with a newline). */
static void
rtrim(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r' ||
                        s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        s[--*len] = '\0';
}

qs_keypair_t *
qs_keypair_load(const char *secret_path, char *errmsg, size_t errmsg_len)
{
    qs_keypair_t *kp;
    char *text = NULL;
    size_t len = 0;

    if (qs_fs_check_private(secret_path, errmsg, errmsg_len) != 0)
        return NULL;
    if (qs_fs_read_small(&text, &len, secret_path, 256, 1, errmsg, errmsg_len) != 0)
        return NULL;
    rtrim(text, &len);
    kp = qs_keypair_from_hex(text);
    sodium_free(text);
    if (kp == NULL)
        snprintf(errmsg, errmsg_len,
                 "'%s' does not hold a 64-character hex secret key", secret_path);
    return kp;
}

int
qs_keypair_save(const qs_keypair_t *kp, const char *secret_path,
                const char *public_path, char *errmsg, size_t errmsg_len)
{
    char *hex = sodium_malloc(QS_HEX_KEY_CHARS + 2);
    char pub[QS_HEX_KEY_CHARS + 2];
    int rc;

    if (hex == NULL)
        qs_fatal("out of locked memory");
    qs_hex_encode(hex, QS_HEX_KEY_CHARS + 1, kp->sk, QS_KEY_BYTES);
    hex[QS_HEX_KEY_CHARS] = '\n';
    rc = qs_fs_write_private(secret_path, hex, QS_HEX_KEY_CHARS + 1, errmsg, errmsg_len);
    sodium_free(hex);
    if (rc != 0 || public_path == NULL)
        return rc;
    qs_hex_encode(pub, sizeof pub, kp->pk, QS_KEY_BYTES);
    pub[QS_HEX_KEY_CHARS] = '\n';
    return qs_fs_write_private(public_path, pub, QS_HEX_KEY_CHARS + 1, errmsg, errmsg_len);
}

const uint8_t *
qs_keypair_public(const qs_keypair_t *kp)
{
    return kp->pk;
}

const uint8_t *
qs_keypair_secret(const qs_keypair_t *kp)
{
    return kp->sk;
}

void
qs_keypair_destroy(qs_keypair_t **kp_p)
{
    if (kp_p == NULL || *kp_p == NULL)
        return;
    sodium_free((*kp_p)->sk);   /* zeroes before freeing */
    free(*kp_p);
    *kp_p = NULL;
}

int
qs_pubkey_load(uint8_t pk[QS_KEY_BYTES], const char *path, char *errmsg, size_t errmsg_len)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (qs_fs_read_small(&text, &len, path, 256, 0, errmsg, errmsg_len) != 0)
        return -1;
    rtrim(text, &len);
    rc = qs_hex_decode(pk, QS_KEY_BYTES, text);
    free(text);
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "'%s' does not hold a 64-character hex public key", path);
    return rc;
}

int
qs_secret_load(uint8_t **out, const char *path, int create, char *errmsg, size_t errmsg_len)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    uint8_t *key;

    *out = NULL;
    if (create && stat(path, &st) != 0 && errno == ENOENT) {
        uint8_t *fresh = sodium_malloc(QS_KEY_BYTES);
        char *hex = sodium_malloc(QS_HEX_KEY_CHARS + 2);
        int rc;
        if (fresh == NULL || hex == NULL)
            qs_fatal("out of locked memory");
        randombytes_buf(fresh, QS_KEY_BYTES);
        qs_hex_encode(hex, QS_HEX_KEY_CHARS + 1, fresh, QS_KEY_BYTES);
        hex[QS_HEX_KEY_CHARS] = '\n';
        rc = qs_fs_write_private(path, hex, QS_HEX_KEY_CHARS + 1, errmsg, errmsg_len);
        sodium_free(hex);
        if (rc != 0) {
            sodium_free(fresh);
            return -1;
        }
        *out = fresh;
        return 0;
    }
    if (qs_fs_check_private(path, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_fs_read_small(&text, &len, path, 256, 1, errmsg, errmsg_len) != 0)
        return -1;
    rtrim(text, &len);
    key = sodium_malloc(QS_KEY_BYTES);
    if (key == NULL)
        qs_fatal("out of locked memory");
    if (qs_hex_decode(key, QS_KEY_BYTES, text) != 0) {
        snprintf(errmsg, errmsg_len, "'%s' does not hold a 64-character hex key", path);
        sodium_free(text);
        sodium_free(key);
        return -1;
    }
    sodium_free(text);
    *out = key;
    return 0;
}
