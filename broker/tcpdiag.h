/* tcpdiag.h - the TCP counters of many sockets in one netlink dump (sock_diag).
 *
 * The guard (guard.h) needs, at every check, how many bytes the kernel has
 * received on each frontend connection and how many still wait in its
 * receive queue. Asked per socket that is two system calls per connection
 * every 50 ms (TCP_INFO and SIOCINQ): with a thousand connected producers,
 * 40,000 calls a second, most of the broker's system calls. One sock_diag
 * dump (NETLINK_SOCK_DIAG, what ss(8) uses) returns the same numbers for
 * every TCP socket on one local port: inode, receive queue (idiag_rqueue,
 * what SIOCINQ says) and tcp_info, in a handful of recv calls.
 *
 * Sockets are matched by inode, so a socket this process does not own (the
 * dump sees every process's) or a number reused since is never mistaken for
 * a connection the guard knows. Linux only, unprivileged.
 */
#ifndef QS_BROKER_TCPDIAG_H
#define QS_BROKER_TCPDIAG_H

#include <stddef.h>
#include <stdint.h>

typedef struct qs_tcpdiag qs_tcpdiag_t;

typedef struct {
    uint64_t ino;              /* the socket's inode */
    uint64_t bytes_received;   /* tcpi_bytes_received */
    uint32_t rqueue;           /* bytes in the receive queue, not yet read */
} qs_tcpdiag_entry_t;

/* Called for each socket of a dump. */
typedef void (*qs_tcpdiag_fn)(void *arg, const qs_tcpdiag_entry_t *e);

/* A sock_diag socket; NULL with errmsg when the kernel has none. */
qs_tcpdiag_t *qs_tcpdiag_new(char *errmsg, size_t errmsg_len);

/* Every TCP socket of family (AF_INET or AF_INET6) whose local port is port,
 * in any state but LISTEN and TIME_WAIT: fn(arg, entry) for each whose
 * tcp_info has the byte counters (Linux 4.1 on). 0, or -1 when the dump
 * failed part way (the sockets not reported are measured one by one). */
int qs_tcpdiag_dump(qs_tcpdiag_t *d, int family, uint16_t port, qs_tcpdiag_fn fn, void *arg);

/* Close; sets *d_p to NULL. */
void qs_tcpdiag_destroy(qs_tcpdiag_t **d_p);

#endif
