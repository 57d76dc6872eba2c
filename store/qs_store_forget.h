/* qs_store_forget.h - erase one machine's rows from store.db, leaving no residue.
 *
 * A machine is named only by its keyed pseudonym (and optionally its domain's):
 * the caller computes them from the name an operator already knows. Every row
 * of latest and of every history partition that carries the pseudonym is
 * deleted in one write transaction (secure_delete zeroes the freed cells);
 * then the WAL is truncated and free pages returned (qs_storedb_scrub).
 * The per-partition key is not shredded: it still protects other machines'
 * rows. The client's dedup state (clients, seen) holds no identity and stays.
 */
#ifndef QS_STORE_FORGET_H
#define QS_STORE_FORGET_H

#include <stddef.h>
#include <stdint.h>

#include "qs_pseudonym.h"
#include "qs_storedb.h"

typedef struct {
    int64_t latest_rows;        /* rows deleted from latest */
    int64_t history_rows;       /* rows deleted from history partitions */
    int64_t partitions;         /* partitions that held at least one such row */
    int scrubbed;               /* 1 when WAL truncate + incremental vacuum ran */
} qs_forget_counts_t;

#define QS_FORGET_NOT_SCRUBBED (-2)

/* Delete every row of machine_ps (and, when domain_ps is not NULL, of that
 * domain only), commit, then scrub. Returns 0; -1 with errmsg when the delete
 * failed (nothing was deleted); QS_FORGET_NOT_SCRUBBED with errmsg when the
 * rows were deleted (counts say how many) but the scrub failed, e.g. a reader
 * kept the WAL busy for 10 s: the next retention pass truncates it. */
int qs_storedb_forget_machine(qs_storedb_t *db, qs_forget_counts_t *counts,
                              const uint8_t machine_ps[QS_PSEUDONYM_BYTES],
                              const uint8_t *domain_ps, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* As qs_storedb_forget_machine, for every spelling of a machine's
 * pseudonyms (qs_pseudonym_machine): rows under the legacy fold's
 * pseudonyms go in the same transaction. */
int qs_storedb_forget_who(qs_storedb_t *db, qs_forget_counts_t *counts,
                          const qs_machine_ps_t *who, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

#endif
