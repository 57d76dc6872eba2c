/* cmd_forget.c - qsctl forget: erase one machine's data from the site, provably.
 *
 * The machine's pseudonym (and its domain's, with --domain) is computed from
 * the name the privacy officer gives; qs_storedb_forget_machine deletes every row of
 * latest and of every history partition carrying it in one store.db
 * transaction (secure_delete zeroes the cells), then truncates the WAL and
 * returns free pages. A "forget" audit entry records the counts and the
 * pseudonym's prefix, never the name. The deletion and the audit entry live in
 * two databases: if the audit entry cannot be written after the rows were
 * deleted, the command says so and exits 1.
 */
#include "cmd_forget.h"
#include "ctl_common.h"
#include "qs_ctl.h"
#include "qs_hex.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "qs_store_forget.h"
#include "qs_storedoc.h"

#include <getopt.h>
#include <sodium.h>
#include <string.h>

#define CMD "forget"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl forget --home DIR --machine NAME [--domain D] [--as NAME]\n"
        "                    [--format table|json]\n"
        "\n"
        "Erase every current state and every retained event of one machine from\n"
        "store.db in one transaction, then truncate the WAL and return free pages\n"
        "so that no copy is left in the files. The audit log records the request\n"
        "with the machine's pseudonym prefix and the counts, never the name.\n"
        "Running machines that keep reporting are stored again: revoke them too\n"
        "(qsctl revoke) to stop that.\n"
        "\n"
        "  --home DIR       site home (default $QS_HOME)\n"
        "  --machine NAME   machine name (UTF-8, case-insensitive in Unicode:\n"
        "                   münchen-pc = MÜNCHEN-PC)\n"
        "  --domain D       only the machine's rows reported with this domain\n"
        "  --as NAME        who asks, for the audit log (beside the OS user)\n"
        "  --format table|json  output format (default table); json prints the audit\n"
        "                   entry's detail: {machine_ps, [domain_ps,] latest_rows,\n"
        "                   history_rows, partitions, scrubbed}\n"
        "  --help           show this help\n");
}

struct forget_args {
    const char *home, *machine, *domain, *as;
    ctl_format_t fmt;
};

/* Options into a: -1 to go on, else the exit code (a usage error, or --help). */
static int
parse_args(struct forget_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "machine", required_argument, NULL, 'm' },
        { "domain", required_argument, NULL, 'd' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof *a);
    a->fmt = CTL_FORMAT_TABLE;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a->home = optarg; break;
        case 'm': a->machine = optarg; break;
        case 'd': a->domain = optarg; break;
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
    if (a->machine == NULL)
        return ctl_usage_error(CMD, "--machine NAME is required");
    if (strlen(a->machine) > QS_MAX_NAME_BYTES ||
        (a->domain && strlen(a->domain) > QS_MAX_NAME_BYTES))
        return ctl_usage_error(CMD, "names are at most %u bytes", QS_MAX_NAME_BYTES);
    if (ctl_home_missing(CMD, a->home))
        return CTL_EXIT_USAGE;
    return -1;
}

static void
print_counts(const char *ps_hex, const char *dps_hex, const qs_forget_counts_t *counts,
             qs_storedb_engine_t engine)
{
    printf("forgot machine with pseudonym %s…%s%s: removed %lld current state%s and %lld "
           "event%s from %lld partition%s\n", ps_hex, dps_hex ? " in domain " : "",
           dps_hex ? dps_hex : "", (long long)counts->latest_rows,
           counts->latest_rows == 1 ? "" : "s", (long long)counts->history_rows,
           counts->history_rows == 1 ? "" : "s", (long long)counts->partitions,
           counts->partitions == 1 ? "" : "s");
    if (counts->scrubbed && engine == QS_STOREDB_POSTGRESQL)
        printf("store database VACUUMed: the rows' space is marked for reuse (docs/privacy.md, "
               "\"On PostgreSQL\": what may remain and why it is pseudonymous or sealed)\n");
    else if (counts->scrubbed)
        printf("store.db WAL truncated and free pages returned: no copy is left in the files\n");
}

