/* qs_codec.h - decoding and validating what arrives inside an envelope.
 *
 * Every field of a StateMessage is checked here and nowhere else: the topic
 * table from DESIGN.md, UTC time bounds, UTF-8 and size limits. A failed check
 * yields a batch or message Status plus a fine-grained Code and a short
 * static reason (no input is echoed into it: reasons are logged).
 */
#ifndef QS_CODEC_H
#define QS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "quietstate.pb-c.h"

/* Unpack a Batch plaintext and check its shape (1..QS_MAX_BATCH_MESSAGES
 * messages). Returns 0, or -1 with status and code (BAD_MESSAGE/TOO_LARGE with
 * BATCH_NOT_PROTOBUF, EMPTY_BATCH, TOO_MANY_MESSAGES). Free the result with
 * quietstate__batch__free_unpacked(batch, allocator). */
int qs_batch_decode(Quietstate__Batch **out, const uint8_t *buf, size_t len,
                    ProtobufCAllocator *allocator,
                    Quietstate__Status *status, Quietstate__Code *code)
    __attribute__((warn_unused_result));

/* Validate one message against the topic table, time bounds (not before
 * 2000-01-01, not more than skew_ms after now_ms) and string limits.
 * Returns 0, or -1 with *status, *code and *why (a static string). */
int qs_message_validate(const Quietstate__StateMessage *m, int64_t now_ms, int64_t skew_ms,
                        Quietstate__Status *status, Quietstate__Code *code, const char **why)
    __attribute__((warn_unused_result));

/* 0 if state_id is valid for topic_type; -1 unknown topic type; -2 state out
 * of range. */
int qs_topic_check(uint32_t topic_type, uint32_t state_id);

/* The topic table's types, ascending, into out (at most cap); returns how
 * many the table holds. */
size_t qs_topic_types(uint32_t *out, size_t cap);

/* A human name for a state ("required", "installed", "state 7"); buf is used
 * when there is no fixed name. Never NULL. */
const char *qs_state_name(uint32_t topic_type, uint32_t state_id, char *buf, size_t buf_len);

/* 1 if s[0..len) is valid UTF-8 without NUL bytes, else 0. */
int qs_utf8_valid(const char *s, size_t len);

/* 1 if s is 1..max bytes of valid UTF-8 without control characters (C0,
 * DEL, C1: nothing that could move a terminal's cursor), else 0. The rule
 * for names a person types: client names, actors. */
int qs_text_printable(const char *s, size_t max);

/* Status and Code names as in the proto ("OK", "BAD_MESSAGE", "DECRYPT_FAILED"). */
const char *qs_status_name(Quietstate__Status status);
const char *qs_code_name(Quietstate__Code code);

/* 1 if a producer should keep the message and retry (NOT_CONFIGURED,
 * RETRY_LATER, unspecified), 0 if the rejection is permanent. */
int qs_status_is_transient(Quietstate__Status status);

#endif
