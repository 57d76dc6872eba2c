/* storedb.c - store.db schema, history partitions, counters and scrubbing. */
#include "storedb_sqlite.h"
#include "storedb_pg.h"
#include "deadline_rules.h"
#include "qs_config.h"
#include "qs_counts.h"
#include "qs_fsutil.h"
#include "qs_log.h"
#include "qs_sqlutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One of db (SQLite) and pg (PostgreSQL, storedb_pg.c) is set. */
struct qs_storedb {
    qs_pgdb_t *pg;
    sqlite3 *db;
    sqlite3_stmt *counter_add;
    sqlite3_stmt *partition_register;
};

#define LATEST_DEADLINE_INDEX \
    "CREATE INDEX IF NOT EXISTS latest_deadline ON latest(topic_type, topic_id, state_id, time_ms) " \
    "  WHERE " QS_DEADLINE_INSTALLED_OR("state_id") ";"

/* auto_vacuum must be chosen before the first table exists. */
static const char schema[] =
    "PRAGMA auto_vacuum=INCREMENTAL;"
    "CREATE TABLE IF NOT EXISTS clients("
    "  client_id INTEGER PRIMARY KEY, pk BLOB NOT NULL UNIQUE,"
    "  low_water INTEGER NOT NULL DEFAULT 0,"
    "  first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS seen("
    "  client_id INTEGER NOT NULL, serial INTEGER NOT NULL,"
    "  PRIMARY KEY(client_id, serial)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS latest("
    "  client_id INTEGER NOT NULL, topic_type INTEGER NOT NULL, topic_id TEXT NOT NULL,"
    "  state_id INTEGER NOT NULL, time_ms INTEGER NOT NULL, report_ms INTEGER NOT NULL,"
    "  machine_ps BLOB, domain_ps BLOB,"
    "  PRIMARY KEY(client_id, topic_type, topic_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS latest_by_machine ON latest(machine_ps);"
    /* Deadline compliance (qs_store_deadline.h): installed at or before a
     * deadline is a range count. Partial: only installed rows, so that the
     * other state changes never touch it. IF NOT EXISTS: a store.db from an
     * older release gains it when qs-store next opens it (docs/deployments.md). */
    LATEST_DEADLINE_INDEX
    "CREATE TABLE IF NOT EXISTS partitions("
    "  epoch INTEGER NOT NULL, topic_type INTEGER NOT NULL, rows INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(epoch, topic_type)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    "  WITHOUT ROWID;";

/* Schema version 1: compliance_counts (what it is and who keeps it exact:
 * qs_counts.h). Rows entering or leaving latest are counted by these
 * triggers, whoever writes; state changes of existing rows by the writer
 * (qs_count_deltas_t). A group that reaches zero is deleted: no topic id
 * outlives its last row. */
#define COUNT_KEY(row) "topic_type = " row ".topic_type AND topic_id = " row ".topic_id " \
                       "AND state_id = " row ".state_id"

static const char schema_counts[] =
    "CREATE TABLE IF NOT EXISTS compliance_counts("
    "  topic_type INTEGER NOT NULL, topic_id TEXT NOT NULL, state_id INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY(topic_type, topic_id, state_id)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS latest_counts_insert AFTER INSERT ON latest BEGIN "
    "  INSERT INTO compliance_counts(topic_type, topic_id, state_id, count) "
    "  VALUES (new.topic_type, new.topic_id, new.state_id, 1) "
    "  ON CONFLICT DO UPDATE SET count = count + 1; END;"
    /* An upsert, not an UPDATE: inside a transaction whose state moves are
     * not applied yet, the group may have no row (or reach -1 for a moment). */
    "CREATE TRIGGER IF NOT EXISTS latest_counts_delete AFTER DELETE ON latest BEGIN "
    "  INSERT INTO compliance_counts(topic_type, topic_id, state_id, count) "
    "  VALUES (old.topic_type, old.topic_id, old.state_id, -1) "
    "  ON CONFLICT DO UPDATE SET count = count - 1;"
    "  DELETE FROM compliance_counts WHERE " COUNT_KEY("old") " AND count = 0; END;";

