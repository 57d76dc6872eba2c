/* remote.c - qsctl --url: the commands of an operator or privacy officer, over HTTPS.
 *
 * Global options (before the command): --url URL, --token-file FILE,
 * --cacert FILE; or QS_URL, QS_TOKEN_FILE, QS_CACERT. The token file is
 * refused unless only its owner can read it. Each command parses its own
 * flags (the local command's flags, minus --home), makes one request with
 * libcurl (Bearer header, TLS verification on, redirects not followed, HTTP
 * and HTTPS only) and prints the answer: the document itself for --format
 * json, the local command's lines otherwise (remote_print.h). An answer of
 * 4xx/5xx prints "qsctl CMD: SERVER ERROR (HTTP N)" and exits 1.
 */
#include "cmd_trend.h"
#include "cmd_deployment.h"
#include "cmd_policy.h"
#include "ctl_common.h"
#include "qs_fsutil.h"
#include "qs_log.h"
#include "remote.h"
#include "remote_print.h"

#include <curl/curl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define REMOTE_MAX_ANSWER_BYTES (64u * 1024u * 1024u)
#define REMOTE_TOKEN_MAX_BYTES 256u
#define REMOTE_TIMEOUT_S 60L

typedef struct {
    const char *url;          /* base, e.g. https://site:8443 */
    const char *token_file;
    const char *cacert;
    char *token;              /* sodium_malloc'd */
} remote_t;

static const char *const remote_commands[] = {
    "policy", "audit", "compliance", "stats", "lookup", "forget", "verify", "deployment", NULL,
};

static int
is_remote_command(const char *name)
{
    for (size_t i = 0; remote_commands[i] != NULL; i++)
        if (strcmp(name, remote_commands[i]) == 0)
            return 1;
    return 0;
}

int
ctl_remote_wanted(int argc, char **argv)
{
    const char *env = getenv("QS_URL");

    if (argc >= 2 && (strncmp(argv[1], "--url", 5) == 0 ||
                      strncmp(argv[1], "--token-file", 12) == 0 ||
                      strncmp(argv[1], "--cacert", 8) == 0))
        return 1;
    if (env == NULL || *env == '\0' || argc < 2 || !is_remote_command(argv[1]))
        return 0;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--home") == 0 || strncmp(argv[i], "--home=", 7) == 0)
            return 0;
    return 1;
}

/* Read the token (first line, trimmed) from a 0600 file. */
static int
load_token(remote_t *r, char *errmsg, size_t errmsg_len)
{
    size_t len = 0;

    if (qs_fs_check_private(r->token_file, errmsg, errmsg_len) != 0 ||
        qs_fs_read_small(&r->token, &len, r->token_file, REMOTE_TOKEN_MAX_BYTES, 1, errmsg,
                         errmsg_len) != 0)
        return -1;
    r->token[strcspn(r->token, "\r\n")] = '\0';
    if (r->token[0] == '\0') {
        snprintf(errmsg, errmsg_len, "'%s' holds no token", r->token_file);
        return -1;
    }
    return 0;
}

typedef struct {
    char *data;
    size_t len;
    int too_big;
} answer_t;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    answer_t *a = userdata;
    size_t n = size * nmemb;

    if (a->len + n > REMOTE_MAX_ANSWER_BYTES) {
        a->too_big = 1;
        return 0;
    }
    a->data = qs_realloc(a->data, a->len + n + 1);
    memcpy(a->data + a->len, ptr, n);
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

/* Set up the handle for one request; the header list is returned in *hdrs. */
static CURL *
request_handle(const remote_t *r, const char *method, const char *url, const char *body,
               struct curl_slist **hdrs, answer_t *a)
{
    char auth[REMOTE_TOKEN_MAX_BYTES + 32];
    CURL *h = curl_easy_init();

    if (h == NULL)
        return NULL;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", r->token);
    *hdrs = curl_slist_append(NULL, auth);
    sodium_memzero(auth, sizeof auth);
    *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
    if (body != NULL)
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (r->cacert != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, r->cacert);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, REMOTE_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    return h;
}

