/* write_pg_int.h - the PostgreSQL writer's state, shared by its two files (private to write_pg*.c).
 *
 * write_pg.c: connection, transaction, commit. write_pg_flush.c: the
 * queued batches' locks, dedup, minimization, statements and results.
 * write_pg_parts.c: partitions, their statements and row counts, and the
 * count changes.
 */
#ifndef QS_STORE_WRITE_PG_INT_H
#define QS_STORE_WRITE_PG_INT_H

#include "pipe_pg.h"
#include "qs_limits.h"
#include "qs_pseudonym.h"
#include "resync.h"
#include "write_pg.h"

/* Result tags: the kind in the low bits, an index above. */
enum { TAG_NONE = 0, TAG_LOCK, TAG_SEEN, TAG_LATEST_OLD, TAG_LATEST_SET, TAG_HISTORY,
       TAG_RESYNC, TAG_NEW_CLIENT };
#define TAG_KIND(t) ((t) & 7)
#define TAG_INDEX(t) ((size_t)((unsigned)(t) >> 3))
#define TAG_MAKE(kind, i) ((int)(((unsigned)(i) << 3) | (unsigned)(kind)))

#define STMT_SLOTS 48          /* prepared history INSERTs kept per connection */
#define KNOWN_MAX 4096         /* partitions remembered as existing */

struct queued {
    qs_group_batch_t *b;
    qs_group_msg_t *msgs;
    const qs_policy_t *pol;
    qs_tally_t *txn;
    int64_t now_ms;
};

/* A client of the transaction, locked; serials of seen as read (init) and
 * as added by this transaction. */
struct pclient {
    uint8_t pk[QS_KEY_BYTES];
    int64_t client_id;
    int locked;
    int created;               /* its row was inserted by this transaction (adopt_pg.c) */
    int64_t last_ms;
    uint64_t lw;
    uint64_t *init, *added;
    size_t n_init, cap_init, n_added, cap_added;
    qs_resync_row_t rs;        /* its resync row, read FOR UPDATE (resync_pg.c) */
    int rs_drop_seen;          /* a fresh outbox: delete every seen row */
    int64_t rs_apply_ms;       /* a resync complete: drop rows reported before */
    int64_t rs_precision_ms;   /* then report times back at this precision */
};

/* A message to store. */
struct todo {
    const Quietstate__StateMessage *m;
    const qs_group_batch_t *b; /* its batch: the bound machine (adopt.h) */
    int64_t client_id;
    int64_t t;                 /* truncated to the policy's precision */
    int64_t now_ms;
    int collect_users;
    int history;               /* also a history row (not past the maximum age) */
    int64_t epoch;
    int slot;                  /* prepared INSERT slot, -1: unnamed statement */
};

struct stmt_slot {
    int used;
    int64_t epoch;
    uint32_t topic_type;
    uint64_t txn_no;           /* transaction that last used it */
};

struct part_key {
    int64_t epoch;
    uint32_t topic_type;
    int64_t rows;              /* rows: this transaction's inserts */
    int slot;                  /* rows: its prepared INSERT, -1 unnamed */
};

/* A latest row the group writes: its messages folded (write_pg_set.c). */
struct lkey {
    int64_t client_id;
    uint32_t topic_type;
    const char *topic_id;      /* the winner's, in the group's arena */
    size_t winner;             /* todo index of the newest (time, serial) */
    int64_t old_state;         /* before the transaction; -1: no row */
    int64_t new_state;         /* as the upsert left it */
    int64_t old_time, new_time; /* their time_ms (installed_hours' hour) */
    uint64_t hash;
};

/* A change of compliance_counts (hour -1) or of installed_hours. */
struct count_delta {
    uint32_t topic_type, state_id;
    int64_t hour;
    int64_t delta;
    char topic_id[QS_MAX_TOPIC_ID_BYTES + 1];
};

struct qs_write_pg {
    qs_storedb_t *storedb;
    qs_pgdb_t *pg;
    qs_pgpipe_t *pipe;
    const uint8_t *site_key;
    qs_epochkeys_t *epochkeys;
    unsigned prepared_gen;

    /* reconnection */
    int outage;
    int64_t outage_since, next_try, backoff_ms;

