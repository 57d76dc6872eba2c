/* fuzz_batch.c - libFuzzer target for what the store decodes after opening an
 * envelope: qs_batch_decode and qs_message_validate on every message.
 *
 * The input is a Batch plaintext. Decoding may refuse it but must never crash,
 * leak or read out of bounds; a decoded batch has 1..QS_MAX_BATCH_MESSAGES
 * messages, and each message either validates or is refused with a status, a
 * code and a reason. Then the batch is packed again and decoded again: the
 * second decode must succeed with the same number of messages and the same
 * verdict for each message (re-encoding must not change what the store would
 * accept). Validation uses a fixed "now" so that every crash reproduces.
 */
#include "fuzz_util.h"
#include "qs_codec.h"

#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* Validate every message; write each verdict (0 ok, else the Code) to verdicts. */
static void
validate_all(const Quietstate__Batch *b, int *verdicts)
{
    for (size_t i = 0; i < b->n_messages; i++) {
        const Quietstate__StateMessage *m = b->messages[i];
        Quietstate__Status status = QUIETSTATE__STATUS__STATUS_UNSPECIFIED;
        Quietstate__Code code = QUIETSTATE__CODE__CODE_NONE;
        const char *why = NULL;
        char name[32];

        FUZZ_CHECK(m != NULL);
        if (qs_message_validate(m, FUZZ_NOW_MS, FUZZ_SKEW_MS, &status, &code, &why) == 0) {
            FUZZ_CHECK(qs_topic_check(m->topic_type, m->state_id) == 0);
            verdicts[i] = 0;
        } else {
            FUZZ_CHECK(status != QUIETSTATE__STATUS__STATUS_UNSPECIFIED &&
                       status != QUIETSTATE__STATUS__OK);
            FUZZ_CHECK(code != QUIETSTATE__CODE__CODE_NONE);
            FUZZ_CHECK(why != NULL && why[0] != '\0');
            FUZZ_CHECK(strcmp(qs_code_name(code), "CODE_INVALID") != 0);
            FUZZ_CHECK(strcmp(qs_status_name(status), "STATUS_INVALID") != 0);
            verdicts[i] = (int)code;
        }
        FUZZ_CHECK(qs_state_name(m->topic_type, m->state_id, name, sizeof name) != NULL);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Quietstate__Batch *b = NULL, *again = NULL;
    Quietstate__Status status = QUIETSTATE__STATUS__STATUS_UNSPECIFIED;
    Quietstate__Code code = QUIETSTATE__CODE__CODE_NONE;
    int *verdicts, *verdicts_again;
    uint8_t *packed;
    size_t packed_size;

    if (qs_batch_decode(&b, data, size, NULL, &status, &code) != 0) {
        FUZZ_CHECK(b == NULL);
        FUZZ_CHECK(code == QUIETSTATE__CODE__BATCH_NOT_PROTOBUF ||
                   code == QUIETSTATE__CODE__EMPTY_BATCH ||
                   code == QUIETSTATE__CODE__TOO_MANY_MESSAGES ||
                   code == QUIETSTATE__CODE__FRAME_TOO_LARGE);
        FUZZ_CHECK(status == QUIETSTATE__STATUS__BAD_MESSAGE ||
                   status == QUIETSTATE__STATUS__TOO_LARGE);
        return 0;
    }
    FUZZ_CHECK(b != NULL);
    FUZZ_CHECK(b->n_messages >= 1 && b->n_messages <= QS_MAX_BATCH_MESSAGES);
    verdicts = calloc(b->n_messages, sizeof *verdicts);
    verdicts_again = calloc(b->n_messages, sizeof *verdicts_again);
    FUZZ_CHECK(verdicts != NULL && verdicts_again != NULL);
    validate_all(b, verdicts);

    /* Re-encode and decode again: same count, same verdicts. */
    packed_size = quietstate__batch__get_packed_size(b);
    packed = malloc(packed_size > 0 ? packed_size : 1);
    FUZZ_CHECK(packed != NULL);
    FUZZ_CHECK(quietstate__batch__pack(b, packed) == packed_size);
    FUZZ_CHECK(qs_batch_decode(&again, packed, packed_size, NULL, &status, &code) == 0);
    FUZZ_CHECK(again->n_messages == b->n_messages);
    validate_all(again, verdicts_again);
    FUZZ_CHECK(memcmp(verdicts, verdicts_again, b->n_messages * sizeof *verdicts) == 0);

    quietstate__batch__free_unpacked(again, NULL);
    quietstate__batch__free_unpacked(b, NULL);
    free(packed);
    free(verdicts);
    free(verdicts_again);
    return 0;
}
