/* cmd_audit.c - qsctl audit show|verify: read and check the audit log.
 *
 * The audit log is a keyed hash chain in site.db (see qs_audit.h): `show`
 * lists every entry (seq, UTC time, actor, action, detail); `verify`
 * recomputes the chain with keys/audit.key and checks DIR/audit.head, and
 * names the first entry that was edited, removed or reordered. `show`
 * builds the document qs-web's GET /api/v1/audit returns (qs_docs.h) and
 * prints it with remote_print.h, as `qsctl --url` does.
 *
 *   show --format json    {"entries": [{"seq": 1, "time_utc": "…Z", "actor": "…",
 *                          "action": "init", "detail": {…}}, …]}
 *   verify --format json  {"intact": true, "entries": N} or
 *                         {"intact": false, "bad_seq": S, "finding": "…"}
 */
#include "ctl_common.h"
#include "qs_audit.h"
#include "qs_ctl.h"
#include "qs_docs.h"
#include "qs_fsutil.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "remote_print.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#define CMD_SHOW "audit show"
#define CMD_VERIFY "audit verify"
#define CMD_HEAD "audit head"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl audit show --home DIR [--format table|json|csv]\n"
        "       qsctl audit verify --home DIR [--checkpoint FILE] [--format table|json]\n"
        "       qsctl audit head --home DIR [--format table|json]\n"
        "\n"
        "show lists the tamper-evident audit log (init, enroll, revoke, policy.set,\n"
        "retention.pass, forget, user.add, ...); verify recomputes its hash chain and\n"
        "exits 1 naming the first entry that was edited, removed or reordered.\n"
        "head prints a checkpoint, \"SEQ HASH\" of the last entry: keep it away from\n"
        "the site, and `verify --checkpoint FILE` fails unless the chain still\n"
        "passes through it (entries cut from the end and a rewritten head file\n"
        "are then caught). Every entry also goes to syslog as it is committed.\n"
        "\n"
        "  --home DIR           site home (default $QS_HOME)\n"
        "  --checkpoint FILE    verify: a checkpoint printed earlier by `audit head`\n"
        "  --format table|json  output format (default table); audit show also csv\n"
        "  --help               show this help\n");
}