/* One request. Returns 0 with *doc (2xx), or 1 after printing the error. */
static int
remote_call(cJSON **doc, const remote_t *r, const char *cmd, const char *method,
            const char *path, const char *body)
{
    char url[4096];
    answer_t a = { NULL, 0, 0 };
    struct curl_slist *hdrs = NULL;
    long status = 0;
    CURL *h;
    CURLcode rc;
    size_t blen = strlen(r->url);

    *doc = NULL;
    while (blen > 0 && r->url[blen - 1] == '/')
        blen--;
    if (snprintf(url, sizeof url, "%.*s%s", (int)blen, r->url, path) >= (int)sizeof url) {
        ctl_error(cmd, "the URL is too long");
        return 1;
    }
    h = request_handle(r, method, url, body, &hdrs, &a);
    if (h == NULL)
        qs_fatal("cannot initialise libcurl");
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);   /* holds the token: libcurl frees, we cannot wipe */
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        ctl_error(cmd, "cannot reach '%s': %s%s", url, curl_easy_strerror(rc),
                  a.too_big ? " (answer too large)" : "");
        free(a.data);
        return 1;
    }
    *doc = a.data ? cJSON_Parse(a.data) : NULL;
    free(a.data);
    if (status >= 200 && status < 300 && *doc != NULL)
        return 0;
    {
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*doc, "error"));
        ctl_error(cmd, "%s (HTTP %ld from %s)", e ? e : "unexpected answer", status, url);
    }
    cJSON_Delete(*doc);
    *doc = NULL;
    return 1;
}

/* Print doc as --format json does, or with printer; deletes doc. */
static int
print_doc(const char *cmd, cJSON *doc, ctl_format_t fmt, void (*printer)(const cJSON *))
{
    if (fmt == CTL_FORMAT_JSON || printer == NULL) {
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
    } else {
        printer(doc);
        cJSON_Delete(doc);
    }
    return ctl_output_done(cmd);
}


/* ---- the commands ---- */

typedef struct {
    ctl_format_t fmt;
    const char *topic_type, *topic_id, *machine, *domain, *reason, *group, *deployment, *id;
    int history;
} remote_opts_t;

static void
remote_usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl --url URL --token-file FILE [--cacert FILE] COMMAND [options]\n"
        "\n"
        "Run a command against a remote qs-web (no site home needed). The URL, token\n"
        "file and CA may also come from QS_URL, QS_TOKEN_FILE and QS_CACERT; the token\n"
        "file must be readable by its owner only (chmod 600).\n"
        "\n"
        "  policy show|history [--format table|json]\n"
        "  policy set [--max-age-days N] [--topic-type T --max-age-days N]...\n"
        "             [--collect-user-names yes|no] [--k N] [--time-precision P]\n"
        "  audit show|verify [--format table|json]\n"
        "  compliance [--topic-type T] [--topic-id ID] [--group G]\n"
        "             [--format table|json|csv]\n"
        "  compliance --trend --days N [--topic-type T] [--topic-id ID]\n"
        "             [--group G | --deployment ID]\n"
        "             [--format table|json|csv]\n"
        "  compliance --deployment ID [--format table|json|csv]\n"
        "  deployment list [--format table|json|csv]\n"
        "  deployment show --id ID [--format table|json|csv]\n"
        "  stats [--format table|json]\n"
        "  lookup --machine NAME --reason TEXT [--domain D] [--history]\n"
        "         [--format table|json]\n"
        "  forget --machine NAME [--domain D]\n"
        "  verify\n");
}

/* Parse a command's flags; `allowed` lists the option letters it takes.
 * Returns -1 to go on, else an exit code. */
