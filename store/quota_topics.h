/* quota_topics.h - [store] quota_topics_per_client: how many current-state rows one client may hold.
 *
 * A client's rows in latest (one per topic type x topic id it reported)
 * are what compliance reads and what every later report of it updates; a
 * broken or hostile producer inventing topic ids would grow them without
 * bound. Inside the ingest transaction, after the client's row is locked
 * and before dedup, each valid message whose (topic type, topic id) the
 * client has no row for, and which would take it past the limit, is
 * refused for good: BAD_MESSAGE/QUOTA_TOPICS. Its serial is handled like
 * any permanent rejection (the producer moves it to its rejected list);
 * messages for topics the client already has, and new topics while under
 * the limit, are stored as usual, in message order.
 *
 * Cost: SQLite, one count of the client's latest rows (an index range)
 * when its remembered upper bound plus the batch could pass the limit -
 * the bound takes every message as a new topic, so a client is counted
 * again about every limit / batch-size batches; PostgreSQL, one statement
 * per group counting all the group's clients (other workers add rows, so
 * no bound survives a transaction there). Only a client whose count plus
 * its messages could pass the limit has its messages looked up one by one
 * (SQLite) or its topic keys read once (PostgreSQL). Rows leave with retention and qsctl forget, which
 * makes room again.
 */
#ifndef QS_STORE_QUOTA_TOPICS_H
#define QS_STORE_QUOTA_TOPICS_H

#include <sqlite3.h>
#include <stdint.h>

#include "group.h"
#include "write_pg.h"

/* A set of (topic type, topic id), ids copied. */
typedef struct qs_topicset qs_topicset_t;

qs_topicset_t *qs_topicset_new(void);
void qs_topicset_destroy(qs_topicset_t **s_p);
void qs_topicset_clear(qs_topicset_t *s);
int qs_topicset_has(const qs_topicset_t *s, uint32_t topic_type, const char *topic_id);
void qs_topicset_add(qs_topicset_t *s, uint32_t topic_type, const char *topic_id);

/* 1 when the client already holds the row, 0 not, -1 on error. */
typedef int (*qs_topicq_exists_fn)(void *ctx, uint32_t topic_type, const char *topic_id);

/* Walk b's valid messages in order: a serial at or under lw (the
 * client's low-water mark: a duplicate, stored or refused before) is left
 * to dedup; a topic the client holds (exists) or already took in this walk
 * (added) passes; a new one passes while *have < limit (then *have grows
 * and it joins added); the rest are refused BAD_MESSAGE/QUOTA_TOPICS. 0,
 * or -1 when exists failed. */
int qs_topicq_apply(uint64_t *have, uint64_t limit, uint64_t lw, qs_topicset_t *added,
                    qs_group_batch_t *b, qs_group_msg_t *msgs, qs_topicq_exists_fn exists,
                    void *ctx);

/* ---- SQLite: per batch, inside write.c's transaction ---- */
typedef struct qs_topicq_sqlite qs_topicq_sqlite_t;

/* NULL when store.db has no latest table (errmsg from SQLite). */
qs_topicq_sqlite_t *qs_topicq_sqlite_new(sqlite3 *db);
void qs_topicq_sqlite_destroy(qs_topicq_sqlite_t **t_p);
/* Apply the limit to b for client_id. 0, or -1 on a database error. */
int qs_topicq_sqlite_check(qs_topicq_sqlite_t *t, int64_t client_id, uint64_t lw,
                           uint64_t limit, qs_group_batch_t *b, qs_group_msg_t *msgs);

/* ---- PostgreSQL: per group, in write_pg_flush.c between the clients'
 * lock and dedup (quota_topics_pg.c). 0, or -1 (the transaction fails). */
int qs_topicq_pg_check(qs_write_pg_t *w, uint64_t limit);

#endif
