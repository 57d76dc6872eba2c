/* migrate.c - copy an SQLite store.db into an empty PostgreSQL database.
 *
 * What is copied and which checks guard the COMMIT: qs_store_migrate.h.
 * Rows go through COPY ... FROM STDIN in text format, batched in a buffer
 * of COPY_CHUNK bytes per PQputCopyData: one round trip per chunk instead
 * of one per row. This module is the one place that holds both engines'
 * handles (storedb_sqlite.h and storedb_pg.h): a migration is exactly that.
 */
#include "qs_store_migrate.h"
#include "groups_rules.h"
#include "storedb_pg.h"
#include "storedb_sqlite.h"
#include "trend_int.h"
#include "qs_epochkeys.h"
#include "qs_limits.h"
#include "qs_log.h"
#include "qs_sqlutil.h"

#include <sodium.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COPY_CHUNK (256u * 1024u)
#define PROGRESS_EVERY 65536

/* One table's copy: what to read from SQLite, where it goes in PostgreSQL
 * and each column's kind ('i' integer, 't' text, 'b' blob). */
typedef struct {
    const char *name;
    const char *select;
    const char *copy;
    const char *kinds;
} table_spec_t;

/* Shard 0 for the sharded tables: one row per key, as after a fold. */
static const table_spec_t tables[] = {
    { "clients", "SELECT client_id, pk, low_water, first_ms, last_ms FROM clients",
      "COPY clients(client_id, pk, low_water, first_ms, last_ms) FROM STDIN", "ibiii" },
    { "seen", "SELECT client_id, serial FROM seen",
      "COPY seen(client_id, serial) FROM STDIN", "ii" },
    { "latest", "SELECT client_id, topic_type, topic_id, state_id, time_ms, report_ms, "
      "machine_ps, domain_ps FROM latest",
      "COPY latest(client_id, topic_type, topic_id, state_id, time_ms, report_ms, "
      "machine_ps, domain_ps) FROM STDIN", "iitiiibb" },
    { "compliance_counts", "SELECT topic_type, topic_id, state_id, 0, count "
      "FROM compliance_counts",
      "COPY compliance_counts(topic_type, topic_id, state_id, shard, count) FROM STDIN",
      "itiii" },
    { "counters", "SELECT name, 0, value FROM counters",
      "COPY counters(name, shard, value) FROM STDIN", "tii" },
    { "partitions", "SELECT epoch, topic_type, 0, rows FROM partitions",
      "COPY partitions(epoch, topic_type, shard, rows) FROM STDIN", "iiii" },
};
#define NTABLES (sizeof tables / sizeof tables[0])

#define HISTORY_COLUMNS "client_id, serial, state_id, topic_id, time_ms, machine_ps, " \
                        "domain_ps, user_ps, details"
/* 'd': the details, sealed again under the chain's key when re-sealing. */
#define HISTORY_KINDS "iiitibbbd"
#define SEALED_MAX (QS_MAX_DETAILS_BYTES + QS_DETAILS_OVERHEAD)

/* The migration's state: both connections, the COPY buffer, progress. */
typedef struct {
    sqlite3 *lite;
    qs_pgdb_t *pg;
    PGconn *conn;
    char *buf;
    size_t len;
    int64_t done, total;
    qs_migrate_progress_fn progress;
    void *progress_arg;
    /* Re-sealing (NULL new_keys: details copied as they are). */
    qs_epochkeys_t *old_keys, *new_keys;
    uint8_t old_key[32], new_key[32];   /* the partition's; wiped at the end */
    int have_old_key;
    int64_t epoch;
    uint32_t topic_type;
    uint8_t *plain;                     /* sodium_malloc'd, QS_MAX_DETAILS_BYTES */
    uint8_t sealed[SEALED_MAX];
    int64_t resealed;
    char *errmsg;
    size_t errmsg_len;
} migration_t;

