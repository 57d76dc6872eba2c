/* ops.h - what qs-web can be asked, and which roles may ask it: one table.
 *
 * Both processes read this table: the HTTP front to answer 403 before it
 * bothers the worker, the worker to refuse again on its own (it never takes
 * the front's word: every request carries the bearer token, and the worker
 * authenticates it itself before it runs an operation). needs_store marks the
 * operations that read or change store.db; until they are wired to store/'s
 * interface the worker answers them 501.
 */
#ifndef QS_WEB_OPS_H
#define QS_WEB_OPS_H

#include "qs_users.h"

typedef struct {
    const char *name;      /* "policy.get", … */
    unsigned roles;        /* bit set of qs_role_t */
    int needs_store;       /* 1: reads or changes store.db */
} qs_web_op_t;

/* The operation named name, or NULL. */
const qs_web_op_t *qs_web_op_find(const char *name);

/* 1 if role may run op. */
int qs_web_op_allows(const qs_web_op_t *op, qs_role_t role);

#endif
