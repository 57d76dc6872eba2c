/* simulate.h - `qs-producer simulate`: a fleet of simulated clients under load.
 *
 * Enrolls N clients named sim-00001.. in the site (or resumes the fleet of an
 * earlier run from DIR/sim/state.db), spreads M generated messages over them
 * (simgen.h) and delivers them, one sender and one CurveZMQ socket per
 * client, all driven from one zmq_poll loop. Progress (each client's acked
 * low-water mark) is saved at most once a second and at exit, so a restart
 * after SIGKILL resends little (the store drops the duplicates). It keeps
 * going through broker and store restarts and stops when every message is
 * acked, on the timeout, or when *stop becomes non-zero. When [broker]
 * frontend names several brokers, the clients spread over them and fail
 * over between them (sender.h).
 */
#ifndef QS_PRODUCER_SIMULATE_H
#define QS_PRODUCER_SIMULATE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *home;                 /* site home (--home, or QS_HOME when NULL) */
    uint32_t clients;                 /* 1..QS_SIM_MAX_CLIENTS */
    uint64_t messages;
    size_t batch;                     /* messages per batch, 0 = default */
    int timeout_s;                    /* give up after this long, 0 = 600 */
    int json;                         /* print the result as one JSON document */
    int failover_ms;                  /* several brokers: sender.h; 0 = default */
    volatile sig_atomic_t *stop;      /* set by main's signal handler */
} qs_simulate_opts_t;

/* Run the simulation, printing progress (stderr, on a TTY), a summary and,
 * with json, the result document on stdout. Returns 0 when every message was
 * acked and none rejected; -1 on timeout, interruption, rejections or an
 * error (logged). */
int qs_simulate_run(const qs_simulate_opts_t *opts);

#endif
