/* qs_pseudonym.h - keyed BLAKE2b pseudonyms for machine, domain, user and client names.
 *
 * pseudonym = BLAKE2b-256(key = site secret, "quietstate/" kind "\0" normalized name)
 * Names are normalized because Windows machine and domain names are
 * case-insensitive: surrounding ASCII blanks trimmed, then Unicode NFC,
 * full case folding (CaseFolding.txt statuses C+F: "Straße" and "STRASSE"
 * fold alike), NFC again. Without the site key nobody can test a guess, and
 * nobody can list names: an operator who already knows a name computes its
 * pseudonym and looks that up.
 *
 * The fold is ICU's (libicu-dev: u_strFoldCase with U_FOLD_CASE_DEFAULT,
 * unorm2 NFC), not a hand table: ICU is the reference implementation that
 * Debian keeps current with Unicode, its C API works on the UTF-16 it
 * converts to and from strictly, and it is already on every build machine
 * (libunistring-dev, the other candidate, is not). Unicode's stability
 * policy keeps the case folding and NFC of assigned characters fixed, so an
 * ICU upgrade does not move existing pseudonyms.
 *
 * Full case folding of ASCII is plain ASCII lowercasing, so pseudonyms of
 * ASCII names are unchanged from the earlier ASCII-only fold (the "legacy"
 * fold, kept as qs_pseudonym_legacy). Names with other characters got a
 * different pseudonym then; per-machine requests match both spellings
 * (qs_pseudonym_machine), new writes use the new one. Client names
 * (QS_PSEUDO_CLIENT) keep the legacy fold: their pseudonyms key the
 * enrolled keys in site.db, which cannot be recomputed without the names.
 */
#ifndef QS_PSEUDONYM_H
#define QS_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#include "qs_limits.h"

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

/* As qs_pseudonym, but returns -1 (out untouched) when name, trimmed, is
 * not valid UTF-8 or is longer than 1024 bytes; 0 otherwise. qs_pseudonym
 * falls back to the legacy fold for such a name (only reachable with input
 * the codec refuses; lookups match the legacy spelling too). */
int qs_pseudonym_checked(uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                         qs_pseudo_kind_t kind, const char *name)
    __attribute__((warn_unused_result));

/* The pseudonym under the earlier fold (ASCII lowercased, blanks trimmed). */
void qs_pseudonym_legacy(uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                         qs_pseudo_kind_t kind, const char *name);

/* The normalized form of name that is hashed (trimmed, NFC, folded, NFC)
 * into out[0..*out_len) (not NUL-terminated). 0, or -1 as qs_pseudonym_checked. */
int qs_name_fold(char *out, size_t cap, size_t *out_len, const char *name);

#define QS_PSEUDONYM_SPELLINGS 4u

/* The pseudonym pairs a machine's rows may carry: [0] under the current
 * fold, [1..n) under the legacy fold (distinct from [0] and each other).
 * Rows match when their machine_ps (and, with has_domain, domain_ps) equal
 * one pair. */
typedef struct {
    uint8_t machine_ps[QS_PSEUDONYM_SPELLINGS][QS_PSEUDONYM_BYTES];
    uint8_t domain_ps[QS_PSEUDONYM_SPELLINGS][QS_PSEUDONYM_BYTES];
    size_t n;
    int has_domain;
} qs_machine_ps_t;

/* What a per-machine request (lookup, forget) is keyed by: the pseudonyms of
 * machine and, when domain != NULL, of domain; when a name has non-ASCII
 * characters, also the legacy fold's pseudonyms of the names as given, all
 * upper-cased and all lower-cased (the legacy fold kept the case of
 * non-ASCII letters), those that differ from the current one. Returns 0; 1 when machine
 * is blank, 2 when domain is (a blank name has no pseudonym: the all-zero
 * one means "not given", and matching it would select every unnamed row);
 * 3 when machine, 4 when domain is not valid UTF-8 (or over 1024 bytes). */
int qs_pseudonym_machine(qs_machine_ps_t *who, const uint8_t site_key[32],
                         const char *machine, const char *domain)
    __attribute__((warn_unused_result));

/* Zero *who (it is derived from names). */
void qs_machine_ps_wipe(qs_machine_ps_t *who);

/* The last name pseudonymized for one kind and its pseudonym: the messages
 * of one batch nearly always name the same machine, so the store's write
 * paths make one keyed BLAKE2b per batch instead of two or three per
 * message. The name is a copy in clear: its owner wipes the memo after
 * every group (sodium_memzero). */
typedef struct {
    int valid;
    char name[QS_MAX_NAME_BYTES + 1];
    uint8_t ps[QS_PSEUDONYM_BYTES];
} qs_pseudonym_memo_t;

/* qs_pseudonym through memos (one per kind, indexed by kind): the
 * remembered pseudonym when name is the kind's last one, else computed and
 * remembered (a name too long for the memo is computed every time). */
void qs_pseudonym_memo(qs_pseudonym_memo_t memos[QS_PSEUDO_USER + 1],
                       uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                       qs_pseudo_kind_t kind, const char *name);

#endif
