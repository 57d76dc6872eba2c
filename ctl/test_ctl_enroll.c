/* test_ctl_enroll.c - qsctl enroll and revoke against a real site.
 *
 * The profile enroll writes must load with the producer's own reader, carry
 * the key enrolled in site.db, the config's frontend and the server keys,
 * and be 0600. Existing profile files are never overwritten, a name is
 * enrolled once until revoked, no raw name reaches site.db or the audit log,
 * and revoke marks the key so the daemons' key sets see it revoked.
 */
#include "qs_profile.h"
#include "qs_keyset.h"
#include "test_ctl.h"

#include <sys/stat.h>

static char dir[512], home[600];
static ctl_run_t run;

static qs_sitedb_t *
open_sitedb(void)
{
    char path[700], err[256];
    qs_sitedb_t *db;

    snprintf(path, sizeof path, "%s/site.db", home);
    db = qs_sitedb_open(path, 0, err, sizeof err);
    QS_CHECK(db != NULL);
    return db;
}

static qs_key_standing_t
standing_of(const uint8_t pk[QS_KEY_BYTES])
{
    qs_sitedb_t *db = open_sitedb();
    qs_keyset_t *set = qs_keyset_new();
    qs_key_standing_t s;

    QS_CHECK_EQ_INT(qs_sitedb_load_keyset(db, set), 0);
    s = qs_keyset_get(set, pk);
    qs_keyset_destroy(&set);
    qs_sitedb_destroy(&db);
    return s;
}

static void
test_enroll_writes_a_private_profile_the_producer_loads(void)
{
    char profile[700], err[512], pub[700];
    qs_profile_t *p;
    struct stat st;
    uint8_t broker_pk[QS_KEY_BYTES];

    ctl_test_site(dir, sizeof dir, home, sizeof home, "en");
    snprintf(profile, sizeof profile, "%s/pc-1.profile", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name",
                                 "PC-0001.corp", "--out", profile, (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "enrolled client 'PC-0001.corp'") != NULL);
    QS_CHECK(stat(profile, &st) == 0 && (st.st_mode & 07777) == 0600);
    p = qs_profile_load(profile, err, sizeof err);
    QS_CHECK(p != NULL);
    if (p != NULL) {
        QS_CHECK_STR(qs_profile_name(p), "PC-0001.corp");
        QS_CHECK_STR(qs_profile_endpoint(p), "tcp://127.0.0.1:5570");
        snprintf(pub, sizeof pub, "%s/keys/broker.pub", home);
        QS_CHECK_EQ_INT(qs_pubkey_load(broker_pk, pub, err, sizeof err), 0);
        QS_CHECK(memcmp(qs_profile_broker_pk(p), broker_pk, QS_KEY_BYTES) == 0);
        QS_CHECK_EQ_INT(standing_of(qs_keypair_public(qs_profile_keypair(p))),
                        QS_KEY_ENROLLED);
        qs_profile_destroy(&p);
    }
    /* Neither site.db nor its audit log holds the raw name. */
    snprintf(pub, sizeof pub, "%s/site.db", home);
    QS_CHECK(!qs_test_file_contains(pub, "PC-0001", strlen("PC-0001")));
    QS_CHECK(!qs_test_file_contains(pub, "pc-0001", strlen("pc-0001")));
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "show", "--home", home, "--format",
                                 "json", (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "\"action\":\"enroll\"") != NULL);
    QS_CHECK(strstr(run.out, "\"name_ps\":\"") != NULL);
    QS_CHECK(strstr(run.out, "PC-0001") == NULL);
    ctl_test_rmrf(dir);
}

