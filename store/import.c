/* import.c - rows of a model-system export through the store's validation and write path.
 *
 * qs_import_add checks a row with the codec's qs_message_validate (after
 * qs_topic_id_normalize, as qs_batch_decode does for a live batch) and
 * copies it into an arena, with its machine pseudonym. qs_import_run sorts
 * the rows by machine and topic (file order within one), and writes them in
 * transactions of whole machines: the stored current states of the
 * transaction's machines are read at once (import_read.h, by pseudonym:
 * whichever client holds them) to leave out what would change nothing,
 * then each machine's rest becomes one batch of its placeholder client with
 * serials right above that client's low-water mark, and qs_write_batch
 * stores it exactly as it stores a live batch (both engines: write.c or
 * write_pg*.c behind it).
 */
#include "qs_store_import.h"

#include "arena.h"
#include "import_read.h"
#include "group.h"
#include "qs_codec.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "write.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct irow {
    uint8_t ps[QS_PSEUDONYM_BYTES];
    uint32_t seq;                /* file order */
    uint32_t topic_type, state_id;
    int64_t time_ms;
    char *machine, *domain, *topic_id;   /* in the arena */
};

struct qs_import {
    qs_storedb_t *db;
    const uint8_t *site_key;
    qs_write_t *write;
    qs_policy_t pol;
    int64_t now_ms, skew_ms;
    qs_arena_t *arena;
    struct irow *rows;
    size_t n, cap;
    /* one transaction's batches and messages */
    qs_group_batch_t *batches;
    size_t cap_batches;
    qs_group_msg_t *msgs;
    size_t cap_msgs;
    Quietstate__StateMessage *pm;
    size_t cap_pm;
    uint8_t (*ps)[QS_PSEUDONYM_BYTES];   /* the transaction's machines */
    size_t cap_ps;
    uint8_t (*pk)[QS_KEY_BYTES];         /* its batches' placeholder keys */
    size_t cap_pk;
    uint64_t *lw;
    size_t cap_lw;
    qs_import_haves_t haves;             /* their stored states */
};

void
qs_import_placeholder_pk(uint8_t pk[32], const uint8_t machine_ps[QS_PSEUDONYM_BYTES])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)QS_IMPORT_PLACEHOLDER_LABEL,
                              sizeof QS_IMPORT_PLACEHOLDER_LABEL);   /* with its NUL */
    crypto_generichash_update(&st, machine_ps, QS_PSEUDONYM_BYTES);
    crypto_generichash_final(&st, pk, 32);
}

qs_import_t *
qs_import_new(qs_storedb_t *db, const uint8_t *site_key, qs_epochkeys_t *ks,
              const qs_policy_t *pol, int64_t now_ms, int64_t skew_ms, char *errmsg,
              size_t errmsg_len)
{
    qs_import_t *self = qs_calloc(1, sizeof *self);

    self->db = db;
    self->site_key = site_key;
    self->pol = *pol;
    if (self->pol.time_precision_ms < 1)
        self->pol.time_precision_ms = 1;
    self->now_ms = now_ms;
    self->skew_ms = skew_ms;
    self->arena = qs_arena_new();
    self->write = qs_write_new(db, site_key, ks, errmsg, errmsg_len);
    if (self->write == NULL)
        qs_import_destroy(&self);
    return self;
}

void
qs_import_destroy(qs_import_t **self_p)
{
    qs_import_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    qs_write_destroy(&self->write);
    qs_arena_destroy(&self->arena);   /* wipes the names */
    if (self->rows != NULL)
        sodium_memzero(self->rows, self->cap * sizeof *self->rows);
    free(self->rows);
    free(self->batches);
    free(self->msgs);
    free(self->pm);
    free(self->ps);
    free(self->pk);
    free(self->lw);
    qs_import_haves_clear(&self->haves);
    free(self->haves.rows);
    free(self);
    *self_p = NULL;
}

static char *
copy(qs_import_t *self, const char *s)
{
    ProtobufCAllocator *a = qs_arena_allocator(self->arena);
    size_t len = strlen(s) + 1;
    char *out = a->alloc(a->allocator_data, len);

    memcpy(out, s, len);
    return out;
}

