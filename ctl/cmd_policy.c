/* cmd_policy.c - qsctl policy set|show|history: the privacy officer's policy.
 *
 * `set` starts from the current policy (or the defaults when there is none),
 * applies the flags in the order given, validates the result with the same
 * parser the daemons use, and stores it as a new version together with a
 * "policy.set" audit entry {"old":…, "new":…, "version":N} in one site.db
 * transaction; the daemons notice the commit and reload it without a
 * restart. A --max-age-days right after --topic-type T sets T's own maximum
 * age (0 removes it, so T falls back to the default); anywhere else it sets
 * the default. `show` prints the current version, `history` every version.
 */
#include "ctl_common.h"
#include "qs_codec.h"
#include "qs_ctl.h"
#include "qs_log.h"
#include "qs_policy.h"

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
        "                        [--as NAME]\n"
        "       qsctl policy show --home DIR [--format table|json]\n"
        "       qsctl policy history --home DIR [--format table|json]\n"
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
        "  --as NAME                   who is acting, for the audit log\n"
        "                              (default $SUDO_USER, else $USER)\n"
        "  --format table|json         output of show and history (default table)\n"
        "  --help                      show this help\n",
        QS_POLICY_MAX_AGE_DAYS);
}

static int
usage_error(const char *cmd, const char *msg)
{
    return ctl_usage_error(cmd, "%s", msg);
}

/* What `policy set` was asked to change, in command-line order. */
typedef struct {
    int have_default_age, default_age;
    struct { uint32_t topic_type; int days; } topics[POLICY_MAX_CHANGES];
    size_t n_topics;
    int have_collect, collect;
    int have_k, k;
    int have_precision;
    int64_t precision_ms;
    const char *as;
} policy_changes_t;

/* One --max-age-days N: the age of the --topic-type just given (pending),
 * else the default. Returns 0, or -1 with errmsg. */
static int
parse_age(policy_changes_t *ch, long *pending, const char *text, char *errmsg,
          size_t errmsg_len)
{
    long v;

    if (ctl_parse_long(&v, text, *pending >= 0 ? 0 : 1, QS_POLICY_MAX_AGE_DAYS) != 0) {
        snprintf(errmsg, errmsg_len, "--max-age-days '%s' must be %s..%d", text,
                 *pending >= 0 ? "0" : "1", QS_POLICY_MAX_AGE_DAYS);
        return -1;
    }
    if (*pending >= 0) {
        if (ch->n_topics == POLICY_MAX_CHANGES) {
            snprintf(errmsg, errmsg_len, "too many --topic-type pairs");
            return -1;
        }
        ch->topics[ch->n_topics].topic_type = (uint32_t)*pending;
        ch->topics[ch->n_topics].days = (int)v;
        ch->n_topics++;
        *pending = -1;
        return 0;
    }
    if (ch->have_default_age) {
        snprintf(errmsg, errmsg_len, "the default --max-age-days is given twice "
                 "(a per-topic age goes right after its --topic-type)");
        return -1;
    }
    ch->have_default_age = 1;
    ch->default_age = (int)v;
    return 0;
}