static int fail(migration_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(migration_t *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(m->errmsg, m->errmsg_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int
flush(migration_t *m)
{
    if (m->len > 0 && PQputCopyData(m->conn, m->buf, (int)m->len) != 1)
        return fail(m, "COPY to PostgreSQL failed: %s", PQerrorMessage(m->conn));
    m->len = 0;
    return 0;
}

/* Room for n more bytes (a cell may be larger than the chunk: a blob). */
static int
reserve(migration_t *m, size_t n)
{
    if (m->len + n <= COPY_CHUNK)
        return 0;
    if (flush(m) != 0)
        return -1;
    if (n > COPY_CHUNK) {
        char *b = realloc(m->buf, n);
        if (b == NULL)
            return fail(m, "out of memory");
        m->buf = b;
    }
    return 0;
}

/* COPY's text format: backslash, tab, newline and CR escaped. */
static void
put_text(migration_t *m, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '\\': m->buf[m->len++] = '\\'; m->buf[m->len++] = '\\'; break;
        case '\t': m->buf[m->len++] = '\\'; m->buf[m->len++] = 't'; break;
        case '\n': m->buf[m->len++] = '\\'; m->buf[m->len++] = 'n'; break;
        case '\r': m->buf[m->len++] = '\\'; m->buf[m->len++] = 'r'; break;
        default: m->buf[m->len++] = (char)s[i]; break;
        }
    }
}

/* bytea in hex, its backslash escaped for COPY: \\x0a1b... */
static void
put_blob(migration_t *m, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    memcpy(m->buf + m->len, "\\\\x", 3);
    m->len += 3;
    for (size_t i = 0; i < n; i++) {
        m->buf[m->len++] = hex[s[i] >> 4];
        m->buf[m->len++] = hex[s[i] & 15];
    }
}

/* The details of the history row in st, opened under the partition's old
 * key and sealed again under its chain key, bound to the same row identity
 * (client_id and serial are columns 0 and 1). Then *p and *n point at the new
 * blob. A partition whose old key is gone keeps its blob. 0 or -1. */
static int
reseal(migration_t *m, sqlite3_stmt *st, const unsigned char **p, size_t *n)
{
    uint8_t ad[QS_DETAILS_AD_BYTES];
    size_t plain_len = 0, sealed_len = 0;
    int64_t client_id = sqlite3_column_int64(st, 0), serial = sqlite3_column_int64(st, 1);

    if (!m->have_old_key)
        return 0;
    qs_details_ad(ad, client_id, (uint64_t)serial, m->epoch, m->topic_type);
    if (qs_details_open(m->plain, &plain_len, QS_MAX_DETAILS_BYTES, *p, *n, ad, sizeof ad,
                        m->old_key) != 0)
        return fail(m, "the details of client %" PRId64 " serial %" PRId64 " in partition %"
                    PRId64 "/%u do not open under its key: the store or keys/epochs was "
                    "altered; nothing was committed", client_id, serial, m->epoch,
                    m->topic_type);
    if (qs_details_seal(m->sealed, &sealed_len, sizeof m->sealed, m->plain, plain_len, ad,
                        sizeof ad, m->new_key) != 0)
        return fail(m, "cannot seal details again");
    sodium_memzero(m->plain, plain_len);
    *p = m->sealed;
    *n = sealed_len;
    m->resealed++;
    return 0;
}

/* The partition's old and new keys into m (re-sealing only). 0 or -1. */
static int
partition_keys(migration_t *m, int64_t epoch, uint32_t topic_type)
{
    const uint8_t *k = NULL;
    char why[256];
    int rc;

    m->epoch = epoch;
    m->topic_type = topic_type;
    m->have_old_key = 0;
    if (m->new_keys == NULL)
        return 0;
    rc = qs_epochkeys_find(&k, m->old_keys, epoch, topic_type, why, sizeof why);
    if (rc < 0)
        return fail(m, "the key of partition %" PRId64 "/%u: %s", epoch, topic_type, why);
    if (rc == 0) {
        memcpy(m->old_key, k, 32);
        m->have_old_key = 1;
    }
    if (qs_epochkeys_find(&k, m->new_keys, epoch, topic_type, why, sizeof why) != 0)
        return fail(m, "no chain key for partition %" PRId64 "/%u: %s", epoch, topic_type,
                    why);
    memcpy(m->new_key, k, 32);
    return 0;
}

/* One row of st as one COPY line. 0 or -1. */
static int
put_row(migration_t *m, sqlite3_stmt *st, const char *kinds)
{
    for (int c = 0; kinds[c] != '\0'; c++) {
        int type = sqlite3_column_type(st, c);
        const unsigned char *p = NULL;
        size_t n = 0;

        /* The pointer first, then its size (sqlite3_column_bytes' rule). */
        if (type != SQLITE_NULL && kinds[c] != 'i') {
            p = kinds[c] == 't' ? sqlite3_column_text(st, c) : sqlite3_column_blob(st, c);
            n = (size_t)sqlite3_column_bytes(st, c);
        }
        if (type != SQLITE_NULL && kinds[c] == 'd' && m->new_keys != NULL &&
            reseal(m, st, &p, &n) != 0)
            return -1;
        if (reserve(m, 2 * n + 32) != 0)
            return -1;
        if (c > 0)
            m->buf[m->len++] = '\t';
        if (type == SQLITE_NULL) {
            memcpy(m->buf + m->len, "\\N", 2);
            m->len += 2;
        } else if (kinds[c] == 'i') {
            m->len += (size_t)snprintf(m->buf + m->len, 24, "%" PRId64,
                                       (int64_t)sqlite3_column_int64(st, c));
        } else if (kinds[c] == 'b' || kinds[c] == 'd') {
            put_blob(m, p, n);
        } else {
            put_text(m, p, n);
        }
    }
    m->buf[m->len++] = '\n';
    return 0;
}

/* End the COPY (aborting it with abort_why != NULL); the rows PostgreSQL
 * took into *rows. 0 or -1. */
static int
copy_end(migration_t *m, const char *abort_why, int64_t *rows)
{
    PGresult *r;
    int rc = 0;

    if (abort_why == NULL && flush(m) != 0)
        abort_why = "the data could not be sent";
    if (PQputCopyEnd(m->conn, abort_why) != 1)
        rc = -1;
    while ((r = PQgetResult(m->conn)) != NULL) {
        if (PQresultStatus(r) == PGRES_COMMAND_OK && rows != NULL)
            *rows = strtoll(PQcmdTuples(r), NULL, 10);
        else if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0 && abort_why == NULL)
            rc = fail(m, "COPY into PostgreSQL failed: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    m->len = 0;
    return abort_why != NULL ? -1 : rc;
}

/* Copy the rows of one SQLite query into one COPY; the rows copied into
 * *rows. 0 or -1 with m->errmsg. */
static int
copy_query(migration_t *m, const char *name, const char *select, const char *copy,
           const char *kinds, int64_t *rows)
{
    sqlite3_stmt *st = NULL;
    PGresult *r;
    int rc;

    if (sqlite3_prepare_v2(m->lite, select, -1, &st, NULL) != SQLITE_OK)
        return fail(m, "cannot read store.db's %s: %s", name, sqlite3_errmsg(m->lite));
    r = PQexec(m->conn, copy);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fail(m, "cannot start COPY into %s: %s", name, PQresultErrorMessage(r));
        PQclear(r);
        sqlite3_finalize(st);
        return -1;
    }
    PQclear(r);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (put_row(m, st, kinds) != 0)
            break;
        if (++m->done % PROGRESS_EVERY == 0 && m->progress != NULL)
            m->progress(m->progress_arg, name, m->done, m->total);
    }
    if (rc != SQLITE_DONE) {
        if (rc != SQLITE_ROW)
            fail(m, "cannot read store.db's %s: %s", name, sqlite3_errmsg(m->lite));
        sqlite3_finalize(st);
        (void)copy_end(m, "migration aborted", NULL);
        return -1;
    }
    sqlite3_finalize(st);
    return copy_end(m, NULL, rows);
}

