/* test_purge.c - the retention decision and pass, against a real store.db.
 *
 * Each test builds a store.db and an epoch key directory in a fresh temporary
 * directory, fills partitions and latest rows directly (the same functions and
 * schema qs-store uses), runs qs_purge_pass at a fixed "now", and checks what
 * is left: partitions, rows, key files, and the raw bytes of store.db and its
 * WAL.
 */
#include "purge.h"
#include "qs_clock.h"
#include "qs_log.h"
#include "qs_test.h"
#include "storedb_sqlite.h" /* test only: fills and inspects store.db directly */

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY QS_MS_PER_DAY
/* A fixed "now": noon UTC of day 20000 (2024-10-04). */
#define NOW (20000 * DAY + DAY / 2)

struct fixture {
    char dir[256];
    char db_path[512];
    char epochs[512];
    qs_storedb_t *db;
    qs_epochkeys_t *ks;
};

/* Open store.db and the key directory in f->dir (already made). */
static void
fx_init(struct fixture *f)
{
    char err[512];

    snprintf(f->db_path, sizeof f->db_path, "%s/store.db", f->dir);
    snprintf(f->epochs, sizeof f->epochs, "%s/epochs", f->dir);
    f->db = qs_storedb_open(f->db_path, 1, err, sizeof err);
    if (f->db == NULL) {
        fprintf(stderr, "store.db: %s\n", err);
        exit(2);
    }
    f->ks = qs_epochkeys_open(f->epochs, 1, err, sizeof err);
    if (f->ks == NULL) {
        fprintf(stderr, "epochs: %s\n", err);
        exit(2);
    }
}

static void
fx_open(struct fixture *f, const char *tag)
{
    qs_test_tmpdir(f->dir, sizeof f->dir, tag);
    fx_init(f);
}

static void
fx_close(struct fixture *f)
{
    char cmd[600];

    qs_epochkeys_destroy(&f->ks);
    qs_storedb_destroy(&f->db);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
}

static void
exec_ok(struct fixture *f, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(qs_storedb_sqlite(f->db), sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sql failed: %s: %s\n", sql, err);
        exit(2);
    }
}

static void
machine_ps(uint8_t out[16], int machine)
{
    memset(out, 0, 16);
    out[0] = 0xA5;
    out[1] = (uint8_t)machine;
    out[15] = 0x5A;
}

/* One history row, as qs-store writes it: partition ensured and registered,
 * key created, details sealed under it, partition row count kept. */
