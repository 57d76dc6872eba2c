/* tcpdiag.c - one sock_diag dump for the TCP counters of a port's sockets; see tcpdiag.h. */
#include "tcpdiag.h"
#include "qs_log.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCPDIAG_BUF_BYTES (64 * 1024)   /* a dump comes in parts of up to ~32 KiB */
#define TCPDIAG_MAX_RECVS 100000        /* a dump that never ends is an error */

/* TCP states (include/net/tcp_states.h) the dump leaves out. */
#define TCPDIAG_LISTEN    10
#define TCPDIAG_TIME_WAIT 6

struct qs_tcpdiag {
    int fd;
    uint32_t seq;
    uint8_t buf[TCPDIAG_BUF_BYTES];
};

qs_tcpdiag_t *
qs_tcpdiag_new(char *errmsg, size_t errmsg_len)
{
    qs_tcpdiag_t *d;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

    if (fd < 0) {
        snprintf(errmsg, errmsg_len, "cannot open a sock_diag socket: %s", strerror(errno));
        return NULL;
    }
    d = qs_calloc(1, sizeof *d);
    d->fd = fd;
    return d;
}

void
qs_tcpdiag_destroy(qs_tcpdiag_t **d_p)
{
    if (d_p == NULL || *d_p == NULL)
        return;
    close((*d_p)->fd);
    free(*d_p);
    *d_p = NULL;
}

/* The request: TCP sockets of family, every state but LISTEN and TIME_WAIT,
 * with tcp_info, and a filter "local port >= port and <= port" (the form
 * every kernel since 2.6 understands; a rejecting jump goes 4 bytes past the
 * end of the bytecode). */
static int
send_request(qs_tcpdiag_t *d, int family, uint16_t port)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
        struct nlattr bc_attr;
        struct inet_diag_bc_op bc[4];
    } msg;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

    memset(&msg, 0, sizeof msg);
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = ++d->seq;
    msg.req.sdiag_family = (uint8_t)family;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = 0xfffu & ~((1u << TCPDIAG_LISTEN) | (1u << TCPDIAG_TIME_WAIT));
    msg.req.idiag_ext = 1u << (INET_DIAG_INFO - 1);
    msg.bc_attr.nla_len = (uint16_t)(sizeof msg.bc_attr + sizeof msg.bc);
    msg.bc_attr.nla_type = INET_DIAG_REQ_BYTECODE;
    msg.bc[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_GE, 8, 16 + 4 };
    msg.bc[1] = (struct inet_diag_bc_op){ 0, 0, port };
    msg.bc[2] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_LE, 8, 8 + 4 };
    msg.bc[3] = (struct inet_diag_bc_op){ 0, 0, port };
    if (sendto(d->fd, &msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel) !=
        (ssize_t)sizeof msg)
        return -1;
    return 0;
}

/* One socket's message: fn for it, unless its tcp_info lacks the byte
 * counters (a kernel before 4.1): then it is left out, and the caller
 * measures it alone. 0, or -1 on a malformed message. */
static int
one_socket(const struct nlmsghdr *h, qs_tcpdiag_fn fn, void *arg)
{
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    size_t len = h->nlmsg_len, off = NLMSG_LENGTH(sizeof *m);
    qs_tcpdiag_entry_t e = { 0 };
    int have = 0;

    if (len < off)
        return -1;
    e.ino = m->idiag_inode;
    e.rqueue = m->idiag_rqueue;
    while (off + sizeof(struct nlattr) <= len) {
        const struct nlattr *a = (const struct nlattr *)(const void *)((const uint8_t *)h + off);
        size_t alen = a->nla_len;
        if (alen < sizeof *a || off + alen > len)
            break;
        if ((a->nla_type & NLA_TYPE_MASK) == INET_DIAG_INFO &&
            alen - sizeof *a >= offsetof(struct tcp_info, tcpi_bytes_received) +
                                 sizeof(uint64_t)) {
            struct tcp_info ti;
            memset(&ti, 0, sizeof ti);
            memcpy(&ti, (const uint8_t *)a + sizeof *a,
                   alen - sizeof *a < sizeof ti ? alen - sizeof *a : sizeof ti);
            e.bytes_received = ti.tcpi_bytes_received;
            have = 1;
        }
        off += NLA_ALIGN(alen);
    }
    if (have)
        fn(arg, &e);
    return 0;
}

int
qs_tcpdiag_dump(qs_tcpdiag_t *d, int family, uint16_t port, qs_tcpdiag_fn fn, void *arg)
{
    if (send_request(d, family, port) != 0)
        return -1;
    for (int i = 0; i < TCPDIAG_MAX_RECVS; i++) {
        ssize_t n = recv(d->fd, d->buf, sizeof d->buf, 0);
        size_t left;
        const struct nlmsghdr *h = (const struct nlmsghdr *)(const void *)d->buf;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        left = (size_t)n;
        for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq != d->seq)
                continue;                  /* the tail of an abandoned dump */
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            /* An error ends the dump early; what it did not send is never
             * read (the next dump skips it by its sequence number). */
            if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                one_socket(h, fn, arg) != 0)
                return -1;
        }
    }
    return -1;
}
