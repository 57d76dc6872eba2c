/* query.c - compliance counts and statistics read from store.db (SQLite), and the shared rules.
 *
 * Every query runs in a deferred read transaction (a WAL snapshot): a live
 * qs-store keeps committing while it reads, and neither waits for the
 * other. Counts come from compliance_counts (see qs_storedb.h), not from
 * counting latest. A topic-id filter without a topic type becomes one key
 * range per known topic type (the topic table is small), so it never scans.
 *
 * Each topic gets its type's scope (scope_counts, read in the same
 * snapshot) and a no-report cell (scope minus the topic's groups).
 * Suppression (docs/privacy.md has the proof sketch) is applied to each
 * topic (topic_type, topic_id) as a whole, from that topic's own cells and
 * its type's scope only, before the rows leave this file: a cell below k
 * is suppressed (primary); a topic with exactly one primary also loses its
 * smallest remaining cell (complementary), so no topic ever shows exactly
 * one hidden cell, and the scope gives away only the sum of the hidden
 * ones; a topic whose groups are all below k is dropped, id and all.
 * Every filter reads whole topics, so the pattern is the same whatever is
 * asked. An unsuppressed small count never exists outside this file.
 * On PostgreSQL the public functions hand over to query_pg.c, which fetches
 * the same exact rows and applies the same rules (query_rules.h, defined
 * here): an unsuppressed small count never leaves store/.
 */
#include "qs_store_query.h"
#include "qs_codec.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_sqlutil.h"
#include "query_rules.h"
#include "query_sqlite.h"
#include "ops_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Highest topic type probed when a topic id is given without a type. */
#define QUERY_MAX_TOPIC_TYPE 1000u

/* compliance_counts is latest already grouped (kept exact by triggers in
 * the writers' transactions): a read of its primary key, in key order. */
static const char sql_all[] =
    "SELECT topic_type, topic_id, state_id, count FROM compliance_counts "
    "ORDER BY topic_type, topic_id, state_id";
static const char sql_type[] =
    "SELECT topic_type, topic_id, state_id, count FROM compliance_counts "
    "WHERE topic_type = ?1 ORDER BY topic_type, topic_id, state_id";
static const char sql_type_id[] =
    "SELECT topic_type, topic_id, state_id, count FROM compliance_counts "
    "WHERE topic_type = ?1 AND topic_id = ?2 ORDER BY topic_type, topic_id, state_id";

const char *
qs_storedb_compliance_sql(int by_topic_type, int by_topic_id)
{
    if (by_topic_id)
        return sql_type_id;   /* without a type: run once per known type */
    return by_topic_type ? sql_type : sql_all;
}