static void
fx_history(struct fixture *f, uint32_t topic, int64_t time_ms, int64_t client, int64_t serial,
           const char *topic_id, int machine)
{
    sqlite3 *sql = qs_storedb_sqlite(f->db);
    sqlite3_stmt *st = NULL;
    int64_t epoch = qs_epoch_of(time_ms);
    char name[64], q[256], details[64];
    uint8_t ps[16], sealed[256];
    size_t sealed_len = 0;
    const uint8_t *key;
    int own_tx;

    machine_ps(ps, machine);
    own_tx = sqlite3_get_autocommit(sql);      /* else inside the caller's transaction */
    if (own_tx)
        QS_ASSERT(qs_storedb_begin(f->db) == 0);
    QS_ASSERT(qs_storedb_partition_ensure(f->db, epoch, topic) == 0);
    key = qs_epochkeys_get(f->ks, epoch, topic, 1);
    QS_ASSERT(key != NULL);
    snprintf(details, sizeof details, "details of %s", topic_id);
    QS_ASSERT(qs_details_seal(sealed, &sealed_len, sizeof sealed, (const uint8_t *)details,
                              strlen(details), ps, sizeof ps, key) == 0);
    QS_ASSERT(qs_storedb_partition_name(name, sizeof name, epoch, topic) == 0);
    snprintf(q, sizeof q, "INSERT INTO %s(client_id, serial, state_id, topic_id, time_ms, "
             "machine_ps, domain_ps, user_ps, details) VALUES (?1, ?2, 2, ?3, ?4, ?5, NULL, "
             "NULL, ?6)", name);
    QS_ASSERT(sqlite3_prepare_v2(sql, q, -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int64(st, 2, serial);
    sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, time_ms);
    sqlite3_bind_blob(st, 5, ps, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, sealed, (int)sealed_len, SQLITE_STATIC);
    QS_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    snprintf(q, sizeof q, "UPDATE partitions SET rows = rows + 1 WHERE epoch = %lld AND "
             "topic_type = %u", (long long)epoch, topic);
    exec_ok(f, q);
    if (own_tx)
        QS_ASSERT(qs_storedb_commit(f->db) == 0);
}

static void
fx_latest(struct fixture *f, int64_t client, uint32_t topic, const char *topic_id,
          int64_t report_ms, int machine)
{
    sqlite3_stmt *st = NULL;
    uint8_t ps[16];

    machine_ps(ps, machine);
    QS_ASSERT(sqlite3_prepare_v2(qs_storedb_sqlite(f->db),
                                 "INSERT OR REPLACE INTO latest(client_id, topic_type, topic_id, "
                                 "state_id, time_ms, report_ms, machine_ps, domain_ps) "
                                 "VALUES (?1, ?2, ?3, 2, ?4, ?4, ?5, NULL)", -1, &st,
                                 NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, client);
    sqlite3_bind_int64(st, 2, topic);
    sqlite3_bind_text(st, 3, topic_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, report_ms);
    sqlite3_bind_blob(st, 5, ps, 16, SQLITE_STATIC);
    QS_ASSERT(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
}

static int64_t
count_sql(struct fixture *f, const char *q)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (sqlite3_prepare_v2(qs_storedb_sqlite(f->db), q, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int
partition_present(struct fixture *f, int64_t epoch, uint32_t topic)
{
    char q[256];
    snprintf(q, sizeof q, "SELECT (SELECT count(*) FROM partitions WHERE epoch = %lld AND "
             "topic_type = %u) + (SELECT count(*) FROM sqlite_master WHERE name = "
             "'history_%lld_%u')", (long long)epoch, topic, (long long)epoch, topic);
    return (int)count_sql(f, q);
}

static int
key_present(struct fixture *f, int64_t epoch, uint32_t topic)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%lld-%u.key", f->epochs, (long long)epoch, topic);
    return access(path, F_OK) == 0;
}

static void
policy_30_500_10(qs_policy_t *p)
{
    qs_policy_defaults(p);
    p->max_age_days = 30;
    QS_ASSERT(qs_policy_set_topic_age(p, 500, 10) == 0);
}

/* ---- the decision ------------------------------------------------------------ */

static void
test_purge_partition_expires_only_when_its_whole_day_is_past_max_age(void)
{
    qs_policy_t p;

    qs_policy_defaults(&p);
    p.max_age_days = 30;
    /* cutoff = day 19970 + 12 h: days 19969 and before are whole-day expired. */
    QS_CHECK(qs_policy_partition_expired(&p, 19969, 300, NOW, 0));
    QS_CHECK(qs_policy_partition_expired(&p, 19000, 300, NOW, 0));
    QS_CHECK(!qs_policy_partition_expired(&p, 19970, 300, NOW, 0));
    QS_CHECK(!qs_policy_partition_expired(&p, 20000, 300, NOW, 0));
    /* At exactly midnight the day that just ended is expired. */
    QS_CHECK(qs_policy_partition_expired(&p, 19969, 300, 19999 * DAY + 0, 0) == 0);
    QS_CHECK(qs_policy_partition_expired(&p, 19969, 300, 20000 * DAY, 0) == 1);
    QS_CHECK(qs_policy_partition_expired(&p, 19969, 300, 20000 * DAY - 1, 0) == 0);
    /* Grace (verify's allowance for the retention interval) delays the verdict. */
    QS_CHECK(!qs_policy_partition_expired(&p, 19969, 300, 20000 * DAY, 3600000));
    QS_CHECK(qs_policy_partition_expired(&p, 19969, 300, 20000 * DAY + 3600000, 3600000));
}

static void
test_purge_uses_each_topics_own_max_age(void)
{
    qs_policy_t p;

    policy_30_500_10(&p);
    QS_CHECK_EQ_INT(qs_policy_cutoff_ms(&p, 500, NOW), NOW - 10 * DAY);
    QS_CHECK_EQ_INT(qs_policy_cutoff_ms(&p, 300, NOW), NOW - 30 * DAY);
    QS_CHECK(qs_policy_partition_expired(&p, 19989, 500, NOW, 0));
    QS_CHECK(!qs_policy_partition_expired(&p, 19989, 300, NOW, 0));
    QS_CHECK(!qs_policy_partition_expired(&p, 19990, 500, NOW, 0));
    QS_CHECK(qs_policy_latest_expired(&p, 500, NOW - 10 * DAY - 1, NOW, 0));
    QS_CHECK(!qs_policy_latest_expired(&p, 500, NOW - 10 * DAY, NOW, 0));
    QS_CHECK(!qs_policy_latest_expired(&p, 300, NOW - 10 * DAY - 1, NOW, 0));
    QS_CHECK(qs_policy_latest_expired(&p, 300, NOW - 30 * DAY - 1, NOW, 0));
}

/* ---- the pass ------------------------------------------------------------------ */

static void
test_purge_pass_drops_expired_partitions_and_shreds_their_keys(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512];

    fx_open(&f, "purge-drop");
    policy_30_500_10(&p);
    fx_history(&f, 300, 19968 * DAY + 1000, 1, 1, "KB-300-OLD-A", 1);
    fx_history(&f, 300, 19969 * DAY + 1000, 1, 2, "KB-300-OLD-B", 1);
    fx_history(&f, 300, 19969 * DAY + 2000, 2, 1, "KB-300-OLD-C", 2);
    fx_history(&f, 300, 19971 * DAY, 1, 3, "KB-300-KEEP", 1);
    fx_history(&f, 500, 19989 * DAY + 5, 1, 4, "KB-500-OLD", 1);
    fx_history(&f, 500, 19995 * DAY, 1, 5, "KB-500-KEEP", 1);
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.partitions_dropped, 3);
    QS_CHECK_EQ_INT(c.history_rows_deleted, 4);
    QS_CHECK_EQ_INT(c.keys_shredded, 3);
    QS_CHECK_EQ_INT(c.latest_rows_deleted, 0);
    QS_CHECK(c.scrubbed);
    QS_CHECK(!partition_present(&f, 19968, 300) && !key_present(&f, 19968, 300));
    QS_CHECK(!partition_present(&f, 19969, 300) && !key_present(&f, 19969, 300));
    QS_CHECK(!partition_present(&f, 19989, 500) && !key_present(&f, 19989, 500));
    QS_CHECK(partition_present(&f, 19971, 300) == 2 && key_present(&f, 19971, 300));
    QS_CHECK(partition_present(&f, 19995, 500) == 2 && key_present(&f, 19995, 500));
    /* Topic 300's day 19989 would be fine; topic 500's is not: per-topic ages. */
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM history_19971_300"), 1);
    /* A second pass finds nothing more to do. */
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.partitions_dropped + c.history_rows_deleted + c.keys_shredded, 0);
    fx_close(&f);
}

static void
test_purge_pass_deletes_expired_rows_of_the_straddling_partition(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512];

    fx_open(&f, "purge-trim");
    policy_30_500_10(&p);
    /* Topic 500 cutoff is day 19990 + 12 h. */
    fx_history(&f, 500, 19990 * DAY + 6 * 3600000LL, 1, 1, "KB-500-MORNING", 1);
    fx_history(&f, 500, 19990 * DAY + DAY / 2 - 1, 1, 2, "KB-500-JUST-BEFORE", 1);
    fx_history(&f, 500, 19990 * DAY + DAY / 2, 1, 3, "KB-500-AT-CUTOFF", 1);
    fx_history(&f, 500, 19990 * DAY + 18 * 3600000LL, 1, 4, "KB-500-EVENING", 1);
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.partitions_dropped, 0);
    QS_CHECK_EQ_INT(c.history_rows_deleted, 2);
    QS_CHECK_EQ_INT(c.keys_shredded, 0);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM history_19990_500"), 2);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT min(time_ms) FROM history_19990_500"),
                    19990 * DAY + DAY / 2);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT rows FROM partitions WHERE epoch = 19990"), 2);
    /* The key stays: it still protects the rows kept. */
    QS_CHECK(key_present(&f, 19990, 500));
    QS_CHECK(!qs_test_file_contains(f.db_path, "KB-500-MORNING", 14));
    fx_close(&f);
}

