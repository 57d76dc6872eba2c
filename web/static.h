/* static.h - the dashboard's files (a fixed list, read once at start) and the headers of every answer.
 *
 * The front serves only the names of a fixed list (index.html, app.js,
 * style.css, favicon.svg; "/" is index.html): a request path is compared with
 * the list, never joined to a directory, so no path can reach another file.
 * Each file is opened with openat(O_NOFOLLOW) in the static directory (a
 * symlink in it is refused) and must be a regular file of at most
 * QS_WEB_STATIC_MAX_BYTES; it is read at start and kept in memory with its
 * Content-Type and a strong ETag (a hash of its bytes), so serving it touches
 * no disk and the browser can cache it (If-None-Match: 304).
 */
#ifndef QS_WEB_STATIC_H
#define QS_WEB_STATIC_H

#include <stddef.h>

struct MHD_Response;

#define QS_WEB_STATIC_MAX_BYTES (1u << 20)

typedef struct qs_web_static qs_web_static_t;

typedef struct {
    const char *name;          /* "app.js" */
    const char *content_type;  /* "text/javascript; charset=utf-8" */
    const char *data;
    size_t len;
    char etag[40];             /* "\"…\"" */
} qs_web_static_file_t;

/* Read the fixed list from dir. A missing file is left out (logged); a
 * symlink, a non-regular or oversized file is an error. NULL with errmsg. */
qs_web_static_t *qs_web_static_load(const char *dir, char *errmsg, size_t errmsg_len);

/* The file served at url ("/", "/app.js", …), or NULL. */
const qs_web_static_file_t *qs_web_static_find(const qs_web_static_t *s, const char *url);

void qs_web_static_destroy(qs_web_static_t **s_p);

/* The headers every answer carries: a strict Content-Security-Policy, no
 * sniffing, no framing, no referrer, same-origin isolation; HSTS when tls. */
void qs_web_security_headers(struct MHD_Response *resp, int tls);

#endif
