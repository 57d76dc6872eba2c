/* test_tcpdiag.c - tcpdiag.c: one dump reports every connection accepted on a
 * loopback port, by inode, with the bytes received and still queued (what
 * the guard computes pending bytes from), and nothing of other ports. */
#include "tcpdiag.h"
#include "qs_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_CONNS 5

typedef struct {
    uint64_t ino[N_CONNS];
    uint64_t received[N_CONNS];
    uint32_t rqueue[N_CONNS];
    int seen[N_CONNS];
    int others;
} found_t;

static void
on_entry(void *arg, const qs_tcpdiag_entry_t *e)
{
    found_t *f = arg;

    for (int i = 0; i < N_CONNS; i++) {
        if (f->ino[i] == e->ino) {
            f->seen[i]++;
            f->received[i] = e->bytes_received;
            f->rqueue[i] = e->rqueue;
            return;
        }
    }
    f->others++;
}

static int
listener(uint16_t *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void
test_tcpdiag_reports_each_connection(void)
{
    char err[256], data[4096];
    qs_tcpdiag_t *d = qs_tcpdiag_new(err, sizeof err);
    int lfd, other_lfd, cfd[N_CONNS], afd[N_CONNS], other_c, other_a;
    uint16_t port, other_port;
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    found_t f = { 0 };

    QS_CHECK(d != NULL);
    if (d == NULL)
        return;
    memset(data, 'x', sizeof data);
    lfd = listener(&port);
    other_lfd = listener(&other_port);
    QS_CHECK(lfd >= 0 && other_lfd >= 0);
    for (int i = 0; i < N_CONNS; i++) {
        struct stat st;
        to.sin_port = htons(port);
        cfd[i] = socket(AF_INET, SOCK_STREAM, 0);
        QS_CHECK(connect(cfd[i], (struct sockaddr *)&to, sizeof to) == 0);
        afd[i] = accept(lfd, NULL, NULL);
        QS_CHECK(afd[i] >= 0 && fstat(afd[i], &st) == 0);
        f.ino[i] = (uint64_t)st.st_ino;
        /* Connection i receives 1000 * (i + 1) bytes, none read yet. */
        QS_CHECK(send(cfd[i], data, 1000 * (size_t)(i + 1), 0) == 1000 * (i + 1));
    }
    /* Traffic on another port is not in the dump. */
    to.sin_port = htons(other_port);
    other_c = socket(AF_INET, SOCK_STREAM, 0);
    QS_CHECK(connect(other_c, (struct sockaddr *)&to, sizeof to) == 0);
    other_a = accept(other_lfd, NULL, NULL);
    QS_CHECK(send(other_c, data, 100, 0) == 100);
    usleep(50 * 1000);   /* loopback delivers at once; a margin all the same */

    QS_CHECK_EQ_INT(qs_tcpdiag_dump(d, AF_INET, port, on_entry, &f), 0);
    for (int i = 0; i < N_CONNS; i++) {
        QS_CHECK_EQ_INT(f.seen[i], 1);
        QS_CHECK_EQ_INT(f.received[i], 1000 * (i + 1));
        QS_CHECK_EQ_INT(f.rqueue[i], 1000 * (i + 1));
    }
    /* The client ends have the port as their peer's, not their own: only the
     * accepted sockets are reported. */
    QS_CHECK_EQ_INT(f.others, 0);

    /* Read half of connection 0: the queue shrinks, the count stays. */
    QS_CHECK(recv(afd[0], data, 500, 0) == 500);
    memset(&f.seen, 0, sizeof f.seen);
    QS_CHECK_EQ_INT(qs_tcpdiag_dump(d, AF_INET, port, on_entry, &f), 0);
    QS_CHECK_EQ_INT(f.seen[0], 1);
    QS_CHECK_EQ_INT(f.received[0], 1000);
    QS_CHECK_EQ_INT(f.rqueue[0], 500);

    for (int i = 0; i < N_CONNS; i++) {
        close(cfd[i]);
        close(afd[i]);
    }
    close(other_c);
    close(other_a);
    close(lfd);
    close(other_lfd);
    qs_tcpdiag_destroy(&d);
    QS_CHECK(d == NULL);
}

int
main(void)
{
    QS_RUN(test_tcpdiag_reports_each_connection);
    return qs_test_summary();
}
