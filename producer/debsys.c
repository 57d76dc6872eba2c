/* debsys.c - reading dpkg's status and apt's lists (see debsys.h).
 *
 * The status file gives the installed set, kept sorted by (name, arch) so
 * that each of the tens of thousands of paragraphs of a Packages list costs
 * one binary search; only candidates of installed packages are kept, so
 * memory is proportional to the installed set, not to the archive.
 */
#include "debsys.h"

#include "deb822.h"
#include "debver.h"

#include "qs_log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PATH_BYTES 4096

typedef struct {
    qs_debsys_t *s;
    size_t cap;
    int security;
} read_ctx_t;

static void
note_malformed(qs_debsys_t *s, const char *file, const qs_deb822_stats_t *st)
{
    s->malformed += st->errors;
    if (st->errors > 0 && s->first_error[0] == '\0')
        snprintf(s->first_error, sizeof s->first_error, "%s: %s", file, st->first_error);
}

static void
entry_malformed(qs_debsys_t *s, const char *file, uint64_t line, const char *what)
{
    s->malformed++;
    if (s->first_error[0] == '\0')
        snprintf(s->first_error, sizeof s->first_error, "%s: line %llu: %s", file,
                 (unsigned long long)line, what);
}

int
qs_debsys_valid_name(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;

    if (len == 0 || len > 100 || name[0] == '-')
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return -1;
    }
    return 0;
}

/* dpkg Status: "want flag status"; installed when status is one of these. */
static int
status_installed(const char *status)
{
    const char *last = status != NULL ? strrchr(status, ' ') : NULL;

    if (last == NULL)
        return 0;
    last++;
    return strcmp(last, "installed") == 0 || strcmp(last, "triggers-pending") == 0 ||
           strcmp(last, "triggers-awaited") == 0;
}

/* Fields asked of the status file and of Packages lists. */
static const char *const pkg_fields[] = { "Package", "Version", "Architecture", "Status" };
enum { F_PACKAGE, F_VERSION, F_ARCH, F_STATUS };

static const char *status_file_label = "var/lib/dpkg/status";

static int
on_status(void *ctx, const qs_deb822_para_t *p)
{
    read_ctx_t *rc = ctx;
    qs_debsys_t *s = rc->s;
    const char *name = p->values[F_PACKAGE], *ver = p->values[F_VERSION];
    const char *arch = p->values[F_ARCH] ? p->values[F_ARCH] : "";

    if (!status_installed(p->values[F_STATUS]))
        return 0;
    if (qs_debsys_valid_name(name) != 0 || qs_debver_valid(ver) != 0 ||
        strlen(arch) > 64 || strchr(arch, ' ') != NULL) {
        entry_malformed(s, status_file_label, p->line,
                        "an installed package without a valid name, version or architecture");
        return 0;
    }
    if (s->n == rc->cap) {
        rc->cap = rc->cap ? rc->cap * 2 : 256;
        s->pkgs = qs_realloc(s->pkgs, rc->cap * sizeof *s->pkgs);
    }
    s->pkgs[s->n] = (qs_debpkg_t){ qs_strdup(name), qs_strdup(arch), qs_strdup(ver), NULL, 0 };
    s->n++;
    return 0;
}

static int
pkg_cmp(const void *a, const void *b)
{
    const qs_debpkg_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->arch, y->arch);
}

/* A package installed twice for the same architecture (a damaged status
 * file): keep the first, count the others. */
static void
sort_and_dedupe(qs_debsys_t *s)
{
    size_t w = 0;

    if (s->n > 0)
        qsort(s->pkgs, s->n, sizeof *s->pkgs, pkg_cmp);
    for (size_t i = 0; i < s->n; i++) {
        if (w > 0 && pkg_cmp(&s->pkgs[w - 1], &s->pkgs[i]) == 0) {
            entry_malformed(s, status_file_label, 0, "a package installed twice");
            free(s->pkgs[i].name);
            free(s->pkgs[i].arch);
            free(s->pkgs[i].version);
            continue;
        }
        s->pkgs[w++] = s->pkgs[i];
    }
    s->n = w;
}

static int
on_package(void *ctx, const qs_deb822_para_t *p)
{
    read_ctx_t *rc = ctx;
    qs_debsys_t *s = rc->s;
    qs_debpkg_t key = { (char *)p->values[F_PACKAGE], (char *)p->values[F_ARCH], NULL, NULL, 0 };
    qs_debpkg_t *hit;
    int cmp;

    if (s->n == 0 || key.name == NULL || key.arch == NULL || p->values[F_VERSION] == NULL)
        return 0;
    hit = bsearch(&key, s->pkgs, s->n, sizeof *s->pkgs, pkg_cmp);
    if (hit == NULL)
        return 0;
    if (qs_debver_compare(p->values[F_VERSION], hit->version, &cmp) != 0) {
        s->malformed++;
        return 0;
    }
    if (cmp <= 0)
        return 0;
    if (hit->cand != NULL && qs_debver_compare(p->values[F_VERSION], hit->cand, &cmp) == 0 &&
        cmp <= 0) {
        if (cmp == 0)
            hit->cand_security |= rc->security;
        return 0;
    }
    free(hit->cand);
    hit->cand = qs_strdup(p->values[F_VERSION]);
    hit->cand_security = rc->security;
    return 0;
}

