/* checkpointer.c - WAL checkpoints on a thread of their own; see checkpointer.h. */
#include "checkpointer.h"

#include "qs_log.h"
#include "storedb_sqlite.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct qs_checkpointer {
    sqlite3 *writer;            /* borrowed: the commit thread's connection */
    sqlite3 *db;                /* the thread's own connection */
    pthread_t thread;
    pthread_mutex_t mu;         /* guards everything below */
    pthread_cond_t wake;
    int due;                    /* a commit took the WAL past the threshold */
    int stop;
    qs_checkpointer_stats_t stats;
};

static void *
checkpoint_thread(void *arg)
{
    qs_checkpointer_t *c = arg;
    int last_wal = 0, last_copied = 0;   /* the previous run's WAL and copied pages */

    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->due && !c->stop)
            pthread_cond_wait(&c->wake, &c->mu);
        if (c->stop)
            break;
        c->due = 0;
        pthread_mutex_unlock(&c->mu);
        int wal_pages = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal_pages,
                                           &copied);
        /* BUSY: another process checkpoints (qs-retention's scrub, qsctl):
         * the next commit past the threshold asks again. */
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("background WAL checkpoint of store.db failed: %s (the next commit "
                     "tries again)", sqlite3_errmsg(c->db));
        pthread_mutex_lock(&c->mu);
        if (rc == SQLITE_OK) {
            /* SQLite counts the pages copied from this WAL since it was
             * last restarted, by any checkpoint: this run's share is the
             * growth since the previous one, unless the WAL restarted. */
            int fresh = wal_pages < last_wal || copied < last_copied ? copied
                                                                    : copied - last_copied;
            c->stats.background++;
            c->stats.pages += fresh > 0 ? (uint64_t)fresh : 0;
            last_wal = wal_pages;
            last_copied = copied;
        } else if (rc != SQLITE_BUSY) {
            c->stats.failed++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Called by SQLite on the writer's thread after each commit, with the
 * number of pages now in the WAL. */
static int
wal_hook(void *arg, sqlite3 *writer, const char *schema, int wal_pages)
{
    qs_checkpointer_t *c = arg;

    if (wal_pages >= QS_CHECKPOINT_INLINE_PAGES) {
        /* The thread is behind: copy now, as SQLite's own hook would. */
        (void)sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->mu);
        c->stats.inline_runs++;
        pthread_mutex_unlock(&c->mu);
    } else if (wal_pages >= QS_CHECKPOINT_PAGES) {
        pthread_mutex_lock(&c->mu);
        c->due = 1;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

qs_checkpointer_t *
qs_checkpointer_start(qs_storedb_t *store, const char *path, char *err, size_t err_len)
{
    qs_checkpointer_t *c;

    if (qs_storedb_engine(store) != QS_STOREDB_SQLITE) {
        snprintf(err, err_len, "WAL checkpoints are SQLite's: this store is on PostgreSQL");
        return NULL;
    }
    c = qs_calloc(1, sizeof *c);
    c->writer = qs_storedb_sqlite(store);
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "cannot open '%s' for checkpoints: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 0);   /* PASSIVE never waits; BUSY is answered above */
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (pthread_create(&c->thread, NULL, checkpoint_thread, c) != 0) {
        snprintf(err, err_len, "cannot start the checkpoint thread");
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->mu);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_wal_hook(c->writer, wal_hook, c);   /* replaces the automatic checkpoint */
    return c;
}

void
qs_checkpointer_stats(qs_checkpointer_t *c, qs_checkpointer_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}

void
qs_checkpointer_destroy(qs_checkpointer_t **cp)
{
    qs_checkpointer_t *c;

    if (cp == NULL || (c = *cp) == NULL)
        return;
    sqlite3_wal_autocheckpoint(c->writer, QS_CHECKPOINT_PAGES);   /* removes the hook */
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mu);
    sqlite3_close(c->db);
    free(c);
    *cp = NULL;
}
