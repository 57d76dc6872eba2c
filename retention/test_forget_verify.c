/* test_forget_verify.c - qs_verify_run on a real site home.
 *
 * Each test lays out a site home as qsctl init would (0700 dirs, 0600 keys,
 * quietstate.conf, site.db with a policy and an audit chain, store.db), fills
 * store.db with the store's own statements (store/qs_store_bench.h), then
 * breaks one rule, as a foreign writer would, and checks that verify names
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
#include "qs_store_bench.h"     /* store/'s test header: rows written by the store's statements */
#include "qs_store_check.h"
#include "qs_test.h"
#include "verify.h"

#include <sodium.h>
#include <sqlite3.h>
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
    qs_store_bench_t *bench;
    uint8_t *site_key;
    uint8_t *audit_key;
};

/* One audit entry, as qs-retention and qsctl append them. */
static int
audit(struct site *s, int64_t time_ms, const char *action, const char *detail, char *err,
      size_t err_len)
{
    return qs_audit_record(s->sitedb, s->audit_key, s->paths.audit_head, time_ms, "tester",
                           action, detail, err, err_len);
}

static void
site_new(struct site *s, const char *tag, int max_age_days)
{
    char err[512], conf[2048];
    qs_config_t cfg;
    qs_policy_t p;
    int64_t version;

    qs_test_tmpdir(s->dir, sizeof s->dir, tag);
    QS_ASSERT(qs_site_paths(&s->paths, s->dir, err, sizeof err) == 0);
    QS_ASSERT(chmod(s->dir, 0700) == 0);
    QS_ASSERT(qs_fs_mkdir_private(s->paths.keys_dir, err, sizeof err) == 0);
    QS_ASSERT(qs_fs_mkdir_private(s->paths.epochs_dir, err, sizeof err) == 0);
    for (int i = 0; i < 2; i++) {
        qs_keypair_t *kp = qs_keypair_generate();
        QS_ASSERT(qs_keypair_save(kp, i ? s->paths.store_key : s->paths.broker_key,
                                  i ? s->paths.store_pub : s->paths.broker_pub, err,
                                  sizeof err) == 0);
        qs_keypair_destroy(&kp);
    }
    QS_ASSERT(qs_secret_load(&s->site_key, s->paths.site_key, 1, err, sizeof err) == 0);
    QS_ASSERT(qs_secret_load(&s->audit_key, s->paths.audit_key, 1, err, sizeof err) == 0);
    qs_config_defaults(&cfg);
    QS_ASSERT(qs_config_format(conf, sizeof conf, &cfg) == 0);
    QS_ASSERT(qs_fs_write_private(s->paths.conf, conf, strlen(conf), err, sizeof err) == 0);
    s->sitedb = qs_sitedb_open(s->paths.site_db, 1, err, sizeof err);
    QS_ASSERT(s->sitedb != NULL);
    qs_policy_defaults(&p);
    p.max_age_days = max_age_days;
    QS_ASSERT(qs_sitedb_policy_put(s->sitedb, &p, "tester", NOW - 100 * DAY, &version, err,
                                   sizeof err) == 0);
    QS_ASSERT(audit(s, NOW - 100 * DAY, "policy.set", "{\"version\":1}", err, sizeof err) == 0);
    s->db = qs_storedb_open(s->paths.store_db, 1, err, sizeof err);
    QS_ASSERT(s->db != NULL);
    s->ks = qs_epochkeys_open(s->paths.epochs_dir, 0, err, sizeof err);
    QS_ASSERT(s->ks != NULL);
    s->bench = qs_store_bench_new(s->db, err, sizeof err);
    QS_ASSERT(s->bench != NULL);
}

static void
site_destroy(struct site *s)
{
    char cmd[600];

    qs_store_bench_destroy(&s->bench);
    qs_epochkeys_destroy(&s->ks);
    qs_storedb_destroy(&s->db);
    qs_sitedb_destroy(&s->sitedb);
    sodium_free(s->site_key);
    sodium_free(s->audit_key);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
}

/* A foreign writer, another program on the file: what verify exists to
 * catch. site.db only: store.db is damaged through store/'s test header. */
