/* expire_rules.h - which latest rows an ageing step covers, once for both engines (private to store/). */
#ifndef QS_STORE_EXPIRE_RULES_H
#define QS_STORE_EXPIRE_RULES_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "qs_store_expire.h"

/* The SQL condition on topic_type that selects topics' rows: one type, every
 * type, or every type but the listed ones (they have ages of their own).
 * Into out; 0, or -1 when it does not fit. */
int qs_expire_topics_sql(char *out, size_t out_len, const qs_expire_topics_t *topics);

/* One step of the pass over latest's primary key, in its own transaction of
 * the engine's: delete the aged rows of the clients after lo up to *hi, the
 * client of the batch-th row after lo (a client's rows are never split
 * between steps), or of every client after lo with *last = 1 when fewer
 * rows are left. *n gets the rows deleted. 0, or -1 with errmsg (nothing
 * deleted). */
typedef int (*qs_expire_step_fn)(void *ctx, int64_t lo, int64_t *n, int64_t *hi, int *last,
                                 char *errmsg, size_t errmsg_len);

/* qs_storedb_expire_latest's pass, for both engines: steps from the first
 * client (lo = -1) until the last, stop polled before each (qs_store_expire.h). */
int qs_expire_latest_pass(qs_expire_step_fn step, void *ctx, int64_t *deleted,
                          int *interrupted, const volatile sig_atomic_t *stop, char *errmsg,
                          size_t errmsg_len);

#endif
