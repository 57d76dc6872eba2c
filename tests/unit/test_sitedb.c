/* test_sitedb.c - site.db: enrollment rules, revocation, change detection,
 * policy versions, read transactions, paths and messages. (The audit chain,
 * policy JSON, config and clock have their own test files.) */
#include "qs_audit.h"
#include "qs_log.h"
#include "qs_sitedb.h"
#include "qs_test.h"

#include <sodium.h>
#include <unistd.h>

static char dir[256], db_path[512];

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
test_sitedb_audit_entries_at_a_path(void)
{
    char err[512], path[600], junk[600];
    uint8_t key[32] = { 3 };
    qs_sitedb_t *db;
    int64_t n = -1;

    snprintf(path, sizeof path, "%s/count.db", dir);
    QS_CHECK_EQ_INT(qs_sitedb_audit_entries(&n, path, err, sizeof err), 0);   /* no file */
    QS_CHECK_EQ_INT(n, 0);
    db = qs_sitedb_open(path, 1, err, sizeof err);
    QS_CHECK(db != NULL);
    QS_CHECK_STR(qs_sitedb_path(db), path);
    QS_CHECK_EQ_INT(qs_sitedb_begin_read(db), 0);
    QS_CHECK_EQ_INT(qs_sitedb_commit(db), 0);
    QS_CHECK_EQ_INT(qs_sitedb_audit_entries(&n, path, err, sizeof err), 0);
    QS_CHECK_EQ_INT(n, 0);
    snprintf(junk, sizeof junk, "%s/count.head", dir);
    QS_CHECK_EQ_INT(qs_audit_record(db, key, junk, 1, "a", "init", "{}", err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_audit_record(db, key, junk, 2, "a", "enroll", "{}", err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_sitedb_audit_entries(&n, path, err, sizeof err), 0);
    QS_CHECK_EQ_INT(n, 2);
    qs_sitedb_destroy(&db);
    /* Not a database: an error with the database's reason. */
    snprintf(junk, sizeof junk, "%s/junk.db", dir);
    {
        FILE *f = fopen(junk, "w");
        QS_CHECK(f != NULL);
        if (f != NULL) {
            fputs("this is not a database, not even close; it is long enough", f);
            fclose(f);
        }
    }
    QS_CHECK_EQ_INT(qs_sitedb_audit_entries(&n, junk, err, sizeof err), -1);
    QS_CHECK(err[0] != '\0');
}

static void
column_seen(void *ctx, const char *table, const char *column, const char *type)
{
    char *seen = ctx;
    size_t len = strlen(seen);

    snprintf(seen + len, 256 - len, "%s.%s:%s;", table, column, type);
}

static void
test_sitedb_checks_for_verify_see_text_columns_and_client_names(void)
{
    char err[512], seen[256] = "", path[600];
    qs_sitedb_t *db;
    uint8_t pk[32], ps[16];
    int64_t bad = -1;

    snprintf(path, sizeof path, "%s/check.db", dir);
    db = qs_sitedb_open(path, 1, err, sizeof err);
    QS_ASSERT(db != NULL);
    /* The schema's text columns all hold text by design: nothing reported. */
    QS_CHECK_EQ_INT(qs_sitedb_check_text_columns(db, column_seen, seen, err, sizeof err), 0);
    QS_CHECK_STR(seen, "");
    randombytes_buf(pk, sizeof pk);
    name_ps(ps, "ws-check");
    QS_CHECK_EQ_INT(qs_sitedb_enroll(db, ps, pk, 1000, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_sitedb_check_client_names(db, &bad, err, sizeof err), 0);
    QS_CHECK_EQ_INT(bad, 0);
    /* What a foreign writer could leave: a name column, a name in clear. */
    QS_CHECK(sqlite3_exec(qs_sitedb_sqlite(db), "ALTER TABLE clients ADD COLUMN name TEXT; "
                          "UPDATE clients SET name_ps = 'ws-check'", NULL, NULL, NULL) == SQLITE_OK);
    QS_CHECK_EQ_INT(qs_sitedb_check_text_columns(db, column_seen, seen, err, sizeof err), 0);
    QS_CHECK_STR(seen, "clients.name:TEXT;");
    QS_CHECK_EQ_INT(qs_sitedb_check_client_names(db, &bad, err, sizeof err), 0);
    QS_CHECK_EQ_INT(bad, 1);
    /* A failing read says why. */
    QS_CHECK(sqlite3_exec(qs_sitedb_sqlite(db), "DROP TABLE clients", NULL, NULL, NULL) ==
             SQLITE_OK);
    QS_CHECK_EQ_INT(qs_sitedb_check_client_names(db, &bad, err, sizeof err), -1);
    QS_CHECK(strstr(err, "no such table") != NULL);
    qs_sitedb_destroy(&db);
}

/* A site.db of the first release (clients without machine_ps) gets the
 * column on open; a key bound to a machine carries it into the keyset;
 * one unrevoked key per machine; the machine of a name is found for
 * --replace. */
static void
test_sitedb_binds_keys_to_machines(void)
{
    char err[512], path[600];
    uint8_t pk1[32], pk2[32], pk3[32], ps[16], m1[16], m2[16], got[16];
    qs_keyset_t *set = qs_keyset_new();
    qs_sitedb_t *db;
    sqlite3 *raw = NULL;
    int bound = 0, n = 0;

    snprintf(path, sizeof path, "%s/old-site.db", dir);
    QS_CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
    QS_CHECK(sqlite3_exec(raw, "CREATE TABLE clients(pk BLOB PRIMARY KEY, name_ps BLOB NOT NULL,"
                          " enrolled_ms INTEGER NOT NULL, revoked_ms INTEGER)",
                          NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(raw);
    db = qs_sitedb_open(path, 0, err, sizeof err);
    QS_CHECK(db != NULL);
    randombytes_buf(pk1, 32);
    randombytes_buf(pk2, 32);
    randombytes_buf(pk3, 32);
    randombytes_buf(m1, 16);
    randombytes_buf(m2, 16);
    name_ps(ps, "client-a");
    QS_CHECK(qs_sitedb_enroll(db, ps, pk1, 1, err, sizeof err) == 0);
    QS_CHECK(qs_sitedb_bind_machine(db, pk1, m1, err, sizeof err) == 0);
    QS_CHECK(qs_sitedb_machine_of_name(got, &bound, db, ps) == 0 && bound == 1);
    QS_CHECK(memcmp(got, m1, 16) == 0);
    /* Another unrevoked key may not take the machine. */
    {
        uint8_t ps2[16];
        name_ps(ps2, "client-b");
        QS_CHECK(qs_sitedb_enroll(db, ps2, pk2, 2, err, sizeof err) == 0);
        QS_CHECK(qs_sitedb_bind_machine(db, pk2, m1, err, sizeof err) != 0);
        QS_CHECK(strstr(err, "already bound") != NULL);
        QS_CHECK(qs_sitedb_bind_machine(db, pk2, m2, err, sizeof err) == 0);
    }
    /* Once revoked, it may. */
    QS_CHECK(qs_sitedb_revoke(db, ps, 3, &n) == 0 && n == 1);
    QS_CHECK(qs_sitedb_machine_of_name(got, &bound, db, ps) == 0 && bound == 0);
    QS_CHECK(qs_sitedb_enroll(db, ps, pk3, 4, err, sizeof err) == 0);
    QS_CHECK(qs_sitedb_bind_machine(db, pk3, m1, err, sizeof err) == 0);
    QS_CHECK(qs_sitedb_load_keyset(db, set) == 0);
    QS_CHECK(qs_keyset_machine(set, pk1) != NULL && memcmp(qs_keyset_machine(set, pk1), m1, 16) == 0);
    QS_CHECK(qs_keyset_machine(set, pk2) != NULL && memcmp(qs_keyset_machine(set, pk2), m2, 16) == 0);
    QS_CHECK(qs_keyset_machine(set, pk3) != NULL && memcmp(qs_keyset_machine(set, pk3), m1, 16) == 0);
    randombytes_buf(pk1, 32);
    QS_CHECK(qs_keyset_machine(set, pk1) == NULL);
    qs_keyset_destroy(&set);
    qs_sitedb_destroy(&db);
    unlink(path);
}

int
main(void)
{
    char err[256];
    if (sodium_init() < 0)
        return 2;
    qs_test_tmpdir(dir, sizeof dir, "sitedb");
    snprintf(db_path, sizeof db_path, "%s/site.db", dir);
    (void)err;
    QS_RUN(test_sitedb_enroll_revoke_and_keyset);
    QS_RUN(test_sitedb_binds_keys_to_machines);
    QS_RUN(test_sitedb_policy_versions);
    QS_RUN(test_sitedb_audit_entries_at_a_path);
    QS_RUN(test_sitedb_checks_for_verify_see_text_columns_and_client_names);
    {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    return qs_test_summary();
}
