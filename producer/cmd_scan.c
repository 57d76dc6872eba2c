/* cmd_scan.c - `qs-producer scan`: record the package system's update state
 * (scan.h) and say what changed.
 */
#include "commands.h"
#include "scan.h"

#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_log.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_scan[] =
    "usage: qs-producer --outbox FILE scan [--root DIR] [--machine NAME] [--domain D]\n"
    "           [--dry-run] [--format text|json]\n"
    "\n"
    "Read dpkg's status file and apt's package lists (no apt or dpkg is run) and\n"
    "record, as update-detection state (topic type 500), what changed since the\n"
    "last scan: installed versions (3 installed), pending upgrades (2 required;\n"
    "details 'security' from a security archive), versions no longer installed\n"
    "or pending (1 not required). Topic id: deb:PACKAGE:VERSION. An unchanged\n"
    "system records nothing. Delivery is left to 'flush' or 'run'.\n"
    "\n"
    "  --root DIR         the system's root (default: $QS_SCAN_ROOT, else /)\n"
    "  --machine NAME     machine name (default: this host's name; '' for none)\n"
    "  --domain D         domain name (default: none)\n"
    "  --dry-run          show the changes, record nothing\n"
    "  --format F         text (default) or json (one document)\n"
    "\n"
    "exit status: 0 ok (also when entries were skipped as malformed: counted),\n"
    "1 no dpkg status file under the root, or the outbox cannot be written or is\n"
    "full, 2 usage error\n";

enum { OPT_OUTBOX = 1000, OPT_PROFILE };

static const char *
state_word(uint32_t s)
{
    return s == 1 ? "not required" : s == 2 ? "required" : s == 3 ? "installed" : "unknown";
}

static void
print_json(const qs_scan_opts_t *o, const qs_scan_result_t *r)
{
    cJSON *doc = cJSON_CreateObject(), *ch = cJSON_CreateArray();
    char *text;

    cJSON_AddStringToObject(doc, "root", o->root);
    cJSON_AddNumberToObject(doc, "installed", (double)r->installed);
    cJSON_AddNumberToObject(doc, "pending", (double)r->pending);
    cJSON_AddNumberToObject(doc, "security", (double)r->security);
    cJSON_AddNumberToObject(doc, "lists", (double)r->lists);
    cJSON_AddNumberToObject(doc, "lists_skipped", (double)r->lists_skipped);
    cJSON_AddNumberToObject(doc, "malformed", (double)r->malformed);
    cJSON_AddBoolToObject(doc, "dry_run", o->dry_run);
    cJSON_AddNumberToObject(doc, "recorded", o->dry_run ? 0 : (double)r->n_changes);
    cJSON_AddNumberToObject(doc, "first_serial", (double)r->first_serial);
    cJSON_AddNumberToObject(doc, "last_serial",
                            r->first_serial ? (double)(r->first_serial + r->n_changes - 1) : 0);
    for (size_t i = 0; i < r->n_changes; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "topic_id", r->changes[i].topic_id);
        cJSON_AddNumberToObject(c, "state_id", r->changes[i].state_id);
        cJSON_AddStringToObject(c, "state", state_word(r->changes[i].state_id));
        cJSON_AddBoolToObject(c, "security", r->changes[i].security);
        cJSON_AddItemToArray(ch, c);
    }
    cJSON_AddItemToObject(doc, "changes", ch);
    text = cJSON_PrintUnformatted(doc);
    if (text != NULL)
        puts(text);
    cJSON_free(text);
    cJSON_Delete(doc);
}

static void
print_text(const qs_scan_opts_t *o, const qs_scan_result_t *r)
{
    uint64_t by[4] = { 0, 0, 0, 0 };

    for (size_t i = 0; i < r->n_changes; i++) {
        by[r->changes[i].state_id & 3]++;
        printf("%s  %u %s%s\n", r->changes[i].topic_id, r->changes[i].state_id,
               state_word(r->changes[i].state_id), r->changes[i].security ? " (security)" : "");
    }
    printf("scan: %" PRIu64 " packages installed, %" PRIu64 " upgrades pending (%" PRIu64
           " security), %" PRIu64 " lists read", r->installed, r->pending, r->security, r->lists);
    if (r->n_changes == 0)
        printf("; no change since the last scan\n");
    else if (o->dry_run)
        printf("; %zu changes (dry run: nothing recorded)\n", r->n_changes);
    else
        printf("; recorded %zu changes (%" PRIu64 " required, %" PRIu64 " installed, %" PRIu64
               " not required) as serials %" PRIu64 "..%" PRIu64 "\n", r->n_changes, by[2],
               by[3], by[1], r->first_serial, r->first_serial + r->n_changes - 1);
}

