/* ingest.c - how a group of envelopes becomes one transaction and a set of sealed acks.
 *
 * qs_ingest_add checks and decodes one envelope without writing anything:
 * parse, sender == transport key, standing in the site.db keyset, policy
 * present, open with the per-sender precomputed key (qs_peer_cache), decode
 * the Batch into a per-group arena (one bump allocator reused across groups,
 * so the hot path does not malloc per message), validate every message and
 * mark a serial repeated inside the batch. The batch and its messages are
 * appended to the group.
 *
 * qs_ingest_commit then opens ONE transaction for the whole group. For each
 * batch, in arrival order: find or create the client row, walk its messages
 * deduplicating by (client, serial) against clients.low_water and the seen
 * table, store the new ones (latest: an UPDATE that touches as few indexes as
 * the change needs, the upsert only for a new row or a renamed machine;
 * history row in its (epoch, topic) partition unless already past the
 * policy's maximum age), count, and move
 * low_water over every contiguous handled serial. Counters and the
 * compliance_counts changes of the state moves are written in the same
 * transaction. Only after COMMIT is each ack built, sealed for the
 * client (crypto_box with the cached shared key) and handed to the caller.
 *
 * Minimization happens on the way into SQLite: machine, domain and (only
 * when the policy collects them) user names become keyed pseudonyms, times
 * are truncated to the policy's precision, details are sealed with
 * XChaCha20-Poly1305 under the partition's epoch key with the row's
 * identity as associated data. No raw name is ever bound to a statement.
 * The last pseudonym of each kind is remembered (a batch names one machine),
 * its name wiped with the arena after the group.
 *
 * Counters of rejections that needed no transaction (a whole batch refused)
 * wait in memory ("pending") and are written by the next transaction or by
 * qs_ingest_tick within QS_INGEST_COUNTER_FLUSH_MS. Counters produced inside
 * a transaction that rolls back are discarded with it: the producer resends
 * and they are counted then.
 */
#include "ingest.h"
#include "qs_clock.h"

#include "qs_codec.h"
#include "qs_counts.h"
#include "qs_envelope.h"
#include "qs_hex.h"
#include "qs_keyset.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "qs_pseudonym.h"
#include "storedb_sqlite.h"

#include <sodium.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- arena */

/* protobuf-c unpacks into this: alloc bumps a pointer, free does nothing,
 * reset (after each group) wipes what was used (it held names in clear). */
#define ARENA_CHUNK (1024u * 1024u)
#define ARENA_KEEP_BYTES (16u * 1024u * 1024u)
#define ARENA_ALIGN 16u

struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    alignas(16) unsigned char data[];
};

struct arena {
    struct arena_chunk *head;    /* chunk being filled; full ones follow via next */
    struct arena_chunk *spare;   /* emptied chunks kept for reuse */
    size_t used_total;
};

