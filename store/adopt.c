/* adopt.c - the bound machine's check on messages and SQLite's takeover of its rows (adopt.h).
 *
 * The check costs one keyed BLAKE2b per distinct machine name of a batch
 * (a batch nearly always names one machine: the last name is remembered,
 * and wiped after the batch). Nothing here runs for a key bound to no
 * machine.
 */
#include "adopt.h"

#include <sodium.h>
#include <string.h>

void
qs_machine_check(qs_group_batch_t *b, qs_group_msg_t *msgs, const uint8_t *machine_ps,
                 const uint8_t site_key[32])
{
    qs_pseudonym_memo_t memo[QS_PSEUDO_USER + 1];
    uint8_t ps[QS_PSEUDONYM_BYTES];

    b->bound = machine_ps != NULL;
    if (!b->bound)
        return;
    memcpy(b->machine_ps, machine_ps, QS_PSEUDONYM_BYTES);
    memset(memo, 0, sizeof memo);
    for (size_t i = 0; i < b->n_msgs; i++) {
        qs_group_msg_t *r = &msgs[b->first_msg + i];

        if (!r->valid || r->m->machine_name[0] == '\0')
            continue;
        qs_pseudonym_memo(memo, ps, site_key, QS_PSEUDO_MACHINE, r->m->machine_name);
        if (sodium_memcmp(ps, machine_ps, QS_PSEUDONYM_BYTES) == 0)
            continue;
        r->valid = 0;
        r->status = QUIETSTATE__STATUS__BAD_MESSAGE;
        r->code = QUIETSTATE__CODE__MACHINE_MISMATCH;
        r->why = "machine_name names another machine than this client key is enrolled for";
    }
    sodium_memzero(memo, sizeof memo);
}

static int
adopt_step(sqlite3 *db, const char *sql, int64_t client_id, const uint8_t *machine_ps,
           int64_t *changes)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    /* Named $1/$2: their indexes follow first appearance in the text. */
    sqlite3_bind_blob(st, sqlite3_bind_parameter_index(st, "$1"), machine_ps,
                      QS_PSEUDONYM_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, "$2"), client_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    *changes = sqlite3_changes(db);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
qs_adopt_sqlite(sqlite3 *db, int64_t client_id, const uint8_t machine_ps[QS_PSEUDONYM_BYTES],
                int64_t *moved, int64_t *dropped)
{
    /* Prepared per call, not once: it runs once per bound key's lifetime.
     * The DELETE's rows leave compliance_counts through the schema's
     * trigger; the UPDATE only renames the owner, no group changes. */
    *moved = *dropped = 0;
    return adopt_step(db, QS_ADOPT_SQL_DROP, client_id, machine_ps, dropped) != 0 ||
                   adopt_step(db, QS_ADOPT_SQL_MOVE, client_id, machine_ps, moved) != 0
               ? -1 : 0;
}