/* What a refused row is told, in the export's column names. */
static const char *
why_of(Quietstate__Code code, const char *why)
{
    switch (code) {
    case QUIETSTATE__CODE__TIME_IN_FUTURE:
        return "StateTime is in the future (beyond the store's skew limit)";
    case QUIETSTATE__CODE__TIME_TOO_OLD:
        return "StateTime is before 2000-01-01";
    case QUIETSTATE__CODE__UNKNOWN_TOPIC_TYPE:
        return "TopicType is not in the topic table (docs/commands.md)";
    case QUIETSTATE__CODE__STATE_OUT_OF_RANGE:
        return "StateID is out of range for its TopicType (docs/commands.md)";
    case QUIETSTATE__CODE__BAD_TOPIC_ID:
        return "TopicID is empty, longer than 128 bytes or not UTF-8";
    case QUIETSTATE__CODE__BAD_STRING:
        return "MachineName or Domain is not valid UTF-8";
    default:
        return why;
    }
}

static int
blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

int
qs_import_add(qs_import_t *self, const qs_import_row_t *row, const char **why)
{
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;
    char topic_id[QS_MAX_TOPIC_ID_BYTES + 1];
    Quietstate__Status status;
    Quietstate__Code code;
    struct irow *r;

    if (blank(row->machine))
        return *why = "MachineName is empty", 1;
    if (strlen(row->machine) > QS_MAX_NAME_BYTES)
        return *why = "MachineName is longer than 255 bytes", 1;
    if (strlen(row->domain) > QS_MAX_NAME_BYTES)
        return *why = "Domain is longer than 255 bytes", 1;
    if (strlen(row->topic_id) > QS_MAX_TOPIC_ID_BYTES)
        return *why = "TopicID is longer than 128 bytes", 1;
    memcpy(topic_id, row->topic_id, strlen(row->topic_id) + 1);
    (void)qs_topic_id_normalize(topic_id);
    m.serial = 1;
    m.topic_type = row->topic_type;
    m.topic_id = topic_id;
    m.state_id = row->state_id;
    m.time_utc_ms = row->time_ms;
    m.machine_name = (char *)row->machine;
    m.domain = (char *)row->domain;
    if (qs_message_validate(&m, self->now_ms, self->skew_ms, &status, &code, why) != 0)
        return *why = why_of(code, *why), 1;
    qs_grow((void **)&self->rows, &self->cap, self->n + 1, sizeof *self->rows);
    r = &self->rows[self->n];
    if (qs_pseudonym_checked(r->ps, self->site_key, QS_PSEUDO_MACHINE, row->machine) != 0)
        return *why = "MachineName is not valid UTF-8", 1;
    r->seq = (uint32_t)self->n;
    r->topic_type = row->topic_type;
    r->state_id = row->state_id;
    r->time_ms = row->time_ms;
    r->machine = copy(self, row->machine);
    r->domain = copy(self, row->domain);
    r->topic_id = copy(self, topic_id);
    self->n++;
    return 0;
}

