/* write_pg_flush.c - the PostgreSQL writer's queued batches: locks, dedup, statements, results.
 *
 * The steps are told at the top of write_pg.c. Dedup runs in memory over
 * the locked clients' low_water and seen serials (as read after the locks
 * were granted), in the order the batches arrived, so that a later batch of
 * the same client in the group sees the earlier one's serials exactly as
 * write.c sees them through SQLite. Minimization is write.c's: keyed
 * pseudonyms (the last name of each kind remembered for the group), times
 * truncated to the policy's precision, details sealed under the partition's
 * epoch key with qs_details_ad's associated data; no raw name is ever a
 * statement parameter.
 */
#include "write_pg_int.h"
#include "quota_topics.h"
#include "write.h"

#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_hex.h"
#include "qs_log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPIRE_EVERY_MS 60000

/* ------------------------------------------------------------------ reset */

void
qs_write_pg_reset(qs_write_pg_t *self)
{
    for (size_t i = 0; i < self->n_clients; i++) {
        free(self->clients[i].init);
        free(self->clients[i].added);
    }
    self->n_clients = 0;
    self->n_queue = 0;
    self->n_todo = 0;
    self->n_deltas = 0;
    self->n_rows = 0;
    self->n_fresh = 0;
    memset(&self->tally, 0, sizeof self->tally);
    self->in_txn = 0;
    self->flushed = 0;
    self->flush_rc = 0;
    self->txn_no++;
}

/* ---------------------------------------------------------------- clients */

static int
cmp_client(const void *a, const void *b)
{
    return memcmp(((const struct pclient *)a)->pk, ((const struct pclient *)b)->pk,
                  QS_KEY_BYTES);
}

static struct pclient *
client_find(qs_write_pg_t *self, const uint8_t pk[QS_KEY_BYTES])
{
    struct pclient key;

    memcpy(key.pk, pk, QS_KEY_BYTES);
    return bsearch(&key, self->clients, self->n_clients, sizeof key, cmp_client);
}

static struct pclient *
client_by_id(qs_write_pg_t *self, int64_t client_id)
{
    for (size_t i = 0; i < self->n_clients; i++)
        if (self->clients[i].locked && self->clients[i].client_id == client_id)
            return &self->clients[i];
    return NULL;
}

/* The group's distinct clients, ascending, and their keys as a text array
 * of hex strings (malloc'd). */
static char *
collect_clients(qs_write_pg_t *self)
{
    size_t n = 0;
    char *arr, *w;

    qs_grow((void **)&self->clients, &self->cap_clients, self->n_queue + 1,
            sizeof *self->clients);
    for (size_t i = 0; i < self->n_queue; i++) {
        memset(&self->clients[n], 0, sizeof self->clients[n]);
        memcpy(self->clients[n++].pk, self->queue[i].b->pk, QS_KEY_BYTES);
    }
    qsort(self->clients, n, sizeof *self->clients, cmp_client);
    self->n_clients = 0;
    for (size_t i = 0; i < n; i++)
        if (self->n_clients == 0 || cmp_client(&self->clients[self->n_clients - 1],
                                               &self->clients[i]) != 0)
            self->clients[self->n_clients++] = self->clients[i];
    arr = qs_calloc(self->n_clients * (2 * QS_KEY_BYTES + 1) + 3, 1);
    w = arr;
    *w++ = '{';
    for (size_t i = 0; i < self->n_clients; i++) {
        if (i > 0)
            *w++ = ',';
        qs_hex_encode(w, 2 * QS_KEY_BYTES + 1, self->clients[i].pk, QS_KEY_BYTES);
        w += 2 * QS_KEY_BYTES;
    }
    *w++ = '}';
    *w = '\0';
    return arr;
}

static int
take_lock_rows(qs_write_pg_t *self, PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        uint8_t pk[QS_KEY_BYTES];
        struct pclient *c;

        if (qs_hex_decode(pk, sizeof pk, PQgetvalue(r, i, 0)) != 0 ||
            (c = client_find(self, pk)) == NULL) {
            qs_pgpipe_fail(self->pipe, "the clients table returned a key not asked for");
            return -1;
        }
        c->client_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        c->lw = strtoull(PQgetvalue(r, i, 2), NULL, 10);
        c->locked = 1;
    }
    return 0;
}

