/* cmd_simulate.c - qs-producer simulate, and the option parsers every delivering sub-command shares.
 *
 * simulate drives a whole simulated fleet (simulate.c) from the site's home;
 * flush, run and simulate take --batch and --failover-ms with the same
 * rules, parsed here once.
 */
#include "commands.h"
#include "sender.h"
#include "simulate.h"

#include "qs_limits.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage_errorf(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_errorf(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "qs-producer %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'qs-producer %s --help'\n", cmd);
    return 2;
}

int
qs_cmd_parse_u64(uint64_t *out, const char *s, uint64_t min, uint64_t max)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
qs_cmd_parse_batch(size_t *batch, const char *cmd, const char *arg)
{
    uint64_t v;

    if (qs_cmd_parse_u64(&v, arg, 1, QS_MAX_BATCH_MESSAGES) != 0) {
        usage_errorf(cmd, "--batch: '%s' is not a number from 1 to 1000", arg);
        return -1;
    }
    *batch = (size_t)v;
    return 0;
}

/* --failover-ms MS: several brokers (sender.h). */
int
qs_cmd_parse_failover(int *ms, const char *cmd, const char *arg)
{
    uint64_t v;

    if (qs_cmd_parse_u64(&v, arg, QS_SENDER_FAILOVER_MIN_MS, QS_SENDER_FAILOVER_MAX_MS) != 0) {
        usage_errorf(cmd, "--failover-ms: '%s' is not a number from %d to %d", arg,
                    QS_SENDER_FAILOVER_MIN_MS, QS_SENDER_FAILOVER_MAX_MS);
        return -1;
    }
    *ms = (int)v;
    return 0;
}

static const char usage_simulate[] =
    "usage: qs-producer simulate --home DIR --clients N --messages M [--batch B]\n"
    "           [--timeout SEC] [--format text|json] [--failover-ms MS]\n"
    "\n"
    "Enroll N simulated clients (sim-00001 ...) in the site, spread M generated\n"
    "update-detection messages over them and deliver them all, through broker and\n"
    "store restarts. A second run with the same N and M resumes (DIR/sim/state.db).\n"
    "\n"
    "  --home DIR         site home (default: $QS_HOME)\n"
    "  --clients N        simulated clients, 1..99999\n"
    "  --messages M       messages in all\n"
    "  --batch B          messages per batch, 1..1000 (default 100)\n"
    "  --timeout SEC      give up after SEC seconds (default 600)\n"
    "  --format json      print {clients, messages, acked, rejected, elapsed_s,\n"
    "                     msgs_per_s, expected_latest} on stdout\n"
    "  --failover-ms MS   with several brokers in [broker] frontend: as for flush\n"
    "\n"
    "exit status: 0 when every message is acked, 1 on timeout or failure,\n"
    "2 usage error\n";

int
qs_cmd_simulate(volatile sig_atomic_t *stop, int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "clients", required_argument, NULL, 'c' },
        { "messages", required_argument, NULL, 'm' },
        { "batch", required_argument, NULL, 'b' },
        { "timeout", required_argument, NULL, 't' },
        { "format", required_argument, NULL, 'f' },
        { "failover-ms", required_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    qs_simulate_opts_t o = { 0 };
    uint64_t v;
    int c, have_clients = 0, have_messages = 0;

    o.stop = stop;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H': o.home = optarg; break;
        case 'c':
            if (qs_cmd_parse_u64(&v, optarg, 1, 99999) != 0)
                return usage_errorf("simulate", "--clients: '%s' is not a number from 1 to "
                                   "99999", optarg);
            o.clients = (uint32_t)v;
            have_clients = 1;
            break;
        case 'm':
            if (qs_cmd_parse_u64(&v, optarg, 0, (uint64_t)1 << 40) != 0)
                return usage_errorf("simulate", "--messages: '%s' is not a number", optarg);
            o.messages = v;
            have_messages = 1;
            break;
        case 'b':
            if (qs_cmd_parse_batch(&o.batch, "simulate", optarg) != 0)
                return 2;
            break;
        case 't':
            if (qs_cmd_parse_u64(&v, optarg, 1, 30 * 86400) != 0)
                return usage_errorf("simulate", "--timeout: '%s' is not a number of seconds",
                                   optarg);
            o.timeout_s = (int)v;
            break;
        case 'f':
            if (strcmp(optarg, "json") == 0)
                o.json = 1;
            else if (strcmp(optarg, "text") == 0)
                o.json = 0;
            else
                return usage_errorf("simulate", "--format: '%s' is not text or json", optarg);
            break;
        case 'F':
            if (qs_cmd_parse_failover(&o.failover_ms, "simulate", optarg) != 0)
                return 2;
            break;
        case 'h': fputs(usage_simulate, stdout); return 0;
        default: return usage_errorf("simulate", "%s", "unknown option or missing argument");
        }
    }
    if (optind < argc)
        return usage_errorf("simulate", "unexpected argument '%s'", argv[optind]);
    if (!have_clients || !have_messages)
        return usage_errorf("simulate", "%s", "--clients N and --messages M are required");
    if (o.home == NULL && getenv("QS_HOME") == NULL)
        return usage_errorf("simulate", "%s", "--home DIR is required (or set QS_HOME)");
    return qs_simulate_run(&o) == 0 ? 0 : 1;
}
