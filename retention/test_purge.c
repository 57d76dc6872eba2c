/* test_purge.c - the retention decision and pass, against a real store.db.
 *
 * Each test builds a store.db and an epoch key directory in a fresh temporary
 * directory, fills partitions and latest rows with the store's own statements
 * (store/qs_store_bench.h), runs qs_purge_pass at a fixed "now", and checks
 * what is left through the store's API (partitions, rows, counts), the key
 * files, and the raw bytes of store.db and its WAL.
 */
#include "purge.h"
#include "qs_clock.h"
#include "qs_log.h"
#include "qs_store_bench.h"     /* store/'s test header: rows written by the store's statements */
#include "qs_store_check.h"
#include "qs_store_lookup.h"
#include "qs_store_query.h"
#include "qs_test.h"

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
    qs_store_bench_t *bench;
    int in_tx;              /* fx_begin called: rows go into that transaction */
};

/* Open store.db and the key directory in f->dir (already made). */
static void
fx_init(struct fixture *f)
{
    char err[512];

    snprintf(f->db_path, sizeof f->db_path, "%s/store.db", f->dir);
    snprintf(f->epochs, sizeof f->epochs, "%s/epochs", f->dir);
    f->in_tx = 0;
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
    f->bench = qs_store_bench_new(f->db, err, sizeof err);
    if (f->bench == NULL) {
        fprintf(stderr, "store.db: %s\n", err);
        exit(2);
    }
}

static void
fx_open(struct fixture *f, const char *tag)
{
    qs_test_tmpdir(f->dir, sizeof f->dir, tag);
    fx_init(f);
}

/* Close store.db and the keys (the files stay). */
static void
fx_shut(struct fixture *f)
{
    qs_store_bench_destroy(&f->bench);
    qs_epochkeys_destroy(&f->ks);
    qs_storedb_destroy(&f->db);
}

static void
fx_close(struct fixture *f)
{
    char cmd[600];

    fx_shut(f);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
}

/* One transaction around many rows (else each row commits on its own). */
static void
fx_begin(struct fixture *f)
{
    QS_ASSERT(qs_store_bench_begin(f->bench) == 0);
    f->in_tx = 1;
}

static void
fx_commit(struct fixture *f)
{
    QS_ASSERT(qs_store_bench_commit(f->bench) == 0);
    f->in_tx = 0;
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
    int64_t epoch = qs_epoch_of(time_ms);
    char details[64];
    uint8_t ps[16], sealed[256];
    size_t sealed_len = 0;
    const uint8_t *key;
    qs_store_bench_row_t row = { .client_id = client, .serial = (uint64_t)serial,
                                 .topic_type = topic, .topic_id = topic_id, .state_id = 2,
                                 .time_ms = time_ms, .machine_ps = ps };

    machine_ps(ps, machine);
    key = qs_epochkeys_get(f->ks, epoch, topic, 1);
    QS_ASSERT(key != NULL);
    snprintf(details, sizeof details, "details of %s", topic_id);
    QS_ASSERT(qs_details_seal(sealed, &sealed_len, sizeof sealed, (const uint8_t *)details,
                              strlen(details), ps, sizeof ps, key) == 0);
    row.details = sealed;
    row.details_len = sealed_len;
    if (!f->in_tx)
        QS_ASSERT(qs_store_bench_begin(f->bench) == 0);
    QS_ASSERT(qs_store_bench_history(f->bench, &row) == 0);
    if (!f->in_tx)
        QS_ASSERT(qs_store_bench_commit(f->bench) == 0);
}

/* One latest row: state 2, changed and last reported at report_ms. */
static void
fx_latest(struct fixture *f, int64_t client, uint32_t topic, const char *topic_id,
          int64_t report_ms, int machine)
{
    uint8_t ps[16];
    qs_store_bench_row_t row = { .client_id = client, .topic_type = topic,
                                 .topic_id = topic_id, .state_id = 2, .time_ms = report_ms,
                                 .report_ms = report_ms, .machine_ps = ps };

    machine_ps(ps, machine);
    QS_ASSERT(qs_store_bench_latest(f->bench, &row) == 0);
}

