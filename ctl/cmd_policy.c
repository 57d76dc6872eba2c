/* cmd_policy.c - qsctl policy set|show|history: the privacy officer's policy.
 *
 * `set` turns its flags into a change document (cmd_policy.h), applies it to
 * the current policy (or the defaults when there is none) with
 * qs_doc_policy_apply - the function PUT /api/v1/policy uses, which checks
 * the result with the parser the daemons use - and stores it as a new
 * version together with a
 * "policy.set" audit entry {"old":…, "new":…, "version":N} in one site.db
 * transaction; the daemons notice the commit and reload it without a
 * restart. A --max-age-days right after --topic-type T sets T's own maximum
 * age (0 removes it, so T falls back to the default); anywhere else it sets
 * the default. `show` prints the current version, `history` every version.
 * Every output is a document (qs_docs.h) printed by remote_print.h, the
 * printers `qsctl --url` uses for the same documents from qs-web.
 */
#include "cmd_policy.h"
#include "ctl_common.h"
#include "qs_codec.h"
#include "qs_ctl.h"
#include "qs_docs.h"
#include "qs_log.h"
#include "qs_policy.h"
#include "remote_print.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CMD_SET "policy set"
#define CMD_SHOW "policy show"
#define CMD_HISTORY "policy history"
#define POLICY_MAX_CHANGES 64
#define POLICY_MAX_TOPIC_TYPE 100000L

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl policy set --home DIR [--max-age-days N]\n"
        "                        [--topic-type T --max-age-days N]...\n"
        "                        [--collect-user-names yes|no] [--k N]\n"
        "                        [--time-precision millisecond|second|minute|hour|day]\n"
        "                        [--as NAME] [--format table|json]\n"
        "       qsctl policy show --home DIR [--format table|json]\n"
        "       qsctl policy history --home DIR [--format table|json|csv]\n"
        "\n"
        "Set, show or list the privacy policy. Nothing is collected until a policy\n"
        "is set; every set stores a new version and an audit entry.\n"
        "\n"
        "  --home DIR                  site home (default $QS_HOME)\n"
        "  --max-age-days N            keep data at most N days (1..%d): the default\n"
        "                              for every topic type\n"
        "  --topic-type T --max-age-days N\n"
        "                              topic type T's own maximum age (0 removes it);\n"
        "                              repeat the pair for several topic types\n"
        "  --collect-user-names yes|no store (pseudonymised) user names or not\n"
        "  --k N                       suppress compliance groups smaller than N\n"
        "  --time-precision P          truncate stored times to P\n"
        "  --as NAME                   who is acting, recorded in the audit log\n"
        "                              beside the OS user (\"OSUSER as NAME\")\n"
        "  --format table|json         output format (default table); policy set\n"
        "                              --format json prints {old, new, version,\n"
        "                              changed, actor}, as PUT /api/v1/policy\n"
        "  --help                      show this help\n",
        QS_POLICY_MAX_AGE_DAYS);
}

static int
usage_error(const char *cmd, const char *msg)
{
    return ctl_usage_error(cmd, "%s", msg);
}

/* One --max-age-days N: the age of the --topic-type just given (pending),
 * else the default. Returns 0, or -1 with errmsg. */
static int
parse_age(cJSON *changes, long *pending, int *have_default, const char *text, char *errmsg,
          size_t errmsg_len)
{
    cJSON *topics;
    char key[24];
    long v;

    if (ctl_parse_long(&v, text, *pending >= 0 ? 0 : 1, QS_POLICY_MAX_AGE_DAYS) != 0) {
        snprintf(errmsg, errmsg_len, "--max-age-days '%s' must be %s..%d", text,
                 *pending >= 0 ? "0" : "1", QS_POLICY_MAX_AGE_DAYS);
        return -1;
    }
    if (*pending >= 0) {
        topics = cJSON_GetObjectItemCaseSensitive(changes, "topic_max_age_days");
        if (topics == NULL)
            topics = cJSON_AddObjectToObject(changes, "topic_max_age_days");
        if (cJSON_GetArraySize(topics) == POLICY_MAX_CHANGES) {
            snprintf(errmsg, errmsg_len, "too many --topic-type pairs");
            return -1;
        }
        snprintf(key, sizeof key, "%ld", *pending);
        cJSON_DeleteItemFromObjectCaseSensitive(topics, key);   /* the last one given wins */
        cJSON_AddNumberToObject(topics, key, (double)v);
        *pending = -1;
        return 0;
    }
    if (*have_default) {
        snprintf(errmsg, errmsg_len, "the default --max-age-days is given twice "
                 "(a per-topic age goes right after its --topic-type)");
        return -1;
    }
    *have_default = 1;
    cJSON_AddNumberToObject(changes, "max_age_days", (double)v);
    return 0;
}

