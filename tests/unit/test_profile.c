/* test_profile.c - unit tests of client profiles: write/load round trip,
 * refusal of loose permissions, refusal of malformed or mismatched files. */
#include "qs_profile.h"

#include "qs_fsutil.h"
#include "qs_log.h"
#include "qs_test.h"

#include <sodium.h>
#include <sys/stat.h>

static char dir[512];

static void
test_profile_write_load_round_trip(void)
{
    qs_keypair_t *kp = qs_keypair_generate();
    uint8_t broker[QS_KEY_BYTES], store[QS_KEY_BYTES];
    char path[600], err[256];
    qs_profile_t *p;
    struct stat st;

    randombytes_buf(broker, sizeof broker);
    randombytes_buf(store, sizeof store);
    snprintf(path, sizeof path, "%s/client.profile", dir);
    umask(022);
    QS_CHECK(qs_profile_write(path, "ws-0042.corp", kp, "tcp://127.0.0.1:5570", broker, store,
                              err, sizeof err) == 0);
    QS_CHECK(stat(path, &st) == 0);
    QS_CHECK_EQ_INT(st.st_mode & 0777, 0600);
    p = qs_profile_load(path, err, sizeof err);
    QS_CHECK(p != NULL);
    if (p != NULL) {
        QS_CHECK_STR(qs_profile_name(p), "ws-0042.corp");
        QS_CHECK_STR(qs_profile_endpoint(p), "tcp://127.0.0.1:5570");
        QS_CHECK(memcmp(qs_profile_broker_pk(p), broker, QS_KEY_BYTES) == 0);
        QS_CHECK(memcmp(qs_profile_store_pk(p), store, QS_KEY_BYTES) == 0);
        QS_CHECK(memcmp(qs_keypair_public(qs_profile_keypair(p)), qs_keypair_public(kp),
                        QS_KEY_BYTES) == 0);
        QS_CHECK(memcmp(qs_keypair_secret(qs_profile_keypair(p)), qs_keypair_secret(kp),
                        QS_KEY_BYTES) == 0);
    }
    qs_profile_destroy(&p);
    QS_CHECK(p == NULL);
    qs_profile_destroy(&p);
    qs_keypair_destroy(&kp);
}

static void
test_profile_refuses_group_readable_file(void)
{
    qs_keypair_t *kp = qs_keypair_generate();
    uint8_t key[QS_KEY_BYTES] = { 9 };
    char path[600], err[512];
    qs_profile_t *p;

    snprintf(path, sizeof path, "%s/loose.profile", dir);
    QS_CHECK(qs_profile_write(path, "c1", kp, "tcp://127.0.0.1:5570", key, key, err,
                              sizeof err) == 0);
    QS_CHECK(chmod(path, 0644) == 0);
    err[0] = '\0';
    p = qs_profile_load(path, err, sizeof err);
    QS_CHECK(p == NULL);
    QS_CHECK(strstr(err, path) != NULL);
    QS_CHECK(strstr(err, "chmod 600") != NULL);
    qs_keypair_destroy(&kp);
}

static void
test_profile_write_refuses_bad_name_and_endpoint(void)
{
    qs_keypair_t *kp = qs_keypair_generate();
    uint8_t key[QS_KEY_BYTES] = { 1 };
    char path[600], err[256], long_name[300];

    snprintf(path, sizeof path, "%s/bad.profile", dir);
    QS_CHECK(qs_profile_write(path, "", kp, "tcp://h:1", key, key, err, sizeof err) != 0);
    QS_CHECK(qs_profile_write(path, "a\nsecret_key = 00", kp, "tcp://h:1", key, key, err,
                              sizeof err) != 0);
    QS_CHECK(qs_profile_write(path, " padded", kp, "tcp://h:1", key, key, err,
                              sizeof err) != 0);
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    QS_CHECK(qs_profile_write(path, long_name, kp, "tcp://h:1", key, key, err,
                              sizeof err) != 0);
    QS_CHECK(qs_profile_write(path, "ok", kp, "http://h:1", key, key, err, sizeof err) != 0);
    long_name[QS_MAX_NAME_BYTES] = '\0';
    QS_CHECK(qs_profile_write(path, long_name, kp, "tcp://h:1", key, key, err,
                              sizeof err) == 0);
    qs_keypair_destroy(&kp);
}

