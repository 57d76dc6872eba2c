/* qs_store_resync.h - asking machines for a full resync of their current state (qsctl resync).
 *
 * A request is a row of the store's resync table (store/resync.h): the
 * next batch the client sends is answered with Ack.resync_generation and a
 * delay, and the producer re-sends its whole current state, which then
 * replaces the machine's rows in latest (docs/resync.md). A fleet-wide
 * request is spread: client c's resync is due at now + h(c) mod window,
 * h a multiplicative hash of its client id, so a fleet that contacts the
 * store at once still re-sends over the whole window, each client at a
 * point that depends on nothing but its id.
 */
#ifndef QS_STORE_RESYNC_H
#define QS_STORE_RESYNC_H

#include <stddef.h>
#include <stdint.h>

#include "qs_pseudonym.h"
#include "qs_storedb.h"

/* Longest spread window accepted (seconds): one week. */
#define QS_RESYNC_MAX_WINDOW_S (7 * 86400)

typedef struct {
    int64_t clients;        /* clients asked */
    int64_t first_due_ms;   /* earliest and latest due time (store clock) */
    int64_t last_due_ms;
} qs_resync_request_counts_t;

/* Ask the clients whose current states carry who's pseudonyms (who NULL:
 * every client of the store) for a full resync, due within window_ms of
 * now_ms (0: at once). One transaction; a request replaces any pending one
 * of the same client. 0 with *out, or -1 with errmsg. */
int qs_storedb_resync_request(qs_storedb_t *db, const qs_machine_ps_t *who, int64_t now_ms,
                              int64_t window_ms, qs_resync_request_counts_t *out, char *errmsg,
                              size_t errmsg_len) __attribute__((warn_unused_result));

/* How far the requests are (qsctl resync --status): numbers only. */
typedef struct {
    int64_t waiting;        /* asked, resync not started yet */
    int64_t due;            /* of those, due by now (they resend at next contact) */
    int64_t in_progress;    /* started, not every serial of it handled yet */
    int64_t gaps_open;      /* clients with serials missing above their low water */
    int64_t first_due_ms;   /* earliest and latest due time of the waiting ones */
    int64_t last_due_ms;    /* (0 when none waits; store clock) */
    int64_t requested;      /* counters resync.*: requests sent in an Ack, */
    int64_t applied;        /* resyncs that replaced a machine's state, */
    int64_t new_instance;   /* fresh outboxes detected, */
    int64_t gap_given_up;   /* gaps given up (docs/resync.md) */
} qs_resync_status_t;

/* Read the status in one snapshot at now_ms. 0 with *out, or -1 with errmsg. */
int qs_storedb_resync_status(qs_storedb_t *db, int64_t now_ms, qs_resync_status_t *out,
                             char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

#endif
