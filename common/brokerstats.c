/* brokerstats.c - DIR/broker.stats, the broker's persistent counters; see qs_brokerstats.h. */
#include "qs_brokerstats.h"
#include "qs_endpoints.h"
#include "qs_limits.h"
#include "qs_clock.h"
#include "qs_fsutil.h"
#include "qs_log.h"
#include "qs_storestats.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest count a JSON number (a double) holds exactly. */
#define MAX_EXACT 9007199254740992.0   /* 2^53 */

typedef struct {
    const char *name;
    size_t offset;
} field_t;

#define FIELD(name, member) { name, offsetof(qs_brokerstats_t, member) }

static const field_t top_fields[] = {
    FIELD("forwarded", forwarded),
    FIELD("replies", replies),
    FIELD("zap_admitted", zap_admitted),
    FIELD("zap_refused", zap_refused),
};

static const field_t notice_fields[] = {
    FIELD(QS_BROKERSTATS_BAD_FRAMES, notice_bad_frames),
    FIELD(QS_BROKERSTATS_REVOKED, notice_revoked),
    FIELD(QS_BROKERSTATS_RETRY_LATER, notice_retry_later),
};

#define N_TOP     (sizeof top_fields / sizeof top_fields[0])
#define N_NOTICES (sizeof notice_fields / sizeof notice_fields[0])

static uint64_t *
field_ptr(qs_brokerstats_t *s, const field_t *f)
{
    return (uint64_t *)(void *)((char *)s + f->offset);
}

static uint64_t
field_get(const qs_brokerstats_t *s, const field_t *f)
{
    return *(const uint64_t *)(const void *)((const char *)s + f->offset);
}

int
qs_brokerstats_same(const qs_brokerstats_t *a, const qs_brokerstats_t *b)
{
    for (size_t i = 0; i < N_TOP; i++)
        if (field_get(a, &top_fields[i]) != field_get(b, &top_fields[i]))
            return 0;
    for (size_t i = 0; i < N_NOTICES; i++)
        if (field_get(a, &notice_fields[i]) != field_get(b, &notice_fields[i]))
            return 0;
    return 1;
}

void
qs_brokerstats_add(qs_brokerstats_t *a, const qs_brokerstats_t *b)
{
    for (size_t i = 0; i < N_TOP; i++)
        *field_ptr(a, &top_fields[i]) += field_get(b, &top_fields[i]);
    for (size_t i = 0; i < N_NOTICES; i++)
        *field_ptr(a, &notice_fields[i]) += field_get(b, &notice_fields[i]);
}

char *
qs_brokerstats_format(const qs_brokerstats_t *s)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *notices = cJSON_CreateObject();
    char *json, *text;
    size_t len;

    if (doc == NULL || notices == NULL)
        qs_fatal("out of memory formatting the broker stats");
    /* Key order as documented: forwarded, replies, notices, zap_*, cpu_*, updated_utc. */
    for (size_t i = 0; i < 2; i++)
        cJSON_AddNumberToObject(doc, top_fields[i].name, (double)field_get(s, &top_fields[i]));
    for (size_t i = 0; i < N_NOTICES; i++)
        cJSON_AddNumberToObject(notices, notice_fields[i].name,
                                (double)field_get(s, &notice_fields[i]));
    cJSON_AddItemToObject(doc, "notices", notices);
    for (size_t i = 2; i < N_TOP; i++)
        cJSON_AddNumberToObject(doc, top_fields[i].name, (double)field_get(s, &top_fields[i]));
    cJSON_AddNumberToObject(doc, "cpu_user_seconds", s->cpu_user_seconds);
    cJSON_AddNumberToObject(doc, "cpu_system_seconds", s->cpu_system_seconds);
    if (s->updated_utc[0] != '\0')
        cJSON_AddStringToObject(doc, "updated_utc", s->updated_utc);
    json = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (json == NULL)
        qs_fatal("out of memory formatting the broker stats");
    len = strlen(json);
    text = qs_malloc(len + 2);
    memcpy(text, json, len);
    text[len] = '\n';
    text[len + 1] = '\0';
    cJSON_free(json);
    return text;
}

/* Read the counter named f->name from obj, if present. 0, or -1 with errmsg. */
static int
read_counter(qs_brokerstats_t *out, const cJSON *obj, const field_t *f, const char *where,
             char *errmsg, size_t errmsg_len)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, f->name);
    double v;

    if (item == NULL)
        return 0;
    v = cJSON_IsNumber(item) ? item->valuedouble : -1.0;
    if (!(v >= 0.0 && v <= MAX_EXACT) || (double)(uint64_t)v != v) {
        snprintf(errmsg, errmsg_len, "%s\"%s\" is not a count", where, f->name);
        return -1;
    }
    *field_ptr(out, f) = (uint64_t)v;
    return 0;
}

