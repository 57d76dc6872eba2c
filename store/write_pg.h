/* write_pg.h - the ingest transaction's body on PostgreSQL (private to store/).
 *
 * write.c hands every call of write.h to these functions when the store is a
 * PostgreSQL database (qs_storedb_pgdb() != NULL); the contracts are
 * write.h's, with one difference told there: the batches of a transaction
 * are queued by qs_write_pg_batch and written together, clients locked in
 * ascending key order, at the first qs_write_pg_tally or at
 * qs_write_pg_commit. How it stays exactly-once with several workers:
 * docs/store.md ("The PostgreSQL write path").
 */
#ifndef QS_STORE_WRITE_PG_H
#define QS_STORE_WRITE_PG_H

#include <stddef.h>
#include <stdint.h>

#include "group.h"
#include "qs_epochkeys.h"
#include "qs_policy.h"
#include "qs_storedb.h"

typedef struct qs_write_pg qs_write_pg_t;

/* Adds one named counter increment; 0 or -1. */
typedef int (*qs_write_counter_fn)(void *ctx, const char *name, int64_t delta);

/* NULL with errmsg (the key directory holds no hash chains: see
 * qs_epochkeys.h; a PostgreSQL site needs them). */
qs_write_pg_t *qs_write_pg_new(qs_storedb_t *storedb, const uint8_t *site_key,
                               qs_epochkeys_t *epochkeys, char *errmsg, size_t errmsg_len);
void qs_write_pg_destroy(qs_write_pg_t **self_p);

/* [store] quota_topics_per_client (quota_topics.h); 0: no limit. */
void qs_write_pg_set_max_topics(qs_write_pg_t *self, uint64_t max_topics);

/* A new transaction. -1 without a usable connection: the reconnection is
 * tried here, at most once per backoff interval, and logged once per
 * outage. */
int qs_write_pg_begin(qs_write_pg_t *self);
int qs_write_pg_batch(qs_write_pg_t *self, const qs_policy_t *pol, qs_group_batch_t *b,
                      qs_group_msg_t *msgs, qs_tally_t *txn, int64_t now_ms);
/* 1 between qs_write_pg_begin and the commit or rollback. */
int qs_write_pg_in_txn(const qs_write_pg_t *self);
/* Inside the transaction: run the queued batches, then keep t's increments
 * for the commit. */
int qs_write_pg_tally(qs_write_pg_t *self, const qs_tally_t *t);
int qs_write_pg_commit(qs_write_pg_t *self);
void qs_write_pg_rollback(qs_write_pg_t *self);
uint64_t qs_write_pg_low_water(qs_write_pg_t *self, const uint8_t pk[QS_KEY_BYTES]);
const char *qs_write_pg_errmsg(qs_write_pg_t *self);
void qs_write_pg_end_group(qs_write_pg_t *self);

/* Every counter name and increment of t (write.c: one naming rule for both
 * engines). 0 or the first -1 of add. */
int qs_write_tally_names(const qs_tally_t *t, qs_write_counter_fn add, void *ctx);

#endif
