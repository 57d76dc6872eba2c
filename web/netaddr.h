/* netaddr.h - qs-web's addresses: [web] listen parsed, and whether a peer is on loopback.
 *
 * Loopback decides two things: plain HTTP is allowed only there, and /metrics
 * may be read without a token only from there ([web] metrics_public).
 */
#ifndef QS_WEB_NETADDR_H
#define QS_WEB_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct MHD_Connection;

/* Resolve "host:port" ("[v6]:port" for IPv6) into *addr. 0 or -1 with errmsg. */
int qs_web_listen_addr(struct sockaddr_storage *addr, socklen_t *addr_len, const char *listen,
                       char *errmsg, size_t errmsg_len);

/* 1 if addr is 127.0.0.0/8 or ::1. */
int qs_web_is_loopback(const struct sockaddr_storage *addr);

/* 1 if the connection's peer is on loopback. */
int qs_web_client_is_loopback(struct MHD_Connection *c);

#endif
