/* remote_print.c - text output of policy and audit documents (see remote_print.h).
 *
 * TEMPORARY ADAPTER (issue #11): the same lines the local commands print,
 * produced from the JSON document; to be called by cmd_policy.c and
 * cmd_audit.c too, replacing their inline printing.
 */
#include "ctl_common.h"
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
        snprintf(when, sizeof when, "%s", str_or_empty(e, "time_utc"));
        /* The table shows whole seconds: "...T12:00:00.123Z" -> "...T12:00:00Z". */
        if (strlen(when) == 24 && when[19] == '.')
            memmove(when + 19, when + 23, 2);
        ctl_table_add(t, cells);
        cJSON_free(detail);
    }
    if (ctl_table_rows(t) == 0)
        printf("the audit log is empty\n");
    else
        ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
}
