/* resync_pg.c - the resync rules on the PostgreSQL writer (resync.h, write_pg_int.h).
 *
 * The same rules as write.c's, carried out the PostgreSQL writer's way:
 * after the group's clients are locked, each one's resync row is made to
 * exist and read FOR UPDATE (ascending client id: qsctl resync upserts
 * rows in that order and holds no client lock, so no cycle); the rules run
 * in memory per batch in arrival order beside the dedup (a restart empties
 * the client's seen serials, a gap given up moves low_water); the dirty
 * rows are written in the same pipeline as the rest of the group; and the
 * stale rows of a resync complete in this group are deleted with their
 * compliance counts (qs_pg_latest_delete: no triggers here) after the
 * group's latest upserts ran, so every row the resync restated has a
 * report time at or after its start and stays.
 */
#include "resync.h"
#include "write_pg_int.h"
#include "write.h"

#include "pgutil.h"
#include "qs_hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_IN "(SELECT client_id FROM clients WHERE pk = ANY(ARRAY(" \
                "SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x)))"

static const char sql_rs_ensure[] =
    "INSERT INTO resync(client_id) SELECT client_id FROM " KEYS_IN " AS k ORDER BY 1 "
    "ON CONFLICT (client_id) DO NOTHING";
static const char sql_rs_load[] =
    "SELECT client_id, COALESCE(encode(instance, 'hex'), ''), gap_since_ms, want_gen, due_ms, "
    "sent_gen, start_ms, last_serial FROM resync WHERE client_id IN " KEYS_IN
    " ORDER BY client_id FOR UPDATE";
static const char sql_rs_save[] =
    "UPDATE resync SET instance = $2::bytea, gap_since_ms = $3, want_gen = $4, due_ms = $5, "
    "sent_gen = $6, start_ms = $7, last_serial = $8 WHERE client_id = $1";

int
qs_resync_pg_create(qs_pgdb_t *pg)
{
    char sql[600];

    /* One simple query is one transaction: the advisory lock keeps two
     * workers starting at once from racing on CREATE TABLE. */
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d, %d); %s", QS_PG_LOCK_CLASS,
             QS_PG_LOCK_SCHEMA, QS_RESYNC_SQL_TABLE);
    return qs_pgdb_exec(pg, sql);
}

int
qs_resync_pg_prepare(qs_pgpipe_t *p)
{
    return qs_pgpipe_prepare(p, "qs_w_rs_ensure", sql_rs_ensure, 0, NULL) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_rs_load", sql_rs_load, 0, NULL) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_rs_save", sql_rs_save, 0, NULL) != 0
               ? -1 : 0;
}

int
qs_resync_pg_send_load(qs_write_pg_t *self, const qs_pgparams_t *keys)
{
    self->rs_gap_ms = qs_resync_gap_ms();
    return qs_pgpipe_send(self->pipe, "qs_w_rs_ensure", keys, TAG_NONE, qs_write_pg_result,
                          self) != 0 ||
                   qs_pgpipe_send(self->pipe, "qs_w_rs_load", keys, TAG_RESYNC,
                                  qs_write_pg_result, self) != 0
               ? -1 : 0;
}

int
qs_resync_pg_take(qs_write_pg_t *self, PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        struct pclient *c = NULL;
        qs_resync_row_t *rs;
        const char *hex = PQgetvalue(r, i, 1);

        for (size_t k = 0; k < self->n_clients && c == NULL; k++)
            if (self->clients[k].client_id == id)
                c = &self->clients[k];
        if (c == NULL) {
            qs_pgpipe_fail(self->pipe, "the resync table returned a client not locked");
            return -1;
        }
        rs = &c->rs;
        memset(rs, 0, sizeof *rs);
        rs->client_id = id;
        rs->exists = 1;
        if (strlen(hex) == 2 * QS_RESYNC_INSTANCE_BYTES &&
            qs_hex_decode(rs->instance, sizeof rs->instance, hex) == 0)
            rs->has_instance = 1;
        rs->gap_since_ms = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        rs->want_gen = strtoull(PQgetvalue(r, i, 3), NULL, 10);
        rs->due_ms = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        rs->sent_gen = strtoull(PQgetvalue(r, i, 5), NULL, 10);
        rs->start_ms = strtoll(PQgetvalue(r, i, 6), NULL, 10);
        rs->last_serial = strtoull(PQgetvalue(r, i, 7), NULL, 10);
    }
    return 0;
}

