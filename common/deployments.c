/* deployments.c - deployments with deadlines in site.db (see qs_deployments.h).
 *
 * Two tables: deployments (one row per id) and deployment_updates (its topic
 * ids, with their position so that show lists them in the order given). The
 * tables are created on first use by every call, as users.c does: a site.db
 * from an older release is upgraded the first time a deployment is added or
 * read, and CREATE ... IF NOT EXISTS is free once they exist.
 */
#include "qs_deployments.h"
#include "qs_log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char deployments_schema[] =
    "CREATE TABLE IF NOT EXISTS deployments("
    "  id TEXT PRIMARY KEY, topic_type INTEGER NOT NULL, available_ms INTEGER,"
    "  deadline_ms INTEGER NOT NULL, group_name TEXT, created_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS deployment_updates("
    "  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,"
    "  position INTEGER NOT NULL, topic_id TEXT NOT NULL,"
    "  PRIMARY KEY(deployment_id, position));";

static int
deployments_init(qs_sitedb_t *db, char *errmsg, size_t errmsg_len)
{
    char *err = NULL;

    if (sqlite3_exec(qs_sitedb_sqlite(db), deployments_schema, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "site.db: cannot create the deployments tables: %s",
                 err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static int
db_error(qs_sitedb_t *db, const char *what, char *errmsg, size_t errmsg_len)
{
    snprintf(errmsg, errmsg_len, "%s in '%s' failed: %s", what, qs_sitedb_path(db),
             sqlite3_errmsg(qs_sitedb_sqlite(db)));
    return -1;
}

int
qs_deployment_id_check(const char *id, char *errmsg, size_t errmsg_len)
{
    size_t n = strlen(id);

    if (n == 0 || n > QS_MAX_DEPLOYMENT_ID_BYTES) {
        snprintf(errmsg, errmsg_len, "--id must be 1..%u characters", QS_MAX_DEPLOYMENT_ID_BYTES);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') {
            snprintf(errmsg, errmsg_len, "--id '%s' has a character other than letters, "
                     "digits, '.', '_' and '-'", id);
            return -1;
        }
    }
    return 0;
}

static int
add_updates(qs_sitedb_t *db, const qs_deployment_t *d, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_sitedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;

    if (sqlite3_prepare_v2(sql, "INSERT INTO deployment_updates(deployment_id, position, "
                           "topic_id) VALUES (?1, ?2, ?3)", -1, &st, NULL) != SQLITE_OK)
        return db_error(db, "adding a deployment's updates", errmsg, errmsg_len);
    for (size_t i = 0; i < d->n_topic_ids && rc == SQLITE_DONE; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_text(st, 3, d->topic_ids[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_error(db, "adding a deployment's updates", errmsg,
                                            errmsg_len);
}

int
qs_deployments_add(qs_sitedb_t *db, const qs_deployment_t *d, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_sitedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    int rc;

    if (deployments_init(db, errmsg, errmsg_len) != 0)
        return -1;
    if (sqlite3_prepare_v2(sql, "INSERT INTO deployments(id, topic_type, available_ms, "
                           "deadline_ms, group_name, created_ms, actor) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(db, "adding a deployment", errmsg, errmsg_len);
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, d->topic_type);
    if (d->available_ms != QS_DEPLOYMENT_NO_TIME)
        sqlite3_bind_int64(st, 3, d->available_ms);
    sqlite3_bind_int64(st, 4, d->deadline_ms);
    if (d->group != NULL)
        sqlite3_bind_text(st, 5, d->group, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, d->created_ms);
    sqlite3_bind_text(st, 7, d->actor ? d->actor : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_error(db, "adding a deployment", errmsg, errmsg_len);
    if (sqlite3_changes(sql) == 0) {
        snprintf(errmsg, errmsg_len, "deployment '%s' already exists: choose another --id, "
                 "or 'qsctl deployment remove --id %s' first", d->id, d->id);
        return -1;
    }
    return add_updates(db, d, errmsg, errmsg_len);
}

static void
row_to_deployment(qs_deployment_t *d, sqlite3_stmt *st)
{
    const char *group = (const char *)sqlite3_column_text(st, 4);

    memset(d, 0, sizeof *d);
    d->id = qs_strdup((const char *)sqlite3_column_text(st, 0));
    d->topic_type = (uint32_t)sqlite3_column_int64(st, 1);
    d->available_ms = sqlite3_column_type(st, 2) == SQLITE_NULL ? QS_DEPLOYMENT_NO_TIME
                                                                 : sqlite3_column_int64(st, 2);
    d->deadline_ms = sqlite3_column_int64(st, 3);
    d->group = group ? qs_strdup(group) : NULL;
    d->created_ms = sqlite3_column_int64(st, 5);
    d->actor = qs_strdup((const char *)sqlite3_column_text(st, 6));
}

static int
load_updates(qs_sitedb_t *db, qs_deployment_t *d, char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(qs_sitedb_sqlite(db), "SELECT topic_id FROM deployment_updates "
                           "WHERE deployment_id = ?1 ORDER BY position", -1, &st,
                           NULL) != SQLITE_OK)
        return db_error(db, "reading a deployment's updates", errmsg, errmsg_len);
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        d->topic_ids = qs_realloc(d->topic_ids, (d->n_topic_ids + 1) * sizeof *d->topic_ids);
        d->topic_ids[d->n_topic_ids++] = qs_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_error(db, "reading a deployment's updates", errmsg,
                                            errmsg_len);
}

static const char sql_select[] =
    "SELECT id, topic_type, available_ms, deadline_ms, group_name, created_ms, actor "
    "FROM deployments";

int
qs_deployments_get(qs_sitedb_t *db, const char *id, qs_deployment_t *out, int *found,
                   char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    char sql[256];
    int rc;

    memset(out, 0, sizeof *out);
    *found = 0;
    if (deployments_init(db, errmsg, errmsg_len) != 0)
        return -1;
    snprintf(sql, sizeof sql, "%s WHERE id = ?1", sql_select);
    if (sqlite3_prepare_v2(qs_sitedb_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(db, "reading a deployment", errmsg, errmsg_len);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        row_to_deployment(out, st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(db, "reading a deployment", errmsg, errmsg_len);
    if (rc == SQLITE_DONE)
        return 0;
    if (load_updates(db, out, errmsg, errmsg_len) != 0) {
        qs_deployment_free(out);
        return -1;
    }
    *found = 1;
    return 0;
}

int
qs_deployments_list(qs_sitedb_t *db, qs_deployment_t **out, size_t *n, char *errmsg,
                    size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    char sql[256];
    int rc;

    *out = NULL;
    *n = 0;
    if (deployments_init(db, errmsg, errmsg_len) != 0)
        return -1;
    snprintf(sql, sizeof sql, "%s ORDER BY id", sql_select);
    if (sqlite3_prepare_v2(qs_sitedb_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(db, "listing deployments", errmsg, errmsg_len);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = qs_realloc(*out, (*n + 1) * sizeof **out);
        row_to_deployment(&(*out)[(*n)++], st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        qs_deployments_list_free(out, n);
        return db_error(db, "listing deployments", errmsg, errmsg_len);
    }
    for (size_t i = 0; i < *n; i++) {
        if (load_updates(db, &(*out)[i], errmsg, errmsg_len) != 0) {
            qs_deployments_list_free(out, n);
            return -1;
        }
    }
    return 0;
}

int
qs_deployments_remove(qs_sitedb_t *db, const char *id, int *removed, char *errmsg,
                      size_t errmsg_len)
{
    sqlite3 *sql = qs_sitedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    int rc;

    *removed = 0;
    if (deployments_init(db, errmsg, errmsg_len) != 0)
        return -1;
    /* Explicitly, not by the cascade: foreign keys may be off on a handle. */
    if (sqlite3_prepare_v2(sql, "DELETE FROM deployment_updates WHERE deployment_id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(db, "removing a deployment", errmsg, errmsg_len);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE ||
        sqlite3_prepare_v2(sql, "DELETE FROM deployments WHERE id = ?1", -1, &st, NULL) !=
            SQLITE_OK)
        return db_error(db, "removing a deployment", errmsg, errmsg_len);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_error(db, "removing a deployment", errmsg, errmsg_len);
    *removed = sqlite3_changes(sql) > 0;
    return 0;
}

void
qs_deployment_free(qs_deployment_t *d)
{
    for (size_t i = 0; i < d->n_topic_ids; i++)
        free(d->topic_ids[i]);
    free(d->topic_ids);
    free(d->id);
    free(d->group);
    free(d->actor);
    memset(d, 0, sizeof *d);
}

void
qs_deployments_list_free(qs_deployment_t **list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        qs_deployment_free(&(*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}
