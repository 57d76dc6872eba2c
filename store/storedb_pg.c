/* storedb_pg.c - the store on PostgreSQL: connection, schema, partitions, counters.
 *
 * The engine-neutral functions of qs_storedb.h call these when the site's
 * [store] database is a PostgreSQL URI (storedb.c dispatches). Why the
 * schema differs from SQLite's is told in storedb_pg.h. Every statement
 * here is either run once (schema) or cheap and rare (partitions, the
 * occasional counter read); the hot path's prepared statements live with
 * the write path.
 */
#include "storedb_pg.h"
#include "deadline_rules.h"
#include "qs_log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct qs_pgdb {
    PGconn *conn;
    int shard;
    unsigned generation;
    int broken;             /* qs_pgdb_invalidate: reconnect before the next use */
    char err[512];
};

/* Deadline compliance (qs_store_deadline.h): a range count. Also created
 * at a start of qs-store on a database made before it existed. */
#define QS_PG_LATEST_DEADLINE_INDEX \
    "CREATE INDEX IF NOT EXISTS latest_deadline ON latest(topic_type, topic_id, state_id, time_ms) " \
    "WHERE " QS_DEADLINE_INSTALLED_SQL ";"

/* Version 4's latest (expire_pg.c: aged rows are found by a pass over the
 * primary key). Without an index on report_ms, a report that restates a
 * state changes no indexed column, and with free room on the row's page
 * PostgreSQL updates it in place (HOT): no index entry written. */
