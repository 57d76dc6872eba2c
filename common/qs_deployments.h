/* qs_deployments.h - deployments with deadlines: site configuration kept in site.db.
 *
 * A deployment names one or more updates (topic ids of one topic type,
 * 500 by default) that the fleet must have installed by a deadline (UTC,
 * ms). It is site configuration, like the policy: no machine's data is in
 * it. This module owns its two tables in site.db (deployments and
 * deployment_updates) and creates them on first use, so a site.db made by
 * an older release gains them the first time it is used (as users.c does
 * for users). Writers call it inside an audited transaction
 * (qs_audit_tx_begin, qs_audit.h): add and remove are audited by the caller.
 * What a deployment means for compliance is docs/deployments.md.
 */
#ifndef QS_DEPLOYMENTS_H
#define QS_DEPLOYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "qs_sitedb.h"

#define QS_MAX_DEPLOYMENT_ID_BYTES 64u
#define QS_MAX_DEPLOYMENT_GROUP_BYTES 64u
#define QS_MAX_DEPLOYMENT_UPDATES 256u
#define QS_DEPLOYMENT_NO_TIME INT64_MIN   /* available_ms when none was given */

typedef struct {
    char *id;                 /* owned */
    uint32_t topic_type;
    char **topic_ids;         /* owned, n_topic_ids of them, in the order given */
    size_t n_topic_ids;
    int64_t available_ms;     /* QS_DEPLOYMENT_NO_TIME when not given */
    int64_t deadline_ms;
    char *group;              /* owned; NULL when not given */
    int64_t created_ms;
    char *actor;              /* owned: who added it */
} qs_deployment_t;

/* Check an id: 1..QS_MAX_DEPLOYMENT_ID_BYTES of [A-Za-z0-9._-]. Returns 0,
 * or -1 with errmsg saying what is allowed. */
int qs_deployment_id_check(const char *id, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Store d (inside the caller's transaction). Returns 0; -1 with errmsg when
 * a deployment with this id exists ("deployment 'X' already exists: …") or
 * on a database error. */
int qs_deployments_add(qs_sitedb_t *db, const qs_deployment_t *d, char *errmsg,
                       size_t errmsg_len) __attribute__((warn_unused_result));

/* Fill *out with deployment id (free with qs_deployment_free); *found = 0
 * (and *out empty) when there is none. Returns 0, or -1 with errmsg. */
int qs_deployments_get(qs_sitedb_t *db, const char *id, qs_deployment_t *out, int *found,
                       char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* Every deployment, in id order, into *out (free with
 * qs_deployments_list_free). Returns 0, or -1 with errmsg. */
int qs_deployments_list(qs_sitedb_t *db, qs_deployment_t **out, size_t *n, char *errmsg,
                        size_t errmsg_len) __attribute__((warn_unused_result));

/* Remove deployment id (inside the caller's transaction); *removed = 0 when
 * there was none. Returns 0, or -1 with errmsg. */
int qs_deployments_remove(qs_sitedb_t *db, const char *id, int *removed, char *errmsg,
                          size_t errmsg_len) __attribute__((warn_unused_result));

/* Free what d owns and zero it. No-op on an empty one. */
void qs_deployment_free(qs_deployment_t *d);
void qs_deployments_list_free(qs_deployment_t **list, size_t *n);

#endif
