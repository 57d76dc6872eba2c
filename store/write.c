/* write.c - the ingest transaction's body: dedup, minimize, write latest and history.
 *
 * For each batch, in arrival order: find or create the client row, walk its
 * messages deduplicating by (client, serial) against clients.low_water and
 * the seen table, store the new ones (latest: an UPDATE that touches as few
 * indexes as the change needs, the upsert only for a new row or a renamed
 * machine; history row in its (epoch, topic) partition unless already past
 * the policy's maximum age), count, and move low_water over every contiguous
 * handled serial. The partitions' row counts and the compliance_counts
 * changes of the state moves are written just before COMMIT.
 *
 * Minimization happens on the way into SQLite: machine, domain and (only
 * when the policy collects them) user names become keyed pseudonyms, times
 * are truncated to the policy's precision, details are sealed with
 * XChaCha20-Poly1305 under the partition's epoch key with the row's
 * identity as associated data. No raw name is ever bound to a statement.
 * The last pseudonym of each kind is remembered (a batch names one machine),
 * its name wiped after the group (qs_write_end_group).
 */
#include "write.h"
#include "adopt.h"
#include "deadline_rules.h"
#include "storedb_pg.h"
#include "write_pg.h"

#include "qs_codec.h"
#include "qs_counts.h"
#include "qs_pseudonym.h"
#include "quota_topics.h"
#include "resync.h"
#include "storedb_sqlite.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct qs_write {
    qs_write_pg_t *pg;           /* the PostgreSQL engine's writer (write_pg.c), or NULL */
    qs_storedb_t *storedb;
    sqlite3 *db;
    const uint8_t *site_key;
    qs_epochkeys_t *epochkeys;

    /* statements, prepared once */
    sqlite3_stmt *sel_client, *ins_client, *upd_client;
    sqlite3_stmt *any_seen, *sel_seen, *ins_seen, *del_seen;
    sqlite3_stmt *sel_latest, *upsert_latest, *update_latest, *touch_latest, *add_part_rows;
    qs_count_deltas_t *count_deltas;   /* compliance_counts changes of the transaction */
    qs_topicq_sqlite_t *topicq;        /* [store] quota_topics_per_client (quota_topics.h) */
    uint64_t max_topics;               /* 0: no limit */
    qs_resync_sql_t *resync;     /* the resync table (resync.h) */
    int64_t resync_gap_ms;

    struct part parts[PART_CACHE];
    uint64_t txn_no;

    qs_pseudonym_memo_t memo[QS_PSEUDO_USER + 1];
    uint8_t details_buf[QS_MAX_DETAILS_BYTES + QS_DETAILS_OVERHEAD];
};

/* A batch's client while its messages are deduplicated. */
struct dedup {
    int64_t client_id;
    int64_t report_ms;           /* latest.report_ms of the batch (qs_write_report_ms) */
    uint64_t lw;                 /* every serial <= lw is handled */
    int any_seen;                /* the client has rows in seen */
};

/* ------------------------------------------------------------- sqlite */

static int
prepare(qs_write_t *self, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) ==
                   SQLITE_OK ? 0 : -1;
}

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

/* ------------------------------------------------------------ new/destroy */

