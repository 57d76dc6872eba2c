/* pipe_pg.c - prepared statements sent in libpq pipeline mode.
 *
 * A segment is: enter pipeline mode, PQsendQueryPrepared per statement
 * (libpq copies the parameters into its output buffer), PQpipelineSync,
 * then one result per statement (each followed by a NULL) and the
 * PGRES_PIPELINE_SYNC marker, then leave pipeline mode. After a failing
 * statement the server skips the rest of the segment (PGRES_PIPELINE_ABORTED
 * results) and the open transaction is aborted: the caller rolls back. A
 * broken connection ends the run at once; qs_pgdb_ok then says so.
 */
#include "pipe_pg.h"
#include "qs_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PREPARED 96

struct qs_pgpipe {
    qs_pgdb_t *pg;
    unsigned generation;          /* of the names below */
    char prepared[MAX_PREPARED][40];
    size_t n_prepared;
    int tags[QS_PGPIPE_SEGMENT];
    size_t queued;
    int in_pipe;
    char err[512];
    char sqlstate[6];
};

void
qs_pgparams_reset(qs_pgparams_t *p)
{
    p->n = 0;
}

void
qs_pgparams_int8(qs_pgparams_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    int i = p->n++;

    QS_ASSERT(i < QS_PGPIPE_MAX_PARAMS);
    for (int k = 0; k < 8; k++)
        p->ints[i][k] = (uint8_t)(u >> (56 - 8 * k));
    p->values[i] = (const char *)p->ints[i];
    p->lengths[i] = 8;
    p->formats[i] = 1;
}

void
qs_pgparams_bytes(qs_pgparams_t *p, const void *data, size_t len)
{
    int i = p->n++;

    QS_ASSERT(i < QS_PGPIPE_MAX_PARAMS);
    p->values[i] = data;
    p->lengths[i] = (int)len;
    p->formats[i] = 1;
}

void
qs_pgparams_text(qs_pgparams_t *p, const char *s)
{
    int i = p->n++;

    QS_ASSERT(i < QS_PGPIPE_MAX_PARAMS);
    p->values[i] = s;
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

/* ------------------------------------------------------------- arrays */

static void
array_put(qs_pgarray_t *a, const void *data, size_t len)
{
    if (a->len + len > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + len)
            cap *= 2;
        a->buf = qs_realloc(a->buf, cap);
        a->cap = cap;
    }
    memcpy(a->buf + a->len, data, len);
    a->len += len;
}

static void
put_be32(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

static void
array_be32(qs_pgarray_t *a, uint32_t v)
{
    uint8_t b[4];

    put_be32(b, v);
    array_put(a, b, 4);
}

/* Header: ndim 1, has-null flag, element type, then the one dimension
 * (length patched by finish, lower bound 1). */
void
qs_pgarray_begin(qs_pgarray_t *a, unsigned elem_oid)
{
    a->len = 0;
    a->n = 0;
    array_be32(a, 1);
    array_be32(a, 0);
    array_be32(a, elem_oid);
    array_be32(a, 0);
    array_be32(a, 1);
}

void
qs_pgarray_int8(qs_pgarray_t *a, int64_t v)
{
    uint8_t b[8];
    uint64_t u = (uint64_t)v;

    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)(u >> (56 - 8 * k));
    array_be32(a, 8);
    array_put(a, b, 8);
    a->n++;
}

void
qs_pgarray_bytes(qs_pgarray_t *a, const void *data, size_t len)
{
    if (data == NULL) {
        array_be32(a, 0xffffffffu);
        put_be32(a->buf + 4, 1);
    } else {
        array_be32(a, (uint32_t)len);
        array_put(a, data, len);
    }
    a->n++;
}

void
qs_pgarray_finish(qs_pgarray_t *a)
{
    put_be32(a->buf + 12, a->n);
}

