/* cmd_trend.c - qsctl compliance --trend: machines per update and state, per UTC day.
 *
 * The days come from the daily snapshots qs-retention writes
 * (store/qs_store_trend.h): history expires, so a trend is kept, not
 * recomputed. Each day is suppressed as `qsctl compliance` is, inside
 * store/ (qs_storedb_trend); a day without a snapshot is missing, shown as
 * null ("missing": true), never as 0. This file parses, asks store/ and
 * prints; `qsctl --url` prints the server's document with the same
 * printers (remote.c).
 *
 *   --format json  qs_storedoc_trend's document
 *   --format csv   day,topic_type,topic_id,state_id,state,count,suppressed,missing
 *   table          aligned columns; suppressed "<K", missing "-"
 *
 * --group G reads G's own daily snapshots (a day before G existed is
 * missing for it); --deployment ID the deployment's updates, from its
 * group's snapshots when it has one (qs_storedb_trend_deployment). They are
 * refused together, and --deployment with --topic-type / --topic-id, as
 * `qsctl compliance --deployment` refuses them; an unknown group or
 * deployment fails with compliance's own message.
 */
#include "cmd_trend.h"
#include "ctl_group.h"
#include "qs_codec.h"
#include "qs_log.h"
#include "qs_store_trend.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "compliance --trend"

void
ctl_trend_usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl compliance --trend --days N --home DIR [--topic-type T]\n"
        "                        [--topic-id ID] [--group G | --deployment ID]\n"
        "                        [--format table|json|csv]\n"
        "\n"
        "Machines per topic type, topic id and state on each of the last N UTC days\n"
        "(today included), from the daily snapshots qs-retention writes on every\n"
        "pass. Each day is suppressed like 'qsctl compliance' (groups smaller than\n"
        "the policy's k); a day without a snapshot is shown as missing, not as 0.\n"
        "\n"
        "  --trend                 per-day counts instead of the current ones\n"
        "  --days N                how many days, 1..%d (days are kept %d days)\n"
        "  --home DIR              site home (default $QS_HOME)\n"
        "  --topic-type T          only this topic type (e.g. 500, update detection)\n"
        "  --topic-id ID           only this update or deployment id\n"
        "  --format table|json|csv output format (default table)\n"
        "  --group G               only group G's machines (qsctl group), from the\n"
        "                          group's own snapshots: days before it existed are\n"
        "                          missing\n"
        "  --deployment ID         only the deployment's updates, over its group when\n"
        "                          it has one; counts per update and state per day\n"
        "                          (its deadline classes are not kept per day)\n"
        "  --help                  show this help\n",
        QS_TREND_KEEP_DAYS, QS_TREND_KEEP_DAYS);
}

/* Options of a compliance command line that take a value. */
static int
takes_value(const char *arg)
{
    static const char *const with_value[] = {
        "--home", "--topic-type", "--topic-id", "--format", "--days", "--group",
        "--deployment", NULL,
    };

    for (size_t i = 0; with_value[i] != NULL; i++)
        if (strcmp(arg, with_value[i]) == 0)
            return 1;
    return 0;
}

int
ctl_trend_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--trend") == 0)
            return 1;
        if (takes_value(argv[i]))
            i++;
    }
    return 0;
}

/* One option of ctl_trend_parse. -1 to go on, else the exit code. */
static int
trend_option(ctl_trend_args_t *a, int c, char **argv)
{
    long v;

    switch (c) {
    case 'H': a->home = optarg; return -1;
    case 'T': return -1;
    case 'd':
        if (ctl_parse_long(&a->days, optarg, 1, QS_TREND_KEEP_DAYS) != 0)
            return ctl_usage_error(CMD, "--days '%s' must be a whole number from 1 to %d "
                                   "(the days kept)", optarg, QS_TREND_KEEP_DAYS);
        return -1;
    case 't':
        if (ctl_parse_long(&v, optarg, 1, 100000) != 0 || qs_topic_check((uint32_t)v, 0) == -1)
            return ctl_usage_error(CMD, "--topic-type '%s' is not a known topic type "
                                   "(300, 301, 302, 400, 401, 402, 500, 501 or 700)", optarg);
        a->topic_type = optarg;
        return -1;
    case 'i':
        if (*optarg == '\0' || strlen(optarg) > QS_MAX_TOPIC_ID_BYTES)
            return ctl_usage_error(CMD, "--topic-id must be 1..%u bytes", QS_MAX_TOPIC_ID_BYTES);
        (void)qs_topic_id_normalize(optarg);   /* kb5031356 finds KB5031356 */
        a->topic_id = optarg;
        return -1;
    case 'f':
        if (ctl_format_parse(&a->fmt, optarg,
                             CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV) != 0)
            return ctl_usage_error(CMD, "--format must be table, json or csv");
        return -1;
    case 'g': a->group = optarg; return -1;
    case 'D': a->deployment = optarg; return -1;
    case 'h':
        a->help = 1;
        ctl_trend_usage(stdout);
        return CTL_EXIT_OK;
    case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
    default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
    }
}

