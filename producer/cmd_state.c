/* cmd_state.c - `qs-producer state` (the endpoint's current state, what a
 * resync re-sends) and `qs-producer status` (the outbox's counts, counters
 * and cap), plus the output helpers the producer's commands share.
 */
#include "commands.h"
#include "outbox.h"

#include "qs_clock.h"
#include "qs_codec.h"
#include "qs_log.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_state[] =
    "usage: qs-producer --outbox FILE state [--topic-type T] [--format table|json|csv]\n"
    "\n"
    "Print the endpoint's current state: per topic, the last state recorded (by\n"
    "report or scan), with its time, the serial that recorded it and the fields\n"
    "a message carries. This is exactly what a resync would send again.\n"
    "\n"
    "  --topic-type T     only this topic type (e.g. 500)\n"
    "  --format F         table (default), json (one document) or csv\n"
    "\n"
    "exit status: 0 ok, 1 the outbox cannot be read, 2 usage error\n";

static const char usage_status[] =
    "usage: qs-producer --outbox FILE status [--max-pending N] [--format table|json|csv]\n"
    "\n"
    "Print the outbox's counts and counters: pending, rejected, current topics,\n"
    "the cap on pending messages and how many superseded messages it dropped.\n"
    "\n"
    "  --max-pending N    set the cap (kept in the outbox; default 50000): at the cap\n"
    "                     the oldest superseded pending message is dropped, and when\n"
    "                     none is, recording fails\n"
    "  --format F         table (default), json (one document) or csv (name,value)\n"
    "\n"
    "exit status: 0 ok, 1 the outbox cannot be read or written, 2 usage error\n";

enum { OPT_OUTBOX = 1000, OPT_PROFILE };

int
qs_cmd_usage_error(const char *cmd, const char *msg, const char *arg)
{
    fprintf(stderr, "qs-producer %s: %s", cmd, msg);
    if (arg != NULL)
        fprintf(stderr, " '%s'", arg);
    fprintf(stderr, "\ntry 'qs-producer %s --help'\n", cmd);
    return 2;
}

int
qs_cmd_parse_format(const char *s, unsigned allowed, qs_fmt_t *out)
{
    qs_fmt_t f;

    if (strcmp(s, "table") == 0 || strcmp(s, "text") == 0)
        f = QS_FMT_TABLE;
    else if (strcmp(s, "json") == 0)
        f = QS_FMT_JSON;
    else if (strcmp(s, "csv") == 0)
        f = QS_FMT_CSV;
    else
        return -1;
    if ((allowed & (1u << f)) == 0)
        return -1;
    *out = f;
    return 0;
}

const char *
qs_cmd_text_safe(char *out, size_t out_len, const char *s)
{
    size_t w = 0;

    for (; s != NULL && *s != '\0' && w + 5 < out_len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            w += (size_t)snprintf(out + w, out_len - w, "\\x%02x", c);
        else
            out[w++] = (char)c;
    }
    out[w] = '\0';
    return out;
}

void
qs_cmd_csv_row(size_t n, const char *const *cells)
{
    char cell[4 * 1100 + 1];

    for (size_t i = 0; i < n; i++) {
        const char *c = qs_cmd_text_safe(cell, sizeof cell, cells[i] ? cells[i] : "");
        int formula = c[0] != '\0' && strchr("=+-@", c[0]) != NULL &&
                      strspn(c + 1, "0123456789.") != strlen(c + 1);
        int quote = formula || strpbrk(c, ",\"") != NULL ||
                    (c[0] != '\0' && (c[0] == ' ' || c[strlen(c) - 1] == ' '));

        if (i > 0)
            putchar(',');
        if (quote)
            putchar('"');
        if (formula)
            putchar('\'');
        for (; *c; c++) {
            if (*c == '"')
                putchar('"');
            putchar(*c);
        }
        if (quote)
            putchar('"');
    }
    putchar('\n');
}

typedef struct {
    qs_fmt_t fmt;
    cJSON *rows;
    uint64_t n;
} state_out_t;

