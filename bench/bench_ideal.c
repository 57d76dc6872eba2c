/* bench_ideal.c - qs-bench ideal: the store's own work in one process, no sockets.
 *
 * The ceiling for durable ingest. It enrolls C bench clients in a real site
 * (made by qsctl init + policy set), generates in memory, before any timing,
 * the envelopes `qs-producer simulate --clients C --messages M --batch B`
 * would send (the same messages, qs_simgen_pack; the same Batch framing; each
 * sealed end to end with the client's precomputed key), in the order a fleet
 * delivers them (round robin over clients). Then it times exactly what
 * qs-store does with them: qs_ingest_add (parse, sender check, keyset,
 * decrypt with the per-sender key cache, decode, validate) until the group
 * is full (group_commit_max_messages from the site's config), then
 * qs_ingest_commit (dedup, latest upsert, history insert, details sealed at
 * rest, counters, one transaction, synchronous=FULL, WAL) and the sealed acks.
 * Only the socket work (and the broker) is missing. --details-every N adds an
 * error text to every Nth message (the simulator sends none), to show the cost
 * of the at-rest encryption of details; --steady makes every (client, topic)
 * re-report one state (a fleet re-sending unchanged state), where the
 * simulator's states change at random.
 *
 * Prints {"name": "ideal_store", "msgs_per_s": ..., "commits": ..., ...}.
 */
#include "bench.h"

#include "ingest.h"
#include "qs_clock.h"
#include "qs_envelope.h"
#include "qs_epochkeys.h"
#include "qs_log.h"
#include "qs_sitedb.h"
#include "qs_storedb.h"
#include "simgen.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct frame {
    size_t off, len;
    uint32_t client;         /* 0-based */
};

struct ack_count {
    uint64_t ok, not_ok, rejected_msgs;
};

static void
on_reply(void *ctx, const uint8_t *rid, size_t rid_len, const uint8_t *reply, size_t reply_len,
         const Quietstate__Ack *ack)
{
    struct ack_count *a = ctx;

    (void)rid;
    (void)rid_len;
    (void)reply;
    (void)reply_len;
    if (ack->status == QUIETSTATE__STATUS__OK)
        a->ok++;
    else
        a->not_ok++;
    a->rejected_msgs += ack->n_rejected;
}

/* The envelopes of the whole run, in delivery order, in one buffer. */
struct ideal_frames {
    struct frame *f;
    size_t n, cap;
    uint8_t *data;
    size_t len, data_cap;
};

/* Scratch for packing one batch. */
struct ideal_scratch {
    uint8_t *msgbuf, *plain;
    size_t *lens;
};

/* Pack client c's serials first..last (gen: messages generated before
 * them), seal them for the store and append the envelope. */
static void
ideal_add_batch(struct ideal_frames *fr, struct ideal_scratch *sc, const struct bench_opts *o,
                const bench_site_t *site, const qs_keypair_t *kp, size_t c, uint64_t first,
                uint64_t last, uint64_t gen, int64_t base_ms)
{
    uint8_t shared[QS_KEY_BYTES];
    size_t used = 0, n = 0, plen, need, flen = 0;

    for (uint64_t s = first; s <= last; s++, n++) {
        int details = o->details_every > 0 && (gen + n) % (uint64_t)o->details_every == 0;
        sc->lens[n] = bench_pack_message(sc->msgbuf + used, QS_MAX_BATCH_BYTES - used,
                                         (uint32_t)(c + 1), s, base_ms, details, o->steady);
        if (sc->lens[n] == 0)
            qs_fatal("bug: a simulated message does not fit a batch");
        used += sc->lens[n];
    }
    plen = bench_frame_batch(sc->plain, sc->msgbuf, sc->lens, n);
    need = qs_envelope_sealed_size(plen);
    if (fr->len + need > fr->data_cap) {
        fr->data_cap = fr->data_cap ? fr->data_cap * 2 : 64u * 1024u * 1024u;
        while (fr->len + need > fr->data_cap)
            fr->data_cap *= 2;
        fr->data = qs_realloc(fr->data, fr->data_cap);
    }
    if (crypto_box_beforenm(shared, site->store_pk, qs_keypair_secret(kp)) != 0 ||
        qs_envelope_seal(fr->data + fr->len, &flen, fr->data_cap - fr->len, QS_ENVELOPE_TO_STORE,
                         sc->plain, plen,
                         qs_keypair_public(kp), shared) != 0)
        qs_fatal("bug: cannot seal a bench batch");
    sodium_memzero(shared, sizeof shared);
    if (fr->n == fr->cap) {
        fr->cap = fr->cap ? fr->cap * 2 : 4096;
        fr->f = qs_realloc(fr->f, fr->cap * sizeof *fr->f);
    }
    fr->f[fr->n].off = fr->len;
    fr->f[fr->n].len = flen;
    fr->f[fr->n].client = (uint32_t)c;
    fr->n++;
    fr->len += flen;
}

