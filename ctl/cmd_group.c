/* cmd_group.c - qsctl group add|remove|list, and the --group of enroll and compliance.
 *
 * A group ("Finance") is a name that is not personal and a set of machines,
 * kept in the store under the machines' keyed pseudonyms (store/
 * qs_store_group.h, docs/groups.md). Changes are per-machine actions of an
 * administrator: each is made in the store, then audited with the actor
 * (--as), the group name and the pseudonym prefixes, never a machine's name
 * (as qsctl resync does). Reads are aggregates: member counts below k print
 * as "<K", and `compliance --group` is the fleet's compliance answer over
 * the group's members, suppressed by the same rules in store/ and printed
 * by the same printers (remote_print.h). An unknown group is an error that
 * changes nothing.
 */
#include "ctl_group.h"

#include "qs_codec.h"
#include "qs_ctl.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "qs_pseudonym.h"
#include "qs_store_group.h"
#include "qs_storedoc.h"
#include "remote_print.h"

#include <getopt.h>
#include <sodium.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CMD "group"
#define PS_HEX_BYTES QS_STOREDOC_PS_HEX_BYTES
#define MAX_MACHINES 1000

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl group add --home DIR --name G [--machine NAME ...] [--as NAME]\n"
        "       qsctl group remove --home DIR --name G [--machine NAME ...] [--as NAME]\n"
        "       qsctl group list --home DIR [--name G] [--format table|json|csv]\n"
        "\n"
        "Groups of machines (\"Finance\") for `qsctl compliance --group G`.\n"
        "A group name is not personal: never name a group after a person.\n"
        "Machines are stored only as keyed pseudonyms of their names.\n"
        "\n"
        "  add               without --machine: create the group (a group must exist\n"
        "                    before machines are added to it); with --machine: add\n"
        "                    those machines to the existing group\n"
        "  remove            with --machine: take those machines out of the group;\n"
        "                    without: delete the group and all its memberships\n"
        "  list              groups with their member counts (1..k-1: \"<K\")\n"
        "  --home DIR        site home (default $QS_HOME)\n"
        "  --name G          the group: 1..%u characters, no control characters\n"
        "  --machine NAME    a machine name (repeatable, up to %d; UTF-8,\n"
        "                    case-insensitive in Unicode)\n"
        "  --as NAME         who makes the change, for the audit log (beside the OS user)\n"
        "  --format table|json|csv  output format (default table; csv for list only)\n"
        "  --help            show this help\n"
        "\n"
        "Every change is audited (group name, machine pseudonym prefixes, actor).\n",
        QS_GROUP_NAME_MAX_CHARS, MAX_MACHINES);
}

struct group_args {
    const char *sub, *home, *name, *as;
    const char **machines;     /* points into argv */
    size_t n_machines;
    ctl_format_t fmt;
};