static int
print_state_row(void *ctx, const Quietstate__StateMessage *m)
{
    state_out_t *o = ctx;
    char buf[64], when[40], tt[16], st[16], serial[24], id[4 * 130], det[4 * 1100];
    const char *name = qs_state_name(m->topic_type, m->state_id, buf, sizeof buf);

    o->n++;
    qs_time_format_iso8601(when, sizeof when, m->time_utc_ms, 0);
    if (o->fmt == QS_FMT_JSON) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "topic_type", m->topic_type);
        cJSON_AddStringToObject(r, "topic_id", m->topic_id);
        cJSON_AddNumberToObject(r, "state_id", m->state_id);
        cJSON_AddStringToObject(r, "state", name);
        cJSON_AddStringToObject(r, "time", when);
        cJSON_AddNumberToObject(r, "serial", (double)m->serial);
        cJSON_AddStringToObject(r, "details", m->details);
        cJSON_AddStringToObject(r, "machine", m->machine_name);
        cJSON_AddStringToObject(r, "domain", m->domain);
        cJSON_AddStringToObject(r, "user", m->user_name);
        cJSON_AddItemToArray(o->rows, r);
        return 0;
    }
    snprintf(tt, sizeof tt, "%u", m->topic_type);
    snprintf(st, sizeof st, "%u", m->state_id);
    snprintf(serial, sizeof serial, "%" PRIu64, m->serial);
    if (o->fmt == QS_FMT_CSV) {
        const char *cells[] = { tt, m->topic_id, st, name, when, serial, m->details,
                                m->machine_name, m->domain, m->user_name };
        qs_cmd_csv_row(10, cells);
        return 0;
    }
    printf("%-10s  %-40s  %-16s  %-20s  %8s%s%s\n", tt,
           qs_cmd_text_safe(id, sizeof id, m->topic_id), name, when, serial,
           m->details[0] ? "  " : "", qs_cmd_text_safe(det, sizeof det, m->details));
    return 0;
}

static qs_outbox_t *
open_outbox(const char *cmd, const char *path)
{
    char err[512];
    qs_outbox_t *ob = qs_outbox_open(path, err, sizeof err);

    if (ob == NULL)
        fprintf(stderr, "qs-producer %s: %s\n", cmd, err);
    return ob;
}

