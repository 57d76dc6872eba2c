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
#include "outbox_priv.h"

#include "batchfields.h"

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


static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta("
    "  id INTEGER PRIMARY KEY CHECK (id = 1), next_serial INTEGER NOT NULL,"
    "  taken_upto INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS outbox("
    "  serial INTEGER PRIMARY KEY, msg BLOB NOT NULL, topic_type INTEGER, topic_id TEXT);"
    "CREATE TABLE IF NOT EXISTS rejected("
    "  serial INTEGER PRIMARY KEY, status TEXT NOT NULL, code TEXT NOT NULL,"
    "  reason TEXT NOT NULL, msg BLOB NOT NULL, rejected_ms INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(id, next_serial) VALUES (1, 1 + max("
    "  coalesce((SELECT max(serial) FROM outbox), 0),"
    "  coalesce((SELECT max(serial) FROM rejected), 0)));"
    /* The endpoint's current state: per topic, the last message recorded
     * (what a resync re-sends), with the serial that recorded it. */
    "CREATE TABLE IF NOT EXISTS current("
    "  topic_type INTEGER NOT NULL, topic_id TEXT NOT NULL, serial INTEGER NOT NULL,"
    "  state_id INTEGER NOT NULL, time_ms INTEGER NOT NULL, msg BLOB NOT NULL,"
    "  PRIMARY KEY (topic_type, topic_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tallies("
    "  name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS settings("
    "  name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;";

/* Outboxes written before the cap existed have no topic columns: their rows
 * keep NULL there and are never dropped (not known to be superseded). */
static const char migrate_topic_columns[] =
    "ALTER TABLE outbox ADD COLUMN topic_type INTEGER;"
    "ALTER TABLE outbox ADD COLUMN topic_id TEXT;";
/* ... nor taken_upto: an older sender may have sent any serial already, so
 * every existing one counts as taken (never renumbered). */
static const char migrate_taken[] =
    "ALTER TABLE meta ADD COLUMN taken_upto INTEGER NOT NULL DEFAULT 0;"
    "UPDATE meta SET taken_upto = next_serial - 1;";

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

/* Add the topic columns to an outbox from before the cap. */
static int
migrate_if(qs_outbox_t *ob, const char *probe_sql, const char *fix_sql, char **err)
{
    sqlite3_stmt *probe = NULL;

    if (sqlite3_prepare_v2(ob->db, probe_sql, -1, &probe, NULL) == SQLITE_OK) {
        sqlite3_finalize(probe);
        return 0;
    }
    return sqlite3_exec(ob->db, fix_sql, NULL, NULL, err) == SQLITE_OK ? 0 : -1;
}

static int
migrate(qs_outbox_t *ob, char **err)
{
    if (migrate_if(ob, "SELECT topic_type, topic_id FROM outbox LIMIT 0", migrate_topic_columns,
                   err) != 0 ||
        migrate_if(ob, "SELECT taken_upto FROM meta LIMIT 0", migrate_taken, err) != 0)
        return -1;
    return 0;
}

/* The statements of the current state, the cap and the counters. */
static int
prepare_state(qs_outbox_t *ob)
{
    if (prepare(ob, &ob->cur_put,
                "INSERT INTO current(topic_type, topic_id, serial, state_id, time_ms, msg) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(topic_type, topic_id) DO UPDATE "
                "SET serial = excluded.serial, state_id = excluded.state_id, "
                "time_ms = excluded.time_ms, msg = excluded.msg") != 0 ||
        prepare(ob, &ob->cur_list, "SELECT serial, msg FROM current WHERE ?1 = 0 OR "
                                   "topic_type = ?1 ORDER BY topic_type, topic_id") != 0 ||
        /* CROSS JOIN: walk the outbox in serial order (oldest first) and look
         * each row's topic up in current; superseded = current has a newer
         * serial for it, so the latest state of a topic is never chosen. */
        prepare(ob, &ob->droppable,
                "SELECT o.serial FROM outbox o CROSS JOIN current c "
                "ON c.topic_type = o.topic_type AND c.topic_id = o.topic_id "
                "WHERE o.serial > ?1 AND c.serial > o.serial ORDER BY o.serial LIMIT 1") != 0 ||
        prepare(ob, &ob->drop, "DELETE FROM outbox WHERE serial = ?1") != 0 ||
        prepare(ob, &ob->taken, "SELECT taken_upto FROM meta WHERE id = 1") != 0 ||
        prepare(ob, &ob->mark, "UPDATE meta SET taken_upto = ?1 WHERE id = 1 AND "
                               "taken_upto < ?1") != 0 ||
        prepare(ob, &ob->counter_add,
                "INSERT INTO tallies(name, value) VALUES (?1, ?2) ON CONFLICT(name) "
                "DO UPDATE SET value = value + excluded.value") != 0 ||
        prepare(ob, &ob->counter_get, "SELECT coalesce((SELECT value FROM tallies "
                                      "WHERE name = ?1), 0)") != 0 ||
        prepare(ob, &ob->setting_get, "SELECT coalesce((SELECT value FROM settings "
                                      "WHERE name = ?1), ?2)") != 0 ||
        prepare(ob, &ob->setting_put,
                "INSERT INTO settings(name, value) VALUES (?1, ?2) ON CONFLICT(name) "
                "DO UPDATE SET value = excluded.value") != 0)
        return -1;
    return 0;
}

/* Pragmas and schema. The schema runs in a BEGIN IMMEDIATE transaction, so
 * its one write (meta's first row) never has to upgrade a read snapshot; a
 * SQLITE_BUSY that the busy handler does not cover (a snapshot gone stale,
 * the WAL being reset by `run` in that moment) is retried for up to ~10 s:
 * `report` runs while `run` delivers from the same outbox. */
static int
open_schema(qs_outbox_t *ob, char **err)
{
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_exec(ob->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                      "PRAGMA secure_delete=ON;", NULL, NULL, err);
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(ob->db, "BEGIN IMMEDIATE", NULL, NULL, err);
            if (rc == SQLITE_OK && (rc = sqlite3_exec(ob->db, schema, NULL, NULL, err)) ==
                                       SQLITE_OK)
                rc = sqlite3_exec(ob->db, "COMMIT", NULL, NULL, err);
            if (rc != SQLITE_OK)
                (void)sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
        }
        if (rc == SQLITE_OK)
            return 0;
        if ((rc & 0xff) != SQLITE_BUSY || attempt >= 200)
            return -1;
        sqlite3_free(*err);
        *err = NULL;
        usleep(50000);
    }
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
    if (open_schema(ob, &err) != 0) {
        snprintf(errmsg, errmsg_len, "cannot prepare outbox '%s': %s", path,
                 err ? err : sqlite3_errmsg(ob->db));
        sqlite3_free(err);
        goto fail;
    }
    if (migrate(ob, &err) != 0) {
        snprintf(errmsg, errmsg_len, "cannot upgrade outbox '%s': %s", path,
                 err ? err : sqlite3_errmsg(ob->db));
        sqlite3_free(err);
        goto fail;
    }
    if (prepare(ob, &ob->begin, "BEGIN IMMEDIATE") != 0 ||
        prepare(ob, &ob->commit, "COMMIT") != 0 ||
        prepare(ob, &ob->rollback, "ROLLBACK") != 0 ||
        prepare(ob, &ob->next, "SELECT next_serial FROM meta WHERE id = 1") != 0 ||
        prepare(ob, &ob->insert, "INSERT INTO outbox(serial, msg, topic_type, topic_id) "
                                 "VALUES (?1, ?2, ?3, ?4)") != 0 ||
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
                                "FROM rejected ORDER BY serial") != 0 ||
        prepare_state(ob) != 0) {
        snprintf(errmsg, errmsg_len, "cannot prepare outbox '%s': %s", path,
                 sqlite3_errmsg(ob->db));
        goto fail;
    }
    ob->pack_cap = QS_MAX_MESSAGE_BYTES;
    ob->pack_buf = qs_malloc(ob->pack_cap);
    /* The instance id belongs to the file from its first open, so that a
     * copy of the file (a backup put back) is the same outbox to the store
     * - its resent serials are duplicates - and only a new file is a fresh
     * one (docs/resync.md). */
    {
        uint8_t instance[QS_INSTANCE_BYTES];
        if (qs_outbox_instance(ob, instance) != 0) {
            snprintf(errmsg, errmsg_len, "cannot record the instance id of outbox '%s': %s",
                     path, sqlite3_errmsg(ob->db));
            goto fail;
        }
    }
    /* Every command opens the outbox, so the rejected list never outlives
     * its documented age by more than the time between two commands. */
    if (qs_outbox_expire_rejected(ob, qs_clock_now_ms(&ob->clock), QS_OUTBOX_REJECTED_KEEP_DAYS,
                                  NULL, NULL) != 0)
        log_warn("outbox: cannot expire old rejected messages: %s", sqlite3_errmsg(ob->db));
    return ob;
