/* cmd_import.c - qsctl import: the model system's state-message export into the store.
 *
 * A child process that holds no key reads the file, decodes it as CSV and
 * maps the header and every record to a row (import_reader.h); the parent
 * hands each row to the store's importer (store/qs_store_import.h), which checks it
 * with the rules live messages go through and writes it with the store's
 * own write path under the policy in force. A line that cannot be
 * imported is skipped and listed with its line number and the reason; a
 * file with no header row, or that is not CSV text, is refused before
 * anything is written. Nothing is written without a policy. The outcome is
 * one "import" audit entry (counts and file name; never a machine name).
 *
 * --format is given for the input (sccm-csv, the default and only one) and
 * for the output (table or json): the values differ, so one option serves
 * both, as the command contract spells it (docs/import.md).
 */
#include "ctl_common.h"
#include "import_reader.h"
#include "qs_config.h"
#include "qs_ctl.h"
#include "qs_epochkeys.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "qs_store_import.h"

#include <time.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "import"
/* Skipped lines a table shows; --format json lists them all. */
#define TABLE_SKIPPED_MAX 50u

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl import --home DIR [--format sccm-csv] FILE [--as NAME]\n"
        "                    [--format table|json]\n"
        "\n"
        "Import the current update states of a fleet from a CSV export of the model\n"
        "system's state messages (docs/import.md has the query): a header row naming\n"
        "MachineName,Domain,TopicType,TopicID,StateID,StateTime (any order, any case,\n"
        "other columns ignored; Domain may be left out), one row per machine and\n"
        "topic, StateTime in UTC as 'YYYY-MM-DD HH:MM:SS' or 'YYYY-MM-DDTHH:MM:SSZ'.\n"
        "Rows are checked and minimized as live state messages are (pseudonyms,\n"
        "time precision, the policy's maximum ages); nothing is imported before a\n"
        "policy is set. A line that cannot be imported is skipped and listed with\n"
        "its number and why. Importing a file again changes nothing; a machine that\n"
        "already reports live keeps its own states. Audited.\n"
        "\n"
        "  --home DIR       site home (default $QS_HOME)\n"
        "  FILE             the export ('-': standard input)\n"
        "  --format F       input format sccm-csv (the default), and/or output\n"
        "                   format table (default) or json: {rows, imported,\n"
        "                   unchanged, live, skipped, machines, transactions,\n"
        "                   seconds, skipped_lines: [{line, reason}]}\n"
        "  --as NAME        who imports, for the audit log (beside the OS user)\n"
        "  --help           show this help\n"
        "\n"
        "exit 0: imported (skipped lines are listed, not an error); 1: refused\n"
        "(no policy, not a CSV export, a header column missing) or a write failed;\n"
        "2: usage error\n");
}

struct import_args {
    const char *home, *file, *as;
    ctl_format_t fmt;
};

