/* lookup_rules.h - the engine-neutral parts of a lookup, shared by both engines (private to store/).
 *
 * lookup.c (SQLite) and lookup_pg.c (PostgreSQL) fetch a machine's rows
 * differently; how a row is collected, how its details are opened (or
 * reported shredded or unreadable) and in which order events come out is
 * decided here once (defined in lookup.c).
 */
#ifndef QS_LOOKUP_RULES_H
#define QS_LOOKUP_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "qs_store_lookup.h"

typedef struct {
    qs_storedb_lookup_t *res;
    size_t cap;             /* rows allocated */
} qs_lookup_rows_t;

/* A new zeroed row at the end of r->res (never NULL: aborts on out of memory). */
qs_storedb_lookup_row_t *qs_lookup_push(qs_lookup_rows_t *r);

/* Open one history row's sealed details with its partition's key from ks
 * (NULL: shredded), bound to the row's identity (client_id, row->serial,
 * epoch, row->topic_type) exactly as qs-store sealed them; sets
 * details_state and details. */
void qs_lookup_open_details(qs_storedb_lookup_row_t *row, qs_epochkeys_t *ks,
                            int64_t client_id, int64_t epoch, const uint8_t *sealed,
                            size_t sealed_len);

/* Events in (time, topic type, serial) order. */
void qs_lookup_sort_events(qs_storedb_lookup_t *out);

#endif
