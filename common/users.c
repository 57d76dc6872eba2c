/* users.c - qs-web users in site.db: random tokens, hashes only, constant-time check.
 *
 * A token is generated with randombytes_buf, formatted as "qs_" + hex and
 * hashed (unkeyed BLAKE2b-256 of the whole text) before it reaches SQLite; the
 * text itself exists only in the caller's buffer. See qs_users.h for why a
 * fast hash is enough.
 */
#include "qs_users.h"
#include "qs_hex.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char users_schema[] =
    "CREATE TABLE IF NOT EXISTS users("
    "  name TEXT PRIMARY KEY, role TEXT NOT NULL,"
    "  token_hash BLOB NOT NULL UNIQUE, created_ms INTEGER NOT NULL);";

static const struct { qs_role_t role; const char *name; } roles[] = {
    { QS_ROLE_OPERATOR, "operator" },
    { QS_ROLE_ADMIN, "admin" },
    { QS_ROLE_PRIVACY_OFFICER, "privacy-officer" },
};

const char *
qs_role_name(qs_role_t role)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (roles[i].role == role)
            return roles[i].name;
    return "?";
}

int
qs_role_parse(qs_role_t *out, const char *name)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (name != NULL && strcmp(name, roles[i].name) == 0) {
            *out = roles[i].role;
            return 0;
        }
    return -1;
}

int
qs_user_name_check(const char *name, char *errmsg, size_t errmsg_len)
{
    size_t len = name ? strlen(name) : 0;

    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            len = 0;
    }
    if (len == 0 || len > QS_USER_NAME_MAX) {
        snprintf(errmsg, errmsg_len, "a user name must be 1..%u characters of A-Z a-z 0-9 "
                 ". _ @ -", QS_USER_NAME_MAX);
        return -1;
    }
    return 0;
}

int
qs_users_init(qs_sitedb_t *db, char *errmsg, size_t errmsg_len)
{
    char *err = NULL;

    if (sqlite3_exec(qs_sitedb_sqlite(db), users_schema, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "site.db: cannot create the users table: %s",
                 err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static void
token_hash(uint8_t out[QS_USER_HASH_BYTES], const char *token, size_t len)
{
    crypto_generichash(out, QS_USER_HASH_BYTES, (const uint8_t *)token, len, NULL, 0);
}

int
qs_users_add(char *token, size_t token_len, qs_sitedb_t *db, const char *name,
             qs_role_t role, int64_t now_ms, char *errmsg, size_t errmsg_len)
{
    uint8_t raw[QS_USER_TOKEN_RAW_BYTES], hash[QS_USER_HASH_BYTES];
    sqlite3 *sql = qs_sitedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    int rc;

    if (token_len < QS_USER_TOKEN_CHARS + 1 || strcmp(qs_role_name(role), "?") == 0) {
        snprintf(errmsg, errmsg_len, "bad token buffer or role");
        return -1;
    }
    if (qs_user_name_check(name, errmsg, errmsg_len) != 0 ||
        qs_users_init(db, errmsg, errmsg_len) != 0)
        return -1;
    randombytes_buf(raw, sizeof raw);
    memcpy(token, QS_USER_TOKEN_PREFIX, 3);
    qs_hex_encode(token + 3, token_len - 3, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    token_hash(hash, token, QS_USER_TOKEN_CHARS);
    if (sqlite3_prepare_v2(sql, "INSERT INTO users(name, role, token_hash, created_ms) "
                           "VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, qs_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT) {
        sodium_memzero(token, token_len);
        snprintf(errmsg, errmsg_len, "a user named '%s' already exists: remove it first "
                 "(qsctl user remove --name %s) to issue a new token", name, name);
        return -1;
    }
    if (rc == SQLITE_DONE)
        return 0;
    st = NULL;
db_error:
    sqlite3_finalize(st);
    sodium_memzero(token, token_len);
    snprintf(errmsg, errmsg_len, "site.db: %s", sqlite3_errmsg(sql));
    return -1;
}

int
qs_users_remove(qs_sitedb_t *db, const char *name, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_sitedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    int rc;

    if (qs_users_init(db, errmsg, errmsg_len) != 0)
        return -1;
    if (sqlite3_prepare_v2(sql, "DELETE FROM users WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "site.db: %s", sqlite3_errmsg(sql));
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(errmsg, errmsg_len, "site.db: %s", sqlite3_errmsg(sql));
        return -1;
    }
    if (sqlite3_changes(sql) == 0) {
        snprintf(errmsg, errmsg_len, "no user is named '%s'; nothing was changed", name);
        return -1;
    }
    return 0;
}

/* Fill user from a row (name, role, created_ms); -1 when the role is unknown. */
static int
user_from_row(qs_user_t *user, sqlite3_stmt *st)
{
    const char *name = (const char *)sqlite3_column_text(st, 0);

    memset(user, 0, sizeof *user);
    snprintf(user->name, sizeof user->name, "%s", name ? name : "");
    user->created_ms = sqlite3_column_int64(st, 2);
    return qs_role_parse(&user->role, (const char *)sqlite3_column_text(st, 1));
}

int
qs_users_each(qs_sitedb_t *db, qs_users_cb cb, void *ctx)
{
    sqlite3_stmt *st = NULL;
    char err[256];
    qs_user_t user;
    int rc;

    if (qs_users_init(db, err, sizeof err) != 0)
        return -1;
    if (sqlite3_prepare_v2(qs_sitedb_sqlite(db), "SELECT name, role, created_ms FROM users "
                           "ORDER BY name", -1, &st, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (user_from_row(&user, st) != 0)
            continue;
        if (cb(ctx, &user) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 if token has the shape of one qs_users_add makes. */
static int
token_well_formed(const char *token)
{
    size_t len = token ? strnlen(token, QS_USER_TOKEN_CHARS + 1) : 0;

    if (len != QS_USER_TOKEN_CHARS || memcmp(token, QS_USER_TOKEN_PREFIX, 3) != 0)
        return 0;
    for (size_t i = 3; i < len; i++)
        if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
            return 0;
    return 1;
}

int
qs_users_authenticate(qs_user_t *user, qs_sitedb_t *db, const char *token)
{
    uint8_t hash[QS_USER_HASH_BYTES];
    sqlite3_stmt *st = NULL;
    char err[256];
    int rc, found = 0;

    memset(user, 0, sizeof *user);
    if (!token_well_formed(token))
        return 1;
    if (qs_users_init(db, err, sizeof err) != 0)
        return -1;
    token_hash(hash, token, QS_USER_TOKEN_CHARS);
    if (sqlite3_prepare_v2(qs_sitedb_sqlite(db), "SELECT name, role, created_ms, token_hash "
                           "FROM users WHERE token_hash = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 3) == QS_USER_HASH_BYTES &&
        sodium_memcmp(sqlite3_column_blob(st, 3), hash, sizeof hash) == 0 &&
        user_from_row(user, st) == 0)
        found = 1;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    if (!found)
        memset(user, 0, sizeof *user);
    return found ? 0 : 1;
}