static void *
arena_alloc(void *data, size_t size)
{
    struct arena *a = data;
    struct arena_chunk *c = a->head;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    void *p;

    if (need == 0)
        need = ARENA_ALIGN;
    if (c == NULL || c->cap - c->used < need) {
        if (a->spare != NULL && a->spare->cap >= need) {
            c = a->spare;
            a->spare = c->next;
        } else {
            size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;
            c = qs_malloc(sizeof *c + cap);
            c->cap = cap;
        }
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    p = c->data + c->used;
    c->used += need;
    a->used_total += need;
    return p;
}

static void
arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static void
arena_reset(struct arena *a)
{
    size_t kept = 0;

    for (struct arena_chunk *s = a->spare; s != NULL; s = s->next)
        kept += s->cap;
    while (a->head != NULL) {
        struct arena_chunk *c = a->head;
        a->head = c->next;
        sodium_memzero(c->data, c->used);
        if (kept + c->cap <= ARENA_KEEP_BYTES) {
            c->next = a->spare;
            a->spare = c;
            kept += c->cap;
        } else {
            free(c);
        }
    }
    a->used_total = 0;
}

static void
arena_destroy(struct arena *a)
{
    arena_reset(a);
    while (a->spare != NULL) {
        struct arena_chunk *c = a->spare;
        a->spare = c->next;
        free(c);
    }
}

/* ------------------------------------------------------------- counters */

#define N_STATUS 32
#define N_CODE 64

struct counts {
    int64_t stored, duplicates;
    int64_t status[N_STATUS];   /* rejected.<STATUS> */
    int64_t code[N_CODE];       /* rejected_detail.<CODE> */
    int nonzero;
};

static void
counts_reject(struct counts *c, Quietstate__Status status, Quietstate__Code code)
{
    QS_ASSERT((unsigned)status < N_STATUS && (unsigned)code < N_CODE);
    c->status[status]++;
    c->code[code]++;
    c->nonzero = 1;
}

/* ---------------------------------------------------------------- group */

enum { OUT_NONE = 0, OUT_STORED, OUT_DUPLICATE, OUT_REJECTED };

struct msg_rec {
    const Quietstate__StateMessage *m;
    Quietstate__Status status;   /* the rejection, when !valid */
    Quietstate__Code code;
    const char *why;
    uint8_t valid;
    uint8_t repeated;            /* SERIAL_REPEATED: never goes through dedup */
    uint8_t fresh;               /* its serial was new in this transaction */
    uint8_t outcome;
    uint32_t owner;              /* repeated: index (in the batch) of the first copy */
};

struct batch {
    uint8_t rid[QS_INGEST_MAX_ROUTING_ID];
    size_t rid_len;
    uint8_t pk[QS_KEY_BYTES];    /* transport-authenticated key */
    int has_pk;
    int report_lw;               /* sender authenticated and enrolled */
    int decoded;                 /* a Batch was decoded: first/last_serial known */
    int in_txn;                  /* decoded and goes through the transaction */
    Quietstate__Status status;
    Quietstate__Code code;
    const char *reason;
    size_t first_msg, n_msgs;
    uint64_t first_serial, last_serial;
    uint64_t low_water;
    uint32_t n_stored, n_dup, n_rejected;
};

struct serial_idx {
    uint64_t serial;
    uint32_t idx;
};

/* The last name pseudonymized per kind (machine, domain, user) and its
 * pseudonym: the messages of one batch nearly always name the same machine,
 * so one keyed BLAKE2b per batch instead of two or three per message. The
 * name is a copy in clear, wiped with the arena after every group. */
struct ps_memo {
    int valid;
    char name[QS_MAX_NAME_BYTES + 1];
    uint8_t ps[QS_PSEUDONYM_BYTES];
};

/* One cached INSERT per history partition touched recently. */
#define PART_CACHE 32

struct part {
    int used;
    int64_t epoch;
    uint32_t topic_type;
    sqlite3_stmt *insert;
    uint64_t txn_no;             /* transaction that last ensured it */
    int64_t rows_delta;          /* rows inserted by the open transaction */
};

struct qs_ingest {
    qs_ingest_config_t cfg;
    sqlite3 *db;
    qs_peer_cache_t *peers;
    qs_keyset_t *keys, *keys_spare;
    qs_policy_t policy;
    int configured;
    int64_t policy_version;
    int reload_needed;
    int loaded_once;
    int64_t last_check_mono;

    /* statements, prepared once */
    sqlite3_stmt *sel_client, *ins_client, *upd_client;
    sqlite3_stmt *any_seen, *sel_seen, *ins_seen, *del_seen;
    sqlite3_stmt *sel_latest, *upsert_latest, *update_latest, *touch_latest, *add_part_rows;
    qs_count_deltas_t *count_deltas;   /* compliance_counts changes of the transaction */

    struct part parts[PART_CACHE];
    uint64_t txn_no;

    /* the group */
    struct batch *batches;
    size_t n_batches, cap_batches;
    struct msg_rec *msgs;
    size_t n_msgs, cap_msgs;
    size_t group_messages;       /* messages in in_txn batches */
    struct arena arena;
    ProtobufCAllocator pb_alloc;

    /* scratch, reused */
    struct ps_memo memo[QS_PSEUDO_USER + 1];
    uint8_t *plain;              /* QS_MAX_FRAME_BYTES */
    struct serial_idx order[QS_MAX_BATCH_MESSAGES];
    uint8_t details_buf[QS_MAX_DETAILS_BYTES + QS_DETAILS_OVERHEAD];
    Quietstate__Rejected *rej;
    Quietstate__Rejected **rej_ptrs;
    size_t cap_rej, cap_rej_ptrs;
    uint8_t *ack_buf, *sealed_buf, *reply_buf;
    size_t cap_ack, cap_sealed, cap_reply;

    /* counters */
    struct counts pending;       /* batch-level: survive rollbacks */
    struct counts txn;           /* message-level: die with a rollback */
    int64_t pending_since_mono;
    qs_ingest_stats_t stats;
    int failing;                 /* last commit failed (log transitions only) */
    uint64_t failed_in_row;

    /* rejection log throttle */
    int64_t log_window_mono;
    unsigned log_in_window;
    uint64_t log_suppressed;
};

#define LOG_LINES_PER_SECOND 20u


/* Roll the one-second window of the rejection-log throttle, reporting what
 * it swallowed in the window that ended. */
static void
log_roll(qs_ingest_t *self, int64_t now)
{
    if (now - self->log_window_mono < 1000)
        return;
    if (self->log_suppressed > 0)
        log_warn("suppressed %llu rejection log lines in the last second",
                 (unsigned long long)self->log_suppressed);
    self->log_window_mono = now;
    self->log_in_window = 0;
    self->log_suppressed = 0;
}

static int
log_allowed(qs_ingest_t *self)
{
    log_roll(self, qs_clock_mono_ms());
    if (self->log_in_window < LOG_LINES_PER_SECOND) {
        self->log_in_window++;
        return 1;
    }
    self->log_suppressed++;
    return 0;
}

/* At most 8 hex characters of a client key: enough to correlate with
 * qsctl, too little to identify anyone. */
static void
key_prefix(char out[9], const struct batch *b)
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
    if (!self->pending.nonzero)
        self->pending_since_mono = qs_clock_mono_ms();
    counts_reject(&self->pending, status, code);
}

/* ------------------------------------------------------------ site.db */

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
    if (!configured && (!self->loaded_once || self->configured))
        log_warn("no privacy policy is set: answering NOT_CONFIGURED and storing nothing "
                 "until 'qsctl policy set' is run");
    if (configured && (!self->configured || version != self->policy_version))
        log_info("policy version %lld in force (user names %s, time precision %s)",
                 (long long)version, policy.collect_user_names ? "collected" : "dropped",
                 qs_policy_precision_name(policy.time_precision_ms));
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

static int
prepare(qs_ingest_t *self, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) ==
                   SQLITE_OK ? 0 : -1;
}

