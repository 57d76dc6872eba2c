/* profile.c - reading and writing client profiles (see qs_profile.h).
 *
 * The file is read whole into sodium_malloc'd memory and parsed in place,
 * line by line, so the secret key never leaves guarded memory: inih would
 * copy every line into an unwiped buffer and caps lines at 200 bytes, which
 * a 255-byte client name or endpoint exceeds. The grammar is the INI subset
 * qsctl writes: blank lines, '#'/';' comment lines, [section], key = value.
 */
#include "qs_profile.h"

#include "qs_codec.h"
#include "qs_endpoints.h"
#include "qs_fsutil.h"
#include "qs_hex.h"
#include "qs_log.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define PROFILE_MAX_BYTES QS_PROFILE_MAX_BYTES

struct qs_profile {
    char name[QS_MAX_NAME_BYTES + 1];
    char endpoint[QS_MAX_ENDPOINT_BYTES];
    uint8_t broker_pk[QS_KEY_BYTES];
    uint8_t store_pk[QS_KEY_BYTES];
    qs_keypair_t *kp;
};

enum { K_NAME, K_PUBLIC, K_SECRET, K_ENDPOINT, K_BROKER, K_STORE, K_COUNT };

static const struct {
    const char *section;
    const char *key;
} profile_keys[K_COUNT] = {
    { "client", "name" },
    { "client", "public_key" },
    { "client", "secret_key" },
    { "server", "endpoint" },
    { "server", "broker_public_key" },
    { "server", "store_public_key" },
};

static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trim blanks in place; returns the new start. */
static char *
trim(char *s)
{
    size_t len;

    while (is_blank(*s))
        s++;
    len = strlen(s);
    while (len > 0 && is_blank(s[len - 1]))
        s[--len] = '\0';
    return s;
}

/* A value that reads back unchanged: one line of UTF-8 without control
 * characters or surrounding blanks (values are trimmed when read). */
