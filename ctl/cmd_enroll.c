/* cmd_enroll.c - qsctl enroll: give a client a key pair and write its profile.
 *
 * A fresh X25519 key pair is enrolled in site.db under the pseudonym of the
 * client's name (QS_PSEUDO_CLIENT, keyed with keys/site.key: the raw name is
 * never stored), and the profile - client key pair, the broker frontend from
 * quietstate.conf, the broker and store public keys - is written 0600 by
 * qs_profile_write, the writer of the format qs-producer reads. The
 * enrollment, the profile and the "enroll" audit entry (name pseudonym and
 * key prefixes only) succeed or fail together: qs_enroll_client (common/
 * qs_enroll.h) does all of it; this file parses flags and prints.
 */
#include "ctl_common.h"
#include "ctl_group.h"
#include "qs_config.h"
#include "qs_ctl.h"
#include "qs_enroll.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_store_adopt.h"

#include <getopt.h>
#include <string.h>

#define CMD "enroll"

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl enroll --home DIR --name NAME --out PROFILE [--machine MACHINE]\n"
        "                    [--replace] [--as NAME] [--group G ...] [--format table|json]\n"
        "\n"
        "Enroll a client: make its key pair, allow it in site.db and write its\n"
        "profile (mode 0600: it holds the client's secret key).\n"
        "\n"
        "  --home DIR      site home (default $QS_HOME)\n"
        "  --name NAME     the client's name (stored only as a keyed pseudonym;\n"
        "                  matched case-insensitively)\n"
        "  --out PROFILE   profile file to create; never overwritten\n"
        "  --machine MACHINE  bind the key to this machine: the store refuses its\n"
        "                  messages naming another machine (MACHINE_MISMATCH), keeps\n"
        "                  an empty machine field as this one, and the key takes over\n"
        "                  the machine's state kept under earlier keys\n"
        "  --replace       NAME is enrolled: revoke its key and enroll the new one in\n"
        "                  one step (audited once); the machine's state continues\n"
        "  --as NAME       who enrolls, for the audit log (beside the OS user)\n"
        "  --group G       then add the machine NAME to group G (repeatable; each\n"
        "                  group must exist: qsctl group add --name G)\n"
        "  --format table|json  output format (default table)\n"
        "  --help          show this help\n"
        "\n"
        "A name that is already enrolled is refused unless --replace is given\n"
        "(or revoke it first: qsctl revoke --name NAME). With --replace and no\n"
        "--machine, the new key is bound to the replaced key's machine: the one\n"
        "it was enrolled for, or else the one machine it reported (store).\n");
}

/* Warn when the frontend is a wildcard bind address a client cannot dial. */
static void
warn_wildcard(const char *endpoint)
{
    if (strstr(endpoint, "://*") != NULL || strstr(endpoint, "://0.0.0.0") != NULL ||
        strstr(endpoint, "://[::]") != NULL)
        ctl_error(CMD, "warning: the profile's endpoint '%s' is the broker's bind address; "
                  "edit 'endpoint' in the profile to an address the client can reach",
                  endpoint);
}

struct enroll_args {
    const char *home, *name, *out, *as, *machine;
    const char *groups[CTL_ENROLL_MAX_GROUPS];   /* --group: docs/groups.md */
    size_t n_groups;
    int replace;
    ctl_format_t fmt;
};

/* What was done, as text or as {"enrolled", "profile", "key", "name_pseudonym",
 * "endpoint"} (prefixes only, as in the audit entry). */
static void
print_done(const struct enroll_args *a, const qs_enroll_ids_t *ids, const char *endpoint)
{
    cJSON *doc;

    if (a->fmt == CTL_FORMAT_JSON) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "enrolled", a->name);
        cJSON_AddStringToObject(doc, "profile", a->out);
        cJSON_AddStringToObject(doc, "key", ids->key);
        cJSON_AddStringToObject(doc, "name_pseudonym", ids->name_ps);
        cJSON_AddStringToObject(doc, "endpoint", endpoint);
        if (ids->machine_ps[0] != '\0')
            cJSON_AddStringToObject(doc, "machine_pseudonym", ids->machine_ps);
        cJSON_AddBoolToObject(doc, "replaced", ids->replaced);
        if (ctl_json_print(doc) != 0)
            qs_fatal("out of memory printing JSON");
        return;
    }
    printf("enrolled client '%s' (key %s…, name pseudonym %s…)\n", a->name, ids->key,
           ids->name_ps);
    if (ids->replaced)
        printf("replaced: the name's earlier key is revoked; the machine's state continues "
               "under the new key\n");
    if (ids->machine_ps[0] != '\0')
        printf("bound to machine pseudonym %s…: messages naming another machine are "
               "refused\n", ids->machine_ps);
    printf("profile written to '%s' (mode 0600): it holds the client's secret key, so hand "
           "it over securely\n", a->out);
    printf("endpoint in the profile: %s\n", endpoint);
    printf("on the client: qs-producer --profile %s --outbox FILE run\n", a->out);
}

/* --replace without --machine, of a key site.db binds to no machine (one
 * enrolled before machines were bound): the machine it reported, from
 * store.db, so that the machine's state continues under the new key. 1
 * with machine_ps set, or 0 (nothing to bind: a warning says why). */