static const char *const rel_fields[] = { "Origin", "Label", "Suite", "Codename",
                                          "NotAutomatic", "ButAutomaticUpgrades" };
typedef struct {
    int security, not_automatic, seen;
} release_t;

static int
contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay != NULL && *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

static int
ends_with(const char *s, const char *suffix)
{
    size_t a = s ? strlen(s) : 0, b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int
on_release(void *ctx, const qs_deb822_para_t *p)
{
    release_t *r = ctx;
    const char *const *v = p->values;

    r->seen = 1;
    r->security = contains_ci(v[0], "security") || contains_ci(v[1], "security") ||
                  ends_with(v[2], "-security") || ends_with(v[2], "/updates") ||
                  ends_with(v[3], "-security") || ends_with(v[3], "/updates");
    r->not_automatic = v[4] != NULL && strcasecmp(v[4], "yes") == 0;
    return 1;   /* the first paragraph is the archive's */
}

/* Find and read the Release file of list `name` in dir: the longest
 * "<prefix>_" of name with a "<prefix>_InRelease" or "<prefix>_Release". */
static void
read_release(const char *dir, const char *name, release_t *r)
{
    char path[PATH_BYTES], err[256];
    int n;

    memset(r, 0, sizeof *r);
    for (size_t i = strlen(name); i-- > 0;) {
        if (name[i] != '_' || strcmp(name + i, "_Packages") == 0)
            continue;
        for (int pgp = 1; pgp >= 0; pgp--) {
            n = snprintf(path, sizeof path, "%s/", dir);
            if (n < 0 || (size_t)n + i + 16 > sizeof path)
                return;
            memcpy(path + n, name, i);
            snprintf(path + n + i, sizeof path - (size_t)n - i, "_%s",
                     pgp ? "InRelease" : "Release");
            if (access(path, R_OK) != 0)
                continue;
            (void)qs_deb822_parse_file(path, rel_fields, 6, pgp ? QS_DEB822_PGP : 0,
                                       on_release, r, NULL, err, sizeof err);
            if (r->seen)
                return;
        }
    }
    r->security = strstr(name, "-security_") != NULL || strstr(name, "debian-security") != NULL;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir ending with "_Packages" (sorted: deterministic), and the
 * count of compressed ones. */
static char **
list_names(const char *dir, size_t *n, uint64_t *compressed)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, "_Packages")) {
            if (strstr(e->d_name, "_Packages.") != NULL)
                (*compressed)++;
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            v = qs_realloc(v, cap * sizeof *v);
        }
        v[(*n)++] = qs_strdup(e->d_name);
    }
    closedir(d);
    if (*n > 0)
        qsort(v, *n, sizeof *v, name_cmp);
    return v;
}

static void
read_lists(qs_debsys_t *s, const char *root, int progress)
{
    char dir[PATH_BYTES], path[PATH_BYTES + 256], err[512];
    size_t n = 0;
    char **names;
    read_ctx_t rc = { s, 0, 0 };

    snprintf(dir, sizeof dir, "%s/var/lib/apt/lists", root);
    names = list_names(dir, &n, &s->lists_skipped);
    for (size_t i = 0; i < n; i++) {
        release_t rel;
        qs_deb822_stats_t st;

        if (progress)
            fprintf(stderr, "\rscan: reading list %zu of %zu   ", i + 1, n);
        read_release(dir, names[i], &rel);
        if (rel.not_automatic) {
            free(names[i]);
            continue;
        }
        rc.security = rel.security;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (qs_deb822_parse_file(path, pkg_fields, 3, 0, on_package, &rc, &st, err,
                                 sizeof err) < 0) {
            log_warn("scan: %s", err);
            entry_malformed(s, names[i], 0, "cannot be read");
        } else {
            s->lists++;
            note_malformed(s, names[i], &st);
        }
        free(names[i]);
    }
    if (progress && n > 0)
        fputc('\n', stderr);
    free(names);
}

int
qs_debsys_read(qs_debsys_t *s, const char *root, int progress, char *errmsg,
               size_t errmsg_len)
{
    char path[PATH_BYTES], err[512];
    read_ctx_t rc = { s, 0, 0 };
    qs_deb822_stats_t st;

    memset(s, 0, sizeof *s);
    if (strcmp(root, "/") == 0)
        root = "";     /* "/var/lib/...", not "//var/lib/..." */
    snprintf(path, sizeof path, "%s/var/lib/dpkg/status", root);
    if (qs_deb822_parse_file(path, pkg_fields, 4, 0, on_status, &rc, &st, err,
                             sizeof err) < 0) {
        snprintf(errmsg, errmsg_len, "%s (is '%s' the root of a Debian-family system?)", err,
                 root[0] ? root : "/");
        qs_debsys_free(s);
        return -1;
    }
    note_malformed(s, status_file_label, &st);
    sort_and_dedupe(s);
    read_lists(s, root, progress);
    return 0;
}

void
qs_debsys_free(qs_debsys_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->pkgs[i].name);
        free(s->pkgs[i].arch);
        free(s->pkgs[i].version);
        free(s->pkgs[i].cand);
    }
    free(s->pkgs);
    s->pkgs = NULL;
    s->n = 0;
}
