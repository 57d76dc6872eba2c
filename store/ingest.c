/* ingest.c - how groups of envelopes become transactions and sealed acks, two groups at a time.
 *
 * Two threads (committer.h says why threads, docs/performance.md "The
 * pipeline" what it buys). The receiving thread - the caller's, qs-store's
 * zmq_poll loop - runs everything here but commit.c: qs_ingest_add checks
 * and decodes one envelope without writing anything: parse, sender ==
 * transport key (qs_envelope_parse_from), standing in the site.db keyset,
 * policy present, open with the per-sender precomputed key (qs_peer_cache),
 * decode the Batch into the group's arena (arena.c), validate every message,
 * mark a serial repeated inside the batch and one naming another machine
 * than the key is bound to (adopt.h). The batch and its messages
 * are appended to the group being filled.
 *
 * qs_ingest_submit hands that group to the commit thread, which runs ONE
 * transaction for it (commit.c: dedup, minimization, latest and history
 * through write.c, counters, COMMIT) while this thread fills the other
 * group. At most one group is in flight, so groups commit in the order
 * they were received and each transaction's dedup sees every earlier
 * group committed. qs_ingest_collect takes the group back once its COMMIT
 * returned (durable: synchronous=FULL); only then is each ack built and
 * sealed for the client (ack.c) and handed to the caller. Ownership is
 * the whole synchronization: a group, the qs_write_t and the database
 * connection are the commit thread's while it has them; the keyset,
 * policy, peer cache, ack buffers, log throttle and stats are only ever
 * touched here. The policy travels with the group (a copy taken when it
 * is handed over).
 *
 * Counters of rejections that needed no transaction (a whole batch refused)
 * wait in the group being filled ("pending") and are written by its
 * transaction, or by qs_ingest_tick within QS_INGEST_COUNTER_FLUSH_MS as a
 * group of no batch; a group that wrote no transaction passes them on to
 * the next. Counters produced inside a transaction that rolls back are
 * discarded with it: the producer resends and they are counted then.
 */
#include "ingest.h"

#include "ack.h"
#include "adopt.h"
#include "arena.h"
#include "commit.h"
#include "committer.h"
#include "group.h"
#include "headroom.h"
#include "quota.h"
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_envelope.h"
#include "qs_hex.h"
#include "qs_keyset.h"
#include "qs_log.h"
#include "qs_lograte.h"
#include "qs_policy.h"
#include "storedb_sqlite.h"
#include "write.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_LINES_PER_SECOND 20

struct serial_idx {
    uint64_t serial;
    uint32_t idx;
};

struct qs_ingest {
    qs_ingest_config_t cfg;
    qs_peer_cache_t *peers;
    qs_keyset_t *keys, *keys_spare;
    qs_policy_t policy;
    int configured;
    int64_t policy_version;
    int reload_needed;
    int loaded_once;
    int64_t last_check_mono;

    qs_write_t *write;           /* the transaction body: the commit thread's */
    qs_commit_ctx_t commit_ctx;  /* what the commit thread borrows */
    qs_committer_t *committer;   /* the commit thread */
    qs_acks_t *acks;             /* ack and Reply buffers */
    qs_quota_t *quota;           /* per-client rates (quota.h) */
    qs_headroom_t *headroom;     /* the disk reserve (headroom.h) */

    /* The two groups: fill takes envelopes; flight, when not NULL, is with
     * the commit thread (at most one: commits stay in order). */
    qs_group_t groups[2];
    qs_group_t *fill, *flight;

    /* scratch, reused */
    uint8_t *plain;              /* QS_MAX_FRAME_BYTES */
    struct serial_idx order[QS_MAX_BATCH_MESSAGES];

    /* counters: batch-level ones wait in fill->pending (they survive a
     * rollback); message-level ones die with it (qs_group_t.txn) */
    qs_ingest_stats_t stats;
    int failing;                 /* last commit failed (log transitions only) */
    uint64_t failed_in_row;

    qs_lograte_t *lograte;       /* rejection log budget */
};

/* ------------------------------------------------------------- logging */

