/* ackorder_shim.c - LD_PRELOAD shim that checks qs-store never acks before the flush of its commit.
 *
 * Preloaded into qs-store by tests/fault/ack_order.sh. It interposes on the
 * calls that matter to the durability promise ("an ack only after the
 * commit that covers it is on disk") and checks the promise as they happen:
 *
 *   - open/open64/openat/close: which file descriptors are store.db,
 *     store.db-wal or store.db-journal (by base name, QS_ACKORDER_DB_NAME,
 *     default "store.db"; SQLite opens them with open64);
 *   - write/pwrite/pwrite64/writev/pwritev on those descriptors: the file
 *     is "dirty" from the moment such a write returns;
 *   - fsync/fdatasync on them: a flush that STARTED after a write returned
 *     covers it (a write racing with a flush counts as not covered);
 *   - sqlite3_exec/sqlite3_step whose SQL is a COMMIT (or END): a commit
 *     window. It is "flushed" when at least one flush of a tracked file ran
 *     inside it on the same thread and no tracked file that thread wrote is
 *     dirty when it returns successfully (the thread's own writes: qs-store's
 *     checkpoint thread copies WAL pages into store.db at any time, pages
 *     already durable in the WAL, and flushes them itself).
 *     synchronous=OFF (no flush) and, in WAL mode,
 *     synchronous=NORMAL (frames written, flushed only at checkpoint) both
 *     leave commits unflushed. The commit's START is the BEGIN of its
 *     transaction on that thread (the COMMIT itself when no BEGIN was seen):
 *     the transaction that covers an envelope can only begin after the
 *     envelope arrived, even in a pipelined store that receives the next
 *     group while a transaction is open on its commit thread - counting
 *     from the COMMIT alone, an ack of an envelope received between that
 *     BEGIN and that COMMIT would pass unseen;
 *   - zmq_msg_recv (what qs-store uses; a zmq_recv would go unseen and
 *     every ack would count as "unmatched", which the test refuses): each received multipart message is queued
 *     under its first frame (the routing id the broker puts in front);
 *   - zmq_send/zmq_msg_send: a message whose first frame is a routing id
 *     with a queued receipt is an ack of the oldest one (FIFO per routing
 *     id). The check, at the moment the ack is handed to libzmq (libzmq's
 *     I/O thread does the actual send() later, never earlier):
 *         some flushed commit STARTED (its BEGIN) after the receipt and
 *         ENDED before now.
 *     A transaction covering an envelope can only begin after the envelope
 *     arrived, so an ack failing this was sent before any flushed commit
 *     that could hold it. Matching FIFO is conservative: an envelope that
 *     gets no ack makes later acks match older receipts, a weaker check,
 *     never a false failure.
 *
 * Everything is appended to QS_ACKORDER_LOG (one line per BEGIN, per
 * envelope received, per commit and per ack, "VIOLATION ..." for a broken
 * promise, "summary ..." at exit; a killed process leaves no summary, but
 * every line before the kill is there). The shim changes no behaviour of
 * the process: every call goes to the real function. Two exceptions, for
 * the tests only: QS_ACKORDER_HIDE_SYNC=1 still performs every flush but
 * does not count it, so that the test can show that its checker fails when
 * flushes are missing (negative control); QS_ACKORDER_SYNC_DELAY_MS=N
 * sleeps N ms before each flush of a tracked file, a slow disk, so that
 * commits last long enough for a SIGKILL to land while one group commits
 * and the next is received (tests/fault/pipeline_kill.sh). Thread-safe:
 * one mutex around the bookkeeping.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Opaque handles of the libraries whose calls are wrapped: the shim needs
 * neither header, only the few constants below (stable in both ABIs). */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct zmq_msg_t {
    unsigned char _[64];
} zmq_msg_t;
#define SHIM_SQLITE_OK 0
#define SHIM_SQLITE_DONE 101
#define SHIM_ZMQ_SNDMORE 2

