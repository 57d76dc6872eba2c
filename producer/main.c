/* main.c - qs-producer: record state messages on an endpoint and deliver them.
 *
 *   qs-producer --profile P --outbox F report --topic-type T --topic-id ID --state S ...
 *   qs-producer --profile P --outbox F flush [--timeout SEC]
 *   qs-producer --profile P --outbox F run
 *   qs-producer simulate --home DIR --clients N --messages M
 *
 * One function per sub-command; each parses its own flags with getopt_long
 * (the global --profile/--outbox may also follow the sub-command). `report`
 * validates with the same qs_message_validate the store runs, so a message
 * the store would refuse is refused here, naming the flag. flush and run
 * drive one qs_sender_t from a zmq_poll loop; simulate drives thousands
 * (simulate.c). The only process-wide state is the signal flag below.
 * Exit status: 0 ok, 1 failure (or messages still pending), 2 usage error.
 */
#include "commands.h"
#include "outbox.h"
#include "qs_profile.h"
#include "scan.h"
#include "sender.h"
#include "simulate.h"

#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_signal.h"
#include "qs_zmqutil.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_DEFAULT_TIMEOUT_S 30

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void
install_signals(void)
{
    (void)qs_signal_on_stop(on_signal);
    signal(SIGPIPE, SIG_IGN);
}

static const char usage_main[] =
    "usage: qs-producer --profile PROFILE --outbox FILE report --topic-type T --topic-id ID\n"
    "                       --state S [--machine NAME] [--domain D] [--user U]\n"
    "                       [--details TEXT] [--time ISO8601Z]\n"
    "       qs-producer --profile PROFILE --outbox FILE flush [--timeout SEC]\n"
    "       qs-producer --profile PROFILE --outbox FILE run [--failover-ms MS]\n"
    "                       [--scan-every DURATION]\n"
    "       qs-producer --outbox FILE scan [--root DIR] [--dry-run] [--format text|json]\n"
    "       qs-producer --outbox FILE state [--format table|json|csv]\n"
    "       qs-producer --outbox FILE status [--max-pending N] [--format table|json|csv]\n"
    "       qs-producer simulate --home DIR --clients N --messages M [--batch B]\n"
    "                       [--timeout SEC] [--format text|json]\n"
    "\n"
    "Records software-update state messages in a local outbox and delivers them,\n"
    "end-to-end encrypted, to the site's store through its broker.\n"
    "\n"
    "  --profile PROFILE  client profile written by 'qsctl enroll' (mode 0600)\n"
    "  --outbox FILE      the local outbox (SQLite; created 0600 when missing)\n"
    "  -h, --help         this help; 'qs-producer COMMAND --help' for a command's\n"
    "\n"
    "commands:\n"
    "  report    append one state message to the outbox and print its serial\n"
    "  flush     deliver what the outbox holds; exit 0 once all is acked\n"
    "  run       deliver continuously until SIGTERM or SIGINT\n"
    "  simulate  enroll N simulated clients and deliver M generated messages\n"
    "  scan      record what changed in the package system (dpkg/apt) since the last scan\n"
    "  state     print the endpoint's current state (what a resync re-sends)\n"
    "  status    print the outbox's counts, counters and cap\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage error\n";

static const char usage_report[] =
    "usage: qs-producer [--profile PROFILE] --outbox FILE report --topic-type T\n"
    "           --topic-id ID --state S [--machine NAME] [--domain D] [--user U]\n"
    "           [--details TEXT] [--time ISO8601Z]\n"
    "\n"
    "Append one state message to the outbox, durably, with the next serial, and\n"
    "print that serial. Delivery is left to 'flush' or 'run'.\n"
    "\n"
    "  --topic-type T     300..302 deployment, 400..402 configuration item,\n"
    "                     500 update detection, 501 update scan, 700 resync\n"
    "  --topic-id ID      update or deployment id (GUID or KB number), 1..128 bytes\n"
    "  --state S          state id valid for the topic type (500: 0 unknown,\n"
    "                     1 not required, 2 required, 3 installed)\n"
    "  --machine NAME     machine name (default: this host's name; '' for none)\n"
    "  --domain D         domain name (default: none)\n"
    "  --user U           user name (stored only if the site's policy allows)\n"
    "  --details TEXT     error code or text, at most 1024 bytes\n"
    "  --time ISO8601Z    when the state changed, in UTC, e.g. 2026-11-25T12:00:00Z\n"
    "                     (default: now)\n"
    "\n"
    "exit status: 0 ok, 1 invalid message or outbox error, 2 usage error\n"
    "(including a --time that is not a UTC ISO 8601 time)\n";

