/* worker.h - qs-web's worker: the small process that holds site.db and the keys.
 *
 * Forked by qs-web before the HTTP front starts. It opens site.db,
 * keys/site.key (pseudonyms) and keys/audit.key (audit chain) - and, once
 * wired, store.db through store/'s interface - and answers one request at a
 * time over its end of a socketpair (wire.h). Every request carries the
 * bearer token: the worker authenticates it and checks the role itself
 * (ops.h) before running the operation, and audits under the authenticated
 * name ("web:NAME"), never a name the front supplied.
 */
#ifndef QS_WEB_WORKER_H
#define QS_WEB_WORKER_H

#include "qs_config.h"
#include "qs_site.h"

/* Serve requests on fd until the front closes it or SIGTERM arrives.
 * Returns the process exit code (0 clean, 1 failure). */
int qs_web_worker_main(int fd, const qs_site_paths_t *paths, const qs_config_t *cfg);

#endif
