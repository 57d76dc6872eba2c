/* test_ctl_audit.c - qsctl audit show/verify, and audited transactions.
 *
 * Tampering is done the way an intruder with file access would: plain SQL
 * on site.db (UPDATE, DELETE) or removing DIR/audit.head. verify must exit 1
 * and name the entry. A change whose audit append or commit fails must leave
 * neither the change nor a head that runs ahead of the log.
 */
#include "test_ctl.h"

#include <sys/stat.h>

static char dir[512], home[600];
static ctl_run_t run;

static void
site_with_entries(const char *tag)
{
    ctl_test_site(dir, sizeof dir, home, sizeof home, tag);                 /* 1 init */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, "--k", "3",
                                 "--as", "alice", (char *)NULL), 0);        /* 2 */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, "--k", "4",
                                 "--as", "bob", (char *)NULL), 0);          /* 3 */
}

static void
sql(const char *statement)
{
    sqlite3 *db = ctl_test_sqlite(home, "site.db");
    ctl_test_exec(db, statement);
    sqlite3_close(db);
}

static void
test_audit_verify_passes_on_an_intact_log(void)
{
    site_with_entries("av");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 0);
    QS_CHECK_STR(run.out, "audit log intact: 3 entries\n");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"intact\":true,\"entries\":3}\n");
    ctl_test_rmrf(dir);
}

static void
test_audit_verify_names_an_edited_entry(void)
{
    site_with_entries("ae");
    sql("UPDATE audit SET detail = '{\"k\":1}' WHERE seq = 2");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "entry 2") != NULL);
    QS_CHECK(strstr(run.err, "tampered") != NULL);
    QS_CHECK_STR(run.out, "");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 "--format", "json", (char *)NULL), 1);
    QS_CHECK(strncmp(run.out, "{\"intact\":false,\"bad_seq\":2,\"finding\":\"entry 2: ", 48) == 0);
    ctl_test_rmrf(dir);
}

static void
test_audit_verify_names_an_edited_actor(void)
{
    site_with_entries("aa");
    sql("UPDATE audit SET actor = 'mallory' WHERE seq = 3");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "entry 3") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_audit_verify_detects_removed_entries(void)
{
    site_with_entries("ar");
    sql("DELETE FROM audit WHERE seq = 3");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "entry 3") != NULL);
    ctl_test_rmrf(dir);

    site_with_entries("am");
    sql("DELETE FROM audit WHERE seq = 2");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "entry 2") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_audit_verify_refuses_a_missing_head(void)
{
    char head[700];

    site_with_entries("ah");
    snprintf(head, sizeof head, "%s/audit.head", home);
    QS_CHECK_EQ_INT(unlink(head), 0);
    sql("DELETE FROM audit WHERE seq = 3");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "head file is missing") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_audit_show_lists_every_entry(void)
{
    cJSON *doc, *entries, *e;
    int seq = 0;

    site_with_entries("as");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "show", "--home", home, "--format",
                                 "json", (char *)NULL), 0);
    doc = cJSON_Parse(run.out);
    QS_CHECK(doc != NULL);
    entries = cJSON_GetObjectItemCaseSensitive(doc, "entries");
    QS_CHECK_EQ_INT(cJSON_GetArraySize(entries), 3);
    cJSON_ArrayForEach(e, entries) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "time_utc");
        QS_CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(e, "seq")->valueint, ++seq);
        QS_CHECK(cJSON_IsString(t) && strlen(t->valuestring) == 24 && t->valuestring[23] == 'Z');
        QS_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "actor")));
        QS_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "action")));
        QS_CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(e, "detail")));
        QS_CHECK_EQ_INT(cJSON_GetArraySize(e), 5);
    }
    e = cJSON_GetArrayItem(entries, 0);
    QS_CHECK_STR(cJSON_GetObjectItemCaseSensitive(e, "action")->valuestring, "init");
    QS_CHECK_STR(cJSON_GetObjectItemCaseSensitive(e, "actor")->valuestring, ctl_test_actor(NULL));
    e = cJSON_GetArrayItem(entries, 2);
    QS_CHECK_STR(cJSON_GetObjectItemCaseSensitive(e, "action")->valuestring, "policy.set");
    QS_CHECK_STR(cJSON_GetObjectItemCaseSensitive(e, "actor")->valuestring, ctl_test_actor("bob"));
    cJSON_Delete(doc);

    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "show", "--home", home,
                                 (char *)NULL), 0);
    QS_CHECK(strncmp(run.out, "SEQ  TIME_UTC", 13) == 0);
    QS_CHECK(strstr(run.out, "  3  ") != NULL && strstr(run.out, "policy.set") != NULL);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "list", "--home", home,
                                 (char *)NULL), 2);
    ctl_test_rmrf(dir);
}

static void
test_failed_audit_append_stores_no_policy(void)
{
    char head[700], *before, *after;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "af");
    snprintf(head, sizeof head, "%s/audit.head", home);
    before = ctl_test_read(head);
    sql("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN "
        "SELECT RAISE(ABORT, 'audit is read-only'); END");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, "--k", "3",
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "audit") != NULL);
    sql("DROP TRIGGER no_audit");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "history", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"versions\":[]}\n");
    after = ctl_test_read(head);
    QS_CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    free(before);
    free(after);
    ctl_test_rmrf(dir);
}

static void
test_failed_commit_restores_the_audit_head(void)
{
    char head[700], *before, *after;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "ac");
    snprintf(head, sizeof head, "%s/audit.head", home);
    before = ctl_test_read(head);
    /* A deferred foreign-key violation made by the audit insert: the append
     * succeeds (and rewrites the head), the COMMIT then fails. */
    sql("CREATE TABLE parent(id INTEGER PRIMARY KEY);"
        "CREATE TABLE child(pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
        "CREATE TRIGGER break_commit AFTER INSERT ON audit BEGIN "
        "INSERT INTO child VALUES (42); END;");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, "--k", "3",
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "cannot commit") != NULL);
    after = ctl_test_read(head);
    QS_CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    sql("DROP TRIGGER break_commit");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 0);
    QS_CHECK_STR(run.out, "audit log intact: 1 entries\n");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "history", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"versions\":[]}\n");
    free(before);
    free(after);
    ctl_test_rmrf(dir);
}

static void
test_audit_verify_refuses_a_readable_audit_key(void)
{
    char key[700];

    ctl_test_site(dir, sizeof dir, home, sizeof home, "ak");
    snprintf(key, sizeof key, "%s/keys/audit.key", home);
    QS_CHECK_EQ_INT(chmod(key, 0644), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "chmod 600") != NULL);
    ctl_test_rmrf(dir);
}

int
main(void)
{
    ctl_test_init();
    QS_RUN(test_audit_verify_passes_on_an_intact_log);
    QS_RUN(test_audit_verify_names_an_edited_entry);
    QS_RUN(test_audit_verify_names_an_edited_actor);
    QS_RUN(test_audit_verify_detects_removed_entries);
    QS_RUN(test_audit_verify_refuses_a_missing_head);
    QS_RUN(test_audit_show_lists_every_entry);
    QS_RUN(test_failed_audit_append_stores_no_policy);
    QS_RUN(test_failed_commit_restores_the_audit_head);
    QS_RUN(test_audit_verify_refuses_a_readable_audit_key);
    return qs_test_summary();
}