static const char usage_flush[] =
    "usage: qs-producer --profile PROFILE --outbox FILE flush [--timeout SEC] [--batch N]\n"
    "           [--failover-ms MS]\n"
    "\n"
    "Deliver every pending message. Transient answers (no policy yet, store busy,\n"
    "no reply) are retried with backoff until the timeout; messages the store\n"
    "refuses for good move to the outbox's rejected list.\n"
    "\n"
    "  --timeout SEC      give up after SEC seconds (default 30)\n"
    "  --batch N          messages per batch, 1..1000 (default 100)\n"
    "  --failover-ms MS   with several brokers in the profile: move to the next\n"
    "                     one after MS ms without a connection or a reply\n"
    "                     (200..600000, default 5000; docs/producer.md)\n"
    "\n"
    "exit status: 0 once all are acked, 1 if any still pend at the timeout,\n"
    "2 usage error\n";

static const char usage_run[] =
    "usage: qs-producer --profile PROFILE --outbox FILE run [--batch N] [--failover-ms MS]\n"
    "           [--scan-every DURATION]\n"
    "\n"
    "Deliver continuously: pending messages, then every message 'report' appends\n"
    "(from any process), retrying transient failures for ever, until SIGTERM or\n"
    "SIGINT.\n"
    "\n"
    "  --batch N          messages per batch, 1..1000 (default 100)\n"
    "  --failover-ms MS   with several brokers in the profile: move to the next\n"
    "                     one after MS ms without a connection or a reply\n"
    "                     (200..600000, default 5000; docs/producer.md)\n"
    "  --scan-every D     also run 'scan' (root $QS_SCAN_ROOT or /) at start and every\n"
    "                     D: 90, 90s, 15m, 6h, 1d (1 s .. 30 d)\n"
    "\n"
    "exit status: 0 after a signal, 1 failure, 2 usage error\n";

typedef struct {
    const char *profile;
    const char *outbox;
} globals_t;

static int usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "qs-producer CMD: message" and a pointer to --help; returns 2. */
static int
usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "qs-producer%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'qs-producer%s%s --help'\n", cmd ? " " : "", cmd ? cmd : "");
    return 2;
}

/* --profile and --outbox, accepted before or after the sub-command. */
enum { OPT_PROFILE = 1000, OPT_OUTBOX };

/* ---- report ------------------------------------------------------------ */

/* Explain on stderr why a report's message does not validate (vcode, why). */
static void
report_invalid(const Quietstate__StateMessage *m, Quietstate__Code vcode, const char *why,
               const char *time_text)
{
    const char *field = "--details";

    switch (vcode) {
    case QUIETSTATE__CODE__TIME_IN_FUTURE:
        fprintf(stderr, "qs-producer report: --time: '%s' is more than %d s in the "
                "future (times are UTC; is this clock right?)\n",
                time_text ? time_text : "now", QS_DEFAULT_SKEW_LIMIT_S);
        return;
    case QUIETSTATE__CODE__TIME_TOO_OLD:
        fprintf(stderr, "qs-producer report: --time: '%s' is before "
                "2000-01-01T00:00:00Z\n", time_text ? time_text : "now");
        return;
    case QUIETSTATE__CODE__UNKNOWN_TOPIC_TYPE:
        fprintf(stderr, "qs-producer report: --topic-type: %u is not a known topic type "
                "(300, 301, 302, 400, 401, 402, 500, 501, 700)\n", m->topic_type);
        return;
    case QUIETSTATE__CODE__STATE_OUT_OF_RANGE:
        fprintf(stderr, "qs-producer report: --state: %u is out of range for topic type "
                "%u\n", m->state_id, m->topic_type);
        return;
    case QUIETSTATE__CODE__BAD_TOPIC_ID:
        fprintf(stderr, "qs-producer report: --topic-id: must be 1..%u bytes of UTF-8\n",
                QS_MAX_TOPIC_ID_BYTES);
        return;
    case QUIETSTATE__CODE__DETAILS_TOO_LARGE:
        fprintf(stderr, "qs-producer report: --details: longer than %u bytes\n",
                QS_MAX_DETAILS_BYTES);
        return;
    default:
        break;
    }
    if (!qs_utf8_valid(m->machine_name, strlen(m->machine_name)) ||
        strlen(m->machine_name) > QS_MAX_NAME_BYTES)
        field = "--machine";
    else if (!qs_utf8_valid(m->domain, strlen(m->domain)) || strlen(m->domain) > QS_MAX_NAME_BYTES)
        field = "--domain";
    else if (!qs_utf8_valid(m->user_name, strlen(m->user_name)) ||
             strlen(m->user_name) > QS_MAX_NAME_BYTES)
        field = "--user";
    if (strcmp(field, "--details") == 0)
        fprintf(stderr, "qs-producer report: %s: %s\n", field, why);
    else
        fprintf(stderr, "qs-producer report: %s: must be at most %u bytes of UTF-8\n",
                field, QS_MAX_NAME_BYTES);
}

