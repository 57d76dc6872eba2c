/* qs_process.h - what every quietstate process holding secrets does to itself at start.
 *
 * A daemon holds keys (store, broker, site, audit, epoch keys) and, in
 * qs-store, decrypted messages with names and details. A core dump would
 * write all of that to disk, readable by whoever reads the crash directory.
 * So each daemon makes itself non-dumpable (PR_SET_DUMPABLE 0: no core, and
 * no ptrace attach or /proc/PID/mem read by same-user processes) and sets
 * RLIMIT_CORE to 0 (kept across exec and by children such as qs-web's
 * worker). Memory that holds plaintext is also marked MADV_DONTDUMP where it
 * is allocated (store/arena.c), so a dump re-enabled by an administrator
 * still leaves it out.
 */
#ifndef QS_PROCESS_H
#define QS_PROCESS_H

#include <stddef.h>

/* Disable core dumps for this process and its children. Returns 0, or -1
 * with errmsg naming the call that failed (the caller logs it and goes on:
 * refusing to start would make a hardened container unusable). */
int qs_process_no_core(char *errmsg, size_t errmsg_len);

#endif
