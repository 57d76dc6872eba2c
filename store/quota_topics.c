/* quota_topics.c - the topic limit's rule and its SQLite side (quota_topics.h). */
#include "quota_topics.h"

#include "qs_log.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ topicset */

struct tkey {
    uint32_t topic_type;
    char *topic_id;              /* NULL: empty slot */
};

struct qs_topicset {
    struct tkey *tab;
    size_t cap, n;               /* cap: a power of two */
};

static uint64_t
key_hash(uint32_t topic_type, const char *topic_id)
{
    uint64_t h = 1469598103934665603ull ^ topic_type;

    for (const unsigned char *p = (const unsigned char *)topic_id; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

qs_topicset_t *
qs_topicset_new(void)
{
    qs_topicset_t *s = qs_calloc(1, sizeof *s);

    s->cap = 64;
    s->tab = qs_calloc(s->cap, sizeof *s->tab);
    return s;
}

void
qs_topicset_clear(qs_topicset_t *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        free(s->tab[i].topic_id);
        s->tab[i].topic_id = NULL;
    }
    s->n = 0;
}

void
qs_topicset_destroy(qs_topicset_t **s_p)
{
    if (s_p == NULL || *s_p == NULL)
        return;
    qs_topicset_clear(*s_p);
    free((*s_p)->tab);
    free(*s_p);
    *s_p = NULL;
}

static struct tkey *
slot(const qs_topicset_t *s, uint32_t topic_type, const char *topic_id)
{
    size_t i = (size_t)key_hash(topic_type, topic_id) & (s->cap - 1);

    while (s->tab[i].topic_id != NULL &&
           (s->tab[i].topic_type != topic_type || strcmp(s->tab[i].topic_id, topic_id) != 0))
        i = (i + 1) & (s->cap - 1);
    return &s->tab[i];
}

int
qs_topicset_has(const qs_topicset_t *s, uint32_t topic_type, const char *topic_id)
{
    return slot(s, topic_type, topic_id)->topic_id != NULL;
}

void
qs_topicset_add(qs_topicset_t *s, uint32_t topic_type, const char *topic_id)
{
    struct tkey *k;

    if ((s->n + 1) * 2 > s->cap) {
        struct tkey *old = s->tab;
        size_t old_cap = s->cap;
        s->cap *= 2;
        s->tab = qs_calloc(s->cap, sizeof *s->tab);
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].topic_id != NULL)
                *slot(s, old[i].topic_type, old[i].topic_id) = old[i];
        free(old);
    }
    k = slot(s, topic_type, topic_id);
    if (k->topic_id != NULL)
        return;
    k->topic_type = topic_type;
    k->topic_id = qs_calloc(strlen(topic_id) + 1, 1);
    strcpy(k->topic_id, topic_id);
    s->n++;
}

/* ---------------------------------------------------------------- rule */

int
qs_topicq_apply(uint64_t *have, uint64_t limit, uint64_t lw, qs_topicset_t *added,
                qs_group_batch_t *b, qs_group_msg_t *msgs, qs_topicq_exists_fn exists, void *ctx)
{
    for (size_t i = 0; i < b->n_msgs; i++) {
        qs_group_msg_t *r = &msgs[b->first_msg + i];
        int there;

        if (!r->valid || r->m->serial <= lw ||
            qs_topicset_has(added, r->m->topic_type, r->m->topic_id))
            continue;
        if ((there = exists(ctx, r->m->topic_type, r->m->topic_id)) < 0)
            return -1;
        if (there)
            continue;
        if (*have < limit) {
            (*have)++;
            qs_topicset_add(added, r->m->topic_type, r->m->topic_id);
            continue;
        }
        r->valid = 0;
        r->status = QUIETSTATE__STATUS__BAD_MESSAGE;
        r->code = QUIETSTATE__CODE__QUOTA_TOPICS;
        r->why = "this client already holds [store] quota_topics_per_client topics: a new "
                 "topic id is refused (retention or qsctl forget make room)";
    }
    return 0;
}

