/* cmd_user.c - qsctl user add|list|remove: who may use qs-web, with which role.
 *
 * `add` makes a user with a fresh bearer token (common/qs_users.h): the token
 * is printed once on stdout - or, with --out FILE, written to a new 0600 file
 * and not printed - and only its hash is kept in site.db. `remove` makes the
 * token useless at once (qs-web asks site.db on every request). Each change
 * and its "user.add"/"user.remove" audit entry are one transaction; the
 * actor is the OS user running qsctl (getpwuid(geteuid()), not an
 * environment variable anyone can set) and, with --as NAME, that name too.
 *
 *   list --format json   {"users": [{"name": "…", "role": "operator",
 *                          "created_utc": "…Z"}, …]}
 */
#include "ctl_common.h"
#include "qs_ctl.h"
#include "qs_log.h"
#include "qs_users.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#define CMD_ADD "user add"
#define CMD_LIST "user list"
#define CMD_REMOVE "user remove"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl user add --home DIR --name NAME --role operator|admin|privacy-officer\n"
        "                      [--out TOKENFILE] [--as NAME] [--format table|json]\n"
        "       qsctl user list --home DIR [--format table|json|csv]\n"
        "       qsctl user remove --home DIR --name NAME [--as NAME] [--format table|json]\n"
        "\n"
        "Manage the users of qs-web (the HTTP API). add prints the new user's bearer\n"
        "token once (or writes it to TOKENFILE, mode 0600, and does not print it);\n"
        "only a hash of it is kept. remove revokes the token at once.\n"
        "\n"
        "  --home DIR           site home (default $QS_HOME)\n"
        "  --name NAME          1..%u characters of A-Z a-z 0-9 . _ @ -\n"
        "  --role ROLE          operator (aggregates), admin (enroll, revoke, lookup\n"
        "                       with a reason) or privacy-officer (policy, audit, forget)\n"
        "  --out TOKENFILE      write the token to this new file instead of stdout\n"
        "  --as NAME            who is acting, recorded beside the OS user in the audit log\n"
        "  --format FMT         output format (default table); json on every\n"
        "                       sub-command, csv for list\n"
        "  --help               show this help\n",
        QS_USER_NAME_MAX);
}

typedef struct {
    const char *home, *name, *role, *out, *as;
    ctl_format_t fmt;
} user_opts_t;

/* Parse flags for cmd. Returns -1 to go on, else an exit code. */
static int
parse(user_opts_t *o, const char *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "name", required_argument, NULL, 'n' },
        { "role", required_argument, NULL, 'r' },
        { "out", required_argument, NULL, 'o' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof *o);
    o->fmt = CTL_FORMAT_TABLE;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': o->home = optarg; break;
        case 'n': o->name = optarg; break;
        case 'r': o->role = optarg; break;
        case 'o': o->out = optarg; break;
        case 'a': o->as = optarg; break;
        case 'f':
            if (ctl_format_parse(&o->fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON |
                                 (strcmp(cmd, CMD_LIST) == 0 ? CTL_FORMAT_CSV : 0)) != 0)
                return ctl_usage_error(cmd, strcmp(cmd, CMD_LIST) == 0
                                                ? "--format must be table, json or csv"
                                                : "--format must be table or json");
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (ctl_home_missing(cmd, o->home))
        return CTL_EXIT_USAGE;
    return -1;
}

/* user add's answer: text, or {"added": NAME, "role": ROLE, "token": TOKEN}
 * ("token_file": PATH instead when --out wrote it). */
static void
print_added(const user_opts_t *o, qs_role_t role, const char *token)
{
    cJSON *doc;

    if (o->fmt == CTL_FORMAT_JSON) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "added", o->name);
        cJSON_AddStringToObject(doc, "role", qs_role_name(role));
        if (o->out != NULL)
            cJSON_AddStringToObject(doc, "token_file", o->out);
        else
            cJSON_AddStringToObject(doc, "token", token);
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
    } else if (o->out != NULL) {
        printf("user '%s' (%s) added; token written to '%s' (mode 0600)\n", o->name,
               qs_role_name(role), o->out);
    } else {
        printf("%s\n", token);
    }
    if (o->out == NULL)
        fprintf(stderr, "qsctl user add: user '%s' (%s) added; the token above is shown "
                "once: give it to the user now\n", o->name, qs_role_name(role));
}