/* At most 8 hex characters of a client key: enough to correlate with
 * qsctl, too little to identify anyone. */
static void
key_prefix(char out[9], const qs_group_batch_t *b)
{
    if (!b->has_pk) {
        snprintf(out, 9, "?");
        return;
    }
    qs_hex_encode(out, 9, b->pk, 4);
}

static void
pending_reject(qs_ingest_t *self, Quietstate__Status status, Quietstate__Code code)
{
    if (!self->fill->pending.nonzero)
        self->fill->pending_since_mono = qs_clock_mono_ms();
    qs_tally_reject(&self->fill->pending, status, code);
}

/* ------------------------------------------------------------ site.db */

static void
log_policy_change(const qs_ingest_t *self, const qs_policy_t *policy, int configured,
                  int64_t version)
{
    if (!configured && (!self->loaded_once || self->configured))
        log_warn("no privacy policy is set: answering NOT_CONFIGURED and storing nothing "
                 "until 'qsctl policy set' is run");
    if (configured && (!self->configured || version != self->policy_version))
        log_info("policy version %lld in force (user names %s, time precision %s)",
                 (long long)version, policy->collect_user_names ? "collected" : "dropped",
                 qs_policy_precision_name(policy->time_precision_ms));
}

static int
reload_site(qs_ingest_t *self)
{
    qs_keyset_t *tmp;
    qs_policy_t policy;
    int configured = 0;
    int64_t version = 0;

    if (qs_sitedb_load_keyset(self->cfg.sitedb, self->keys_spare) != 0 ||
        qs_sitedb_policy_get(self->cfg.sitedb, &policy, &configured, &version) != 0) {
        if (!self->reload_needed)
            log_error("cannot reload keys and policy from site.db: %s (keeping the "
                      "previous ones, retrying)", sqlite3_errmsg(qs_sitedb_sqlite(self->cfg.sitedb)));
        self->reload_needed = 1;
        return -1;
    }
    tmp = self->keys;
    self->keys = self->keys_spare;
    self->keys_spare = tmp;
    if (policy.time_precision_ms < 1)
        policy.time_precision_ms = 1;
    log_policy_change(self, &policy, configured, version);
    self->policy = policy;
    self->configured = configured;
    self->policy_version = version;
    self->reload_needed = 0;
    self->loaded_once = 1;
    self->stats.reloads++;
    log_debug("site.db reloaded: %zu enrolled, %zu revoked clients, policy %s",
              qs_keyset_count(self->keys, QS_KEY_ENROLLED),
              qs_keyset_count(self->keys, QS_KEY_REVOKED),
              configured ? "configured" : "not configured");
    return 0;
}

static void
check_site(qs_ingest_t *self, int force)
{
    int64_t now = qs_clock_mono_ms();
    int changed = 0;

    if (!force && now - self->last_check_mono < QS_INGEST_SITEDB_CHECK_MS)
        return;
    self->last_check_mono = now;
    if (qs_sitedb_changed(self->cfg.sitedb, &changed) != 0) {
        log_warn("cannot poll site.db for changes: %s",
                 sqlite3_errmsg(qs_sitedb_sqlite(self->cfg.sitedb)));
        return;
    }
    if (changed || self->reload_needed)
        (void)reload_site(self);
}

/* ------------------------------------------------------------ new/destroy */

/* The commit thread's job: ingest's receiving side is never touched there. */
static void
commit_job(void *arg, void *job)
{
    qs_commit_group(arg, job);
}

