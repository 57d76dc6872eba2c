/* cmd_lookup.c - qsctl lookup: one machine's current states, or its retained events.
 *
 * The operator names a machine they already know; qsctl computes its keyed
 * pseudonym with DIR/keys/site.key (and the domain's, with --domain) and asks
 * store/ for the rows that carry it (qs_storedb_lookup: what a lookup may
 * return is decided there): its current states, or with --history its
 * retained events with their details decrypted while the partition's key
 * exists and reported as shredded after. Nothing here can enumerate
 * machines: without a name there is nothing to look up.
 */
#include "ctl_common.h"
#include "qs_codec.h"
#include "qs_ctl.h"
#include "qs_epochkeys.h"
#include "qs_hex.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_store_lookup.h"
#include "qs_storedoc.h"
#include "remote_print.h"

#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CMD "lookup"
#define LOOKUP_PREFIX_BYTES QS_STOREDOC_PS_PREFIX_BYTES

/* The parsed command line. */
typedef struct {
    const char *home, *machine, *domain;
    int history;
    ctl_format_t fmt;
} lookup_args_t;

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl lookup --home DIR --machine NAME [--domain D] [--history]\n"
        "                    [--format table|json|csv]\n"
        "\n"
        "Show one machine's current state per update (from `latest`), or with\n"
        "--history the events the retention policy still keeps, with their\n"
        "details decrypted while the partition key exists. The machine is found\n"
        "by its keyed pseudonym: you must know its name, nothing lists names.\n"
        "\n"
        "  --home DIR         site home (default $QS_HOME)\n"
        "  --machine NAME     machine name (UTF-8, case-insensitive in Unicode:\n"
        "                     münchen-pc = MÜNCHEN-PC)\n"
        "  --domain D         only rows reported with this domain\n"
        "  --history          retained events instead of current states\n"
        "  --format FMT       table (default), csv or json:\n"
        "                     {\"rows\": [{\"topic_type\", \"topic_id\", \"state_id\", \"state\",\n"
        "                     \"time_utc\", ...}]}\n"
        "  --help             show this help\n");
}

/* Parse argv into *a. Returns -1 to go on, or the exit code to return now
 * (--help, a usage error). */
static int
parse_args(lookup_args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "machine", required_argument, NULL, 'm' },
        { "domain", required_argument, NULL, 'd' },
        { "history", no_argument, NULL, 'y' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *format = "table";
    int c;

    memset(a, 0, sizeof *a);
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a->home = optarg; break;
        case 'm': a->machine = optarg; break;
        case 'd': a->domain = optarg; break;
        case 'y': a->history = 1; break;
        case 'f': format = optarg; break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (a->machine == NULL)
        return ctl_usage_error(CMD, "--machine NAME is required");
    if (ctl_format_parse(&a->fmt, format, CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV)
        != 0)
        return ctl_usage_error(CMD, "--format must be table, json or csv");
    if (strlen(a->machine) > QS_MAX_NAME_BYTES ||
        (a->domain && strlen(a->domain) > QS_MAX_NAME_BYTES))
        return ctl_usage_error(CMD, "names are at most %u bytes", QS_MAX_NAME_BYTES);
    if (ctl_home_missing(CMD, a->home))
        return CTL_EXIT_USAGE;
    return -1;
}

/* The pseudonyms of the names in a (every spelling: qs_pseudonym_machine),
 * with the site key. Returns -1 to go on, or the usage error's exit code for
 * a blank name (all-zero pseudonym) or one that is not UTF-8. */
static int
pseudonyms(qs_machine_ps_t *who, const lookup_args_t *a, const ctl_site_t *site)
{
    switch (qs_pseudonym_machine(who, site->site_key, a->machine, a->domain)) {
    case 0: return -1;
    case 1: return ctl_usage_error(CMD, "--machine must not be blank");
    case 2: return ctl_usage_error(CMD, "--domain must not be blank");
    case 3: return ctl_usage_error(CMD, "--machine is not valid UTF-8");
    default: return ctl_usage_error(CMD, "--domain is not valid UTF-8");
    }
}

/* --format csv: one record per row of the lookup document. */
static void
print_csv(const cJSON *doc, int history)
{
    static const char *const latest[] = {
        "topic_type", "topic_id", "state_id", "state", "time_utc", "last_report_utc",
    };
    static const char *const events[] = {
        "topic_type", "topic_id", "state_id", "state", "time_utc", "serial", "details",
        "details_unavailable",
    };

    ctl_csv_objects(stdout, cJSON_GetObjectItemCaseSensitive(doc, "rows"),
                    history ? 8 : 6, history ? events : latest, history ? events : latest);
}

/* Look the machine up and print the rows. Returns the exit code. */
static int
lookup_print(const lookup_args_t *a, ctl_site_t *site, const qs_machine_ps_t *who)
{
    char errmsg[CTL_ERRMSG_BYTES], ps_hex[2 * LOOKUP_PREFIX_BYTES + 1];
    qs_epochkeys_t *ks = NULL;
    qs_storedb_lookup_t rows = { NULL, 0 };
    int rc = CTL_EXIT_FAIL;

    qs_hex_encode(ps_hex, sizeof ps_hex, who->machine_ps[0], LOOKUP_PREFIX_BYTES);
    if (a->history) {
        ks = qs_epochkeys_open(site->paths.epochs_dir, 0, errmsg, sizeof errmsg);
        if (ks == NULL)
            log_debug("no epoch keys (%s): details cannot be shown", errmsg);
    }
    if (qs_storedb_lookup_who(site->storedb, &rows, who, a->history, ks, errmsg,
                              sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
    } else if (a->fmt == CTL_FORMAT_JSON &&
               ctl_json_print(qs_storedoc_lookup(&rows, a->history, ps_hex)) != 0) {
        ctl_error(CMD, "out of memory rendering JSON");
    } else {
        if (a->fmt != CTL_FORMAT_JSON) {
            /* The printer `qsctl --url lookup` uses: one rendering. */
            cJSON *doc = qs_storedoc_lookup(&rows, a->history, ps_hex);
            if (doc == NULL)
                qs_fatal("out of memory building the lookup document");
            if (a->fmt == CTL_FORMAT_CSV)
                print_csv(doc, a->history);
            else
                ctl_print_lookup_table(doc);
            cJSON_Delete(doc);
        }
        rc = ctl_output_done(CMD);
    }
    qs_storedb_lookup_free(&rows);
    qs_epochkeys_destroy(&ks);
    return rc;
}

int
cmd_lookup(int argc, char **argv)
{
    lookup_args_t a;
    char errmsg[CTL_ERRMSG_BYTES];
    qs_machine_ps_t who;
    ctl_site_t site;
    int rc = parse_args(&a, argc, argv);

    if (rc >= 0)
        return rc;
    if (ctl_site_open(&site, a.home, CTL_OPEN_STOREDB | CTL_OPEN_SITE_KEY, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    rc = pseudonyms(&who, &a, &site);
    if (rc < 0)
        rc = lookup_print(&a, &site, &who);
    qs_machine_ps_wipe(&who);
    ctl_site_close(&site);
    return rc;
}
