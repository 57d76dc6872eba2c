/* test_ctl_policy.c - qsctl policy set/show/history on real site directories.
 *
 * Proves the round trip (set -> show -> history) with per-topic ages, that
 * each set is one version plus one "policy.set" audit entry {"old","new",
 * "version"} with the right actor, that invalid input stores nothing, and
 * that an unchanged policy adds no version.
 */
#include "qs_audit.h"
#include "test_ctl.h"

static char dir[512], home[600];
static ctl_run_t run;

static cJSON *
json_of(const char *text)
{
    cJSON *doc = cJSON_Parse(text);
    QS_CHECK(doc != NULL);
    return doc;
}

static int
num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valueint : -999;
}

static const char *
str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "(missing)";
}

/* The detail of the last audit entry with this action, parsed (NULL if none). */
typedef struct {
    const char *action;
    cJSON *detail;
    char actor[64];
    int n;
} last_audit_t;

static int
find_audit(void *vctx, const qs_audit_entry_t *e)
{
    last_audit_t *ctx = vctx;
    if (strcmp(e->action, ctx->action) != 0)
        return 0;
    cJSON_Delete(ctx->detail);
    ctx->detail = cJSON_Parse(e->detail);
    snprintf(ctx->actor, sizeof ctx->actor, "%s", e->actor);
    ctx->n++;
    return 0;
}

static last_audit_t
last_audit(const char *action)
{
    char path[700], err[256];
    last_audit_t ctx = { action, NULL, "", 0 };
    qs_sitedb_t *db;

    snprintf(path, sizeof path, "%s/site.db", home);
    db = qs_sitedb_open(path, 0, err, sizeof err);
    QS_CHECK(db != NULL);
    QS_CHECK_EQ_INT(qs_audit_each(db, find_audit, &ctx), 0);
    qs_sitedb_destroy(&db);
    return ctx;
}

