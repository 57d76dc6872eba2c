/* guard.c - frontend connection accounting from a socket monitor and TCP counters; see guard.h.
 *
 * Connections live in an array indexed by fd (fds are small integers; the
 * array grows to the highest fd seen, so its size is bounded by the process's
 * fd limit). All of it runs in the broker's one loop: the monitor's events
 * are drained before every check, so the table is current up to the events
 * libzmq has not sent yet, and the inode check covers those.
 */
#define _GNU_SOURCE
#include "guard.h"
#include "qs_hex.h"
#include "qs_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define GUARD_TRIM_DELAY_MS 300        /* after a shutdown: let libzmq free, then trim */
#define GUARD_ADDR_CHARS    64
/* A connection whose key was revoked gets this long to be told so: its next
 * message is answered REVOKED by the router (the producer reports that),
 * then the connection is closed. */
#define GUARD_REVOKE_GRACE_MS 500
/* Every connection is measured at least this often; in between, a check
 * measures them only when the process grew (see qs_guard_check). */
#define GUARD_FULL_MS 500

typedef struct {
    int used;
    int closing;                       /* shut down, waiting for DISCONNECTED */
    int key_known;
    ino_t ino;
    uint8_t pk[QS_KEY_BYTES];
    uint64_t credit;                   /* wire bytes of frames the router read */
    uint64_t pending;                  /* at the last check */
    int64_t revoke_at_ms;              /* key revoked: close then (0: not revoked) */
} conn_t;

struct qs_guard {
    void *monitor;                     /* PAIR connected to the frontend's monitor */
    void *frontend;
    char endpoint[64];
    uint64_t conn_max, total_max;
    qs_lograte_t *lograte;
    qs_guard_refuse_fn refuse;
    void *refuse_arg;
    conn_t *conns;
    size_t n_conns;                    /* slots allocated */
    int64_t trim_at_ms;                /* 0: no malloc_trim due */
    qs_guard_stats_t stats;
    int statm_fd;                      /* /proc/self/statm, -1: measure at every check */
    uint64_t rss_floor;                /* lowest resident set seen since the last full check */
    uint64_t rss_slack;                /* growth over the floor that forces a full check */
    int64_t full_due_ms;               /* the next full check at the latest */
    int revoke_pending;                /* a revoked connection awaits its grace period */
};

static int guard_seq;                  /* distinct monitor endpoints per process */

qs_guard_t *
qs_guard_new(void *ctx, void *frontend, uint64_t conn_max, uint64_t total_max,
             qs_lograte_t *lograte, char *errmsg, size_t errmsg_len)
{
    qs_guard_t *g = qs_calloc(1, sizeof *g);
    int zero = 0;

    g->frontend = frontend;
    g->conn_max = conn_max;
    g->total_max = total_max;
    g->lograte = lograte;
    g->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    g->rss_slack = (conn_max < total_max ? conn_max : total_max) / 4;
    snprintf(g->endpoint, sizeof g->endpoint, "inproc://qs-guard-%d-%d", (int)getpid(),
             ++guard_seq);
    if (zmq_socket_monitor(frontend, g->endpoint,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        (g->monitor = zmq_socket(ctx, ZMQ_PAIR)) == NULL ||
        /* No high-water mark: libzmq's monitor send blocks the I/O thread when full. */
        zmq_setsockopt(g->monitor, ZMQ_RCVHWM, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(g->monitor, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(g->monitor, g->endpoint) != 0) {
        snprintf(errmsg, errmsg_len, "cannot monitor the frontend: %s",
                 zmq_strerror(zmq_errno()));
        qs_guard_destroy(&g);
        return NULL;
    }
    return g;
}

void
qs_guard_set_refuse(qs_guard_t *g, qs_guard_refuse_fn refuse, void *arg)
{
    g->refuse = refuse;
    g->refuse_arg = arg;
}

void *
qs_guard_socket(qs_guard_t *g)
{
    return g->monitor;
}

void
qs_guard_stats(const qs_guard_t *g, qs_guard_stats_t *out)
{
    *out = g->stats;
}

void
qs_guard_destroy(qs_guard_t **g_p)
{
    qs_guard_t *g;

    if (g_p == NULL || *g_p == NULL)
        return;
    g = *g_p;
    if (g->frontend != NULL)
        (void)zmq_socket_monitor(g->frontend, NULL, 0);
    if (g->monitor != NULL)
        zmq_close(g->monitor);
    if (g->statm_fd >= 0)
        close(g->statm_fd);
    free(g->conns);
    free(g);
    *g_p = NULL;
}

static conn_t *
conn_slot(qs_guard_t *g, int fd, int grow)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= g->n_conns) {
        size_t n = g->n_conns ? g->n_conns : 256;
        if (!grow)
            return NULL;
        while (n <= (size_t)fd)
            n *= 2;
        g->conns = qs_realloc(g->conns, n * sizeof *g->conns);
        memset(g->conns + g->n_conns, 0, (n - g->n_conns) * sizeof *g->conns);
        g->n_conns = n;
    }
    return &g->conns[fd];
}

/* 0 and the inode when fd is a socket, -1 otherwise (closed, or a file). */
static int
socket_ino(int fd, ino_t *ino)
{
    struct stat st;

    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return -1;
    *ino = st.st_ino;
    return 0;
}

/* The numeric address of fd's peer, "" when it has none. */
static void
peer_addr(int fd, char out[GUARD_ADDR_CHARS])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, GUARD_ADDR_CHARS);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, GUARD_ADDR_CHARS);
}

