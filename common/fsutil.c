/* fsutil.c - private file creation, permission checks and shredding. */
#include "qs_fsutil.h"
#include "qs_log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
qs_path_join(char *out, size_t out_len, const char *dir, const char *name)
{
    int n = snprintf(out, out_len, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= out_len) ? -1 : 0;
}

int
qs_fs_mkdir_private(const char *path, char *errmsg, size_t errmsg_len)
{
    struct stat st;

    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    snprintf(errmsg, errmsg_len, "cannot create directory '%s': %s", path, strerror(errno));
    return -1;
}

static int
fsync_parent(const char *path)
{
    char copy[4096];
    int fd, rc;

    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
        return -1;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int
qs_fs_write_private(const char *path, const void *data, size_t len,
                    char *errmsg, size_t errmsg_len)
{
    char tmp[4096];
    const uint8_t *p = data;
    size_t off = 0;
    int fd;

    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(errmsg, errmsg_len, "path too long: '%s'", path);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(errmsg, errmsg_len, "cannot create '%s': %s", tmp, strerror(errno));
        return -1;
    }
    /* The mode given to open() is filtered by the umask; make it exact. */
    if (fchmod(fd, 0600) != 0)
        goto fail;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    if (fsync_parent(path) != 0)
        log_warn("cannot fsync directory of '%s': %s", path, strerror(errno));
    return 0;
fail:
    snprintf(errmsg, errmsg_len, "cannot write '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

int
qs_fs_create_private(const char *path, char *errmsg, size_t errmsg_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0 || fchmod(fd, 0600) != 0) {
        snprintf(errmsg, errmsg_len, "cannot create '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int
qs_fs_read_small(char **out, size_t *out_len, const char *path, size_t max_len,
                 int secret, char *errmsg, size_t errmsg_len)
{
    struct stat st;
    char *buf;
    size_t off = 0;
    int fd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errmsg, errmsg_len, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max_len) {
        snprintf(errmsg, errmsg_len, "'%s' is not a regular file of at most %zu bytes",
                 path, max_len);
        close(fd);
        return -1;
    }
    buf = secret ? sodium_malloc((size_t)st.st_size + 1) : malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        qs_fatal("out of memory reading '%s'", path);
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(errmsg, errmsg_len, "cannot read '%s': %s", path,
                     r < 0 ? strerror(errno) : "short read");
            close(fd);
            if (secret)
                sodium_free(buf);
            else
                free(buf);
            return -1;
        }
        off += (size_t)r;
    }
    close(fd);
    buf[off] = '\0';
    *out = buf;
    *out_len = off;
    return 0;
}

int
qs_fs_check_private(const char *path, char *errmsg, size_t errmsg_len)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        snprintf(errmsg, errmsg_len, "cannot stat '%s': %s", path, strerror(errno));
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(errmsg, errmsg_len,
                 "refusing '%s': mode %04o lets group or others read it; "
                 "fix with: chmod %s '%s'",
                 path, (unsigned)(st.st_mode & 07777), S_ISDIR(st.st_mode) ? "700" : "600",
                 path);
        return -1;
    }
    return 0;
}

int
qs_fs_shred(const char *path, char *errmsg, size_t errmsg_len)
{
    uint8_t zeros[4096] = { 0 };
    struct stat st;
    off_t off = 0;
    int fd;

    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(errmsg, errmsg_len, "cannot open '%s' to shred: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0) {
        while (off < st.st_size) {
            size_t chunk = (size_t)(st.st_size - off) < sizeof zeros
                               ? (size_t)(st.st_size - off) : sizeof zeros;
            ssize_t w = pwrite(fd, zeros, chunk, off);
            if (w <= 0)
                break;
            off += w;
        }
        (void)fsync(fd);
    }
    close(fd);
    if (unlink(path) != 0) {
        snprintf(errmsg, errmsg_len, "cannot unlink '%s': %s", path, strerror(errno));
        return -1;
    }
    (void)fsync_parent(path);
    return 0;
}

int
qs_fs_read_doc(char **text, const char *path, size_t max_len, char *errmsg, size_t errmsg_len)
{
    size_t len = 0;

    *text = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 1;
    if (qs_fs_read_small(text, &len, path, max_len, 0, errmsg, errmsg_len) != 0)
        return -1;
    if (strlen(*text) != len) {
        snprintf(errmsg, errmsg_len, "'%s' is malformed: it holds a NUL byte", path);
        free(*text);
        *text = NULL;
        return -1;
    }
    return 0;
}
