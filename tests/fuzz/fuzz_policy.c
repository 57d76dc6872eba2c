/* fuzz_policy.c - libFuzzer target for the privacy policy's JSON (qs_policy_from_json).
 *
 * The input, made NUL-terminated, is a policy document. A refused policy must
 * come with an error message; an accepted one must hold only values inside
 * the documented bounds and known topic types, and qs_policy_to_json of it
 * must parse again to an equal policy (per-topic ages compared as a set:
 * to_json sorts them) whose own JSON is byte-identical (canonical form).
 */
#include "fuzz_util.h"
#include "qs_codec.h"
#include "qs_policy.h"

#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int
cmp_topic(const void *a, const void *b)
{
    const qs_topic_age_t *x = a, *y = b;
    return (x->topic_type > y->topic_type) - (x->topic_type < y->topic_type);
}

static void
check_bounds(const qs_policy_t *p)
{
    int64_t ms;

    FUZZ_CHECK(p->max_age_days >= 1 && p->max_age_days <= QS_POLICY_MAX_AGE_DAYS);
    FUZZ_CHECK(p->k >= 1 && p->k <= 1000000);
    FUZZ_CHECK(p->collect_user_names == 0 || p->collect_user_names == 1);
    FUZZ_CHECK(qs_policy_parse_precision(&ms, qs_policy_precision_name(p->time_precision_ms)) == 0);
    FUZZ_CHECK(ms == p->time_precision_ms);
    FUZZ_CHECK(p->n_topics <= QS_POLICY_MAX_TOPICS);
    for (size_t i = 0; i < p->n_topics; i++) {
        FUZZ_CHECK(qs_topic_check(p->topics[i].topic_type, 0) != -1);
        FUZZ_CHECK(p->topics[i].max_age_days >= 1 &&
                   p->topics[i].max_age_days <= QS_POLICY_MAX_AGE_DAYS);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(p->topics[j].topic_type != p->topics[i].topic_type);
    }
}

static int
policy_equal(const qs_policy_t *a, const qs_policy_t *b)
{
    qs_topic_age_t ta[QS_POLICY_MAX_TOPICS], tb[QS_POLICY_MAX_TOPICS];

    if (a->max_age_days != b->max_age_days || a->k != b->k ||
        a->collect_user_names != b->collect_user_names ||
        a->time_precision_ms != b->time_precision_ms || a->n_topics != b->n_topics)
        return 0;
    memcpy(ta, a->topics, a->n_topics * sizeof ta[0]);
    memcpy(tb, b->topics, b->n_topics * sizeof tb[0]);
    qsort(ta, a->n_topics, sizeof ta[0], cmp_topic);
    qsort(tb, b->n_topics, sizeof tb[0], cmp_topic);
    for (size_t i = 0; i < a->n_topics; i++)
        if (ta[i].topic_type != tb[i].topic_type || ta[i].max_age_days != tb[i].max_age_days)
            return 0;
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size), *json, *json2;
    char errmsg[256] = "";
    qs_policy_t p, again;

    if (qs_policy_from_json(&p, text, errmsg, sizeof errmsg) != 0) {
        FUZZ_CHECK(errmsg[0] != '\0');
        free(text);
        return 0;
    }
    check_bounds(&p);
    json = qs_policy_to_json(&p);
    FUZZ_CHECK(json != NULL);
    errmsg[0] = '\0';
    if (qs_policy_from_json(&again, json, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "policy JSON does not parse again: %s\n%s\n", errmsg, json);
        FUZZ_CHECK(!"policy JSON parses again");
    }
    FUZZ_CHECK(policy_equal(&p, &again));
    json2 = qs_policy_to_json(&again);
    FUZZ_CHECK(json2 != NULL && strcmp(json, json2) == 0);
    free(json2);
    free(json);
    free(text);
    return 0;
}