int
ctl_trend_parse(ctl_trend_args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "trend", no_argument, NULL, 'T' },
        { "days", required_argument, NULL, 'd' },
        { "topic-type", required_argument, NULL, 't' },
        { "topic-id", required_argument, NULL, 'i' },
        { "format", required_argument, NULL, 'f' },
        { "group", required_argument, NULL, 'g' },
        { "deployment", required_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;

    memset(a, 0, sizeof *a);
    a->fmt = CTL_FORMAT_TABLE;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
        if ((rc = trend_option(a, c, argv)) >= 0)
            return rc;
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (a->days == 0)
        return ctl_usage_error(CMD, "--days N is required: how many days back (1..%d)",
                               QS_TREND_KEEP_DAYS);
    /* As `qsctl compliance --deployment` refuses them (cmd_deployment_eval.c). */
    if (a->deployment != NULL && a->group != NULL)
        return ctl_usage_error(CMD, "--group: a deployment's group is part of it "
                               "(qsctl deployment add --group): drop --group");
    if (a->deployment != NULL && (a->topic_type != NULL || a->topic_id != NULL))
        return ctl_usage_error(CMD, "--deployment takes its topic type and updates from the "
                               "deployment: drop --topic-type and --topic-id");
    return -1;
}

static const char *
store_name(const ctl_site_t *site)
{
    return qs_storedb_engine(site->storedb) == QS_STOREDB_POSTGRESQL
               ? "the store's PostgreSQL database ([store] database)"
               : site->paths.store_db;
}

/* The answer for a's filters, the error printed. 0 or -1. */
static int
trend_read(ctl_site_t *site, qs_storedb_trend_t *res, const qs_policy_t *policy,
           const ctl_trend_args_t *a, const uint32_t *type, char *errmsg, size_t errmsg_len)
{
    qs_trend_query_t q = { .topic_type = type, .topic_id = a->topic_id, .group = a->group };
    int64_t today = qs_epoch_of(ctl_site_now(site));
    int rc;

    /* An unknown group: compliance --group's words (ctl_group.h). */
    if (a->group != NULL && ctl_group_check(site, &a->group, 1, errmsg, errmsg_len) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return -1;
    }
    if (a->deployment != NULL)
        rc = qs_storedb_trend_deployment(site->storedb, res, site->sitedb, policy, today,
                                         (int)a->days, a->deployment, errmsg, errmsg_len);
    else
        rc = qs_storedb_trend_query(site->storedb, res, policy, today, (int)a->days, &q,
                                    errmsg, errmsg_len);
    if (rc == -1)
        ctl_error(CMD, "%s ('%s')", errmsg, store_name(site));
    else if (rc != 0)   /* unknown deployment or group: errmsg names it */
        ctl_error(CMD, "%s", errmsg);
    return rc == 0 ? 0 : -1;
}