/* Shut the connection down if fd is still the socket accepted as c. */
static int
conn_shutdown(qs_guard_t *g, int fd, conn_t *c, const char *why, int64_t now_ms)
{
    ino_t ino;
    char prefix[QS_HEX_KEY_CHARS + 1] = "-";

    if (socket_ino(fd, &ino) != 0 || ino != c->ino) {
        memset(c, 0, sizeof *c);       /* gone or reused: not ours any more */
        return 0;
    }
    if (shutdown(fd, SHUT_RDWR) != 0)
        return 0;
    c->closing = 1;
    g->trim_at_ms = now_ms + GUARD_TRIM_DELAY_MS;
    if (c->key_known) {
        qs_hex_encode(prefix, sizeof prefix, c->pk, QS_KEY_BYTES);
        prefix[8] = '\0';
    }
    if (qs_lograte_allow(g->lograte, now_ms))
        log_warn("closed the connection of client '%s': %s", prefix, why);
    return 1;
}

static void
on_accepted(qs_guard_t *g, int fd, int64_t now_ms)
{
    conn_t *c = conn_slot(g, fd, 1);
    char addr[GUARD_ADDR_CHARS];

    memset(c, 0, sizeof *c);
    if (socket_ino(fd, &c->ino) != 0)
        return;                        /* already closed: its DISCONNECTED follows */
    c->used = 1;
    if (g->refuse == NULL)
        return;
    peer_addr(fd, addr);
    if (addr[0] != '\0' && g->refuse(g->refuse_arg, addr, now_ms) &&
        shutdown(fd, SHUT_RDWR) == 0) {
        c->closing = 1;
        g->stats.closed_flooding++;
    }
}

int
qs_guard_on_monitor(qs_guard_t *g, int64_t now_ms)
{
    int i;

    for (i = 0; i < QS_GUARD_MONITOR_BATCH; i++) {
        zmq_msg_t ev, ep;
        uint16_t event = 0;
        uint32_t value = 0;
        int ok;

        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, g->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return i;
        }
        ok = zmq_msg_size(&ev) == 6 && zmq_msg_more(&ev);
        if (ok) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        while (zmq_msg_more(&ev)) {    /* the endpoint frame: not needed */
            zmq_msg_init(&ep);
            if (zmq_msg_recv(&ep, g->monitor, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&ep);
                break;
            }
            zmq_msg_close(&ev);
            ev = ep;
        }
        zmq_msg_close(&ev);
        if (!ok)
            continue;
        if (event == ZMQ_EVENT_ACCEPTED)
            on_accepted(g, (int)value, now_ms);
        else if (event == ZMQ_EVENT_DISCONNECTED) {
            conn_t *c = conn_slot(g, (int)value, 0);
            if (c != NULL)
                memset(c, 0, sizeof *c);
        }
    }
    return i;
}

void
qs_guard_credit(qs_guard_t *g, int fd, const uint8_t *pk, uint64_t wire_bytes)
{
    conn_t *c = conn_slot(g, fd, 0);

    if (c == NULL || !c->used)
        return;
    c->credit += wire_bytes;
    if (pk != NULL && !c->key_known) {
        memcpy(c->pk, pk, QS_KEY_BYTES);
        c->key_known = 1;
    }
}

/* What libzmq holds for fd now; 0 and *ok = 0 when it cannot be measured.
 * Without exact, the bytes still in the kernel's receive queue count as held
 * too: an upper bound from one system call (TCP_INFO), enough to clear the
 * many connections far below the limits; exact subtracts that queue
 * (SIOCINQ, a second call), for the ones the bound does not clear. */
static uint64_t
conn_pending(int fd, const conn_t *c, int exact, int *ok)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    int inq = 0;
    uint64_t read_bytes;

    *ok = 0;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received ||
        (exact && ioctl(fd, SIOCINQ, &inq) != 0))
        return 0;
    *ok = 1;
    read_bytes = ti.tcpi_bytes_received - (uint64_t)(inq > 0 ? inq : 0);
    if (read_bytes <= c->credit + QS_GUARD_SLACK_BYTES)
        return 0;
    return read_bytes - c->credit - QS_GUARD_SLACK_BYTES;
}

/* Pending bytes of c: the upper bound, made exact when it is over conn_max. */
static uint64_t
conn_measure(const qs_guard_t *g, int fd, const conn_t *c, int *ok)
{
    uint64_t pending = conn_pending(fd, c, 0, ok);

    return *ok && pending > g->conn_max ? conn_pending(fd, c, 1, ok) : pending;
}

