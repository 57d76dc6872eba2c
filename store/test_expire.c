/* test_expire.c - the store's expiry operations against a real store.db.
 *
 * Which partition or row is expired is retention's decision (tested in
 * retention/test_purge.c); here the cutoffs are given, and what must hold is
 * what each operation removes, what it keeps, and that partitions.rows and
 * compliance_counts follow.
 */
#include "qs_clock.h"
#include "qs_log.h"
#include "qs_store_expire.h"
#include "test_storefill.h"

#include <sodium.h>

#define DAY QS_MS_PER_DAY

static int
table_count(struct storefill *f, int64_t epoch, uint32_t topic)
{
    char q[256];

    snprintf(q, sizeof q, "SELECT count(*) FROM sqlite_master WHERE name = 'history_%lld_%u'",
             (long long)epoch, topic);
    return (int)storefill_int(f, q);
}

static int64_t
registered_rows(struct storefill *f, int64_t epoch, uint32_t topic)
{
    char q[256];

    snprintf(q, sizeof q, "SELECT rows FROM partitions WHERE epoch = %lld AND topic_type = %u",
             (long long)epoch, topic);
    return storefill_int(f, q);     /* -1: not registered */
}

static void
test_expire_partition_drops_the_table_and_its_registration(void)
{
    struct storefill f;
    uint8_t ps[16];
    int64_t rows = -1;
    char err[512];

    storefill_open(&f, "expire-drop");
    storefill_ps(ps, 1);
    for (int i = 0; i < 3; i++)
        storefill_history(&f, 300, 19000 * DAY + i, 1, i + 1, "KB-DROP", ps, NULL);
    storefill_history(&f, 300, 19001 * DAY, 1, 10, "KB-KEEP", ps, NULL);
    QS_CHECK(qs_storedb_expire_partition(f.db, &rows, 19000, 300, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(rows, 3);
    QS_CHECK_EQ_INT(table_count(&f, 19000, 300), 0);
    QS_CHECK_EQ_INT(registered_rows(&f, 19000, 300), -1);
    QS_CHECK_EQ_INT(registered_rows(&f, 19001, 300), 1);
    /* Only registered (no table), or only a table (not registered): gone too. */
    storefill_exec(&f, "INSERT INTO partitions(epoch, topic_type, rows) VALUES (18000, 300, 0)");
    QS_CHECK(qs_storedb_expire_partition(f.db, &rows, 18000, 300, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(rows, 0);
    QS_CHECK_EQ_INT(registered_rows(&f, 18000, 300), -1);
    storefill_exec(&f, "DELETE FROM partitions WHERE epoch = 19001");
    QS_CHECK(qs_storedb_expire_partition(f.db, &rows, 19001, 300, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(rows, 1);
    QS_CHECK_EQ_INT(table_count(&f, 19001, 300), 0);
    storefill_close(&f);
}

static void
test_expire_history_deletes_rows_before_the_cutoff_and_keeps_the_count(void)
{
    struct storefill f;
    uint8_t ps[16];
    int64_t deleted = -1;
    char err[512];

    storefill_open(&f, "expire-trim");
    storefill_ps(ps, 1);
    storefill_history(&f, 500, 19990 * DAY + 1, 1, 1, "KB-EARLY", ps, NULL);
    storefill_history(&f, 500, 19990 * DAY + DAY / 2 - 1, 1, 2, "KB-JUST-BEFORE", ps, NULL);
    storefill_history(&f, 500, 19990 * DAY + DAY / 2, 1, 3, "KB-AT-CUTOFF", ps, NULL);
    QS_CHECK(qs_storedb_expire_history(f.db, &deleted, 19990, 500, 19990 * DAY + DAY / 2, err,
                                       sizeof err) == 0);
    QS_CHECK_EQ_INT(deleted, 2);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM history_19990_500"), 1);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT min(time_ms) FROM history_19990_500"),
                    19990 * DAY + DAY / 2);
    QS_CHECK_EQ_INT(registered_rows(&f, 19990, 500), 1);
    /* Again: nothing left to delete. A partition without a table: nothing. */
    QS_CHECK(qs_storedb_expire_history(f.db, &deleted, 19990, 500, 19990 * DAY + DAY / 2, err,
                                       sizeof err) == 0);
    QS_CHECK_EQ_INT(deleted, 0);
    QS_CHECK(qs_storedb_expire_history(f.db, &deleted, 17000, 500, 17001 * DAY, err,
                                       sizeof err) == 0);
    QS_CHECK_EQ_INT(deleted, 0);
    storefill_close(&f);
}

static void
test_expire_latest_deletes_one_topic_type_or_the_default_ones(void)
{
    static const uint32_t own[] = { 500 };
    const qs_expire_topics_t t500 = { 500, NULL, 0 }, rest = { 0, own, 1 };
    struct storefill f;
    uint8_t ps[16];
    int64_t deleted = -1;
    int interrupted = -1;
    char err[512];

    storefill_open(&f, "expire-latest");
    storefill_ps(ps, 1);
    storefill_latest(&f, 1, 500, "KB-OLD", 1000, ps, NULL);
    storefill_latest(&f, 1, 500, "KB-NEW", 5000, ps, NULL);
    storefill_latest(&f, 1, 300, "DEP-OLD", 1000, ps, NULL);
    storefill_latest(&f, 1, 401, "CI-AT", 2000, ps, NULL);
    QS_CHECK(qs_storedb_expire_latest(f.db, &deleted, &interrupted, &t500, 2000, 100, NULL,
                                      err, sizeof err) == 0);
    QS_CHECK_EQ_INT(deleted, 1);
    QS_CHECK_EQ_INT(interrupted, 0);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest WHERE topic_type = 500"), 1);
    /* The default: every type but 500; report_ms == cutoff is kept. */
    QS_CHECK(qs_storedb_expire_latest(f.db, &deleted, &interrupted, &rest, 2000, 100, NULL,
                                      err, sizeof err) == 0);
    QS_CHECK_EQ_INT(deleted, 1);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest WHERE topic_id = 'CI-AT'"),
                    1);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest"), 2);
    /* compliance_counts followed: no group of a deleted topic is left. */
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM compliance_counts WHERE topic_id "
                                      "IN ('KB-OLD', 'DEP-OLD')"), 0);
    storefill_close(&f);
}

static void
test_expire_latest_works_in_batches_and_stops_when_asked(void)
{
    const qs_expire_topics_t all = { 0, NULL, 0 };
    volatile sig_atomic_t stop = 1;
    struct storefill f;
    uint8_t ps[16];
    int64_t deleted = -1;
    int interrupted = 0;
    char err[512], id[32];

    storefill_open(&f, "expire-batch");
    storefill_ps(ps, 2);
    QS_ASSERT(qs_storedb_begin(f.db) == 0);
    for (int i = 0; i < 2 * 10 + 7; i++) {
        snprintf(id, sizeof id, "KB%d", i);
        storefill_latest(&f, i, 500, id, 1000, ps, NULL);
    }
    QS_ASSERT(qs_storedb_commit(f.db) == 0);
    QS_CHECK(qs_storedb_expire_latest(f.db, &deleted, &interrupted, &all, 2000, 10, &stop,
                                      err, sizeof err) == 0);
    QS_CHECK_EQ_INT(deleted, 0);
    QS_CHECK_EQ_INT(interrupted, 1);
    stop = 0;
    QS_CHECK(qs_storedb_expire_latest(f.db, &deleted, &interrupted, &all, 2000, 10, &stop,
                                      err, sizeof err) == 0);
    QS_CHECK_EQ_INT(deleted, 27);
    QS_CHECK_EQ_INT(interrupted, 0);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest"), 0);
    storefill_close(&f);
}

/* The pass walks the whole primary key: aged rows behind many fresh ones
 * are found (a batch that deletes nothing is not the end), steps end on a
 * client's last row, and a fresh row among aged ones of its client stays. */
static void
test_expire_latest_passes_over_every_client(void)
{
    const qs_expire_topics_t all = { 0, NULL, 0 };
    struct storefill f;
    uint8_t ps[16];
    int64_t deleted = -1;
    int interrupted = -1;
    char err[512], id[32];

    storefill_open(&f, "expire-pass");
    storefill_ps(ps, 4);
    QS_ASSERT(qs_storedb_begin(f.db) == 0);
    for (int c = 1; c <= 40; c++)          /* 160 fresh rows first */
        for (int t = 0; t < 4; t++) {
            snprintf(id, sizeof id, "KB-FRESH-%d", t);
            storefill_latest(&f, c, 500, id, 5000, ps, NULL);
        }
    for (int c = 41; c <= 47; c++)         /* then 7 clients x 3 aged, 1 fresh */
        for (int t = 0; t < 4; t++) {
            snprintf(id, sizeof id, "KB-%s-%d", t == 3 ? "KEPT" : "AGED", t);
            storefill_latest(&f, c, 500, id, t == 3 ? 5000 : 1000, ps, NULL);
        }
    QS_ASSERT(qs_storedb_commit(f.db) == 0);
    QS_CHECK(qs_storedb_expire_latest(f.db, &deleted, &interrupted, &all, 2000, 10, NULL,
                                      err, sizeof err) == 0);
    QS_CHECK_EQ_INT(deleted, 21);
    QS_CHECK_EQ_INT(interrupted, 0);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest WHERE report_ms < 2000"), 0);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest"), 160 + 7);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM compliance_counts WHERE topic_id "
                                      "LIKE 'KB-AGED-%'"), 0);
    storefill_close(&f);
}