int
qs_storedb_read_begin(qs_storedb_t *db)
{
    return sqlite3_exec(qs_storedb_sqlite(db), "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void
qs_storedb_read_end(qs_storedb_t *db)
{
    (void)sqlite3_exec(qs_storedb_sqlite(db), "COMMIT", NULL, NULL, NULL);
}

/* Run one grouped statement and append its rows to out, counts exact
 * (qs_compliance_suppress() runs before the result is handed out). */
static int
compliance_run(qs_storedb_compliance_t *out, size_t *cap, sqlite3_stmt *st)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(st, 1);
        qs_compliance_push(out, cap, (uint32_t)sqlite3_column_int64(st, 0),
                           id ? (const char *)id : "", (uint32_t)sqlite3_column_int64(st, 2),
                           sqlite3_column_int64(st, 3));
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_compliance_k(const qs_policy_t *policy)
{
    return policy->k >= 1 ? policy->k : QS_DEFAULT_K;
}

void
qs_compliance_push(qs_storedb_compliance_t *out, size_t *cap, uint32_t topic_type,
                   const char *topic_id, uint32_t state_id, int64_t count)
{
    qs_storedb_compliance_row_t *row;

    if (out->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        out->rows = qs_realloc(out->rows, *cap * sizeof *out->rows);
    }
    row = &out->rows[out->n++];
    row->topic_type = topic_type;
    row->topic_id = qs_strdup(topic_id);
    row->state_id = state_id;
    row->count = count;
    row->scope = 0;
    row->no_report = 0;
}

/* The smallest cell of rows [0, n) not hidden yet with count >= k (the
 * first in state order on a tie, the no-report cell last: deterministic);
 * n when there is none. */
static size_t
smallest_shown(const qs_storedb_compliance_row_t *rows, const unsigned char *hidden, size_t n,
               int64_t k)
{
    size_t best = n;

    for (size_t i = 0; i < n; i++)
        if (!hidden[i] && rows[i].count >= k && (best == n || rows[i].count < rows[best].count))
            best = i;
    return best;
}

/* Whether the hidden cells (m of them, summing to h) let their values be
 * worked out from the scope: one alone is its own number; a sum below k
 * is itself a small group; m cells of at least 1 each summing to m are all
 * 1, and m primary cells of at most k - 1 summing to m (k - 1) all k - 1. */
static int
hidden_exposed(int64_t m, int64_t h, int64_t k)
{
    return m > 0 && (m == 1 || h < k || h == m || h == m * (k - 1));
}

/* Suppress one topic's cells [0, n): its state groups, then its no-report
 * cell at n - 1 (exact counts in, see qs_store_query.h); returns 1 when
 * the whole topic is to be dropped. */
static int
suppress_topic(qs_storedb_compliance_row_t *rows, size_t n, int64_t k)
{
    unsigned char *hidden = qs_calloc(n, 1);
    size_t above = 0;
    int64_t m = 0, h = 0;
    int drop = 0;

    for (size_t i = 0; i < n; i++) {
        hidden[i] = rows[i].count > 0 && rows[i].count < k;   /* primary */
        m += hidden[i];
        h += hidden[i] ? rows[i].count : 0;
        above += !rows[i].no_report && rows[i].count >= k;
    }
    drop = above == 0;      /* every state group below k */
    /* Complementary: hide the smallest cell >= k until the hidden ones
     * cannot be worked out (qs_store_query.h); with none left to hide the
     * topic is not shown at all. */
    while (!drop && hidden_exposed(m, h, k)) {
        size_t c = smallest_shown(rows, hidden, n, k);
        if (c == n) {
            drop = 1;
            break;
        }
        hidden[c] = 1;
        m++;
        h += rows[c].count;
    }
    for (size_t i = 0; i < n && !drop; i++)
        if (hidden[i])
            rows[i].count = QS_STOREDB_SUPPRESSED;
    free(hidden);
    return drop;
}

static int
same_topic(const qs_storedb_compliance_row_t *a, const qs_storedb_compliance_row_t *b)
{
    return a->topic_type == b->topic_type && strcmp(a->topic_id, b->topic_id) == 0;
}

static int64_t
scope_of(const qs_compliance_scope_t *scopes, size_t n_scopes, uint32_t topic_type)
{
    for (size_t i = 0; i < n_scopes; i++)
        if (scopes[i].topic_type == topic_type)
            return scopes[i].machines;
    return 0;
}

/* Copy one topic's groups [0, n) to out (capacity n + 1) with their scope
 * and the no-report cell appended. */
static void
topic_with_totals(qs_storedb_compliance_row_t *out, const qs_storedb_compliance_row_t *rows,
                  size_t n, int64_t scope)
{
    int64_t sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += rows[i].count;
    if (scope < sum)
        scope = sum;
    for (size_t i = 0; i < n; i++) {
        out[i] = rows[i];
        out[i].scope = scope;
        out[i].no_report = 0;
    }
    out[n] = rows[0];
    out[n].topic_id = qs_strdup(rows[0].topic_id);
    out[n].state_id = QS_STOREDB_NO_REPORT_STATE;
    out[n].count = scope - sum;
    out[n].scope = scope;
    out[n].no_report = 1;
}

/* Totals and suppression for every topic of out (rows of one topic are
 * adjacent: key order); dropped topics leave no row. */
void
qs_compliance_suppress(qs_storedb_compliance_t *out, const qs_compliance_scope_t *scopes,
                       size_t n_scopes)
{
    qs_storedb_compliance_row_t *rows;
    size_t kept = 0, i = 0, topics = 0;

    for (size_t r = 0; r < out->n; r++)
        topics += r == 0 || !same_topic(&out->rows[r - 1], &out->rows[r]);
    rows = qs_calloc(out->n + topics + 1, sizeof *rows);
    while (i < out->n) {
        size_t j = i + 1;
        while (j < out->n && same_topic(&out->rows[i], &out->rows[j]))
            j++;
        topic_with_totals(&rows[kept], &out->rows[i], j - i,
                          scope_of(scopes, n_scopes, out->rows[i].topic_type));
        if (suppress_topic(&rows[kept], j - i + 1, out->k)) {
            for (size_t d = kept; d <= kept + (j - i); d++)
                free(rows[d].topic_id);
        } else {
            kept += j - i + 1;
        }
        i = j;
    }
    free(out->rows);
    out->rows = rows;
    out->n = kept;
}

/* Bind the filters and run the statement once, or once per known topic
 * type when only a topic id is given. */
static int
compliance_fill(qs_storedb_compliance_t *out, sqlite3_stmt *st, const uint32_t *topic_type,
                const char *topic_id)
{
    size_t cap = 0;

    if (topic_id != NULL)
        sqlite3_bind_text(st, 2, topic_id, -1, SQLITE_STATIC);
    if (topic_type != NULL) {
        sqlite3_bind_int64(st, 1, *topic_type);
        return compliance_run(out, &cap, st);
    }
    if (topic_id == NULL)
        return compliance_run(out, &cap, st);
    for (uint32_t t = 1; t < QUERY_MAX_TOPIC_TYPE; t++) {
        if (qs_topic_check(t, 0) == -1)
            continue;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, t);
        if (compliance_run(out, &cap, st) != 0)
            return -1;
    }
    return 0;
}

/* Every topic type's machines (scope_counts: one row per type), in the
 * caller's snapshot. *scopes is malloc'd (NULL when empty). */
static int
scopes_read(sqlite3 *sql, qs_compliance_scope_t **scopes, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    *scopes = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(sql, "SELECT topic_type, machines FROM scope_counts", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *scopes = qs_realloc(*scopes, cap * sizeof **scopes);
        }
        (*scopes)[*n].topic_type = (uint32_t)sqlite3_column_int64(st, 0);
        (*scopes)[(*n)++].machines = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The compliance query inside the caller's read transaction. */
static int
compliance_locked(qs_storedb_t *db, qs_storedb_compliance_t *out, const uint32_t *topic_type,
                  const char *topic_id, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    qs_compliance_scope_t *scopes = NULL;
    size_t n_scopes = 0;
    int rc = 0;

    if (sqlite3_prepare_v2(sql, qs_storedb_compliance_sql(topic_type != NULL, topic_id != NULL),
                           -1, &st, NULL) != SQLITE_OK ||
        compliance_fill(out, st, topic_type, topic_id) != 0) {
        snprintf(errmsg, errmsg_len, "compliance query on store.db failed: %s",
                 sqlite3_errmsg(sql));
        qs_storedb_compliance_free(out);
        rc = -1;
    } else if (scopes_read(sql, &scopes, &n_scopes) != 0) {
        snprintf(errmsg, errmsg_len, "scope query on store.db failed: %s", sqlite3_errmsg(sql));
        qs_storedb_compliance_free(out);
        rc = -1;
    } else {
        qs_compliance_suppress(out, scopes, n_scopes);
    }
    free(scopes);
    sqlite3_finalize(st);
    return rc;
}

int
qs_storedb_compliance(qs_storedb_t *db, qs_storedb_compliance_t *out,
                      const qs_policy_t *policy, const uint32_t *topic_type,
                      const char *topic_id, char *errmsg, size_t errmsg_len)
{
    int rc;

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_compliance_pg(db, out, policy, topic_type, topic_id, errmsg,
                                        errmsg_len);
    memset(out, 0, sizeof *out);
    out->k = qs_compliance_k(policy);
    if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s",
                 sqlite3_errmsg(qs_storedb_sqlite(db)));
        return -1;
    }
    rc = compliance_locked(db, out, topic_type, topic_id, errmsg, errmsg_len);
    qs_storedb_read_end(db);
    return rc;
}