static void
test_enroll_never_overwrites_a_profile(void)
{
    char profile[700], other[700], *before, *after;
    FILE *f;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "eo");
    snprintf(profile, sizeof profile, "%s/existing.profile", dir);
    f = fopen(profile, "w");
    QS_CHECK(f != NULL);
    if (f != NULL) {
        fputs("precious\n", f);
        fclose(f);
    }
    before = ctl_test_read(profile);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "a",
                                 "--out", profile, (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "already exists") != NULL);
    after = ctl_test_read(profile);
    QS_CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    free(before);
    free(after);
    /* Nothing was enrolled: the same name enrolls fine elsewhere. */
    snprintf(other, sizeof other, "%s/a.profile", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "a",
                                 "--out", other, (char *)NULL), 0);
    ctl_test_rmrf(dir);
}

static void
test_enroll_refuses_an_enrolled_name_until_it_is_revoked(void)
{
    char first[700], second[700], err[512];
    qs_profile_t *p1, *p2;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "ed");
    snprintf(first, sizeof first, "%s/1.profile", dir);
    snprintf(second, sizeof second, "%s/2.profile", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "Host",
                                 "--out", first, (char *)NULL), 0);
    /* Names match case-insensitively, like Windows machine names. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "HOST",
                                 "--out", second, (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "revoke it first") != NULL);
    QS_CHECK(access(second, F_OK) != 0);                 /* no stray profile */

    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_revoke, "revoke", "--home", home, "--name", "host",
                                 (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "revoked client 'host' (1 key") != NULL);
    p1 = qs_profile_load(first, err, sizeof err);
    QS_CHECK(p1 != NULL);
    if (p1 != NULL)
        QS_CHECK_EQ_INT(standing_of(qs_keypair_public(qs_profile_keypair(p1))),
                        QS_KEY_REVOKED);

    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "HOST",
                                 "--out", second, (char *)NULL), 0);
    p2 = qs_profile_load(second, err, sizeof err);
    QS_CHECK(p2 != NULL);
    if (p1 != NULL && p2 != NULL) {
        QS_CHECK(memcmp(qs_keypair_public(qs_profile_keypair(p1)),
                        qs_keypair_public(qs_profile_keypair(p2)), QS_KEY_BYTES) != 0);
        QS_CHECK_EQ_INT(standing_of(qs_keypair_public(qs_profile_keypair(p2))),
                        QS_KEY_ENROLLED);
    }
    qs_profile_destroy(&p1);
    qs_profile_destroy(&p2);
    ctl_test_rmrf(dir);
}

static void
test_revoke_fails_for_an_unknown_or_revoked_name(void)
{
    char profile[700];
    int revokes = 0;
    char *p;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "ru");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_revoke, "revoke", "--home", home, "--name", "ghost",
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "no enrolled, unrevoked client is named 'ghost'") != NULL);
    snprintf(profile, sizeof profile, "%s/x.profile", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "x",
                                 "--out", profile, (char *)NULL), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_revoke, "revoke", "--home", home, "--name", "x",
                                 (char *)NULL), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_revoke, "revoke", "--home", home, "--name", "x",
                                 (char *)NULL), 1);
    /* Exactly one revoke entry in the audit log, and the chain holds. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "show", "--home", home, "--format",
                                 "json", (char *)NULL), 0);
    for (p = run.out; (p = strstr(p, "\"action\":\"revoke\"")) != NULL; p++)
        revokes++;
    QS_CHECK_EQ_INT(revokes, 1);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_audit, "audit", "verify", "--home", home,
                                 (char *)NULL), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_revoke, "revoke", "--home", home, (char *)NULL), 2);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_revoke, "revoke", "--home", home, "--name", " x",
                                 (char *)NULL), 2);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "y",
                                 (char *)NULL), 2);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "y\tz",
                                 "--out", profile, (char *)NULL), 2);
    ctl_test_rmrf(dir);
}

int
main(void)
{
    ctl_test_init();
    QS_RUN(test_enroll_writes_a_private_profile_the_producer_loads);
    QS_RUN(test_enroll_never_overwrites_a_profile);
    QS_RUN(test_enroll_refuses_an_enrolled_name_until_it_is_revoked);
    QS_RUN(test_revoke_fails_for_an_unknown_or_revoked_name);
    return qs_test_summary();
}