static int
prepare_all(qs_write_t *self)
{
    return prepare(self, &self->sel_client,
                   "SELECT client_id, low_water FROM clients WHERE pk = ?1") != 0 ||
           prepare(self, &self->ins_client, QS_WRITE_SQL_INSERT_CLIENT) != 0 ||
           prepare(self, &self->upd_client, QS_WRITE_SQL_UPDATE_CLIENT) != 0 ||
           prepare(self, &self->any_seen,
                   "SELECT 1 FROM seen WHERE client_id = ?1 LIMIT 1") != 0 ||
           prepare(self, &self->sel_seen,
                   "SELECT 1 FROM seen WHERE client_id = ?1 AND serial = ?2") != 0 ||
           prepare(self, &self->ins_seen,
                   "INSERT OR IGNORE INTO seen(client_id, serial) VALUES (?1, ?2)") != 0 ||
           prepare(self, &self->del_seen,
                   "DELETE FROM seen WHERE client_id = ?1 AND serial <= ?2") != 0 ||
           prepare(self, &self->sel_latest,
                   "SELECT state_id, time_ms FROM latest "
                   "WHERE client_id = ?1 AND topic_type = ?2 AND topic_id = ?3") != 0 ||
           prepare(self, &self->upsert_latest, QS_WRITE_SQL_UPSERT_LATEST) != 0 ||
           /* The upsert's effect when the row is there with these pseudonyms
            * (see write_latest): SQLite updates only the indexes of the
            * columns a statement assigns. */
           prepare(self, &self->update_latest,
                   "UPDATE latest SET "
                   "  state_id = CASE WHEN ?5 >= time_ms THEN ?4 ELSE state_id END, "
                   "  time_ms = max(time_ms, ?5), report_ms = max(report_ms, ?6) "
                   "WHERE client_id = ?1 AND topic_type = ?2 AND topic_id = ?3 "
                   "  AND machine_ps IS ?7 AND domain_ps IS ?8") != 0 ||
           /* Not for an installed row whose time moves to another hour:
            * installed_hours must follow (update_latest's path records it). */
           prepare(self, &self->touch_latest,
                   "UPDATE latest SET "
                   "  time_ms = max(time_ms, ?5), report_ms = max(report_ms, ?6) "
                   "WHERE client_id = ?1 AND topic_type = ?2 AND topic_id = ?3 "
                   "  AND machine_ps IS ?7 AND domain_ps IS ?8 "
                   "  AND (state_id = ?4 OR ?5 < time_ms) "
                   "  AND NOT (" QS_DEADLINE_INSTALLED_OR("state_id") " AND "
                   QS_INSTALLED_HOUR_SQL("?5") " > " QS_INSTALLED_HOUR_SQL("time_ms") ")") != 0 ||
           prepare(self, &self->add_part_rows, QS_WRITE_SQL_ADD_PART_ROWS) != 0
               ? -1 : 0;
}

qs_write_t *
qs_write_new(qs_storedb_t *storedb, const uint8_t *site_key, qs_epochkeys_t *epochkeys,
             char *errmsg, size_t errmsg_len)
{
    qs_write_t *self = qs_calloc(1, sizeof *self);

    self->storedb = storedb;
    if (qs_storedb_pgdb(storedb) != NULL) {
        self->pg = qs_write_pg_new(storedb, site_key, epochkeys, errmsg, errmsg_len);
        if (self->pg == NULL)
            qs_write_destroy(&self);
        return self;
    }
    self->db = qs_storedb_sqlite(storedb);
    self->site_key = site_key;
    self->epochkeys = epochkeys;
    self->count_deltas = qs_count_deltas_new();
    self->resync_gap_ms = qs_resync_gap_ms();
    if (prepare_all(self) != 0 || (self->topicq = qs_topicq_sqlite_new(self->db)) == NULL ||
        (self->resync = qs_resync_sql_new(self->db)) == NULL) {
        snprintf(errmsg, errmsg_len, "store.db is not a quietstate store database: %s",
                 sqlite3_errmsg(self->db));
        qs_write_destroy(&self);
        return NULL;
    }
    return self;
}

void
qs_write_destroy(qs_write_t **self_p)
{
    qs_write_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    qs_write_pg_destroy(&self->pg);
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
    for (size_t i = 0; i < PART_CACHE; i++)
        sqlite3_finalize(self->parts[i].insert);
    qs_count_deltas_destroy(&self->count_deltas);
    qs_topicq_sqlite_destroy(&self->topicq);
    qs_resync_sql_destroy(&self->resync);
    sodium_memzero(self, sizeof *self);
    free(self);
    *self_p = NULL;
}

