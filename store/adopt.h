/* adopt.h - one machine, one state: a bound key's messages checked, and its machine's rows taken over (private to store/).
 *
 * A key enrolled with a machine (qsctl enroll --machine, or --replace of a
 * bound key; site.db clients.machine_ps, loaded into the keyset) speaks for
 * that machine alone. On the receiving thread, qs_machine_check refuses
 * each message whose machine_name is not empty and names another machine:
 * BAD_MESSAGE/MACHINE_MISMATCH, counted and listed like any refused
 * message, never stored. An empty machine_name is written as the bound
 * machine (qs_machine_ps_for). The comparison is of pseudonyms under the
 * current fold (qs_pseudonym), the same the write paths store: "PC-1" and
 * " pc-1" are one machine.
 *
 * Adoption: when a bound key's client row is created in store.db (its
 * first batch), the rows of `latest` of its machine kept under other client
 * ids (the key it replaced, rows imported under a placeholder client) are
 * taken over in the same transaction: per (topic_type, topic_id) the newest
 * (time_ms; a tie to the higher client id) moves to the new client, the
 * others are deleted, so compliance counts the machine once. History rows
 * stay as they were (events of the old key). qs_adopt_sqlite is SQLite's
 * (the schema's triggers count the deleted rows; a move changes no group);
 * write_pg's flush runs the PostgreSQL side (adopt_pg.c).
 */
#ifndef QS_STORE_ADOPT_H
#define QS_STORE_ADOPT_H

#include <sqlite3.h>
#include <stdint.h>

#include "group.h"
#include "qs_pseudonym.h"

/* Batch b (its messages are msgs[b->first_msg ..]) of a key bound to
 * machine_ps (NULL: bound to none, nothing is checked): remember the
 * machine in b, and refuse every valid message naming another machine. */
void qs_machine_check(qs_group_batch_t *b, qs_group_msg_t *msgs, const uint8_t *machine_ps,
                      const uint8_t site_key[32]);

/* The machine pseudonym to store for m of batch b: b's bound machine when
 * m names none, else computed (the pseudonym the write path computed from
 * m->machine_name, passed in). */
static inline const uint8_t *
qs_machine_ps_for(const qs_group_batch_t *b, const Quietstate__StateMessage *m,
                  const uint8_t computed[QS_PSEUDONYM_BYTES])
{
    return b->bound && m->machine_name[0] == '\0' ? b->machine_ps : computed;
}

/* Inside the open transaction on db: client_id (just created) takes over
 * the latest rows of machine_ps kept under other client ids. *moved and
 * *dropped get the rows moved and deleted. 0 or -1 (the database's error). */
int qs_adopt_sqlite(sqlite3 *db, int64_t client_id, const uint8_t machine_ps[QS_PSEUDONYM_BYTES],
                    int64_t *moved, int64_t *dropped) __attribute__((warn_unused_result));

/* The adoption's two statements, one text for both engines ($1 machine_ps,
 * $2 the new client id; SQLite reads $N as ?N). DELETE first: the losers of
 * each topic; then the winners move. */
#define QS_ADOPT_SQL_DROP \
    "DELETE FROM latest WHERE machine_ps = $1 AND client_id <> $2 AND EXISTS (" \
    "  SELECT 1 FROM latest o WHERE o.machine_ps = $1 AND o.client_id <> $2" \
    "    AND o.topic_type = latest.topic_type AND o.topic_id = latest.topic_id" \
    "    AND (o.time_ms > latest.time_ms OR" \
    "         (o.time_ms = latest.time_ms AND o.client_id > latest.client_id)))"
#define QS_ADOPT_SQL_MOVE \
    "UPDATE latest SET client_id = $2 WHERE machine_ps = $1 AND client_id <> $2"

#endif
