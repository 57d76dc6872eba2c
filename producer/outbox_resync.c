/* outbox_resync.c - the outbox's side of a resync: its instance id and the store's requests.
 *
 * docs/resync.md. The instance id is 16 random bytes drawn when the outbox
 * file is first opened and kept in its settings (two 64-bit halves): a new
 * outbox file under an enrolled key has a new one, which tells the store
 * that its serials restarted; a copy of the file keeps it. A request (generation, due
 * time) is kept in settings too, so a restart between hearing it and
 * running it loses nothing; each generation runs once: the current state
 * is appended again (qs_outbox_resend_current) and its serial range
 * remembered, so the batches that carry it are marked.
 */
#include "outbox_priv.h"

#include "batchfields.h"
#include "qs_log.h"

#include <sodium.h>
#include <string.h>

static int
setting_get(qs_outbox_t *ob, const char *name, int64_t dflt, int64_t *out)
{
    int rc;

    sqlite3_bind_text(ob->setting_get, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ob->setting_get, 2, dflt);
    rc = sqlite3_step(ob->setting_get);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(ob->setting_get, 0);
    sqlite3_reset(ob->setting_get);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int
setting_put(qs_outbox_t *ob, const char *name, int64_t value)
{
    sqlite3_bind_text(ob->setting_put, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ob->setting_put, 2, value);
    return ob_exec(ob->setting_put);
}

int
qs_outbox_instance(qs_outbox_t *ob, uint8_t out[QS_INSTANCE_BYTES])
{
    int64_t hi = 0, lo = 0;
    uint8_t fresh[QS_INSTANCE_BYTES];

    if (ob->has_instance) {
        memcpy(out, ob->instance, QS_INSTANCE_BYTES);
        return 0;
    }
    if (ob_exec(ob->begin) != 0)
        return -1;
    if (setting_get(ob, "instance_hi", 0, &hi) != 0 || setting_get(ob, "instance_lo", 0, &lo) != 0)
        goto fail;
    if (hi == 0 && lo == 0) {
        randombytes_buf(fresh, sizeof fresh);
        memcpy(&hi, fresh, 8);
        memcpy(&lo, fresh + 8, 8);
        if (hi == 0)
            hi = 1;
        if (setting_put(ob, "instance_hi", hi) != 0 || setting_put(ob, "instance_lo", lo) != 0)
            goto fail;
    }
    if (ob_exec(ob->commit) != 0)
        goto fail;
    memcpy(ob->instance, &hi, 8);
    memcpy(ob->instance + 8, &lo, 8);
    ob->has_instance = 1;
    memcpy(out, ob->instance, QS_INSTANCE_BYTES);
    return 0;
fail:
    (void)ob_exec(ob->rollback);
    return -1;
}

int
qs_outbox_resync_request(qs_outbox_t *ob, uint64_t gen, uint64_t delay_ms, int64_t now_ms)
{
    int64_t have = 0;

    if (gen == 0 || gen > INT64_MAX || setting_get(ob, "resync_gen", 0, &have) != 0)
        return -1;
    if ((uint64_t)have == gen)
        return 0;   /* heard before: it runs once */
    if (delay_ms > INT64_MAX / 2)
        delay_ms = INT64_MAX / 2;
    if (ob_exec(ob->begin) != 0)
        return -1;
    if (setting_put(ob, "resync_gen", (int64_t)gen) != 0 ||
        setting_put(ob, "resync_due_ms", now_ms + (int64_t)delay_ms) != 0 ||
        setting_put(ob, "resync_pending", 1) != 0 || ob_exec(ob->commit) != 0) {
        (void)ob_exec(ob->rollback);
        return -1;
    }
    log_info("outbox: the store asks for a full resync (generation %llu) in %llu ms",
             (unsigned long long)gen, (unsigned long long)delay_ms);
    return qs_outbox_resync_run_due(ob, now_ms);
}

int
qs_outbox_resync_run_due(qs_outbox_t *ob, int64_t now_ms)
{
    int64_t pending = 0, due = 0;
    uint64_t n = 0, first = 0;
    char errmsg[256];

    if (setting_get(ob, "resync_pending", 0, &pending) != 0)
        return -1;
    if (!pending)
        return 0;
    if (setting_get(ob, "resync_due_ms", 0, &due) != 0)
        return -1;
    if (due > now_ms)
        return 0;
    /* Two transactions: the resend, then its range. A crash between them
     * re-runs the resend (more messages, same states: harmless). */
    if (qs_outbox_resend_current(ob, &n, &first, errmsg, sizeof errmsg) != 0) {
        log_warn("%s: the resync waits for room", errmsg);
        return -1;
    }
    if (ob_exec(ob->begin) != 0)
        return -1;
    if (setting_put(ob, "resync_first", (int64_t)first) != 0 ||
        setting_put(ob, "resync_last", n ? (int64_t)(first + n - 1) : 0) != 0 ||
        setting_put(ob, "resync_pending", 0) != 0 ||
        ob_counter_add(ob, "resyncs", 1) != 0 || ob_exec(ob->commit) != 0) {
        (void)ob_exec(ob->rollback);
        return -1;
    }
    return n > 0;
}

size_t
qs_outbox_batch_fields(qs_outbox_t *ob, uint64_t first, uint64_t last, uint8_t *buf)
{
    int64_t gen = 0, rs_first = 0, rs_last = 0;
    uint8_t inst[QS_INSTANCE_BYTES];

    if (qs_outbox_instance(ob, inst) != 0)
        return 0;   /* no id: the store cannot tell a restart, nothing worse */
    if (setting_get(ob, "resync_gen", 0, &gen) != 0 ||
        setting_get(ob, "resync_first", 0, &rs_first) != 0 ||
        setting_get(ob, "resync_last", 0, &rs_last) != 0)
        gen = 0;
    return qs_batch_fields(buf, inst, first, last, (uint64_t)gen, (uint64_t)rs_first,
                           (uint64_t)rs_last);
}
