/* cmd_revoke.c - qsctl revoke: cut a client off, without restarting anything.
 *
 * Marks every unrevoked key enrolled under the name's pseudonym as revoked
 * in site.db and writes a "revoke" audit entry in the same transaction. The
 * broker and the store poll site.db (PRAGMA data_version) and reload their
 * key sets: the broker refuses the key at its next handshake and drops its
 * messages on live connections within about a second; the store refuses
 * anything from it that still arrives.
 */
#include "ctl_common.h"
#include "qs_ctl.h"
#include "qs_hex.h"
#include "qs_log.h"
#include "qs_pseudonym.h"

#include <getopt.h>
#include <string.h>

#define CMD "revoke"
#define REVOKE_PREFIX_BYTES 8u

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl revoke --home DIR --name NAME\n"
        "\n"
        "Revoke a client's key. Takes effect within about a second in running\n"
        "brokers and stores; no restart needed. Exits 1 if no unrevoked client\n"
        "has that name.\n"
        "\n"
        "  --home DIR    site home (default $QS_HOME)\n"
        "  --name NAME   the name the client was enrolled with (case-insensitive)\n"
        "  --help        show this help\n");
}

int
cmd_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "name", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL, *name = NULL;
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_MAX_ACTOR_BYTES + 1];
    char ps_hex[2 * REVOKE_PREFIX_BYTES + 1];
    uint8_t ps[QS_PSEUDONYM_BYTES];
    ctl_site_t site;
    cJSON *detail = NULL;
    int c, n_revoked = 0, rc;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 'n': name = optarg; break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (name == NULL)
        return ctl_usage_error(CMD, "--name NAME is required");
    if (ctl_name_check(name, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);

    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_SITE_KEY | CTL_OPEN_AUDIT_KEY,
                      errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_actor(actor, sizeof actor, NULL, errmsg, sizeof errmsg) != 0)
        goto fail;
    qs_pseudonym(ps, site.site_key, QS_PSEUDO_CLIENT, name);
    qs_hex_encode(ps_hex, sizeof ps_hex, ps, REVOKE_PREFIX_BYTES);
    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    if (qs_sitedb_revoke(site.sitedb, ps, ctl_site_now(&site), &n_revoked) != 0) {
        snprintf(errmsg, sizeof errmsg, "cannot revoke in '%s': %s", site.paths.site_db,
                 qs_sitedb_errmsg(site.sitedb));
        goto fail;
    }
    if (n_revoked == 0) {
        snprintf(errmsg, sizeof errmsg, "no enrolled, unrevoked client is named '%s' "
                 "(names match case-insensitively); nothing was changed", name);
        goto fail;
    }
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "name_ps", ps_hex);
    cJSON_AddNumberToObject(detail, "keys", n_revoked);
    if (ctl_site_audit(&site, actor, "revoke", detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    printf("revoked client '%s' (%d key%s, name pseudonym %s…)\n", name, n_revoked,
           n_revoked == 1 ? "" : "s", ps_hex);
    printf("running brokers and stores refuse it within about a second; no restart needed\n");
    rc = ctl_output_done(CMD);
    goto out;
fail:
    ctl_error(CMD, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    cJSON_Delete(detail);
    ctl_site_close(&site);
    return rc;
}
