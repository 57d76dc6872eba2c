/* qs_epochkeys.h - data keys per retention epoch and topic type (crypto-shredding).
 *
 * history details are encrypted at rest with XChaCha20-Poly1305 under a key
 * that belongs to one (epoch, topic_type) partition. Keys live outside the
 * database, in DIR/keys/epochs (0700), in one of two schemes, chosen by
 * what the directory holds:
 *
 *   - one random key file per partition, <epoch>-<topic_type>.key (0600):
 *     an SQLite site, one host. Expiring a partition shreds its key file
 *     (overwritten, fsync'd, unlinked).
 *   - one hash chain per topic type, chain-<topic_type>.state (epochchain.h):
 *     a PostgreSQL site, whose workers on several hosts each hold a copy and
 *     must derive the same keys. Expiring an epoch moves the chain past it
 *     on that host; each holder does so itself when the policy's cutoff
 *     passes (qs_epochkeys_expire). 'qsctl init --database' creates them.
 *
 * Either way a partition's details are unreadable in every copy or backup
 * of the database once its key is gone (docs/scale.md, "Epoch keys on
 * several hosts").
 */
#ifndef QS_EPOCHKEYS_H
#define QS_EPOCHKEYS_H

#include <stddef.h>
#include <stdint.h>

#define QS_DETAILS_OVERHEAD 40u   /* 24-byte nonce + 16-byte tag */

typedef struct qs_epochkeys qs_epochkeys_t;

/* Open the key directory (created 0700 when create != 0). NULL with errmsg. */
qs_epochkeys_t *qs_epochkeys_open(const char *dir, int create, char *errmsg, size_t errmsg_len);
void qs_epochkeys_destroy(qs_epochkeys_t **ks_p);

/* The key for a partition, from the cache or its file; with create != 0 a
 * missing key is generated and written first. NULL when missing (shredded)
 * or unreadable. Borrowed: valid until the next call on ks. */
const uint8_t *qs_epochkeys_get(qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type,
                                int create);

/* The key for a partition without creating it, telling a shredded key from
 * an unusable one: 0 and *key (borrowed, as above); 1 when no key file
 * exists (shredded, or never made); -1 when the file exists but is refused
 * or unreadable (loose mode, wrong size, I/O error), with why naming the file
 * and the reason. A refused key is not a shredded one: callers must not
 * report it as such. */
int qs_epochkeys_find(const uint8_t **key, qs_epochkeys_t *ks, int64_t epoch,
                      uint32_t topic_type, char *why, size_t why_len);

/* Shred a partition's key (file and cache). A missing key is not an error.
 * With chains, every older epoch of the topic type goes with it. */
int qs_epochkeys_shred(qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type,
                       char *errmsg, size_t errmsg_len);

/* 1 when the directory holds key chains (a PostgreSQL site). */
int qs_epochkeys_chained(const qs_epochkeys_t *ks);

/* With chains: move topic_type's chain so that first_kept is its oldest
 * derivable epoch (the epoch of the policy's cutoff); logged on failure.
 * Without: nothing (qs-retention shreds key files). 0 or -1. */
int qs_epochkeys_expire(qs_epochkeys_t *ks, uint32_t topic_type, int64_t first_kept);

/* Create the chains of every topic type in dir (an existing one is kept).
 * 0 or -1 with errmsg. */
int qs_epochkeys_chains_create(const char *dir, char *errmsg, size_t errmsg_len);

/* Every key file present; with chains, each chain's oldest kept epoch. */
typedef int (*qs_epochkey_cb)(void *ctx, int64_t epoch, uint32_t topic_type);

int qs_epochkeys_each(qs_epochkeys_t *ks, qs_epochkey_cb cb, void *ctx);

/* Encrypt details into out (out_cap >= len + QS_DETAILS_OVERHEAD), bound to
 * ad (the row's identity). Returns 0 or -1. */
int qs_details_seal(uint8_t *out, size_t *out_len, size_t out_cap,
                    const uint8_t *details, size_t len,
                    const uint8_t *ad, size_t ad_len, const uint8_t key[32]);

/* The associated data every history row's details are sealed with: the
 * row's identity, so a sealed blob cannot be moved to another row, client,
 * partition or topic. Layout (little-endian): client_id int64 | serial
 * uint64 | epoch int64 | topic_type uint32 = QS_DETAILS_AD_BYTES. */
#define QS_DETAILS_AD_BYTES 28u
void qs_details_ad(uint8_t ad[QS_DETAILS_AD_BYTES], int64_t client_id, uint64_t serial,
                   int64_t epoch, uint32_t topic_type);

/* Decrypt; -1 if tampered, wrong key or wrong ad. */
int qs_details_open(uint8_t *out, size_t *out_len, size_t out_cap,
                    const uint8_t *sealed, size_t sealed_len,
                    const uint8_t *ad, size_t ad_len, const uint8_t key[32])
    __attribute__((warn_unused_result));

#endif
