/* cmd_verify.c - qsctl verify: check that a site keeps nothing the policy says is gone.
 *
 * A thin front end to retention/verify.c (qs_verify_*): it resolves the site,
 * takes "now" from the same clock as the daemons (QS_CLOCK_OFFSET_S in
 * tests), allows one retention interval of lag unless --strict, adds the
 * --name arguments, runs every check and prints either one line "site
 * verified: ..." (exit 0) or the findings, one per line (exit 1).
 * --repair-counts first rebuilds compliance_counts, scope_counts and installed_hours from latest (the remedy
 * the counts finding names); it changes no stored fact, so it is not audited.
 */
#include "ctl_common.h"
#include "qs_config.h"
#include "qs_log.h"
#include "qs_ctl.h"
#include "qs_store_check.h"
#include "qs_verifydoc.h"
#include "verify.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CMD "verify"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl verify --home DIR [--name NAME]... [--strict] [--format table|json]\n"
        "                    [--repair-counts]\n"
        "\n"
        "Check that no expired data or identifier is left in any file of the site:\n"
        "  - no history partition, history row, partition key or latest row older\n"
        "    than the policy allows (allowing one retention interval for qs-retention\n"
        "    to get there; --strict allows none);\n"
        "  - no text column in store.db but topic ids and counter names, every\n"
        "    machine, domain, user and client identity a 16-byte pseudonym;\n"
        "  - with --name, the raw bytes of every file under DIR (databases, WAL,\n"
        "    keys, logs...) do not contain that name (case-insensitive, ASCII and\n"
        "    UTF-16LE);\n"
        "  - DIR, DIR/keys and DIR/keys/epochs are 0700; keys, databases, their WAL\n"
        "    and the audit head have no group or world permission bits;\n"
        "  - the audit chain and its head verify;\n"
        "  - compliance_counts and scope_counts (what qsctl compliance reads) equal\n"
        "    latest grouped.\n"
        "On a PostgreSQL store the same checks run on the database: every table's\n"
        "columns (information_schema), its rows searched for each name, and the\n"
        "epoch key chains; the server's files, WAL archives and base backups are\n"
        "out of its sight (docs/privacy.md, \"On PostgreSQL\").\n"
        "Exit 0 with \"site verified: ...\", or 1 with one finding per line.\n"
        "\n"
        "  --home DIR      site home (default $QS_HOME)\n"
        "  --name NAME     a raw machine, domain or user name to search for (repeatable)\n"
        "  --strict        no allowance for the retention interval\n"
        "  --format FMT    table (default) or json: {\"ok\": bool, \"findings\": [...], ...}\n"
        "  --repair-counts first rebuild compliance_counts, scope_counts (machines\n"
        "                  per topic type) and installed_hours (installations per\n"
        "                  update and hour) from latest (one transaction; safe while\n"
        "                  qs-store runs), then verify\n"
        "  --help          show this help\n");
}

struct verify_args {
    const char *home;
    const char **names;     /* malloc'd; the strings are argv's */
    size_t n_names;
    ctl_format_t fmt;
    int strict, repair;
};

/* Options into a: -1 to go on, else the exit code (a usage error, or
 * --help); a->names is freed unless -1. */
