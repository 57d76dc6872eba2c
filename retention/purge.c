/* purge.c - the retention decision (what is expired) and one purge pass over store.db.
 *
 * A pass works in this order, each step in its own short transaction:
 *   1. list every history partition (registered or merely present as a table);
 *   2. for each one whose whole day is expired: count, DROP, COMMIT, then
 *      shred its key (drop first: a crash in between leaves a key without
 *      data, which step 4 of the next pass shreds);
 *   3. for each topic, the partition that straddles the cutoff: DELETE its
 *      rows older than the cutoff (no index needed: one day of one topic);
 *   4. shred every orphan key (no partition left, expired);
 *   5. latest: DELETE rows not reported since the cutoff, per topic type,
 *      QS_PURGE_LATEST_BATCH rows per transaction (index latest_by_report);
 *   6. scrub: incremental vacuum + WAL checkpoint TRUNCATE.
 * The stop flag is polled between steps, partitions and batches.
 */
#include "purge.h"
#include "qs_clock.h"
#include "qs_log.h"
#include "qs_sqlutil.h"
#include "storedb_sqlite.h" /* TODO(store-interface): must go */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define STOPPED(stop) ((stop) != NULL && *(stop))

static int
table_exists(sqlite3 *sql, const char *name)
{
    sqlite3_stmt *st = NULL;
    int found = 0;

    if (sqlite3_prepare_v2(sql, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static int
count_rows(sqlite3 *sql, const char *table, int64_t *rows)
{
    char q[128];

    *rows = 0;
    if (snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\"", table) >= (int)sizeof q)
        return -1;
    return qs_sql_int64(sql, q, rows);   /* count(*) always has its one row */
}

static void
day_text(char *out, size_t out_len, int64_t epoch)
{
    char iso[32];
    if (qs_time_format_iso8601(iso, sizeof iso, epoch * QS_MS_PER_DAY, 0) == 0 && out_len > 10)
        snprintf(out, out_len, "%.10s", iso);
    else
        snprintf(out, out_len, "day %lld", (long long)epoch);
}

static void note_error(qs_purge_counts_t *c, char *errmsg, size_t errmsg_len,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Log a failed step; the first one also goes to errmsg. */
static void
note_error(qs_purge_counts_t *c, char *errmsg, size_t errmsg_len, const char *fmt, ...)
{
    char line[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_error("%s", line);
    if (c->errors++ == 0 && errmsg_len > 0)
        snprintf(errmsg, errmsg_len, "%s", line);
}

struct keylist {
    qs_partition_t *keys;
    size_t n, cap;
};

static int
collect_key(void *ctx, int64_t epoch, uint32_t topic_type)
{
    struct keylist *kl = ctx;
    if (kl->n == kl->cap) {
        kl->cap = kl->cap ? kl->cap * 2 : 16;
        kl->keys = qs_realloc(kl->keys, kl->cap * sizeof *kl->keys);
    }
    kl->keys[kl->n].epoch = epoch;
    kl->keys[kl->n].topic_type = topic_type;
    kl->keys[kl->n].rows = 0;
    kl->n++;
    return 0;
}

/* Index of a key in kl, or -1. */
static ssize_t
key_index(const struct keylist *kl, int64_t epoch, uint32_t topic_type)
{
    for (size_t i = 0; i < kl->n; i++)
        if (kl->keys[i].epoch == epoch && kl->keys[i].topic_type == topic_type)
            return (ssize_t)i;
    return -1;
}

/* Shred one key; count it when its file existed (kl lists the files found
 * at the start of the pass; rows = 1 marks a key shredded since). */
static int
shred_key(qs_epochkeys_t *ks, struct keylist *kl, int64_t epoch, uint32_t topic_type,
          qs_purge_counts_t *c, char *err, size_t err_len)
{
    ssize_t i = key_index(kl, epoch, topic_type);

    if (qs_epochkeys_shred(ks, epoch, topic_type, err, err_len) != 0)
        return -1;
    if (i >= 0 && kl->keys[i].rows == 0) {
        kl->keys[i].rows = 1;
        c->keys_shredded++;
        return 1;
    }
    return 0;
}

/* Step 2: drop one whole partition, commit, then shred its key. */
static void
drop_partition(qs_storedb_t *db, qs_epochkeys_t *ks, struct keylist *kl,
               const qs_partition_t *part, qs_purge_counts_t *c, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    char name[64], day[32], err[512];
    int64_t rows = 0;

    if (qs_storedb_partition_name(name, sizeof name, part->epoch, part->topic_type) != 0)
        return;
    day_text(day, sizeof day, part->epoch);
    if (qs_storedb_begin(db) != 0) {
        note_error(c, errmsg, errmsg_len, "cannot drop expired partition '%s': %s", name,
                   sqlite3_errmsg(sql));
        return;
    }
    if (table_exists(sql, name) == 1 && count_rows(sql, name, &rows) != 0) {
        note_error(c, errmsg, errmsg_len, "cannot count rows of expired partition '%s': %s",
                   name, sqlite3_errmsg(sql));
        qs_storedb_rollback(db);
        return;
    }
    if (qs_storedb_partition_drop(db, part->epoch, part->topic_type) != 0 ||
        qs_storedb_commit(db) != 0) {
        note_error(c, errmsg, errmsg_len, "cannot drop expired partition '%s': %s", name,
                   sqlite3_errmsg(sql));
        qs_storedb_rollback(db);
        return;
    }
    c->partitions_dropped++;
    c->history_rows_deleted += rows;
    log_info("dropped expired partition '%s' (%s, topic %u): %lld rows", name, day,
             part->topic_type, (long long)rows);
    switch (shred_key(ks, kl, part->epoch, part->topic_type, c, err, sizeof err)) {
    case -1:
        note_error(c, errmsg, errmsg_len, "cannot shred key of dropped partition '%s': %s",
                   name, err);
        break;
    case 1:
        log_info("shredded data key of dropped partition '%s'", name);
        break;
    default:
        break;
    }
}

/* Step 3: delete the rows of the partition straddling the cutoff that are
 * older than the cutoff. */
static void
trim_partition(qs_storedb_t *db, const qs_partition_t *part, int64_t cutoff_ms,
               qs_purge_counts_t *c, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    char name[64], q[256], cut[32];
    int64_t deleted;

    if (qs_storedb_partition_name(name, sizeof name, part->epoch, part->topic_type) != 0)
        return;
    if (qs_storedb_begin(db) != 0) {
        note_error(c, errmsg, errmsg_len, "cannot trim partition '%s': %s", name,
                   sqlite3_errmsg(sql));
        return;
    }
    snprintf(q, sizeof q, "DELETE FROM \"%s\" WHERE time_ms < ?1", name);
    if (table_exists(sql, name) != 1) {
        qs_storedb_rollback(db);
        return;
    }
    if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, cutoff_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    deleted = sqlite3_changes(sql);
    if (deleted > 0) {
        if (sqlite3_prepare_v2(sql, "UPDATE partitions SET rows = max(rows - ?3, 0) "
                               "WHERE epoch = ?1 AND topic_type = ?2", -1, &st, NULL) != SQLITE_OK)
            goto fail;
        sqlite3_bind_int64(st, 1, part->epoch);
        sqlite3_bind_int64(st, 2, part->topic_type);
        sqlite3_bind_int64(st, 3, deleted);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
        sqlite3_finalize(st);
        st = NULL;
    }
    if (qs_storedb_commit(db) != 0)
        goto fail;
    if (deleted > 0) {
        c->history_rows_deleted += deleted;
        if (qs_time_format_iso8601(cut, sizeof cut, cutoff_ms, 0) != 0)
            snprintf(cut, sizeof cut, "?");
        log_info("deleted %lld expired rows (before %s) from partition '%s'",
                 (long long)deleted, cut, name);
    }
    return;
fail:
    note_error(c, errmsg, errmsg_len, "cannot trim partition '%s': %s", name,
               sqlite3_errmsg(sql));
    sqlite3_finalize(st);
    qs_storedb_rollback(db);
}

/* Step 4: shred every key of an expired partition that no longer exists. */
static void
shred_orphans(qs_storedb_t *db, qs_epochkeys_t *ks, struct keylist *kl, const qs_policy_t *p,
              int64_t now_ms, const volatile sig_atomic_t *stop, qs_purge_counts_t *c,
              char *errmsg, size_t errmsg_len)
{
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    char err[512], name[64];

    if (qs_storedb_partitions_present(db, &parts, &n_parts) != 0) {
        note_error(c, errmsg, errmsg_len, "cannot list partitions for the orphan key sweep");
        return;
    }
    for (size_t i = 0; i < kl->n && !STOPPED(stop); i++) {
        const qs_partition_t k = kl->keys[i];
        int present = 0;

        if (k.rows != 0 || !qs_policy_partition_expired(p, k.epoch, k.topic_type, now_ms, 0))
            continue;
        for (size_t j = 0; j < n_parts && !present; j++)
            present = parts[j].epoch == k.epoch && parts[j].topic_type == k.topic_type;
        if (present)
            continue;   /* its drop failed this pass: the key stays with its data */
        if (qs_storedb_partition_name(name, sizeof name, k.epoch, k.topic_type) != 0)
            continue;
        if (shred_key(ks, kl, k.epoch, k.topic_type, c, err, sizeof err) < 0)
            note_error(c, errmsg, errmsg_len, "cannot shred orphan key of '%s': %s", name, err);
        else
            log_info("shredded orphan data key of expired partition '%s'", name);
    }
    free(parts);
}

/* Step 5 for one topic (or, with topic_type 0, every topic type not listed
 * in p->topics): delete expired latest rows in batches. */
static void
purge_latest(qs_storedb_t *db, const qs_policy_t *p, uint32_t topic_type, int64_t cutoff_ms,
             const volatile sig_atomic_t *stop, qs_purge_counts_t *c,
             char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    sqlite3_stmt *st = NULL;
    char where[512], q[1024], cut[32], what[40];
    size_t off = 0;
    int64_t total = 0;

    if (topic_type != 0) {
        off = (size_t)snprintf(where, sizeof where, "topic_type = %u", topic_type);
    } else if (p->n_topics == 0) {
        off = (size_t)snprintf(where, sizeof where, "1");
    } else {
        off = (size_t)snprintf(where, sizeof where, "topic_type NOT IN (");
        for (size_t i = 0; i < p->n_topics && off < sizeof where; i++)
            off += (size_t)snprintf(where + off, sizeof where - off, "%s%u", i ? ", " : "",
                                    p->topics[i].topic_type);
        if (off < sizeof where)
            off += (size_t)snprintf(where + off, sizeof where - off, ")");
    }
    QS_ASSERT(off < sizeof where);
    if (snprintf(q, sizeof q,
                 "DELETE FROM latest WHERE (client_id, topic_type, topic_id) IN "
                 "(SELECT client_id, topic_type, topic_id FROM latest "
                 " WHERE report_ms < ?1 AND %s LIMIT %d)", where,
                 QS_PURGE_LATEST_BATCH) >= (int)sizeof q)
        QS_ASSERT(!"latest purge query too long");
    if (topic_type != 0)
        snprintf(what, sizeof what, "%u", topic_type);
    else
        snprintf(what, sizeof what, "types under the default age");
    if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK) {
        note_error(c, errmsg, errmsg_len, "cannot prepare latest purge for topic %s: %s", what,
                   sqlite3_errmsg(sql));
        return;
    }
    for (;;) {
        int64_t n;
        if (STOPPED(stop)) {
            c->interrupted = 1;
            break;
        }
        if (qs_storedb_begin(db) != 0)
            goto fail;
        sqlite3_bind_int64(st, 1, cutoff_ms);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_reset(st);
            qs_storedb_rollback(db);
            goto fail;
        }
        sqlite3_reset(st);
        n = sqlite3_changes(sql);
        if (qs_storedb_commit(db) != 0) {
            qs_storedb_rollback(db);
            goto fail;
        }
        total += n;
        c->latest_rows_deleted += n;
        if (n < QS_PURGE_LATEST_BATCH)
            break;
    }
    sqlite3_finalize(st);
    if (total > 0) {
        if (qs_time_format_iso8601(cut, sizeof cut, cutoff_ms, 0) != 0)
            snprintf(cut, sizeof cut, "?");
        log_info("deleted %lld latest rows of topic %s not reported since %s",
                 (long long)total, what, cut);
    }
    return;
fail:
    note_error(c, errmsg, errmsg_len, "cannot delete expired latest rows of topic %s: %s", what,
               sqlite3_errmsg(sql));
    sqlite3_finalize(st);
}

int
qs_purge_pass(qs_storedb_t *db, qs_epochkeys_t *ks, const qs_policy_t *p, int64_t now_ms,
              const volatile sig_atomic_t *stop, qs_purge_counts_t *counts,
              char *errmsg, size_t errmsg_len)
{
    struct keylist kl = { NULL, 0, 0 };
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    char err[512];

    memset(counts, 0, sizeof *counts);
    if (errmsg_len > 0)
        errmsg[0] = '\0';
    if (qs_epochkeys_each(ks, collect_key, &kl) != 0)
        note_error(counts, errmsg, errmsg_len, "cannot list epoch keys");
    if (qs_storedb_partitions_present(db, &parts, &n_parts) != 0) {
        note_error(counts, errmsg, errmsg_len, "cannot list history partitions: %s",
                   sqlite3_errmsg(qs_storedb_sqlite(db)));
    }
    /* 2 and 3: whole partitions, then the straddling one of each topic. */
    for (size_t i = 0; i < n_parts; i++) {
        const qs_partition_t *part = &parts[i];
        int64_t cutoff = qs_policy_cutoff_ms(p, part->topic_type, now_ms);

        if (STOPPED(stop)) {
            counts->interrupted = 1;
            break;
        }
        if (qs_policy_partition_expired(p, part->epoch, part->topic_type, now_ms, 0))
            drop_partition(db, ks, &kl, part, counts, errmsg, errmsg_len);
        else if (part->epoch == qs_epoch_of(cutoff))
            trim_partition(db, part, cutoff, counts, errmsg, errmsg_len);
    }
    free(parts);
    /* 4: keys left behind by a crash between a drop and its shred. */
    if (!STOPPED(stop))
        shred_orphans(db, ks, &kl, p, now_ms, stop, counts, errmsg, errmsg_len);
    /* 5: latest, per topic with its own age, then the default for the rest. */
    for (size_t i = 0; i < p->n_topics && !STOPPED(stop); i++)
        purge_latest(db, p, p->topics[i].topic_type,
                     qs_policy_cutoff_ms(p, p->topics[i].topic_type, now_ms), stop, counts,
                     errmsg, errmsg_len);
    if (!STOPPED(stop))
        purge_latest(db, p, 0, qs_policy_cutoff_ms(p, 0, now_ms), stop,
                     counts, errmsg, errmsg_len);
    free(kl.keys);
    if (STOPPED(stop))
        counts->interrupted = 1;
    /* 6: scrub, even when stopping, once something was deleted. A pass that
     * deleted nothing still scrubs (unless stopping) so that an earlier
     * pass's unfinished scrub (WAL busy for 10 s) is completed. */
    if (!counts->interrupted || counts->partitions_dropped > 0 ||
        counts->history_rows_deleted > 0 || counts->latest_rows_deleted > 0) {
        if (qs_storedb_scrub(db, err, sizeof err) != 0)
            note_error(counts, errmsg, errmsg_len, "scrub after purge failed: %s", err);
        else
            counts->scrubbed = 1;
    }
    return counts->errors == 0 ? 0 : -1;
}
