/* purge.c - the retention decision (what is expired) and one purge pass over store.db.
 *
 * A pass works in this order, each step in its own short transaction:
 *   1. list every history partition (registered or merely present as a table);
 *   2. for each one whose whole day is expired: count, DROP, COMMIT, then
 *      shred its key (drop first: a crash in between leaves a key without
 *      data, which step 4 of the next pass shreds);
 *   3. for each topic, the partition that straddles the cutoff: DELETE its
 *      rows older than the cutoff (no index needed: one day of one topic);
 *   4. shred every orphan key (no partition left, expired); with key chains
 *      (a PostgreSQL site) move each topic type's chain to its cutoff's day;
 *   5. latest: DELETE rows not reported since the cutoff, per topic type,
 *      one pass over latest's primary key, QS_PURGE_LATEST_BATCH rows a
 *      transaction;
 *   6. scrub: incremental vacuum + WAL checkpoint TRUNCATE (on PostgreSQL:
 *      VACUUM of the tables deleted from).
 * The stop flag is polled between steps, partitions and batches. What to
 * delete is decided here; the deleting is store/'s (qs_store_expire.h).
 */
#include "purge.h"
#include "qs_clock.h"
#include "qs_log.h"
#include "qs_store_expire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define STOPPED(stop) ((stop) != NULL && *(stop))

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
 * at the start of the pass; rows = 1 marks a key shredded since). With key
 * chains the chain moves past the epoch; move_chains counts what moved. */
static int
shred_key(qs_epochkeys_t *ks, struct keylist *kl, int64_t epoch, uint32_t topic_type,
          qs_purge_counts_t *c, char *err, size_t err_len)
{
    ssize_t i = key_index(kl, epoch, topic_type);

    if (qs_epochkeys_shred(ks, epoch, topic_type, err, err_len) != 0)
        return -1;
    if (qs_epochkeys_chained(ks))
        return 1;
    if (i >= 0 && kl->keys[i].rows == 0) {
        kl->keys[i].rows = 1;
        c->keys_shredded++;
        return 1;
    }
    return 0;
}

/* Step 2: drop one whole partition (committed), then shred its key. */
static void
drop_partition(qs_storedb_t *db, qs_epochkeys_t *ks, struct keylist *kl,
               const qs_partition_t *part, qs_purge_counts_t *c, char *errmsg, size_t errmsg_len)
{
    char name[64], day[32], err[512];
    int64_t rows = 0;

    if (qs_storedb_partition_name(name, sizeof name, part->epoch, part->topic_type) != 0)
        return;
    qs_time_format_day(day, sizeof day, part->epoch);
    if (qs_storedb_expire_partition(db, &rows, part->epoch, part->topic_type, err,
                                    sizeof err) != 0) {
        note_error(c, errmsg, errmsg_len, "cannot drop expired partition '%s': %s", name, err);
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
    char name[64], cut[32], err[512];
    int64_t deleted = 0;

    if (qs_storedb_partition_name(name, sizeof name, part->epoch, part->topic_type) != 0)
        return;
    if (qs_storedb_expire_history(db, &deleted, part->epoch, part->topic_type, cutoff_ms, err,
                                  sizeof err) != 0) {
        note_error(c, errmsg, errmsg_len, "cannot trim partition '%s': %s", name, err);
        return;
    }
    if (deleted > 0) {
        c->history_rows_deleted += deleted;
        if (qs_time_format_iso8601(cut, sizeof cut, cutoff_ms, 0) != 0)
            snprintf(cut, sizeof cut, "?");
        log_info("deleted %lld expired rows (before %s) from partition '%s'",
                 (long long)deleted, cut, name);
    }
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

/* Step 4 with key chains (a PostgreSQL site, qs_epochkeys.h): move each
 * topic type's chain to the epoch of its cutoff, so that no holder of the
 * key directory can derive the key of an expired day, whether or not a
 * partition of that day ever existed. kl holds each chain's oldest epoch at
 * the start of the pass; the days it moved past are counted as keys
 * shredded. */
static void
move_chains(qs_epochkeys_t *ks, const struct keylist *kl, const qs_policy_t *p,
            int64_t now_ms, qs_purge_counts_t *c, char *errmsg, size_t errmsg_len)
{
    char day[32];

    for (size_t i = 0; i < kl->n; i++) {
        uint32_t type = kl->keys[i].topic_type;
        int64_t first_kept = qs_epoch_of(qs_policy_cutoff_ms(p, type, now_ms));

        if (first_kept <= kl->keys[i].epoch)
            continue;
        if (qs_epochkeys_expire(ks, type, first_kept) != 0) {
            note_error(c, errmsg, errmsg_len, "cannot move the key chain of topic %u", type);
            continue;
        }
        c->keys_shredded += first_kept - kl->keys[i].epoch;
        qs_time_format_day(day, sizeof day, first_kept);
        log_info("moved the key chain of topic %u to %s: %lld expired days' keys can no "
                 "longer be derived", type, day, (long long)(first_kept - kl->keys[i].epoch));
    }
}

/* Step 5 for one topic (or, with topic_type 0, every topic type not listed
 * in p->topics): delete expired latest rows in batches. */
static void
purge_latest(qs_storedb_t *db, const qs_policy_t *p, uint32_t topic_type, int64_t cutoff_ms,
             const volatile sig_atomic_t *stop, qs_purge_counts_t *c,
             char *errmsg, size_t errmsg_len)
{
    uint32_t own[QS_POLICY_MAX_TOPICS];
    qs_expire_topics_t topics = { topic_type, own, 0 };
    char cut[32], what[40], err[512];
    int64_t total = 0;
    int interrupted = 0, rc;

    if (topic_type == 0)
        for (size_t i = 0; i < p->n_topics; i++)
            own[topics.n_except++] = p->topics[i].topic_type;
    if (topic_type != 0)
        snprintf(what, sizeof what, "%u", topic_type);
    else
        snprintf(what, sizeof what, "types under the default age");
    rc = qs_storedb_expire_latest(db, &total, &interrupted, &topics, cutoff_ms,
                                  QS_PURGE_LATEST_BATCH, stop, err, sizeof err);
    c->latest_rows_deleted += total;
    if (interrupted)
        c->interrupted = 1;
    if (rc != 0) {
        note_error(c, errmsg, errmsg_len, "cannot delete expired latest rows of topic %s: %s",
                   what, err);
        return;
    }
    if (total > 0) {
        if (qs_time_format_iso8601(cut, sizeof cut, cutoff_ms, 0) != 0)
            snprintf(cut, sizeof cut, "?");
        log_info("deleted %lld latest rows of topic %s not reported since %s",
                 (long long)total, what, cut);
    }
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
                   qs_storedb_errmsg(db));
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
    /* 4: keys left behind by a crash between a drop and its shred; with
     * chains, every expired day's key. */
    if (!STOPPED(stop) && qs_epochkeys_chained(ks))
        move_chains(ks, &kl, p, now_ms, counts, errmsg, errmsg_len);
    else if (!STOPPED(stop))
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
