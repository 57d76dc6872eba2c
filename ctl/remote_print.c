/* remote_print.c - qsctl's table and CSV output, printed from the JSON documents.
 *
 * Every function reads only the document (what `--format json` prints and
 * qs-web answers), so a local run and a `--url` run print the same bytes.
 * Numbers are whole (counts, versions, sequence numbers); times arrive with
 * milliseconds and tables show whole seconds.
 */
#include "ctl_common.h"
#include "qs_brokerstats.h"
#include "remote_print.h"

#include <string.h>

/* "500: 30, 501: 7" or "none" into out. */
static void
topic_ages_text(char *out, size_t out_len, const cJSON *topics)
{
    const cJSON *t;
    size_t o = 0;

    out[0] = '\0';
    cJSON_ArrayForEach(t, topics) {
        int w = snprintf(out + o, out_len - o, "%s%s: %d", o ? ", " : "", t->string,
                         (int)t->valuedouble);
        if (w < 0 || (size_t)w >= out_len - o)
            break;
        o += (size_t)w;
    }
    if (o == 0)
        snprintf(out, out_len, "none");
}

static const char *
field_text(char *buf, size_t len, const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (cJSON_IsString(item))
        return item->valuestring;
    if (cJSON_IsBool(item))
        return cJSON_IsTrue(item) ? "yes" : "no";
    if (cJSON_IsNumber(item)) {
        snprintf(buf, len, "%lld", (long long)item->valuedouble);
        return buf;
    }
    if (cJSON_IsObject(item)) {
        topic_ages_text(buf, len, item);
        return buf;
    }
    return "?";
}

void
ctl_print_policy_show(const cJSON *v)
{
    char b[256], actor[4 * CTL_MAX_ACTOR_BYTES + 1];

    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "configured"))) {
        printf("no policy configured: the store accepts nothing until one is set\n"
               "  (qsctl policy set --home DIR --max-age-days N ...)\n");
        return;
    }
    ctl_text_safe(actor, sizeof actor, field_text(b, sizeof b, v, "actor"));
    printf("policy version %s", field_text(b, sizeof b, v, "version"));
    printf(", set %s", field_text(b, sizeof b, v, "set_utc"));
    printf(" by %s\n", actor);
    printf("  max_age_days        %s (every topic type without its own)\n",
           field_text(b, sizeof b, v, "max_age_days"));
    printf("  topic_max_age_days  %s\n", field_text(b, sizeof b, v, "topic_max_age_days"));
    printf("  collect_user_names  %s\n", field_text(b, sizeof b, v, "collect_user_names"));
    printf("  k                   %s (smaller compliance groups are suppressed)\n",
           field_text(b, sizeof b, v, "k"));
    printf("  time_precision      %s\n", field_text(b, sizeof b, v, "time_precision"));
}

void
ctl_print_policy_history(const cJSON *doc)
{
    static const char *const head[] = {
        "VERSION", "SET_UTC", "ACTOR", "MAX_AGE_DAYS", "TOPIC_MAX_AGE_DAYS",
        "USER_NAMES", "K", "PRECISION",
    };
    static const char *const fields[] = {
        "version", "set_utc", "actor", "max_age_days", "topic_max_age_days",
        "collect_user_names", "k", "time_precision",
    };
    ctl_table_t *t = ctl_table_new(8, head);
    const cJSON *v;

    ctl_table_align_right(t, 0);
    ctl_table_align_right(t, 3);
    ctl_table_align_right(t, 6);
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "versions")) {
        char b[8][256];
        const char *cells[8];
        for (size_t i = 0; i < 8; i++)
            cells[i] = field_text(b[i], sizeof b[i], v, fields[i]);
        ctl_table_add(t, cells);
    }
    if (ctl_table_rows(t) == 0)
        printf("no policy was ever set: the store accepts nothing until "
               "'qsctl policy set' stores one\n");
    else
        ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
}

