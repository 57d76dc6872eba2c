/* bench_latency.c - qs-bench latency: send -> sealed-ack time at a fixed message rate.
 *
 * Drives C bench clients (enrolled straight into site.db, one DEALER socket
 * each, CurveZMQ pinned to the broker key, exactly like a producer) through
 * the real qs-broker and qs-store of the site. Every client first sends one
 * one-message batch and waits for its ack (handshakes, client rows, key
 * caches: not timed). Then batches of B messages leave on a fixed schedule,
 * one every B / RATE seconds, round robin over the clients, for S seconds;
 * each batch's time from just before zmq_send to the moment its sealed Ack
 * (opened with the client's shared key, first/last serial matched) is read
 * is one sample. The schedule is open loop: a slow ack never delays the next
 * send, so queueing in broker and store shows up in the samples.
 *
 * A batch not acked OK within 10 s after the last send counts as lost and is
 * ranked as infinitely slow in the percentiles (so loss can only make p99
 * worse, never better). Prints {"name": "ack_latency", "p50_ms": ...,
 * "p99_ms": ..., "lost": ..., "rate_achieved": ...}.
 */
#include "bench.h"

#include "qs_envelope.h"
#include "qs_log.h"
#include "qs_zmqutil.h"
#include "quietstate.pb-c.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define LAT_WINDOW 16            /* batches in flight per client */
#define LAT_DRAIN_S 10.0
#define LAT_WARMUP_S 60.0

struct lat_inflight {
    uint64_t first, last;
    double sent;
};

struct lat_client {
    void *sock;
    uint8_t shared[QS_KEY_BYTES];
    uint64_t next_serial;
    struct lat_inflight fl[LAT_WINDOW];
    size_t n_fl;
};

struct lat_run {
    struct lat_client *cl;
    size_t n;
    uint8_t store_pk[QS_KEY_BYTES];
    double *samples;
    size_t n_samples, cap_samples;
    uint64_t acked, not_ok, bad, overflow;
    int recording;
    uint8_t *ackbuf;
    /* sockets and send buffers */
    void *zctx;
    zmq_pollitem_t *items;
    qs_keypair_t **keys;
    uint8_t *msgbuf, *plain, *frame;
    size_t frame_cap;
    size_t *lens;
    int64_t base_ms;
};

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Read every reply waiting on client i; match sealed acks to batches. */
static void
lat_drain_client(struct lat_run *r, size_t i, double now)
{
    struct lat_client *c = &r->cl[i];

    for (;;) {
        zmq_msg_t msg;
        Quietstate__Reply *rep;
        Quietstate__Ack *ack = NULL;
        Quietstate__Code code;
        size_t len = 0;

        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        rep = quietstate__reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
        if (rep == NULL) {
            r->bad++;
            continue;
        }
        if (rep->sealed_ack == NULL) {
            r->not_ok++;             /* a broker notice (RETRY_LATER...) */
        } else if (qs_envelope_check(rep->sealed_ack, r->store_pk, &code) != 0 ||
                   qs_envelope_open(r->ackbuf, &len, QS_MAX_FRAME_BYTES, QS_ENVELOPE_TO_CLIENT,
                                    rep->sealed_ack,
                                    c->shared) != 0 ||
                   (ack = quietstate__ack__unpack(NULL, len, r->ackbuf)) == NULL) {
            r->bad++;
        } else if (ack->status != QUIETSTATE__STATUS__OK || ack->n_rejected > 0) {
            r->not_ok++;
        } else {
            for (size_t k = 0; k < c->n_fl; k++) {
                if (c->fl[k].first != ack->first_serial || c->fl[k].last != ack->last_serial)
                    continue;
                if (r->recording) {
                    if (r->n_samples == r->cap_samples) {
                        r->cap_samples = r->cap_samples ? r->cap_samples * 2 : 4096;
                        r->samples = qs_realloc(r->samples,
                                                r->cap_samples * sizeof *r->samples);
                    }
                    r->samples[r->n_samples++] = (now - c->fl[k].sent) * 1000.0;
                }
                r->acked++;
                c->fl[k] = c->fl[--c->n_fl];
                break;
            }
        }
        if (ack != NULL)
            quietstate__ack__free_unpacked(ack, NULL);
        quietstate__reply__free_unpacked(rep, NULL);
    }
}

