/* counts.c - compliance_counts and scope_counts: per-transaction deltas, apply, check, rebuild.
 * (Why the table exists and who keeps it exact: qs_counts.h.) On
 * PostgreSQL, check and rebuild are counts_pg.c's. */
#include "storedb_sqlite.h"
#include "deadline_rules.h"
#include "ops_pg.h"
#include "qs_counts.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_sqlutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELTAS_INITIAL_SLOTS 256u   /* power of two */
#define NO_HOUR INT64_C(-1)          /* a compliance_counts group */

/* scope_counts as latest has it: distinct (client, topic type) pairs in
 * primary-key order (no sort), counted per type (a handful of groups). */
#define SCOPE_FROM_LATEST \
    "SELECT topic_type, count(*) FROM (SELECT DISTINCT client_id, topic_type FROM latest) " \
    "GROUP BY topic_type"

/* installed_hours as latest has it: the installed rows (the partial index
 * latest_deadline holds exactly them, in key order) per hour. */
#define INSTALLED_FROM_LATEST \
    "SELECT topic_type, topic_id, state_id, " QS_INSTALLED_HOUR_SQL("time_ms") " AS hour, " \
    "count(*) AS count FROM latest WHERE " QS_DEADLINE_INSTALLED_OR("state_id") " GROUP BY 1, 2, 3, 4"

struct delta_slot {
    uint64_t hash;
    int64_t delta;
    int64_t hour;              /* installed_hours' hour, or NO_HOUR: compliance_counts */
    uint32_t topic_type, state_id;
    size_t len;                /* of topic_id, which may hold a NUL (an edited file) */
    int used;
    int checked;               /* qs_storedb_counts_check: found in the table */
    char topic_id[QS_MAX_TOPIC_ID_BYTES + 1];
};

struct qs_count_deltas {
    struct delta_slot *slots;
    size_t cap;                /* power of two */
    uint32_t *used;            /* indexes of used slots, in first-use order */
    size_t n;
};

qs_count_deltas_t *
qs_count_deltas_new(void)
{
    qs_count_deltas_t *d = qs_calloc(1, sizeof *d);

    d->cap = DELTAS_INITIAL_SLOTS;
    d->slots = qs_calloc(d->cap, sizeof *d->slots);
    d->used = qs_calloc(d->cap, sizeof *d->used);
    return d;
}

void
qs_count_deltas_destroy(qs_count_deltas_t **d_p)
{
    if (d_p == NULL || *d_p == NULL)
        return;
    free((*d_p)->slots);
    free((*d_p)->used);
    free(*d_p);
    *d_p = NULL;
}

static uint64_t
group_hash(uint32_t topic_type, const char *topic_id, size_t len, uint32_t state_id,
           int64_t hour)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ ((uint64_t)topic_type << 32 | state_id);

    h = (h ^ (uint64_t)hour) * 0x100000001b3ULL;
    h *= 0x100000001b3ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)topic_id[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

static struct delta_slot *
slot_find(qs_count_deltas_t *d, uint64_t hash, uint32_t topic_type, const char *topic_id,
          size_t len, uint32_t state_id, int64_t hour)
{
    size_t mask = d->cap - 1;

    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        struct delta_slot *s = &d->slots[i];
        if (!s->used)
            return s;
        if (s->hash == hash && s->topic_type == topic_type && s->state_id == state_id &&
            s->hour == hour && s->len == len && memcmp(s->topic_id, topic_id, len) == 0)
            return s;
    }
}

static void
grow(qs_count_deltas_t *d)
{
    struct delta_slot *old = d->slots;
    uint32_t *old_used = d->used;
    size_t n = d->n;

    d->cap *= 2;
    d->slots = qs_calloc(d->cap, sizeof *d->slots);
    d->used = qs_calloc(d->cap, sizeof *d->used);
    d->n = 0;
    for (size_t k = 0; k < n; k++) {
        const struct delta_slot *o = &old[old_used[k]];
        struct delta_slot *s = slot_find(d, o->hash, o->topic_type, o->topic_id, o->len,
                                         o->state_id, o->hour);
        *s = *o;
        d->used[d->n++] = (uint32_t)(s - d->slots);
    }
    free(old);
    free(old_used);
}