/* ------------------------------------------------------------- partitions */

static int
part_flush_rows(qs_write_t *self, struct part *p)
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

/* The cache slot for (epoch, topic_type): its own, a free one, else one idle
 * in this transaction, else any (its row count is written first). NULL on a
 * database error. */
static struct part *
part_slot(qs_write_t *self, int64_t epoch, uint32_t topic_type)
{
    struct part *p = NULL;

    for (size_t i = 0; i < PART_CACHE; i++)
        if (self->parts[i].used && self->parts[i].epoch == epoch &&
            self->parts[i].topic_type == topic_type)
            return &self->parts[i];
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
    return p;
}

/* The INSERT for a partition, creating and registering the partition once
 * per transaction (retention may have dropped it in between). */
static struct part *
part_get(qs_write_t *self, int64_t epoch, uint32_t topic_type)
{
    struct part *p = part_slot(self, epoch, topic_type);
    char name[64], sql[512];

    if (p == NULL)
        return NULL;
    if (p->txn_no != self->txn_no) {
        if (qs_storedb_partition_ensure(self->storedb, epoch, topic_type) != 0)
            return NULL;
        p->txn_no = self->txn_no;
        p->rows_delta = 0;
    }
    if (p->insert == NULL) {
        if (qs_storedb_partition_name(name, sizeof name, epoch, topic_type) != 0)
            return NULL;
        snprintf(sql, sizeof sql, QS_WRITE_SQL_INSERT_HISTORY_FMT, name);
        if (prepare(self, &p->insert, sql) != 0)
            return NULL;
    }
    p->used = 1;
    return p;
}

/* ----------------------------------------------------------- minimize */

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

/* Before update_latest may move the state: record the move in count_deltas
 * under the statements' own rule (newer or same time wins). 1 when the row
 * is there, 0 when not (the upsert inserts it), -1 on error. */
