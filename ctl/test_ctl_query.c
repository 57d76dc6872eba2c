/* test_ctl_query.c - qsctl compliance and stats on a store.db filled by the test.
 *
 * Each test makes a real site with `qsctl init`, inserts rows into store.db
 * as qs-store would, and checks what the commands print: the JSON contract
 * (keys exactly as DESIGN.md says; golden file
 * tests/golden/ctl_compliance.json), CSV and table output, k from the
 * policy, and the stats with the refusals the broker counted in
 * DIR/broker.stats. The queries themselves (grouping, suppression, the
 * query plan, the merge of refusals) are tested in store/test_query.c.
 */
#include "qs_brokerstats.h"
#include "qs_clock.h"
#include "qs_fsutil.h"
#include "test_ctl.h"

#ifndef QS_GOLDEN_DIR
#error "QS_GOLDEN_DIR must be defined by the build"
#endif

static char dir[512], home[600];
static ctl_run_t run;

/* The data set every compliance test uses (k defaults to 5):
 *   500 KB100  state 0 x5 (= k, hidden with the 4: complementary), 1 x4
 *              (suppressed), 2 x17, 3 x6
 *   500 KB200  state 3 x2 (all its groups below k: not shown)
 *   500 "=HYPERLINK(\"x\")"  state 1 x5 (a formula, for CSV)
 *   500 "a,\"b"   state 2 x5 (needs CSV quoting)
 *   301 DEP-1  state 4 x9 */
static void
fill(void)
{
    ctl_test_latest(home, 1, 5, 500, "KB100", 0);
    ctl_test_latest(home, 100, 4, 500, "KB100", 1);
    ctl_test_latest(home, 200, 17, 500, "KB100", 2);
    ctl_test_latest(home, 300, 6, 500, "KB100", 3);
    ctl_test_latest(home, 400, 2, 500, "KB200", 3);
    ctl_test_latest(home, 500, 5, 500, "=HYPERLINK(\"x\")", 1);
    ctl_test_latest(home, 600, 5, 500, "a,\"b", 2);
    ctl_test_latest(home, 700, 9, 301, "DEP-1", 4);
}

static void
setup(const char *tag)
{
    ctl_test_site(dir, sizeof dir, home, sizeof home, tag);
    fill();
}

static void
test_compliance_json_matches_contract_and_golden(void)
{
    char *golden;
    cJSON *doc, *rows, *row;

    setup("cj");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--format", "json", (char *)NULL), 0);
    golden = ctl_test_read(QS_GOLDEN_DIR "/ctl_compliance.json");
    QS_CHECK(golden != NULL);
    if (golden != NULL)
        QS_CHECK_STR(run.out, golden);
    free(golden);
    QS_CHECK_STR(run.err, "");

    /* Exactly one JSON document, and exactly the contract's keys. */
    doc = cJSON_Parse(run.out);
    QS_CHECK(doc != NULL);
    QS_CHECK_EQ_INT(cJSON_GetArraySize(doc), 2);
    QS_CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(doc, "k")->valueint, 5);
    rows = cJSON_GetObjectItemCaseSensitive(doc, "rows");
    QS_CHECK(cJSON_IsArray(rows));
    cJSON_ArrayForEach(row, rows) {
        const cJSON *count = cJSON_GetObjectItemCaseSensitive(row, "count");
        const cJSON *sup = cJSON_GetObjectItemCaseSensitive(row, "suppressed");
        QS_CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(row, "topic_type")));
        QS_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(row, "topic_id")));
        const cJSON *state_id = cJSON_GetObjectItemCaseSensitive(row, "state_id");
        const cJSON *percent = cJSON_GetObjectItemCaseSensitive(row, "percent");
        int no_report = cJSON_IsNull(state_id);
        QS_CHECK(cJSON_IsNumber(state_id) || no_report);
        QS_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(row, "state")));
        QS_CHECK(!no_report || strcmp(cJSON_GetObjectItemCaseSensitive(row, "state")->valuestring,
                                      "no report") == 0);
        QS_CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(row, "scope")));
        if (sup != NULL) {
            QS_CHECK(cJSON_IsTrue(sup));
            QS_CHECK(cJSON_IsNull(count));
            QS_CHECK(cJSON_IsNull(percent));
            QS_CHECK_EQ_INT(cJSON_GetArraySize(row), 8);
        } else {
            QS_CHECK(cJSON_IsNumber(count) && (count->valueint >= 5 || no_report));
            QS_CHECK(cJSON_IsNumber(percent));
            QS_CHECK_EQ_INT(cJSON_GetArraySize(row), 7);
        }
    }
    cJSON_Delete(doc);
    ctl_test_rmrf(dir);
}

