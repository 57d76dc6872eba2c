/* qs_policy.h - the privacy officer's policy: what is collected, how long kept.
 *
 * A policy is a small JSON document, stored as a new version in site.db on
 * every `qsctl policy set` (so history is the list of versions). The store and
 * the retention worker reload it when site.db changes. With no version at all
 * the site is "not configured" and the store accepts nothing.
 *
 *   {"max_age_days": 90, "topic_max_age_days": {"500": 30},
 *    "collect_user_names": false, "k": 5, "time_precision": "second"}
 */
#ifndef QS_POLICY_H
#define QS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define QS_POLICY_MAX_TOPICS 16
#define QS_POLICY_MAX_AGE_DAYS 36500

typedef struct {
    uint32_t topic_type;
    int max_age_days;
} qs_topic_age_t;

typedef struct {
    int max_age_days;                    /* default for every topic type */
    qs_topic_age_t topics[QS_POLICY_MAX_TOPICS];
    size_t n_topics;
    int collect_user_names;              /* 0 or 1 */
    int k;                               /* small-group suppression threshold */
    int64_t time_precision_ms;           /* history times are truncated to this */
} qs_policy_t;

/* The defaults a first `policy set` starts from (90 days, k 5, no user names,
 * second precision). */
void qs_policy_defaults(qs_policy_t *p);

/* Maximum age in days for a topic type (its own, else the default). */
int qs_policy_max_age_days(const qs_policy_t *p, uint32_t topic_type);

/* The retention rule, once for every program: data of topic_type is
 * expired when it is strictly older than now_ms - max age (DESIGN.md, "What
 * ages out, and by which clock"). Returns that instant. topic_type 0 (no
 * topic type has it) gives the default maximum age's cutoff. */
int64_t qs_policy_cutoff_ms(const qs_policy_t *p, uint32_t topic_type, int64_t now_ms);

/* 1 if every moment of history partition (epoch = UTC day, topic_type) lies
 * before the cutoff less grace_ms: (epoch + 1) days <= cutoff - grace. */
int qs_policy_partition_expired(const qs_policy_t *p, int64_t epoch, uint32_t topic_type,
                                int64_t now_ms, int64_t grace_ms);

/* 1 if a latest row of topic_type last reported at report_ms is expired. */
int qs_policy_latest_expired(const qs_policy_t *p, uint32_t topic_type, int64_t report_ms,
                             int64_t now_ms, int64_t grace_ms);

/* Set (or with max_age_days == 0, remove) a per-topic maximum age. Returns -1
 * when the table is full or topic_type is not in the topic table. */
int qs_policy_set_topic_age(qs_policy_t *p, uint32_t topic_type, int max_age_days);

/* Parse "millisecond|second|minute|hour|day" into ms; -1 if unknown. */
int qs_policy_parse_precision(int64_t *out_ms, const char *name);
const char *qs_policy_precision_name(int64_t ms);

/* Serialise to a canonical JSON string (caller frees). NULL if out of memory. */
char *qs_policy_to_json(const qs_policy_t *p);

/* Parse and validate JSON; -1 with errmsg naming the field that is wrong. */
int qs_policy_from_json(qs_policy_t *p, const char *json, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

#endif