void
qs_storedb_compliance_free(qs_storedb_compliance_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        free(res->rows[i].topic_id);
    free(res->rows);
    res->rows = NULL;
    res->n = 0;
}

static void
counter_push(qs_storedb_counter_t **list, size_t *n, const char *name, int64_t value)
{
    qs_storedb_counter_t *c;

    *list = qs_realloc(*list, (*n + 1) * sizeof **list);
    c = &(*list)[(*n)++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->value = value;
}

static int
counter_cmp(const void *a, const void *b)
{
    return strcmp(((const qs_storedb_counter_t *)a)->name,
                  ((const qs_storedb_counter_t *)b)->name);
}

/* Add value to the counter called name, creating it in name order. */
static void
counter_add(qs_storedb_counter_t **list, size_t *n, const char *name, int64_t value)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*list)[i].name, name) == 0) {
            (*list)[i].value += value;
            return;
        }
    }
    counter_push(list, n, name, value);
    qsort(*list, *n, sizeof **list, counter_cmp);
}

void
qs_storedb_stats_add_rejected(qs_storedb_stats_t *st, const char *status, const char *code,
                              int64_t n)
{
    QS_ASSERT(strlen(status) < QS_STOREDB_MAX_COUNTER_NAME &&
              strlen(code) < QS_STOREDB_MAX_COUNTER_NAME);
    if (n <= 0)
        return;
    counter_add(&st->rejected, &st->n_rejected, status, n);
    counter_add(&st->rejected_detail, &st->n_rejected_detail, code, n);
}

