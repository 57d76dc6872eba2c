/* test_group.c - groups of machines in the store (qs_store_group.h), on either engine.
 *
 * Runs on a fresh SQLite store.db; with QS_TEST_PG_URL set (tests/pg/
 * read_pg.sh starts the server) on a fresh PostgreSQL store instead, the
 * same tests through the same engine-neutral API: name rules, "unknown
 * group" changing nothing (before any group exists and after), a group's
 * compliance counting its members' rows only (scope and no-report cells
 * the group's: members with a row of the type) and suppressed by the
 * fleet's rules, member counts below k hidden, removing members by any
 * spelling, forget dropping memberships, deleting a group.
 */
#include "qs_policy.h"
#include "qs_store_forget.h"
#include "qs_store_group.h"
#include "qs_store_query.h"
#include "qs_test.h"
#include "storedb_pg.h"
#include "storedb_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[512];
static const char *pg_url;

static void
run_sql(qs_storedb_t *s, const char *sql)
{
    if (qs_storedb_pgdb(s) != NULL ? qs_pgdb_exec(qs_storedb_pgdb(s), sql) != 0
                                   : sqlite3_exec(qs_storedb_sqlite(s), sql, NULL, NULL,
                                                  NULL) != SQLITE_OK) {
        fprintf(stderr, "fixture failed: %s\n", sql);
        exit(2);
    }
}

static qs_storedb_t *
open_store(const char *tag)
{
    char path[700], err[512];
    qs_storedb_t *s;

    qs_test_tmpdir(dir, sizeof dir, tag);
    if (pg_url != NULL) {
        s = qs_storedb_open(pg_url, 1, err, sizeof err);
        if (s != NULL)
            run_sql(s, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
                       "CREATE SCHEMA public");
        qs_storedb_destroy(&s);
        s = qs_storedb_open(pg_url, 1, err, sizeof err);
    } else {
        snprintf(path, sizeof path, "%s/store.db", dir);
        s = qs_storedb_open(path, 1, err, sizeof err);
    }
    if (s == NULL) {
        fprintf(stderr, "cannot open the store: %s\n", err);
        exit(2);
    }
    return s;
}

