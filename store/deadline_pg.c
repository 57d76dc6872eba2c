/* deadline_pg.c - deadline compliance's exact numbers on PostgreSQL.
 *
 * The same numbers as deadline.c, in one read-only REPEATABLE READ
 * snapshot: the scope (scope_counts summed over the writer shards), each
 * update's groups summed over the shards of compliance_counts, and the
 * installed machines at or before the deadline: the whole hours before
 * the deadline's hour from installed_hours (summed over the writer shards,
 * counts_pg.c), plus a range on the index latest_deadline (storedb_pg.c)
 * over the deadline's own hour only, as deadline.c does. With a group, the
 * members' range count. The rules are deadline_rules.c's.
 */
#include "deadline_rules.h"
#include "groups_rules.h"
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* $1 topic type ($2 the group): compliance's scope, as on SQLite. */
static const char sql_scope[] =
    "SELECT coalesce(sum(machines), 0)::bigint FROM scope_counts WHERE topic_type = $1::bigint";
static const char sql_groups[] =
    "SELECT state_id, sum(count)::bigint FROM compliance_counts "
    "WHERE topic_type = $1::bigint AND topic_id = $2::text GROUP BY state_id";
/* On time: the whole hours before the deadline's hour H ($5) from
 * installed_hours, plus the installed rows of hour H up to the deadline
 * ($4): one index range of at most an hour's installations. */
static const char sql_on_time[] =
    "SELECT (SELECT coalesce(sum(count), 0) FROM installed_hours WHERE topic_type = $1::bigint "
    "AND topic_id = $2::text AND state_id = $3::bigint AND hour < $5::bigint)::bigint + "
    "(SELECT count(*) FROM latest WHERE topic_type = $1::bigint AND topic_id = $2::text "
    "AND state_id = $3::bigint AND " QS_DEADLINE_INSTALLED_SQL " "
    "AND time_ms >= $5::bigint * 3600000 AND time_ms <= $4::bigint)";

/* With a group: its members' rows only; the group is the last parameter. */
#define MEMBERS_JOIN "FROM group_members m JOIN latest l ON l.machine_ps = m.machine_ps "
static const char sql_scope_group[] =
    "WITH s(t, m) AS (" QS_GROUP_SQL_SCOPES("$2::text") ") "
    "SELECT coalesce(sum(m), 0)::bigint FROM s WHERE t = $1::bigint";
static const char sql_groups_group[] =
    "SELECT l.state_id, count(*)::bigint " MEMBERS_JOIN "WHERE l.topic_type = $1::bigint "
    "AND l.topic_id = $2::text AND m.group_name = $3::text GROUP BY l.state_id";
static const char sql_on_time_group[] =
    "SELECT count(*) " MEMBERS_JOIN "WHERE l.topic_type = $1::bigint AND l.topic_id = $2::text "
    "AND l.state_id = $3::bigint AND l." QS_DEADLINE_INSTALLED_SQL " AND l.time_ms <= $4::bigint "
    "AND m.group_name = $5::text";

/* The on-time count over the group's members (params[0..3] as fetch_update's). */
static int
on_time_group(qs_pgdb_t *pg, qs_deadline_raw_t *raw, const char *const *params4,
              const char *group, char *errmsg, size_t errmsg_len)
{
    const char *params[5] = { params4[0], params4[1], params4[2], params4[3], group };
    PGresult *r = qs_pg_query(pg, "deadline compliance query failed", sql_on_time_group, 5,
                              params, NULL, NULL, errmsg, errmsg_len);

    if (r == NULL)
        return -1;
    raw->on_time = qs_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

static int
fetch_update(qs_pgdb_t *pg, qs_deadline_raw_t *raw, const qs_deadline_query_t *q,
             const char *topic_id, const qs_deadline_states_t *states, char *errmsg,
             size_t errmsg_len)
{
    char type[16], installed[16], deadline[24], hour[24];
    const char *params[5] = { type, topic_id, installed, deadline, hour };
    const char *gparams[3] = { type, topic_id, q->group };
    PGresult *r;

    memset(raw, 0, sizeof *raw);
    snprintf(type, sizeof type, "%u", q->topic_type);
    snprintf(installed, sizeof installed, "%u", states->installed);
    snprintf(deadline, sizeof deadline, "%" PRId64, q->deadline_ms);
    snprintf(hour, sizeof hour, "%" PRId64, q->deadline_ms / QS_INSTALLED_HOUR_MS);
    r = q->group != NULL
        ? qs_pg_query(pg, "deadline compliance query failed", sql_groups_group, 3, gparams, NULL,
                      NULL, errmsg, errmsg_len)
        : qs_pg_query(pg, "deadline compliance query failed", sql_groups, 2, params, NULL, NULL,
                      errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        uint32_t state = (uint32_t)qs_pg_i64(r, i, 0);
        int64_t n = qs_pg_i64(r, i, 1);
        raw->rows += n;
        if (state == states->installed)
            raw->installed = n;
        else if (states->has_not_required && state == states->not_required)
            raw->not_required = n;
    }
    PQclear(r);
    if (raw->installed == 0)
        return 0;
    if (q->group != NULL)
        return on_time_group(pg, raw, params, q->group, errmsg, errmsg_len);
    r = qs_pg_query(pg, "deadline compliance query failed", sql_on_time, 5, params, NULL, NULL,
                    errmsg, errmsg_len);
    if (r == NULL)
        return -1;
    raw->on_time = qs_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int
qs_deadline_fetch_pg(qs_storedb_t *db, int64_t *scope, qs_deadline_raw_t *raw,
                     const qs_deadline_query_t *q, const qs_deadline_states_t *states,
                     char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    char type[16];
    const char *params[2] = { type, q->group };
    PGresult *r;
    int rc = 0;

    if (qs_pg_read_begin(pg, errmsg, errmsg_len) != 0)
        return -1;
    snprintf(type, sizeof type, "%u", q->topic_type);
    r = qs_pg_query(pg, "deadline compliance query failed",
                    q->group != NULL ? sql_scope_group : sql_scope, q->group != NULL ? 2 : 1,
                    params, NULL, NULL, errmsg, errmsg_len);
    if (r == NULL) {
        rc = -1;
    } else {
        *scope = qs_pg_i64(r, 0, 0);
        PQclear(r);
    }
    for (size_t i = 0; rc == 0 && i < q->n_topic_ids; i++)
        rc = fetch_update(pg, &raw[i], q, q->topic_ids[i], states, errmsg, errmsg_len);
    qs_pg_read_end(pg);
    return rc;
}