static int
parse(const char *cmd, const char **home, ctl_format_t *fmt, const char **checkpoint, int argc,
      char **argv, int *help)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "checkpoint", required_argument, NULL, 'c' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    *help = 0;
    *fmt = CTL_FORMAT_TABLE;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': *home = optarg; break;
        case 'c':
            if (checkpoint == NULL)
                return ctl_usage_error(cmd, "--checkpoint goes with audit verify");
            *checkpoint = optarg;
            break;
        case 'f':
            if (strcmp(cmd, CMD_SHOW) == 0 &&
                ctl_format_parse(fmt, optarg,
                                 CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV) == 0)
                break;
            if (ctl_format_parse(fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
                return ctl_usage_error(cmd, strcmp(cmd, CMD_SHOW) == 0
                                                ? "--format must be table, json or csv"
                                                : "--format must be table or json");
            break;
        case 'h': *help = 1; return 0;
        case ':': return ctl_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (ctl_home_missing(cmd, *home))
        return CTL_EXIT_USAGE;
    return 0;
}

/* CSV columns of audit show: the entry document's fields (detail as JSON). */
static const char *const audit_fields[] = { "seq", "time_utc", "actor", "action", "detail" };

static int
collect_entry(void *vctx, const qs_audit_entry_t *e)
{
    cJSON_AddItemToArray((cJSON *)vctx, qs_doc_audit_entry(e));
    return 0;
}

static int
audit_show(int argc, char **argv)
{
    const char *home = NULL;
    ctl_format_t fmt;
    char errmsg[CTL_ERRMSG_BYTES];
    ctl_site_t site;
    cJSON *entries, *doc;
    int help, rc;

    if ((rc = parse(CMD_SHOW, &home, &fmt, NULL, argc, argv, &help)) != 0)
        return rc;
    if (help) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD_SHOW, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    entries = cJSON_CreateArray();
    doc = cJSON_CreateObject();
    if (entries == NULL || doc == NULL)
        qs_fatal("out of memory building the audit document");
    cJSON_AddItemToObject(doc, "entries", entries);
    if (qs_audit_each(site.sitedb, collect_entry, entries) != 0) {
        ctl_error(CMD_SHOW, "cannot read the audit log from '%s': %s", site.paths.site_db,
                  qs_sitedb_errmsg(site.sitedb));
        cJSON_Delete(doc);
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    ctl_site_close(&site);
    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return ctl_output_done(CMD_SHOW);
    }
    if (fmt == CTL_FORMAT_CSV)
        ctl_csv_objects(stdout, cJSON_GetObjectItemCaseSensitive(doc, "entries"), 5,
                        audit_fields, audit_fields);
    else
        ctl_print_audit_show(doc);
    cJSON_Delete(doc);
    return ctl_output_done(CMD_SHOW);
}

static int
audit_verify(int argc, char **argv)
{
    const char *home = NULL, *checkpoint = NULL;
    ctl_format_t fmt;
    char errmsg[CTL_ERRMSG_BYTES], finding[512];
    const char *head;
    ctl_site_t site;
    int64_t bad_seq = 0, entries = 0;
    int help, rc, vrc;

    if ((rc = parse(CMD_VERIFY, &home, &fmt, &checkpoint, argc, argv, &help)) != 0)
        return rc;
    if (help) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD_VERIFY, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    head = site.paths.audit_head;
    finding[0] = '\0';
    vrc = qs_audit_check_checkpoint(site.sitedb, site.audit_key, head, checkpoint, &entries,
                                    &bad_seq, finding, sizeof finding);
    /* qs_audit_verify() skips the head check when the head file is gone; but
     * without it, entries cut from the end of the log would go unnoticed. */
    if (vrc == 0 && entries > 0 && access(head, F_OK) != 0) {
        vrc = 1;
        bad_seq = entries;
        snprintf(finding, sizeof finding, "the audit head file is missing, so entries "
                 "removed after entry %" PRId64 " could not be detected", entries);
    }
    if (vrc < 0)
        snprintf(errmsg, sizeof errmsg, "cannot read the audit log from '%s': %s",
                 site.paths.site_db, finding);
    ctl_site_close(&site);
    if (vrc < 0) {
        ctl_error(CMD_VERIFY, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (fmt == CTL_FORMAT_JSON) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "intact", vrc == 0);
        if (vrc == 0) {
            cJSON_AddNumberToObject(doc, "entries", (double)entries);
        } else {
            cJSON_AddNumberToObject(doc, "bad_seq", (double)bad_seq);
            cJSON_AddStringToObject(doc, "finding", finding);
        }
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
    } else if (vrc == 0) {
        printf("audit log intact: %" PRId64 " entries%s%s\n", entries,
               checkpoint ? ", through checkpoint " : "", checkpoint ? checkpoint : "");
    }
    if (vrc != 0) {
        ctl_error(CMD_VERIFY, "audit log tampered: %s (checked against '%s' with '%s'): "
                  "restore site.db from a backup and find out who changed it",
                  finding, head, site.paths.audit_key);
        (void)ctl_output_done(CMD_VERIFY);
        return CTL_EXIT_FAIL;
    }
    return ctl_output_done(CMD_VERIFY);
}

/* audit head: the checkpoint of the chain as it stands. */
static int
audit_head(int argc, char **argv)
{
    const char *home = NULL;
    ctl_format_t fmt;
    char errmsg[CTL_ERRMSG_BYTES], hex[2 * QS_AUDIT_HASH_BYTES + 1];
    uint8_t hash[QS_AUDIT_HASH_BYTES];
    ctl_site_t site;
    int64_t seq = 0;
    int help, rc;

    if ((rc = parse(CMD_HEAD, &home, &fmt, NULL, argc, argv, &help)) != 0)
        return rc;
    if (help) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD_HEAD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    rc = qs_audit_head(&seq, hash, site.sitedb);
    ctl_site_close(&site);
    if (rc != 0 || seq == 0) {
        ctl_error(CMD_HEAD, rc != 0 ? "cannot read the audit log" : "the audit log is empty");
        return CTL_EXIT_FAIL;
    }
    qs_hex_encode(hex, sizeof hex, hash, sizeof hash);
    if (fmt == CTL_FORMAT_JSON) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "seq", (double)seq);
        cJSON_AddStringToObject(doc, "hash", hex);
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        printf("%" PRId64 " %s\n", seq, hex);   /* exactly what --checkpoint reads */
    }
    return ctl_output_done(CMD_HEAD);
}

int
cmd_audit(int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage_error("audit", "needs a sub-command: show, verify or head");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "show") == 0)
        return audit_show(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        return audit_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "head") == 0)
        return audit_head(argc - 1, argv + 1);
    return ctl_usage_error("audit", "unknown sub-command '%s': use show, verify or head",
                           argv[1]);
}
