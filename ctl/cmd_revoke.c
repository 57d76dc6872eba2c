/* cmd_revoke.c - qsctl revoke: cut a client off, without restarting anything.
 *
 * Marks every unrevoked key enrolled under the name's pseudonym as revoked
 * in site.db and writes a "revoke" audit entry in the same transaction. The
 * broker and the store poll site.db (PRAGMA data_version) and reload their
 * key sets: the broker refuses the key at its next handshake and drops its
 * messages on live connections within about a second; the store refuses
 * anything from it that still arrives. The change and its entry are
 * qs_revoke_client_tx (qs_enroll.h), as for qs-web's DELETE /api/v1/clients.
 *
 * --forget decommissions: the revoke, then, once running stores have had
 * the time to reload their key sets (REVOKE_SETTLE_MS; a message they
 * accepted before would otherwise be stored after the erasure), the
 * machine's data erased as qsctl forget does (cmd_forget.h), the name
 * being the machine's. Two audit entries, "revoke" and "forget", one
 * command.
 */
#include "cmd_forget.h"
#include "ctl_common.h"
#include "qs_ctl.h"
#include "qs_enroll.h"
#include "qs_log.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

#define CMD "revoke"

/* Twice the key-set reload of the broker and the store (about a second). */
#define REVOKE_SETTLE_MS 2000

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl revoke --home DIR --name NAME [--forget] [--as NAME]\n"
        "                    [--format table|json]\n"
        "\n"
        "Revoke a client's key. Takes effect within about a second in running\n"
        "brokers and stores; no restart needed. Exits 1 if no unrevoked client\n"
        "has that name.\n"
        "\n"
        "  --home DIR    site home (default $QS_HOME)\n"
        "  --name NAME   the name the client was enrolled with (case-insensitive)\n"
        "  --forget      decommission: after the revoke (and 2 s for running stores\n"
        "                to drop the key), erase the machine NAME's data as\n"
        "                'qsctl forget --machine NAME' does; both are audited\n"
        "  --as NAME     who revokes, for the audit log (beside the OS user)\n"
        "  --format table|json  output format (default table)\n"
        "  --help        show this help\n");
}

/* What was done: text, or {"revoked": NAME, "keys": N, "name_pseudonym":
 * PREFIX[, "forget": the forget's audit detail]}. forgot may be NULL. */
static void
print_done(ctl_format_t fmt, const char *name, int n_revoked, const char *ps_hex,
           const ctl_forgot_t *forgot, qs_storedb_engine_t engine)
{
    cJSON *doc;

    if (fmt == CTL_FORMAT_JSON) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "revoked", name);
        cJSON_AddNumberToObject(doc, "keys", n_revoked);
        cJSON_AddStringToObject(doc, "name_pseudonym", ps_hex);
        if (forgot != NULL && forgot->detail != NULL)
            cJSON_AddItemToObject(doc, "forget", cJSON_Duplicate(forgot->detail, 1));
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return;
    }
    printf("revoked client '%s' (%d key%s, name pseudonym %s…)\n", name, n_revoked,
           n_revoked == 1 ? "" : "s", ps_hex);
    if (forgot != NULL && forgot->detail != NULL)
        ctl_forget_print(forgot, engine);
    else
        printf("running brokers and stores refuse it within about a second; no restart "
               "needed\n");
}

/* --forget's second step: erase the machine named name; the exit code. */
static int
forget_machine(ctl_site_t *site, const char *actor, const char *name, ctl_forgot_t *forgot)
{
    struct timespec settle = { REVOKE_SETTLE_MS / 1000, (REVOKE_SETTLE_MS % 1000) * 1000000L };
    qs_machine_ps_t who;
    int rc;

    while (nanosleep(&settle, &settle) != 0)
        ;
    if (qs_pseudonym_machine(&who, site->site_key, name, NULL) != 0) {
        ctl_error(CMD, "the key is revoked, but '%s' cannot be a machine name; erase its "
                  "data with qsctl forget --machine", name);
        return CTL_EXIT_FAIL;
    }
    rc = ctl_forget_audited(site, CMD, actor, &who, forgot);
    qs_machine_ps_wipe(&who);
    return rc;
}

int
cmd_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "name", required_argument, NULL, 'n' },
        { "forget", no_argument, NULL, 'F' },
        { "as", required_argument, NULL, 'a' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL, *name = NULL, *as = NULL;
    ctl_forgot_t forgot = { .detail = NULL };
    int forget = 0;
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
        case 'F': forget = 1; break;
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

    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_SITE_KEY | CTL_OPEN_AUDIT_KEY |
                      (forget ? CTL_OPEN_STOREDB : 0), errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0 ||
        qs_revoke_client_tx(&n_revoked, ps_hex, site.tx, site.sitedb, site.site_key, actor,
                            ctl_site_now(&site), name, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    rc = forget ? forget_machine(&site, actor, name, &forgot) : CTL_EXIT_OK;
    print_done(fmt, name, n_revoked, ps_hex, forget ? &forgot : NULL,
               forget ? qs_storedb_engine(site.storedb) : QS_STOREDB_SQLITE);
    if (rc == CTL_EXIT_OK)
        rc = ctl_output_done(CMD);
    goto out;
fail:
    ctl_error(CMD, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    cJSON_Delete(forgot.detail);
    ctl_site_close(&site);
    return rc;
}
