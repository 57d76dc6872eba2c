/* cmd_enroll.c - qsctl enroll: give a client a key pair and write its profile.
 *
 * A fresh X25519 key pair is enrolled in site.db under the pseudonym of the
 * client's name (QS_PSEUDO_CLIENT, keyed with keys/site.key: the raw name is
 * never stored), and the profile - client key pair, the broker frontend from
 * quietstate.conf, the broker and store public keys - is written 0600 by the
 * producer's own writer (qs_profile_write), so that qs-producer reads back
 * exactly what was written. The enrollment, the profile and the "enroll"
 * audit entry (name pseudonym and key prefixes only) succeed or fail
 * together: the profile path is reserved with O_EXCL first (an existing
 * file is never overwritten) and removed again if the transaction fails.
 */
#include "ctl_common.h"
#include "qs_config.h"
#include "qs_ctl.h"
#include "qs_hex.h"
#include "qs_keys.h"
#include "qs_log.h"
#include "qs_pseudonym.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include("profile.h")
#include "profile.h"
#define CTL_HAVE_PROFILE 1
#endif
#endif

#define CMD "enroll"
#define ENROLL_PREFIX_BYTES 8u   /* 16 hex characters in the audit entry */

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl enroll --home DIR --name NAME --out PROFILE\n"
        "\n"
        "Enroll a client: make its key pair, allow it in site.db and write its\n"
        "profile (mode 0600: it holds the client's secret key).\n"
        "\n"
        "  --home DIR      site home (default $QS_HOME)\n"
        "  --name NAME     the client's name (stored only as a keyed pseudonym;\n"
        "                  matched case-insensitively)\n"
        "  --out PROFILE   profile file to create; never overwritten\n"
        "  --help          show this help\n"
        "\n"
        "A name that is already enrolled is refused: revoke it first\n"
        "(qsctl revoke --name NAME), then enroll again to issue a new key.\n");
}

#ifdef CTL_HAVE_PROFILE
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

static int
enroll(const char *home, const char *name, const char *out)
{
    char errmsg[CTL_ERRMSG_BYTES], actor[CTL_MAX_ACTOR_BYTES + 1];
    char ps_hex[2 * ENROLL_PREFIX_BYTES + 1], key_hex[2 * ENROLL_PREFIX_BYTES + 1];
    uint8_t ps[QS_PSEUDONYM_BYTES], broker_pk[QS_KEY_BYTES], store_pk[QS_KEY_BYTES];
    qs_keypair_t *kp = NULL;
    qs_config_t cfg;
    ctl_site_t site;
    cJSON *detail = NULL;
    int reserved = 0, fd, rc = CTL_EXIT_FAIL;

    if (ctl_site_open(&site, home, CTL_OPEN_SITEDB | CTL_OPEN_SITE_KEY | CTL_OPEN_AUDIT_KEY,
                      errmsg, sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_actor(actor, sizeof actor, NULL, errmsg, sizeof errmsg) != 0 ||
        qs_config_load(&cfg, site.paths.conf, errmsg, sizeof errmsg) != 0 ||
        qs_pubkey_load(broker_pk, site.paths.broker_pub, errmsg, sizeof errmsg) != 0 ||
        qs_pubkey_load(store_pk, site.paths.store_pub, errmsg, sizeof errmsg) != 0)
        goto fail;
    kp = qs_keypair_generate();
    if (kp == NULL) {
        snprintf(errmsg, sizeof errmsg, "cannot allocate locked memory for the client key "
                 "(check 'ulimit -l')");
        goto fail;
    }
    qs_pseudonym(ps, site.site_key, QS_PSEUDO_CLIENT, name);
    qs_hex_encode(ps_hex, sizeof ps_hex, ps, ENROLL_PREFIX_BYTES);
    qs_hex_encode(key_hex, sizeof key_hex, qs_keypair_public(kp), ENROLL_PREFIX_BYTES);

    if (ctl_site_begin(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    if (qs_sitedb_enroll(site.sitedb, ps, qs_keypair_public(kp), ctl_site_now(&site), errmsg,
                         sizeof errmsg) != 0)
        goto fail;
    /* Reserve the path: O_EXCL fails on any existing file or symlink. */
    fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(errmsg, sizeof errmsg, errno == EEXIST
                 ? "'%s' already exists: enroll never overwrites a profile; choose another "
                   "--out or move the file away"
                 : "cannot create '%s': %s", out, strerror(errno));
        goto fail;
    }
    close(fd);
    reserved = 1;
    if (qs_profile_write(out, name, kp, cfg.frontend, broker_pk, store_pk, errmsg,
                         sizeof errmsg) != 0)
        goto fail;
    detail = cJSON_CreateObject();
    cJSON_AddStringToObject(detail, "name_ps", ps_hex);
    cJSON_AddStringToObject(detail, "key", key_hex);
    if (ctl_site_audit(&site, actor, "enroll", detail, errmsg, sizeof errmsg) != 0 ||
        ctl_site_commit(&site, errmsg, sizeof errmsg) != 0)
        goto fail;
    reserved = 0;
    printf("enrolled client '%s' (key %s…, name pseudonym %s…)\n", name, key_hex, ps_hex);
    printf("profile written to '%s' (mode 0600): it holds the client's secret key, so hand "
           "it over securely\n", out);
    printf("endpoint in the profile: %s\n", cfg.frontend);
    printf("on the client: qs-producer --profile %s --outbox FILE run\n", out);
    warn_wildcard(cfg.frontend);
    rc = ctl_output_done(CMD);
    goto out;
fail:
    ctl_error(CMD, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    if (reserved && unlink(out) != 0 && errno != ENOENT)
        ctl_error(CMD, "cannot remove '%s' after the failure: %s; remove it by hand", out,
                  strerror(errno));
    cJSON_Delete(detail);
    qs_keypair_destroy(&kp);
    ctl_site_close(&site);
    return rc;
}
#endif

int
cmd_enroll(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "name", required_argument, NULL, 'n' },
        { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL, *name = NULL, *out = NULL;
    char errmsg[CTL_ERRMSG_BYTES];
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 'n': name = optarg; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (name == NULL)
        return ctl_usage_error(CMD, "--name NAME is required");
    if (out == NULL || *out == '\0')
        return ctl_usage_error(CMD, "--out PROFILE is required");
    if (ctl_name_check(name, errmsg, sizeof errmsg) != 0)
        return ctl_usage_error(CMD, "%s", errmsg);
#ifdef CTL_HAVE_PROFILE
    return enroll(home, name, out);
#else
    (void)home;
    ctl_error(CMD, "not available in this build: the profile writer (qs_producer_lib) "
              "was not built");
    return CTL_EXIT_FAIL;
#endif
}