void
qs_pgarray_free(qs_pgarray_t *a)
{
    free(a->buf);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------- the pipe */

qs_pgpipe_t *
qs_pgpipe_new(qs_pgdb_t *pg)
{
    qs_pgpipe_t *p = qs_calloc(1, sizeof *p);

    p->pg = pg;
    p->generation = qs_pgdb_generation(pg);
    return p;
}

void
qs_pgpipe_destroy(qs_pgpipe_t **p_p)
{
    if (p_p == NULL || *p_p == NULL)
        return;
    free(*p_p);
    *p_p = NULL;
}

/* One line: libpq's messages end in newlines and may hold several. */
static void
set_err(qs_pgpipe_t *p, const char *what, const char *detail)
{
    size_t n;

    snprintf(p->err, sizeof p->err, "%s: %s", what, detail && *detail ? detail : "unknown error");
    for (char *c = p->err; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    n = strlen(p->err);
    while (n > 0 && p->err[n - 1] == ' ')
        p->err[--n] = '\0';
}

void
qs_pgpipe_fail(qs_pgpipe_t *p, const char *fmt, ...)
{
    va_list ap;

    if (p->err[0] != '\0')
        return;   /* the first failure is the one worth a log line */
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
}

static void
note_result(qs_pgpipe_t *p, PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    if (p->err[0] != '\0')
        return;
    set_err(p, "statement failed", PQresultErrorMessage(r));
    snprintf(p->sqlstate, sizeof p->sqlstate, "%s", state ? state : "");
}

static void
note_conn(qs_pgpipe_t *p, const char *what)
{
    if (p->err[0] == '\0')
        set_err(p, what, PQerrorMessage(qs_pgdb_conn(p->pg)));
}

const char *
qs_pgpipe_errmsg(const qs_pgpipe_t *p)
{
    return p->err[0] ? p->err : "no error";
}

const char *
qs_pgpipe_sqlstate(const qs_pgpipe_t *p)
{
    return p->sqlstate;
}

void
qs_pgpipe_forget(qs_pgpipe_t *p)
{
    p->n_prepared = 0;
    p->generation = qs_pgdb_generation(p->pg);
}

int
qs_pgpipe_prepare(qs_pgpipe_t *p, const char *name, const char *sql, int nparams,
                  const unsigned *types)
{
    PGresult *r;
    int ok;

    if (p->generation != qs_pgdb_generation(p->pg))
        qs_pgpipe_forget(p);
    for (size_t i = 0; i < p->n_prepared; i++)
        if (strcmp(p->prepared[i], name) == 0)
            return 0;
    QS_ASSERT(!p->in_pipe && p->n_prepared < MAX_PREPARED && strlen(name) < 40);
    r = PQprepare(qs_pgdb_conn(p->pg), name, sql, nparams, (const Oid *)types);
    ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        p->err[0] = '\0';
        if (r != NULL)
            note_result(p, r);
        else
            note_conn(p, "cannot prepare a statement");
    }
    PQclear(r);
    if (!ok)
        return -1;
    snprintf(p->prepared[p->n_prepared++], sizeof p->prepared[0], "%s", name);
    return 0;
}

static int
enter(qs_pgpipe_t *p)
{
    if (p->in_pipe)
        return 0;
    p->err[0] = '\0';
    p->sqlstate[0] = '\0';
    if (PQenterPipelineMode(qs_pgdb_conn(p->pg)) != 1) {
        note_conn(p, "cannot enter pipeline mode");
        return -1;
    }
    p->in_pipe = 1;
    return 0;
}

int
qs_pgpipe_send(qs_pgpipe_t *p, const char *name, const qs_pgparams_t *params, int tag,
               qs_pgpipe_result_fn cb, void *ctx)
{
    if (p->queued == QS_PGPIPE_SEGMENT && qs_pgpipe_run(p, cb, ctx) != 0)
        return -1;
    if (enter(p) != 0)
        return -1;
    if (PQsendQueryPrepared(qs_pgdb_conn(p->pg), name, params->n, params->values,
                            params->lengths, params->formats, 0) != 1) {
        note_conn(p, "cannot send a statement");
        return -1;
    }
    p->tags[p->queued++] = tag;
    return 0;
}

int
qs_pgpipe_send_sql(qs_pgpipe_t *p, const char *sql, int tag, qs_pgpipe_result_fn cb, void *ctx)
{
    if (p->queued == QS_PGPIPE_SEGMENT && qs_pgpipe_run(p, cb, ctx) != 0)
        return -1;
    if (enter(p) != 0)
        return -1;
    if (PQsendQueryParams(qs_pgdb_conn(p->pg), sql, 0, NULL, NULL, NULL, NULL, 0) != 1) {
        note_conn(p, "cannot send a statement");
        return -1;
    }
    p->tags[p->queued++] = tag;
    return 0;
}

int
qs_pgpipe_send_unnamed(qs_pgpipe_t *p, const char *sql, const unsigned *types,
                       const qs_pgparams_t *params, int tag, qs_pgpipe_result_fn cb, void *ctx)
{
    if (p->queued == QS_PGPIPE_SEGMENT && qs_pgpipe_run(p, cb, ctx) != 0)
        return -1;
    if (enter(p) != 0)
        return -1;
    if (PQsendQueryParams(qs_pgdb_conn(p->pg), sql, params->n, (const Oid *)types,
                          params->values, params->lengths, params->formats, 0) != 1) {
        note_conn(p, "cannot send a statement");
        return -1;
    }
    p->tags[p->queued++] = tag;
    return 0;
}

int
qs_pgpipe_deallocate(qs_pgpipe_t *p, const char *name)
{
    char sql[64];
    size_t i;

    QS_ASSERT(!p->in_pipe);
    for (i = 0; i < p->n_prepared; i++)
        if (strcmp(p->prepared[i], name) == 0)
            break;
    if (i == p->n_prepared)
        return 0;
    memmove(p->prepared[i], p->prepared[i + 1], (p->n_prepared - i - 1) * sizeof p->prepared[0]);
    p->n_prepared--;
    snprintf(sql, sizeof sql, "DEALLOCATE %s", name);
    if (qs_pgdb_exec(p->pg, sql) != 0) {
        p->err[0] = '\0';
        set_err(p, "cannot deallocate a statement", qs_pgdb_errmsg(p->pg));
        return -1;
    }
    return 0;
}

/* The results of one statement up to its terminating NULL; 0, or -1 when the
 * connection broke on the way. */
static int
take_one(qs_pgpipe_t *p, int tag, qs_pgpipe_result_fn cb, void *ctx, int *failed)
{
    PGconn *conn = qs_pgdb_conn(p->pg);
    PGresult *r;
    int any = 0;

    while ((r = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        any = 1;
        if (st == PGRES_FATAL_ERROR) {
            note_result(p, r);
            *failed = 1;
        } else if (st == PGRES_PIPELINE_ABORTED) {
            *failed = 1;
        } else if (!*failed && cb != NULL && cb(ctx, tag, r) != 0) {
            *failed = 1;
        }
        PQclear(r);
        if (PQstatus(conn) == CONNECTION_BAD)
            return -1;
    }
    if (!any || PQstatus(conn) == CONNECTION_BAD) {
        note_conn(p, "the connection to PostgreSQL broke");
        return -1;
    }
    return 0;
}

int
qs_pgpipe_run(qs_pgpipe_t *p, qs_pgpipe_result_fn cb, void *ctx)
{
    PGconn *conn = qs_pgdb_conn(p->pg);
    PGresult *r;
    int failed = 0;

    if (!p->in_pipe)
        return 0;
    if (PQpipelineSync(conn) != 1) {
        note_conn(p, "cannot send a pipeline sync");
        qs_pgpipe_abandon(p);
        return -1;
    }
    for (size_t i = 0; i < p->queued; i++)
        if (take_one(p, p->tags[i], cb, ctx, &failed) != 0) {
            qs_pgpipe_abandon(p);
            return -1;
        }
    p->queued = 0;
    r = PQgetResult(conn);
    if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
        PQclear(r);
        note_conn(p, "the pipeline lost its sync");
        qs_pgpipe_abandon(p);
        return -1;
    }
    PQclear(r);
    if (PQexitPipelineMode(conn) != 1) {
        note_conn(p, "cannot leave pipeline mode");
        qs_pgpipe_abandon(p);
        return -1;
    }
    p->in_pipe = 0;
    if (failed && p->err[0] == '\0')
        qs_pgpipe_fail(p, "a statement of the pipeline failed");
    return failed ? -1 : 0;
}

/* Only a broken connection or a confused protocol state gets here (a
 * failing statement is consumed by qs_pgpipe_run): mark the connection for
 * a reconnection instead of guessing what is still in flight. */
void
qs_pgpipe_abandon(qs_pgpipe_t *p)
{
    p->queued = 0;
    if (!p->in_pipe)
        return;
    p->in_pipe = 0;
    qs_pgdb_invalidate(p->pg);
}
