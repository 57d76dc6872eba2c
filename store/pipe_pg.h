/* pipe_pg.h - prepared statements sent in libpq pipeline mode (private to store/).
 *
 * The write path sends a group's statements without waiting for each
 * answer: qs_pgpipe_send queues the execution of a prepared statement
 * (binary parameters, text results), qs_pgpipe_run ends the segment with a
 * Sync and hands each statement's result, in order, to a callback. A
 * segment is run before it grows past QS_PGPIPE_SEGMENT statements, so
 * neither side's socket buffer can fill up while the other waits.
 * Statements are prepared once per connection generation (a reconnection
 * loses them: qs_pgdb_generation).
 */
#ifndef QS_STORE_PIPE_PG_H
#define QS_STORE_PIPE_PG_H

#include <stddef.h>
#include <stdint.h>

#include "storedb_pg.h"

#define QS_PGPIPE_SEGMENT 512
#define QS_PGPIPE_MAX_PARAMS 10

/* Parameter type OIDs (pg_type.h is a server header). */
#define QS_PG_INT8OID 20
#define QS_PG_TEXTOID 25
#define QS_PG_BYTEAOID 17

/* Array types (a set of rows is sent as one array per column). */
#define QS_PG_INT8ARRAYOID 1016
#define QS_PG_TEXTARRAYOID 1009
#define QS_PG_BYTEAARRAYOID 1001

typedef struct qs_pgpipe qs_pgpipe_t;

/* A one-dimensional array parameter in PostgreSQL's binary format (what
 * array_recv reads): the rows of a set-based statement, one column each. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint32_t n;
} qs_pgarray_t;

/* Start an array of elem_oid (QS_PG_INT8OID, _TEXTOID, _BYTEAOID); the
 * buffer is reused across arrays. */
void qs_pgarray_begin(qs_pgarray_t *a, unsigned elem_oid);
void qs_pgarray_int8(qs_pgarray_t *a, int64_t v);
/* data NULL appends SQL NULL. */
void qs_pgarray_bytes(qs_pgarray_t *a, const void *data, size_t len);
/* Write the element count into the header; then bind buf/len. */
void qs_pgarray_finish(qs_pgarray_t *a);
void qs_pgarray_free(qs_pgarray_t *a);

/* One statement's parameters, binary. The values are copied into libpq's
 * output buffer by qs_pgpipe_send, so a params may be reused at once. */
typedef struct {
    int n;
    const char *values[QS_PGPIPE_MAX_PARAMS];
    int lengths[QS_PGPIPE_MAX_PARAMS];
    int formats[QS_PGPIPE_MAX_PARAMS];
    uint8_t ints[QS_PGPIPE_MAX_PARAMS][8];
} qs_pgparams_t;

void qs_pgparams_reset(qs_pgparams_t *p);
void qs_pgparams_int8(qs_pgparams_t *p, int64_t v);
/* Borrowed bytes (until qs_pgpipe_send); data NULL binds SQL NULL. */
void qs_pgparams_bytes(qs_pgparams_t *p, const void *data, size_t len);
/* A text parameter in the text format (arrays: "{1,2}"). */
void qs_pgparams_text(qs_pgparams_t *p, const char *s);

/* Called with each result (borrowed; the pipe clears it) and the tag it
 * was sent with; returns 0, or -1 to fail the run (after noting why with
 * qs_pgpipe_fail). */
typedef int (*qs_pgpipe_result_fn)(void *ctx, int tag, PGresult *r);

qs_pgpipe_t *qs_pgpipe_new(qs_pgdb_t *pg);
void qs_pgpipe_destroy(qs_pgpipe_t **p_p);

/* Prepare sql under name unless this connection generation already has it.
 * Outside a segment only. 0 or -1. */
int qs_pgpipe_prepare(qs_pgpipe_t *p, const char *name, const char *sql, int nparams,
                      const unsigned *types);

/* Forget every preparation (call after a reconnection; also done by
 * qs_pgpipe_prepare when the generation moved). */
void qs_pgpipe_forget(qs_pgpipe_t *p);

/* Queue an execution; runs the segment first (through cb) when it is full.
 * 0 or -1. */
int qs_pgpipe_send(qs_pgpipe_t *p, const char *name, const qs_pgparams_t *params, int tag,
                   qs_pgpipe_result_fn cb, void *ctx);

/* Queue a statement without parameters ("BEGIN", "COMMIT"). */
int qs_pgpipe_send_sql(qs_pgpipe_t *p, const char *sql, int tag, qs_pgpipe_result_fn cb,
                       void *ctx);

/* Queue sql as an unnamed statement (parsed on every call: for the rare
 * statement not worth a prepared slot). types as for qs_pgpipe_prepare. */
int qs_pgpipe_send_unnamed(qs_pgpipe_t *p, const char *sql, const unsigned *types,
                           const qs_pgparams_t *params, int tag, qs_pgpipe_result_fn cb,
                           void *ctx);

/* DEALLOCATE a prepared statement (outside a segment); 0 or -1. */
int qs_pgpipe_deallocate(qs_pgpipe_t *p, const char *name);

/* Sync, hand every queued statement's result to cb, leave pipeline mode.
 * 0, or -1: a statement failed (the transaction is aborted) or the
 * connection broke; qs_pgpipe_errmsg says why. */
int qs_pgpipe_run(qs_pgpipe_t *p, qs_pgpipe_result_fn cb, void *ctx);

/* Note a failure found by a result callback. */
void qs_pgpipe_fail(qs_pgpipe_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first failure of the last run, one line. */
const char *qs_pgpipe_errmsg(const qs_pgpipe_t *p);
/* Its SQLSTATE ("40P01", "42P01"), "" when none (a broken connection). */
const char *qs_pgpipe_sqlstate(const qs_pgpipe_t *p);

/* Leave pipeline mode after a failure, dropping whatever is queued. */
void qs_pgpipe_abandon(qs_pgpipe_t *p);

#endif
