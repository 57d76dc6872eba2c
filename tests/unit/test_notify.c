/* test_notify.c - qs_notify speaks systemd's datagram protocol, to a path and to an abstract name. */
#include "qs_notify.h"
#include "qs_test.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A datagram socket bound at name (abstract when it starts with '@'). */
static int
listener(const char *name)
{
    struct sockaddr_un sa;
    size_t len = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) != 0)
        return -1;
    return fd;
}

static void
expect_datagram(int fd, const char *want)
{
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);

    QS_CHECK(n == (ssize_t)strlen(want));
    if (n >= 0) {
        buf[n] = '\0';
        QS_CHECK_STR(buf, want);
    }
}

static void
test_notify_sends_ready_to_the_notify_socket(void)
{
    char path[108], name[64];
    int fd;

    unsetenv("NOTIFY_SOCKET");
    QS_CHECK_EQ_INT(qs_notify("READY=1"), 0);           /* not under systemd: nothing */

    snprintf(path, sizeof path, "/tmp/qs-test-notify-%d.sock", (int)getpid());
    unlink(path);
    fd = listener(path);
    QS_CHECK(fd >= 0);
    setenv("NOTIFY_SOCKET", path, 1);
    QS_CHECK_EQ_INT(qs_notify("READY=1"), 0);
    expect_datagram(fd, "READY=1");
    QS_CHECK_EQ_INT(qs_notify("STOPPING=1"), 0);
    expect_datagram(fd, "STOPPING=1");
    close(fd);
    unlink(path);

    snprintf(name, sizeof name, "@qs-test-notify-%d", (int)getpid());
    fd = listener(name);
    QS_CHECK(fd >= 0);
    setenv("NOTIFY_SOCKET", name, 1);
    QS_CHECK_EQ_INT(qs_notify("READY=1"), 0);
    expect_datagram(fd, "READY=1");
    close(fd);

    setenv("NOTIFY_SOCKET", "relative/path", 1);          /* not systemd's: refused */
    QS_CHECK_EQ_INT(qs_notify("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}

int
main(void)
{
    QS_RUN(test_notify_sends_ready_to_the_notify_socket);
    return qs_test_summary();
}