static void
delta_add(qs_count_deltas_t *d, uint32_t topic_type, const char *topic_id, size_t len,
          uint32_t state_id, int64_t hour, int64_t delta)
{
    uint64_t hash = group_hash(topic_type, topic_id, len, state_id, hour);
    struct delta_slot *s;

    if ((d->n + 1) * 2 > d->cap)
        grow(d);
    s = slot_find(d, hash, topic_type, topic_id, len, state_id, hour);
    if (!s->used) {
        s->used = 1;
        s->hash = hash;
        s->topic_type = topic_type;
        s->state_id = state_id;
        s->hour = hour;
        s->delta = 0;
        s->len = len;
        memcpy(s->topic_id, topic_id, len);
        s->topic_id[len] = '\0';
        d->used[d->n++] = (uint32_t)(s - d->slots);
    }
    s->delta += delta;
}

void
qs_count_deltas_move(qs_count_deltas_t *d, uint32_t topic_type, const char *topic_id,
                     uint32_t from_state, uint32_t to_state)
{
    size_t len = strlen(topic_id);

    QS_ASSERT(len <= QS_MAX_TOPIC_ID_BYTES);
    if (from_state == to_state)
        return;
    delta_add(d, topic_type, topic_id, len, from_state, NO_HOUR, -1);
    delta_add(d, topic_type, topic_id, len, to_state, NO_HOUR, +1);
}

void
qs_count_deltas_installed_move(qs_count_deltas_t *d, uint32_t topic_type, const char *topic_id,
                               uint32_t from_state, int64_t from_time_ms, uint32_t to_state,
                               int64_t to_time_ms)
{
    size_t len = strlen(topic_id);
    int64_t from_hour = from_time_ms / QS_INSTALLED_HOUR_MS;
    int64_t to_hour = to_time_ms / QS_INSTALLED_HOUR_MS;

    QS_ASSERT(len <= QS_MAX_TOPIC_ID_BYTES);
    if (from_state == to_state && from_hour == to_hour)
        return;
    if (qs_deadline_installed_like(from_state))
        delta_add(d, topic_type, topic_id, len, from_state, from_hour, -1);
    if (qs_deadline_installed_like(to_state))
        delta_add(d, topic_type, topic_id, len, to_state, to_hour, +1);
}

void
qs_count_deltas_clear(qs_count_deltas_t *d)
{
    for (size_t k = 0; k < d->n; k++)
        d->slots[d->used[k]].used = d->slots[d->used[k]].checked = 0;
    d->n = 0;
}

size_t
qs_count_deltas_size(const qs_count_deltas_t *d)
{
    size_t n = 0;

    for (size_t k = 0; k < d->n; k++)
        n += d->slots[d->used[k]].delta != 0;
    return n;
}

/* compliance_counts (a group of NO_HOUR) or installed_hours: add, then
 * prune a group that reached 0. ?5 is the hour (ignored by the first). */
static const char *const sql_apply[2][2] = {
    { "INSERT INTO compliance_counts(topic_type, topic_id, state_id, count) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET count = count + excluded.count",
      "DELETE FROM compliance_counts WHERE topic_type = ?1 AND topic_id = ?2 "
      "AND state_id = ?3 AND count = 0" },
    { "INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, count) "
      "VALUES (?1, ?2, ?3, ?5, ?4) ON CONFLICT DO UPDATE SET count = count + excluded.count",
      "DELETE FROM installed_hours WHERE topic_type = ?1 AND topic_id = ?2 "
      "AND state_id = ?3 AND hour = ?5 AND count = 0" },
};

