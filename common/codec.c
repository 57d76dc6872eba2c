/* codec.c - Batch decoding and StateMessage validation (the topic table). */
#include "qs_codec.h"
#include "qs_limits.h"

#include <stdio.h>
#include <string.h>

struct topic_def {
    uint32_t topic_type;
    uint32_t min_state, max_state;
    const char *const *names;    /* indexed by state_id - min_state */
};

static const char *const names_300[] = { "compliant", "non-compliant" };
/* The model system's own descriptions (4, 5, 6 and 10 keep the shorter
 * names quietstate printed before these were all named: scripts match them). */
static const char *const names_301[] = {
    "installing", "waiting for restart", "waiting for another installation", "installed",
    "pending restart", "failed", "downloading", "downloaded", "failed to download",
    "waiting for maintenance window", "waiting for orchestration",
    "waiting for superseding update" };
static const char *const names_302[] = { "activated", "succeeded", "failed" };
static const char *const names_400[] = { "not required", "not detected", "detected" };
static const char *const names_401[] = {
    "compliant", "non-compliant", "conflict detected", "error", "not applicable",
    "not detected", "enforced" };
static const char *const names_402[] = {
    "enforcement started", "waiting for content", "waiting for another installation",
    "waiting for maintenance window", "restart required before installing",
    "general failure", "pending installation", "installing", "pending system restart",
    "installed", "failed", "downloading", "downloaded", "failed to download" };
static const char *const names_500[] = { "unknown", "not required", "required", "installed" };
static const char *const names_501[] = {
    "unknown", "waiting", "running", "complete", "pending retry", "failed",
    "completed with errors" };
static const char *const names_700[] = { "resync" };

static const struct topic_def topics[] = {
    { 300, 1, 2, names_300 },  { 301, 1, 12, names_301 }, { 302, 1, 3, names_302 },
    { 400, 1, 3, names_400 },  { 401, 1, 7, names_401 },  { 402, 1, 14, names_402 },
    { 500, 0, 3, names_500 },  { 501, 0, 6, names_501 },  { 700, 0, 0, names_700 },
};

static const struct topic_def *
topic_find(uint32_t topic_type)
{
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (topics[i].topic_type == topic_type)
            return &topics[i];
    return NULL;
}

int
qs_topic_check(uint32_t topic_type, uint32_t state_id)
{
    const struct topic_def *t = topic_find(topic_type);
    if (t == NULL)
        return -1;
    if (state_id < t->min_state || state_id > t->max_state)
        return -2;
    return 0;
}

size_t
qs_topic_types(uint32_t *out, size_t cap)
{
    size_t n = sizeof topics / sizeof topics[0];

    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = topics[i].topic_type;
    return n;
}

const char *
qs_state_name(uint32_t topic_type, uint32_t state_id, char *buf, size_t buf_len)
{
    const struct topic_def *t = topic_find(topic_type);
    if (t != NULL && state_id >= t->min_state && state_id <= t->max_state)
        return t->names[state_id - t->min_state];
    snprintf(buf, buf_len, "state %u", state_id);
    return buf;
}

/* One character of a state name for comparison: ASCII lower case, and
 * '-', '_' and ' ' alike ("pending-restart" = "Pending restart"). */
static int
name_char(char c)
{
    if (c == '-' || c == '_')
        return ' ';
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : (unsigned char)c;
}

static int
name_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (name_char(*a) != name_char(*b))
            return 0;
    return *a == *b;
}