int
qs_cmd_state(const char **outbox, int argc, char **argv)
{
    static const struct option opts[] = {
        { "topic-type", required_argument, NULL, 't' },
        { "format", required_argument, NULL, 'f' },
        { "outbox", required_argument, NULL, OPT_OUTBOX },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    state_out_t o = { QS_FMT_TABLE, NULL, 0 };
    unsigned long tt = 0;
    char *end = NULL;
    qs_outbox_t *ob;
    int c, rc;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            tt = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' || tt == 0 || tt > UINT32_MAX)
                return qs_cmd_usage_error("state", "--topic-type: not a topic type:", optarg);
            break;
        case 'f':
            if (qs_cmd_parse_format(optarg, 7, &o.fmt) != 0)
                return qs_cmd_usage_error("state", "--format: not table, json or csv:", optarg);
            break;
        case OPT_OUTBOX: *outbox = optarg; break;
        case OPT_PROFILE: break;
        case 'h': fputs(usage_state, stdout); return 0;
        default: return qs_cmd_usage_error("state", "unknown option or missing argument", NULL);
        }
    }
    if (optind < argc)
        return qs_cmd_usage_error("state", "unexpected argument", argv[optind]);
    if (*outbox == NULL)
        return qs_cmd_usage_error("state", "--outbox FILE is required", NULL);
    if ((ob = open_outbox("state", *outbox)) == NULL)
        return 1;
    if (o.fmt == QS_FMT_JSON)
        o.rows = cJSON_CreateArray();
    else if (o.fmt == QS_FMT_CSV)
        qs_cmd_csv_row(10, (const char *const[]){ "topic_type", "topic_id", "state_id", "state",
                                                   "time", "serial", "details", "machine",
                                                   "domain", "user" });
    else
        printf("%-10s  %-40s  %-16s  %-20s  %8s  %s\n", "TOPIC_TYPE", "TOPIC_ID", "STATE",
               "TIME", "SERIAL", "DETAILS");
    rc = qs_outbox_current_each(ob, (uint32_t)tt, print_state_row, &o);
    qs_outbox_destroy(&ob);
    if (rc != 0) {
        fprintf(stderr, "qs-producer state: cannot read the current state of '%s'\n", *outbox);
        cJSON_Delete(o.rows);
        return 1;
    }
    if (o.fmt == QS_FMT_JSON) {
        cJSON *doc = cJSON_CreateObject();
        char *text;
        cJSON_AddNumberToObject(doc, "count", (double)o.n);
        cJSON_AddItemToObject(doc, "topics", o.rows);
        text = cJSON_PrintUnformatted(doc);
        if (text != NULL)
            puts(text);
        cJSON_free(text);
        cJSON_Delete(doc);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static void
print_status(const qs_outbox_status_t *s, qs_fmt_t fmt)
{
    const struct { const char *name; uint64_t v; } rows[] = {
        { "pending", s->pending },
        { "max_pending", s->max_pending },
        { "dropped_superseded", s->dropped_superseded },
        { "taken_upto", s->taken_upto },
        { "rejected", s->rejected },
        { "rejected_without_names", s->rejected_erased },
        { "rejected_erased_total", s->rejected_erased_total },
        { "rejected_deleted_total", s->rejected_deleted_total },
        { "current_topics", s->current_topics },
        { "next_serial", s->next_serial },
    };
    size_t n = sizeof rows / sizeof rows[0];
    cJSON *doc;
    char *text, v[24];

    switch (fmt) {
    case QS_FMT_JSON:
        doc = cJSON_CreateObject();
        for (size_t i = 0; i < n; i++)
            cJSON_AddNumberToObject(doc, rows[i].name, (double)rows[i].v);
        text = cJSON_PrintUnformatted(doc);
        if (text != NULL)
            puts(text);
        cJSON_free(text);
        cJSON_Delete(doc);
        break;
    case QS_FMT_CSV:
        qs_cmd_csv_row(2, (const char *const[]){ "name", "value" });
        for (size_t i = 0; i < n; i++) {
            snprintf(v, sizeof v, "%" PRIu64, rows[i].v);
            qs_cmd_csv_row(2, (const char *const[]){ rows[i].name, v });
        }
        break;
    default:
        for (size_t i = 0; i < n; i++)
            printf("%-24s %" PRIu64 "\n", rows[i].name, rows[i].v);
    }
}

int
qs_cmd_status(const char **outbox, int argc, char **argv)
{
    static const struct option opts[] = {
        { "max-pending", required_argument, NULL, 'm' },
        { "format", required_argument, NULL, 'f' },
        { "outbox", required_argument, NULL, OPT_OUTBOX },
        { "profile", required_argument, NULL, OPT_PROFILE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    qs_fmt_t fmt = QS_FMT_TABLE;
    qs_outbox_status_t st;
    uint64_t max = 0;
    qs_outbox_t *ob;
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (qs_cmd_parse_u64(&max, optarg, 1, QS_OUTBOX_MAX_MAX_PENDING) != 0)
                return qs_cmd_usage_error("status", "--max-pending: not a number from 1 to "
                                          "10000000:", optarg);
            break;
        case 'f':
            if (qs_cmd_parse_format(optarg, 7, &fmt) != 0)
                return qs_cmd_usage_error("status", "--format: not table, json or csv:", optarg);
            break;
        case OPT_OUTBOX: *outbox = optarg; break;
        case OPT_PROFILE: break;
        case 'h': fputs(usage_status, stdout); return 0;
        default: return qs_cmd_usage_error("status", "unknown option or missing argument", NULL);
        }
    }
    if (optind < argc)
        return qs_cmd_usage_error("status", "unexpected argument", argv[optind]);
    if (*outbox == NULL)
        return qs_cmd_usage_error("status", "--outbox FILE is required", NULL);
    if ((ob = open_outbox("status", *outbox)) == NULL)
        return 1;
    if (max > 0 && qs_outbox_set_max_pending(ob, max) != 0) {
        fprintf(stderr, "qs-producer status: cannot set the cap in '%s'\n", *outbox);
        qs_outbox_destroy(&ob);
        return 1;
    }
    if (qs_outbox_status(ob, &st) != 0) {
        fprintf(stderr, "qs-producer status: cannot read '%s'\n", *outbox);
        qs_outbox_destroy(&ob);
        return 1;
    }
    qs_outbox_destroy(&ob);
    print_status(&st, fmt);
    return fflush(stdout) == 0 ? 0 : 1;
}
