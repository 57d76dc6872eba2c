/* cmd_resync.c - qsctl resync: ask one machine, or the whole fleet, to re-send its current state.
 *
 * The request is recorded in the store (qs_storedb_resync_request); each
 * client hears it in the Ack of its next batch and re-sends every topic's
 * current state as a full resync, which replaces that machine's current
 * states (docs/resync.md). A fleet-wide request is spread over --window:
 * each client's resync is due at a point of the window that depends on its
 * client id alone, so the fleet does not re-send at once. Audited as
 * "resync" with the scope, the machine's pseudonym prefix (never the name),
 * the number of clients and the window.
 */
#include "ctl_common.h"
#include "qs_ctl.h"
#include "qs_hex.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_store_resync.h"
#include "qs_storedoc.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#define CMD "resync"
#define RESYNC_PREFIX_BYTES QS_STOREDOC_PS_PREFIX_BYTES
#define RESYNC_DEFAULT_ALL_WINDOW_S 3600L

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl resync --home DIR (--machine NAME | --all) [--window SECONDS]\n"
        "                    [--as NAME] [--format table|json]\n"
        "       qsctl resync --home DIR --status [--format table|json]\n"
        "\n"
        "Ask one machine, or every client of the store, to re-send its whole\n"
        "current state the next time it sends anything. The resent state then\n"
        "replaces what the store holds for that machine: current states it no\n"
        "longer has are removed, compliance counts follow. A fleet-wide request\n"
        "is spread over the window: each client's resend is due at a point of it\n"
        "fixed by its client id, so the fleet does not resend at once. The audit\n"
        "log records the request (scope, pseudonym prefix, clients, window).\n"
        "\n"
        "  --home DIR        site home (default $QS_HOME)\n"
        "  --machine NAME    the machine (UTF-8, case-insensitive in Unicode)\n"
        "  --all             every client of the store\n"
        "  --status          how far the requests are: clients waiting (and due),\n"
        "                    resyncs in progress, open serial gaps, and the\n"
        "                    counters (requested, applied, new outboxes, gaps given\n"
        "                    up); numbers only, nothing requested, not audited\n"
        "  --window SECONDS  spread the resends over this long (0..%d; default\n"
        "                    %ld with --all, 0 with --machine)\n"
        "  --as NAME         who asks, for the audit log (beside the OS user)\n"
        "  --format table|json  output format (default table); json prints the audit\n"
        "                    entry's detail: {scope, [machine_ps,] clients, window_s,\n"
        "                    first_due_utc, last_due_utc}\n"
        "  --help            show this help\n",
        QS_RESYNC_MAX_WINDOW_S, RESYNC_DEFAULT_ALL_WINDOW_S);
}

struct resync_args {
    const char *home, *machine, *as;
    int all, status;
    long window_s;            /* -1: the default */
    ctl_format_t fmt;
};

