/* arena.h - a bump allocator for protobuf-c: one per ingest group, wiped after it.
 *
 * qs_ingest decodes every Batch of a group into one arena: alloc bumps a
 * pointer in 1 MiB chunks, free does nothing, and qs_arena_reset (after the
 * group's acks) wipes what was used (the messages held names in clear) and
 * keeps up to QS_ARENA_KEEP_BYTES of chunks for the next group, so the hot
 * path does not malloc per message. Out of memory aborts (qs_malloc).
 */
#ifndef QS_STORE_ARENA_H
#define QS_STORE_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define QS_ARENA_CHUNK (1024u * 1024u)
#define QS_ARENA_KEEP_BYTES (16u * 1024u * 1024u)

typedef struct qs_arena qs_arena_t;

/* An empty arena. Never NULL (out of memory aborts). */
qs_arena_t *qs_arena_new(void);

/* Wipe and free everything; sets *self_p to NULL. No-op on NULL. */
void qs_arena_destroy(qs_arena_t **self_p);

/* The protobuf-c allocator that allocates from self (borrowed: valid while
 * self lives). Everything it returned is invalid after qs_arena_reset. */
ProtobufCAllocator *qs_arena_allocator(qs_arena_t *self);

/* Bytes handed out since the last reset (bounds a group's decoded size). */
size_t qs_arena_used(const qs_arena_t *self);

/* Wipe what was handed out and start again; keeps some chunks for reuse. */
void qs_arena_reset(qs_arena_t *self);

#endif