/* Schema version 2: scope_counts (qs_storedb.h, qs_counts.h). A client is
 * counted in a topic type when its first latest row of the type appears
 * and out when its last leaves; each test is one probe of latest's primary
 * key (client_id, topic_type, ...), which the writer is touching anyway.
 * SQLite has one writer at a time, so the test and the count cannot race.
 * The UPDATE triggers fire only for a statement that assigns client_id or
 * topic_type (none of the store's do; a row moved to another client would):
 * a state change costs nothing here. */
#define SCOPE_ADD(row) \
    "  INSERT INTO scope_counts(topic_type, machines) VALUES (" row ".topic_type, 1) " \
    "  ON CONFLICT DO UPDATE SET machines = machines + 1; "
#define SCOPE_SUB(row) \
    "  INSERT INTO scope_counts(topic_type, machines) VALUES (" row ".topic_type, -1) " \
    "  ON CONFLICT DO UPDATE SET machines = machines - 1; " \
    "  DELETE FROM scope_counts WHERE topic_type = " row ".topic_type AND machines = 0; "
#define SCOPE_FIRST(row) \
    "NOT EXISTS (SELECT 1 FROM latest WHERE client_id = " row ".client_id AND " \
    "topic_type = " row ".topic_type AND topic_id <> " row ".topic_id)"
#define SCOPE_GONE(row) \
    "NOT EXISTS (SELECT 1 FROM latest WHERE client_id = " row ".client_id AND " \
    "topic_type = " row ".topic_type)"
#define SCOPE_MOVED "(old.client_id <> new.client_id OR old.topic_type <> new.topic_type)"

static const char schema_scope[] =
    "CREATE TABLE IF NOT EXISTS scope_counts("
    "  topic_type INTEGER PRIMARY KEY, machines INTEGER NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS latest_scope_insert AFTER INSERT ON latest "
    "  WHEN " SCOPE_FIRST("new") " BEGIN " SCOPE_ADD("new") "END;"
    "CREATE TRIGGER IF NOT EXISTS latest_scope_delete AFTER DELETE ON latest "
    "  WHEN " SCOPE_GONE("old") " BEGIN " SCOPE_SUB("old") "END;"
    "CREATE TRIGGER IF NOT EXISTS latest_scope_move_out AFTER UPDATE OF client_id, topic_type "
    "  ON latest WHEN " SCOPE_MOVED " AND " SCOPE_GONE("old") " BEGIN " SCOPE_SUB("old") "END;"
    "CREATE TRIGGER IF NOT EXISTS latest_scope_move_in AFTER UPDATE OF client_id, topic_type "
    "  ON latest WHEN " SCOPE_MOVED " AND " SCOPE_FIRST("new") " BEGIN " SCOPE_ADD("new") "END;";

/* Schema version 3: installed_hours (qs_storedb.h, qs_store_deadline.h):
 * latest's installed rows per update and hour of their message time, so
 * that a deadline's on-time count reads whole hours instead of walking one
 * index entry per machine. Rows in and out by these triggers (WHEN: only
 * installed rows, the list of the partial index latest_deadline); a state
 * or time change by the writer (qs_count_deltas_installed_move). */
#define HOURS_KEY(row) COUNT_KEY(row) " AND hour = " QS_INSTALLED_HOUR_SQL(row ".time_ms")
static const char schema_installed[] =
    "CREATE TABLE IF NOT EXISTS installed_hours("
    "  topic_type INTEGER NOT NULL, topic_id TEXT NOT NULL, state_id INTEGER NOT NULL,"
    "  hour INTEGER NOT NULL, count INTEGER NOT NULL,"
    "  PRIMARY KEY(topic_type, topic_id, state_id, hour)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS latest_installed_insert AFTER INSERT ON latest "
    "  WHEN " QS_DEADLINE_INSTALLED_OR("new.state_id") " BEGIN "
    "  INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, count) "
    "  VALUES (new.topic_type, new.topic_id, new.state_id, "
    QS_INSTALLED_HOUR_SQL("new.time_ms") ", 1) ON CONFLICT DO UPDATE SET count = count + 1; END;"
    "CREATE TRIGGER IF NOT EXISTS latest_installed_delete AFTER DELETE ON latest "
    "  WHEN " QS_DEADLINE_INSTALLED_OR("old.state_id") " BEGIN "
    "  INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, count) "
    "  VALUES (old.topic_type, old.topic_id, old.state_id, "
    QS_INSTALLED_HOUR_SQL("old.time_ms") ", -1) ON CONFLICT DO UPDATE SET count = count - 1;"
    "  DELETE FROM installed_hours WHERE " HOURS_KEY("old") " AND count = 0; END;";

