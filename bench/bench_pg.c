/* bench_pg.c - qs-bench grow: ingest into a full store vs into an empty one, either engine.
 *
 * The cost-growth measurement of issue 13 (docs/scale.md), with the store's
 * own ingest in one process (as bench_ideal.c: parse, decrypt, validate,
 * dedup, latest upsert, history insert, counts, one transaction per group),
 * on the site's engine: store.db, or the database of [store] database.
 *
 *   1. empty: M messages from fresh clients (B per envelope) into the empty
 *      store, timed: the rate an empty store takes; their times spread over
 *      an hour, as phase 3's;
 *   2. fill, untimed: --clients C clients report 20 messages each (one per
 *      topic: C x 20 latest rows, as many history rows), in chunks of
 *      FILL_CHUNK clients (enrolled per chunk; keys kept for every stride-th
 *      client only: locked memory is scarce), so the kept clients are
 *      spread over the whole client_id range;
 *   2b. history, untimed (--history ROWS): the fill's history partitions
 *      copied, row for row, into the partitions of earlier days until the
 *      history holds ROWS rows (qs_store_bench_copy_history: 100M history
 *      rows through the write path would take an hour per engine here; a
 *      site's earlier days are pages today's ingest does not touch);
 *   2c. settle, untimed: the set-up's WAL checkpointed, and on PostgreSQL
 *      its tables vacuumed and analyzed and all but the earlier days'
 *      partitions read into the page cache, which the copy of 2b pushed
 *      them out of (grow_settle);
 *   3. grown, timed: M messages from the kept clients, picked in random
 *      order, each envelope B new serials of one client: updates of existing
 *      latest rows at random places of the key space, not appends; their
 *      times spread over the hour after the fill's, as a clock moves
 *      (phase_ms).
 *
 * On SQLite the WAL's checkpoints run on their own thread, as in qs-store
 * (checkpointer.h): the cost measured is the store's. (qs-bench ideal keeps
 * SQLite's checkpoint inside the COMMIT: it is the single-threaded
 * reference issue 18's targets compare with.)
 *
 * Prints {"name": "grow", "empty_msgs_per_s", "grown_msgs_per_s", "ratio",
 * "latest_rows", ...}; bench/run adds the bytes per row from the database.
 */
#include "bench.h"

#include "checkpointer.h"

#include "ingest.h"
#include "qs_clock.h"
#include "qs_envelope.h"
#include "qs_epochkeys.h"
#include "qs_log.h"
#include "qs_sitedb.h"
#include "qs_store_bench.h"
#include "qs_storedb.h"
#include "simgen.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILL_CHUNK 2000
#define KEPT_MAX 4000            /* keys held at once (sodium_malloc'd, guard pages) */
#define GROW_SPREAD_MS 3600000LL /* phase 3's message times: the hour after the fill's */

typedef struct {
    bench_store_t s;
    uint64_t refused;
} grow_store_t;

static void
on_reply(void *ctx, const uint8_t *rid, size_t rid_len, const uint8_t *reply, size_t reply_len,
         const Quietstate__Ack *ack)
{
    grow_store_t *st = ctx;

    (void)rid;
    (void)rid_len;
    (void)reply;
    (void)reply_len;
    if (ack->status != QUIETSTATE__STATUS__OK || ack->n_rejected > 0)
        st->refused++;
}