qs_ingest_t *
qs_ingest_new(const qs_ingest_config_t *cfg, char *errmsg, size_t errmsg_len)
{
    qs_ingest_t *self;
    int changed;

    QS_ASSERT(cfg->store_kp && cfg->site_key && cfg->sitedb && cfg->storedb &&
              cfg->epochkeys && cfg->clock);
    self = qs_calloc(1, sizeof *self);
    self->count_deltas = qs_count_deltas_new();
    self->cfg = *cfg;
    if (self->cfg.group_max_messages < 1)
        self->cfg.group_max_messages = 1;
    self->db = qs_storedb_sqlite(cfg->storedb);
    self->peers = qs_peer_cache_new(cfg->store_kp, QS_INGEST_PEER_CACHE);
    self->plain = sodium_malloc(QS_MAX_FRAME_BYTES);
    if (self->peers == NULL || self->plain == NULL) {
        snprintf(errmsg, errmsg_len, "out of locked memory for the shared-key cache");
        qs_ingest_destroy(&self);
        return NULL;
    }
    self->keys = qs_keyset_new();
    self->keys_spare = qs_keyset_new();
    self->pb_alloc.alloc = arena_alloc;
    self->pb_alloc.free = arena_free;
    self->pb_alloc.allocator_data = &self->arena;

    if (prepare(self, &self->sel_client,
                "SELECT client_id, low_water FROM clients WHERE pk = ?1") != 0 ||
        prepare(self, &self->ins_client,
                "INSERT INTO clients(pk, low_water, first_ms, last_ms) VALUES (?1, 0, ?2, ?2)") != 0 ||
        prepare(self, &self->upd_client,
                "UPDATE clients SET low_water = ?2, last_ms = max(last_ms, ?3) "
                "WHERE client_id = ?1") != 0 ||
        prepare(self, &self->any_seen, "SELECT 1 FROM seen WHERE client_id = ?1 LIMIT 1") != 0 ||
        prepare(self, &self->sel_seen,
                "SELECT 1 FROM seen WHERE client_id = ?1 AND serial = ?2") != 0 ||
        prepare(self, &self->ins_seen,
                "INSERT OR IGNORE INTO seen(client_id, serial) VALUES (?1, ?2)") != 0 ||
        prepare(self, &self->del_seen,
                "DELETE FROM seen WHERE client_id = ?1 AND serial <= ?2") != 0 ||
        prepare(self, &self->sel_latest,
                "SELECT state_id, time_ms FROM latest "
                "WHERE client_id = ?1 AND topic_type = ?2 AND topic_id = ?3") != 0 ||
        /* state/time follow the newest message time (ties: the later arrival);
         * report_ms is the store's time of the latest report, whatever its age. */
        prepare(self, &self->upsert_latest,
                "INSERT INTO latest(client_id, topic_type, topic_id, state_id, time_ms, "
                "  report_ms, machine_ps, domain_ps) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                "ON CONFLICT(client_id, topic_type, topic_id) DO UPDATE SET "
                "  state_id = CASE WHEN excluded.time_ms >= latest.time_ms "
                "    THEN excluded.state_id ELSE latest.state_id END, "
                "  machine_ps = CASE WHEN excluded.time_ms >= latest.time_ms "
                "    THEN excluded.machine_ps ELSE latest.machine_ps END, "
                "  domain_ps = CASE WHEN excluded.time_ms >= latest.time_ms "
                "    THEN excluded.domain_ps ELSE latest.domain_ps END, "
                "  time_ms = max(latest.time_ms, excluded.time_ms), "
                "  report_ms = max(latest.report_ms, excluded.report_ms)") != 0 ||
        /* The upsert's effect when the row is there with these pseudonyms
         * (see write_latest): SQLite updates only the indexes of the
         * columns a statement assigns. */
        prepare(self, &self->update_latest,
                "UPDATE latest SET "
                "  state_id = CASE WHEN ?5 >= time_ms THEN ?4 ELSE state_id END, "
                "  time_ms = max(time_ms, ?5), report_ms = max(report_ms, ?6) "
                "WHERE client_id = ?1 AND topic_type = ?2 AND topic_id = ?3 "
                "  AND machine_ps IS ?7 AND domain_ps IS ?8") != 0 ||
        prepare(self, &self->touch_latest,
                "UPDATE latest SET "
                "  time_ms = max(time_ms, ?5), report_ms = max(report_ms, ?6) "
                "WHERE client_id = ?1 AND topic_type = ?2 AND topic_id = ?3 "
                "  AND machine_ps IS ?7 AND domain_ps IS ?8 "
                "  AND (state_id = ?4 OR ?5 < time_ms)") != 0 ||
        prepare(self, &self->add_part_rows,
                "UPDATE partitions SET rows = rows + ?3 WHERE epoch = ?1 AND topic_type = ?2") != 0) {
        snprintf(errmsg, errmsg_len, "store.db is not a quietstate store database: %s",
                 sqlite3_errmsg(self->db));
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
    self->log_window_mono = qs_clock_mono_ms();
    return self;
}

static void
group_reset(qs_ingest_t *self)
{
    sodium_memzero(self->memo, sizeof self->memo);
    arena_reset(&self->arena);
    self->n_batches = 0;
    self->n_msgs = 0;
    self->group_messages = 0;
}

void
qs_ingest_destroy(qs_ingest_t **self_p)
{
    qs_ingest_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    sqlite3_finalize(self->sel_client);
    sqlite3_finalize(self->ins_client);
    sqlite3_finalize(self->upd_client);
    sqlite3_finalize(self->any_seen);
    sqlite3_finalize(self->sel_seen);
    sqlite3_finalize(self->ins_seen);
    sqlite3_finalize(self->del_seen);
    sqlite3_finalize(self->sel_latest);
    sqlite3_finalize(self->upsert_latest);
    sqlite3_finalize(self->update_latest);
    sqlite3_finalize(self->touch_latest);
    sqlite3_finalize(self->add_part_rows);
    qs_count_deltas_destroy(&self->count_deltas);
    for (size_t i = 0; i < PART_CACHE; i++)
        sqlite3_finalize(self->parts[i].insert);
    sodium_memzero(self->memo, sizeof self->memo);
    arena_destroy(&self->arena);
    qs_peer_cache_destroy(&self->peers);
    qs_keyset_destroy(&self->keys);
    qs_keyset_destroy(&self->keys_spare);
    if (self->plain != NULL)
        sodium_free(self->plain);
    free(self->batches);
    free(self->msgs);
    free(self->rej);
    free(self->rej_ptrs);
    free(self->ack_buf);
    free(self->sealed_buf);
    free(self->reply_buf);
    free(self);
    *self_p = NULL;
}

/* ----------------------------------------------------------------- add */

static int
cmp_serial_idx(const void *a, const void *b)
{
    const struct serial_idx *x = a, *y = b;
    if (x->serial != y->serial)
        return x->serial < y->serial ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static Quietstate__Status
batch_refuse(qs_ingest_t *self, struct batch *b, Quietstate__Status status,
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
    if (log_allowed(self))
        log_warn("rejected batch from client '%s': %s/%s (%s)", who, qs_status_name(status),
                 qs_code_name(code), reason);
    return status;
}

static void
grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 16;
    if (need <= *cap)
        return;
    while (c < need)
        c *= 2;
    *p = qs_realloc(*p, c * elem);
    *cap = c;
}

Quietstate__Status
qs_ingest_add(qs_ingest_t *self, const uint8_t *routing_id, size_t routing_id_len,
              const uint8_t *transport_pk, size_t transport_pk_len,
              const uint8_t *frame, size_t frame_len)
{
    Quietstate__Envelope *env = NULL;
    Quietstate__Batch *batch = NULL;
    Quietstate__Status status;
    Quietstate__Code code;
    const uint8_t *shared;
    struct batch *b;
    size_t plain_len = 0, n;
    int64_t now_ms;
    int rc;

    /* A new group sees every site.db change committed before it started. */
    check_site(self, self->n_batches == 0);

    grow((void **)&self->batches, &self->cap_batches, self->n_batches + 1, sizeof *self->batches);
    b = &self->batches[self->n_batches++];
    memset(b, 0, sizeof *b);
    b->rid_len = routing_id_len < sizeof b->rid ? routing_id_len : sizeof b->rid;
    if (b->rid_len > 0)
        memcpy(b->rid, routing_id, b->rid_len);
    b->first_msg = self->n_msgs;
    b->status = QUIETSTATE__STATUS__OK;

    if (transport_pk == NULL || transport_pk_len != QS_KEY_BYTES || frame == NULL)
        return batch_refuse(self, b, QUIETSTATE__STATUS__BAD_ENVELOPE,
                            QUIETSTATE__CODE__BAD_FRAMES,
                            "expected [routing id][client key, 32 bytes][envelope]");
    memcpy(b->pk, transport_pk, QS_KEY_BYTES);
    b->has_pk = 1;

    if (qs_envelope_parse(&env, frame, frame_len, &code) != 0)
        return batch_refuse(self, b,
                            code == QUIETSTATE__CODE__FRAME_TOO_LARGE
                                ? QUIETSTATE__STATUS__TOO_LARGE : QUIETSTATE__STATUS__BAD_ENVELOPE,
                            code, "the envelope is malformed");
    if (sodium_memcmp(env->sender_pk.data, transport_pk, QS_KEY_BYTES) != 0) {
        quietstate__envelope__free_unpacked(env, NULL);
        return batch_refuse(self, b, QUIETSTATE__STATUS__BAD_ENVELOPE,
                            QUIETSTATE__CODE__SENDER_MISMATCH,
                            "the envelope sender is not the transport-authenticated key");
    }
    switch (qs_keyset_get(self->keys, transport_pk)) {
    case QS_KEY_ENROLLED:
        break;
    case QS_KEY_REVOKED:
        quietstate__envelope__free_unpacked(env, NULL);
        return batch_refuse(self, b, QUIETSTATE__STATUS__REVOKED,
                            QUIETSTATE__CODE__CLIENT_REVOKED, "this client key is revoked");
    default:
        quietstate__envelope__free_unpacked(env, NULL);
        return batch_refuse(self, b, QUIETSTATE__STATUS__UNKNOWN_SENDER,
                            QUIETSTATE__CODE__CLIENT_UNKNOWN, "this client key is not enrolled");
    }
    b->report_lw = 1;
    if (!self->configured) {
        quietstate__envelope__free_unpacked(env, NULL);
        return batch_refuse(self, b, QUIETSTATE__STATUS__NOT_CONFIGURED,
                            QUIETSTATE__CODE__NO_POLICY,
                            "no privacy policy is set: nothing is collected until one is");
    }
    shared = qs_peer_cache_get(self->peers, transport_pk);
    rc = shared == NULL ? -1
                        : qs_envelope_open(self->plain, &plain_len, QS_MAX_FRAME_BYTES, env, shared);
    quietstate__envelope__free_unpacked(env, NULL);
    if (rc != 0)
        return batch_refuse(self, b, QUIETSTATE__STATUS__BAD_ENVELOPE,
                            QUIETSTATE__CODE__DECRYPT_FAILED,
                            "the ciphertext does not open with this client's key");
    rc = qs_batch_decode(&batch, self->plain, plain_len, &self->pb_alloc, &status, &code);
    sodium_memzero(self->plain, plain_len);
    if (rc != 0)
        return batch_refuse(self, b, status, code,
                            code == QUIETSTATE__CODE__BATCH_NOT_PROTOBUF
                                ? "the plaintext is not a Batch"
                                : code == QUIETSTATE__CODE__EMPTY_BATCH
                                      ? "the batch holds no message"
                                      : "the batch is too large");

    n = batch->n_messages;
    grow((void **)&self->msgs, &self->cap_msgs, self->n_msgs + n, sizeof *self->msgs);
    QS_ASSERT(n <= QS_MAX_BATCH_MESSAGES);
    b->n_msgs = n;
    b->decoded = 1;
    b->in_txn = 1;
    b->first_serial = UINT64_MAX;
    now_ms = qs_clock_now_ms(self->cfg.clock);
    for (size_t i = 0; i < n; i++) {
        struct msg_rec *r = &self->msgs[self->n_msgs + i];
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
    /* A serial that appears more than once cannot be trusted in any copy:
     * every copy is rejected SERIAL_REPEATED (so Ack.rejected never names a
     * serial that was also stored). The first copy in batch order carries the
     * serial through dedup (handled, counted once); later copies follow it. */
    qsort(self->order, n, sizeof self->order[0], cmp_serial_idx);
    for (size_t i = 1, run = 0; i < n; i++) {
        if (self->order[i].serial != self->order[run].serial) {
            run = i;
            continue;
        }
        /* Equal serials are sorted by position: order[run] is the first copy. */
        for (size_t k = (i == run + 1) ? run : i; k <= i; k++) {
            struct msg_rec *r = &self->msgs[self->n_msgs + self->order[k].idx];
            r->valid = 0;
            r->repeated = k != run;
            r->owner = self->order[run].idx;
            r->status = QUIETSTATE__STATUS__BAD_MESSAGE;
            r->code = QUIETSTATE__CODE__SERIAL_REPEATED;
            r->why = "the same serial appears more than once in this batch";
        }
    }
    self->n_msgs += n;
    self->group_messages += n;
    return QUIETSTATE__STATUS__OK;
}

int
qs_ingest_full(const qs_ingest_t *self)
{
    return self->group_messages >= self->cfg.group_max_messages ||
           self->n_batches >= QS_INGEST_MAX_GROUP_BATCHES ||
           self->arena.used_total >= QS_INGEST_MAX_GROUP_BYTES;
}

size_t
qs_ingest_pending(const qs_ingest_t *self)
{
    return self->n_batches;
}

/* ---------------------------------------------------------- transaction */

static int
step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 if the row exists, 0 if not, -1 on error. */
static int
step_exists(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
write_counts(qs_ingest_t *self, const struct counts *c)
{
    char name[96];

    if (c->stored && qs_storedb_counter_add(self->cfg.storedb, "stored", c->stored) != 0)
        return -1;
    if (c->duplicates &&
        qs_storedb_counter_add(self->cfg.storedb, "duplicates", c->duplicates) != 0)
        return -1;
    for (size_t i = 0; i < N_STATUS; i++) {
        if (c->status[i] == 0)
            continue;
        snprintf(name, sizeof name, "rejected.%s", qs_status_name((Quietstate__Status)i));
        if (qs_storedb_counter_add(self->cfg.storedb, name, c->status[i]) != 0)
            return -1;
    }
    for (size_t i = 0; i < N_CODE; i++) {
        if (c->code[i] == 0)
            continue;
        snprintf(name, sizeof name, "rejected_detail.%s", qs_code_name((Quietstate__Code)i));
        if (qs_storedb_counter_add(self->cfg.storedb, name, c->code[i]) != 0)
            return -1;
    }
    return 0;
}

static int
part_flush_rows(qs_ingest_t *self, struct part *p)
{
    int rc = 0;

    if (p->txn_no == self->txn_no && p->rows_delta != 0) {
        sqlite3_bind_int64(self->add_part_rows, 1, p->epoch);
        sqlite3_bind_int64(self->add_part_rows, 2, p->topic_type);
        sqlite3_bind_int64(self->add_part_rows, 3, p->rows_delta);
        rc = step_done(self->add_part_rows);
    }
    p->rows_delta = 0;
    return rc;
}

/* The INSERT for a partition, creating and registering the partition once
 * per transaction (retention may have dropped it in between). */
static struct part *
part_get(qs_ingest_t *self, int64_t epoch, uint32_t topic_type)
{
    struct part *p = NULL;
    char name[64], sql[512];

    for (size_t i = 0; i < PART_CACHE; i++)
        if (self->parts[i].used && self->parts[i].epoch == epoch &&
            self->parts[i].topic_type == topic_type) {
            p = &self->parts[i];
            break;
        }
    if (p == NULL) {
        /* A free slot, else one idle in this transaction, else any (its row
         * count is written first). */
        for (size_t i = 0; i < PART_CACHE && p == NULL; i++)
            if (!self->parts[i].used)
                p = &self->parts[i];
        for (size_t i = 0; i < PART_CACHE && p == NULL; i++)
            if (self->parts[i].txn_no != self->txn_no)
                p = &self->parts[i];
        if (p == NULL)
            p = &self->parts[(size_t)(epoch + topic_type) % PART_CACHE];
        if (p->used && part_flush_rows(self, p) != 0)
            return NULL;
        sqlite3_finalize(p->insert);
        memset(p, 0, sizeof *p);
        p->epoch = epoch;
        p->topic_type = topic_type;
    }
    if (p->txn_no != self->txn_no) {
        if (qs_storedb_partition_ensure(self->cfg.storedb, epoch, topic_type) != 0)
            return NULL;
        p->txn_no = self->txn_no;
        p->rows_delta = 0;
    }
    if (p->insert == NULL) {
        if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
            return NULL;
        snprintf(sql, sizeof sql,
                 "INSERT OR IGNORE INTO %s(client_id, serial, state_id, topic_id, time_ms, "
                 "machine_ps, domain_ps, user_ps, details) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", name);
        if (prepare(self, &p->insert, sql) != 0)
            return NULL;
    }
    p->used = 1;
    return p;
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
bind_ps(sqlite3_stmt *st, int col, const uint8_t ps[QS_PSEUDONYM_BYTES])
{
    if (is_zero(ps, QS_PSEUDONYM_BYTES))
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_blob(st, col, ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
}

/* qs_pseudonym, remembering the last name of each kind. */
static void
pseudonym_memo(qs_ingest_t *self, uint8_t out[QS_PSEUDONYM_BYTES], qs_pseudo_kind_t kind,
               const char *name)
{
    struct ps_memo *m = &self->memo[kind];
    size_t len = strlen(name);

    if (m->valid && strcmp(m->name, name) == 0) {
        memcpy(out, m->ps, QS_PSEUDONYM_BYTES);
        return;
    }
    qs_pseudonym(out, self->cfg.site_key, kind, name);
    m->valid = len < sizeof m->name;   /* validated names are shorter; be safe */
    if (m->valid) {
        memcpy(m->name, name, len + 1);
        memcpy(m->ps, out, QS_PSEUDONYM_BYTES);
    }
}

/* latest: the state follows the newest message time (ties: the later
 * arrival), report_ms the store's time of the latest report. Three
 * statements, tried in turn until one changes the row, give exactly what the
 * upsert alone gives, while touching fewer indexes in the common cases:
 * touch_latest (row there, same pseudonyms, state unchanged or the message
 * older: only the times move, latest_by_machine is left alone),
 * update_latest (row there, same pseudonyms: the state moves too,
 * latest_by_machine left alone), then upsert_latest (a new row, or a
 * renamed machine or domain).
 *
 * When touch_latest does not apply, the state may move: the old one is read
 * first (the page the UPDATE is about to write) and the move recorded in
 * count_deltas under the statements' own rule (newer or same time wins), so
 * compliance_counts follows without a trigger on the hot path (qs_counts.h).
 * A new row is counted by the schema's INSERT trigger. */
static int
write_latest(qs_ingest_t *self, int64_t client_id, const Quietstate__StateMessage *m, int64_t t,
             int64_t now_ms, const uint8_t *machine_ps, const uint8_t *domain_ps)
{
    sqlite3_stmt *const tries[] = { self->touch_latest, self->update_latest,
                                    self->upsert_latest };
    int rc;

    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        sqlite3_stmt *st = tries[i];
        if (st == self->update_latest) {
            sqlite3_bind_int64(self->sel_latest, 1, client_id);
            sqlite3_bind_int64(self->sel_latest, 2, m->topic_type);
            sqlite3_bind_text(self->sel_latest, 3, m->topic_id, -1, SQLITE_STATIC);
            rc = sqlite3_step(self->sel_latest);
            if (rc == SQLITE_ROW && t >= sqlite3_column_int64(self->sel_latest, 1))
                qs_count_deltas_move(self->count_deltas, m->topic_type, m->topic_id,
                                     (uint32_t)sqlite3_column_int64(self->sel_latest, 0),
                                     m->state_id);
            sqlite3_reset(self->sel_latest);
            if (rc == SQLITE_DONE)
                continue;          /* no row: the upsert inserts it */
            if (rc != SQLITE_ROW)
                return -1;
        }
        sqlite3_bind_int64(st, 1, client_id);
        sqlite3_bind_int64(st, 2, m->topic_type);
        sqlite3_bind_text(st, 3, m->topic_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, m->state_id);
        sqlite3_bind_int64(st, 5, t);
        sqlite3_bind_int64(st, 6, now_ms);
        bind_ps(st, 7, machine_ps);
        bind_ps(st, 8, domain_ps);
        if (step_done(st) != 0)
            return -1;
        if (st == self->upsert_latest || sqlite3_changes(self->db) == 1)
            return 0;
    }
    return -1;   /* not reached: the upsert always writes the row */
}

/* Minimize and write one new, valid message. */
static int
store_message(qs_ingest_t *self, int64_t client_id, const Quietstate__StateMessage *m,
              int64_t now_ms)
{
    const qs_policy_t *pol = &self->policy;
    uint8_t machine_ps[QS_PSEUDONYM_BYTES], domain_ps[QS_PSEUDONYM_BYTES];
    uint8_t user_ps[QS_PSEUDONYM_BYTES];
    int64_t t = m->time_utc_ms - m->time_utc_ms % pol->time_precision_ms;
    size_t details_len = strlen(m->details);
    struct part *p;

    pseudonym_memo(self, machine_ps, QS_PSEUDO_MACHINE, m->machine_name);
    pseudonym_memo(self, domain_ps, QS_PSEUDO_DOMAIN, m->domain);
    memset(user_ps, 0, sizeof user_ps);
    if (pol->collect_user_names)
        pseudonym_memo(self, user_ps, QS_PSEUDO_USER, m->user_name);

    if (write_latest(self, client_id, m, t, now_ms, machine_ps, domain_ps) != 0)
        return -1;

    /* Already older than its topic may be kept: the current state only. */
    if (m->time_utc_ms < qs_policy_cutoff_ms(pol, m->topic_type, now_ms))
        return 0;

    int64_t epoch = qs_epoch_of(t);
    p = part_get(self, epoch, m->topic_type);
    if (p == NULL)
        return -1;
    sqlite3_bind_int64(p->insert, 1, client_id);
    sqlite3_bind_int64(p->insert, 2, (int64_t)m->serial);
    sqlite3_bind_int64(p->insert, 3, m->state_id);
    sqlite3_bind_text(p->insert, 4, m->topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p->insert, 5, t);
    bind_ps(p->insert, 6, machine_ps);
    bind_ps(p->insert, 7, domain_ps);
    bind_ps(p->insert, 8, user_ps);
    if (details_len > 0) {
        uint8_t ad[QS_DETAILS_AD_BYTES];
        size_t sealed_len = 0;
        const uint8_t *key = qs_epochkeys_get(self->cfg.epochkeys, epoch, m->topic_type, 1);
        if (key == NULL)
            return -1;
        qs_details_ad(ad, client_id, m->serial, epoch, m->topic_type);
        if (qs_details_seal(self->details_buf, &sealed_len, sizeof self->details_buf,
                            (const uint8_t *)m->details, details_len, ad, sizeof ad, key) != 0)
            return -1;
        sqlite3_bind_blob(p->insert, 9, self->details_buf, (int)sealed_len, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(p->insert, 9);
    }
    if (step_done(p->insert) != 0)
        return -1;
    if (sqlite3_changes(self->db) == 1)
        p->rows_delta++;
    return 0;
}

static int
seen_has(qs_ingest_t *self, int64_t client_id, uint64_t serial)
{
    sqlite3_bind_int64(self->sel_seen, 1, client_id);
    sqlite3_bind_int64(self->sel_seen, 2, (int64_t)serial);
    return step_exists(self->sel_seen);
}

static void
log_batch_rejections(qs_ingest_t *self, const struct batch *b)
{
    const struct msg_rec *first = NULL;
    char who[9];

    if (b->n_rejected == 0)
        return;
    for (size_t i = 0; i < b->n_msgs && first == NULL; i++)
        if (self->msgs[b->first_msg + i].outcome == OUT_REJECTED)
            first = &self->msgs[b->first_msg + i];
    if (first == NULL || !log_allowed(self))
        return;
    key_prefix(who, b);
    log_warn("rejected %u of %zu messages from client '%s': first %s/%s (%s)", b->n_rejected,
             b->n_msgs, who, qs_status_name(first->status), qs_code_name(first->code),
             first->why);
}

/* Dedup, store and count one decoded batch inside the open transaction. */
static int
apply_batch(qs_ingest_t *self, struct batch *b, int64_t now_ms)
{
    int64_t client_id;
    uint64_t lw;
    int rc, any_seen;

    sqlite3_bind_blob(self->sel_client, 1, b->pk, QS_KEY_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(self->sel_client);
    if (rc == SQLITE_ROW) {
        client_id = sqlite3_column_int64(self->sel_client, 0);
        lw = (uint64_t)sqlite3_column_int64(self->sel_client, 1);
        sqlite3_reset(self->sel_client);
    } else {
        sqlite3_reset(self->sel_client);
        if (rc != SQLITE_DONE)
            return -1;
        sqlite3_bind_blob(self->ins_client, 1, b->pk, QS_KEY_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(self->ins_client, 2, now_ms);
        if (step_done(self->ins_client) != 0)
            return -1;
        client_id = sqlite3_last_insert_rowid(self->db);
        lw = 0;
    }
    sqlite3_bind_int64(self->any_seen, 1, client_id);
    if ((any_seen = step_exists(self->any_seen)) < 0)
        return -1;

    b->n_stored = b->n_dup = b->n_rejected = 0;
    for (size_t i = 0; i < b->n_msgs; i++) {
        struct msg_rec *r = &self->msgs[b->first_msg + i];
        uint64_t s = r->m->serial;
        int dup;

        if (r->repeated) {
            /* Counted with its first copy: once, not again on a resend. */
            r->outcome = OUT_REJECTED;
            b->n_rejected++;
            if (self->msgs[b->first_msg + r->owner].fresh)
                counts_reject(&self->txn, r->status, r->code);
            continue;
        }
        if (s == 0 || s > (uint64_t)INT64_MAX) {
            r->outcome = OUT_REJECTED;
            b->n_rejected++;
            counts_reject(&self->txn, r->status, r->code);
            continue;
        }
        dup = s <= lw;
        if (!dup && any_seen && (dup = seen_has(self, client_id, s)) < 0)
            return -1;
        if (dup) {
            if (r->valid) {
                r->outcome = OUT_DUPLICATE;
                b->n_dup++;
                self->txn.duplicates++;
            } else {
                /* Rejected before: listed again, counted once. */
                r->outcome = OUT_REJECTED;
                b->n_rejected++;
            }
            continue;
        }
        r->fresh = 1;
        if (r->valid) {
            if (store_message(self, client_id, r->m, now_ms) != 0)
                return -1;
            r->outcome = OUT_STORED;
            b->n_stored++;
            self->txn.stored++;
        } else {
            r->outcome = OUT_REJECTED;
            b->n_rejected++;
            counts_reject(&self->txn, r->status, r->code);
        }
        /* s is handled now: advance low_water or remember it above. */
        if (s == lw + 1) {
            lw = s;
            while (any_seen) {
                int has = seen_has(self, client_id, lw + 1);
                if (has < 0)
                    return -1;
                if (!has)
                    break;
                lw++;
            }
        } else {
            sqlite3_bind_int64(self->ins_seen, 1, client_id);
            sqlite3_bind_int64(self->ins_seen, 2, (int64_t)s);
            if (step_done(self->ins_seen) != 0)
                return -1;
            any_seen = 1;
        }
    }
    if (any_seen) {
        sqlite3_bind_int64(self->del_seen, 1, client_id);
        sqlite3_bind_int64(self->del_seen, 2, (int64_t)lw);
        if (step_done(self->del_seen) != 0)
            return -1;
    }
    sqlite3_bind_int64(self->upd_client, 1, client_id);
    sqlite3_bind_int64(self->upd_client, 2, (int64_t)lw);
    sqlite3_bind_int64(self->upd_client, 3, now_ms);
    if (step_done(self->upd_client) != 0)
        return -1;
    b->low_water = lw;
    return 0;
}

static int
run_transaction(qs_ingest_t *self)
{
    int64_t now_ms = qs_clock_now_ms(self->cfg.clock);

    memset(&self->txn, 0, sizeof self->txn);
    self->txn_no++;
    if (qs_storedb_begin(self->cfg.storedb) != 0)
        return -1;
    for (size_t i = 0; i < self->n_batches; i++)
        if (self->batches[i].in_txn && apply_batch(self, &self->batches[i], now_ms) != 0)
            goto fail;
    for (size_t i = 0; i < PART_CACHE; i++)
        if (self->parts[i].used && part_flush_rows(self, &self->parts[i]) != 0)
            goto fail;
    if (qs_storedb_counts_apply(self->cfg.storedb, self->count_deltas) != 0)
        goto fail;
    if (write_counts(self, &self->txn) != 0 || write_counts(self, &self->pending) != 0)
        goto fail;
    if (qs_storedb_commit(self->cfg.storedb) != 0)
        goto fail;
    return 0;
fail:
    return -1;
}

/* ----------------------------------------------------------------- acks */

static uint64_t
read_low_water(qs_ingest_t *self, const uint8_t pk[QS_KEY_BYTES])
{
    uint64_t lw = 0;

    sqlite3_bind_blob(self->sel_client, 1, pk, QS_KEY_BYTES, SQLITE_STATIC);
    if (sqlite3_step(self->sel_client) == SQLITE_ROW)
        lw = (uint64_t)sqlite3_column_int64(self->sel_client, 1);
    sqlite3_reset(self->sel_client);
    return lw;
}

static void
send_ack(qs_ingest_t *self, struct batch *b, qs_ingest_reply_fn reply, void *ctx)
{
    Quietstate__Ack ack = QUIETSTATE__ACK__INIT;
    Quietstate__Reply rep = QUIETSTATE__REPLY__INIT;
    Quietstate__Envelope *sealed_env = NULL;
    const uint8_t *shared = NULL;
    char reason[160];
    size_t n_rej = 0, len, rep_len;

    ack.status = b->status;
    ack.code = b->code;
    ack.first_serial = b->decoded ? b->first_serial : 0;
    ack.last_serial = b->decoded ? b->last_serial : 0;
    if (b->status == QUIETSTATE__STATUS__OK) {
        ack.committed_serial = b->low_water;
        snprintf(reason, sizeof reason, "stored %u, duplicates %u, rejected %u", b->n_stored,
                 b->n_dup, b->n_rejected);
        ack.reason = reason;
        grow((void **)&self->rej, &self->cap_rej, b->n_msgs, sizeof *self->rej);
        grow((void **)&self->rej_ptrs, &self->cap_rej_ptrs, b->n_msgs, sizeof *self->rej_ptrs);
        for (size_t i = 0; i < b->n_msgs; i++) {
            const struct msg_rec *r = &self->msgs[b->first_msg + i];
            if (r->outcome != OUT_REJECTED)
                continue;
            quietstate__rejected__init(&self->rej[n_rej]);
            self->rej[n_rej].serial = r->m->serial;
            self->rej[n_rej].status = r->status;
            self->rej[n_rej].code = r->code;
            self->rej[n_rej].reason = (char *)r->why;
            self->rej_ptrs[n_rej] = &self->rej[n_rej];
            n_rej++;
        }
        ack.n_rejected = n_rej;
        ack.rejected = n_rej ? self->rej_ptrs : NULL;
    } else {
        ack.committed_serial = b->report_lw ? read_low_water(self, b->pk) : 0;
        ack.reason = (char *)b->reason;
    }

    len = quietstate__ack__get_packed_size(&ack);
    grow((void **)&self->ack_buf, &self->cap_ack, len, 1);
    len = quietstate__ack__pack(&ack, self->ack_buf);

    if (b->has_pk)
        shared = qs_peer_cache_get(self->peers, b->pk);
    if (shared != NULL) {
        size_t sealed_len = 0, need = qs_envelope_sealed_size(len);
        grow((void **)&self->sealed_buf, &self->cap_sealed, need, 1);
        if (qs_envelope_seal(self->sealed_buf, &sealed_len, self->cap_sealed, self->ack_buf, len,
                             qs_keypair_public(self->cfg.store_kp), shared) == 0)
            sealed_env = quietstate__envelope__unpack(&self->pb_alloc, sealed_len,
                                                      self->sealed_buf);
    }
    if (sealed_env != NULL)
        rep.sealed_ack = sealed_env;
    else
        rep.notice = &ack;   /* nothing to seal for: advisory only */
    rep_len = quietstate__reply__get_packed_size(&rep);
    grow((void **)&self->reply_buf, &self->cap_reply, rep_len, 1);
    rep_len = quietstate__reply__pack(&rep, self->reply_buf);
    self->stats.batches++;
    if (reply != NULL)
        reply(ctx, b->rid, b->rid_len, self->reply_buf, rep_len, &ack);
}

int
qs_ingest_commit(qs_ingest_t *self, qs_ingest_reply_fn reply, void *ctx)
{
    int any_txn = 0, rc = 0;
    int64_t t0 = qs_clock_mono_ms();

    for (size_t i = 0; i < self->n_batches; i++)
        any_txn |= self->batches[i].in_txn;
    if (any_txn) {
        rc = run_transaction(self);
        if (rc == 0) {
            self->stats.stored += (uint64_t)self->txn.stored;
            self->stats.duplicates += (uint64_t)self->txn.duplicates;
            self->stats.commits++;
            memset(&self->pending, 0, sizeof self->pending);
            if (self->failing)
                log_info("store.db writable again after %llu failed commits",
                         (unsigned long long)self->failed_in_row);
            self->failing = 0;
            self->failed_in_row = 0;
            for (size_t i = 0; i < self->n_batches; i++)
                if (self->batches[i].in_txn) {
                    self->stats.rejected_messages += self->batches[i].n_rejected;
                    log_batch_rejections(self, &self->batches[i]);
                }
            log_debug("committed %zu envelopes: %lld stored, %lld duplicates in %lld ms",
                      self->n_batches, (long long)self->txn.stored,
                      (long long)self->txn.duplicates, (long long)(qs_clock_mono_ms() - t0));
        } else {
            if (!self->failing)
                log_error("commit failed, answering RETRY_LATER until store.db is writable: %s",
                          sqlite3_errmsg(self->db));
            qs_storedb_rollback(self->cfg.storedb);
            self->failing = 1;
            self->failed_in_row++;
            self->stats.commit_failures++;
            memset(&self->txn, 0, sizeof self->txn);
            /* Empty between transactions: apply clears on success, this on failure. */
            qs_count_deltas_clear(self->count_deltas);
            for (size_t i = 0; i < PART_CACHE; i++)
                self->parts[i].rows_delta = 0;
            for (size_t i = 0; i < self->n_batches; i++) {
                struct batch *b = &self->batches[i];
                if (!b->in_txn)
                    continue;
                b->in_txn = 0;
                b->status = QUIETSTATE__STATUS__RETRY_LATER;
                b->code = QUIETSTATE__CODE__STORE_BUSY;
                b->reason = "the store could not commit: send again later";
                pending_reject(self, b->status, b->code);
            }
        }
    }
    for (size_t i = 0; i < self->n_batches; i++)
        send_ack(self, &self->batches[i], reply, ctx);
    group_reset(self);
    return rc;
}

/* ----------------------------------------------------------------- tick */

int
qs_ingest_tick(qs_ingest_t *self, int force)
{
    int64_t now = qs_clock_mono_ms();

    check_site(self, force);
    log_roll(self, now);
    if (!self->pending.nonzero || self->n_batches > 0)
        return 0;
    if (!force && now - self->pending_since_mono < QS_INGEST_COUNTER_FLUSH_MS)
        return 0;
    if (qs_storedb_begin(self->cfg.storedb) != 0 ||
        write_counts(self, &self->pending) != 0 ||
        qs_storedb_commit(self->cfg.storedb) != 0) {
        qs_storedb_rollback(self->cfg.storedb);
        self->pending_since_mono = now;   /* retry after another interval */
        return -1;
    }
    memset(&self->pending, 0, sizeof self->pending);
    return 0;
}

void
qs_ingest_stats(const qs_ingest_t *self, qs_ingest_stats_t *out)
{
    *out = self->stats;
}