/* 1. The envelopes the simulator would send, round robin over the
 * clients, in memory, untimed. */
static void
ideal_generate(struct ideal_frames *fr, const struct bench_opts *o, const bench_site_t *site,
               qs_keypair_t **keys, int64_t base_ms)
{
    size_t clients = (size_t)o->clients, batch = (size_t)o->batch;
    uint64_t messages = (uint64_t)o->messages, gen = 0;
    struct ideal_scratch sc;

    sc.msgbuf = qs_malloc(QS_MAX_BATCH_BYTES);
    sc.plain = qs_malloc(QS_MAX_BATCH_BYTES);
    sc.lens = qs_calloc(batch, sizeof *sc.lens);
    for (uint64_t round = 0; gen < messages; round++) {
        for (size_t c = 0; c < clients; c++) {
            uint64_t count = qs_simgen_count(messages, (uint32_t)clients, (uint32_t)(c + 1));
            uint64_t first = round * batch + 1, last = first + batch - 1;

            if (first > count)
                continue;
            if (last > count)
                last = count;
            ideal_add_batch(fr, &sc, o, site, keys[c], c, first, last, gen, base_ms);
            gen += last - first + 1;
        }
    }
    free(sc.msgbuf);
    free(sc.plain);
    free(sc.lens);
}