/* Pack, seal and send one batch of n messages for client i. 0 or -1. */
static int
lat_send(struct lat_run *r, size_t i, size_t n)
{
    struct lat_client *c = &r->cl[i];
    size_t used = 0, plen, flen = 0;
    uint64_t first = c->next_serial;

    if (c->n_fl == LAT_WINDOW) {
        r->overflow++;               /* this client's acks are far behind */
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        r->lens[k] = bench_pack_message(r->msgbuf + used, QS_MAX_BATCH_BYTES - used,
                                        (uint32_t)(i + 1), first + k, r->base_ms, 0, 0);
        used += r->lens[k];
    }
    plen = bench_frame_batch(r->plain, r->msgbuf, r->lens, n);
    if (qs_envelope_seal(r->frame, &flen, r->frame_cap, QS_ENVELOPE_TO_STORE, r->plain, plen,
                         qs_keypair_public(r->keys[i]), c->shared) != 0)
        return -1;
    c->fl[c->n_fl].first = first;
    c->fl[c->n_fl].last = first + n - 1;
    c->fl[c->n_fl].sent = bench_now_s();
    if (zmq_send(c->sock, r->frame, flen, ZMQ_DONTWAIT) < 0) {
        r->overflow++;
        return 0;
    }
    c->n_fl++;
    c->next_serial = first + n;
    return 0;
}

static int
lat_poll(struct lat_run *r, double timeout_s)
{
    zmq_pollitem_t *items = r->items;
    long ms = (long)(timeout_s * 1000.0);
    int rc;

    for (size_t i = 0; i < r->n; i++) {
        items[i].socket = r->cl[i].sock;
        items[i].events = ZMQ_POLLIN;
        items[i].revents = 0;
    }
    rc = zmq_poll(items, (int)r->n, ms < 0 ? 0 : ms);
    if (rc < 0 && zmq_errno() != EINTR)
        return -1;
    if (rc > 0) {
        double now = bench_now_s();
        for (size_t i = 0; i < r->n; i++)
            if (items[i].revents & ZMQ_POLLIN)
                lat_drain_client(r, i, now);
    }
    return 0;
}

static size_t
lat_inflight(const struct lat_run *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->cl[i].n_fl;
    return n;
}