fail:
    qs_outbox_destroy(&ob);
    return NULL;
}

/* Run a statement without results (BEGIN, COMMIT, ...). */
int
ob_exec(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
ob_query_u64(sqlite3_stmt *st, uint64_t *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int
ob_counter_add(qs_outbox_t *ob, const char *name, uint64_t n)
{
    sqlite3_bind_text(ob->counter_add, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ob->counter_add, 2, (sqlite3_int64)n);
    return ob_exec(ob->counter_add);
}

/* Run one statement with ?1 = v, to completion. */
static int
exec_bound(qs_outbox_t *ob, const char *sql, uint64_t v)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(ob->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)v);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Close the holes drops left above taken: no sender has seen those serials,
 * so they are renumbered taken+1, taken+2, ... in order (through negative
 * values: the primary key must never collide), the current state follows,
 * and next_serial comes back down. The store never sees a gap. */
static int
renumber_untaken(qs_outbox_t *ob, uint64_t taken)
{
    static const char *const steps[] = {
        "DROP TABLE IF EXISTS temp.remap",
        "CREATE TEMP TABLE remap(old INTEGER PRIMARY KEY, new INTEGER NOT NULL)",
        "INSERT INTO temp.remap SELECT serial, ?1 + row_number() OVER (ORDER BY serial) "
        "FROM outbox WHERE serial > ?1",
        "UPDATE outbox SET serial = -(SELECT new FROM temp.remap WHERE old = outbox.serial) "
        "WHERE serial > ?1",
        "UPDATE outbox SET serial = -serial WHERE serial < 0",
        "UPDATE current SET serial = (SELECT new FROM temp.remap WHERE old = current.serial) "
        "WHERE serial > ?1 AND serial IN (SELECT old FROM temp.remap)",
        "UPDATE meta SET next_serial = ?1 + 1 + (SELECT count(*) FROM temp.remap) WHERE id = 1",
        "DROP TABLE temp.remap",
    };

    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (exec_bound(ob, steps[i], taken) != 0)
            return -1;
    return 0;
}

/* Back under the cap after an insert. Over the cap, drop the oldest
 * superseded pending messages that no sender has taken yet (down to 90% of
 * the cap, so that this O(pending) work is not done at every append), then
 * renumber what is left above the taken mark. The message just inserted is
 * its topic's latest, so it is never chosen, and the one it supersedes may
 * be. A taken message is never dropped: the store may hold it already.
 * -1 with errmsg when still over the cap (or on a database error); the
 * caller rolls back. Runs inside the caller's transaction. */
static int
make_room(qs_outbox_t *ob, uint64_t *pending, uint64_t cap, char *errmsg, size_t errmsg_len)
{
    uint64_t target = cap > 10 ? cap - cap / 10 : cap, taken = 0, dropped = 0;

    if (*pending <= cap)
        return 0;
    if (ob_query_u64(ob->taken, &taken) != 0)
        goto db_error;
    while (*pending > target) {
        uint64_t victim = 0;
        int rc;

        sqlite3_bind_int64(ob->droppable, 1, (sqlite3_int64)taken);
        rc = sqlite3_step(ob->droppable);
        if (rc == SQLITE_ROW)
            victim = (uint64_t)sqlite3_column_int64(ob->droppable, 0);
        sqlite3_reset(ob->droppable);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            goto db_error;
        sqlite3_bind_int64(ob->drop, 1, (sqlite3_int64)victim);
        if (ob_exec(ob->drop) != 0)
            goto db_error;
        dropped++;
        (*pending)--;
    }
    if (*pending > cap) {
        snprintf(errmsg, errmsg_len, "outbox full: %llu messages pending (the cap, see "
                 "'qs-producer status --max-pending') and none that no sender has taken is "
                 "superseded by a newer state of its topic; deliver them first (flush or run)",
                 (unsigned long long)cap);
        return -1;
    }
    if (renumber_untaken(ob, taken) != 0 || ob_counter_add(ob, "dropped_superseded", dropped) != 0)
        goto db_error;
    log_info("outbox: at its cap of %llu messages: dropped %llu superseded states",
             (unsigned long long)cap, (unsigned long long)dropped);
    return 0;
db_error:
    snprintf(errmsg, errmsg_len, "outbox: %s", sqlite3_errmsg(ob->db));
    return -1;
}

/* Insert m with the next serial and make it its topic's current state,
 * inside the caller's transaction. */
static int
append_in_tx(qs_outbox_t *ob, Quietstate__StateMessage *m, uint64_t *pending, uint64_t cap,
             uint64_t *serial_out, char *errmsg, size_t errmsg_len)
{
    uint64_t serial;
    size_t len;
    const char *topic = m->topic_id ? m->topic_id : "";

    if (ob_query_u64(ob->next, &serial) != 0 || serial == 0)
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
    sqlite3_bind_int64(ob->insert, 3, m->topic_type);
    sqlite3_bind_text(ob->insert, 4, topic, -1, SQLITE_STATIC);
    if (ob_exec(ob->insert) != 0)
        goto db_error;
    /* 700 (resync) is a request, not a state: never part of a resend. */
    if (m->topic_type != QS_OUTBOX_RESYNC_TOPIC_TYPE) {
        sqlite3_bind_int64(ob->cur_put, 1, m->topic_type);
        sqlite3_bind_text(ob->cur_put, 2, topic, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ob->cur_put, 3, (sqlite3_int64)serial);
        sqlite3_bind_int64(ob->cur_put, 4, m->state_id);
        sqlite3_bind_int64(ob->cur_put, 5, m->time_utc_ms);
        sqlite3_bind_blob(ob->cur_put, 6, ob->pack_buf, (int)len, SQLITE_STATIC);
        if (ob_exec(ob->cur_put) != 0)
            goto db_error;
    }
    sqlite3_bind_int64(ob->bump, 1, (sqlite3_int64)(serial + 1));
    if (ob_exec(ob->bump) != 0)
        goto db_error;
    sqlite3_clear_bindings(ob->insert);
    sqlite3_clear_bindings(ob->cur_put);
    (*pending)++;
    if (make_room(ob, pending, cap, errmsg, errmsg_len) != 0)
        return -1;
    *serial_out = serial;
    return 0;
db_error:
    snprintf(errmsg, errmsg_len, "outbox: %s", sqlite3_errmsg(ob->db));
    sqlite3_clear_bindings(ob->insert);
    sqlite3_clear_bindings(ob->cur_put);
    return -1;
}

int
qs_outbox_append_many(qs_outbox_t *ob, Quietstate__StateMessage *const *msgs, size_t n,
                      uint64_t *first_serial, char *errmsg, size_t errmsg_len)
{
    uint64_t pending = 0, cap = 0, serial = 0;

    *first_serial = 0;
    if (n == 0)
        return 0;
    if (ob_exec(ob->begin) != 0) {
        snprintf(errmsg, errmsg_len, "outbox: cannot begin: %s", sqlite3_errmsg(ob->db));
        return -1;
    }
    if (ob_query_u64(ob->count, &pending) != 0 || qs_outbox_max_pending(ob, &cap) != 0) {
        snprintf(errmsg, errmsg_len, "outbox: %s", sqlite3_errmsg(ob->db));
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (append_in_tx(ob, msgs[i], &pending, cap, &serial, errmsg, errmsg_len) != 0)
            goto fail;
    /* A drop at the cap may have renumbered the new messages: they are the
     * last n serials (consecutive, in order). */
    if (ob_query_u64(ob->next, &serial) != 0) {
        snprintf(errmsg, errmsg_len, "outbox: %s", sqlite3_errmsg(ob->db));
        goto fail;
    }
    *first_serial = serial - n;
    if (ob_exec(ob->commit) != 0) {
        snprintf(errmsg, errmsg_len, "outbox: cannot commit: %s", sqlite3_errmsg(ob->db));
        goto fail;
    }
    return 0;
fail:
    (void)ob_exec(ob->rollback);
    *first_serial = 0;
    return -1;
}

int
qs_outbox_append(qs_outbox_t *ob, Quietstate__StateMessage *m, uint64_t *serial_out,
                 char *errmsg, size_t errmsg_len)
{
    return qs_outbox_append_many(ob, &m, 1, serial_out, errmsg, errmsg_len);
}

/* Copy the packed message of the take statement's current row into buf at
 * *used with its serial field set to the row's serial (a renumbered row's
 * blob still has its old one). 0, 1 when it does not fit, -1 corrupt. */
static int
take_row(qs_outbox_t *ob, uint64_t serial, uint8_t *buf, size_t buf_cap, size_t *used,
         size_t *len_out)
{
    Quietstate__StateMessage *m = quietstate__state_message__unpack(
        NULL, (size_t)sqlite3_column_bytes(ob->take, 1), sqlite3_column_blob(ob->take, 1));
    size_t len;

    if (m == NULL)
        return -1;
    m->serial = serial;
    len = quietstate__state_message__get_packed_size(m);
    if (len > buf_cap - *used) {
        quietstate__state_message__free_unpacked(m, NULL);
        return 1;
    }
    quietstate__state_message__pack(m, buf + *used);
    quietstate__state_message__free_unpacked(m, NULL);
    *len_out = len;
    *used += len;
    return 0;
}

int
qs_outbox_take(qs_outbox_t *ob, uint64_t after, qs_msgref_t *refs, size_t max_refs,
               uint8_t *buf, size_t buf_cap, size_t *n_out)
{
    size_t n = 0, used = 0;
    int rc = SQLITE_DONE, fit = 0;

    *n_out = 0;
    /* One write transaction: what is read here is marked taken before any
     * append can renumber it (make_room never touches taken serials). */
    if (ob_exec(ob->begin) != 0) {
        log_error("outbox: cannot read pending messages: %s", sqlite3_errmsg(ob->db));
        return -1;
    }
    sqlite3_bind_int64(ob->take, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(ob->take, 2, (sqlite3_int64)max_refs);
    while (n < max_refs && (rc = sqlite3_step(ob->take)) == SQLITE_ROW) {
        uint64_t serial = (uint64_t)sqlite3_column_int64(ob->take, 0);
        size_t off = used, len = 0;
        fit = take_row(ob, serial, buf, buf_cap, &used, &len);
        if (fit != 0)
            break;
        refs[n] = (qs_msgref_t){ serial, off, len };
        n++;
    }
    sqlite3_reset(ob->take);
    if (fit < 0 || (n < max_refs && fit == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)) {
        log_error("outbox: cannot read pending messages: %s",
                  fit < 0 ? "a message does not decode" : sqlite3_errmsg(ob->db));
        goto fail;
    }
    if (n == 0 && fit > 0) {
        log_error("outbox: message too large for a batch buffer of %zu bytes", buf_cap);
        goto fail;
    }
    if (n > 0) {
        sqlite3_bind_int64(ob->mark, 1, (sqlite3_int64)refs[n - 1].serial);
        if (ob_exec(ob->mark) != 0) {
            log_error("outbox: cannot mark messages taken: %s", sqlite3_errmsg(ob->db));
            goto fail;
        }
    }
    if (ob_exec(ob->commit) != 0) {
        log_error("outbox: cannot mark messages taken: %s", sqlite3_errmsg(ob->db));
        goto fail;
    }
    *n_out = n;
    return 0;
fail:
    (void)ob_exec(ob->rollback);
    return -1;
}

int
qs_outbox_ack(qs_outbox_t *ob, uint64_t committed)
{
    sqlite3_bind_int64(ob->ack, 1, (sqlite3_int64)committed);
    if (ob_exec(ob->ack) != 0) {
        log_error("outbox: cannot delete acked messages: %s", sqlite3_errmsg(ob->db));
        return -1;
    }
    return 0;
}

int
qs_outbox_reject(qs_outbox_t *ob, uint64_t serial, Quietstate__Status status,
                 Quietstate__Code code, const char *reason)
{
    if (ob_exec(ob->begin) != 0)
        goto db_error;
    sqlite3_bind_int64(ob->rej_copy, 1, (sqlite3_int64)serial);
    sqlite3_bind_text(ob->rej_copy, 2, qs_status_name(status), -1, SQLITE_STATIC);
    sqlite3_bind_text(ob->rej_copy, 3, qs_code_name(code), -1, SQLITE_STATIC);
    sqlite3_bind_text(ob->rej_copy, 4, reason ? reason : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ob->rej_copy, 5, qs_clock_now_ms(&ob->clock));
    sqlite3_bind_int64(ob->rej_delete, 1, (sqlite3_int64)serial);
    if (ob_exec(ob->rej_copy) != 0 || ob_exec(ob->rej_delete) != 0 ||
        ob_exec(ob->commit) != 0) {
        sqlite3_clear_bindings(ob->rej_copy);
        (void)ob_exec(ob->rollback);
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
    return ob_query_u64(ob->count, count);
}

int
qs_outbox_rejected_count(qs_outbox_t *ob, uint64_t *count)
{
    return ob_query_u64(ob->rcount, count);
}

int
qs_outbox_next_serial(qs_outbox_t *ob, uint64_t *next)
{
    return ob_query_u64(ob->next, next);
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
    qs_outbox_t *ob = ctx;

    /* A resync due by now goes in first (its failure waits: logged). */
    (void)qs_outbox_resync_run_due(ob, qs_clock_now_ms(&ob->clock));
    return qs_outbox_take(ob, after, refs, max_refs, buf, buf_cap, n_out);
}

static size_t
source_fields(void *ctx, uint64_t first, uint64_t last, uint8_t *buf)
{
    return qs_outbox_batch_fields(ctx, first, last, buf);
}

static int
source_resync(void *ctx, uint64_t gen, uint64_t delay_ms)
{
    qs_outbox_t *ob = ctx;

    return qs_outbox_resync_request(ob, gen, delay_ms, qs_clock_now_ms(&ob->clock));
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
    qs_source_t s = { ob, source_take, source_ack, source_reject, source_fields,
                      source_resync };
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
    sqlite3_finalize(ob->cur_put);
    sqlite3_finalize(ob->cur_list);
    sqlite3_finalize(ob->droppable);
    sqlite3_finalize(ob->drop);
    sqlite3_finalize(ob->taken);
    sqlite3_finalize(ob->mark);
    sqlite3_finalize(ob->counter_add);
    sqlite3_finalize(ob->counter_get);
    sqlite3_finalize(ob->setting_get);
    sqlite3_finalize(ob->setting_put);
    sqlite3_close(ob->db);
    if (ob->pack_buf != NULL)
        sodium_memzero(ob->pack_buf, ob->pack_cap);
    free(ob->pack_buf);
    free(ob);
    *ob_p = NULL;
}