static void
test_purge_pass_expires_latest_by_last_report_per_topic(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512];

    fx_open(&f, "purge-latest");
    policy_30_500_10(&p);
    fx_latest(&f, 1, 500, "KB-A", NOW - 11 * DAY, 1);     /* expired (10 d) */
    fx_latest(&f, 1, 500, "KB-B", NOW - 9 * DAY, 1);      /* kept */
    fx_latest(&f, 1, 300, "DEP-A", NOW - 11 * DAY, 1);    /* kept (30 d) */
    fx_latest(&f, 2, 300, "DEP-A", NOW - 31 * DAY, 2);    /* expired */
    fx_latest(&f, 2, 401, "CI-A", NOW - 30 * DAY, 2);     /* exactly max age: kept */
    fx_latest(&f, 2, 401, "CI-B", NOW - 30 * DAY - 1, 2); /* expired */
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.latest_rows_deleted, 3);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM latest"), 3);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM latest WHERE topic_id = 'KB-A'"), 0);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM latest WHERE topic_id = 'CI-B'"), 0);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM latest WHERE client_id = 2 AND "
                                  "topic_type = 300"), 0);
    /* What qsctl compliance reads followed, and forgot the expired topics. */
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT sum(count) FROM compliance_counts"), 3);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM compliance_counts WHERE topic_id IN "
                                  "('KB-A', 'CI-B')"), 0);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count FROM compliance_counts WHERE topic_id = "
                                  "'DEP-A'"), 1);
    fx_close(&f);
}