/* The envelopes of one phase, in delivery order, in one buffer. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    size_t *off, *flen;
    const qs_keypair_t **kp;
    size_t n, ncap;
} envs_t;

/* Append client c's serials first..first+count-1, sealed for the store. */
static void
env_add(envs_t *e, const bench_site_t *site, const qs_keypair_t *kp, uint32_t c,
        uint64_t first, size_t count, int64_t base_ms)
{
    static uint8_t msgs[QS_MAX_BATCH_BYTES], plain[QS_MAX_BATCH_BYTES];
    size_t lens[1000], used = 0, plen, need, flen = 0;
    uint8_t shared[QS_KEY_BYTES];

    for (size_t i = 0; i < count; i++) {
        lens[i] = bench_pack_message(msgs + used, sizeof msgs - used, c, first + i, base_ms, 0, 0);
        if (lens[i] == 0)
            qs_fatal("bug: a message does not fit a batch");
        used += lens[i];
    }
    plen = bench_frame_batch(plain, msgs, lens, count);
    need = qs_envelope_sealed_size(plen);
    if (e->len + need > e->cap) {
        e->cap = (e->cap + need) * 2;
        e->data = qs_realloc(e->data, e->cap);
    }
    if (e->n == e->ncap) {
        e->ncap = e->ncap ? e->ncap * 2 : 1024;
        e->off = qs_realloc(e->off, e->ncap * sizeof *e->off);
        e->flen = qs_realloc(e->flen, e->ncap * sizeof *e->flen);
        e->kp = qs_realloc(e->kp, e->ncap * sizeof *e->kp);
    }
    if (crypto_box_beforenm(shared, site->store_pk, qs_keypair_secret(kp)) != 0 ||
        qs_envelope_seal(e->data + e->len, &flen, e->cap - e->len, QS_ENVELOPE_TO_STORE, plain,
                         plen, qs_keypair_public(kp), shared) != 0)
        qs_fatal("bug: cannot seal a bench batch");
    sodium_memzero(shared, sizeof shared);
    e->off[e->n] = e->len;
    e->flen[e->n] = flen;
    e->kp[e->n] = kp;
    e->n++;
    e->len += flen;
}

static void
envs_free(envs_t *e)
{
    free(e->data);
    free(e->off);
    free(e->flen);
    free(e->kp);
    memset(e, 0, sizeof *e);
}

/* Ingest every envelope of e, group commits as qs-store makes them; the
 * seconds taken, or -1 when a commit failed. */
static double
ingest_all(grow_store_t *st, const envs_t *e)
{
    double t0 = bench_now_s();

    for (size_t i = 0; i < e->n; i++) {
        uint8_t rid[8];
        memcpy(rid, &i, sizeof rid);
        (void)qs_ingest_add(st->s.ingest, rid, sizeof rid, qs_keypair_public(e->kp[i]),
                            QS_KEY_BYTES, e->data + e->off[i], e->flen[i]);
        if (qs_ingest_full(st->s.ingest) && qs_ingest_commit(st->s.ingest, on_reply, st) != 0)
            return -1;
    }
    if (qs_ingest_pending(st->s.ingest) > 0 && qs_ingest_commit(st->s.ingest, on_reply, st) != 0)
        return -1;
    return bench_now_s() - t0;
}

/* Phase 2: C clients x 20 messages, chunk by chunk; every stride-th
 * client's key is kept in kept[] (n_kept). 0 or -1. */
static int
grow_fill(grow_store_t *st, bench_site_t *site, long clients, uint32_t c0, int64_t base_ms,
          qs_keypair_t **kept, size_t *n_kept, size_t stride)
{
    char prefix[32];

    for (long done = 0; done < clients; done += FILL_CHUNK) {
        size_t n = (size_t)(clients - done < FILL_CHUNK ? clients - done : FILL_CHUNK);
        qs_keypair_t **keys = NULL;
        envs_t e = { 0 };

        snprintf(prefix, sizeof prefix, "grow%ld", done / FILL_CHUNK);
        if (bench_enroll(site, prefix, n, &keys) != 0)
            return -1;
        (void)qs_ingest_tick(st->s.ingest, 1);    /* the keyset with the new clients */
        for (size_t i = 0; i < n; i++)
            env_add(&e, site, keys[i], c0 + (uint32_t)(done + (long)i), 1, QS_SIM_TOPICS, base_ms);
        if (ingest_all(st, &e) < 0)
            return -1;
        envs_free(&e);
        for (size_t i = 0; i < n; i++) {
            if ((size_t)(done + (long)i) % stride == 0 && *n_kept < KEPT_MAX) {
                kept[(*n_kept)++] = keys[i];
                keys[i] = NULL;
            }
        }
        bench_keys_free(keys, n);
    }
    return 0;
}