static void
test_policy_show_before_any_set_says_not_configured(void)
{
    ctl_test_site(dir, sizeof dir, home, sizeof home, "pn");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "show", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"configured\":false}\n");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "history", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"versions\":[]}\n");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "show", "--home", home,
                                 (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "no policy configured") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_policy_set_show_history_round_trip_with_topic_ages(void)
{
    cJSON *doc, *topics, *versions, *v1, *v2;
    last_audit_t a;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "pr");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home,
                                 "--max-age-days", "30", "--topic-type", "500",
                                 "--max-age-days", "7", "--topic-type", "501",
                                 "--max-age-days", "3", "--k", "10",
                                 "--collect-user-names", "yes", "--time-precision", "minute",
                                 "--as", "alice", (char *)NULL), 0);
    {
        char want[300];
        snprintf(want, sizeof want, "policy version 1 set by %s ", ctl_test_actor("alice"));
        QS_CHECK(strstr(run.out, want) != NULL);
    }

    /* show: the policy's own JSON plus version, set_utc, actor. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "show", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    doc = json_of(run.out);
    QS_CHECK_EQ_INT(num(doc, "max_age_days"), 30);
    topics = cJSON_GetObjectItemCaseSensitive(doc, "topic_max_age_days");
    QS_CHECK_EQ_INT(num(topics, "500"), 7);
    QS_CHECK_EQ_INT(num(topics, "501"), 3);
    QS_CHECK_EQ_INT(cJSON_GetArraySize(topics), 2);
    QS_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "collect_user_names")));
    QS_CHECK_EQ_INT(num(doc, "k"), 10);
    QS_CHECK_STR(str(doc, "time_precision"), "minute");
    QS_CHECK_EQ_INT(num(doc, "version"), 1);
    QS_CHECK_STR(str(doc, "actor"), ctl_test_actor("alice"));
    QS_CHECK_EQ_INT(strlen(str(doc, "set_utc")), 20);      /* 2026-01-01T00:00:00Z */
    QS_CHECK(str(doc, "set_utc")[19] == 'Z');
    QS_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "configured")));
    cJSON_Delete(doc);

    /* Second version: drop 500's own age, keep the rest; actor from $USER. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home,
                                 "--topic-type", "500", "--max-age-days", "0",
                                 (char *)NULL), 0);
    {
        char want[300];
        snprintf(want, sizeof want, "policy version 2 set by %s\n", ctl_test_actor(NULL));
        QS_CHECK(strstr(run.out, want) != NULL);
    }
    QS_CHECK(strstr(run.out, "topic_max_age_days  {\"500\":7,\"501\":3} -> {\"501\":3}") != NULL);

    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "history", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    doc = json_of(run.out);
    versions = cJSON_GetObjectItemCaseSensitive(doc, "versions");
    QS_CHECK_EQ_INT(cJSON_GetArraySize(versions), 2);
    v1 = cJSON_GetArrayItem(versions, 0);
    v2 = cJSON_GetArrayItem(versions, 1);
    QS_CHECK_EQ_INT(num(v1, "version"), 1);
    QS_CHECK_STR(str(v1, "actor"), ctl_test_actor("alice"));
    QS_CHECK_EQ_INT(num(cJSON_GetObjectItemCaseSensitive(v1, "topic_max_age_days"), "500"), 7);
    QS_CHECK_EQ_INT(num(v2, "version"), 2);
    QS_CHECK_STR(str(v2, "actor"), ctl_test_actor(NULL));
    QS_CHECK(cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetObjectItemCaseSensitive(v2, "topic_max_age_days"), "500") == NULL);
    QS_CHECK_EQ_INT(num(cJSON_GetObjectItemCaseSensitive(v2, "topic_max_age_days"), "501"), 3);
    QS_CHECK_EQ_INT(num(v2, "max_age_days"), 30);
    cJSON_Delete(doc);

    /* The table history lists both versions with their values. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "history", "--home", home,
                                 (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "500: 7, 501: 3") != NULL);
    QS_CHECK(strstr(run.out, ctl_test_actor("alice")) != NULL);

    /* The audit entry of version 2: {"old": v1, "new": v2, "version": 2}. */
    a = last_audit("policy.set");
    QS_CHECK_EQ_INT(a.n, 2);
    QS_CHECK_STR(a.actor, ctl_test_actor(NULL));
    QS_CHECK(a.detail != NULL);
    if (a.detail != NULL) {
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(a.detail, "old");
        const cJSON *new = cJSON_GetObjectItemCaseSensitive(a.detail, "new");
        QS_CHECK_EQ_INT(num(a.detail, "version"), 2);
        QS_CHECK_EQ_INT(num(cJSON_GetObjectItemCaseSensitive(old, "topic_max_age_days"),
                            "500"), 7);
        QS_CHECK(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(new, "topic_max_age_days"), "500") == NULL);
        QS_CHECK_EQ_INT(num(new, "k"), 10);
        QS_CHECK_EQ_INT(cJSON_GetArraySize(a.detail), 3);
    }
    cJSON_Delete(a.detail);
    ctl_test_rmrf(dir);
}

static void
test_policy_first_set_audits_old_as_null_and_sudo_user_beside_root(void)
{
    last_audit_t a;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "pf");
    setenv("SUDO_USER", "op-on-sudo", 1);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home,
                                 (char *)NULL), 0);
    unsetenv("SUDO_USER");
    a = last_audit("policy.set");
    QS_CHECK_EQ_INT(a.n, 1);
    if (geteuid() == 0) {        /* sudo's word is recorded beside root, marked as such */
        char want[300];
        snprintf(want, sizeof want, "%s (sudo op-on-sudo)", ctl_test_actor(NULL));
        QS_CHECK_STR(a.actor, want);
    } else {
        QS_CHECK_STR(a.actor, ctl_test_actor(NULL));
    }
    QS_CHECK(a.detail != NULL && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a.detail, "old")));
    QS_CHECK(a.detail != NULL && num(cJSON_GetObjectItemCaseSensitive(a.detail, "new"),
                                     "max_age_days") == 90);
    cJSON_Delete(a.detail);
    ctl_test_rmrf(dir);
}

