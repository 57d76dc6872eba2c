/* scan.c - from the package system to recorded update-detection state
 * (see scan.h for the mapping).
 *
 * The wanted state (every "deb:" topic and its state, from debsys) and the
 * outbox's current state (the "deb:" topics of type 500) are two lists
 * sorted by topic id; one merge walk finds what differs, and the
 * differences are appended in one transaction. So the current state is the
 * scan's memory: nothing else is kept between scans, and a resync re-sends
 * exactly what the last scan left.
 */
#include "scan.h"

#include "debsys.h"

#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_hex.h"
#include "qs_log.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_NOT_REQUIRED 1u
#define STATE_REQUIRED 2u
#define STATE_INSTALLED 3u
#define DETAILS_SECURITY "security"

typedef struct {
    char *topic_id;
    uint32_t state_id;
    int security;
} topic_t;

typedef struct {
    topic_t *v;
    size_t n, cap;
} topics_t;

static void
topics_add(topics_t *t, const char *id, uint32_t state_id, int security)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->v = qs_realloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n++] = (topic_t){ qs_strdup(id), state_id, security };
}

static void
topics_free(topics_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].topic_id);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static int
topic_cmp(const void *a, const void *b)
{
    return strcmp(((const topic_t *)a)->topic_id, ((const topic_t *)b)->topic_id);
}

void
qs_scan_topic_id(char out[QS_MAX_TOPIC_ID_BYTES + 1], const char *package, const char *version)
{
    int n = snprintf(out, QS_MAX_TOPIC_ID_BYTES + 1, QS_SCAN_TOPIC_PREFIX "%s:%s", package,
                     version);

    if (n < 0 || n > (int)QS_MAX_TOPIC_ID_BYTES) {
        /* Stable and still free of anything about the machine: a hash of
         * what would not fit ('#' is in no package name). */
        unsigned char h[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_state st;
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const unsigned char *)package, strlen(package));
        crypto_hash_sha256_update(&st, (const unsigned char *)":", 1);
        crypto_hash_sha256_update(&st, (const unsigned char *)version, strlen(version));
        crypto_hash_sha256_final(&st, h);
        memcpy(out, QS_SCAN_TOPIC_PREFIX "#", 5);
        sodium_bin2hex(out + 5, QS_MAX_TOPIC_ID_BYTES + 1 - 5, h, sizeof h);
    }
}

/* The wanted state of every "deb:" topic, sorted, one entry per topic id
 * (several architectures of one version: required wins over installed, as
 * the version is not installed everywhere it should be). */
static void
wanted_topics(const qs_debsys_t *s, topics_t *t, qs_scan_result_t *r)
{
    char id[QS_MAX_TOPIC_ID_BYTES + 1];
    size_t w = 0;

    for (size_t i = 0; i < s->n; i++) {
        const qs_debpkg_t *p = &s->pkgs[i];
        r->installed++;
        qs_scan_topic_id(id, p->name, p->version);
        topics_add(t, id, STATE_INSTALLED, 0);
        if (p->cand == NULL)
            continue;
        r->pending++;
        if (p->cand_security)
            r->security++;
        qs_scan_topic_id(id, p->name, p->cand);
        topics_add(t, id, STATE_REQUIRED, p->cand_security);
    }
    if (t->n > 0)
        qsort(t->v, t->n, sizeof *t->v, topic_cmp);
    for (size_t i = 0; i < t->n; i++) {
        if (w > 0 && strcmp(t->v[w - 1].topic_id, t->v[i].topic_id) == 0) {
            topic_t *k = &t->v[w - 1];
            if (t->v[i].state_id == STATE_REQUIRED) {
                k->security |= t->v[i].security;
                k->state_id = STATE_REQUIRED;
            }
            free(t->v[i].topic_id);
            continue;
        }
        t->v[w++] = t->v[i];
    }
    t->n = w;
}

static int
collect_current(void *ctx, const Quietstate__StateMessage *m)
{
    topics_t *t = ctx;

    if (m->topic_id != NULL && strncmp(m->topic_id, QS_SCAN_TOPIC_PREFIX,
                                       strlen(QS_SCAN_TOPIC_PREFIX)) == 0)
        topics_add(t, m->topic_id, m->state_id,
                   m->details != NULL && strcmp(m->details, DETAILS_SECURITY) == 0);
    return 0;
}

