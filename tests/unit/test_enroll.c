/* test_enroll.c - enroll.c: a key under its name's pseudonym, take-over of a
 * name, and the whole client enrollment (profile, audit entry) all or nothing. */
#include "qs_audit.h"
#include "qs_enroll.h"
#include "qs_hex.h"
#include "qs_keys.h"
#include "qs_profile.h"
#include "qs_test.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256], db_path[512], head_path[512];
static uint8_t site_key[32], audit_key[32], broker_pk[32], store_pk[32];

typedef struct {
    int n;
    char action[32], detail[128];
} last_entry_t;

static int
last_entry(void *vctx, const qs_audit_entry_t *e)
{
    last_entry_t *l = vctx;
    l->n++;
    snprintf(l->action, sizeof l->action, "%s", e->action);
    snprintf(l->detail, sizeof l->detail, "%s", e->detail);
    return 0;
}

static void
test_enroll_key_uses_the_name_pseudonym_and_can_take_over(void)
{
    char err[512];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 1, err, sizeof err);
    qs_keyset_t *set = qs_keyset_new();
    uint8_t pk1[32], pk2[32], ps[16], want[16];
    int replaced = -1;

    randombytes_buf(pk1, sizeof pk1);
    randombytes_buf(pk2, sizeof pk2);
    QS_CHECK(db != NULL);
    QS_CHECK_EQ_INT(qs_enroll_key(ps, &replaced, db, site_key, "sim-00001", pk1, 1, 0, err,
                                  sizeof err), 0);
    QS_CHECK_EQ_INT(replaced, 0);
    qs_pseudonym(want, site_key, QS_PSEUDO_CLIENT, "SIM-00001");   /* case-insensitive */
    QS_CHECK(memcmp(ps, want, sizeof ps) == 0);
    /* The name is taken: refused without replace, taken over with it. */
    QS_CHECK_EQ_INT(qs_enroll_key(NULL, &replaced, db, site_key, "sim-00001", pk2, 2, 0, err,
                                  sizeof err), -1);
    QS_CHECK(strstr(err, "already enrolled") != NULL);
    QS_CHECK_EQ_INT(qs_enroll_key(NULL, &replaced, db, site_key, "sim-00001", pk2, 2, 1, err,
                                  sizeof err), 0);
    QS_CHECK_EQ_INT(replaced, 1);
    QS_CHECK_EQ_INT(qs_sitedb_load_keyset(db, set), 0);
    QS_CHECK_EQ_INT(qs_keyset_get(set, pk1), QS_KEY_REVOKED);
    QS_CHECK_EQ_INT(qs_keyset_get(set, pk2), QS_KEY_ENROLLED);
    /* A key is never reused, not even by take-over. */
    QS_CHECK_EQ_INT(qs_enroll_key(NULL, NULL, db, site_key, "sim-00002", pk1, 3, 1, err,
                                  sizeof err), -1);
    qs_keyset_destroy(&set);
    qs_sitedb_destroy(&db);
}

static void
fill_site(qs_enroll_site_t *es, qs_sitedb_t *db)
{
    *es = (qs_enroll_site_t){
        .db = db, .site_key = site_key, .audit_key = audit_key, .audit_head = head_path,
        .actor = "admin", .now_ms = 1000, .endpoint = "tcp://127.0.0.1:5570",
        .broker_pk = broker_pk, .store_pk = store_pk,
    };
}

static void
test_enroll_client_writes_profile_and_audit_entry(void)
{
    char err[512], profile[600], want[64];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 1, err, sizeof err);
    qs_enroll_site_t es;
    qs_enroll_ids_t ids;
    qs_profile_t *p;
    last_entry_t last = { 0 };
    struct stat st;
    int64_t entries = 0, bad = 0;

    fill_site(&es, db);
    snprintf(profile, sizeof profile, "%s/ws-1.profile", dir);
    QS_CHECK_EQ_INT(qs_enroll_client(&ids, &es, "ws-1", profile, err, sizeof err), 0);
    QS_CHECK_EQ_INT(strlen(ids.key), QS_ENROLL_PREFIX_CHARS);
    QS_CHECK(stat(profile, &st) == 0 && (st.st_mode & 0777) == 0600);
    p = qs_profile_load(profile, err, sizeof err);
    QS_CHECK(p != NULL);
    if (p != NULL) {
        char hex[65];
        qs_hex_encode(hex, sizeof hex, qs_keypair_public(qs_profile_keypair(p)), 32);
        QS_CHECK(strncmp(hex, ids.key, QS_ENROLL_PREFIX_CHARS) == 0);
        QS_CHECK_STR(qs_profile_name(p), "ws-1");
        QS_CHECK(memcmp(qs_profile_broker_pk(p), broker_pk, 32) == 0);
    }
    qs_profile_destroy(&p);
    QS_CHECK_EQ_INT(qs_audit_each(db, last_entry, &last), 0);
    QS_CHECK_EQ_INT(last.n, 1);
    QS_CHECK_STR(last.action, "enroll");
    snprintf(want, sizeof want, "{\"name_ps\":\"%s\",\"key\":\"%s\"}", ids.name_ps, ids.key);
    QS_CHECK_STR(last.detail, want);
    QS_CHECK_EQ_INT(qs_audit_check(db, audit_key, head_path, &entries, &bad, err, sizeof err), 0);
    QS_CHECK_EQ_INT(entries, 1);
    /* An existing profile is never overwritten, and nothing is enrolled. */
    QS_CHECK_EQ_INT(qs_enroll_client(&ids, &es, "ws-2", profile, err, sizeof err), -1);
    QS_CHECK(strstr(err, "already exists") != NULL);
    /* A taken name: refused, and the profile it reserved is removed again. */
    snprintf(profile, sizeof profile, "%s/again.profile", dir);
    QS_CHECK_EQ_INT(qs_enroll_client(&ids, &es, "WS-1", profile, err, sizeof err), -1);
    QS_CHECK(strstr(err, "revoke it first") != NULL);
    QS_CHECK(access(profile, F_OK) != 0);
    last.n = 0;
    QS_CHECK_EQ_INT(qs_audit_each(db, last_entry, &last), 0);
    QS_CHECK_EQ_INT(last.n, 1);
    qs_sitedb_destroy(&db);
}

