/* test_sitedb.c - site.db: enrollment rules, revocation, change detection,
 * policy versions and JSON, and the audit chain's tamper detection. */
#include "qs_audit.h"
#include "qs_clock.h"
#include "qs_config.h"
#include "qs_sitedb.h"
#include "qs_test.h"

#include <sodium.h>
#include <unistd.h>

static char dir[256], db_path[512], head_path[512];
static uint8_t audit_key[32];

static void
name_ps(uint8_t out[16], const char *name)
{
    uint8_t k[32] = { 9 };
    qs_pseudonym(out, k, QS_PSEUDO_CLIENT, name);
}

static void
test_sitedb_enroll_revoke_and_keyset(void)
{
    char err[512];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 1, err, sizeof err);
    qs_sitedb_t *other = qs_sitedb_open(db_path, 0, err, sizeof err);
    qs_keyset_t *set = qs_keyset_new();
    uint8_t pk1[32], pk2[32], ps[16];
    int changed = 0, n = 0;

    QS_CHECK(db != NULL && other != NULL);
    randombytes_buf(pk1, 32);
    randombytes_buf(pk2, 32);
    name_ps(ps, "client-a");
    QS_CHECK(qs_sitedb_changed(other, &changed) == 0);
    QS_CHECK(qs_sitedb_enroll(db, ps, pk1, 1, err, sizeof err) == 0);
    QS_CHECK(qs_sitedb_changed(other, &changed) == 0 && changed == 1);
    QS_CHECK(qs_sitedb_changed(other, &changed) == 0 && changed == 0);
    /* Same name again: refused until revoked. */
    QS_CHECK(qs_sitedb_enroll(db, ps, pk2, 2, err, sizeof err) != 0);
    QS_CHECK(strstr(err, "revoke") != NULL);
    QS_CHECK(qs_sitedb_revoke(db, ps, 3, &n) == 0 && n == 1);
    QS_CHECK(qs_sitedb_enroll(db, ps, pk2, 4, err, sizeof err) == 0);
    /* A key is never reused, even after revocation. */
    {
        uint8_t ps2[16];
        name_ps(ps2, "client-b");
        QS_CHECK(qs_sitedb_enroll(db, ps2, pk1, 5, err, sizeof err) != 0);
    }
    QS_CHECK(qs_sitedb_load_keyset(other, set) == 0);
    QS_CHECK_EQ_INT(qs_keyset_get(set, pk1), QS_KEY_REVOKED);
    QS_CHECK_EQ_INT(qs_keyset_get(set, pk2), QS_KEY_ENROLLED);
    randombytes_buf(pk1, 32);
    QS_CHECK_EQ_INT(qs_keyset_get(set, pk1), QS_KEY_UNKNOWN);
    qs_keyset_destroy(&set);
    qs_sitedb_destroy(&other);
    qs_sitedb_destroy(&db);
    QS_CHECK(db == NULL && set == NULL);
}

static void
test_sitedb_policy_versions(void)
{
    char err[512];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 0, err, sizeof err);
    qs_policy_t p, back;
    int configured = 1;
    int64_t version = 0;

    QS_CHECK(qs_sitedb_policy_get(db, &back, &configured, &version) == 0);
    QS_CHECK_EQ_INT(configured, 0);
    qs_policy_defaults(&p);
    p.max_age_days = 30;
    p.k = 3;
    p.collect_user_names = 1;
    p.time_precision_ms = 3600000;
    QS_CHECK(qs_policy_set_topic_age(&p, 500, 10) == 0);
    QS_CHECK(qs_policy_set_topic_age(&p, 12345, 10) != 0);   /* unknown topic */
    QS_CHECK(qs_sitedb_policy_put(db, &p, "officer", 10, &version, err, sizeof err) == 0);
    QS_CHECK(qs_sitedb_policy_get(db, &back, &configured, &version) == 0);
    QS_CHECK_EQ_INT(configured, 1);
    QS_CHECK_EQ_INT(version, 1);
    QS_CHECK_EQ_INT(back.max_age_days, 30);
    QS_CHECK_EQ_INT(qs_policy_max_age_days(&back, 500), 10);
    QS_CHECK_EQ_INT(qs_policy_max_age_days(&back, 301), 30);
    QS_CHECK_EQ_INT(back.k, 3);
    QS_CHECK_EQ_INT(back.collect_user_names, 1);
    QS_CHECK_EQ_INT(back.time_precision_ms, 3600000);
    qs_sitedb_destroy(&db);
}

