/* test_site.c - site.c: path resolution, the site-home table (consistent,
 * every entry private) and its agreement with docs/operators.md. */
#include "qs_site.h"
#include "qs_test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void
test_site_paths_from_argument_or_environment(void)
{
    qs_site_paths_t p;
    char err[256], longhome[QS_MAX_PATH_BYTES + 8];

    QS_CHECK_EQ_INT(qs_site_paths(&p, "/srv/qs", err, sizeof err), 0);
    QS_CHECK_STR(p.site_db, "/srv/qs/site.db");
    QS_CHECK_STR(p.audit_head, "/srv/qs/audit.head");
    QS_CHECK_STR(p.epochs_dir, "/srv/qs/keys/epochs");
    QS_CHECK_EQ_INT(setenv("QS_HOME", "/env/home", 1), 0);
    QS_CHECK_EQ_INT(qs_site_paths(&p, NULL, err, sizeof err), 0);
    QS_CHECK_STR(p.conf, "/env/home/quietstate.conf");
    unsetenv("QS_HOME");
    QS_CHECK_EQ_INT(qs_site_paths(&p, "", err, sizeof err), -1);
    QS_CHECK(strstr(err, "QS_HOME") != NULL);
    memset(longhome, 'a', sizeof longhome - 1);
    longhome[0] = '/';
    longhome[sizeof longhome - 1] = '\0';
    QS_CHECK_EQ_INT(qs_site_paths(&p, longhome, err, sizeof err), -1);
    QS_CHECK(strstr(err, "too long") != NULL);
}

static void
test_site_check_says_to_run_init(void)
{
    qs_site_paths_t p;
    char dir[256], err[512];

    qs_test_tmpdir(dir, sizeof dir, "site");
    QS_CHECK_EQ_INT(qs_site_paths(&p, dir, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_site_check(&p, err, sizeof err), -1);
    QS_CHECK(strstr(err, "qsctl init") != NULL);
    rmdir(dir);
    QS_CHECK_EQ_INT(qs_site_check(&p, err, sizeof err), -1);
    QS_CHECK(strstr(err, "does not exist") != NULL);
}

static void
test_site_table_is_private_unique_and_matches_the_paths(void)
{
    size_t n;
    const qs_site_file_t *f = qs_site_files(&n);
    qs_site_paths_t p;
    char err[256], want[QS_MAX_PATH_BYTES + 64];

    QS_CHECK(n >= 20);
    QS_CHECK_EQ_INT(qs_site_paths(&p, "/h", err, sizeof err), 0);
    for (size_t i = 0; i < n; i++) {
        const char *path = qs_site_file_path(&p, &f[i]);
        QS_CHECK(f[i].mode == (f[i].kind == QS_SITE_DIR ? 0700u : 0600u));
        QS_CHECK((f[i].mode & 077) == 0);
        QS_CHECK(f[i].creator != NULL && f[i].what != NULL && *f[i].what != '\0');
        QS_CHECK(qs_site_file_find(f[i].rel) == &f[i]);   /* rel is unique */
        if (f[i].kind == QS_SITE_PATTERN)
            QS_CHECK(path == NULL);
        if (f[i].required)
            QS_CHECK(path != NULL && strcmp(f[i].creator, "qsctl init") == 0);
        if (path == NULL)
            continue;
        snprintf(want, sizeof want, strcmp(f[i].rel, ".") == 0 ? "/h" : "/h/%s", f[i].rel);
        QS_CHECK_STR(path, want);
        /* Parents come first: init creates in table order. */
        if (strchr(f[i].rel, '/') != NULL) {
            char parent[128];
            snprintf(parent, sizeof parent, "%s", f[i].rel);
            *strrchr(parent, '/') = '\0';
            QS_CHECK(qs_site_file_find(parent) != NULL && qs_site_file_find(parent) < &f[i]);
        }
    }
    QS_CHECK(qs_site_file_find("keys/site.key")->secret);
    QS_CHECK(!qs_site_file_find("keys/site.pub"));
    QS_CHECK(!qs_site_file_find("keys/broker.pub")->secret);
}

static void
test_site_init_entries_are_what_init_leaves(void)
{
    QS_CHECK(qs_site_is_init_entry("site.db"));
    QS_CHECK(qs_site_is_init_entry("store.db-wal"));
    QS_CHECK(qs_site_is_init_entry("keys"));
    QS_CHECK(qs_site_is_init_entry("audit.head"));
    QS_CHECK(qs_site_is_init_entry("quietstate.conf.tmp.4242"));
    QS_CHECK(!qs_site_is_init_entry("broker.stats"));   /* made by a running broker */
    QS_CHECK(!qs_site_is_init_entry("store.lock"));     /* made by a running store */
    QS_CHECK(!qs_site_is_init_entry("sim"));
    QS_CHECK(!qs_site_is_init_entry("notes.txt"));
    QS_CHECK(!qs_site_is_init_entry("site.key"));        /* only under keys/ */
}

static void
test_site_table_is_documented_in_operators_md(void)
{
    size_t n, len = 0, cap = 0, got;
    const qs_site_file_t *f = qs_site_files(&n);
    FILE *fp = fopen(QS_DOCS_DIR "/operators.md", "r");
    char *doc = NULL, buf[4096];

    QS_CHECK(fp != NULL);
    if (fp == NULL)
        return;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            doc = realloc(doc, cap);
        }
        memcpy(doc + len, buf, got);
        len += got;
    }
    fclose(fp);
    QS_CHECK(doc != NULL);
    if (doc == NULL)
        return;
    doc[len] = '\0';
    QS_CHECK(strstr(doc, "## Files in the site home") != NULL);
    for (size_t i = 0; i < n; i++) {
        char row[512];
        snprintf(row, sizeof row, "| `%s` | %s | %04o | %s | %s | %s |", f[i].rel,
                 f[i].kind == QS_SITE_DIR ? "directory"
                 : f[i].kind == QS_SITE_FILE ? "file" : "files matching",
                 f[i].mode, f[i].creator, f[i].secret ? "yes" : "no",
                 f[i].required ? "yes" : "no");
        if (strstr(doc, row) == NULL)
            fprintf(stderr, "  docs/operators.md lacks the row: %s\n", row);
        QS_CHECK(strstr(doc, row) != NULL);
    }
    free(doc);
}

int
main(void)
{
    QS_RUN(test_site_paths_from_argument_or_environment);
    QS_RUN(test_site_check_says_to_run_init);
    QS_RUN(test_site_table_is_private_unique_and_matches_the_paths);
    QS_RUN(test_site_init_entries_are_what_init_leaves);
    QS_RUN(test_site_table_is_documented_in_operators_md);
    return qs_test_summary();
}
