/* counts_pg.c - compliance_counts, scope_counts, installed_hours on PostgreSQL: schema, check, rebuild, repair.
 *
 * The table has one row per group and writer shard (storedb_pg.h): a
 * group's count is the sum over shards, and a group whose sum is 0 does
 * not exist. Both are compared with latest grouped in one statement (the
 * server groups; nothing is carried to the client but two numbers). A
 * rebuild first locks latest in SHARE mode: every worker's transaction that
 * changed latest has committed (with its counts) before it, and none can
 * start until the rebuild commits, so no change is counted twice or lost.
 *
 * scope_counts (machines per topic type, the base of a compliance
 * percentage) cannot be kept the way SQLite keeps it (a trigger asking
 * "was this the client's first row of the type?"): several writers at once
 * would each answer from their own snapshot, and a retention pass deleting
 * a client's last old row while a worker inserts its first new one would
 * both count. So the schema keeps client_types(client_id, topic_type) ->
 * rows, the client's rows of the type in latest, with additive changes;
 * PostgreSQL's row lock on it orders concurrent changes of one client and
 * type, and the value an upsert returns tells exactly when a client's
 * count leaves or reaches 0: that is when scope_counts moves (in a shard
 * chosen by backend, as the other counts). Statement triggers with
 * transition tables do it for every writer (the store's upserts, expiry,
 * forget, resync, COPY in qsctl migrate), once per statement and only for
 * rows inserted or deleted: a state change costs nothing. A row-level
 * trigger covers an UPDATE that moves a row to another client or type
 * (PostgreSQL allows no transition table on a column-list trigger).
 * Locks: a statement takes client_types rows in key order, then its
 * backend's scope_counts rows in topic type order. A worker's rows are its
 * own clients' (locked already); retention or forget on one of them waits
 * for the worker's commit as on the latest row itself. A deadlock across
 * statements (two backends on one shard, rows of two topic types in
 * opposite order) is found by the server, which aborts one side: a worker
 * answers RETRY_LATER and the batch comes again (as for the other counts,
 * retention_pg.c).
 *
 * installed_hours (schema version 3: latest's installed rows per update
 * and hour of their message time, what compliance --deployment sums) has
 * a shard column like compliance_counts and is kept the same way, by the
 * writers themselves and not by triggers: the workers' upsert (an old row
 * read FOR UPDATE and the upsert's RETURNING carry state and time; the
 * moves go into the in-memory deltas written at COMMIT, write_pg_set.c),
 * the deletes of expiry, forget and resync (qs_pg_latest_delete, in the
 * statement of the compliance_counts change), the takeover's dropped rows
 * (adopt_pg.c; its move changes only client_id: nothing). Statement
 * triggers with transition tables (as for the scope) would cover inserts
 * and deletes, but a state or time change is an UPDATE of the upsert: it
 * would need the writer's deltas anyway, or an UPDATE trigger whose
 * transition tables copy every row every worker statement updates (most
 * of which move nothing); one rule, kept where compliance_counts' is,
 * costs an integer per row the upsert already returns. A COPY into latest
 * (qsctl migrate) is followed by a rebuild of the table.
 */
#include "deadline_rules.h"
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdio.h>
#include <string.h>

/* The scope schema (version 2), idempotent. Locks: client_types rows in
 * key order, then this backend's scope_counts shard rows in key order. */
#define SCOPE_SHARD "(pg_backend_pid() % " QS_PG_SHARDS_TEXT ")"
#define SCOPE_BUMP(source) \
    "INSERT INTO scope_counts AS s(topic_type, shard, machines) " \
    "SELECT topic_type, " SCOPE_SHARD ", m FROM " source " ORDER BY topic_type " \
    "ON CONFLICT (topic_type, shard) DO UPDATE SET machines = s.machines + excluded.machines"

