/* main.c - qsctl: the administrator's, operator's and privacy officer's tool.
 *
 * Dispatches to one cmd_<name>() per sub-command (see qs_ctl.h).
 */
#include "ctl_group.h"
#include "qs_ctl.h"
#include "qs_log.h"
#include "remote.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    { "init", cmd_init, "create a site home with keys and quietstate.conf" },
    { "enroll", cmd_enroll, "enroll a client and write its profile" },
    { "revoke", cmd_revoke, "revoke a client (effective without restarts)" },
    { "policy", cmd_policy, "set, show or list the privacy policy" },
    { "compliance", cmd_compliance, "fleet compliance per update and state" },
    { "group", cmd_group, "add, remove or list groups of machines (collections)" },
    { "lookup", cmd_lookup, "one machine's current states or retained events" },
    { "stats", cmd_stats, "stored, duplicate and rejected counts" },
    { "audit", cmd_audit, "show or verify the audit log" },
    { "forget", cmd_forget, "erase one machine's data" },
    { "resync", cmd_resync, "ask one machine or the fleet to re-send its state" },
    { "import", cmd_import, "import a state-message export of the model system (CSV)" },
    { "verify", cmd_verify, "check that no expired data or identifier is left" },
    { "migrate", cmd_migrate, "copy the SQLite store into PostgreSQL, then switch to it" },
    { "user", cmd_user, "add, list or remove the users of qs-web (the HTTP API)" },
    { "deployment", cmd_deployment, "add, list, show or remove deployments with deadlines" },
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: qsctl COMMAND --home DIR [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'qsctl COMMAND --help' for a command's options.\n"
                 "The site home may also be given as QS_HOME.\n"
                 "\nRemote (through qs-web, docs/api.md), without the site home:\n"
                 "  qsctl --url URL --token-file FILE [--cacert FILE] COMMAND [options]\n"
                 "  (or QS_URL, QS_TOKEN_FILE, QS_CACERT) for compliance, stats, lookup,\n"
                 "  policy, audit, forget and verify.\n");
}

int
main(int argc, char **argv)
{
    qs_log_init("qsctl", -1);
    if (sodium_init() < 0) {
        fprintf(stderr, "qsctl: cannot initialise libsodium\n");
        return 1;
    }
    if (ctl_remote_wanted(argc, argv))   /* qsctl --url URL ...: see remote.h */
        return ctl_remote_main(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "qsctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