#define QS_PG_LATEST_FILLFACTOR "90"
#define QS_PG_LATEST_V4 \
    "DROP INDEX IF EXISTS latest_by_report;" \
    "ALTER TABLE latest SET (fillfactor = " QS_PG_LATEST_FILLFACTOR ");"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, value bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS clients("
    "  client_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  pk bytea NOT NULL UNIQUE, low_water bigint NOT NULL DEFAULT 0,"
    "  first_ms bigint NOT NULL, last_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS seen("
    "  client_id bigint NOT NULL, serial bigint NOT NULL, PRIMARY KEY(client_id, serial));"
    "CREATE TABLE IF NOT EXISTS latest("
    "  client_id bigint NOT NULL, topic_type bigint NOT NULL, topic_id text NOT NULL,"
    "  state_id bigint NOT NULL, time_ms bigint NOT NULL, report_ms bigint NOT NULL,"
    "  machine_ps bytea, domain_ps bytea, serial bigint NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(client_id, topic_type, topic_id))"
    "  WITH (fillfactor = " QS_PG_LATEST_FILLFACTOR ");"
    "CREATE INDEX IF NOT EXISTS latest_by_machine ON latest(machine_ps);"
    QS_PG_LATEST_DEADLINE_INDEX
    "CREATE TABLE IF NOT EXISTS compliance_counts("
    "  topic_type bigint NOT NULL, topic_id text NOT NULL, state_id bigint NOT NULL,"
    "  shard smallint NOT NULL, count bigint NOT NULL,"
    "  PRIMARY KEY(topic_type, topic_id, state_id, shard));"
    "CREATE TABLE IF NOT EXISTS partitions("
    "  epoch bigint NOT NULL, topic_type bigint NOT NULL, shard smallint NOT NULL,"
    "  rows bigint NOT NULL DEFAULT 0, PRIMARY KEY(epoch, topic_type, shard));"
    "CREATE TABLE IF NOT EXISTS counters("
    "  name text NOT NULL, shard smallint NOT NULL, value bigint NOT NULL,"
    "  PRIMARY KEY(name, shard));";

static void
note(qs_pgdb_t *pg, const char *what)
{
    const char *e = PQerrorMessage(pg->conn);
    size_t n;

    snprintf(pg->err, sizeof pg->err, "%s: %s", what, e && *e ? e : "unknown error");
    n = strlen(pg->err);
    while (n > 0 && (pg->err[n - 1] == '\n' || pg->err[n - 1] == ' '))
        pg->err[--n] = '\0';
    for (char *p = pg->err; *p; p++)   /* one log line per event */
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

/* 0 when r is a success (command or tuples); notes and clears r otherwise. */
static int
result_ok(qs_pgdb_t *pg, PGresult *r, const char *what)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    if (r != NULL) {
        const char *e = PQresultErrorMessage(r);
        snprintf(pg->err, sizeof pg->err, "%s: %s", what, e && *e ? e : PQerrorMessage(pg->conn));
        for (char *p = pg->err; *p; p++)
            if (*p == '\n')
                *p = ' ';
    } else {
        note(pg, what);
    }
    PQclear(r);
    return -1;
}

int
qs_pgdb_exec(qs_pgdb_t *pg, const char *sql)
{
    PGresult *r = PQexec(pg->conn, sql);

    if (result_ok(pg, r, "statement failed") != 0)
        return -1;
    PQclear(r);
    return 0;
}

int
qs_pgdb_int64(qs_pgdb_t *pg, int64_t *out, const char *sql, int nparams,
              const char *const *params)
{
    PGresult *r = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);

    *out = 0;
    if (result_ok(pg, r, "query failed") != 0)
        return -1;
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* Version 1, 2 or 3 -> 4 (under the schema lock), in one transaction: from
 * version 1 scope_counts and client_types, from 1 or 2 installed_hours,
 * each filled from latest (latest held in SHARE mode: the store's workers
 * wait for it, none is counted twice or lost); from any, version 4's
 * latest without an index on report_ms and with room on its pages for
 * HOT updates (pages written before keep theirs until rewritten). */
static int
schema_upgrade(qs_pgdb_t *pg, int64_t from, char *errmsg, size_t errmsg_len)
{
    char sql[160];

    snprintf(sql, sizeof sql, "UPDATE meta SET value = %d WHERE key = 'schema_version'",
             QS_PG_SCHEMA_VERSION);
    if (qs_pgdb_exec(pg, "BEGIN") != 0 || (from < 2 && qs_pgdb_scope_schema(pg, 1) != 0) ||
        (from < 3 && qs_pgdb_installed_schema(pg, 1) != 0) ||
        qs_pgdb_exec(pg, QS_PG_LATEST_V4) != 0 ||
        qs_pgdb_exec(pg, sql) != 0 || qs_pgdb_exec(pg, "COMMIT") != 0) {
        snprintf(errmsg, errmsg_len, "cannot upgrade the store's tables from schema version "
                 "%lld to %d (%s): %s", (long long)from, QS_PG_SCHEMA_VERSION,
                 from < 2 ? "scope_counts, installed_hours, latest"
                          : from < 3 ? "installed_hours, latest" : "latest", pg->err);
        (void)qs_pgdb_exec(pg, "ROLLBACK");
        return -1;
    }
    return 0;
}

/* The lock is session-scoped so that it also covers the check before the
 * CREATEs: two first starts of qs-store at once create the schema once. */
static int
schema_ensure(qs_pgdb_t *pg, int create, char *errmsg, size_t errmsg_len)
{
    char sql[160];
    int64_t present = 0, version = 0;
    int rc = -1;

    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%d, %d)", QS_PG_LOCK_CLASS,
             QS_PG_LOCK_SCHEMA);
    if (qs_pgdb_exec(pg, sql) != 0) {
        snprintf(errmsg, errmsg_len, "%s", pg->err);
        return -1;
    }
    if (qs_pgdb_int64(pg, &present, "SELECT count(*) FROM pg_tables WHERE "
                      "schemaname = current_schema() AND tablename = 'meta'", 0, NULL) != 0)
        goto out_err;
    if (present && qs_pgdb_int64(pg, &version, "SELECT value FROM meta WHERE "
                                 "key = 'schema_version'", 0, NULL) != 0)
        goto out_err;
    if (present && version > QS_PG_SCHEMA_VERSION) {
        snprintf(errmsg, errmsg_len, "the database has schema version %lld, newer than this "
                 "program's %d: run the quietstate release that wrote it, or newer",
                 (long long)version, QS_PG_SCHEMA_VERSION);
        goto out;
    }
    if (present && version >= 1 && version < QS_PG_SCHEMA_VERSION) {
        if (schema_upgrade(pg, version, errmsg, errmsg_len) != 0)
            goto out;
        version = QS_PG_SCHEMA_VERSION;
    }
    if (present && version == QS_PG_SCHEMA_VERSION) {
        rc = 0;
        /* Looked up first: CREATE INDEX IF NOT EXISTS would lock latest
         * against writers even when the index is there. */
        if (create && (qs_pgdb_int64(pg, &present, "SELECT count(*) FROM pg_indexes WHERE "
                                     "schemaname = current_schema() AND "
                                     "indexname = 'latest_deadline'", 0, NULL) != 0 ||
                       (present == 0 && qs_pgdb_exec(pg, QS_PG_LATEST_DEADLINE_INDEX) != 0))) {
            snprintf(errmsg, errmsg_len, "cannot create the index latest_deadline: %s", pg->err);
            rc = -1;
        }
        goto out;
    }
    if (!create) {
        snprintf(errmsg, errmsg_len, "the database holds no quietstate store: run 'qsctl "
                 "init --home DIR --database URL' (or 'qsctl migrate') to create it");
        goto out;
    }
    snprintf(sql, sizeof sql, "INSERT INTO meta(key, value) VALUES ('schema_version', %d) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", QS_PG_SCHEMA_VERSION);
    if (qs_pgdb_exec(pg, "BEGIN") != 0 || qs_pgdb_exec(pg, schema) != 0 ||
        qs_pgdb_scope_schema(pg, 0) != 0 || qs_pgdb_installed_schema(pg, 0) != 0 ||
        qs_pgdb_exec(pg, sql) != 0 || qs_pgdb_exec(pg, "COMMIT") != 0) {
        snprintf(errmsg, errmsg_len, "cannot create the store's tables: %s", pg->err);
        (void)qs_pgdb_exec(pg, "ROLLBACK");
        goto out;
    }
    rc = 0;
    goto out;
