/* ingest.h - the store's ingest pipeline: envelopes in, one transaction per group, sealed acks out.
 *
 * qs-store's main loop drains every envelope waiting on its socket into a
 * group (qs_ingest_add), hands the group to the commit thread
 * (qs_ingest_submit), which commits it in ONE SQLite transaction, and keeps
 * receiving and decoding into the next group meanwhile; when the commit
 * thread is done (qs_ingest_fd readable) qs_ingest_collect hands each
 * batch's sealed Reply to a callback - only after the COMMIT that covers
 * it returned. One group at most is in flight: commits, and acks, stay in
 * arrival order. qs_ingest_commit does the same synchronously (unit tests,
 * the bench's ideal store). Nothing here touches a socket, so unit tests
 * drive the module directly with envelopes they seal themselves. Every
 * function is called from one thread (the owner's); the commit thread is
 * internal (ingest.c, committer.h).
 *
 * qs_ingest_add does everything that needs no database write: envelope
 * parsing, sender == transport key, key standing (site.db keyset), policy
 * presence, decryption with the per-sender precomputed key, Batch decoding
 * and per-message validation (including a serial repeated inside the batch).
 * A batch refused as a whole (unknown sender, NOT_CONFIGURED, tampered
 * ciphertext...) is answered at the next commit without a transaction; its
 * counters wait in memory and are written by the next transaction or by
 * qs_ingest_tick within 200 ms.
 *
 * The commit thread runs BEGIN IMMEDIATE; for each batch: dedup by
 * (client, serial) with clients.low_water + seen, minimize (pseudonyms,
 * time precision, user names only by policy, details sealed under the epoch
 * key), upsert latest, insert history (unless already older than the
 * policy's maximum age), counters; then COMMIT (synchronous=FULL); the
 * acks follow at qs_ingest_collect. If the transaction fails every batch of the group is answered
 * RETRY_LATER/STORE_BUSY and nothing of it is kept (producers resend).
 *
 * The module never exits or asserts on input: every failure is an Ack and
 * a counter.
 */
#ifndef QS_STORE_INGEST_H
#define QS_STORE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "qs_clock.h"
#include "qs_epochkeys.h"
#include "qs_keys.h"
#include "qs_sitedb.h"
#include "qs_storedb.h"
#include "quietstate.pb-c.h"

/* Largest ZeroMQ routing id (libzmq allows 1..255 bytes). */
#define QS_INGEST_MAX_ROUTING_ID 255u
/* A group stops taking envelopes past this much decoded data, whatever
 * group_commit_max_messages says: memory stays bounded under hostile input
 * (two groups at most: one filling, one committing). */
#define QS_INGEST_MAX_GROUP_BYTES (64u * 1024u * 1024u)
/* ... or past this many envelopes. */
#define QS_INGEST_MAX_GROUP_BATCHES 4096u
/* Shared-key cache size (one X25519 per new client, then a table hit). */
#define QS_INGEST_PEER_CACHE 65536u
/* How often site.db is polled for keyset/policy changes, and how long
 * rejection counters may wait in memory. */
#define QS_INGEST_SITEDB_CHECK_MS 250
#define QS_INGEST_COUNTER_FLUSH_MS 200

typedef struct qs_ingest qs_ingest_t;

/* Everything the pipeline borrows; all of it must outlive the qs_ingest_t. */
typedef struct {
    const qs_keypair_t *store_kp;   /* opens batches, seals acks */
    const uint8_t *site_key;        /* 32 bytes: pseudonym key */
    qs_sitedb_t *sitedb;            /* keyset and policy (read only) */
    qs_storedb_t *storedb;          /* written */
    qs_epochkeys_t *epochkeys;      /* details keys, created on demand */
    const qs_clock_t *clock;        /* store time (UTC ms, test offset) */
    int64_t skew_ms;                /* accepted clock skew into the future */
    size_t group_max_messages;      /* group_commit_max_messages */
    /* Store protection (docs/quotas.md); 0 turns one off. */
    uint64_t quota_messages_per_minute;   /* per client: RETRY_LATER/QUOTA_RATE */
    uint64_t quota_details_per_minute;    /* details bytes: RETRY_LATER/QUOTA_DETAILS */
    uint64_t quota_topics;                /* latest rows per client: QUOTA_TOPICS */
    const char *reserve_dir;              /* watched file system (NULL: none) */
    uint64_t reserve_bytes;               /* free space kept: RETRY_LATER/DISK_RESERVE */
} qs_ingest_config_t;

/* Running totals since qs_ingest_new (for the periodic stats line). */
typedef struct {
    uint64_t batches;           /* envelopes answered */
    uint64_t stored;            /* messages committed */
    uint64_t duplicates;        /* messages already handled */
    uint64_t rejected_batches;  /* envelopes refused as a whole */
    uint64_t rejected_messages; /* messages refused inside a batch */
    uint64_t commits;           /* successful transactions */
    uint64_t commit_failures;   /* rolled back: answered RETRY_LATER */
    uint64_t reloads;           /* keyset/policy reloads from site.db */
    int disk_low;               /* under [store] disk_reserve_mb now (headroom.h) */
    uint64_t disk_free_bytes;   /* at the last check; 0: not watched */
    uint64_t resync_requested;  /* resync requests sent in acks (docs/resync.md) */
    uint64_t resync_applied;    /* resyncs that replaced a machine's state */
} qs_ingest_stats_t;

