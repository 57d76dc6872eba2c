/* test_check.c - the measurements qsctl verify takes of store.db.
 *
 * Each test writes rows as qs-store would (test_storefill.h), breaks one
 * rule where it needs to, and checks what the store reports: per topic type
 * and per partition counts against a policy's cutoffs, text columns,
 * storage settings, and compliance_counts (check and repair).
 */
#include "qs_clock.h"
#include "qs_counts.h"
#include "qs_log.h"
#include "qs_store_check.h"
#include "test_storefill.h"

#include <sodium.h>

#define DAY QS_MS_PER_DAY
#define NOW (20000 * DAY + DAY / 2)
#define MAX_SEEN 8

struct seen {
    qs_check_latest_t latest[MAX_SEEN];
    qs_check_partition_t parts[MAX_SEEN];
    char columns[MAX_SEEN][64];
    char part_error[MAX_SEEN][128];
    size_t n_latest, n_parts, n_columns;
};

static void
on_latest(void *ctx, const qs_check_latest_t *t)
{
    struct seen *s = ctx;
    if (s->n_latest < MAX_SEEN)
        s->latest[s->n_latest++] = *t;
}

static void
on_partition(void *ctx, const qs_check_partition_t *p)
{
    struct seen *s = ctx;
    if (s->n_parts < MAX_SEEN) {
        s->parts[s->n_parts] = *p;
        snprintf(s->part_error[s->n_parts], sizeof s->part_error[0], "%s",
                 p->error ? p->error : "");
        s->parts[s->n_parts].error = NULL;
        s->n_parts++;
    }
}

static void
on_column(void *ctx, const char *table, const char *column, const char *type)
{
    struct seen *s = ctx;
    if (s->n_columns < MAX_SEEN)
        snprintf(s->columns[s->n_columns++], sizeof s->columns[0], "%s.%s %s", table, column,
                 type);
}

static void
policy_30_500_10(qs_policy_t *p)
{
    qs_policy_defaults(p);
    p->max_age_days = 30;
    QS_ASSERT(qs_policy_set_topic_age(p, 500, 10) == 0);
}

