/* qs_limits.h - every size, count and time bound quietstate enforces, in one place.
 *
 * Decoders, validators and buffers size themselves from these names; nothing
 * else in the tree should carry a bare number for a limit.
 */
#ifndef QS_LIMITS_H
#define QS_LIMITS_H

#include <assert.h>
#include <sodium.h>

#define QS_ENVELOPE_VERSION      2u   /* 2: directional keys, padded plaintext */
#define QS_KEY_BYTES             32u   /* X25519 public or secret key */
#define QS_NONCE_BYTES           24u   /* crypto_box nonce */
#define QS_MAC_BYTES             16u
#define QS_HEX_KEY_CHARS         64u

#define QS_MAX_FRAME_BYTES       (1024u * 1024u)   /* one envelope on the wire */
#define QS_MAX_BATCH_BYTES       (QS_MAX_FRAME_BYTES - 256u)
#define QS_MAX_BATCH_MESSAGES    1000u
#define QS_DEFAULT_BATCH_MESSAGES 100u
#define QS_MAX_TOPIC_ID_BYTES    128u
#define QS_MAX_DETAILS_BYTES     1024u
#define QS_MAX_NAME_BYTES        255u  /* machine, domain, user, client names */
#define QS_MAX_PATH_BYTES        4096u
#define QS_MAX_ENDPOINT_BYTES    256u
#define QS_MAX_DATABASE_BYTES    1024u   /* [store] database: a libpq URI */

#define QS_MIN_TIME_UTC_MS       946684800000LL    /* 2000-01-01T00:00:00Z */
#define QS_DEFAULT_SKEW_LIMIT_S  300               /* how far in the future */
#define QS_DEFAULT_K             5
#define QS_DEFAULT_MAX_AGE_DAYS  90

_Static_assert(QS_KEY_BYTES == crypto_box_PUBLICKEYBYTES, "curve key size");
_Static_assert(QS_KEY_BYTES == crypto_box_SECRETKEYBYTES, "curve key size");
_Static_assert(QS_NONCE_BYTES == crypto_box_NONCEBYTES, "box nonce size");
_Static_assert(QS_MAC_BYTES == crypto_box_MACBYTES, "box mac size");
_Static_assert(QS_KEY_BYTES == crypto_box_BEFORENMBYTES, "shared key size");

#endif
