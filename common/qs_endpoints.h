/* qs_endpoints.h - a list of broker endpoints: how quietstate names several brokers.
 *
 * A site may run several qs-broker processes (docs/broker.md, "Several
 * brokers"). Wherever one broker endpoint was written - [broker] frontend and
 * backend in quietstate.conf, `endpoint` in a client profile - a list may be
 * written instead: endpoints separated by blanks or commas, e.g.
 * "tcp://10.0.0.1:5570 tcp://10.0.0.2:5570". One endpoint is a list of one,
 * so every single-endpoint file keeps its meaning. The whole list must fit
 * in QS_MAX_ENDPOINT_BYTES (the field every reader already has), which holds
 * a handful of brokers; at most QS_MAX_BROKERS are accepted.
 */
#ifndef QS_ENDPOINTS_H
#define QS_ENDPOINTS_H

#include <stddef.h>

#include "qs_limits.h"

#define QS_MAX_BROKERS 8u    /* endpoints in one list */

typedef struct {
    size_t n;                                        /* 1..QS_MAX_BROKERS */
    char ep[QS_MAX_BROKERS][QS_MAX_ENDPOINT_BYTES];  /* each NUL-terminated */
} qs_endpoints_t;

/* Split list into out. Each endpoint must start with tcp://, ipc:// or
 * inproc://, hold no control character, ';' or '#', and appear once; the
 * list must hold 1..QS_MAX_BROKERS of them and be shorter than
 * QS_MAX_ENDPOINT_BYTES. Returns 0, or -1 with errmsg naming the problem. */
int qs_endpoints_parse(qs_endpoints_t *out, const char *list, char *errmsg,
                       size_t errmsg_len) __attribute__((warn_unused_result));

/* The canonical text of eps: its endpoints separated by one space, into
 * out (out_cap bytes). Returns 0, or -1 when it does not fit. */
int qs_endpoints_join(char *out, size_t out_cap, const qs_endpoints_t *eps);

#endif
