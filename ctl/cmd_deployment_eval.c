/* cmd_deployment_eval.c - qsctl compliance --deployment ID: each update and the whole deployment against its deadline.
 *
 * qs_deadlinedoc_evaluate (what qs-web answers too) reads the deployment and
 * the policy (k, time precision) from site.db and the counts from store.db
 * (or PostgreSQL) through qs_storedb_deadline(), which classifies and
 * suppresses inside store/ (qs_store_deadline.h): this file only prints. "Now" (past the deadline or not) is UTC from
 * the site's clock.
 *
 *   --format json  qs_deadlinedoc.h's document
 *   --format csv   topic_id,class,count,percent,suppressed (the deployment as a
 *                  whole on rows with topic_id "*", percent of update installations)
 *   table          one row per update, a cell "N (P%)", "<K" when suppressed
 */
#include "cmd_deployment.h"
#include "ctl_common.h"
#include "qs_ctl.h"
#include "qs_deadlinedoc.h"
#include "qs_deployments.h"
#include "qs_log.h"
#include "qs_store_deadline.h"

#include <getopt.h>
#include <string.h>

#define CMD "compliance"

typedef struct {
    const char *home, *id;
    ctl_format_t fmt;
} eval_opts_t;

static int
parse(eval_opts_t *o, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "deployment", required_argument, NULL, 'D' },
        { "format", required_argument, NULL, 'f' },
        { "topic-type", required_argument, NULL, 't' },
        { "topic-id", required_argument, NULL, 'i' },
        { "group", required_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof *o);
    o->fmt = CTL_FORMAT_TABLE;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': o->home = optarg; break;
        case 'D': o->id = optarg; break;
        case 'f':
            if (ctl_format_parse(&o->fmt, optarg,
                                 CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV) != 0)
                return ctl_usage_error(CMD, "--format must be table, json or csv");
            break;
        case 't':
        case 'i':
            return ctl_usage_error(CMD, "--deployment takes its topic type and updates from "
                                   "the deployment: drop --topic-type and --topic-id");
        case 'g':
            return ctl_usage_error(CMD, "--group: a deployment's group is part of it "
                                   "(qsctl deployment add --group): drop --group");
        case 'h': return -2;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (ctl_home_missing(CMD, o->home))
        return CTL_EXIT_USAGE;
    return -1;
}

static const char *
cell_text(char *buf, size_t len, const cJSON *cell, const char *k)
{
    const cJSON *count = cJSON_GetObjectItem(cell, "count");

    if (!cJSON_IsNumber(count))
        snprintf(buf, len, "<%s", k);
    else
        snprintf(buf, len, "%.0f (%.1f%%)", count->valuedouble,
                 cJSON_GetObjectItem(cell, "percent")->valuedouble);
    return buf;
}

/* Rows come QS_DEADLINE_CLASSES per update, in class order. */
void
ctl_deployment_print_eval_table(const cJSON *doc)
{
    const char *head[1 + QS_DEADLINE_CLASSES] = { "TOPIC_ID" };
    const cJSON *rows = cJSON_GetObjectItem(doc, "rows"), *total = cJSON_GetObjectItem(doc, "total");
    const cJSON *machines = cJSON_GetObjectItem(doc, "machines");
    char k[16], cells[1 + QS_DEADLINE_CLASSES][48];
    const char *cp[1 + QS_DEADLINE_CLASSES];
    int n = cJSON_GetArraySize(rows);
    ctl_table_t *t;

    snprintf(k, sizeof k, "%d", cJSON_GetObjectItem(doc, "k")->valueint);
    for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
        head[1 + c] = qs_deadline_class_name((qs_deadline_class_t)c);
    printf("deployment %s: deadline %s (%s), evaluated %s, time precision %s\n",
           cJSON_GetObjectItem(doc, "deployment")->valuestring,
           cJSON_GetObjectItem(doc, "deadline_utc")->valuestring,
           cJSON_IsTrue(cJSON_GetObjectItem(doc, "deadline_passed")) ? "passed" : "ahead",
           cJSON_GetObjectItem(doc, "evaluated_utc")->valuestring,
           cJSON_GetObjectItem(doc, "time_precision")->valuestring);
    if (cJSON_IsNumber(machines))
        printf("machines in scope: %.0f (the whole fleet: every machine with a state of topic "
               "type %d)\n", machines->valuedouble,
               cJSON_GetObjectItem(doc, "topic_type")->valueint);
    else
        printf("machines in scope: fewer than k=%s: every count is suppressed\n", k);
    t = ctl_table_new(1 + QS_DEADLINE_CLASSES, head);
    for (int i = 0; i + QS_DEADLINE_CLASSES <= n; i += QS_DEADLINE_CLASSES) {
        cp[0] = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, i), "topic_id")->valuestring;
        for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
            cp[1 + c] = cell_text(cells[1 + c], sizeof cells[0],
                                  cJSON_GetArrayItem(rows, i + c), k);
        ctl_table_add(t, cp);
    }
    cp[0] = "* (all updates)";
    for (int c = 0; c < QS_DEADLINE_CLASSES; c++)
        cp[1 + c] = cell_text(cells[1 + c], sizeof cells[0],
                              cJSON_GetArrayItem(cJSON_GetObjectItem(total, "rows"), c), k);
    ctl_table_add(t, cp);
    ctl_table_print(t, stdout);
    if (cJSON_IsNumber(cJSON_GetObjectItem(total, "suppressed")))
        printf("all updates: of %.0f update installations (machines x updates); %.0f in "
               "suppressed cells (shown as <%s)\n",
               cJSON_GetObjectItem(total, "pairs")->valuedouble,
               cJSON_GetObjectItem(total, "suppressed")->valuedouble, k);
    if (cJSON_IsString(cJSON_GetObjectItem(doc, "group")))
        printf("machines of group '%s' only\n", cJSON_GetObjectItem(doc, "group")->valuestring);
    ctl_table_destroy(&t);
}