static int
take_seen_rows(qs_write_pg_t *self, PGresult *r)
{
    struct pclient *c = NULL;

    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        if (c == NULL || c->client_id != id)
            c = client_by_id(self, id);
        if (c == NULL) {
            qs_pgpipe_fail(self->pipe, "the seen table returned a client not locked");
            return -1;
        }
        qs_grow((void **)&c->init, &c->cap_init, c->n_init + 1, sizeof *c->init);
        c->init[c->n_init++] = strtoull(PQgetvalue(r, i, 1), NULL, 10);
    }
    return 0;
}

/* Step 1: BEGIN, create the missing clients, lock them all, read seen. */
static int
lock_clients(qs_write_pg_t *self)
{
    char *arr = collect_clients(self), now[24];
    qs_pgparams_t p;
    int rc;

    /* first_ms/last_ms are not message times, but kept at their precision. */
    snprintf(now, sizeof now, "%lld",
             (long long)(self->queue[0].now_ms -
                         self->queue[0].now_ms % self->queue[0].pol->time_precision_ms));
    qs_pgparams_reset(&p);
    qs_pgparams_text(&p, arr);
    qs_pgparams_text(&p, now);
    rc = qs_pgpipe_send_sql(self->pipe, "BEGIN ISOLATION LEVEL READ COMMITTED", TAG_NONE,
                            qs_write_pg_result, self) != 0 ||
         qs_pgpipe_send(self->pipe, "qs_w_ins_clients", &p, TAG_NEW_CLIENT,
                        qs_write_pg_result, self) != 0;
    p.n = 1;
    rc = rc || qs_pgpipe_send(self->pipe, "qs_w_lock_clients", &p, TAG_LOCK, qs_write_pg_result,
                              self) != 0 ||
         qs_pgpipe_send(self->pipe, "qs_w_seen", &p, TAG_SEEN, qs_write_pg_result, self) != 0 ||
         qs_resync_pg_send_load(self, &p) != 0 ||
         qs_pgpipe_run(self->pipe, qs_write_pg_result, self) != 0;
    free(arr);
    if (rc)
        return -1;
    for (size_t i = 0; i < self->n_clients; i++)
        if (!self->clients[i].locked) {
            qs_pgpipe_fail(self->pipe, "a client row vanished between insert and lock");
            return -1;
        }
    return 0;
}

/* ------------------------------------------------------------------ dedup */

static int
seen_has(const struct pclient *c, uint64_t s)
{
    size_t lo = 0, hi = c->n_init;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->init[mid] == s)
            return 1;
        if (c->init[mid] < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < c->n_added; i++)
        if (c->added[i] == s)
            return 1;
    return 0;
}

/* Serial s is handled now: low_water moves over it and over the
 * remembered serials right above it, or it is remembered. */
static void
mark_handled(struct pclient *c, uint64_t s)
{
    if (s == c->lw + 1) {
        c->lw = s;
        while (seen_has(c, c->lw + 1))
            c->lw++;
        return;
    }
    qs_grow((void **)&c->added, &c->cap_added, c->n_added + 1, sizeof *c->added);
    c->added[c->n_added++] = s;
}

static void
reject(qs_group_batch_t *b, qs_group_msg_t *r, qs_tally_t *txn, int count)
{
    r->outcome = QS_OUT_REJECTED;
    b->n_rejected++;
    if (count)
        qs_tally_reject(txn, r->status, r->code);
}

