/* cmd_compliance.c - qsctl compliance: how many machines are in each state,
 * per update (topic id) and topic type, with small groups suppressed.
 *
 * Counts come from store.db's `latest` table (one row per client and topic:
 * its current state) through qs_storedb_compliance(), which suppresses every
 * group smaller than the policy's k (5 while no policy is set) before a count
 * leaves store/ (and a topic whose groups are all below k is not listed;
 * qs_store_query.h): this file only prints, the JSON document built by
 * qs_storedoc_compliance (what qs-web answers too). The output never holds a
 * per-machine fact: that takes `qsctl lookup` and a known name.
 *
 *   --format json  {"k": K, "rows": [{"topic_type": 500, "topic_id": "…",
 *                   "state_id": 2, "state": "required", "count": 17,
 *                   "percent": 34, "scope": 50}, …]}, each update's rows
 *                  ending with its no-report row ("state_id": null);
 *                  a suppressed row has "count": null, "suppressed": true,
 *                  "percent": null
 *   --format csv   topic_type,topic_id,state_id,state,count,suppressed,
 *                  percent,scope,no_report
 *   table          aligned columns with PERCENT; a suppressed count prints as
 *                  "<K" (also a complementary one: which cell is below k is
 *                  not told)
 */
#include "cmd_trend.h"
#include "cmd_deployment.h"
#include "ctl_common.h"
#include "ctl_group.h"
#include "qs_codec.h"
#include "qs_ctl.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "qs_store_query.h"
#include "qs_storedoc.h"
#include "remote_print.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#define CMD "compliance"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl compliance --home DIR [--topic-type T] [--topic-id ID]\n"
        "                        [--group G] [--format table|json|csv]\n"
        "\n"
        "Count machines per topic type, topic id (update or deployment) and state.\n"
        "Each row also gives its percent of the scope (the machines reporting that\n"
        "topic type); each update's \"no report\" row counts the scope's machines\n"
        "without a state for it. Groups smaller than the policy's k are suppressed.\n"
        "\n"
        "  --home DIR              site home (default $QS_HOME)\n"
        "  --topic-type T          only this topic type (e.g. 500, update detection)\n"
        "  --topic-id ID           only this update or deployment id\n"
        "  --group G               only the machines of group G (qsctl group)\n"
        "  --format table|json|csv output format (default table)\n"
        "  --trend --days N        per UTC day instead (qsctl compliance --trend --help)\n"
        "  --deployment ID         a deployment against its deadline (see\n"
        "                          'qsctl compliance --deployment ID --help')\n"
        "  --help                  show this help\n");
}

/* Table and CSV print from the JSON document, through the printers that
 * `qsctl --url` uses too: one rendering, local or remote. */
static void
print_doc(const qs_storedb_compliance_t *res, int configured, ctl_format_t fmt)
{
    cJSON *doc = qs_storedoc_compliance(res);

    if (doc == NULL)
        qs_fatal("out of memory building the compliance document");
    if (!configured)
        cJSON_AddFalseToObject(doc, "configured");
    if (fmt == CTL_FORMAT_CSV)
        ctl_print_compliance_csv(doc);
    else
        ctl_print_compliance_table(doc);
    cJSON_Delete(doc);
}

int
cmd_compliance(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "topic-type", required_argument, NULL, 't' },
        { "topic-id", required_argument, NULL, 'i' },
        { "format", required_argument, NULL, 'f' },
        { "group", required_argument, NULL, 'g' },
        { "deployment", required_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL, *topic_id = NULL;
    uint32_t topic_type = 0;
    int have_type = 0, c, configured, rc;
    long v;
    ctl_format_t fmt = CTL_FORMAT_TABLE;
    char errmsg[CTL_ERRMSG_BYTES];
    ctl_site_t site;
    qs_policy_t policy;
    qs_storedb_compliance_t res;

    if (ctl_trend_wanted(argc, argv))   /* per-day counts: cmd_trend.c */
        return cmd_compliance_trend(argc, argv);
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 't':
            if (ctl_parse_long(&v, optarg, 1, 100000) != 0 ||
                qs_topic_check((uint32_t)v, 0) == -1)
                return ctl_usage_error(CMD, "--topic-type '%s' is not a known topic type "
                                       "(300, 301, 302, 400, 401, 402, 500, 501 or 700)",
                                       optarg);
            topic_type = (uint32_t)v;
            have_type = 1;
            break;
        case 'i':
            if (*optarg == '\0' || strlen(optarg) > QS_MAX_TOPIC_ID_BYTES)
                return ctl_usage_error(CMD, "--topic-id must be 1..%u bytes",
                                       QS_MAX_TOPIC_ID_BYTES);
            (void)qs_topic_id_normalize(optarg);   /* kb5031356 finds KB5031356 */
            topic_id = optarg;
            break;
        case 'f':
            if (ctl_format_parse(&fmt, optarg,
                                 CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV) != 0)
                return ctl_usage_error(CMD, "--format must be table, json or csv");
            break;
        case 'g': return cmd_compliance_group(argc, argv);   /* docs/groups.md */
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case 'D': return cmd_compliance_deployment(argc, argv);   /* cmd_deployment_eval.c */
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (ctl_home_missing(CMD, home))
        return CTL_EXIT_USAGE;

    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_STOREDB, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_policy(&site, &policy, &configured, CMD) != 0) {
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    if (qs_storedb_compliance(site.storedb, &res, &policy, have_type ? &topic_type : NULL,
                              topic_id, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s ('%s')", errmsg,
                  qs_storedb_engine(site.storedb) == QS_STOREDB_POSTGRESQL
                      ? "the store's PostgreSQL database ([store] database)"
                      : site.paths.store_db);
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    ctl_site_close(&site);
    rc = CTL_EXIT_OK;
    switch (fmt) {
    case CTL_FORMAT_JSON:
        if (ctl_json_print(qs_storedoc_compliance(&res)) != 0)
            qs_fatal("out of memory printing JSON");
        break;
    case CTL_FORMAT_CSV:
    case CTL_FORMAT_TABLE:
        print_doc(&res, configured, fmt);
        break;
    }
    qs_storedb_compliance_free(&res);
    if (rc == CTL_EXIT_OK)
        rc = ctl_output_done(CMD);
    return rc;
}
