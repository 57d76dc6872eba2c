/* static.c - the dashboard's files and the security headers (see static.h). */
#include "static.h"
#include "qs_hex.h"
#include "qs_log.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    const char *type;
} wanted[] = {
    { "index.html", "text/html; charset=utf-8" },
    { "app.js", "text/javascript; charset=utf-8" },
    { "style.css", "text/css; charset=utf-8" },
    { "favicon.svg", "image/svg+xml" },
};
#define N_FILES (sizeof wanted / sizeof wanted[0])

struct qs_web_static {
    qs_web_static_file_t files[N_FILES];
    int present[N_FILES];
};

/* Read name from the open directory dfd. 1 read, 0 missing, -1 refused. */
static int
read_one(qs_web_static_file_t *out, int dfd, const char *name, char *errmsg, size_t errmsg_len)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    char *buf;
    size_t got = 0;
    uint8_t hash[16];

    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > QS_WEB_STATIC_MAX_BYTES) {
        snprintf(errmsg, errmsg_len, "dashboard file '%s' is not a regular file of at most %u "
                 "bytes (symlinks are refused): %s", name, QS_WEB_STATIC_MAX_BYTES,
                 fd < 0 ? strerror(errno) : "wrong type or size");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    buf = qs_malloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            snprintf(errmsg, errmsg_len, "cannot read dashboard file '%s'", name);
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    crypto_generichash(hash, sizeof hash, (const uint8_t *)buf, got, NULL, 0);
    out->etag[0] = '"';
    qs_hex_encode(out->etag + 1, sizeof out->etag - 2, hash, sizeof hash);
    strcat(out->etag, "\"");
    out->data = buf;
    out->len = got;
    return 1;
}

qs_web_static_t *
qs_web_static_load(const char *dir, char *errmsg, size_t errmsg_len)
{
    qs_web_static_t *s = qs_calloc(1, sizeof *s);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0) {
        log_warn("no dashboard: cannot open static_dir '%s': %s (the API still works)", dir,
                 strerror(errno));
        return s;
    }
    for (size_t i = 0; i < N_FILES; i++) {
        int rc = read_one(&s->files[i], dfd, wanted[i].name, errmsg, errmsg_len);
        if (rc < 0) {
            close(dfd);
            qs_web_static_destroy(&s);
            return NULL;
        }
        if (rc == 0)
            log_warn("dashboard file '%s/%s' is missing", dir, wanted[i].name);
        s->files[i].name = wanted[i].name;
        s->files[i].content_type = wanted[i].type;
        s->present[i] = rc;
    }
    close(dfd);
    return s;
}

const qs_web_static_file_t *
qs_web_static_find(const qs_web_static_t *s, const char *url)
{
    if (s == NULL || url[0] != '/')
        return NULL;
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    for (size_t i = 0; i < N_FILES; i++)
        if (s->present[i] && strcmp(url + 1, wanted[i].name) == 0)
            return &s->files[i];
    return NULL;
}

void
qs_web_static_destroy(qs_web_static_t **s_p)
{
    if (s_p == NULL || *s_p == NULL)
        return;
    for (size_t i = 0; i < N_FILES; i++)
        free((void *)(*s_p)->files[i].data);
    free(*s_p);
    *s_p = NULL;
}

void
qs_web_security_headers(struct MHD_Response *resp, int tls)
{
    /* The dashboard is one origin: its own scripts, styles and API only; no
     * inline script or style, no frames, no forms posted elsewhere. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "connect-src 'self'; img-src 'self' data:; font-src 'self'; "
                            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(resp, "Permissions-Policy",
                            "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
    if (tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}
