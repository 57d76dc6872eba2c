/* qs_epochkeys.h - data keys per retention epoch and topic type (crypto-shredding).
 *
 * history details are encrypted at rest with XChaCha20-Poly1305 under a key
 * that belongs to one (epoch, topic_type) partition. Keys live outside the
 * database, one file each: DIR/keys/epochs/<epoch>-<topic_type>.key (0600, in
 * a 0700 directory). Expiring a partition shreds its key file (overwritten,
 * fsync'd, unlinked), so the partition's details are unreadable in every copy
 * or backup of store.db, not only in the live file.
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

/* Shred a partition's key (file and cache). A missing key is not an error. */
int qs_epochkeys_shred(qs_epochkeys_t *ks, int64_t epoch, uint32_t topic_type,
                       char *errmsg, size_t errmsg_len);

typedef int (*qs_epochkey_cb)(void *ctx, int64_t epoch, uint32_t topic_type);

/* Call cb for every key file present. */
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
