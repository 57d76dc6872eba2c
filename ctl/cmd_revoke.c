/* cmd_revoke.c - qsctl revoke: cut a client off, without restarting anything.
 *
 * Marks every unrevoked key enrolled under the name's pseudonym as revoked
 * in site.db and writes a "revoke" audit entry in the same transaction. The
 * broker and the store poll site.db (PRAGMA data_version) and reload their
 * key sets: the broker refuses the key at its next handshake and drops its
 * messages on live connections within about a second; the store refuses
 * anything from it that still arrives. The change and its entry are
 * qs_revoke_client_tx (qs_enroll.h), as for qs-web's DELETE /api/v1/clients.
 */
#include "ctl_common.h"
#include "qs_ctl.h"
#include "qs_enroll.h"
#include "qs_log.h"

#include <getopt.h>
#include <string.h>

#define CMD "revoke"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl revoke --home DIR --name NAME [--as NAME] [--format table|json]\n"
        "\n"
        "Revoke a client's key. Takes effect within about a second in running\n"
        "brokers and stores; no restart needed. Exits 1 if no unrevoked client\n"
        "has that name.\n"
        "\n"
        "  --home DIR    site home (default $QS_HOME)\n"
        "  --name NAME   the name the client was enrolled with (case-insensitive)\n"
        "  --as NAME     who revokes, for the audit log (beside the OS user)\n"
        "  --format table|json  output format (default table)\n"
        "  --help        show this help\n");
}

/* What was done: text, or {"revoked": NAME, "keys": N, "name_pseudonym": PREFIX}. */
static void
print_done(ctl_format_t fmt, const char *name, int n_revoked, const char *ps_hex)
{
    cJSON *doc;

    if (fmt == CTL_FORMAT_JSON) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "revoked", name);
        cJSON_AddNumberToObject(doc, "keys", n_revoked);
        cJSON_AddStringToObject(doc, "name_pseudonym", ps_hex);
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return;
    }
    printf("revoked client '%s' (%d key%s, name pseudonym %s…)\n", name, n_revoked,
           n_revoked == 1 ? "" : "s", ps_hex);
    printf("running brokers and stores refuse it within about a second; no restart needed\n");
}

int
cmd_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "name", required_argument, NULL, 'n' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL, *name = NULL, *as = NULL;
    ctl_format_t fmt = CTL_FORMAT_TABLE;
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    char ps_hex[QS_ENROLL_PREFIX_CHARS + 1];
    ctl_site_t site;
    int c, n_revoked = 0, rc;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 'n': name = optarg; break;
        case 'a': as = optarg; break;
        case 'f':
            if (ctl_format_parse(&fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
                return ctl_usage_error(CMD, "--format must be table or json");
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (name == NULL)
        return ctl_usage_error(CMD, "--name NAME is required");
    if (ctl_name_check(name, errmsg, sizeof errmsg) != 0 ||
        ctl_actor(actor, sizeof actor, as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    if (ctl_home_missing(CMD, home))
        return CTL_EXIT_USAGE;

    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_SITE_KEY | CTL_OPEN_AUDIT_KEY,
                      errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0 ||
        qs_revoke_client_tx(&n_revoked, ps_hex, site.tx, site.sitedb, site.site_key, actor,
                            ctl_site_now(&site), name, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    print_done(fmt, name, n_revoked, ps_hex);
    rc = ctl_output_done(CMD);
    goto out;
fail:
    ctl_error(CMD, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    ctl_site_close(&site);
    return rc;
}
