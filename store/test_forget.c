/* test_forget.c - qs_storedb_forget_machine against a real store.db.
 *
 * Pseudonyms are computed as qsctl computes them (qs_pseudonym under a site
 * key), rows written as qs-store writes them (test_storefill.h); then one
 * machine is forgotten and the rows, counts and raw file bytes are checked.
 */
#include "qs_clock.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_store_forget.h"
#include "test_storefill.h"

#include <sodium.h>

#define DAY QS_MS_PER_DAY
#define NOW (20000 * DAY + DAY / 2)

static uint8_t site_key[32];

static void
ps_of(uint8_t out[16], qs_pseudo_kind_t kind, const char *name)
{
    qs_pseudonym(out, site_key, kind, name);
}

/* One event of machine/domain: a history row and its latest row. */
static void
add_event(struct storefill *f, int64_t client, uint32_t topic, const char *topic_id,
          int64_t time_ms, int64_t serial, const char *machine, const char *domain)
{
    uint8_t mps[16], dps[16];

    ps_of(mps, QS_PSEUDO_MACHINE, machine);
    ps_of(dps, QS_PSEUDO_DOMAIN, domain);
    QS_ASSERT(qs_storedb_begin(f->db) == 0);
    storefill_history(f, topic, time_ms, client, serial, topic_id, mps, dps);
    storefill_latest(f, client, topic, topic_id, time_ms, mps, dps);
    QS_ASSERT(qs_storedb_commit(f->db) == 0);
}

static void
test_forget_removes_only_that_machine_from_latest_and_every_partition(void)
{
    struct storefill f;
    qs_forget_counts_t c;
    uint8_t mps[16];
    char err[512], wal[600];

    storefill_open(&f, "forget");
    add_event(&f, 1, 500, "KB-PCA-ONE", NOW - 2 * DAY, 1, "PC-A", "CORP");
    add_event(&f, 1, 500, "KB-PCA-TWO", NOW - 1 * DAY, 2, "PC-A", "CORP");
    add_event(&f, 1, 300, "DEP-PCA", NOW - 1 * DAY, 3, "PC-A", "CORP");
    add_event(&f, 2, 500, "KB-PCB-ONE", NOW - 2 * DAY, 1, "PC-B", "CORP");
    add_event(&f, 2, 500, "KB-PCB-TWO", NOW - 1 * DAY, 2, "PC-B", "CORP");
    /* One copy in the main file, one in the WAL. */
    QS_CHECK(sqlite3_wal_checkpoint_v2(qs_storedb_sqlite(f.db), NULL,
                                       SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) == SQLITE_OK);
    add_event(&f, 1, 500, "KB-PCA-WAL", NOW - 1 * DAY, 4, "pc-a", "corp");
    snprintf(wal, sizeof wal, "%s-wal", f.db_path);
    QS_CHECK(qs_test_file_contains(f.db_path, "KB-PCA-ONE", 10));
    QS_CHECK(qs_test_file_contains(wal, "KB-PCA-WAL", 10));

    ps_of(mps, QS_PSEUDO_MACHINE, "Pc-A");   /* names are case-insensitive */
    QS_CHECK(qs_storedb_forget_machine(f.db, &c, mps, NULL, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.latest_rows, 4);
    QS_CHECK_EQ_INT(c.history_rows, 4);
    QS_CHECK_EQ_INT(c.partitions, 3);
    QS_CHECK(c.scrubbed);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest"), 2);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest WHERE topic_id LIKE "
                                      "'KB-PCB%'"), 2);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT sum(rows) FROM partitions"), 2);
    /* The compliance counts lost PC-A's four states, and no group is left
     * for a topic only PC-A had. */
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT sum(count) FROM compliance_counts"), 2);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM compliance_counts "
                                      "WHERE topic_id LIKE 'KB-PCA%' OR topic_id = 'DEP-PCA'"),
                    0);
    /* Nothing of PC-A in any byte of store.db or its WAL: no topic id, no pseudonym. */
    QS_CHECK(!qs_test_file_contains(f.db_path, "KB-PCA", 6));
    QS_CHECK(!qs_test_file_contains(wal, "KB-PCA", 6));
    QS_CHECK(!qs_test_file_contains(f.db_path, mps, 16));
    QS_CHECK(!qs_test_file_contains(wal, mps, 16));
    QS_CHECK(qs_test_file_contains(f.db_path, "KB-PCB-ONE", 10));
    /* Forgetting again finds nothing. */
    QS_CHECK(qs_storedb_forget_machine(f.db, &c, mps, NULL, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.latest_rows + c.history_rows, 0);
    storefill_close(&f);
}

