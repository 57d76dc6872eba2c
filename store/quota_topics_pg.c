/* quota_topics_pg.c - the topic limit on PostgreSQL: per group, between the clients' lock and dedup.
 *
 * The group's clients are locked (FOR UPDATE, write_pg_flush.c step 1), so
 * no other worker changes their latest rows until COMMIT: the counts read
 * here hold for the whole transaction. One statement counts every client's
 * rows; only a client whose count plus its valid messages in the group
 * could pass the limit has its topic keys read (one more statement), and
 * its batches are then walked in arrival order by the shared rule
 * (qs_topicq_apply), the topics taken by its earlier batches remembered.
 */
#include "quota_topics.h"

#include "qs_log.h"
#include "write_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_COUNT = 1, TAG_KEYS = 2 };

struct pgq {
    uint64_t *have;              /* per client index */
    qs_topicset_t *keys;         /* TAG_KEYS: the client's rows */
};

static int
on_result(void *ctx, int tag, PGresult *r)
{
    struct pgq *q = ctx;

    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return 0;   /* qs_pgpipe_run reports the failure */
    for (int i = 0; i < PQntuples(r); i++) {
        if (tag == TAG_COUNT) {
            long long idx = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            q->have[idx - 1] = strtoull(PQgetvalue(r, i, 1), NULL, 10);
        } else {
            qs_topicset_add(q->keys, (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10),
                            PQgetvalue(r, i, 1));
        }
    }
    return 0;
}

static int
set_exists(void *ctx, uint32_t topic_type, const char *topic_id)
{
    return qs_topicset_has(ctx, topic_type, topic_id);
}

static size_t
client_index(const qs_write_pg_t *w, const uint8_t pk[QS_KEY_BYTES])
{
    size_t lo = 0, hi = w->n_clients;

    /* w->clients is sorted by pk (write_pg_flush.c). */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(w->clients[mid].pk, pk, QS_KEY_BYTES);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (size_t)-1;
}

static int
send_run(qs_write_pg_t *w, const char *sql, const qs_pgparams_t *p, int tag, struct pgq *q)
{
    return qs_pgpipe_send_unnamed(w->pipe, sql, NULL, p, tag, on_result, q) != 0 ||
                   qs_pgpipe_run(w->pipe, on_result, q) != 0
               ? -1 : 0;
}

/* The client's rows as a set, then its batches in order. */
static int
check_client(qs_write_pg_t *w, size_t ci, uint64_t limit, struct pgq *q, qs_topicset_t *added)
{
    qs_pgparams_t p;
    uint64_t have = q->have[ci];

    qs_topicset_clear(q->keys);
    qs_topicset_clear(added);
    qs_pgparams_reset(&p);
    qs_pgparams_int8(&p, w->clients[ci].client_id);
    if (send_run(w, "SELECT topic_type, topic_id FROM latest WHERE client_id = $1::int8", &p,
                 TAG_KEYS, q) != 0)
        return -1;
    for (size_t i = 0; i < w->n_queue; i++)
        if (client_index(w, w->queue[i].b->pk) == ci &&
            qs_topicq_apply(&have, limit, w->clients[ci].lw, added, w->queue[i].b,
                            w->queue[i].msgs, set_exists, q->keys) != 0)
            return -1;
    return 0;
}

int
qs_topicq_pg_check(qs_write_pg_t *w, uint64_t limit)
{
    struct pgq q = { 0 };
    uint64_t *need;
    qs_topicset_t *added;
    qs_pgparams_t p;
    char *arr, *o;
    int rc = 0;

    if (limit == 0 || w->n_clients == 0)
        return 0;
    need = qs_calloc(w->n_clients, sizeof *need);
    q.have = qs_calloc(w->n_clients, sizeof *q.have);
    for (size_t i = 0; i < w->n_queue; i++) {
        const qs_group_batch_t *b = w->queue[i].b;
        size_t ci = client_index(w, b->pk);
        QS_ASSERT(ci != (size_t)-1);
        for (size_t k = 0; k < b->n_msgs; k++)
            need[ci] += w->queue[i].msgs[b->first_msg + k].valid;
    }
    o = arr = qs_calloc(w->n_clients * 21 + 3, 1);
    *o++ = '{';
    for (size_t i = 0; i < w->n_clients; i++)
        o += sprintf(o, "%s%lld", i ? "," : "", (long long)w->clients[i].client_id);
    strcpy(o, "}");
    qs_pgparams_reset(&p);
    qs_pgparams_text(&p, arr);
    rc = send_run(w,
                  "SELECT i, (SELECT count(*) FROM latest l WHERE l.client_id = ($1::int8[])[i]) "
                  "FROM generate_subscripts($1::int8[], 1) AS i",
                  &p, TAG_COUNT, &q);
    free(arr);
    q.keys = qs_topicset_new();
    added = qs_topicset_new();
    for (size_t ci = 0; rc == 0 && ci < w->n_clients; ci++)
        if (q.have[ci] + need[ci] > limit)
            rc = check_client(w, ci, limit, &q, added);
    qs_topicset_destroy(&added);
    qs_topicset_destroy(&q.keys);
    free(q.have);
    free(need);
    return rc;
}
