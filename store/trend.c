/* trend.c - compliance per UTC day: the engine-neutral rules of the trend answer (qs_store_trend.h).
 *
 * The engines fetch the exact rows of the days asked (trend_sqlite.c,
 * trend_pg.c); this file makes them publishable, once for both: each day
 * with a snapshot is suppressed on its own, with the compliance rules
 * (query_rules.h: primary, complementary, topics all below k dropped), as
 * if `qsctl compliance` had been asked that day; then every group that is
 * published on some day (suppressed or not) gets a missing row on each day
 * without a snapshot. A missing row says "not known", never a number, so
 * it tells nothing of any count. A group's trend is the same over that
 * group's snapshots (its own days); a deployment's, the rows of its updates
 * over its group's or the fleet's, the other topics dropped before
 * suppression (each topic is suppressed on its own).
 */
#include "trend_int.h"
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_deployments.h"
#include "qs_docs.h"
#include "qs_log.h"
#include "qs_store_group.h"
#include "query_rules.h"
#include "storedb_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
qs_trend_raw_row(qs_trend_raw_t *raw, int64_t day, uint32_t topic_type, const char *topic_id,
                 uint32_t state_id, int64_t count)
{
    qs_storedb_trend_row_t *r;

    if (raw->n == raw->cap) {
        raw->cap = raw->cap ? raw->cap * 2 : 256;
        raw->rows = qs_realloc(raw->rows, raw->cap * sizeof *raw->rows);
    }
    r = &raw->rows[raw->n++];
    r->day = day;
    r->topic_type = topic_type;
    r->topic_id = qs_strdup(topic_id);
    r->state_id = state_id;
    r->count = count;
}

void
qs_trend_raw_day(qs_trend_raw_t *raw, int64_t day)
{
    if (raw->n_days == raw->cap_days) {
        raw->cap_days = raw->cap_days ? raw->cap_days * 2 : 64;
        raw->days = qs_realloc(raw->days, raw->cap_days * sizeof *raw->days);
    }
    raw->days[raw->n_days++] = day;
}

void
qs_trend_raw_free(qs_trend_raw_t *raw)
{
    for (size_t i = 0; i < raw->n; i++)
        free(raw->rows[i].topic_id);
    free(raw->rows);
    free(raw->days);
    memset(raw, 0, sizeof *raw);
}

int
qs_storedb_trend_snapshot(qs_storedb_t *db, int64_t day, int64_t taken_ms, int keep_days,
                          int64_t *groups, char *errmsg, size_t errmsg_len)
{
    int64_t ignored;

    if (groups == NULL)
        groups = &ignored;
    *groups = 0;
    if (keep_days < 1)
        keep_days = 1;
    if (qs_storedb_engine(db) == QS_STOREDB_POSTGRESQL)
        return qs_trend_snapshot_pg(db, day, taken_ms, keep_days, groups, errmsg, errmsg_len);
    return qs_trend_snapshot_sqlite(db, day, taken_ms, keep_days, groups, errmsg, errmsg_len);
}

/* Append res (one day's suppressed answer) to out as that day's rows; the
 * topic ids move into out. */
static void
take_day(qs_trend_raw_t *out, qs_storedb_compliance_t *res, int64_t day)
{
    for (size_t i = 0; i < res->n; i++) {
        qs_storedb_compliance_row_t *c = &res->rows[i];
        if (c->no_report)
            continue;
        qs_trend_raw_row(out, day, c->topic_type, c->topic_id, c->state_id, c->count);
    }
    qs_storedb_compliance_free(res);
}

/* Suppress each fetched day on its own: pub gets the published rows, in
 * the same order. */
