/* qs_signal.h - the stop signals every quietstate process handles the same way.
 *
 * SIGTERM and SIGINT call the caller's handler, which only sets a volatile
 * sig_atomic_t that its loop polls (CONVENTIONS #10). No SA_RESTART: a blocked
 * zmq_poll or sleep returns EINTR, so the loop sees the flag at once.
 */
#ifndef QS_SIGNAL_H
#define QS_SIGNAL_H

/* Install handler for SIGTERM and SIGINT. Returns 0, or -1 if sigaction failed. */
int qs_signal_on_stop(void (*handler)(int));

#endif