static void
add_todo(qs_write_pg_t *self, const struct queued *q, const struct pclient *c,
         const Quietstate__StateMessage *m)
{
    const qs_policy_t *pol = q->pol;
    struct todo *td;

    qs_grow((void **)&self->todo, &self->cap_todo, self->n_todo + 1, sizeof *self->todo);
    td = &self->todo[self->n_todo++];
    td->m = m;
    td->b = q->b;
    td->client_id = c->client_id;
    td->t = m->time_utc_ms - m->time_utc_ms % pol->time_precision_ms;
    td->now_ms = qs_write_report_ms(&c->rs, q->b, q->now_ms, pol->time_precision_ms);
    td->collect_users = pol->collect_user_names;
    /* Already older than its topic may be kept: the current state only. */
    td->history = m->time_utc_ms >= qs_policy_cutoff_ms(pol, m->topic_type, q->now_ms);
    td->epoch = qs_epoch_of(td->t);
    td->slot = -1;
    if (td->history)
        /* The chain must be past the expired days before a key is derived. */
        (void)qs_epochkeys_expire(self->epochkeys, m->topic_type,
                                  qs_epoch_of(qs_policy_cutoff_ms(pol, m->topic_type,
                                                                  q->now_ms)));
}

/* Every holder of the keys moves its chains past the expired days itself
 * (qs_epochkeys.h), this worker about once a minute for every topic type,
 * so that a host running only workers forgets on time even the topic types
 * it no longer receives. */
static void
expire_chains(qs_write_pg_t *self, const qs_policy_t *pol, int64_t now_ms)
{
    uint32_t types[64];
    size_t n = qs_topic_types(types, 64);
    int64_t mono = qs_clock_mono_ms();

    if (mono < self->next_expire_mono)
        return;
    self->next_expire_mono = mono + EXPIRE_EVERY_MS;
    for (size_t i = 0; i < n && i < 64; i++)
        (void)qs_epochkeys_expire(self->epochkeys, types[i],
                                  qs_epoch_of(qs_policy_cutoff_ms(pol, types[i], now_ms)));
}

/* write.c's write_one, over the client's in-memory serials. */
static void
dedup_one(qs_write_pg_t *self, const struct queued *q, struct pclient *c, qs_group_msg_t *r)
{
    qs_group_batch_t *b = q->b;
    uint64_t s = r->m->serial;

    if (r->repeated) {
        /* Counted with its first copy: once, not again on a resend. */
        reject(b, r, q->txn, q->msgs[b->first_msg + r->owner].fresh);
        return;
    }
    if (s == 0 || s > (uint64_t)INT64_MAX) {
        reject(b, r, q->txn, 1);
        return;
    }
    if (s <= c->lw || seen_has(c, s)) {
        if (r->valid) {
            r->outcome = QS_OUT_DUPLICATE;
            b->n_dup++;
            q->txn->duplicates++;
        } else {
            reject(b, r, q->txn, 0);   /* rejected before: listed again, counted once */
        }
        return;
    }
    r->fresh = 1;
    if (r->valid) {
        add_todo(self, q, c, r->m);
        r->outcome = QS_OUT_STORED;
        b->n_stored++;
        q->txn->stored++;
    } else {
        reject(b, r, q->txn, 1);
    }
    mark_handled(c, s);
}

static void
dedup_all(qs_write_pg_t *self)
{
    if (self->n_queue > 0)
        expire_chains(self, self->queue[0].pol, self->queue[0].now_ms);
    for (size_t i = 0; i < self->n_queue; i++) {
        const struct queued *q = &self->queue[i];
        struct pclient *c = client_find(self, q->b->pk);

        QS_ASSERT(c != NULL);
        qs_resync_pg_before(c, q);
        for (size_t k = 0; k < q->b->n_msgs; k++)
            dedup_one(self, q, c, &q->msgs[q->b->first_msg + k]);
        qs_resync_pg_after(self, c, q);
        q->b->low_water = c->lw;
        if (q->now_ms - q->now_ms % q->pol->time_precision_ms > c->last_ms)
            c->last_ms = q->now_ms - q->now_ms % q->pol->time_precision_ms;
    }
}

/* ---------------------------------------------------------------- clients */

/* Per client: seen as it ends (serials at or under low_water go, the new
 * ones above it come), then low_water and last_ms. */
