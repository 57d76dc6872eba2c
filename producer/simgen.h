/* simgen.h - the fleet simulator's deterministic message generator.
 *
 * A simulated client (1-based index c, named sim-%05u) sends serials 1..n.
 * Message (c, s) is a pure function of c, s and the run's base time:
 *   topic_type 500, topic_id "KB" (5000001 + ((c*7 + s) % 20)),
 *   state_id 1 + (mix(c, s) % 3), time_utc_ms = base_ms + s,
 *   machine_name "sim-host-%05u", domain "simcorp".
 * So a resumed run regenerates exactly what it sent before, and the final
 * state of every (client, topic) - what `qsctl compliance` should report -
 * follows from (clients, messages) alone (qs_simgen_expected_latest).
 */
#ifndef QS_PRODUCER_SIMGEN_H
#define QS_PRODUCER_SIMGEN_H

#include <stddef.h>
#include <stdint.h>

#include "source.h"

#define QS_SIM_TOPIC_TYPE   500u
#define QS_SIM_TOPICS       20u
#define QS_SIM_FIRST_KB     5000001u
#define QS_SIM_STATES       4u      /* state ids 0..3 of topic 500; 1..3 generated */
#define QS_SIM_MAX_CLIENTS  99999u  /* sim-%05u */

/* How many of `messages` client c (1..clients) sends: an even share, the
 * remainder going to the first clients. */
uint64_t qs_simgen_count(uint64_t messages, uint32_t clients, uint32_t c);

/* Topic index (0..19, i.e. KB5000001 + index) and state of message (c, s). */
uint32_t qs_simgen_topic(uint32_t c, uint64_t s);
uint32_t qs_simgen_state(uint32_t c, uint64_t s);

/* Pack message (c, s) into buf (cap bytes). Returns the packed length, or 0
 * if it does not fit. Allocates nothing. */
size_t qs_simgen_pack(uint8_t *buf, size_t cap, uint32_t c, uint64_t s, int64_t base_ms);

/* Clients per (topic, final state): out[t][state] counts the clients whose
 * highest serial with topic t has that state; clients that never sent topic
 * t are not counted. O(clients * topics), whatever the message count. */
void qs_simgen_expected_latest(uint64_t out[QS_SIM_TOPICS][QS_SIM_STATES], uint32_t clients,
                               uint64_t messages);

/* One simulated client's progress: plain data owned by the simulator.
 *
 * A resync the store asks for (docs/resync.md) re-sends the client's
 * current state - per topic its highest serial <= count - as serials
 * count+1.. (simresync.c). It lives in memory only: it is not part of the
 * run's saved state, so a run interrupted during one forgets it (the store
 * asks again at the next contact). */
typedef struct {
    uint32_t client;      /* 1-based index */
    uint64_t count;       /* serials 1..count */
    uint64_t acked;       /* store's committed serial (low water), at most count */
    uint64_t rejected;    /* serials the store refused for good */
    int64_t base_ms;      /* the run's base time */
    int dirty;            /* acked/rejected changed since last saved */
    /* resync, in memory */
    uint64_t rs_gen;      /* generation heard last (runs once) */
    int rs_pending;       /* heard, not due yet */
    int64_t rs_due_mono;  /* when due (monotonic ms) */
    uint64_t rs_first, rs_last;   /* its serials, once taken (0: none) */
    uint64_t rs_acked;    /* committed serial beyond count */
    int64_t rs_ran_ms;    /* wall time the resync was generated (0: none) */
} qs_simgen_client_t;

/* 1 while c has messages to deliver: its own, or a resync pending or not
 * yet committed. */
int qs_simgen_busy(const qs_simgen_client_t *c);

/* Pack client c's current state of its k-th topic present (in topic
 * order) as serial `serial`, time and state as first sent. 0 when there is
 * no such topic or it does not fit cap. */
size_t qs_simgen_pack_current(uint8_t *buf, size_t cap, uint32_t c, uint64_t count, uint64_t k,
                              uint64_t serial, int64_t base_ms);

/* How many topics client c (count messages) has a current state for. */
uint64_t qs_simgen_current_topics(uint32_t c, uint64_t count);

/* The source's resync parts (simresync.c): the Batch fields (a per-client
 * instance id derived from the run, the resync markers), a request heard,
 * and a pending request made due (its serials set). */
size_t qs_simgen_fields(void *ctx, uint64_t first, uint64_t last, uint8_t *buf);
int qs_simgen_resync(void *ctx, uint64_t gen, uint64_t delay_ms);
void qs_simgen_resync_due(qs_simgen_client_t *c);

/* A qs_source_t generating c's messages (c is borrowed and updated by ack
 * and reject; it must outlive the sender). */
qs_source_t qs_simgen_source(qs_simgen_client_t *c);

#endif
