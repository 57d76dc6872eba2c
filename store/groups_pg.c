/* groups_pg.c - named groups of machines and their compliance on PostgreSQL (qs_store_group.h).
 *
 * The same tables and answers as groups.c. A write runs in one READ
 * COMMITTED transaction that first locks the group's row (SELECT ... FOR
 * UPDATE), so a concurrent remove of the group and an add of members
 * serialize, and "unknown group" and a change never both happen. The
 * tables are created under the schema advisory lock (two creators at once
 * create them once). Reads run in one REPEATABLE READ snapshot and hand
 * exact numbers to groups.c's public functions, which suppress them before
 * they leave store/.
 */
#include "groups_rules.h"

#include "pgutil.h"
#include "qs_log.h"
#include "query_rules.h"
#include "trend_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_lock_group[] = "SELECT 1 FROM machine_groups WHERE name = $1 FOR UPDATE";
static const char sql_list[] =
    "SELECT g.name, g.created_ms, "
    "       (SELECT count(*) FROM group_members m WHERE m.group_name = g.name) "
    "FROM machine_groups g WHERE $1::text IS NULL OR g.name = $1 "
    "ORDER BY g.name" QS_PG_BYTE_ORDER;
static const char sql_compliance[] =
    QS_GROUP_SQL_CELLS("", "m.group_name = $1 AND ($2::bigint IS NULL OR l.topic_type = $2) "
                           "AND ($3::text IS NULL OR l.topic_id = $3)")
    " ORDER BY l.topic_type, l.topic_id" QS_PG_BYTE_ORDER ", l.state_id";

/* 1 when both tables exist, 0 when not, -1 with errmsg. */
static int
tables_exist(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    int a = qs_pg_table_exists(pg, "machine_groups", errmsg, errmsg_len), b;

    if (a <= 0)
        return a;
    b = qs_pg_table_exists(pg, "group_members", errmsg, errmsg_len);
    return b;
}

/* Inside a transaction: 1 when group name exists (its row locked when
 * lock), 0 when not, -1 with errmsg. */
