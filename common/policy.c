/* policy.c - policy defaults, per-topic ages and strict JSON (de)serialisation. */
#include "qs_policy.h"
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_limits.h"
#include "qs_log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; int64_t ms; } precisions[] = {
    { "millisecond", 1 }, { "second", 1000 }, { "minute", 60000 },
    { "hour", 3600000 }, { "day", 86400000 },
};

void
qs_policy_defaults(qs_policy_t *p)
{
    memset(p, 0, sizeof *p);
    p->max_age_days = QS_DEFAULT_MAX_AGE_DAYS;
    p->k = QS_DEFAULT_K;
    p->collect_user_names = 0;
    p->time_precision_ms = 1000;
}

int
qs_policy_max_age_days(const qs_policy_t *p, uint32_t topic_type)
{
    for (size_t i = 0; i < p->n_topics; i++)
        if (p->topics[i].topic_type == topic_type)
            return p->topics[i].max_age_days;
    return p->max_age_days;
}

int64_t
qs_policy_cutoff_ms(const qs_policy_t *p, uint32_t topic_type, int64_t now_ms)
{
    return now_ms - (int64_t)qs_policy_max_age_days(p, topic_type) * QS_MS_PER_DAY;
}

int
qs_policy_partition_expired(const qs_policy_t *p, int64_t epoch, uint32_t topic_type,
                            int64_t now_ms, int64_t grace_ms)
{
    return (epoch + 1) * QS_MS_PER_DAY <= qs_policy_cutoff_ms(p, topic_type, now_ms) - grace_ms;
}

int
qs_policy_latest_expired(const qs_policy_t *p, uint32_t topic_type, int64_t report_ms,
                         int64_t now_ms, int64_t grace_ms)
{
    return report_ms < qs_policy_cutoff_ms(p, topic_type, now_ms) - grace_ms;
}

int
qs_policy_set_topic_age(qs_policy_t *p, uint32_t topic_type, int max_age_days)
{
    if (qs_topic_check(topic_type, 0) == -1)
        return -1;
    for (size_t i = 0; i < p->n_topics; i++) {
        if (p->topics[i].topic_type != topic_type)
            continue;
        if (max_age_days == 0) {
            p->topics[i] = p->topics[--p->n_topics];
        } else {
            p->topics[i].max_age_days = max_age_days;
        }
        return 0;
    }
    if (max_age_days == 0)
        return 0;
    if (p->n_topics >= QS_POLICY_MAX_TOPICS)
        return -1;
    p->topics[p->n_topics].topic_type = topic_type;
    p->topics[p->n_topics].max_age_days = max_age_days;
    p->n_topics++;
    return 0;
}

int
qs_policy_parse_precision(int64_t *out_ms, const char *name)
{
    for (size_t i = 0; i < sizeof precisions / sizeof precisions[0]; i++)
        if (strcmp(precisions[i].name, name) == 0) {
            *out_ms = precisions[i].ms;
            return 0;
        }
    return -1;
}

const char *
qs_policy_precision_name(int64_t ms)
{
    for (size_t i = 0; i < sizeof precisions / sizeof precisions[0]; i++)
        if (precisions[i].ms == ms)
            return precisions[i].name;
    return "second";
}

static int
cmp_topic(const void *a, const void *b)
{
    const qs_topic_age_t *x = a, *y = b;
    return (x->topic_type > y->topic_type) - (x->topic_type < y->topic_type);
}

char *
qs_policy_to_json(const qs_policy_t *p)
{
    qs_topic_age_t sorted[QS_POLICY_MAX_TOPICS];
    cJSON *root = cJSON_CreateObject(), *topics;
    char *out;

    if (root == NULL)
        return NULL;
    memcpy(sorted, p->topics, p->n_topics * sizeof sorted[0]);
    qsort(sorted, p->n_topics, sizeof sorted[0], cmp_topic);
    cJSON_AddNumberToObject(root, "max_age_days", p->max_age_days);
    topics = cJSON_AddObjectToObject(root, "topic_max_age_days");
    for (size_t i = 0; topics != NULL && i < p->n_topics; i++) {
        char key[16];
        snprintf(key, sizeof key, "%u", sorted[i].topic_type);
        cJSON_AddNumberToObject(topics, key, sorted[i].max_age_days);
    }
    cJSON_AddBoolToObject(root, "collect_user_names", p->collect_user_names);
    cJSON_AddNumberToObject(root, "k", p->k);
    cJSON_AddStringToObject(root, "time_precision", qs_policy_precision_name(p->time_precision_ms));
    out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static int
get_int(const cJSON *item, int min, int max, int *out)
{
    /* Range first: converting a double outside long long's range (1e31) is
     * undefined; the negated test also refuses NaN. */
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= min && item->valuedouble <= max) ||
        item->valuedouble != (double)(long long)item->valuedouble)
        return -1;
    *out = (int)item->valuedouble;
    return 0;
}

int
qs_policy_from_json(qs_policy_t *p, const char *json, char *errmsg, size_t errmsg_len)
{
    cJSON *root = cJSON_Parse(json), *item;
    int rc = -1;

    qs_policy_defaults(p);
    if (root == NULL || !cJSON_IsObject(root)) {
        snprintf(errmsg, errmsg_len, "policy is not a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(item, root) {
        const char *k = item->string;
        if (strcmp(k, "max_age_days") == 0) {
            if (get_int(item, 1, QS_POLICY_MAX_AGE_DAYS, &p->max_age_days) != 0) {
                snprintf(errmsg, errmsg_len, "policy field 'max_age_days' must be 1..%d",
                         QS_POLICY_MAX_AGE_DAYS);
                goto out;
            }
        } else if (strcmp(k, "k") == 0) {
            if (get_int(item, 1, 1000000, &p->k) != 0) {
                snprintf(errmsg, errmsg_len, "policy field 'k' must be 1..1000000");
                goto out;
            }
        } else if (strcmp(k, "collect_user_names") == 0) {
            if (!cJSON_IsBool(item)) {
                snprintf(errmsg, errmsg_len, "policy field 'collect_user_names' must be true or false");
                goto out;
            }
            p->collect_user_names = cJSON_IsTrue(item) ? 1 : 0;
        } else if (strcmp(k, "time_precision") == 0) {
            if (!cJSON_IsString(item) ||
                qs_policy_parse_precision(&p->time_precision_ms, item->valuestring) != 0) {
                snprintf(errmsg, errmsg_len, "policy field 'time_precision' must be "
                         "millisecond, second, minute, hour or day");
                goto out;
            }
        } else if (strcmp(k, "topic_max_age_days") == 0) {
            cJSON *t;
            if (!cJSON_IsObject(item)) {
                snprintf(errmsg, errmsg_len, "policy field 'topic_max_age_days' must be an object");
                goto out;
            }
            cJSON_ArrayForEach(t, item) {
                char *end = NULL;
                long tt;
                int days;
                errno = 0;
                tt = strtol(t->string, &end, 10);
                if (errno != 0 || *end != '\0' || tt <= 0 || tt > 100000 ||
                    get_int(t, 1, QS_POLICY_MAX_AGE_DAYS, &days) != 0 ||
                    qs_policy_set_topic_age(p, (uint32_t)tt, days) != 0) {
                    snprintf(errmsg, errmsg_len,
                             "policy field 'topic_max_age_days' entry '%.16s' must map a known "
                             "topic type to 1..%d days", t->string, QS_POLICY_MAX_AGE_DAYS);
                    goto out;
                }
            }
        } else {
            snprintf(errmsg, errmsg_len, "policy has an unknown field '%.32s'", k);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}
