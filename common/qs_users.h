/* qs_users.h - the people who may use qs-web: names, roles and API tokens.
 *
 * A user has a name, one role (operator, admin, privacy-officer) and one
 * bearer token. The token is 32 random bytes shown once as text
 * ("qs_" + 64 lowercase hex characters); site.db keeps only its BLAKE2b-256
 * hash. Tokens are uniformly random and 256 bits long, so no slow password
 * KDF (argon2) is needed: a fast hash already makes a stolen users table
 * useless, since nobody can search 2^256 preimages. Authentication finds the
 * row by the hash (an indexed lookup on a hash leaks nothing about the
 * token) and compares the stored hash in constant time (sodium_memcmp).
 *
 * The table lives in site.db (owner: common/, like clients and policy); it is
 * created with CREATE TABLE IF NOT EXISTS by qs_users_init, so an existing
 * site gains it on first use.
 */
#ifndef QS_USERS_H
#define QS_USERS_H

#include <stddef.h>
#include <stdint.h>

#include "qs_sitedb.h"

#define QS_USER_NAME_MAX 64u          /* bytes, [A-Za-z0-9._@-] */
#define QS_USER_TOKEN_RAW_BYTES 32u
#define QS_USER_TOKEN_PREFIX "qs_"
#define QS_USER_TOKEN_CHARS (3u + 2u * QS_USER_TOKEN_RAW_BYTES)   /* "qs_" + hex */
#define QS_USER_HASH_BYTES 32u

typedef enum {
    QS_ROLE_OPERATOR = 1,
    QS_ROLE_ADMIN = 2,
    QS_ROLE_PRIVACY_OFFICER = 4,
} qs_role_t;

#define QS_ROLE_ALL (QS_ROLE_OPERATOR | QS_ROLE_ADMIN | QS_ROLE_PRIVACY_OFFICER)

typedef struct {
    char name[QS_USER_NAME_MAX + 1];
    qs_role_t role;
    int64_t created_ms;
} qs_user_t;

/* "operator", "admin", "privacy-officer". */
const char *qs_role_name(qs_role_t role);

/* Parse a role name. Returns 0, or -1 if it is none of the three. */
int qs_role_parse(qs_role_t *out, const char *name) __attribute__((warn_unused_result));

/* 0 if name is 1..QS_USER_NAME_MAX characters of [A-Za-z0-9._@-]; -1 with
 * errmsg otherwise (names go into audit actors "web:NAME" unescaped). */
int qs_user_name_check(const char *name, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Create the users table if missing. Returns 0 or -1 with errmsg. */
int qs_users_init(qs_sitedb_t *db, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Add a user with a fresh token written to token (QS_USER_TOKEN_CHARS + 1
 * bytes, NUL-terminated; the caller shows it once and wipes it). Fails (-1
 * with errmsg) when the name exists or is not acceptable. */
int qs_users_add(char *token, size_t token_len, qs_sitedb_t *db, const char *name,
                 qs_role_t role, int64_t now_ms, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Remove a user (its token stops working at once). -1 with errmsg when no
 * such user exists. */
int qs_users_remove(qs_sitedb_t *db, const char *name, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

typedef int (*qs_users_cb)(void *ctx, const qs_user_t *user);

/* Call cb for each user, by name; stops when cb returns != 0. Never exposes
 * the hash. Returns 0 or -1. */
int qs_users_each(qs_sitedb_t *db, qs_users_cb cb, void *ctx);

/* Who holds this token? Returns 0 with *user filled; 1 when the token is
 * malformed or matches nobody; -1 on a database error. */
int qs_users_authenticate(qs_user_t *user, qs_sitedb_t *db, const char *token)
    __attribute__((warn_unused_result));

#endif
