/* write_pg_set.c - the PostgreSQL writer's latest and history rows, one statement per table.
 *
 * A group's stored messages are written as sets, each column one binary
 * array parameter (unnest): the server runs a few statements per group
 * instead of two per message.
 *
 * latest: the messages are first folded per row (client, topic type,
 * topic id) in memory: the row's newest (time, serial) message wins, as it
 * would one message after the other (the rule is a maximum, so the order
 * does not matter; storedb_pg.h says why the serial breaks a tie). Then two
 * statements: the rows' current states, locked (FOR UPDATE; our clients'
 * rows, locked already, so only retention or forget could wait there), and
 * the upsert of the folded rows, returning the states and times it left.
 * The compliance_counts change of each row is old -> new (a new row: +1
 * new); installed_hours' is old (state, hour of time) -> new, for
 * installed states only (a later time alone can move a row's hour).
 *
 * history: one INSERT per partition with its rows, ON CONFLICT DO NOTHING;
 * the command's row count is the partition's rows added. Minimization is
 * write.c's: keyed pseudonyms (the last name of each kind remembered for
 * the group), details sealed under the partition's epoch key with
 * qs_details_ad's associated data; no raw name is ever a parameter.
 */
#include "write_pg_int.h"
#include "adopt.h"

#include "qs_codec.h"
#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_latest_old[] =
    "SELECT l.client_id, l.topic_type, l.topic_id, l.state_id, l.time_ms FROM latest l "
    "JOIN unnest($1::bigint[], $2::bigint[], $3::text[]) AS k(c, t, i) "
    "ON l.client_id = k.c AND l.topic_type = k.t AND l.topic_id = k.i FOR UPDATE OF l";
#define WINS "(excluded.time_ms > latest.time_ms OR (excluded.time_ms = latest.time_ms " \
             "AND excluded.serial > latest.serial))"
static const char sql_latest_set[] =
    "INSERT INTO latest(client_id, topic_type, topic_id, state_id, time_ms, report_ms, "
    "  machine_ps, domain_ps, serial) "
    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], "
    "  $6::bigint[], $7::bytea[], $8::bytea[], $9::bigint[]) "
    "ON CONFLICT (client_id, topic_type, topic_id) DO UPDATE SET "
    "  state_id = CASE WHEN " WINS " THEN excluded.state_id ELSE latest.state_id END, "
    "  machine_ps = CASE WHEN " WINS " THEN excluded.machine_ps ELSE latest.machine_ps END, "
    "  domain_ps = CASE WHEN " WINS " THEN excluded.domain_ps ELSE latest.domain_ps END, "
    "  serial = CASE WHEN " WINS " THEN excluded.serial ELSE latest.serial END, "
    "  time_ms = greatest(latest.time_ms, excluded.time_ms), "
    "  report_ms = greatest(latest.report_ms, excluded.report_ms) "
    "RETURNING client_id, topic_type, topic_id, state_id, time_ms";

const unsigned qs_write_pg_history_types[9] = {
    QS_PG_INT8ARRAYOID, QS_PG_INT8ARRAYOID, QS_PG_INT8ARRAYOID, QS_PG_TEXTARRAYOID,
    QS_PG_INT8ARRAYOID, QS_PG_BYTEAARRAYOID, QS_PG_BYTEAARRAYOID, QS_PG_BYTEAARRAYOID,
    QS_PG_BYTEAARRAYOID };

int
qs_write_pg_prepare_set(qs_write_pg_t *self)
{
    static const unsigned t_old[] = { QS_PG_INT8ARRAYOID, QS_PG_INT8ARRAYOID,
                                      QS_PG_TEXTARRAYOID };
    static const unsigned t_set[] = {
        QS_PG_INT8ARRAYOID, QS_PG_INT8ARRAYOID, QS_PG_TEXTARRAYOID, QS_PG_INT8ARRAYOID,
        QS_PG_INT8ARRAYOID, QS_PG_INT8ARRAYOID, QS_PG_BYTEAARRAYOID, QS_PG_BYTEAARRAYOID,
        QS_PG_INT8ARRAYOID };

    return qs_pgpipe_prepare(self->pipe, "qs_w_latest_old", sql_latest_old, 3, t_old) != 0 ||
                   qs_pgpipe_prepare(self->pipe, "qs_w_latest_set", sql_latest_set, 9,
                                     t_set) != 0
               ? -1 : 0;
}

