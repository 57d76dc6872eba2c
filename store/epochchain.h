/* epochchain.h - per-topic-type forward-secure hash chains of epoch keys (private to store/).
 *
 * A PostgreSQL site's workers may run on several hosts, each with a copy of
 * keys/epochs; they must seal a partition's details under the same key
 * without telling each other anything, and shredding must leave no copy
 * able to derive an expired key. One chain per topic type does both:
 *
 *   keys/epochs/chain-<topic_type>.state = (E, S_E): the chain's oldest
 *       kept epoch and its state, 0600.
 *   S_(e+1) = BLAKE2b-256(key = S_e, "quietstate epoch chain")
 *   key(e, T) = BLAKE2b-256(key = S_e, "quietstate epoch key" | T | e)
 *
 * Any holder derives key(e, T) for every e >= E; nobody can go back below
 * E (BLAKE2b is one-way). Expiring epoch e = replacing the file by
 * (e + 1, S_(e+1)): the new state is written to chain-T.next (fsync), the
 * old file overwritten with zeros (fsync) and unlinked, the new one renamed
 * in; a crash at any point leaves one valid state, never an older one
 * beside it once opened again. Every holder does it when the policy's
 * cutoff passes (the writing worker on each message, retention on each
 * drop): nobody has to be told. Design and limits: docs/scale.md.
 */
#ifndef QS_STORE_EPOCHCHAIN_H
#define QS_STORE_EPOCHCHAIN_H

#include <stddef.h>
#include <stdint.h>

#define QS_CHAIN_PREFIX "chain-"
#define QS_CHAIN_SUFFIX ".state"
#define QS_CHAIN_FILE_BYTES 48u          /* "qsch" | version | E | S_E */
/* The first epoch of a new chain: no message may be older (codec.c). */
#define QS_CHAIN_FIRST_EPOCH 10957       /* 2000-01-01 */
/* Derivations walk at most this far from E (a bound on a day number far in
 * the future, which validation refuses anyway). */
#define QS_CHAIN_MAX_WALK 200000

typedef struct qs_epochchains qs_epochchains_t;

/* The chains in dir; NULL (no error) when dir holds none: the site uses
 * one key file per partition. -1 via *failed with errmsg when a chain file
 * is unreadable. */
qs_epochchains_t *qs_epochchains_open(const char *dir, int *failed, char *errmsg,
                                      size_t errmsg_len);
void qs_epochchains_destroy(qs_epochchains_t **c_p);

/* Create a chain for every topic type in the topic table that has none
 * (0600 files, random states). 0 or -1 with errmsg. */
int qs_epochchains_create(const char *dir, char *errmsg, size_t errmsg_len);

/* key(epoch, topic_type) into out: 0; 1 when the chain has moved past the
 * epoch or the topic type has no chain; -1 with why (an unreadable file).
 * The file is read again when another process changed it. */
int qs_epochchains_key(qs_epochchains_t *c, uint8_t out[32], int64_t epoch, uint32_t topic_type,
                       char *why, size_t why_len);

/* The chain's oldest kept epoch into *first (its file read again when
 * another process changed it): 0; 1 when the type has no chain; -1. */
int qs_epochchains_first(qs_epochchains_t *c, int64_t *first, uint32_t topic_type,
                         char *why, size_t why_len);

/* Move topic_type's chain so that first_kept is its oldest epoch (no-op
 * when it is there already, or when the type has no chain). 0 or -1. */
int qs_epochchains_expire(qs_epochchains_t *c, uint32_t topic_type, int64_t first_kept,
                          char *errmsg, size_t errmsg_len);

/* Each chain's oldest kept epoch. */
typedef int (*qs_epochchain_cb)(void *ctx, int64_t epoch, uint32_t topic_type);
void qs_epochchains_each(qs_epochchains_t *c, qs_epochchain_cb cb, void *ctx);

#endif
