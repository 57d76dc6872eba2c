/* expire_rules.h - which latest rows an ageing step covers, once for both engines (private to store/). */
#ifndef QS_STORE_EXPIRE_RULES_H
#define QS_STORE_EXPIRE_RULES_H

#include <stddef.h>

#include "qs_store_expire.h"

/* The SQL condition on topic_type that selects topics' rows: one type, every
 * type, or every type but the listed ones (they have ages of their own).
 * Into out; 0, or -1 when it does not fit. */
int qs_expire_topics_sql(char *out, size_t out_len, const qs_expire_topics_t *topics);

#endif