/* Print each field of the new policy that differs from the old one. */
static void
print_changes(const cJSON *old, const cJSON *new)
{
    static const char *const fields[] = {
        "max_age_days", "topic_max_age_days", "collect_user_names", "k", "time_precision",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *a = old ? cJSON_GetObjectItemCaseSensitive(old, fields[i]) : NULL;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(new, fields[i]);
        char *ta = a ? cJSON_PrintUnformatted(a) : NULL;
        char *tb = b ? cJSON_PrintUnformatted(b) : NULL;
        if (tb != NULL && (ta == NULL || strcmp(ta, tb) != 0))
            printf("  %-19s %s -> %s\n", fields[i], ta ? ta : "(none)", tb);
        cJSON_free(ta);
        cJSON_free(tb);
    }
}

void
ctl_print_policy_set(const cJSON *doc)
{
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(doc, "old");
    char b[256];
    int first = !cJSON_IsObject(old);

    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "changed"))) {
        printf("no change: policy version %s already has these values\n",
               field_text(b, sizeof b, doc, "version"));
        return;
    }
    printf("policy version %s", field_text(b, sizeof b, doc, "version"));
    printf(" set by %s%s\n", field_text(b, sizeof b, doc, "actor"),
           first ? " (first policy: the store now accepts state messages)" : "");
    print_changes(first ? NULL : old, cJSON_GetObjectItemCaseSensitive(doc, "new"));
    printf("running daemons apply it without a restart\n");
}

static const char *
str_or_empty(const cJSON *obj, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));

    return v ? v : "";
}

/* "...T12:00:00.123Z" -> "...T12:00:00Z": tables show whole seconds. */
static void
whole_seconds(char *out, size_t out_len, const char *utc)
{
    snprintf(out, out_len, "%s", utc);
    if (strlen(out) == 24 && out[19] == '.')
        memmove(out + 19, out + 23, 2);
}

void
ctl_print_audit_show(const cJSON *doc)
{
    static const char *const head[] = { "SEQ", "TIME_UTC", "ACTOR", "ACTION", "DETAIL" };
    ctl_table_t *t = ctl_table_new(5, head);
    const cJSON *e;

    ctl_table_align_right(t, 0);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "entries")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "detail");
        char seq[32], when[CTL_TIME_BYTES], b[64];
        /* The detail was stored as compact JSON text: print it the same way. */
        char *detail = cJSON_IsString(d) ? NULL : cJSON_PrintUnformatted(d);
        const char *cells[5] = { seq, when, str_or_empty(e, "actor"), str_or_empty(e, "action"),
                                 detail ? detail : str_or_empty(e, "detail") };
        snprintf(seq, sizeof seq, "%s", field_text(b, sizeof b, e, "seq"));
        whole_seconds(when, sizeof when, str_or_empty(e, "time_utc"));
        ctl_table_add(t, cells);
        cJSON_free(detail);
    }
    if (ctl_table_rows(t) == 0)
        printf("the audit log is empty\n");
    else
        ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
}

/* ---- compliance ---- */

/* A percent cell: "12.34%", or "" when hidden (null). */
static const char *
percent_text(char *buf, size_t len, const cJSON *row)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(row, "percent");

    if (!cJSON_IsNumber(p))
        return "";
    snprintf(buf, len, "%.2f%%", p->valuedouble);
    return buf;
}

static int
is_no_report(const cJSON *row)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, "state_id"));
}

void
ctl_print_compliance_table(const cJSON *doc)
{
    static const char *const head[] = { "TOPIC_TYPE", "TOPIC_ID", "STATE_ID", "STATE", "COUNT",
                                        "PERCENT" };
    ctl_table_t *t = ctl_table_new(6, head);
    const cJSON *r, *configured = cJSON_GetObjectItemCaseSensitive(doc, "configured");
    char kb[32];
    const char *k = field_text(kb, sizeof kb, doc, "k");
    size_t suppressed = 0;

    ctl_table_align_right(t, 0);
    ctl_table_align_right(t, 2);
    ctl_table_align_right(t, 4);
    ctl_table_align_right(t, 5);
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "rows")) {
        char tt[32], sid[32], count[48], pct[32];
        const char *cells[6] = { field_text(tt, sizeof tt, r, "topic_type"),
                                 str_or_empty(r, "topic_id"),
                                 is_no_report(r) ? "-" : field_text(sid, sizeof sid, r,
                                                                    "state_id"),
                                 str_or_empty(r, "state"), count,
                                 percent_text(pct, sizeof pct, r) };
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "count"))) {
            field_text(count, sizeof count, r, "count");
        } else {
            snprintf(count, sizeof count, "<%s", k);
            cells[5] = "-";
            suppressed++;
        }
        ctl_table_add(t, cells);
    }
    if (ctl_table_rows(t) == 0)
        printf("no state reported%s\n",
               !cJSON_IsFalse(configured) ? " for this selection" : " (no policy is set: the "
               "store accepts nothing until 'qsctl policy set')");
    else
        ctl_table_print(t, stdout);
    if (suppressed > 0)
        printf("%zu group%s suppressed (shown as <%s): smaller than k=%s, or hidden with "
               "one that is\n", suppressed, suppressed == 1 ? "" : "s", k, k);
    ctl_table_destroy(&t);
}

