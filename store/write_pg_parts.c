/* write_pg_parts.c - the PostgreSQL writer's partitions and count changes.
 *
 * Which history partitions are known to exist (created by a committed
 * transaction, ours or another worker's), their prepared INSERTs (a few
 * dozen slots per connection; a partition beyond them goes unnamed), the
 * rows each transaction adds to them, and the compliance_counts and
 * installed_hours changes the latest upserts reported, written at commit
 * into this connection's shard in the tables' key order (write_pg.c: the
 * lock order).
 */
#include "write_pg_int.h"
#include "deadline_rules.h"

#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- partitions */

static struct part_key *
key_find(struct part_key *a, size_t n, int64_t epoch, uint32_t topic_type)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].epoch == epoch && a[i].topic_type == topic_type)
            return &a[i];
    return NULL;
}

static struct part_key *
key_add(struct part_key **a, size_t *n, size_t *cap, int64_t epoch, uint32_t topic_type)
{
    struct part_key *k = key_find(*a, *n, epoch, topic_type);

    if (k != NULL)
        return k;
    qs_grow((void **)a, cap, *n + 1, sizeof **a);
    k = &(*a)[(*n)++];
    k->epoch = epoch;
    k->topic_type = topic_type;
    k->rows = 0;
    k->slot = -1;
    return k;
}

void
qs_write_pg_parts_forget(qs_write_pg_t *self)
{
    self->n_known = 0;
    memset(self->slots, 0, sizeof self->slots);
}

void
qs_write_pg_parts_committed(qs_write_pg_t *self)
{
    if (self->n_known + self->n_fresh > KNOWN_MAX)
        self->n_known = 0;   /* years of partitions: start over, ensuring is cheap */
    for (size_t i = 0; i < self->n_fresh; i++)
        (void)key_add(&self->known, &self->n_known, &self->cap_known, self->fresh[i].epoch,
                      self->fresh[i].topic_type);
}

/* The tables created by a rolled-back transaction do not exist: their slots'
 * statements would fail, so the slots are freed (re-prepared on use). */
void
qs_write_pg_parts_rolled_back(qs_write_pg_t *self)
{
    for (size_t i = 0; i < STMT_SLOTS; i++)
        if (self->slots[i].used &&
            key_find(self->fresh, self->n_fresh, self->slots[i].epoch,
                     self->slots[i].topic_type) != NULL)
            self->slots[i].used = 0;
}

void
qs_write_pg_slot_name(char out[24], size_t i)
{
    snprintf(out, 24, "qs_w_h%zu", i);
}

/* The prepared INSERT slot for a partition, -1 when every slot serves this
 * transaction already (the statement then goes unnamed). */
static int
slot_get(qs_write_pg_t *self, int64_t epoch, uint32_t topic_type)
{
    char name[24], table[64], sql[640];
    size_t victim = STMT_SLOTS;

    for (size_t i = 0; i < STMT_SLOTS; i++) {
        struct stmt_slot *s = &self->slots[i];
        if (s->used && s->epoch == epoch && s->topic_type == topic_type) {
            s->txn_no = self->txn_no;
            return (int)i;
        }
        if (victim == STMT_SLOTS && (!s->used || s->txn_no != self->txn_no))
            victim = i;
    }
    if (victim == STMT_SLOTS)
        return -1;
    qs_write_pg_slot_name(name, victim);
    if (qs_storedb_partition_name(table, sizeof table, epoch, topic_type) != 0 ||
        qs_pgpipe_deallocate(self->pipe, name) != 0)
        return -2;
    snprintf(sql, sizeof sql, QS_WRITE_PG_HISTORY_FMT, table);
    self->slots[victim].used = 0;
    if (qs_pgpipe_prepare(self->pipe, name, sql, 9, qs_write_pg_history_types) != 0)
        return -2;
    self->slots[victim] = (struct stmt_slot){ 1, epoch, topic_type, self->txn_no };
    return (int)victim;
}

/* Step 3: create the partitions this transaction writes to that are not
 * known to exist, and pick their statements. */
int
qs_write_pg_ensure_parts(qs_write_pg_t *self)
{
    for (size_t i = 0; i < self->n_todo; i++) {
        struct todo *td = &self->todo[i];
        uint32_t type = td->m->topic_type;

        if (!td->history)
            continue;
        if (key_find(self->known, self->n_known, td->epoch, type) == NULL &&
            key_find(self->fresh, self->n_fresh, td->epoch, type) == NULL) {
            if (qs_pgdb_partition_ensure(self->pg, td->epoch, type) != 0) {
                snprintf(self->err, sizeof self->err, "cannot create a history partition: %s",
                         qs_pgdb_errmsg(self->pg));
                return -1;
            }
            (void)key_add(&self->fresh, &self->n_fresh, &self->cap_fresh, td->epoch, type);
        }
        td->slot = slot_get(self, td->epoch, type);
        if (td->slot == -2) {
            snprintf(self->err, sizeof self->err, "%s", qs_pgpipe_errmsg(self->pipe));
            return -1;
        }
        key_add(&self->rows, &self->n_rows, &self->cap_rows, td->epoch, type)->slot = td->slot;
    }
    return 0;
}

