/* ops.c - the operation table shared by qs-web's front and worker (see ops.h).
 *
 * The roles follow issue #11: operators see aggregates only; admins enroll,
 * revoke and look up one named machine with a reason; privacy officers set
 * the policy, read and check the audit log, forget and verify.
 */
#include "ops.h"

#include <string.h>

#define OPERATOR QS_ROLE_OPERATOR
#define ADMIN QS_ROLE_ADMIN
#define OFFICER QS_ROLE_PRIVACY_OFFICER

static const qs_web_op_t ops[] = {
    { "compliance", OPERATOR | ADMIN | OFFICER, 1 },
    { "compliance.trend", OPERATOR | ADMIN | OFFICER, 1 },
    { "stats", QS_ROLE_ALL, 1 },
    { "policy.get", QS_ROLE_ALL, 0 },
    { "policy.history", OFFICER, 0 },
    { "policy.put", OFFICER, 0 },
    { "lookup", ADMIN, 1 },
    { "client.enroll", ADMIN, 0 },
    { "client.revoke", ADMIN, 0 },
    { "audit.show", OFFICER, 0 },
    { "audit.verify", OFFICER, 0 },
    { "forget", OFFICER, 1 },
    { "verify", OFFICER, 1 },
    /* The dashboard and /metrics (docs/dashboard.md): "me" names the token's
     * user and role; "metrics" with a token takes any role (from loopback
     * the front may serve it without one: [web] metrics_public). */
    { "me", QS_ROLE_ALL, 0 },
    { "metrics", QS_ROLE_ALL, 1 },
    /* Deployments (docs/deployments.md): site configuration, no machine's data. */
    { "deployments", QS_ROLE_ALL, 0 },
};

const qs_web_op_t *
qs_web_op_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, name) == 0)
            return &ops[i];
    return NULL;
}

int
qs_web_op_allows(const qs_web_op_t *op, qs_role_t role)
{
    return op != NULL && (op->roles & (unsigned)role) != 0;
}
