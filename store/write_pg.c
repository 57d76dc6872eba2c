/* write_pg.c - the ingest transaction's body on PostgreSQL: dedup, minimize, latest, history.
 *
 * Same effect as write.c on SQLite, written so that several qs-store
 * workers can share one database. The batches of a group are queued
 * (qs_write_pg_batch) and written together when the counters are added or
 * the transaction commits:
 *
 *   1. one pipeline: BEGIN; insert the group's missing clients (ascending
 *      key, ON CONFLICT DO NOTHING); SELECT their rows ORDER BY pk FOR
 *      UPDATE; then, in a statement of its own (a fresh snapshot, taken
 *      after the locks are held), their seen serials. A worker holding a
 *      batch of the same client waits on that row lock until this
 *      transaction ends, and then reads the committed low_water and seen:
 *      no serial is stored twice (docs/store.md).
 *   2. in memory: dedup every message against low_water and seen (the
 *      group's earlier batches of a client included), outcomes and
 *      counters, the partitions the new rows go to.
 *   3. partitions not known to exist are created (storedb_pg.c; the
 *      advisory lock is taken after the client locks, in every writer).
 *   4. pipelined, as sets (write_pg_set.c: one array per column): the
 *      latest rows the group writes, folded per row in memory, read with
 *      their old states and times (FOR UPDATE) and upserted returning the
 *      new ones (the compliance_counts and installed_hours changes: no
 *      trigger keeps them, counts_pg.c); one
 *      history INSERT per partition (details sealed under the partition's
 *      epoch key, same associated data as SQLite); per client the seen
 *      changes and its low_water.
 *   5. at commit, pipelined: this connection's shard of partitions.rows,
 *      compliance_counts, installed_hours (ascending key) and counters,
 *      then COMMIT.
 *
 * Lock order in every writer transaction: clients (ascending pk), the
 * partitions' advisory lock, the clients' own rows, shard rows: no cycle
 * between workers. A deadlock with another kind of writer (retention,
 * forget), a lost connection or any other error rolls back; ingest answers
 * the group RETRY_LATER and the producers resend.
 */
#include "write_pg.h"

#include "pipe_pg.h"
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "write_pg_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* ------------------------------------------------------------ statements */

static const char sql_ins_clients[] =
    "INSERT INTO clients(pk, first_ms, last_ms) "
    "SELECT decode(x, 'hex'), $2::bigint, $2::bigint FROM unnest($1::text[]) AS x ORDER BY 1 "
    "ON CONFLICT (pk) DO NOTHING RETURNING encode(pk, 'hex')";
static const char sql_lock_clients[] =
    "SELECT encode(pk, 'hex'), client_id, low_water FROM clients "
    "WHERE pk = ANY(ARRAY(SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x)) "
    "ORDER BY pk FOR UPDATE";
static const char sql_seen[] =
    "SELECT s.client_id, s.serial FROM seen s JOIN clients c ON c.client_id = s.client_id "
    "WHERE c.pk = ANY(ARRAY(SELECT decode(x, 'hex') FROM unnest($1::text[]) AS x)) "
    "ORDER BY s.client_id, s.serial";
static const char sql_del_seen[] = "DELETE FROM seen WHERE client_id = $1 AND serial <= $2";
static const char sql_ins_seen[] =
    "INSERT INTO seen(client_id, serial) SELECT $1::bigint, s FROM unnest($2::bigint[]) AS s "
    "ON CONFLICT DO NOTHING";
static const char sql_upd_client[] =
    "UPDATE clients SET low_water = $2, last_ms = greatest(last_ms, $3) WHERE client_id = $1";
static const char sql_part_rows[] =
    "INSERT INTO partitions(epoch, topic_type, shard, rows) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (epoch, topic_type, shard) DO UPDATE SET rows = partitions.rows + excluded.rows";
static const char sql_counts[] =
    "INSERT INTO compliance_counts(topic_type, topic_id, state_id, shard, count) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (topic_type, topic_id, state_id, shard) "
    "DO UPDATE SET count = compliance_counts.count + excluded.count";
static const char sql_hours[] =
    "INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, shard, count) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (topic_type, topic_id, state_id, hour, shard) "
    "DO UPDATE SET count = installed_hours.count + excluded.count";
static const char sql_counter[] =
    "INSERT INTO counters(name, shard, value) VALUES ($1, $2, $3) "
    "ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + excluded.value";
#define I8 QS_PG_INT8OID
#define TX QS_PG_TEXTOID

