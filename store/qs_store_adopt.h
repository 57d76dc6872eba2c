/* qs_store_adopt.h - what store.db knows of a client key's machine, for `qsctl enroll --replace`.
 *
 * A key enrolled before machines were bound (or without --machine) has no
 * machine in site.db; the machine it reported is in store.db (latest's
 * machine pseudonyms under its client row). `qsctl enroll --replace` binds
 * the new key to that machine, so that the new key's first report takes
 * over the machine's state (adopt.h) and the machine is counted once.
 * Both engines; the caller never sees which.
 */
#ifndef QS_STORE_ADOPT_READ_H
#define QS_STORE_ADOPT_READ_H

#include <stddef.h>
#include <stdint.h>

#include "qs_keys.h"
#include "qs_pseudonym.h"
#include "qs_storedb.h"

/* The machine pseudonym(s) client key pk has current state under: *n = 0
 * (no row, or none names a machine), 1 (machine_ps set) or 2 (more than
 * one machine: none is chosen). Returns 0, or -1 with errmsg. */
int qs_store_reported_machine(uint8_t machine_ps[QS_PSEUDONYM_BYTES], int *n, qs_storedb_t *db,
                              const uint8_t pk[QS_KEY_BYTES], char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

#endif