/* Phase 2b: copy the fill's partitions into earlier days until the history
 * holds `total` rows; *rows gets the history's rows, *fill_epoch the
 * fill's first day (the copies are before it). 0 or -1. */
static int
grow_history(qs_storedb_t *db, long total, int64_t *rows, int64_t *fill_epoch)
{
    qs_partition_t *parts = NULL;
    size_t n = 0;
    int64_t oldest, have = 0, copied;
    char err[256];
    int rc = -1;

    if (qs_storedb_partitions(db, &parts, &n) != 0 || n == 0) {
        fprintf(stderr, "qs-bench grow: cannot list the fill's partitions\n");
        goto out;
    }
    oldest = parts[0].epoch;
    *fill_epoch = oldest;
    for (size_t i = 0; i < n; i++)
        have += parts[i].rows;
    for (int64_t day = 1; have < total; day++) {
        for (size_t i = 0; i < n && have < total; i++) {
            if (qs_store_bench_copy_history(db, parts[i].epoch, parts[i].topic_type,
                                            oldest - day, total - have, &copied, err,
                                            sizeof err) != 0) {
                fprintf(stderr, "qs-bench grow: copying history: %s\n", err);
                goto out;
            }
            have += copied;
        }
        log_info("grow: %lld history rows (day -%lld copied)", (long long)have, (long long)day);
    }
    rc = 0;
out:
    *rows = have;
    free(parts);
    return rc;
}

/* Phase 2c: the set-up's own work done before the clock starts (the WAL
 * checkpointed; on PostgreSQL the copied rows vacuumed and analyzed, and
 * all but the earlier days' partitions read into the page cache), as a
 * site's store has it long before its next busy hour. 0 or -1. */
static int
grow_settle(qs_storedb_t *db, int64_t fill_epoch)
{
    char err[512];
    double t0 = bench_now_s();

    if (qs_store_bench_settle(db, fill_epoch, err, sizeof err) != 0) {
        fprintf(stderr, "qs-bench grow: settling the store before the timed phase: %s\n", err);
        return -1;
    }
    log_info("grow: store settled in %.1f s", bench_now_s() - t0);
    return 0;
}

/* The message time of envelope k of a timed phase of n: the timed phases'
 * times move on as a clock does, over GROW_SPREAD_MS after the fill's. A
 * fleet's new states are stamped when they happen, not all in the second
 * the fill was (which made each installation of phase 3 an index entry at
 * a random place among the fill's, a cost no fleet pays; docs/scale.md). */
static int64_t
phase_ms(int64_t base_ms, long k, long n)
{
    return base_ms + GROW_SPREAD_MS * (k + 1) / n;
}

/* Phase 3's envelopes: kept clients in random order, batch new serials
 * each (after the 20 of the fill, and after earlier rounds). */
static void
grow_updates(envs_t *e, const bench_site_t *site, qs_keypair_t **kept, const uint32_t *ids,
             size_t n_kept, long messages, int batch, int64_t base_ms)
{
    uint64_t *next = qs_calloc(n_kept, sizeof *next);
    long envelopes = (messages + batch - 1) / batch, k = 0;

    for (size_t i = 0; i < n_kept; i++)
        next[i] = QS_SIM_TOPICS + 1;
    for (long sent = 0; sent < messages; sent += batch, k++) {
        size_t pick = randombytes_uniform((uint32_t)n_kept);
        env_add(e, site, kept[pick], ids[pick], next[pick], (size_t)batch,
                phase_ms(base_ms, k, envelopes));
        next[pick] += (uint64_t)batch;
    }
    free(next);
}

