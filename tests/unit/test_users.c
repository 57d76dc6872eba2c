/* test_users.c - common/users.c: qs-web's users, tokens shown once, hashes only,
 * roles, authentication; and the [web] keys of quietstate.conf.
 * (Registered in web/CMakeLists.txt.) */
#include "qs_config.h"
#include "qs_sitedb.h"
#include "qs_test.h"
#include "qs_users.h"

#include <sodium.h>
#include <string.h>

static char dir[256], db_path[512];

typedef struct {
    int n;
    char names[8][QS_USER_NAME_MAX + 1];
    qs_role_t roles[8];
} list_ctx_t;

static int
collect(void *vctx, const qs_user_t *u)
{
    list_ctx_t *c = vctx;
    if (c->n < 8) {
        snprintf(c->names[c->n], sizeof c->names[0], "%s", u->name);
        c->roles[c->n] = u->role;
    }
    c->n++;
    return 0;
}

static void
test_users_token_authenticates_its_user_and_role(void)
{
    char err[512], tok_a[QS_USER_TOKEN_CHARS + 1], tok_b[QS_USER_TOKEN_CHARS + 1];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 1, err, sizeof err);
    qs_user_t u;

    QS_CHECK(db != NULL);
    QS_CHECK_EQ_INT(qs_users_add(tok_a, sizeof tok_a, db, "alice", QS_ROLE_OPERATOR, 1000, err,
                                 sizeof err), 0);
    QS_CHECK_EQ_INT(qs_users_add(tok_b, sizeof tok_b, db, "bob", QS_ROLE_PRIVACY_OFFICER, 2000,
                                 err, sizeof err), 0);
    QS_CHECK_EQ_INT((int)strlen(tok_a), (int)QS_USER_TOKEN_CHARS);
    QS_CHECK(strncmp(tok_a, "qs_", 3) == 0);
    QS_CHECK(strcmp(tok_a, tok_b) != 0);
    QS_CHECK_EQ_INT(qs_users_authenticate(&u, db, tok_a), 0);
    QS_CHECK_STR(u.name, "alice");
    QS_CHECK_EQ_INT(u.role, QS_ROLE_OPERATOR);
    QS_CHECK_EQ_INT(qs_users_authenticate(&u, db, tok_b), 0);
    QS_CHECK_STR(u.name, "bob");
    QS_CHECK_EQ_INT(u.role, QS_ROLE_PRIVACY_OFFICER);
    QS_CHECK(u.created_ms == 2000);
    qs_sitedb_destroy(&db);
}

static void
test_users_refuses_wrong_malformed_and_removed_tokens(void)
{
    char err[512], tok[QS_USER_TOKEN_CHARS + 1], bad[QS_USER_TOKEN_CHARS + 1];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 0, err, sizeof err);
    qs_user_t u;

    QS_CHECK(db != NULL);
    QS_CHECK_EQ_INT(qs_users_add(tok, sizeof tok, db, "carol", QS_ROLE_ADMIN, 1, err,
                                 sizeof err), 0);
    memcpy(bad, tok, sizeof bad);
    bad[10] = bad[10] == 'a' ? 'b' : 'a';          /* one character off */
    QS_CHECK_EQ_INT(qs_users_authenticate(&u, db, bad), 1);
    QS_CHECK_EQ_INT(u.name[0], 0);
    QS_CHECK_EQ_INT(qs_users_authenticate(&u, db, ""), 1);
    QS_CHECK_EQ_INT(qs_users_authenticate(&u, db, NULL), 1);
    QS_CHECK_EQ_INT(qs_users_authenticate(&u, db, "qs_XYZ"), 1);
    bad[QS_USER_TOKEN_CHARS - 1] = '\0';            /* too short */
    QS_CHECK_EQ_INT(qs_users_authenticate(&u, db, bad), 1);
    QS_CHECK_EQ_INT(qs_users_remove(db, "carol", err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_users_authenticate(&u, db, tok), 1);
    QS_CHECK_EQ_INT(qs_users_remove(db, "carol", err, sizeof err), -1);
    QS_CHECK(strstr(err, "carol") != NULL);
    qs_sitedb_destroy(&db);
}

static void
test_users_add_refuses_existing_and_bad_names(void)
{
    char err[512], tok[QS_USER_TOKEN_CHARS + 1];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 0, err, sizeof err);

    QS_CHECK(db != NULL);
    QS_CHECK_EQ_INT(qs_users_add(tok, sizeof tok, db, "alice", QS_ROLE_ADMIN, 1, err,
                                 sizeof err), -1);
    QS_CHECK(strstr(err, "already exists") != NULL);
    QS_CHECK_EQ_INT(tok[0], 0);                     /* the unused token is wiped */
    QS_CHECK_EQ_INT(qs_users_add(tok, sizeof tok, db, "bad name", QS_ROLE_ADMIN, 1, err,
                                 sizeof err), -1);
    QS_CHECK_EQ_INT(qs_users_add(tok, sizeof tok, db, "", QS_ROLE_ADMIN, 1, err, sizeof err),
                    -1);
    QS_CHECK_EQ_INT(qs_users_add(tok, sizeof tok, db, "x:y", QS_ROLE_ADMIN, 1, err, sizeof err),
                    -1);
    QS_CHECK_EQ_INT(qs_users_add(tok, 10, db, "short-buffer", QS_ROLE_ADMIN, 1, err, sizeof err),
                    -1);
    qs_sitedb_destroy(&db);
}