void
qs_resync_pg_before(struct pclient *c, const struct queued *q)
{
    c->rs.client_id = c->client_id;
    if (!qs_resync_on_instance(&c->rs, q->b, q->txn, q->now_ms))
        return;
    /* A fresh outbox: every serial it sends is new. */
    c->lw = 0;
    c->n_init = 0;
    c->n_added = 0;
    c->rs_drop_seen = 1;
}

void
qs_resync_pg_after(qs_write_pg_t *self, struct pclient *c, const struct queued *q)
{
    uint64_t lw = c->lw, max_seen = 0;
    int64_t start_ms = 0;
    int has_seen = 0;

    if (c->n_init > 0 && c->init[c->n_init - 1] > lw) {
        max_seen = c->init[c->n_init - 1];
        has_seen = 1;
    }
    for (size_t i = 0; i < c->n_added; i++)
        if (c->added[i] > lw && c->added[i] > max_seen) {
            max_seen = c->added[i];
            has_seen = 1;
        }
    if (qs_resync_after(&c->rs, q->b, &lw, has_seen, max_seen, q->txn, q->now_ms,
                        self->rs_gap_ms, &start_ms)) {
        c->rs_apply_ms = start_ms;
        c->rs_precision_ms = q->pol->time_precision_ms;
        qs_resync_applied(&c->rs, q->txn);
    }
    /* A gap given up: seen rows at or under the new mark go with the
     * client's other seen changes (send_client). */
    c->lw = lw;
    qs_resync_answer(&c->rs, q->b, q->txn, q->now_ms);
}

static int
cmp_client_id(const void *a, const void *b)
{
    int64_t x = (*(const struct pclient *const *)a)->client_id;
    int64_t y = (*(const struct pclient *const *)b)->client_id;
    return (x > y) - (x < y);
}

int
qs_resync_pg_send_save(qs_write_pg_t *self)
{
    struct pclient **order = qs_calloc(self->n_clients + 1, sizeof *order);
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; i < self->n_clients; i++)
        if (self->clients[i].rs.dirty)
            order[n++] = &self->clients[i];
    qsort(order, n, sizeof *order, cmp_client_id);
    for (size_t i = 0; i < n && rc == 0; i++) {
        qs_resync_row_t *rs = &order[i]->rs;
        qs_pgparams_t p;

        qs_pgparams_reset(&p);
        qs_pgparams_int8(&p, order[i]->client_id);
        qs_pgparams_bytes(&p, rs->has_instance ? rs->instance : NULL,
                          rs->has_instance ? QS_RESYNC_INSTANCE_BYTES : 0);
        qs_pgparams_int8(&p, rs->gap_since_ms);
        qs_pgparams_int8(&p, (int64_t)rs->want_gen);
        qs_pgparams_int8(&p, rs->due_ms);
        qs_pgparams_int8(&p, (int64_t)rs->sent_gen);
        qs_pgparams_int8(&p, rs->start_ms);
        qs_pgparams_int8(&p, (int64_t)rs->last_serial);
        rc = qs_pgpipe_send(self->pipe, "qs_w_rs_save", &p, TAG_NONE, qs_write_pg_result,
                            self);
    }
    free(order);
    return rc;
}

int
qs_resync_pg_apply(qs_write_pg_t *self)
{
    for (size_t i = 0; i < self->n_clients; i++) {
        const struct pclient *c = &self->clients[i];
        char id[24], start[24];
        const char *values[2] = { id, start };
        int64_t deleted = 0;

        if (c->rs_apply_ms == 0)
            continue;
        snprintf(id, sizeof id, "%lld", (long long)c->client_id);
        snprintf(start, sizeof start, "%lld", (long long)c->rs_apply_ms);
        if (qs_pg_latest_delete(self->pg, &deleted, "client_id = $1::bigint AND "
                                "report_ms < $2::bigint", 2, values, NULL, NULL, self->err,
                                sizeof self->err) != 0)
            return -1;
        /* The restated rows' exact report times back at the precision
         * (qs_write_report_ms). */
        snprintf(start, sizeof start, "%lld", (long long)c->rs_precision_ms);
        if (qs_pg_run(self->pg, "cannot put report times at the policy's precision",
                      QS_WRITE_SQL_REPORT_PRECISION, 2, values, NULL, NULL, NULL, self->err,
                      sizeof self->err) != 0)
            return -1;
    }
    return 0;
}
