/* qs_flood.c - a hostile CurveZMQ client for the broker's flood tests (tests/fault/broker_flood.sh).
 *
 * Three attacks, each bounded in time and volume, loopback only:
 *
 *   qs_flood multipart --profile P [--mb N] [--seconds S] [--rate-mb R]
 *       With the profile's key, sends N frames of 1 MiB with ZMQ_SNDMORE (at
 *       most R MiB/s) and then an empty last frame: libzmq only writes a
 *       message out once it is complete, so this is how a libzmq client
 *       makes the broker receive frames it must hold until the last one (a
 *       raw ZMTP client could stop before it; the broker cannot tell the
 *       difference while the frames arrive). A socket monitor watches the
 *       connection for S more seconds: when the broker drops it, it stops.
 *       Prints "sent_mb=X disconnected=0|1 disconnect_ms=T disconnect_at=W"
 *       (T since the flood began, W the wall clock in ms). --first-ok sends
 *       one complete 1-byte message first (so the broker learns the
 *       connection's key); --pause-ms waits that long before flooding (a
 *       disconnect meanwhile ends it: "sent_mb=0 disconnected=1").
 *   qs_flood complete --profile P [--count N] [--size B]
 *       Sends N single-frame messages of B bytes of junk (the broker forwards
 *       them without decoding; the store refuses them), as fast as the socket
 *       takes them, and prints "sent=N".
 *   qs_flood handshakes --profile P [--seconds S] [--parallel K]
 *       Opens K connections at a time to the profile's broker, each with a
 *       fresh random key (never enrolled), waits until its handshake fails
 *       and opens the next. Prints "handshakes=N".
 *
 * Frames are zero-copy from one static buffer, so the client's own memory
 * stays small whatever it queues. Exit 0 when the attack ran, 2 on usage,
 * 4 on set-up errors.
 */
#include "qs_keys.h"
#include "qs_profile.h"
#include "qs_zmqutil.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define FRAME_BYTES (1024 * 1024)
#define MAX_PARALLEL 256

static uint8_t frame[FRAME_BYTES];

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A DEALER CURVE client of the profile's broker (kp NULL: the profile's key),
 * monitored at mon_ep for events. */
static void *
client(void *ctx, const qs_profile_t *p, const qs_keypair_t *kp, const char *mon_ep,
       int events, void **mon)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, hwm = 0;

    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (qs_zmq_curve_client(s, kp ? kp : qs_profile_keypair(p), qs_profile_broker_pk(p)) != 0 ||
        zmq_socket_monitor(s, mon_ep, events) != 0) {
        fprintf(stderr, "qs_flood: cannot set up a socket: %s\n", zmq_strerror(zmq_errno()));
        exit(4);
    }
    *mon = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(*mon, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(*mon, mon_ep);
    if (zmq_connect(s, qs_profile_endpoint(p)) != 0) {
        fprintf(stderr, "qs_flood: cannot connect: %s\n", zmq_strerror(zmq_errno()));
        exit(4);
    }
    return s;
}

/* The next monitor event (0 if none within wait_ms). */
static int
next_event(void *mon, int wait_ms)
{
    zmq_pollitem_t it = { mon, 0, ZMQ_POLLIN, 0 };
    uint8_t buf[64];
    uint16_t ev;
    int n;

    if (zmq_poll(&it, 1, wait_ms) <= 0)
        return 0;
    n = zmq_recv(mon, buf, sizeof buf, 0);
    if (n < 2)
        return 0;
    memcpy(&ev, buf, 2);
    while (1) {
        int more = 0;
        size_t len = sizeof more;
        zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &len);
        if (!more)
            break;
        zmq_recv(mon, buf, sizeof buf, 0);
    }
    return ev;
}

static long long
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
wait_handshake(void *mon, int wait_ms)
{
    long long end = now_ms() + wait_ms;
    while (now_ms() < end) {
        int ev = next_event(mon, 50);
        if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            return 0;
    }
    return -1;
}

