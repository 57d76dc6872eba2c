/* outbox.c - the durable outbox over SQLite (see outbox.h).
 *
 * Every statement is prepared once at open. An append is one IMMEDIATE
 * transaction (read next_serial, insert the packed message, bump
 * next_serial), committed with synchronous=FULL before the serial is handed
 * out. Statements are reset right after use so a long-running sender never
 * pins an old WAL snapshot: rows appended by another process are visible at
 * the next take. secure_delete zeroes acked messages (they carry machine
 * names) instead of leaving them in free pages.
 */
#include "outbox.h"

#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_fsutil.h"
#include "qs_log.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct qs_outbox {
    sqlite3 *db;
    qs_clock_t clock;
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *next, *insert, *bump;
    sqlite3_stmt *take, *ack, *rej_copy, *rej_delete;
    sqlite3_stmt *count, *rcount, *rlist;
    uint8_t *pack_buf;     /* reused by append */
    size_t pack_cap;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta("
    "  id INTEGER PRIMARY KEY CHECK (id = 1), next_serial INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outbox("
    "  serial INTEGER PRIMARY KEY, msg BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS rejected("
    "  serial INTEGER PRIMARY KEY, status TEXT NOT NULL, code TEXT NOT NULL,"
    "  reason TEXT NOT NULL, msg BLOB NOT NULL, rejected_ms INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(id, next_serial) VALUES (1, 1 + max("
    "  coalesce((SELECT max(serial) FROM outbox), 0),"
    "  coalesce((SELECT max(serial) FROM rejected), 0)));";

static int
prepare(qs_outbox_t *ob, sqlite3_stmt **st, const char *sql)
{
    return sqlite3_prepare_v3(ob->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) ==
                   SQLITE_OK ? 0 : -1;
}

/* Create the file 0600 ourselves (SQLite honours the umask), or refuse an
 * existing one that others can read. */
static int
ensure_private_file(const char *path, char *errmsg, size_t errmsg_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd >= 0) {
        if (fchmod(fd, 0600) != 0) {
            snprintf(errmsg, errmsg_len, "cannot chmod '%s': %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        close(fd);
        return 0;
    }
    if (errno != EEXIST) {
        snprintf(errmsg, errmsg_len, "cannot create outbox '%s': %s", path, strerror(errno));
        return -1;
    }
    return qs_fs_check_private(path, errmsg, errmsg_len);
}

qs_outbox_t *
qs_outbox_open(const char *path, char *errmsg, size_t errmsg_len)
{
    qs_outbox_t *ob;
    char *err = NULL;

    if (ensure_private_file(path, errmsg, errmsg_len) != 0)
        return NULL;
    ob = qs_calloc(1, sizeof *ob);
    if (qs_clock_init(&ob->clock) != 0)
        log_warn("ignoring QS_CLOCK_OFFSET_S: not an integer number of seconds");
    if (sqlite3_open_v2(path, &ob->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "cannot open outbox '%s': %s", path,
                 ob->db ? sqlite3_errmsg(ob->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(ob->db, 10000);
    if (sqlite3_exec(ob->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                             "PRAGMA secure_delete=ON;", NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(ob->db, schema, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(errmsg, errmsg_len, "cannot prepare outbox '%s': %s", path,
                 err ? err : sqlite3_errmsg(ob->db));
        sqlite3_free(err);
        goto fail;
    }
    if (prepare(ob, &ob->begin, "BEGIN IMMEDIATE") != 0 ||
        prepare(ob, &ob->commit, "COMMIT") != 0 ||
        prepare(ob, &ob->rollback, "ROLLBACK") != 0 ||
        prepare(ob, &ob->next, "SELECT next_serial FROM meta WHERE id = 1") != 0 ||
        prepare(ob, &ob->insert, "INSERT INTO outbox(serial, msg) VALUES (?1, ?2)") != 0 ||
        prepare(ob, &ob->bump, "UPDATE meta SET next_serial = ?1 WHERE id = 1") != 0 ||
        prepare(ob, &ob->take, "SELECT serial, msg FROM outbox WHERE serial > ?1 "
                               "ORDER BY serial LIMIT ?2") != 0 ||
        prepare(ob, &ob->ack, "DELETE FROM outbox WHERE serial <= ?1") != 0 ||
        prepare(ob, &ob->rej_copy,
                "INSERT OR REPLACE INTO rejected(serial, status, code, reason, msg, "
                "rejected_ms) SELECT serial, ?2, ?3, ?4, msg, ?5 FROM outbox "
                "WHERE serial = ?1") != 0 ||
        prepare(ob, &ob->rej_delete, "DELETE FROM outbox WHERE serial = ?1") != 0 ||
        prepare(ob, &ob->count, "SELECT count(*) FROM outbox") != 0 ||
        prepare(ob, &ob->rcount, "SELECT count(*) FROM rejected") != 0 ||
        prepare(ob, &ob->rlist, "SELECT serial, status, code, reason, rejected_ms "
                                "FROM rejected ORDER BY serial") != 0) {
        snprintf(errmsg, errmsg_len, "cannot prepare outbox '%s': %s", path,
                 sqlite3_errmsg(ob->db));
        goto fail;
    }
    ob->pack_cap = QS_MAX_MESSAGE_BYTES;
    ob->pack_buf = qs_malloc(ob->pack_cap);
    return ob;
fail:
    qs_outbox_destroy(&ob);
    return NULL;
}

/* Run a statement without results (BEGIN, COMMIT, ...). */
static int
exec_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int
query_u64(sqlite3_stmt *st, uint64_t *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int
qs_outbox_append(qs_outbox_t *ob, Quietstate__StateMessage *m, uint64_t *serial_out,
                 char *errmsg, size_t errmsg_len)
{
    uint64_t serial;
    size_t len;

    if (exec_stmt(ob->begin) != 0) {
        snprintf(errmsg, errmsg_len, "outbox: cannot begin: %s", sqlite3_errmsg(ob->db));
        return -1;
    }
    if (query_u64(ob->next, &serial) != 0 || serial == 0)
        goto db_error;
    m->serial = serial;
    len = quietstate__state_message__get_packed_size(m);
    if (len > ob->pack_cap) {
        ob->pack_cap = len;
        ob->pack_buf = qs_realloc(ob->pack_buf, ob->pack_cap);
    }
    len = quietstate__state_message__pack(m, ob->pack_buf);
    sqlite3_bind_int64(ob->insert, 1, (sqlite3_int64)serial);
    sqlite3_bind_blob(ob->insert, 2, ob->pack_buf, (int)len, SQLITE_STATIC);
    if (exec_stmt(ob->insert) != 0)
        goto db_error;
    sqlite3_bind_int64(ob->bump, 1, (sqlite3_int64)(serial + 1));
    if (exec_stmt(ob->bump) != 0)
        goto db_error;
    if (exec_stmt(ob->commit) != 0)
        goto db_error;
    sqlite3_clear_bindings(ob->insert);
    *serial_out = serial;
    return 0;
db_error:
    snprintf(errmsg, errmsg_len, "outbox: %s", sqlite3_errmsg(ob->db));
    sqlite3_clear_bindings(ob->insert);
    (void)exec_stmt(ob->rollback);
    return -1;
}

int
qs_outbox_take(qs_outbox_t *ob, uint64_t after, qs_msgref_t *refs, size_t max_refs,
               uint8_t *buf, size_t buf_cap, size_t *n_out)
{
    size_t n = 0, used = 0;
    int rc = SQLITE_DONE;

    *n_out = 0;
    sqlite3_bind_int64(ob->take, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(ob->take, 2, (sqlite3_int64)max_refs);
    while (n < max_refs && (rc = sqlite3_step(ob->take)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(ob->take, 1);
        const void *blob = sqlite3_column_blob(ob->take, 1);
        if (len > buf_cap - used)
            break;
        if (len > 0)
            memcpy(buf + used, blob, len);
        refs[n].serial = (uint64_t)sqlite3_column_int64(ob->take, 0);
        refs[n].off = used;
        refs[n].len = len;
        used += len;
        n++;
    }
    if (n < max_refs && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        log_error("outbox: cannot read pending messages: %s", sqlite3_errmsg(ob->db));
        sqlite3_reset(ob->take);
        return -1;
    }
    if (n == 0 && rc == SQLITE_ROW) {
        log_error("outbox: message too large for a batch buffer of %zu bytes", buf_cap);
        sqlite3_reset(ob->take);
        return -1;
    }
    sqlite3_reset(ob->take);
    *n_out = n;
    return 0;
}

int
qs_outbox_ack(qs_outbox_t *ob, uint64_t committed)
{
    sqlite3_bind_int64(ob->ack, 1, (sqlite3_int64)committed);
    if (exec_stmt(ob->ack) != 0) {
        log_error("outbox: cannot delete acked messages: %s", sqlite3_errmsg(ob->db));
        return -1;
    }
    return 0;
}

int
qs_outbox_reject(qs_outbox_t *ob, uint64_t serial, Quietstate__Status status,
                 Quietstate__Code code, const char *reason)
{
    if (exec_stmt(ob->begin) != 0)
        goto db_error;
    sqlite3_bind_int64(ob->rej_copy, 1, (sqlite3_int64)serial);
    sqlite3_bind_text(ob->rej_copy, 2, qs_status_name(status), -1, SQLITE_STATIC);
    sqlite3_bind_text(ob->rej_copy, 3, qs_code_name(code), -1, SQLITE_STATIC);
    sqlite3_bind_text(ob->rej_copy, 4, reason ? reason : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ob->rej_copy, 5, qs_clock_now_ms(&ob->clock));
    sqlite3_bind_int64(ob->rej_delete, 1, (sqlite3_int64)serial);
    if (exec_stmt(ob->rej_copy) != 0 || exec_stmt(ob->rej_delete) != 0 ||
        exec_stmt(ob->commit) != 0) {
        sqlite3_clear_bindings(ob->rej_copy);
        (void)exec_stmt(ob->rollback);
        goto db_error;
    }
    sqlite3_clear_bindings(ob->rej_copy);
    return 0;
db_error:
    log_error("outbox: cannot move serial %llu to the rejected list: %s",
              (unsigned long long)serial, sqlite3_errmsg(ob->db));
    return -1;
}

int
qs_outbox_pending_count(qs_outbox_t *ob, uint64_t *count)
{
    return query_u64(ob->count, count);
}

int
qs_outbox_rejected_count(qs_outbox_t *ob, uint64_t *count)
{
    return query_u64(ob->rcount, count);
}

int
qs_outbox_next_serial(qs_outbox_t *ob, uint64_t *next)
{
    return query_u64(ob->next, next);
}

int
qs_outbox_rejected_each(qs_outbox_t *ob,
                        int (*cb)(void *ctx, const qs_outbox_rejected_t *r), void *ctx)
{
    int rc;

    while ((rc = sqlite3_step(ob->rlist)) == SQLITE_ROW) {
        qs_outbox_rejected_t r = {
            (uint64_t)sqlite3_column_int64(ob->rlist, 0),
            (const char *)sqlite3_column_text(ob->rlist, 1),
            (const char *)sqlite3_column_text(ob->rlist, 2),
            (const char *)sqlite3_column_text(ob->rlist, 3),
            sqlite3_column_int64(ob->rlist, 4) };
        if (cb(ctx, &r) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(ob->rlist);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int
source_take(void *ctx, uint64_t after, qs_msgref_t *refs, size_t max_refs, uint8_t *buf,
            size_t buf_cap, size_t *n_out)
{
    return qs_outbox_take(ctx, after, refs, max_refs, buf, buf_cap, n_out);
}

static int
source_ack(void *ctx, uint64_t committed)
{
    return qs_outbox_ack(ctx, committed);
}

static int
source_reject(void *ctx, uint64_t serial, Quietstate__Status status, Quietstate__Code code,
              const char *reason)
{
    return qs_outbox_reject(ctx, serial, status, code, reason);
}

qs_source_t
qs_outbox_source(qs_outbox_t *ob)
{
    qs_source_t s = { ob, source_take, source_ack, source_reject };
    return s;
}

void
qs_outbox_destroy(qs_outbox_t **ob_p)
{
    qs_outbox_t *ob;

    if (ob_p == NULL || *ob_p == NULL)
        return;
    ob = *ob_p;
    sqlite3_finalize(ob->begin);
    sqlite3_finalize(ob->commit);
    sqlite3_finalize(ob->rollback);
    sqlite3_finalize(ob->next);
    sqlite3_finalize(ob->insert);
    sqlite3_finalize(ob->bump);
    sqlite3_finalize(ob->take);
    sqlite3_finalize(ob->ack);
    sqlite3_finalize(ob->rej_copy);
    sqlite3_finalize(ob->rej_delete);
    sqlite3_finalize(ob->count);
    sqlite3_finalize(ob->rcount);
    sqlite3_finalize(ob->rlist);
    sqlite3_close(ob->db);
    if (ob->pack_buf != NULL)
        sodium_memzero(ob->pack_buf, ob->pack_cap);
    free(ob->pack_buf);
    free(ob);
    *ob_p = NULL;
}