/* count(*) of a table on each side; -1 with errmsg when they differ. */
static int
check_rows(migration_t *m, const char *table, int64_t *count)
{
    char sql[128];
    int64_t src = 0, dst = 0;

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (qs_sql_int64(m->lite, sql, &src) != 0)
        return fail(m, "cannot count store.db's %s: %s", table, sqlite3_errmsg(m->lite));
    if (qs_pgdb_int64(m->pg, &dst, sql, 0, NULL) != 0)
        return fail(m, "cannot count %s in PostgreSQL: %s", table, qs_pgdb_errmsg(m->pg));
    if (src != dst) {
        snprintf(m->errmsg, m->errmsg_len, "%s: %" PRId64 " rows in store.db but %" PRId64
                 " in PostgreSQL after the copy: nothing was committed", table, src, dst);
        return -1;
    }
    *count = src;
    return 0;
}

/* The target's own rows and tables: 0 when it holds none. The tables are
 * locked first, so that no qs-store started on it meanwhile can write
 * until the copy commits. */
static int
target_rows(migration_t *m, int64_t *rows)
{
    if (qs_pgdb_exec(m->pg, "LOCK TABLE clients, seen, latest, compliance_counts, counters, "
                     "partitions, client_types, scope_counts, installed_hours "
                     "IN EXCLUSIVE MODE") != 0 ||
        qs_pgdb_int64(m->pg, rows,
                      "SELECT (SELECT count(*) FROM (SELECT 1 FROM clients LIMIT 1) a) + "
                      "(SELECT count(*) FROM (SELECT 1 FROM seen LIMIT 1) b) + "
                      "(SELECT count(*) FROM (SELECT 1 FROM latest LIMIT 1) c) + "
                      "(SELECT count(*) FROM (SELECT 1 FROM compliance_counts LIMIT 1) d) + "
                      "(SELECT count(*) FROM (SELECT 1 FROM counters LIMIT 1) e) + "
                      "(SELECT count(*) FROM (SELECT 1 FROM partitions LIMIT 1) f) + "
                      "(SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
                      " AND tablename LIKE 'history\\_%')", 0, NULL) != 0)
        return fail(m, "cannot inspect the target database: %s", qs_pgdb_errmsg(m->pg));
    return 0;
}