static int
write_text(const char *name, const char *text, char *path, size_t path_len)
{
    char err[256];
    snprintf(path, path_len, "%s/%s", dir, name);
    return qs_fs_write_private(path, text, strlen(text), err, sizeof err);
}

static void
test_profile_refuses_malformed_files(void)
{
    qs_keypair_t *kp = qs_keypair_generate(), *other = qs_keypair_generate();
    char pk[65], sk[65], opk[65], text[1024], path[600], err[256];
    qs_profile_t *p;

    sodium_bin2hex(pk, sizeof pk, qs_keypair_public(kp), QS_KEY_BYTES);
    sodium_bin2hex(sk, sizeof sk, qs_keypair_secret(kp), QS_KEY_BYTES);
    sodium_bin2hex(opk, sizeof opk, qs_keypair_public(other), QS_KEY_BYTES);
    for (int i = 0; i < 3; i++) {
        if (i == 0)   /* missing store_public_key */
            snprintf(text, sizeof text, "[client]\nname = a\npublic_key = %s\nsecret_key = %s\n"
                     "[server]\nendpoint = tcp://127.0.0.1:5570\nbroker_public_key = %s\n",
                     pk, sk, pk);
        else if (i == 1)   /* unknown key */
            snprintf(text, sizeof text, "[client]\nname = a\npublic_key = %s\nsecret_key = %s\n"
                     "colour = red\n[server]\nendpoint = tcp://127.0.0.1:5570\n"
                     "broker_public_key = %s\nstore_public_key = %s\n", pk, sk, pk, pk);
        else   /* the public key of another secret */
            snprintf(text, sizeof text, "[client]\nname = a\npublic_key = %s\nsecret_key = %s\n"
                     "[server]\nendpoint = tcp://127.0.0.1:5570\nbroker_public_key = %s\n"
                     "store_public_key = %s\n", opk, sk, pk, pk);
        QS_CHECK(write_text("m.profile", text, path, sizeof path) == 0);
        err[0] = '\0';
        p = qs_profile_load(path, err, sizeof err);
        QS_CHECK(p == NULL);
        QS_CHECK(err[0] != '\0');
        qs_profile_destroy(&p);
    }
    /* The same with blank lines, comments and spacing loads. */
    snprintf(text, sizeof text,
             "# comment\n\n[client]\n  name=a b  \npublic_key =%s\r\nsecret_key= %s\n"
             "; another\n[server]\nendpoint = tcp://127.0.0.1:5570\n"
             "broker_public_key = %s\nstore_public_key = %s",
             pk, sk, opk, opk);
    QS_CHECK(write_text("ok.profile", text, path, sizeof path) == 0);
    p = qs_profile_load(path, err, sizeof err);
    QS_CHECK(p != NULL);
    if (p != NULL)
        QS_CHECK_STR(qs_profile_name(p), "a b");
    qs_profile_destroy(&p);
    qs_keypair_destroy(&kp);
    qs_keypair_destroy(&other);
}

int
main(void)
{
    char cmd[700];

    qs_log_init("test_profile", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 1;
    qs_test_tmpdir(dir, sizeof dir, "profile");
    QS_RUN(test_profile_write_load_round_trip);
    QS_RUN(test_profile_refuses_group_readable_file);
    QS_RUN(test_profile_write_refuses_bad_name_and_endpoint);
    QS_RUN(test_profile_refuses_malformed_files);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return qs_test_summary();
}