static int
cmp_part(const void *a, const void *b)
{
    const struct part_key *x = a, *y = b;
    if (x->epoch != y->epoch)
        return x->epoch < y->epoch ? -1 : 1;
    return (x->topic_type > y->topic_type) - (x->topic_type < y->topic_type);
}

int
qs_write_pg_send_parts(qs_write_pg_t *self)
{
    qs_pgparams_t p;

    if (self->n_rows > 1)
        qsort(self->rows, self->n_rows, sizeof *self->rows, cmp_part);
    for (size_t i = 0; i < self->n_rows; i++) {
        if (self->rows[i].rows == 0)
            continue;
        qs_pgparams_reset(&p);
        qs_pgparams_int8(&p, self->rows[i].epoch);
        qs_pgparams_int8(&p, self->rows[i].topic_type);
        qs_pgparams_int8(&p, qs_pgdb_shard(self->pg));
        qs_pgparams_int8(&p, self->rows[i].rows);
        if (qs_pgpipe_send(self->pipe, "qs_w_part_rows", &p, TAG_NONE, qs_write_pg_result,
                           self) != 0)
            return -1;
    }
    return 0;
}

/* --------------------------------------------------------- count changes */

void
qs_write_pg_delta_add(qs_write_pg_t *self, uint32_t topic_type, const char *topic_id, uint32_t state_id,
          int64_t delta)
{
    struct count_delta *d;

    qs_grow((void **)&self->deltas, &self->cap_deltas, self->n_deltas + 1,
            sizeof *self->deltas);
    d = &self->deltas[self->n_deltas++];
    d->topic_type = topic_type;
    d->state_id = state_id;
    d->hour = -1;
    d->delta = delta;
    snprintf(d->topic_id, sizeof d->topic_id, "%s", topic_id);
}

static void
hours_add(qs_write_pg_t *self, uint32_t topic_type, const char *topic_id, int64_t state,
          int64_t time_ms, int64_t delta)
{
    if (state < 0 || !qs_deadline_installed_like((uint32_t)state))
        return;
    qs_write_pg_delta_add(self, topic_type, topic_id, (uint32_t)state, delta);
    self->deltas[self->n_deltas - 1].hour = time_ms / QS_INSTALLED_HOUR_MS;
}

void
qs_write_pg_hours_move(qs_write_pg_t *self, uint32_t topic_type, const char *topic_id,
                       int64_t from_state, int64_t from_time, int64_t to_state, int64_t to_time)
{
    if (from_state == to_state && from_time / QS_INSTALLED_HOUR_MS == to_time / QS_INSTALLED_HOUR_MS)
        return;
    hours_add(self, topic_type, topic_id, from_state, from_time, -1);
    hours_add(self, topic_type, topic_id, to_state, to_time, +1);
}

/* The primary key's order (bytewise topic ids: the database is created
 * with --no-locale or C collation is not assumed: only the order of one
 * writer's own statements matters, and every writer uses this one). */
static int
cmp_delta(const void *a, const void *b)
{
    const struct count_delta *x = a, *y = b;
    int c;

    if ((x->hour >= 0) != (y->hour >= 0))   /* compliance_counts first */
        return x->hour >= 0 ? 1 : -1;
    if (x->topic_type != y->topic_type)
        return x->topic_type < y->topic_type ? -1 : 1;
    if ((c = strcmp(x->topic_id, y->topic_id)) != 0)
        return c;
    if (x->state_id != y->state_id)
        return x->state_id < y->state_id ? -1 : 1;
    return (x->hour > y->hour) - (x->hour < y->hour);
}

int
qs_write_pg_send_counts(qs_write_pg_t *self)
{
    qs_pgparams_t p;
    size_t i = 0;

    if (self->n_deltas > 1)
        qsort(self->deltas, self->n_deltas, sizeof *self->deltas, cmp_delta);
    while (i < self->n_deltas) {
        const struct count_delta *d = &self->deltas[i];
        int64_t sum = 0;
        size_t j = i;

        for (; j < self->n_deltas && cmp_delta(d, &self->deltas[j]) == 0; j++)
            sum += self->deltas[j].delta;
        i = j;
        if (sum == 0)
            continue;
        qs_pgparams_reset(&p);
        qs_pgparams_int8(&p, d->topic_type);
        qs_pgparams_bytes(&p, d->topic_id, strlen(d->topic_id));
        qs_pgparams_int8(&p, d->state_id);
        if (d->hour >= 0)
            qs_pgparams_int8(&p, d->hour);
        qs_pgparams_int8(&p, qs_pgdb_shard(self->pg));
        qs_pgparams_int8(&p, sum);
        if (qs_pgpipe_send(self->pipe, d->hour >= 0 ? "qs_w_hours" : "qs_w_counts", &p,
                           TAG_NONE, qs_write_pg_result, self) != 0)
            return -1;
    }
    return 0;
}

void
qs_write_pg_rows_added(qs_write_pg_t *self, size_t j, int64_t n)
{
    QS_ASSERT(j < self->n_rows);
    self->rows[j].rows += n;
}