static void
foreign_write(const char *db_path, const char *sql)
{
    sqlite3 *other = NULL;
    char *err = NULL;

    if (sqlite3_open_v2(db_path, &other, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(other, 10000) != SQLITE_OK ||
        sqlite3_exec(other, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "foreign write failed: %s: %s\n", sql, err ? err : "open");
        exit(2);
    }
    sqlite3_close(other);
}

static void
ps_of(struct site *s, uint8_t out[16], qs_pseudo_kind_t kind, const char *name)
{
    qs_pseudonym(out, s->site_key, kind, name);
}

/* One event of machine/domain at time_ms: a history row and a latest row
 * last reported at report_ms, in one transaction, by the store's statements. */
static void
add_event_reported(struct site *s, int64_t client, uint32_t topic, const char *topic_id,
                   int64_t time_ms, int64_t report_ms, int64_t serial, const char *machine,
                   const char *domain)
{
    uint8_t mps[16], dps[16], ad[QS_DETAILS_AD_BYTES], sealed[128];
    int64_t epoch = qs_epoch_of(time_ms);
    size_t sealed_len = 0;
    const uint8_t *key;
    qs_store_bench_row_t row = { .client_id = client, .serial = (uint64_t)serial,
                                 .topic_type = topic, .topic_id = topic_id, .state_id = 2,
                                 .time_ms = time_ms, .report_ms = report_ms,
                                 .machine_ps = mps, .domain_ps = dps };

    ps_of(s, mps, QS_PSEUDO_MACHINE, machine);
    ps_of(s, dps, QS_PSEUDO_DOMAIN, domain);
    key = qs_epochkeys_get(s->ks, epoch, topic, 1);
    QS_ASSERT(key != NULL);
    qs_details_ad(ad, client, (uint64_t)serial, epoch, topic);
    QS_ASSERT(qs_details_seal(sealed, &sealed_len, sizeof sealed, (const uint8_t *)"0x80070005",
                              10, ad, sizeof ad, key) == 0);
    row.details = sealed;
    row.details_len = sealed_len;
    QS_ASSERT(qs_store_bench_begin(s->bench) == 0);
    QS_ASSERT(qs_store_bench_history(s->bench, &row) == 0);
    QS_ASSERT(qs_store_bench_latest(s->bench, &row) == 0);
    QS_ASSERT(qs_store_bench_commit(s->bench) == 0);
}

/* One event, last reported when it happened. */
static void
add_event(struct site *s, int64_t client, uint32_t topic, const char *topic_id,
          int64_t time_ms, int64_t serial, const char *machine, const char *domain)
{
    add_event_reported(s, client, topic, topic_id, time_ms, time_ms, serial, machine, domain);
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
    add_event_reported(&s, 1, 500, "KB-EARLY", 19970 * DAY + 6 * 3600000LL,
                       19980 * DAY + 6 * 3600000LL, 1, "PC-T", "CORP");  /* reported since */
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
    QS_CHECK_EQ_INT(qs_store_bench_damage(s.bench, QS_STORE_DAMAGE_ADD_NAME_COLUMN, NULL), 0);
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "latest.machine_name", &matched), 1);
    QS_CHECK_EQ_INT(matched, 1);
    QS_CHECK_EQ_INT(qs_store_bench_damage(s.bench, QS_STORE_DAMAGE_DROP_NAME_COLUMN, NULL), 0);
    QS_CHECK_EQ_INT(qs_store_bench_damage(s.bench, QS_STORE_DAMAGE_RAW_MACHINE_NAME, "PC-I"), 0);
    QS_CHECK_EQ_INT(qs_store_bench_damage(s.bench, QS_STORE_DAMAGE_SHORT_DOMAIN_PS,
                                          "history_19999_500"), 0);
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
    QS_CHECK(audit(&s, NOW, "forget", "{\"n\":1}", err, sizeof err) == 0);
    QS_CHECK_EQ_INT(run_verify(&s, NULL, NULL, NULL), 0);
    foreign_write(s.paths.site_db, "UPDATE audit SET detail = '{\"n\":0}' WHERE seq = 2");
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
    {
        /* One machine counted in state 3 instead of 2: the store's own
         * count update (qs_counts.h) with a move latest never made. */
        qs_count_deltas_t *d = qs_count_deltas_new();
        qs_count_deltas_move(d, 500, "KB-C", 2, 3);
        QS_CHECK(qs_store_bench_begin(s.bench) == 0);
        QS_CHECK(qs_storedb_counts_apply(s.db, d) == 0);
        QS_CHECK(qs_store_bench_commit(s.bench) == 0);
        qs_count_deltas_destroy(&d);
    }
    QS_CHECK_EQ_INT(run_verify(&s, NULL, "compliance_counts disagrees", &matched), 1);
    QS_CHECK_EQ_INT(matched, 1);
    {
        int64_t groups = 0;
        char err[512];
        QS_CHECK(qs_storedb_counts_repair(s.db, &groups, err, sizeof err) == 0);
        QS_CHECK_EQ_INT(groups, 1);
    }
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
