/* check_rules.h - what verify's checks ask of latest, once for both engines (private to store/).
 *
 * check.c (SQLite) and check_pg.c (PostgreSQL) run the same grouped scan;
 * only what "not a pseudonym" means in SQL differs (SQLite types values,
 * PostgreSQL types columns), so the caller passes that condition.
 */
#ifndef QS_STORE_CHECK_RULES_H
#define QS_STORE_CHECK_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "qs_policy.h"

/* The scan of latest grouped by topic type: (topic_type, rows, rows where
 * bad_ps holds, rows past their type's cutoff less grace_ms, oldest
 * report_ms), ordered by topic type, with each type's cutoff spelled out.
 * Into q (q_len bytes; asserts it fits). */
void qs_check_latest_sql(char *q, size_t q_len, const char *bad_ps, const qs_policy_t *p,
                         int64_t now_ms, int64_t grace_ms);

#endif
