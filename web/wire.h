/* wire.h - framing between qs-web's HTTP front and its worker (a socketpair).
 *
 * One message = a 4-byte big-endian length, then that many bytes of JSON.
 * Requests are {"op": "...", "user": "..."|null, "args": {...}}; replies are
 * {"status": HTTP_STATUS, "body": {...}}. Lengths above QS_WIRE_MAX_BYTES are
 * refused by the reader, so neither side can be made to allocate without bound.
 */
#ifndef QS_WEB_WIRE_H
#define QS_WEB_WIRE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define QS_WIRE_MAX_BYTES (32u * 1024u * 1024u)

/* Send doc (not consumed) as one message. Returns 0, -1 on a write error. */
int qs_wire_send(int fd, const cJSON *doc) __attribute__((warn_unused_result));

/* Receive one message and parse it. Returns 0 with *doc (caller deletes),
 * 1 on end of stream before a message starts, -1 on an I/O error, a message
 * over the limit or text that is not JSON. */
int qs_wire_recv(cJSON **doc, int fd) __attribute__((warn_unused_result));

#endif