static int
run_multipart(void *ctx, const qs_profile_t *p, long mb, long seconds, long rate_mb,
              int first_ok, long pause_ms)
{
    void *mon, *s = client(ctx, p, NULL, "inproc://flood-mon", ZMQ_EVENT_ALL, &mon);
    long long start, end;
    long sent = 0;
    int disconnected = 0;
    long long disc_ms = -1;

    if (wait_handshake(mon, 5000) != 0) {
        fprintf(stderr, "qs_flood: no handshake with the broker\n");
        return 4;
    }
    if (first_ok)
        zmq_send(s, "x", 1, 0);
    for (long long until = now_ms() + pause_ms; now_ms() < until;) {
        if (next_event(mon, 20) == ZMQ_EVENT_DISCONNECTED) {
            printf("sent_mb=0 disconnected=1 disconnect_ms=0 disconnect_at=%lld\n", wall_ms());
            zmq_socket_monitor(s, NULL, 0);
            zmq_close(mon);
            zmq_close(s);
            return 0;
        }
    }
    start = now_ms();
    end = start + seconds * 1000;
    while (now_ms() < end && sent < mb && !disconnected) {
        zmq_msg_t m;
        int ev;
        /* Pace: no more than rate_mb MiB in each second so far. */
        while (sent >= (now_ms() - start + 1) * rate_mb / 1000 && now_ms() < end) {
            if ((ev = next_event(mon, 5)) == ZMQ_EVENT_DISCONNECTED) {
                disconnected = 1;
                break;
            }
        }
        if (disconnected || now_ms() >= end)
            break;
        zmq_msg_init_data(&m, frame, sizeof frame, NULL, NULL);
        if (zmq_msg_send(&m, s, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        sent++;
        if ((ev = next_event(mon, 0)) == ZMQ_EVENT_DISCONNECTED)
            disconnected = 1;
    }
    /* libzmq hands a message to its I/O thread only once the last frame is
     * queued: end it, so the broker receives the frames one by one and holds
     * them all, as it would a message that never ends, until the last. */
    if (!disconnected)
        zmq_send(s, "", 0, ZMQ_DONTWAIT);
    end = now_ms() + seconds * 1000;
    while (!disconnected && now_ms() < end)
        if (next_event(mon, 50) == ZMQ_EVENT_DISCONNECTED)
            disconnected = 1;
    if (disconnected)
        disc_ms = now_ms() - start;
    printf("sent_mb=%ld disconnected=%d disconnect_ms=%lld disconnect_at=%lld\n", sent,
           disconnected, disc_ms, disconnected ? wall_ms() : -1);
    fflush(stdout);
    zmq_socket_monitor(s, NULL, 0);
    zmq_close(mon);
    zmq_close(s);
    return 0;
}

static int
run_complete(void *ctx, const qs_profile_t *p, long count, long size)
{
    void *mon, *s = client(ctx, p, NULL, "inproc://flood-mon", ZMQ_EVENT_ALL, &mon);
    long sent = 0;

    if (size < 1 || size > FRAME_BYTES)
        size = FRAME_BYTES;
    if (wait_handshake(mon, 5000) != 0) {
        fprintf(stderr, "qs_flood: no handshake with the broker\n");
        return 4;
    }
    memset(frame, 0x5a, sizeof frame);
    for (long i = 0; i < count; i++) {
        zmq_msg_t m;
        zmq_msg_init_data(&m, frame, (size_t)size, NULL, NULL);
        if (zmq_msg_send(&m, s, 0) >= 0)
            sent++;
        else
            zmq_msg_close(&m);
    }
    zmq_sleep(2);        /* let the io thread write them out */
    printf("sent=%ld\n", sent);
    zmq_socket_monitor(s, NULL, 0);
    zmq_close(mon);
    zmq_close(s);
    return 0;
}

typedef struct {
    void *sock, *mon;
    long long since;
} slot_t;

static void
slot_open(void *ctx, const qs_profile_t *p, slot_t *sl, int i)
{
    char ep[64];
    qs_keypair_t *kp = qs_keypair_generate();

    snprintf(ep, sizeof ep, "inproc://hs-%d-%lld", i, now_ms());
    sl->sock = client(ctx, p, kp, ep, ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                      ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_SUCCEEDED,
                      &sl->mon);
    qs_keypair_destroy(&kp);
    sl->since = now_ms();
}

static void
slot_close(slot_t *sl)
{
    zmq_socket_monitor(sl->sock, NULL, 0);
    zmq_close(sl->mon);
    zmq_close(sl->sock);
}

static int
run_handshakes(void *ctx, const qs_profile_t *p, long seconds, int parallel)
{
    slot_t slots[MAX_PARALLEL];
    long long end = now_ms() + seconds * 1000;
    long done = 0;

    for (int i = 0; i < parallel; i++)
        slot_open(ctx, p, &slots[i], i);
    while (now_ms() < end) {
        zmq_pollitem_t items[MAX_PARALLEL];
        for (int i = 0; i < parallel; i++) {
            items[i].socket = slots[i].mon;
            items[i].events = ZMQ_POLLIN;
            items[i].revents = 0;
        }
        zmq_poll(items, parallel, 20);
        for (int i = 0; i < parallel; i++) {
            int over = now_ms() - slots[i].since > 1000;
            if (!(items[i].revents & ZMQ_POLLIN) && !over)
                continue;
            if (!over && next_event(slots[i].mon, 0) == 0)
                continue;
            done++;
            slot_close(&slots[i]);
            slot_open(ctx, p, &slots[i], i);
        }
    }
    for (int i = 0; i < parallel; i++)
        slot_close(&slots[i]);
    printf("handshakes=%ld\n", done);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "profile", required_argument, NULL, 'p' }, { "mb", required_argument, NULL, 'm' },
        { "seconds", required_argument, NULL, 's' }, { "rate-mb", required_argument, NULL, 'r' },
        { "count", required_argument, NULL, 'c' }, { "size", required_argument, NULL, 'z' },
        { "parallel", required_argument, NULL, 'k' }, { "first-ok", no_argument, NULL, 'f' },
        { "pause-ms", required_argument, NULL, 'w' }, { NULL, 0, NULL, 0 },
    };
    const char *profile = NULL, *mode;
    long mb = 1024, seconds = 10, rate_mb = 400, count = 1000, size = FRAME_BYTES, pause_ms = 0;
    int parallel = 32, first_ok = 0, opt, rc;
    char err[512];
    qs_profile_t *p;
    void *ctx;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'p': profile = optarg; break;
        case 'm': mb = atol(optarg); break;
        case 's': seconds = atol(optarg); break;
        case 'r': rate_mb = atol(optarg); break;
        case 'c': count = atol(optarg); break;
        case 'z': size = atol(optarg); break;
        case 'k': parallel = atoi(optarg); break;
        case 'f': first_ok = 1; break;
        case 'w': pause_ms = atol(optarg); break;
        default: return 2;
        }
    }
    if (optind != argc - 1 || profile == NULL || parallel < 1 || parallel > MAX_PARALLEL ||
        rate_mb < 1) {
        fprintf(stderr, "usage: qs_flood multipart|complete|handshakes --profile P [options]\n");
        return 2;
    }
    mode = argv[optind];
    if (sodium_init() < 0)
        return 4;
    if ((p = qs_profile_load(profile, err, sizeof err)) == NULL) {
        fprintf(stderr, "qs_flood: %s\n", err);
        return 4;
    }
    ctx = zmq_ctx_new();
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, 4 * MAX_PARALLEL + 16);
    if (strcmp(mode, "multipart") == 0)
        rc = run_multipart(ctx, p, mb, seconds, rate_mb, first_ok, pause_ms);
    else if (strcmp(mode, "complete") == 0)
        rc = run_complete(ctx, p, count, size);
    else if (strcmp(mode, "handshakes") == 0)
        rc = run_handshakes(ctx, p, seconds, parallel);
    else
        rc = 2;
    zmq_ctx_term(ctx);
    qs_profile_destroy(&p);
    return rc;
}
