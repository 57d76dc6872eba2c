/* guard.h - the frontend's per-connection byte accounting: bounded memory whatever clients send.
 *
 * libzmq 4.3 cannot bound what one connection costs: ZMQ_MAXMSGSIZE limits a
 * frame, the high-water mark counts whole messages, and the frames of a
 * message that never ends (MORE set on every frame) sit in the connection's
 * pipe, invisible to the application, until the last frame arrives. So the
 * broker measures it from outside, for every accepted TCP connection
 * (learnt from a socket monitor: ZMQ_EVENT_ACCEPTED gives the fd):
 *
 *   pending = bytes the kernel received (TCP_INFO tcpi_bytes_received)
 *           - bytes still in the kernel's queue (SIOCINQ)
 *           - the wire size of every frame the router has read from it
 *           - QS_GUARD_SLACK_BYTES (the handshake)
 *
 * which is what libzmq holds for that connection: a partial message, or
 * whole messages not read yet. Those bytes are this process's memory: a
 * check first reads the resident set (/proc/self/statm), and while it has
 * not grown by a quarter of the smaller limit over its lowest point since
 * the last full check, the connections are measured only every 500 ms (a
 * key set change, or a revoked connection in its grace period, makes every
 * check full). A full check first takes TCP_INFO alone (the
 * kernel's queue counted as held: an upper bound, one system call per
 * connection); only a connection whose bound is over conn_max, or every
 * connection when the bounds add up to more than total_max, is measured
 * exactly with SIOCINQ too. The router credits each frame it reads to its
 * connection (the message's "__fd" property, qs_guard_credit). Every full check a
 * connection whose pending exceeds conn_max is shut down (shutdown(2) on the
 * fd: libzmq's engine sees EOF, drops the connection and frees its partial
 * message); while the sum over all connections exceeds total_max, the largest
 * is shut down. A connection whose key is known (from a message it sent) and
 * no longer enrolled is shut down 500 ms after the key set changes (time
 * for its next message to be answered REVOKED, so its producer is told);
 * when a key was revoked or removed, connections that have
 * not sent a message yet (their key is unknown; a legitimate client simply
 * reconnects and passes ZAP again).
 *
 * The fd belongs to libzmq's I/O thread, so before acting the guard checks
 * that it is still the same socket (the inode recorded when it was accepted):
 * a number reused for another file is left alone. ipc:// connections have no
 * TCP byte counters and are not accounted (documented in docs/broker.md).
 */
#ifndef QS_BROKER_GUARD_H
#define QS_BROKER_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "logthrottle.h"
#include "qs_keyset.h"
#include "qs_limits.h"

#define QS_GUARD_SLACK_BYTES 4096u   /* greeting + HELLO + INITIATE, generously */

typedef struct qs_guard qs_guard_t;

typedef struct {
    uint64_t connections;        /* accepted TCP connections now open */
    uint64_t pending_bytes;      /* their pending bytes at the last check (at most) */
    uint64_t pending_peak;       /* the largest sum seen at a check (at most) */
    uint64_t closed_oversize;    /* shut down: over conn_max or the total */
    uint64_t closed_revoked;     /* shut down: key revoked or unknown at a revocation */
    uint64_t closed_flooding;    /* shut down at accept: source over its handshake rate */
} qs_guard_stats_t;

/* Decides whether a new connection from addr (numeric IP) should be refused
 * at once (1) or let through to the handshake (0). */
typedef int (*qs_guard_refuse_fn)(void *arg, const char *addr, int64_t now_ms);

/* Monitor frontend (a ROUTER in ctx) and account its connections. Limits in
 * bytes. lograte is borrowed (may be NULL). NULL with errmsg on failure. */
qs_guard_t *qs_guard_new(void *ctx, void *frontend, uint64_t conn_max, uint64_t total_max,
                         qs_lograte_t *lograte, char *errmsg, size_t errmsg_len);

/* Ask refuse (with arg) about every accepted connection's source address. */
void qs_guard_set_refuse(qs_guard_t *g, qs_guard_refuse_fn refuse, void *arg);

#define QS_GUARD_MONITOR_BATCH 512   /* monitor events read per call, at most */

/* The monitor socket, for polling (ZMQ_FD, or zmq_poll); qs_guard_on_monitor drains
 * it (QS_GUARD_MONITOR_BATCH at most) and returns the number of events read:
 * fewer means it ended on EAGAIN. */
void *qs_guard_socket(qs_guard_t *g);
int qs_guard_on_monitor(qs_guard_t *g, int64_t now_ms);

/* The router read frames of wire_bytes (qs_guard_wire_bytes each) from the
 * connection with fd; pk (may be NULL) is the key it authenticated with. */
void qs_guard_credit(qs_guard_t *g, int fd, const uint8_t *pk, uint64_t wire_bytes);

/* The bytes one frame of len bytes takes on a CurveZMQ connection: a ZMTP
 * frame header (2 bytes up to a 255-byte body, else 9) around a MESSAGE
 * command: "\x07MESSAGE", an 8-byte nonce, a 16-byte MAC and a flags byte. */
static inline uint64_t
qs_guard_wire_bytes(size_t len)
{
    uint64_t body = 8u + 8u + 16u + 1u + (uint64_t)len;
    return body + (body <= 255u ? 2u : 9u);
}

/* Measure every connection and shut down offenders (see above). keys_changed:
 * the key set was reloaded since the last call; revoked: a key was revoked or
 * removed by that reload. Returns the number of connections shut down. */
int qs_guard_check(qs_guard_t *g, const qs_keyset_t *keys, int keys_changed, int revoked,
                   int64_t now_ms);

void qs_guard_stats(const qs_guard_t *g, qs_guard_stats_t *out);

/* Stop monitoring and free; sets *g_p to NULL. Call before closing frontend. */
void qs_guard_destroy(qs_guard_t **g_p);

#endif