static int
send_client(qs_write_pg_t *self, const struct pclient *c)
{
    qs_pgparams_t p;
    char *arr = NULL;
    size_t n = 0;
    int rc = 0;

    if (c->n_init > 0 || c->rs_drop_seen) {
        qs_pgparams_reset(&p);
        qs_pgparams_int8(&p, c->client_id);
        qs_pgparams_int8(&p, c->rs_drop_seen ? INT64_MAX : (int64_t)c->lw);
        rc = qs_pgpipe_send(self->pipe, "qs_w_del_seen", &p, TAG_NONE, qs_write_pg_result, self);
    }
    for (size_t i = 0; i < c->n_added; i++)
        n += c->added[i] > c->lw;
    if (rc == 0 && n > 0) {
        char *w = arr = qs_calloc(n * 21 + 3, 1), id[24];
        *w++ = '{';
        for (size_t i = 0; i < c->n_added; i++)
            if (c->added[i] > c->lw)
                w += sprintf(w, "%s%llu", w == arr + 1 ? "" : ",",
                             (unsigned long long)c->added[i]);
        strcpy(w, "}");
        snprintf(id, sizeof id, "%lld", (long long)c->client_id);
        qs_pgparams_reset(&p);
        qs_pgparams_text(&p, id);
        qs_pgparams_text(&p, arr);
        rc = qs_pgpipe_send(self->pipe, "qs_w_ins_seen", &p, TAG_NONE, qs_write_pg_result, self);
        free(arr);
    }
    if (rc != 0)
        return -1;
    qs_pgparams_reset(&p);
    qs_pgparams_int8(&p, c->client_id);
    qs_pgparams_int8(&p, (int64_t)c->lw);
    qs_pgparams_int8(&p, c->last_ms);
    return qs_pgpipe_send(self->pipe, "qs_w_upd_client", &p, TAG_NONE, qs_write_pg_result, self);
}

/* ----------------------------------------------------------------- results */

int
qs_write_pg_result(void *ctx, int tag, PGresult *r)
{
    qs_write_pg_t *self = ctx;

    switch (TAG_KIND(tag)) {
    case TAG_LOCK:
        return take_lock_rows(self, r);
    case TAG_SEEN:
        return take_seen_rows(self, r);
    case TAG_LATEST_OLD:
        return qs_write_pg_take_latest(self, r, 1);
    case TAG_LATEST_SET:
        return qs_write_pg_take_latest(self, r, 0);
    case TAG_RESYNC:
        return qs_resync_pg_take(self, r);
    case TAG_NEW_CLIENT:
        return qs_adopt_pg_mark_created(self, r);
    case TAG_HISTORY:
        qs_write_pg_rows_added(self, TAG_INDEX(tag), strtoll(PQcmdTuples(r), NULL, 10));
        return 0;
    default:
        return 0;
    }
}

/* --------------------------------------------------------------- the flush */

static int
flush_steps(qs_write_pg_t *self)
{
    if (self->n_queue == 0)
        return qs_pgpipe_send_sql(self->pipe, "BEGIN ISOLATION LEVEL READ COMMITTED", TAG_NONE,
                                  qs_write_pg_result, self) != 0 ||
                       qs_pgpipe_run(self->pipe, qs_write_pg_result, self) != 0
                   ? -1 : 0;
    if (lock_clients(self) != 0 || qs_adopt_pg_run(self) != 0 ||
        qs_topicq_pg_check(self, self->max_topics) != 0)
        return -1;
    dedup_all(self);
    if (qs_write_pg_ensure_parts(self) != 0)
        return -1;
    if (qs_write_pg_send_latest(self) != 0 || qs_write_pg_send_history(self) != 0)
        return -1;
    for (size_t i = 0; i < self->n_clients; i++)
        if (send_client(self, &self->clients[i]) != 0)
            return -1;
    if (qs_resync_pg_send_save(self) != 0 ||
        qs_pgpipe_run(self->pipe, qs_write_pg_result, self) != 0)
        return -1;
    /* After the group's upserts: a complete resync's stale rows (resync_pg.c). */
    return qs_write_pg_latest_deltas(self) != 0 || qs_resync_pg_apply(self) != 0 ? -1 : 0;
}

int
qs_write_pg_flush(qs_write_pg_t *self)
{
    if (self->flushed)
        return self->flush_rc;
    self->flushed = 1;
    self->flush_rc = flush_steps(self);
    if (self->flush_rc != 0 && self->err[0] == '\0')
        snprintf(self->err, sizeof self->err, "%s", qs_pgpipe_errmsg(self->pipe));
    return self->flush_rc;
}
