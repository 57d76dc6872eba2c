/* import_read.h - what qsctl import reads before it writes: stored states and low-water marks, many machines at once (private to store/).
 *
 * import.c needs, per transaction of a few thousand machines, the current
 * states every machine already has (to leave out what would change
 * nothing) and the low-water mark of each placeholder client (to number
 * new serials above it). Asked one machine at a time, a PostgreSQL server
 * costs a round trip each (half a millisecond: a minute per million rows);
 * these read a whole transaction's machines in one statement there, and in
 * one prepared statement stepped per machine on SQLite. Both engines
 * answer alike.
 */
#ifndef QS_STORE_IMPORT_READ_H
#define QS_STORE_IMPORT_READ_H

#include <stddef.h>
#include <stdint.h>

#include "qs_keys.h"
#include "qs_pseudonym.h"
#include "qs_storedb.h"

/* A current state some client holds under a machine pseudonym. */
typedef struct {
    uint8_t ps[QS_PSEUDONYM_BYTES];
    uint32_t topic_type, state_id;
    int64_t time_ms;
    char *topic_id;              /* owned */
    uint8_t pk[QS_KEY_BYTES];    /* the client key holding it */
} qs_import_have_t;

typedef struct {
    qs_import_have_t *rows;
    size_t n, cap;
} qs_import_haves_t;

/* The latest rows carrying any of the n pseudonyms ps[0..n) (ascending by
 * memcmp, distinct) into *out (emptied first), ordered by pseudonym. 0, or
 * -1 with errmsg. */
int qs_import_read_states(qs_storedb_t *db, const uint8_t (*ps)[QS_PSEUDONYM_BYTES], size_t n,
                          qs_import_haves_t *out, char *errmsg, size_t errmsg_len);

/* The low-water mark of each of the n client keys pk[0..n) into lw[0..n)
 * (0 for a key with no client row). 0, or -1 with errmsg. */
int qs_import_read_low_water(qs_storedb_t *db, const uint8_t (*pk)[QS_KEY_BYTES], size_t n,
                             uint64_t *lw, char *errmsg, size_t errmsg_len);

/* Free the rows; leaves *h empty and reusable. */
void qs_import_haves_clear(qs_import_haves_t *h);

#endif