/* Set changes[name] to item, replacing an earlier value. */
static void
set_change(cJSON *changes, const char *name, cJSON *item)
{
    cJSON_DeleteItemFromObjectCaseSensitive(changes, name);
    cJSON_AddItemToObject(changes, name, item);
}

/* One flag of `policy set` other than --home, --as and --help. */
static int
parse_set_flag(cJSON *changes, long *pending, int *have_default, int c, const char *arg,
               char *errmsg, size_t errmsg_len)
{
    int64_t ms;
    long v;

    switch (c) {
    case 't':
        if (ctl_parse_long(&v, arg, 1, POLICY_MAX_TOPIC_TYPE) != 0 ||
            qs_topic_check((uint32_t)v, 0) == -1) {
            snprintf(errmsg, errmsg_len, "--topic-type '%s' is not a known topic type "
                     "(300, 301, 302, 400, 401, 402, 500, 501 or 700)", arg);
            return -1;
        }
        *pending = v;
        return 0;
    case 'm':
        return parse_age(changes, pending, have_default, arg, errmsg, errmsg_len);
    case 'u':
        if (strcmp(arg, "yes") != 0 && strcmp(arg, "no") != 0) {
            snprintf(errmsg, errmsg_len, "--collect-user-names must be yes or no");
            return -1;
        }
        set_change(changes, "collect_user_names", cJSON_CreateBool(strcmp(arg, "yes") == 0));
        return 0;
    case 'k':
        if (ctl_parse_long(&v, arg, 1, 1000000) != 0) {
            snprintf(errmsg, errmsg_len, "--k '%s' must be 1..1000000", arg);
            return -1;
        }
        set_change(changes, "k", cJSON_CreateNumber((double)v));
        return 0;
    default:   /* 'p' */
        if (qs_policy_parse_precision(&ms, arg) != 0) {
            snprintf(errmsg, errmsg_len, "--time-precision must be millisecond, second, "
                     "minute, hour or day");
            return -1;
        }
        set_change(changes, "time_precision", cJSON_CreateString(arg));
        return 0;
    }
}

int
ctl_policy_set_args(cJSON **changes, const char **home, const char **as, int *help, int argc,
                    char **argv, char *errmsg, size_t errmsg_len)
{
    return ctl_policy_set_args_fmt(changes, home, as, NULL, help, argc, argv, errmsg,
                                   errmsg_len);
}

int
ctl_policy_set_args_fmt(cJSON **changes, const char **home, const char **as,
                        ctl_format_t *fmt, int *help, int argc, char **argv, char *errmsg,
                        size_t errmsg_len)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "max-age-days", required_argument, NULL, 'm' },
        { "topic-type", required_argument, NULL, 't' },
        { "collect-user-names", required_argument, NULL, 'u' },
        { "k", required_argument, NULL, 'k' },
        { "time-precision", required_argument, NULL, 'p' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long pending = -1;
    int c, have_default = 0;

    *changes = cJSON_CreateObject();
    if (*changes == NULL)
        qs_fatal("out of memory parsing policy flags");
    *home = *as = NULL;
    *help = 0;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (pending >= 0 && c != 'm') {
            snprintf(errmsg, errmsg_len, "--topic-type %ld must be followed by "
                     "--max-age-days N", pending);
            goto fail;
        }
        switch (c) {
        case 'H': *home = optarg; break;
        case 'a': *as = optarg; break;
        case 'h': *help = 1; return 0;
        case 'F':
            if (fmt == NULL) {   /* not offered (qsctl --url): as before, unknown */
                snprintf(errmsg, errmsg_len, "unknown option '%s'", argv[optind - 1]);
                goto fail;
            }
            if (ctl_format_parse(fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0) {
                snprintf(errmsg, errmsg_len, "--format must be table or json");
                goto fail;
            }
            break;
        case 't': case 'm': case 'u': case 'k': case 'p':
            if (parse_set_flag(*changes, &pending, &have_default, c, optarg, errmsg,
                               errmsg_len) != 0)
                goto fail;
            break;
        case ':':
            snprintf(errmsg, errmsg_len, "%s needs a value", argv[optind - 1]);
            goto fail;
        default:
            snprintf(errmsg, errmsg_len, "unknown option '%s'", argv[optind - 1]);
            goto fail;
        }
    }
    if (pending >= 0) {
        snprintf(errmsg, errmsg_len, "--topic-type %ld must be followed by --max-age-days N",
                 pending);
        goto fail;
    }
    if (optind < argc) {
        snprintf(errmsg, errmsg_len, "unexpected argument '%s'", argv[optind]);
        goto fail;
    }
    return 0;
fail:
    cJSON_Delete(*changes);
    *changes = NULL;
    return -1;
}