static int
prepare_all(qs_write_pg_t *self)
{
    static const unsigned t_ii[] = { I8, I8 }, t_iii[] = { I8, I8, I8 };
    static const unsigned t_part[] = { I8, I8, I8, I8 }, t_counts[] = { I8, TX, I8, I8, I8 };
    static const unsigned t_hours[] = { I8, TX, I8, I8, I8, I8 };
    static const unsigned t_counter[] = { TX, I8, I8 };
    qs_pgpipe_t *p = self->pipe;

    return qs_write_pg_prepare_set(self) != 0 || qs_resync_pg_prepare(p) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_del_seen", sql_del_seen, 2, t_ii) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_ins_seen", sql_ins_seen, 0, NULL) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_ins_clients", sql_ins_clients, 0, NULL) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_lock_clients", sql_lock_clients, 0, NULL) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_seen", sql_seen, 0, NULL) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_upd_client", sql_upd_client, 3, t_iii) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_part_rows", sql_part_rows, 4, t_part) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_counts", sql_counts, 5, t_counts) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_hours", sql_hours, 6, t_hours) != 0 ||
           qs_pgpipe_prepare(p, "qs_w_counter", sql_counter, 3, t_counter) != 0
               ? -1 : 0;
}

/* ----------------------------------------------------------- new/destroy */

qs_write_pg_t *
qs_write_pg_new(qs_storedb_t *storedb, const uint8_t *site_key, qs_epochkeys_t *epochkeys,
                char *errmsg, size_t errmsg_len)
{
    qs_write_pg_t *self;

    if (!qs_epochkeys_chained(epochkeys)) {
        snprintf(errmsg, errmsg_len, "the epoch key directory holds no key chains: a "
                 "PostgreSQL site seals details under the hash chains 'qsctl init "
                 "--database' makes in keys/epochs (copy keys/ from the first host)");
        return NULL;
    }
    self = qs_calloc(1, sizeof *self);
    self->storedb = storedb;
    self->pg = qs_storedb_pgdb(storedb);
    self->pipe = qs_pgpipe_new(self->pg);
    self->site_key = site_key;
    self->epochkeys = epochkeys;
    if (qs_resync_pg_create(self->pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot create the resync table: %s",
                 qs_pgdb_errmsg(self->pg));
        qs_write_pg_destroy(&self);
        return NULL;
    }
    if (prepare_all(self) != 0) {
        snprintf(errmsg, errmsg_len, "the PostgreSQL database is not a quietstate store: %s",
                 qs_pgpipe_errmsg(self->pipe));
        qs_write_pg_destroy(&self);
        return NULL;
    }
    self->prepared_gen = qs_pgdb_generation(self->pg);
    return self;
}

void
qs_write_pg_set_max_topics(qs_write_pg_t *self, uint64_t max_topics)
{
    self->max_topics = max_topics;
}

void
qs_write_pg_destroy(qs_write_pg_t **self_p)
{
    qs_write_pg_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    qs_pgpipe_destroy(&self->pipe);
    for (size_t i = 0; i < self->n_clients; i++) {
        free(self->clients[i].init);
        free(self->clients[i].added);
    }
    free(self->clients);
    free(self->queue);
    free(self->todo);
    free(self->deltas);
    free(self->lkeys);
    free(self->lmap);
    for (size_t c = 0; c < 9; c++)
        qs_pgarray_free(&self->cols[c]);
    free(self->rows);
    free(self->fresh);
    free(self->known);
    sodium_memzero(self, sizeof *self);
    free(self);
    *self_p = NULL;
}

/* ------------------------------------------------------------ connection */

/* A usable connection with this generation's statements, or -1 at once
 * while the backoff runs (the group is answered RETRY_LATER). */
static int
connection_ready(qs_write_pg_t *self)
{
    int64_t now = qs_clock_mono_ms();
    char err[400];

    if (qs_pgdb_ok(self->pg) && self->prepared_gen == qs_pgdb_generation(self->pg))
        return 0;
    if (!qs_pgdb_ok(self->pg)) {
        /* The outage's first line is ingest's (the failed commit, logged
         * once per failing streak); its last is "reconnected" below. */
        if (!self->outage) {
            self->outage = 1;
            self->outage_since = now;
            self->backoff_ms = BACKOFF_MIN_MS;
        }
        if (now < self->next_try) {
            snprintf(self->err, sizeof self->err, "no connection to PostgreSQL (reconnecting)");
            return -1;
        }
        if (qs_pgdb_reconnect(self->pg, err, sizeof err) != 0) {
            snprintf(self->err, sizeof self->err, "cannot reconnect to PostgreSQL: %s", err);
            self->next_try = now + self->backoff_ms;
            self->backoff_ms = self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                                     : self->backoff_ms * 2;
            return -1;
        }
    }
    if (self->prepared_gen != qs_pgdb_generation(self->pg)) {
        /* A new session: its prepared statements are gone. */
        qs_pgpipe_forget(self->pipe);
        qs_write_pg_parts_forget(self);
        if (prepare_all(self) != 0) {
            snprintf(self->err, sizeof self->err, "%s", qs_pgpipe_errmsg(self->pipe));
            return -1;
        }
        self->prepared_gen = qs_pgdb_generation(self->pg);
    }
    if (self->outage)
        log_info("reconnected to PostgreSQL after %lld ms",
                 (long long)(now - self->outage_since));
    self->outage = 0;
    self->next_try = 0;
    return 0;
}