static void
test_policy_json_rejects_bad_fields(void)
{
    qs_policy_t p;
    char err[256];
    QS_CHECK(qs_policy_from_json(&p, "{\"k\": 0}", err, sizeof err) != 0);
    QS_CHECK(strstr(err, "'k'") != NULL);
    QS_CHECK(qs_policy_from_json(&p, "{\"max_age_days\": 1.5}", err, sizeof err) != 0);
    QS_CHECK(qs_policy_from_json(&p, "{\"colour\": 1}", err, sizeof err) != 0);
    QS_CHECK(strstr(err, "colour") != NULL);
    QS_CHECK(qs_policy_from_json(&p, "{\"topic_max_age_days\": {\"999\": 3}}", err,
                                 sizeof err) != 0);
    QS_CHECK(qs_policy_from_json(&p, "[1,2]", err, sizeof err) != 0);
    QS_CHECK(qs_policy_from_json(&p, "{\"time_precision\": \"hour\"}", err, sizeof err) == 0);
    QS_CHECK_EQ_INT(p.time_precision_ms, 3600000);
}

static void
append(qs_sitedb_t *db, int i)
{
    char err[256], detail[64];
    snprintf(detail, sizeof detail, "{\"n\": %d}", i);
    QS_CHECK(qs_audit_append(db, audit_key, head_path, 1000 + i, "officer", "policy.set",
                             detail, err, sizeof err) == 0);
}

static int
verify(qs_sitedb_t *db, int64_t *bad)
{
    char finding[256] = "";
    return qs_audit_verify(db, audit_key, head_path, bad, finding, sizeof finding);
}

static void
test_audit_detects_edit_removal_and_truncation(void)
{
    char err[512];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 0, err, sizeof err);
    sqlite3 *s = qs_sitedb_sqlite(db);
    int64_t bad = 0;

    for (int i = 1; i <= 5; i++)
        append(db, i);
    QS_CHECK_EQ_INT(verify(db, &bad), 0);

    QS_CHECK(sqlite3_exec(s, "UPDATE audit SET detail='{\"n\": 99}' WHERE seq=3", 0, 0, 0) == 0);
    QS_CHECK_EQ_INT(verify(db, &bad), 1);
    QS_CHECK_EQ_INT(bad, 3);
    QS_CHECK(sqlite3_exec(s, "UPDATE audit SET detail='{\"n\": 3}' WHERE seq=3", 0, 0, 0) == 0);
    QS_CHECK_EQ_INT(verify(db, &bad), 0);

    /* Reorder: swap entries 2 and 3 (their seq numbers). */
    QS_CHECK(sqlite3_exec(s, "UPDATE audit SET seq = 100 WHERE seq = 2;"
                             "UPDATE audit SET seq = 2 WHERE seq = 3;"
                             "UPDATE audit SET seq = 3 WHERE seq = 100", 0, 0, 0) == 0);
    QS_CHECK_EQ_INT(verify(db, &bad), 1);
    QS_CHECK_EQ_INT(bad, 2);
    QS_CHECK(sqlite3_exec(s, "UPDATE audit SET seq = 100 WHERE seq = 2;"
                             "UPDATE audit SET seq = 2 WHERE seq = 3;"
                             "UPDATE audit SET seq = 3 WHERE seq = 100", 0, 0, 0) == 0);
    QS_CHECK_EQ_INT(verify(db, &bad), 0);

    /* The head must exist once the log has entries. */
    {
        char saved[256] = "";
        FILE *f = fopen(head_path, "r");
        QS_CHECK(f != NULL && fgets(saved, sizeof saved, f) != NULL);
        if (f)
            fclose(f);
        QS_CHECK(unlink(head_path) == 0);
        QS_CHECK_EQ_INT(verify(db, &bad), 1);
        f = fopen(head_path, "w");
        QS_CHECK(f != NULL);
        if (f) {
            fputs(saved, f);
            fclose(f);
        }
        QS_CHECK_EQ_INT(verify(db, &bad), 0);
    }
    /* Inside a transaction the head waits for the commit. */
    QS_CHECK(qs_sitedb_begin(db) == 0);
    append(db, 6);
    qs_sitedb_rollback(db);
    QS_CHECK_EQ_INT(verify(db, &bad), 0);

    QS_CHECK(sqlite3_exec(s, "DELETE FROM audit WHERE seq=5", 0, 0, 0) == 0);
    QS_CHECK_EQ_INT(verify(db, &bad), 1);     /* tail removal: the head says 5 */
    QS_CHECK_EQ_INT(bad, 5);

    QS_CHECK(sqlite3_exec(s, "DELETE FROM audit WHERE seq=2", 0, 0, 0) == 0);
    QS_CHECK_EQ_INT(verify(db, &bad), 1);
    QS_CHECK_EQ_INT(bad, 2);
    qs_sitedb_destroy(&db);
}