qs_ingest_t *
qs_ingest_new(const qs_ingest_config_t *cfg, char *errmsg, size_t errmsg_len)
{
    qs_ingest_t *self;
    int changed;

    QS_ASSERT(cfg->store_kp && cfg->site_key && cfg->sitedb && cfg->storedb &&
              cfg->epochkeys && cfg->clock);
    self = qs_calloc(1, sizeof *self);
    self->cfg = *cfg;
    if (self->cfg.group_max_messages < 1)
        self->cfg.group_max_messages = 1;
    self->peers = qs_peer_cache_new(cfg->store_kp, QS_INGEST_PEER_CACHE);
    self->plain = sodium_malloc(QS_MAX_FRAME_BYTES);
    if (self->peers == NULL || self->plain == NULL) {
        snprintf(errmsg, errmsg_len, "out of locked memory for the shared-key cache");
        qs_ingest_destroy(&self);
        return NULL;
    }
    self->keys = qs_keyset_new();
    self->keys_spare = qs_keyset_new();
    for (size_t i = 0; i < 2; i++)
        self->groups[i].arena = qs_arena_new();
    self->fill = &self->groups[0];
    self->acks = qs_acks_new(cfg->store_kp);
    self->write = qs_write_new(cfg->storedb, cfg->site_key, cfg->epochkeys, errmsg, errmsg_len);
    if (self->write == NULL) {
        qs_ingest_destroy(&self);
        return NULL;
    }
    qs_write_set_max_topics(self->write, cfg->quota_topics);
    self->quota = qs_quota_new(&(qs_quota_conf_t){ cfg->quota_messages_per_minute,
                                                   cfg->quota_details_per_minute });
    self->headroom = qs_headroom_new(cfg->reserve_dir, cfg->reserve_bytes);
    self->commit_ctx.write = self->write;
    self->commit_ctx.clock = cfg->clock;
    /* From here on only the commit thread uses self->write. */
    self->committer = qs_committer_new(commit_job, &self->commit_ctx, errmsg, errmsg_len);
    if (self->committer == NULL) {
        qs_ingest_destroy(&self);
        return NULL;
    }
    /* Prime data_version, then load unconditionally. */
    (void)qs_sitedb_changed(cfg->sitedb, &changed);
    if (reload_site(self) != 0) {
        snprintf(errmsg, errmsg_len, "cannot read keys and policy from site.db: %s",
                 sqlite3_errmsg(qs_sitedb_sqlite(cfg->sitedb)));
        qs_ingest_destroy(&self);
        return NULL;
    }
    self->stats.reloads = 0;
    self->last_check_mono = qs_clock_mono_ms();
    self->lograte = qs_lograte_new(LOG_LINES_PER_SECOND);
    return self;
}

/* Empty g for the next envelopes (its acks are out): the arena's names in
 * clear are wiped (arena.c), the pseudonyms were by the commit thread. */
static void
group_reset(qs_group_t *g)
{
    qs_arena_reset(g->arena);
    g->n_batches = 0;
    g->n_msgs = 0;
    g->messages = 0;
    memset(&g->pending, 0, sizeof g->pending);
    memset(&g->txn, 0, sizeof g->txn);
}

void
qs_ingest_destroy(qs_ingest_t **self_p)
{
    qs_ingest_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    /* First: it waits for a group in flight, which still uses write. */
    qs_committer_destroy(&self->committer);
    qs_write_destroy(&self->write);
    qs_acks_destroy(&self->acks);
    qs_quota_destroy(&self->quota);
    qs_headroom_destroy(&self->headroom);
    qs_lograte_destroy(&self->lograte);
    for (size_t i = 0; i < 2; i++) {
        qs_arena_destroy(&self->groups[i].arena);
        free(self->groups[i].batches);
        free(self->groups[i].msgs);
    }
    qs_peer_cache_destroy(&self->peers);
    qs_keyset_destroy(&self->keys);
    qs_keyset_destroy(&self->keys_spare);
    if (self->plain != NULL)
        sodium_free(self->plain);
    free(self);
    *self_p = NULL;
}

/* ----------------------------------------------------------------- add */

static Quietstate__Status
batch_refuse(qs_ingest_t *self, qs_group_batch_t *b, Quietstate__Status status,
             Quietstate__Code code, const char *reason)
{
    char who[9];

    b->status = status;
    b->code = code;
    b->reason = reason;
    b->in_txn = 0;
    pending_reject(self, status, code);
    self->stats.rejected_batches++;
    key_prefix(who, b);
    if (qs_lograte_allow(self->lograte, qs_clock_mono_ms()))
        log_warn("rejected batch from client '%s': %s/%s (%s)", who, qs_status_name(status),
                 qs_code_name(code), reason);
    return status;
}

