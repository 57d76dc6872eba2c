/* cmd_deployment.c - qsctl deployment add|list|show|remove: updates with a deadline.
 *
 * A deployment is site configuration kept in site.db (qs_deployments.h):
 * an id, the updates (topic ids of one topic type, 500 by default), an
 * optional time the updates became available, a deadline, an optional
 * group name. Times are UTC only ("…Z"): a local time or a UTC offset is
 * refused, so that a deadline means the same instant to every machine and
 * every operator. add and remove are each one audited transaction
 * ("deployment.add", "deployment.remove"), like `qsctl policy set`.
 * `qsctl compliance --deployment ID` evaluates one (cmd_deployment_eval.c).
 *
 *   list --format json   {"deployments": [{"id", "topic_type", "topic_ids",
 *                          "available_utc", "deadline_utc", "group",
 *                          "created_utc", "actor"}, …]}
 *   show --format json   one such object
 */
#include "cmd_deployment.h"
#include "ctl_common.h"
#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_ctl.h"
#include "qs_deadlinedoc.h"
#include "qs_deployments.h"
#include "qs_log.h"
#include "qs_store_deadline.h"
#include "qs_store_group.h"

#include <getopt.h>
#include <string.h>

#define CMD "deployment"
#define CMD_ADD "deployment add"
#define CMD_LIST "deployment list"
#define CMD_SHOW "deployment show"
#define CMD_REMOVE "deployment remove"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl deployment add --home DIR --id ID --topic-id KB… [--topic-id …]\n"
        "                            [--topic-type 500] [--available T] --deadline T\n"
        "                            [--group G] [--as NAME] [--format table|json]\n"
        "       qsctl deployment list --home DIR [--format table|json|csv]\n"
        "       qsctl deployment show --home DIR --id ID [--format table|json|csv]\n"
        "       qsctl deployment remove --home DIR --id ID [--as NAME] [--format table|json]\n"
        "\n"
        "Deployments: updates the fleet must have installed by a deadline. Evaluate\n"
        "one with 'qsctl compliance --deployment ID' (docs/deployments.md).\n"
        "\n"
        "  --home DIR        site home (default $QS_HOME)\n"
        "  --id ID           1..%u characters of A-Z a-z 0-9 . _ -\n"
        "  --topic-id ID     an update of the deployment (repeat for more; at least one)\n"
        "  --topic-type T    their topic type (default 500, update detection; must have\n"
        "                    an 'installed' state: 301, 402 or 500)\n"
        "  --available T     when the updates were made available (UTC, optional)\n"
        "  --deadline T      when they must be installed (UTC)\n"
        "                    T is ISO 8601 in UTC with a trailing Z:\n"
        "                    2026-12-31T18:00:00Z (local times and offsets are refused)\n"
        "  --group G         only the machines of group G (qsctl group; it must\n"
        "                    exist): every count of the deployment is over them\n"
        "  --as NAME         who is acting, recorded beside the OS user in the audit log\n"
        "  --format FMT      table (default), json; csv for list and show\n"
        "  --help            show this help\n",
        QS_MAX_DEPLOYMENT_ID_BYTES);
}

int
ctl_deployment_parse_utc(int64_t *out_ms, const char *flag, const char *text, char *errmsg,
                         size_t errmsg_len)
{
    size_t n = strlen(text);
    const char *t = strchr(text, 'T');

    if (qs_time_parse_iso8601(out_ms, text) == 0)
        return 0;
    if (t != NULL && (strchr(t, '+') != NULL || strchr(t, '-') != NULL))
        snprintf(errmsg, errmsg_len, "%s '%s' has a UTC offset: deadlines are UTC only; "
                 "convert it and write it with a trailing Z, e.g. 2026-12-31T18:00:00Z",
                 flag, text);
    else if (n > 0 && text[n - 1] != 'Z')
        snprintf(errmsg, errmsg_len, "%s '%s' is a local time (no trailing Z): deadlines "
                 "are UTC only; write it in UTC with a trailing Z, e.g. 2026-12-31T18:00:00Z",
                 flag, text);
    else
        snprintf(errmsg, errmsg_len, "%s '%s' is not a UTC time: use "
                 "YYYY-MM-DDTHH:MM:SS[.fff]Z, e.g. 2026-12-31T18:00:00Z", flag, text);
    return -1;
}

typedef struct {
    const char *home, *id, *as, *available, *deadline, *group;
    char *topic_ids[QS_MAX_DEPLOYMENT_UPDATES];
    size_t n_topic_ids;
    uint32_t topic_type;
    ctl_format_t fmt;
} dep_opts_t;