/* Append m to the outbox and print its serial. Returns the exit code. */
static int
report_append(const char *outbox, Quietstate__StateMessage *m)
{
    char err[512];
    uint64_t serial = 0;
    qs_outbox_t *ob = qs_outbox_open(outbox, err, sizeof err);

    if (ob == NULL) {
        fprintf(stderr, "qs-producer report: %s\n", err);
        return 1;
    }
    if (qs_outbox_append(ob, m, &serial, err, sizeof err) != 0) {
        fprintf(stderr, "qs-producer report: %s\n", err);
        qs_outbox_destroy(&ob);
        return 1;
    }
    qs_outbox_destroy(&ob);
    printf("%llu\n", (unsigned long long)serial);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* The flags of `report`, as given. */
typedef struct {
    const char *topic_type, *topic_id, *state, *time_text;
    const char *machine, *domain, *user, *details;
} report_args_t;

/* Parse report's flags into *a (and --profile/--outbox into g). Returns -1
 * when the flags are complete, else the exit code to return (0 for --help). */
static int
report_parse(report_args_t *a, globals_t *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "topic-type", required_argument, NULL, 't' },
        { "topic-id", required_argument, NULL, 'i' },
        { "state", required_argument, NULL, 's' },
        { "machine", required_argument, NULL, 'm' },
        { "domain", required_argument, NULL, 'd' },
        { "user", required_argument, NULL, 'u' },
        { "details", required_argument, NULL, 'D' },
        { "time", required_argument, NULL, 'T' },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "outbox", required_argument, NULL, OPT_OUTBOX },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    *a = (report_args_t){ .domain = "", .user = "", .details = "" };
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': a->topic_type = optarg; break;
        case 'i': a->topic_id = optarg; break;
        case 's': a->state = optarg; break;
        case 'm': a->machine = optarg; break;
        case 'd': a->domain = optarg; break;
        case 'u': a->user = optarg; break;
        case 'D': a->details = optarg; break;
        case 'T': a->time_text = optarg; break;
        case OPT_PROFILE: g->profile = optarg; break;
        case OPT_OUTBOX: g->outbox = optarg; break;
        case 'h': fputs(usage_report, stdout); return 0;
        default: return usage_error("report", "%s", "unknown option or missing argument");
        }
    }
    if (optind < argc)
        return usage_error("report", "unexpected argument '%s'", argv[optind]);
    if (g->outbox == NULL)
        return usage_error("report", "%s", "--outbox FILE is required");
    if (a->topic_type == NULL)
        return usage_error("report", "%s", "--topic-type T is required");
    if (a->topic_id == NULL)
        return usage_error("report", "%s", "--topic-id ID is required");
    if (a->state == NULL)
        return usage_error("report", "%s", "--state S is required");
    return -1;
}