static void
test_compliance_k_comes_from_the_policy(void)
{
    setup("ck");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, "--k", "2",
                                 (char *)NULL), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--topic-type", "500", "--topic-id", "KB200", "--format",
                                 "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"k\":2,\"rows\":[{\"topic_type\":500,\"topic_id\":\"KB200\","
                          "\"state_id\":3,\"state\":\"installed\",\"count\":2,"
                          "\"percent\":4.55,\"scope\":44},"
                          "{\"topic_type\":500,\"topic_id\":\"KB200\",\"state_id\":null,"
                          "\"state\":\"no report\",\"count\":42,\"percent\":95.45,"
                          "\"scope\":44}]}\n");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_policy, "policy", "set", "--home", home, "--k", "3",
                                 (char *)NULL), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--topic-type", "500", "--topic-id", "KB200", "--format",
                                 "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"k\":3,\"rows\":[]}\n");   /* KB200: all below k, not shown */
    /* A filter that matches nothing is an empty list, not an error. */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--topic-type", "300", "--format", "json", (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"k\":3,\"rows\":[]}\n");
    ctl_test_rmrf(dir);
}

static void
test_compliance_csv_quotes_and_defuses_formulas(void)
{
    setup("cc");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--topic-type", "500", "--format", "csv", (char *)NULL), 0);
    QS_CHECK_STR(run.out,
        "topic_type,topic_id,state_id,state,count,suppressed,percent,scope,no_report\n"
        "500,\"'=HYPERLINK(\"\"x\"\")\",1,not required,5,false,11.36,44,39\n"
        "500,KB100,0,unknown,,true,,44,12\n"
        "500,KB100,1,not required,,true,,44,12\n"
        "500,KB100,2,required,17,false,38.64,44,12\n"
        "500,KB100,3,installed,6,false,13.64,44,12\n"
        "500,\"a,\"\"b\",2,required,5,false,11.36,44,39\n");
    ctl_test_rmrf(dir);
}

static void
test_compliance_table_is_aligned_and_escapes_control_characters(void)
{
    char *line, *save = NULL;
    size_t width = 0;
    int lines = 0;

    setup("ct");
    ctl_test_latest(home, 900, 5, 301, "EVIL\x1b[2J", 6);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--topic-type", "301", (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "\x1b") == NULL);
    QS_CHECK(strstr(run.out, "EVIL\\x1b[2J") != NULL);
    QS_CHECK(strncmp(run.out, "TOPIC_TYPE  TOPIC_ID", 20) == 0);
    /* The last column is right-aligned: every line has the same width. */
    for (line = strtok_r(run.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (width == 0)
            width = strlen(line);
        QS_CHECK_EQ_INT(strlen(line), width);
        lines++;
    }
    QS_CHECK_EQ_INT(lines, 5);   /* header, two topics with their no-report rows */

    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--topic-type", "500", "--topic-id", "KB100", (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "not required     <5") != NULL);
    QS_CHECK(strstr(run.out, "2 groups suppressed (shown as <5): smaller than k=5") != NULL);
    ctl_test_rmrf(dir);
}

static void
test_compliance_reports_usage_and_site_errors(void)
{
    char missing[700];

    setup("cu");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--format", "xml", (char *)NULL), 2);
    QS_CHECK(strstr(run.err, "--format must be table, json or csv") != NULL);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", home,
                                 "--topic-type", "12", (char *)NULL), 2);
    QS_CHECK(strstr(run.err, "not a known topic type") != NULL);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--help", (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "usage: qsctl compliance") != NULL);
    snprintf(missing, sizeof missing, "%s/nowhere", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_compliance, "compliance", "--home", missing,
                                 (char *)NULL), 1);
    QS_CHECK(strstr(run.err, "qsctl init") != NULL);
    QS_CHECK_STR(run.out, "");
    ctl_test_rmrf(dir);
}

