/* deadline.c - deadline compliance read from store.db (SQLite); the public entry for both engines.
 *
 * In one read transaction (a WAL snapshot): the scope (scope_counts, the
 * machines with a state of the topic type: compliance's own), then per
 * update its groups from compliance_counts (machines with a state,
 * installed, not required: key reads) and the installed ones at or before
 * the deadline: the whole hours before the deadline's hour from
 * installed_hours (kept per update and hour of the message time by the
 * writers, qs_counts.h), and that one hour's rows up to the deadline from
 * the index latest_deadline (topic_type, topic_id, state_id, time_ms;
 * installed rows only). What the numbers mean and what is published of
 * them is deadline_rules.c's.
 *
 * Cost (docs/deployments.md): key reads per update, a sum over the hours
 * that have installations, and an index range of one hour's installations;
 * nothing grows with the fleet but that hour. A group's numbers are read by
 * joining its members to latest: they grow with the group's size.
 */
#include "deadline_rules.h"
#include "groups_rules.h"
#include "ops_pg.h"
#include "qs_log.h"
#include "qs_sqlutil.h"
#include "qs_store_group.h"
#include "query_rules.h"
#include "query_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ?1 topic type (?2 the group). The scope is compliance's: machines with a
 * state of the topic type (scope_counts, a kept count; for a group, its
 * members' share, groups_rules.h). */
static const char sql_scope[] =
    "SELECT coalesce((SELECT machines FROM scope_counts WHERE topic_type = ?1), 0)";
static const char sql_scope_group[] =
    "WITH s(t, m) AS (" QS_GROUP_SQL_SCOPES("?2") ") SELECT coalesce(sum(m), 0) FROM s "
    "WHERE t = ?1";
static const char sql_groups[] =
    "SELECT state_id, count FROM compliance_counts WHERE topic_type = ?1 AND topic_id = ?2";

/* On time: the whole hours before the deadline's hour H from installed_hours,
 * then the installed rows of hour H up to the deadline (?4 = H, ?5 = the
 * deadline): one index range of at most an hour's installations. */
static const char sql_hours_before[] =
    "SELECT coalesce(sum(count), 0) FROM installed_hours WHERE topic_type = ?1 "
    "AND topic_id = ?2 AND state_id = ?3 AND hour < ?4";
static const char sql_in_hour[] =
    "SELECT count(*) FROM latest WHERE topic_type = ?1 AND topic_id = ?2 AND state_id = ?3 "
    "AND " QS_DEADLINE_INSTALLED_OR("state_id") " AND time_ms >= ?4 * 3600000 "
    "AND time_ms <= ?5";

/* With a group: the same numbers over its members' rows (the range count
 * runs on the members' rows only). The group is the last parameter. */
#define MEMBERS_JOIN "FROM group_members m JOIN latest l ON l.machine_ps = m.machine_ps "
static const char sql_groups_group[] =
    "SELECT l.state_id, count(*) " MEMBERS_JOIN "WHERE l.topic_type = ?1 AND l.topic_id = ?2 "
    "AND m.group_name = ?3 GROUP BY l.state_id";
static const char sql_on_time_group[] =
    "SELECT count(*) " MEMBERS_JOIN "WHERE l.topic_type = ?1 AND l.topic_id = ?2 "
    "AND l.state_id = ?3 AND " QS_DEADLINE_INSTALLED_OR("l.state_id") " AND l.time_ms <= ?4 "
    "AND m.group_name = ?5";

struct stmts {
    sqlite3_stmt *scope, *groups, *on_time, *before, *in_hour;
};

static void
stmts_finalize(struct stmts *s)
{
    sqlite3_finalize(s->scope);
    sqlite3_finalize(s->groups);
    sqlite3_finalize(s->on_time);
    sqlite3_finalize(s->before);
    sqlite3_finalize(s->in_hour);
    memset(s, 0, sizeof *s);
}

static int
step_int64(sqlite3_stmt *st, int64_t *out)
{
    int rc = sqlite3_step(st);

    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    return rc == SQLITE_ROW ? 0 : -1;
}

static void
bind_installed(sqlite3_stmt *st, const qs_deadline_query_t *q, const char *topic_id,
               const qs_deadline_states_t *states)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, q->topic_type);
    sqlite3_bind_text(st, 2, topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, states->installed);
}

/* raw->on_time: with a group, the members' range count; else whole hours
 * from installed_hours plus the deadline's own hour from the index. */
