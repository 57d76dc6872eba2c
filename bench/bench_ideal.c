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

int
bench_ideal(const struct bench_opts *o)
{
    bench_site_t site;
    qs_keypair_t **keys = NULL;
    qs_sitedb_t *sitedb = NULL;
    qs_storedb_t *storedb = NULL;
    qs_epochkeys_t *epochkeys = NULL;
    qs_ingest_t *ingest = NULL;
    qs_ingest_config_t icfg;
    qs_ingest_stats_t st;
    qs_clock_t clock;
    struct ack_count acks = { 0 };
    struct frame *frames = NULL;
    uint8_t *data = NULL, *msgbuf = NULL, *plain = NULL;
    size_t *lens = NULL, n_frames = 0, cap_frames = 0, data_len = 0, data_cap = 0;
    size_t clients = (size_t)o->clients, batch = (size_t)o->batch;
    uint64_t messages = (uint64_t)o->messages, max_count, gen = 0;
    int64_t base_ms;
    double t0, el;
    char err[1024];
    int rc = 1;

    if (clients == 0 || clients > QS_SIM_MAX_CLIENTS) {
        fprintf(stderr, "qs-bench ideal: --clients must be 1..%u\n", QS_SIM_MAX_CLIENTS);
        return 2;
    }
    if (bench_site_open(&site, o->home) != 0)
        return 1;
    if (qs_clock_init(&clock) != 0)
        goto out;
    if (bench_enroll(&site, "ideal", clients, &keys) != 0)
        goto out;

    /* 1. The envelopes, in memory, untimed. */
    max_count = qs_simgen_count(messages, (uint32_t)clients, 1);
    base_ms = qs_clock_now_ms(&clock) - (int64_t)max_count - 1000;
    msgbuf = qs_malloc(QS_MAX_BATCH_BYTES);
    plain = qs_malloc(QS_MAX_BATCH_BYTES);
    lens = qs_calloc(batch, sizeof *lens);
    for (uint64_t round = 0; gen < messages; round++) {
        for (size_t c = 0; c < clients; c++) {
            uint64_t count = qs_simgen_count(messages, (uint32_t)clients, (uint32_t)(c + 1));
            uint64_t first = round * batch + 1, last = first + batch - 1;
            uint8_t shared[QS_KEY_BYTES];
            size_t used = 0, n = 0, plen, need, flen = 0;

            if (first > count)
                continue;
            if (last > count)
                last = count;
            for (uint64_t s = first; s <= last; s++, n++) {
                int details = o->details_every > 0 && (gen + n) % (uint64_t)o->details_every == 0;
                lens[n] = bench_pack_message(msgbuf + used, QS_MAX_BATCH_BYTES - used,
                                             (uint32_t)(c + 1), s, base_ms, details, o->steady);
                if (lens[n] == 0)
                    qs_fatal("bug: a simulated message does not fit a batch");
                used += lens[n];
            }
            plen = bench_frame_batch(plain, msgbuf, lens, n);
            need = qs_envelope_sealed_size(plen);
            if (data_len + need > data_cap) {
                data_cap = data_cap ? data_cap * 2 : 64u * 1024u * 1024u;
                while (data_len + need > data_cap)
                    data_cap *= 2;
                data = qs_realloc(data, data_cap);
            }
            if (crypto_box_beforenm(shared, site.store_pk, qs_keypair_secret(keys[c])) != 0 ||
                qs_envelope_seal(data + data_len, &flen, data_cap - data_len, plain, plen,
                                 qs_keypair_public(keys[c]), shared) != 0)
                qs_fatal("bug: cannot seal a bench batch");
            sodium_memzero(shared, sizeof shared);
            if (n_frames == cap_frames) {
                cap_frames = cap_frames ? cap_frames * 2 : 4096;
                frames = qs_realloc(frames, cap_frames * sizeof *frames);
            }
            frames[n_frames].off = data_len;
            frames[n_frames].len = flen;
            frames[n_frames].client = (uint32_t)c;
            n_frames++;
            data_len += flen;
            gen += n;
        }
    }

    /* 2. The store, as qs-store opens it. */
    if ((sitedb = qs_sitedb_open(site.paths.site_db, 0, err, sizeof err)) == NULL ||
        (storedb = qs_storedb_open(site.paths.store_db, 1, err, sizeof err)) == NULL ||
        (epochkeys = qs_epochkeys_open(site.paths.epochs_dir, 1, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench ideal: %s\n", err);
        goto out;
    }
    memset(&icfg, 0, sizeof icfg);
    icfg.store_kp = site.store_kp;
    icfg.site_key = site.site_key;
    icfg.sitedb = sitedb;
    icfg.storedb = storedb;
    icfg.epochkeys = epochkeys;
    icfg.clock = &clock;
    icfg.skew_ms = (int64_t)site.cfg.skew_limit_s * 1000;
    icfg.group_max_messages = (size_t)site.cfg.group_commit_max_messages;
    if ((ingest = qs_ingest_new(&icfg, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs-bench ideal: %s\n", err);
        goto out;
    }

    /* 3. Timed: add until the group is full, commit, acks. */
    t0 = bench_now_s();
    for (size_t i = 0; i < n_frames; i++) {
        uint8_t rid[5] = { 0 };
        const uint8_t *pk = qs_keypair_public(keys[frames[i].client]);
        memcpy(rid + 1, &frames[i].client, 4);
        (void)qs_ingest_add(ingest, rid, sizeof rid, pk, QS_KEY_BYTES, data + frames[i].off,
                            frames[i].len);
        if (qs_ingest_full(ingest) && qs_ingest_commit(ingest, on_reply, &acks) != 0) {
            fprintf(stderr, "qs-bench ideal: a commit failed\n");
            goto out;
        }
    }
    if (qs_ingest_pending(ingest) > 0 && qs_ingest_commit(ingest, on_reply, &acks) != 0) {
        fprintf(stderr, "qs-bench ideal: a commit failed\n");
        goto out;
    }
    el = bench_now_s() - t0;
    qs_ingest_stats(ingest, &st);
    if (acks.not_ok > 0 || acks.rejected_msgs > 0 || st.stored != messages) {
        fprintf(stderr, "qs-bench ideal: %llu of %llu stored, %llu batches refused, "
                "%llu messages rejected\n", (unsigned long long)st.stored,
                (unsigned long long)messages, (unsigned long long)acks.not_ok,
                (unsigned long long)acks.rejected_msgs);
        goto out;
    }
    printf("{\"name\": \"ideal_store\", \"msgs_per_s\": %.0f, \"messages\": %llu, "
           "\"clients\": %zu, \"batch\": %zu, \"envelopes\": %zu, \"commits\": %llu, "
           "\"group_max_messages\": %d, \"details_every\": %ld, \"steady\": %s, "
           "\"seconds\": %.3f}\n",
           (double)messages / el, (unsigned long long)messages, clients, batch, n_frames,
           (unsigned long long)st.commits, site.cfg.group_commit_max_messages,
           o->details_every, o->steady ? "true" : "false", el);
    rc = 0;
out:
    qs_ingest_destroy(&ingest);
    qs_epochkeys_destroy(&epochkeys);
    qs_storedb_destroy(&storedb);
    qs_sitedb_destroy(&sitedb);
    bench_keys_free(keys, clients);
    bench_site_close(&site);
    free(frames);
    free(data);
    free(msgbuf);
    free(plain);
    free(lens);
    return rc;
}