static void
test_policy_set_without_change_adds_no_version(void)
{
    last_audit_t a;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "pu");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, "--k", "7",
                                 (char *)NULL), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, "--k", "7",
                                 (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "no change") != NULL);
    a = last_audit("policy.set");
    QS_CHECK_EQ_INT(a.n, 1);
    cJSON_Delete(a.detail);
    ctl_test_rmrf(dir);
}

static void
test_policy_set_rejects_bad_flags_and_stores_nothing(void)
{
    static const char *const bad[][4] = {
        { "--topic-type", "500", NULL, NULL },               /* age missing */
        { "--topic-type", "500", "--k", "3" },                /* age not right after */
        { "--topic-type", "999", "--max-age-days", "3" },     /* unknown topic type */
        { "--max-age-days", "0", NULL, NULL },                /* default must be >= 1 */
        { "--max-age-days", "36501", NULL, NULL },
        { "--max-age-days", "3x", NULL, NULL },
        { "--k", "0", NULL, NULL },
        { "--collect-user-names", "maybe", NULL, NULL },
        { "--time-precision", "week", NULL, NULL },
        { "--as", "", NULL, NULL },
        { "--as", "evil\nname", NULL, NULL },
        { "--bogus", NULL, NULL, NULL },
        { "extra", NULL, NULL, NULL },
    };
    last_audit_t a;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "pb");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, bad[i][0],
                              bad[i][1], bad[i][2], bad[i][3], (char *)NULL);
        if (rc != 2)
            fprintf(stderr, "  case %zu (%s %s): rc %d\n", i, bad[i][0],
                    bad[i][1] ? bad[i][1] : "", rc);
        QS_CHECK_EQ_INT(rc, 2);
        QS_CHECK(strstr(run.err, "qsctl policy set: ") == run.err);
        QS_CHECK_STR(run.out, "");
    }
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "frob", (char *)NULL), 2);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", (char *)NULL), 2);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "--help", (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "--topic-type T --max-age-days N") != NULL);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "show", "--home", home,
                                 "--format", "csv", (char *)NULL), 2);
    a = last_audit("policy.set");
    QS_CHECK_EQ_INT(a.n, 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "show", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"configured\":false}\n");
    ctl_test_rmrf(dir);
}

static void
test_policy_set_fails_cleanly_without_a_site(void)
{
    char missing[700];

    qs_test_tmpdir(dir, sizeof dir, "pm");
    snprintf(missing, sizeof missing, "%s/none", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", missing, "--k",
                                 "3", (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "does not exist") != NULL);
    QS_CHECK(strstr(run.err, "qsctl init --home") != NULL);
    /* No --home and no QS_HOME: a missing required option, a usage error. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "show", (char *)NULL), 2);
    QS_CHECK(strstr(run.err, "QS_HOME") != NULL);
    ctl_test_rmrf(dir);
    /* QS_HOME works in place of --home. */
    ctl_test_site(dir, sizeof dir, home, sizeof home, "ph");
    setenv("QS_HOME", home, 1);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--k", "4", (char *)NULL), 0);
    unsetenv("QS_HOME");
    ctl_test_rmrf(dir);
}

int
main(void)
{
    ctl_test_init();
    QS_RUN(test_policy_show_before_any_set_says_not_configured);
    QS_RUN(test_policy_set_show_history_round_trip_with_topic_ages);
    QS_RUN(test_policy_first_set_audits_old_as_null_and_sudo_user_beside_root);
    QS_RUN(test_policy_set_without_change_adds_no_version);
    QS_RUN(test_policy_set_rejects_bad_flags_and_stores_nothing);
    QS_RUN(test_policy_set_fails_cleanly_without_a_site);
    return qs_test_summary();
}