/* Put the WAL's content in the main file (and empty the WAL). */
static void
fx_checkpoint(struct fixture *f)
{
    QS_ASSERT(qs_store_bench_fast(f->bench, 0) == 0);
}

/* ---- what is left, through the store's own reads ---------------------------- */

struct part_seen {
    int64_t epoch;
    uint32_t topic_type;
    int found;          /* a history table of (epoch, topic_type) is present */
    int64_t rows;       /* the rows in it */
    int64_t tables;     /* history tables present, all partitions */
};

static void
part_seen_cb(void *ctx, const qs_check_partition_t *part)
{
    struct part_seen *ps = ctx;

    ps->tables++;
    if (part->epoch == ps->epoch && part->topic_type == ps->topic_type) {
        ps->found = 1;
        ps->rows = part->rows;
    }
}

/* What qs_storedb_check_partitions sees: every history table present (a
 * registered partition without a table is skipped). */
static struct part_seen
history_tables(struct fixture *f, int64_t epoch, uint32_t topic)
{
    struct part_seen ps = { epoch, topic, 0, 0, 0 };
    qs_policy_t p;
    char err[512];

    qs_policy_defaults(&p);
    QS_ASSERT(qs_storedb_check_partitions(f->db, part_seen_cb, &ps, &p, NOW, 0, err,
                                          sizeof err) == 0);
    return ps;
}

/* The rows of partition (epoch, topic)'s table; -1 when there is no table. */
static int64_t
history_rows(struct fixture *f, int64_t epoch, uint32_t topic)
{
    struct part_seen ps = history_tables(f, epoch, topic);
    return ps.found ? ps.rows : -1;
}

/* The registered partitions; *rows gets (epoch, topic)'s registered count. */
static size_t
registered(struct fixture *f, int64_t epoch, uint32_t topic, int64_t *rows)
{
    qs_partition_t *parts = NULL;
    size_t n = 0, found = 0;

    QS_ASSERT(qs_storedb_partitions(f->db, &parts, &n) == 0);
    for (size_t i = 0; i < n; i++)
        if (parts[i].epoch == epoch && parts[i].topic_type == topic) {
            found = 1;
            if (rows != NULL)
                *rows = parts[i].rows;
        }
    free(parts);
    return epoch < 0 ? n : found;
}

/* 2 when partition (epoch, topic) is registered and its table present, 1
 * when only one of them, 0 when it is gone. */
static int
partition_present(struct fixture *f, int64_t epoch, uint32_t topic)
{
    return (int)registered(f, epoch, topic, NULL) + history_tables(f, epoch, topic).found;
}

static int64_t
latest_rows(struct fixture *f)
{
    qs_storedb_stats_t st;
    char err[512];
    int64_t n;

    QS_ASSERT(qs_storedb_stats(f->db, &st, err, sizeof err) == 0);
    n = st.latest_rows;
    qs_storedb_stats_free(&st);
    return n;
}

/* Machine n's rows (history != 0: its events, else its current states) of
 * topic type topic (0: every type) whose topic id starts with prefix (NULL:
 * any); *min_time gets the earliest time among them (when not NULL). */
static int64_t
machine_rows(struct fixture *f, int machine, int history, uint32_t topic, const char *prefix,
             int64_t *min_time)
{
    qs_storedb_lookup_t res;
    uint8_t ps[16];
    char err[512];
    int64_t n = 0;

    machine_ps(ps, machine);
    QS_ASSERT(qs_storedb_lookup(f->db, &res, ps, NULL, history, NULL, err, sizeof err) == 0);
    for (size_t i = 0; i < res.n; i++) {
        const qs_storedb_lookup_row_t *r = &res.rows[i];
        if ((topic != 0 && r->topic_type != topic) ||
            (prefix != NULL && strncmp(r->topic_id, prefix, strlen(prefix)) != 0))
            continue;
        if (min_time != NULL && (n == 0 || r->time_ms < *min_time))
            *min_time = r->time_ms;
        n++;
    }
    qs_storedb_lookup_free(&res);
    return n;
}

/* What qsctl compliance reads (every group, nothing suppressed): the sum of
 * the counts of groups whose topic id is topic_id (NULL: all); *groups gets
 * how many groups that is. */
