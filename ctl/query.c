/* query.c - compliance counts and statistics read from store.db and site.db.
 *
 * Every query runs in a deferred read transaction (a WAL snapshot): a live
 * qs-store keeps committing while qsctl reads, and neither waits for the
 * other. Counts come from compliance_counts (see qs_storedb.h), not from
 * counting latest. A topic-id filter without a topic type becomes one key
 * range per known topic type (the topic table is small), so it never scans.
 */
#include "query.h"
#include "qs_codec.h"
#include "qs_log.h"
#include "qs_sqlutil.h"
#include "storedb_sqlite.h" /* TODO(store-interface): must go */

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
query_compliance_sql(int by_topic_type, int by_topic_id)
{
    if (by_topic_id)
        return sql_type_id;   /* without a type: run once per known type */
    return by_topic_type ? sql_type : sql_all;
}

static int
read_begin(sqlite3 *db, char *errmsg, size_t errmsg_len)
{
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "cannot start a read transaction: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static void
read_end(sqlite3 *db)
{
    (void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

/* Run one grouped statement and append its rows to out. */
static int
compliance_run(query_compliance_t *out, size_t *cap, sqlite3_stmt *st, int k)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        query_compliance_row_t *row;
        const unsigned char *id = sqlite3_column_text(st, 1);
        int64_t count = sqlite3_column_int64(st, 3);
        if (out->n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            out->rows = qs_realloc(out->rows, *cap * sizeof *out->rows);
        }
        row = &out->rows[out->n++];
        row->topic_type = (uint32_t)sqlite3_column_int64(st, 0);
        row->topic_id = qs_strdup(id ? (const char *)id : "");
        row->state_id = (uint32_t)sqlite3_column_int64(st, 2);
        row->count = count < k ? QUERY_SUPPRESSED : count;
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

int
query_compliance(query_compliance_t *out, sqlite3 *db, const uint32_t *topic_type,
                 const char *topic_id, int k, char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = -1;

    QS_ASSERT(k >= 1);
    memset(out, 0, sizeof *out);
    if (read_begin(db, errmsg, errmsg_len) != 0)
        return -1;
    if (sqlite3_prepare_v2(db, query_compliance_sql(topic_type != NULL, topic_id != NULL),
                           -1, &st, NULL) != SQLITE_OK)
        goto db_error;
    if (topic_id != NULL)
        sqlite3_bind_text(st, 2, topic_id, -1, SQLITE_STATIC);
    if (topic_type != NULL) {
        sqlite3_bind_int64(st, 1, *topic_type);
        if (compliance_run(out, &cap, st, k) != 0)
            goto db_error;
    } else if (topic_id != NULL) {
        for (uint32_t t = 1; t < QUERY_MAX_TOPIC_TYPE; t++) {
            if (qs_topic_check(t, 0) == -1)
                continue;
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, t);
            if (compliance_run(out, &cap, st, k) != 0)
                goto db_error;
        }
    } else if (compliance_run(out, &cap, st, k) != 0) {
        goto db_error;
    }
    rc = 0;
    goto done;
db_error:
    snprintf(errmsg, errmsg_len, "compliance query on store.db failed: %s",
             sqlite3_errmsg(db));
    query_compliance_free(out);
done:
    sqlite3_finalize(st);
    read_end(db);
    return rc;
}

void
query_compliance_free(query_compliance_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        free(res->rows[i].topic_id);
    free(res->rows);
    res->rows = NULL;
    res->n = 0;
}

static void
counter_push(query_counter_t **list, size_t *n, const char *name, int64_t value)
{
    query_counter_t *c;

    *list = qs_realloc(*list, (*n + 1) * sizeof **list);
    c = &(*list)[(*n)++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->value = value;
}

static int
counter_cmp(const void *a, const void *b)
{
    return strcmp(((const query_counter_t *)a)->name, ((const query_counter_t *)b)->name);
}

/* Add value to the counter called name, creating it in name order. */
static void
counter_add(query_counter_t **list, size_t *n, const char *name, int64_t value)
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
query_stats_add_rejected(query_stats_t *st, const char *status, const char *code, int64_t n)
{
    QS_ASSERT(strlen(status) < QUERY_MAX_COUNTER_NAME && strlen(code) < QUERY_MAX_COUNTER_NAME);
    if (n <= 0)
        return;
    counter_add(&st->rejected, &st->n_rejected, status, n);
    counter_add(&st->rejected_detail, &st->n_rejected_detail, code, n);
}

int
query_stats(query_stats_t *out, sqlite3 *db, char *errmsg, size_t errmsg_len)
{
    static const char rej[] = "rejected.", rej_detail[] = "rejected_detail.";
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if (read_begin(db, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_sql_int64(db, "SELECT count(*) FROM clients", &out->clients) != 0 ||
        qs_sql_int64(db, "SELECT count(*) FROM latest", &out->latest_rows) != 0 ||
        qs_sql_int64(db, "SELECT coalesce(sum(rows), 0) FROM partitions",
                     &out->history_rows) != 0 ||
        qs_sql_int64(db, "SELECT count(*) FROM partitions", &out->partitions) != 0)
        goto db_error;
    if (sqlite3_prepare_v2(db, "SELECT name, value FROM counters ORDER BY name", -1, &st,
                           NULL) != SQLITE_OK)
        goto db_error;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int64_t value = sqlite3_column_int64(st, 1);
        if (name == NULL)
            continue;
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
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE)
        goto db_error;
    read_end(db);
    return 0;
db_error:
    snprintf(errmsg, errmsg_len, "statistics query on store.db failed: %s",
             sqlite3_errmsg(db));
    sqlite3_finalize(st);
    read_end(db);
    query_stats_free(out);
    return -1;
}

void
query_stats_free(query_stats_t *st)
{
    free(st->rejected);
    free(st->rejected_detail);
    st->rejected = st->rejected_detail = NULL;
    st->n_rejected = st->n_rejected_detail = 0;
}

int
query_site_clients(int64_t *enrolled, int64_t *revoked, sqlite3 *db, char *errmsg,
                   size_t errmsg_len)
{
    int rc;

    if (read_begin(db, errmsg, errmsg_len) != 0)
        return -1;
    rc = qs_sql_int64(db, "SELECT count(*) FROM clients WHERE revoked_ms IS NULL",
                      enrolled) == 0 &&
         qs_sql_int64(db, "SELECT count(*) FROM clients WHERE revoked_ms IS NOT NULL",
                      revoked) == 0
             ? 0 : -1;
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "client count on site.db failed: %s", sqlite3_errmsg(db));
    read_end(db);
    return rc;
}