static void
suppress_days(const qs_trend_raw_t *raw, qs_trend_raw_t *pub, int k)
{
    size_t i = 0;

    while (i < raw->n) {
        qs_storedb_compliance_t res = { .k = k };
        size_t cap = 0, j = i;

        for (; j < raw->n && raw->rows[j].day == raw->rows[i].day; j++)
            qs_compliance_push(&res, &cap, raw->rows[j].topic_type, raw->rows[j].topic_id,
                               raw->rows[j].state_id, raw->rows[j].count);
        /* No scope: a day's snapshot has none, so each topic's base is the
         * sum of its cells and its no-report cell (0) is not published. */
        qs_compliance_suppress(&res, NULL, 0);
        take_day(pub, &res, raw->rows[i].day);
        i = j;
    }
}

static int
key_cmp(const void *a, const void *b)
{
    const qs_storedb_trend_row_t *x = a, *y = b;
    int c;

    if (x->topic_type != y->topic_type)
        return x->topic_type < y->topic_type ? -1 : 1;
    if ((c = strcmp(x->topic_id, y->topic_id)) != 0)   /* byte order, as the engines */
        return c;
    return (x->state_id > y->state_id) - (x->state_id < y->state_id);
}

/* The distinct groups of pub, in key order (ids borrowed from pub). */
static qs_storedb_trend_row_t *
published_keys(const qs_trend_raw_t *pub, size_t *n_keys)
{
    qs_storedb_trend_row_t *keys;
    size_t n = 0;

    *n_keys = 0;
    if (pub->n == 0)
        return NULL;
    keys = qs_calloc(pub->n, sizeof *keys);
    memcpy(keys, pub->rows, pub->n * sizeof *keys);
    qsort(keys, pub->n, sizeof *keys, key_cmp);
    for (size_t i = 0; i < pub->n; i++)
        if (n == 0 || key_cmp(&keys[n - 1], &keys[i]) != 0)
            keys[n++] = keys[i];
    *n_keys = n;
    return keys;
}