static int
latest_note_move(qs_write_t *self, int64_t client_id, const Quietstate__StateMessage *m,
                 int64_t t)
{
    sqlite3_stmt *st = self->sel_latest;
    int rc;

    sqlite3_bind_int64(st, 1, client_id);
    sqlite3_bind_int64(st, 2, m->topic_type);
    sqlite3_bind_text(st, 3, m->topic_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && t >= sqlite3_column_int64(st, 1)) {
        uint32_t old_state = (uint32_t)sqlite3_column_int64(st, 0);
        qs_count_deltas_move(self->count_deltas, m->topic_type, m->topic_id, old_state,
                             m->state_id);
        qs_count_deltas_installed_move(self->count_deltas, m->topic_type, m->topic_id,
                                       old_state, sqlite3_column_int64(st, 1), m->state_id, t);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
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
 * count_deltas, so compliance_counts follows without a trigger on the hot
 * path (qs_counts.h). A new row is counted by the schema's INSERT trigger. */
static int
write_latest(qs_write_t *self, int64_t client_id, const Quietstate__StateMessage *m, int64_t t,
             int64_t now_ms, const uint8_t *machine_ps, const uint8_t *domain_ps)
{
    sqlite3_stmt *const tries[] = { self->touch_latest, self->update_latest,
                                    self->upsert_latest };

    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        sqlite3_stmt *st = tries[i];
        if (st == self->update_latest) {
            int there = latest_note_move(self, client_id, m, t);
            if (there < 0)
                return -1;
            if (!there)
                continue;          /* no row: the upsert inserts it */
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

/* Bind the details of m (sealed under the partition's epoch key), or NULL. */
static int
bind_details(qs_write_t *self, sqlite3_stmt *st, int col, int64_t client_id,
             const Quietstate__StateMessage *m, int64_t epoch)
{
    size_t details_len = strlen(m->details);
    uint8_t ad[QS_DETAILS_AD_BYTES];
    size_t sealed_len = 0;
    const uint8_t *key;

    if (details_len == 0) {
        sqlite3_bind_null(st, col);
        return 0;
    }
    key = qs_epochkeys_get(self->epochkeys, epoch, m->topic_type, 1);
    if (key == NULL)
        return -1;
    qs_details_ad(ad, client_id, m->serial, epoch, m->topic_type);
    if (qs_details_seal(self->details_buf, &sealed_len, sizeof self->details_buf,
                        (const uint8_t *)m->details, details_len, ad, sizeof ad, key) != 0)
        return -1;
    sqlite3_bind_blob(st, col, self->details_buf, (int)sealed_len, SQLITE_STATIC);
    return 0;
}

/* Minimize and write one new, valid message. */
static int
store_message(qs_write_t *self, const qs_policy_t *pol, const struct dedup *d,
              const qs_group_batch_t *b, const Quietstate__StateMessage *m, int64_t now_ms)
{
    uint8_t named_ps[QS_PSEUDONYM_BYTES], domain_ps[QS_PSEUDONYM_BYTES];
    uint8_t user_ps[QS_PSEUDONYM_BYTES];
    const uint8_t *machine_ps = qs_machine_ps_for(b, m, named_ps);
    int64_t client_id = d->client_id;
    int64_t t = m->time_utc_ms - m->time_utc_ms % pol->time_precision_ms;
    int64_t epoch;
    struct part *p;

    qs_pseudonym_memo(self->memo, named_ps, self->site_key, QS_PSEUDO_MACHINE, m->machine_name);
    qs_pseudonym_memo(self->memo, domain_ps, self->site_key, QS_PSEUDO_DOMAIN, m->domain);
    memset(user_ps, 0, sizeof user_ps);
    if (pol->collect_user_names)
        qs_pseudonym_memo(self->memo, user_ps, self->site_key, QS_PSEUDO_USER, m->user_name);

    if (write_latest(self, client_id, m, t, d->report_ms, machine_ps, domain_ps) != 0)
        return -1;

    /* Already older than its topic may be kept: the current state only. */
    if (m->time_utc_ms < qs_policy_cutoff_ms(pol, m->topic_type, now_ms))
        return 0;

    epoch = qs_epoch_of(t);
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
    if (bind_details(self, p->insert, 9, client_id, m, epoch) != 0)
        return -1;
    if (step_done(p->insert) != 0)
        return -1;
    if (sqlite3_changes(self->db) == 1)
        p->rows_delta++;
    return 0;
}

/* -------------------------------------------------------------- dedup */

/* The client's row, created on its first batch. */
static int
client_open(qs_write_t *self, struct dedup *d, const qs_group_batch_t *b, int64_t now_ms)
{
    const uint8_t *pk = b->pk;
    int64_t moved = 0, dropped = 0;
    int rc;

    sqlite3_bind_blob(self->sel_client, 1, pk, QS_KEY_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(self->sel_client);
    if (rc == SQLITE_ROW) {
        d->client_id = sqlite3_column_int64(self->sel_client, 0);
        d->lw = (uint64_t)sqlite3_column_int64(self->sel_client, 1);
        sqlite3_reset(self->sel_client);
    } else {
        sqlite3_reset(self->sel_client);
        if (rc != SQLITE_DONE)
            return -1;
        sqlite3_bind_blob(self->ins_client, 1, pk, QS_KEY_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(self->ins_client, 2, now_ms);
        if (step_done(self->ins_client) != 0)
            return -1;
        d->client_id = sqlite3_last_insert_rowid(self->db);
        d->lw = 0;
        /* A bound key's first batch: its machine's state continues (adopt.h). */
        if (b->bound &&
            qs_adopt_sqlite(self->db, d->client_id, b->machine_ps, &moved, &dropped) != 0)
            return -1;
        if (moved + dropped > 0)
            log_info("a new client key took over its machine's state: %lld rows moved, "
                     "%lld older ones dropped", (long long)moved, (long long)dropped);
    }
    sqlite3_bind_int64(self->any_seen, 1, d->client_id);
    return (d->any_seen = step_exists(self->any_seen)) < 0 ? -1 : 0;
}

static int
seen_has(qs_write_t *self, int64_t client_id, uint64_t serial)
{
    sqlite3_bind_int64(self->sel_seen, 1, client_id);
    sqlite3_bind_int64(self->sel_seen, 2, (int64_t)serial);
    return step_exists(self->sel_seen);
}

/* Serial s is handled now: advance low_water over it (and over the
 * remembered serials right above it) or remember it in seen. */
static int
mark_handled(qs_write_t *self, struct dedup *d, uint64_t s)
{
    if (s == d->lw + 1) {
        d->lw = s;
        while (d->any_seen) {
            int has = seen_has(self, d->client_id, d->lw + 1);
            if (has < 0)
                return -1;
            if (!has)
                break;
            d->lw++;
        }
        return 0;
    }
    sqlite3_bind_int64(self->ins_seen, 1, d->client_id);
    sqlite3_bind_int64(self->ins_seen, 2, (int64_t)s);
    if (step_done(self->ins_seen) != 0)
        return -1;
    d->any_seen = 1;
    return 0;
}

static void
reject(qs_group_batch_t *b, qs_group_msg_t *r, qs_tally_t *txn, int count)
{
    r->outcome = QS_OUT_REJECTED;
    b->n_rejected++;
    if (count)
        qs_tally_reject(txn, r->status, r->code);
}

/* Decide and apply message r's outcome. */
static int
write_one(qs_write_t *self, const qs_policy_t *pol, struct dedup *d, qs_group_batch_t *b,
          qs_group_msg_t *msgs, qs_group_msg_t *r, qs_tally_t *txn, int64_t now_ms)
{
    uint64_t s = r->m->serial;
    int dup;

    if (r->repeated) {
        /* Counted with its first copy: once, not again on a resend. */
        reject(b, r, txn, msgs[b->first_msg + r->owner].fresh);
        return 0;
    }
    if (s == 0 || s > (uint64_t)INT64_MAX) {
        reject(b, r, txn, 1);
        return 0;
    }
    dup = s <= d->lw;
    if (!dup && d->any_seen && (dup = seen_has(self, d->client_id, s)) < 0)
        return -1;
    if (dup) {
        if (r->valid) {
            r->outcome = QS_OUT_DUPLICATE;
            b->n_dup++;
            txn->duplicates++;
        } else {
            reject(b, r, txn, 0);   /* rejected before: listed again, counted once */
        }
        return 0;
    }
    r->fresh = 1;
    if (r->valid) {
        if (store_message(self, pol, d, b, r->m, now_ms) != 0)
            return -1;
        r->outcome = QS_OUT_STORED;
        b->n_stored++;
        txn->stored++;
    } else {
        reject(b, r, txn, 1);
    }
    return mark_handled(self, d, s);
}

/* The client's report times back at the policy's precision once its
 * resync completed (qs_write_report_ms). Prepared per call: rare. */
static int
report_precision(qs_write_t *self, int64_t client_id, int64_t precision_ms)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(self->db, QS_WRITE_SQL_REPORT_PRECISION, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, "$1"), client_id);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, "$2"), precision_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* After dedup: the resync rules (resync.h) - a gap given up, a resync
 * complete - and what the Ack asks; the row saved. */
static int
resync_after(qs_write_t *self, struct dedup *d, qs_resync_row_t *rs, qs_group_batch_t *b,
             qs_tally_t *txn, int64_t now_ms, int64_t precision_ms)
{
    uint64_t lw = d->lw, max_seen = 0;
    int64_t start_ms = 0;
    int has_seen = 0;

    if (d->any_seen && qs_resync_sql_max_seen(self->resync, d->client_id, &has_seen,
                                              &max_seen) != 0)
        return -1;
    if (qs_resync_after(rs, b, &lw, has_seen, max_seen, txn, now_ms, self->resync_gap_ms,
                        &start_ms)) {
        if (qs_resync_sql_drop_stale(self->resync, d->client_id, start_ms) != 0 ||
            report_precision(self, d->client_id, precision_ms) != 0)
            return -1;
        qs_resync_applied(rs, txn);
    }
    if (lw != d->lw) {
        d->lw = lw;
        if (qs_resync_sql_drop_seen(self->resync, d->client_id) != 0)
            return -1;
    }
    qs_resync_answer(rs, b, txn, now_ms);
    return qs_resync_sql_save(self->resync, rs);
}

int
qs_write_batch(qs_write_t *self, const qs_policy_t *pol, qs_group_batch_t *b,
               qs_group_msg_t *msgs, qs_tally_t *txn, int64_t now_ms)
{
    qs_resync_row_t rs;
    struct dedup d;

    if (self->pg != NULL)
        return qs_write_pg_batch(self->pg, pol, b, msgs, txn, now_ms);
    /* first_ms/last_ms are not message times, but kept at their precision. */
    if (client_open(self, &d, b, now_ms - now_ms % pol->time_precision_ms) != 0 ||
        qs_resync_sql_load(self->resync, d.client_id, &rs) != 0)
        return -1;
    if (qs_resync_on_instance(&rs, b, txn, now_ms)) {
        /* A fresh outbox: its serials are new whatever their numbers. */
        if (qs_resync_sql_drop_seen(self->resync, d.client_id) != 0)
            return -1;
        d.lw = 0;
        d.any_seen = 0;
    }
    d.report_ms = qs_write_report_ms(&rs, b, now_ms, pol->time_precision_ms);
    /* After a fresh outbox's reset: its serials count as new topics' rows. */
    if (self->max_topics > 0 &&
        qs_topicq_sqlite_check(self->topicq, d.client_id, d.lw, self->max_topics, b, msgs) != 0)
        return -1;
    b->n_stored = b->n_dup = b->n_rejected = 0;
    for (size_t i = 0; i < b->n_msgs; i++)
        if (write_one(self, pol, &d, b, msgs, &msgs[b->first_msg + i], txn, now_ms) != 0)
            return -1;
    if (d.any_seen) {
        sqlite3_bind_int64(self->del_seen, 1, d.client_id);
        sqlite3_bind_int64(self->del_seen, 2, (int64_t)d.lw);
        if (step_done(self->del_seen) != 0)
            return -1;
    }
    if (resync_after(self, &d, &rs, b, txn, now_ms, pol->time_precision_ms) != 0)
        return -1;
    sqlite3_bind_int64(self->upd_client, 1, d.client_id);
    sqlite3_bind_int64(self->upd_client, 2, (int64_t)d.lw);
    sqlite3_bind_int64(self->upd_client, 3, now_ms - now_ms % pol->time_precision_ms);
    if (step_done(self->upd_client) != 0)
        return -1;
    b->low_water = d.lw;
    return 0;
}

void
qs_write_set_max_topics(qs_write_t *self, uint64_t max_topics)
{
    self->max_topics = max_topics;
    if (self->pg != NULL)
        qs_write_pg_set_max_topics(self->pg, max_topics);
}

/* -------------------------------------------------------- transaction */

int
qs_write_begin(qs_write_t *self)
{
    if (self->pg != NULL)
        return qs_write_pg_begin(self->pg);
    self->txn_no++;
    return qs_storedb_begin(self->storedb);
}

static int
counter_add(void *ctx, const char *name, int64_t delta)
{
    return qs_storedb_counter_add(ctx, name, delta);
}

int
qs_write_tally(qs_write_t *self, const qs_tally_t *c)
{
    /* Outside qs_write_begin (ingest's counter flush) the PostgreSQL
     * engine's counters go through qs_storedb_counter_add as well. */
    if (self->pg != NULL && qs_write_pg_in_txn(self->pg))
        return qs_write_pg_tally(self->pg, c);
    return qs_write_tally_names(c, counter_add, self->storedb);
}

int
qs_write_tally_names(const qs_tally_t *c, qs_write_counter_fn add, void *ctx)
{
    char name[96];

    if (c->stored && add(ctx, "stored", c->stored) != 0)
        return -1;
    if (c->duplicates && add(ctx, "duplicates", c->duplicates) != 0)
        return -1;
    for (size_t i = 0; i < QS_TALLY_STATUSES; i++) {
        if (c->status[i] == 0)
            continue;
        /* A transient answer (NOT_CONFIGURED, RETRY_LATER) refuses no message:
         * the producer resends it. It counts under retries.<STATUS> (answers);
         * rejected.<STATUS> counts only messages refused for good. */
        snprintf(name, sizeof name, "%s.%s",
                 qs_status_is_transient((Quietstate__Status)i) ? "retries" : "rejected",
                 qs_status_name((Quietstate__Status)i));
        if (add(ctx, name, c->status[i]) != 0)
            return -1;
    }
    for (size_t i = 0; i < QS_TALLY_CODES; i++) {
        /* The codes of the transient answers: retries.<STATUS> says it all. */
        if (c->code[i] == 0 || i == QUIETSTATE__CODE__NO_POLICY ||
            i == QUIETSTATE__CODE__STORE_BUSY)
            continue;
        snprintf(name, sizeof name, "rejected_detail.%s", qs_code_name((Quietstate__Code)i));
        if (add(ctx, name, c->code[i]) != 0)
            return -1;
    }
    for (size_t i = 0; i < QS_RESYNC_COUNTERS; i++) {
        if (c->resync[i] == 0)
            continue;
        snprintf(name, sizeof name, "resync.%s", qs_resync_counter_name(i));
        if (add(ctx, name, c->resync[i]) != 0)
            return -1;
    }
    return 0;
}

int
qs_write_commit(qs_write_t *self)
{
    if (self->pg != NULL)
        return qs_write_pg_commit(self->pg);
    for (size_t i = 0; i < PART_CACHE; i++)
        if (self->parts[i].used && part_flush_rows(self, &self->parts[i]) != 0)
            return -1;
    if (qs_storedb_counts_apply(self->storedb, self->count_deltas) != 0)
        return -1;
    return qs_storedb_commit(self->storedb);
}

void
qs_write_rollback(qs_write_t *self)
{
    if (self->pg != NULL) {
        qs_write_pg_rollback(self->pg);
        return;
    }
    qs_storedb_rollback(self->storedb);
    /* Empty between transactions: apply clears on success, this on failure. */
    qs_count_deltas_clear(self->count_deltas);
    for (size_t i = 0; i < PART_CACHE; i++)
        self->parts[i].rows_delta = 0;
}

uint64_t
qs_write_low_water(qs_write_t *self, const uint8_t pk[QS_KEY_BYTES])
{
    uint64_t lw = 0;

    if (self->pg != NULL)
        return qs_write_pg_low_water(self->pg, pk);
    sqlite3_bind_blob(self->sel_client, 1, pk, QS_KEY_BYTES, SQLITE_STATIC);
    if (sqlite3_step(self->sel_client) == SQLITE_ROW)
        lw = (uint64_t)sqlite3_column_int64(self->sel_client, 1);
    sqlite3_reset(self->sel_client);
    return lw;
}

const char *
qs_write_errmsg(qs_write_t *self)
{
    if (self->pg != NULL)
        return qs_write_pg_errmsg(self->pg);
    return sqlite3_errmsg(self->db);
}

void
qs_write_end_group(qs_write_t *self)
{
    if (self->pg != NULL)
        qs_write_pg_end_group(self->pg);
    sodium_memzero(self->memo, sizeof self->memo);
}
