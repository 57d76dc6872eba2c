/* groups.c - named groups of machines in store.db, and their compliance (SQLite; qs_store_group.h).
 *
 * Writes run in one IMMEDIATE transaction each (qs_storedb_begin), the
 * group's existence read inside it, so "unknown group" and a change never
 * both happen. Reads run in a deferred read transaction (one WAL snapshot).
 * A group's compliance counts latest's rows through its machine_ps index,
 * one probe per member, grouped in key order, so its cost follows the
 * group's size, not the fleet's. Suppression and the k of member counts are
 * applied here for both engines (groups_pg.c returns exact numbers to the
 * public functions below), before anything leaves store/.
 */
#include "groups_rules.h"

#include "lookup_rules.h"
#include "qs_codec.h"
#include "qs_log.h"
#include "qs_sqlutil.h"
#include "query_rules.h"
#include "query_sqlite.h"
#include "storedb_sqlite.h"
#include "trend_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_exists[] = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name IN ('machine_groups', 'group_members')";
static const char sql_group[] = "SELECT count(*) FROM machine_groups WHERE name = ?1";
static const char sql_list[] =
    "SELECT g.name, g.created_ms, "
    "       (SELECT count(*) FROM group_members m WHERE m.group_name = g.name) "
    "FROM machine_groups g WHERE ?1 IS NULL OR g.name = ?1 ORDER BY g.name";
static const char sql_compliance[] =
    QS_GROUP_SQL_CELLS("", "m.group_name = ?1 AND (?2 IS NULL OR l.topic_type = ?2) "
                           "AND (?3 IS NULL OR l.topic_id = ?3)")
    " ORDER BY l.topic_type, l.topic_id, l.state_id";

int
qs_group_name_check(const char *name, char *errmsg, size_t errmsg_len)
{
    size_t len = name ? strlen(name) : 0, chars = 0;
    const unsigned char *p = (const unsigned char *)name;

    if (len == 0 || len > QS_GROUP_NAME_MAX_BYTES || !qs_utf8_valid(name, len)) {
        snprintf(errmsg, errmsg_len, "a group name must be 1..%u characters of UTF-8",
                 QS_GROUP_NAME_MAX_CHARS);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            chars++;
        /* C0, DEL, and C1 (U+0080..U+009F, encoded C2 80..C2 9F). */
        if (p[i] < 0x20 || p[i] == 0x7F || (p[i] == 0xC2 && i + 1 < len && p[i + 1] < 0xA0)) {
            snprintf(errmsg, errmsg_len, "a group name must not hold control characters");
            return -1;
        }
    }
    if (chars > QS_GROUP_NAME_MAX_CHARS) {
        snprintf(errmsg, errmsg_len, "a group name is at most %u characters (this one has %zu)",
                 QS_GROUP_NAME_MAX_CHARS, chars);
        return -1;
    }
    if (name[0] == ' ' || name[len - 1] == ' ') {
        snprintf(errmsg, errmsg_len, "a group name must not begin or end with a blank");
        return -1;
    }
    return 0;
}

void
qs_group_list_push(qs_group_list_t *l, size_t *cap, const char *name, int64_t created_ms,
                   int64_t members)
{
    qs_group_row_t *row;

    if (l->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        l->rows = qs_realloc(l->rows, *cap * sizeof *l->rows);
    }
    row = &l->rows[l->n++];
    row->name = qs_strdup(name);
    row->created_ms = created_ms;
    row->members = members;
}

void
qs_group_list_free(qs_group_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->rows[i].name);
    free(l->rows);
    l->rows = NULL;
    l->n = 0;
}

/* 1 when both tables exist, 0 when not (no group was ever made), -1. */
static int
tables_exist(sqlite3 *sql)
{
    int64_t n = 0;

    if (qs_sql_int64(sql, sql_exists, &n) != 0)
        return -1;
    return n == 2;
}

