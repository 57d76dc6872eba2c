/* storestats.c - DIR/store.stats, qs-store's commit timings and usage; see qs_storestats.h. */
#include "qs_storestats.h"
#include "qs_clock.h"
#include "qs_fsutil.h"
#include "qs_log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_EXACT 9007199254740992.0   /* 2^53: the largest count a double holds exactly */

const double qs_storestats_commit_bounds[QS_STORESTATS_N_COMMIT] = { QS_STORESTATS_COMMIT_BOUNDS };
const double qs_storestats_group_bounds[QS_STORESTATS_N_GROUP] = { QS_STORESTATS_GROUP_BOUNDS };

void
qs_storestats_observe(qs_storestats_t *s, double seconds, uint64_t envelopes, int ok)
{
    size_t i = 0;

    if (!ok) {
        s->commit_failures++;
        return;
    }
    s->commits++;
    while (i < QS_STORESTATS_N_COMMIT && seconds > qs_storestats_commit_bounds[i])
        i++;
    s->commit_buckets[i]++;
    s->commit_sum_s += seconds;
    i = 0;
    while (i < QS_STORESTATS_N_GROUP && (double)envelopes > qs_storestats_group_bounds[i])
        i++;
    s->group_buckets[i]++;
    s->group_sum += envelopes;
}

void
qs_procstat_self(double *cpu_seconds, uint64_t *rss_bytes)
{
    struct rusage ru;
    unsigned long long pages_total = 0, pages_rss = 0;
    FILE *f;

    *cpu_seconds = 0.0;
    *rss_bytes = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        *cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    f = fopen("/proc/self/statm", "re");
    if (f == NULL)
        return;
    if (fscanf(f, "%llu %llu", &pages_total, &pages_rss) == 2)
        *rss_bytes = (uint64_t)pages_rss * (uint64_t)sysconf(_SC_PAGESIZE);
    fclose(f);
}

void
qs_procstat_cpu(double *user_seconds, double *system_seconds)
{
    struct rusage ru;

    *user_seconds = *system_seconds = 0.0;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return;
    *user_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *system_seconds = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static cJSON *
histogram(const uint64_t *buckets, size_t n, double sum)
{
    cJSON *h = cJSON_CreateObject(), *arr = cJSON_CreateArray();

    if (h == NULL || arr == NULL)
        qs_fatal("out of memory formatting the store stats");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)buckets[i]));
    cJSON_AddItemToObject(h, "buckets", arr);
    cJSON_AddNumberToObject(h, "sum", sum);
    return h;
}

char *
qs_storestats_format(const qs_storestats_t *s)
{
    cJSON *doc = cJSON_CreateObject();
    char *json, *text;
    size_t len;

    if (doc == NULL)
        qs_fatal("out of memory formatting the store stats");
    cJSON_AddNumberToObject(doc, "commits", (double)s->commits);
    cJSON_AddNumberToObject(doc, "commit_failures", (double)s->commit_failures);
    cJSON_AddItemToObject(doc, "commit_seconds",
                          histogram(s->commit_buckets, QS_STORESTATS_N_COMMIT + 1, s->commit_sum_s));
    cJSON_AddItemToObject(doc, "group_envelopes",
                          histogram(s->group_buckets, QS_STORESTATS_N_GROUP + 1, (double)s->group_sum));
    cJSON_AddNumberToObject(doc, "cpu_seconds", s->cpu_seconds);
    cJSON_AddNumberToObject(doc, "rss_bytes", (double)s->rss_bytes);
    cJSON_AddNumberToObject(doc, "pid", (double)s->pid);
    if (s->updated_utc[0] != '\0')
        cJSON_AddStringToObject(doc, "updated_utc", s->updated_utc);
    cJSON_AddNumberToObject(doc, "cpu_user_seconds", s->cpu_user_seconds);
    cJSON_AddNumberToObject(doc, "cpu_system_seconds", s->cpu_system_seconds);
    cJSON_AddNumberToObject(doc, "disk_reserve_low", s->disk_reserve_low ? 1 : 0);
    cJSON_AddNumberToObject(doc, "disk_free_bytes", (double)s->disk_free_bytes);
    cJSON_AddNumberToObject(doc, "resync_requested", (double)s->resync_requested);
    cJSON_AddNumberToObject(doc, "resync_applied", (double)s->resync_applied);
    json = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (json == NULL)
        qs_fatal("out of memory formatting the store stats");
    len = strlen(json);
    text = qs_malloc(len + 2);
    memcpy(text, json, len);
    memcpy(text + len, "\n", 2);
    cJSON_free(json);
    return text;
}

/* A whole count 0..2^53 (absent: 0 when optional). 0 or -1. */
static int
read_count(uint64_t *out, const cJSON *item)
{
    double v = cJSON_IsNumber(item) ? item->valuedouble : -1.0;

    if (!(v >= 0.0 && v <= MAX_EXACT) || (double)(uint64_t)v != v)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int
read_seconds(double *out, const cJSON *item)
{
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= 0.0 && item->valuedouble < 1e15))
        return -1;
    *out = item->valuedouble;
    return 0;
}