/* Read the seconds named key from obj, if present. 0, or -1 with errmsg. */
static int
read_seconds(double *out, const cJSON *obj, const char *key, char *errmsg, size_t errmsg_len)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (item == NULL)
        return 0;
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0.0 && item->valuedouble < 1e15)) {
        snprintf(errmsg, errmsg_len, "\"%s\" is not a number of seconds", key);
        return -1;
    }
    *out = item->valuedouble;
    return 0;
}

int
qs_brokerstats_parse(qs_brokerstats_t *out, const char *text, char *errmsg, size_t errmsg_len)
{
    cJSON *doc;
    const cJSON *notices, *updated;
    const char *end = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    doc = cJSON_ParseWithOpts(text, &end, 1);
    if (doc == NULL || !cJSON_IsObject(doc)) {
        snprintf(errmsg, errmsg_len, "not a JSON object");
        goto done;
    }
    for (size_t i = 0; i < N_TOP; i++)
        if (read_counter(out, doc, &top_fields[i], "", errmsg, errmsg_len) != 0)
            goto done;
    if (read_seconds(&out->cpu_user_seconds, doc, "cpu_user_seconds", errmsg, errmsg_len) != 0 ||
        read_seconds(&out->cpu_system_seconds, doc, "cpu_system_seconds", errmsg,
                     errmsg_len) != 0)
        goto done;
    notices = cJSON_GetObjectItemCaseSensitive(doc, "notices");
    if (notices != NULL) {
        if (!cJSON_IsObject(notices)) {
            snprintf(errmsg, errmsg_len, "\"notices\" is not an object");
            goto done;
        }
        for (size_t i = 0; i < N_NOTICES; i++)
            if (read_counter(out, notices, &notice_fields[i], "notices: ", errmsg,
                             errmsg_len) != 0)
                goto done;
    }
    updated = cJSON_GetObjectItemCaseSensitive(doc, "updated_utc");
    if (updated != NULL) {
        int64_t ms;
        const char *t = cJSON_GetStringValue(updated);
        if (t == NULL || strlen(t) >= sizeof out->updated_utc ||
            qs_time_parse_iso8601(&ms, t) != 0) {
            snprintf(errmsg, errmsg_len, "\"updated_utc\" is not a UTC time");
            goto done;
        }
        memcpy(out->updated_utc, t, strlen(t) + 1);
    }
    rc = 0;
done:
    cJSON_Delete(doc);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

int
qs_brokerstats_load(qs_brokerstats_t *out, const char *path, char *errmsg, size_t errmsg_len)
{
    char *text = NULL, why[256];
    int rc;

    memset(out, 0, sizeof *out);
    rc = qs_fs_read_doc(&text, path, QS_BROKERSTATS_MAX_BYTES, errmsg, errmsg_len);
    if (rc != 0)
        return rc;
    if (qs_brokerstats_parse(out, text, why, sizeof why) != 0) {
        snprintf(errmsg, errmsg_len, "'%s' is malformed: %s", path, why);
        rc = -1;
    }
    free(text);
    return rc;
}

int
qs_brokerstats_load_all(qs_brokerstats_t *out, const char *broker_stats_path, char *errmsg,
                        size_t errmsg_len)
{
    char path[QS_MAX_PATH_BYTES], dir[QS_MAX_PATH_BYTES], scratch[256];
    const char *slash = strrchr(broker_stats_path, '/');
    int found = 0, bad = 0;

    memset(out, 0, sizeof *out);
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - broker_stats_path) : 1,
             slash ? broker_stats_path : ".");
    for (unsigned n = 1; n <= QS_MAX_BROKERS; n++) {
        qs_brokerstats_t one;
        int rc, len = n == 1 ? snprintf(path, sizeof path, "%s", broker_stats_path)
                             : snprintf(path, sizeof path, "%s/broker-%u.stats", dir, n);

        if (len < 0 || (size_t)len >= sizeof path)
            continue;
        rc = qs_brokerstats_load(&one, path, errmsg, errmsg_len);
        if (rc == 1)
            continue;
        if (rc < 0) {
            bad = 1;            /* keep the message of the first bad file */
            errmsg = scratch;
            errmsg_len = sizeof scratch;
            continue;
        }
        qs_brokerstats_add(out, &one);
        out->cpu_user_seconds += one.cpu_user_seconds;
        out->cpu_system_seconds += one.cpu_system_seconds;
        if (strcmp(one.updated_utc, out->updated_utc) > 0)
            memcpy(out->updated_utc, one.updated_utc, sizeof out->updated_utc);
        found = 1;
    }
    return bad ? -1 : found ? 0 : 1;
}

int
qs_brokerstats_save(qs_brokerstats_t *s, const char *path, int64_t now_ms, char *errmsg,
                    size_t errmsg_len)
{
    char *text;
    int rc;

    if (qs_time_format_iso8601(s->updated_utc, sizeof s->updated_utc, now_ms, 0) != 0)
        s->updated_utc[0] = '\0';
    qs_procstat_cpu(&s->cpu_user_seconds, &s->cpu_system_seconds);
    text = qs_brokerstats_format(s);
    rc = qs_fs_write_private(path, text, strlen(text), errmsg, errmsg_len);
    free(text);
    return rc;
}