static int
scan_parse(qs_scan_opts_t *o, const char **outbox, int *json, int argc, char **argv)
{
    static const struct option opts[] = {
        { "root", required_argument, NULL, 'r' },
        { "machine", required_argument, NULL, 'm' },
        { "domain", required_argument, NULL, 'd' },
        { "dry-run", no_argument, NULL, 'n' },
        { "format", required_argument, NULL, 'f' },
        { "outbox", required_argument, NULL, OPT_OUTBOX },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    qs_fmt_t fmt = QS_FMT_TABLE;
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': o->root = optarg; break;
        case 'm': o->machine = optarg; break;
        case 'd': o->domain = optarg; break;
        case 'n': o->dry_run = 1; break;
        case 'f':
            if (qs_cmd_parse_format(optarg, 3, &fmt) != 0)
                return qs_cmd_usage_error("scan", "--format: not text or json:", optarg);
            break;
        case OPT_OUTBOX: *outbox = optarg; break;
        case OPT_PROFILE: break;
        case 'h': fputs(usage_scan, stdout); return 0;
        default: return qs_cmd_usage_error("scan", "unknown option or missing argument", NULL);
        }
    }
    if (optind < argc)
        return qs_cmd_usage_error("scan", "unexpected argument", argv[optind]);
    if (*outbox == NULL)
        return qs_cmd_usage_error("scan", "--outbox FILE is required", NULL);
    if (strlen(o->machine) > QS_MAX_NAME_BYTES || !qs_utf8_valid(o->machine, strlen(o->machine)))
        return qs_cmd_usage_error("scan", "--machine: must be at most 255 bytes of UTF-8", NULL);
    if (strlen(o->domain) > QS_MAX_NAME_BYTES || !qs_utf8_valid(o->domain, strlen(o->domain)))
        return qs_cmd_usage_error("scan", "--domain: must be at most 255 bytes of UTF-8", NULL);
    *json = fmt == QS_FMT_JSON;
    return -1;
}

int
qs_cmd_scan(const char **outbox, int argc, char **argv)
{
    char host[QS_MAX_NAME_BYTES + 1], err[768];
    qs_scan_opts_t o = { NULL, NULL, "", 0, 0, 0 };
    qs_scan_result_t r;
    qs_clock_t clock;
    qs_outbox_t *ob;
    int json = 0, rc;

    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    o.machine = host;
    if ((rc = scan_parse(&o, outbox, &json, argc, argv)) >= 0)
        return rc;
    if (o.root == NULL)
        o.root = getenv("QS_SCAN_ROOT") ? getenv("QS_SCAN_ROOT") : "/";
    if (qs_clock_init(&clock) != 0)
        log_warn("ignoring QS_CLOCK_OFFSET_S: not an integer number of seconds");
    o.now_ms = qs_clock_now_ms(&clock);
    o.progress = isatty(STDERR_FILENO);
    ob = qs_outbox_open(*outbox, err, sizeof err);
    if (ob == NULL) {
        fprintf(stderr, "qs-producer scan: %s\n", err);
        return 1;
    }
    rc = qs_scan_run(ob, &o, &r, err, sizeof err);
    qs_outbox_destroy(&ob);
    if (rc != 0) {
        fprintf(stderr, "qs-producer scan: %s\n", err);
        return 1;
    }
    if (r.malformed > 0)
        fprintf(stderr, "qs-producer scan: %" PRIu64 " malformed entries skipped; the first: "
                "%s\n", r.malformed, r.first_error);
    if (r.lists_skipped > 0)
        fprintf(stderr, "qs-producer scan: %" PRIu64 " compressed package lists not read (apt "
                "keeps them uncompressed with Acquire::GzipIndexes \"false\")\n", r.lists_skipped);
    if (json)
        print_json(&o, &r);
    else
        print_text(&o, &r);
    qs_scan_result_free(&r);
    return fflush(stdout) == 0 ? 0 : 1;
}
