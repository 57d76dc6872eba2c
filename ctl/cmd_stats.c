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
 *    "broker": {"forwarded": N, "replies": N, "notices": {"STATUS/CODE": N, …},
 *               "zap_admitted": N, "zap_refused": N, "updated_utc": "…Z"}}
 *
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

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#define CMD "stats"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl stats --home DIR [--format table|json]\n"
        "\n"
        "Messages stored, duplicates dropped, rejections by reason, rows kept,\n"
        "and the broker's counters (DIR/broker.stats, when qs-broker wrote it).\n"
        "\n"
        "  --home DIR           site home (default $QS_HOME)\n"
        "  --format table|json  output format (default table)\n"
        "  --help               show this help\n");
}

static int64_t
as_count(uint64_t v)
{
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void
add_row(ctl_table_t *t, const char *name, int64_t value, const char *what)
{
    char num[32];
    const char *cells[3] = { name, num, what };

    snprintf(num, sizeof num, "%" PRId64, value);
    ctl_table_add(t, cells);
}

static void
add_row_u(ctl_table_t *t, const char *name, uint64_t value, const char *what)
{
    add_row(t, name, as_count(value), what);
}

static void
print_table(const qs_storedb_stats_t *st, int64_t enrolled, int64_t revoked,
            const qs_brokerstats_t *broker)
{
    static const char *const head[] = { "COUNTER", "VALUE", "MEANING" };
    ctl_table_t *t = ctl_table_new(3, head);
    char name[QS_STOREDB_MAX_COUNTER_NAME + 32];

    ctl_table_align_right(t, 1);
    add_row(t, "stored", st->stored, "messages accepted, ever (retention does not lower it)");
    add_row(t, "duplicates", st->duplicates, "resent messages dropped (already stored)");
    add_row(t, "clients", st->clients, "client keys that ever delivered");
    add_row(t, "enrolled", enrolled, "client keys enrolled and not revoked (site.db)");
    add_row(t, "revoked", revoked, "client keys revoked (site.db)");
    add_row(t, "latest_rows", st->latest_rows, "current states (machine x topic)");
    add_row(t, "history_rows", st->history_rows, "retained events");
    add_row(t, "partitions", st->partitions, "history partitions (day x topic type)");
    for (size_t i = 0; i < st->n_rejected; i++) {
        snprintf(name, sizeof name, "rejected.%s", st->rejected[i].name);
        add_row(t, name, st->rejected[i].value, "messages refused with this status");
    }
    for (size_t i = 0; i < st->n_rejected_detail; i++) {
        snprintf(name, sizeof name, "rejected_detail.%s", st->rejected_detail[i].name);
        add_row(t, name, st->rejected_detail[i].value, "refusals with this reason code");
    }
    if (broker != NULL) {
        add_row_u(t, "broker.forwarded", broker->forwarded, "envelopes passed to a store worker");
        add_row_u(t, "broker.replies", broker->replies, "store replies passed back to clients");
        add_row_u(t, "broker.notices." QS_BROKERSTATS_BAD_FRAMES, broker->notice_bad_frames,
                  "refused by the broker: not one non-empty frame");
        add_row_u(t, "broker.notices." QS_BROKERSTATS_REVOKED, broker->notice_revoked,
                  "refused by the broker: revoked or unknown key");
        add_row_u(t, "broker.notices." QS_BROKERSTATS_RETRY_LATER, broker->notice_retry_later,
                  "told to retry: no store could take it (not a refusal)");
        add_row_u(t, "broker.zap_admitted", broker->zap_admitted, "handshakes admitted");
        add_row_u(t, "broker.zap_refused", broker->zap_refused,
                  "handshakes refused (revoked or not enrolled)");
    }
    ctl_table_print(t, stdout);
    if (st->n_rejected == 0)
        printf("no message was rejected\n");
    if (broker != NULL)
        printf("broker counters as of %s (broker.stats)\n",
               broker->updated_utc[0] != '\0' ? broker->updated_utc : "an unknown time");
    ctl_table_destroy(&t);
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
            if (ctl_format_parse(&fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
                return ctl_usage_error(CMD, "--format must be table or json");
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);

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
        ctl_error(CMD, "%s ('%s')", errmsg, site.paths.store_db);
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    have_broker = load_broker(&broker, &st, site.paths.broker_stats);
    ctl_site_close(&site);
    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(qs_storedoc_stats(&st, enrolled, revoked,
                                             have_broker ? &broker : NULL)) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        print_table(&st, enrolled, revoked, have_broker ? &broker : NULL);
    }
    qs_storedb_stats_free(&st);
    return ctl_output_done(CMD);
}
