/* test_forget_verify.c - qs_verify_run on a real site home.
 *
 * Each test lays out a site home as qsctl init would (0700 dirs, 0600 keys,
 * quietstate.conf, site.db with a policy and an audit chain, store.db), fills
 * store.db directly, then breaks one rule and checks that verify names
 * exactly that. (The tests of forget moved to store/test_forget.c with
 * qs_storedb_forget_machine; the name of this test binary stayed.)
 */
#include "purge.h"
#include "qs_audit.h"
#include "qs_counts.h"
#include "qs_clock.h"
#include "qs_config.h"
#include "qs_fsutil.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_site.h"
#include "qs_sitedb.h"
#include "qs_test.h"
#include "siteaudit.h"
#include "verify.h"
#include "storedb_sqlite.h" /* test only: fills and breaks store.db directly */

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY QS_MS_PER_DAY
#define NOW (20000 * DAY + DAY / 2)

struct site {
    char dir[256];
    qs_site_paths_t paths;
    qs_sitedb_t *sitedb;
    qs_storedb_t *db;
    qs_epochkeys_t *ks;
    uint8_t *site_key;
};

static void
site_new(struct site *s, const char *tag, int max_age_days)
{
    char err[512], conf[2048];
    qs_config_t cfg;
    qs_policy_t p;
    uint8_t *audit_key = NULL;
    int64_t version;

    qs_test_tmpdir(s->dir, sizeof s->dir, tag);
    QS_ASSERT(qs_site_paths(&s->paths, s->dir, err, sizeof err) == 0);
    QS_ASSERT(chmod(s->dir, 0700) == 0);
    QS_ASSERT(qs_fs_mkdir_private(s->paths.keys_dir, err, sizeof err) == 0);
    QS_ASSERT(qs_fs_mkdir_private(s->paths.epochs_dir, err, sizeof err) == 0);
    QS_ASSERT(qs_secret_load(&s->site_key, s->paths.site_key, 1, err, sizeof err) == 0);
    QS_ASSERT(qs_secret_load(&audit_key, s->paths.audit_key, 1, err, sizeof err) == 0);
    sodium_free(audit_key);
    qs_config_defaults(&cfg);
    QS_ASSERT(qs_config_format(conf, sizeof conf, &cfg) == 0);
    QS_ASSERT(qs_fs_write_private(s->paths.conf, conf, strlen(conf), err, sizeof err) == 0);
    s->sitedb = qs_sitedb_open(s->paths.site_db, 1, err, sizeof err);
    QS_ASSERT(s->sitedb != NULL);
    qs_policy_defaults(&p);
    p.max_age_days = max_age_days;
    QS_ASSERT(qs_sitedb_policy_put(s->sitedb, &p, "tester", NOW - 100 * DAY, &version, err,
                                   sizeof err) == 0);
    QS_ASSERT(qs_siteaudit_append(s->sitedb, &s->paths, NOW - 100 * DAY, "tester",
                                  "policy.set", "{\"version\":1}", err, sizeof err) == 0);
    s->db = qs_storedb_open(s->paths.store_db, 1, err, sizeof err);
    QS_ASSERT(s->db != NULL);
    s->ks = qs_epochkeys_open(s->paths.epochs_dir, 0, err, sizeof err);
    QS_ASSERT(s->ks != NULL);
}

static void
site_destroy(struct site *s)
{
    char cmd[600];

    qs_epochkeys_destroy(&s->ks);
    qs_storedb_destroy(&s->db);
    qs_sitedb_destroy(&s->sitedb);
    sodium_free(s->site_key);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
}