int
qs_state_parse(uint32_t topic_type, const char *text, uint32_t *state_id)
{
    const struct topic_def *t = topic_find(topic_type);
    uint64_t v = 0;
    const char *p = text;

    if (t == NULL)
        return -1;
    /* A number in range is its own name. */
    for (; *p >= '0' && *p <= '9' && v <= UINT32_MAX; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (p != text && *p == '\0' && v >= t->min_state && v <= t->max_state) {
        *state_id = (uint32_t)v;
        return 0;
    }
    for (uint32_t s = t->min_state; s <= t->max_state; s++)
        if (name_equal(text, t->names[s - t->min_state])) {
            *state_id = s;
            return 0;
        }
    return -2;
}

int
qs_state_names(uint32_t topic_type, char *buf, size_t buf_len)
{
    const struct topic_def *t = topic_find(topic_type);
    size_t used = 0;

    if (buf_len > 0)
        buf[0] = '\0';
    if (t == NULL)
        return -1;
    for (uint32_t s = t->min_state; s <= t->max_state && used < buf_len; s++) {
        int w = snprintf(buf + used, buf_len - used, "%s%u %s", s > t->min_state ? ", " : "",
                         s, t->names[s - t->min_state]);
        if (w < 0)
            return -1;
        used += (size_t)w;
    }
    return used < buf_len ? 0 : -1;
}

int
qs_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1; cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2; cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3; cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return 0;
        i += n + 1;
    }
    return 1;
}

static int
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* 1 if s[0..36) is a GUID's 8-4-4-4-12 hex digits. */
static int
guid_at(const char *s)
{
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return 0;
    }
    return 1;
}

int
qs_topic_id_normalize(char *id)
{
    size_t len = strlen(id), i;
    int changed = 0;

    /* A KB number: "KB" and digits, "kb5031356" -> "KB5031356". */
    if (len > 2 && (id[0] == 'k' || id[0] == 'K') && (id[1] == 'b' || id[1] == 'B')) {
        for (i = 2; i < len && id[i] >= '0' && id[i] <= '9'; i++)
            ;
        if (i == len) {
            changed = id[0] != 'K' || id[1] != 'B';
            id[0] = 'K';
            id[1] = 'B';
            return changed;
        }
    }
    /* A GUID, bare or in braces: its hex digits in lower case (RFC 9562's
     * output form); the braces stay as given. */
    if ((len == 36 && guid_at(id)) || (len == 38 && id[0] == '{' && id[37] == '}' &&
                                       guid_at(id + 1))) {
        for (i = 0; i < len; i++)
            if (id[i] >= 'A' && id[i] <= 'F') {
                id[i] = (char)(id[i] - 'A' + 'a');
                changed = 1;
            }
    }
    return changed;
}

/* 1 if m carries an unknown field numbered 0: invalid protobuf that
 * protobuf-c accepts when the tag is an overlong varint (85 00), and then
 * packs as a one-byte tag that it refuses. */
static int
has_field_zero(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return 1;
    return 0;
}

int
qs_batch_decode(Quietstate__Batch **out, const uint8_t *buf, size_t len,
                ProtobufCAllocator *allocator,
                Quietstate__Status *status, Quietstate__Code *code)
{
    Quietstate__Batch *b;
    int field_zero = 0;

    *out = NULL;
    if (len > QS_MAX_BATCH_BYTES) {
        *status = QUIETSTATE__STATUS__TOO_LARGE;
        *code = QUIETSTATE__CODE__FRAME_TOO_LARGE;
        return -1;
    }
    b = quietstate__batch__unpack(allocator, len, buf);
    if (b == NULL) {
        *status = QUIETSTATE__STATUS__BAD_MESSAGE;
        *code = QUIETSTATE__CODE__BATCH_NOT_PROTOBUF;
        return -1;
    }
    for (size_t i = 0; i < b->n_messages; i++)
        field_zero |= has_field_zero(&b->messages[i]->base);
    if (field_zero || has_field_zero(&b->base)) {
        *status = QUIETSTATE__STATUS__BAD_MESSAGE;
        *code = QUIETSTATE__CODE__BATCH_NOT_PROTOBUF;
    } else if (b->n_messages == 0) {
        *status = QUIETSTATE__STATUS__BAD_MESSAGE;
        *code = QUIETSTATE__CODE__EMPTY_BATCH;
    } else if (b->n_messages > QS_MAX_BATCH_MESSAGES) {
        *status = QUIETSTATE__STATUS__TOO_LARGE;
        *code = QUIETSTATE__CODE__TOO_MANY_MESSAGES;
    } else {
        /* One spelling per update before anything compares or stores ids
         * (dedup, latest and the counts key on topic_id, on both engines). */
        for (size_t i = 0; i < b->n_messages; i++)
            if (b->messages[i]->topic_id != NULL)
                (void)qs_topic_id_normalize(b->messages[i]->topic_id);
        *out = b;
        return 0;
    }
    quietstate__batch__free_unpacked(b, allocator);
    return -1;
}

