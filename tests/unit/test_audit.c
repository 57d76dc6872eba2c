/* test_audit.c - audit.c: the audited transaction (change and entry commit
 * together, the head follows the commit), the one-entry record, and the
 * chain's tamper detection (edit, reorder, removal, truncation, lost head). */
#include "qs_audit.h"
#include "qs_fsutil.h"
#include "qs_sitedb.h"
#include "qs_test.h"

#include <sodium.h>
#include <unistd.h>

static char dir[256], db_path[512], head_path[512];
static uint8_t audit_key[32];

static char *
read_head(void)
{
    char *text = NULL, err[256];
    size_t len;

    if (qs_fs_read_small(&text, &len, head_path, 256, 0, err, sizeof err) != 0)
        return NULL;
    return text;
}

static void
append(qs_sitedb_t *db, int i)
{
    char err[256], detail[64];
    snprintf(detail, sizeof detail, "{\"n\": %d}", i);
    QS_CHECK(qs_audit_record(db, audit_key, head_path, 1000 + i, "officer", "policy.set",
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
    qs_sitedb_t *db = qs_sitedb_open(db_path, 1, err, sizeof err);
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
    {
        qs_audit_tx_t *tx = qs_audit_tx_begin(db, audit_key, head_path, err, sizeof err);
        QS_CHECK(tx != NULL);
        QS_CHECK_EQ_INT(qs_audit_tx_append(tx, 1006, "officer", "policy.set", "{}", err,
                                           sizeof err), 0);
        qs_audit_tx_rollback(&tx);
        QS_CHECK(tx == NULL);
    }
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
test_audit_tx_commits_the_change_with_its_entry(void)
{
    char err[512], *before, *after;
    qs_sitedb_t *db;
    qs_audit_tx_t *tx;
    qs_policy_t p;
    int64_t version = 0, entries = 0, bad = 0;
    int configured = 0;

    snprintf(db_path, sizeof db_path, "%s/tx.db", dir);
    snprintf(head_path, sizeof head_path, "%s/tx.head", dir);
    db = qs_sitedb_open(db_path, 1, err, sizeof err);
    QS_CHECK(db != NULL);
    QS_CHECK_STR(qs_sitedb_path(db), db_path);
    /* A rolled-back change leaves neither the change, nor an entry, nor a head. */
    tx = qs_audit_tx_begin(db, audit_key, head_path, err, sizeof err);
    QS_CHECK(tx != NULL);
    qs_policy_defaults(&p);
    QS_CHECK_EQ_INT(qs_sitedb_policy_put(db, &p, "officer", 5, &version, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_audit_tx_append(tx, 5, "officer", "policy.set", "{\"v\":1}", err,
                                       sizeof err), 0);
    qs_audit_tx_rollback(&tx);
    QS_CHECK(tx == NULL);
    qs_audit_tx_rollback(&tx);   /* no-op on NULL */
    QS_CHECK_EQ_INT(qs_sitedb_policy_get(db, &p, &configured, &version), 0);
    QS_CHECK_EQ_INT(configured, 0);
    QS_CHECK(access(head_path, F_OK) != 0);
    QS_CHECK_EQ_INT(qs_audit_check(db, audit_key, head_path, &entries, &bad, err, sizeof err), 0);
    QS_CHECK_EQ_INT(entries, 0);
    /* Committed: the change, the entry, and a head naming it. */
    tx = qs_audit_tx_begin(db, audit_key, head_path, err, sizeof err);
    QS_CHECK(tx != NULL);
    QS_CHECK_EQ_INT(qs_sitedb_policy_put(db, &p, "officer", 6, &version, err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_audit_tx_append(tx, 6, "officer", "policy.set", "{\"v\":1}", err,
                                       sizeof err), 0);
    QS_CHECK(access(head_path, F_OK) != 0);   /* not before the COMMIT */
    QS_CHECK_EQ_INT(qs_audit_tx_commit(&tx, err, sizeof err), 0);
    QS_CHECK(tx == NULL);
    before = read_head();
    QS_CHECK(before != NULL && strncmp(before, "1 ", 2) == 0);
    QS_CHECK_EQ_INT(qs_sitedb_policy_get(db, &p, &configured, &version), 0);
    QS_CHECK_EQ_INT(configured, 1);
    QS_CHECK_EQ_INT(qs_audit_check(db, audit_key, head_path, &entries, &bad, err, sizeof err), 0);
    QS_CHECK_EQ_INT(entries, 1);
    /* A COMMIT that fails (deferred foreign key) changes nothing, head included. */
    QS_CHECK(sqlite3_exec(qs_sitedb_sqlite(db),
                          "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                          "CREATE TABLE child(pid INTEGER REFERENCES parent(id) "
                          "DEFERRABLE INITIALLY DEFERRED);"
                          "CREATE TRIGGER break AFTER INSERT ON audit BEGIN "
                          "INSERT INTO child VALUES (1); END;", 0, 0, 0) == 0);
    tx = qs_audit_tx_begin(db, audit_key, head_path, err, sizeof err);
    QS_CHECK(tx != NULL);
    QS_CHECK_EQ_INT(qs_audit_tx_append(tx, 7, "officer", "enroll", "{}", err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_audit_tx_commit(&tx, err, sizeof err), -1);
    QS_CHECK(tx == NULL);
    QS_CHECK(strstr(err, "cannot commit to") != NULL && strstr(err, "nothing was changed"));
    after = read_head();
    QS_CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    QS_CHECK_EQ_INT(qs_audit_check(db, audit_key, head_path, &entries, &bad, err, sizeof err), 0);
    QS_CHECK_EQ_INT(entries, 1);
    free(before);
    free(after);
    qs_sitedb_destroy(&db);
}

static void
test_audit_record_refuses_a_locked_database(void)
{
    char err[512];
    qs_sitedb_t *a, *b;
    int64_t entries = 0, bad = 0;

    snprintf(db_path, sizeof db_path, "%s/lock.db", dir);
    snprintf(head_path, sizeof head_path, "%s/lock.head", dir);
    a = qs_sitedb_open(db_path, 1, err, sizeof err);
    b = qs_sitedb_open(db_path, 0, err, sizeof err);
    QS_CHECK(a != NULL && b != NULL);
    QS_CHECK_EQ_INT(qs_audit_record(a, audit_key, head_path, 1, "retention", "retention.pass",
                                    "{}", err, sizeof err), 0);
    QS_CHECK(sqlite3_busy_timeout(qs_sitedb_sqlite(b), 0) == SQLITE_OK);
    QS_CHECK_EQ_INT(qs_sitedb_begin(a), 0);
    QS_CHECK_EQ_INT(qs_audit_record(b, audit_key, head_path, 2, "retention", "retention.pass",
                                    "{}", err, sizeof err), -1);
    QS_CHECK(strstr(err, "cannot start a transaction") != NULL);
    qs_sitedb_rollback(a);
    QS_CHECK_EQ_INT(qs_audit_check(b, audit_key, head_path, &entries, &bad, err, sizeof err), 0);
    QS_CHECK_EQ_INT(entries, 1);
    /* Another key cannot produce a chain this key accepts. */
    {
        uint8_t other[32];
        memcpy(other, audit_key, sizeof other);
        other[0] ^= 1;
        QS_CHECK_EQ_INT(qs_audit_check(b, other, head_path, &entries, &bad, err, sizeof err), 1);
        QS_CHECK_EQ_INT(bad, 1);
    }
    qs_sitedb_destroy(&a);
    qs_sitedb_destroy(&b);
}

int
main(void)
{
    char cmd[512];

    if (sodium_init() < 0)
        return 2;
    qs_test_tmpdir(dir, sizeof dir, "audit");
    snprintf(db_path, sizeof db_path, "%s/site.db", dir);
    snprintf(head_path, sizeof head_path, "%s/audit.head", dir);
    randombytes_buf(audit_key, sizeof audit_key);
    QS_RUN(test_audit_detects_edit_removal_and_truncation);
    QS_RUN(test_audit_tx_commits_the_change_with_its_entry);
    QS_RUN(test_audit_record_refuses_a_locked_database);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return qs_test_summary();
}
