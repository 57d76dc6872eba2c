/* secpool.c - sodium_allocarray()/sodium_free() with reuse; see qs_secpool.h. */
#define _GNU_SOURCE   /* RTLD_NEXT */
#include "qs_secpool.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

/* Buffers handed out and not yet released, with their sizes: a buffer
 * libzmq holds lives for one handshake step, so a few per handshake in
 * progress. Past this many, new ones are not tracked and go back to
 * libsodium when released. */
#define SECPOOL_LIVE 256

typedef struct {
    void *p;
    size_t n;
} secbuf_t;

typedef struct {
    pthread_mutex_t mu;
    secbuf_t kept[QS_SECPOOL_MAX];       /* released, wiped, ready again */
    size_t n_kept;
    secbuf_t live[SECPOOL_LIVE];         /* handed out; p == NULL: free slot */
    qs_secpool_stats_t stats;
} secpool_t;

static secpool_t pool = { .mu = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static void (*real_free)(void *);

static void
real_resolve(void)
{
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "sodium_free");
    if (real_free == NULL) {
        /* Only a program linked without libsodium could get here: nothing
         * it allocated could then be released. */
        fprintf(stderr, "qs_secpool: libsodium's sodium_free not found: %s\n", dlerror());
        abort();
    }
}

static void
live_add(void *p, size_t n)
{
    for (size_t i = 0; i < SECPOOL_LIVE; i++)
        if (pool.live[i].p == NULL) {
            pool.live[i] = (secbuf_t){ p, n };
            return;
        }
}

/* The size of a buffer handed out by the pool's allocator, which forgets
 * it; -1 when the pool did not hand it out (or did not track it). */
static int
live_take(void *p, size_t *n)
{
    for (size_t i = 0; i < SECPOOL_LIVE; i++)
        if (pool.live[i].p == p) {
            *n = pool.live[i].n;
            pool.live[i].p = NULL;
            return 0;
        }
    return -1;
}

void *
sodium_allocarray(size_t count, size_t size)
{
    size_t n, i;
    void *p = NULL;

    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;   /* as libsodium's own */
        return NULL;
    }
    n = count * size;
    pthread_mutex_lock(&pool.mu);
    for (i = 0; i < pool.n_kept; i++)
        if (pool.kept[i].n == n) {
            p = pool.kept[i].p;
            pool.kept[i] = pool.kept[--pool.n_kept];
            pool.stats.reused++;
            live_add(p, n);
            break;
        }
    pthread_mutex_unlock(&pool.mu);
    if (p != NULL)
        return p;
    if ((p = sodium_malloc(n)) == NULL)
        return NULL;
    pthread_mutex_lock(&pool.mu);
    pool.stats.allocated++;
    live_add(p, n);
    pthread_mutex_unlock(&pool.mu);
    return p;
}

void
sodium_free(void *p)
{
    size_t n = 0, same = 0;

    if (p == NULL)
        return;
    (void)pthread_once(&real_once, real_resolve);
    pthread_mutex_lock(&pool.mu);
    if (live_take(p, &n) == 0 && pool.n_kept < QS_SECPOOL_MAX) {
        for (size_t i = 0; i < pool.n_kept; i++)
            same += pool.kept[i].n == n;
        if (same < QS_SECPOOL_PER_SIZE) {
            sodium_memzero(p, n);
            pool.kept[pool.n_kept++] = (secbuf_t){ p, n };
            pool.stats.kept++;
            pthread_mutex_unlock(&pool.mu);
            return;
        }
    }
    pool.stats.passed++;
    pthread_mutex_unlock(&pool.mu);
    real_free(p);
}

void
qs_secpool_stats(qs_secpool_stats_t *out)
{
    pthread_mutex_lock(&pool.mu);
    *out = pool.stats;
    pthread_mutex_unlock(&pool.mu);
}
