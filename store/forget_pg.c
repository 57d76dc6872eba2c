/* forget_pg.c - delete one machine's rows from latest and every history partition (PostgreSQL).
 *
 * As forget.c: one transaction covers latest and all partitions, so a crash
 * leaves everything or nothing of the machine. latest's rows leave with
 * their compliance counts and installed hours (qs_pg_latest_delete: no
 * triggers keep them on this engine), each partition's row count follows
 * in this connection's shard. After the commit the tables it deleted from
 * are VACUUMed (the fixed ones by qs_storedb_scrub, the partitions here),
 * so the space of the deleted rows is marked for reuse at once; the bytes
 * themselves may stay in data files, the WAL and its archives until
 * overwritten, which is why forget needs no key: what identifies is
 * pseudonymous and details are sealed under per-partition keys
 * (docs/privacy.md, "On PostgreSQL").
 */
#include "groups_rules.h"
#include "lookup_rules.h"
#include "ops_pg.h"
#include "pgutil.h"
#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inside the transaction: every partition present, then latest (the
 * workers' order of shard rows: partitions, then compliance_counts, so no
 * cycle with them); touched[i] is set for each partition that lost rows. */
static int
delete_all(qs_pgdb_t *pg, const qs_pg_who_t *w, qs_forget_counts_t *counts,
           const qs_partition_t *parts, size_t n_parts, int *touched, char *errmsg,
           size_t errmsg_len)
{
    char err[512], name[64];

    for (size_t i = 0; i < n_parts; i++) {
        int64_t deleted = 0;

        if (qs_pg_history_delete(pg, &deleted, parts[i].epoch, parts[i].topic_type, w->where,
                                 w->n, w->values, w->lengths, w->formats, err,
                                 sizeof err) != 0) {
            if (qs_storedb_partition_name(name, sizeof name, parts[i].epoch,
                                          parts[i].topic_type) != 0)
                snprintf(name, sizeof name, "?");
            snprintf(errmsg, errmsg_len, "cannot delete from '%s': %s", name, err);
            return -1;
        }
        if (deleted > 0) {
            counts->history_rows += deleted;
            counts->partitions++;
            touched[i] = 1;
        }
    }
    return qs_pg_latest_delete(pg, &counts->latest_rows, w->where, w->n, w->values,
                               w->lengths, w->formats, errmsg, errmsg_len);
}

/* After the commit: the groups and installed hours left at 0 go (no topic
 * id of the machine's stays in compliance_counts or installed_hours), then
 * VACUUM what was deleted from. 0, or -1 with errmsg. */
static int
scrub(qs_storedb_t *db, qs_pgdb_t *pg, const qs_partition_t *parts, size_t n_parts,
      const int *touched, char *errmsg, size_t errmsg_len)
{
    if (qs_pg_prune_zero_groups(pg, NULL, errmsg, errmsg_len) != 0)
        return -1;
    for (size_t i = 0; i < n_parts; i++)
        if (touched[i] && qs_pg_vacuum_partition(pg, parts[i].epoch, parts[i].topic_type,
                                                 errmsg, errmsg_len) != 0)
            return -1;
    return qs_storedb_scrub(db, errmsg, errmsg_len);
}

int
qs_storedb_forget_machine_pg(qs_storedb_t *db, qs_forget_counts_t *counts,
                             const qs_machine_ps_t *who, char *errmsg, size_t errmsg_len)
{
    qs_pgdb_t *pg = qs_storedb_pgdb(db);
    qs_pg_who_t w;
    qs_partition_t *parts = NULL;
    size_t n_parts = 0;
    int *touched = NULL, rc = -1;

    memset(counts, 0, sizeof *counts);
    if (qs_pg_who_set(&w, who, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pg_ensure(pg, errmsg, errmsg_len) != 0)
        return -1;
    if (qs_pgdb_begin(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot begin a transaction: %s", qs_pgdb_errmsg(pg));
        return -1;
    }
    /* Listed inside the transaction; a partition a worker creates meanwhile
     * holds only rows written after this forget began. */
    if (qs_pgdb_partitions_present(pg, &parts, &n_parts) != 0) {
        snprintf(errmsg, errmsg_len, "cannot list history partitions: %s", qs_pgdb_errmsg(pg));
        goto fail;
    }
    touched = qs_calloc(n_parts > 0 ? n_parts : 1, sizeof *touched);
    if (delete_all(pg, &w, counts, parts, n_parts, touched, errmsg, errmsg_len) != 0 ||
        qs_group_forget_pg(pg, who, NULL, errmsg, errmsg_len) != 0)   /* its memberships */
        goto fail;
    if (qs_pgdb_commit(pg) != 0) {
        snprintf(errmsg, errmsg_len, "cannot commit: %s", qs_pgdb_errmsg(pg));
        goto fail;
    }
    rc = QS_FORGET_NOT_SCRUBBED;
    if (scrub(db, pg, parts, n_parts, touched, errmsg, errmsg_len) == 0) {
        counts->scrubbed = 1;
        rc = 0;
    }
    free(parts);
    free(touched);
    return rc;
fail:
    qs_pgdb_rollback(pg);
    memset(counts, 0, sizeof *counts);
    free(parts);
    free(touched);
    return -1;
}