static int
string_ok(const char *s, size_t max)
{
    size_t len = strlen(s);   /* protobuf-c strings are NUL-terminated */
    return len <= max && qs_utf8_valid(s, len);
}

int
qs_text_printable(const char *s, size_t max)
{
    size_t len = strlen(s);

    if (len == 0 || len > max || !qs_utf8_valid(s, len))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return 0;
        /* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F. */
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return 0;
    }
    return 1;
}

#define REJECT(st, cd, text) \
    do { *status = QUIETSTATE__STATUS__##st; *code = QUIETSTATE__CODE__##cd; \
         *why = (text); return -1; } while (0)

int
qs_message_validate(const Quietstate__StateMessage *m, int64_t now_ms, int64_t skew_ms,
                    Quietstate__Status *status, Quietstate__Code *code, const char **why)
{
    int tc;
    size_t topic_len;

    if (m->serial == 0)
        REJECT(BAD_MESSAGE, SERIAL_ZERO, "serial must start at 1");
    if (m->serial > (uint64_t)INT64_MAX)
        REJECT(BAD_MESSAGE, SERIAL_TOO_LARGE, "serial is above 2^63-1");
    if (m->time_utc_ms > now_ms + skew_ms)
        REJECT(CLOCK_SKEW, TIME_IN_FUTURE, "time_utc_ms is in the future beyond the skew limit");
    if (m->time_utc_ms < QS_MIN_TIME_UTC_MS)
        REJECT(CLOCK_SKEW, TIME_TOO_OLD, "time_utc_ms is before 2000-01-01T00:00:00Z");
    tc = qs_topic_check(m->topic_type, m->state_id);
    if (tc == -1)
        REJECT(BAD_MESSAGE, UNKNOWN_TOPIC_TYPE, "topic_type is not in the topic table");
    if (tc == -2)
        REJECT(BAD_MESSAGE, STATE_OUT_OF_RANGE, "state_id is out of range for its topic_type");
    topic_len = strlen(m->topic_id);
    if (topic_len == 0 || topic_len > QS_MAX_TOPIC_ID_BYTES ||
        !qs_utf8_valid(m->topic_id, topic_len))
        REJECT(BAD_MESSAGE, BAD_TOPIC_ID, "topic_id is empty, too long or not UTF-8");
    if (strlen(m->details) > QS_MAX_DETAILS_BYTES)
        REJECT(TOO_LARGE, DETAILS_TOO_LARGE, "details exceed the size limit");
    if (!qs_utf8_valid(m->details, strlen(m->details)))
        REJECT(BAD_MESSAGE, BAD_STRING, "details are not UTF-8");
    if (!string_ok(m->machine_name, QS_MAX_NAME_BYTES) ||
        !string_ok(m->domain, QS_MAX_NAME_BYTES) ||
        !string_ok(m->user_name, QS_MAX_NAME_BYTES))
        REJECT(BAD_MESSAGE, BAD_STRING, "machine_name, domain or user_name too long or not UTF-8");
    return 0;
}

const char *
qs_status_name(Quietstate__Status status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&quietstate__status__descriptor, (int)status);
    return v != NULL ? v->name : "STATUS_INVALID";
}

const char *
qs_code_name(Quietstate__Code code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&quietstate__code__descriptor, (int)code);
    return v != NULL ? v->name : "CODE_INVALID";
}

int
qs_status_is_transient(Quietstate__Status status)
{
    return status == QUIETSTATE__STATUS__NOT_CONFIGURED ||
           status == QUIETSTATE__STATUS__RETRY_LATER ||
           status == QUIETSTATE__STATUS__STATUS_UNSPECIFIED;
}
