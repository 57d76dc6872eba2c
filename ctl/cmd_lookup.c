/* cmd_lookup.c - qsctl lookup: one machine's current states, or its retained events.
 *
 * The operator names a machine they already know; qsctl computes its keyed
 * pseudonym with DIR/keys/site.key (and the domain's, with --domain) and reads
 * the rows that carry it: `latest` through its latest_by_machine index, or
 * with --history every history partition through its machine_ps index, in one
 * read transaction. Details are decrypted with the partition's key while it
 * exists; once retention has shredded it they are reported as such. Nothing
 * here can enumerate machines: without a name there is nothing to look up.
 */
#include "ctl_common.h"
#include "purge.h"
#include "qs_codec.h"
#include "qs_ctl.h"
#include "qs_epochkeys.h"
#include "qs_hex.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_pseudonym.h"
#include "storedb_sqlite.h" /* TODO(store-interface): must go */

#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CMD "lookup"
#define LOOKUP_PREFIX_BYTES 8u

typedef enum { DETAILS_NONE = 0, DETAILS_OPEN, DETAILS_SHREDDED, DETAILS_UNREADABLE } details_t;

typedef struct {
    uint32_t topic_type;
    char *topic_id;
    uint32_t state_id;
    int64_t time_ms;
    int64_t report_ms;      /* latest only */
    int64_t serial;         /* history only */
    details_t details_state;
    char *details;          /* when DETAILS_OPEN */
} lookup_row_t;

typedef struct {
    lookup_row_t *rows;
    size_t n, cap;
} lookup_rows_t;

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: qsctl lookup --home DIR --machine NAME [--domain D] [--history]\n"
        "                    [--format table|json]\n"
        "\n"
        "Show one machine's current state per update (from `latest`), or with\n"
        "--history the events the retention policy still keeps, with their\n"
        "details decrypted while the partition key exists. The machine is found\n"
        "by its keyed pseudonym: you must know its name, nothing lists names.\n"
        "\n"
        "  --home DIR         site home (default $QS_HOME)\n"
        "  --machine NAME     machine name (case-insensitive)\n"
        "  --domain D         only rows reported with this domain\n"
        "  --history          retained events instead of current states\n"
        "  --format FMT       table (default) or json:\n"
        "                     {\"rows\": [{\"topic_type\", \"topic_id\", \"state_id\", \"state\",\n"
        "                     \"time_utc\", ...}]}\n"
        "  --help             show this help\n");
}

static lookup_row_t *
rows_push(lookup_rows_t *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->rows = qs_realloc(r->rows, r->cap * sizeof *r->rows);
    }
    memset(&r->rows[r->n], 0, sizeof r->rows[r->n]);
    return &r->rows[r->n++];
}

static void
rows_free(lookup_rows_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->rows[i].topic_id);
        if (r->rows[i].details != NULL) {
            sodium_memzero(r->rows[i].details, strlen(r->rows[i].details));
            free(r->rows[i].details);
        }
    }
    free(r->rows);
    memset(r, 0, sizeof *r);
}

static const char *
text_col(sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t ? t : "";
}

