/* qs_keys.h - X25519 key pairs in locked memory, and their files.
 *
 * One key pair serves a party both as its CurveZMQ transport key and as its
 * end-to-end crypto_box key, which is what lets the store check that an
 * envelope's sender is the transport-authenticated peer. Secret keys live in
 * sodium_malloc'd (guarded, mlocked) memory and are wiped on destroy. Key
 * files hold one line of lowercase hex: NAME.key (secret, 0600) and NAME.pub.
 */
#ifndef QS_KEYS_H
#define QS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "qs_limits.h"

typedef struct qs_keypair qs_keypair_t;

/* A fresh random key pair, or NULL if locked memory is unavailable. */
qs_keypair_t *qs_keypair_generate(void);

/* Build from a 32-byte secret key (the public key is derived). */
qs_keypair_t *qs_keypair_from_secret(const uint8_t sk[QS_KEY_BYTES]);

/* Load NAME.key from path, refusing it when group/world-readable (errmsg
 * says which file and the chmod that fixes it). NULL on failure. */
qs_keypair_t *qs_keypair_load(const char *secret_path, char *errmsg, size_t errmsg_len);

/* Parse a secret key given as hex text (from a profile). NULL on failure. */
qs_keypair_t *qs_keypair_from_hex(const char *secret_hex);

/* Write secret (0600) and, when public_path is not NULL, public key files. */
int qs_keypair_save(const qs_keypair_t *kp, const char *secret_path,
                    const char *public_path, char *errmsg, size_t errmsg_len);

const uint8_t *qs_keypair_public(const qs_keypair_t *kp);
const uint8_t *qs_keypair_secret(const qs_keypair_t *kp);

/* Wipe and free; sets *kp_p to NULL. No-op on NULL. */
void qs_keypair_destroy(qs_keypair_t **kp_p);

/* Read a public key file (hex). Returns 0 or -1 with errmsg. */
int qs_pubkey_load(uint8_t pk[QS_KEY_BYTES], const char *path, char *errmsg, size_t errmsg_len);

/* Generate or load a 32-byte symmetric secret (site pseudonym key, audit key):
 * created 0600 when missing and create != 0, permission-checked when present.
 * The result is in sodium_malloc'd memory; free with sodium_free. */
int qs_secret_load(uint8_t **out, const char *path, int create, char *errmsg, size_t errmsg_len);

#endif