static int
day_present(const qs_trend_raw_t *raw, int64_t day)
{
    size_t lo = 0, hi = raw->n_days;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (raw->days[mid] == day)
            return 1;
        if (raw->days[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Append *r to out; its topic id moves. */
static void
move_row(qs_trend_raw_t *out, qs_storedb_trend_row_t *r)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 256;
        out->rows = qs_realloc(out->rows, out->cap * sizeof *out->rows);
    }
    out->rows[out->n++] = *r;
    r->topic_id = NULL;
}

/* Every day of the range in order: a present day's published rows, or a
 * missing row per published group. */
static void
assemble(qs_storedb_trend_t *out, const qs_trend_raw_t *raw, qs_trend_raw_t *pub)
{
    qs_trend_raw_t all = { 0 };
    size_t n_keys = 0, p = 0, missing_cap = 0;
    int64_t days = out->last_day - out->first_day + 1;
    /* The groups are needed only for missing rows: no sort when every day is there. */
    qs_storedb_trend_row_t *keys = (int64_t)raw->n_days < days ? published_keys(pub, &n_keys)
                                                                : NULL;

    for (int64_t day = out->first_day; day <= out->last_day; day++) {
        if (day_present(raw, day)) {
            for (; p < pub->n && pub->rows[p].day == day; p++)
                move_row(&all, &pub->rows[p]);
            continue;
        }
        if (out->n_missing == missing_cap) {
            missing_cap = missing_cap ? missing_cap * 2 : 16;
            out->missing_days = qs_realloc(out->missing_days,
                                           missing_cap * sizeof *out->missing_days);
        }
        out->missing_days[out->n_missing++] = day;
        for (size_t i = 0; i < n_keys; i++)
            qs_trend_raw_row(&all, day, keys[i].topic_type, keys[i].topic_id, keys[i].state_id,
                             QS_TREND_MISSING);
    }
    free(keys);
    out->rows = all.rows;
    out->n = all.n;
}

/* Keep the rows of raw whose topic id is one of ids (a deployment's
 * updates), before suppression: each topic is suppressed on its own, so
 * the others' absence changes nothing of its cells. */
static void
keep_ids(qs_trend_raw_t *raw, const char *const *ids, size_t n_ids)
{
    size_t kept = 0;

    for (size_t i = 0; i < raw->n; i++) {
        size_t j = 0;

        while (j < n_ids && strcmp(ids[j], raw->rows[i].topic_id) != 0)
            j++;
        if (j < n_ids)
            raw->rows[kept++] = raw->rows[i];
        else
            free(raw->rows[i].topic_id);
    }
    raw->n = kept;
}

/* A group asked for must exist now: its snapshots go when it is removed. */
static int
group_check(qs_storedb_t *db, const char *group, char *errmsg, size_t errmsg_len)
{
    int exists = 0;

    if (qs_group_name_check(group, errmsg, errmsg_len) != 0 ||
        qs_storedb_group_exists(db, group, &exists, errmsg, errmsg_len) != 0)
        return -1;
    if (exists)
        return 0;
    snprintf(errmsg, errmsg_len, "unknown group '%s': 'qsctl group list' shows the groups",
             group);
    return QS_GROUP_UNKNOWN;
}

int
qs_storedb_trend_query(qs_storedb_t *db, qs_storedb_trend_t *out, const qs_policy_t *policy,
                       int64_t last_day, int days, const qs_trend_query_t *q, char *errmsg,
                       size_t errmsg_len)
{
    qs_trend_raw_t raw = { 0 }, pub = { 0 };
    int rc;

    memset(out, 0, sizeof *out);
    if (days < 1 || days > QS_TREND_KEEP_DAYS) {
        snprintf(errmsg, errmsg_len, "days must be 1..%d (the days kept)", QS_TREND_KEEP_DAYS);
        return -1;
    }
    if (q->group != NULL && (rc = group_check(db, q->group, errmsg, errmsg_len)) != 0)
        return rc;
    out->k = qs_compliance_k(policy);
    out->last_day = last_day;
    out->first_day = last_day - days + 1;
    rc = qs_storedb_engine(db) == QS_STOREDB_POSTGRESQL
             ? qs_trend_fetch_pg(db, &raw, out->first_day, last_day, q, errmsg, errmsg_len)
             : qs_trend_fetch_sqlite(db, &raw, out->first_day, last_day, q, errmsg,
                                     errmsg_len);
    if (rc == 0) {
        if (q->n_topic_ids > 0)
            keep_ids(&raw, q->topic_ids, q->n_topic_ids);
        suppress_days(&raw, &pub, out->k);
        assemble(out, &raw, &pub);
        out->group = q->group != NULL ? qs_strdup(q->group) : NULL;
    }
    qs_trend_raw_free(&raw);
    qs_trend_raw_free(&pub);
    if (rc != 0)
        qs_storedb_trend_free(out);
    return rc;
}

int
qs_storedb_trend(qs_storedb_t *db, qs_storedb_trend_t *out, const qs_policy_t *policy,
                 int64_t last_day, int days, const uint32_t *topic_type, const char *topic_id,
                 char *errmsg, size_t errmsg_len)
{
    qs_trend_query_t q = { .topic_type = topic_type, .topic_id = topic_id };

    return qs_storedb_trend_query(db, out, policy, last_day, days, &q, errmsg, errmsg_len);
}

int
qs_storedb_trend_deployment(qs_storedb_t *db, qs_storedb_trend_t *out, qs_sitedb_t *sitedb,
                            const qs_policy_t *policy, int64_t last_day, int days,
                            const char *id, char *errmsg, size_t errmsg_len)
{
    qs_deployment_t d;
    qs_trend_query_t q;
    int found = 0, rc;

    memset(out, 0, sizeof *out);
    if (qs_deployments_get(sitedb, id, &d, &found, errmsg, errmsg_len) != 0)
        return -1;
    if (!found) {   /* the words of qsctl compliance --deployment (deadlinedoc.c) */
        snprintf(errmsg, errmsg_len, "no deployment '%s' in '%s': 'qsctl deployment list' "
                 "shows them", id, qs_sitedb_path(sitedb));
        return QS_TREND_NO_DEPLOYMENT;
    }
    memset(&q, 0, sizeof q);
    q.topic_type = &d.topic_type;
    q.topic_ids = (const char *const *)d.topic_ids;
    q.n_topic_ids = d.n_topic_ids;
    q.group = d.group;
    rc = qs_storedb_trend_query(db, out, policy, last_day, days, &q, errmsg, errmsg_len);
    if (rc == 0)
        out->deployment = qs_strdup(id);
    if (rc == QS_GROUP_UNKNOWN)   /* as qs_storedb_deadline says it */
        snprintf(errmsg, errmsg_len, "the deployment's group '%s' does not exist (any more): "
                 "'qsctl group list' shows the groups", d.group);
    qs_deployment_free(&d);
    return rc;
}

void
qs_storedb_trend_free(qs_storedb_trend_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->rows[i].topic_id);
    free(t->rows);
    free(t->missing_days);
    free(t->group);
    free(t->deployment);
    t->rows = NULL;
    t->missing_days = NULL;
    t->group = t->deployment = NULL;
    t->n = t->n_missing = 0;
}