/* The rows to copy over every table (for progress) into m->total. */
static int
count_source(migration_t *m, const qs_partition_t *parts, size_t nparts)
{
    char sql[128], name[64];
    int64_t n;

    m->total = 0;
    for (size_t i = 0; i < NTABLES; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i].name);
        if (qs_sql_int64(m->lite, sql, &n) != 0)
            return fail(m, "cannot read store.db: %s", sqlite3_errmsg(m->lite));
        m->total += n;
    }
    for (size_t i = 0; i < nparts; i++) {
        if (qs_storedb_partition_name(name, sizeof name, parts[i].epoch,
                                      parts[i].topic_type) != 0)
            return fail(m, "bad partition name");
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", name);
        if (qs_sql_int64(m->lite, sql, &n) != 0)
            return fail(m, "cannot read store.db: %s", sqlite3_errmsg(m->lite));
        m->total += n;
    }
    return 0;
}

/* Every history partition: create it in PostgreSQL (registering it if
 * store.db had not), copy its rows, compare the counts. */
static int
copy_history(migration_t *m, const qs_partition_t *parts, size_t nparts,
             qs_migrate_counts_t *c)
{
    char name[64], select[256], copy[256];
    int64_t rows = 0, counted = 0;

    for (size_t i = 0; i < nparts; i++) {
        if (qs_storedb_partition_name(name, sizeof name, parts[i].epoch,
                                      parts[i].topic_type) != 0)
            return fail(m, "bad partition name");
        if (qs_pgdb_partition_ensure(m->pg, parts[i].epoch, parts[i].topic_type) != 0)
            return fail(m, "cannot create %s in PostgreSQL: %s", name, qs_pgdb_errmsg(m->pg));
        if (parts[i].rows < 0)   /* present in store.db but not registered there */
            c->partitions++;
        if (partition_keys(m, parts[i].epoch, parts[i].topic_type) != 0)
            return -1;
        snprintf(select, sizeof select, "SELECT " HISTORY_COLUMNS " FROM %s", name);
        snprintf(copy, sizeof copy, "COPY %s(" HISTORY_COLUMNS ") FROM STDIN", name);
        if (copy_query(m, name, select, copy, HISTORY_KINDS, &rows) != 0 ||
            check_rows(m, name, &counted) != 0)
            return -1;
        c->history_tables++;
        c->history_rows += counted;
    }
    return 0;
}