out_err:
    snprintf(errmsg, errmsg_len, "cannot read the database's schema: %s", pg->err);
out:
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%d, %d)", QS_PG_LOCK_CLASS,
             QS_PG_LOCK_SCHEMA);
    (void)qs_pgdb_exec(pg, sql);
    return rc;
}

/* Server notices ("relation already exists, skipping", "no transaction in
 * progress" after a failed pipeline) are not events worth a log line. */
static void
notice_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

qs_pgdb_t *
qs_pgdb_open(const char *url, int create, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = calloc(1, sizeof *pg);

    if (pg == NULL) {
        snprintf(errmsg, errmsg_len, "out of memory");
        return NULL;
    }
    /* A connect timeout of our own (the URI's, if it has one, wins: later
     * keywords override earlier ones), so that a reconnection to a host that
     * went away does not block the worker's loop for minutes. */
    {
        const char *const keys[] = { "connect_timeout", "dbname", NULL };
        const char *const vals[] = { "10", url, NULL };
        pg->conn = PQconnectdbParams(keys, vals, 1);
    }
    if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
        note(pg, "cannot connect");
        /* The URI has no password (config rule), so it may be named. */
        snprintf(errmsg, errmsg_len, "PostgreSQL database '%s': %s (is the server running, "
                 "and does PGPASSFILE or the service file give this user access?)", url,
                 pg->err);
        qs_pgdb_destroy(&pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg->conn, notice_quiet, NULL);
    /* Quiet NOTICEs ("relation already exists, skipping") off stderr. */
    if (qs_pgdb_exec(pg, "SET client_min_messages = warning") != 0 ||
        qs_pgdb_exec(pg, "SET synchronous_commit = on") != 0 ||
        schema_ensure(pg, create, errmsg, errmsg_len) != 0) {
        if (pg->err[0] != '\0' && errmsg[0] == '\0')
            snprintf(errmsg, errmsg_len, "PostgreSQL database '%s': %s", url, pg->err);
        qs_pgdb_destroy(&pg);
        return NULL;
    }
    pg->shard = (int)randombytes_uniform(QS_PG_SHARDS);
    pg->generation = 1;
    return pg;
}

void
qs_pgdb_destroy(qs_pgdb_t **pg_p)
{
    if (pg_p == NULL || *pg_p == NULL)
        return;
    PQfinish((*pg_p)->conn);
    free(*pg_p);
    *pg_p = NULL;
}

PGconn *
qs_pgdb_conn(qs_pgdb_t *pg)
{
    return pg->conn;
}

int
qs_pgdb_shard(const qs_pgdb_t *pg)
{
    return pg->shard;
}

int
qs_pgdb_ok(qs_pgdb_t *pg)
{
    return !pg->broken && PQstatus(pg->conn) == CONNECTION_OK;
}

void
qs_pgdb_invalidate(qs_pgdb_t *pg)
{
    pg->broken = 1;
}

int
qs_pgdb_reconnect(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    PQreset(pg->conn);
    pg->generation++;
    pg->broken = 0;
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        note(pg, "cannot reconnect");
        snprintf(errmsg, errmsg_len, "%s", pg->err);
        return -1;
    }
    /* The new session gets the settings the first one had (an ack is sent
     * only after a durable COMMIT, whatever the server's default). */
    if (qs_pgdb_exec(pg, "SET client_min_messages = warning") != 0 ||
        qs_pgdb_exec(pg, "SET synchronous_commit = on") != 0) {
        snprintf(errmsg, errmsg_len, "%s", pg->err);
        return -1;
    }
    return 0;
}