int
bench_grow(const struct bench_opts *o)
{
    bench_site_t site;
    grow_store_t st = { 0 };
    qs_checkpointer_t *checkpointer = NULL;
    qs_keypair_t **fresh = NULL, *kept[KEPT_MAX];
    uint32_t ids[KEPT_MAX];
    envs_t e = { 0 };
    qs_clock_t clock;
    size_t n_fresh = (size_t)((o->messages + o->batch - 1) / o->batch), n_kept = 0, stride;
    double empty_s, grown_s;
    int64_t base_ms, history_rows = 0, fill_epoch = 0;
    int rc = 1;

    stride = (size_t)(o->clients / KEPT_MAX + 1);
    if (n_fresh > KEPT_MAX || bench_site_open(&site, o->home) != 0) {
        fprintf(stderr, "qs-bench grow: --messages / --batch must be at most %d\n", KEPT_MAX);
        return 2;
    }
    if (qs_clock_init(&clock) != 0 || bench_store_open(&st.s, &site, &clock, "grow") != 0)
        goto out;
    if (qs_storedb_engine(st.s.storedb) == QS_STOREDB_SQLITE) {
        char err[512];
        if ((checkpointer = qs_checkpointer_start(st.s.storedb, site.paths.store_db, err,
                                                  sizeof err)) == NULL) {
            fprintf(stderr, "qs-bench grow: %s\n", err);
            goto out;
        }
    }
    /* Times in the past, room for every serial a client will send and for
     * phase 3's hour (GROW_SPREAD_MS). */
    base_ms = qs_clock_now_ms(&clock) - 10000000;
    /* One more fresh client than timed: its envelope, untimed, warms the
     * connection, the statements and today's partition up, so that the
     * empty store's rate is not a cold start's. */
    if (bench_enroll(&site, "fresh", n_fresh + 1, &fresh) != 0)
        goto out;
    (void)qs_ingest_tick(st.s.ingest, 1);
    env_add(&e, &site, fresh[n_fresh], (uint32_t)n_fresh + 1, 1, (size_t)o->batch, base_ms);
    if (ingest_all(&st, &e) < 0)
        goto out;
    envs_free(&e);
    for (size_t i = 0; i < n_fresh; i++)
        env_add(&e, &site, fresh[i], (uint32_t)(i + 1), 1, (size_t)o->batch,
                phase_ms(base_ms, (long)i, (long)n_fresh));
    if ((empty_s = ingest_all(&st, &e)) < 0)
        goto out;
    envs_free(&e);
    if (grow_fill(&st, &site, o->clients, (uint32_t)n_fresh + 2, base_ms, kept, &n_kept,
                  stride) != 0 ||
        grow_history(st.s.storedb, o->history, &history_rows, &fill_epoch) != 0 ||
        grow_settle(st.s.storedb, fill_epoch) != 0)
        goto out;
    for (size_t i = 0; i < n_kept; i++)
        ids[i] = (uint32_t)(n_fresh + 2 + i * stride);
    grow_updates(&e, &site, kept, ids, n_kept, o->messages, o->batch, base_ms);
    if ((grown_s = ingest_all(&st, &e)) < 0 || st.refused > 0) {
        fprintf(stderr, "qs-bench grow: a commit failed or %llu batches were refused\n",
                (unsigned long long)st.refused);
        goto out;
    }
    printf("{\"name\": \"grow\", \"empty_msgs_per_s\": %.0f, \"grown_msgs_per_s\": %.0f, "
           "\"ratio\": %.3f, \"messages\": %ld, \"batch\": %d, \"fill_clients\": %ld, "
           "\"latest_rows\": %ld, \"history_rows\": %lld, \"updating_clients\": %zu, "
           "\"engine\": \"%s\"}\n",
           (double)o->messages / empty_s, (double)o->messages / grown_s, empty_s / grown_s,
           o->messages, o->batch, o->clients,
           (o->clients + (long)n_fresh + 1) * (long)QS_SIM_TOPICS, (long long)history_rows, n_kept,
           qs_storedb_engine(st.s.storedb) == QS_STOREDB_POSTGRESQL ? "postgresql" : "sqlite");
    rc = 0;
out:
    envs_free(&e);
    qs_checkpointer_destroy(&checkpointer);
    bench_store_close(&st.s);
    bench_keys_free(fresh, n_fresh + 1);
    for (size_t i = 0; i < n_kept; i++)
        qs_keypair_destroy(&kept[i]);
    bench_site_close(&site);
    return rc;
}