/* The no-report row of r's topic: the first no-report row at or after r
 * (each topic's rows end with it). NULL when the document has none. */
static const cJSON *
topic_no_report(const cJSON *r)
{
    for (; r != NULL; r = r->next)
        if (is_no_report(r))
            return r;
    return NULL;
}

void
ctl_print_compliance_csv(const cJSON *doc)
{
    static const char *const head[] = {
        "topic_type", "topic_id", "state_id", "state", "count", "suppressed",
        "percent", "scope", "no_report",
    };
    const cJSON *r;

    ctl_csv_row(stdout, 9, head);
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "rows")) {
        char tt[32], sid[32], count[32], pct[32], scope[32], nr[32];
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "percent");
        const cJSON *u = topic_no_report(r);
        int sup = !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "count"));
        const char *cells[9] = { field_text(tt, sizeof tt, r, "topic_type"),
                                 str_or_empty(r, "topic_id"),
                                 field_text(sid, sizeof sid, r, "state_id"),
                                 str_or_empty(r, "state"),
                                 sup ? "" : field_text(count, sizeof count, r, "count"),
                                 sup ? "true" : "false", pct,
                                 field_text(scope, sizeof scope, r, "scope"), nr };
        /* The no-report count is a column of every row, not a row: a CSV
         * consumer's state_id stays a number. */
        if (is_no_report(r))
            continue;
        pct[0] = '\0';
        if (cJSON_IsNumber(p))
            snprintf(pct, sizeof pct, "%.2f", p->valuedouble);
        nr[0] = '\0';
        if (u != NULL && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(u, "count")))
            field_text(nr, sizeof nr, u, "count");
        ctl_csv_row(stdout, 9, cells);
    }
}

/* ---- stats ---- */

static void
stats_row(ctl_table_t *t, const char *name, const cJSON *obj, const char *key, const char *what)
{
    char num[32];
    const char *cells[3] = { name, field_text(num, sizeof num, obj, key), what };

    ctl_table_add(t, cells);
}

/* One row per member of obj ("rejected" or "rejected_detail"). */
static void
stats_map_rows(ctl_table_t *t, const cJSON *obj, const char *prefix, const char *what)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, obj) {
        char name[256];
        snprintf(name, sizeof name, "%s.%s", prefix, c->string);
        stats_row(t, name, obj, c->string, what);
    }
}

static void
stats_broker_rows(ctl_table_t *t, const cJSON *b)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "notices");

    stats_row(t, "broker.forwarded", b, "forwarded", "envelopes passed to a store worker");
    stats_row(t, "broker.replies", b, "replies", "store replies passed back to clients");
    stats_row(t, "broker.notices." QS_BROKERSTATS_BAD_FRAMES, n, QS_BROKERSTATS_BAD_FRAMES,
              "refused by the broker: not one non-empty frame");
    stats_row(t, "broker.notices." QS_BROKERSTATS_REVOKED, n, QS_BROKERSTATS_REVOKED,
              "refused by the broker: revoked or unknown key");
    stats_row(t, "broker.notices." QS_BROKERSTATS_RETRY_LATER, n, QS_BROKERSTATS_RETRY_LATER,
              "told to retry: no store could take it (not a refusal)");
    stats_row(t, "broker.zap_admitted", b, "zap_admitted", "handshakes admitted");
    stats_row(t, "broker.zap_refused", b, "zap_refused",
              "handshakes refused (revoked or not enrolled)");
}

