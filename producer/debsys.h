/* debsys.h - what a Debian-family system has installed and could upgrade,
 * read straight from dpkg's and apt's files under a root directory.
 *
 *   ROOT/var/lib/dpkg/status          installed packages (deb822)
 *   ROOT/var/lib/apt/lists/ NAME_Packages    candidates, one list per archive part
 *   ROOT/var/lib/apt/lists/ PREFIX_InRelease or PREFIX_Release   each list's archive
 *
 * A list's archive is a security archive when its Release file's Label or
 * Origin contains "security" or its Suite or Codename ends in "-security"
 * or "/updates" (Debian: Label Debian-Security; Ubuntu: Suite
 * jammy-security); without a Release file, when the list's name contains
 * "-security_" or "debian-security". Archives marked NotAutomatic (backports,
 * experimental) give no candidates, as apt's default pins would. apt
 * preferences (pinning) are not read. Compressed lists (Acquire::GzipIndexes)
 * are counted in lists_skipped, not read.
 */
#ifndef QS_PRODUCER_DEBSYS_H
#define QS_PRODUCER_DEBSYS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name, *arch, *version;   /* as installed */
    char *cand;                    /* the newest candidate newer than version, or NULL */
    int cand_security;             /* cand is offered by a security archive */
} qs_debpkg_t;

typedef struct {
    qs_debpkg_t *pkgs;             /* sorted by (name, arch) */
    size_t n;
    uint64_t lists, lists_skipped, malformed;
    char first_error[256];         /* "FILE: line N: ..." of the first malformed entry */
} qs_debsys_t;

/* Read the system under root (progress: a line per list on stderr).
 * Returns 0, or -1 with errmsg when the status file cannot be read (not a
 * Debian-family root). Unreadable or malformed lists and entries are
 * counted in malformed, not fatal. Free with qs_debsys_free. */
int qs_debsys_read(qs_debsys_t *s, const char *root, int progress, char *errmsg,
                   size_t errmsg_len);

void qs_debsys_free(qs_debsys_t *s);

/* 0 when name is a package name dpkg accepts (ASCII alphanumerics and
 * + - . , not starting with '-', 1..100 bytes here), else -1. */
int qs_debsys_valid_name(const char *name);

#endif
