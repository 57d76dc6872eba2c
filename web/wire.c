/* wire.c - length-prefixed JSON over a stream socket (see wire.h). */
#include "wire.h"
#include "qs_log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Returns 0, 1 on EOF before any byte, -1 on error or EOF mid-way. */
static int
read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return got == 0 ? 1 : -1;
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int
qs_wire_send(int fd, const cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    size_t len;
    uint8_t hdr[4];
    int rc;

    if (text == NULL)
        qs_fatal("out of memory rendering a worker message");
    len = strlen(text);
    if (len > QS_WIRE_MAX_BYTES) {
        free(text);
        return -1;
    }
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
    rc = (write_all(fd, hdr, 4) == 0 && write_all(fd, text, len) == 0) ? 0 : -1;
    free(text);
    return rc;
}

int
qs_wire_recv(cJSON **doc, int fd)
{
    uint8_t hdr[4];
    size_t len;
    char *text;
    int rc;

    *doc = NULL;
    rc = read_all(fd, hdr, 4);
    if (rc != 0)
        return rc;
    len = ((size_t)hdr[0] << 24) | ((size_t)hdr[1] << 16) | ((size_t)hdr[2] << 8) | hdr[3];
    if (len > QS_WIRE_MAX_BYTES)
        return -1;
    text = qs_malloc(len + 1);
    if (read_all(fd, text, len) != 0) {
        free(text);
        return -1;
    }
    text[len] = '\0';
    *doc = cJSON_ParseWithLength(text, len);
    free(text);
    return *doc != NULL ? 0 : -1;
}
