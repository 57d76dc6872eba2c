/* qs_secpool.h - libsodium's guarded buffers reused across CurveZMQ handshakes.
 *
 * libzmq 4.3 (built with libsodium, as Debian's is) holds the plaintexts of
 * each CurveZMQ handshake in buffers from sodium_allocarray(), released with
 * sodium_free(): six per server handshake, five per client. Each is a fresh
 * mapping with guard pages, locked and excluded from core dumps, then
 * unlocked, re-protected and unmapped: about eleven system calls a buffer,
 * 66 a connection on the broker, where every mprotect() and munmap() also
 * interrupts the other cores running the process's threads to flush their
 * TLBs. Measured (docs/performance.md): 150 us of system CPU per handshake,
 * a tenth of the broker's CPU per envelope in bench/run's end-to-end run.
 *
 * A program linked with this module (an OBJECT library, so that it is
 * always in the executable) defines sodium_allocarray() and sodium_free()
 * itself. The dynamic linker binds libzmq's calls to them: an executable's
 * own definitions come first in symbol lookup (the link exports them with
 * --export-dynamic-symbol). They keep up to QS_SECPOOL_PER_SIZE released
 * buffers of each exact size, at most QS_SECPOOL_MAX in all, and hand them
 * out again: same guard pages, still locked, wiped with sodium_memzero()
 * when released, so the pool holds no secret. Everything else (another
 * size once the pool is full, a buffer from sodium_malloc(), a count whose
 * product overflows) goes to libsodium's own functions unchanged. Buffers
 * in the pool are not unmapped until exit: their bounded total is the cost.
 *
 * The pool is the one piece of process-wide mutable state outside main():
 * an override of a library function has no caller to take a context from.
 * A mutex guards it (libzmq's I/O threads and the main thread both call).
 */
#ifndef QS_SECPOOL_H
#define QS_SECPOOL_H

#include <stddef.h>
#include <stdint.h>

#define QS_SECPOOL_PER_SIZE 8     /* released buffers kept per exact size */
#define QS_SECPOOL_MAX 64         /* released buffers kept in all */

typedef struct {
    uint64_t reused;       /* sodium_allocarray() answered from the pool */
    uint64_t allocated;    /* ... by libsodium (the pool had none of that size) */
    uint64_t kept;         /* sodium_free() that kept the buffer for reuse */
    uint64_t passed;       /* sodium_free() passed to libsodium (not ours, or pool full) */
} qs_secpool_stats_t;

/* The counts since the process started. */
void qs_secpool_stats(qs_secpool_stats_t *out);

#endif