/* ------------------------------------------------------------ latest rows */

static uint64_t
lkey_hash(int64_t client_id, uint32_t topic_type, const char *topic_id)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)client_id;

    h = (h ^ topic_type) * 0x100000001b3ULL;
    for (const unsigned char *p = (const unsigned char *)topic_id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static void
lmap_rebuild(qs_write_pg_t *self, size_t cap)
{
    free(self->lmap);
    self->lmap = qs_calloc(cap, sizeof *self->lmap);
    self->cap_lmap = cap;
    for (size_t i = 0; i < self->n_lkeys; i++) {
        size_t k = self->lkeys[i].hash & (cap - 1);
        while (self->lmap[k] != 0)
            k = (k + 1) & (cap - 1);
        self->lmap[k] = (uint32_t)i + 1;
    }
}

/* The row's entry; with add, created when missing (winner: todo). */
static struct lkey *
lkey_find(qs_write_pg_t *self, int64_t client_id, uint32_t topic_type, const char *topic_id,
          size_t todo, int add)
{
    uint64_t h = lkey_hash(client_id, topic_type, topic_id);
    struct lkey *e;
    size_t k;

    if (add && (self->n_lkeys + 1) * 2 > self->cap_lmap)
        lmap_rebuild(self, self->cap_lmap ? self->cap_lmap * 2 : 1024);
    if (self->cap_lmap == 0)
        return NULL;
    for (k = h & (self->cap_lmap - 1); self->lmap[k] != 0; k = (k + 1) & (self->cap_lmap - 1)) {
        e = &self->lkeys[self->lmap[k] - 1];
        if (e->hash == h && e->client_id == client_id && e->topic_type == topic_type &&
            strcmp(e->topic_id, topic_id) == 0)
            return e;
    }
    if (!add)
        return NULL;
    qs_grow((void **)&self->lkeys, &self->cap_lkeys, self->n_lkeys + 1, sizeof *self->lkeys);
    e = &self->lkeys[self->n_lkeys++];
    *e = (struct lkey){ client_id, topic_type, topic_id, todo, -1, -1, 0, 0, h };
    self->lmap[k] = (uint32_t)self->n_lkeys;
    return e;
}

/* Fold the stored messages per latest row: the newest (time, serial). */
static void
fold_latest(qs_write_pg_t *self)
{
    self->n_lkeys = 0;
    if (self->cap_lmap > 0)
        memset(self->lmap, 0, self->cap_lmap * sizeof *self->lmap);
    for (size_t i = 0; i < self->n_todo; i++) {
        const struct todo *td = &self->todo[i];
        struct lkey *e = lkey_find(self, td->client_id, td->m->topic_type, td->m->topic_id, i, 1);
        const struct todo *w = &self->todo[e->winner];

        if (td->t > w->t || (td->t == w->t && td->m->serial > w->m->serial))
            e->winner = i;
    }
}

static int
is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static void
array_ps(qs_pgarray_t *a, const uint8_t ps[QS_PSEUDONYM_BYTES])
{
    qs_pgarray_bytes(a, is_zero(ps, QS_PSEUDONYM_BYTES) ? NULL : ps, QS_PSEUDONYM_BYTES);
}

/* Bind the set's columns (n of them) as the statement's parameters. */
static void
bind_columns(qs_write_pg_t *self, qs_pgparams_t *p, size_t n)
{
    qs_pgparams_reset(p);
    for (size_t c = 0; c < n; c++) {
        qs_pgarray_finish(&self->cols[c]);
        qs_pgparams_bytes(p, self->cols[c].buf, self->cols[c].len);
    }
}

int
qs_write_pg_send_latest(qs_write_pg_t *self)
{
    static const unsigned types[9] = { QS_PG_INT8OID, QS_PG_INT8OID, QS_PG_TEXTOID,
                                       QS_PG_INT8OID, QS_PG_INT8OID, QS_PG_INT8OID,
                                       QS_PG_BYTEAOID, QS_PG_BYTEAOID, QS_PG_INT8OID };
    uint8_t machine_ps[QS_PSEUDONYM_BYTES], domain_ps[QS_PSEUDONYM_BYTES];
    qs_pgparams_t p;

    fold_latest(self);
    if (self->n_lkeys == 0)
        return 0;
    for (size_t c = 0; c < 9; c++)
        qs_pgarray_begin(&self->cols[c], types[c]);
    for (size_t i = 0; i < self->n_lkeys; i++) {
        const struct todo *w = &self->todo[self->lkeys[i].winner];
        const Quietstate__StateMessage *m = w->m;

        qs_pseudonym_memo(self->memo, machine_ps, self->site_key, QS_PSEUDO_MACHINE,
                          m->machine_name);
        qs_pseudonym_memo(self->memo, domain_ps, self->site_key, QS_PSEUDO_DOMAIN, m->domain);
        qs_pgarray_int8(&self->cols[0], w->client_id);
        qs_pgarray_int8(&self->cols[1], m->topic_type);
        qs_pgarray_bytes(&self->cols[2], m->topic_id, strlen(m->topic_id));
        qs_pgarray_int8(&self->cols[3], m->state_id);
        qs_pgarray_int8(&self->cols[4], w->t);
        qs_pgarray_int8(&self->cols[5], w->now_ms);
        array_ps(&self->cols[6], qs_machine_ps_for(w->b, m, machine_ps));
        array_ps(&self->cols[7], domain_ps);
        qs_pgarray_int8(&self->cols[8], (int64_t)m->serial);
    }
    bind_columns(self, &p, 9);
    p.n = 3;
    if (qs_pgpipe_send(self->pipe, "qs_w_latest_old", &p, TAG_LATEST_OLD, qs_write_pg_result,
                       self) != 0)
        return -1;
    p.n = 9;
    return qs_pgpipe_send(self->pipe, "qs_w_latest_set", &p, TAG_LATEST_SET, qs_write_pg_result,
                          self);
}

/* Rows of (client_id, topic_type, topic_id, state_id, time_ms): the old
 * or the new state and time of each folded row. */
int
qs_write_pg_take_latest(qs_write_pg_t *self, PGresult *r, int old)
{
    for (int i = 0; i < PQntuples(r); i++) {
        struct lkey *e = lkey_find(self, strtoll(PQgetvalue(r, i, 0), NULL, 10),
                                   (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10),
                                   PQgetvalue(r, i, 2), 0, 0);
        if (e == NULL) {
            qs_pgpipe_fail(self->pipe, "latest returned a row the group did not write");
            return -1;
        }
        *(old ? &e->old_state : &e->new_state) = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        *(old ? &e->old_time : &e->new_time) = strtoll(PQgetvalue(r, i, 4), NULL, 10);
    }
    return 0;
}

/* After the set's results: each row's count change. */
int
qs_write_pg_latest_deltas(qs_write_pg_t *self)
{
    for (size_t i = 0; i < self->n_lkeys; i++) {
        const struct lkey *e = &self->lkeys[i];
        const Quietstate__StateMessage *m = self->todo[e->winner].m;

        if (e->new_state < 0) {
            qs_pgpipe_fail(self->pipe, "the latest upsert did not return every row");
            return -1;
        }
        /* An installed row moves between hours with its time alone. */
        qs_write_pg_hours_move(self, m->topic_type, m->topic_id, e->old_state, e->old_time,
                               e->new_state, e->new_time);
        if (e->old_state == e->new_state)
            continue;
        if (e->old_state >= 0)
            qs_write_pg_delta_add(self, m->topic_type, m->topic_id, (uint32_t)e->old_state, -1);
        qs_write_pg_delta_add(self, m->topic_type, m->topic_id, (uint32_t)e->new_state, +1);
    }
    return 0;
}

/* ------------------------------------------------------------ history rows */

/* The details of td sealed under the partition's epoch key, or NULL. A key
 * shredded already (the policy's maximum age was raised after this holder
 * moved its chain past the epoch) cannot seal: the row is kept without
 * details rather than refusing the whole group for ever. */
static void
array_details(qs_write_pg_t *self, qs_pgarray_t *a, const struct todo *td)
{
    const Quietstate__StateMessage *m = td->m;
    size_t len = strlen(m->details), sealed = 0;
    uint8_t ad[QS_DETAILS_AD_BYTES];
    const uint8_t *key;

    if (len == 0) {
        qs_pgarray_bytes(a, NULL, 0);
        return;
    }
    key = qs_epochkeys_get(self->epochkeys, td->epoch, m->topic_type, 1);
    qs_details_ad(ad, td->client_id, m->serial, td->epoch, m->topic_type);
    if (key == NULL || qs_details_seal(self->details_buf, &sealed, sizeof self->details_buf,
                                       (const uint8_t *)m->details, len, ad, sizeof ad,
                                       key) != 0) {
        if (self->unsealed++ == 0)
            log_warn("dropping the details of a message of topic %u: the key of its day is "
                     "shredded on this host (counted once per process)", m->topic_type);
        qs_pgarray_bytes(a, NULL, 0);
        return;
    }
    qs_pgarray_bytes(a, self->details_buf, sealed);
}

static void
history_row(qs_write_pg_t *self, const struct todo *td)
{
    const Quietstate__StateMessage *m = td->m;
    uint8_t machine_ps[QS_PSEUDONYM_BYTES], domain_ps[QS_PSEUDONYM_BYTES];
    uint8_t user_ps[QS_PSEUDONYM_BYTES];

    qs_pseudonym_memo(self->memo, machine_ps, self->site_key, QS_PSEUDO_MACHINE, m->machine_name);
    qs_pseudonym_memo(self->memo, domain_ps, self->site_key, QS_PSEUDO_DOMAIN, m->domain);
    memset(user_ps, 0, sizeof user_ps);
    if (td->collect_users)
        qs_pseudonym_memo(self->memo, user_ps, self->site_key, QS_PSEUDO_USER, m->user_name);
    qs_pgarray_int8(&self->cols[0], td->client_id);
    qs_pgarray_int8(&self->cols[1], (int64_t)m->serial);
    qs_pgarray_int8(&self->cols[2], m->state_id);
    qs_pgarray_bytes(&self->cols[3], m->topic_id, strlen(m->topic_id));
    qs_pgarray_int8(&self->cols[4], td->t);
    array_ps(&self->cols[5], qs_machine_ps_for(td->b, m, machine_ps));
    array_ps(&self->cols[6], domain_ps);
    array_ps(&self->cols[7], user_ps);
    array_details(self, &self->cols[8], td);
}

/* One INSERT of partition j's rows (self->rows[j]). */
static int
send_partition(qs_write_pg_t *self, size_t j)
{
    static const unsigned types[9] = { QS_PG_INT8OID, QS_PG_INT8OID, QS_PG_INT8OID,
                                       QS_PG_TEXTOID, QS_PG_INT8OID, QS_PG_BYTEAOID,
                                       QS_PG_BYTEAOID, QS_PG_BYTEAOID, QS_PG_BYTEAOID };
    const struct part_key *k = &self->rows[j];
    char name[24], table[64], sql[640];
    qs_pgparams_t p;

    for (size_t c = 0; c < 9; c++)
        qs_pgarray_begin(&self->cols[c], types[c]);
    for (size_t i = 0; i < self->n_todo; i++) {
        const struct todo *td = &self->todo[i];
        if (td->history && td->epoch == k->epoch && td->m->topic_type == k->topic_type)
            history_row(self, td);
    }
    bind_columns(self, &p, 9);
    if (k->slot >= 0) {
        qs_write_pg_slot_name(name, (size_t)k->slot);
        return qs_pgpipe_send(self->pipe, name, &p, TAG_MAKE(TAG_HISTORY, j),
                              qs_write_pg_result, self);
    }
    if (qs_storedb_partition_name(table, sizeof table, k->epoch, k->topic_type) != 0)
        return -1;
    snprintf(sql, sizeof sql, QS_WRITE_PG_HISTORY_FMT, table);
    return qs_pgpipe_send_unnamed(self->pipe, sql, qs_write_pg_history_types, &p,
                                  TAG_MAKE(TAG_HISTORY, j), qs_write_pg_result, self);
}

int
qs_write_pg_send_history(qs_write_pg_t *self)
{
    for (size_t j = 0; j < self->n_rows; j++)
        if (send_partition(self, j) != 0)
            return -1;
    return 0;
}
