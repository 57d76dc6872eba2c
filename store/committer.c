/* committer.c - the commit thread: a one-slot handoff under a mutex, an eventfd to wake zmq_poll.
 *
 * State under mu: job (submitted, not started), done (finished, not
 * taken), stop. The owner's side keeps in_flight
 * (submitted and not taken) without the lock: only the owner changes it.
 * The mutex also orders memory: everything the thread wrote into a job
 * happens before the owner's take returns it, and everything the owner
 * wrote before submit happens before the thread starts on it.
 *
 * The eventfd counts finished jobs; take reads it back to zero, so the fd
 * is readable exactly while a finished job waits. EFD_NONBLOCK: a take
 * that finds the counter already read (a spurious wake-up) never blocks.
 */
#include "committer.h"

#include "qs_log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct qs_committer {
    qs_committer_fn fn;
    void *arg;
    int efd;
    pthread_t thread;
    int started;
    int in_flight;               /* owner's side only */

    pthread_mutex_t mu;
    pthread_cond_t cond;         /* job, done or stop changed */
    void *job;                   /* submitted, not started */
    void *done;                  /* finished, not taken */
    int stop;
};

static void
efd_signal(int efd)
{
    uint64_t one = 1;

    /* Cannot fail short of a bug (the counter would need 2^64 - 1 jobs). */
    while (write(efd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void
efd_drain(int efd)
{
    uint64_t n;

    while (read(efd, &n, sizeof n) < 0 && errno == EINTR)
        ;
}

static void *
committer_main(void *p)
{
    qs_committer_t *self = p;

    pthread_mutex_lock(&self->mu);
    for (;;) {
        void *job;

        while (self->job == NULL && !self->stop)
            pthread_cond_wait(&self->cond, &self->mu);
        if (self->job == NULL)
            break;   /* stop, and nothing left to run */
        job = self->job;
        self->job = NULL;
        pthread_mutex_unlock(&self->mu);
        self->fn(self->arg, job);
        pthread_mutex_lock(&self->mu);
        self->done = job;
        efd_signal(self->efd);
        pthread_cond_broadcast(&self->cond);
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

qs_committer_t *
qs_committer_new(qs_committer_fn fn, void *arg, char *errmsg, size_t errmsg_len)
{
    qs_committer_t *self = qs_calloc(1, sizeof *self);
    sigset_t all, old;
    int rc;

    self->fn = fn;
    self->arg = arg;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cond, NULL);
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        snprintf(errmsg, errmsg_len, "cannot create the commit thread's eventfd: %s",
                 strerror(errno));
        qs_committer_destroy(&self);
        return NULL;
    }
    /* The thread inherits this mask: SIGTERM and SIGINT stay with the main
     * thread, whose zmq_poll they interrupt. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&self->thread, NULL, committer_main, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(errmsg, errmsg_len, "cannot start the commit thread: %s", strerror(rc));
        qs_committer_destroy(&self);
        return NULL;
    }
    self->started = 1;
    return self;
}

void
qs_committer_destroy(qs_committer_t **self_p)
{
    qs_committer_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    if (self->started) {
        pthread_mutex_lock(&self->mu);
        self->stop = 1;
        pthread_cond_broadcast(&self->cond);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->thread, NULL);   /* after the job in flight, if any */
    }
    if (self->efd >= 0)
        close(self->efd);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

int
qs_committer_fd(const qs_committer_t *self)
{
    return self->efd;
}

int
qs_committer_submit(qs_committer_t *self, void *job)
{
    QS_ASSERT(job != NULL);
    if (self->in_flight)
        return -1;
    pthread_mutex_lock(&self->mu);
    self->job = job;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mu);
    self->in_flight = 1;
    return 0;
}

int
qs_committer_busy(const qs_committer_t *self)
{
    return self->in_flight;
}

void *
qs_committer_take(qs_committer_t *self, int wait)
{
    void *job;

    if (!self->in_flight)
        return NULL;
    pthread_mutex_lock(&self->mu);
    while (wait && self->done == NULL)
        pthread_cond_wait(&self->cond, &self->mu);
    job = self->done;
    self->done = NULL;
    if (job != NULL)
        efd_drain(self->efd);
    pthread_mutex_unlock(&self->mu);
    if (job != NULL)
        self->in_flight = 0;
    return job;
}
