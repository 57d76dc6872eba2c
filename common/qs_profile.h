/* qs_profile.h - a client profile: the endpoint's key pair, name and server keys.
 *
 * `qsctl enroll` writes one per client (qs_profile_write, 0600, atomically);
 * qs-producer reads it (qs_profile_load) and refuses it when group or others
 * can read it. The file is a small INI document:
 *
 *   [client]
 *   name = NAME
 *   public_key = <64 hex>
 *   secret_key = <64 hex>
 *   [server]
 *   endpoint = tcp://127.0.0.1:5570
 *   broker_public_key = <64 hex>
 *   store_public_key = <64 hex>
 *
 * `endpoint` may name several brokers of the site, separated by blanks
 * (qs_endpoints.h): "tcp://10.0.0.1:5570 tcp://10.0.0.2:5570". The producer
 * fails over between them (producer/sender.h). All brokers of a site share
 * one key pair (docs/broker.md, "Several brokers"), so one
 * broker_public_key pins every one of them. A profile naming one endpoint
 * is the same file as before.
 *
 * The secret key is parsed in guarded, locked memory and wiped after use.
 */
#ifndef QS_PROFILE_H
#define QS_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "qs_keys.h"
#include "qs_limits.h"

#define QS_PROFILE_MAX_BYTES 4096u   /* a profile's text always fits in this */

typedef struct qs_profile qs_profile_t;

/* Load and check a profile: mode must not let group or others read it (the
 * error names the file and the chmod that fixes it), every key must be
 * present exactly once, keys are 64 hex characters, public_key must match
 * secret_key, endpoint is a list of 1..QS_MAX_BROKERS tcp://, ipc:// or
 * inproc:// endpoints (qs_endpoints.h). Returns a profile the
 * caller destroys, or NULL with errmsg filled. */
qs_profile_t *qs_profile_load(const char *path, char *errmsg, size_t errmsg_len);

/* The profile's text for (name, kp) into out (out_cap bytes, at most
 * QS_PROFILE_MAX_BYTES needed), NUL-terminated, its length in *out_len: the
 * one format, which qs_profile_write stores and qs-web hands out. name and
 * endpoint must be non-empty one-line UTF-8 without control characters or
 * surrounding blanks (names at most QS_MAX_NAME_BYTES bytes); endpoint may be
 * a list, written back with one space between endpoints. The text holds
 * the secret key: out should be locked memory (sodium_malloc) that the
 * caller wipes. Returns 0, or -1 with errmsg filled. */
int qs_profile_format(char *out, size_t out_cap, size_t *out_len, const char *name,
                      const qs_keypair_t *kp, const char *endpoint,
                      const uint8_t broker_pk[QS_KEY_BYTES],
                      const uint8_t store_pk[QS_KEY_BYTES], char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Write qs_profile_format's text for (name, kp) to path atomically with
 * mode 0600; the text is formatted in locked memory and wiped. Returns 0,
 * or -1 with errmsg filled. qsctl enroll calls this (through qs_enroll.h). */
int qs_profile_write(const char *path, const char *name, const qs_keypair_t *kp,
                     const char *endpoint, const uint8_t broker_pk[QS_KEY_BYTES],
                     const uint8_t store_pk[QS_KEY_BYTES], char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Accessors: the pointers are owned by the profile and valid until destroy.
 * qs_profile_endpoint is the whole list, endpoints separated by one space
 * (qs_endpoints_parse splits it). */
const char *qs_profile_name(const qs_profile_t *p);
const char *qs_profile_endpoint(const qs_profile_t *p);
const qs_keypair_t *qs_profile_keypair(const qs_profile_t *p);
const uint8_t *qs_profile_broker_pk(const qs_profile_t *p);
const uint8_t *qs_profile_store_pk(const qs_profile_t *p);

/* Wipe and free; sets *p_p to NULL. No-op on NULL. */
void qs_profile_destroy(qs_profile_t **p_p);

#endif