/* A kept count filled on the target (not copied) must sum to store.db's
 * (sum_sql, the same on both): dst is the target's sum. */
static int
kept_sum_agrees(migration_t *m, const char *table, const char *sum_sql, int64_t dst)
{
    int64_t src = 0;

    if (qs_sql_int64(m->lite, sum_sql, &src) != 0)
        return fail(m, "cannot sum store.db's %s: %s", table, sqlite3_errmsg(m->lite));
    if (src != dst) {
        snprintf(m->errmsg, m->errmsg_len, "%s sum to %" PRId64 " in store.db but %" PRId64
                 " in PostgreSQL: nothing was committed ('qsctl verify --repair-counts' on "
                 "store.db first, if its counts are wrong)", table, src, dst);
        return -1;
    }
    return 0;
}

/* The sums of compliance_counts must agree too (a count copied into the
 * wrong column would pass the row counts). */
static int
check_sums(migration_t *m, qs_migrate_counts_t *c)
{
    int64_t src = 0, dst = 0, parts = 0;

    if (qs_sql_int64(m->lite, "SELECT coalesce(sum(count), 0) FROM compliance_counts",
                     &src) != 0 ||
        qs_pgdb_int64(m->pg, &dst, "SELECT coalesce(sum(count), 0) FROM compliance_counts",
                      0, NULL) != 0 ||
        qs_pgdb_int64(m->pg, &parts, "SELECT count(*) FROM partitions", 0, NULL) != 0)
        return fail(m, "cannot sum compliance_counts: %s", qs_pgdb_errmsg(m->pg));
    if (src != dst) {
        snprintf(m->errmsg, m->errmsg_len, "compliance_counts sum to %" PRId64 " in store.db "
                 "but %" PRId64 " in PostgreSQL: nothing was committed", src, dst);
        return -1;
    }
    if (parts != c->partitions) {
        snprintf(m->errmsg, m->errmsg_len, "partitions: %" PRId64 " expected in PostgreSQL, "
                 "%" PRId64 " found: nothing was committed", c->partitions, parts);
        return -1;
    }
    c->compliance_sum = src;
    /* scope_counts is not copied: latest's COPY filled it through the
     * target's triggers (counts_pg.c). It must come out as store.db has it. */
    if (qs_pgdb_int64(m->pg, &dst, "SELECT coalesce(sum(machines), 0) FROM scope_counts",
                      0, NULL) != 0)
        return fail(m, "cannot sum scope_counts: %s", qs_pgdb_errmsg(m->pg));
    return kept_sum_agrees(m, "scope_counts",
                           "SELECT coalesce(sum(machines), 0) FROM scope_counts", dst);
}

/* installed_hours is not copied: filled from the copied latest (COPY
 * bypasses the writers that keep it, counts_pg.c), it must sum to what
 * store.db's does (both are latest's installed rows). */