/* Store next as a new version with its "policy.set" audit entry, in the
 * open transaction, and commit. Returns the answer document (what
 * PUT /api/v1/policy returns: {"old", "new", "version", "changed", "actor"}),
 * or NULL with errmsg. */
static cJSON *
policy_store(ctl_site_t *site, const qs_policy_t *next, const char *actor,
             const char *old_json, const char *new_json, char *errmsg, size_t errmsg_len)
{
    cJSON *detail;
    int64_t new_version;

    if (qs_sitedb_policy_put(site->sitedb, next, actor, ctl_site_now(site), &new_version,
                             errmsg, errmsg_len) != 0)
        return NULL;
    detail = cJSON_CreateObject();
    if (detail == NULL)
        qs_fatal("out of memory building the audit detail");
    cJSON_AddItemToObject(detail, "old", old_json ? cJSON_Parse(old_json) : cJSON_CreateNull());
    cJSON_AddItemToObject(detail, "new", cJSON_Parse(new_json));
    cJSON_AddNumberToObject(detail, "version", (double)new_version);
    if (ctl_site_audit(site, actor, "policy.set", detail, errmsg, errmsg_len) != 0 ||
        ctl_site_commit(site, errmsg, errmsg_len) != 0) {
        cJSON_Delete(detail);
        return NULL;
    }
    cJSON_AddBoolToObject(detail, "changed", 1);
    cJSON_AddStringToObject(detail, "actor", actor);
    return detail;
}

/* Apply changes in one audited transaction; returns the answer document
 * (see policy_store; {"changed": false, "version": N} when nothing changed)
 * or NULL with errmsg. */
static cJSON *
policy_change(ctl_site_t *site, const cJSON *changes, const char *actor, char *errmsg,
              size_t errmsg_len)
{
    qs_policy_t cur, next;
    int configured;
    int64_t version;
    char *old_json = NULL, *new_json = NULL;
    cJSON *doc = NULL;

    if (ctl_site_begin(site, errmsg, errmsg_len) != 0)
        return NULL;
    if (qs_sitedb_policy_get(site->sitedb, &cur, &configured, &version) != 0) {
        snprintf(errmsg, errmsg_len, "cannot read the current policy from '%s' (see the "
                 "message above); run 'qsctl policy history' to inspect it",
                 site->paths.site_db);
        return NULL;
    }
    if (qs_doc_policy_apply(&next, &cur, changes, errmsg, errmsg_len) != 0)
        return NULL;
    old_json = configured ? qs_policy_to_json(&cur) : NULL;
    new_json = qs_policy_to_json(&next);
    if ((configured && old_json == NULL) || new_json == NULL)
        qs_fatal("out of memory serialising the policy");
    if (configured && strcmp(old_json, new_json) == 0) {
        ctl_site_rollback(site);
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "changed", 0);
        cJSON_AddNumberToObject(doc, "version", (double)version);
    } else {
        doc = policy_store(site, &next, actor, old_json, new_json, errmsg, errmsg_len);
    }
    free(old_json);
    free(new_json);
    return doc;
}