static cJSON *
must(cJSON *item)
{
    if (item == NULL)
        qs_fatal("out of memory building the trend document");
    return item;
}

static cJSON *
day_string(int64_t day)
{
    char buf[32];

    qs_time_format_day(buf, sizeof buf, day);
    return must(cJSON_CreateString(buf));
}

cJSON *
qs_storedoc_trend(const qs_storedb_trend_t *t)
{
    cJSON *doc = must(cJSON_CreateObject()), *rows, *missing;
    char buf[32], day[32] = "";
    int64_t day_of = 0;

    cJSON_AddNumberToObject(doc, "k", t->k);
    /* What the rows are about, so that a saved answer says it itself. */
    qs_doc_add_string_or_null(doc, "group", t->group);
    qs_doc_add_string_or_null(doc, "deployment", t->deployment);
    cJSON_AddNumberToObject(doc, "days", (double)(t->last_day - t->first_day + 1));
    cJSON_AddItemToObject(doc, "first_day", day_string(t->first_day));
    cJSON_AddItemToObject(doc, "last_day", day_string(t->last_day));
    missing = must(cJSON_AddArrayToObject(doc, "missing_days"));
    for (size_t i = 0; i < t->n_missing; i++)
        cJSON_AddItemToArray(missing, day_string(t->missing_days[i]));
    rows = must(cJSON_AddArrayToObject(doc, "rows"));
    for (size_t i = 0; i < t->n; i++) {
        const qs_storedb_trend_row_t *r = &t->rows[i];
        cJSON *row = must(cJSON_CreateObject());

        if (i == 0 || r->day != day_of) {   /* rows come day by day: format each once */
            qs_time_format_day(day, sizeof day, r->day);
            day_of = r->day;
        }
        cJSON_AddItemToObject(row, "day", must(cJSON_CreateString(day)));
        cJSON_AddNumberToObject(row, "topic_type", r->topic_type);
        cJSON_AddStringToObject(row, "topic_id", r->topic_id);
        cJSON_AddNumberToObject(row, "state_id", r->state_id);
        cJSON_AddStringToObject(row, "state",
                                qs_state_name(r->topic_type, r->state_id, buf, sizeof buf));
        if (r->count == QS_STOREDB_SUPPRESSED || r->count == QS_TREND_MISSING) {
            cJSON_AddNullToObject(row, "count");
            cJSON_AddBoolToObject(row, r->count == QS_TREND_MISSING ? "missing" : "suppressed",
                                  1);
        } else {
            cJSON_AddNumberToObject(row, "count", (double)r->count);
        }
        cJSON_AddItemToArray(rows, row);
    }
    return doc;
}
