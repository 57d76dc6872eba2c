/* test_codec.c - batch decoding limits and message validation (topic table,
 * time bounds, strings), and the UTF-8 checker. */
#include "qs_codec.h"
#include "qs_limits.h"
#include "qs_test.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define NOW 1764000000000LL   /* 2025-11-24 */

static Quietstate__StateMessage
valid_message(void)
{
    Quietstate__StateMessage m = QUIETSTATE__STATE_MESSAGE__INIT;
    m.serial = 1;
    m.time_utc_ms = NOW - 1000;
    m.topic_type = 500;
    m.topic_id = "KB5000001";
    m.state_id = 2;
    m.details = "";
    m.machine_name = "PC-1";
    m.domain = "corp";
    m.user_name = "";
    return m;
}

static Quietstate__Code
reject_code(const Quietstate__StateMessage *m)
{
    Quietstate__Status st = 0;
    Quietstate__Code code = 0;
    const char *why = NULL;
    if (qs_message_validate(m, NOW, 300000, &st, &code, &why) == 0)
        return QUIETSTATE__CODE__CODE_NONE;
    QS_CHECK(why != NULL);
    return code;
}

static void
test_codec_accepts_valid_message(void)
{
    Quietstate__StateMessage m = valid_message();
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__CODE_NONE);
}

static void
test_codec_rejects_each_bad_field(void)
{
    Quietstate__StateMessage m;
    char big[QS_MAX_DETAILS_BYTES + 2];

    m = valid_message(); m.serial = 0;
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__SERIAL_ZERO);
    m = valid_message(); m.serial = (uint64_t)INT64_MAX + 1;
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__SERIAL_TOO_LARGE);
    m = valid_message(); m.time_utc_ms = NOW + 3600 * 1000;
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__TIME_IN_FUTURE);
    m = valid_message(); m.time_utc_ms = 900000000000LL;   /* 1998 */
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__TIME_TOO_OLD);
    m = valid_message(); m.topic_type = 999;
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__UNKNOWN_TOPIC_TYPE);
    m = valid_message(); m.state_id = 4;
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__STATE_OUT_OF_RANGE);
    m = valid_message(); m.topic_type = 300; m.state_id = 0;
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__STATE_OUT_OF_RANGE);
    m = valid_message(); m.topic_id = "";
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__BAD_TOPIC_ID);
    m = valid_message(); m.topic_id = "KB\xff\xfe";
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__BAD_TOPIC_ID);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    m = valid_message(); m.details = big;
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__DETAILS_TOO_LARGE);
    big[QS_MAX_TOPIC_ID_BYTES + 1] = '\0';
    m = valid_message(); m.topic_id = big;
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__BAD_TOPIC_ID);
    m = valid_message(); m.machine_name = "PC-\xc0\xaf";   /* overlong '/' */
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__BAD_STRING);
    /* SQL text is just text: accepted, stored inertly by the store. */
    m = valid_message(); m.topic_id = "KB1'); DROP TABLE latest;--";
    QS_CHECK_EQ_INT(reject_code(&m), QUIETSTATE__CODE__CODE_NONE);
}

