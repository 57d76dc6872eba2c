/* test_ctl_print.c - the printers of remote_print.h print, from a command's
 * JSON document alone, the same bytes as the command's own table and CSV.
 *
 * `qsctl --url` prints what qs-web answers with these printers, so this is
 * the proof that a remote run and a local run look the same: each case
 * runs the local command twice (--format json, then table or csv), feeds
 * the JSON to the printer and compares byte for byte. The fixtures include
 * suppressed groups, a CSV formula and quoting, a terminal escape in a
 * topic id, an empty store and a broker.stats file.
 */
#include "remote_print.h"
#include "test_ctl.h"

static char dir[512], home[600];
static ctl_run_t run, local;
static void (*printer)(const cJSON *);   /* what print_json calls */

/* Print argv[1] (JSON text) with printer, as a command (for ctl_test_run's
 * capture); exits 2 on bad JSON. */
static int
print_json(int argc, char **argv)
{
    cJSON *doc = cJSON_Parse(argv[1]);

    (void)argc;
    if (doc == NULL) {
        fprintf(stderr, "not JSON: %s\n", argv[1]);
        exit(2);
    }
    printer(doc);
    cJSON_Delete(doc);
    fflush(stdout);
    return 0;
}

/* Run fn as --format json and as --format fmt; the printer must match. */
static void
check_same(int (*fn)(int, char **), const char *cmd, const char *fmt,
           void (*p)(const cJSON *))
{
    char *json;

    QS_CHECK_EQ_INT(ctl_test_run(&local, fn, cmd, "--home", home, "--format", "json",
                                 (char *)NULL), 0);
    json = strdup(local.out);
    QS_CHECK_EQ_INT(ctl_test_run(&local, fn, cmd, "--home", home, "--format", fmt,
                                 (char *)NULL), 0);
    printer = p;
    QS_CHECK_EQ_INT(ctl_test_run(&run, print_json, "print", json, (char *)NULL), 0);
    if (strcmp(run.out, local.out) != 0)
        fprintf(stderr, "  %s --format %s\n--- local:\n%s--- printer:\n%s", cmd, fmt,
                local.out, run.out);
    QS_CHECK_STR(run.out, local.out);
    free(json);
}

static void
check_all(void)
{
    check_same(cmd_compliance, "compliance", "table", ctl_print_compliance_table);
    check_same(cmd_compliance, "compliance", "csv", ctl_print_compliance_csv);
    check_same(cmd_stats, "stats", "table", ctl_print_stats_table);
}

static void
test_printers_match_local_output_on_an_empty_store(void)
{
    ctl_test_site(dir, sizeof dir, home, sizeof home, "pe");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home,
                                 "--max-age-days", "30", (char *)NULL), 0);
    check_all();
    ctl_test_rmrf(dir);
}

static void
test_printers_match_local_output_with_suppression_and_csv_traps(void)
{
    ctl_test_site(dir, sizeof dir, home, sizeof home, "pf");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home,
                                 "--max-age-days", "30", "--k", "5", (char *)NULL), 0);
    ctl_test_latest(home, 1, 5, 500, "KB100", 0);
    ctl_test_latest(home, 100, 17, 500, "KB100", 2);
    ctl_test_latest(home, 300, 3, 500, "KB100", 1);   /* < k: hidden, with state 0 (5) */
    ctl_test_latest(home, 400, 2, 500, "KB200", 3);   /* every group < k: no row at all */
    ctl_test_latest(home, 500, 5, 500, "=HYPERLINK(\"x\")", 1);
    ctl_test_latest(home, 600, 5, 500, "a,\"b", 2);
    ctl_test_latest(home, 700, 9, 301, "EVIL\x1b[2J", 4);
    check_all();
    check_same(cmd_compliance, "compliance", "table", ctl_print_compliance_table);
    QS_CHECK(strstr(local.out, "<5") != NULL);
    QS_CHECK(strstr(local.out, "\\x1b") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_stats_printer_matches_with_broker_counters(void)
{
    char path[800];
    FILE *f;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "pb");
    ctl_test_latest(home, 1, 3, 500, "KB1", 1);
    snprintf(path, sizeof path, "%s/broker.stats", home);
    f = fopen(path, "w");
    QS_CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("{\"forwarded\":12,\"replies\":11,\"notices\":{\"BAD_ENVELOPE/BAD_FRAMES\":2,"
          "\"REVOKED/CLIENT_REVOKED\":1,\"RETRY_LATER/STORE_BUSY\":4},\"zap_admitted\":7,\"zap_refused\":1,"
          "\"updated_utc\":\"2026-01-31T12:00:00Z\"}\n", f);
    fclose(f);
    check_same(cmd_stats, "stats", "table", ctl_print_stats_table);
    QS_CHECK(strstr(local.out, "broker.zap_admitted") != NULL);
    QS_CHECK(strstr(local.out, "rejected.REVOKED") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_printers_survive_malformed_documents(void)
{
    static const char *const docs[] = {
        "{}", "[]", "{\"rows\":7}", "{\"rows\":[1,\"x\",null,{}]}",
        "{\"rejected\":[1],\"broker\":{\"notices\":3}}", "{\"history\":true,\"rows\":[{}]}",
    };
    void (*const printers[])(const cJSON *) = {
        ctl_print_compliance_table, ctl_print_compliance_csv, ctl_print_stats_table,
        ctl_print_lookup_table, ctl_print_policy_show, ctl_print_policy_history,
        ctl_print_policy_set, ctl_print_audit_show,
    };
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++)
        for (size_t p = 0; p < sizeof printers / sizeof printers[0]; p++) {
            printer = printers[p];
            QS_CHECK_EQ_INT(ctl_test_run(&run, print_json, "print", docs[d], (char *)NULL), 0);
        }
}

int
main(void)
{
    ctl_test_init();
    QS_RUN(test_printers_match_local_output_on_an_empty_store);
    QS_RUN(test_printers_match_local_output_with_suppression_and_csv_traps);
    QS_RUN(test_stats_printer_matches_with_broker_counters);
    QS_RUN(test_printers_survive_malformed_documents);
    return qs_test_summary();
}