/* The sum of the bounds is over total_max: measure every connection exactly. */
static uint64_t
total_exact(qs_guard_t *g)
{
    uint64_t total = 0;

    for (size_t fd = 0; fd < g->n_conns; fd++) {
        conn_t *c = &g->conns[fd];
        int ok;

        if (!c->used || c->closing)
            continue;
        c->pending = conn_pending((int)fd, c, 1, &ok);
        total += c->pending;
    }
    return total;
}

/* Does the key set still let c's key in? Unknown keys: only if no revocation. */
static int
conn_revoked(const conn_t *c, const qs_keyset_t *keys, int revoked)
{
    if (!c->key_known)
        return revoked;
    return qs_keyset_get(keys, c->pk) != QS_KEY_ENROLLED;
}

/* A malloc_trim is due: libzmq has freed the dropped messages by now, give
 * the pages back. */
static void
guard_trim(qs_guard_t *g, int64_t now_ms)
{
    if (g->trim_at_ms != 0 && now_ms >= g->trim_at_ms) {
        (void)malloc_trim(0);
        g->trim_at_ms = 0;
    }
}

/* The process's resident set in bytes (one pread of /proc/self/statm);
 * 0 when it cannot be read. */
static uint64_t
rss_bytes(const qs_guard_t *g)
{
    char buf[128];
    unsigned long long size = 0, resident = 0;
    ssize_t n = g->statm_fd < 0 ? -1 : pread(g->statm_fd, buf, sizeof buf - 1, 0);

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Can this check skip measuring the connections? Bytes a connection holds
 * in libzmq are the process's memory: while the resident set has not grown
 * by rss_slack (a quarter of the smaller limit) over its lowest point since
 * the last full check, no connection can have gained more than that since
 * then, so the limits hold to within rss_slack without a system call per
 * connection. A full check still runs at least every GUARD_FULL_MS, at once
 * when the key set changed, and on every check while a revoked connection
 * waits out its grace period. */
static int
light_check(qs_guard_t *g, int keys_changed, int64_t now_ms)
{
    uint64_t rss;

    if (keys_changed || g->revoke_pending || now_ms >= g->full_due_ms || g->statm_fd < 0 ||
        (rss = rss_bytes(g)) == 0)
        return 0;
    if (rss < g->rss_floor)
        g->rss_floor = rss;
    return rss <= g->rss_floor + g->rss_slack;
}

int
qs_guard_check(qs_guard_t *g, const qs_keyset_t *keys, int keys_changed, int revoked,
               int64_t now_ms)
{
    uint64_t total = 0;
    uint64_t open = 0;
    int closed = 0;

    (void)qs_guard_on_monitor(g, now_ms);
    if (light_check(g, keys_changed, now_ms)) {
        guard_trim(g, now_ms);
        return 0;
    }
    g->full_due_ms = now_ms + GUARD_FULL_MS;
    g->revoke_pending = 0;
    for (size_t fd = 0; fd < g->n_conns; fd++) {
        conn_t *c = &g->conns[fd];
        int ok;

        if (!c->used || c->closing)
            continue;
        open++;
        if (keys_changed && c->revoke_at_ms == 0 && conn_revoked(c, keys, revoked))
            c->revoke_at_ms = c->key_known ? now_ms + GUARD_REVOKE_GRACE_MS : now_ms;
        if (c->revoke_at_ms != 0 && now_ms >= c->revoke_at_ms) {
            if (conn_shutdown(g, (int)fd, c, c->key_known ? "key revoked" :
                              "key unknown at a revocation", now_ms)) {
                g->stats.closed_revoked++;
                closed++;
            }
            continue;
        }
        if (c->revoke_at_ms != 0)
            g->revoke_pending = 1;     /* check it again in 50 ms, not 500 */
        c->pending = conn_measure(g, (int)fd, c, &ok);
        if (ok && c->pending > g->conn_max) {
            if (conn_shutdown(g, (int)fd, c, "over its memory bound (conn_max_kb)", now_ms)) {
                g->stats.closed_oversize++;
                closed++;
            }
            continue;
        }
        total += c->pending;
    }
    if (total > g->total_max)
        total = total_exact(g);
    if (total > g->stats.pending_peak)
        g->stats.pending_peak = total;
    while (total > g->total_max) {
        conn_t *big = NULL;
        size_t big_fd = 0;
        for (size_t fd = 0; fd < g->n_conns; fd++) {
            conn_t *c = &g->conns[fd];
            if (c->used && !c->closing && (big == NULL || c->pending > big->pending)) {
                big = c;
                big_fd = fd;
            }
        }
        if (big == NULL || big->pending == 0)
            break;
        total -= big->pending;
        if (conn_shutdown(g, (int)big_fd, big, "the largest while over total_max_mb", now_ms)) {
            g->stats.closed_oversize++;
            closed++;
        }
        big->pending = 0;
        big->closing = 1;              /* skipped by the next pass either way */
    }
    g->stats.pending_bytes = total;
    g->stats.connections = open;
    guard_trim(g, now_ms);
    /* After the trim: a floor taken before it would hide that much growth. */
    g->rss_floor = rss_bytes(g);
    return closed;
}