void
ctl_print_stats_table(const cJSON *doc)
{
    static const char *const head[] = { "COUNTER", "VALUE", "MEANING" };
    ctl_table_t *t = ctl_table_new(3, head);
    const cJSON *rejected = cJSON_GetObjectItemCaseSensitive(doc, "rejected");
    const cJSON *broker = cJSON_GetObjectItemCaseSensitive(doc, "broker");

    ctl_table_align_right(t, 1);
    stats_row(t, "stored", doc, "stored", "messages accepted, ever (retention does not lower it)");
    stats_row(t, "duplicates", doc, "duplicates", "resent messages dropped (already stored)");
    stats_row(t, "clients", doc, "clients", "client keys that ever delivered");
    stats_row(t, "enrolled", doc, "enrolled", "client keys enrolled and not revoked (site.db)");
    stats_row(t, "revoked", doc, "revoked", "client keys revoked (site.db)");
    stats_row(t, "latest_rows", doc, "latest_rows", "current states (machine x topic)");
    stats_row(t, "history_rows", doc, "history_rows", "retained events");
    stats_row(t, "partitions", doc, "partitions", "history partitions (day x topic type)");
    stats_map_rows(t, rejected, "rejected", "messages refused with this status");
    stats_map_rows(t, cJSON_GetObjectItemCaseSensitive(doc, "rejected_detail"),
                   "rejected_detail", "refusals with this reason code");
    stats_map_rows(t, cJSON_GetObjectItemCaseSensitive(doc, "retries"), "retries",
                   "transient answers: the producer resends");
    if (cJSON_IsObject(broker))
        stats_broker_rows(t, broker);
    ctl_table_print(t, stdout);
    if (cJSON_GetArraySize(rejected) == 0)
        printf("no message was rejected\n");
    if (cJSON_IsObject(broker)) {
        const char *when = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(broker,
                                                                                 "updated_utc"));
        printf("broker counters as of %s (broker.stats)\n",
               when != NULL && *when != '\0' ? when : "an unknown time");
    }
    ctl_table_destroy(&t);
}

/* ---- lookup ---- */

static const char *
lookup_details(const cJSON *row)
{
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "details"));
    const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row,
                                                                          "details_unavailable"));

    if (d != NULL)
        return d;
    if (u != NULL)
        return strcmp(u, "key shredded") == 0 ? "(key shredded)" : "(unreadable)";
    return "";
}

void
ctl_print_lookup_table(const cJSON *doc)
{
    static const char *const latest_hdr[] = { "TOPIC_TYPE", "TOPIC_ID", "STATE", "TIME_UTC",
                                              "LAST_REPORT_UTC" };
    static const char *const history_hdr[] = { "TIME_UTC", "TOPIC_TYPE", "TOPIC_ID", "STATE",
                                               "SERIAL", "DETAILS" };
    int history = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "history"));
    ctl_table_t *t = history ? ctl_table_new(6, history_hdr) : ctl_table_new(5, latest_hdr);
    const cJSON *r;

    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "rows")) {
        char tt[32], sid[32], state[96], when[CTL_TIME_BYTES], rep[CTL_TIME_BYTES], serial[32];
        /* field_text may return a constant ("?") for a malformed field: use
         * what it returns, never the buffer. */
        const char *type = field_text(tt, sizeof tt, r, "topic_type");
        snprintf(state, sizeof state, "%s %s", field_text(sid, sizeof sid, r, "state_id"),
                 str_or_empty(r, "state"));
        whole_seconds(when, sizeof when, str_or_empty(r, "time_utc"));
        if (history) {
            const char *cells[6] = { when, type, str_or_empty(r, "topic_id"), state,
                                     field_text(serial, sizeof serial, r, "serial"),
                                     lookup_details(r) };
            ctl_table_add(t, cells);
        } else {
            const char *cells[5] = { type, str_or_empty(r, "topic_id"), state, when, rep };
            whole_seconds(rep, sizeof rep, str_or_empty(r, "last_report_utc"));
            ctl_table_add(t, cells);
        }
    }
    if (ctl_table_rows(t) == 0)
        printf("no %s for this machine (pseudonym %s…)\n",
               history ? "retained events" : "current states", str_or_empty(doc, "machine_ps"));
    else
        ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
}
