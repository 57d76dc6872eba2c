/* adopt_pg.c - the PostgreSQL writer's takeover of a bound machine's rows (adopt.h).
 *
 * Step 1 of the group (write_pg.c) inserts the clients that have no row and
 * RETURNs the keys it created; qs_adopt_pg_mark_created marks them. After
 * every client of the group is locked, qs_adopt_pg_run lets each created
 * client whose key is bound to a machine take over that machine's rows,
 * before dedup and the group's upserts (so its messages update the rows it
 * now holds).
 *
 * Safe with several workers: only the transaction that inserted a client
 * row adopts for it (a racing insert of the same key waits on the unique
 * index and then returns nothing), and the donors' clients rows are locked
 * (ascending key, FOR UPDATE) before their latest rows are read: a worker
 * still committing a batch of the replaced key holds that lock, so the
 * takeover sees everything it wrote. The deleted rows' groups (and their
 * installed hours) are subtracted through the group's in-memory deltas,
 * written in key order with the rest at COMMIT (the workers' lock order,
 * storedb_pg.h); moving a row to another client changes only client_id:
 * no group, no hour.
 */
#include "adopt.h"
#include "pgutil.h"
#include "write_pg_int.h"

#include "qs_hex.h"
#include "qs_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_DONORS \
    "SELECT client_id FROM clients WHERE client_id IN (" \
    "  SELECT client_id FROM latest WHERE machine_ps = $1 AND client_id <> $2) " \
    "ORDER BY pk FOR UPDATE"

int
qs_adopt_pg_mark_created(qs_write_pg_t *self, PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        uint8_t pk[QS_KEY_BYTES];

        if (qs_hex_decode(pk, sizeof pk, PQgetvalue(r, i, 0)) != 0)
            continue;
        for (size_t k = 0; k < self->n_clients; k++)
            if (memcmp(self->clients[k].pk, pk, QS_KEY_BYTES) == 0)
                self->clients[k].created = 1;
    }
    return 0;
}

/* One client's takeover: lock the donors, drop the losers (their groups
 * lowered in the deltas), move the winners. */
static int
adopt_one(qs_write_pg_t *self, int64_t client_id, const uint8_t machine_ps[QS_PSEUDONYM_BYTES])
{
    char id[24];
    const char *values[2] = { (const char *)machine_ps, id };
    const int lengths[2] = { QS_PSEUDONYM_BYTES, 0 }, formats[2] = { 1, 0 };
    int64_t moved = 0;
    PGresult *r;
    int n;

    snprintf(id, sizeof id, "%lld", (long long)client_id);
    if (qs_pg_run(self->pg, "cannot lock the machine's earlier clients", LOCK_DONORS, 2,
                  values, lengths, formats, NULL, self->err, sizeof self->err) != 0)
        return -1;
    r = qs_pg_query(self->pg, "cannot drop the machine's older rows",
                    QS_ADOPT_SQL_DROP " RETURNING topic_type, topic_id, state_id, time_ms", 2, values,
                    lengths, formats, self->err, sizeof self->err);
    if (r == NULL)
        return -1;
    n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        /* Binary results: the text is the value's bytes (NUL-terminated by libpq). */
        qs_write_pg_delta_add(self, (uint32_t)qs_pg_i64(r, i, 0), PQgetvalue(r, i, 1),
                              (uint32_t)qs_pg_i64(r, i, 2), -1);
        qs_write_pg_hours_move(self, (uint32_t)qs_pg_i64(r, i, 0), PQgetvalue(r, i, 1),
                               qs_pg_i64(r, i, 2), qs_pg_i64(r, i, 3), -1, 0);
    }
    PQclear(r);
    if (qs_pg_run(self->pg, "cannot move the machine's rows", QS_ADOPT_SQL_MOVE, 2, values,
                  lengths, formats, &moved, self->err, sizeof self->err) != 0)
        return -1;
    if (moved + n > 0)
        log_info("a new client key took over its machine's state: %lld rows moved, "
                 "%d older ones dropped", (long long)moved, n);
    return 0;
}

int
qs_adopt_pg_run(qs_write_pg_t *self)
{
    for (size_t i = 0; i < self->n_queue; i++) {
        const qs_group_batch_t *b = self->queue[i].b;
        struct pclient *c = NULL;

        if (!b->bound)
            continue;
        for (size_t k = 0; k < self->n_clients && c == NULL; k++)
            if (memcmp(self->clients[k].pk, b->pk, QS_KEY_BYTES) == 0)
                c = &self->clients[k];
        if (c == NULL || !c->created)
            continue;
        c->created = 0;   /* once, for its first batch in the group */
        if (adopt_one(self, c->client_id, b->machine_ps) != 0)
            return -1;
    }
    return 0;
}