static void
close_store(qs_storedb_t **s)
{
    char cmd[600];

    qs_storedb_destroy(s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* The test's pseudonym of machine m: 16 bytes of m. */
static void
ps_of(uint8_t out[QS_PSEUDONYM_BYTES], uint8_t m)
{
    memset(out, m, QS_PSEUDONYM_BYTES);
}

/* One row of latest (client = machine) for machine m. Only latest: the
 * group answer counts latest, not compliance_counts. */
static void
add_latest(qs_storedb_t *s, uint8_t m, const char *topic_id, uint32_t state)
{
    char sql[400], hex[2 * QS_PSEUDONYM_BYTES + 1];

    for (unsigned i = 0; i < QS_PSEUDONYM_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", m);
    if (qs_storedb_pgdb(s) != NULL)
        snprintf(sql, sizeof sql, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                 "time_ms, report_ms, machine_ps) VALUES (%u, 500, '%s', %u, 1, 2, "
                 "'\\x%s'::bytea)", m, topic_id, state, hex);
    else
        snprintf(sql, sizeof sql, "INSERT INTO latest(client_id, topic_type, topic_id, state_id, "
                 "time_ms, report_ms, machine_ps) VALUES (%u, 500, '%s', %u, 1, 2, X'%s')", m,
                 topic_id, state, hex);
    run_sql(s, sql);
}

static qs_policy_t
policy_k(int k)
{
    qs_policy_t p;

    qs_policy_defaults(&p);
    p.k = k;
    return p;
}

/* Add machines [first, last] to group name; returns how many were new. */
static int64_t
add_range(qs_storedb_t *s, const char *name, uint8_t first, uint8_t last)
{
    uint8_t ps[64][QS_PSEUDONYM_BYTES];
    char err[512];
    int64_t added = -1;
    size_t n = 0;

    for (unsigned m = first; m <= last; m++)
        ps_of(ps[n++], (uint8_t)m);
    QS_CHECK_EQ_INT(qs_storedb_group_add(s, name, (const uint8_t(*)[QS_PSEUDONYM_BYTES])ps, n,
                                         &added, err, sizeof err), 0);
    return added;
}

static void
test_group_names_are_1_to_64_printable_characters(void)
{
    char err[256], long_name[80];

    QS_CHECK_EQ_INT(qs_group_name_check("Finance", err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_group_name_check("Büro Zürich", err, sizeof err), 0);
    QS_CHECK_EQ_INT(qs_group_name_check("", err, sizeof err), -1);
    QS_CHECK_EQ_INT(qs_group_name_check(" Finance", err, sizeof err), -1);
    QS_CHECK_EQ_INT(qs_group_name_check("Fin\tance", err, sizeof err), -1);
    QS_CHECK_EQ_INT(qs_group_name_check("Fin\xc2\x85", err, sizeof err), -1);   /* C1 */
    QS_CHECK_EQ_INT(qs_group_name_check("Fin\xff", err, sizeof err), -1);
    memset(long_name, 'x', 64);
    long_name[64] = '\0';
    QS_CHECK_EQ_INT(qs_group_name_check(long_name, err, sizeof err), 0);
    long_name[64] = 'x';
    long_name[65] = '\0';
    QS_CHECK_EQ_INT(qs_group_name_check(long_name, err, sizeof err), -1);
}

static void
test_unknown_group_is_an_error_that_changes_nothing(void)
{
    qs_storedb_t *s = open_store("group-unknown");
    qs_policy_t p = policy_k(1);
    qs_storedb_compliance_t res;
    qs_group_list_t l;
    uint8_t ps[1][QS_PSEUDONYM_BYTES];
    int64_t n = 0;
    int exists = 1, created = 0;
    char err[512];

    ps_of(ps[0], 1);
    /* Before any group exists: the tables are not there yet. */
    QS_CHECK_EQ_INT(qs_storedb_group_exists(s, "Nope", &exists, err, sizeof err), 0);
    QS_CHECK_EQ_INT(exists, 0);
    QS_CHECK_EQ_INT(qs_storedb_group_add(s, "Nope", (const uint8_t(*)[QS_PSEUDONYM_BYTES])ps, 1,
                                         &n, err, sizeof err), QS_GROUP_UNKNOWN);
    QS_CHECK_EQ_INT(qs_storedb_group_remove(s, "Nope", NULL, 0, &n, err, sizeof err),
                    QS_GROUP_UNKNOWN);
    QS_CHECK_EQ_INT(qs_storedb_group_list(s, &l, &p, "Nope", err, sizeof err), QS_GROUP_UNKNOWN);
    QS_CHECK_EQ_INT(qs_storedb_group_list(s, &l, &p, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT((int)l.n, 0);
    QS_CHECK_EQ_INT(qs_storedb_group_compliance(s, &res, &p, "Nope", NULL, NULL, err, sizeof err),
                    QS_GROUP_UNKNOWN);
    /* With another group: still unknown, and the other untouched. */
    QS_CHECK_EQ_INT(qs_storedb_group_create(s, "Finance", 1000, &created, err, sizeof err), 0);
    QS_CHECK_EQ_INT(created, 1);
    QS_CHECK_EQ_INT(qs_storedb_group_create(s, "Finance", 2000, &created, err, sizeof err), 0);
    QS_CHECK_EQ_INT(created, 0);
    QS_CHECK_EQ_INT(qs_storedb_group_add(s, "Nope", (const uint8_t(*)[QS_PSEUDONYM_BYTES])ps, 1,
                                         &n, err, sizeof err), QS_GROUP_UNKNOWN);
    QS_CHECK_EQ_INT(qs_storedb_group_compliance(s, &res, &p, "Nope", NULL, NULL, err, sizeof err),
                    QS_GROUP_UNKNOWN);
    QS_CHECK_EQ_INT(qs_storedb_group_list(s, &l, &p, NULL, err, sizeof err), 0);
    QS_CHECK_EQ_INT((int)l.n, 1);
    QS_CHECK_STR(l.rows[0].name, "Finance");
    QS_CHECK_EQ_INT((int)l.rows[0].created_ms, 1000);
    QS_CHECK_EQ_INT((int)l.rows[0].members, 0);     /* k = 1: 0 is not below it */
    qs_group_list_free(&l);
    QS_CHECK_EQ_INT(qs_storedb_group_exists(s, "Finance", &exists, err, sizeof err), 0);
    QS_CHECK_EQ_INT(exists, 1);
    close_store(&s);
}

/* Finance: machines 1..8. KB1: 1..4 state 2, 5..7 state 3, 8 state 1;
 * KB2: 1, 2 state 2. Outside: 20..24 KB1 state 1, KB2 state 2. */
static qs_storedb_t *
open_finance(const char *tag)
{
    qs_storedb_t *s = open_store(tag);
    int created = 0;
    char err[512];

    for (uint8_t m = 1; m <= 8; m++)
        add_latest(s, m, "KB1", m <= 4 ? 2 : m <= 7 ? 3 : 1);
    add_latest(s, 1, "KB2", 2);
    add_latest(s, 2, "KB2", 2);
    for (uint8_t m = 20; m <= 24; m++) {
        add_latest(s, m, "KB1", 1);
        add_latest(s, m, "KB2", 2);
    }
    QS_CHECK_EQ_INT(qs_storedb_group_create(s, "Finance", 1, &created, err, sizeof err), 0);
    QS_CHECK_EQ_INT((int)add_range(s, "Finance", 1, 8), 8);
    QS_CHECK_EQ_INT((int)add_range(s, "Finance", 7, 8), 0);   /* members already */
    return s;
}

static void
check_row(const qs_storedb_compliance_row_t *r, const char *id, uint32_t state, int64_t count)
{
    QS_CHECK_STR(r->topic_id, id);
    QS_CHECK_EQ_INT((int)r->state_id, (int)state);
    QS_CHECK_EQ_INT((int)r->count, (int)count);
    QS_CHECK_EQ_INT(r->no_report, 0);
}

/* A topic's no-report row: the group's scope (members with a row of the
 * topic type) minus the members with a state for the topic. */
static void
check_no_report(const qs_storedb_compliance_row_t *r, const char *id, int64_t count)
{
    QS_CHECK_STR(r->topic_id, id);
    QS_CHECK_EQ_INT(r->no_report, 1);
    QS_CHECK_EQ_INT((int)(r->state_id == QS_STOREDB_NO_REPORT_STATE), 1);
    QS_CHECK_EQ_INT((int)r->count, (int)count);
}

/* Every row of res carries the group's scope, not the fleet's. */
static void
check_scope(const qs_storedb_compliance_t *res, int64_t scope)
{
    for (size_t i = 0; i < res->n; i++)
        QS_CHECK_EQ_INT((int)res->rows[i].scope, (int)scope);
}

static void
test_group_compliance_counts_members_only_under_the_fleets_suppression(void)
{
    qs_storedb_t *s = open_finance("group-compliance");
    qs_policy_t k1 = policy_k(1), k3 = policy_k(3);
    qs_storedb_compliance_t res;
    qs_group_list_t l;
    uint32_t tt = 500;
    char err[512];

    QS_CHECK_EQ_INT(qs_storedb_group_compliance(s, &res, &k1, "Finance", NULL, NULL, err,
                                                sizeof err), 0);
    /* Scope: the 8 members (all have a type-500 row), not the fleet's 13.
     * KB1: every member has a state (no report 0); KB2: 2 of 8 (no report 6). */
    QS_CHECK_EQ_INT((int)res.n, 6);
    if (res.n == 6) {
        check_row(&res.rows[0], "KB1", 1, 1);
        check_row(&res.rows[1], "KB1", 2, 4);
        check_row(&res.rows[2], "KB1", 3, 3);
        check_no_report(&res.rows[3], "KB1", 0);
        check_row(&res.rows[4], "KB2", 2, 2);
        check_no_report(&res.rows[5], "KB2", 6);
        check_scope(&res, 8);
    }
    qs_storedb_compliance_free(&res);
    /* k = 3: KB1 state 1 (1) primary, state 3 (3) complementary; hidden sum
     * 4 = 2 x (k - 1) could be two cells of 2, so state 2 (4) goes too; the
     * no-report 0 is nobody and shown. KB2: all states below k: dropped. */
    QS_CHECK_EQ_INT(qs_storedb_group_compliance(s, &res, &k3, "Finance", &tt, NULL, err,
                                                sizeof err), 0);
    QS_CHECK_EQ_INT(res.k, 3);
    QS_CHECK_EQ_INT((int)res.n, 4);
    if (res.n == 4) {
        check_row(&res.rows[0], "KB1", 1, QS_STOREDB_SUPPRESSED);
        check_row(&res.rows[1], "KB1", 2, QS_STOREDB_SUPPRESSED);
        check_row(&res.rows[2], "KB1", 3, QS_STOREDB_SUPPRESSED);
        check_no_report(&res.rows[3], "KB1", 0);
        check_scope(&res, 8);
    }
    qs_storedb_compliance_free(&res);
    QS_CHECK_EQ_INT(qs_storedb_group_compliance(s, &res, &k3, "Finance", NULL, "KB2", err,
                                                sizeof err), 0);
    QS_CHECK_EQ_INT((int)res.n, 0);
    qs_storedb_compliance_free(&res);
    /* Member counts: 8 shown at k = 3, hidden at k = 9. */
    k3.k = 9;
    QS_CHECK_EQ_INT(qs_storedb_group_list(s, &l, &k3, "Finance", err, sizeof err), 0);
    QS_CHECK_EQ_INT((int)l.n, 1);
    QS_CHECK_EQ_INT((int)l.rows[0].members, QS_STOREDB_SUPPRESSED);
    qs_group_list_free(&l);
    close_store(&s);
}

static void
test_remove_forget_and_delete_take_machines_out(void)
{
    qs_storedb_t *s = open_finance("group-remove");
    qs_policy_t k1 = policy_k(1);
    qs_storedb_compliance_t res;
    qs_forget_counts_t fc;
    qs_machine_ps_t who[2];
    qs_group_list_t l;
    int64_t n = 0;
    char err[512];

    /* Machine 8 under a second spelling (as a legacy fold gives): matched. */
    memset(who, 0, sizeof who);
    who[0].n = 2;
    ps_of(who[0].machine_ps[0], 99);
    ps_of(who[0].machine_ps[1], 8);
    who[1].n = 1;
    ps_of(who[1].machine_ps[0], 42);   /* not a member */
    QS_CHECK_EQ_INT(qs_storedb_group_remove(s, "Finance", who, 2, &n, err, sizeof err), 0);
    QS_CHECK_EQ_INT((int)n, 1);
    /* Forget machine 7: its rows and its membership go. */
    memset(who, 0, sizeof who);
    who[0].n = 1;
    ps_of(who[0].machine_ps[0], 7);
    QS_CHECK(qs_storedb_forget_who(s, &fc, &who[0], err, sizeof err) >= 0);
    add_latest(s, 7, "KB1", 3);         /* it reports again: not a member any more */
    QS_CHECK_EQ_INT(qs_storedb_group_list(s, &l, &k1, "Finance", err, sizeof err), 0);
    QS_CHECK_EQ_INT((int)l.rows[0].members, 6);
    qs_group_list_free(&l);
    QS_CHECK_EQ_INT(qs_storedb_group_compliance(s, &res, &k1, "Finance", NULL, "KB1", err,
                                                sizeof err), 0);
    /* Members 1..6 now: scope 6, each with a KB1 state (no report 0). */
    QS_CHECK_EQ_INT((int)res.n, 3);
    if (res.n == 3) {
        check_row(&res.rows[0], "KB1", 2, 4);
        check_row(&res.rows[1], "KB1", 3, 2);
        check_no_report(&res.rows[2], "KB1", 0);
        check_scope(&res, 6);
    }
    qs_storedb_compliance_free(&res);
    /* Delete the group: every membership goes, the name is unknown. */
    QS_CHECK_EQ_INT(qs_storedb_group_remove(s, "Finance", NULL, 0, &n, err, sizeof err), 0);
    QS_CHECK_EQ_INT((int)n, 6);
    QS_CHECK_EQ_INT(qs_storedb_group_compliance(s, &res, &k1, "Finance", NULL, NULL, err,
                                                sizeof err), QS_GROUP_UNKNOWN);
    close_store(&s);
}

int
main(void)
{
    pg_url = getenv("QS_TEST_PG_URL");
    if (pg_url != NULL && *pg_url == '\0')
        pg_url = NULL;
    QS_RUN(test_group_names_are_1_to_64_printable_characters);
    QS_RUN(test_unknown_group_is_an_error_that_changes_nothing);
    QS_RUN(test_group_compliance_counts_members_only_under_the_fleets_suppression);
    QS_RUN(test_remove_forget_and_delete_take_machines_out);
    return qs_test_summary();
}