static int
parse_format(struct import_args *a, const char *v)
{
    if (strcmp(v, "sccm-csv") == 0)
        return 0;
    if (ctl_format_parse(&a->fmt, v, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
        return ctl_usage_error(CMD, "--format must be sccm-csv (input), table or json (output)");
    return 0;
}

/* Options into a: -1 to go on, else the exit code (a usage error, or --help). */
static int
parse_args(struct import_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "format", required_argument, NULL, 'f' },
        { "as", required_argument, NULL, 'a' },
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
        case 'a': a->as = optarg; break;
        case 'f':
            if (parse_format(a, optarg) != 0)
                return CTL_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        a->file = argv[optind++];
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s' (one FILE)", argv[optind]);
    if (a->file == NULL)
        return ctl_usage_error(CMD, "FILE is required: the CSV export to import");
    if (ctl_home_missing(CMD, a->home))
        return CTL_EXIT_USAGE;
    return -1;
}

/* ------------------------------------------------------------ progress */

struct progress {
    int on;                 /* stderr is a terminal and the output a table */
    int last;               /* last percentage drawn */
};

static void
progress_draw(struct progress *p, const char *what, size_t done, size_t total)
{
    int pct = total > 0 ? (int)(done * 100 / total) : 100;
    char bar[31];

    if (!p->on || (pct == p->last && done != total))
        return;
    p->last = pct;
    for (int i = 0; i < 30; i++)
        bar[i] = i < pct * 30 / 100 ? '#' : ' ';
    bar[30] = '\0';
    fprintf(stderr, "\r%-8s [%s] %3d%% (%zu/%zu rows)", what, bar, pct, done, total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void
progress_write(void *ctx, size_t done, size_t total)
{
    progress_draw(ctx, "writing", done, total);
}

/* ------------------------------------------------------------- reading */

struct skipped {
    uint64_t line;
    char *reason;
};

struct summary {
    int64_t rows;
    struct skipped *skipped;
    size_t n_skipped, cap_skipped;
    qs_import_counts_t counts;
    double seconds;
};

static void
skip(struct summary *s, uint64_t line, const char *reason)
{
    qs_grow((void **)&s->skipped, &s->cap_skipped, s->n_skipped + 1, sizeof *s->skipped);
    s->skipped[s->n_skipped].line = line;
    s->skipped[s->n_skipped].reason = qs_strdup(reason);
    s->n_skipped++;
}

static void
summary_free(struct summary *s)
{
    for (size_t i = 0; i < s->n_skipped; i++)
        free(s->skipped[i].reason);
    free(s->skipped);
    memset(s, 0, sizeof *s);
}

/* Every item of the reader into imp, or into s's skipped lines. 0, or -1
 * after saying why (the file refused, the reader broke). */
static int
read_rows(ctl_import_reader_t *rd, qs_import_t *imp, struct summary *s,
          const struct progress *p)
{
    char errmsg[CTL_ERRMSG_BYTES];
    ctl_import_item_t it;
    const char *why;

    for (;;) {
        qs_import_row_t ir;
        if (ctl_import_reader_next(rd, &it, errmsg, sizeof errmsg) != 0) {
            ctl_error(CMD, "%s", errmsg);
            return -1;
        }
        if (it.kind == CTL_IMPORT_END)
            break;
        if (it.kind == CTL_IMPORT_REFUSED) {
            ctl_error(CMD, "%s%s; nothing was imported", it.reason,
                      strstr(it.reason, "header") != NULL ?
                      " (docs/import.md has the export query)" : "");
            return -1;
        }
        s->rows++;
        if (p->on && (s->rows & 0xffff) == 0) {
            fprintf(stderr, "\rreading  %lld rows", (long long)s->rows);
            fflush(stderr);
        }
        if (it.kind == CTL_IMPORT_SKIPPED) {
            skip(s, it.line, it.reason);
            continue;
        }
        ir.machine = it.row.machine;
        ir.domain = it.row.domain;
        ir.topic_id = it.row.topic_id;
        ir.topic_type = it.row.topic_type;
        ir.state_id = it.row.state_id;
        ir.time_ms = it.row.time_ms;
        if (qs_import_add(imp, &ir, &why) != 0)
            skip(s, it.line, why);
    }
    if (p->on && s->rows > 0xffff)
        fprintf(stderr, "\rreading  %lld rows\n", (long long)s->rows);
    return 0;
}

/* -------------------------------------------------------------- output */

/* The audit entry's detail, and --format json's document with the
 * skipped lines (all) when with_lines. */
static cJSON *
summary_json(const struct summary *s, const char *file, int with_lines)
{
    cJSON *doc = cJSON_CreateObject(), *lines;

    if (doc == NULL)
        qs_fatal("out of memory");
    if (!with_lines)
        cJSON_AddStringToObject(doc, "file", file);
    cJSON_AddStringToObject(doc, "format", "sccm-csv");
    cJSON_AddNumberToObject(doc, "rows", (double)s->rows);
    cJSON_AddNumberToObject(doc, "imported", (double)s->counts.imported);
    cJSON_AddNumberToObject(doc, "unchanged", (double)s->counts.unchanged);
    cJSON_AddNumberToObject(doc, "live", (double)s->counts.live);
    cJSON_AddNumberToObject(doc, "skipped", (double)s->n_skipped);
    cJSON_AddNumberToObject(doc, "machines", (double)s->counts.machines);
    cJSON_AddNumberToObject(doc, "transactions", (double)s->counts.transactions);
    if (!with_lines)
        return doc;
    cJSON_AddNumberToObject(doc, "seconds", (double)(int64_t)(s->seconds * 1000) / 1000.0);
    lines = cJSON_AddArrayToObject(doc, "skipped_lines");
    for (size_t i = 0; lines != NULL && i < s->n_skipped; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "line", (double)s->skipped[i].line);
        cJSON_AddStringToObject(o, "reason", s->skipped[i].reason);
        cJSON_AddItemToArray(lines, o);
    }
    return doc;
}

static void
print_table(const struct summary *s)
{
    static const char *const headers[] = { "line", "skipped because" };
    ctl_table_t *t;
    char num[32];

    printf("imported %lld of %lld rows (%lld machines) in %lld transaction%s, %.1f s; "
           "%lld unchanged (already stored), %lld of machines that report live, %zu skipped\n",
           (long long)s->counts.imported, (long long)s->rows, (long long)s->counts.machines,
           (long long)s->counts.transactions, s->counts.transactions == 1 ? "" : "s",
           s->seconds, (long long)s->counts.unchanged, (long long)s->counts.live,
           s->n_skipped);
    if (s->n_skipped == 0)
        return;
    t = ctl_table_new(2, headers);
    ctl_table_align_right(t, 0);
    for (size_t i = 0; i < s->n_skipped && i < TABLE_SKIPPED_MAX; i++) {
        const char *cells[2] = { num, s->skipped[i].reason };
        snprintf(num, sizeof num, "%llu", (unsigned long long)s->skipped[i].line);
        ctl_table_add(t, cells);
    }
    ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
    if (s->n_skipped > TABLE_SKIPPED_MAX)
        printf("... and %zu more skipped lines (--format json lists every one)\n",
               s->n_skipped - TABLE_SKIPPED_MAX);
}

/* ---------------------------------------------------------------- main */

static double
mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The importer for the site, under its policy. NULL after saying why. */
static qs_import_t *
open_importer(ctl_site_t *site, qs_epochkeys_t **ks)
{
    char errmsg[CTL_ERRMSG_BYTES];
    qs_config_t cfg;
    qs_policy_t pol;
    int configured = 0;
    int64_t version = 0;
    qs_import_t *imp;

    if (qs_sitedb_policy_get(site->sitedb, &pol, &configured, &version) != 0) {
        ctl_error(CMD, "cannot read the policy from site.db");
        return NULL;
    }
    if (!configured) {
        ctl_error(CMD, "no privacy policy is set, and nothing is stored before one: set it "
                  "first (qsctl policy set --home DIR ...), then import");
        return NULL;
    }
    if (qs_config_load(&cfg, site->paths.conf, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return NULL;
    }
    *ks = qs_epochkeys_open(site->paths.epochs_dir, 0, errmsg, sizeof errmsg);
    if (*ks == NULL) {
        ctl_error(CMD, "%s", errmsg);
        return NULL;
    }
    imp = qs_import_new(site->storedb, site->site_key, *ks, &pol, ctl_site_now(site),
                        (int64_t)cfg.skew_limit_s * 1000, errmsg, sizeof errmsg);
    if (imp == NULL)
        ctl_error(CMD, "%s", errmsg);
    return imp;
}

/* Write, audit, print; the exit code. */
static int
write_and_audit(ctl_site_t *site, qs_import_t *imp, struct summary *s,
                const struct import_args *a, const char *actor, struct progress *p,
                double t0)
{
    char errmsg[CTL_ERRMSG_BYTES], auditerr[CTL_ERRMSG_BYTES];
    const char *base = strrchr(a->file, '/') ? strrchr(a->file, '/') + 1 : a->file;
    int run_rc = qs_import_run(imp, progress_write, p, &s->counts, errmsg, sizeof errmsg);
    cJSON *detail;
    int rc = CTL_EXIT_OK;

    s->seconds = mono_s() - t0;
    detail = summary_json(s, base, 0);
    if (ctl_site_begin(site, auditerr, sizeof auditerr) != 0 ||
        ctl_site_audit(site, actor, "import", detail, auditerr, sizeof auditerr) != 0 ||
        ctl_site_commit(site, auditerr, sizeof auditerr) != 0) {
        ctl_error(CMD, "%lld rows were imported, but the audit entry could not be "
                  "written: %s", (long long)s->counts.imported, auditerr);
        rc = CTL_EXIT_FAIL;
    }
    cJSON_Delete(detail);
    if (run_rc != 0) {
        ctl_error(CMD, "%s; %lld rows were imported before it (committed, audited): "
                  "importing the file again completes it", errmsg,
                  (long long)s->counts.imported);
        rc = CTL_EXIT_FAIL;
    }
    if (a->fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(summary_json(s, base, 1)) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        print_table(s);
    }
    return rc == CTL_EXIT_OK ? ctl_output_done(CMD) : rc;
}

static int
import_file(ctl_site_t *site, ctl_import_reader_t *rd, const struct import_args *a,
            const char *actor)
{
    struct progress p = { isatty(STDERR_FILENO) && a->fmt == CTL_FORMAT_TABLE, -1 };
    struct summary s = { 0 };
    qs_epochkeys_t *ks = NULL;
    qs_import_t *imp;
    double t0 = mono_s();
    int rc = CTL_EXIT_FAIL;

    if ((imp = open_importer(site, &ks)) != NULL && read_rows(rd, imp, &s, &p) == 0)
        rc = write_and_audit(site, imp, &s, a, actor, &p, t0);
    qs_import_destroy(&imp);
    qs_epochkeys_destroy(&ks);
    summary_free(&s);
    return rc;
}

int
cmd_import(int argc, char **argv)
{
    struct import_args a;
    char errmsg[CTL_ERRMSG_BYTES];
    char actor[CTL_ACTOR_BYTES];
    ctl_import_reader_t *rd;
    ctl_site_t site;
    int rc;

    if ((rc = parse_args(&a, argc, argv)) >= 0)
        return rc;
    if (ctl_actor(actor, sizeof actor, a.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    /* Before any key is loaded: the child that parses the file has none. */
    if ((rd = ctl_import_reader_start(a.file, errmsg, sizeof errmsg)) == NULL) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_open(&site, a.home, CTL_OPEN_SITEDB | CTL_OPEN_STOREDB | CTL_OPEN_SITE_KEY |
                      CTL_OPEN_AUDIT_KEY, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        ctl_import_reader_destroy(&rd);
        return CTL_EXIT_FAIL;
    }
    rc = import_file(&site, rd, &a, actor);
    ctl_import_reader_destroy(&rd);
    ctl_site_close(&site);
    return rc;
}