static int
bind_name(sqlite3_stmt *st, const void *ctx)
{
    return sqlite3_bind_text(st, 1, ctx, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
}

/* Inside a transaction: 1 when group name exists, 0 when not, -1. */
static int
group_known(sqlite3 *sql, const char *name)
{
    sqlite3_stmt *st = NULL;
    int t = tables_exist(sql), rc = -1;

    if (t <= 0)
        return t;
    if (sqlite3_prepare_v2(sql, sql_group, -1, &st, NULL) == SQLITE_OK &&
        bind_name(st, name) == 0 && sqlite3_step(st) == SQLITE_ROW)
        rc = sqlite3_column_int64(st, 0) > 0;
    sqlite3_finalize(st);
    return rc;
}

/* Run a write: begin, check the group (unless create), do, commit. */
typedef int (*group_write_fn)(sqlite3 *sql, const void *ctx, int64_t *changes);

static int
write_tx(qs_storedb_t *db, const char *name, int must_exist, group_write_fn fn, const void *ctx,
         int64_t *changes, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    int known;

    *changes = 0;
    if (qs_storedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot lock store.db: %s", sqlite3_errmsg(sql));
        return -1;
    }
    known = must_exist ? group_known(sql, name) : 1;
    if (known == 0) {
        qs_storedb_rollback(db);
        return QS_GROUP_UNKNOWN;
    }
    if (known < 0 || fn(sql, ctx, changes) != 0 || qs_storedb_commit(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot change the groups in store.db: %s "
                 "(nothing was changed)", sqlite3_errmsg(sql));
        qs_storedb_rollback(db);
        *changes = 0;
        return -1;
    }
    return 0;
}

struct create_ctx {
    const char *name;
    int64_t now_ms;
};

static int
do_create(sqlite3 *sql, const void *ctx, int64_t *changes)
{
    const struct create_ctx *c = ctx;
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_exec(sql, QS_GROUP_SQL_TABLES, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sql, "INSERT INTO machine_groups(name, created_ms) VALUES (?1, ?2) "
                           "ON CONFLICT(name) DO NOTHING", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    *changes = sqlite3_changes(sql);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_storedb_group_create(qs_storedb_t *db, const char *name, int64_t now_ms, int *created,
                        char *errmsg, size_t errmsg_len)
{
    struct create_ctx c = { name, now_ms };
    int64_t n = 0;
    int rc;

    *created = 0;
    if (qs_group_name_check(name, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_group_create_pg(db, name, now_ms, created, errmsg, errmsg_len);
    rc = write_tx(db, name, 0, do_create, &c, &n, errmsg, errmsg_len);
    *created = rc == 0 && n > 0;
    return rc;
}

int
qs_storedb_group_exists(qs_storedb_t *db, const char *name, int *exists, char *errmsg,
                        size_t errmsg_len)
{
    sqlite3 *sql;
    int known;

    *exists = 0;
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_group_exists_pg(db, name, exists, errmsg, errmsg_len);
    sql = qs_storedb_sqlite(db);
    if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s", sqlite3_errmsg(sql));
        return -1;
    }
    known = group_known(sql, name);
    if (known < 0)
        snprintf(errmsg, errmsg_len, "cannot read the groups in store.db: %s",
                 sqlite3_errmsg(sql));
    qs_storedb_read_end(db);
    *exists = known > 0;
    return known < 0 ? -1 : 0;
}

struct members_ctx {
    const char *name;
    const uint8_t (*ps)[QS_PSEUDONYM_BYTES];   /* add: n pseudonyms */
    const qs_machine_ps_t *who;                 /* remove: n machines (NULL: the group) */
    size_t n;
};

/* One statement (?1 the group, ?2 a pseudonym) for each pseudonym given. */
static int
each_ps(sqlite3 *sql, const char *q, const struct members_ctx *m, int64_t *changes)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;

    if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, m->name, -1, SQLITE_STATIC);
    for (size_t i = 0; i < m->n && rc == SQLITE_DONE; i++) {
        size_t spellings = m->who ? m->who[i].n : 1;
        for (size_t s = 0; s < spellings && rc == SQLITE_DONE; s++) {
            sqlite3_reset(st);
            sqlite3_bind_blob(st, 2, m->who ? m->who[i].machine_ps[s] : m->ps[i],
                              QS_PSEUDONYM_BYTES, SQLITE_STATIC);
            rc = sqlite3_step(st);
            if (rc == SQLITE_DONE)
                *changes += sqlite3_changes(sql);
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int
do_add(sqlite3 *sql, const void *ctx, int64_t *changes)
{
    return each_ps(sql, "INSERT INTO group_members(group_name, machine_ps) VALUES (?1, ?2) "
                   "ON CONFLICT DO NOTHING", ctx, changes);
}

static int
do_remove(sqlite3 *sql, const void *ctx, int64_t *changes)
{
    const struct members_ctx *m = ctx;

    if (m->n > 0)
        return each_ps(sql, "DELETE FROM group_members WHERE group_name = ?1 AND "
                       "machine_ps = ?2", m, changes);
    if (qs_sql_run(sql, "DELETE FROM group_members WHERE group_name = ?1", bind_name, m->name,
                   changes) != 0)
        return -1;
    if (qs_trend_group_forget_sqlite(sql, m->name) != 0)   /* its daily snapshots */
        return -1;
    return qs_sql_run(sql, "DELETE FROM machine_groups WHERE name = ?1", bind_name, m->name, NULL);
}

int
qs_storedb_group_add(qs_storedb_t *db, const char *name,
                     const uint8_t (*machine_ps)[QS_PSEUDONYM_BYTES], size_t n, int64_t *added,
                     char *errmsg, size_t errmsg_len)
{
    struct members_ctx m = { name, machine_ps, NULL, n };

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_group_add_pg(db, name, machine_ps, n, added, errmsg, errmsg_len);
    return write_tx(db, name, 1, do_add, &m, added, errmsg, errmsg_len);
}

int
qs_storedb_group_remove(qs_storedb_t *db, const char *name, const qs_machine_ps_t *who,
                        size_t n, int64_t *removed, char *errmsg, size_t errmsg_len)
{
    struct members_ctx m = { name, NULL, who, who ? n : 0 };

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_group_remove_pg(db, name, who, m.n, removed, errmsg, errmsg_len);
    return write_tx(db, name, 1, do_remove, &m, removed, errmsg, errmsg_len);
}

/* The groups' exact member counts (inside the caller's snapshot). */
static int
list_read(sqlite3 *sql, qs_group_list_t *out, const char *name)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    if ((rc = tables_exist(sql)) <= 0)
        return rc;
    if (sqlite3_prepare_v2(sql, sql_list, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (name != NULL)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        qs_group_list_push(out, &cap, (const char *)sqlite3_column_text(st, 0),
                           sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_storedb_group_list(qs_storedb_t *db, qs_group_list_t *out, const qs_policy_t *policy,
                      const char *name, char *errmsg, size_t errmsg_len)
{
    int rc;

    memset(out, 0, sizeof *out);
    out->k = qs_compliance_k(policy);
    if (qs_storedb_pgdb(db) != NULL) {
        rc = qs_storedb_group_list_pg(db, out, name, errmsg, errmsg_len);
    } else if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s",
                 sqlite3_errmsg(qs_storedb_sqlite(db)));
        return -1;
    } else {
        rc = list_read(qs_storedb_sqlite(db), out, name);
        if (rc != 0)
            snprintf(errmsg, errmsg_len, "cannot read the groups in store.db: %s",
                     sqlite3_errmsg(qs_storedb_sqlite(db)));
        qs_storedb_read_end(db);
    }
    if (rc != 0) {
        qs_group_list_free(out);
        return -1;
    }
    if (name != NULL && out->n == 0)
        return QS_GROUP_UNKNOWN;
    for (size_t i = 0; i < out->n; i++)
        if (out->rows[i].members > 0 && out->rows[i].members < out->k)   /* 0 is nobody */
            out->rows[i].members = QS_STOREDB_SUPPRESSED;
    return 0;
}

/* The group's exact cells, in the caller's snapshot: 0, QS_GROUP_UNKNOWN, -1. */
static int
compliance_read(sqlite3 *sql, qs_storedb_compliance_t *out, const char *name,
                const uint32_t *topic_type, const char *topic_id)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = group_known(sql, name);

    if (rc <= 0)
        return rc == 0 ? QS_GROUP_UNKNOWN : -1;
    if (sqlite3_prepare_v2(sql, sql_compliance, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (topic_type != NULL)
        sqlite3_bind_int64(st, 2, *topic_type);
    if (topic_id != NULL)
        sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(st, 1);
        qs_compliance_push(out, &cap, (uint32_t)sqlite3_column_int64(st, 0),
                           id ? (const char *)id : "", (uint32_t)sqlite3_column_int64(st, 2),
                           sqlite3_column_int64(st, 3));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

void
qs_group_scope_push(qs_compliance_scope_t **scopes, size_t *n, size_t *cap, uint32_t topic_type,
                    int64_t machines)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *scopes = qs_realloc(*scopes, *cap * sizeof **scopes);
    }
    (*scopes)[*n].topic_type = topic_type;
    (*scopes)[(*n)++].machines = machines;
}

/* The group's scopes, in the caller's snapshot. 0 or -1. */
static int
scopes_read(sqlite3 *sql, const char *name, qs_compliance_scope_t **scopes, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    if (sqlite3_prepare_v2(sql, QS_GROUP_SQL_SCOPES("?1"), -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        qs_group_scope_push(scopes, n, &cap, (uint32_t)sqlite3_column_int64(st, 0),
                            sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_storedb_group_compliance(qs_storedb_t *db, qs_storedb_compliance_t *out,
                            const qs_policy_t *policy, const char *name,
                            const uint32_t *topic_type, const char *topic_id, char *errmsg,
                            size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    qs_compliance_scope_t *scopes = NULL;
    size_t n_scopes = 0;
    int rc;

    memset(out, 0, sizeof *out);
    out->k = qs_compliance_k(policy);
    if (qs_storedb_pgdb(db) != NULL) {
        rc = qs_storedb_group_compliance_pg(db, out, name, topic_type, topic_id, &scopes,
                                            &n_scopes, errmsg, errmsg_len);
    } else if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s", sqlite3_errmsg(sql));
        return -1;
    } else {
        rc = compliance_read(sql, out, name, topic_type, topic_id);
        if (rc == 0 && scopes_read(sql, name, &scopes, &n_scopes) != 0)
            rc = -1;
        if (rc == -1)
            snprintf(errmsg, errmsg_len, "group compliance query on store.db failed: %s",
                     sqlite3_errmsg(sql));
        qs_storedb_read_end(db);
    }
    if (rc != 0) {
        free(scopes);
        qs_storedb_compliance_free(out);
        return rc;
    }
    /* The fleet's rules, with the group's own scopes, before anything
     * leaves store/. */
    qs_compliance_suppress(out, scopes, n_scopes);
    free(scopes);
    return 0;
}

int
qs_group_forget_sqlite(sqlite3 *sql, const qs_machine_ps_t *who, int64_t *deleted)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE, t = tables_exist(sql);
    int64_t n = 0;

    if (deleted != NULL)
        *deleted = 0;
    if (t <= 0)
        return t;
    if (sqlite3_prepare_v2(sql, "DELETE FROM group_members WHERE machine_ps = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    for (size_t s = 0; s < who->n && rc == SQLITE_DONE; s++) {
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 1, who->machine_ps[s], QS_PSEUDONYM_BYTES, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            n += sqlite3_changes(sql);
    }
    sqlite3_finalize(st);
    if (deleted != NULL)
        *deleted = n;
    return rc == SQLITE_DONE ? 0 : -1;
}