static int64_t
compliance_sum(struct fixture *f, const char *topic_id, int64_t *groups)
{
    qs_storedb_compliance_t res;
    qs_policy_t p;
    char err[512];
    int64_t sum = 0;

    qs_policy_defaults(&p);
    p.k = 1;
    QS_ASSERT(qs_storedb_compliance(f->db, &res, &p, NULL, topic_id, err, sizeof err) == 0);
    if (groups != NULL)
        *groups = 0;
    for (size_t i = 0; i < res.n; i++) {
        if (res.rows[i].no_report)   /* each topic's no-report cell: not a state group */
            continue;
        sum += res.rows[i].count;
        if (groups != NULL)
            ++*groups;
    }
    qs_storedb_compliance_free(&res);
    return sum;
}

/* SQLite's free-page count, from the database header on disk (offset 36,
 * big-endian): after a scrub the WAL is empty, so the file is current. */
static int64_t
freelist_pages(const char *db_path)
{
    uint8_t h[40];
    int fd = open(db_path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd < 0 ? -1 : pread(fd, h, sizeof h, 0);

    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof h)
        return -1;
    return ((int64_t)h[36] << 24) | ((int64_t)h[37] << 16) | ((int64_t)h[38] << 8) | h[39];
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
    QS_CHECK_EQ_INT(history_rows(&f, 19971, 300), 1);
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
    QS_CHECK_EQ_INT(history_rows(&f, 19990, 500), 2);
    {
        int64_t min_time = -1, rows = -1;
        QS_CHECK_EQ_INT(machine_rows(&f, 1, 1, 500, NULL, &min_time), 2);   /* all its rows */
        QS_CHECK_EQ_INT(min_time, 19990 * DAY + DAY / 2);
        QS_CHECK(registered(&f, 19990, 500, &rows));
        QS_CHECK_EQ_INT(rows, 2);
    }
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
    QS_CHECK_EQ_INT(latest_rows(&f), 3);
    /* Machine n is client n's here: KB-A was machine 1's, CI-B and DEP-A of
     * topic 300 machine 2's. */
    QS_CHECK_EQ_INT(machine_rows(&f, 1, 0, 0, "KB-A", NULL), 0);
    QS_CHECK_EQ_INT(machine_rows(&f, 2, 0, 0, "CI-B", NULL), 0);
    QS_CHECK_EQ_INT(machine_rows(&f, 2, 0, 300, NULL, NULL), 0);
    QS_CHECK_EQ_INT(machine_rows(&f, 1, 0, 500, "KB-B", NULL), 1);   /* the kept ones */
    QS_CHECK_EQ_INT(machine_rows(&f, 2, 0, 401, "CI-A", NULL), 1);
    /* What qsctl compliance reads followed, and forgot the expired topics. */
    {
        int64_t groups = -1;
        QS_CHECK_EQ_INT(compliance_sum(&f, NULL, NULL), 3);
        QS_CHECK_EQ_INT(compliance_sum(&f, "KB-A", &groups), 0);
        QS_CHECK_EQ_INT(groups, 0);
        QS_CHECK_EQ_INT(compliance_sum(&f, "CI-B", &groups), 0);
        QS_CHECK_EQ_INT(groups, 0);
        QS_CHECK_EQ_INT(compliance_sum(&f, "DEP-A", &groups), 1);
        QS_CHECK_EQ_INT(groups, 1);
    }
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
    fx_begin(&f);
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "KB%d", i);
        fx_latest(&f, i, 500, id, NOW - 20 * DAY, i % 200);
    }
    fx_latest(&f, 1, 500, "KB-FRESH", NOW, 1);
    fx_commit(&f);
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(c.latest_rows_deleted, n);
    QS_CHECK_EQ_INT(latest_rows(&f), 1);
    {
        int64_t groups = -1;
        QS_CHECK_EQ_INT(compliance_sum(&f, NULL, &groups), 1);
        QS_CHECK_EQ_INT(groups, 1);
    }
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
    fx_checkpoint(&f);
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
    {
        char problem[256];
        /* Incremental auto-vacuum, which returns freed pages, is on. */
        QS_CHECK_EQ_INT(qs_storedb_check_storage(f.db, problem, sizeof problem), 0);
    }
    for (int i = 0; i < 400; i++) {
        snprintf(id, sizeof id, "KB-BULK-%04d-%0100d", i, i);
        fx_history(&f, 500, 19980 * DAY + i, 1, i + 1, id, 4);
    }
    fx_history(&f, 500, 19999 * DAY, 1, 1000, "KB-SMALL", 4);
    fx_checkpoint(&f);
    before = file_size(f.db_path);
    QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
    after = file_size(f.db_path);
    QS_CHECK_EQ_INT(c.history_rows_deleted, 400);
    QS_CHECK(after < before / 2);
    QS_CHECK_EQ_INT(freelist_pages(f.db_path), 0);
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
    /* A foreign writer empties the registry; the table stays, unregistered. */
    QS_CHECK_EQ_INT(qs_store_bench_damage(f.bench, QS_STORE_DAMAGE_UNREGISTER_PARTITIONS, NULL), 0);
    QS_CHECK_EQ_INT(partition_present(&f, 19900, 300), 1);
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
        qs_storedb_t *other;
        qs_store_bench_t *writer;
        int ok;
        close(go[1]);
        close(ready[0]);
        snprintf(path, sizeof path, "%s/store.db", f.dir);
        if (read(go[0], &byte, 1) != 1 ||
            (other = qs_storedb_open(path, 0, err, sizeof err)) == NULL ||
            (writer = qs_store_bench_new(other, err, sizeof err)) == NULL)
            _exit(1);
        /* Hold the write lock (BEGIN IMMEDIATE) for 500 ms, then commit. */
        ok = qs_store_bench_begin(writer) == 0 &&
             qs_storedb_counter_add(other, "stored", 1) == 0 && write(ready[1], "r", 1) == 1;
        usleep(500000);
        ok = ok && qs_store_bench_commit(writer) == 0;
        qs_store_bench_destroy(&writer);
        qs_storedb_destroy(&other);
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
    {
        int64_t stored = -1;
        QS_CHECK(qs_storedb_counter_get(f.db, "stored", &stored) == 0);
        QS_CHECK_EQ_INT(stored, 1);
    }
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
        fx_begin(&f);
        for (int e = 0; e < 20; e++)            /* 20 expired days of topic 300 */
            for (int i = 0; i < 50; i++)
                fx_history(&f, 300, (19900 + e) * DAY + i, 1, e * 100 + i + 1, "KB-GONE", 1);
        fx_commit(&f);
        for (int i = 0; i < 30; i++)            /* kept: day 19990 of topic 300 */
            fx_history(&f, 300, 19990 * DAY + i, 2, i + 1, "KB-KEPT", 2);
        fx_begin(&f);
        for (int i = 0; i < QS_PURGE_LATEST_BATCH * 2; i++) {
            snprintf(id, sizeof id, "KB-OLD-%d", i);
            fx_latest(&f, i, 300, id, NOW - 40 * DAY, 3);
        }
        for (int i = 0; i < 100; i++) {
            snprintf(id, sizeof id, "KB-NEW-%d", i);
            fx_latest(&f, i, 300, id, NOW - DAY, 3);
        }
        fx_commit(&f);
        fx_shut(&f);

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
        QS_CHECK_EQ_INT(history_rows(&f, 19990, 300), 30);
        QS_CHECK_EQ_INT(machine_rows(&f, 3, 0, 0, "KB-NEW-", NULL), 100);
        QS_CHECK(key_present(&f, 19990, 300));
        /* The next pass finishes the job. */
        QS_CHECK(qs_purge_pass(f.db, f.ks, &p, NOW, NULL, &c, err, sizeof err) == 0);
        QS_CHECK_EQ_INT(registered(&f, -1, 0, NULL), 1);
        QS_CHECK_EQ_INT(history_tables(&f, 19990, 300).tables, 1);
        QS_CHECK_EQ_INT(count_keys(&f), 1);
        QS_CHECK_EQ_INT(latest_rows(&f), 100);
        QS_CHECK_EQ_INT(history_rows(&f, 19990, 300), 30);
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