static int
apply_slot(sqlite3 *sql, sqlite3_stmt *st[2][2], const struct delta_slot *s)
{
    int table = s->hour != NO_HOUR;

    for (int i = 0; i < 2; i++) {
        sqlite3_stmt **p = &st[table][i];
        int rc;
        if (*p == NULL && sqlite3_prepare_v2(sql, sql_apply[table][i], -1, p, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_int64(*p, 1, s->topic_type);
        sqlite3_bind_text(*p, 2, s->topic_id, (int)s->len, SQLITE_STATIC);
        sqlite3_bind_int64(*p, 3, s->state_id);
        if (i == 0)
            sqlite3_bind_int64(*p, 4, s->delta);
        if (table)
            sqlite3_bind_int64(*p, 5, s->hour);
        rc = sqlite3_step(*p);
        sqlite3_reset(*p);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return 0;
}

int
qs_storedb_counts_apply(qs_storedb_t *db, qs_count_deltas_t *d)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    sqlite3_stmt *st[2][2] = { { NULL, NULL }, { NULL, NULL } };
    int rc = 0;

    /* Any group may reach 0 here (a delete earlier in the transaction
     * already took the row out); a negative count is left for qsctl
     * verify to report. */
    for (size_t k = 0; k < d->n && rc == 0; k++) {
        const struct delta_slot *s = &d->slots[d->used[k]];
        if (s->delta != 0)
            rc = apply_slot(sql, st, s);
    }
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 2; i++)
            sqlite3_finalize(st[t][i]);
    qs_count_deltas_clear(d);
    return rc;
}

/* Every row of latest counted into d (a full scan, no sort: the groups are
 * few, the rows many). A topic id longer than any message can carry means
 * an edited file: an error, not a crash. */
static int
count_latest(sqlite3 *sql, qs_count_deltas_t *d)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(sql, "SELECT topic_type, topic_id, state_id FROM latest", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (id == NULL || len > QS_MAX_TOPIC_ID_BYTES || memchr(id, '\0', len) != NULL) {
            rc = SQLITE_MISMATCH;
            break;
        }
        delta_add(d, (uint32_t)sqlite3_column_int64(st, 0), id, len,
                  (uint32_t)sqlite3_column_int64(st, 2), NO_HOUR, +1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_storedb_counts_check(qs_storedb_t *db, int64_t *missing, int64_t *stale)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    qs_count_deltas_t *d;
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_ERROR, began = 0;
    char err[512];

    if (qs_storedb_pgdb(db) != NULL) {
        if (qs_storedb_counts_check_pg(db, missing, stale, err, sizeof err) == 0)
            return 0;
        log_error("%s", err);   /* this API has no errmsg: qs_storedb_check_counts has */
        return -1;
    }
    d = qs_count_deltas_new();
    *missing = *stale = 0;
    /* One snapshot for both reads (the caller's transaction, if any). */
    if (sqlite3_get_autocommit(sql)) {
        if (sqlite3_exec(sql, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
            goto out;
        began = 1;
    }
    if (count_latest(sql, d) != 0 ||
        sqlite3_prepare_v2(sql, "SELECT topic_type, topic_id, state_id, count "
                           "FROM compliance_counts", -1, &st, NULL) != SQLITE_OK)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        uint32_t tt = (uint32_t)sqlite3_column_int64(st, 0);
        uint32_t state = (uint32_t)sqlite3_column_int64(st, 2);
        struct delta_slot *slot = NULL;
        if (id != NULL && len <= QS_MAX_TOPIC_ID_BYTES)
            slot = slot_find(d, group_hash(tt, id, len, state, NO_HOUR), tt, id, len, state,
                             NO_HOUR);
        if (slot == NULL || !slot->used) {
            (*stale)++;
        } else {
            if (slot->delta != sqlite3_column_int64(st, 3))
                (*missing)++;
            slot->checked = 1;
        }
    }
    for (size_t k = 0; k < d->n; k++)
        *missing += !d->slots[d->used[k]].checked;
out:
    sqlite3_finalize(st);
    if (began)
        (void)sqlite3_exec(sql, "COMMIT", NULL, NULL, NULL);
    qs_count_deltas_destroy(&d);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_storedb_counts_rebuild(qs_storedb_t *db, int64_t *groups)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    qs_count_deltas_t *d;
    int rc = -1;
    char err[512];

    if (qs_storedb_pgdb(db) != NULL) {
        if (qs_storedb_counts_rebuild_pg(db, groups, err, sizeof err) == 0)
            return 0;
        log_error("%s", err);
        return -1;
    }
    d = qs_count_deltas_new();
    if (count_latest(sql, d) == 0 &&
        sqlite3_exec(sql, "DELETE FROM compliance_counts", NULL, NULL, NULL) == SQLITE_OK) {
        if (groups != NULL)
            *groups = (int64_t)qs_count_deltas_size(d);
        rc = qs_storedb_counts_apply(db, d);
    }
    qs_count_deltas_destroy(&d);
    if (rc == 0 &&
        sqlite3_exec(sql, "DELETE FROM scope_counts; INSERT INTO scope_counts(topic_type, "
                     "machines) " SCOPE_FROM_LATEST "; DELETE FROM installed_hours; "
                     "INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, count) "
                     INSTALLED_FROM_LATEST, NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    return rc;
}

/* One count of disagreements between a kept table and latest (sql), in
 * one snapshot: the caller's transaction, or a read transaction of its own. */
static int
compare_with_latest(sqlite3 *sql, const char *query, const char *table, int64_t *wrong,
                    char *errmsg, size_t errmsg_len)
{
    int began = 0, rc = -1;

    *wrong = 0;
    if (sqlite3_get_autocommit(sql)) {
        if (sqlite3_exec(sql, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
            goto out;
        began = 1;
    }
    rc = qs_sql_int64(sql, query, wrong);
out:
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "cannot compare %s with latest: %s", table,
                 sqlite3_errmsg(sql));
    if (began)
        (void)sqlite3_exec(sql, "COMMIT", NULL, NULL, NULL);
    return rc;
}

int
qs_storedb_installed_check(qs_storedb_t *db, int64_t *wrong, char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_installed_check_pg(db, wrong, errmsg, errmsg_len);
    /* Both directions: an hour latest has that the table lacks or counts
     * otherwise, and a row of the table latest lacks (l walked once). */
    return compare_with_latest(
        qs_storedb_sqlite(db),
        "WITH l AS MATERIALIZED (" INSTALLED_FROM_LATEST ") "
        "SELECT (SELECT count(*) FROM l LEFT JOIN installed_hours h USING "
        "(topic_type, topic_id, state_id, hour) WHERE h.count IS NOT l.count) + "
        "(SELECT count(*) FROM installed_hours h LEFT JOIN l USING "
        "(topic_type, topic_id, state_id, hour) WHERE l.count IS NULL)",
        "installed_hours", wrong, errmsg, errmsg_len);
}

int
qs_storedb_scope_check(qs_storedb_t *db, int64_t *wrong, char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_scope_check_pg(db, wrong, errmsg, errmsg_len);
    /* Both directions: a type latest has that the table lacks or counts
     * otherwise, and a row of the table for a type latest does not have. */
    return compare_with_latest(
        qs_storedb_sqlite(db),
        "WITH l(topic_type, machines) AS MATERIALIZED (" SCOPE_FROM_LATEST ") "
        "SELECT (SELECT count(*) FROM l LEFT JOIN scope_counts s USING "
        "(topic_type) WHERE s.machines IS NOT l.machines) + "
        "(SELECT count(*) FROM scope_counts s LEFT JOIN l USING (topic_type) "
        "WHERE l.machines IS NULL)",
        "scope_counts", wrong, errmsg, errmsg_len);
}