/* A histogram object of n buckets. 0 or -1. */
static int
read_histogram(uint64_t *buckets, size_t n, double *sum, const cJSON *h)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(h, "buckets");
    size_t i = 0;
    const cJSON *b;

    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n ||
        read_seconds(sum, cJSON_GetObjectItemCaseSensitive(h, "sum")) != 0)
        return -1;
    cJSON_ArrayForEach(b, arr)
        if (read_count(&buckets[i++], b) != 0)
            return -1;
    return 0;
}

static int
parse_doc(qs_storestats_t *out, const cJSON *doc, const char **what)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "updated_utc");
    double gsum = 0.0;
    uint64_t pid = 0, low = 0;
    int64_t ms;

    if ((*what = "commits", read_count(&out->commits, cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "commit_failures",
         read_count(&out->commit_failures, cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "commit_seconds",
         read_histogram(out->commit_buckets, QS_STORESTATS_N_COMMIT + 1, &out->commit_sum_s,
                        cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "group_envelopes",
         read_histogram(out->group_buckets, QS_STORESTATS_N_GROUP + 1, &gsum,
                        cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "cpu_seconds",
         read_seconds(&out->cpu_seconds, cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "rss_bytes", read_count(&out->rss_bytes, cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "pid", read_count(&pid, cJSON_GetObjectItemCaseSensitive(doc, *what))))
        return -1;
    /* Optional (written by newer stores only): absent reads as 0. */
    if ((*what = "cpu_user_seconds", cJSON_GetObjectItemCaseSensitive(doc, *what) != NULL &&
         read_seconds(&out->cpu_user_seconds, cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "cpu_system_seconds", cJSON_GetObjectItemCaseSensitive(doc, *what) != NULL &&
         read_seconds(&out->cpu_system_seconds, cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "disk_reserve_low", cJSON_GetObjectItemCaseSensitive(doc, *what) != NULL &&
         (read_count(&low, cJSON_GetObjectItemCaseSensitive(doc, *what)) || low > 1)) ||
        (*what = "disk_free_bytes", cJSON_GetObjectItemCaseSensitive(doc, *what) != NULL &&
         read_count(&out->disk_free_bytes, cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "resync_requested", cJSON_GetObjectItemCaseSensitive(doc, *what) != NULL &&
         read_count(&out->resync_requested, cJSON_GetObjectItemCaseSensitive(doc, *what))) ||
        (*what = "resync_applied", cJSON_GetObjectItemCaseSensitive(doc, *what) != NULL &&
         read_count(&out->resync_applied, cJSON_GetObjectItemCaseSensitive(doc, *what))))
        return -1;
    out->disk_reserve_low = (int)low;
    out->group_sum = (uint64_t)gsum;
    out->pid = (int64_t)pid;
    *what = "updated_utc";
    if (t != NULL) {
        const char *v = cJSON_GetStringValue(t);
        if (v == NULL || strlen(v) >= sizeof out->updated_utc || qs_time_parse_iso8601(&ms, v) != 0)
            return -1;
        memcpy(out->updated_utc, v, strlen(v) + 1);
    }
    return 0;
}

int
qs_storestats_parse(qs_storestats_t *out, const char *text, char *errmsg, size_t errmsg_len)
{
    const char *what = "the document";
    cJSON *doc;
    int rc = -1;

    memset(out, 0, sizeof *out);
    doc = cJSON_ParseWithOpts(text, NULL, 1);
    if (cJSON_IsObject(doc) && parse_doc(out, doc, &what) == 0)
        rc = 0;
    else
        snprintf(errmsg, errmsg_len, "%s%s is missing or malformed", doc ? "\"" : "",
                 doc ? what : "not JSON: the document");
    cJSON_Delete(doc);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

int
qs_storestats_load(qs_storestats_t *out, const char *path, char *errmsg, size_t errmsg_len)
{
    char *text = NULL, why[256];
    int rc;

    memset(out, 0, sizeof *out);
    rc = qs_fs_read_doc(&text, path, QS_STORESTATS_MAX_BYTES, errmsg, errmsg_len);
    if (rc != 0)
        return rc;
    if (qs_storestats_parse(out, text, why, sizeof why) != 0) {
        snprintf(errmsg, errmsg_len, "'%s' is malformed: %s", path, why);
        rc = -1;
    }
    free(text);
    return rc;
}

int
qs_storestats_save(qs_storestats_t *s, const char *path, int64_t now_ms, char *errmsg,
                   size_t errmsg_len)
{
    char *text;
    int rc;

    if (qs_time_format_iso8601(s->updated_utc, sizeof s->updated_utc, now_ms, 0) != 0)
        s->updated_utc[0] = '\0';
    qs_procstat_self(&s->cpu_seconds, &s->rss_bytes);
    qs_procstat_cpu(&s->cpu_user_seconds, &s->cpu_system_seconds);
    s->pid = (int64_t)getpid();
    text = qs_storestats_format(s);
    rc = qs_fs_write_private(path, text, strlen(text), errmsg, errmsg_len);
    free(text);
    return rc;
}
