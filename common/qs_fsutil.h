/* qs_fsutil.h - private files and directories: 0700 dirs, 0600 files, checks.
 *
 * Every file quietstate writes that holds a secret or site data goes through
 * here, so that permissions are right at creation (umask-independent) and a
 * daemon can refuse to run on a secret that others could read.
 */
#ifndef QS_FSUTIL_H
#define QS_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Create dir with mode 0700 if missing (parent must exist). An existing dir is
 * left as it is. Returns 0 or -1 with errmsg filled. */
int qs_fs_mkdir_private(const char *path, char *errmsg, size_t errmsg_len);

/* Write data to path atomically (temp file, fsync, rename, fsync dir) with
 * mode 0600. Returns 0 or -1 with errmsg filled. */
int qs_fs_write_private(const char *path, const void *data, size_t len,
                        char *errmsg, size_t errmsg_len);

/* Create path as an empty 0600 file if it does not exist (an existing file is
 * left as it is). For SQLite databases: SQLite would honour the umask, and it
 * gives the -wal and -shm files the database file's mode. Returns 0 or -1. */
int qs_fs_create_private(const char *path, char *errmsg, size_t errmsg_len);

/* A small text document another process writes (broker.stats, store.stats):
 * its text (caller frees), or 1 when the file does not exist (yet), or -1
 * with errmsg ("'…' is malformed: it holds a NUL byte", or why it could not
 * be read). */
int qs_fs_read_doc(char **text, const char *path, size_t max_len, char *errmsg,
                   size_t errmsg_len) __attribute__((warn_unused_result));

/* Read a whole small file (at most max_len bytes) into a NUL-terminated
 * buffer the caller frees (with sodium_free if secret != 0: the buffer is
 * then guarded and locked). Returns 0 or -1 with errmsg filled. */
int qs_fs_read_small(char **out, size_t *out_len, const char *path, size_t max_len,
                     int secret, char *errmsg, size_t errmsg_len);

/* Refuse a secret readable or writable by group or others: returns -1 with a
 * message naming the file, its mode and the chmod that fixes it. */
int qs_fs_check_private(const char *path, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Overwrite a file's bytes with zeros, fsync, then unlink it (key shredding).
 * Returns 0, or -1 with errmsg (a missing file is not an error). */
int qs_fs_shred(const char *path, char *errmsg, size_t errmsg_len);

/* snprintf that reports truncation: returns 0, or -1 if it did not fit. */
int qs_path_join(char *out, size_t out_len, const char *dir, const char *name)
    __attribute__((warn_unused_result));

#endif
