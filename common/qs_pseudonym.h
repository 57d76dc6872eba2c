/* qs_pseudonym.h - keyed BLAKE2b pseudonyms for machine, domain, user and client names.
 *
 * pseudonym = BLAKE2b-256(key = site secret, "quietstate/" kind "\0" normalized name)
 * Names are normalized (ASCII lowercased, surrounding blanks trimmed) because
 * Windows machine and domain names are case-insensitive. Without the site key
 * nobody can test a guess, and nobody can list names: an operator who already
 * knows a name computes its pseudonym and looks that up.
 */
#ifndef QS_PSEUDONYM_H
#define QS_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#define QS_PSEUDONYM_BYTES 16u   /* 128 bits: no collisions at fleet scale */

typedef enum {
    QS_PSEUDO_MACHINE = 0,
    QS_PSEUDO_DOMAIN,
    QS_PSEUDO_USER,
    QS_PSEUDO_CLIENT,
} qs_pseudo_kind_t;

/* Compute the pseudonym of name (NUL-terminated, any length; an empty name
 * gives the all-zero pseudonym, meaning "not given"). */
void qs_pseudonym(uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                  qs_pseudo_kind_t kind, const char *name);

/* What a per-machine request (lookup, forget) is keyed by: the pseudonym of
 * machine and, when domain != NULL, of domain. Returns 0; 1 when machine is
 * blank, 2 when domain is (a blank name has no pseudonym: the all-zero one
 * means "not given", and matching it would select every unnamed row). */
int qs_pseudonym_machine(uint8_t machine_ps[QS_PSEUDONYM_BYTES],
                         uint8_t domain_ps[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                         const char *machine, const char *domain);

#endif