static void
exec_ok(sqlite3 *sql, const char *q)
{
    char *err = NULL;
    if (sqlite3_exec(sql, q, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sql failed: %s: %s\n", q, err);
        exit(2);
    }
}

static void
ps_of(struct site *s, uint8_t out[16], qs_pseudo_kind_t kind, const char *name)
{
    qs_pseudonym(out, s->site_key, kind, name);
}

/* One event of machine/domain: a latest row and a history row. */
static void
add_event(struct site *s, int64_t client, uint32_t topic, const char *topic_id,
          int64_t time_ms, int64_t serial, const char *machine, const char *domain)
{
    sqlite3 *sql = qs_storedb_sqlite(s->db);
    sqlite3_stmt *st = NULL;
    uint8_t mps[16], dps[16], ad[28] = { 0 }, sealed[128];
    int64_t epoch = qs_epoch_of(time_ms);
    size_t sealed_len = 0;
    char name[64], q[512];
    const uint8_t *key;

    ps_of(s, mps, QS_PSEUDO_MACHINE, machine);
    ps_of(s, dps, QS_PSEUDO_DOMAIN, domain);
    QS_ASSERT(qs_storedb_begin(s->db) == 0);
    QS_ASSERT(qs_storedb_partition_ensure(s->db, epoch, topic) == 0);
    key = qs_epochkeys_get(s->ks, epoch, topic, 1);
    QS_ASSERT(key != NULL);
    memcpy(ad, &client, sizeof client);     /* any binding will do: never opened here */
    memcpy(ad + 8, &serial, sizeof serial);
    QS_ASSERT(qs_details_seal(sealed, &sealed_len, sizeof sealed, (const uint8_t *)"0x80070005",
                              10, ad, sizeof ad, key) == 0);
    QS_ASSERT(qs_storedb_partition_name(name, sizeof name, epoch, topic) == 0);
    snprintf(q, sizeof q, "INSERT INTO %s VALUES (?1, ?2, 2, ?3, ?4, ?5, ?6, NULL, ?7)", name);
    QS_ASSERT(sqlite3_prepare_v2(sql, q, -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int64(st, 2, serial);
    sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, time_ms);
    sqlite3_bind_blob(st, 5, mps, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, dps, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, sealed, (int)sealed_len, SQLITE_STATIC);
    QS_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    snprintf(q, sizeof q, "UPDATE partitions SET rows = rows + 1 WHERE epoch = %lld AND "
             "topic_type = %u", (long long)epoch, topic);
    exec_ok(sql, q);
    QS_ASSERT(sqlite3_prepare_v2(sql, "INSERT OR REPLACE INTO latest VALUES "
                                 "(?1, ?2, ?3, 2, ?4, ?4, ?5, ?6)", -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int64(st, 2, topic);
    sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, time_ms);
    sqlite3_bind_blob(st, 5, mps, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, dps, 16, SQLITE_STATIC);
    QS_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    QS_ASSERT(qs_storedb_commit(s->db) == 0);
}

/* Run verify at NOW with no grace; returns the number of findings and
 * prints them (so a failing test shows why). */
static size_t
run_verify(struct site *s, const char *name, const char *expect_substring, int *matched)
{
    qs_verify_t *v = qs_verify_new(&s->paths, NOW, 0);
    size_t n;

    if (name != NULL)
        qs_verify_add_name(v, name);
    (void)qs_verify_run(v);
    n = qs_verify_count(v);
    if (matched != NULL)
        *matched = 0;
    for (size_t i = 0; i < n; i++) {
        printf("    finding: %s\n", qs_verify_finding(v, i));
        if (matched != NULL && expect_substring != NULL &&
            strstr(qs_verify_finding(v, i), expect_substring) != NULL)
            (*matched)++;
    }
    qs_verify_destroy(&v);
    return n;
}

/* ---- verify ------------------------------------------------------------------ */

static void
test_verify_passes_on_a_clean_site(void)
{
    struct site s;

    site_new(&s, "verify-clean", 30);
    add_event(&s, 1, 500, "KB-CLEAN", NOW - DAY, 1, "PC-CLEAN", "CORP");
    QS_CHECK_EQ_INT(run_verify(&s, "PC-CLEAN", NULL, NULL), 0);
    site_destroy(&s);
}

static void
test_verify_finds_expired_partition_rows_key_and_latest(void)
{
    struct site s;
    int matched = 0;

    site_new(&s, "verify-expired", 30);
    add_event(&s, 1, 500, "KB-OLD", NOW - 40 * DAY, 1, "PC-OLD", "CORP");
    /* partition (rows), its key, its latest row: three findings */
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "expired:", &matched), 3);
    QS_CHECK_EQ_INT(matched, 3);
    /* After a pass: clean. */
    {
        qs_policy_t p;
        qs_purge_counts_t c;
        char err[512];
        qs_policy_defaults(&p);
        p.max_age_days = 30;
        QS_CHECK(qs_purge_pass(s.db, s.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    }
    QS_CHECK_EQ_INT(run_verify(&s, NULL, NULL, NULL), 0);
    /* An orphan key alone is a finding too. */
    QS_CHECK(qs_epochkeys_get(s.ks, 19000, 500, 1) != NULL);
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "key file", &matched), 1);
    QS_CHECK_EQ_INT(matched, 1);
    site_destroy(&s);
}

static void
test_verify_finds_rows_past_max_age_in_a_live_partition(void)
{
    struct site s;
    int matched = 0;

    site_new(&s, "verify-trim", 30);
    /* Day of the cutoff (NOW - 30 d = day 19970 + 12 h): 6 h is too old. */
    add_event(&s, 1, 500, "KB-EARLY", 19970 * DAY + 6 * 3600000LL, 1, "PC-T", "CORP");
    exec_ok(qs_storedb_sqlite(s.db), "UPDATE latest SET report_ms = report_ms + 10 * 86400000");
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "are older than", &matched), 1);
    QS_CHECK_EQ_INT(matched, 1);
    site_destroy(&s);
}