static int
cmd_report(globals_t *g, int argc, char **argv)
{
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;
    report_args_t a;
    char host[QS_MAX_NAME_BYTES + 1];
    uint64_t tt, st;
    qs_clock_t clock;
    Quietstate__Status vstatus;
    Quietstate__Code vcode;
    const char *why = NULL;
    int rc = report_parse(&a, g, argc, argv);

    if (rc >= 0)
        return rc;
    if (qs_cmd_parse_u64(&tt, a.topic_type, 0, UINT32_MAX) != 0)
        return usage_error("report", "--topic-type: '%s' is not a number", a.topic_type);
    if (qs_cmd_parse_u64(&st, a.state, 0, UINT32_MAX) != 0)
        return usage_error("report", "--state: '%s' is not a number", a.state);
    if (qs_clock_init(&clock) != 0)
        log_warn("ignoring QS_CLOCK_OFFSET_S: not an integer number of seconds");
    if (a.time_text != NULL) {
        if (qs_time_parse_iso8601(&m.time_utc_ms, a.time_text) != 0) {
            fprintf(stderr, "qs-producer report: --time: '%s' is not a UTC ISO 8601 time "
                    "(use e.g. 2026-11-25T12:00:00Z)\n", a.time_text);
            return 2;
        }
    } else {
        m.time_utc_ms = qs_clock_now_ms(&clock);
    }
    if (a.machine == NULL) {
        if (gethostname(host, sizeof host) != 0)
            host[0] = '\0';
        host[sizeof host - 1] = '\0';
        a.machine = host;
    }
    m.serial = 1;   /* assigned by the outbox; any non-zero value validates */
    m.topic_type = (uint32_t)tt;
    m.topic_id = (char *)a.topic_id;
    m.state_id = (uint32_t)st;
    m.details = (char *)a.details;
    m.machine_name = (char *)a.machine;
    m.domain = (char *)a.domain;
    m.user_name = (char *)a.user;
    if (qs_message_validate(&m, qs_clock_now_ms(&clock), QS_DEFAULT_SKEW_LIMIT_S * 1000LL,
                            &vstatus, &vcode, &why) != 0) {
        report_invalid(&m, vcode, why, a.time_text);
        return 1;
    }
    return report_append(g->outbox, &m);
}

/* ---- flush and run ----------------------------------------------------- */

typedef struct {
    qs_profile_t *profile;
    qs_outbox_t *outbox;
    void *zctx;
    qs_sender_ws_t *ws;
    qs_sender_t *sender;
} delivery_t;

static void
delivery_close(delivery_t *d)
{
    qs_sender_destroy(&d->sender);
    qs_sender_ws_destroy(&d->ws);
    if (d->zctx != NULL)
        zmq_ctx_term(d->zctx);
    d->zctx = NULL;
    qs_outbox_destroy(&d->outbox);
    qs_profile_destroy(&d->profile);
}

static int
delivery_open(delivery_t *d, const globals_t *g, const char *cmd, size_t batch,
              int failover_ms)
{
    qs_sender_opts_t o = { 0 };
    qs_source_t src;
    char err[512];

    memset(d, 0, sizeof *d);
    d->profile = qs_profile_load(g->profile, err, sizeof err);
    if (d->profile == NULL) {
        fprintf(stderr, "qs-producer %s: %s\n", cmd, err);
        return -1;
    }
    d->outbox = qs_outbox_open(g->outbox, err, sizeof err);
    if (d->outbox == NULL) {
        fprintf(stderr, "qs-producer %s: %s\n", cmd, err);
        delivery_close(d);
        return -1;
    }
    src = qs_outbox_source(d->outbox);
    d->zctx = qs_zmq_ctx_new(16);
    d->ws = qs_sender_ws_new();
    o.endpoint = qs_profile_endpoint(d->profile);
    o.broker_pk = qs_profile_broker_pk(d->profile);
    o.store_pk = qs_profile_store_pk(d->profile);
    o.keypair = qs_profile_keypair(d->profile);
    o.source = src;
    o.batch = batch;
    o.failover_ms = failover_ms;
    d->sender = qs_sender_new(d->zctx, d->ws, &o, err, sizeof err);
    if (d->sender == NULL) {
        fprintf(stderr, "qs-producer %s: %s\n", cmd, err);
        delivery_close(d);
        return -1;
    }
    return 0;
}

/* One turn of the loop: poll until the sender's next deadline (at most
 * max_wait_ms), then let it work. Returns the replies handled, -1 on a poll
 * error other than a signal. */
