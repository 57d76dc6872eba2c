/* test_fsutil.c - fsutil.c: private dirs and files whatever the umask,
 * refusal of loose secrets, bounded reads, shredding, path joins. */
#include "qs_fsutil.h"
#include "qs_test.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static unsigned
mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 01000u;
}

static void
test_fs_private_modes_despite_umask(void)
{
    char sub[512], file[600], db[600], err[512], *text = NULL;
    mode_t old = umask(0);
    size_t len = 0;

    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(file, sizeof file, "%s/f", sub);
    snprintf(db, sizeof db, "%s/db", sub);
    QS_CHECK_EQ_INT(qs_fs_mkdir_private(sub, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_fs_mkdir_private(sub, err, sizeof err), 0);   /* exists: fine */
    QS_CHECK_EQ_INT(mode_of(sub), 0700);
    QS_CHECK_EQ_INT(qs_fs_write_private(file, "hello\n", 6, err, sizeof err), 0);
    QS_CHECK_EQ_INT(mode_of(file), 0600);
    QS_CHECK_EQ_INT(qs_fs_create_private(db, err, sizeof err), 0);
    QS_CHECK_EQ_INT(mode_of(db), 0600);
    umask(old);
    QS_CHECK_EQ_INT(qs_fs_read_small(&text, &len, file, 64, 0, err, sizeof err), 0);
    QS_CHECK_STR(text, "hello\n");
    QS_CHECK_EQ_INT(len, 6);
    free(text);
    QS_CHECK_EQ_INT(qs_fs_read_small(&text, &len, file, 3, 0, err, sizeof err), -1);
    QS_CHECK_EQ_INT(qs_fs_check_private(file, err, sizeof err), 0);
    QS_CHECK_EQ_INT(chmod(file, 0640), 0);
    QS_CHECK_EQ_INT(qs_fs_check_private(file, err, sizeof err), -1);
    QS_CHECK(strstr(err, "chmod 600") != NULL);
    QS_CHECK_EQ_INT(qs_fs_shred(file, err, sizeof err), 0);
    QS_CHECK(access(file, F_OK) != 0);
    QS_CHECK_EQ_INT(qs_fs_shred(file, err, sizeof err), 0);   /* missing: not an error */
    unlink(db);
    rmdir(sub);
}

static void
test_fs_write_private_reports_a_missing_parent(void)
{
    char path[600], err[512];

    snprintf(path, sizeof path, "%s/no/such/dir/f", dir);
    QS_CHECK_EQ_INT(qs_fs_write_private(path, "x", 1, err, sizeof err), -1);
    QS_CHECK(err[0] != '\0');
}

static void
test_path_join_refuses_truncation(void)
{
    char out[16];

    QS_CHECK_EQ_INT(qs_path_join(out, sizeof out, "/a", "b"), 0);
    QS_CHECK_STR(out, "/a/b");
    QS_CHECK_EQ_INT(qs_path_join(out, sizeof out, "/a/long/dir", "name.txt"), -1);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_test_tmpdir(dir, sizeof dir, "fsutil");
    QS_RUN(test_fs_private_modes_despite_umask);
    QS_RUN(test_fs_write_private_reports_a_missing_parent);
    QS_RUN(test_path_join_refuses_truncation);
    rmdir(dir);
    return qs_test_summary();
}