/* The clients' sockets (CurveZMQ pinned to the broker key) and buffers. */
static int
lat_open(struct lat_run *r, const bench_site_t *site)
{
    r->cl = qs_calloc(r->n, sizeof *r->cl);
    r->items = qs_calloc(r->n, sizeof *r->items);
    r->ackbuf = qs_malloc(QS_MAX_FRAME_BYTES);
    r->msgbuf = qs_malloc(QS_MAX_BATCH_BYTES);
    r->plain = qs_malloc(QS_MAX_BATCH_BYTES);
    r->frame_cap = qs_envelope_sealed_size(QS_MAX_BATCH_BYTES);
    r->frame = qs_malloc(r->frame_cap);
    r->lens = qs_calloc(QS_MAX_BATCH_MESSAGES, sizeof *r->lens);
    qs_raise_fd_limit();
    r->zctx = qs_zmq_ctx_new((int)r->n + 64);
    for (size_t i = 0; i < r->n; i++) {
        struct lat_client *c = &r->cl[i];
        c->next_serial = 1;
        if (crypto_box_beforenm(c->shared, site->store_pk, qs_keypair_secret(r->keys[i])) != 0 ||
            (c->sock = zmq_socket(r->zctx, ZMQ_DEALER)) == NULL ||
            qs_zmq_socket_limits(c->sock, 64, 0) != 0 ||
            qs_zmq_curve_client(c->sock, r->keys[i], site->broker_pk) != 0 ||
            zmq_connect(c->sock, site->cfg.frontend) != 0) {
            fprintf(stderr, "qs-bench latency: cannot set up client %zu: %s\n", i + 1,
                    zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
}

static void
lat_close(struct lat_run *r)
{
    if (r->cl != NULL)
        for (size_t i = 0; i < r->n; i++) {
            if (r->cl[i].sock != NULL)
                zmq_close(r->cl[i].sock);
            sodium_memzero(r->cl[i].shared, sizeof r->cl[i].shared);
        }
    if (r->zctx != NULL)
        zmq_ctx_term(r->zctx);
    free(r->cl);
    free(r->samples);
    free(r->ackbuf);
    free(r->items);
    free(r->msgbuf);
    free(r->plain);
    free(r->frame);
    free(r->lens);
}

/* Untimed: one single-message batch per client, all acked. 0 or -1. */
static int
lat_warmup(struct lat_run *r)
{
    double deadline = bench_now_s() + LAT_WARMUP_S, retry;

    for (size_t i = 0; i < r->n; i++)
        if (lat_send(r, i, 1) != 0)
            return -1;
    retry = bench_now_s() + 2.0;
    while (r->acked < r->n && bench_now_s() < deadline) {
        if (lat_poll(r, 0.05) != 0)
            return -1;
        if (bench_now_s() < retry)
            continue;
        /* Not sent yet (no connection), or no ack in 2 s: send serial 1 again
         * (the store answers a resend as a duplicate, with the same serials). */
        for (size_t i = 0; i < r->n; i++)
            if (r->cl[i].next_serial == 1 || r->cl[i].n_fl > 0) {
                r->cl[i].n_fl = 0;
                r->cl[i].next_serial = 1;
                if (lat_send(r, i, 1) != 0)
                    return -1;
            }
        retry = bench_now_s() + 2.0;
    }
    if (r->acked < r->n) {
        fprintf(stderr, "qs-bench latency: only %llu of %zu clients got their warm-up ack "
                "(are qs-broker and qs-store running for this site?)\n",
                (unsigned long long)r->acked, r->n);
        return -1;
    }
    r->acked = r->not_ok = r->bad = r->overflow = 0;
    /* bench/run starts a load beside this one when the timed part begins. */
    fprintf(stderr, "qs-bench latency: warm-up done; schedule starts\n");
    return 0;
}

/* Timed: an open-loop schedule of batches for o->seconds, then up to
 * LAT_DRAIN_S for the last acks. *sent gets the batches sent, *el the
 * seconds the schedule took. 0 or -1. */
static int
lat_timed(struct lat_run *r, const struct bench_opts *o, size_t *sent, double *el)
{
    size_t batch = (size_t)o->batch, k = 0;
    double interval = (double)batch / o->rate, t0, t_end, deadline;

    r->recording = 1;
    t0 = bench_now_s();
    t_end = t0 + o->seconds;
    for (;;) {
        double now = bench_now_s(), next = t0 + (double)k * interval;
        if (next >= t_end)
            break;
        if (now >= next) {
            if (lat_send(r, k % r->n, batch) != 0)
                return -1;
            k++;
            continue;
        }
        if (lat_poll(r, next - now) != 0)
            return -1;
    }
    *sent = k;
    *el = bench_now_s() - t0;
    deadline = bench_now_s() + LAT_DRAIN_S;
    while (lat_inflight(r) > 0 && bench_now_s() < deadline)
        if (lat_poll(r, 0.05) != 0)
            return -1;
    return 0;
}

/* Percentiles over every batch sent, lost ones ranked infinitely slow. */
static int
lat_report(struct lat_run *r, const struct bench_opts *o, size_t sent_batches, double el)
{
    uint64_t total = (uint64_t)sent_batches;
    double p50, p90, p99, pmax;

    while (r->n_samples < total) {
        if (r->n_samples == r->cap_samples) {
            r->cap_samples = r->cap_samples ? r->cap_samples * 2 : 4096;
            r->samples = qs_realloc(r->samples, r->cap_samples * sizeof *r->samples);
        }
        r->samples[r->n_samples++] = INFINITY;
    }
    if (total == 0) {
        fprintf(stderr, "qs-bench latency: no batch was sent\n");
        return -1;
    }
    qsort(r->samples, r->n_samples, sizeof *r->samples, cmp_double);
    p50 = r->samples[(size_t)(0.50 * (double)(r->n_samples - 1))];
    p90 = r->samples[(size_t)(0.90 * (double)(r->n_samples - 1))];
    p99 = r->samples[(size_t)(0.99 * (double)(r->n_samples - 1))];
    pmax = r->samples[r->n_samples - 1];
    printf("{\"name\": \"ack_latency\", \"clients\": %zu, \"batch\": %d, \"rate_target\": %.0f, "
           "\"rate_achieved\": %.0f, \"batches\": %zu, \"acked\": %llu, \"lost\": %llu, "
           "\"not_ok\": %llu, \"bad\": %llu, \"window_full\": %llu, "
           "\"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}\n",
           r->n, o->batch, o->rate, (double)r->acked * (double)o->batch / el, sent_batches,
           (unsigned long long)r->acked, (unsigned long long)(total - r->acked),
           (unsigned long long)r->not_ok, (unsigned long long)r->bad,
           (unsigned long long)r->overflow, isinf(p50) ? -1.0 : p50, isinf(p90) ? -1.0 : p90,
           isinf(p99) ? -1.0 : p99, isinf(pmax) ? -1.0 : pmax);
    return 0;
}

int
bench_latency(const struct bench_opts *o)
{
    bench_site_t site;
    struct lat_run r;
    size_t sent_batches = 0;
    double el = 0;
    int rc = 1;

    memset(&r, 0, sizeof r);
    if (o->rate <= 0) {
        fprintf(stderr, "qs-bench latency: --rate MSGS_PER_S is required\n");
        return 2;
    }
    if (bench_site_open(&site, o->home) != 0)
        return 1;
    memcpy(r.store_pk, site.store_pk, QS_KEY_BYTES);
    r.n = (size_t)o->clients;
    r.base_ms = (int64_t)time(NULL) * 1000 - 10000000;   /* well in the past */
    if (bench_enroll(&site, "latency", r.n, &r.keys) == 0 && lat_open(&r, &site) == 0 &&
        lat_warmup(&r) == 0 && lat_timed(&r, o, &sent_batches, &el) == 0 &&
        lat_report(&r, o, sent_batches, el) == 0)
        rc = 0;
    lat_close(&r);
    bench_keys_free(r.keys, r.n);
    bench_site_close(&site);
    return rc;
}