static int
text_ok(const char *s, size_t max)
{
    size_t len = strlen(s);

    if (len == 0 || len > max || is_blank(s[0]) || is_blank(s[len - 1]) ||
        !qs_utf8_valid(s, len))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* The endpoint list v in its canonical text (endpoints separated by one
 * space) into out; 0, or -1 with errmsg, which names path's [server]
 * endpoint when path is not NULL. One endpoint stays as it was. */
static int
endpoint_list(char out[QS_MAX_ENDPOINT_BYTES], const char *v, const char *path, char *errmsg,
              size_t errmsg_len)
{
    qs_endpoints_t eps;
    char why[192];
    int rc;

    if (!text_ok(v, QS_MAX_ENDPOINT_BYTES - 1))
        snprintf(why, sizeof why, "the list is empty, longer than %u bytes or has control "
                 "characters", QS_MAX_ENDPOINT_BYTES - 1);
    else if (qs_endpoints_parse(&eps, v, why, sizeof why) == 0) {
        /* The canonical text is never longer than the list it came from. */
        rc = qs_endpoints_join(out, QS_MAX_ENDPOINT_BYTES, &eps);
        QS_ASSERT(rc == 0);
        return 0;
    }
    snprintf(errmsg, errmsg_len, "%s%s%sendpoint must be one or more tcp://, ipc:// or "
             "inproc:// endpoints separated by blanks: %s", path ? "'" : "", path ? path : "",
             path ? "': [server] " : "", why);
    return -1;
}

/* Parse text (NUL-terminated, modified in place) into p. */
static int
parse(qs_profile_t *p, char *text, const char *path, char *errmsg, size_t errmsg_len)
{
    const char *values[K_COUNT] = { NULL };
    const char *section = NULL;
    char *line = text;
    int lineno = 0;

    while (line != NULL && *line != '\0') {
        char *next = strchr(line, '\n');
        char *s, *eq;
        int k;

        if (next != NULL)
            *next++ = '\0';
        lineno++;
        s = trim(line);
        line = next;
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            size_t len = strlen(s);
            if (s[len - 1] != ']') {
                snprintf(errmsg, errmsg_len, "'%s' line %d: malformed section header", path,
                         lineno);
                return -1;
            }
            s[len - 1] = '\0';
            s = trim(s + 1);
            if (strcmp(s, "client") != 0 && strcmp(s, "server") != 0) {
                snprintf(errmsg, errmsg_len, "'%s' line %d: unknown section [%.32s]", path,
                         lineno, s);
                return -1;
            }
            section = strcmp(s, "client") == 0 ? "client" : "server";
            continue;
        }
        eq = strchr(s, '=');
        if (eq == NULL || section == NULL) {
            snprintf(errmsg, errmsg_len, "'%s' line %d: expected 'key = value' inside "
                     "[client] or [server]", path, lineno);
            return -1;
        }
        *eq = '\0';
        s = trim(s);
        for (k = 0; k < K_COUNT; k++)
            if (strcmp(profile_keys[k].section, section) == 0 &&
                strcmp(profile_keys[k].key, s) == 0)
                break;
        if (k == K_COUNT) {
            snprintf(errmsg, errmsg_len, "'%s' line %d: unknown key '%.32s' in [%s]", path,
                     lineno, s, section);
            return -1;
        }
        if (values[k] != NULL) {
            snprintf(errmsg, errmsg_len, "'%s' line %d: '%s' given twice", path, lineno, s);
            return -1;
        }
        values[k] = trim(eq + 1);
    }
    for (int k = 0; k < K_COUNT; k++) {
        if (values[k] == NULL) {
            snprintf(errmsg, errmsg_len, "'%s': missing '%s' in [%s]", path,
                     profile_keys[k].key, profile_keys[k].section);
            return -1;
        }
    }
    if (!text_ok(values[K_NAME], QS_MAX_NAME_BYTES)) {
        snprintf(errmsg, errmsg_len, "'%s': [client] name is empty, too long, not UTF-8 "
                 "or has control characters", path);
        return -1;
    }
    snprintf(p->name, sizeof p->name, "%s", values[K_NAME]);
    if (endpoint_list(p->endpoint, values[K_ENDPOINT], path, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_hex_decode(p->broker_pk, QS_KEY_BYTES, values[K_BROKER]) != 0 ||
        qs_hex_decode(p->store_pk, QS_KEY_BYTES, values[K_STORE]) != 0) {
        snprintf(errmsg, errmsg_len, "'%s': [server] broker_public_key and store_public_key "
                 "must be 64 hex characters", path);
        return -1;
    }
    p->kp = qs_keypair_from_hex(values[K_SECRET]);
    if (p->kp == NULL) {
        snprintf(errmsg, errmsg_len, "'%s': [client] secret_key must be 64 hex characters",
                 path);
        return -1;
    }
    {
        uint8_t pk[QS_KEY_BYTES];
        if (qs_hex_decode(pk, sizeof pk, values[K_PUBLIC]) != 0 ||
            sodium_memcmp(pk, qs_keypair_public(p->kp), QS_KEY_BYTES) != 0) {
            snprintf(errmsg, errmsg_len, "'%s': [client] public_key does not belong to "
                     "secret_key (edited profile?)", path);
            return -1;
        }
    }
    return 0;
}

qs_profile_t *
qs_profile_load(const char *path, char *errmsg, size_t errmsg_len)
{
    qs_profile_t *p;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (qs_fs_check_private(path, errmsg, errmsg_len) != 0)
        return NULL;
    if (qs_fs_read_small(&text, &len, path, PROFILE_MAX_BYTES, 1, errmsg, errmsg_len) != 0)
        return NULL;
    if (strlen(text) != len) {
        snprintf(errmsg, errmsg_len, "'%s' is not a text file", path);
        sodium_free(text);
        return NULL;
    }
    p = qs_calloc(1, sizeof *p);
    rc = parse(p, text, path, errmsg, errmsg_len);
    sodium_free(text);   /* wipes the secret key's hex text */
    if (rc != 0)
        qs_profile_destroy(&p);
    return p;
}

int
qs_profile_format(char *out, size_t out_cap, size_t *out_len, const char *name,
                  const qs_keypair_t *kp, const char *endpoint,
                  const uint8_t broker_pk[QS_KEY_BYTES], const uint8_t store_pk[QS_KEY_BYTES],
                  char *errmsg, size_t errmsg_len)
{
    char pk_hex[QS_HEX_KEY_CHARS + 1], broker_hex[QS_HEX_KEY_CHARS + 1];
    char store_hex[QS_HEX_KEY_CHARS + 1];
    char eps[QS_MAX_ENDPOINT_BYTES];
    char *sk_hex;
    int n;

    if (!text_ok(name, QS_MAX_NAME_BYTES)) {
        snprintf(errmsg, errmsg_len, "client name must be 1..%u bytes of UTF-8 on one line, "
                 "without control characters or surrounding blanks", QS_MAX_NAME_BYTES);
        return -1;
    }
    if (endpoint_list(eps, endpoint, NULL, errmsg, errmsg_len) != 0)
        return -1;
    sk_hex = sodium_malloc(QS_HEX_KEY_CHARS + 1);
    if (sk_hex == NULL)
        qs_fatal("out of locked memory formatting a profile");
    qs_hex_encode(sk_hex, QS_HEX_KEY_CHARS + 1, qs_keypair_secret(kp), QS_KEY_BYTES);
    qs_hex_encode(pk_hex, sizeof pk_hex, qs_keypair_public(kp), QS_KEY_BYTES);
    qs_hex_encode(broker_hex, sizeof broker_hex, broker_pk, QS_KEY_BYTES);
    qs_hex_encode(store_hex, sizeof store_hex, store_pk, QS_KEY_BYTES);
    n = snprintf(out, out_cap,
                 "# quietstate client profile (qsctl enroll): holds this client's secret\n"
                 "# key. Keep it mode 0600 and readable only by the endpoint agent.\n"
                 "[client]\n"
                 "name = %s\n"
                 "public_key = %s\n"
                 "secret_key = %s\n"
                 "[server]\n"
                 "endpoint = %s\n"
                 "broker_public_key = %s\n"
                 "store_public_key = %s\n",
                 name, pk_hex, sk_hex, eps, broker_hex, store_hex);
    sodium_free(sk_hex);
    if (n < 0 || (size_t)n >= out_cap) {
        sodium_memzero(out, out_cap);
        snprintf(errmsg, errmsg_len, "the profile for '%s' does not fit in %zu bytes", name,
                 out_cap);
        return -1;
    }
    *out_len = (size_t)n;
    return 0;
}

int
qs_profile_write(const char *path, const char *name, const qs_keypair_t *kp,
                 const char *endpoint, const uint8_t broker_pk[QS_KEY_BYTES],
                 const uint8_t store_pk[QS_KEY_BYTES], char *errmsg, size_t errmsg_len)
{
    char *text = sodium_malloc(PROFILE_MAX_BYTES);
    size_t len = 0;
    int rc;

    if (text == NULL)
        qs_fatal("out of locked memory writing a profile");
    rc = qs_profile_format(text, PROFILE_MAX_BYTES, &len, name, kp, endpoint, broker_pk,
                           store_pk, errmsg, errmsg_len);
    if (rc == 0)
        rc = qs_fs_write_private(path, text, len, errmsg, errmsg_len);
    sodium_free(text);
    return rc;
}

const char *
qs_profile_name(const qs_profile_t *p)
{
    return p->name;
}

const char *
qs_profile_endpoint(const qs_profile_t *p)
{
    return p->endpoint;
}

const qs_keypair_t *
qs_profile_keypair(const qs_profile_t *p)
{
    return p->kp;
}

const uint8_t *
qs_profile_broker_pk(const qs_profile_t *p)
{
    return p->broker_pk;
}

const uint8_t *
qs_profile_store_pk(const qs_profile_t *p)
{
    return p->store_pk;
}

void
qs_profile_destroy(qs_profile_t **p_p)
{
    if (p_p == NULL || *p_p == NULL)
        return;
    qs_keypair_destroy(&(*p_p)->kp);
    sodium_memzero(*p_p, sizeof **p_p);
    free(*p_p);
    *p_p = NULL;
}
