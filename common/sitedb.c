/* sitedb.c - site.db schema and queries (clients, policy versions, verify's checks).
 *
 * WAL with synchronous=FULL: an enrollment or revocation that qsctl reports
 * done survives power loss. secure_delete keeps deleted rows from lingering.
 */
#include "qs_sitedb.h"
#include "qs_fsutil.h"
#include "qs_log.h"
#include "qs_sqlutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct qs_sitedb {
    sqlite3 *db;
    int64_t data_version;
    int has_machine_col;         /* clients.machine_ps exists (added by this release) */
    char path[QS_MAX_PATH_BYTES];
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS clients("
    "  pk BLOB PRIMARY KEY, name_ps BLOB NOT NULL,"
    "  enrolled_ms INTEGER NOT NULL, revoked_ms INTEGER, machine_ps BLOB);"
    "CREATE INDEX IF NOT EXISTS clients_by_name ON clients(name_ps);"
    "CREATE TABLE IF NOT EXISTS policy("
    "  version INTEGER PRIMARY KEY, set_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL, json TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit("
    "  seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, actor TEXT NOT NULL,"
    "  action TEXT NOT NULL, detail TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL, hash BLOB NOT NULL);";

/* clients.machine_ps (the machine a key is bound to, docs/privacy.md
 * "One machine, one state") came after the first release: add it to an
 * older site.db. Two processes may race here; the loser's ALTER fails
 * ("duplicate column") and it sees the column on its second look. A process
 * that cannot write (read-only file) keeps working without bindings. */
static int
machine_column(sqlite3 *db)
{
    int64_t n = 0;
    const char *q = "SELECT count(*) FROM pragma_table_info('clients') WHERE name = 'machine_ps'";

    if (qs_sql_int64(db, q, &n) != 0)
        return 0;
    if (n > 0)
        return 1;
    if (qs_sql_int64(db, "SELECT count(*) FROM sqlite_master WHERE name = 'clients'", &n) != 0 ||
        n == 0)
        return 0;
    (void)sqlite3_exec(db, "ALTER TABLE clients ADD COLUMN machine_ps BLOB", NULL, NULL, NULL);
    return qs_sql_int64(db, q, &n) == 0 && n > 0;
}

qs_sitedb_t *
qs_sitedb_open(const char *path, int create, char *errmsg, size_t errmsg_len)
{
    qs_sitedb_t *s;
    sqlite3 *db = NULL;
    char *err = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

    if (create && qs_fs_create_private(path, errmsg, errmsg_len) != 0)
        return NULL;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "cannot open '%s': %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         "PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;",
                     NULL, NULL, &err) != SQLITE_OK ||
        (create && sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK)) {
        snprintf(errmsg, errmsg_len, "cannot prepare '%s': %s", path, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
        return NULL;
    }
    s = qs_calloc(1, sizeof *s);
    s->db = db;
    s->data_version = -1;
    s->has_machine_col = machine_column(db);
    snprintf(s->path, sizeof s->path, "%s", path);
    return s;
}

void
qs_sitedb_destroy(qs_sitedb_t **db_p)
{
    if (db_p == NULL || *db_p == NULL)
        return;
    sqlite3_close((*db_p)->db);
    free(*db_p);
    *db_p = NULL;
}

sqlite3 *
qs_sitedb_sqlite(qs_sitedb_t *db)
{
    return db->db;
}

int
qs_sitedb_changed(qs_sitedb_t *s, int *changed)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return -1;
    }
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    *changed = (v != s->data_version);
    s->data_version = v;
    return 0;
}