static int
parse_opts(remote_opts_t *o, const char *cmd, const char *allowed, unsigned formats,
           int argc, char **argv)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "topic-type", required_argument, NULL, 't' },
        { "topic-id", required_argument, NULL, 'i' },
        { "machine", required_argument, NULL, 'm' },
        { "domain", required_argument, NULL, 'd' },
        { "reason", required_argument, NULL, 'r' },
        { "history", no_argument, NULL, 'y' },
        { "group", required_argument, NULL, 'g' },
        { "deployment", required_argument, NULL, 'D' },
        { "id", required_argument, NULL, 'I' },
        { "home", required_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof *o);
    o->fmt = (formats & CTL_FORMAT_TABLE) ? CTL_FORMAT_TABLE : CTL_FORMAT_JSON;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'h') {
            remote_usage(stdout);
            return CTL_EXIT_OK;
        }
        if (c == 'H')
            return ctl_usage_error(cmd, "--home is not used with --url: the server has the site");
        if (c == ':')
            return ctl_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        if (c == '?' || strchr(allowed, c) == NULL)
            return ctl_usage_error(cmd, "unknown option '%s' with --url", argv[optind - 1]);
        switch (c) {
        case 'f':
            if (ctl_format_parse(&o->fmt, optarg, formats) != 0)
                return ctl_usage_error(cmd, "--format must be %s with --url",
                                       (formats & CTL_FORMAT_TABLE) ? "table or json" : "json");
            break;
        case 't': o->topic_type = optarg; break;
        case 'i': o->topic_id = optarg; break;
        case 'm': o->machine = optarg; break;
        case 'd': o->domain = optarg; break;
        case 'r': o->reason = optarg; break;
        case 'y': o->history = 1; break;
        case 'g': o->group = optarg; break;
        case 'D': o->deployment = optarg; break;
        case 'I': o->id = optarg; break;
        default: break;
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* Append "&key=value" (or "?key=value" first), escaped, to a query buffer. */
static int
query_add(char *q, size_t q_len, const char *key, const char *value)
{
    char *esc;
    size_t used = strlen(q);
    int n;

    if (value == NULL)
        return 0;
    esc = curl_easy_escape(NULL, value, 0);
    if (esc == NULL)
        qs_fatal("out of memory");
    n = snprintf(q + used, q_len - used, "%c%s=%s", used ? '&' : '?', key, esc);
    curl_free(esc);
    return (n < 0 || (size_t)n >= q_len - used) ? -1 : 0;
}

/* GET path, print with printer (NULL: JSON only). */
static int
get_and_print(const remote_t *r, const char *cmd, const char *path, ctl_format_t fmt,
              void (*printer)(const cJSON *))
{
    cJSON *doc;

    if (remote_call(&doc, r, cmd, "GET", path, NULL) != 0)
        return CTL_EXIT_FAIL;
    return print_doc(cmd, doc, fmt, printer);
}

/* `policy set` flags (the local command's parser, cmd_policy.h) into a PUT
 * body. Returns -1 to go on with *body, else an exit code. */
static int
policy_set_body(cJSON **body, int argc, char **argv)
{
    static const char *const cmd = "policy set";
    char errmsg[CTL_ERRMSG_BYTES];
    const char *home, *as;
    int help;

    if (ctl_policy_set_args(body, &home, &as, &help, argc, argv, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(cmd, "%s", errmsg);
    if (help || home != NULL || as != NULL) {
        cJSON_Delete(*body);
        *body = NULL;
    }
    if (help) {
        remote_usage(stdout);
        return CTL_EXIT_OK;
    }
    if (home != NULL)
        return ctl_usage_error(cmd, "--home is not used with --url: the server has the site");
    if (as != NULL)
        return ctl_usage_error(cmd, "--as is not used with --url: the audit log names "
                               "the token's user");
    return -1;
}

static int
remote_policy(const remote_t *r, int argc, char **argv)
{
    remote_opts_t o;
    cJSON *body, *doc;
    char *text;
    int rc;

    if (argc < 2)
        return ctl_usage_error("policy", "needs a sub-command: set, show or history");
    if (strcmp(argv[1], "set") == 0) {
        if ((rc = policy_set_body(&body, argc - 1, argv + 1)) >= 0)
            return rc;
        text = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        rc = remote_call(&doc, r, "policy set", "PUT", "/api/v1/policy", text);
        free(text);
        return rc != 0 ? CTL_EXIT_FAIL
                       : print_doc("policy set", doc, CTL_FORMAT_TABLE, ctl_print_policy_set);
    }
    if (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "history") != 0)
        return ctl_usage_error("policy", "unknown sub-command '%s': use set, show or history",
                               argv[1]);
    if ((rc = parse_opts(&o, argv[1][0] == 's' ? "policy show" : "policy history", "f",
                         CTL_FORMAT_TABLE | CTL_FORMAT_JSON, argc - 1, argv + 1)) >= 0)
        return rc;
    if (argv[1][0] == 's')
        return get_and_print(r, "policy show", "/api/v1/policy", o.fmt, ctl_print_policy_show);
    return get_and_print(r, "policy history", "/api/v1/policy/history", o.fmt,
                         ctl_print_policy_history);
}

static int
remote_audit(const remote_t *r, int argc, char **argv)
{
    remote_opts_t o;
    cJSON *doc;
    int rc;

    if (argc < 2 || (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "verify") != 0))
        return ctl_usage_error("audit", "needs a sub-command: show or verify");
    if ((rc = parse_opts(&o, argv[1][0] == 's' ? "audit show" : "audit verify", "f",
                         CTL_FORMAT_TABLE | CTL_FORMAT_JSON, argc - 1, argv + 1)) >= 0)
        return rc;
    if (argv[1][0] == 's')
        return get_and_print(r, "audit show", "/api/v1/audit", o.fmt, ctl_print_audit_show);
    if (remote_call(&doc, r, "audit verify", "GET", "/api/v1/audit/verify", NULL) != 0)
        return CTL_EXIT_FAIL;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "intact"))) {
        if (o.fmt == CTL_FORMAT_TABLE) {
            char n[32];
            snprintf(n, sizeof n, "%.0f",
                     cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "entries")));
            printf("audit log intact: %s entries\n", n);
            cJSON_Delete(doc);
            return ctl_output_done("audit verify");
        }
        return print_doc("audit verify", doc, o.fmt, NULL);
    }
    ctl_error("audit verify", "audit log tampered: %s (checked by the server): restore "
              "site.db from a backup and find out who changed it",
              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "finding")));
    if (o.fmt == CTL_FORMAT_JSON)
        (void)print_doc("audit verify", doc, o.fmt, NULL);
    else
        cJSON_Delete(doc);
    return CTL_EXIT_FAIL;
}