/* Options into a (after the sub-command): -1 to go on, else the exit code. */
static int
parse_args(struct group_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "name", required_argument, NULL, 'n' },
        { "machine", required_argument, NULL, 'm' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a->home = optarg; break;
        case 'n': a->name = optarg; break;
        case 'm':
            if (a->n_machines == MAX_MACHINES)
                return ctl_usage_error(CMD, "at most %d --machine options", MAX_MACHINES);
            if (*optarg == '\0' || strlen(optarg) > QS_MAX_NAME_BYTES)
                return ctl_usage_error(CMD, "--machine must be 1..%u bytes", QS_MAX_NAME_BYTES);
            a->machines[a->n_machines++] = optarg;
            break;
        case 'a': a->as = optarg; break;
        case 'f':
            if (ctl_format_parse(&a->fmt, optarg,
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
    if (a->name == NULL && strcmp(a->sub, "list") != 0)
        return ctl_usage_error(CMD, "--name G is required");
    if (a->name != NULL && qs_group_name_check(a->name, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "--name: %s", errmsg);
    if (strcmp(a->sub, "list") == 0 ? (a->n_machines > 0 || a->as != NULL)
                                    : a->fmt == CTL_FORMAT_CSV)
        return ctl_usage_error(CMD, "list takes neither --machine nor --as; add and remove "
                               "print table or json");
    if (ctl_actor(actor, sizeof actor, a->as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    if (ctl_home_missing(CMD, a->home))
        return CTL_EXIT_USAGE;
    return -1;
}

static void
unknown_group(char *errmsg, size_t errmsg_len, const char *name)
{
    snprintf(errmsg, errmsg_len, "unknown group '%s': nothing was changed; 'qsctl group list' "
             "shows the groups, 'qsctl group add --name G' creates one", name);
}

/* The change and its audit entry (after the store committed). */
static int
audit(ctl_site_t *site, const char *actor, const char *action, const cJSON *detail,
      char *errmsg, size_t errmsg_len)
{
    char err[CTL_ERRMSG_BYTES / 2];   /* room for the sentence around it */

    if (ctl_site_begin(site, err, sizeof err) == 0 &&
        ctl_site_audit(site, actor, action, detail, err, sizeof err) == 0 &&
        ctl_site_commit(site, err, sizeof err) == 0)
        return 0;
    snprintf(errmsg, errmsg_len, "the change was made, but its audit entry could not be "
             "written: %s", err);
    return -1;
}

static cJSON *
detail_new(const char *name)
{
    cJSON *d = cJSON_CreateObject();

    if (d == NULL || cJSON_AddStringToObject(d, "group", name) == NULL)
        qs_fatal("out of memory");
    return d;
}

/* Print what was done: detail as JSON, or one line. */
static int
print_done(const cJSON *detail, ctl_format_t fmt, const char *line)
{
    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(cJSON_Duplicate(detail, 1)) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        printf("%s\n", line);
    }
    return ctl_output_done(CMD);
}

static int
group_create(ctl_site_t *site, const char *actor, const struct group_args *a)
{
    char errmsg[CTL_ERRMSG_BYTES], line[512];
    int created = 0, rc;
    cJSON *d;

    if (qs_storedb_group_create(site->storedb, a->name, ctl_site_now(site), &created, errmsg,
                                sizeof errmsg) != 0) {
        ctl_error(CMD, "cannot create group '%s': %s", a->name, errmsg);
        return CTL_EXIT_FAIL;
    }
    d = detail_new(a->name);
    cJSON_AddBoolToObject(d, "created", created);
    if (created && audit(site, actor, "group_create", d, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        cJSON_Delete(d);
        return CTL_EXIT_FAIL;
    }
    snprintf(line, sizeof line, created ? "created group '%s' (no members yet)"
                                        : "group '%s' exists already: nothing was changed",
             a->name);
    rc = print_done(d, a->fmt, line);
    cJSON_Delete(d);
    return rc;
}

/* Every machine's pseudonyms into who[0..n), prefixes of the canonical one
 * into the detail's "machine_ps". 0, or -1 with errmsg. */
static int
pseudonymize(ctl_site_t *site, const char *const *machines, size_t n, qs_machine_ps_t *who,
             cJSON *detail, char *errmsg, size_t errmsg_len)
{
    cJSON *arr = cJSON_AddArrayToObject(detail, "machine_ps");
    char hex[PS_HEX_BYTES];

    if (arr == NULL)
        qs_fatal("out of memory");
    for (size_t i = 0; i < n; i++) {
        if (qs_pseudonym_machine(&who[i], site->site_key, machines[i], NULL) != 0) {
            snprintf(errmsg, errmsg_len, "--machine '%s' is blank or not valid UTF-8",
                     machines[i]);
            return -1;
        }
        qs_hex_encode(hex, sizeof hex, who[i].machine_ps[0], QS_STOREDOC_PS_PREFIX_BYTES);
        cJSON_AddItemToArray(arr, cJSON_CreateString(hex));
    }
    return 0;
}

/* add/remove with --machine (adding) or remove without (the whole group). */
static int
members_change(ctl_site_t *site, const char *actor, const struct group_args *a, int adding,
               qs_machine_ps_t *who, char *errmsg, size_t errmsg_len)
{
    uint8_t (*ps)[QS_PSEUDONYM_BYTES] = NULL;
    cJSON *d = detail_new(a->name);
    char line[512];
    int64_t n = 0;
    int rc = -1;

    if (a->n_machines > 0 &&
        pseudonymize(site, a->machines, a->n_machines, who, d, errmsg, errmsg_len) != 0)
        goto out;
    if (adding) {
        ps = qs_calloc(a->n_machines, sizeof *ps);
        for (size_t i = 0; i < a->n_machines; i++)
            memcpy(ps[i], who[i].machine_ps[0], QS_PSEUDONYM_BYTES);
        rc = qs_storedb_group_add(site->storedb, a->name, (const uint8_t(*)[QS_PSEUDONYM_BYTES])ps,
                                  a->n_machines, &n, errmsg, errmsg_len);
    } else {
        rc = qs_storedb_group_remove(site->storedb, a->name, who, a->n_machines, &n, errmsg,
                                     errmsg_len);
    }
    if (rc == QS_GROUP_UNKNOWN)
        unknown_group(errmsg, errmsg_len, a->name);
    if (rc != 0)
        goto out;
    cJSON_AddNumberToObject(d, adding ? "added" : "removed", (double)n);
    rc = audit(site, actor, adding ? "group_add" : a->n_machines ? "group_remove" : "group_delete",
               d, errmsg, errmsg_len);
    if (rc != 0)
        goto out;
    if (adding || a->n_machines > 0)
        snprintf(line, sizeof line, "%s %" PRId64 " of %zu machine%s %s group '%s'",
                 adding ? "added" : "removed", n, a->n_machines, a->n_machines == 1 ? "" : "s",
                 adding ? "to" : "from", a->name);
    else
        snprintf(line, sizeof line, "deleted group '%s' and its %" PRId64 " membership%s",
                 a->name, n, n == 1 ? "" : "s");
    rc = print_done(d, a->fmt, line) == CTL_EXIT_OK ? 0 : 1;
out:
    if (ps != NULL)
        sodium_memzero(ps, a->n_machines * sizeof *ps);
    free(ps);
    cJSON_Delete(d);
    return rc;
}

static int
group_change(const struct group_args *a)
{
    unsigned what = CTL_OPEN_SITEDB | CTL_OPEN_STOREDB | CTL_OPEN_AUDIT_KEY;
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    int adding = strcmp(a->sub, "add") == 0, rc;
    qs_machine_ps_t *who = NULL;
    ctl_site_t site;

    if (a->n_machines > 0)
        what |= CTL_OPEN_SITE_KEY;
    if (ctl_site_open(&site, a->home, what, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_actor(actor, sizeof actor, a->as, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    if (adding && a->n_machines == 0) {
        rc = group_create(&site, actor, a);
    } else {
        who = qs_calloc(a->n_machines ? a->n_machines : 1, sizeof *who);
        rc = members_change(&site, actor, a, adding, who, errmsg, sizeof errmsg);
        if (rc < 0)
            ctl_error(CMD, "%s", errmsg);
        rc = rc == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
        for (size_t i = 0; i < a->n_machines; i++)
            qs_machine_ps_wipe(&who[i]);
        free(who);
    }
    ctl_site_close(&site);
    return rc;
}

/* {"k": K, "groups": [{"name", "created_utc", "members" (null below k),
 * "suppressed"}]} */
static cJSON *
list_doc(const qs_group_list_t *l)
{
    cJSON *doc = cJSON_CreateObject(), *arr;
    char t[CTL_TIME_BYTES];

    if (doc == NULL || cJSON_AddNumberToObject(doc, "k", l->k) == NULL ||
        (arr = cJSON_AddArrayToObject(doc, "groups")) == NULL)
        qs_fatal("out of memory");
    for (size_t i = 0; i < l->n; i++) {
        cJSON *g = cJSON_CreateObject();
        int hidden = l->rows[i].members == QS_STOREDB_SUPPRESSED;

        if (g == NULL)
            qs_fatal("out of memory");
        ctl_time_text(t, l->rows[i].created_ms, 0);
        cJSON_AddStringToObject(g, "name", l->rows[i].name);
        cJSON_AddStringToObject(g, "created_utc", t);
        if (hidden)
            cJSON_AddNullToObject(g, "members");
        else
            cJSON_AddNumberToObject(g, "members", (double)l->rows[i].members);
        cJSON_AddBoolToObject(g, "suppressed", hidden);
        cJSON_AddItemToArray(arr, g);
    }
    return doc;
}

static void
list_print(const qs_group_list_t *l, ctl_format_t fmt)
{
    static const char *const heads[] = { "GROUP", "MEMBERS", "CREATED_UTC" };
    static const char *const csv_heads[] = { "name", "members", "created_utc", "suppressed" };
    cJSON *doc = list_doc(l);
    ctl_table_t *t;
    char n[32];

    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return;
    }
    if (fmt == CTL_FORMAT_CSV) {
        ctl_csv_objects(stdout, cJSON_GetObjectItem(doc, "groups"), 4, csv_heads, csv_heads);
        cJSON_Delete(doc);
        return;
    }
    t = ctl_table_new(3, heads);
    ctl_table_align_right(t, 1);
    for (size_t i = 0; i < l->n; i++) {
        const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "groups"), (int)i);
        if (l->rows[i].members == QS_STOREDB_SUPPRESSED)
            snprintf(n, sizeof n, "<%d", l->k);
        else
            snprintf(n, sizeof n, "%" PRId64, l->rows[i].members);
        ctl_table_add(t, (const char *const[]){ l->rows[i].name, n,
                                                 cJSON_GetObjectItem(g, "created_utc")->valuestring });
    }
    if (l->n == 0)
        printf("no group yet: 'qsctl group add --name G' creates one\n");
    else
        ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
    cJSON_Delete(doc);
}

static int
group_list(const struct group_args *a)
{
    char errmsg[CTL_ERRMSG_BYTES];
    qs_group_list_t l;
    qs_policy_t policy;
    ctl_site_t site;
    int configured, rc;

    if (ctl_site_open(&site, a->home, CTL_OPEN_SITEDB | CTL_OPEN_STOREDB, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_policy(&site, &policy, &configured, CMD) != 0) {
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    rc = qs_storedb_group_list(site.storedb, &l, &policy, a->name, errmsg, sizeof errmsg);
    ctl_site_close(&site);
    if (rc == QS_GROUP_UNKNOWN)
        unknown_group(errmsg, sizeof errmsg, a->name);
    if (rc != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    list_print(&l, a->fmt);
    qs_group_list_free(&l);
    return ctl_output_done(CMD);
}

int
cmd_group(int argc, char **argv)
{
    struct group_args a = { .fmt = CTL_FORMAT_TABLE };
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    }
    a.sub = argv[1];
    if (strcmp(a.sub, "add") != 0 && strcmp(a.sub, "remove") != 0 && strcmp(a.sub, "list") != 0)
        return ctl_usage_error(CMD, "unknown sub-command '%s' (add, remove or list)", a.sub);
    a.machines = qs_calloc((size_t)argc, sizeof *a.machines);
    rc = parse_args(&a, argc - 1, argv + 1);
    if (rc < 0)
        rc = strcmp(a.sub, "list") == 0 ? group_list(&a) : group_change(&a);
    free(a.machines);
    return rc;
}

/* ---- compliance --group ---- */

static void
compliance_usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl compliance --home DIR --group G [--topic-type T] [--topic-id ID]\n"
        "                        [--format table|json|csv]\n"
        "\n"
        "Count the group's machines per topic type, topic id and state: the same\n"
        "rows as 'qsctl compliance', over the members of group G only (qsctl group).\n"
        "Groups smaller than the policy's k are suppressed, by the same rules.\n");
}

struct compliance_args {
    const char *home, *group, *topic_id;
    uint32_t topic_type;
    int have_type;
    ctl_format_t fmt;
};

static int
compliance_parse(struct compliance_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "group", required_argument, NULL, 'g' },
        { "topic-type", required_argument, NULL, 't' },
        { "topic-id", required_argument, NULL, 'i' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char errmsg[CTL_ERRMSG_BYTES];
    long v;
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a->home = optarg; break;
        case 'g': a->group = optarg; break;
        case 't':
            if (ctl_parse_long(&v, optarg, 1, 100000) != 0 || qs_topic_check((uint32_t)v, 0) == -1)
                return ctl_usage_error("compliance", "--topic-type '%s' is not a known topic "
                                       "type (300, 301, 302, 400, 401, 402, 500, 501 or 700)",
                                       optarg);
            a->topic_type = (uint32_t)v;
            a->have_type = 1;
            break;
        case 'i':
            if (*optarg == '\0' || strlen(optarg) > QS_MAX_TOPIC_ID_BYTES)
                return ctl_usage_error("compliance", "--topic-id must be 1..%u bytes",
                                       QS_MAX_TOPIC_ID_BYTES);
            (void)qs_topic_id_normalize(optarg);
            a->topic_id = optarg;
            break;
        case 'f':
            if (ctl_format_parse(&a->fmt, optarg,
                                 CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV) != 0)
                return ctl_usage_error("compliance", "--format must be table, json or csv");
            break;
        case 'h': compliance_usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error("compliance", "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error("compliance", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error("compliance", "unexpected argument '%s'", argv[optind]);
    if (qs_group_name_check(a->group, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error("compliance", "--group: %s", errmsg);
    if (ctl_home_missing("compliance", a->home))
        return CTL_EXIT_USAGE;
    return -1;
}

/* The compliance document, printed by the fleet command's printers. */
static void
compliance_print(const qs_storedb_compliance_t *res, int configured, ctl_format_t fmt)
{
    cJSON *doc = qs_storedoc_compliance(res);

    if (doc == NULL)
        qs_fatal("out of memory building the compliance document");
    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return;
    }
    if (!configured)
        cJSON_AddFalseToObject(doc, "configured");
    if (fmt == CTL_FORMAT_CSV)
        ctl_print_compliance_csv(doc);
    else
        ctl_print_compliance_table(doc);
    cJSON_Delete(doc);
}

int
cmd_compliance_group(int argc, char **argv)
{
    struct compliance_args a = { .fmt = CTL_FORMAT_TABLE };
    char errmsg[CTL_ERRMSG_BYTES];
    qs_storedb_compliance_t res;
    qs_policy_t policy;
    ctl_site_t site;
    int configured, rc = compliance_parse(&a, argc, argv);

    if (rc >= 0)
        return rc;
    if (ctl_site_open(&site, a.home, CTL_OPEN_SITEDB | CTL_OPEN_STOREDB, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error("compliance", "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_policy(&site, &policy, &configured, "compliance") != 0) {
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    rc = qs_storedb_group_compliance(site.storedb, &res, &policy, a.group,
                                     a.have_type ? &a.topic_type : NULL, a.topic_id, errmsg,
                                     sizeof errmsg);
    ctl_site_close(&site);
    if (rc == QS_GROUP_UNKNOWN)
        unknown_group(errmsg, sizeof errmsg, a.group);
    if (rc != 0) {
        ctl_error("compliance", "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    compliance_print(&res, configured, a.fmt);
    qs_storedb_compliance_free(&res);
    return ctl_output_done("compliance");
}

/* ---- enroll --group ---- */

int
ctl_group_check(ctl_site_t *site, const char *const *names, size_t n, char *errmsg,
                size_t errmsg_len)
{
    for (size_t i = 0; i < n; i++) {
        int exists = 0;

        if (qs_group_name_check(names[i], errmsg, errmsg_len) != 0)
            return -1;
        if (qs_storedb_group_exists(site->storedb, names[i], &exists, errmsg, errmsg_len) != 0)
            return -1;
        if (!exists) {
            unknown_group(errmsg, errmsg_len, names[i]);
            return -1;
        }
    }
    return 0;
}

int
ctl_group_join(ctl_site_t *site, const char *actor, const char *machine,
               const char *const *names, size_t n, char *errmsg, size_t errmsg_len)
{
    qs_machine_ps_t who;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        cJSON *d = detail_new(names[i]);
        int64_t added = 0;

        rc = pseudonymize(site, &machine, 1, &who, d, errmsg, errmsg_len);
        if (rc == 0)
            rc = qs_storedb_group_add(site->storedb, names[i],
                                      (const uint8_t(*)[QS_PSEUDONYM_BYTES])who.machine_ps, 1,
                                      &added, errmsg, errmsg_len);
        if (rc == QS_GROUP_UNKNOWN)
            unknown_group(errmsg, errmsg_len, names[i]);
        if (rc == 0) {
            cJSON_AddNumberToObject(d, "added", (double)added);
            rc = audit(site, actor, "group_add", d, errmsg, errmsg_len);
        }
        cJSON_Delete(d);
        qs_machine_ps_wipe(&who);
    }
    return rc == 0 ? 0 : -1;
}