static int
fill_installed(migration_t *m)
{
    int64_t dst = 0;

    if (qs_pgdb_installed_fill(m->pg) != 0 ||
        qs_pgdb_int64(m->pg, &dst, "SELECT coalesce(sum(count), 0) FROM installed_hours",
                      0, NULL) != 0)
        return fail(m, "cannot fill installed_hours: %s", qs_pgdb_errmsg(m->pg));
    return kept_sum_agrees(m, "installed_hours",
                           "SELECT coalesce(sum(count), 0) FROM installed_hours", dst);
}

/* The daily compliance snapshots (qs_store_trend.h), when store.db has
 * them: created in PostgreSQL as a first snapshot would, copied, counted. */
static int
copy_daily(migration_t *m)
{
    int64_t present = 0, rows = 0, counted = 0;

    if (qs_sql_int64(m->lite, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                     "name IN ('compliance_daily', 'compliance_days')", &present) != 0)
        return fail(m, "cannot read store.db: %s", sqlite3_errmsg(m->lite));
    if (present != 2)
        return 0;   /* no snapshot was ever taken */
    if (qs_trend_pg_tables(m->pg) != 0)
        return fail(m, "cannot create the daily compliance tables: %s", qs_pgdb_errmsg(m->pg));
    return copy_query(m, "compliance_daily",
                      "SELECT day, topic_type, topic_id, state_id, count FROM compliance_daily",
                      "COPY compliance_daily(day, topic_type, topic_id, state_id, count) "
                      "FROM STDIN", "iitii", &rows) != 0 ||
                   check_rows(m, "compliance_daily", &counted) != 0 ||
                   copy_query(m, "compliance_days", "SELECT day, taken_ms FROM compliance_days",
                              "COPY compliance_days(day, taken_ms) FROM STDIN", "ii",
                              &rows) != 0 ||
                   check_rows(m, "compliance_days", &counted) != 0
               ? -1 : 0;
}

/* The groups' daily snapshots (qs_store_trend.h), when store.db has them
 * (a store.db of an older release has the fleet's days only). */
static int
copy_daily_groups(migration_t *m)
{
    int64_t present = 0, rows = 0, counted = 0;

    if (qs_sql_int64(m->lite, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                     "name IN ('compliance_daily_group', 'compliance_days_group')",
                     &present) != 0)
        return fail(m, "cannot read store.db: %s", sqlite3_errmsg(m->lite));
    if (present != 2)
        return 0;
    if (qs_trend_pg_tables(m->pg) != 0)
        return fail(m, "cannot create the daily compliance tables: %s", qs_pgdb_errmsg(m->pg));
    return copy_query(m, "compliance_daily_group",
                      "SELECT group_name, day, topic_type, topic_id, state_id, count FROM "
                      "compliance_daily_group",
                      "COPY compliance_daily_group(group_name, day, topic_type, topic_id, "
                      "state_id, count) FROM STDIN", "tiitii", &rows) != 0 ||
                   check_rows(m, "compliance_daily_group", &counted) != 0 ||
                   copy_query(m, "compliance_days_group",
                              "SELECT day, group_name FROM compliance_days_group",
                              "COPY compliance_days_group(day, group_name) FROM STDIN", "it",
                              &rows) != 0 ||
                   check_rows(m, "compliance_days_group", &counted) != 0
               ? -1 : 0;
}

/* The fixed tables, then the identity sequence past the largest client_id. */
static int
copy_tables(migration_t *m, qs_migrate_counts_t *c)
{
    int64_t *out[NTABLES] = { &c->clients, &c->seen, &c->latest, &c->compliance_groups,
                              &c->counters, &c->partitions };
    int64_t rows = 0;

    for (size_t i = 0; i < NTABLES; i++)
        if (copy_query(m, tables[i].name, tables[i].select, tables[i].copy, tables[i].kinds,
                       &rows) != 0 ||
            check_rows(m, tables[i].name, out[i]) != 0)
            return -1;
    if (c->clients > 0 &&
        qs_pgdb_exec(m->pg, "SELECT setval(pg_get_serial_sequence('clients', 'client_id'), "
                     "(SELECT max(client_id) FROM clients))") != 0)
        return fail(m, "cannot move the client_id sequence: %s", qs_pgdb_errmsg(m->pg));
    return 0;
}