int
ctl_forget_audited(ctl_site_t *site, const char *cmd, const char *actor,
                   const qs_machine_ps_t *who, ctl_forgot_t *out)
{
    const uint8_t *domain_ps = who->has_domain ? who->domain_ps[0] : NULL;
    char errmsg[CTL_ERRMSG_BYTES], scrub_err[CTL_ERRMSG_BYTES];
    int forget_rc;

    memset(out, 0, sizeof *out);
    qs_hex_encode(out->ps_hex, sizeof out->ps_hex, who->machine_ps[0], QS_STOREDOC_PS_PREFIX_BYTES);
    if (domain_ps != NULL)
        qs_hex_encode(out->dps_hex, sizeof out->dps_hex, domain_ps, QS_STOREDOC_PS_PREFIX_BYTES);
    errmsg[0] = '\0';
    forget_rc = qs_storedb_forget_who(site->storedb, &out->counts, who, errmsg, sizeof errmsg);
    snprintf(scrub_err, sizeof scrub_err, "%s", errmsg);
    if (forget_rc == -1) {
        /* Nothing was deleted: no audit entry for a change that did not happen. */
        ctl_error(cmd, "nothing was removed: %s", errmsg);
        return CTL_EXIT_FAIL;
    }
    out->detail = qs_storedoc_forget_detail(out->ps_hex, domain_ps ? out->dps_hex : NULL,
                                            &out->counts);
    if (ctl_site_begin(site, errmsg, sizeof errmsg) != 0 ||
        ctl_site_audit(site, actor, "forget", out->detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(site, errmsg, sizeof errmsg) != 0) {
        ctl_error(cmd, "the rows were removed, but the audit entry could not be written: %s",
                  errmsg);
        return CTL_EXIT_FAIL;
    }
    if (forget_rc != 0) {
        ctl_error(cmd, "the rows were removed, but %s; run qs-retention --once (or wait for "
                  "its next pass) to truncate the WAL", scrub_err);
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

void
ctl_forget_print(const ctl_forgot_t *f, qs_storedb_engine_t engine)
{
    print_counts(f->ps_hex, f->dps_hex[0] ? f->dps_hex : NULL, &f->counts, engine);
}

/* Forget, then audit it and say so; the exit code. */
static int
forget_and_audit(ctl_site_t *site, const char *actor, ctl_format_t fmt,
                 const qs_machine_ps_t *who)
{
    ctl_forgot_t f;
    int rc = ctl_forget_audited(site, CMD, actor, who, &f);

    if (f.detail != NULL && fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(cJSON_Duplicate(f.detail, 1)) != 0)
            qs_fatal("out of memory printing JSON");
    } else if (f.detail != NULL) {
        ctl_forget_print(&f, qs_storedb_engine(site->storedb));
    }
    cJSON_Delete(f.detail);
    return rc == CTL_EXIT_OK ? ctl_output_done(CMD) : rc;
}

int
cmd_forget(int argc, char **argv)
{
    struct forget_args a;
    char errmsg[CTL_ERRMSG_BYTES];
    char actor[CTL_ACTOR_BYTES];
    qs_machine_ps_t who;
    ctl_site_t site;
    int rc;

    if ((rc = parse_args(&a, argc, argv)) >= 0)
        return rc;
    if (ctl_actor(actor, sizeof actor, a.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    if (ctl_site_open(&site, a.home, CTL_OPEN_SITEDB | CTL_OPEN_STOREDB | CTL_OPEN_SITE_KEY |
                      CTL_OPEN_AUDIT_KEY, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    /* Every spelling of the name's pseudonyms: rows written under the
     * legacy ASCII-only fold go too (qs_pseudonym_machine). */
    switch (qs_pseudonym_machine(&who, site.site_key, a.machine, a.domain)) {
    case 0:
        rc = forget_and_audit(&site, actor, a.fmt, &who);
        break;
    case 1: case 2:
        rc = ctl_usage_error(CMD, "--machine and --domain must not be blank");
        break;
    default:
        rc = ctl_usage_error(CMD, "--machine and --domain must be valid UTF-8");
        break;
    }
    qs_machine_ps_wipe(&who);
    ctl_site_close(&site);
    return rc;
}
