/* deadline_rules.c - classes, suppression and totals of deadline compliance (both engines).
 *
 * Why the suppression looks as it does is in qs_store_deadline.h and
 * docs/deployments.md: the usual primary/complementary rule of
 * `qsctl compliance` per update row, plus one pairing: compliant and
 * compliant_late are hidden together, because their sum is a number
 * `qsctl compliance` already shows (installed + not required), and showing
 * one of them would tell the other.
 */
#include "deadline_rules.h"
#include "qs_codec.h"
#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
qs_deadline_class_name(qs_deadline_class_t c)
{
    static const char *const names[QS_DEADLINE_CLASSES] = {
        "compliant", "compliant_late", "non_compliant", "in_progress", "unknown",
    };

    QS_ASSERT((unsigned)c < QS_DEADLINE_CLASSES);
    return names[c];
}

int
qs_deadline_states(qs_deadline_states_t *out, uint32_t topic_type, char *errmsg,
                   size_t errmsg_len)
{
    memset(out, 0, sizeof *out);
    if (qs_state_parse(topic_type, "installed", &out->installed) != 0) {
        snprintf(errmsg, errmsg_len, "topic type %u has no state named 'installed': a "
                 "deadline needs one (use --topic-type 500, update detection)", topic_type);
        return -1;
    }
    out->has_not_required = qs_state_parse(topic_type, "not required", &out->not_required) == 0;
    return 0;
}

int
qs_deadline_topic_type_check(uint32_t topic_type, char *errmsg, size_t errmsg_len)
{
    qs_deadline_states_t states;

    return qs_deadline_states(&states, topic_type, errmsg, errmsg_len);
}

void
qs_deadline_classify(int64_t count[QS_DEADLINE_CLASSES], const qs_deadline_raw_t *raw,
                     int64_t scope, int deadline_passed)
{
    int64_t pending = raw->rows - raw->installed - raw->not_required;

    count[QS_DEADLINE_COMPLIANT] = raw->on_time + raw->not_required;
    count[QS_DEADLINE_LATE] = raw->installed - raw->on_time;
    count[QS_DEADLINE_NONCOMPLIANT] = deadline_passed ? pending : 0;
    count[QS_DEADLINE_IN_PROGRESS] = deadline_passed ? 0 : pending;
    /* Never below 0: scope and rows come from one snapshot, and a machine
     * with a row for the update has a row of its type. */
    count[QS_DEADLINE_UNKNOWN] = scope > raw->rows ? scope - raw->rows : 0;
}

static int
hidden_nonzero(const int64_t count[QS_DEADLINE_CLASSES], const int hide[QS_DEADLINE_CLASSES])
{
    int n = 0;

    for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
        n += hide[c] && count[c] > 0;
    return n;
}

/* compliant and compliant_late are hidden together. */
static void
pair_hide(int hide[QS_DEADLINE_CLASSES])
{
    if (hide[QS_DEADLINE_COMPLIANT] || hide[QS_DEADLINE_LATE])
        hide[QS_DEADLINE_COMPLIANT] = hide[QS_DEADLINE_LATE] = 1;
}

void
qs_deadline_suppress_row(int64_t count[QS_DEADLINE_CLASSES], int64_t k)
{
    int hide[QS_DEADLINE_CLASSES] = { 0 };

    for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
        hide[c] = count[c] > 0 && count[c] < k;
    pair_hide(hide);
    if (hidden_nonzero(count, hide) == 1) {
        int smallest = -1;
        for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
            if (!hide[c] && count[c] > 0 && (smallest < 0 || count[c] < count[smallest]))
                smallest = c;   /* the first in class order on a tie: deterministic */
        if (smallest >= 0)
            hide[smallest] = 1;
        pair_hide(hide);
    }
    for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
        if (hide[c])
            count[c] = QS_STOREDB_SUPPRESSED;
}

void
qs_deadline_build(qs_storedb_deadline_t *out, const qs_deadline_query_t *q,
                  const qs_deadline_raw_t *raw, int64_t scope, int k)
{
    int64_t published = 0;

    memset(out, 0, sizeof *out);
    out->k = k;
    out->deadline_passed = q->now_ms > q->deadline_ms;
    out->n = q->n_topic_ids;
    out->rows = qs_calloc(out->n ? out->n : 1, sizeof *out->rows);
    for (size_t i = 0; i < out->n; i++) {
        qs_storedb_deadline_row_t *row = &out->rows[i];
        row->topic_id = qs_strdup(q->topic_ids[i]);
        qs_deadline_classify(row->count, &raw[i], scope, out->deadline_passed);
        if (scope < k) {
            for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
                row->count[c] = QS_STOREDB_SUPPRESSED;
        } else {
            qs_deadline_suppress_row(row->count, k);
        }
        for (int c = 0; c < QS_DEADLINE_CLASSES; c++) {
            if (row->count[c] != QS_STOREDB_SUPPRESSED) {
                out->total[c] += row->count[c];
                published += row->count[c];
            }
        }
    }
    if (scope < k) {
        out->scope = out->pairs = QS_STOREDB_SUPPRESSED;
        out->suppressed = -1;
        return;
    }
    out->scope = scope;
    out->pairs = scope * (int64_t)out->n;
    out->suppressed = out->pairs - published;
}

void
qs_storedb_deadline_free(qs_storedb_deadline_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        free(res->rows[i].topic_id);
    free(res->rows);
    res->rows = NULL;
    res->n = 0;
}