/* Groups of machines (groups_rules.h), when store.db has any: the tables
 * made in PostgreSQL as its own writers make them, then copied. */
static int
copy_groups(migration_t *m)
{
    int64_t have = 0, rows = 0;

    if (qs_sql_int64(m->lite, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                     "name = 'group_members'", &have) != 0)
        return fail(m, "cannot read store.db's schema: %s", sqlite3_errmsg(m->lite));
    if (have == 0)
        return 0;
    if (qs_pgdb_exec(m->pg, QS_GROUP_SQL_TABLES) != 0)
        return fail(m, "cannot create the group tables: %s", qs_pgdb_errmsg(m->pg));
    return copy_query(m, "machine_groups", "SELECT name, created_ms FROM machine_groups",
                      "COPY machine_groups(name, created_ms) FROM STDIN", "ti", &rows) != 0 ||
                   copy_query(m, "group_members", "SELECT group_name, machine_ps FROM "
                              "group_members", "COPY group_members(group_name, machine_ps) "
                              "FROM STDIN", "tb", &rows) != 0
               ? -1 : 0;
}

/* Inside both transactions: check the target, copy, check, COMMIT. */
static int
migrate_in_tx(migration_t *m, qs_storedb_t *src, qs_migrate_counts_t *c)
{
    qs_partition_t *parts = NULL;
    size_t nparts = 0;
    int64_t existing = 0;
    int rc = -1;

    if (qs_storedb_partitions_present(src, &parts, &nparts) != 0) {
        fail(m, "cannot list store.db's partitions: %s", sqlite3_errmsg(m->lite));
        return -1;
    }
    if (target_rows(m, &existing) != 0)
        goto out;
    if (existing > 0) {
        snprintf(m->errmsg, m->errmsg_len, "the target database is not empty (it holds a "
                 "quietstate store's rows or history tables): migrate only into an empty "
                 "database (createdb a new one)");
        rc = QS_MIGRATE_NOT_EMPTY;
        goto out;
    }
    if (count_source(m, parts, nparts) != 0 || copy_tables(m, c) != 0 || copy_groups(m) != 0 ||
        copy_history(m, parts, nparts, c) != 0 || copy_daily(m) != 0 ||
        copy_daily_groups(m) != 0 || check_sums(m, c) != 0 || fill_installed(m) != 0)
        goto out;
    c->total_rows = m->done;
    c->resealed = m->resealed;
    if (qs_pgdb_commit(m->pg) != 0) {
        fail(m, "COMMIT failed: %s", qs_pgdb_errmsg(m->pg));
        goto out;
    }
    rc = 0;
out:
    free(parts);
    return rc;
}

/* Re-sealing's keys: the old files, and new chains made in chains_dir
 * (NULL: no re-sealing). 0 or -1 with errmsg. */
static int
keys_open(migration_t *m, const char *epochs_dir, const char *chains_dir)
{
    if (chains_dir == NULL)
        return 0;
    if (mkdir(chains_dir, 0700) != 0 && errno != EEXIST)
        return fail(m, "cannot make '%s': %s", chains_dir, strerror(errno));
    /* Chains left by an interrupted run protect nothing: start afresh. */
    if (qs_store_migrate_keys_discard(chains_dir, 0, m->errmsg, m->errmsg_len) != 0 ||
        qs_epochkeys_chains_create(chains_dir, m->errmsg, m->errmsg_len) != 0 ||
        (m->old_keys = qs_epochkeys_open(epochs_dir, 0, m->errmsg, m->errmsg_len)) == NULL ||
        (m->new_keys = qs_epochkeys_open(chains_dir, 0, m->errmsg, m->errmsg_len)) == NULL)
        return -1;
    if ((m->plain = sodium_malloc(QS_MAX_DETAILS_BYTES)) == NULL)
        return fail(m, "out of memory");
    return 0;
}