static int
exec_or_note(sqlite3 *db, const char *sql, const char *what, const char *path, char *errmsg,
             size_t errmsg_len)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
        return 0;
    snprintf(errmsg, errmsg_len, "%s '%s': %s", what, path, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return -1;
}

static int
counts_rebuild_or_note(qs_storedb_t *s, const char *path, char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_counts_rebuild(s, NULL) == 0)
        return 0;
    snprintf(errmsg, errmsg_len, "cannot fill compliance_counts and scope_counts in '%s': %s",
             path, sqlite3_errmsg(s->db));
    return -1;
}

/* Versions 0 (a new file) to 2 -> 3, inside schema_upgrade's transaction. */
static int
upgrade_to_3(qs_storedb_t *s, const char *path, char *errmsg, size_t errmsg_len)
{
    sqlite3 *db = s->db;

    /* The kept counts are rebuilt from latest whatever the old version was
     * (a version 1 file has compliance_counts already: rebuilding it is
     * the same scan, and a file this old may never have been verified). */
    return exec_or_note(db, schema_counts, "cannot upgrade the schema of", path, errmsg,
                        errmsg_len) != 0 ||
           exec_or_note(db, schema_scope, "cannot upgrade the schema of", path, errmsg,
                        errmsg_len) != 0 ||
           exec_or_note(db, schema_installed, "cannot upgrade the schema of", path, errmsg,
                        errmsg_len) != 0 ||
           /* Before version 3 the index's condition was an IN list: made
            * again with the form every statement now names (deadline_rules.h). */
           exec_or_note(db, "DROP INDEX IF EXISTS latest_deadline;" LATEST_DEADLINE_INDEX,
                        "cannot upgrade the schema of", path, errmsg, errmsg_len) != 0 ||
           counts_rebuild_or_note(s, path, errmsg, errmsg_len) != 0 ||
           /* After the fill, which walks it instead of sorting latest; nothing
            * reads it any more, and it slowed every state change. */
           exec_or_note(db, "DROP INDEX IF EXISTS latest_compliance",
                        "cannot upgrade the schema of", path, errmsg, errmsg_len) != 0
               ? -1 : 0;
}

/* Bring an older schema up to QS_STOREDB_SCHEMA_VERSION in one IMMEDIATE
 * transaction (the version is read again inside it: the store, the
 * retention worker and qsctl may open the file at the same moment). A file
 * without a latest table is not a store database and is left untouched. */