static const char scope_schema[] =
    "CREATE TABLE IF NOT EXISTS client_types("
    "  client_id bigint NOT NULL, topic_type bigint NOT NULL, rows bigint NOT NULL,"
    "  PRIMARY KEY(client_id, topic_type));"
    "CREATE TABLE IF NOT EXISTS scope_counts("
    "  topic_type bigint NOT NULL, shard smallint NOT NULL, machines bigint NOT NULL,"
    "  PRIMARY KEY(topic_type, shard));"
    /* Rows in: a client whose count was 0 (no row) is new to the type. */
    "CREATE OR REPLACE FUNCTION qs_scope_in() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  WITH g AS (SELECT client_id, topic_type, count(*) AS n FROM qs_new GROUP BY 1, 2), "
    "       u AS (INSERT INTO client_types AS c(client_id, topic_type, rows) "
    "             SELECT client_id, topic_type, n FROM g ORDER BY client_id, topic_type "
    "             ON CONFLICT (client_id, topic_type) DO UPDATE SET rows = c.rows + excluded.rows "
    "             RETURNING c.client_id, c.topic_type, c.rows), "
    "       f AS (SELECT u.topic_type, count(*) AS m FROM u JOIN g USING (client_id, topic_type) "
    "             WHERE u.rows = g.n GROUP BY u.topic_type) "
    "  " SCOPE_BUMP("f") "; "
    "  RETURN NULL; END $$;"
    /* Rows out: a client whose count reaches 0 leaves the type. */
    "CREATE OR REPLACE FUNCTION qs_scope_out() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  PERFORM 1 FROM client_types c JOIN (SELECT DISTINCT client_id, topic_type FROM qs_old) k "
    "    USING (client_id, topic_type) ORDER BY c.client_id, c.topic_type FOR UPDATE OF c; "
    "  WITH g AS (SELECT client_id, topic_type, count(*) AS n FROM qs_old GROUP BY 1, 2), "
    "       u AS (UPDATE client_types c SET rows = c.rows - g.n FROM g "
    "             WHERE c.client_id = g.client_id AND c.topic_type = g.topic_type "
    "             RETURNING c.topic_type, c.rows), "
    "       f AS (SELECT topic_type, -count(*) AS m FROM u WHERE rows <= 0 GROUP BY topic_type) "
    "  " SCOPE_BUMP("f") "; "
    "  DELETE FROM client_types c USING (SELECT DISTINCT client_id, topic_type FROM qs_old) k "
    "    WHERE c.client_id = k.client_id AND c.topic_type = k.topic_type AND c.rows <= 0; "
    "  RETURN NULL; END $$;"
    /* One row moved to another client or type: out of the old, into the new. */
    "CREATE OR REPLACE FUNCTION qs_scope_move() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE left_rows bigint; now_rows bigint; BEGIN "
    "  UPDATE client_types SET rows = rows - 1 WHERE client_id = OLD.client_id "
    "    AND topic_type = OLD.topic_type RETURNING rows INTO left_rows; "
    "  IF left_rows IS NOT NULL AND left_rows <= 0 THEN "
    "    DELETE FROM client_types WHERE client_id = OLD.client_id "
    "      AND topic_type = OLD.topic_type; "
    "    " SCOPE_BUMP("(SELECT OLD.topic_type AS topic_type, -1 AS m) f") "; "
    "  END IF; "
    "  INSERT INTO client_types AS c(client_id, topic_type, rows) "
    "    VALUES (NEW.client_id, NEW.topic_type, 1) ON CONFLICT (client_id, topic_type) "
    "    DO UPDATE SET rows = c.rows + 1 RETURNING c.rows INTO now_rows; "
    "  IF now_rows = 1 THEN "
    "    " SCOPE_BUMP("(SELECT NEW.topic_type AS topic_type, 1 AS m) f") "; "
    "  END IF; "
    "  RETURN NULL; END $$;"
    "CREATE OR REPLACE TRIGGER latest_scope_insert AFTER INSERT ON latest "
    "  REFERENCING NEW TABLE AS qs_new FOR EACH STATEMENT EXECUTE FUNCTION qs_scope_in();"
    "CREATE OR REPLACE TRIGGER latest_scope_delete AFTER DELETE ON latest "
    "  REFERENCING OLD TABLE AS qs_old FOR EACH STATEMENT EXECUTE FUNCTION qs_scope_out();"
    "CREATE OR REPLACE TRIGGER latest_scope_move AFTER UPDATE OF client_id, topic_type "
    "  ON latest FOR EACH ROW WHEN (OLD.client_id <> NEW.client_id OR "
    "  OLD.topic_type <> NEW.topic_type) EXECUTE FUNCTION qs_scope_move();";