/* A new batch record at the end of the group. */
static qs_group_batch_t *
group_append(qs_group_t *g, const uint8_t *routing_id, size_t routing_id_len)
{
    qs_group_batch_t *b;

    qs_grow((void **)&g->batches, &g->cap_batches, g->n_batches + 1, sizeof *g->batches);
    b = &g->batches[g->n_batches++];
    memset(b, 0, sizeof *b);
    b->rid_len = routing_id_len < sizeof b->rid ? routing_id_len : sizeof b->rid;
    if (b->rid_len > 0)
        memcpy(b->rid, routing_id, b->rid_len);
    b->first_msg = g->n_msgs;
    b->status = QUIETSTATE__STATUS__OK;
    return b;
}

/* Why an envelope that does not parse is refused, for its Ack's reason. */
static const char *
parse_refusal(Quietstate__Code code)
{
    _Static_assert(QS_ENVELOPE_VERSION == 2, "the reason below names the version");
    switch (code) {
    case QUIETSTATE__CODE__SENDER_MISMATCH:
        return "the envelope sender is not the transport-authenticated key";
    case QUIETSTATE__CODE__BAD_VERSION:
        return "unsupported envelope version: this store speaks only version 2 (producers, "
               "broker and store ship together: upgrade the producer)";
    default:
        return "the envelope is malformed";
    }
}

/* The envelope's frame and sender: parsed, from the transport key, enrolled,
 * and a policy in force. OK with *env to free, or the refusal. */
static Quietstate__Status
check_sender(qs_ingest_t *self, qs_group_batch_t *b, Quietstate__Envelope **env,
             const uint8_t *frame, size_t frame_len)
{
    Quietstate__Code code;

    if (qs_envelope_parse_from(env, frame, frame_len, b->pk, &code) != 0)
        return batch_refuse(self, b,
                            code == QUIETSTATE__CODE__FRAME_TOO_LARGE
                                ? QUIETSTATE__STATUS__TOO_LARGE : QUIETSTATE__STATUS__BAD_ENVELOPE,
                            code, parse_refusal(code));
    switch (qs_keyset_get(self->keys, b->pk)) {
    case QS_KEY_ENROLLED:
        break;
    case QS_KEY_REVOKED:
        return batch_refuse(self, b, QUIETSTATE__STATUS__REVOKED,
                            QUIETSTATE__CODE__CLIENT_REVOKED, "this client key is revoked");
    default:
        return batch_refuse(self, b, QUIETSTATE__STATUS__UNKNOWN_SENDER,
                            QUIETSTATE__CODE__CLIENT_UNKNOWN, "this client key is not enrolled");
    }
    b->report_lw = 1;
    if (!self->configured)
        return batch_refuse(self, b, QUIETSTATE__STATUS__NOT_CONFIGURED,
                            QUIETSTATE__CODE__NO_POLICY,
                            "no privacy policy is set: nothing is collected until one is");
    return QUIETSTATE__STATUS__OK;
}

/* Store protection (docs/quotas.md): the disk reserve before decrypting,
 * the client's rates once the batch is decoded. Both transient: nothing of
 * the batch is kept, the producer resends it. */
static Quietstate__Status
check_headroom(qs_ingest_t *self, qs_group_batch_t *b)
{
    if (!qs_headroom_low(self->headroom, qs_clock_mono_ms()))
        return QUIETSTATE__STATUS__OK;
    return batch_refuse(self, b, QUIETSTATE__STATUS__RETRY_LATER, QUIETSTATE__CODE__DISK_RESERVE,
                        "the store's disk is under [store] disk_reserve_mb: keep the messages "
                        "and resend later");
}