/* What qs_ingest_collect answered. */
typedef struct {
    size_t envelopes;           /* acks handed to the callback (0: counters alone) */
    int rc;                     /* 0 committed (or nothing to commit), -1 rolled back */
    double seconds;             /* the commit thread's time on the group */
} qs_ingest_done_t;

/* Called once per answered envelope, after COMMIT (or after the rollback).
 * reply is the packed Reply to send as [routing_id][reply]: normally a
 * sealed_ack for the transport-authenticated client key, a plain notice
 * only when there is no usable key to seal for. ack is the same Ack in
 * clear (for logging and tests). All pointers are borrowed for the call. */
typedef void (*qs_ingest_reply_fn)(void *ctx, const uint8_t *routing_id, size_t routing_id_len,
                                   const uint8_t *reply, size_t reply_len,
                                   const Quietstate__Ack *ack);

/* Load the keyset and policy from site.db, prepare every statement once and
 * start the commit thread, which from then on is the only user of storedb
 * and epochkeys (read store.db elsewhere only while no group is in flight).
 * NULL with errmsg on failure (site.db unreadable, store.db not a store). */
qs_ingest_t *qs_ingest_new(const qs_ingest_config_t *cfg, char *errmsg, size_t errmsg_len);

/* Wait for a group in flight to finish committing, stop the commit thread
 * and free everything (groups not collected are dropped unanswered); sets
 * *self_p to NULL. No-op on NULL. */
void qs_ingest_destroy(qs_ingest_t **self_p);

/* Add one envelope to the current group. routing_id is copied (longer than
 * QS_INGEST_MAX_ROUTING_ID is truncated: it cannot be routed anyway);
 * transport_pk is the broker's key frame (BAD_ENVELOPE/BAD_FRAMES unless 32
 * bytes; pass NULL/0 when the frame is missing); frame is the Envelope and
 * is not kept. Returns the batch's status so far: OK when it goes into the
 * transaction, otherwise the status its ack will carry. */
Quietstate__Status qs_ingest_add(qs_ingest_t *self,
                                 const uint8_t *routing_id, size_t routing_id_len,
                                 const uint8_t *transport_pk, size_t transport_pk_len,
                                 const uint8_t *frame, size_t frame_len);

/* 1 when the group should be committed before taking more envelopes
 * (group_max_messages, QS_INGEST_MAX_GROUP_BATCHES or _BYTES reached). */
int qs_ingest_full(const qs_ingest_t *self);

/* Envelopes waiting in the current group. */
size_t qs_ingest_pending(const qs_ingest_t *self);

/* Hand the current group (when it holds an envelope) to the commit thread
 * and start an empty one. 1 handed over; 0 when empty, or while a group is
 * in flight (collect it first). */
int qs_ingest_submit(qs_ingest_t *self);

/* 1 while a group is in flight (submitted, not collected). */
int qs_ingest_busy(const qs_ingest_t *self);

/* A file descriptor that is readable (POLLIN, for zmq_poll or poll) while
 * the group in flight has finished and waits for qs_ingest_collect. */
int qs_ingest_fd(const qs_ingest_t *self);

/* When the group in flight has finished (wait != 0: once it has), call
 * reply once per envelope of it in arrival order, fill *done (may be NULL)
 * and return 1; 0 when there is none (in flight, or finished with wait = 0).
 * A failed transaction answered its batches RETRY_LATER/STORE_BUSY and kept
 * nothing of them; the module stays usable. */
int qs_ingest_collect(qs_ingest_t *self, int wait, qs_ingest_reply_fn reply, void *ctx,
                      qs_ingest_done_t *done);

/* Synchronously: collect the group in flight (if any), then commit the
 * current group in one transaction, call reply once per envelope in
 * arrival order, and start an empty group. Returns 0 when committed (or
 * nothing needed a transaction), -1 when the transaction failed and the
 * group was answered RETRY_LATER/STORE_BUSY. The module stays usable. */
int qs_ingest_commit(qs_ingest_t *self, qs_ingest_reply_fn reply, void *ctx);

/* Housekeeping for idle moments: reload keyset/policy when site.db changed
 * (at most every QS_INGEST_SITEDB_CHECK_MS unless force), emit a pending
 * "log lines suppressed" line, and when no group is in flight nor being
 * filled, write pending rejection counters once they have waited
 * QS_INGEST_COUNTER_FLUSH_MS: handed to the commit thread as a group of no
 * envelope (collect it like any group), or with force written before this
 * returns. Returns 0, -1 if forced counters could not be written (they
 * stay pending). */
int qs_ingest_tick(qs_ingest_t *self, int force);

void qs_ingest_stats(const qs_ingest_t *self, qs_ingest_stats_t *out);

#endif
