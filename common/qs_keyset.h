/* qs_keyset.h - an in-memory set of client public keys with their standing and bound machine.
 *
 * Loaded from site.db by the broker (ZAP and per-message checks) and by the
 * store; reloaded whole when site.db changes. Lookups are O(1) and allocate
 * nothing, so they can run on every message.
 */
#ifndef QS_KEYSET_H
#define QS_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#include "qs_limits.h"

typedef enum {
    QS_KEY_UNKNOWN = 0,
    QS_KEY_ENROLLED = 1,
    QS_KEY_REVOKED = 2,
} qs_key_standing_t;

typedef struct qs_keyset qs_keyset_t;

qs_keyset_t *qs_keyset_new(void);

/* Empty the set (keeps its memory). */
void qs_keyset_clear(qs_keyset_t *set);

/* Add or update a key. A revoked key stays revoked whatever comes later. */
void qs_keyset_put(qs_keyset_t *set, const uint8_t pk[QS_KEY_BYTES], qs_key_standing_t standing);

/* Bind pk (already put) to a machine pseudonym (QS_PSEUDONYM_BYTES). */
void qs_keyset_bind(qs_keyset_t *set, const uint8_t pk[QS_KEY_BYTES], const uint8_t *machine_ps);

/* The machine pk is bound to: a pointer to its pseudonym (valid until the
 * set changes), or NULL when pk is unknown or bound to none. */
const uint8_t *qs_keyset_machine(const qs_keyset_t *set, const uint8_t pk[QS_KEY_BYTES]);

qs_key_standing_t qs_keyset_get(const qs_keyset_t *set, const uint8_t pk[QS_KEY_BYTES]);

size_t qs_keyset_count(const qs_keyset_t *set, qs_key_standing_t standing);

void qs_keyset_destroy(qs_keyset_t **set_p);

#endif