/* Options into a: -1 to go on, else the exit code (a usage error, or --help). */
static int
parse_args(struct resync_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "machine", required_argument, NULL, 'm' },
        { "all", no_argument, NULL, 'A' },
        { "status", no_argument, NULL, 'S' },
        { "window", required_argument, NULL, 'w' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof *a);
    a->fmt = CTL_FORMAT_TABLE;
    a->window_s = -1;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a->home = optarg; break;
        case 'm': a->machine = optarg; break;
        case 'A': a->all = 1; break;
        case 'S': a->status = 1; break;
        case 'w':
            if (ctl_parse_long(&a->window_s, optarg, 0, QS_RESYNC_MAX_WINDOW_S) != 0)
                return ctl_usage_error(CMD, "--window must be a number of seconds from 0 "
                                       "to %d", QS_RESYNC_MAX_WINDOW_S);
            break;
        case 'a': a->as = optarg; break;
        case 'f':
            if (ctl_format_parse(&a->fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
                return ctl_usage_error(CMD, "--format must be table or json");
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if ((a->machine != NULL) + a->all + a->status != 1)
        return ctl_usage_error(CMD, "give exactly one of --machine NAME, --all and --status");
    if (a->status && (a->window_s >= 0 || a->as != NULL))
        return ctl_usage_error(CMD, "--status takes neither --window nor --as");
    if (a->machine != NULL && strlen(a->machine) > QS_MAX_NAME_BYTES)
        return ctl_usage_error(CMD, "--machine is at most %u bytes", QS_MAX_NAME_BYTES);
    if (a->window_s < 0)
        a->window_s = a->all ? RESYNC_DEFAULT_ALL_WINDOW_S : 0;
    if (ctl_home_missing(CMD, a->home))
        return CTL_EXIT_USAGE;
    return -1;
}

static cJSON *
detail_new(const char *ps_hex, const struct resync_args *a, const qs_resync_request_counts_t *n)
{
    char first[CTL_TIME_BYTES], last[CTL_TIME_BYTES];
    cJSON *d = cJSON_CreateObject();

    if (d == NULL)
        qs_fatal("out of memory");
    cJSON_AddStringToObject(d, "scope", a->all ? "all" : "machine");
    if (ps_hex != NULL)
        cJSON_AddStringToObject(d, "machine_ps", ps_hex);
    cJSON_AddNumberToObject(d, "clients", (double)n->clients);
    cJSON_AddNumberToObject(d, "window_s", (double)a->window_s);
    if (n->clients > 0) {
        ctl_time_text(first, n->first_due_ms, 0);
        ctl_time_text(last, n->last_due_ms, 0);
        cJSON_AddStringToObject(d, "first_due_utc", first);
        cJSON_AddStringToObject(d, "last_due_utc", last);
    }
    return d;
}

/* Record the request, say so and audit it; the exit code. */
static int
request_and_audit(ctl_site_t *site, const char *actor, const struct resync_args *a,
                  const qs_machine_ps_t *who)
{
    char errmsg[CTL_ERRMSG_BYTES], ps_hex[2 * RESYNC_PREFIX_BYTES + 1];
    qs_resync_request_counts_t n;
    cJSON *detail;
    int rc;

    if (who != NULL)
        qs_hex_encode(ps_hex, sizeof ps_hex, who->machine_ps[0], RESYNC_PREFIX_BYTES);
    if (qs_storedb_resync_request(site->storedb, who, ctl_site_now(site),
                                  (int64_t)a->window_s * 1000, &n, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "nothing was requested: %s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (who != NULL && n.clients == 0) {
        /* Nothing changed: no audit entry for a request that was not made. */
        ctl_error(CMD, "no client has reported a machine of that name (pseudonym %s…): "
                  "check the name with qsctl lookup --machine", ps_hex);
        return CTL_EXIT_FAIL;
    }
    detail = detail_new(who ? ps_hex : NULL, a, &n);
    if (a->fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(cJSON_Duplicate(detail, 1)) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        cJSON *f = cJSON_GetObjectItem(detail, "first_due_utc");
        cJSON *l = cJSON_GetObjectItem(detail, "last_due_utc");
        printf("resync requested from %lld client%s%s%s%s", (long long)n.clients,
               n.clients == 1 ? "" : "s", who ? " of machine with pseudonym " : "",
               who ? ps_hex : "", who ? "…" : "");
        if (f != NULL && l != NULL)
            printf(", due from %s to %s (on their next contact)", f->valuestring,
                   l->valuestring);
        printf("\n");
    }
    if (ctl_site_begin(site, errmsg, sizeof errmsg) != 0 ||
        ctl_site_audit(site, actor, "resync", detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(site, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "the request was recorded, but the audit entry could not be written: %s",
                  errmsg);
        rc = CTL_EXIT_FAIL;
    } else {
        rc = ctl_output_done(CMD);
    }
    cJSON_Delete(detail);
    return rc;
}

static void
status_print_json(const qs_resync_status_t *st)
{
    char first[CTL_TIME_BYTES], last[CTL_TIME_BYTES];
    cJSON *d = cJSON_CreateObject();

    if (d == NULL)
        qs_fatal("out of memory");
    cJSON_AddNumberToObject(d, "waiting", (double)st->waiting);
    cJSON_AddNumberToObject(d, "due", (double)st->due);
    cJSON_AddNumberToObject(d, "in_progress", (double)st->in_progress);
    cJSON_AddNumberToObject(d, "gaps_open", (double)st->gaps_open);
    if (st->waiting > 0) {
        ctl_time_text(first, st->first_due_ms, 0);
        ctl_time_text(last, st->last_due_ms, 0);
        cJSON_AddStringToObject(d, "first_due_utc", first);
        cJSON_AddStringToObject(d, "last_due_utc", last);
    }
    cJSON_AddNumberToObject(d, "requested", (double)st->requested);
    cJSON_AddNumberToObject(d, "applied", (double)st->applied);
    cJSON_AddNumberToObject(d, "new_instance", (double)st->new_instance);
    cJSON_AddNumberToObject(d, "gap_given_up", (double)st->gap_given_up);
    if (ctl_json_print(d) != 0)
        qs_fatal("out of memory printing JSON");
}

/* --status: numbers only, so neither the site key nor an audit entry. */
static int
status_show(const struct resync_args *a)
{
    char errmsg[CTL_ERRMSG_BYTES], first[CTL_TIME_BYTES], last[CTL_TIME_BYTES];
    qs_resync_status_t st;
    ctl_site_t site;
    int rc;

    if (ctl_site_open(&site, a->home, CTL_OPEN_STOREDB, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    rc = qs_storedb_resync_status(site.storedb, ctl_site_now(&site), &st, errmsg,
                                  sizeof errmsg);
    ctl_site_close(&site);
    if (rc != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (a->fmt == CTL_FORMAT_JSON) {
        status_print_json(&st);
        return ctl_output_done(CMD);
    }
    printf("waiting      %lld (due now: %lld)\n", (long long)st.waiting, (long long)st.due);
    if (st.waiting > 0) {
        ctl_time_text(first, st.first_due_ms, 0);
        ctl_time_text(last, st.last_due_ms, 0);
        printf("due          from %s to %s\n", first, last);
    }
    printf("in progress  %lld\n" "gaps open    %lld\n" "requested    %lld\n"
           "applied      %lld\n" "new outboxes %lld\n" "gaps given up %lld\n",
           (long long)st.in_progress, (long long)st.gaps_open, (long long)st.requested,
           (long long)st.applied, (long long)st.new_instance, (long long)st.gap_given_up);
    return ctl_output_done(CMD);
}

int
cmd_resync(int argc, char **argv)
{
    struct resync_args a;
    char errmsg[CTL_ERRMSG_BYTES];
    char actor[CTL_ACTOR_BYTES];
    qs_machine_ps_t who;
    ctl_site_t site;
    int rc;

    if ((rc = parse_args(&a, argc, argv)) >= 0)
        return rc;
    if (a.status)
        return status_show(&a);
    if (ctl_actor(actor, sizeof actor, a.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    if (ctl_site_open(&site, a.home, CTL_OPEN_SITEDB | CTL_OPEN_STOREDB | CTL_OPEN_SITE_KEY |
                      CTL_OPEN_AUDIT_KEY, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (a.all) {
        rc = request_and_audit(&site, actor, &a, NULL);
        ctl_site_close(&site);
        return rc;
    }
    switch (qs_pseudonym_machine(&who, site.site_key, a.machine, NULL)) {
    case 0:
        rc = request_and_audit(&site, actor, &a, &who);
        break;
    case 1: case 2:
        rc = ctl_usage_error(CMD, "--machine must not be blank");
        break;
    default:
        rc = ctl_usage_error(CMD, "--machine must be valid UTF-8");
        break;
    }
    qs_machine_ps_wipe(&who);
    ctl_site_close(&site);
    return rc;
}