static void
test_purge_pass_deletes_latest_in_batches(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512], id[32];
    int n = QS_PURGE_LATEST_BATCH * 2 + 7;

    fx_open(&f, "purge-batch");
    policy_30_500_10(&p);
    exec_ok(&f, "BEGIN");
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "KB%d", i);
        fx_latest(&f, i, 500, id, NOW - 20 * DAY, i % 200);
    }
    fx_latest(&f, 1, 500, "KB-FRESH", NOW, 1);
    exec_ok(&f, "COMMIT");
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.latest_rows_deleted, n);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM latest"), 1);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM compliance_counts"), 1);
    fx_close(&f);
}

static void
test_purge_pass_leaves_no_bytes_of_a_dropped_partition_in_db_or_wal(void)
{
    static const char marker[] = "KB-EXPIRED-MARKER-7f3a";
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512], wal[600];

    fx_open(&f, "purge-bytes");
    snprintf(wal, sizeof wal, "%s-wal", f.db_path);
    policy_30_500_10(&p);
    for (int i = 0; i < 50; i++)
        fx_history(&f, 500, 19980 * DAY + i, 1, i + 1, marker, 3);
    fx_latest(&f, 1, 500, marker, NOW - 15 * DAY, 3);
    /* Put a copy in the main file (checkpoint), then more in the WAL. */
    QS_CHECK(sqlite3_wal_checkpoint_v2(qs_storedb_sqlite(f.db), NULL,
                                       SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) == SQLITE_OK);
    for (int i = 50; i < 60; i++)
        fx_history(&f, 500, 19980 * DAY + i, 1, i + 1, marker, 3);
    fx_history(&f, 500, 19999 * DAY, 1, 100, "KB-KEEP-MARKER", 3);
    QS_CHECK(qs_test_file_contains(f.db_path, marker, strlen(marker)));
    QS_CHECK(qs_test_file_contains(wal, marker, strlen(marker)));
    QS_CHECK(key_present(&f, 19980, 500));

    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.partitions_dropped, 1);
    QS_CHECK_EQ_INT(c.history_rows_deleted, 60);
    QS_CHECK_EQ_INT(c.latest_rows_deleted, 1);
    QS_CHECK(!qs_test_file_contains(f.db_path, marker, strlen(marker)));
    QS_CHECK(!qs_test_file_contains(wal, marker, strlen(marker)));
    QS_CHECK(!key_present(&f, 19980, 500));
    QS_CHECK(qs_test_file_contains(f.db_path, "KB-KEEP-MARKER", 14));
    fx_close(&f);
}

static off_t
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void
test_purge_pass_returns_freed_pages_to_the_file_system(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512], id[128];
    off_t before, after;

    fx_open(&f, "purge-vacuum");
    policy_30_500_10(&p);
    QS_CHECK_EQ_INT(count_sql(&f, "PRAGMA auto_vacuum"), 2);    /* INCREMENTAL */
    for (int i = 0; i < 400; i++) {
        snprintf(id, sizeof id, "KB-BULK-%04d-%0100d", i, i);
        fx_history(&f, 500, 19980 * DAY + i, 1, i + 1, id, 4);
    }
    fx_history(&f, 500, 19999 * DAY, 1, 1000, "KB-SMALL", 4);
    QS_CHECK(sqlite3_wal_checkpoint_v2(qs_storedb_sqlite(f.db), NULL,
                                       SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) == SQLITE_OK);
    before = file_size(f.db_path);
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    after = file_size(f.db_path);
    QS_CHECK_EQ_INT(c.history_rows_deleted, 400);
    QS_CHECK(after < before / 2);
    QS_CHECK_EQ_INT(count_sql(&f, "PRAGMA freelist_count"), 0);
    fx_close(&f);
}

