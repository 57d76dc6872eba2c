/* storedoc.c - the JSON documents of store.db's answers (qs_storedoc.h).
 *
 * Moved here from ctl/cmd_compliance.c, cmd_stats.c, cmd_lookup.c and
 * cmd_forget.c so that qsctl and qs-web print one shape. cJSON numbers are
 * doubles: every count here is far below 2^53.
 */
#include "qs_storedoc.h"
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_log.h"

#include <stdio.h>

#define DOC_TIME_BYTES 32u   /* as qsctl's tables: the same fallback */

static cJSON *
must(cJSON *item)
{
    if (item == NULL)
        qs_fatal("out of memory building a JSON document");
    return item;
}

double
qs_storedoc_percent(int64_t count, int64_t scope)
{
    if (scope <= 0)
        return 0.0;
    /* Rounded half up to two decimals, in integers: the same digits on
     * every platform, and what the e2e test computes independently. */
    return (double)((count * 20000 / scope + 1) / 2) / 100.0;
}

cJSON *
qs_storedoc_compliance(const qs_storedb_compliance_t *res)
{
    cJSON *doc = must(cJSON_CreateObject()), *rows;
    char buf[32];

    cJSON_AddNumberToObject(doc, "k", res->k);
    rows = must(cJSON_AddArrayToObject(doc, "rows"));
    for (size_t i = 0; i < res->n; i++) {
        const qs_storedb_compliance_row_t *r = &res->rows[i];
        cJSON *row = must(cJSON_CreateObject());
        cJSON_AddNumberToObject(row, "topic_type", r->topic_type);
        cJSON_AddStringToObject(row, "topic_id", r->topic_id);
        if (r->no_report) {
            cJSON_AddNullToObject(row, "state_id");
            cJSON_AddStringToObject(row, "state", QS_STOREDOC_NO_REPORT);
        } else {
            cJSON_AddNumberToObject(row, "state_id", r->state_id);
            cJSON_AddStringToObject(row, "state",
                                    qs_state_name(r->topic_type, r->state_id, buf, sizeof buf));
        }
        if (r->count == QS_STOREDB_SUPPRESSED) {
            cJSON_AddNullToObject(row, "count");
            cJSON_AddBoolToObject(row, "suppressed", 1);
            cJSON_AddNullToObject(row, "percent");
        } else {
            cJSON_AddNumberToObject(row, "count", (double)r->count);
            cJSON_AddNumberToObject(row, "percent", qs_storedoc_percent(r->count, r->scope));
        }
        cJSON_AddNumberToObject(row, "scope", (double)r->scope);
        cJSON_AddItemToArray(rows, row);
    }
    return doc;
}

static cJSON *
counters_object(const qs_storedb_counter_t *c, size_t n)
{
    cJSON *obj = must(cJSON_CreateObject());

    for (size_t i = 0; i < n; i++)
        cJSON_AddNumberToObject(obj, c[i].name, (double)c[i].value);
    return obj;
}

static cJSON *
broker_object(const qs_brokerstats_t *b)
{
    cJSON *obj = must(cJSON_CreateObject()), *notices = must(cJSON_CreateObject());

    cJSON_AddNumberToObject(obj, "forwarded", (double)b->forwarded);
    cJSON_AddNumberToObject(obj, "replies", (double)b->replies);
    cJSON_AddNumberToObject(notices, QS_BROKERSTATS_BAD_FRAMES, (double)b->notice_bad_frames);
    cJSON_AddNumberToObject(notices, QS_BROKERSTATS_REVOKED, (double)b->notice_revoked);
    cJSON_AddNumberToObject(notices, QS_BROKERSTATS_RETRY_LATER,
                            (double)b->notice_retry_later);
    cJSON_AddItemToObject(obj, "notices", notices);
    cJSON_AddNumberToObject(obj, "zap_admitted", (double)b->zap_admitted);
    cJSON_AddNumberToObject(obj, "zap_refused", (double)b->zap_refused);
    if (b->updated_utc[0] != '\0')
        cJSON_AddStringToObject(obj, "updated_utc", b->updated_utc);
    else
        cJSON_AddNullToObject(obj, "updated_utc");
    return obj;
}