static void
failed(qs_write_pg_t *self, const char *what)
{
    snprintf(self->err, sizeof self->err, "%s: %s", what, qs_pgpipe_errmsg(self->pipe));
}

/* ----------------------------------------------------------- transaction */

int
qs_write_pg_begin(qs_write_pg_t *self)
{
    qs_write_pg_reset(self);
    if (connection_ready(self) != 0)
        return -1;
    self->err[0] = '\0';
    self->in_txn = 1;
    return 0;
}

int
qs_write_pg_in_txn(const qs_write_pg_t *self)
{
    return self->in_txn;
}

int
qs_write_pg_batch(qs_write_pg_t *self, const qs_policy_t *pol, qs_group_batch_t *b,
                  qs_group_msg_t *msgs, qs_tally_t *txn, int64_t now_ms)
{
    struct queued *q;

    QS_ASSERT(self->in_txn && !self->flushed);
    qs_grow((void **)&self->queue, &self->cap_queue, self->n_queue + 1, sizeof *self->queue);
    q = &self->queue[self->n_queue++];
    q->b = b;
    q->msgs = msgs;
    q->pol = pol;
    q->txn = txn;
    q->now_ms = now_ms;
    b->n_stored = b->n_dup = b->n_rejected = 0;
    return 0;
}

int
qs_write_pg_tally(qs_write_pg_t *self, const qs_tally_t *t)
{
    if (qs_write_pg_flush(self) != 0)
        return -1;
    qs_tally_add(&self->tally, t);
    return 0;
}

static int
send_counter(void *ctx, const char *name, int64_t delta)
{
    qs_write_pg_t *self = ctx;
    qs_pgparams_t p;

    qs_pgparams_reset(&p);
    qs_pgparams_bytes(&p, name, strlen(name));
    qs_pgparams_int8(&p, qs_pgdb_shard(self->pg));
    qs_pgparams_int8(&p, delta);
    return qs_pgpipe_send(self->pipe, "qs_w_counter", &p, TAG_NONE, qs_write_pg_result, self);
}

int
qs_write_pg_commit(qs_write_pg_t *self)
{
    int rc;

    if (qs_write_pg_flush(self) != 0)
        return -1;
    rc = qs_write_pg_send_parts(self) != 0 || qs_write_pg_send_counts(self) != 0 ||
                 qs_write_tally_names(&self->tally, send_counter, self) != 0 ||
                 qs_pgpipe_send_sql(self->pipe, "COMMIT", TAG_NONE, qs_write_pg_result,
                                    self) != 0 ||
                 qs_pgpipe_run(self->pipe, qs_write_pg_result, self) != 0
             ? -1 : 0;
    if (rc != 0) {
        failed(self, "commit failed");
        return -1;
    }
    qs_write_pg_parts_committed(self);
    self->in_txn = 0;
    return 0;
}

void
qs_write_pg_rollback(qs_write_pg_t *self)
{
    /* A partition dropped by retention under our cache: ensure it again. */
    if (strcmp(qs_pgpipe_sqlstate(self->pipe), "42P01") == 0)
        qs_write_pg_parts_forget(self);
    qs_pgpipe_abandon(self->pipe);
    if (qs_pgdb_ok(self->pg)) {
        qs_pgdb_rollback(self->pg);
        if (PQstatus(qs_pgdb_conn(self->pg)) != CONNECTION_OK)
            qs_pgdb_invalidate(self->pg);
    } else {
        qs_pgdb_invalidate(self->pg);
    }
    qs_write_pg_parts_rolled_back(self);
    qs_write_pg_reset(self);
}

uint64_t
qs_write_pg_low_water(qs_write_pg_t *self, const uint8_t pk[QS_KEY_BYTES])
{
    const char *values[1] = { (const char *)pk };
    const int lengths[1] = { QS_KEY_BYTES }, formats[1] = { 1 };
    const Oid types[1] = { QS_PG_BYTEAOID };
    uint64_t lw = 0;
    PGresult *r;

    if (!qs_pgdb_ok(self->pg))
        return 0;
    r = PQexecParams(qs_pgdb_conn(self->pg), "SELECT low_water FROM clients WHERE pk = $1", 1,
                     types, values, lengths, formats, 0);
    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        lw = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return lw;
}

const char *
qs_write_pg_errmsg(qs_write_pg_t *self)
{
    return self->err[0] ? self->err : qs_pgdb_errmsg(self->pg);
}

void
qs_write_pg_end_group(qs_write_pg_t *self)
{
    sodium_memzero(self->memo, sizeof self->memo);
}