static int
delivery_turn(delivery_t *d, int64_t max_wait_ms)
{
    zmq_pollitem_t item;
    int64_t now = qs_clock_mono_ms(), wait = qs_sender_next_deadline(d->sender) - now;
    int handled = 0;

    if (wait > max_wait_ms)
        wait = max_wait_ms;
    if (wait < 0)
        wait = 0;
    qs_sender_pollitem(d->sender, &item);
    if (zmq_poll(&item, 1, (long)wait) < 0) {
        if (zmq_errno() == EINTR)
            return 0;
        log_error("zmq_poll: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    now = qs_clock_mono_ms();
    if (item.revents != 0)
        handled = qs_sender_on_readable(d->sender, now);
    if (qs_sender_next_deadline(d->sender) <= now)
        (void)qs_sender_on_tick(d->sender, now);
    return handled < 0 ? 0 : handled;
}

/* Why messages are still pending, for the last line flush prints. */
static const char *
pending_reason(const qs_sender_stats_t *st, char *buf, size_t len, const char *endpoint)
{
    if (st->acks == 0 && st->notices == 0) {
        snprintf(buf, len, "no reply from the broker at %s (is it running, and is this "
                 "client enrolled and not revoked?)", endpoint);
    } else if (st->last_status == QUIETSTATE__STATUS__NOT_CONFIGURED) {
        snprintf(buf, len, "the store is not configured yet: a privacy officer must set a "
                 "policy (qsctl policy set)");
    } else {
        snprintf(buf, len, "last answer: %s",
                 qs_status_name((Quietstate__Status)st->last_status));
    }
    return buf;
}

static int
cmd_flush(globals_t *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "timeout", required_argument, NULL, 't' },
        { "batch", required_argument, NULL, 'b' },
        { "failover-ms", required_argument, NULL, 'F' },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "outbox", required_argument, NULL, OPT_OUTBOX },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    uint64_t timeout_s = FLUSH_DEFAULT_TIMEOUT_S, pending = 0, pending0 = 0, rejected0 = 0;
    uint64_t rejected = 0;
    size_t batch = 0;
    delivery_t d;
    int64_t end, next_progress;
    int c, tty = isatty(STDERR_FILENO), rc = 1, failover_ms = 0;
    char reason[256];

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (qs_cmd_parse_u64(&timeout_s, optarg, 0, 30 * 86400) != 0)
                return usage_error("flush", "--timeout: '%s' is not a number of seconds",
                                   optarg);
            break;
        case 'b':
            if (qs_cmd_parse_batch(&batch, "flush", optarg) != 0)
                return 2;
            break;
        case 'F':
            if (qs_cmd_parse_failover(&failover_ms, "flush", optarg) != 0)
                return 2;
            break;
        case OPT_PROFILE: g->profile = optarg; break;
        case OPT_OUTBOX: g->outbox = optarg; break;
        case 'h': fputs(usage_flush, stdout); return 0;
        default: return usage_error("flush", "%s", "unknown option or missing argument");
        }
    }
    if (optind < argc)
        return usage_error("flush", "unexpected argument '%s'", argv[optind]);
    if (g->profile == NULL || g->outbox == NULL)
        return usage_error("flush", "%s", "--profile PROFILE and --outbox FILE are required");
    if (delivery_open(&d, g, "flush", batch, failover_ms) != 0)
        return 1;
    if (qs_outbox_pending_count(d.outbox, &pending0) != 0 ||
        qs_outbox_rejected_count(d.outbox, &rejected0) != 0) {
        fprintf(stderr, "qs-producer flush: cannot read the outbox\n");
        delivery_close(&d);
        return 1;
    }
    pending = pending0;
    end = qs_clock_mono_ms() + (int64_t)timeout_s * 1000;
    next_progress = qs_clock_mono_ms() + 1000;
    while (pending > 0 && !stop_requested) {
        int64_t now = qs_clock_mono_ms();
        int handled;
        if (now >= end)
            break;
        handled = delivery_turn(&d, end - now < 1000 ? end - now : 1000);
        if (handled < 0)
            break;
        if (handled > 0 && qs_outbox_pending_count(d.outbox, &pending) != 0)
            break;
        if (tty && qs_clock_mono_ms() >= next_progress) {
            fprintf(stderr, "\rflush: %llu of %llu pending   ", (unsigned long long)pending,
                    (unsigned long long)pending0);
            next_progress += 1000;
        }
    }
    if (tty && pending0 > 0)
        fputc('\n', stderr);
    if (qs_outbox_pending_count(d.outbox, &pending) == 0 &&
        qs_outbox_rejected_count(d.outbox, &rejected) == 0) {
        if (rejected > rejected0)
            fprintf(stderr, "qs-producer flush: the store rejected %llu messages for good: "
                    "they are on the outbox's rejected list\n",
                    (unsigned long long)(rejected - rejected0));
        if (pending == 0) {
            rc = 0;
        } else {
            qs_sender_stats_t st;
            qs_sender_stats(d.sender, &st);
            fprintf(stderr, "qs-producer flush: %llu messages still pending %s: %s\n",
                    (unsigned long long)pending,
                    stop_requested ? "(interrupted)" : "at the timeout",
                    pending_reason(&st, reason, sizeof reason,
                                   qs_profile_endpoint(d.profile)));
        }
    }
    delivery_close(&d);
    return rc;
}