/* client_types and scope_counts from latest (the caller holds latest in
 * SHARE mode or has it to itself). */
static const char scope_fill[] =
    "DELETE FROM client_types; DELETE FROM scope_counts;"
    "INSERT INTO client_types(client_id, topic_type, rows) "
    "  SELECT client_id, topic_type, count(*) FROM latest GROUP BY client_id, topic_type;"
    "INSERT INTO scope_counts(topic_type, shard, machines) "
    "  SELECT topic_type, 0, count(*) FROM client_types GROUP BY topic_type;";

int
qs_pgdb_scope_schema(qs_pgdb_t *pg, int fill)
{
    if (qs_pgdb_exec(pg, scope_schema) != 0)
        return -1;
    if (fill && (qs_pgdb_exec(pg, "LOCK TABLE latest IN SHARE MODE") != 0 ||
                 qs_pgdb_exec(pg, scope_fill) != 0))
        return -1;
    return 0;
}

/* installed_hours (schema version 3), idempotent. */
static const char installed_schema[] =
    "CREATE TABLE IF NOT EXISTS installed_hours("
    "  topic_type bigint NOT NULL, topic_id text NOT NULL, state_id bigint NOT NULL,"
    "  hour bigint NOT NULL, shard smallint NOT NULL, count bigint NOT NULL,"
    "  PRIMARY KEY(topic_type, topic_id, state_id, hour, shard));";

/* latest's installed rows per hour, as installed_hours must sum them. */
#define INSTALLED_FROM_LATEST \
    "SELECT topic_type, topic_id, state_id, " QS_INSTALLED_HOUR_SQL("time_ms") " AS hour, " \
    "count(*) AS n FROM latest WHERE " QS_DEADLINE_INSTALLED_SQL " GROUP BY 1, 2, 3, 4"

/* installed_hours from latest, into shard 0 (the caller holds latest in
 * SHARE mode or has it to itself). */
static const char installed_fill[] =
    "DELETE FROM installed_hours;"
    "INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, shard, count) "
    "  SELECT topic_type, topic_id, state_id, hour, 0, n FROM (" INSTALLED_FROM_LATEST ") l;";

int
qs_pgdb_installed_schema(qs_pgdb_t *pg, int fill)
{
    if (qs_pgdb_exec(pg, installed_schema) != 0)
        return -1;
    if (fill && (qs_pgdb_exec(pg, "LOCK TABLE latest IN SHARE MODE") != 0 ||
                 qs_pgdb_exec(pg, installed_fill) != 0))
        return -1;
    return 0;
}

int
qs_pgdb_installed_fill(qs_pgdb_t *pg)
{
    return qs_pgdb_exec(pg, installed_fill);
}