static int
replaced_machine(uint8_t machine_ps[QS_PSEUDONYM_BYTES], ctl_site_t *site, const char *name)
{
    uint8_t name_ps[QS_PSEUDONYM_BYTES], pk[QS_KEY_BYTES];
    char errmsg[CTL_ERRMSG_BYTES];
    int found = 0, n = 0;

    qs_pseudonym(name_ps, site->site_key, QS_PSEUDO_CLIENT, name);
    if (qs_sitedb_machine_of_name(machine_ps, &found, site->sitedb, name_ps) != 0 || found ||
        qs_sitedb_key_of_name(pk, &found, site->sitedb, name_ps) != 0 || !found)
        return 0;   /* bound in site.db (enroll.c inherits it), or nothing to replace */
    /* Opened only here: a plain enroll does not need the store. */
    if (site->storedb == NULL)
        site->storedb = qs_storedb_open_site(site->paths.conf, site->paths.store_db,
                                             site->paths.home, 0, errmsg, sizeof errmsg);
    if (site->storedb == NULL ||
        qs_store_reported_machine(machine_ps, &n, site->storedb, pk, errmsg,
                                  sizeof errmsg) != 0) {
        ctl_error(CMD, "warning: cannot read the replaced key's machine from the store (%s): "
                  "the new key is bound to no machine; give --machine to bind it", errmsg);
        return 0;
    }
    if (n > 1)
        ctl_error(CMD, "warning: the replaced key reported several machines: the new key is "
                  "bound to none; give --machine to bind it");
    return n == 1;
}

static int
enroll(const struct enroll_args *a)
{
    uint8_t reported_ps[QS_PSEUDONYM_BYTES];
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    uint8_t broker_pk[QS_KEY_BYTES], store_pk[QS_KEY_BYTES];
    qs_enroll_site_t es;
    qs_enroll_ids_t ids;
    qs_config_t cfg;
    ctl_site_t site;
    int rc = CTL_EXIT_FAIL, joined;

    if (ctl_site_open(&site, a->home, CTL_OPEN_SITEDB | CTL_OPEN_SITE_KEY | CTL_OPEN_AUDIT_KEY |
                      (a->n_groups ? CTL_OPEN_STOREDB : 0), errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_actor(actor, sizeof actor, a->as, errmsg, sizeof errmsg) != 0 ||
        qs_config_load(&cfg, site.paths.conf, errmsg, sizeof errmsg) != 0 ||
        qs_pubkey_load(broker_pk, site.paths.broker_pub, errmsg, sizeof errmsg) != 0 ||
        qs_pubkey_load(store_pk, site.paths.store_pub, errmsg, sizeof errmsg) != 0 ||
        ctl_group_check(&site, a->groups, a->n_groups, errmsg, sizeof errmsg) != 0)
        goto fail;
    es = (qs_enroll_site_t){
        .db = site.sitedb, .site_key = site.site_key, .audit_key = site.audit_key,
        .audit_head = site.paths.audit_head, .actor = actor, .now_ms = ctl_site_now(&site),
        .endpoint = cfg.frontend, .broker_pk = broker_pk, .store_pk = store_pk,
        .machine = a->machine, .replace = a->replace,
    };
    if (a->replace && a->machine == NULL && replaced_machine(reported_ps, &site, a->name))
        es.machine_ps = reported_ps;
    if (qs_enroll_client(&ids, &es, a->name, a->out, errmsg, sizeof errmsg) != 0)
        goto fail;
    joined = ctl_group_join(&site, actor, a->name, a->groups, a->n_groups, errmsg,
                            sizeof errmsg);
    print_done(a, &ids, cfg.frontend);
    warn_wildcard(cfg.frontend);
    rc = ctl_output_done(CMD);
    if (joined != 0) {
        ctl_error(CMD, "enrolled, but not added to every group: %s", errmsg);
        rc = CTL_EXIT_FAIL;
    }
    goto out;
fail:
    ctl_error(CMD, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    ctl_site_close(&site);
    return rc;
}

int
cmd_enroll(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "name", required_argument, NULL, 'n' },
        { "out", required_argument, NULL, 'o' },
        { "as", required_argument, NULL, 'a' },
        { "machine", required_argument, NULL, 'm' },
        { "replace", no_argument, NULL, 'r' },
        { "format", required_argument, NULL, 'f' },
        { "group", required_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct enroll_args a = { .fmt = CTL_FORMAT_TABLE };
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_ACTOR_BYTES];
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': a.home = optarg; break;
        case 'n': a.name = optarg; break;
        case 'o': a.out = optarg; break;
        case 'a': a.as = optarg; break;
        case 'g':
            if (a.n_groups == CTL_ENROLL_MAX_GROUPS)
                return ctl_usage_error(CMD, "at most %d --group options", CTL_ENROLL_MAX_GROUPS);
            a.groups[a.n_groups++] = optarg;
            break;
        case 'm': a.machine = optarg; break;
        case 'r': a.replace = 1; break;
        case 'f':
            if (ctl_format_parse(&a.fmt, optarg, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
                return ctl_usage_error(CMD, "--format must be table or json");
            break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (a.name == NULL)
        return ctl_usage_error(CMD, "--name NAME is required");
    if (a.out == NULL || *a.out == '\0')
        return ctl_usage_error(CMD, "--out PROFILE is required");
    if (a.machine != NULL &&
        qs_client_name_check(a.machine, "--machine", errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    if (ctl_name_check(a.name, errmsg, sizeof errmsg) != 0 ||
        ctl_actor(actor, sizeof actor, a.as, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
    if (ctl_home_missing(CMD, a.home))
        return CTL_EXIT_USAGE;
    return enroll(&a);
}