static void
test_forget_with_domain_keeps_the_same_name_in_other_domains(void)
{
    struct storefill f;
    qs_forget_counts_t c;
    uint8_t mps[16], dps[16];
    char err[512];

    storefill_open(&f, "forget-dom");
    add_event(&f, 1, 500, "KB-CORP", NOW - DAY, 1, "PC-A", "CORP");
    add_event(&f, 2, 500, "KB-LAB", NOW - DAY, 1, "PC-A", "LAB");
    ps_of(mps, QS_PSEUDO_MACHINE, "PC-A");
    ps_of(dps, QS_PSEUDO_DOMAIN, "lab");
    QS_CHECK(qs_storedb_forget_machine(f.db, &c, mps, dps, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.latest_rows, 1);
    QS_CHECK_EQ_INT(c.history_rows, 1);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest WHERE topic_id = 'KB-CORP'"),
                    1);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest WHERE topic_id = 'KB-LAB'"),
                    0);
    storefill_close(&f);
}

static void
test_forget_skips_a_partition_registered_without_its_table(void)
{
    struct storefill f;
    qs_forget_counts_t c;
    uint8_t mps[16];
    char err[512];

    storefill_open(&f, "forget-notable");
    add_event(&f, 1, 500, "KB-A", NOW - DAY, 1, "PC-A", "CORP");
    storefill_exec(&f, "INSERT INTO partitions(epoch, topic_type, rows) VALUES (19000, 300, 0)");
    ps_of(mps, QS_PSEUDO_MACHINE, "PC-A");
    QS_CHECK(qs_storedb_forget_machine(f.db, &c, mps, NULL, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.history_rows, 1);
    QS_CHECK_EQ_INT(c.partitions, 1);
    storefill_close(&f);
}

static void
test_forget_deletes_nothing_when_the_store_is_locked(void)
{
    struct storefill f;
    qs_forget_counts_t c;
    uint8_t mps[16];
    char err[512];
    sqlite3 *other = NULL;

    storefill_open(&f, "forget-locked");
    add_event(&f, 1, 500, "KB-A", NOW - DAY, 1, "PC-A", "CORP");
    /* Another writer holds the lock past our busy timeout: make it short. */
    QS_ASSERT(sqlite3_open(f.db_path, &other) == SQLITE_OK);
    QS_ASSERT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_busy_timeout(qs_storedb_sqlite(f.db), 50);
    ps_of(mps, QS_PSEUDO_MACHINE, "PC-A");
    QS_CHECK(qs_storedb_forget_machine(f.db, &c, mps, NULL, err, sizeof err) == -1);
    QS_CHECK(strstr(err, "cannot lock store.db") != NULL);
    QS_CHECK_EQ_INT(c.latest_rows + c.history_rows + c.partitions, 0);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    QS_CHECK_EQ_INT(storefill_int(&f, "SELECT count(*) FROM latest"), 1);
    storefill_close(&f);
}

int
main(void)
{
    qs_log_init("test_forget", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 2;
    randombytes_buf(site_key, sizeof site_key);
    QS_RUN(test_forget_removes_only_that_machine_from_latest_and_every_partition);
    QS_RUN(test_forget_with_domain_keeps_the_same_name_in_other_domains);
    QS_RUN(test_forget_skips_a_partition_registered_without_its_table);
    QS_RUN(test_forget_deletes_nothing_when_the_store_is_locked);
    return qs_test_summary();
}