void
ctl_deployment_print_eval_csv(const cJSON *doc)
{
    static const char *const fields[] = { "topic_id", "class", "count", "percent",
                                          "suppressed" };
    cJSON *all = cJSON_Duplicate(cJSON_GetObjectItem(doc, "rows"), 1), *r;
    cJSON *total = cJSON_Duplicate(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "total"),
                                                       "rows"), 1);

    if (all == NULL || total == NULL)
        qs_fatal("out of memory printing CSV");
    while ((r = cJSON_DetachItemFromArray(total, 0)) != NULL) {
        cJSON_AddStringToObject(r, "topic_id", "*");
        cJSON_AddItemToArray(all, r);
    }
    cJSON_ArrayForEach(r, all) {   /* one decimal, as in the table */
        const cJSON *pc = cJSON_GetObjectItem(r, "percent");
        if (cJSON_IsNumber(pc)) {
            char text[32];
            snprintf(text, sizeof text, "%.1f", pc->valuedouble);
            cJSON_ReplaceItemInObject(r, "percent", cJSON_CreateString(text));
        }
    }
    ctl_csv_objects(stdout, all, 5, fields, fields);
    cJSON_Delete(all);
    cJSON_Delete(total);
}

int
cmd_compliance_deployment(int argc, char **argv)
{
    char errmsg[CTL_ERRMSG_BYTES];
    eval_opts_t o;
    ctl_site_t site;
    cJSON *doc;
    int rc, not_found;

    if ((rc = parse(&o, argc, argv)) >= 0)
        return rc;
    if (rc == -2) {
        printf("usage: qsctl compliance --home DIR --deployment ID [--format table|json|csv]\n"
               "\n"
               "Evaluate a deployment ('qsctl deployment add') against its deadline: per\n"
               "update and for all its updates, how many machines are compliant (installed\n"
               "at or before the deadline, or not required), compliant_late, non_compliant\n"
               "(deadline passed), in_progress (deadline ahead) or unknown (no state), with\n"
               "percent; small groups suppressed. docs/deployments.md.\n");
        return CTL_EXIT_OK;
    }
    if (ctl_site_open(&site, o.home, CTL_OPEN_SITEDB | CTL_OPEN_STOREDB, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    rc = qs_deadlinedoc_evaluate(&doc, &not_found, site.sitedb, site.storedb, o.id,
                                 ctl_site_now(&site), errmsg, sizeof errmsg);
    ctl_site_close(&site);
    if (rc != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (o.fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return ctl_output_done(CMD);
    }
    if (o.fmt == CTL_FORMAT_CSV)
        ctl_deployment_print_eval_csv(doc);
    else
        ctl_deployment_print_eval_table(doc);
    cJSON_Delete(doc);
    return ctl_output_done(CMD);
}