static void
test_users_list_never_shows_hashes_and_db_holds_no_token(void)
{
    char err[512], tok[QS_USER_TOKEN_CHARS + 1];
    qs_sitedb_t *db = qs_sitedb_open(db_path, 0, err, sizeof err);
    list_ctx_t ctx;

    QS_CHECK(db != NULL);
    QS_CHECK_EQ_INT(qs_users_add(tok, sizeof tok, db, "dave", QS_ROLE_ADMIN, 5, err,
                                 sizeof err), 0);
    memset(&ctx, 0, sizeof ctx);
    QS_CHECK_EQ_INT(qs_users_each(db, collect, &ctx), 0);
    QS_CHECK_EQ_INT(ctx.n, 3);                       /* alice, bob, dave: by name */
    QS_CHECK_STR(ctx.names[0], "alice");
    QS_CHECK_STR(ctx.names[2], "dave");
    QS_CHECK_EQ_INT(ctx.roles[2], QS_ROLE_ADMIN);
    qs_sitedb_destroy(&db);
    /* Only the hash is stored: the token text is in no byte of the files. */
    QS_CHECK(!qs_test_file_contains(db_path, tok, strlen(tok)));
    QS_CHECK(!qs_test_file_contains(db_path, tok + 3, 16));
}

static void
test_roles_parse_and_name(void)
{
    qs_role_t r;

    QS_CHECK_EQ_INT(qs_role_parse(&r, "privacy-officer"), 0);
    QS_CHECK_EQ_INT(r, QS_ROLE_PRIVACY_OFFICER);
    QS_CHECK_STR(qs_role_name(QS_ROLE_ADMIN), "admin");
    QS_CHECK_EQ_INT(qs_role_parse(&r, "root"), -1);
    QS_CHECK_EQ_INT(qs_role_parse(&r, NULL), -1);
}

static void
test_config_web_keys_defaults_bounds_and_roundtrip(void)
{
    qs_config_t cfg, back;
    char err[256], text[8192];

    qs_config_defaults(&cfg);
    QS_CHECK_STR(cfg.web_listen, "127.0.0.1:8080");
    QS_CHECK(cfg.web_tls_cert[0] == '\0' && cfg.web_max_connections > 0);
    QS_CHECK_EQ_INT(qs_config_parse(&cfg, "[web]\nlisten = 0.0.0.0:8443\ntls_cert = /c.pem\n"
                                    "tls_key = /k.pem\nmax_connections = 8\n"
                                    "timeout_seconds = 3\nmax_body_bytes = 1024\n"
                                    "lookups_per_minute = 2\n", err, sizeof err), 0);
    QS_CHECK_STR(cfg.web_listen, "0.0.0.0:8443");
    QS_CHECK_STR(cfg.web_tls_key, "/k.pem");
    QS_CHECK_EQ_INT(cfg.web_lookups_per_minute, 2);
    QS_CHECK_EQ_INT(qs_config_format(text, sizeof text, &cfg), 0);
    QS_CHECK_EQ_INT(qs_config_parse(&back, text, err, sizeof err), 0);
    QS_CHECK_STR(back.web_listen, cfg.web_listen);
    QS_CHECK_STR(back.web_tls_cert, cfg.web_tls_cert);
    QS_CHECK_EQ_INT(qs_config_parse(&cfg, "[web]\nlisten = nowhere\n", err, sizeof err), -1);
    QS_CHECK(strstr(err, "listen") != NULL);
    QS_CHECK_EQ_INT(qs_config_parse(&cfg, "[web]\nmax_body_bytes = 1\n", err, sizeof err), -1);
    QS_CHECK_EQ_INT(qs_config_parse(&cfg, "[web]\nlistn = 1.2.3.4:5\n", err, sizeof err), -1);
    QS_CHECK(strstr(err, "listn") != NULL);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    qs_test_tmpdir(dir, sizeof dir, "users");
    snprintf(db_path, sizeof db_path, "%s/site.db", dir);
    QS_RUN(test_users_token_authenticates_its_user_and_role);
    QS_RUN(test_users_refuses_wrong_malformed_and_removed_tokens);
    QS_RUN(test_users_add_refuses_existing_and_bad_names);
    QS_RUN(test_users_list_never_shows_hashes_and_db_holds_no_token);
    QS_RUN(test_roles_parse_and_name);
    QS_RUN(test_config_web_keys_defaults_bounds_and_roundtrip);
    {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    return qs_test_summary();
}