int
qs_sitedb_begin(qs_sitedb_t *s)
{
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int
qs_sitedb_commit(qs_sitedb_t *s)
{
    return sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void
qs_sitedb_rollback(qs_sitedb_t *s)
{
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int
qs_sitedb_begin_read(qs_sitedb_t *s)
{
    return sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

const char *
qs_sitedb_path(const qs_sitedb_t *s)
{
    return s->path;
}

const char *
qs_sitedb_errmsg(qs_sitedb_t *s)
{
    return sqlite3_errmsg(s->db);
}

int
qs_sitedb_audit_entries(int64_t *n, const char *path, char *errmsg, size_t errmsg_len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;

    *n = 0;
    if (access(path, F_OK) != 0)
        return 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE name = 'audit'", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = 0;   /* a database without the audit table: nothing audited yet */
        goto out;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        goto out;
    *n = sqlite3_column_int64(st, 0);
    rc = 0;
out:
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "%s", db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* The columns of site.db that hold text by design: no endpoint's or
 * end user's name is in them. users.name and users.role are the site's own
 * staff accounts (qsctl user): the audit log must name who acted. */
static int
site_text_allowed(const char *table, const char *column)
{
    if (strcmp(table, "users") == 0)
        return strcmp(column, "name") == 0 || strcmp(column, "role") == 0;
    if (strcmp(table, "policy") == 0)
        return strcmp(column, "actor") == 0 || strcmp(column, "json") == 0;
    if (strcmp(table, "audit") == 0)
        return strcmp(column, "actor") == 0 || strcmp(column, "action") == 0 ||
               strcmp(column, "detail") == 0;
    /* Deployments (qs_deployments.h): the site's own ids, update ids and
     * group names, and the staff member who added one. */
    if (strcmp(table, "deployments") == 0)
        return strcmp(column, "id") == 0 || strcmp(column, "group_name") == 0 ||
               strcmp(column, "actor") == 0;
    if (strcmp(table, "deployment_updates") == 0)
        return strcmp(column, "deployment_id") == 0 || strcmp(column, "topic_id") == 0;
    return 0;
}

struct text_filter {
    qs_sitedb_column_cb cb;
    void *ctx;
};

static void
filter_site_text(void *ctx, const char *table, const char *column, const char *type)
{
    const struct text_filter *f = ctx;

    if (!site_text_allowed(table, column))
        f->cb(f->ctx, table, column, type);
}

int
qs_sitedb_check_text_columns(qs_sitedb_t *s, qs_sitedb_column_cb cb, void *ctx,
                             char *errmsg, size_t errmsg_len)
{
    struct text_filter f = { cb, ctx };

    if (qs_sql_text_columns(s->db, filter_site_text, &f) != 0) {
        snprintf(errmsg, errmsg_len, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

int
qs_sitedb_check_client_names(qs_sitedb_t *s, int64_t *not_pseudonym, char *errmsg,
                             size_t errmsg_len)
{
    /* NOT NULL in the schema, but a foreign writer may have made it
     * otherwise; a bound machine is a pseudonym too. */
    if (qs_sql_int64(s->db, s->has_machine_col
                         ? "SELECT count(*) FROM clients WHERE name_ps IS NULL OR "
                           "typeof(name_ps) <> 'blob' OR length(name_ps) <> 16 OR "
                           "(machine_ps IS NOT NULL AND (typeof(machine_ps) <> 'blob' OR "
                           "length(machine_ps) <> 16))"
                         : "SELECT count(*) FROM clients WHERE name_ps IS NULL OR "
                           "typeof(name_ps) <> 'blob' OR length(name_ps) <> 16",
                     not_pseudonym) != 0) {
        snprintf(errmsg, errmsg_len, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

int
qs_sitedb_load_keyset(qs_sitedb_t *s, qs_keyset_t *set)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (!s->has_machine_col)   /* another program may have added it since */
        s->has_machine_col = machine_column(s->db);
    if (sqlite3_prepare_v2(s->db, s->has_machine_col
                               ? "SELECT pk, revoked_ms IS NOT NULL, machine_ps FROM clients"
                               : "SELECT pk, revoked_ms IS NOT NULL, NULL FROM clients",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    qs_keyset_clear(set);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != QS_KEY_BYTES)
            continue;
        qs_keyset_put(set, sqlite3_column_blob(st, 0),
                      sqlite3_column_int(st, 1) ? QS_KEY_REVOKED : QS_KEY_ENROLLED);
        if (sqlite3_column_bytes(st, 2) == QS_PSEUDONYM_BYTES)
            qs_keyset_bind(set, sqlite3_column_blob(st, 0), sqlite3_column_blob(st, 2));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_sitedb_enroll(qs_sitedb_t *s, const uint8_t name_ps[QS_PSEUDONYM_BYTES],
                 const uint8_t pk[QS_KEY_BYTES], int64_t now_ms,
                 char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    int rc, exists;

    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM clients WHERE name_ps = ?1 "
                           "AND revoked_ms IS NULL", -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    sqlite3_bind_blob(st, 1, name_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto db_error;
    exists = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (exists) {
        snprintf(errmsg, errmsg_len,
                 "a client with this name is already enrolled: revoke it first "
                 "(qsctl revoke --name NAME), then enroll again to issue a new key; or "
                 "replace its key in one step (qsctl enroll --replace)");
        return -1;
    }
    if (sqlite3_prepare_v2(s->db, "INSERT INTO clients(pk, name_ps, enrolled_ms) "
                           "VALUES (?1, ?2, ?3)", -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    sqlite3_bind_blob(st, 1, pk, QS_KEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, name_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT) {
        snprintf(errmsg, errmsg_len, "this key was enrolled before: keys are never reused");
        return -1;
    }
    if (rc != SQLITE_DONE) {
        st = NULL;
        goto db_error;
    }
    return 0;
db_error:
    snprintf(errmsg, errmsg_len, "site.db: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return -1;
}

int
qs_sitedb_revoke(qs_sitedb_t *s, const uint8_t name_ps[QS_PSEUDONYM_BYTES],
                 int64_t now_ms, int *n_revoked)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(s->db, "UPDATE clients SET revoked_ms = ?2 "
                           "WHERE name_ps = ?1 AND revoked_ms IS NULL", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, name_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    *n_revoked = sqlite3_changes(s->db);
    return 0;
}

int
qs_sitedb_policy_get(qs_sitedb_t *s, qs_policy_t *p, int *configured, int64_t *version)
{
    sqlite3_stmt *st = NULL;
    char err[256];
    int rc;

    qs_policy_defaults(p);
    *configured = 0;
    *version = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT version, json FROM policy ORDER BY version DESC "
                           "LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (qs_policy_from_json(p, (const char *)sqlite3_column_text(st, 1), err,
                                sizeof err) != 0) {
            log_error("site.db policy version %lld is invalid: %s",
                      (long long)sqlite3_column_int64(st, 0), err);
            sqlite3_finalize(st);
            return -1;
        }
        *configured = 1;
        *version = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_sitedb_policy_put(qs_sitedb_t *s, const qs_policy_t *p, const char *actor,
                     int64_t now_ms, int64_t *version, char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    char *json = qs_policy_to_json(p);
    int rc;

    if (json == NULL)
        qs_fatal("out of memory serialising policy");
    if (sqlite3_prepare_v2(s->db, "INSERT INTO policy(set_ms, actor, json) VALUES (?1, ?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK) {
        free(json);
        snprintf(errmsg, errmsg_len, "site.db: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(json);
    if (rc != SQLITE_DONE) {
        snprintf(errmsg, errmsg_len, "site.db: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    *version = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int
qs_sitedb_policy_each(qs_sitedb_t *s, qs_policy_version_cb cb, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(s->db, "SELECT version, set_ms, actor, json FROM policy "
                           "ORDER BY version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cb(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
               (const char *)sqlite3_column_text(st, 2),
               (const char *)sqlite3_column_text(st, 3)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_sitedb_client_counts(qs_sitedb_t *s, int64_t *enrolled, int64_t *revoked, char *errmsg,
                        size_t errmsg_len)
{
    int rc;

    /* A deferred BEGIN: both counts from one snapshot, without a write lock. */
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s",
                 sqlite3_errmsg(s->db));
        return -1;
    }
    rc = qs_sql_int64(s->db, "SELECT count(*) FROM clients WHERE revoked_ms IS NULL",
                      enrolled) == 0 &&
         qs_sql_int64(s->db, "SELECT count(*) FROM clients WHERE revoked_ms IS NOT NULL",
                      revoked) == 0
             ? 0 : -1;
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "client count on site.db failed: %s",
                 sqlite3_errmsg(s->db));
    (void)sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* The first value of sql (?1 = name_ps, one blob column of len bytes) into
 * out; *found 0 when no row. 0 or -1. */
static int
blob_of_name(qs_sitedb_t *s, const char *sql, const uint8_t name_ps[QS_PSEUDONYM_BYTES],
             uint8_t *out, size_t len, int *found)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *found = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, name_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memcpy(out, sqlite3_column_blob(st, 0), len);
        *found = 1;
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_sitedb_machine_of_name(uint8_t machine_ps[QS_PSEUDONYM_BYTES], int *bound, qs_sitedb_t *s,
                          const uint8_t name_ps[QS_PSEUDONYM_BYTES])
{
    *bound = 0;
    if (!s->has_machine_col)
        return 0;
    return blob_of_name(s, "SELECT machine_ps FROM clients WHERE name_ps = ?1 AND "
                        "revoked_ms IS NULL AND length(machine_ps) = 16 LIMIT 1", name_ps,
                        machine_ps, QS_PSEUDONYM_BYTES, bound);
}

int
qs_sitedb_bind_machine(qs_sitedb_t *s, const uint8_t pk[QS_KEY_BYTES],
                       const uint8_t machine_ps[QS_PSEUDONYM_BYTES], char *errmsg,
                       size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    int rc, held;

    if (!s->has_machine_col) {
        snprintf(errmsg, errmsg_len, "site.db: cannot add the column clients.machine_ps "
                 "(is '%s' writable?)", s->path);
        return -1;
    }
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM clients WHERE machine_ps = ?1 AND "
                           "revoked_ms IS NULL AND pk <> ?2", -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    sqlite3_bind_blob(st, 1, machine_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, pk, QS_KEY_BYTES, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        goto db_error;
    held = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (held) {
        snprintf(errmsg, errmsg_len, "this machine is already bound to another enrolled "
                 "client: re-enroll that client's name with --replace, or revoke it first");
        return -1;
    }
    if (sqlite3_prepare_v2(s->db, "UPDATE clients SET machine_ps = ?1 WHERE pk = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        goto db_error;
    sqlite3_bind_blob(st, 1, machine_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, pk, QS_KEY_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE || sqlite3_changes(s->db) != 1)
        goto db_error;
    return 0;
db_error:
    snprintf(errmsg, errmsg_len, "site.db: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return -1;
}

int
qs_sitedb_key_of_name(uint8_t pk[QS_KEY_BYTES], int *found, qs_sitedb_t *s,
                      const uint8_t name_ps[QS_PSEUDONYM_BYTES])
{
    return blob_of_name(s, "SELECT pk FROM clients WHERE name_ps = ?1 AND "
                        "revoked_ms IS NULL AND length(pk) = 32 LIMIT 1", name_ps, pk,
                        QS_KEY_BYTES, found);
}
