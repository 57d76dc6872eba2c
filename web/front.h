/* front.h - qs-web's HTTP front: libmicrohttpd, routes, roles, counters.
 *
 * The front parses untrusted HTTP and holds no site secret: it never opens
 * site.db, store.db or any key under DIR/keys (CONVENTIONS #16). It holds the
 * TLS certificate and key (it terminates TLS) and one end of the socketpair
 * to the worker, which it asks "who holds this token?" and then the
 * operation. One thread: libmicrohttpd runs from the front's own poll loop
 * (external epoll), so requests are handled one after another and nothing
 * needs a lock.
 */
#ifndef QS_WEB_FRONT_H
#define QS_WEB_FRONT_H

#include <signal.h>
#include <stddef.h>

#include "counters.h"
#include "qs_config.h"

typedef struct qs_web_front qs_web_front_t;

/* Start listening on cfg's [web] listen with its limits (TLS when
 * tls_cert/tls_key are set; refused off loopback without them). worker_fd is
 * borrowed. NULL with errmsg on failure. */
qs_web_front_t *qs_web_front_new(const qs_config_t *cfg, int worker_fd, char *errmsg,
                                 size_t errmsg_len);

/* Serve until *stop is set or the worker goes away. Returns 0 after a stop
 * request, -1 when the worker died or polling failed. */
int qs_web_front_run(qs_web_front_t *f, volatile sig_atomic_t *stop);

/* The answer counters (for /metrics, later). */
const qs_web_counters_t *qs_web_front_counters(const qs_web_front_t *f);

/* Stop the server (open connections are closed) and free; NULLs *f_p. */
void qs_web_front_destroy(qs_web_front_t **f_p);

#endif