/* One --topic-id: checked, normalized (kb5031356 is KB5031356), no repeat. */
static int
add_topic_id(dep_opts_t *o, char *id, const char *cmd)
{
    if (*id == '\0' || strlen(id) > QS_MAX_TOPIC_ID_BYTES)
        return ctl_usage_error(cmd, "--topic-id must be 1..%u bytes", QS_MAX_TOPIC_ID_BYTES);
    if (o->n_topic_ids == QS_MAX_DEPLOYMENT_UPDATES)
        return ctl_usage_error(cmd, "a deployment names at most %u updates",
                               QS_MAX_DEPLOYMENT_UPDATES);
    (void)qs_topic_id_normalize(id);
    for (size_t i = 0; i < o->n_topic_ids; i++)
        if (strcmp(o->topic_ids[i], id) == 0)
            return ctl_usage_error(cmd, "--topic-id '%s' is given twice", id);
    o->topic_ids[o->n_topic_ids++] = id;
    return -1;
}

static int
parse_flag(dep_opts_t *o, int c, const char *cmd, char **argv)
{
    long v;

    switch (c) {
    case 'H': o->home = optarg; return -1;
    case 'i': o->id = optarg; return -1;
    case 'a': o->as = optarg; return -1;
    case 'v': o->available = optarg; return -1;
    case 'd': o->deadline = optarg; return -1;
    case 'g': o->group = optarg; return -1;
    case 'I': return add_topic_id(o, optarg, cmd);
    case 't':
        if (ctl_parse_long(&v, optarg, 1, 100000) != 0 || qs_topic_check((uint32_t)v, 0) == -1)
            return ctl_usage_error(cmd, "--topic-type '%s' is not a known topic type", optarg);
        o->topic_type = (uint32_t)v;
        return -1;
    case 'f':
        if (ctl_format_parse(&o->fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON |
                             (strcmp(cmd, CMD_LIST) == 0 || strcmp(cmd, CMD_SHOW) == 0
                                  ? CTL_FORMAT_CSV : 0)) != 0)
            return ctl_usage_error(cmd, "--format '%s' is not one this command prints "
                                   "(see --help)", optarg);
        return -1;
    case 'h': usage(stdout); return CTL_EXIT_OK;
    case ':': return ctl_usage_error(cmd, "%s needs a value", argv[optind - 1]);
    default: return ctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    }
}

/* Parse flags for cmd. Returns -1 to go on, else an exit code. */
static int
parse(dep_opts_t *o, const char *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "id", required_argument, NULL, 'i' },
        { "topic-id", required_argument, NULL, 'I' },
        { "topic-type", required_argument, NULL, 't' },
        { "available", required_argument, NULL, 'v' },
        { "deadline", required_argument, NULL, 'd' },
        { "group", required_argument, NULL, 'g' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;

    memset(o, 0, sizeof *o);
    o->fmt = CTL_FORMAT_TABLE;
    o->topic_type = 500;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
        if ((rc = parse_flag(o, c, cmd, argv)) >= 0)
            return rc;
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (ctl_home_missing(cmd, o->home))
        return CTL_EXIT_USAGE;
    return -1;
}

/* The group's name: the groups' own rule (qs_store_group.h), within what
 * site.db keeps for a deployment. */
static int
group_check(const char *group, char *errmsg, size_t errmsg_len)
{
    if (qs_group_name_check(group, errmsg, errmsg_len) != 0)
        return -1;
    if (strlen(group) > QS_MAX_DEPLOYMENT_GROUP_BYTES) {
        snprintf(errmsg, errmsg_len, "--group is at most %u bytes for a deployment",
                 QS_MAX_DEPLOYMENT_GROUP_BYTES);
        return -1;
    }
    return 0;
}

/* The deployment add describes, checked; d borrows o's strings. Returns -1
 * to go on, else an exit code (a usage error was printed). */
