/* qs_notify.h - tell systemd a daemon is ready or stopping (the sd_notify protocol, by hand).
 *
 * Under a unit with Type=notify, systemd passes NOTIFY_SOCKET (a datagram
 * socket path, or "@name" in the abstract namespace) and waits for
 * "READY=1" before it counts the service as started: dependent units and
 * `systemctl start` then wait for the daemon's sockets to be bound, not only
 * for the process to exist. The protocol is one datagram of text, so a
 * dozen lines replace libsystemd. Without NOTIFY_SOCKET (not under systemd,
 * or Type=simple) these do nothing.
 */
#ifndef QS_NOTIFY_H
#define QS_NOTIFY_H

/* Send state ("READY=1", "STOPPING=1", "STATUS=..."). Returns 0 when sent
 * or when there is no NOTIFY_SOCKET, -1 when sending failed (errno set):
 * the caller logs it and goes on. */
int qs_notify(const char *state);

/* qs_notify, logging a warning when it fails (what daemons call). */
void qs_notify_log(const char *state);

#endif