static int
group_known(qs_pgdb_t *pg, const char *name, int lock, char *errmsg, size_t errmsg_len)
{
    const char *params[1] = { name };
    int t = tables_exist(pg, errmsg, errmsg_len), known;
    PGresult *r;

    if (t <= 0)
        return t;
    r = qs_pg_query(pg, "cannot read the groups",
                    lock ? sql_lock_group : "SELECT 1 FROM machine_groups WHERE name = $1", 1, params,
                    NULL, NULL, errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    known = PQntuples(r) > 0;
    PQclear(r);
    return known;
}

static int
begin(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    if (qs_pg_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot begin a transaction: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    return 0;
}

static int
commit(qs_pgdb_t *pg, char *errmsg, size_t errmsg_len)
{
    if (qs_pgdb_commit(pg) == 0)
        return 0;
    snprintf(errmsg, errmsg_len, "cannot commit: %s (nothing was changed)", qs_pgdb_errmsg(pg));
    qs_pgdb_rollback(pg);
    return -1;
}

int
qs_storedb_group_create_pg(qs_storedb_t *db, const char *name, int64_t now_ms, int *created,
                           char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char ddl[700], ms[32];
    const char *params[2] = { name, ms };
    int64_t n = 0;

    snprintf(ddl, sizeof ddl, "SELECT pg_advisory_xact_lock(%d, %d); %s", QS_PG_LOCK_CLASS,
             QS_PG_LOCK_SCHEMA, QS_GROUP_SQL_TABLES);
    snprintf(ms, sizeof ms, "%" PRId64, now_ms);
    if (qs_pg_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pgdb_exec(pg, ddl) != 0) {
        snprintf(errmsg, errmsg_len, "cannot create the group tables: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    if (qs_pg_run(pg, "cannot create the group",
                  "INSERT INTO machine_groups(name, created_ms) VALUES ($1, $2::bigint) "
                  "ON CONFLICT (name) DO NOTHING", 2, params, NULL, NULL, &n, errmsg,
                  errmsg_len) != 0)
        return -1;
    *created = n > 0;
    return 0;
}

int
qs_storedb_group_exists_pg(qs_storedb_t *db, const char *name, int *exists, char *errmsg,
                           size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    int known;

    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    known = group_known(pg, name, 0, errmsg, errmsg_len);
    qs_pg_read_end(pg);
    *exists = known > 0;
    return known < 0 ? -1 : 0;
}

/* Run q ($1 the group, $2 a pseudonym) once per pseudonym, adding up the
 * rows touched. 0 or -1 with errmsg. */
static int
each_ps(qs_pgdb_t *pg, const char *q, const char *name, const uint8_t *ps, int64_t *changes,
        char *errmsg, size_t errmsg_len)
{
    const char *values[2] = { name, (const char *)ps };
    int lengths[2] = { 0, QS_PSEUDONYM_BYTES }, formats[2] = { 0, 1 };
    int64_t n = 0;

    if (qs_pg_run(pg, "cannot change the group's members", q, 2, values, lengths, formats, &n,
                  errmsg, errmsg_len) != 0)
        return -1;
    *changes += n;
    return 0;
}

/* begin, lock the group, return QS_GROUP_UNKNOWN or -1 (rolled back) or 0. */
static int
begin_known(qs_pgdb_t *pg, const char *name, char *errmsg, size_t errmsg_len)
{
    int known;

    if (begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    known = group_known(pg, name, 1, errmsg, errmsg_len);
    if (known > 0)
        return 0;
    qs_pgdb_rollback(pg);
    return known == 0 ? QS_GROUP_UNKNOWN : -1;
}

int
qs_storedb_group_add_pg(qs_storedb_t *db, const char *name,
                        const uint8_t (*machine_ps)[QS_PSEUDONYM_BYTES], size_t n,
                        int64_t *added, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    int rc;

    *added = 0;
    if ((rc = begin_known(pg, name, errmsg, errmsg_len)) != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (each_ps(pg, "INSERT INTO group_members(group_name, machine_ps) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING", name, machine_ps[i], added, errmsg,
                    errmsg_len) != 0) {
            qs_pgdb_rollback(pg);
            *added = 0;
            return -1;
        }
    }
    return commit(pg, errmsg, errmsg_len);
}

int
qs_storedb_group_remove_pg(qs_storedb_t *db, const char *name, const qs_machine_ps_t *who,
                           size_t n, int64_t *removed, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    const char *params[1] = { name };
    int rc = 0;

    *removed = 0;
    if ((rc = begin_known(pg, name, errmsg, errmsg_len)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
        for (size_t s = 0; s < who[i].n && rc == 0; s++)
            rc = each_ps(pg, "DELETE FROM group_members WHERE group_name = $1 AND "
                         "machine_ps = $2", name, who[i].machine_ps[s], removed, errmsg,
                         errmsg_len);
    if (rc == 0 && n == 0)
        rc = qs_pg_run(pg, "cannot remove the group's members",
                       "DELETE FROM group_members WHERE group_name = $1", 1, params, NULL,
                       NULL, removed, errmsg, errmsg_len) != 0 ||
             qs_trend_group_forget_pg(pg, name, errmsg, errmsg_len) != 0 ||   /* its days */
             qs_pg_run(pg, "cannot remove the group", "DELETE FROM machine_groups WHERE name = $1", 1,
                       params, NULL, NULL, NULL, errmsg, errmsg_len) != 0 ? -1 : 0;
    if (rc != 0) {
        qs_pgdb_rollback(pg);
        *removed = 0;
        return -1;
    }
    return commit(pg, errmsg, errmsg_len);
}

int
qs_storedb_group_list_pg(qs_storedb_t *db, qs_group_list_t *out, const char *name,
                         char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    const char *params[1] = { name };
    PGresult *r = NULL;
    size_t cap = 0;
    int t;

    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    t = tables_exist(pg, errmsg, errmsg_len);
    if (t > 0)
        r = qs_pg_query(pg, "cannot list the groups", sql_list, 1, params, NULL, NULL, errmsg,
                        errmsg_len);
    qs_pg_read_end(pg);
    if (t <= 0)
        return t;
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        qs_group_list_push(out, &cap, PQgetvalue(r, i, 0), qs_pg_i64(r, i, 1),
                           qs_pg_i64(r, i, 2));
    PQclear(r);
    return 0;
}

int
qs_storedb_group_compliance_pg(qs_storedb_t *db, qs_storedb_compliance_t *out,
                               const char *name, const uint32_t *topic_type,
                               const char *topic_id, qs_compliance_scope_t **scopes,
                               size_t *n_scopes, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char type[16];
    const char *params[3] = { name, NULL, topic_id };
    PGresult *r = NULL, *rs = NULL;
    size_t scap = 0;
    size_t cap = 0;
    int known;

    if (topic_type != NULL) {
        snprintf(type, sizeof type, "%u", *topic_type);
        params[1] = type;
    }
    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    known = group_known(pg, name, 0, errmsg, errmsg_len);
    if (known > 0)
        r = qs_pg_query(pg, "group compliance query failed", sql_compliance, 3, params, NULL,
                        NULL, errmsg, errmsg_len);
    if (r != NULL)
        rs = qs_pg_query(pg, "group scope query failed",
                         QS_GROUP_SQL_SCOPES("$1"), 1, params, NULL, NULL, errmsg,
                         errmsg_len);
    qs_pg_read_end(pg);
    if (known <= 0)
        return known == 0 ? QS_GROUP_UNKNOWN : -1;
    if (r == NULL || rs == NULL) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(rs); i++)
        qs_group_scope_push(scopes, n_scopes, &scap, (uint32_t)qs_pg_i64(rs, i, 0),
                            qs_pg_i64(rs, i, 1));
    PQclear(rs);
    for (int i = 0; i < PQntuples(r); i++)
        qs_compliance_push(out, &cap, (uint32_t)qs_pg_i64(r, i, 0), PQgetvalue(r, i, 1),
                           (uint32_t)qs_pg_i64(r, i, 2), qs_pg_i64(r, i, 3));
    PQclear(r);
    return 0;
}

int
qs_group_forget_pg(qs_pgdb_t *pg, const qs_machine_ps_t *who, int64_t *deleted, char *errmsg,
                   size_t errmsg_len)
{
    int t = tables_exist(pg, errmsg, errmsg_len);
    int64_t n = 0;

    if (deleted != NULL)
        *deleted = 0;
    if (t <= 0)
        return t;
    for (size_t s = 0; s < who->n; s++) {
        const char *values[1] = { (const char *)who->machine_ps[s] };
        int lengths[1] = { QS_PSEUDONYM_BYTES }, formats[1] = { 1 };
        int64_t d = 0;

        if (qs_pg_run(pg, "cannot delete the machine's group memberships",
                      "DELETE FROM group_members WHERE machine_ps = $1", 1, values, lengths,
                      formats, &d, errmsg, errmsg_len) != 0)
            return -1;
        n += d;
    }
    if (deleted != NULL)
        *deleted = n;
    return 0;
}
