/* arena.c - the ingest group's bump allocator (arena.h).
 *
 * Chunks form a list: head is being filled, full ones follow it. A request
 * larger than a chunk gets a chunk of its own size. Reset wipes each chunk's
 * used bytes (sodium_memzero: the decoded messages held names in clear) and
 * moves chunks to a spare list while it holds less than QS_ARENA_KEEP_BYTES,
 * freeing the rest. Chunks are mapped pages marked MADV_DONTDUMP: a core
 * of qs-store (if dumps were ever re-enabled) leaves the plaintext out.
 */
#include "arena.h"

#include "qs_log.h"

#include <sodium.h>
#include <stdalign.h>
#include <stdlib.h>
#include <sys/mman.h>

#define ARENA_ALIGN 16u

struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    alignas(16) unsigned char data[];
};

struct qs_arena {
    struct arena_chunk *head;    /* chunk being filled; full ones follow via next */
    struct arena_chunk *spare;   /* emptied chunks kept for reuse */
    size_t used_total;
    ProtobufCAllocator pb;
};

/* A chunk of at least cap data bytes, in pages excluded from core dumps. */
static struct arena_chunk *
chunk_new(size_t cap)
{
    size_t len = sizeof(struct arena_chunk) + cap;
    struct arena_chunk *c = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (c == MAP_FAILED)
        qs_fatal("out of memory mapping a %zu-byte arena chunk", len);
    (void)madvise(c, len, MADV_DONTDUMP);   /* best effort: not every kernel has it */
    c->cap = cap;
    return c;
}

static void
chunk_free(struct arena_chunk *c)
{
    munmap(c, sizeof *c + c->cap);
}

static void *
arena_alloc(void *data, size_t size)
{
    qs_arena_t *a = data;
    struct arena_chunk *c = a->head;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    void *p;

    if (need == 0)
        need = ARENA_ALIGN;
    if (c == NULL || c->cap - c->used < need) {
        if (a->spare != NULL && a->spare->cap >= need) {
            c = a->spare;
            a->spare = c->next;
        } else {
            size_t cap = need > QS_ARENA_CHUNK ? need : QS_ARENA_CHUNK;
            c = chunk_new(cap);
        }
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    p = c->data + c->used;
    c->used += need;
    a->used_total += need;
    return p;
}

static void
arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

qs_arena_t *
qs_arena_new(void)
{
    qs_arena_t *a = qs_calloc(1, sizeof *a);

    a->pb.alloc = arena_alloc;
    a->pb.free = arena_free;
    a->pb.allocator_data = a;
    return a;
}

ProtobufCAllocator *
qs_arena_allocator(qs_arena_t *self)
{
    return &self->pb;
}

size_t
qs_arena_used(const qs_arena_t *self)
{
    return self->used_total;
}

void
qs_arena_reset(qs_arena_t *a)
{
    size_t kept = 0;

    for (struct arena_chunk *s = a->spare; s != NULL; s = s->next)
        kept += s->cap;
    while (a->head != NULL) {
        struct arena_chunk *c = a->head;
        a->head = c->next;
        sodium_memzero(c->data, c->used);
        if (kept + c->cap <= QS_ARENA_KEEP_BYTES) {
            c->next = a->spare;
            a->spare = c;
            kept += c->cap;
        } else {
            chunk_free(c);
        }
    }
    a->used_total = 0;
}

void
qs_arena_destroy(qs_arena_t **self_p)
{
    qs_arena_t *a;

    if (self_p == NULL || *self_p == NULL)
        return;
    a = *self_p;
    qs_arena_reset(a);
    while (a->spare != NULL) {
        struct arena_chunk *c = a->spare;
        a->spare = c->next;
        chunk_free(c);
    }
    free(a);
    *self_p = NULL;
}
