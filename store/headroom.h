/* headroom.h - the disk reserve: qs-store stops taking data before the disk is full.
 *
 * When the free space (for an unprivileged process: statvfs f_bavail) of
 * the file system holding store.db falls under [store] disk_reserve_mb,
 * qs-store answers every batch RETRY_LATER/DISK_RESERVE without decrypting
 * it: nothing is stored, producers keep their messages and resend. The
 * reserve is what is left for the programs that free space: qs-retention
 * (dropping partitions, deleting rows, its WAL) and `qsctl forget`, which
 * need some room to write their own transactions. Once space is back above
 * the reserve, ingest resumes by itself. docs/quotas.md.
 *
 * A threshold, not a preallocated reserve file: a file would have to be
 * released by whichever program needs the room and taken back after, by
 * several programs racing on it; a threshold needs no coordination, and it
 * also covers space eaten by anything else on the file system.
 *
 * Checked at most every QS_HEADROOM_CHECK_MS (one statvfs). PostgreSQL
 * stores have no local file to watch: the database's disk is its DBA's
 * (a disk-full error there rolls the group back: RETRY_LATER/STORE_BUSY).
 */
#ifndef QS_STORE_HEADROOM_H
#define QS_STORE_HEADROOM_H

#include <stdint.h>

#define QS_HEADROOM_CHECK_MS 200

typedef struct qs_headroom qs_headroom_t;

/* Watch the file system of dir, keeping reserve_bytes free. NULL dir or
 * reserve_bytes 0: never low. Always returns an object. */
qs_headroom_t *qs_headroom_new(const char *dir, uint64_t reserve_bytes);
void qs_headroom_destroy(qs_headroom_t **h_p);

/* 1 when the free space was under the reserve at the last check (checks
 * again when QS_HEADROOM_CHECK_MS passed since, at monotonic now_ms). Logs
 * each change once. A failing statvfs counts as enough space: a missing
 * answer must not stop ingest (the commit itself still fails safely). */
int qs_headroom_low(qs_headroom_t *h, int64_t now_ms);

/* Free bytes at the last check (0 when off or unknown). */
uint64_t qs_headroom_free(const qs_headroom_t *h);

#endif