static void
test_purge_pass_shreds_orphan_keys_left_by_a_crash(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512];

    fx_open(&f, "purge-orphan");
    policy_30_500_10(&p);
    /* A crash between DROP and shred leaves a key with no partition. */
    QS_CHECK(qs_epochkeys_get(f.ks, 19900, 300, 1) != NULL);
    /* A key the store created for a partition not yet written: not expired. */
    QS_CHECK(qs_epochkeys_get(f.ks, 19999, 300, 1) != NULL);
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.keys_shredded, 1);
    QS_CHECK(!key_present(&f, 19900, 300));
    QS_CHECK(key_present(&f, 19999, 300));
    fx_close(&f);
}

static void
test_purge_pass_drops_unregistered_history_tables(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512];

    fx_open(&f, "purge-unreg");
    policy_30_500_10(&p);
    fx_history(&f, 300, 19900 * DAY, 1, 1, "KB-UNREG", 1);
    exec_ok(&f, "DELETE FROM partitions");
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.partitions_dropped, 1);
    QS_CHECK_EQ_INT(partition_present(&f, 19900, 300), 0);
    QS_CHECK(!key_present(&f, 19900, 300));
    fx_close(&f);
}

static void
test_purge_pass_stops_before_deleting_when_asked(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    volatile sig_atomic_t stop = 1;
    char err[512];

    fx_open(&f, "purge-stop");
    policy_30_500_10(&p);
    fx_history(&f, 300, 19900 * DAY, 1, 1, "KB-STOP", 1);
    fx_latest(&f, 1, 300, "KB-STOP", NOW - 40 * DAY, 1);
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, &stop, &c, err, sizeof err) == 0);
    QS_CHECK(c.interrupted);
    QS_CHECK_EQ_INT(c.partitions_dropped + c.latest_rows_deleted, 0);
    /* The next pass finishes the job. */
    stop = 0;
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, &stop, &c, err, sizeof err) == 0);
    QS_CHECK(!c.interrupted);
    QS_CHECK_EQ_INT(c.partitions_dropped, 1);
    QS_CHECK_EQ_INT(c.latest_rows_deleted, 1);
    fx_close(&f);
}

static void
test_purge_pass_waits_for_a_concurrent_writer(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512], byte;
    int go[2], ready[2], status = 0;
    pid_t pid;

    /* Fork before anything is opened or allocated, so the child (the
     * "store") inherits no SQLite handle and leaves nothing behind. */
    QS_ASSERT(pipe(go) == 0 && pipe(ready) == 0);
    qs_test_tmpdir(f.dir, sizeof f.dir, "purge-busy");
    pid = fork();
    QS_ASSERT(pid >= 0);
    if (pid == 0) {
        char path[600];
        sqlite3 *other = NULL;
        int ok;
        close(go[1]);
        close(ready[0]);
        snprintf(path, sizeof path, "%s/store.db", f.dir);
        if (read(go[0], &byte, 1) != 1 || sqlite3_open(path, &other) != SQLITE_OK)
            _exit(1);
        sqlite3_busy_timeout(other, 10000);
        /* Hold the write lock for 500 ms, then commit. */
        ok = sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO counters VALUES('stored', 1)",
                          NULL, NULL, NULL) == SQLITE_OK && write(ready[1], "r", 1) == 1;
        usleep(500000);
        ok = ok && sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
        sqlite3_close(other);
        _exit(ok ? 0 : 1);
    }
    close(go[0]);
    close(ready[1]);
    fx_init(&f);
    policy_30_500_10(&p);
    fx_latest(&f, 1, 300, "KB-BUSY", NOW - 40 * DAY, 1);
    QS_CHECK(write(go[1], "g", 1) == 1);
    QS_CHECK(read(ready[0], &byte, 1) == 1);
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.latest_rows_deleted, 1);
    QS_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    QS_CHECK_EQ_INT(count_sql(&f, "SELECT value FROM counters WHERE name = 'stored'"), 1);
    close(go[1]);
    close(ready[0]);
    fx_close(&f);
}