static void
test_config_parse_errors_name_the_key(void)
{
    qs_config_t cfg;
    char err[256], text[2048];

    QS_CHECK(qs_config_parse(&cfg, "[broker]\nfronted = tcp://127.0.0.1:1\n", err,
                             sizeof err) != 0);
    QS_CHECK(strstr(err, "fronted") != NULL);
    QS_CHECK(qs_config_parse(&cfg, "[retention]\ninterval_seconds = soon\n", err,
                             sizeof err) != 0);
    QS_CHECK(strstr(err, "interval_seconds") != NULL);
    QS_CHECK(qs_config_parse(&cfg, "[broker]\nfrontend = http://x\n", err, sizeof err) != 0);
    qs_config_defaults(&cfg);
    QS_CHECK(strncmp(cfg.frontend, "tcp://127.0.0.1:", 16) == 0);   /* loopback default */
    cfg.retention_interval_s = 77;
    QS_CHECK(qs_config_format(text, sizeof text, &cfg) == 0);
    QS_CHECK(qs_config_parse(&cfg, text, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(cfg.retention_interval_s, 77);
}

static void
test_clock_iso8601_utc_only(void)
{
    int64_t ms = 0;
    char buf[32];
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-11-25T12:00:00Z") == 0);
    QS_CHECK_EQ_INT(ms, 1795608000000LL);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-11-25T12:00:00.250Z") == 0);
    QS_CHECK_EQ_INT(ms, 1795608000250LL);
    QS_CHECK(qs_time_format_iso8601(buf, sizeof buf, ms, 1) == 0);
    QS_CHECK_STR(buf, "2026-11-25T12:00:00.250Z");
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-11-25T12:00:00+02:00") != 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-11-25 12:00:00Z") != 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2026-02-30T00:00:00Z") != 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2025-02-29T00:00:00Z") != 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "2024-02-29T00:00:00Z") == 0);
    QS_CHECK(qs_time_parse_iso8601(&ms, "yesterday") != 0);
}

int
main(void)
{
    char err[256];
    if (sodium_init() < 0)
        return 2;
    qs_test_tmpdir(dir, sizeof dir, "sitedb");
    snprintf(db_path, sizeof db_path, "%s/site.db", dir);
    snprintf(head_path, sizeof head_path, "%s/audit.head", dir);
    randombytes_buf(audit_key, sizeof audit_key);
    (void)err;
    QS_RUN(test_sitedb_enroll_revoke_and_keyset);
    QS_RUN(test_sitedb_policy_versions);
    QS_RUN(test_policy_json_rejects_bad_fields);
    QS_RUN(test_audit_detects_edit_removal_and_truncation);
    QS_RUN(test_config_parse_errors_name_the_key);
    QS_RUN(test_clock_iso8601_utc_only);
    {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    return qs_test_summary();
}