/* Parse `policy set` flags. Returns 0, or -1 with errmsg (a usage error). */
static int
parse_set(policy_changes_t *ch, const char **home, int argc, char **argv, int *help,
          char *errmsg, size_t errmsg_len)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "max-age-days", required_argument, NULL, 'm' },
        { "topic-type", required_argument, NULL, 't' },
        { "collect-user-names", required_argument, NULL, 'u' },
        { "k", required_argument, NULL, 'k' },
        { "time-precision", required_argument, NULL, 'p' },
        { "as", required_argument, NULL, 'a' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long pending = -1, v;
    int c;

    memset(ch, 0, sizeof *ch);
    *help = 0;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (pending >= 0 && c != 'm') {
            snprintf(errmsg, errmsg_len, "--topic-type %ld must be followed by "
                     "--max-age-days N", pending);
            return -1;
        }
        switch (c) {
        case 'H': *home = optarg; break;
        case 'h': *help = 1; return 0;
        case 't':
            if (ctl_parse_long(&v, optarg, 1, POLICY_MAX_TOPIC_TYPE) != 0 ||
                qs_topic_check((uint32_t)v, 0) == -1) {
                snprintf(errmsg, errmsg_len, "--topic-type '%s' is not a known topic type "
                         "(300, 301, 302, 400, 401, 402, 500, 501 or 700)", optarg);
                return -1;
            }
            pending = v;
            break;
        case 'm':
            if (parse_age(ch, &pending, optarg, errmsg, errmsg_len) != 0)
                return -1;
            break;
        case 'u':
            if (strcmp(optarg, "yes") != 0 && strcmp(optarg, "no") != 0) {
                snprintf(errmsg, errmsg_len, "--collect-user-names must be yes or no");
                return -1;
            }
            ch->have_collect = 1;
            ch->collect = strcmp(optarg, "yes") == 0;
            break;
        case 'k':
            if (ctl_parse_long(&v, optarg, 1, 1000000) != 0) {
                snprintf(errmsg, errmsg_len, "--k '%s' must be 1..1000000", optarg);
                return -1;
            }
            ch->have_k = 1;
            ch->k = (int)v;
            break;
        case 'p':
            if (qs_policy_parse_precision(&ch->precision_ms, optarg) != 0) {
                snprintf(errmsg, errmsg_len, "--time-precision must be millisecond, second, "
                         "minute, hour or day");
                return -1;
            }
            ch->have_precision = 1;
            break;
        case 'a': ch->as = optarg; break;
        case ':':
            snprintf(errmsg, errmsg_len, "%s needs a value", argv[optind - 1]);
            return -1;
        default:
            snprintf(errmsg, errmsg_len, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (pending >= 0) {
        snprintf(errmsg, errmsg_len, "--topic-type %ld must be followed by --max-age-days N",
                 pending);
        return -1;
    }
    if (optind < argc) {
        snprintf(errmsg, errmsg_len, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

/* Apply the changes to p. -1 with errmsg when the topic table is full. */
static int
apply_changes(qs_policy_t *p, const policy_changes_t *ch, char *errmsg, size_t errmsg_len)
{
    if (ch->have_default_age)
        p->max_age_days = ch->default_age;
    for (size_t i = 0; i < ch->n_topics; i++)
        if (qs_policy_set_topic_age(p, ch->topics[i].topic_type, ch->topics[i].days) != 0) {
            snprintf(errmsg, errmsg_len, "cannot set a maximum age for topic type %u: at "
                     "most %d topic types can have their own age",
                     ch->topics[i].topic_type, QS_POLICY_MAX_TOPICS);
            return -1;
        }
    if (ch->have_collect)
        p->collect_user_names = ch->collect;
    if (ch->have_k)
        p->k = ch->k;
    if (ch->have_precision)
        p->time_precision_ms = ch->precision_ms;
    return 0;
}

/* "500: 30, 501: 7" or "none" into out. */
static void
topic_ages_text(char *out, size_t out_len, const cJSON *topics)
{
    const cJSON *t;
    size_t o = 0;

    out[0] = '\0';
    cJSON_ArrayForEach(t, topics) {
        int w = snprintf(out + o, out_len - o, "%s%s: %d", o ? ", " : "", t->string,
                         (int)t->valuedouble);
        if (w < 0 || (size_t)w >= out_len - o)
            break;
        o += (size_t)w;
    }
    if (o == 0)
        snprintf(out, out_len, "none");
}

/* Print each field of the new policy that differs from the old one. */
static void
print_changes(const cJSON *old, const cJSON *new)
{
    static const char *const fields[] = {
        "max_age_days", "topic_max_age_days", "collect_user_names", "k", "time_precision",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *a = old ? cJSON_GetObjectItemCaseSensitive(old, fields[i]) : NULL;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(new, fields[i]);
        char *ta = a ? cJSON_PrintUnformatted(a) : NULL;
        char *tb = b ? cJSON_PrintUnformatted(b) : NULL;
        if (tb != NULL && (ta == NULL || strcmp(ta, tb) != 0))
            printf("  %-19s %s -> %s\n", fields[i], ta ? ta : "(none)", tb);
        cJSON_free(ta);
        cJSON_free(tb);
    }
}

static int
policy_set(int argc, char **argv)
{
    policy_changes_t ch;
    const char *home = NULL;
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_MAX_ACTOR_BYTES + 1];
    ctl_site_t site;
    qs_policy_t cur, next, check;
    int configured, help, rc = CTL_EXIT_FAIL;
    int64_t version, new_version;
    char *old_json = NULL, *new_json = NULL;
    cJSON *detail = NULL, *old_obj = NULL, *new_obj = NULL;

    if (parse_set(&ch, &home, argc, argv, &help, errmsg, sizeof errmsg) != 0)
        return usage_error(CMD_SET, errmsg);
    if (help) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (ctl_actor(actor, sizeof actor, ch.as, errmsg, sizeof errmsg) != 0)
        return usage_error(CMD_SET, errmsg);
    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD_SET, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    if (qs_sitedb_policy_get(site.sitedb, &cur, &configured, &version) != 0) {
        snprintf(errmsg, sizeof errmsg, "cannot read the current policy from '%s' (see the "
                 "message above); run 'qsctl policy history' to inspect it",
                 site.paths.site_db);
        goto fail;
    }
    next = cur;
    if (apply_changes(&next, &ch, errmsg, sizeof errmsg) != 0)
        goto fail;
    old_json = configured ? qs_policy_to_json(&cur) : NULL;
    new_json = qs_policy_to_json(&next);
    if ((configured && old_json == NULL) || new_json == NULL)
        qs_fatal("out of memory serialising the policy");
    /* Validate with the daemons' own parser: what they cannot load is never stored. */
    if (qs_policy_from_json(&check, new_json, errmsg, sizeof errmsg) != 0)
        goto fail;
    if (configured && strcmp(old_json, new_json) == 0) {
        ctl_site_rollback(&site);
        printf("no change: policy version %lld already has these values\n",
               (long long)version);
        rc = ctl_output_done(CMD_SET);
        goto out;
    }
    if (qs_sitedb_policy_put(site.sitedb, &next, actor, ctl_site_now(&site), &new_version,
                             errmsg, sizeof errmsg) != 0)
        goto fail;
    old_obj = old_json ? cJSON_Parse(old_json) : cJSON_CreateNull();
    new_obj = cJSON_Parse(new_json);
    detail = cJSON_CreateObject();
    if (old_obj == NULL || new_obj == NULL || detail == NULL)
        qs_fatal("out of memory building the audit detail");
    cJSON_AddItemReferenceToObject(detail, "old", old_obj);
    cJSON_AddItemReferenceToObject(detail, "new", new_obj);
    cJSON_AddNumberToObject(detail, "version", (double)new_version);
    if (ctl_site_audit(&site, actor, "policy.set", detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    printf("policy version %lld set by %s%s\n", (long long)new_version, actor,
           configured ? "" : " (first policy: the store now accepts state messages)");
    print_changes(configured ? old_obj : NULL, new_obj);
    printf("running daemons apply it without a restart\n");
    rc = ctl_output_done(CMD_SET);
    goto out;
fail:
    ctl_error(CMD_SET, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    cJSON_Delete(detail);
    cJSON_Delete(old_obj);
    cJSON_Delete(new_obj);
    free(old_json);
    free(new_json);
    ctl_site_close(&site);
    return rc;
}

/* Parse `show`/`history` flags. Returns 0, 1 for --help, -1 with errmsg. */
static int
parse_read(const char **home, ctl_format_t *fmt, int argc, char **argv, char *errmsg,
           size_t errmsg_len)
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
            if (ctl_format_parse(fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0) {
                snprintf(errmsg, errmsg_len, "--format must be table or json");
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
    return 0;
}

/* One stored version as a JSON object: the policy fields plus version,
 * set_utc and actor. A version whose text does not parse is kept as "json". */
static cJSON *
version_object(int64_t version, int64_t set_ms, const char *actor, const char *json)
{
    cJSON *obj = json ? cJSON_Parse(json) : NULL;
    char when[CTL_TIME_BYTES];

    if (obj == NULL || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        obj = cJSON_CreateObject();
        cJSON_AddBoolToObject(obj, "invalid", 1);
        cJSON_AddStringToObject(obj, "json", json ? json : "");
    }
    ctl_time_text(when, set_ms, 0);
    cJSON_AddNumberToObject(obj, "version", (double)version);
    cJSON_AddStringToObject(obj, "set_utc", when);
    cJSON_AddStringToObject(obj, "actor", actor ? actor : "");
    return obj;
}

typedef struct {
    int64_t want;      /* version to find (show), 0 for every version */
    cJSON *versions;   /* array, one object per version */
} versions_ctx_t;

static int
collect_version(void *vctx, int64_t version, int64_t set_ms, const char *actor,
                const char *json)
{
    versions_ctx_t *ctx = vctx;

    if (ctx->want == 0 || ctx->want == version)
        cJSON_AddItemToArray(ctx->versions, version_object(version, set_ms, actor, json));
    return 0;
}

static const char *
field_text(char *buf, size_t len, const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (cJSON_IsString(item))
        return item->valuestring;
    if (cJSON_IsBool(item))
        return cJSON_IsTrue(item) ? "yes" : "no";
    if (cJSON_IsNumber(item)) {
        snprintf(buf, len, "%lld", (long long)item->valuedouble);
        return buf;
    }
    if (cJSON_IsObject(item)) {
        topic_ages_text(buf, len, item);
        return buf;
    }
    return "?";
}

/* show/history as one JSON document; consumes versions. */
static void
print_read_json(cJSON *versions, int history)
{
    cJSON *doc;

    if (history) {
        doc = cJSON_CreateObject();
        cJSON_AddItemToObject(doc, "versions", versions);
    } else if (cJSON_GetArraySize(versions) == 0) {
        doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "configured", 0);
        cJSON_Delete(versions);
    } else {
        doc = cJSON_DetachItemFromArray(versions, 0);
        cJSON_AddBoolToObject(doc, "configured", 1);
        cJSON_Delete(versions);
    }
    if (ctl_json_print(doc) != 0)
        qs_fatal("out of memory printing JSON");
}

/* history as a table, one row per version. */
static void
print_history_table(const cJSON *versions)
{
    static const char *const head[] = {
        "VERSION", "SET_UTC", "ACTOR", "MAX_AGE_DAYS", "TOPIC_MAX_AGE_DAYS",
        "USER_NAMES", "K", "PRECISION",
    };
    ctl_table_t *t = ctl_table_new(8, head);
    const cJSON *v;

    ctl_table_align_right(t, 0);
    ctl_table_align_right(t, 3);
    ctl_table_align_right(t, 6);
    cJSON_ArrayForEach(v, versions) {
        char b[8][256];
        const char *cells[8] = {
            field_text(b[0], sizeof b[0], v, "version"),
            field_text(b[1], sizeof b[1], v, "set_utc"),
            field_text(b[2], sizeof b[2], v, "actor"),
            field_text(b[3], sizeof b[3], v, "max_age_days"),
            field_text(b[4], sizeof b[4], v, "topic_max_age_days"),
            field_text(b[5], sizeof b[5], v, "collect_user_names"),
            field_text(b[6], sizeof b[6], v, "k"),
            field_text(b[7], sizeof b[7], v, "time_precision"),
        };
        ctl_table_add(t, cells);
    }
    if (ctl_table_rows(t) == 0)
        printf("no policy was ever set: the store accepts nothing until "
               "'qsctl policy set' stores one\n");
    else
        ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
}

/* show as text: the current version (versions holds it, or nothing). */
static void
print_current(const cJSON *versions)
{
    const cJSON *v = cJSON_GetArrayItem(versions, 0);
    char b[256], actor[4 * CTL_MAX_ACTOR_BYTES + 1];

    if (v == NULL) {
        printf("no policy configured: the store accepts nothing until one is set\n"
               "  (qsctl policy set --home DIR --max-age-days N ...)\n");
        return;
    }
    ctl_text_safe(actor, sizeof actor, field_text(b, sizeof b, v, "actor"));
    printf("policy version %s", field_text(b, sizeof b, v, "version"));
    printf(", set %s", field_text(b, sizeof b, v, "set_utc"));
    printf(" by %s\n", actor);
    printf("  max_age_days        %s (every topic type without its own)\n",
           field_text(b, sizeof b, v, "max_age_days"));
    printf("  topic_max_age_days  %s\n", field_text(b, sizeof b, v, "topic_max_age_days"));
    printf("  collect_user_names  %s\n", field_text(b, sizeof b, v, "collect_user_names"));
    printf("  k                   %s (smaller compliance groups are suppressed)\n",
           field_text(b, sizeof b, v, "k"));
    printf("  time_precision      %s\n", field_text(b, sizeof b, v, "time_precision"));
}

static int
policy_read(int argc, char **argv, int history)
{
    const char *cmd = history ? CMD_HISTORY : CMD_SHOW;
    const char *home = NULL;
    char errmsg[CTL_ERRMSG_BYTES];
    ctl_format_t fmt;
    ctl_site_t site;
    qs_policy_t p;
    int configured, prc;
    int64_t version;
    versions_ctx_t ctx = { 0, NULL };

    prc = parse_read(&home, &fmt, argc, argv, errmsg, sizeof errmsg);
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
    if (!history && qs_sitedb_policy_get(site.sitedb, &p, &configured, &version) != 0) {
        ctl_error(cmd, "cannot read the current policy from '%s'; 'qsctl policy history' "
                  "shows every stored version", site.paths.site_db);
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    ctx.want = history ? 0 : version;
    ctx.versions = cJSON_CreateArray();
    if ((history || configured) &&
        qs_sitedb_policy_each(site.sitedb, collect_version, &ctx) != 0) {
        ctl_error(cmd, "cannot read policy versions from '%s': %s", site.paths.site_db,
                  qs_sitedb_errmsg(site.sitedb));
        cJSON_Delete(ctx.versions);
        ctl_site_close(&site);
        return CTL_EXIT_FAIL;
    }
    ctl_site_close(&site);

    if (fmt == CTL_FORMAT_JSON) {
        print_read_json(ctx.versions, history);
        return ctl_output_done(cmd);
    }
    if (history)
        print_history_table(ctx.versions);
    else
        print_current(ctx.versions);
    cJSON_Delete(ctx.versions);
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