cJSON *
qs_storedoc_stats(const qs_storedb_stats_t *st, int64_t enrolled, int64_t revoked,
                  const qs_brokerstats_t *broker)
{
    cJSON *doc = must(cJSON_CreateObject());

    cJSON_AddNumberToObject(doc, "stored", (double)st->stored);
    cJSON_AddNumberToObject(doc, "duplicates", (double)st->duplicates);
    cJSON_AddNumberToObject(doc, "clients", (double)st->clients);
    cJSON_AddNumberToObject(doc, "history_rows", (double)st->history_rows);
    cJSON_AddNumberToObject(doc, "latest_rows", (double)st->latest_rows);
    cJSON_AddNumberToObject(doc, "partitions", (double)st->partitions);
    cJSON_AddNumberToObject(doc, "enrolled", (double)enrolled);
    cJSON_AddNumberToObject(doc, "revoked", (double)revoked);
    cJSON_AddItemToObject(doc, "rejected", counters_object(st->rejected, st->n_rejected));
    cJSON_AddItemToObject(doc, "rejected_detail",
                          counters_object(st->rejected_detail, st->n_rejected_detail));
    cJSON_AddItemToObject(doc, "retries", counters_object(st->retries, st->n_retries));
    if (broker != NULL)
        cJSON_AddItemToObject(doc, "broker", broker_object(broker));
    return doc;
}

static int64_t
as_count(uint64_t v)
{
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

int
qs_storedoc_broker_merge(qs_brokerstats_t *b, qs_storedb_stats_t *st, const char *path,
                         char *errmsg, size_t errmsg_len)
{
    int rc = qs_brokerstats_load_all(b, path, errmsg, errmsg_len);

    if (rc != 0)
        return rc == 1 ? 0 : -1;
    qs_storedb_stats_add_rejected(st, "BAD_ENVELOPE", "BAD_FRAMES",
                                  as_count(b->notice_bad_frames));
    qs_storedb_stats_add_rejected(st, "REVOKED", "CLIENT_REVOKED", as_count(b->notice_revoked));
    return 1;
}

static void
add_time(cJSON *o, const char *key, int64_t ms)
{
    char when[DOC_TIME_BYTES];

    if (qs_time_format_iso8601(when, sizeof when, ms, 1) != 0)
        snprintf(when, sizeof when, "%lld", (long long)ms);
    cJSON_AddStringToObject(o, key, when);
}

cJSON *
qs_storedoc_lookup(const qs_storedb_lookup_t *r, int history, const char *ps_hex)
{
    cJSON *doc = must(cJSON_CreateObject()), *rows;
    char buf[32];

    cJSON_AddStringToObject(doc, "machine_ps", ps_hex);
    cJSON_AddBoolToObject(doc, "history", history);
    rows = must(cJSON_AddArrayToObject(doc, "rows"));
    for (size_t i = 0; i < r->n; i++) {
        const qs_storedb_lookup_row_t *row = &r->rows[i];
        cJSON *o = must(cJSON_CreateObject());
        cJSON_AddNumberToObject(o, "topic_type", row->topic_type);
        cJSON_AddStringToObject(o, "topic_id", row->topic_id);
        cJSON_AddNumberToObject(o, "state_id", row->state_id);
        cJSON_AddStringToObject(o, "state", qs_state_name(row->topic_type, row->state_id, buf,
                                                          sizeof buf));
        add_time(o, "time_utc", row->time_ms);
        if (history) {
            cJSON_AddNumberToObject(o, "serial", (double)row->serial);
            if (row->details_state == QS_LOOKUP_DETAILS_OPEN)
                cJSON_AddStringToObject(o, "details", row->details);
            else if (row->details_state != QS_LOOKUP_DETAILS_NONE)
                cJSON_AddStringToObject(o, "details_unavailable",
                                        row->details_state == QS_LOOKUP_DETAILS_SHREDDED
                                            ? "key shredded" : "unreadable");
        } else {
            add_time(o, "last_report_utc", row->report_ms);
        }
        cJSON_AddItemToArray(rows, o);
    }
    return doc;
}

cJSON *
qs_storedoc_forget_detail(const char *ps_hex, const char *dps_hex,
                          const qs_forget_counts_t *counts)
{
    cJSON *detail = must(cJSON_CreateObject());

    cJSON_AddStringToObject(detail, "machine_ps", ps_hex);
    if (dps_hex != NULL)
        cJSON_AddStringToObject(detail, "domain_ps", dps_hex);
    cJSON_AddNumberToObject(detail, "latest_rows", (double)counts->latest_rows);
    cJSON_AddNumberToObject(detail, "history_rows", (double)counts->history_rows);
    cJSON_AddNumberToObject(detail, "partitions", (double)counts->partitions);
    cJSON_AddBoolToObject(detail, "scrubbed", counts->scrubbed);
    return detail;
}
