/* forget.c - delete one machine's rows from latest and every history partition.
 *
 * One transaction covers latest and all partitions, so a crash leaves either
 * everything or nothing of the machine. Each partition is searched through its
 * machine_ps index; its row count follows (qs_history_delete). A
 * PostgreSQL store is handed to forget_pg.c.
 */
#include "groups_rules.h"
#include "history_rows.h"
#include "lookup_rules.h"
#include "ops_pg.h"
#include "qs_store_forget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pseudonyms (?1.. in qs_who_params' order) and the condition on them
 * (lookup_rules.h: the rule lookup uses, on both engines). */
struct who {
    const uint8_t *params[2 * QS_PSEUDONYM_SPELLINGS];
    int n;
    char where[160];
    const qs_machine_ps_t *who;
};

static int
bind_who(sqlite3_stmt *st, const void *ctx)
{
    const struct who *w = ctx;

    for (int i = 0; i < w->n; i++)
        if (sqlite3_bind_blob(st, i + 1, w->params[i], QS_PSEUDONYM_BYTES,
                              SQLITE_STATIC) != SQLITE_OK)
            return -1;
    return 0;
}

static int
delete_latest(sqlite3 *sql, const struct who *w, const char *where, int64_t *deleted)
{
    char q[256];

    snprintf(q, sizeof q, "DELETE FROM latest WHERE %s", where);
    return qs_sql_run(sql, q, bind_who, w, deleted);
}

/* Inside the transaction: latest, then every partition present. */
static int
delete_all(qs_storedb_t *db, const struct who *w, qs_forget_counts_t *counts,
           char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    const char *where = w->where;
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    char name[64];

    /* Listed inside the write transaction: no partition can appear meanwhile. */
    if (qs_storedb_partitions_present(db, &parts, &n_parts) != 0) {
        snprintf(errmsg, errmsg_len, "cannot list history partitions: %s", sqlite3_errmsg(sql));
        return -1;
    }
    if (delete_latest(sql, w, where, &counts->latest_rows) != 0) {
        snprintf(errmsg, errmsg_len, "cannot delete from latest: %s", sqlite3_errmsg(sql));
        free(parts);
        return -1;
    }
    if (qs_group_forget_sqlite(sql, w->who, NULL) != 0) {   /* its group memberships */
        snprintf(errmsg, errmsg_len, "cannot delete from group_members: %s",
                 sqlite3_errmsg(sql));
        free(parts);
        return -1;
    }
    for (size_t i = 0; i < n_parts; i++) {
        int64_t deleted = 0;

        if (qs_history_delete(db, &deleted, parts[i].epoch, parts[i].topic_type, where,
                              bind_who, w) != 0) {
            if (qs_storedb_partition_name(name, sizeof name, parts[i].epoch,
                                          parts[i].topic_type) != 0)
                snprintf(name, sizeof name, "?");
            snprintf(errmsg, errmsg_len, "cannot delete from '%s': %s", name,
                     sqlite3_errmsg(sql));
            free(parts);
            return -1;
        }
        if (deleted > 0) {
            counts->history_rows += deleted;
            counts->partitions++;
        }
    }
    free(parts);
    return 0;
}

int
qs_storedb_forget_machine(qs_storedb_t *db, qs_forget_counts_t *counts,
                          const uint8_t machine_ps[QS_PSEUDONYM_BYTES],
                          const uint8_t *domain_ps, char *errmsg, size_t errmsg_len)
{
    qs_machine_ps_t who;
    int rc;

    qs_who_one(&who, machine_ps, domain_ps);
    rc = qs_storedb_forget_who(db, counts, &who, errmsg, errmsg_len);
    qs_machine_ps_wipe(&who);
    return rc;
}

int
qs_storedb_forget_who(qs_storedb_t *db, qs_forget_counts_t *counts,
                      const qs_machine_ps_t *who, char *errmsg, size_t errmsg_len)
{
    sqlite3 *sql = qs_storedb_sqlite(db);
    struct who w;
    char err[512];

    if (qs_storedb_pgdb(db) != NULL)
        return qs_storedb_forget_machine_pg(db, counts, who, errmsg, errmsg_len);
    memset(counts, 0, sizeof *counts);
    w.n = qs_who_params(w.params, who);
    w.who = who;
    if (qs_who_where(w.where, sizeof w.where, who, '?') != 0) {
        snprintf(errmsg, errmsg_len, "the condition on the machine is too long");
        return -1;
    }
    if (qs_storedb_begin(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot lock store.db: %s", sqlite3_errmsg(sql));
        return -1;
    }
    if (delete_all(db, &w, counts, errmsg, errmsg_len) != 0)
        goto fail;
    if (qs_storedb_commit(db) != 0) {
        snprintf(errmsg, errmsg_len, "cannot commit: %s", sqlite3_errmsg(sql));
        goto fail;
    }
    if (qs_storedb_scrub(db, err, sizeof err) != 0) {
        snprintf(errmsg, errmsg_len, "%s", err);
        return QS_FORGET_NOT_SCRUBBED;
    }
    counts->scrubbed = 1;
    return 0;
fail:
    qs_storedb_rollback(db);
    memset(counts, 0, sizeof *counts);
    return -1;
}