unsigned
qs_pgdb_generation(const qs_pgdb_t *pg)
{
    return pg->generation;
}

const char *
qs_pgdb_errmsg(qs_pgdb_t *pg)
{
    if (pg->err[0] == '\0')
        note(pg, "database error");
    return pg->err;
}

int
qs_pgdb_begin(qs_pgdb_t *pg)
{
    return qs_pgdb_exec(pg, "BEGIN ISOLATION LEVEL READ COMMITTED");
}

int
qs_pgdb_commit(qs_pgdb_t *pg)
{
    return qs_pgdb_exec(pg, "COMMIT");
}

void
qs_pgdb_rollback(qs_pgdb_t *pg)
{
    PGresult *r = PQexec(pg->conn, "ROLLBACK");
    PQclear(r);
}

/* Run a statement with text parameters, results ignored. */
static int
exec_params(qs_pgdb_t *pg, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (result_ok(pg, r, "statement failed") != 0)
        return -1;
    PQclear(r);
    return 0;
}

int
qs_pgdb_partition_ensure(qs_pgdb_t *pg, int64_t epoch, uint32_t topic_type)
{
    char name[64], sql[768], e[24], t[16];
    const char *params[2] = { e, t };

    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
        return -1;
    snprintf(e, sizeof e, "%lld", (long long)epoch);
    snprintf(t, sizeof t, "%u", topic_type);
    snprintf(sql, sizeof sql,
             "SELECT pg_advisory_xact_lock(%d, %d);"
             "CREATE TABLE IF NOT EXISTS %s("
             "  client_id bigint NOT NULL, serial bigint NOT NULL,"
             "  state_id bigint NOT NULL, topic_id text NOT NULL, time_ms bigint NOT NULL,"
             "  machine_ps bytea, domain_ps bytea, user_ps bytea, details bytea,"
             "  PRIMARY KEY(client_id, serial));"
             "CREATE INDEX IF NOT EXISTS %s_by_machine ON %s(machine_ps);",
             QS_PG_LOCK_CLASS, QS_PG_LOCK_PARTITIONS, name, name, name);
    if (qs_pgdb_exec(pg, sql) != 0)
        return -1;
    return exec_params(pg, "INSERT INTO partitions(epoch, topic_type, shard, rows) "
                       "VALUES ($1, $2, 0, 0) ON CONFLICT DO NOTHING", 2, params);
}

/* Fill out/n from a result of (epoch, topic_type, rows) rows. */
static void
partitions_from(PGresult *r, qs_partition_t **out, size_t *n)
{
    int rows = PQntuples(r);

    *n = (size_t)rows;
    *out = calloc(rows > 0 ? (size_t)rows : 1, sizeof **out);
    if (*out == NULL)
        qs_fatal("out of memory");
    for (int i = 0; i < rows; i++) {
        (*out)[i].epoch = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        (*out)[i].topic_type = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
        (*out)[i].rows = PQgetisnull(r, i, 2) ? -1 : strtoll(PQgetvalue(r, i, 2), NULL, 10);
    }
}

/* Run sql, whose rows are (epoch, topic_type, rows), into out/n. */
static int
partitions_query(qs_pgdb_t *pg, const char *sql, qs_partition_t **out, size_t *n)
{
    PGresult *r = PQexec(pg->conn, sql);

    *out = NULL;
    *n = 0;
    if (result_ok(pg, r, "cannot list partitions") != 0)
        return -1;
    partitions_from(r, out, n);
    PQclear(r);
    return 0;
}

int
qs_pgdb_partitions(qs_pgdb_t *pg, qs_partition_t **out, size_t *n)
{
    return partitions_query(pg, "SELECT epoch, topic_type, sum(rows) FROM partitions "
                            "GROUP BY epoch, topic_type ORDER BY epoch, topic_type", out, n);
}

/* Registered partitions, and history_E_T tables that are not (a crash
 * between CREATE and the register cannot happen in one transaction, but a
 * foreign writer can make them); the regular expression takes only the
 * spelling qs_storedb_partition_name() produces. */
