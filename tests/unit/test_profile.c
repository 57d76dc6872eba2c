/* test_profile.c - unit tests of client profiles: write/load round trip,
 * refusal of loose permissions, refusal of malformed or mismatched files,
 * lists of several brokers. */
#include "qs_profile.h"

#include "qs_endpoints.h"

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

/* Several brokers: the profile's endpoint is a list, written back canonical
 * (one space between endpoints); one broker key pins all of them. */
static void
test_profile_names_several_brokers(void)
{
    qs_keypair_t *kp = qs_keypair_generate();
    uint8_t key[QS_KEY_BYTES] = { 7 };
    char path[600], err[256], *text = NULL;
    size_t len = 0;
    qs_profile_t *p;
    qs_endpoints_t eps;

    snprintf(path, sizeof path, "%s/multi.profile", dir);
    QS_CHECK(qs_profile_write(path, "multi", kp, "tcp://10.0.0.1:5570,  tcp://10.0.0.2:5570",
                              key, key, err, sizeof err) == 0);
    QS_CHECK(qs_fs_read_small(&text, &len, path, QS_PROFILE_MAX_BYTES, 1, err,
                              sizeof err) == 0);
    QS_CHECK(text != NULL &&
             strstr(text, "\nendpoint = tcp://10.0.0.1:5570 tcp://10.0.0.2:5570\n") != NULL);
    if (text != NULL)
        sodium_free(text);
    p = qs_profile_load(path, err, sizeof err);
    QS_CHECK(p != NULL);
    if (p != NULL) {
        QS_CHECK_STR(qs_profile_endpoint(p), "tcp://10.0.0.1:5570 tcp://10.0.0.2:5570");
        QS_CHECK(qs_endpoints_parse(&eps, qs_profile_endpoint(p), err, sizeof err) == 0);
        QS_CHECK_EQ_INT(eps.n, 2);
        QS_CHECK_STR(eps.ep[1], "tcp://10.0.0.2:5570");
    }
    qs_profile_destroy(&p);
    /* A list with a bad, a repeated or a ninth endpoint is refused. */
    QS_CHECK(qs_profile_write(path, "m", kp, "tcp://a:1 http://b:1", key, key, err,
                              sizeof err) != 0);
    QS_CHECK(qs_profile_write(path, "m", kp, "tcp://a:1 tcp://a:1", key, key, err,
                              sizeof err) != 0);
    QS_CHECK(strstr(err, "twice") != NULL);
    QS_CHECK(qs_profile_write(path, "m", kp, "tcp://a:1 tcp://a:2 tcp://a:3 tcp://a:4 "
                              "tcp://a:5 tcp://a:6 tcp://a:7 tcp://a:8 tcp://a:9", key, key,
                              err, sizeof err) != 0);
    QS_CHECK(qs_profile_write(path, "m", kp, " , ", key, key, err, sizeof err) != 0);
    qs_keypair_destroy(&kp);
}

/* A hand-written profile may list brokers with commas; an old profile with
 * one endpoint loads as before (test_profile_write_load_round_trip). */
static void
test_profile_loads_a_hand_written_broker_list(void)
{
    qs_keypair_t *kp = qs_keypair_generate();
    char pk[65], sk[65], text[1024], path[600], err[256];
    qs_profile_t *p;

    sodium_bin2hex(pk, sizeof pk, qs_keypair_public(kp), QS_KEY_BYTES);
    sodium_bin2hex(sk, sizeof sk, qs_keypair_secret(kp), QS_KEY_BYTES);
    snprintf(text, sizeof text, "[client]\nname = a\npublic_key = %s\nsecret_key = %s\n"
             "[server]\nendpoint = tcp://b1:5570,tcp://b2:5570, ipc:///run/qs/b3\n"
             "broker_public_key = %s\nstore_public_key = %s\n", pk, sk, pk, pk);
    QS_CHECK(write_text("list.profile", text, path, sizeof path) == 0);
    p = qs_profile_load(path, err, sizeof err);
    QS_CHECK(p != NULL);
    if (p != NULL)
        QS_CHECK_STR(qs_profile_endpoint(p), "tcp://b1:5570 tcp://b2:5570 ipc:///run/qs/b3");
    qs_profile_destroy(&p);
    snprintf(text, sizeof text, "[client]\nname = a\npublic_key = %s\nsecret_key = %s\n"
             "[server]\nendpoint = tcp://b1:5570 tcp://b1:5570\n"
             "broker_public_key = %s\nstore_public_key = %s\n", pk, sk, pk, pk);
    QS_CHECK(write_text("dup.profile", text, path, sizeof path) == 0);
    err[0] = '\0';
    p = qs_profile_load(path, err, sizeof err);
    QS_CHECK(p == NULL);
    QS_CHECK(strstr(err, "endpoint") != NULL);
    qs_keypair_destroy(&kp);
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
    QS_RUN(test_profile_names_several_brokers);
    QS_RUN(test_profile_loads_a_hand_written_broker_list);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return qs_test_summary();
}