/* compliance --trend: the local command's flags (cmd_trend.h) into
 * GET /api/v1/compliance/trend, printed by the local printers. */
static int
remote_trend(const remote_t *r, int argc, char **argv)
{
    static const char *const cmd = "compliance --trend";
    ctl_trend_args_t a;
    char path[2048], q[2048] = "", days[16];
    int rc;

    if ((rc = ctl_trend_parse(&a, argc, argv)) >= 0)
        return rc;
    if (a.home != NULL)
        return ctl_usage_error(cmd, "--home is not used with --url: the server has the site");
    snprintf(days, sizeof days, "%ld", a.days);
    if (query_add(q, sizeof q, "days", days) != 0 ||
        query_add(q, sizeof q, "topic_type", a.topic_type) != 0 ||
        query_add(q, sizeof q, "topic_id", a.topic_id) != 0 ||
        query_add(q, sizeof q, "group", a.group) != 0 ||
        query_add(q, sizeof q, "deployment", a.deployment) != 0)
        return ctl_usage_error(cmd, "arguments too long");
    snprintf(path, sizeof path, "/api/v1/compliance/trend%s", q);
    return get_and_print(r, cmd, path, a.fmt,
                         a.fmt == CTL_FORMAT_CSV ? ctl_print_trend_csv : ctl_print_trend_table);
}

/* deployment list|show: GET /api/v1/deployments (show picks its id). add
 * and remove change site configuration: only on the site, audited. */
static int
remote_deployment(const remote_t *r, int argc, char **argv)
{
    const unsigned formats = CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV;
    remote_opts_t o;
    cJSON *doc, *one = NULL, *d;
    int show, rc;

    if (argc < 2 || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "show") != 0))
        return ctl_usage_error("deployment", "with --url: list or show (add and remove run "
                               "on the site, where they are audited)");
    show = strcmp(argv[1], "show") == 0;
    if ((rc = parse_opts(&o, show ? "deployment show" : "deployment list", show ? "fI" : "f",
                         formats, argc - 1, argv + 1)) >= 0)
        return rc;
    if (show && o.id == NULL)
        return ctl_usage_error("deployment show", "--id ID is required");
    if (remote_call(&doc, r, argv[1][0] == 's' ? "deployment show" : "deployment list", "GET",
                    "/api/v1/deployments", NULL) != 0)
        return CTL_EXIT_FAIL;
    if (!show)
        return print_doc("deployment list", doc, o.fmt, o.fmt == CTL_FORMAT_CSV
                         ? ctl_deployment_print_list_csv : ctl_deployment_print_list_table);
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(doc, "deployments"))
        if (one == NULL && cJSON_IsString(cJSON_GetObjectItem(d, "id")) &&
            strcmp(cJSON_GetObjectItem(d, "id")->valuestring, o.id) == 0)
            one = cJSON_Duplicate(d, 1);
    cJSON_Delete(doc);
    if (one == NULL) {
        ctl_error("deployment show", "no deployment '%s' on the server: 'qsctl deployment "
                  "list' shows them", o.id);
        return CTL_EXIT_FAIL;
    }
    if (o.fmt == CTL_FORMAT_JSON)
        return print_doc("deployment show", one, o.fmt, NULL);
    doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "deployments", cJSON_CreateArray());
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "deployments"), one);
    return print_doc("deployment show", doc, o.fmt, o.fmt == CTL_FORMAT_CSV
                     ? ctl_deployment_print_list_csv : ctl_deployment_print_list_table);
}