static void
test_enroll_client_failing_profile_commits_nothing(void)
{
    char err[512], profile[600];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 1, err, sizeof err);
    qs_enroll_site_t es;
    qs_enroll_ids_t ids;
    qs_keyset_t *set = qs_keyset_new();
    size_t before;

    fill_site(&es, db);
    QS_CHECK_EQ_INT(qs_sitedb_load_keyset(db, set), 0);
    before = qs_keyset_count(set, QS_KEY_ENROLLED);
    es.endpoint = "two\nlines";   /* the profile writer refuses it */
    snprintf(profile, sizeof profile, "%s/bad.profile", dir);
    QS_CHECK_EQ_INT(qs_enroll_client(&ids, &es, "ws-9", profile, err, sizeof err), -1);
    QS_CHECK(access(profile, F_OK) != 0);
    QS_CHECK_EQ_INT(qs_sitedb_load_keyset(db, set), 0);
    QS_CHECK_EQ_INT(qs_keyset_count(set, QS_KEY_ENROLLED), before);
    qs_keyset_destroy(&set);
    qs_sitedb_destroy(&db);
}

/* --machine binds, --replace revokes the name's key and enrolls the new
 * one in one audited step, inheriting the machine. */
static void
test_enroll_client_machine_and_replace(void)
{
    char err[512], profile[600], want[160], mhex[33];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 1, err, sizeof err);
    qs_enroll_site_t es;
    qs_enroll_ids_t ids, ids2;
    qs_keyset_t *set = qs_keyset_new();
    last_entry_t last = { 0 };
    uint8_t m[QS_PSEUDONYM_BYTES];

    fill_site(&es, db);
    es.machine = "PC-REPL";
    snprintf(profile, sizeof profile, "%s/repl-1.profile", dir);
    QS_CHECK_EQ_INT(qs_enroll_client(&ids, &es, "repl-1", profile, err, sizeof err), 0);
    qs_pseudonym(m, site_key, QS_PSEUDO_MACHINE, "pc-repl");
    qs_hex_encode(mhex, sizeof mhex, m, QS_ENROLL_PREFIX_BYTES);
    QS_CHECK_STR(ids.machine_ps, mhex);
    QS_CHECK_EQ_INT(ids.replaced, 0);
    /* Without --replace the name is refused; with it, taken over. */
    es.machine = NULL;
    snprintf(profile, sizeof profile, "%s/repl-2.profile", dir);
    QS_CHECK_EQ_INT(qs_enroll_client(&ids2, &es, "REPL-1", profile, err, sizeof err), -1);
    QS_CHECK(strstr(err, "--replace") != NULL);
    es.replace = 1;
    QS_CHECK_EQ_INT(qs_enroll_client(&ids2, &es, "REPL-1", profile, err, sizeof err), 0);
    QS_CHECK_EQ_INT(ids2.replaced, 1);
    QS_CHECK_STR(ids2.machine_ps, mhex);
    QS_CHECK_EQ_INT(qs_audit_each(db, last_entry, &last), 0);
    QS_CHECK_STR(last.action, "enroll");
    snprintf(want, sizeof want, "{\"name_ps\":\"%s\",\"key\":\"%s\",\"machine_ps\":\"%s\","
             "\"replaced\":1}", ids2.name_ps, ids2.key, mhex);
    QS_CHECK_STR(last.detail, want);
    QS_CHECK_EQ_INT(qs_sitedb_load_keyset(db, set), 0);
    QS_CHECK_EQ_INT(qs_keyset_count(set, QS_KEY_REVOKED) >= 1, 1);
    /* A second machine binding of a held machine is refused. */
    es.replace = 0;
    es.machine = "pc-repl";
    snprintf(profile, sizeof profile, "%s/repl-3.profile", dir);
    QS_CHECK_EQ_INT(qs_enroll_client(&ids, &es, "repl-3", profile, err, sizeof err), -1);
    QS_CHECK(strstr(err, "already bound") != NULL);
    QS_CHECK(access(profile, F_OK) != 0);
    qs_keyset_destroy(&set);
    qs_sitedb_destroy(&db);
}

int
main(void)
{
    char cmd[512];

    if (sodium_init() < 0)
        return 2;
    qs_test_tmpdir(dir, sizeof dir, "enroll");
    snprintf(db_path, sizeof db_path, "%s/site.db", dir);
    snprintf(head_path, sizeof head_path, "%s/audit.head", dir);
    randombytes_buf(site_key, sizeof site_key);
    randombytes_buf(audit_key, sizeof audit_key);
    randombytes_buf(broker_pk, sizeof broker_pk);
    randombytes_buf(store_pk, sizeof store_pk);
    QS_RUN(test_enroll_key_uses_the_name_pseudonym_and_can_take_over);
    QS_RUN(test_enroll_client_writes_profile_and_audit_entry);
    QS_RUN(test_enroll_client_failing_profile_commits_nothing);
    QS_RUN(test_enroll_client_machine_and_replace);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return qs_test_summary();
}