void
qs_storedb_stats_counter(qs_storedb_stats_t *out, const char *name, int64_t value)
{
    static const char rej[] = "rejected.", rej_detail[] = "rejected_detail.";
    static const char retries[] = "retries.";

    if (strcmp(name, "stored") == 0)
        out->stored = value;
    else if (strcmp(name, "duplicates") == 0)
        out->duplicates = value;
    else if (strncmp(name, rej, sizeof rej - 1) == 0 && name[sizeof rej - 1] != '\0')
        counter_push(&out->rejected, &out->n_rejected, name + sizeof rej - 1, value);
    else if (strncmp(name, rej_detail, sizeof rej_detail - 1) == 0 &&
             name[sizeof rej_detail - 1] != '\0')
        counter_push(&out->rejected_detail, &out->n_rejected_detail,
                     name + sizeof rej_detail - 1, value);
    else if (strncmp(name, retries, sizeof retries - 1) == 0 && name[sizeof retries - 1] != '\0')
        counter_push(&out->retries, &out->n_retries, name + sizeof retries - 1, value);
}

/* Row counts and counters, inside the caller's read transaction. */
static int
stats_read(qs_storedb_stats_t *out, sqlite3 *sql)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (qs_sql_int64(sql, "SELECT count(*) FROM clients", &out->clients) != 0 ||
        qs_sql_int64(sql, "SELECT count(*) FROM latest", &out->latest_rows) != 0 ||
        qs_sql_int64(sql, "SELECT coalesce(sum(rows), 0) FROM partitions",
                     &out->history_rows) != 0 ||
        qs_sql_int64(sql, "SELECT count(*) FROM partitions", &out->partitions) != 0)
        return -1;
    if (sqlite3_prepare_v2(sql, "SELECT name, value FROM counters ORDER BY name", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name != NULL)
            qs_storedb_stats_counter(out, name, sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Replace out->latest_rows by the sum of the cells compliance publishes
 * under policy, read in the caller's snapshot. */
static int
stats_published(qs_storedb_t *db, qs_storedb_stats_t *out, const qs_policy_t *policy,
                char *errmsg, size_t errmsg_len)
{
    qs_storedb_compliance_t res;

    memset(&res, 0, sizeof res);
    res.k = qs_compliance_k(policy);
    if (compliance_locked(db, &res, NULL, NULL, errmsg, errmsg_len) != 0)
        return -1;
    out->latest_rows = qs_compliance_published(&res);
    qs_storedb_compliance_free(&res);
    return 0;
}

/* Both stats calls: everything in one snapshot; policy != NULL for the
 * published total. */
static int
stats_snapshot(qs_storedb_t *db, qs_storedb_stats_t *out, const qs_policy_t *policy,
               char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    int rc = 0;

    memset(out, 0, sizeof *out);
    if (qs_storedb_read_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s",
                 sqlite3_errmsg(sql));
        return -1;
    }
    if (stats_read(out, sql) != 0) {
        snprintf(errmsg, errmsg_len, "statistics query on store.db failed: %s",
                 sqlite3_errmsg(sql));
        rc = -1;
    } else if (policy != NULL && stats_published(db, out, policy, errmsg, errmsg_len) != 0) {
        rc = -1;
    }
    qs_storedb_read_end(db);
    if (rc != 0)
        qs_storedb_stats_free(out);
    return rc;
}

int64_t
qs_compliance_published(const qs_storedb_compliance_t *res)
{
    int64_t total = 0;

    for (size_t i = 0; i < res->n; i++)
        if (res->rows[i].count != QS_STOREDB_SUPPRESSED && !res->rows[i].no_report)
            total += res->rows[i].count;
    return total;
}

int
qs_storedb_stats(qs_storedb_t *db, qs_storedb_stats_t *out, char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_stats_pg(db, out, NULL, errmsg, errmsg_len);
    return stats_snapshot(db, out, NULL, errmsg, errmsg_len);
}

int
qs_storedb_stats_published(qs_storedb_t *db, qs_storedb_stats_t *out,
                           const qs_policy_t *policy, char *errmsg, size_t errmsg_len)
{
    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_stats_pg(db, out, policy, errmsg, errmsg_len);
    return stats_snapshot(db, out, policy, errmsg, errmsg_len);
}

void
qs_storedb_stats_free(qs_storedb_stats_t *st)
{
    free(st->rejected);
    free(st->rejected_detail);
    free(st->retries);
    st->rejected = st->rejected_detail = st->retries = NULL;
    st->n_rejected = st->n_rejected_detail = st->n_retries = 0;
}