static Quietstate__Status
check_quota(qs_ingest_t *self, qs_group_batch_t *b, const Quietstate__Batch *batch)
{
    uint64_t details = 0;
    Quietstate__Code code;

    b->decoded = 1;   /* the Ack names the batch: the producer's reply-time sample */
    b->first_serial = UINT64_MAX;
    for (size_t i = 0; i < batch->n_messages; i++) {
        const Quietstate__StateMessage *m = batch->messages[i];
        details += strlen(m->details);
        b->first_serial = m->serial < b->first_serial ? m->serial : b->first_serial;
        b->last_serial = m->serial > b->last_serial ? m->serial : b->last_serial;
    }
    code = qs_quota_take(self->quota, b->pk, batch->n_messages, details, qs_clock_mono_ms());
    if (code == QUIETSTATE__CODE__CODE_NONE)
        return QUIETSTATE__STATUS__OK;
    return batch_refuse(self, b, QUIETSTATE__STATUS__RETRY_LATER, code, qs_quota_reason(code));
}

/* Decrypt env (consumed) and decode its Batch into the arena. */
static Quietstate__Status
open_batch(qs_ingest_t *self, qs_group_batch_t *b, Quietstate__Envelope *env,
           Quietstate__Batch **batch)
{
    const uint8_t *shared = qs_peer_cache_get(self->peers, b->pk);
    Quietstate__Status status;
    Quietstate__Code code;
    size_t plain_len = 0;
    int rc;

    rc = shared == NULL ? -1
                        : qs_envelope_open(self->plain, &plain_len, QS_MAX_FRAME_BYTES,
                                           QS_ENVELOPE_TO_STORE, env, shared);
    quietstate__envelope__free_unpacked(env, NULL);
    if (rc != 0)
        return batch_refuse(self, b, QUIETSTATE__STATUS__BAD_ENVELOPE,
                            QUIETSTATE__CODE__DECRYPT_FAILED,
                            "the ciphertext does not open with this client's key for the "
                            "store (tampered, reflected, or not padded to a bucket)");
    rc = qs_batch_decode(batch, self->plain, plain_len, qs_arena_allocator(self->fill->arena),
                         &status, &code);
    sodium_memzero(self->plain, plain_len);
    if (rc != 0)
        return batch_refuse(self, b, status, code,
                            code == QUIETSTATE__CODE__BATCH_NOT_PROTOBUF
                                ? "the plaintext is not a Batch"
                                : code == QUIETSTATE__CODE__EMPTY_BATCH
                                      ? "the batch holds no message"
                                      : "the batch is too large");
    return QUIETSTATE__STATUS__OK;
}