static int
schema_upgrade(qs_storedb_t *s, const char *path, char *errmsg, size_t errmsg_len)
{
    sqlite3 *db = s->db;
    int64_t version = 0, has_latest = 0;
    char sql[64];

    if (qs_sql_int64(db, "PRAGMA user_version", &version) != 0) {
        snprintf(errmsg, errmsg_len, "cannot read '%s': %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (version == QS_STOREDB_SCHEMA_VERSION)
        return 0;
    if (version > QS_STOREDB_SCHEMA_VERSION) {
        snprintf(errmsg, errmsg_len, "'%s' has schema version %lld, newer than this program's "
                 "%d: run the quietstate release that wrote it, or newer", path,
                 (long long)version, QS_STOREDB_SCHEMA_VERSION);
        return -1;
    }
    if (exec_or_note(db, "BEGIN IMMEDIATE", "cannot lock", path, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_sql_int64(db, "PRAGMA user_version", &version) != 0 ||
        qs_sql_int64(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                     "AND name = 'latest'", &has_latest) != 0) {
        snprintf(errmsg, errmsg_len, "cannot read '%s': %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (version == QS_STOREDB_SCHEMA_VERSION)
        return exec_or_note(db, "COMMIT", "cannot commit", path, errmsg, errmsg_len);
    if (version > QS_STOREDB_SCHEMA_VERSION) {
        snprintf(errmsg, errmsg_len, "'%s' was upgraded to schema version %lld by a newer "
                 "program meanwhile: run that release", path, (long long)version);
        goto fail;
    }
    if (!has_latest) {
        snprintf(errmsg, errmsg_len, "'%s' is not a quietstate store database (no table "
                 "'latest'): check --home, or run qs-store once to create it", path);
        goto fail;
    }
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", QS_STOREDB_SCHEMA_VERSION);
    if ((version < 3 && upgrade_to_3(s, path, errmsg, errmsg_len) != 0) ||
        /* Version 4: expiry passes over the primary key instead (expire.c);
         * the index moved on every report, a random page of a full store. */
        exec_or_note(db, "DROP INDEX IF EXISTS latest_by_report", "cannot upgrade the schema of",
                     path, errmsg, errmsg_len) != 0 ||
        exec_or_note(db, sql, "cannot upgrade the schema of", path, errmsg, errmsg_len) != 0 ||
        exec_or_note(db, "COMMIT", "cannot commit the schema upgrade of", path, errmsg,
                     errmsg_len) != 0)
        goto fail;
    return 0;
fail:
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

const char *
qs_storedb_location(const char *store_database, const char *store_db_path)
{
    return store_database != NULL && store_database[0] != '\0' ? store_database
                                                               : store_db_path;
}

qs_storedb_t *
qs_storedb_open_site(const char *conf_path, const char *store_db_path, const char *home,
                     int create, char *errmsg, size_t errmsg_len)
{
    qs_config_t cfg;
    const char *where;
    struct stat st;

    if (qs_config_load(&cfg, conf_path, errmsg, errmsg_len) != 0)
        return NULL;
    where = qs_storedb_location(cfg.store_database, store_db_path);
    if (!create && !qs_config_database_is_pg(where) && stat(where, &st) != 0) {
        snprintf(errmsg, errmsg_len, "'%s' is missing: run 'qsctl init --home %s' to create "
                 "the site's data database", where, home);
        return NULL;
    }
    return qs_storedb_open(where, create, errmsg, errmsg_len);
}

qs_storedb_engine_t
qs_storedb_engine(const qs_storedb_t *db)
{
    return db->pg != NULL ? QS_STOREDB_POSTGRESQL : QS_STOREDB_SQLITE;
}

qs_pgdb_t *
qs_storedb_pgdb(qs_storedb_t *db)
{
    return db->pg;
}

static qs_storedb_t *
open_pg(const char *url, int create, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_pgdb_open(url, create, errmsg, errmsg_len);
    qs_storedb_t *s;

    if (pg == NULL)
        return NULL;
    s = qs_calloc(1, sizeof *s);
    s->pg = pg;
    return s;
}

qs_storedb_t *
qs_storedb_open(const char *path, int create, char *errmsg, size_t errmsg_len)
{
    qs_storedb_t *s;
    sqlite3 *db = NULL;
    char *err = NULL;

    if (qs_config_database_is_pg(path))
        return open_pg(path, create, errmsg, errmsg_len);
    if (create && qs_fs_create_private(path, errmsg, errmsg_len) != 0)
        return NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "cannot open '%s': %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    /* auto_vacuum first: switching to WAL writes the header of a new file,
     * after which SQLite no longer lets auto_vacuum change (without VACUUM). */
    if ((create && sqlite3_exec(db, "PRAGMA auto_vacuum=INCREMENTAL", NULL, NULL, &err) !=
                       SQLITE_OK) ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         "PRAGMA secure_delete=ON; PRAGMA foreign_keys=OFF;"
                         "PRAGMA cache_size=" QS_STOREDB_SQLITE_CACHE_SIZE "; PRAGMA temp_store=MEMORY;",
                     NULL, NULL, &err) != SQLITE_OK ||
        (create && sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK)) {
        snprintf(errmsg, errmsg_len, "cannot prepare '%s': %s", path, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
        return NULL;
    }
    s = qs_calloc(1, sizeof *s);
    s->db = db;
    if (schema_upgrade(s, path, errmsg, errmsg_len) != 0) {
        qs_storedb_destroy(&s);
        return NULL;
    }
    if (sqlite3_prepare_v3(db, "INSERT INTO counters(name, value) VALUES (?1, ?2) "
                           "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                           -1, SQLITE_PREPARE_PERSISTENT, &s->counter_add, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, "INSERT INTO partitions(epoch, topic_type, rows) VALUES (?1, ?2, 0) "
                           "ON CONFLICT DO NOTHING",
                           -1, SQLITE_PREPARE_PERSISTENT, &s->partition_register, NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "'%s' is not a quietstate store database: %s", path,
                 sqlite3_errmsg(db));
        qs_storedb_destroy(&s);
        return NULL;
    }
    return s;
}

void
qs_storedb_destroy(qs_storedb_t **db_p)
{
    qs_storedb_t *s;

    if (db_p == NULL || *db_p == NULL)
        return;
    s = *db_p;
    qs_pgdb_destroy(&s->pg);
    sqlite3_finalize(s->counter_add);
    sqlite3_finalize(s->partition_register);
    sqlite3_close(s->db);
    free(s);
    *db_p = NULL;
}

/* NULL for a PostgreSQL store: an SQLite module handed one is a bug in
 * the dispatch, and crashes at once instead of writing elsewhere. */
sqlite3 *
qs_storedb_sqlite(qs_storedb_t *db)
{
    return db->db;
}

int64_t
qs_epoch_of(int64_t time_ms)
{
    return time_ms >= 0 ? time_ms / 86400000LL : (time_ms - 86399999LL) / 86400000LL;
}

int
qs_storedb_partition_name(char *out, size_t out_len, int64_t epoch, uint32_t topic_type)
{
    int n = snprintf(out, out_len, "history_%lld_%u", (long long)epoch, topic_type);
    return (n < 0 || (size_t)n >= out_len) ? -1 : 0;
}

int
qs_storedb_partition_ensure(qs_storedb_t *s, int64_t epoch, uint32_t topic_type)
{
    char name[64], sql[1024];
    int rc;

    if (s->pg != NULL)
        return qs_pgdb_partition_ensure(s->pg, epoch, topic_type);

    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
        return -1;
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s("
             "  client_id INTEGER NOT NULL, serial INTEGER NOT NULL,"
             "  state_id INTEGER NOT NULL, topic_id TEXT NOT NULL, time_ms INTEGER NOT NULL,"
             "  machine_ps BLOB, domain_ps BLOB, user_ps BLOB, details BLOB,"
             "  PRIMARY KEY(client_id, serial)) WITHOUT ROWID;"
             "CREATE INDEX IF NOT EXISTS %s_by_machine ON %s(machine_ps);",
             name, name, name);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s->partition_register, 1, epoch);
    sqlite3_bind_int64(s->partition_register, 2, topic_type);
    rc = sqlite3_step(s->partition_register);
    sqlite3_reset(s->partition_register);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_storedb_partitions(qs_storedb_t *s, qs_partition_t **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 16;
    int rc;

    if (s->pg != NULL)
        return qs_pgdb_partitions(s->pg, out, n);

    *out = qs_calloc(cap, sizeof **out);
    *n = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT epoch, topic_type, rows FROM partitions "
                           "ORDER BY epoch, topic_type", -1, &st, NULL) != SQLITE_OK) {
        free(*out);
        *out = NULL;
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap *= 2;
            *out = qs_realloc(*out, cap * sizeof **out);
        }
        (*out)[*n].epoch = sqlite3_column_int64(st, 0);
        (*out)[*n].topic_type = (uint32_t)sqlite3_column_int64(st, 1);
        (*out)[*n].rows = sqlite3_column_int64(st, 2);
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}

int
qs_storedb_partition_drop(qs_storedb_t *s, int64_t epoch, uint32_t topic_type)
{
    char name[64], sql[256];
    sqlite3_stmt *st = NULL;
    int rc;

    if (s->pg != NULL)
        return qs_pgdb_partition_drop(s->pg, epoch, topic_type);

    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
        return -1;
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", name);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM partitions WHERE epoch = ?1 AND topic_type = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, epoch);
    sqlite3_bind_int64(st, 2, topic_type);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_storedb_counter_add(qs_storedb_t *s, const char *name, int64_t delta)
{
    int rc;

    if (s->pg != NULL)
        return qs_pgdb_counter_add(s->pg, name, delta);

    sqlite3_bind_text(s->counter_add, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->counter_add, 2, delta);
    rc = sqlite3_step(s->counter_add);
    sqlite3_reset(s->counter_add);
    sqlite3_clear_bindings(s->counter_add);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_storedb_counter_get(qs_storedb_t *s, const char *name, int64_t *value)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s->pg != NULL)
        return qs_pgdb_counter_get(s->pg, name, value);

    *value = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM counters WHERE name = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : -1;
}

int
qs_storedb_scrub(qs_storedb_t *s, char *errmsg, size_t errmsg_len)
{
    int log_frames = 0, ckpt = 0;

    if (s->pg != NULL)
        return qs_pgdb_scrub(s->pg, errmsg, errmsg_len);

    if (sqlite3_exec(s->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "incremental vacuum failed: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    /* A reader (the store, qsctl) can pin the WAL for a moment; retry for up
     * to ~10 s before reporting that the WAL could not be truncated. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                           &log_frames, &ckpt);
        if (rc == SQLITE_OK)
            return 0;
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
            snprintf(errmsg, errmsg_len, "WAL checkpoint failed: %s", sqlite3_errmsg(s->db));
            return -1;
        }
        usleep(100000);
    }
    snprintf(errmsg, errmsg_len, "WAL checkpoint stayed busy for 10 s (%d of %d frames "
             "checkpointed): deleted data may remain in store.db-wal until the next pass",
             ckpt, log_frames);
    return -1;
}

int
qs_storedb_begin(qs_storedb_t *s)
{
    if (s->pg != NULL)
        return qs_pgdb_begin(s->pg);
    return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int
qs_storedb_commit(qs_storedb_t *s)
{
    if (s->pg != NULL)
        return qs_pgdb_commit(s->pg);
    return sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void
qs_storedb_rollback(qs_storedb_t *s)
{
    if (s->pg != NULL) {
        qs_pgdb_rollback(s->pg);
        return;
    }
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
cmp_partition(const void *a, const void *b)
{
    const qs_partition_t *x = a, *y = b;
    if (x->epoch != y->epoch)
        return x->epoch < y->epoch ? -1 : 1;
    return (x->topic_type > y->topic_type) - (x->topic_type < y->topic_type);
}

/* Parse "history_<epoch>_<topic>" exactly; 0 on success. */
static int
parse_partition_name(const char *name, int64_t *epoch, uint32_t *topic_type)
{
    long long e;
    unsigned t;
    int consumed = 0;
    char back[64];

    if (sscanf(name, "history_%lld_%u%n", &e, &t, &consumed) != 2 || name[consumed] != '\0')
        return -1;
    /* Reject spellings the store would never produce ("history_007_500"). */
    if (qs_storedb_partition_name(back, sizeof back, e, t) != 0 || strcmp(back, name) != 0)
        return -1;
    *epoch = e;
    *topic_type = t;
    return 0;
}

int
qs_storedb_partitions_present(qs_storedb_t *db, qs_partition_t **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap;
    int rc;

    if (db->pg != NULL)
        return qs_pgdb_partitions_present(db->pg, out, n);

    if (qs_storedb_partitions(db, out, n) != 0)
        return -1;
    cap = *n;
    if (sqlite3_prepare_v2(qs_storedb_sqlite(db), "SELECT name FROM sqlite_master WHERE "
                           "type = 'table' AND name LIKE 'history\\_%' ESCAPE '\\'",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int64_t epoch;
        uint32_t topic;
        int known = 0;

        if (name == NULL || parse_partition_name(name, &epoch, &topic) != 0)
            continue;
        for (size_t i = 0; i < *n && !known; i++)
            known = (*out)[i].epoch == epoch && (*out)[i].topic_type == topic;
        if (known)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = qs_realloc(*out, cap * sizeof **out);
        }
        (*out)[*n].epoch = epoch;
        (*out)[*n].topic_type = topic;
        (*out)[*n].rows = -1;   /* unregistered: count unknown */
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        goto fail;
    if (*n > 1)
        qsort(*out, *n, sizeof **out, cmp_partition);
    return 0;
fail:
    free(*out);
    *out = NULL;
    *n = 0;
    return -1;
}
