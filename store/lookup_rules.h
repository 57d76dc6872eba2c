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

/* Which rows are a machine's, for lookup and forget on both engines: the
 * condition on machine_ps (and domain_ps) matching any of who's spellings
 * (qs_machine_ps_t), with placeholders mark ('?' SQLite, '$' PostgreSQL)
 * numbered from 1 in the order of qs_who_params. Parenthesized. 0, or -1
 * when buf is too small. */
int qs_who_where(char *buf, size_t len, const qs_machine_ps_t *who, char mark);

/* The pseudonyms bound to that condition, in order, into params (at most
 * 2 * QS_PSEUDONYM_SPELLINGS, each QS_PSEUDONYM_BYTES long); returns how many. */
int qs_who_params(const uint8_t *params[2 * QS_PSEUDONYM_SPELLINGS], const qs_machine_ps_t *who);

/* who for one spelling (the single-pseudonym entry points). */
void qs_who_one(qs_machine_ps_t *who, const uint8_t *machine_ps, const uint8_t *domain_ps);

/* Events in (time, topic type, serial) order. */
void qs_lookup_sort_events(qs_storedb_lookup_t *out);

#endif
