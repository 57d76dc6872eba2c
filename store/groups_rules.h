/* groups_rules.h - the group tables and what forget and the PostgreSQL engine share of them (private to store/).
 *
 * groups.c (SQLite, and the engine-neutral checks) and groups_pg.c
 * (PostgreSQL) implement qs_store_group.h (tables machine_groups and
 * group_members); forget.c and forget_pg.c delete
 * a machine's memberships inside their own transactions through the
 * qs_group_forget_* calls here. The tables are created when the first
 * group is (an older store simply has none): a store without them has no
 * group, so every reader treats their absence as "unknown group".
 */
#ifndef QS_GROUPS_RULES_H
#define QS_GROUPS_RULES_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "qs_store_group.h"
#include "query_rules.h"
#include "storedb_pg.h"

/* Engine-neutral DDL (BYTEA is a blob on SQLite, BIGINT an integer). */
#define QS_GROUP_SQL_TABLES \
    "CREATE TABLE IF NOT EXISTS machine_groups(" \
    " name TEXT PRIMARY KEY, created_ms BIGINT NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS group_members(" \
    " group_name TEXT NOT NULL, machine_ps BYTEA NOT NULL," \
    " PRIMARY KEY(group_name, machine_ps));" \
    "CREATE INDEX IF NOT EXISTS group_members_by_machine ON group_members(machine_ps);"

/* Inside the caller's write transaction: delete every membership of who's
 * machine pseudonyms (every spelling; the domain plays no part: membership
 * is by machine name). *deleted (may be NULL) gets how many. 0 or -1
 * (sqlite3_errmsg / errmsg says why). */
int qs_group_forget_sqlite(sqlite3 *sql, const qs_machine_ps_t *who, int64_t *deleted);
int qs_group_forget_pg(qs_pgdb_t *pg, const qs_machine_ps_t *who, int64_t *deleted,
                       char *errmsg, size_t errmsg_len);

/* The PostgreSQL halves of qs_store_group.h, same contracts (groups_pg.c). */
int qs_storedb_group_create_pg(qs_storedb_t *db, const char *name, int64_t now_ms, int *created,
                               char *errmsg, size_t errmsg_len);
int qs_storedb_group_exists_pg(qs_storedb_t *db, const char *name, int *exists, char *errmsg,
                               size_t errmsg_len);
int qs_storedb_group_add_pg(qs_storedb_t *db, const char *name,
                            const uint8_t (*machine_ps)[QS_PSEUDONYM_BYTES], size_t n,
                            int64_t *added, char *errmsg, size_t errmsg_len);
int qs_storedb_group_remove_pg(qs_storedb_t *db, const char *name, const qs_machine_ps_t *who,
                               size_t n, int64_t *removed, char *errmsg, size_t errmsg_len);
int qs_storedb_group_list_pg(qs_storedb_t *db, qs_group_list_t *out, const char *name,
                             char *errmsg, size_t errmsg_len);
int qs_storedb_group_compliance_pg(qs_storedb_t *db, qs_storedb_compliance_t *out,
                                   const char *name, const uint32_t *topic_type,
                                   const char *topic_id, qs_compliance_scope_t **scopes,
                                   size_t *n_scopes, char *errmsg, size_t errmsg_len);

/* The counting rule of a group's compliance: machines per (topic type,
 * topic id, state) among its members' rows of latest. cols: leading
 * columns selected and grouped by as well ("" or e.g. "m.group_name, "),
 * where: the condition on m (group_members) and l (latest). Group
 * compliance (groups.c, groups_pg.c) and the daily group snapshots
 * (trend_sqlite.c, trend_pg.c) count through it, so they count the same. */
#define QS_GROUP_SQL_CELLS(cols, where)                                                  \
    "SELECT " cols "l.topic_type, l.topic_id, l.state_id, count(*) FROM group_members m " \
    "JOIN latest l ON l.machine_ps = m.machine_ps WHERE " where " "                      \
    "GROUP BY " cols "l.topic_type, l.topic_id, l.state_id"

/* A group's scope per topic type: its members' clients with at least one
 * row of the type (the base of the group's percentages, qs_compliance_suppress).
 * Parameter 1 (?1 / $1) is the group name. */
#define QS_GROUP_SQL_SCOPES(p1)                                                          \
    "SELECT l.topic_type, count(DISTINCT l.client_id) FROM group_members m "             \
    "JOIN latest l ON l.machine_ps = m.machine_ps WHERE m.group_name = " p1 " "          \
    "GROUP BY l.topic_type"

/* Append one scope to *scopes (*n used, *cap allocated). */
void qs_group_scope_push(qs_compliance_scope_t **scopes, size_t *n, size_t *cap,
                         uint32_t topic_type, int64_t machines);

/* Append one group (exact member count) to l (cap: rows allocated). */
void qs_group_list_push(qs_group_list_t *l, size_t *cap, const char *name, int64_t created_ms,
                        int64_t members);

#endif