static void
change_add(qs_scan_result_t *r, size_t *cap, const char *id, uint32_t state_id, int security)
{
    qs_scan_change_t *c;

    if (r->n_changes == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        r->changes = qs_realloc(r->changes, *cap * sizeof *r->changes);
    }
    c = &r->changes[r->n_changes++];
    snprintf(c->topic_id, sizeof c->topic_id, "%s", id);
    c->state_id = state_id;
    c->security = security;
}

/* Merge walk of wanted and current (both sorted) into r->changes. */
static void
diff_topics(const topics_t *want, const topics_t *cur, qs_scan_result_t *r)
{
    size_t i = 0, j = 0, cap = 0;

    while (i < want->n || j < cur->n) {
        int c = i >= want->n ? 1 : j >= cur->n ? -1
                                 : strcmp(want->v[i].topic_id, cur->v[j].topic_id);
        if (c < 0) {
            change_add(r, &cap, want->v[i].topic_id, want->v[i].state_id, want->v[i].security);
            i++;
        } else if (c > 0) {
            /* Held as required or installed, now neither: upgraded past,
             * superseded by a newer candidate, or removed. */
            if (cur->v[j].state_id == STATE_REQUIRED || cur->v[j].state_id == STATE_INSTALLED)
                change_add(r, &cap, cur->v[j].topic_id, STATE_NOT_REQUIRED, 0);
            j++;
        } else {
            if (want->v[i].state_id != cur->v[j].state_id ||
                want->v[i].security != cur->v[j].security)
                change_add(r, &cap, want->v[i].topic_id, want->v[i].state_id,
                           want->v[i].security);
            i++;
            j++;
        }
    }
}

static int
record_changes(qs_outbox_t *ob, const qs_scan_opts_t *o, qs_scan_result_t *r, char *errmsg,
               size_t errmsg_len)
{
    Quietstate__StateMessage *msgs = qs_calloc(r->n_changes ? r->n_changes : 1, sizeof *msgs);
    Quietstate__StateMessage **ptrs = qs_calloc(r->n_changes ? r->n_changes : 1, sizeof *ptrs);
    int rc;

    for (size_t i = 0; i < r->n_changes; i++) {
        Quietstate__StateMessage *m = &msgs[i];
        quietstate__state_message__init(m);
        m->time_utc_ms = o->now_ms;
        m->topic_type = QS_SCAN_TOPIC_TYPE;
        m->topic_id = r->changes[i].topic_id;
        m->state_id = r->changes[i].state_id;
        m->details = r->changes[i].security ? DETAILS_SECURITY : "";
        m->machine_name = (char *)(o->machine ? o->machine : "");
        m->domain = (char *)(o->domain ? o->domain : "");
        m->user_name = "";
        ptrs[i] = m;
    }
    rc = qs_outbox_append_many(ob, ptrs, r->n_changes, &r->first_serial, errmsg, errmsg_len);
    free(ptrs);
    free(msgs);
    return rc;
}

int
qs_scan_run(qs_outbox_t *ob, const qs_scan_opts_t *o, qs_scan_result_t *r, char *errmsg,
            size_t errmsg_len)
{
    qs_debsys_t sys;
    topics_t want = { 0 }, cur = { 0 };
    int rc = -1;

    memset(r, 0, sizeof *r);
    if (qs_debsys_read(&sys, o->root ? o->root : "/", o->progress, errmsg, errmsg_len) != 0)
        return -1;
    r->lists = sys.lists;
    r->lists_skipped = sys.lists_skipped;
    r->malformed = sys.malformed;
    snprintf(r->first_error, sizeof r->first_error, "%s", sys.first_error);
    wanted_topics(&sys, &want, r);
    qs_debsys_free(&sys);
    if (qs_outbox_current_each(ob, QS_SCAN_TOPIC_TYPE, collect_current, &cur) != 0) {
        snprintf(errmsg, errmsg_len, "cannot read the outbox's current state");
        goto out;
    }
    if (cur.n > 0)
        qsort(cur.v, cur.n, sizeof *cur.v, topic_cmp);
    diff_topics(&want, &cur, r);
    if (o->dry_run || r->n_changes == 0 ||
        record_changes(ob, o, r, errmsg, errmsg_len) == 0)
        rc = 0;
out:
    topics_free(&want);
    topics_free(&cur);
    if (rc != 0)
        qs_scan_result_free(r);
    return rc;
}