static void
test_verify_finds_text_identity_columns_and_values_that_are_not_pseudonyms(void)
{
    struct site s;
    int matched = 0;

    site_new(&s, "verify-ident", 30);
    add_event(&s, 1, 500, "KB-IDENT", NOW - DAY, 1, "PC-I", "CORP");
    exec_ok(qs_storedb_sqlite(s.db), "ALTER TABLE latest ADD COLUMN machine_name TEXT");
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "latest.machine_name", &matched), 1);
    QS_CHECK_EQ_INT(matched, 1);
    exec_ok(qs_storedb_sqlite(s.db), "ALTER TABLE latest DROP COLUMN machine_name");
    exec_ok(qs_storedb_sqlite(s.db), "UPDATE latest SET machine_ps = 'PC-I'");
    exec_ok(qs_storedb_sqlite(s.db), "UPDATE history_19999_500 SET domain_ps = x'0102'");
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "16-byte pseudonym", &matched), 2);
    QS_CHECK_EQ_INT(matched, 2);
    site_destroy(&s);
}

static void
test_verify_finds_a_raw_name_in_any_file_in_any_case_and_utf16(void)
{
    static const uint8_t utf16[] = { 'P', 0, 'c', 0, '-', 0, 'R', 0, 'a', 0, 'W', 0 };
    struct site s;
    char path[QS_MAX_PATH_BYTES + 32], err[256];
    int matched = 0;

    site_new(&s, "verify-name", 30);
    QS_CHECK_EQ_INT(run_verify(&s, "pc-raw", NULL, NULL), 0);
    snprintf(path, sizeof path, "%s/logs", s.dir);
    QS_CHECK(qs_fs_mkdir_private(path, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/logs/store.log", s.dir);
    QS_CHECK(qs_fs_write_private(path, "... from PC-RAW ...", 19, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/keys/dump.bin", s.dir);
    QS_CHECK(qs_fs_write_private(path, utf16, sizeof utf16, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(run_verify(&s, "pc-raw", "raw name", &matched), 2);
    QS_CHECK_EQ_INT(matched, 2);
    site_destroy(&s);
}

static void
test_verify_finds_loose_permissions(void)
{
    struct site s;
    char path[QS_MAX_PATH_BYTES + 32];
    int matched = 0;

    site_new(&s, "verify-perm", 30);
    QS_CHECK(chmod(s.paths.store_db, 0644) == 0);
    QS_CHECK(chmod(s.paths.epochs_dir, 0755) == 0);
    QS_CHECK(chmod(s.paths.site_key, 0640) == 0);
    snprintf(path, sizeof path, "%s/audit.head", s.dir);
    QS_CHECK(chmod(path, 0604) == 0);
    QS_CHECK(chmod(s.dir, 0711) == 0);
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "permissions:", &matched), 5);
    QS_CHECK_EQ_INT(matched, 5);
    QS_CHECK(chmod(s.dir, 0700) == 0);
    site_destroy(&s);
}

static void
test_verify_finds_a_tampered_audit_chain(void)
{
    struct site s;
    char err[512];
    int matched = 0;

    site_new(&s, "verify-audit", 30);
    QS_CHECK(qs_siteaudit_append(s.sitedb, &s.paths, NOW, "tester", "forget", "{\"n\":1}", err,
                                 sizeof err) == 0);
    QS_CHECK_EQ_INT(run_verify(&s, NULL, NULL, NULL), 0);
    exec_ok(qs_sitedb_sqlite(s.sitedb), "UPDATE audit SET detail = '{\"n\":0}' WHERE seq = 2");
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "audit: chain broken", &matched), 1);
    QS_CHECK_EQ_INT(matched, 1);
    site_destroy(&s);
}

static void
test_verify_finds_compliance_counts_that_disagree_with_latest(void)
{
    struct site s;
    int matched = 0;

    site_new(&s, "verify-counts", 30);
    add_event(&s, 1, 500, "KB-C", NOW - DAY, 1, "PC-C1", "CORP");
    add_event(&s, 2, 500, "KB-C", NOW - DAY, 1, "PC-C2", "CORP");
    QS_CHECK_EQ_INT(run_verify(&s, NULL, NULL, NULL), 0);
    exec_ok(qs_storedb_sqlite(s.db), "UPDATE compliance_counts SET count = 3");
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "compliance_counts disagrees", &matched), 1);
    QS_CHECK_EQ_INT(matched, 1);
    QS_CHECK(qs_storedb_counts_rebuild(s.db, NULL) == 0);
    QS_CHECK_EQ_INT(run_verify(&s, NULL, NULL, NULL), 0);
    site_destroy(&s);
}

int
main(void)
{
    qs_log_init("test_forget_verify", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_verify_passes_on_a_clean_site);
    QS_RUN(test_verify_finds_expired_partition_rows_key_and_latest);
    QS_RUN(test_verify_finds_rows_past_max_age_in_a_live_partition);
    QS_RUN(test_verify_finds_text_identity_columns_and_values_that_are_not_pseudonyms);
    QS_RUN(test_verify_finds_a_raw_name_in_any_file_in_any_case_and_utf16);
    QS_RUN(test_verify_finds_loose_permissions);
    QS_RUN(test_verify_finds_a_tampered_audit_chain);
    QS_RUN(test_verify_finds_compliance_counts_that_disagree_with_latest);
    return qs_test_summary();
}