static int
on_time(struct stmts *s, qs_deadline_raw_t *raw, const qs_deadline_query_t *q,
        const char *topic_id, const qs_deadline_states_t *states)
{
    int64_t hour = q->deadline_ms / QS_INSTALLED_HOUR_MS, before, in_hour;

    if (q->group != NULL) {
        bind_installed(s->on_time, q, topic_id, states);
        sqlite3_bind_int64(s->on_time, 4, q->deadline_ms);
        sqlite3_bind_text(s->on_time, 5, q->group, -1, SQLITE_STATIC);
        return step_int64(s->on_time, &raw->on_time);
    }
    bind_installed(s->before, q, topic_id, states);
    sqlite3_bind_int64(s->before, 4, hour);
    bind_installed(s->in_hour, q, topic_id, states);
    sqlite3_bind_int64(s->in_hour, 4, hour);
    sqlite3_bind_int64(s->in_hour, 5, q->deadline_ms);
    if (step_int64(s->before, &before) != 0 || step_int64(s->in_hour, &in_hour) != 0)
        return -1;
    raw->on_time = before + in_hour;
    return 0;
}

/* One update's exact numbers. */
static int
fetch_update(struct stmts *s, qs_deadline_raw_t *raw, const qs_deadline_query_t *q,
             const char *topic_id, const qs_deadline_states_t *states)
{
    int rc;

    memset(raw, 0, sizeof *raw);
    sqlite3_reset(s->groups);
    sqlite3_bind_int64(s->groups, 1, q->topic_type);
    sqlite3_bind_text(s->groups, 2, topic_id, -1, SQLITE_STATIC);
    if (q->group != NULL)
        sqlite3_bind_text(s->groups, 3, q->group, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s->groups)) == SQLITE_ROW) {
        uint32_t state = (uint32_t)sqlite3_column_int64(s->groups, 0);
        int64_t n = sqlite3_column_int64(s->groups, 1);
        raw->rows += n;
        if (state == states->installed)
            raw->installed = n;
        else if (states->has_not_required && state == states->not_required)
            raw->not_required = n;
    }
    if (rc != SQLITE_DONE)
        return -1;
    if (raw->installed == 0)
        return 0;
    return on_time(s, raw, q, topic_id, states);
}

/* Everything, inside the caller's read transaction. */
static int
fetch_sqlite(sqlite3 *sql, int64_t *scope, qs_deadline_raw_t *raw, const qs_deadline_query_t *q,
             const qs_deadline_states_t *states)
{
    struct stmts s = { 0 };
    int rc = -1, g = q->group != NULL;

    if (sqlite3_prepare_v2(sql, g ? sql_scope_group : sql_scope, -1, &s.scope, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(sql, g ? sql_groups_group : sql_groups, -1, &s.groups, NULL) !=
            SQLITE_OK ||
        (g && sqlite3_prepare_v2(sql, sql_on_time_group, -1, &s.on_time, NULL) != SQLITE_OK) ||
        sqlite3_prepare_v2(sql, sql_hours_before, -1, &s.before, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sql, sql_in_hour, -1, &s.in_hour, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(s.scope, 1, q->topic_type);
    if (g)
        sqlite3_bind_text(s.scope, 2, q->group, -1, SQLITE_STATIC);
    if (step_int64(s.scope, scope) != 0)
        goto out;
    for (size_t i = 0; i < q->n_topic_ids; i++)
        if (fetch_update(&s, &raw[i], q, q->topic_ids[i], states) != 0)
            goto out;
    rc = 0;
out:
    stmts_finalize(&s);
    return rc;
}

int
qs_storedb_deadline(qs_storedb_t *db, qs_storedb_deadline_t *out, const qs_policy_t *policy,
                    const qs_deadline_query_t *q, char *errmsg, size_t errmsg_len)
{
    qs_deadline_states_t states;
    qs_deadline_raw_t *raw;
    int64_t scope = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (qs_deadline_states(&states, q->topic_type, errmsg, errmsg_len) != 0)
        return -1;
    if (q->group != NULL) {
        int exists = 0;
        if (qs_storedb_group_exists(db, q->group, &exists, errmsg, errmsg_len) != 0)
            return -1;
        if (!exists) {
            snprintf(errmsg, errmsg_len, "the deployment's group '%s' does not exist (any "
                     "more): 'qsctl group list' shows the groups", q->group);
            return QS_GROUP_UNKNOWN;
        }
    }
    raw = qs_calloc(q->n_topic_ids ? q->n_topic_ids : 1, sizeof *raw);
    if (qs_storedb_pgdb(db) != NULL) {
        rc = qs_deadline_fetch_pg(db, &scope, raw, q, &states, errmsg, errmsg_len);
    } else if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s",
                 sqlite3_errmsg(qs_storedb_sqlite(db)));
        rc = -1;
    } else {
        rc = fetch_sqlite(qs_storedb_sqlite(db), &scope, raw, q, &states);
        if (rc != 0)
            snprintf(errmsg, errmsg_len, "deadline compliance query on store.db failed: %s",
                     sqlite3_errmsg(qs_storedb_sqlite(db)));
        qs_storedb_read_end(db);
    }
    if (rc == 0)
        qs_deadline_build(out, q, raw, scope, qs_compliance_k(policy));
    free(raw);
    return rc;
}
