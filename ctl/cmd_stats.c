/* cmd_stats.c - qsctl stats: what the store has accepted, dropped and refused.
 *
 * Reads store.db's counters (written in the same transaction as the data,
 * so they survive crashes and retention never lowers "stored"), its row
 * counts, the enrolled and revoked client counts from site.db, and the
 * broker's counters from DIR/broker.stats when qs-broker has written it:
 *
 *   {"stored": N, "duplicates": N, "clients": N, "history_rows": N,
 *    "latest_rows": N, "partitions": N, "enrolled": N, "revoked": N,
 *    "rejected": {"STATUS": N, …}, "rejected_detail": {"CODE": N, …},
 *    "retries": {"NOT_CONFIGURED": N, "RETRY_LATER": N},
 *    "broker": {"forwarded": N, "replies": N, "notices": {"STATUS/CODE": N, …},
 *               "zap_admitted": N, "zap_refused": N, "updated_utc": "…Z"}}
 *
 * "rejected" counts messages refused for good; "retries" counts the store's
 * transient answers (one per batch answered), which refuse no message: the
 * producer resends it (docs/commands.md, "stats").
 * Messages the broker refuses itself never reach the store, so they are
 * added to "rejected"/"rejected_detail" from broker.stats: BAD_FRAMES
 * notices as BAD_ENVELOPE/BAD_FRAMES, revoked-key notices as
 * REVOKED/CLIENT_REVOKED. RETRY_LATER notices are a transient answer, not a
 * refusal: they appear under "broker" only. No broker.stats: no "broker" key;
 * an unreadable or malformed one: a warning, and the store's numbers alone.
 * The JSON document is qs_storedoc_stats's (what qs-web answers too; for an
 * operator qs-web's latest_rows is the published sum, qs_store_query.h).
 */
#include "ctl_common.h"
#include "qs_brokerstats.h"
#include "qs_ctl.h"
#include "qs_log.h"
#include "qs_store_query.h"
#include "qs_storedoc.h"
#include "remote_print.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#define CMD "stats"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl stats --home DIR [--format table|json|csv]\n"
        "\n"
        "Messages stored, duplicates dropped, rejections by reason, rows kept,\n"
        "and the broker's counters (DIR/broker.stats, when qs-broker wrote it).\n"
        "\n"
        "  --home DIR           site home (default $QS_HOME)\n"
        "  --format table|json|csv  output format (default table); csv is name,value\n"
        "                       records, nested names with dots (rejected.BAD_MESSAGE)\n"
        "  --help               show this help\n");
}

/* Read DIR/broker.stats into *b and add the broker's refusals to st's maps.
 * 1 read, 0 no file (nothing added) or unreadable (a warning). */
static int
load_broker(qs_brokerstats_t *b, qs_storedb_stats_t *st, const char *path)
{
    char errmsg[CTL_ERRMSG_BYTES];
    int rc = qs_storedoc_broker_merge(b, st, path, errmsg, sizeof errmsg);

    if (rc < 0) {
        ctl_error(CMD, "warning: cannot read the broker's counters: %s; "
                  "showing the store's only", errmsg);
        return 0;
    }
    return rc;
}

/* Print the stats document (qs_storedoc_stats) in fmt; consumes doc. */
static void
print_stats(ctl_format_t fmt, cJSON *doc)
{
    if (doc == NULL)
        qs_fatal("out of memory building the stats document");
    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return;
    }
    if (fmt == CTL_FORMAT_CSV)
        ctl_csv_flat(stdout, doc);
    else
        ctl_print_stats_table(doc);   /* the printer `qsctl --url stats` uses too */
    cJSON_Delete(doc);
}

int
cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL;
    ctl_format_t fmt = CTL_FORMAT_TABLE;
    char errmsg[CTL_ERRMSG_BYTES];
    ctl_site_t site;
    qs_storedb_stats_t st;
    qs_brokerstats_t broker;
    int have_broker;
    int64_t enrolled = 0, revoked = 0;
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 'f':
            if (ctl_format_parse(&fmt, optarg,
                                 CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV) != 0)
                return ctl_usage_error(CMD, "--format must be table, json or csv");
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
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
    if (qs_sitedb_client_counts(site.sitedb, &enrolled, &revoked, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s ('%s')", errmsg, site.paths.site_db);
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    if (qs_storedb_stats(site.storedb, &st, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s ('%s')", errmsg,
                  qs_storedb_engine(site.storedb) == QS_STOREDB_POSTGRESQL
                      ? "the store's PostgreSQL database ([store] database)"
                      : site.paths.store_db);
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    have_broker = load_broker(&broker, &st, site.paths.broker_stats);
    ctl_site_close(&site);
    print_stats(fmt, qs_storedoc_stats(&st, enrolled, revoked, have_broker ? &broker : NULL));
    qs_storedb_stats_free(&st);
    return ctl_output_done(CMD);
}