static int64_t
count_keys(struct fixture *f)
{
    char cmd[700];
    FILE *p;
    long long n = -1;

    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '\\.key$'", f->epochs);
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    if (fscanf(p, "%lld", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

/* Whenever a pass is killed (SIGKILL: no cleanup at all), what should be kept
 * is kept, and the next pass leaves the same end state as an undisturbed one. */
static void
test_purge_pass_killed_midway_loses_nothing_and_the_next_pass_finishes(void)
{
    struct fixture f;
    qs_policy_t p;
    qs_purge_counts_t c;
    char err[512], id[32];
    int status = 0;

    policy_30_500_10(&p);
    for (int delay_ms = 1; delay_ms <= 512; delay_ms *= 8) {
        pid_t pid;

        fx_open(&f, "purge-kill");
        exec_ok(&f, "BEGIN");
        for (int e = 0; e < 20; e++)            /* 20 expired days of topic 300 */
            for (int i = 0; i < 50; i++)
                fx_history(&f, 300, (19900 + e) * DAY + i, 1, e * 100 + i + 1, "KB-GONE", 1);
        exec_ok(&f, "COMMIT");
        for (int i = 0; i < 30; i++)            /* kept: day 19990 of topic 300 */
            fx_history(&f, 300, 19990 * DAY + i, 2, i + 1, "KB-KEPT", 2);
        exec_ok(&f, "BEGIN");
        for (int i = 0; i < QS_PURGE_LATEST_BATCH * 2; i++) {
            snprintf(id, sizeof id, "KB-OLD-%d", i);
            fx_latest(&f, i, 300, id, NOW - 40 * DAY, 3);
        }
        for (int i = 0; i < 100; i++) {
            snprintf(id, sizeof id, "KB-NEW-%d", i);
            fx_latest(&f, i, 300, id, NOW - DAY, 3);
        }
        exec_ok(&f, "COMMIT");
        qs_epochkeys_destroy(&f.ks);
        qs_storedb_destroy(&f.db);

        pid = fork();
        QS_ASSERT(pid >= 0);
        if (pid == 0) {
            fx_init(&f);
            _exit(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0 ? 0 : 1);
        }
        usleep((useconds_t)delay_ms * 1000);
        kill(pid, SIGKILL);
        QS_CHECK(waitpid(pid, &status, 0) == pid);

        fx_init(&f);
        /* Kept data intact whatever the moment of the kill. */
        QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM history_19990_300"), 30);
        QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM latest WHERE topic_id LIKE "
                                      "'KB-NEW-%'"), 100);
        QS_CHECK(key_present(&f, 19990, 300));
        /* The next pass finishes the job. */
        QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
        QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM partitions"), 1);
        QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                      "AND name LIKE 'history%'"), 1);
        QS_CHECK_EQ_INT(count_keys(&f), 1);
        QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM latest"), 100);
        QS_CHECK_EQ_INT(count_sql(&f, "SELECT count(*) FROM history_19990_300"), 30);
        fx_close(&f);
    }
}

int
main(void)
{
    qs_log_init("test_purge", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_purge_partition_expires_only_when_its_whole_day_is_past_max_age);
    QS_RUN(test_purge_uses_each_topics_own_max_age);
    QS_RUN(test_purge_pass_drops_expired_partitions_and_shreds_their_keys);
    QS_RUN(test_purge_pass_deletes_expired_rows_of_the_straddling_partition);
    QS_RUN(test_purge_pass_expires_latest_by_last_report_per_topic);
    QS_RUN(test_purge_pass_deletes_latest_in_batches);
    QS_RUN(test_purge_pass_leaves_no_bytes_of_a_dropped_partition_in_db_or_wal);
    QS_RUN(test_purge_pass_returns_freed_pages_to_the_file_system);
    QS_RUN(test_purge_pass_shreds_orphan_keys_left_by_a_crash);
    QS_RUN(test_purge_pass_drops_unregistered_history_tables);
    QS_RUN(test_purge_pass_stops_before_deleting_when_asked);
    QS_RUN(test_purge_pass_waits_for_a_concurrent_writer);
    QS_RUN(test_purge_pass_killed_midway_loses_nothing_and_the_next_pass_finishes);
    return qs_test_summary();
}