/* -------------------------------------------------------------- sqlite */

/* Upper bounds of clients' row counts, so that most batches need no
 * count at all (direct-mapped: a collision only costs a count). Only
 * qs-store adds rows to latest and only one qs-store runs on a store.db
 * (store.lock); retention and forget only remove rows: a bound, once
 * exact, stays an upper bound if every message after it is counted as a
 * new topic, until it nears the limit and is counted again. A rolled-back
 * transaction only leaves it higher than needed. */
#define BOUNDS 16384u

struct bound {
    int64_t client_id;           /* 0: empty (client ids start at 1) */
    uint64_t rows;
};

struct qs_topicq_sqlite {
    sqlite3_stmt *count, *exists;
    qs_topicset_t *added;
    int64_t client_id;           /* exists()'s client */
    struct bound bounds[BOUNDS];
};

qs_topicq_sqlite_t *
qs_topicq_sqlite_new(sqlite3 *db)
{
    qs_topicq_sqlite_t *t = qs_calloc(1, sizeof *t);

    if (sqlite3_prepare_v3(db, "SELECT count(*) FROM latest WHERE client_id = ?1", -1,
                           SQLITE_PREPARE_PERSISTENT, &t->count, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db,
                           "SELECT 1 FROM latest WHERE client_id = ?1 AND topic_type = ?2 "
                           "AND topic_id = ?3",
                           -1, SQLITE_PREPARE_PERSISTENT, &t->exists, NULL) != SQLITE_OK) {
        qs_topicq_sqlite_destroy(&t);
        return NULL;
    }
    t->added = qs_topicset_new();
    return t;
}

void
qs_topicq_sqlite_destroy(qs_topicq_sqlite_t **t_p)
{
    if (t_p == NULL || *t_p == NULL)
        return;
    sqlite3_finalize((*t_p)->count);
    sqlite3_finalize((*t_p)->exists);
    qs_topicset_destroy(&(*t_p)->added);
    free(*t_p);
    *t_p = NULL;
}

static int
sqlite_exists(void *ctx, uint32_t topic_type, const char *topic_id)
{
    qs_topicq_sqlite_t *t = ctx;
    int rc;

    sqlite3_bind_int64(t->exists, 1, t->client_id);
    sqlite3_bind_int64(t->exists, 2, topic_type);
    sqlite3_bind_text(t->exists, 3, topic_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(t->exists);
    sqlite3_reset(t->exists);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
qs_topicq_sqlite_check(qs_topicq_sqlite_t *t, int64_t client_id, uint64_t lw, uint64_t limit,
                       qs_group_batch_t *b, qs_group_msg_t *msgs)
{
    uint64_t have, n = 0;
    int rc;

    struct bound *bd = &t->bounds[(uint64_t)client_id * 0x9e3779b97f4a7c15ull >> 50];

    for (size_t i = 0; i < b->n_msgs; i++)
        n += msgs[b->first_msg + i].valid;
    if (n == 0)
        return 0;
    if (bd->client_id == client_id && bd->rows + n <= limit) {
        bd->rows += n;
        return 0;
    }
    sqlite3_bind_int64(t->count, 1, client_id);
    rc = sqlite3_step(t->count);
    have = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(t->count, 0) : 0;
    sqlite3_reset(t->count);
    if (rc != SQLITE_ROW)
        return -1;
    bd->client_id = client_id;
    /* Even if every message were a new topic the client stays in bounds. */
    if (have + n <= limit) {
        bd->rows = have + n;
        return 0;
    }
    t->client_id = client_id;
    /* Earlier batches of the group are in latest already: this batch's
     * new topics are the only ones to remember. */
    qs_topicset_clear(t->added);
    rc = qs_topicq_apply(&have, limit, lw, t->added, b, msgs, sqlite_exists, t);
    /* Exact: every new topic of the batch was looked up (a failed walk:
     * forget the bound, the transaction rolls back). */
    bd->rows = have;
    if (rc != 0)
        bd->client_id = 0;
    return rc;
}