static int
parse_args(struct verify_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "name", required_argument, NULL, 'n' },
        { "strict", no_argument, NULL, 's' },
        { "format", required_argument, NULL, 'f' },
        { "repair-counts", no_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *format = "table";
    int c, rc = -1;

    memset(a, 0, sizeof *a);
    ctl_getopt_reset();
    while (rc < 0 && (c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a->home = optarg; break;
        case 'n':
            if (*optarg == '\0') {
                rc = ctl_usage_error(CMD, "--name must not be empty");
                break;
            }
            a->names = qs_realloc(a->names, (a->n_names + 1) * sizeof *a->names);
            a->names[a->n_names++] = optarg;
            break;
        case 's': a->strict = 1; break;
        case 'r': a->repair = 1; break;
        case 'f': format = optarg; break;
        case 'h': usage(stdout); rc = CTL_EXIT_OK; break;
        case ':': rc = ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]); break;
        default: rc = ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (rc < 0 && optind < argc)
        rc = ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (rc < 0 && ctl_format_parse(&a->fmt, format, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
        rc = ctl_usage_error(CMD, "--format must be table or json");
    if (rc < 0 && ctl_home_missing(CMD, a->home))
        rc = CTL_EXIT_USAGE;
    if (rc >= 0) {
        free(a->names);
        a->names = NULL;
    }
    return rc;
}

/* One line "site verified: ..." or the findings, one per line. */
static void
print_table(const qs_verify_t *v, int verified)
{
    const qs_verify_summary_t *sum = qs_verify_summary(v);

    if (!verified) {
        printf("site not verified: %zu finding%s\n", qs_verify_count(v),
               qs_verify_count(v) == 1 ? "" : "s");
        for (size_t i = 0; i < qs_verify_count(v); i++)
            printf("%s\n", qs_verify_finding(v, i));
        return;
    }
    if (sum->policy_configured)
        printf("site verified: policy version %lld, ", (long long)sum->policy_version);
    else
        printf("site verified: no policy yet (nothing is collected), ");
    printf("%lld partitions with %lld events, "
           "%lld current states, %lld epoch keys, audit chain of %lld entries intact",
           (long long)sum->partitions,
           (long long)sum->history_rows, (long long)sum->latest_rows,
           (long long)sum->keys, (long long)sum->audit_entries);
    if (sum->names > 0)
        printf(", %lld name%s found in none of %lld files", (long long)sum->names,
               sum->names == 1 ? "" : "s", (long long)sum->files_scanned);
    printf(" (%s)\n", sum->grace_ms ? "allowing one retention interval" : "strict");
}

/* Repair if asked, verify, print; the exit code. */
static int
verify_site(ctl_site_t *site, const struct verify_args *a)
{
    char errmsg[CTL_ERRMSG_BYTES];
    qs_config_t cfg;
    qs_verify_t *v;
    int64_t repaired_groups = -1;
    int verified, rc;

    if (qs_config_load(&cfg, site->paths.conf, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "cannot read the retention interval: %s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (a->repair && qs_storedb_counts_repair(site->storedb, &repaired_groups, errmsg,
                                              sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    v = qs_verify_new(&site->paths, ctl_site_now(site),
                      a->strict ? 0 : (int64_t)cfg.retention_interval_s * 1000);
    for (size_t i = 0; i < a->n_names; i++)
        qs_verify_add_name(v, a->names[i]);
    verified = qs_verify_run(v) == 0;
    if (a->repair && a->fmt != CTL_FORMAT_JSON)
        printf("compliance_counts and scope_counts rebuilt from latest: %lld groups\n",
               (long long)repaired_groups);
    if (a->fmt == CTL_FORMAT_JSON &&
        ctl_json_print(qs_verify_doc(v, verified, a->repair, repaired_groups)) != 0) {
        ctl_error(CMD, "out of memory rendering JSON");
        qs_verify_destroy(&v);
        return CTL_EXIT_FAIL;
    }
    if (a->fmt != CTL_FORMAT_JSON)
        print_table(v, verified);
    qs_verify_destroy(&v);
    rc = ctl_output_done(CMD);
    if (rc == CTL_EXIT_OK && !verified)
        rc = CTL_EXIT_FAIL;
    return rc;
}

int
cmd_verify(int argc, char **argv)
{
    struct verify_args a;
    char errmsg[CTL_ERRMSG_BYTES];
    ctl_site_t site;
    int rc;

    if ((rc = parse_args(&a, argc, argv)) >= 0)
        return rc;
    if (ctl_site_open(&site, a.home, a.repair ? CTL_OPEN_STOREDB : 0, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        free(a.names);
        return CTL_EXIT_FAIL;
    }
    rc = verify_site(&site, &a);
    free(a.names);
    ctl_site_close(&site);
    return rc;
}