/* Create path (never overwriting) 0600 and write the token and a newline. */
static int
write_token_file(const char *path, const char *token, char *errmsg, size_t errmsg_len)
{
    size_t len = strlen(token);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0) {
        snprintf(errmsg, errmsg_len, errno == EEXIST
                 ? "'%s' already exists: choose another --out (a token file is never "
                   "overwritten)" : "cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    if (write(fd, token, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        snprintf(errmsg, errmsg_len, "cannot write '%s': %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

static int
user_add(int argc, char **argv)
{
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES], token[QS_USER_TOKEN_CHARS + 1];
    user_opts_t o;
    ctl_site_t site;
    qs_role_t role;
    cJSON *detail = NULL;
    int rc, wrote = 0;

    if ((rc = parse(&o, CMD_ADD, argc, argv)) >= 0)
        return rc;
    if (o.name == NULL || o.role == NULL)
        return ctl_usage_error(CMD_ADD, "--name NAME and --role ROLE are required");
    if (qs_role_parse(&role, o.role) != 0)
        return ctl_usage_error(CMD_ADD, "--role must be operator, admin or privacy-officer");
    if (qs_user_name_check(o.name, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD_ADD, "--name: %s", errmsg);
    if (o.out != NULL && *o.out == '\0')
        return ctl_usage_error(CMD_ADD, "--out needs a file name");
    if (ctl_actor(actor, sizeof actor, o.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD_ADD, "%s", errmsg);
    if (ctl_site_open(&site, o.home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD_ADD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0 ||
        qs_users_add(token, sizeof token, site.sitedb, o.name, role, ctl_site_now(&site),
                     errmsg, sizeof errmsg) != 0)
        goto fail;
    if (o.out != NULL) {
        if (write_token_file(o.out, token, errmsg, sizeof errmsg) != 0)
            goto fail;
        wrote = 1;
    }
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "name", o.name);
    cJSON_AddStringToObject(detail, "role", qs_role_name(role));
    if (ctl_site_audit(&site, actor, "user.add", detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    wrote = 0;
    print_added(&o, role, token);
    rc = ctl_output_done(CMD_ADD);
    goto out;
fail:
    ctl_error(CMD_ADD, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    if (wrote && unlink(o.out) != 0)
        ctl_error(CMD_ADD, "cannot remove '%s' after the failure: remove it by hand", o.out);
    sodium_memzero(token, sizeof token);
    cJSON_Delete(detail);
    ctl_site_close(&site);
    return rc;
}

static int
user_remove(int argc, char **argv)
{
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    user_opts_t o;
    ctl_site_t site;
    cJSON *detail = NULL;
    int rc;

    if ((rc = parse(&o, CMD_REMOVE, argc, argv)) >= 0)
        return rc;
    if (o.name == NULL)
        return ctl_usage_error(CMD_REMOVE, "--name NAME is required");
    if (ctl_actor(actor, sizeof actor, o.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD_REMOVE, "%s", errmsg);
    if (ctl_site_open(&site, o.home, CTL_OPEN_SITEDB | CTL_OPEN_AUDIT_KEY, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD_REMOVE, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "name", o.name);
    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0 ||
        qs_users_remove(site.sitedb, o.name, errmsg, sizeof errmsg) != 0 ||
        ctl_site_audit(&site, actor, "user.remove", detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD_REMOVE, "%s", errmsg);
        rc = CTL_EXIT_FAIL;
    } else {
        if (o.fmt == CTL_FORMAT_JSON) {
            cJSON *doc = cJSON_CreateObject();
            cJSON_AddStringToObject(doc, "removed", o.name);
            if (ctl_json_print(doc) != 0)
                qs_fatal("out of memory printing JSON");
        } else {
            printf("user '%s' removed; its token no longer works\n", o.name);
        }
        rc = ctl_output_done(CMD_REMOVE);
    }
    cJSON_Delete(detail);
    ctl_site_close(&site);
    return rc;
}

typedef struct {
    cJSON *users;
    ctl_table_t *table;
} list_ctx_t;

static int
collect_user(void *vctx, const qs_user_t *u)
{
    list_ctx_t *ctx = vctx;
    char when[CTL_TIME_BYTES];

    ctl_time_text(when, u->created_ms, 0);
    if (ctx->users != NULL) {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "name", u->name);
        cJSON_AddStringToObject(obj, "role", qs_role_name(u->role));
        cJSON_AddStringToObject(obj, "created_utc", when);
        cJSON_AddItemToArray(ctx->users, obj);
    } else {
        const char *cells[3] = { u->name, qs_role_name(u->role), when };
        ctl_table_add(ctx->table, cells);
    }
    return 0;
}

static int
user_list(int argc, char **argv)
{
    static const char *const head[] = { "NAME", "ROLE", "CREATED_UTC" };
    char errmsg[CTL_ERRMSG_BYTES];
    user_opts_t o;
    ctl_site_t site;
    list_ctx_t ctx = { NULL, NULL };
    int rc;

    if ((rc = parse(&o, CMD_LIST, argc, argv)) >= 0)
        return rc;
    if (ctl_site_open(&site, o.home, CTL_OPEN_SITEDB, errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD_LIST, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (o.fmt != CTL_FORMAT_TABLE)
        ctx.users = cJSON_CreateArray();
    else
        ctx.table = ctl_table_new(3, head);
    rc = qs_users_each(site.sitedb, collect_user, &ctx);
    ctl_site_close(&site);
    if (rc != 0) {
        ctl_error(CMD_LIST, "cannot read the users from site.db");
        cJSON_Delete(ctx.users);
        ctl_table_destroy(&ctx.table);
        return CTL_EXIT_FAIL;
    }
    if (ctx.users != NULL) {
        static const char *const fields[] = { "name", "role", "created_utc" };
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddItemToObject(doc, "users", ctx.users);
        if (o.fmt == CTL_FORMAT_CSV) {
            ctl_csv_objects(stdout, ctx.users, 3, fields, fields);
            cJSON_Delete(doc);
        } else if (ctl_json_print(doc) != 0) {
            qs_fatal("out of memory printing JSON");
        }
    } else {
        if (ctl_table_rows(ctx.table) == 0)
            printf("no users: add one with 'qsctl user add --name NAME --role ROLE'\n");
        else
            ctl_table_print(ctx.table, stdout);
        ctl_table_destroy(&ctx.table);
    }
    return ctl_output_done(CMD_LIST);
}

int
cmd_user(int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage_error("user", "needs a sub-command: add, list or remove");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "add") == 0)
        return user_add(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return user_list(argc - 1, argv + 1);
    if (strcmp(argv[1], "remove") == 0)
        return user_remove(argc - 1, argv + 1);
    return ctl_usage_error("user", "unknown sub-command '%s': use add, list or remove",
                           argv[1]);
}