static void
keys_close(migration_t *m)
{
    qs_epochkeys_destroy(&m->old_keys);
    qs_epochkeys_destroy(&m->new_keys);
    sodium_free(m->plain);
    m->plain = NULL;
    sodium_memzero(m->old_key, sizeof m->old_key);
    sodium_memzero(m->new_key, sizeof m->new_key);
    sodium_memzero(m->sealed, sizeof m->sealed);
}

/* Both databases open, both transactions begun, then migrate_in_tx. */
static int
migrate_open(migration_t *m, const char *sqlite_path, const char *url,
             qs_migrate_counts_t *counts)
{
    qs_storedb_t *src;
    int rc = -1;

    if ((src = qs_storedb_open(sqlite_path, 0, m->errmsg, m->errmsg_len)) == NULL)
        return -1;
    if (qs_storedb_engine(src) != QS_STOREDB_SQLITE) {
        qs_storedb_destroy(&src);
        return fail(m, "'%s' is not an SQLite store", sqlite_path);
    }
    m->lite = qs_storedb_sqlite(src);
    if ((m->pg = qs_pgdb_open(url, 1, m->errmsg, m->errmsg_len)) == NULL) {
        qs_storedb_destroy(&src);
        return -1;
    }
    m->conn = qs_pgdb_conn(m->pg);
    /* A read transaction on store.db: one snapshot for every table. */
    if (sqlite3_exec(m->lite, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        qs_pgdb_begin(m->pg) != 0) {
        fail(m, "cannot begin the copy: %s", qs_pgdb_errmsg(m->pg));
    } else {
        rc = migrate_in_tx(m, src, counts);
        if (rc != 0)
            qs_pgdb_rollback(m->pg);
        (void)sqlite3_exec(m->lite, "ROLLBACK", NULL, NULL, NULL);
    }
    qs_pgdb_destroy(&m->pg);
    qs_storedb_destroy(&src);
    return rc;
}

int
qs_store_migrate(const char *sqlite_path, const char *url, const char *epochs_dir,
                 const char *chains_dir, qs_migrate_counts_t *counts,
                 qs_migrate_progress_fn progress, void *progress_arg, char *errmsg,
                 size_t errmsg_len)
{
    migration_t m = { .progress = progress, .progress_arg = progress_arg, .errmsg = errmsg,
                      .errmsg_len = errmsg_len };
    char ignored[256];
    int rc = -1;

    memset(counts, 0, sizeof *counts);
    if ((m.buf = malloc(COPY_CHUNK)) == NULL) {
        snprintf(errmsg, errmsg_len, "out of memory");
        return -1;
    }
    if (keys_open(&m, epochs_dir, chains_dir) == 0)
        rc = migrate_open(&m, sqlite_path, url, counts);
    keys_close(&m);
    if (rc != 0 && chains_dir != NULL)
        (void)qs_store_migrate_keys_discard(chains_dir, 1, ignored, sizeof ignored);
    if (rc == 0 && progress != NULL)
        progress(progress_arg, "done", m.done, m.total);
    free(m.buf);
    return rc;
}

int
qs_store_migrate_analyze(const char *url, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_pgdb_open(url, 0, errmsg, errmsg_len);
    int rc;

    if (pg == NULL)
        return -1;
    rc = qs_pgdb_exec(pg, "ANALYZE");
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "ANALYZE failed: %s", qs_pgdb_errmsg(pg));
    qs_pgdb_destroy(&pg);
    return rc;
}