static int
policy_set(int argc, char **argv)
{
    const char *home, *as;
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    ctl_format_t fmt = CTL_FORMAT_TABLE;
    ctl_site_t site;
    cJSON *changes, *doc;
    int help;

    if (ctl_policy_set_args_fmt(&changes, &home, &as, &fmt, &help, argc, argv, errmsg,
                                sizeof errmsg) != 0)
        return usage_error(CMD_SET, errmsg);
    if (help) {
        cJSON_Delete(changes);
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (ctl_actor(actor, sizeof actor, as, errmsg, sizeof errmsg) != 0) {
        cJSON_Delete(changes);
        return usage_error(CMD_SET, errmsg);
    }
    if (ctl_home_missing(CMD_SET, home)) {
        cJSON_Delete(changes);
        return CTL_EXIT_USAGE;
    }
    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      sizeof errmsg) != 0) {
        cJSON_Delete(changes);
        ctl_error(CMD_SET, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    doc = policy_change(&site, changes, actor, errmsg, sizeof errmsg);
    ctl_site_close(&site);
    cJSON_Delete(changes);
    if (doc == NULL) {
        ctl_error(CMD_SET, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        ctl_print_policy_set(doc);
        cJSON_Delete(doc);
    }
    return ctl_output_done(CMD_SET);
}

/* Parse `show`/`history` flags. Returns 0, 1 for --help, -1 with errmsg. */
static int
parse_read(const char **home, ctl_format_t *fmt, int history, int argc, char **argv,
           char *errmsg, size_t errmsg_len)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    *fmt = CTL_FORMAT_TABLE;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': *home = optarg; break;
        case 'h': return 1;
        case 'f':
            if (ctl_format_parse(fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON |
                                 (history ? CTL_FORMAT_CSV : 0)) != 0) {
                snprintf(errmsg, errmsg_len, history ? "--format must be table, json or csv"
                                                     : "--format must be table or json");
                return -1;
            }
            break;
        case ':':
            snprintf(errmsg, errmsg_len, "%s needs a value", argv[optind - 1]);
            return -1;
        default:
            snprintf(errmsg, errmsg_len, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(errmsg, errmsg_len, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (*home == NULL && getenv("QS_HOME") == NULL) {
        snprintf(errmsg, errmsg_len, "no site home: pass --home DIR or set QS_HOME");
        return -1;
    }
    return 0;
}

/* CSV columns of policy history: the version document's fields. */
static const char *const history_fields[] = {
    "version", "set_utc", "actor", "max_age_days", "topic_max_age_days",
    "collect_user_names", "k", "time_precision",
};

static int
policy_read(int argc, char **argv, int history)
{
    const char *cmd = history ? CMD_HISTORY : CMD_SHOW;
    const char *home = NULL;
    char errmsg[CTL_ERRMSG_BYTES];
    ctl_format_t fmt;
    ctl_site_t site;
    int prc;
    cJSON *doc;

    prc = parse_read(&home, &fmt, history, argc, argv, errmsg, sizeof errmsg);
    if (prc < 0)
        return usage_error(cmd, errmsg);
    if (prc > 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB, errmsg, sizeof errmsg) != 0) {
        ctl_error(cmd, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (qs_doc_policy_read(&doc, site.sitedb, history) != 0) {
        ctl_error(cmd, "cannot read the policy from '%s': %s", site.paths.site_db,
                  qs_sitedb_errmsg(site.sitedb));
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    ctl_site_close(&site);
    if (fmt == CTL_FORMAT_JSON) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return ctl_output_done(cmd);
    }
    if (fmt == CTL_FORMAT_CSV)
        ctl_csv_objects(stdout, cJSON_GetObjectItemCaseSensitive(doc, "versions"), 8,
                        history_fields, history_fields);
    else if (history)
        ctl_print_policy_history(doc);
    else
        ctl_print_policy_show(doc);
    cJSON_Delete(doc);
    return ctl_output_done(cmd);
}

int
cmd_policy(int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage_error("policy", "needs a sub-command: set, show or history");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "set") == 0)
        return policy_set(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return policy_read(argc - 1, argv + 1, 0);
    if (strcmp(argv[1], "history") == 0)
        return policy_read(argc - 1, argv + 1, 1);
    return ctl_usage_error("policy", "unknown sub-command '%s': use set, show or history",
                           argv[1]);
}