/* compliance, stats, lookup, forget, verify: the store side. compliance,
 * stats and lookup print with the local commands' printers (remote_print.h);
 * forget and verify print their JSON answer. */
static int
remote_store_cmd(const remote_t *r, const char *cmd, int argc, char **argv)
{
    char path[2048] = "", q[2048] = "", *esc, *text;
    void (*printer)(const cJSON *) = NULL;
    remote_opts_t o;
    cJSON *body, *doc;
    int rc;

    if (strcmp(cmd, "compliance") == 0 && ctl_trend_wanted(argc, argv))
        return remote_trend(r, argc, argv);
    if (strcmp(cmd, "compliance") == 0) {
        if ((rc = parse_opts(&o, cmd, "ftigD", CTL_FORMAT_TABLE | CTL_FORMAT_JSON | CTL_FORMAT_CSV,
                             argc, argv)) >= 0)
            return rc;
        printer = o.fmt == CTL_FORMAT_CSV ? ctl_print_compliance_csv : ctl_print_compliance_table;
        if (o.deployment != NULL) {   /* docs/deployments.md */
            if (o.topic_type != NULL || o.topic_id != NULL)
                return ctl_usage_error(cmd, "--deployment takes its topic type and updates "
                                       "from the deployment: drop --topic-type and --topic-id");
            printer = o.fmt == CTL_FORMAT_CSV ? ctl_deployment_print_eval_csv
                                              : ctl_deployment_print_eval_table;
        }
        if (query_add(q, sizeof q, "topic_type", o.topic_type) != 0 ||
            query_add(q, sizeof q, "topic_id", o.topic_id) != 0 ||
            query_add(q, sizeof q, "group", o.group) != 0 ||
            query_add(q, sizeof q, "deployment", o.deployment) != 0)
            return ctl_usage_error(cmd, "arguments too long");
        snprintf(path, sizeof path, "/api/v1/compliance%s", q);
    } else if (strcmp(cmd, "stats") == 0) {
        if ((rc = parse_opts(&o, cmd, "f", CTL_FORMAT_TABLE | CTL_FORMAT_JSON, argc, argv)) >= 0)
            return rc;
        printer = ctl_print_stats_table;
        snprintf(path, sizeof path, "/api/v1/stats");
    } else if (strcmp(cmd, "verify") == 0) {
        if ((rc = parse_opts(&o, cmd, "f", CTL_FORMAT_JSON, argc, argv)) >= 0)
            return rc;
        snprintf(path, sizeof path, "/api/v1/verify");
    } else if (strcmp(cmd, "lookup") == 0) {
        if ((rc = parse_opts(&o, cmd, "fmdry", CTL_FORMAT_TABLE | CTL_FORMAT_JSON, argc,
                             argv)) >= 0)
            return rc;
        printer = ctl_print_lookup_table;
        if (o.machine == NULL || o.reason == NULL)
            return ctl_usage_error(cmd, "--machine NAME and --reason TEXT are required with --url");
        if (query_add(q, sizeof q, "reason", o.reason) != 0 ||
            query_add(q, sizeof q, "domain", o.domain) != 0 ||
            query_add(q, sizeof q, "history", o.history ? "1" : NULL) != 0)
            return ctl_usage_error(cmd, "arguments too long");
        esc = curl_easy_escape(NULL, o.machine, 0);
        if (esc == NULL)
            qs_fatal("out of memory");
        rc = snprintf(path, sizeof path, "/api/v1/machines/%s%s", esc, q);
        curl_free(esc);
        if (rc < 0 || (size_t)rc >= sizeof path)
            return ctl_usage_error(cmd, "arguments too long");
    } else {   /* forget */
        if ((rc = parse_opts(&o, cmd, "md", CTL_FORMAT_JSON, argc, argv)) >= 0)
            return rc;
        if (o.machine == NULL)
            return ctl_usage_error(cmd, "--machine NAME is required");
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "machine", o.machine);
        if (o.domain != NULL)
            cJSON_AddStringToObject(body, "domain", o.domain);
        text = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        rc = remote_call(&doc, r, cmd, "POST", "/api/v1/forget", text);
        free(text);
        return rc != 0 ? CTL_EXIT_FAIL : print_doc(cmd, doc, CTL_FORMAT_JSON, NULL);
    }
    return get_and_print(r, cmd, path, o.fmt, printer);
}

