/* test_policy.c - policy.c: the cutoff rule, expiry of partitions and latest
 * rows, per-topic ages, precision names, JSON round trip and field errors. */
#include "qs_clock.h"
#include "qs_policy.h"
#include "qs_test.h"

#include <stdlib.h>

#define NOW 1795608000000LL   /* 2026-11-25T12:00:00Z */

static void
test_policy_json_rejects_bad_fields(void)
{
    qs_policy_t p;
    char err[256];
    QS_CHECK(qs_policy_from_json(&p, "{\"k\": 0}", err, sizeof err) != 0);
    QS_CHECK(strstr(err, "'k'") != NULL);
    QS_CHECK(qs_policy_from_json(&p, "{\"max_age_days\": 1.5}", err, sizeof err) != 0);
    QS_CHECK(qs_policy_from_json(&p, "{\"colour\": 1}", err, sizeof err) != 0);
    QS_CHECK(strstr(err, "colour") != NULL);
    QS_CHECK(qs_policy_from_json(&p, "{\"topic_max_age_days\": {\"999\": 3}}", err,
                                 sizeof err) != 0);
    QS_CHECK(qs_policy_from_json(&p, "[1,2]", err, sizeof err) != 0);
    QS_CHECK(qs_policy_from_json(&p, "{\"time_precision\": \"hour\"}", err, sizeof err) == 0);
    QS_CHECK_EQ_INT(p.time_precision_ms, 3600000);
}

static void
test_policy_cutoff_uses_the_topic_age_else_the_default(void)
{
    qs_policy_t p;

    qs_policy_defaults(&p);
    QS_CHECK_EQ_INT(p.max_age_days, 90);
    QS_CHECK_EQ_INT(p.k, 5);
    p.max_age_days = 30;
    QS_CHECK_EQ_INT(qs_policy_set_topic_age(&p, 500, 7), 0);
    QS_CHECK_EQ_INT(qs_policy_max_age_days(&p, 500), 7);
    QS_CHECK_EQ_INT(qs_policy_max_age_days(&p, 501), 30);
    QS_CHECK_EQ_INT(qs_policy_cutoff_ms(&p, 500, NOW), NOW - 7 * QS_MS_PER_DAY);
    QS_CHECK_EQ_INT(qs_policy_cutoff_ms(&p, 0, NOW), NOW - 30 * QS_MS_PER_DAY);
    /* 0 removes the topic's own age. */
    QS_CHECK_EQ_INT(qs_policy_set_topic_age(&p, 500, 0), 0);
    QS_CHECK_EQ_INT(qs_policy_max_age_days(&p, 500), 30);
    /* Not a topic type. */
    QS_CHECK_EQ_INT(qs_policy_set_topic_age(&p, 999, 3), -1);
}

static void
test_policy_expiry_is_strictly_older_than_the_cutoff(void)
{
    qs_policy_t p;
    int64_t cut;

    qs_policy_defaults(&p);
    p.max_age_days = 10;
    cut = qs_policy_cutoff_ms(&p, 500, NOW);
    QS_CHECK_EQ_INT(qs_policy_latest_expired(&p, 500, cut, NOW, 0), 0);
    QS_CHECK_EQ_INT(qs_policy_latest_expired(&p, 500, cut - 1, NOW, 0), 1);
    QS_CHECK_EQ_INT(qs_policy_latest_expired(&p, 500, cut - 1, NOW, 1000), 0);
    /* A day partition expires once its whole day lies before the cutoff. */
    {
        int64_t day_of_cut = cut / QS_MS_PER_DAY;
        QS_CHECK_EQ_INT(qs_policy_partition_expired(&p, day_of_cut, 500, NOW, 0), 0);
        QS_CHECK_EQ_INT(qs_policy_partition_expired(&p, day_of_cut - 1, 500, NOW, 0), 1);
        QS_CHECK_EQ_INT(qs_policy_partition_expired(&p, day_of_cut - 1, 500, NOW,
                                                    QS_MS_PER_DAY), 0);
    }
}

static void
test_policy_json_round_trip_and_precision_names(void)
{
    qs_policy_t p, back;
    char err[256], *json;
    int64_t ms = 0;

    qs_policy_defaults(&p);
    p.max_age_days = 45;
    p.k = 3;
    p.collect_user_names = 1;
    QS_CHECK_EQ_INT(qs_policy_parse_precision(&p.time_precision_ms, "minute"), 0);
    QS_CHECK_EQ_INT(p.time_precision_ms, 60000);
    QS_CHECK_STR(qs_policy_precision_name(p.time_precision_ms), "minute");
    QS_CHECK_EQ_INT(qs_policy_parse_precision(&ms, "fortnight"), -1);
    QS_CHECK_EQ_INT(qs_policy_set_topic_age(&p, 401, 12), 0);
    json = qs_policy_to_json(&p);
    QS_CHECK(json != NULL);
    QS_CHECK_EQ_INT(qs_policy_from_json(&back, json, err, sizeof err), 0);
    QS_CHECK_EQ_INT(back.max_age_days, 45);
    QS_CHECK_EQ_INT(back.k, 3);
    QS_CHECK_EQ_INT(back.collect_user_names, 1);
    QS_CHECK_EQ_INT(back.time_precision_ms, 60000);
    QS_CHECK_EQ_INT(qs_policy_max_age_days(&back, 401), 12);
    {
        char *again = qs_policy_to_json(&back);
        QS_CHECK_STR(again, json);   /* canonical */
        free(again);
    }
    free(json);
    QS_CHECK(qs_policy_from_json(&back, "{\"k\": 0}", err, sizeof err) != 0);
    QS_CHECK(strstr(err, "k") != NULL);
    QS_CHECK(qs_policy_from_json(&back, "{\"max_age_days\": 0}", err, sizeof err) != 0);
    QS_CHECK(strstr(err, "max_age_days") != NULL);
    QS_CHECK(qs_policy_from_json(&back, "not json", err, sizeof err) != 0);
}

int
main(void)
{
    QS_RUN(test_policy_json_rejects_bad_fields);
    QS_RUN(test_policy_cutoff_uses_the_topic_age_else_the_default);
    QS_RUN(test_policy_expiry_is_strictly_older_than_the_cutoff);
    QS_RUN(test_policy_json_round_trip_and_precision_names);
    return qs_test_summary();
}