static int
read_latest(lookup_rows_t *out, sqlite3 *sql, const uint8_t *machine_ps,
            const uint8_t *domain_ps, char *errmsg, size_t errmsg_len)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(sql, domain_ps
                           ? "SELECT topic_type, topic_id, state_id, time_ms, report_ms FROM latest "
                             "WHERE machine_ps = ?1 AND domain_ps = ?2 ORDER BY topic_type, topic_id"
                           : "SELECT topic_type, topic_id, state_id, time_ms, report_ms FROM latest "
                             "WHERE machine_ps = ?1 ORDER BY topic_type, topic_id",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_blob(st, 1, machine_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    if (domain_ps)
        sqlite3_bind_blob(st, 2, domain_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lookup_row_t *row = rows_push(out);
        row->topic_type = (uint32_t)sqlite3_column_int64(st, 0);
        row->topic_id = qs_strdup(text_col(st, 1));
        row->state_id = (uint32_t)sqlite3_column_int64(st, 2);
        row->time_ms = sqlite3_column_int64(st, 3);
        row->report_ms = sqlite3_column_int64(st, 4);
        row->serial = -1;
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    return 0;
fail:
    snprintf(errmsg, errmsg_len, "cannot read latest: %s", sqlite3_errmsg(sql));
    sqlite3_finalize(st);
    return -1;
}

/* Decrypt one row's details with its partition key (bound to the row's
 * identity, exactly as qs-store sealed it). */
static void
open_details(lookup_row_t *row, qs_epochkeys_t *ks, int64_t client_id, int64_t epoch,
             const uint8_t *sealed, size_t sealed_len)
{
    uint8_t ad[QS_DETAILS_AD_BYTES], plain[QS_MAX_DETAILS_BYTES + 1];
    size_t plain_len = 0;
    const uint8_t *key = ks ? qs_epochkeys_get(ks, epoch, row->topic_type, 0) : NULL;

    if (key == NULL) {
        row->details_state = DETAILS_SHREDDED;
        return;
    }
    qs_details_ad(ad, client_id, (uint64_t)row->serial, epoch, row->topic_type);
    if (qs_details_open(plain, &plain_len, sizeof plain - 1, sealed, sealed_len, ad, sizeof ad,
                        key) != 0) {
        row->details_state = DETAILS_UNREADABLE;
        return;
    }
    plain[plain_len] = '\0';
    row->details = qs_strdup((const char *)plain);
    row->details_state = DETAILS_OPEN;
    sodium_memzero(plain, sizeof plain);
}

static int
read_history(lookup_rows_t *out, qs_storedb_t *db, qs_epochkeys_t *ks,
             const uint8_t *machine_ps, const uint8_t *domain_ps,
             char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;

    if (qs_storedb_partitions_present(db, &parts, &n_parts) != 0) {
        snprintf(errmsg, errmsg_len, "cannot list history partitions: %s", sqlite3_errmsg(sql));
        return -1;
    }
    for (size_t i = 0; i < n_parts; i++) {
        sqlite3_stmt *st = NULL;
        char name[64], q[256];
        int rc;

        if (qs_storedb_partition_name(name, sizeof name, parts[i].epoch,
                                      parts[i].topic_type) != 0)
            continue;
        snprintf(q, sizeof q, "SELECT client_id, serial, state_id, topic_id, time_ms, details "
                 "FROM \"%s\" WHERE machine_ps = ?1%s", name,
                 domain_ps ? " AND domain_ps = ?2" : "");
        if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK) {
            if (strstr(sqlite3_errmsg(sql), "no such table") != NULL)
                continue;   /* registered, never written */
            snprintf(errmsg, errmsg_len, "cannot read '%s': %s", name, sqlite3_errmsg(sql));
            free(parts);
            return -1;
        }
        sqlite3_bind_blob(st, 1, machine_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
        if (domain_ps)
            sqlite3_bind_blob(st, 2, domain_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            lookup_row_t *row = rows_push(out);
            row->topic_type = parts[i].topic_type;
            row->serial = sqlite3_column_int64(st, 1);
            row->state_id = (uint32_t)sqlite3_column_int64(st, 2);
            row->topic_id = qs_strdup(text_col(st, 3));
            row->time_ms = sqlite3_column_int64(st, 4);
            row->report_ms = -1;
            if (sqlite3_column_type(st, 5) == SQLITE_BLOB)
                open_details(row, ks, sqlite3_column_int64(st, 0), parts[i].epoch,
                             sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5));
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            snprintf(errmsg, errmsg_len, "cannot read '%s': %s", name, sqlite3_errmsg(sql));
            free(parts);
            return -1;
        }
    }
    free(parts);
    return 0;
}

static int
cmp_event(const void *a, const void *b)
{
    const lookup_row_t *x = a, *y = b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    if (x->topic_type != y->topic_type)
        return x->topic_type < y->topic_type ? -1 : 1;
    return (x->serial > y->serial) - (x->serial < y->serial);
}

static const char *
details_text(const lookup_row_t *row)
{
    switch (row->details_state) {
    case DETAILS_OPEN: return row->details;
    case DETAILS_SHREDDED: return "(key shredded)";
    case DETAILS_UNREADABLE: return "(unreadable)";
    default: return "";
    }
}

static int
print_json(const lookup_rows_t *r, int history, const char *ps_hex)
{
    cJSON *doc = cJSON_CreateObject(), *rows;
    char when[CTL_TIME_BYTES], buf[32];

    if (doc == NULL)
        return -1;
    cJSON_AddStringToObject(doc, "machine_ps", ps_hex);
    cJSON_AddBoolToObject(doc, "history", history);
    rows = cJSON_AddArrayToObject(doc, "rows");
    for (size_t i = 0; rows != NULL && i < r->n; i++) {
        const lookup_row_t *row = &r->rows[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL)
            break;
        cJSON_AddNumberToObject(o, "topic_type", row->topic_type);
        cJSON_AddStringToObject(o, "topic_id", row->topic_id);
        cJSON_AddNumberToObject(o, "state_id", row->state_id);
        cJSON_AddStringToObject(o, "state", qs_state_name(row->topic_type, row->state_id, buf,
                                                          sizeof buf));
        ctl_time_text(when, row->time_ms, 1);
        cJSON_AddStringToObject(o, "time_utc", when);
        if (history) {
            cJSON_AddNumberToObject(o, "serial", (double)row->serial);
            if (row->details_state == DETAILS_OPEN)
                cJSON_AddStringToObject(o, "details", row->details);
            else if (row->details_state != DETAILS_NONE)
                cJSON_AddStringToObject(o, "details_unavailable",
                                        row->details_state == DETAILS_SHREDDED
                                            ? "key shredded" : "unreadable");
        } else {
            ctl_time_text(when, row->report_ms, 1);
            cJSON_AddStringToObject(o, "last_report_utc", when);
        }
        cJSON_AddItemToArray(rows, o);
    }
    return ctl_json_print(doc);
}

static void
print_table(const lookup_rows_t *r, int history, const char *ps_hex)
{
    static const char *const latest_hdr[] = { "TOPIC_TYPE", "TOPIC_ID", "STATE", "TIME_UTC",
                                              "LAST_REPORT_UTC" };
    static const char *const history_hdr[] = { "TIME_UTC", "TOPIC_TYPE", "TOPIC_ID", "STATE",
                                               "SERIAL", "DETAILS" };
    ctl_table_t *t = history ? ctl_table_new(6, history_hdr) : ctl_table_new(5, latest_hdr);
    char tt[16], state[48], sbuf[32], when[CTL_TIME_BYTES], rep[CTL_TIME_BYTES], serial[24];

    for (size_t i = 0; i < r->n; i++) {
        const lookup_row_t *row = &r->rows[i];
        snprintf(tt, sizeof tt, "%u", row->topic_type);
        snprintf(state, sizeof state, "%u %s", row->state_id,
                 qs_state_name(row->topic_type, row->state_id, sbuf, sizeof sbuf));
        ctl_time_text(when, row->time_ms, 0);
        if (history) {
            const char *cells[6] = { when, tt, row->topic_id, state, serial, details_text(row) };
            snprintf(serial, sizeof serial, "%lld", (long long)row->serial);
            ctl_table_add(t, cells);
        } else {
            const char *cells[5] = { tt, row->topic_id, state, when, rep };
            ctl_time_text(rep, row->report_ms, 0);
            ctl_table_add(t, cells);
        }
    }
    if (r->n == 0) {
        printf("no %s for this machine (pseudonym %s…)\n",
               history ? "retained events" : "current states", ps_hex);
    } else {
        ctl_table_print(t, stdout);
    }
    ctl_table_destroy(&t);
}

int
cmd_lookup(int argc, char **argv)
{
    static const struct option opts[] = {
        { "home", required_argument, NULL, 'H' },
        { "machine", required_argument, NULL, 'm' },
        { "domain", required_argument, NULL, 'd' },
        { "history", no_argument, NULL, 'y' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *home = NULL, *machine = NULL, *domain = NULL, *format = "table";
    char errmsg[CTL_ERRMSG_BYTES], ps_hex[2 * LOOKUP_PREFIX_BYTES + 1];
    uint8_t machine_ps[QS_PSEUDONYM_BYTES], domain_ps[QS_PSEUDONYM_BYTES];
    static const uint8_t zero[QS_PSEUDONYM_BYTES];
    ctl_format_t fmt;
    ctl_site_t site;
    qs_epochkeys_t *ks = NULL;
    lookup_rows_t rows = { NULL, 0, 0 };
    sqlite3 *sql;
    int c, history = 0, rc = CTL_EXIT_FAIL;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H': home = optarg; break;
        case 'm': machine = optarg; break;
        case 'd': domain = optarg; break;
        case 'y': history = 1; break;
        case 'f': format = optarg; break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        case ':': return ctl_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default: return ctl_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (machine == NULL)
        return ctl_usage_error(CMD, "--machine NAME is required");
    if (ctl_format_parse(&fmt, format, CTL_FORMAT_TABLE | CTL_FORMAT_JSON) != 0)
        return ctl_usage_error(CMD, "--format must be table or json");
    if (strlen(machine) > QS_MAX_NAME_BYTES || (domain && strlen(domain) > QS_MAX_NAME_BYTES))
        return ctl_usage_error(CMD, "names are at most %u bytes", QS_MAX_NAME_BYTES);

    if (ctl_site_open(&site, home, CTL_OPEN_STOREDB | CTL_OPEN_SITE_KEY, errmsg,
                      sizeof errmsg) != 0) {
        ctl_error(CMD, "%s", errmsg);
        return CTL_EXIT_FAIL;
    }
    qs_pseudonym(machine_ps, site.site_key, QS_PSEUDO_MACHINE, machine);
    if (domain != NULL)
        qs_pseudonym(domain_ps, site.site_key, QS_PSEUDO_DOMAIN, domain);
    if (sodium_memcmp(machine_ps, zero, sizeof zero) == 0) {
        ctl_site_close(&site);
        return ctl_usage_error(CMD, "--machine must not be blank");
    }
    if (domain != NULL && sodium_memcmp(domain_ps, zero, sizeof zero) == 0) {
        ctl_site_close(&site);
        return ctl_usage_error(CMD, "--domain must not be blank");
    }
    qs_hex_encode(ps_hex, sizeof ps_hex, machine_ps, LOOKUP_PREFIX_BYTES);
    if (history) {
        ks = qs_epochkeys_open(site.paths.epochs_dir, 0, errmsg, sizeof errmsg);
        if (ks == NULL)
            log_debug("no epoch keys (%s): details cannot be shown", errmsg);
    }
    sql = qs_storedb_sqlite(site.storedb);
    /* One read transaction: one consistent snapshot while qs-store writes. */
    if (sqlite3_exec(sql, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(errmsg, sizeof errmsg, "cannot read store.db: %s", sqlite3_errmsg(sql));
        goto fail;
    }
    if ((history ? read_history(&rows, site.storedb, ks, machine_ps,
                                domain ? domain_ps : NULL, errmsg, sizeof errmsg)
                 : read_latest(&rows, sql, machine_ps, domain ? domain_ps : NULL, errmsg,
                               sizeof errmsg)) != 0) {
        (void)sqlite3_exec(sql, "ROLLBACK", NULL, NULL, NULL);
        goto fail;
    }
    (void)sqlite3_exec(sql, "COMMIT", NULL, NULL, NULL);
    if (history && rows.n > 1)
        qsort(rows.rows, rows.n, sizeof *rows.rows, cmp_event);
    if (fmt == CTL_FORMAT_JSON) {
        if (print_json(&rows, history, ps_hex) != 0) {
            snprintf(errmsg, sizeof errmsg, "out of memory rendering JSON");
            goto fail;
        }
    } else {
        print_table(&rows, history, ps_hex);
    }
    rc = ctl_output_done(CMD);
    goto out;
fail:
    ctl_error(CMD, "%s", errmsg);
    rc = CTL_EXIT_FAIL;
out:
    sodium_memzero(machine_ps, sizeof machine_ps);
    sodium_memzero(domain_ps, sizeof domain_ps);
    rows_free(&rows);
    qs_epochkeys_destroy(&ks);
    ctl_site_close(&site);
    return rc;
}