void
qs_scan_result_free(qs_scan_result_t *r)
{
    free(r->changes);
    r->changes = NULL;
    r->n_changes = 0;
}

int
qs_scan_parse_duration(const char *text, int64_t *ms)
{
    char *end = NULL;
    long long v;
    int64_t unit = 1000;

    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || v <= 0 || v > 30LL * 86400)
        return -1;
    if (*end != '\0') {
        if (end[1] != '\0')
            return -1;
        switch (*end) {
        case 's': unit = 1000; break;
        case 'm': unit = 60000; break;
        case 'h': unit = 3600000; break;
        case 'd': unit = 86400000; break;
        default: return -1;
        }
    }
    *ms = (int64_t)v * unit;
    return *ms <= 30LL * 86400000 ? 0 : -1;
}

#define EXPIRE_EVERY_MS 3600000LL

struct qs_scan_every {
    int64_t interval_ms, next_scan, next_expiry;
    int warned_compressed;   /* say it once per run, not every interval */
    uint64_t warned_malformed;   /* the count last warned about */
    char host[QS_MAX_NAME_BYTES + 1];
    qs_clock_t clock;
};

qs_scan_every_t *
qs_scan_every_new(int64_t interval_ms)
{
    qs_scan_every_t *se = qs_calloc(1, sizeof *se);

    se->interval_ms = interval_ms;
    if (gethostname(se->host, sizeof se->host) != 0)
        se->host[0] = '\0';
    se->host[sizeof se->host - 1] = '\0';
    if (qs_clock_init(&se->clock) != 0)
        log_warn("ignoring QS_CLOCK_OFFSET_S: not an integer number of seconds");
    return se;
}

void
qs_scan_every_tick(qs_scan_every_t *se, qs_outbox_t *ob, int64_t mono_ms)
{
    if (se->next_expiry == 0 || mono_ms >= se->next_expiry) {
        se->next_expiry = mono_ms + EXPIRE_EVERY_MS;
        if (qs_outbox_expire_rejected(ob, qs_clock_now_ms(&se->clock),
                                      QS_OUTBOX_REJECTED_KEEP_DAYS, NULL, NULL) != 0)
            log_warn("outbox: cannot expire old rejected messages");
    }
    if (se->interval_ms > 0 && (se->next_scan == 0 || mono_ms >= se->next_scan)) {
        qs_scan_opts_t o = { getenv("QS_SCAN_ROOT"), se->host, "", 0, 0, 0 };
        qs_scan_result_t r;
        char err[512];

        se->next_scan = mono_ms + se->interval_ms;
        o.now_ms = qs_clock_now_ms(&se->clock);
        if (qs_scan_run(ob, &o, &r, err, sizeof err) != 0) {
            log_error("scan: %s", err);
            return;
        }
        if (r.n_changes > 0)
            log_info("scan: recorded %zu changes from serial %llu (%llu installed, %llu "
                     "pending, %llu security)", r.n_changes,
                     (unsigned long long)r.first_serial, (unsigned long long)r.installed,
                     (unsigned long long)r.pending, (unsigned long long)r.security);
        if (r.lists_skipped > 0 && !se->warned_compressed) {
            se->warned_compressed = 1;
            log_warn("scan: %llu compressed package lists not read (apt keeps them "
                     "uncompressed with Acquire::GzipIndexes \"false\")",
                     (unsigned long long)r.lists_skipped);
        }
        if (r.malformed > 0 && r.malformed != se->warned_malformed)
            log_warn("scan: %llu malformed entries skipped, first: %s",
                     (unsigned long long)r.malformed, r.first_error);
        se->warned_malformed = r.malformed;
        qs_scan_result_free(&r);
    }
}

void
qs_scan_every_destroy(qs_scan_every_t **se_p)
{
    if (se_p == NULL || *se_p == NULL)
        return;
    free(*se_p);
    *se_p = NULL;
}
