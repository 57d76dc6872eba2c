/* outbox_state.c - the outbox's hygiene and the endpoint's current state
 * (see outbox.h): the cap setting, status counts, iterating and re-sending
 * the current state (the resync primitive), expiring the rejected list.
 */
#include "outbox.h"
#include "outbox_priv.h"

#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
qs_outbox_max_pending(qs_outbox_t *ob, uint64_t *max)
{
    sqlite3_bind_text(ob->setting_get, 1, "max_pending", -1, SQLITE_STATIC);
    sqlite3_bind_int64(ob->setting_get, 2, QS_OUTBOX_DEFAULT_MAX_PENDING);
    return ob_query_u64(ob->setting_get, max);
}

int
qs_outbox_set_max_pending(qs_outbox_t *ob, uint64_t max)
{
    if (max < 1 || max > QS_OUTBOX_MAX_MAX_PENDING)
        return -1;
    sqlite3_bind_text(ob->setting_put, 1, "max_pending", -1, SQLITE_STATIC);
    sqlite3_bind_int64(ob->setting_put, 2, (sqlite3_int64)max);
    return ob_exec(ob->setting_put);
}

static int
counter_get(qs_outbox_t *ob, const char *name, uint64_t *out)
{
    sqlite3_bind_text(ob->counter_get, 1, name, -1, SQLITE_STATIC);
    return ob_query_u64(ob->counter_get, out);
}

static int
count_sql(qs_outbox_t *ob, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(ob->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    rc = ob_query_u64(st, out);
    sqlite3_finalize(st);
    return rc;
}

int
qs_outbox_status(qs_outbox_t *ob, qs_outbox_status_t *st)
{
    memset(st, 0, sizeof *st);
    if (ob_query_u64(ob->count, &st->pending) != 0 || ob_query_u64(ob->rcount, &st->rejected) != 0 ||
        ob_query_u64(ob->next, &st->next_serial) != 0 ||
        qs_outbox_max_pending(ob, &st->max_pending) != 0 ||
        ob_query_u64(ob->taken, &st->taken_upto) != 0 ||
        counter_get(ob, "dropped_superseded", &st->dropped_superseded) != 0 ||
        counter_get(ob, "rejected_erased", &st->rejected_erased_total) != 0 ||
        counter_get(ob, "rejected_deleted", &st->rejected_deleted_total) != 0 ||
        count_sql(ob, "SELECT count(*) FROM current", &st->current_topics) != 0 ||
        count_sql(ob, "SELECT count(*) FROM rejected WHERE length(msg) = 0",
                  &st->rejected_erased) != 0)
        return -1;
    return 0;
}

int
qs_outbox_current_each(qs_outbox_t *ob, uint32_t topic_type,
                       int (*cb)(void *ctx, const Quietstate__StateMessage *m), void *ctx)
{
    int rc;

    sqlite3_bind_int64(ob->cur_list, 1, topic_type);
    while ((rc = sqlite3_step(ob->cur_list)) == SQLITE_ROW) {
        Quietstate__StateMessage *m = quietstate__state_message__unpack(
            NULL, (size_t)sqlite3_column_bytes(ob->cur_list, 1),
            sqlite3_column_blob(ob->cur_list, 1));
        int stop;

        if (m == NULL) {
            log_error("outbox: a current-state row does not decode");
            rc = SQLITE_CORRUPT;
            break;
        }
        m->serial = (uint64_t)sqlite3_column_int64(ob->cur_list, 0);
        stop = cb(ctx, m);
        quietstate__state_message__free_unpacked(m, NULL);
        if (stop != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(ob->cur_list);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A growable array of unpacked messages (the current state, for a resend). */
typedef struct {
    Quietstate__StateMessage **v;
    size_t n, cap;
} msg_list_t;

static int
collect_msg(void *ctx, const Quietstate__StateMessage *m)
{
    msg_list_t *l = ctx;
    size_t len = quietstate__state_message__get_packed_size(m);
    uint8_t *buf = qs_malloc(len ? len : 1);

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = qs_realloc(l->v, l->cap * sizeof *l->v);
    }
    quietstate__state_message__pack(m, buf);
    l->v[l->n] = quietstate__state_message__unpack(NULL, len, buf);
    free(buf);
    if (l->v[l->n] == NULL)
        return -1;
    l->n++;
    return 0;
}

int
qs_outbox_resend_current(qs_outbox_t *ob, uint64_t *n_out, uint64_t *first_serial,
                         char *errmsg, size_t errmsg_len)
{
    msg_list_t l = { NULL, 0, 0 };
    int rc = -1;

    *n_out = 0;
    *first_serial = 0;
    /* Read first, then append: the appends rewrite the rows being read. The
     * whole resend is one transaction, so a crash leaves none or all of it. */
    if (qs_outbox_current_each(ob, 0, collect_msg, &l) != 0) {
        snprintf(errmsg, errmsg_len, "outbox: cannot read the current state: %s",
                 sqlite3_errmsg(ob->db));
    } else if (qs_outbox_append_many(ob, l.v, l.n, first_serial, errmsg, errmsg_len) == 0) {
        *n_out = l.n;
        rc = 0;
        log_info("outbox: resend of the current state: %zu messages from serial %llu", l.n,
                 (unsigned long long)*first_serial);
    }
    for (size_t i = 0; i < l.n; i++)
        quietstate__state_message__free_unpacked(l.v[i], NULL);
    free(l.v);
    return rc;
}

int
qs_outbox_expire_rejected(qs_outbox_t *ob, int64_t now_ms, uint32_t keep_days,
                          uint64_t *erased, uint64_t *deleted)
{
    static const char erase_sql[] =
        "UPDATE rejected SET msg = x'', reason = '' WHERE rejected_ms < ?1 AND "
        "(length(msg) > 0 OR reason <> '')";
    static const char delete_sql[] = "DELETE FROM rejected WHERE rejected_ms < ?1";
    int64_t day = 86400000LL;
    uint64_t n_erased = 0, n_deleted = 0;
    sqlite3_stmt *st = NULL;
    int ok = 0;

    if (ob_exec(ob->begin) != 0)
        return -1;
    if (sqlite3_prepare_v2(ob->db, erase_sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now_ms - (int64_t)keep_days * day);
        ok = sqlite3_step(st) == SQLITE_DONE;
        n_erased = (uint64_t)sqlite3_changes(ob->db);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (ok && sqlite3_prepare_v2(ob->db, delete_sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now_ms - (int64_t)QS_OUTBOX_REJECTED_REMNANT_DAYS * day);
        ok = sqlite3_step(st) == SQLITE_DONE;
        n_deleted = (uint64_t)sqlite3_changes(ob->db);
    } else {
        ok = 0;
    }
    sqlite3_finalize(st);
    if (!ok || (n_erased > 0 && ob_counter_add(ob, "rejected_erased", n_erased) != 0) ||
        (n_deleted > 0 && ob_counter_add(ob, "rejected_deleted", n_deleted) != 0) ||
        ob_exec(ob->commit) != 0) {
        (void)ob_exec(ob->rollback);
        return -1;
    }
    if (n_erased > 0 || n_deleted > 0)
        log_info("outbox: rejected list expiry: %llu erased, %llu deleted",
                 (unsigned long long)n_erased, (unsigned long long)n_deleted);
    if (erased != NULL)
        *erased = n_erased;
    if (deleted != NULL)
        *deleted = n_deleted;
    return 0;
}