static void
test_expire_fails_without_deleting_while_another_writer_holds_the_lock(void)
{
    const qs_expire_topics_t all = { 0, NULL, 0 };
    struct storefill f;
    sqlite3 *other = NULL;
    uint8_t ps[16];
    int64_t n = -1;
    int interrupted = 0;
    char err[512];

    storefill_open(&f, "expire-locked");
    storefill_ps(ps, 3);
    storefill_history(&f, 300, 19000 * DAY, 1, 1, "KB-LOCKED", ps, NULL);
    storefill_latest(&f, 1, 300, "KB-LOCKED", 1000, ps, NULL);
    QS_ASSERT(sqlite3_open(f.db_path, &other) == SQLITE_OK);
    QS_ASSERT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_busy_timeout(qs_storedb_sqlite(f.db), 50);
    err[0] = '\0';
    QS_CHECK(qs_storedb_expire_partition(f.db, &n, 19000, 300, err, sizeof err) == -1);
    QS_CHECK(n == 0 && err[0] != '\0');
    QS_CHECK(qs_storedb_expire_history(f.db, &n, 19000, 300, 19001 * DAY, err,
                                       sizeof err) == -1);
    QS_CHECK(qs_storedb_expire_latest(f.db, &n, &interrupted, &all, 2000, 10, NULL, err,
                                      sizeof err) == -1);
    QS_CHECK_EQ_INT(n, 0);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    QS_CHECK_EQ_INT(registered_rows(&f, 19000, 300), 1);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest"), 1);
    storefill_close(&f);
}

int
main(void)
{
    qs_log_init("test_expire", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_expire_partition_drops_the_table_and_its_registration);
    QS_RUN(test_expire_history_deletes_rows_before_the_cutoff_and_keeps_the_count);
    QS_RUN(test_expire_latest_deletes_one_topic_type_or_the_default_ones);
    QS_RUN(test_expire_latest_works_in_batches_and_stops_when_asked);
    QS_RUN(test_expire_latest_passes_over_every_client);
    QS_RUN(test_expire_fails_without_deleting_while_another_writer_holds_the_lock);
    return qs_test_summary();
}