static void
test_codec_batch_limits(void)
{
    Quietstate__Batch b = QUIETSTATE__BATCH__INIT, *out = NULL;
    Quietstate__StateMessage m = valid_message();
    Quietstate__StateMessage **msgs = calloc(QS_MAX_BATCH_MESSAGES + 1, sizeof *msgs);
    Quietstate__Status st = 0;
    Quietstate__Code code = 0;
    size_t cap = 200 * (QS_MAX_BATCH_MESSAGES + 1), len;
    uint8_t *buf = malloc(cap);

    for (size_t i = 0; i <= QS_MAX_BATCH_MESSAGES; i++)
        msgs[i] = &m;
    b.messages = msgs;

    b.n_messages = 0;
    len = quietstate__batch__pack(&b, buf);
    QS_CHECK(qs_batch_decode(&out, buf, len, NULL, &st, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__EMPTY_BATCH);

    b.n_messages = QS_MAX_BATCH_MESSAGES + 1;
    len = quietstate__batch__pack(&b, buf);
    QS_CHECK(qs_batch_decode(&out, buf, len, NULL, &st, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__TOO_MANY_MESSAGES);
    QS_CHECK_EQ_INT(st, QUIETSTATE__STATUS__TOO_LARGE);

    b.n_messages = 3;
    len = quietstate__batch__pack(&b, buf);
    QS_CHECK(qs_batch_decode(&out, buf, len, NULL, &st, &code) == 0);
    QS_CHECK(out != NULL && out->n_messages == 3);
    quietstate__batch__free_unpacked(out, NULL);

    QS_CHECK(qs_batch_decode(&out, (const uint8_t *)"\x0a\xff", 2, NULL, &st, &code) != 0);
    QS_CHECK_EQ_INT(code, QUIETSTATE__CODE__BATCH_NOT_PROTOBUF);
    free(buf);
    free(msgs);
}

static void
test_codec_names(void)
{
    char buf[32];
    QS_CHECK_STR(qs_state_name(500, 2, buf, sizeof buf), "required");
    QS_CHECK_STR(qs_state_name(500, 3, buf, sizeof buf), "installed");
    QS_CHECK_STR(qs_state_name(999, 7, buf, sizeof buf), "state 7");
    QS_CHECK_STR(qs_status_name(QUIETSTATE__STATUS__NOT_CONFIGURED), "NOT_CONFIGURED");
    QS_CHECK_STR(qs_code_name(QUIETSTATE__CODE__DECRYPT_FAILED), "DECRYPT_FAILED");
    QS_CHECK(qs_status_is_transient(QUIETSTATE__STATUS__RETRY_LATER));
    QS_CHECK(!qs_status_is_transient(QUIETSTATE__STATUS__BAD_MESSAGE));
}

static void
test_codec_utf8(void)
{
    QS_CHECK(qs_utf8_valid("plain", 5));
    QS_CHECK(qs_utf8_valid("\xc3\xa9t\xc3\xa9", 5));             /* été */
    QS_CHECK(qs_utf8_valid("\xf0\x9f\x98\x80", 4));              /* emoji */
    QS_CHECK(!qs_utf8_valid("\xed\xa0\x80", 3));                  /* surrogate */
    QS_CHECK(!qs_utf8_valid("\xe2\x82", 2));                      /* truncated */
    QS_CHECK(!qs_utf8_valid("a\0b", 3));                          /* NUL */
    QS_CHECK(!qs_utf8_valid("\xf4\x90\x80\x80", 4));              /* > U+10FFFF */
}

/* qs_state_parse: every name of every topic type parses back to its number
 * (qs_state_name's inverse), in any case and with -/_ for blanks; numbers
 * in range name themselves; anything else is refused. */
static void
test_codec_state_parse(void)
{
    uint32_t types[16], st = 99;
    size_t n = qs_topic_types(types, 16);
    char buf[64], alt[64], list[512];

    for (size_t i = 0; i < n; i++) {
        for (uint32_t s = 0; s <= 20; s++) {
            if (qs_topic_check(types[i], s) != 0)
                continue;
            snprintf(buf, sizeof buf, "%s", qs_state_name(types[i], s, alt, sizeof alt));
            st = 99;
            QS_CHECK_EQ_INT(qs_state_parse(types[i], buf, &st), 0);
            QS_CHECK_EQ_INT(st, s);
            for (char *p = buf; *p; p++)   /* upper case, '-' for ' ' */
                *p = *p == ' ' ? '-' : (char)toupper((unsigned char)*p);
            QS_CHECK_EQ_INT(qs_state_parse(types[i], buf, &st), 0);
            QS_CHECK_EQ_INT(st, s);
            snprintf(buf, sizeof buf, "%u", s);
            QS_CHECK_EQ_INT(qs_state_parse(types[i], buf, &st), 0);
            QS_CHECK_EQ_INT(st, s);
        }
    }
    QS_CHECK_EQ_INT(qs_state_parse(500, "Installed", &st), 0);
    QS_CHECK_EQ_INT(st, 3);
    QS_CHECK_EQ_INT(qs_state_parse(500, "not_required", &st), 0);
    QS_CHECK_EQ_INT(st, 1);
    QS_CHECK_EQ_INT(qs_state_parse(401, "non-compliant", &st), 0);
    QS_CHECK_EQ_INT(st, 2);
    QS_CHECK_EQ_INT(qs_state_parse(401, "compliant", &st), 0);
    QS_CHECK_EQ_INT(st, 1);
    QS_CHECK_EQ_INT(qs_state_parse(301, "pending restart", &st), 0);
    QS_CHECK_EQ_INT(st, 5);
    /* Every state of every type has a name of its own (no "state N"). */
    QS_CHECK_EQ_INT(qs_state_parse(301, "waiting-for-superseding-update", &st), 0);
    QS_CHECK_EQ_INT(st, 12);
    {
        uint32_t all[16];
        size_t n_all = qs_topic_types(all, 16);
        QS_CHECK(n_all > 0 && n_all <= 16);
        for (size_t i = 0; i < n_all; i++)
            for (uint32_t s = 0; s <= 20; s++)
                if (qs_topic_check(all[i], s) == 0)
                    QS_CHECK(strncmp(qs_state_name(all[i], s, buf, sizeof buf), "state ",
                                     6) != 0);
    }
    /* Refused: unknown names, prefixes, blanks, numbers out of range. */
    st = 77;
    QS_CHECK_EQ_INT(qs_state_parse(500, "instaled", &st), -2);
    QS_CHECK_EQ_INT(qs_state_parse(500, "install", &st), -2);
    QS_CHECK_EQ_INT(qs_state_parse(500, "installed ", &st), -2);
    QS_CHECK_EQ_INT(qs_state_parse(500, "", &st), -2);
    QS_CHECK_EQ_INT(qs_state_parse(500, "4", &st), -2);
    QS_CHECK_EQ_INT(qs_state_parse(500, "99999999999999999999", &st), -2);
    QS_CHECK_EQ_INT(qs_state_parse(500, "-1", &st), -2);
    QS_CHECK_EQ_INT(qs_state_parse(300, "0", &st), -2);
    QS_CHECK_EQ_INT(qs_state_parse(999, "installed", &st), -1);
    QS_CHECK_EQ_INT(st, 77);
    /* The list an error shows. */
    QS_CHECK_EQ_INT(qs_state_names(500, list, sizeof list), 0);
    QS_CHECK(strcmp(list, "0 unknown, 1 not required, 2 required, 3 installed") == 0);
    QS_CHECK_EQ_INT(qs_state_names(999, list, sizeof list), -1);
    QS_CHECK_EQ_INT(qs_state_names(402, list, 10), -1);
}

static int
norm_is(const char *in, const char *want, int changed)
{
    char buf[64];

    snprintf(buf, sizeof buf, "%s", in);
    return qs_topic_id_normalize(buf) == changed && strcmp(buf, want) == 0;
}

static void
test_codec_topic_id_normalize(void)
{
    QS_CHECK(norm_is("KB5031356", "KB5031356", 0));
    QS_CHECK(norm_is("kb5031356", "KB5031356", 1));
    QS_CHECK(norm_is("Kb5031356", "KB5031356", 1));
    QS_CHECK(norm_is("6A5B4F2E-1C3D-4E5F-8A9B-0C1D2E3F4A5B",
                     "6a5b4f2e-1c3d-4e5f-8a9b-0c1d2e3f4a5b", 1));
    QS_CHECK(norm_is("{6A5B4F2E-1C3D-4E5F-8A9B-0C1D2E3F4A5B}",
                     "{6a5b4f2e-1c3d-4e5f-8a9b-0c1d2e3f4a5b}", 1));
    QS_CHECK(norm_is("6a5b4f2e-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
                     "6a5b4f2e-1c3d-4e5f-8a9b-0c1d2e3f4a5b", 0));
    /* Anything else is kept byte for byte. */
    QS_CHECK(norm_is("kb", "kb", 0));
    QS_CHECK(norm_is("kb50x", "kb50x", 0));
    QS_CHECK(norm_is("KB5031356-v2", "KB5031356-v2", 0));
    QS_CHECK(norm_is("deb:openssl:3.0.13-1~DEB12U1", "deb:openssl:3.0.13-1~DEB12U1", 0));
    QS_CHECK(norm_is("6A5B4F2E-1C3D-4E5F-8A9B-0C1D2E3F4A5", "6A5B4F2E-1C3D-4E5F-8A9B-0C1D2E3F4A5", 0));
    QS_CHECK(norm_is("{6A5B4F2E-1C3D-4E5F-8A9B-0C1D2E3F4A5B", "{6A5B4F2E-1C3D-4E5F-8A9B-0C1D2E3F4A5B", 0));
    QS_CHECK(norm_is("6A5B4F2E_1C3D-4E5F-8A9B-0C1D2E3F4A5B", "6A5B4F2E_1C3D-4E5F-8A9B-0C1D2E3F4A5B", 0));
    QS_CHECK(norm_is("Deployment-A", "Deployment-A", 0));
    QS_CHECK(norm_is("", "", 0));
}

/* qs_batch_decode hands out topic ids in their one spelling. */
static void
test_codec_batch_normalizes_topic_ids(void)
{
    Quietstate__StateMessage m1 = valid_message(), m2 = valid_message(), m3 = valid_message();
    Quietstate__StateMessage *msgs[3] = { &m1, &m2, &m3 };
    Quietstate__Batch b = QUIETSTATE__BATCH__INIT, *out = NULL;
    Quietstate__Status st;
    Quietstate__Code code;
    uint8_t buf[1024];
    size_t len;

    m1.topic_id = "kb5031356";
    m2.topic_id = "{ABCDEF01-2345-6789-ABCD-EF0123456789}";
    m3.topic_id = "deb:Foo:1.0A";
    b.messages = msgs;
    b.n_messages = 3;
    QS_CHECK(quietstate__batch__get_packed_size(&b) <= sizeof buf);
    len = quietstate__batch__pack(&b, buf);
    QS_CHECK(qs_batch_decode(&out, buf, len, NULL, &st, &code) == 0);
    QS_CHECK(out != NULL && out->n_messages == 3);
    if (out != NULL && out->n_messages == 3) {
        QS_CHECK(strcmp(out->messages[0]->topic_id, "KB5031356") == 0);
        QS_CHECK(strcmp(out->messages[1]->topic_id,
                        "{abcdef01-2345-6789-abcd-ef0123456789}") == 0);
        QS_CHECK(strcmp(out->messages[2]->topic_id, "deb:Foo:1.0A") == 0);
    }
    quietstate__batch__free_unpacked(out, NULL);
}

int
main(void)
{
    QS_RUN(test_codec_accepts_valid_message);
    QS_RUN(test_codec_rejects_each_bad_field);
    QS_RUN(test_codec_batch_limits);
    QS_RUN(test_codec_names);
    QS_RUN(test_codec_utf8);
    QS_RUN(test_codec_state_parse);
    QS_RUN(test_codec_topic_id_normalize);
    QS_RUN(test_codec_batch_normalizes_topic_ids);
    return qs_test_summary();
}
