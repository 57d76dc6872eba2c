/* test_keys.c - key files: round trip, tight modes, refusal of loose secrets;
 * pseudonyms: stable under one site key, normalized, different across keys. */
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_pseudonym.h"
#include "qs_test.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void
test_keys_round_trip_with_tight_modes(void)
{
    char sk_path[512], pk_path[512], err[512];
    qs_keypair_t *kp = qs_keypair_generate(), *back;
    uint8_t pk[32];
    struct stat st;

    snprintf(sk_path, sizeof sk_path, "%s/a.key", dir);
    snprintf(pk_path, sizeof pk_path, "%s/a.pub", dir);
    umask(022);
    QS_CHECK(qs_keypair_save(kp, sk_path, pk_path, err, sizeof err) == 0);
    QS_CHECK(stat(sk_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    back = qs_keypair_load(sk_path, err, sizeof err);
    QS_CHECK(back != NULL);
    QS_CHECK(back && memcmp(qs_keypair_public(back), qs_keypair_public(kp), 32) == 0);
    QS_CHECK(qs_pubkey_load(pk, pk_path, err, sizeof err) == 0);
    QS_CHECK(memcmp(pk, qs_keypair_public(kp), 32) == 0);
    qs_keypair_destroy(&back);
    qs_keypair_destroy(&kp);
    QS_CHECK(kp == NULL);
    qs_keypair_destroy(&kp);   /* no-op on NULL */
}

static void
test_keys_refuse_group_readable_secret(void)
{
    char sk_path[512], err[512] = "";
    qs_keypair_t *kp = qs_keypair_generate();

    snprintf(sk_path, sizeof sk_path, "%s/loose.key", dir);
    QS_CHECK(qs_keypair_save(kp, sk_path, NULL, err, sizeof err) == 0);
    QS_CHECK(chmod(sk_path, 0640) == 0);
    qs_keypair_destroy(&kp);
    kp = qs_keypair_load(sk_path, err, sizeof err);
    QS_CHECK(kp == NULL);
    QS_CHECK(strstr(err, sk_path) != NULL);        /* names the file */
    QS_CHECK(strstr(err, "chmod 600") != NULL);    /* and the fix */
}

static void
test_keys_reject_garbage(void)
{
    char path[512], err[512];
    qs_keypair_t *kp;

    snprintf(path, sizeof path, "%s/garbage.key", dir);
    QS_CHECK(qs_fs_write_private(path, "not hex\n", 8, err, sizeof err) == 0);
    kp = qs_keypair_load(path, err, sizeof err);
    QS_CHECK(kp == NULL);
    QS_CHECK(strstr(err, "hex") != NULL);
}

static void
test_secret_created_once(void)
{
    char path[512], err[512];
    uint8_t *a = NULL, *b = NULL;

    snprintf(path, sizeof path, "%s/site.key", dir);
    QS_CHECK(qs_secret_load(&a, path, 1, err, sizeof err) == 0);
    QS_CHECK(qs_secret_load(&b, path, 1, err, sizeof err) == 0);
    QS_CHECK(a && b && memcmp(a, b, 32) == 0);
    sodium_free(a);
    sodium_free(b);
}

static void
test_pseudonyms_stable_and_keyed(void)
{
    uint8_t k1[32], k2[32], a[16], b[16], c[16], d[16], zero[16] = { 0 };

    memset(k1, 1, sizeof k1);
    memset(k2, 2, sizeof k2);
    qs_pseudonym(a, k1, QS_PSEUDO_MACHINE, "PC-0042");
    qs_pseudonym(b, k1, QS_PSEUDO_MACHINE, "  pc-0042 ");
    QS_CHECK(memcmp(a, b, 16) == 0);                    /* normalized, stable */
    qs_pseudonym(c, k2, QS_PSEUDO_MACHINE, "PC-0042");
    QS_CHECK(memcmp(a, c, 16) != 0);                    /* keyed */
    qs_pseudonym(d, k1, QS_PSEUDO_USER, "PC-0042");
    QS_CHECK(memcmp(a, d, 16) != 0);                    /* domain-separated */
    qs_pseudonym(d, k1, QS_PSEUDO_MACHINE, "");
    QS_CHECK(memcmp(d, zero, 16) == 0);                 /* empty = not given */
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_test_tmpdir(dir, sizeof dir, "keys");
    QS_RUN(test_keys_round_trip_with_tight_modes);
    QS_RUN(test_keys_refuse_group_readable_secret);
    QS_RUN(test_keys_reject_garbage);
    QS_RUN(test_secret_created_once);
    QS_RUN(test_pseudonyms_stable_and_keyed);
    {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    return qs_test_summary();
}