/* Global options; returns the index of the command, or -(exit code + 1). */
static int
parse_globals(remote_t *r, int argc, char **argv)
{
    int i = 1;

    r->url = getenv("QS_URL");
    r->token_file = getenv("QS_TOKEN_FILE");
    r->cacert = getenv("QS_CACERT");
    while (i < argc && strncmp(argv[i], "--", 2) == 0) {
        const char *opt = argv[i], *eq = strchr(opt, '='), *val;
        size_t nlen = eq ? (size_t)(eq - opt) : strlen(opt);
        if (strcmp(opt, "--help") == 0) {
            remote_usage(stdout);
            return -(CTL_EXIT_OK + 1);
        }
        val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (val == NULL || *val == '\0')
            return -(ctl_usage_error("qsctl", "%.*s needs a value", (int)nlen, opt) + 1);
        if (nlen == 5 && strncmp(opt, "--url", 5) == 0)
            r->url = val;
        else if (nlen == 12 && strncmp(opt, "--token-file", 12) == 0)
            r->token_file = val;
        else if (nlen == 8 && strncmp(opt, "--cacert", 8) == 0)
            r->cacert = val;
        else
            return -(ctl_usage_error("qsctl", "unknown global option '%.*s'", (int)nlen, opt) + 1);
        i++;
    }
    if (r->url == NULL || *r->url == '\0')
        return -(ctl_usage_error("qsctl", "--url URL (or QS_URL) is required") + 1);
    if (r->token_file == NULL || *r->token_file == '\0')
        return -(ctl_usage_error("qsctl", "--token-file FILE (or QS_TOKEN_FILE) is required "
                                 "with --url") + 1);
    if (i >= argc)
        return -(ctl_usage_error("qsctl", "needs a command after the global options") + 1);
    if (!is_remote_command(argv[i]))
        return -(ctl_usage_error("qsctl", "'%s' is not available with --url (remote commands: "
                                 "policy, audit, compliance, stats, lookup, forget, verify, "
                                 "deployment)",
                                 argv[i]) + 1);
    return i;
}

int
ctl_remote_main(int argc, char **argv)
{
    remote_t r;
    char errmsg[CTL_ERRMSG_BYTES];
    const char *cmd;
    int i, rc;

    memset(&r, 0, sizeof r);
    i = parse_globals(&r, argc, argv);
    if (i < 0)
        return -i - 1;
    cmd = argv[i];
    if (load_token(&r, errmsg, sizeof errmsg) != 0) {
        ctl_error(cmd, "%s", errmsg);
        if (r.token != NULL)
            sodium_free(r.token);
        return CTL_EXIT_FAIL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        qs_fatal("cannot initialise libcurl");
    if (strcmp(cmd, "policy") == 0)
        rc = remote_policy(&r, argc - i, argv + i);
    else if (strcmp(cmd, "audit") == 0)
        rc = remote_audit(&r, argc - i, argv + i);
    else if (strcmp(cmd, "deployment") == 0)
        rc = remote_deployment(&r, argc - i, argv + i);
    else
        rc = remote_store_cmd(&r, cmd, argc - i, argv + i);
    curl_global_cleanup();
    sodium_free(r.token);
    return rc;
}
