/* forget.c - delete one machine's rows from latest and every history partition.
 *
 * One transaction covers latest and all partitions, so a crash leaves either
 * everything or nothing of the machine. Each partition is searched through its
 * machine_ps index; the partition's row count is kept in step.
 */
#include "forget.h"
#include "purge.h"
#include "qs_log.h"
#include "storedb_sqlite.h" /* TODO(store-interface): must go */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run a DELETE with ?1 = machine pseudonym and ?2 = domain pseudonym. */
static int
delete_rows(sqlite3 *sql, const char *table, const uint8_t *machine_ps,
            const uint8_t *domain_ps, int64_t *deleted)
{
    sqlite3_stmt *st = NULL;
    char q[256];
    int rc;

    if (snprintf(q, sizeof q, "DELETE FROM \"%s\" WHERE machine_ps = ?1%s", table,
                 domain_ps ? " AND domain_ps = ?2" : "") >= (int)sizeof q)
        return -1;
    if (sqlite3_prepare_v2(sql, q, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, machine_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    if (domain_ps)
        sqlite3_bind_blob(st, 2, domain_ps, QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    *deleted = sqlite3_changes(sql);
    return 0;
}

static int
table_exists(sqlite3 *sql, const char *name)
{
    sqlite3_stmt *st = NULL;
    int found;

    if (sqlite3_prepare_v2(sql, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static int
lower_row_count(sqlite3 *sql, const qs_partition_t *part, int64_t deleted)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(sql, "UPDATE partitions SET rows = max(rows - ?3, 0) "
                           "WHERE epoch = ?1 AND topic_type = ?2", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, part->epoch);
    sqlite3_bind_int64(st, 2, part->topic_type);
    sqlite3_bind_int64(st, 3, deleted);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_forget_machine(qs_storedb_t *db, const uint8_t machine_ps[QS_PSEUDONYM_BYTES],
                  const uint8_t *domain_ps, qs_forget_counts_t *counts,
                  char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    char name[64], err[512];

    memset(counts, 0, sizeof *counts);
    if (qs_storedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot lock store.db: %s", sqlite3_errmsg(sql));
        return -1;
    }
    /* List inside the write transaction: no partition can appear meanwhile. */
    if (qs_storedb_partitions_present(db, &parts, &n_parts) != 0) {
        snprintf(errmsg, errmsg_len, "cannot list history partitions: %s", sqlite3_errmsg(sql));
        goto fail;
    }
    if (delete_rows(sql, "latest", machine_ps, domain_ps, &counts->latest_rows) != 0) {
        snprintf(errmsg, errmsg_len, "cannot delete from latest: %s", sqlite3_errmsg(sql));
        goto fail;
    }
    for (size_t i = 0; i < n_parts; i++) {
        int64_t deleted = 0;

        if (qs_storedb_partition_name(name, sizeof name, parts[i].epoch,
                                      parts[i].topic_type) != 0 || !table_exists(sql, name))
            continue;
        if (delete_rows(sql, name, machine_ps, domain_ps, &deleted) != 0 ||
            (deleted > 0 && lower_row_count(sql, &parts[i], deleted) != 0)) {
            snprintf(errmsg, errmsg_len, "cannot delete from '%s': %s", name,
                     sqlite3_errmsg(sql));
            goto fail;
        }
        if (deleted > 0) {
            counts->history_rows += deleted;
            counts->partitions++;
        }
    }
    if (qs_storedb_commit(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot commit: %s", sqlite3_errmsg(sql));
        goto fail;
    }
    free(parts);
    if (qs_storedb_scrub(db, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "%s", err);
        return QS_FORGET_NOT_SCRUBBED;
    }
    counts->scrubbed = 1;
    return 0;
fail:
    qs_storedb_rollback(db);
    free(parts);
    memset(counts, 0, sizeof *counts);
    return -1;
}