static int
cmp_serial_idx(const void *a, const void *b)
{
    const struct serial_idx *x = a, *y = b;
    if (x->serial != y->serial)
        return x->serial < y->serial ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* A serial that appears more than once cannot be trusted in any copy:
 * every copy is rejected SERIAL_REPEATED (so Ack.rejected never names a
 * serial that was also stored). The first copy in batch order carries the
 * serial through dedup (handled, counted once); later copies follow it.
 * self->order holds the batch's (serial, index) pairs. */
static void
mark_repeated(qs_ingest_t *self, size_t n)
{
    qsort(self->order, n, sizeof self->order[0], cmp_serial_idx);
    for (size_t i = 1, run = 0; i < n; i++) {
        if (self->order[i].serial != self->order[run].serial) {
            run = i;
            continue;
        }
        /* Equal serials are sorted by position: order[run] is the first copy. */
        for (size_t k = (i == run + 1) ? run : i; k <= i; k++) {
            qs_group_msg_t *r = &self->fill->msgs[self->fill->n_msgs + self->order[k].idx];
            r->valid = 0;
            r->repeated = k != run;
            r->owner = self->order[run].idx;
            r->status = QUIETSTATE__STATUS__BAD_MESSAGE;
            r->code = QUIETSTATE__CODE__SERIAL_REPEATED;
            r->why = "the same serial appears more than once in this batch";
        }
    }
}

/* Validate the batch's messages and append them to the group. */
static void
take_messages(qs_ingest_t *self, qs_group_batch_t *b, const Quietstate__Batch *batch)
{
    qs_group_t *g = self->fill;
    size_t n = batch->n_messages;
    int64_t now_ms = qs_clock_now_ms(self->cfg.clock);

    qs_grow((void **)&g->msgs, &g->cap_msgs, g->n_msgs + n, sizeof *g->msgs);
    QS_ASSERT(n <= QS_MAX_BATCH_MESSAGES);
    b->n_msgs = n;
    b->decoded = 1;
    b->in_txn = 1;
    b->first_serial = UINT64_MAX;
    /* Resync fields (docs/resync.md); an instance id of another length is
     * ignored (no restart detection for that batch). */
    if (batch->instance.len == sizeof b->instance) {
        memcpy(b->instance, batch->instance.data, sizeof b->instance);
        b->has_instance = 1;
    }
    b->rs_gen = batch->resync_generation;
    b->rs_last = batch->resync_last_serial;
    for (size_t i = 0; i < n; i++) {
        qs_group_msg_t *r = &g->msgs[g->n_msgs + i];
        const Quietstate__StateMessage *m = batch->messages[i];
        memset(r, 0, sizeof *r);
        r->m = m;
        if (m->serial < b->first_serial)
            b->first_serial = m->serial;
        if (m->serial > b->last_serial)
            b->last_serial = m->serial;
        self->order[i].serial = m->serial;
        self->order[i].idx = (uint32_t)i;
        /* qs_message_validate also bounds serials to 2^63-1 (SQLite integers). */
        if (qs_message_validate(m, now_ms, self->cfg.skew_ms, &r->status, &r->code,
                                &r->why) == 0)
            r->valid = 1;
    }
    mark_repeated(self, n);
    qs_machine_check(b, g->msgs, qs_keyset_machine(self->keys, b->pk), self->cfg.site_key);
    g->n_msgs += n;
    g->messages += n;
}

Quietstate__Status
qs_ingest_add(qs_ingest_t *self, const uint8_t *routing_id, size_t routing_id_len,
              const uint8_t *transport_pk, size_t transport_pk_len,
              const uint8_t *frame, size_t frame_len)
{
    Quietstate__Envelope *env = NULL;
    Quietstate__Batch *batch = NULL;
    Quietstate__Status status;
    qs_group_batch_t *b;

    /* A new group sees every site.db change committed before it started. */
    check_site(self, self->fill->n_batches == 0);
    b = group_append(self->fill, routing_id, routing_id_len);
    if (transport_pk == NULL || transport_pk_len != QS_KEY_BYTES || frame == NULL)
        return batch_refuse(self, b, QUIETSTATE__STATUS__BAD_ENVELOPE,
                            QUIETSTATE__CODE__BAD_FRAMES,
                            "expected [routing id][client key, 32 bytes][envelope]");
    memcpy(b->pk, transport_pk, QS_KEY_BYTES);
    b->has_pk = 1;
    if ((status = check_sender(self, b, &env, frame, frame_len)) != QUIETSTATE__STATUS__OK ||
        (status = check_headroom(self, b)) != QUIETSTATE__STATUS__OK) {
        if (env != NULL)
            quietstate__envelope__free_unpacked(env, NULL);
        return status;
    }
    if ((status = open_batch(self, b, env, &batch)) != QUIETSTATE__STATUS__OK ||
        (status = check_quota(self, b, batch)) != QUIETSTATE__STATUS__OK)
        return status;
    take_messages(self, b, batch);
    return QUIETSTATE__STATUS__OK;
}

int
qs_ingest_full(const qs_ingest_t *self)
{
    const qs_group_t *g = self->fill;

    return g->messages >= self->cfg.group_max_messages ||
           g->n_batches >= QS_INGEST_MAX_GROUP_BATCHES ||
           qs_arena_used(g->arena) >= QS_INGEST_MAX_GROUP_BYTES;
}

size_t
qs_ingest_pending(const qs_ingest_t *self)
{
    return self->fill->n_batches;
}

int
qs_ingest_busy(const qs_ingest_t *self)
{
    return self->flight != NULL;
}

int
qs_ingest_fd(const qs_ingest_t *self)
{
    return qs_committer_fd(self->committer);
}

/* ------------------------------------------------- handoff and answers */

/* Hand the group being filled to the commit thread (a group of no batch
 * carries counters alone: qs_ingest_tick's). 1 handed over, 0 when a group
 * is already in flight. */
static int
group_submit(qs_ingest_t *self)
{
    qs_group_t *g = self->fill;
    int rc;

    if (self->flight != NULL)
        return 0;
    g->policy = self->policy;
    /* Counters that waited long enough are written even by a group that
     * needs no transaction otherwise (refusals only): under a steady stream
     * of refused envelopes qs_ingest_tick never finds the pipeline idle. */
    g->write_pending = g->pending.nonzero &&
                       (g->n_batches == 0 ||
                        qs_clock_mono_ms() - g->pending_since_mono >= QS_INGEST_COUNTER_FLUSH_MS);
    rc = qs_committer_submit(self->committer, g);
    QS_ASSERT(rc == 0);   /* nothing in flight: the slot is free */
    self->flight = g;
    /* The other group was answered and reset when it came back. */
    self->fill = g == &self->groups[0] ? &self->groups[1] : &self->groups[0];
    QS_ASSERT(self->fill->n_batches == 0 && !self->fill->pending.nonzero);
    return 1;
}

int
qs_ingest_submit(qs_ingest_t *self)
{
    return self->fill->n_batches > 0 ? group_submit(self) : 0;
}

static void
log_batch_rejections(qs_ingest_t *self, const qs_group_t *g, const qs_group_batch_t *b)
{
    const qs_group_msg_t *first = NULL;
    char who[9];

    if (b->n_rejected == 0)
        return;
    for (size_t i = 0; i < b->n_msgs && first == NULL; i++)
        if (g->msgs[b->first_msg + i].outcome == QS_OUT_REJECTED)
            first = &g->msgs[b->first_msg + i];
    if (first == NULL || !qs_lograte_allow(self->lograte, qs_clock_mono_ms()))
        return;
    key_prefix(who, b);
    log_warn("rejected %u of %zu messages from client '%s': first %s/%s (%s)", b->n_rejected,
             b->n_msgs, who, qs_status_name(first->status), qs_code_name(first->code),
             first->why);
}

static void
commit_succeeded(qs_ingest_t *self, const qs_group_t *g)
{
    self->stats.stored += (uint64_t)g->txn.stored;
    self->stats.duplicates += (uint64_t)g->txn.duplicates;
    self->stats.resync_requested += (uint64_t)g->txn.resync[QS_RESYNC_REQUESTED];
    self->stats.resync_applied += (uint64_t)g->txn.resync[QS_RESYNC_APPLIED];
    self->stats.commits++;
    if (self->failing)
        log_info("store.db writable again after %llu failed commits",
                 (unsigned long long)self->failed_in_row);
    self->failing = 0;
    self->failed_in_row = 0;
    for (size_t i = 0; i < g->n_batches; i++)
        if (g->batches[i].in_txn) {
            self->stats.rejected_messages += g->batches[i].n_rejected;
            log_batch_rejections(self, g, &g->batches[i]);
        }
    log_debug("committed %zu envelopes: %lld stored, %lld duplicates in %.0f ms", g->n_batches,
              (long long)g->txn.stored, (long long)g->txn.duplicates, g->seconds * 1000.0);
}

/* commit.c rolled the group back and made its batches RETRY_LATER: count
 * those answers with the next group's counters. */
static void
commit_failed(qs_ingest_t *self, const qs_group_t *g)
{
    if (!self->failing)
        log_error("commit failed, answering RETRY_LATER until store.db is writable: %s",
                  g->errmsg);
    self->failing = 1;
    self->failed_in_row++;
    self->stats.commit_failures++;
    for (uint32_t i = 0; i < g->n_retry; i++)
        pending_reject(self, QUIETSTATE__STATUS__RETRY_LATER, QUIETSTATE__CODE__STORE_BUSY);
}

/* Counters g did not write wait again, with the group being filled. */
static void
pending_carry(qs_ingest_t *self, const qs_group_t *g)
{
    qs_group_t *f = self->fill;

    if (g->pending_written || !g->pending.nonzero)
        return;
    if (!f->pending.nonzero || g->pending_since_mono < f->pending_since_mono)
        f->pending_since_mono = g->pending_since_mono;
    /* A write of the counters alone that failed: retry after another interval. */
    if (g->write_pending)
        f->pending_since_mono = qs_clock_mono_ms();
    qs_tally_add(&f->pending, &g->pending);
}

static void
send_ack(qs_ingest_t *self, const qs_group_t *g, const qs_group_batch_t *b,
         qs_ingest_reply_fn reply, void *ctx)
{
    Quietstate__Ack ack;
    const uint8_t *rep = NULL, *shared = NULL;
    size_t rep_len = 0;

    /* A client of another envelope version could not open an ack sealed the
     * way this version seals: its refusal goes as a plain notice it can read. */
    if (b->has_pk && b->code != QUIETSTATE__CODE__BAD_VERSION)
        shared = qs_peer_cache_get(self->peers, b->pk);
    /* low_water: set in the transaction when stored, else read by the commit
     * thread after it (commit.c); either way already on disk. */
    qs_acks_build(self->acks, &ack, &rep, &rep_len, b, g->msgs, b->low_water, shared);
    self->stats.batches++;
    if (reply != NULL)
        reply(ctx, b->rid, b->rid_len, rep, rep_len, &ack);
}

int
qs_ingest_collect(qs_ingest_t *self, int wait, qs_ingest_reply_fn reply, void *ctx,
                  qs_ingest_done_t *done)
{
    qs_group_t *g = qs_committer_take(self->committer, wait);

    if (g == NULL)
        return 0;
    QS_ASSERT(g == self->flight);
    self->flight = NULL;
    /* A write of counters alone that failed is no failed commit: they stay
     * pending and are retried (pending_carry). */
    if (g->ran_txn && g->rc == 0)
        commit_succeeded(self, g);
    else if (g->ran_txn)
        commit_failed(self, g);
    pending_carry(self, g);
    for (size_t i = 0; i < g->n_batches; i++)
        send_ack(self, g, &g->batches[i], reply, ctx);
    if (done != NULL) {
        done->envelopes = g->n_batches;
        done->rc = g->rc;
        done->seconds = g->seconds;
    }
    group_reset(g);
    return 1;
}

int
qs_ingest_commit(qs_ingest_t *self, qs_ingest_reply_fn reply, void *ctx)
{
    qs_ingest_done_t done = { 0, 0, 0.0 };

    /* The group in flight first: acks leave in commit order. */
    (void)qs_ingest_collect(self, 1, reply, ctx, NULL);
    if (self->fill->n_batches == 0)
        return 0;   /* counters alone wait for qs_ingest_tick */
    (void)qs_ingest_submit(self);
    (void)qs_ingest_collect(self, 1, reply, ctx, &done);
    return done.rc;
}

/* ----------------------------------------------------------------- tick */

int
qs_ingest_tick(qs_ingest_t *self, int force)
{
    int64_t now = qs_clock_mono_ms();
    qs_ingest_done_t done = { 0, 0, 0.0 };
    qs_group_t *f = self->fill;

    check_site(self, force);
    if (!f->pending.nonzero || f->n_batches > 0 || self->flight != NULL)
        return 0;
    if (!force && now - f->pending_since_mono < QS_INGEST_COUNTER_FLUSH_MS)
        return 0;
    /* The counters alone, as a group of no batch. Forced: now, in this
     * call; otherwise the caller collects it when its fd is readable. */
    (void)group_submit(self);
    if (!force)
        return 0;
    (void)qs_ingest_collect(self, 1, NULL, NULL, &done);
    return done.rc;
}

void
qs_ingest_stats(const qs_ingest_t *self, qs_ingest_stats_t *out)
{
    *out = self->stats;
    out->disk_low = qs_headroom_low(self->headroom, qs_clock_mono_ms());
    out->disk_free_bytes = qs_headroom_free(self->headroom);
}