static void
test_check_latest_counts_rows_expired_by_each_types_cutoff(void)
{
    struct storefill f;
    struct seen s = { 0 };
    qs_policy_t p;
    uint8_t ps[16];
    char err[512];

    storefill_open(&f, "check-latest");
    policy_30_500_10(&p);
    storefill_ps(ps, 1);
    storefill_latest(&f, 1, 500, "KB-A", NOW - 11 * DAY, ps, NULL);     /* expired (10 d) */
    storefill_latest(&f, 1, 500, "KB-B", NOW - 9 * DAY, ps, NULL);
    storefill_latest(&f, 1, 300, "DEP-A", NOW - 11 * DAY, ps, NULL);    /* 30 d: kept */
    storefill_latest(&f, 2, 300, "DEP-A", NOW - 31 * DAY, ps, NULL);    /* expired */
    storefill_exec(&f, "UPDATE latest SET domain_ps = 'CORP' WHERE client_id = 2");
    QS_CHECK(qs_storedb_check_latest(f.db, on_latest, &s, &p, NOW, 0, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(s.n_latest, 2);
    QS_CHECK_EQ_INT(s.latest[0].topic_type, 300);
    QS_CHECK_EQ_INT(s.latest[0].rows, 2);
    QS_CHECK_EQ_INT(s.latest[0].expired, 1);
    QS_CHECK_EQ_INT(s.latest[0].not_pseudonym, 1);
    QS_CHECK_EQ_INT(s.latest[0].oldest_report_ms, NOW - 31 * DAY);
    QS_CHECK_EQ_INT(s.latest[1].topic_type, 500);
    QS_CHECK_EQ_INT(s.latest[1].rows, 2);
    QS_CHECK_EQ_INT(s.latest[1].expired, 1);
    QS_CHECK_EQ_INT(s.latest[1].not_pseudonym, 0);
    /* Two days of grace: KB-A (11 d, limit 12) is no longer counted. */
    s.n_latest = 0;
    QS_CHECK(qs_storedb_check_latest(f.db, on_latest, &s, &p, NOW, 2 * DAY, err,
                                     sizeof err) == 0);
    QS_CHECK_EQ_INT(s.latest[1].expired, 0);
    /* A policy without own ages: one cutoff for all. */
    qs_policy_defaults(&p);
    p.max_age_days = 10;
    s.n_latest = 0;
    QS_CHECK(qs_storedb_check_latest(f.db, on_latest, &s, &p, NOW, 0, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(s.latest[0].expired, 2);
    QS_CHECK_EQ_INT(s.latest[1].expired, 1);
    storefill_close(&f);
}

static void
test_check_partitions_measures_every_partition_present(void)
{
    struct storefill f;
    struct seen s = { 0 };
    qs_policy_t p;
    uint8_t ps[16];
    char err[512];

    storefill_open(&f, "check-parts");
    policy_30_500_10(&p);
    storefill_ps(ps, 1);
    /* Topic 500's cutoff is day 19990 + 12 h. */
    storefill_history(&f, 500, 19990 * DAY + 1, 1, 1, "KB-EARLY", ps, NULL);
    storefill_history(&f, 500, 19990 * DAY + DAY / 2, 1, 2, "KB-LATE", ps, NULL);
    storefill_history(&f, 300, 19800 * DAY, 1, 3, "DEP-OLD", ps, NULL);
    storefill_exec(&f, "UPDATE history_19800_300 SET user_ps = x'0102'");
    /* Registered without a table: skipped. Unregistered table: measured. */
    storefill_exec(&f, "INSERT INTO partitions(epoch, topic_type, rows) VALUES (19500, 300, 0)");
    storefill_exec(&f, "DELETE FROM partitions WHERE epoch = 19800");
    QS_CHECK(qs_storedb_check_partitions(f.db, on_partition, &s, &p, NOW, 0, err,
                                         sizeof err) == 0);
    QS_CHECK_EQ_INT(s.n_parts, 2);
    QS_CHECK_EQ_INT(s.parts[0].epoch, 19800);
    QS_CHECK_EQ_INT(s.parts[0].rows, 1);
    QS_CHECK_EQ_INT(s.parts[0].expired, 1);
    QS_CHECK_EQ_INT(s.parts[0].not_pseudonym, 1);
    QS_CHECK_STR(s.part_error[0], "");
    QS_CHECK_EQ_INT(s.parts[1].epoch, 19990);
    QS_CHECK_EQ_INT(s.parts[1].topic_type, 500);
    QS_CHECK_EQ_INT(s.parts[1].rows, 2);
    QS_CHECK_EQ_INT(s.parts[1].expired, 1);
    QS_CHECK_EQ_INT(s.parts[1].not_pseudonym, 0);
    storefill_close(&f);
}

static void
test_check_text_columns_names_only_columns_that_could_hold_a_name(void)
{
    struct storefill f;
    struct seen s = { 0 };
    char err[512];

    storefill_open(&f, "check-text");
    QS_CHECK(qs_storedb_check_text_columns(f.db, on_column, &s, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(s.n_columns, 0);
    storefill_exec(&f, "ALTER TABLE latest ADD COLUMN machine_name VARCHAR(64)");
    storefill_exec(&f, "ALTER TABLE latest ADD COLUMN counter_text_int INTEGER");
    QS_CHECK(qs_storedb_check_text_columns(f.db, on_column, &s, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(s.n_columns, 1);
    QS_CHECK_STR(s.columns[0], "latest.machine_name VARCHAR(64)");
    storefill_close(&f);
}

static void
test_check_storage_wants_incremental_vacuum(void)
{
    struct storefill f;
    char problem[256] = "";

    storefill_open(&f, "check-storage");
    QS_CHECK_EQ_INT(qs_storedb_check_storage(f.db, problem, sizeof problem), 0);
    storefill_exec(&f, "PRAGMA auto_vacuum = NONE");
    storefill_exec(&f, "VACUUM");
    QS_CHECK_EQ_INT(qs_storedb_check_storage(f.db, problem, sizeof problem), 1);
    QS_CHECK(strstr(problem, "auto_vacuum is 0") != NULL);
    storefill_close(&f);
}

static void
test_check_counts_finds_and_repair_fixes_compliance_counts(void)
{
    struct storefill f;
    uint8_t ps[16];
    int64_t missing = -1, stale = -1, groups = -1;
    char err[512];

    storefill_open(&f, "check-counts");
    storefill_ps(ps, 1);
    storefill_latest(&f, 1, 500, "KB-C", NOW, ps, NULL);
    storefill_latest(&f, 2, 500, "KB-C", NOW, ps, NULL);
    storefill_latest(&f, 2, 300, "DEP-C", NOW, ps, NULL);
    QS_CHECK(qs_storedb_check_counts(f.db, &missing, &stale, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(missing + stale, 0);
    storefill_exec(&f, "UPDATE compliance_counts SET count = 3 WHERE topic_id = 'KB-C'");
    storefill_exec(&f, "INSERT INTO compliance_counts VALUES (401, 'CI-GONE', 2, 1)");
    QS_CHECK(qs_storedb_check_counts(f.db, &missing, &stale, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(missing, 1);
    QS_CHECK_EQ_INT(stale, 1);
    QS_CHECK(qs_storedb_counts_repair(f.db, &groups, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(groups, 2);
    QS_CHECK(qs_storedb_check_counts(f.db, &missing, &stale, err, sizeof err) == 0);
    QS_CHECK_EQ_INT(missing + stale, 0);
    storefill_close(&f);
}

int
main(void)
{
    qs_log_init("test_check", QS_LOG_WARN);
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_check_latest_counts_rows_expired_by_each_types_cutoff);
    QS_RUN(test_check_partitions_measures_every_partition_present);
    QS_RUN(test_check_text_columns_names_only_columns_that_could_hold_a_name);
    QS_RUN(test_check_storage_wants_incremental_vacuum);
    QS_RUN(test_check_counts_finds_and_repair_fixes_compliance_counts);
    return qs_test_summary();
}