int
qs_pgdb_partitions_present(qs_pgdb_t *pg, qs_partition_t **out, size_t *n)
{
    return partitions_query(pg,
        "WITH t AS (SELECT substring(tablename from '^history_(0|-?[1-9][0-9]*)_') AS e, "
        "                  substring(tablename from '_(0|[1-9][0-9]*)$') AS ty "
        "           FROM pg_tables WHERE schemaname = current_schema() AND "
        "           tablename ~ '^history_(0|-?[1-9][0-9]*)_(0|[1-9][0-9]*)$'), "
        "     p AS (SELECT epoch, topic_type, sum(rows) AS rows FROM partitions "
        "           GROUP BY epoch, topic_type) "
        "SELECT epoch, topic_type, rows FROM p UNION ALL "
        "SELECT t.e::bigint, t.ty::bigint, NULL FROM t WHERE NOT EXISTS "
        "  (SELECT 1 FROM p WHERE p.epoch = t.e::bigint AND p.topic_type = t.ty::bigint) "
        "ORDER BY 1, 2", out, n);
}

int
qs_pgdb_partition_drop(qs_pgdb_t *pg, int64_t epoch, uint32_t topic_type)
{
    char name[64], sql[256], e[24], t[16];
    const char *params[2] = { e, t };

    if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
        return -1;
    snprintf(e, sizeof e, "%lld", (long long)epoch);
    snprintf(t, sizeof t, "%u", topic_type);
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d, %d); DROP TABLE IF EXISTS %s",
             QS_PG_LOCK_CLASS, QS_PG_LOCK_PARTITIONS, name);
    if (qs_pgdb_exec(pg, sql) != 0)
        return -1;
    return exec_params(pg, "DELETE FROM partitions WHERE epoch = $1 AND topic_type = $2", 2,
                       params);
}

int
qs_pgdb_counter_add(qs_pgdb_t *pg, const char *name, int64_t delta)
{
    char d[24], s[8];
    const char *params[3] = { name, s, d };

    snprintf(d, sizeof d, "%lld", (long long)delta);
    snprintf(s, sizeof s, "%d", pg->shard);
    return exec_params(pg, "INSERT INTO counters(name, shard, value) VALUES ($1, $2, $3) "
                       "ON CONFLICT (name, shard) DO UPDATE SET "
                       "value = counters.value + excluded.value", 3, params);
}

int
qs_pgdb_counter_get(qs_pgdb_t *pg, const char *name, int64_t *value)
{
    const char *params[1] = { name };

    return qs_pgdb_int64(pg, value, "SELECT coalesce(sum(value), 0) FROM counters "
                         "WHERE name = $1", 1, params);
}

int
qs_pgdb_fold(qs_pgdb_t *pg)
{
    static const char fold[] =
        "WITH f AS (DELETE FROM compliance_counts RETURNING topic_type, topic_id, state_id, count) "
        "INSERT INTO compliance_counts(topic_type, topic_id, state_id, shard, count) "
        "SELECT topic_type, topic_id, state_id, 0, sum(count) FROM f "
        "GROUP BY topic_type, topic_id, state_id HAVING sum(count) <> 0;"
        "WITH f AS (DELETE FROM counters RETURNING name, value) "
        "INSERT INTO counters(name, shard, value) SELECT name, 0, sum(value) FROM f "
        "GROUP BY name;"
        "WITH f AS (DELETE FROM partitions RETURNING epoch, topic_type, rows) "
        "INSERT INTO partitions(epoch, topic_type, shard, rows) "
        "SELECT epoch, topic_type, 0, sum(rows) FROM f GROUP BY epoch, topic_type;"
        "WITH f AS (DELETE FROM installed_hours "
        "           RETURNING topic_type, topic_id, state_id, hour, count) "
        "INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, shard, count) "
        "SELECT topic_type, topic_id, state_id, hour, 0, sum(count) FROM f "
        "GROUP BY topic_type, topic_id, state_id, hour HAVING sum(count) <> 0;";

    return qs_pgdb_exec(pg, fold);
}

/* PostgreSQL has no secure_delete: a deleted row stays in its heap page
 * until VACUUM marks the space free and a later write reuses it. VACUUM
 * here makes that happen soon for the tables retention and forget delete
 * from; what it cannot reach (WAL archives, base backups) is why details
 * are sealed under per-partition keys (docs/scale.md). VACUUM runs outside
 * a transaction. */
int
qs_pgdb_scrub(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    if (qs_pgdb_exec(pg, "VACUUM latest, seen, clients, compliance_counts, counters, "
                     "partitions, client_types, scope_counts, installed_hours") != 0) {
        snprintf(errmsg, errmsg_len, "VACUUM failed: %s", pg->err);
        return -1;
    }
    return 0;
}
