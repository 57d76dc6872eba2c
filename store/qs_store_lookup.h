/* qs_store_lookup.h - one machine's rows in store.db, found by its pseudonym.
 *
 * What a lookup may return is a privacy rule, so it is decided here once:
 * the rows that carry the machine's pseudonym (and the domain's, when one is
 * given), either its current state per topic from latest or, with history,
 * the events retention still keeps in every history partition. Details are
 * decrypted with the partition's epoch key while it exists and reported as
 * shredded (or unreadable) otherwise. Nothing here can enumerate machines:
 * without a pseudonym there is nothing to look up.
 *
 * The API takes pseudonyms, not names: computing one needs the site key,
 * which the store's data side has no need to hold for reading, and the
 * callers that may name a machine (qsctl, qs-web) already hold it and check
 * the name (a blank name has the all-zero pseudonym) before asking. This is
 * also how forget names a machine, so both take the same input.
 */
#ifndef QS_STORE_LOOKUP_H
#define QS_STORE_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "qs_epochkeys.h"
#include "qs_pseudonym.h"
#include "qs_storedb.h"

typedef enum {
    QS_LOOKUP_DETAILS_NONE = 0,     /* the event had no details, or a current state */
    QS_LOOKUP_DETAILS_OPEN,         /* details holds the decrypted text */
    QS_LOOKUP_DETAILS_SHREDDED,     /* the partition's key is gone (or no key store) */
    QS_LOOKUP_DETAILS_UNREADABLE,   /* the key did not open them (tampered, wrong key) */
} qs_lookup_details_t;

typedef struct {
    uint32_t topic_type;
    char *topic_id;             /* owned by the result */
    uint32_t state_id;
    int64_t time_ms;            /* state change (current) or event time (history) */
    int64_t report_ms;          /* current states: last report; history: -1 */
    int64_t serial;             /* history: the message serial; current states: -1 */
    qs_lookup_details_t details_state;
    char *details;              /* when QS_LOOKUP_DETAILS_OPEN; wiped when freed */
} qs_storedb_lookup_row_t;

typedef struct {
    qs_storedb_lookup_row_t *rows;
    size_t n;
} qs_storedb_lookup_t;

/* The rows of the machine with pseudonym machine_ps (and domain_ps, or any
 * domain when NULL), read in one snapshot. history == 0: current states,
 * ordered by (topic_type, topic_id, client). history != 0: retained events of every
 * partition, ordered by (time, topic type, serial), their details opened
 * with ks (NULL: every key counts as shredded). Fills *out (free with
 * qs_storedb_lookup_free). Returns 0, or -1 with errmsg (*out empty). */
int qs_storedb_lookup(qs_storedb_t *db, qs_storedb_lookup_t *out,
                      const uint8_t machine_ps[QS_PSEUDONYM_BYTES], const uint8_t *domain_ps,
                      int history, qs_epochkeys_t *ks, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Wipe the details, free the rows; leaves *res empty. No-op when empty. */
void qs_storedb_lookup_free(qs_storedb_lookup_t *res);

#endif