int
cmd_compliance_trend(int argc, char **argv)
{
    ctl_trend_args_t a;
    char errmsg[CTL_ERRMSG_BYTES];
    ctl_site_t site;
    qs_policy_t policy;
    int configured, rc;
    uint32_t type = 0;
    qs_storedb_trend_t res;
    cJSON *doc;

    if ((rc = ctl_trend_parse(&a, argc, argv)) >= 0)
        return rc;
    if (ctl_home_missing(CMD, a.home))
        return CTL_EXIT_USAGE;
    if (a.topic_type != NULL)
        type = (uint32_t)strtoul(a.topic_type, NULL, 10);
    if (ctl_site_open(&site, a.home, CTL_OPEN_SITEDB | CTL_OPEN_STOREDB, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_policy(&site, &policy, &configured, CMD) != 0) {
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    rc = trend_read(&site, &res, &policy, &a, a.topic_type ? &type : NULL, errmsg,
                    sizeof errmsg);
    ctl_site_close(&site);
    if (rc != 0)
        return CTL_EXIT_FAIL;
    doc = qs_storedoc_trend(&res);
    qs_storedb_trend_free(&res);
    if (a.fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        if (a.fmt == CTL_FORMAT_CSV)
            ctl_print_trend_csv(doc);
        else
            ctl_print_trend_table(doc);
        cJSON_Delete(doc);
    }
    return ctl_output_done(CMD);
}

/* A member as text: a string as is, a number in decimal, else "". */
static const char *
text_of(char *buf, size_t len, const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (cJSON_IsString(item))
        return item->valuestring;
    if (cJSON_IsNumber(item)) {
        snprintf(buf, len, "%lld", (long long)item->valuedouble);
        return buf;
    }
    return "";
}

static int
flag_of(const cJSON *obj, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* The cells of one row, count as the table shows it or as CSV has it. */
typedef struct {
    char type[32], state_id[32], count[48];
    const char *cells[6];
    int missing, suppressed;
} trend_cells_t;

static void
row_cells(trend_cells_t *c, const cJSON *r, const char *k, int for_csv)
{
    char scratch[32];

    c->missing = flag_of(r, "missing");
    c->suppressed = !c->missing && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "count"));
    c->cells[0] = text_of(scratch, sizeof scratch, r, "day");
    c->cells[1] = text_of(c->type, sizeof c->type, r, "topic_type");
    c->cells[2] = text_of(scratch, sizeof scratch, r, "topic_id");
    c->cells[3] = text_of(c->state_id, sizeof c->state_id, r, "state_id");
    c->cells[4] = text_of(scratch, sizeof scratch, r, "state");
    if (c->missing)
        snprintf(c->count, sizeof c->count, "%s", for_csv ? "" : "-");
    else if (c->suppressed)
        snprintf(c->count, sizeof c->count, "%s%s", for_csv ? "" : "<", for_csv ? "" : k);
    else
        (void)text_of(c->count, sizeof c->count, r, "count");
    c->cells[5] = c->count;
}

void
ctl_print_trend_table(const cJSON *doc)
{
    static const char *const head[] = { "DAY", "TOPIC_TYPE", "TOPIC_ID", "STATE_ID", "STATE",
                                        "COUNT" };
    ctl_table_t *t = ctl_table_new(6, head);
    const cJSON *r;
    char kb[32], db[32];
    const char *k = text_of(kb, sizeof kb, doc, "k");
    long days = strtol(text_of(db, sizeof db, doc, "days"), NULL, 10);
    size_t suppressed = 0;
    int n_missing = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "missing_days"));

    ctl_table_align_right(t, 1);
    ctl_table_align_right(t, 3);
    ctl_table_align_right(t, 5);
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "rows")) {
        trend_cells_t c;

        row_cells(&c, r, k, 0);
        suppressed += (size_t)c.suppressed;
        ctl_table_add(t, c.cells);
    }
    if (ctl_table_rows(t) == 0)
        printf(n_missing > 0 && n_missing == days
                   ? "no snapshot in these days: qs-retention writes one on every pass\n"
                   : "no state reported for this selection\n");
    else
        ctl_table_print(t, stdout);
    if (suppressed > 0)
        printf("%zu cell%s suppressed (shown as <%s): smaller than k=%s, or hidden with one "
               "that is\n", suppressed, suppressed == 1 ? "" : "s", k, k);
    if (n_missing > 0 && ctl_table_rows(t) > 0)
        printf("%d day%s without a snapshot (shown as -): qs-retention did not run on %s\n",
               n_missing, n_missing == 1 ? "" : "s", n_missing == 1 ? "it" : "them");
    ctl_table_destroy(&t);
}

void
ctl_print_trend_csv(const cJSON *doc)
{
    static const char *const head[] = {
        "day", "topic_type", "topic_id", "state_id", "state", "count", "suppressed", "missing",
    };
    const cJSON *r;

    ctl_csv_row(stdout, 8, head);
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "rows")) {
        trend_cells_t c;
        const char *cells[8];

        row_cells(&c, r, "", 1);
        memcpy(cells, c.cells, sizeof c.cells);
        cells[6] = c.suppressed ? "true" : "false";
        cells[7] = c.missing ? "true" : "false";
        ctl_csv_row(stdout, 8, cells);
    }
}