enum { KIND_NONE = 0, KIND_DB, KIND_WAL, KIND_JOURNAL, N_KIND };
static const char *const kind_name[N_KIND] = { "-", "db", "wal", "journal" };

#define MAX_FD 65536
static _Atomic unsigned char fd_kind[MAX_FD];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t seq;                      /* logical clock, under mu */
static uint64_t write_gen[N_KIND];        /* seq of the last write that returned */
static uint64_t synced_gen[N_KIND];       /* highest write seq covered by a flush */
static uint64_t last_flushed_commit_start; /* max start seq of flushed commits ended */
static uint64_t n_commits, n_flushed, n_syncs, n_writes, n_acks, n_acks_bad, n_unmatched;
static int log_fd = -1;
static int hide_sync;
static long sync_delay_ms;
static char db_name[256] = "store.db";

static __thread int tl_depth;        /* nesting of wrapped sqlite3 calls */
static __thread uint64_t tl_begin;   /* seq of this thread's open BEGIN, 0 if none */
static __thread uint64_t tl_syncs;   /* flushes done by this thread */
static __thread uint64_t tl_write_gen[N_KIND]; /* seq of this thread's last write */
static __thread int tl_send_first = 1; /* next zmq frame sent starts a message */
static __thread int tl_recv_first = 1; /* next zmq frame received starts a message */

/* Receipts queued per routing id, oldest first. */
struct pending {
    struct pending *next;
    uint64_t at;
    size_t len;
    unsigned char id[256];
};
static struct pending *queue_head, *queue_tail;