    /* the transaction */
    int in_txn, flushed, flush_rc;
    uint64_t txn_no;
    struct queued *queue;
    size_t n_queue, cap_queue;
    struct pclient *clients;   /* sorted by pk */
    size_t n_clients, cap_clients;
    struct todo *todo;
    size_t n_todo, cap_todo;
    struct lkey *lkeys;
    size_t n_lkeys, cap_lkeys;
    uint32_t *lmap;            /* open addressing: lkeys index + 1, 0 empty */
    size_t cap_lmap;
    qs_pgarray_t cols[9];      /* a set's columns, reused */
    struct count_delta *deltas;
    size_t n_deltas, cap_deltas;
    struct part_key *rows;     /* partitions touched, with their row counts */
    size_t n_rows, cap_rows;
    struct part_key *fresh;    /* created by this transaction */
    size_t n_fresh, cap_fresh;
    qs_tally_t tally;
    uint64_t max_topics;       /* quota_topics_pg.c; 0: no limit */

    /* partitions known to exist (committed), and the prepared INSERTs */
    struct part_key *known;
    size_t n_known, cap_known;
    struct stmt_slot slots[STMT_SLOTS];

    qs_pseudonym_memo_t memo[QS_PSEUDO_USER + 1];
    uint8_t details_buf[QS_MAX_DETAILS_BYTES + QS_DETAILS_OVERHEAD];
    uint64_t unsealed;         /* details dropped: their key is shredded */
    int64_t next_expire_mono;  /* when to move every key chain again */
    int64_t rs_gap_ms;         /* the resync gap limit (resync.h) */
    char err[512];
};

/* A partition's rows, one array per column; %s is the partition's table. */
#define QS_WRITE_PG_HISTORY_FMT \
    "INSERT INTO %s(client_id, serial, state_id, topic_id, time_ms, machine_ps, domain_ps, " \
    "user_ps, details) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], " \
    "$4::text[], $5::bigint[], $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[]) " \
    "ON CONFLICT DO NOTHING"
extern const unsigned qs_write_pg_history_types[9];

/* write_pg_set.c */
int qs_write_pg_prepare_set(qs_write_pg_t *self);
int qs_write_pg_send_latest(qs_write_pg_t *self);
int qs_write_pg_take_latest(qs_write_pg_t *self, PGresult *r, int old);
int qs_write_pg_latest_deltas(qs_write_pg_t *self);
int qs_write_pg_send_history(qs_write_pg_t *self);

/* write_pg_parts.c */
int qs_write_pg_ensure_parts(qs_write_pg_t *self);
void qs_write_pg_slot_name(char out[24], size_t i);
void qs_write_pg_rows_added(qs_write_pg_t *self, size_t j, int64_t n);
void qs_write_pg_delta_add(qs_write_pg_t *self, uint32_t topic_type, const char *topic_id,
                           uint32_t state_id, int64_t delta);
/* A row's move in installed_hours: out of (from_state, hour of from_time),
 * into (to_state, hour of to_time); a state of -1 is no row, a state not
 * installed (deadline_rules.h) no count. */
void qs_write_pg_hours_move(qs_write_pg_t *self, uint32_t topic_type, const char *topic_id,
                            int64_t from_state, int64_t from_time, int64_t to_state,
                            int64_t to_time);
int qs_write_pg_send_parts(qs_write_pg_t *self);
int qs_write_pg_send_counts(qs_write_pg_t *self);
void qs_write_pg_parts_forget(qs_write_pg_t *self);
void qs_write_pg_parts_committed(qs_write_pg_t *self);
void qs_write_pg_parts_rolled_back(qs_write_pg_t *self);

/* adopt_pg.c: created clients bound to a machine take over its rows. */
int qs_adopt_pg_mark_created(qs_write_pg_t *self, PGresult *r);
int qs_adopt_pg_run(qs_write_pg_t *self);

/* write_pg_flush.c */
int qs_write_pg_flush(qs_write_pg_t *self);
int qs_write_pg_result(void *ctx, int tag, PGresult *r);
void qs_write_pg_reset(qs_write_pg_t *self);

/* resync_pg.c: the resync rules on this writer (resync.h). */
int qs_resync_pg_create(qs_pgdb_t *pg);
int qs_resync_pg_prepare(qs_pgpipe_t *p);
int qs_resync_pg_send_load(qs_write_pg_t *self, const qs_pgparams_t *keys);
int qs_resync_pg_take(qs_write_pg_t *self, PGresult *r);
void qs_resync_pg_before(struct pclient *c, const struct queued *q);
void qs_resync_pg_after(qs_write_pg_t *self, struct pclient *c, const struct queued *q);
int qs_resync_pg_send_save(qs_write_pg_t *self);
int qs_resync_pg_apply(qs_write_pg_t *self);

#endif