static int
add_check(qs_deployment_t *d, const dep_opts_t *o)
{
    char errmsg[CTL_ERRMSG_BYTES];

    memset(d, 0, sizeof *d);
    if (o->id == NULL)
        return ctl_usage_error(CMD_ADD, "--id ID is required");
    if (qs_deployment_id_check(o->id, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD_ADD, "%s", errmsg);
    if (o->n_topic_ids == 0)
        return ctl_usage_error(CMD_ADD, "a deployment must name at least one update: "
                               "--topic-id KB… (repeat for more)");
    if (qs_deadline_topic_type_check(o->topic_type, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD_ADD, "--topic-type: %s", errmsg);
    if (o->deadline == NULL)
        return ctl_usage_error(CMD_ADD, "--deadline T is required (UTC, e.g. "
                               "2026-12-31T18:00:00Z)");
    if (ctl_deployment_parse_utc(&d->deadline_ms, "--deadline", o->deadline, errmsg,
                                 sizeof errmsg) != 0)
        return ctl_usage_error(CMD_ADD, "%s", errmsg);
    d->available_ms = QS_DEPLOYMENT_NO_TIME;
    if (o->available != NULL &&
        ctl_deployment_parse_utc(&d->available_ms, "--available", o->available, errmsg,
                                 sizeof errmsg) != 0)
        return ctl_usage_error(CMD_ADD, "%s", errmsg);
    if (o->available != NULL && d->available_ms > d->deadline_ms)
        return ctl_usage_error(CMD_ADD, "--available %s is after --deadline %s: an update "
                               "cannot be due before it is available", o->available,
                               o->deadline);
    if (o->group != NULL && group_check(o->group, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD_ADD, "%s", errmsg);
    d->id = (char *)o->id;
    d->topic_type = o->topic_type;
    d->topic_ids = (char **)o->topic_ids;
    d->n_topic_ids = o->n_topic_ids;
    d->group = (char *)o->group;
    return -1;
}

static void
print_one(const qs_deployment_t *d, ctl_format_t fmt);

/* -1 when group exists; else the exit code, the error printed. */
static int
group_known(ctl_site_t *site, const char *group)
{
    char errmsg[CTL_ERRMSG_BYTES];
    int exists = 0;

    if (qs_storedb_group_exists(site->storedb, group, &exists, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD_ADD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (!exists) {
        ctl_error(CMD_ADD, "unknown group '%s': create it first (qsctl group add --name "
                  "'%s'), 'qsctl group list' shows the groups", group, group);
        return CTL_EXIT_FAIL;
    }
    return -1;
}

static int
deployment_add(int argc, char **argv)
{
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    dep_opts_t o;
    qs_deployment_t d;
    ctl_site_t site;
    cJSON *detail = NULL;
    int rc;

    if ((rc = parse(&o, CMD_ADD, argc, argv)) >= 0 || (rc = add_check(&d, &o)) >= 0)
        return rc;
    if (ctl_actor(actor, sizeof actor, o.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD_ADD, "%s", errmsg);
    if (ctl_site_open(&site, o.home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY |
                      (d.group != NULL ? CTL_OPEN_STOREDB : 0u), errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD_ADD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (d.group != NULL && (rc = group_known(&site, d.group)) >= 0) {
        ctl_site_close(&site);
        return rc;
    }
    d.created_ms = ctl_site_now(&site);
    d.actor = actor;
    detail = qs_deadlinedoc_deployment(&d);
    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0 ||
        qs_deployments_add(site.sitedb, &d, errmsg, sizeof errmsg) != 0 ||
        ctl_site_audit(&site, actor, "deployment.add", detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD_ADD, "%s", errmsg);
        rc = CTL_EXIT_FAIL;
    } else {
        print_one(&d, o.fmt);
        rc = ctl_output_done(CMD_ADD);
    }
    cJSON_Delete(detail);
    ctl_site_close(&site);
    return rc;
}

static int
deployment_remove(int argc, char **argv)
{
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    dep_opts_t o;
    qs_deployment_t d;
    ctl_site_t site;
    cJSON *detail = NULL;
    int rc, found = 0, removed = 0;

    memset(&d, 0, sizeof d);
    if ((rc = parse(&o, CMD_REMOVE, argc, argv)) >= 0)
        return rc;
    if (o.id == NULL)
        return ctl_usage_error(CMD_REMOVE, "--id ID is required");
    if (ctl_actor(actor, sizeof actor, o.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD_REMOVE, "%s", errmsg);
    if (ctl_site_open(&site, o.home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD_REMOVE, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0 ||
        qs_deployments_get(site.sitedb, o.id, &d, &found, errmsg, sizeof errmsg) != 0)
        goto fail;
    if (!found) {
        snprintf(errmsg, sizeof errmsg, "no deployment '%s' in '%s': 'qsctl deployment list' "
                 "shows them; nothing was changed", o.id, site.paths.site_db);
        goto fail;
    }
    detail = qs_deadlinedoc_deployment(&d);
    if (qs_deployments_remove(site.sitedb, o.id, &removed, errmsg, sizeof errmsg) != 0 ||
        ctl_site_audit(&site, actor, "deployment.remove", detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    if (o.fmt == CTL_FORMAT_JSON) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "removed", o.id);
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        printf("deployment '%s' removed\n", o.id);
    }
    rc = ctl_output_done(CMD_REMOVE);
    goto out;
fail:
    ctl_error(CMD_REMOVE, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    cJSON_Delete(detail);
    qs_deployment_free(&d);
    ctl_site_close(&site);
    return rc;
}

static const char *const list_fields[] = {
    "id", "topic_type", "topic_ids", "available_utc", "deadline_utc", "group", "created_utc",
    "actor",
};
#define LIST_COLS (sizeof list_fields / sizeof list_fields[0])

/* Print the array of deployment objects as a table or CSV. */
static void
print_rows(const cJSON *arr, ctl_format_t fmt);

void
ctl_deployment_print_list_table(const cJSON *doc)
{
    print_rows(cJSON_GetObjectItem(doc, "deployments"), CTL_FORMAT_TABLE);
}

void
ctl_deployment_print_list_csv(const cJSON *doc)
{
    print_rows(cJSON_GetObjectItem(doc, "deployments"), CTL_FORMAT_CSV);
}

static void
print_rows(const cJSON *arr, ctl_format_t fmt)
{
    static const char *const head[LIST_COLS] = {
        "ID", "TOPIC_TYPE", "TOPIC_IDS", "AVAILABLE_UTC", "DEADLINE_UTC", "GROUP",
        "CREATED_UTC", "ACTOR",
    };
    const cJSON *obj;
    ctl_table_t *t;

    if (fmt == CTL_FORMAT_CSV) {
        ctl_csv_objects(stdout, arr, LIST_COLS, list_fields, list_fields);
        return;
    }
    t = ctl_table_new(LIST_COLS, head);
    cJSON_ArrayForEach(obj, arr) {
        char ids[4096] = "", type[16], *cells[LIST_COLS];
        const cJSON *id;
        size_t used = 0;
        cJSON_ArrayForEach(id, cJSON_GetObjectItem(obj, "topic_ids")) {
            int n = snprintf(ids + used, sizeof ids - used, "%s%s", used ? " " : "",
                             id->valuestring);
            if (n < 0 || (size_t)n >= sizeof ids - used)
                break;   /* JSON and CSV have them all; the table shows what fits */
            used += (size_t)n;
        }
        snprintf(type, sizeof type, "%d", cJSON_GetObjectItem(obj, "topic_type")->valueint);
        for (size_t c = 0; c < LIST_COLS; c++) {
            const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(obj, list_fields[c]));
            cells[c] = (char *)(s ? s : "-");
        }
        cells[1] = type;
        cells[2] = ids;
        ctl_table_add(t, (const char *const *)cells);
    }
    if (ctl_table_rows(t) == 0)
        printf("no deployments: add one with 'qsctl deployment add --id ID --topic-id KB… "
               "--deadline T'\n");
    else
        ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
}

static void
print_one(const qs_deployment_t *d, ctl_format_t fmt)
{
    cJSON *obj = qs_deadlinedoc_deployment(d), *arr;

    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(obj) != 0)
            qs_fatal("out of memory printing JSON");
        return;
    }
    arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, obj);
    print_rows(arr, fmt);
    cJSON_Delete(arr);
}

static int
deployment_read(int argc, char **argv, int show)
{
    const char *cmd = show ? CMD_SHOW : CMD_LIST;
    char errmsg[CTL_ERRMSG_BYTES];
    dep_opts_t o;
    ctl_site_t site;
    qs_deployment_t *list = NULL, one;
    size_t n = 0;
    int rc, found = 1;

    if ((rc = parse(&o, cmd, argc, argv)) >= 0)
        return rc;
    if (show && o.id == NULL)
        return ctl_usage_error(cmd, "--id ID is required");
    if (ctl_site_open(&site, o.home, CTL_OPEN_SITEDB, errmsg, sizeof errmsg) != 0) {
        ctl_error(cmd, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    rc = show ? qs_deployments_get(site.sitedb, o.id, &one, &found, errmsg, sizeof errmsg)
              : qs_deployments_list(site.sitedb, &list, &n, errmsg, sizeof errmsg);
    if (rc == 0 && !found)
        snprintf(errmsg, sizeof errmsg, "no deployment '%s' in '%s': 'qsctl deployment list' "
                 "shows them", o.id, site.paths.site_db);
    ctl_site_close(&site);
    if (rc != 0 || !found) {
        ctl_error(cmd, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (show) {
        print_one(&one, o.fmt);
        qs_deployment_free(&one);
    } else {
        cJSON *doc = qs_deadlinedoc_deployments(list, n);
        if (o.fmt == CTL_FORMAT_JSON) {
            if (ctl_json_print(doc) != 0)
                qs_fatal("out of memory printing JSON");
        } else {
            print_rows(cJSON_GetObjectItem(doc, "deployments"), o.fmt);
            cJSON_Delete(doc);
        }
        qs_deployments_list_free(&list, &n);
    }
    return ctl_output_done(cmd);
}

int
cmd_deployment(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "add") == 0)
        return deployment_add(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return deployment_read(argc - 1, argv + 1, 0);
    if (strcmp(argv[1], "show") == 0)
        return deployment_read(argc - 1, argv + 1, 1);
    if (strcmp(argv[1], "remove") == 0)
        return deployment_remove(argc - 1, argv + 1);
    return ctl_usage_error(CMD, "unknown sub-command '%s' (add, list, show or remove)",
                           argv[1]);
}
