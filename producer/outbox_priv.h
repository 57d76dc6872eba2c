/* outbox_priv.h - what outbox.c and outbox_state.c share: the outbox's
 * struct and three statement helpers. Private to those two files; everything
 * else goes through outbox.h.
 */
#ifndef QS_PRODUCER_OUTBOX_PRIV_H
#define QS_PRODUCER_OUTBOX_PRIV_H

#include "outbox.h"
#include "qs_clock.h"

#include <sqlite3.h>

struct qs_outbox {
    sqlite3 *db;
    qs_clock_t clock;
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *next, *insert, *bump;
    sqlite3_stmt *take, *ack, *rej_copy, *rej_delete;
    sqlite3_stmt *count, *rcount, *rlist;
    sqlite3_stmt *cur_put, *cur_list, *droppable, *drop, *taken, *mark, *counter_add;
    sqlite3_stmt *counter_get;
    sqlite3_stmt *setting_get, *setting_put;
    uint8_t *pack_buf;     /* reused by append */
    size_t pack_cap;
    int has_instance;      /* instance loaded (outbox_resync.c) */
    uint8_t instance[16];
};

/* Step a statement without results to the end and reset it: 0, -1. */
int ob_exec(sqlite3_stmt *st);
/* The first column of the first row of st (reset after): 0, -1. */
int ob_query_u64(sqlite3_stmt *st, uint64_t *out);
/* Add n to the named counter (tallies table): 0, -1. */
int ob_counter_add(qs_outbox_t *ob, const char *name, uint64_t n);

#endif