/* Two store clients and 10 + 7 history rows in two partitions of topic 500. */
static void
stats_rows(qs_store_bench_t *w, void *ctx)
{
    (void)ctx;
    QS_CHECK_EQ_INT(qs_store_bench_clients(w, 2, 0), 0);
    for (int i = 0; i < 17; i++) {
        qs_store_bench_row_t row = {
            .client_id = 1, .serial = (uint64_t)i + 1, .topic_type = 500, .topic_id = "KB1",
            .state_id = 2, .time_ms = (i < 10 ? 20454 : 20455) * QS_MS_PER_DAY + i };
        QS_CHECK_EQ_INT(qs_store_bench_history(w, &row), 0);
    }
}

static void
test_stats_reports_counters_rows_and_clients(void)
{
    qs_storedb_t *s;
    char err[256], path[700], profile[700];
    cJSON *doc, *rej;

    ctl_test_site(dir, sizeof dir, home, sizeof home, "st");
    snprintf(path, sizeof path, "%s/store.db", home);
    s = qs_storedb_open(path, 0, err, sizeof err);
    QS_CHECK(s != NULL);
    QS_CHECK_EQ_INT(qs_storedb_partition_ensure(s, 20454, 500), 0);
    QS_CHECK_EQ_INT(qs_storedb_partition_ensure(s, 20455, 500), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "stored", 42), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "duplicates", 3), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.BAD_MESSAGE", 4), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.CLOCK_SKEW", 1), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected_detail.STATE_OUT_OF_RANGE", 4), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "retries.NOT_CONFIGURED", 6), 0);
    qs_storedb_destroy(&s);
    ctl_test_store_write(home, stats_rows, NULL);
    ctl_test_latest(home, 1, 2, 500, "KB1", 2);
    snprintf(profile, sizeof profile, "%s/a.profile", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "a",
                                 "--out", profile, (char *)NULL), 0);
    snprintf(profile, sizeof profile, "%s/b.profile", dir);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_enroll, "enroll", "--home", home, "--name", "b",
                                 "--out", profile, (char *)NULL), 0);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_revoke, "revoke", "--home", home, "--name", "b",
                                 (char *)NULL), 0);

    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, "--format", "json",
                                 (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"stored\":42,\"duplicates\":3,\"clients\":2,\"history_rows\":17,"
                          "\"latest_rows\":2,\"partitions\":2,\"enrolled\":1,\"revoked\":1,"
                          "\"rejected\":{\"BAD_MESSAGE\":4,\"CLOCK_SKEW\":1},"
                          "\"rejected_detail\":{\"STATE_OUT_OF_RANGE\":4},"
                          "\"retries\":{\"NOT_CONFIGURED\":6}}\n");
    doc = cJSON_Parse(run.out);
    QS_CHECK(doc != NULL);
    rej = cJSON_GetObjectItemCaseSensitive(doc, "rejected");
    QS_CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(rej, "BAD_MESSAGE")->valueint, 4);
    cJSON_Delete(doc);

    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "stored") != NULL && strstr(run.out, "42") != NULL);
    QS_CHECK(strstr(run.out, "rejected.BAD_MESSAGE") != NULL);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, "--format", "csv",
                                 (char *)NULL), 0);
    QS_CHECK(strncmp(run.out, "name,value\nstored,42\nduplicates,3\n", 33) == 0);
    QS_CHECK(strstr(run.out, "\nrejected.BAD_MESSAGE,4\n") != NULL);
    QS_CHECK(strstr(run.out, "\nretries.NOT_CONFIGURED,6\n") != NULL);
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, "--format", "yaml",
                                 (char *)NULL), 2);
    ctl_test_rmrf(dir);
}

static void
write_broker_stats(const char *text)
{
    char path[700], err[256];

    snprintf(path, sizeof path, "%s/%s", home, QS_BROKERSTATS_FILE);
    QS_CHECK_EQ_INT(qs_fs_write_private(path, text, strlen(text), err, sizeof err), 0);
}

