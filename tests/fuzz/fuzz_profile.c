/* fuzz_profile.c - libFuzzer target for the producer's client profile loader
 * (qs_profile_load, common/qs_profile.h).
 *
 * qs_profile_load reads a file, so each input is written to a 0600 file in a
 * private temporary directory (under /dev/shm when there is one: the write
 * path fsyncs) and loaded from there. A refused profile must come with an
 * error message. An accepted one is written again with qs_profile_write and
 * loaded again: name, endpoint, both server keys and the key pair must come
 * back unchanged (what qsctl enroll writes, qs-producer must read as written).
 */
#include "fuzz_util.h"
#include "qs_profile.h"

#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Paths of this process's scratch files: fixed once by LLVMFuzzerInitialize. */
static char fuzz_dir[256], fuzz_in[300], fuzz_out[300];

static void
remove_scratch(void)
{
    unlink(fuzz_in);
    unlink(fuzz_out);
    rmdir(fuzz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/qs-fuzz-profile-XXXXXX", base);
    if (mkdtemp(fuzz_dir) == NULL) {
        perror(fuzz_dir);
        abort();
    }
    snprintf(fuzz_in, sizeof fuzz_in, "%s/in.profile", fuzz_dir);
    snprintf(fuzz_out, sizeof fuzz_out, "%s/out.profile", fuzz_dir);
    atexit(remove_scratch);
    return 0;
}

static void
write_input(const uint8_t *data, size_t size)
{
    int fd = open(fuzz_in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t off = 0;

    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(fchmod(fd, 0600) == 0);
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        FUZZ_CHECK(n > 0);
        off += (size_t)n;
    }
    FUZZ_CHECK(close(fd) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errmsg[512] = "";
    qs_profile_t *p, *again;
    const qs_keypair_t *kp, *kp2;

    write_input(data, size);
    p = qs_profile_load(fuzz_in, errmsg, sizeof errmsg);
    if (p == NULL) {
        FUZZ_CHECK(errmsg[0] != '\0');
        return 0;
    }
    kp = qs_profile_keypair(p);
    FUZZ_CHECK(kp != NULL);
    FUZZ_CHECK(qs_profile_name(p)[0] != '\0');
    FUZZ_CHECK(strlen(qs_profile_name(p)) <= QS_MAX_NAME_BYTES);
    FUZZ_CHECK(strlen(qs_profile_endpoint(p)) < QS_MAX_ENDPOINT_BYTES);

    errmsg[0] = '\0';
    if (qs_profile_write(fuzz_out, qs_profile_name(p), kp, qs_profile_endpoint(p),
                         qs_profile_broker_pk(p), qs_profile_store_pk(p),
                         errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "loaded profile does not write: %s\n", errmsg);
        FUZZ_CHECK(!"loaded profile writes again");
    }
    again = qs_profile_load(fuzz_out, errmsg, sizeof errmsg);
    if (again == NULL) {
        fprintf(stderr, "written profile does not load: %s\n", errmsg);
        FUZZ_CHECK(!"written profile loads again");
    }
    kp2 = qs_profile_keypair(again);
    FUZZ_CHECK(strcmp(qs_profile_name(p), qs_profile_name(again)) == 0);
    FUZZ_CHECK(strcmp(qs_profile_endpoint(p), qs_profile_endpoint(again)) == 0);
    FUZZ_CHECK(memcmp(qs_profile_broker_pk(p), qs_profile_broker_pk(again), QS_KEY_BYTES) == 0);
    FUZZ_CHECK(memcmp(qs_profile_store_pk(p), qs_profile_store_pk(again), QS_KEY_BYTES) == 0);
    FUZZ_CHECK(memcmp(qs_keypair_public(kp), qs_keypair_public(kp2), QS_KEY_BYTES) == 0);
    FUZZ_CHECK(sodium_memcmp(qs_keypair_secret(kp), qs_keypair_secret(kp2), QS_KEY_BYTES) == 0);
    qs_profile_destroy(&again);
    qs_profile_destroy(&p);
    return 0;
}