/* What the store opens. */
/* 2. The store, as qs-store opens it. 0, or -1 with a message. */
int
bench_store_open(bench_store_t *st, const bench_site_t *site, const qs_clock_t *clock,
                 const char *who)
{
    const char *where = qs_storedb_location(site->cfg.store_database, site->paths.store_db);
    qs_ingest_config_t icfg;
    char err[1024];

    if ((st->sitedb = qs_sitedb_open(site->paths.site_db, 0, err, sizeof err)) == NULL ||
        (st->storedb = qs_storedb_open(where, 1, err, sizeof err)) == NULL ||
        (st->epochkeys = qs_epochkeys_open(site->paths.epochs_dir, 1, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench %s: %s\n", who, err);
        return -1;
    }
    memset(&icfg, 0, sizeof icfg);
    icfg.store_kp = site->store_kp;
    icfg.site_key = site->site_key;
    icfg.sitedb = st->sitedb;
    icfg.storedb = st->storedb;
    icfg.epochkeys = st->epochkeys;
    icfg.clock = clock;
    icfg.skew_ms = (int64_t)site->cfg.skew_limit_s * 1000;
    icfg.group_max_messages = (size_t)site->cfg.group_commit_max_messages;
    if ((st->ingest = qs_ingest_new(&icfg, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench %s: %s\n", who, err);
        return -1;
    }
    return 0;
}

void
bench_store_close(bench_store_t *st)
{
    qs_ingest_destroy(&st->ingest);
    qs_epochkeys_destroy(&st->epochkeys);
    qs_storedb_destroy(&st->storedb);
    qs_sitedb_destroy(&st->sitedb);
}

/* 3. Timed: add until the group is full, commit, acks. Returns the
 * seconds taken, or -1 when a commit failed. */
static double
ideal_run(qs_ingest_t *ingest, const struct ideal_frames *fr, qs_keypair_t **keys,
          struct ack_count *acks)
{
    double t0 = bench_now_s();

    for (size_t i = 0; i < fr->n; i++) {
        uint8_t rid[5] = { 0 };
        const uint8_t *pk = qs_keypair_public(keys[fr->f[i].client]);
        memcpy(rid + 1, &fr->f[i].client, 4);
        (void)qs_ingest_add(ingest, rid, sizeof rid, pk, QS_KEY_BYTES, fr->data + fr->f[i].off,
                            fr->f[i].len);
        if (qs_ingest_full(ingest) && qs_ingest_commit(ingest, on_reply, acks) != 0)
            return -1;
    }
    if (qs_ingest_pending(ingest) > 0 && qs_ingest_commit(ingest, on_reply, acks) != 0)
        return -1;
    return bench_now_s() - t0;
}

int
bench_ideal(const struct bench_opts *o)
{
    bench_site_t site;
    qs_keypair_t **keys = NULL;
    bench_store_t st = { 0 };
    struct ideal_frames fr = { 0 };
    struct ack_count acks = { 0 };
    qs_ingest_stats_t stats;
    qs_clock_t clock;
    size_t clients = (size_t)o->clients;
    uint64_t messages = (uint64_t)o->messages;
    int64_t base_ms;
    double el;
    int rc = 1;

    if (clients == 0 || clients > QS_SIM_MAX_CLIENTS) {
        fprintf(stderr, "qs-bench ideal: --clients must be 1..%u\n", QS_SIM_MAX_CLIENTS);
        return 2;
    }
    if (bench_site_open(&site, o->home) != 0)
        return 1;
    if (qs_clock_init(&clock) != 0 || bench_enroll(&site, "ideal", clients, &keys) != 0)
        goto out;
    /* Every message time in the past, the oldest max_count ms ago. */
    base_ms = qs_clock_now_ms(&clock) - (int64_t)qs_simgen_count(messages, (uint32_t)clients, 1) -
              1000;
    ideal_generate(&fr, o, &site, keys, base_ms);
    if (bench_store_open(&st, &site, &clock, "ideal") != 0)
        goto out;
    if ((el = ideal_run(st.ingest, &fr, keys, &acks)) < 0) {
        fprintf(stderr, "qs-bench ideal: a commit failed\n");
        goto out;
    }
    qs_ingest_stats(st.ingest, &stats);
    if (acks.not_ok > 0 || acks.rejected_msgs > 0 || stats.stored != messages) {
        fprintf(stderr, "qs-bench ideal: %llu of %llu stored, %llu batches refused, "
                "%llu messages rejected\n", (unsigned long long)stats.stored,
                (unsigned long long)messages, (unsigned long long)acks.not_ok,
                (unsigned long long)acks.rejected_msgs);
        goto out;
    }
    printf("{\"name\": \"ideal_store\", \"msgs_per_s\": %.0f, \"messages\": %llu, "
           "\"clients\": %zu, \"batch\": %d, \"envelopes\": %zu, \"commits\": %llu, "
           "\"group_max_messages\": %d, \"details_every\": %ld, \"steady\": %s, "
           "\"seconds\": %.3f}\n",
           (double)messages / el, (unsigned long long)messages, clients, o->batch, fr.n,
           (unsigned long long)stats.commits, site.cfg.group_commit_max_messages,
           o->details_every, o->steady ? "true" : "false", el);
    rc = 0;
out:
    bench_store_close(&st);
    bench_keys_free(keys, clients);
    bench_site_close(&site);
    free(fr.f);
    free(fr.data);
    return rc;
}