#define REAL(ret, name, args)                                                   \
    static ret(*real_##name) args;                                              \
    static ret(*get_##name(void)) args                                          \
    {                                                                           \
        if (!real_##name)                                                       \
            *(void **)&real_##name = dlsym(RTLD_NEXT, #name);                   \
        return real_##name;                                                     \
    }

REAL(int, open, (const char *, int, ...))
REAL(int, open64, (const char *, int, ...))
REAL(int, openat, (int, const char *, int, ...))
REAL(int, close, (int))
REAL(ssize_t, write, (int, const void *, size_t))
REAL(ssize_t, pwrite, (int, const void *, size_t, off_t))
REAL(ssize_t, pwrite64, (int, const void *, size_t, off64_t))
REAL(ssize_t, writev, (int, const struct iovec *, int))
REAL(ssize_t, pwritev, (int, const struct iovec *, int, off_t))
REAL(int, fsync, (int))
REAL(int, fdatasync, (int))
REAL(int, sqlite3_exec, (sqlite3 *, const char *, int (*)(void *, int, char **, char **),
                         void *, char **))
REAL(int, sqlite3_step, (sqlite3_stmt *))
REAL(const char *, sqlite3_sql, (sqlite3_stmt *))
REAL(int, zmq_send, (void *, const void *, size_t, int))
REAL(int, zmq_msg_send, (zmq_msg_t *, void *, int))
REAL(int, zmq_msg_recv, (zmq_msg_t *, void *, int))
REAL(int, zmq_msg_more, (const zmq_msg_t *))
REAL(void *, zmq_msg_data, (zmq_msg_t *))
REAL(size_t, zmq_msg_size, (const zmq_msg_t *))

/* logf_locked: append one line to the log (mu held or single-threaded). */
static void __attribute__((format(printf, 1, 2)))
logf_locked(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    if (log_fd < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    (void)get_write()(log_fd, line, (size_t)n);
}

__attribute__((constructor)) static void
shim_init(void)
{
    const char *p = getenv("QS_ACKORDER_LOG"), *name = getenv("QS_ACKORDER_DB_NAME");

    if (name && *name && strlen(name) < sizeof db_name - 16)
        snprintf(db_name, sizeof db_name, "%s", name);
    hide_sync = getenv("QS_ACKORDER_HIDE_SYNC") && atoi(getenv("QS_ACKORDER_HIDE_SYNC")) == 1;
    if (getenv("QS_ACKORDER_SYNC_DELAY_MS"))
        sync_delay_ms = atol(getenv("QS_ACKORDER_SYNC_DELAY_MS"));
    if (sync_delay_ms < 0 || sync_delay_ms > 10000)
        sync_delay_ms = 0;
    if (p && *p)
        log_fd = get_open()(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    logf_locked("start pid %d db %s hide_sync %d sync_delay_ms %ld", (int)getpid(), db_name,
                hide_sync, sync_delay_ms);
}

__attribute__((destructor)) static void
shim_fini(void)
{
    pthread_mutex_lock(&mu);
    logf_locked("summary commits %llu flushed %llu syncs %llu writes %llu acks %llu "
                "violations %llu unmatched %llu",
                (unsigned long long)n_commits, (unsigned long long)n_flushed,
                (unsigned long long)n_syncs, (unsigned long long)n_writes,
                (unsigned long long)n_acks, (unsigned long long)n_acks_bad,
                (unsigned long long)n_unmatched);
    pthread_mutex_unlock(&mu);
}

/* ---- files ---- */

static void
track_open(int fd, const char *path)
{
    const char *base;
    size_t n = strlen(db_name);
    int kind = KIND_NONE;

    if (fd < 0 || fd >= MAX_FD)
        return;
    base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path;
    if (base && strncmp(base, db_name, n) == 0) {
        if (base[n] == '\0')
            kind = KIND_DB;
        else if (strcmp(base + n, "-wal") == 0)
            kind = KIND_WAL;
        else if (strcmp(base + n, "-journal") == 0)
            kind = KIND_JOURNAL;
    }
    atomic_store(&fd_kind[fd], (unsigned char)kind);
}

static int
kind_of(int fd)
{
    return (fd >= 0 && fd < MAX_FD) ? atomic_load(&fd_kind[fd]) : KIND_NONE;
}

static mode_t
open_mode(int flags, va_list ap)
{
    /* As glibc's __OPEN_NEEDS_MODE: O_TMPFILE includes O_DIRECTORY's bit. */
    return ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? (mode_t)va_arg(ap, int) : 0;
}

int
open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    int fd = get_open()(path, flags, m);
    track_open(fd, path);
    return fd;
}

int
open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    int fd = get_open64()(path, flags, m);
    track_open(fd, path);
    return fd;
}

int
openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = open_mode(flags, ap);
    va_end(ap);
    int fd = get_openat()(dirfd, path, flags, m);
    track_open(fd, path);
    return fd;
}

int
close(int fd)
{
    if (fd >= 0 && fd < MAX_FD)
        atomic_store(&fd_kind[fd], KIND_NONE);
    return get_close()(fd);
}

static void
note_write(int fd, ssize_t rc)
{
    int k = kind_of(fd);

    if (k == KIND_NONE || rc < 0)
        return;
    pthread_mutex_lock(&mu);
    write_gen[k] = tl_write_gen[k] = ++seq;
    n_writes++;
    pthread_mutex_unlock(&mu);
}

ssize_t
write(int fd, const void *buf, size_t len)
{
    ssize_t rc = get_write()(fd, buf, len);
    note_write(fd, rc);
    return rc;
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t rc = get_pwrite()(fd, buf, len, off);
    note_write(fd, rc);
    return rc;
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    ssize_t rc = get_pwrite64()(fd, buf, len, off);
    note_write(fd, rc);
    return rc;
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
    ssize_t rc = get_writev()(fd, iov, n);
    note_write(fd, rc);
    return rc;
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    ssize_t rc = get_pwritev()(fd, iov, n, off);
    note_write(fd, rc);
    return rc;
}

/* flush: what was written before the flush started is durable once it
 * returns 0. */
static int
flush(int fd, int (*real)(int), const char *what)
{
    int k = kind_of(fd), rc;
    uint64_t covers = 0;

    if (k == KIND_NONE)
        return real(fd);
    pthread_mutex_lock(&mu);
    covers = write_gen[k];
    pthread_mutex_unlock(&mu);
    if (sync_delay_ms > 0) {
        /* A slow disk: the flush itself, not the writes before it. */
        struct timespec ts = { sync_delay_ms / 1000, (sync_delay_ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    rc = real(fd);
    pthread_mutex_lock(&mu);
    seq++;
    if (rc == 0 && !hide_sync) {
        if (synced_gen[k] < covers)
            synced_gen[k] = covers;
        n_syncs++;
        tl_syncs++;
    }
    logf_locked("%s %s seq %llu rc %d%s", what, kind_name[k], (unsigned long long)seq, rc,
                hide_sync ? " (hidden)" : "");
    pthread_mutex_unlock(&mu);
    return rc;
}

int
fsync(int fd)
{
    return flush(fd, get_fsync(), "fsync");
}

int
fdatasync(int fd)
{
    return flush(fd, get_fdatasync(), "fdatasync");
}

/* ---- commits ---- */

static int
sql_starts(const char *sql, const char *word)
{
    if (!sql)
        return 0;
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == ';')
        sql++;
    return strncasecmp(sql, word, strlen(word)) == 0;
}

static int
is_commit_sql(const char *sql)
{
    return sql_starts(sql, "COMMIT") || sql_starts(sql, "END");
}

struct window {
    int active;
    uint64_t start, syncs;
};

/* A BEGIN (at the top level) opens this thread's transaction; a ROLLBACK
 * or the COMMIT's end closes it. */
static void
note_begin(const char *sql)
{
    if (tl_depth != 0)
        return;
    if (sql_starts(sql, "BEGIN")) {
        pthread_mutex_lock(&mu);
        tl_begin = ++seq;
        logf_locked("begin seq %llu", (unsigned long long)tl_begin);
        pthread_mutex_unlock(&mu);
    } else if (sql_starts(sql, "ROLLBACK")) {
        pthread_mutex_lock(&mu);
        logf_locked("rollback seq %llu", (unsigned long long)++seq);
        pthread_mutex_unlock(&mu);
        tl_begin = 0;
    }
}

static void
window_begin(struct window *w, const char *sql)
{
    note_begin(sql);
    w->active = tl_depth++ == 0 && is_commit_sql(sql);
    if (!w->active)
        return;
    pthread_mutex_lock(&mu);
    w->start = tl_begin ? tl_begin : ++seq;
    w->syncs = tl_syncs;
    pthread_mutex_unlock(&mu);
}

static void
window_end(const struct window *w, int ok)
{
    int dirty = -1;

    tl_depth--;
    if (!w->active)
        return;
    if (ok)
        tl_begin = 0;   /* a COMMIT that failed leaves its transaction open */
    pthread_mutex_lock(&mu);
    ++seq;
    for (int k = KIND_DB; k < N_KIND; k++)
        if (tl_write_gen[k] > synced_gen[k])
            dirty = k;
    n_commits++;
    int flushed = ok && tl_syncs > w->syncs && dirty < 0;
    if (flushed) {
        n_flushed++;
        if (last_flushed_commit_start < w->start)
            last_flushed_commit_start = w->start;
    }
    logf_locked("commit start %llu end %llu ok %d syncs %llu dirty %s flushed %d",
                (unsigned long long)w->start, (unsigned long long)seq, ok,
                (unsigned long long)(tl_syncs - w->syncs), dirty < 0 ? "none" : kind_name[dirty],
                flushed);
    pthread_mutex_unlock(&mu);
}

int
sqlite3_exec(sqlite3 *db, const char *sql, int (*cb)(void *, int, char **, char **), void *arg,
             char **err)
{
    struct window w;
    window_begin(&w, sql);
    int rc = get_sqlite3_exec()(db, sql, cb, arg, err);
    window_end(&w, rc == SHIM_SQLITE_OK);
    return rc;
}

int
sqlite3_step(sqlite3_stmt *st)
{
    struct window w;
    window_begin(&w, tl_depth == 0 ? get_sqlite3_sql()(st) : NULL);
    int rc = get_sqlite3_step()(st);
    window_end(&w, rc == SHIM_SQLITE_DONE);
    return rc;
}

/* ---- ZeroMQ ---- */

static void
note_recv_frame(const void *data, size_t len, int more)
{
    int first = tl_recv_first;

    tl_recv_first = !more;
    if (!first || !more || len > sizeof(((struct pending *)0)->id))
        return;
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return;
    memcpy(p->id, data, len);
    p->len = len;
    pthread_mutex_lock(&mu);
    p->at = ++seq;
    logf_locked("recv seq %llu", (unsigned long long)p->at);
    if (queue_tail)
        queue_tail->next = p;
    else
        queue_head = p;
    queue_tail = p;
    pthread_mutex_unlock(&mu);
}

/* take_pending: remove and return the oldest receipt under routing id
 * (mu held), or NULL. */
static struct pending *
take_pending(const void *id, size_t len)
{
    struct pending *prev = NULL;

    for (struct pending *p = queue_head; p; prev = p, p = p->next) {
        if (p->len != len || memcmp(p->id, id, len) != 0)
            continue;
        if (prev)
            prev->next = p->next;
        else
            queue_head = p->next;
        if (queue_tail == p)
            queue_tail = prev;
        return p;
    }
    return NULL;
}

/* note_send_frame: called before a frame is handed to libzmq. The first
 * frame of a multipart message names the routing id: if a receipt waits
 * under it, the message is an ack and is checked now. */
static void
note_send_frame(const void *data, size_t len, int flags)
{
    int first = tl_send_first, more = (flags & SHIM_ZMQ_SNDMORE) != 0;

    if (!first || !more)
        return;
    pthread_mutex_lock(&mu);
    uint64_t now = ++seq;
    struct pending *p = take_pending(data, len);
    if (!p) {
        n_unmatched++;
        logf_locked("unmatched send seq %llu (no receipt under this routing id)",
                    (unsigned long long)now);
    } else {
        int ok = last_flushed_commit_start > p->at;
        n_acks++;
        if (!ok) {
            n_acks_bad++;
            logf_locked("VIOLATION ack seq %llu for the envelope received at seq %llu: no "
                        "flushed commit started after the receipt and ended before the ack "
                        "(latest flushed commit started at seq %llu)",
                        (unsigned long long)now, (unsigned long long)p->at,
                        (unsigned long long)last_flushed_commit_start);
        } else {
            logf_locked("ack seq %llu received %llu flushed-commit-start %llu ok",
                        (unsigned long long)now, (unsigned long long)p->at,
                        (unsigned long long)last_flushed_commit_start);
        }
    }
    pthread_mutex_unlock(&mu);
    free(p);
}

int
zmq_msg_recv(zmq_msg_t *msg, void *sock, int flags)
{
    int rc = get_zmq_msg_recv()(msg, sock, flags);
    if (rc >= 0)
        note_recv_frame(get_zmq_msg_data()(msg), get_zmq_msg_size()(msg),
                        get_zmq_msg_more()(msg));
    return rc;
}

int
zmq_send(void *sock, const void *buf, size_t len, int flags)
{
    int first = tl_send_first;
    note_send_frame(buf, len, flags);
    int rc = get_zmq_send()(sock, buf, len, flags);
    /* A frame libzmq refused leaves the message where it was. */
    tl_send_first = rc < 0 ? first : !(flags & SHIM_ZMQ_SNDMORE);
    return rc;
}

int
zmq_msg_send(zmq_msg_t *msg, void *sock, int flags)
{
    int first = tl_send_first;
    note_send_frame(get_zmq_msg_data()(msg), get_zmq_msg_size()(msg), flags);
    int rc = get_zmq_msg_send()(msg, sock, flags);
    tl_send_first = rc < 0 ? first : !(flags & SHIM_ZMQ_SNDMORE);
    return rc;
}