static void
test_stats_adds_the_broker_refusals(void)
{
    qs_storedb_t *s;
    char err[256], path[700];

    ctl_test_site(dir, sizeof dir, home, sizeof home, "sb");
    snprintf(path, sizeof path, "%s/store.db", home);
    s = qs_storedb_open(path, 0, err, sizeof err);
    QS_CHECK(s != NULL);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "stored", 7), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.BAD_ENVELOPE", 2), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected.CLOCK_SKEW", 1), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected_detail.NOT_PROTOBUF", 2), 0);
    QS_CHECK_EQ_INT(qs_storedb_counter_add(s, "rejected_detail.TIME_IN_FUTURE", 1), 0);
    qs_storedb_destroy(&s);

    /* No broker.stats: no "broker" key, nothing added (the store's numbers alone). */
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, "--format", "json",
                                 (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "\"broker\"") == NULL);
    QS_CHECK(strstr(run.out, "\"rejected\":{\"BAD_ENVELOPE\":2,\"CLOCK_SKEW\":1}") != NULL);
    QS_CHECK_STR(run.err, "");

    /* With it: BAD_FRAMES and revoked notices are refusals; RETRY_LATER is not. */
    write_broker_stats("{\"forwarded\":40,\"replies\":38,\"notices\":{"
                       "\"BAD_ENVELOPE/BAD_FRAMES\":3,\"REVOKED/CLIENT_REVOKED\":1,"
                       "\"RETRY_LATER/STORE_BUSY\":5},\"zap_admitted\":9,\"zap_refused\":4,"
                       "\"updated_utc\":\"2026-11-25T12:00:00Z\"}\n");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, "--format", "json",
                                 (char *)NULL), 0);
    QS_CHECK_STR(run.out, "{\"stored\":7,\"duplicates\":0,\"clients\":0,\"history_rows\":0,"
                          "\"latest_rows\":0,\"partitions\":0,\"enrolled\":0,\"revoked\":0,"
                          "\"rejected\":{\"BAD_ENVELOPE\":5,\"CLOCK_SKEW\":1,\"REVOKED\":1},"
                          "\"rejected_detail\":{\"BAD_FRAMES\":3,\"CLIENT_REVOKED\":1,"
                          "\"NOT_PROTOBUF\":2,\"TIME_IN_FUTURE\":1},\"retries\":{},"
                          "\"broker\":{\"forwarded\":40,\"replies\":38,\"notices\":{"
                          "\"BAD_ENVELOPE/BAD_FRAMES\":3,\"REVOKED/CLIENT_REVOKED\":1,"
                          "\"RETRY_LATER/STORE_BUSY\":5},\"zap_admitted\":9,\"zap_refused\":4,"
                          "\"updated_utc\":\"2026-11-25T12:00:00Z\"}}\n");
    QS_CHECK_STR(run.err, "");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "rejected_detail.BAD_FRAMES") != NULL);
    QS_CHECK(strstr(run.out, "broker.notices.RETRY_LATER/STORE_BUSY") != NULL);
    QS_CHECK(strstr(run.out, "broker.zap_refused") != NULL);
    QS_CHECK(strstr(run.out, "broker counters as of 2026-11-25T12:00:00Z") != NULL);

    /* Malformed: a warning naming the file, the store's numbers, exit 0. */
    write_broker_stats("{\"forwarded\":-1}");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, "--format", "json",
                                 (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "\"broker\"") == NULL);
    QS_CHECK(strstr(run.out, "\"rejected\":{\"BAD_ENVELOPE\":2,\"CLOCK_SKEW\":1}") != NULL);
    QS_CHECK(strstr(run.err, "warning") != NULL && strstr(run.err, "broker.stats") != NULL);
    write_broker_stats("not json at all");
    QS_CHECK_EQ_INT(ctl_test_run(&run, cmd_stats, "stats", "--home", home, (char *)NULL), 0);
    QS_CHECK(strstr(run.out, "stored") != NULL && strstr(run.out, "broker.") == NULL);
    QS_CHECK(strstr(run.err, "warning") != NULL);
    ctl_test_rmrf(dir);
}

int
main(void)
{
    ctl_test_init();
    QS_RUN(test_compliance_json_matches_contract_and_golden);
    QS_RUN(test_compliance_k_comes_from_the_policy);
    QS_RUN(test_compliance_csv_quotes_and_defuses_formulas);
    QS_RUN(test_compliance_table_is_aligned_and_escapes_control_characters);
    QS_RUN(test_compliance_reports_usage_and_site_errors);
    QS_RUN(test_stats_reports_counters_rows_and_clients);
    QS_RUN(test_stats_adds_the_broker_refusals);
    return qs_test_summary();
}