static int
cmd_run(globals_t *g, int argc, char **argv)
{
    static const struct option opts[] = {
        { "batch", required_argument, NULL, 'b' },
        { "failover-ms", required_argument, NULL, 'F' },
        { "scan-every", required_argument, NULL, 'S' },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "outbox", required_argument, NULL, OPT_OUTBOX },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    size_t batch = 0;
    int64_t scan_every_ms = 0;
    qs_scan_every_t *se;
    delivery_t d;
    qs_sender_stats_t st;
    uint64_t pending = 0;
    int c, failover_ms = 0;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (qs_cmd_parse_batch(&batch, "run", optarg) != 0)
                return 2;
            break;
        case 'F':
            if (qs_cmd_parse_failover(&failover_ms, "run", optarg) != 0)
                return 2;
            break;
        case 'S':
            if (qs_scan_parse_duration(optarg, &scan_every_ms) != 0)
                return usage_error("run", "--scan-every: '%s' is not a duration from 1s to "
                                   "30d (90, 90s, 15m, 6h, 1d)", optarg);
            break;
        case OPT_PROFILE: g->profile = optarg; break;
        case OPT_OUTBOX: g->outbox = optarg; break;
        case 'h': fputs(usage_run, stdout); return 0;
        default: return usage_error("run", "%s", "unknown option or missing argument");
        }
    }
    if (optind < argc)
        return usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (g->profile == NULL || g->outbox == NULL)
        return usage_error("run", "%s", "--profile PROFILE and --outbox FILE are required");
    if (delivery_open(&d, g, "run", batch, failover_ms) != 0)
        return 1;
    log_info("delivering from the outbox to '%s' as client %s",
             qs_profile_endpoint(d.profile), qs_sender_label(d.sender));
    se = qs_scan_every_new(scan_every_ms);
    while (!stop_requested) {
        qs_scan_every_tick(se, d.outbox, qs_clock_mono_ms());
        if (delivery_turn(&d, 1000) < 0)
            break;
    }
    qs_scan_every_destroy(&se);
    qs_sender_stats(d.sender, &st);
    (void)qs_outbox_pending_count(d.outbox, &pending);
    log_info("stopping: %llu batches sent, %llu rejected, %llu messages pending, "
             "%llu failovers", (unsigned long long)st.batches_sent,
             (unsigned long long)st.rejected, (unsigned long long)pending,
             (unsigned long long)st.failovers);
    delivery_close(&d);
    return stop_requested ? 0 : 1;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "outbox", required_argument, NULL, OPT_OUTBOX },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    globals_t g = { NULL, NULL };
    const char *cmd;
    int c;

    qs_log_init("qs-producer", -1);
    /* '+': stop at the sub-command; its flags are its own. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_PROFILE: g.profile = optarg; break;
        case OPT_OUTBOX: g.outbox = optarg; break;
        case 'h': fputs(usage_main, stdout); return 0;
        default: fputs("try 'qs-producer --help'\n", stderr); return 2;
        }
    }
    if (optind >= argc) {
        fputs(usage_main, stderr);
        return 2;
    }
    cmd = argv[optind];
    argc -= optind;
    argv += optind;
    if (sodium_init() < 0) {
        log_error("cannot initialise libsodium");
        return 1;
    }
    install_signals();
    if (strcmp(cmd, "report") == 0)
        return cmd_report(&g, argc, argv);
    if (strcmp(cmd, "flush") == 0)
        return cmd_flush(&g, argc, argv);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(&g, argc, argv);
    if (strcmp(cmd, "simulate") == 0)
        return qs_cmd_simulate(&stop_requested, argc, argv);
    if (strcmp(cmd, "scan") == 0)
        return qs_cmd_scan(&g.outbox, argc, argv);
    if (strcmp(cmd, "state") == 0)
        return qs_cmd_state(&g.outbox, argc, argv);
    if (strcmp(cmd, "status") == 0)
        return qs_cmd_status(&g.outbox, argc, argv);
    if (strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    return usage_error(NULL, "unknown command '%s'", cmd);
}