int
qs_storedb_installed_check_pg(qs_storedb_t *db, int64_t *wrong, char *errmsg,
                              size_t errmsg_len)
{
    PGresult *r;

    *wrong = 0;
    /* One statement, one snapshot: hours absent, different or left over
     * (a kept hour is the sum over shards; a sum of 0 is no hour). */
    r = qs_pg_query(qs_storedb_pgdb(db), "cannot compare installed_hours with latest",
                    "WITH l AS (" INSTALLED_FROM_LATEST "), "
                    "     h AS (SELECT topic_type, topic_id, state_id, hour, sum(count) AS n "
                    "           FROM installed_hours GROUP BY 1, 2, 3, 4 "
                    "           HAVING sum(count) <> 0) "
                    "SELECT count(*) FROM l FULL JOIN h "
                    "USING (topic_type, topic_id, state_id, hour) WHERE l.n IS DISTINCT FROM h.n",
                    0, NULL, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    *wrong = qs_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int
qs_storedb_scope_check_pg(qs_storedb_t *db, int64_t *wrong, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    PGresult *r;

    *wrong = 0;
    /* One statement, one snapshot: the types whose kept machine count, or
     * any client's kept row count, disagrees with latest. */
    r = qs_pg_query(pg, "cannot compare scope_counts with latest",
                    "WITH l AS (SELECT client_id, topic_type, count(*) AS n FROM latest "
                    "           GROUP BY client_id, topic_type), "
                    "     m AS (SELECT topic_type, count(*) AS n FROM l GROUP BY topic_type), "
                    "     s AS (SELECT topic_type, sum(machines) AS n FROM scope_counts "
                    "           GROUP BY topic_type HAVING sum(machines) <> 0), "
                    "     bad AS (SELECT topic_type FROM m FULL JOIN s USING (topic_type) "
                    "             WHERE m.n IS DISTINCT FROM s.n "
                    "             UNION SELECT topic_type FROM l FULL JOIN client_types c "
                    "             USING (client_id, topic_type) WHERE l.n IS DISTINCT FROM c.rows) "
                    "SELECT count(*) FROM bad",
                    0, NULL, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    *wrong = qs_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int
qs_storedb_counts_check_pg(qs_storedb_t *db, int64_t *missing, int64_t *stale,
                           char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    PGresult *r;

    *missing = *stale = 0;
    /* One statement: one snapshot for both sides. */
    r = qs_pg_query(pg, "cannot compare compliance_counts with latest",
                    "WITH l AS (SELECT topic_type, topic_id, state_id, count(*) AS n "
                    "           FROM latest GROUP BY topic_type, topic_id, state_id), "
                    "     c AS (SELECT topic_type, topic_id, state_id, sum(count) AS n "
                    "           FROM compliance_counts GROUP BY topic_type, topic_id, state_id "
                    "           HAVING sum(count) <> 0) "
                    "SELECT count(*) FILTER (WHERE l.n IS NOT NULL AND "
                    "                        (c.n IS NULL OR c.n <> l.n)), "
                    "       count(*) FILTER (WHERE l.n IS NULL) "
                    "FROM l FULL JOIN c USING (topic_type, topic_id, state_id)",
                    0, NULL, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    *missing = qs_pg_i64(r, 0, 0);
    *stale = qs_pg_i64(r, 0, 1);
    PQclear(r);
    return 0;
}

int
qs_storedb_counts_rebuild_pg(qs_storedb_t *db, int64_t *groups, char *errmsg,
                             size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    int64_t n = 0;

    if (qs_pg_run(pg, "cannot lock latest", "LOCK TABLE latest IN SHARE MODE", 0, NULL, NULL,
                  NULL, NULL, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, "cannot empty compliance_counts", "DELETE FROM compliance_counts", 0,
                  NULL, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ||
        qs_pg_run(pg, "cannot fill compliance_counts",
                  "INSERT INTO compliance_counts(topic_type, topic_id, state_id, shard, count) "
                  "SELECT topic_type, topic_id, state_id, 0, count(*) FROM latest "
                  "GROUP BY topic_type, topic_id, state_id "
                  "ORDER BY topic_type, topic_id" QS_PG_BYTE_ORDER ", state_id",
                  0, NULL, NULL, NULL, &n, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pgdb_exec(pg, scope_fill) != 0) {
        snprintf(errmsg, errmsg_len, "cannot fill scope_counts: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    if (qs_pgdb_exec(pg, installed_fill) != 0) {
        snprintf(errmsg, errmsg_len, "cannot fill installed_hours: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    if (groups != NULL)
        *groups = n;
    return 0;
}

int
qs_storedb_counts_repair_pg(qs_storedb_t *db, int64_t *groups, char *errmsg,
                            size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char err[512];

    if (qs_pg_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot begin a transaction to rebuild "
                 "compliance_counts: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    if (qs_storedb_counts_rebuild_pg(db, groups, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "cannot rebuild compliance_counts: %s (nothing was "
                 "changed)", err);
        qs_pgdb_rollback(pg);
        return -1;
    }
    if (qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot rebuild compliance_counts: %s (nothing was "
                 "changed)", qs_pgdb_errmsg(pg));
        qs_pgdb_rollback(pg);
        return -1;
    }
    return 0;
}