static int
cmp_rows(const void *pa, const void *pb)
{
    const struct irow *a = pa, *b = pb;
    int c = memcmp(a->ps, b->ps, QS_PSEUDONYM_BYTES);

    if (c == 0 && a->topic_type != b->topic_type)
        c = a->topic_type < b->topic_type ? -1 : 1;
    if (c == 0)
        c = strcmp(a->topic_id, b->topic_id);
    return c != 0 ? c : a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* 1 when the stored states already hold r: a newer state for its topic, or
 * the same state at the same time (at the policy's precision, as
 * write.c's store_message truncates). */
static int
unchanged(const qs_import_t *self, const struct irow *r, const qs_import_have_t *have,
          size_t n_have)
{
    int64_t t = r->time_ms - r->time_ms % self->pol.time_precision_ms;

    for (size_t i = 0; i < n_have; i++) {
        const qs_import_have_t *h = &have[i];
        if (h->topic_type != r->topic_type || strcmp(h->topic_id, r->topic_id) != 0)
            continue;
        if (h->time_ms > t || (h->time_ms == t && h->state_id == r->state_id))
            return 1;
    }
    return 0;
}

static int
same_topic(const struct irow *a, const struct irow *b)
{
    return a->topic_type == b->topic_type && strcmp(a->topic_id, b->topic_id) == 0;
}

/* Rows [i, g) of one machine and topic (file order) into the batch. When
 * the file's own winner - the newest row, of equal times the last - is
 * already stored, the whole group is: a second import of a file whose
 * rows tie in time must not bring back a state the later line replaced. */
static void
add_topic(qs_import_t *self, size_t i, size_t g, const qs_import_have_t *have, size_t n_have,
          size_t *nm, qs_import_counts_t *out)
{
    size_t win = i;

    for (size_t k = i + 1; k < g; k++)
        if (self->rows[k].time_ms >= self->rows[win].time_ms)
            win = k;
    if (unchanged(self, &self->rows[win], have, n_have)) {
        out->unchanged += (int64_t)(g - i);
        return;
    }
    for (size_t k = i; k < g; k++) {
        const struct irow *r = &self->rows[k];
        Quietstate__StateMessage *m = &self->pm[*nm];
        if (unchanged(self, r, have, n_have)) {
            out->unchanged++;
            continue;
        }
        quietstate__state_message__init(m);
        m->topic_type = r->topic_type;
        m->topic_id = r->topic_id;
        m->state_id = r->state_id;
        m->time_utc_ms = r->time_ms;
        m->machine_name = r->machine;
        m->domain = r->domain;
        memset(&self->msgs[*nm], 0, sizeof self->msgs[*nm]);
        self->msgs[*nm].m = m;
        self->msgs[*nm].valid = 1;
        (*nm)++;
    }
}

/* The messages of one machine's rows [a, b) that change something, as one
 * batch appended to the transaction (none when all are unchanged); have:
 * the machine's stored states. */
static void
add_machine(qs_import_t *self, size_t a, size_t b, const qs_import_have_t *have,
            size_t n_have, size_t *nb, size_t *nm, qs_import_counts_t *out)
{
    qs_group_batch_t *batch = &self->batches[*nb];
    uint8_t pk[QS_KEY_BYTES];
    size_t first = *nm;

    qs_import_placeholder_pk(pk, self->rows[a].ps);
    for (size_t i = 0; i < n_have; i++)
        if (memcmp(have[i].pk, pk, QS_KEY_BYTES) != 0) {
            out->live += (int64_t)(b - a);
            return;
        }
    for (size_t i = a, g; i < b; i = g) {
        for (g = i + 1; g < b && same_topic(&self->rows[g], &self->rows[i]); g++)
            ;
        add_topic(self, i, g, have, n_have, nm, out);
    }
    if (*nm == first)
        return;
    memset(batch, 0, sizeof *batch);
    memcpy(batch->pk, pk, QS_KEY_BYTES);
    batch->has_pk = batch->report_lw = batch->decoded = batch->in_txn = 1;
    batch->first_msg = first;
    batch->n_msgs = *nm - first;
    (*nb)++;
}

static int
same_machine(const struct irow *a, const struct irow *b)
{
    return memcmp(a->ps, b->ps, QS_PSEUDONYM_BYTES) == 0;
}

/* The batches of the machines of rows [a, b), from their stored states
 * (read at once). 0 or -1 with errmsg. */
static int
build_batches(qs_import_t *self, size_t a, size_t b, size_t *nb, size_t *nm,
              qs_import_counts_t *out, char *errmsg, size_t errmsg_len)
{
    size_t n_ps = 0, h = 0;

    qs_grow((void **)&self->pm, &self->cap_pm, b - a, sizeof *self->pm);
    qs_grow((void **)&self->msgs, &self->cap_msgs, b - a, sizeof *self->msgs);
    qs_grow((void **)&self->batches, &self->cap_batches, b - a, sizeof *self->batches);
    qs_grow((void **)&self->ps, &self->cap_ps, b - a, sizeof *self->ps);
    for (size_t i = a; i < b; i++)
        if (i == a || !same_machine(&self->rows[i], &self->rows[i - 1]))
            memcpy(self->ps[n_ps++], self->rows[i].ps, QS_PSEUDONYM_BYTES);
    if (qs_import_read_states(self->db, (const uint8_t (*)[QS_PSEUDONYM_BYTES])self->ps, n_ps,
                              &self->haves, errmsg, errmsg_len) != 0)
        return -1;
    for (size_t i = a, j; i < b; i = j) {
        size_t h0;
        for (j = i + 1; j < b && same_machine(&self->rows[j], &self->rows[i]); j++)
            ;
        /* Both in ascending pseudonym order: walk the stored states along. */
        while (h < self->haves.n && memcmp(self->haves.rows[h].ps, self->rows[i].ps,
                                           QS_PSEUDONYM_BYTES) < 0)
            h++;
        for (h0 = h; h < self->haves.n && memcmp(self->haves.rows[h].ps, self->rows[i].ps,
                                                  QS_PSEUDONYM_BYTES) == 0; h++)
            ;
        add_machine(self, i, j, h > h0 ? &self->haves.rows[h0] : NULL, h - h0, nb, nm, out);
    }
    return 0;
}

/* Number each batch's messages right above its client's low-water mark. */
static int
number_serials(qs_import_t *self, size_t nb, char *errmsg, size_t errmsg_len)
{
    qs_grow((void **)&self->pk, &self->cap_pk, nb, sizeof *self->pk);
    qs_grow((void **)&self->lw, &self->cap_lw, nb, sizeof *self->lw);
    for (size_t i = 0; i < nb; i++)
        memcpy(self->pk[i], self->batches[i].pk, QS_KEY_BYTES);
    if (qs_import_read_low_water(self->db, (const uint8_t (*)[QS_KEY_BYTES])self->pk, nb,
                                 self->lw, errmsg, errmsg_len) != 0)
        return -1;
    for (size_t i = 0; i < nb; i++) {
        qs_group_batch_t *batch = &self->batches[i];
        for (size_t k = 0; k < batch->n_msgs; k++)
            self->pm[batch->first_msg + k].serial = self->lw[i] + 1 + k;
        batch->first_serial = self->lw[i] + 1;
        batch->last_serial = self->lw[i] + batch->n_msgs;
    }
    return 0;
}

/* One transaction over the machines of rows [a, b). */
static int
run_txn(qs_import_t *self, size_t a, size_t b, qs_import_counts_t *out, char *errmsg,
        size_t errmsg_len)
{
    qs_tally_t txn;
    size_t nb = 0, nm = 0;
    int rc = 0;

    if (build_batches(self, a, b, &nb, &nm, out, errmsg, errmsg_len) != 0 ||
        number_serials(self, nb, errmsg, errmsg_len) != 0)
        return -1;
    if (nb == 0)
        return 0;
    memset(&txn, 0, sizeof txn);
    if (qs_write_begin(self->write) != 0)
        rc = -1;
    for (size_t i = 0; i < nb && rc == 0; i++)
        rc = qs_write_batch(self->write, &self->pol, &self->batches[i], self->msgs, &txn,
                            self->now_ms);
    if (rc == 0 && (qs_write_tally(self->write, &txn) != 0 || qs_write_commit(self->write) != 0))
        rc = -1;
    if (rc != 0) {
        snprintf(errmsg, errmsg_len, "the store could not write the rows: %s",
                 qs_write_errmsg(self->write));
        qs_write_rollback(self->write);
    } else {
        for (size_t i = 0; i < nb; i++) {
            out->imported += self->batches[i].n_stored;
            out->machines += self->batches[i].n_stored > 0;
        }
        out->transactions++;
    }
    qs_write_end_group(self->write);
    return rc;
}

int
qs_import_run(qs_import_t *self, qs_import_progress_fn progress, void *ctx,
              qs_import_counts_t *out, char *errmsg, size_t errmsg_len)
{
    memset(out, 0, sizeof *out);
    out->queued = (int64_t)self->n;
    if (self->n > 0)
        qsort(self->rows, self->n, sizeof *self->rows, cmp_rows);
    for (size_t a = 0, b; a < self->n; a = b) {
        /* At least QS_IMPORT_TXN_ROWS rows (or the rest), whole machines. */
        b = a + QS_IMPORT_TXN_ROWS < self->n ? a + QS_IMPORT_TXN_ROWS : self->n;
        while (b < self->n && memcmp(self->rows[b].ps, self->rows[b - 1].ps,
                                     QS_PSEUDONYM_BYTES) == 0)
            b++;
        if (run_txn(self, a, b, out, errmsg, errmsg_len) != 0)
            return -1;
        if (progress != NULL)
            progress(ctx, b, self->n);
    }
    return 0;
}
