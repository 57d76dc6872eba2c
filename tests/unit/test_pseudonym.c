/* test_pseudonym.c - pseudonym.c: keyed, kind-separated, normalized names. */
#include "qs_pseudonym.h"
#include "qs_test.h"

#include <sodium.h>

static void
test_pseudonym_normalizes_case_and_blanks(void)
{
    uint8_t key[32] = { 1 }, a[QS_PSEUDONYM_BYTES], b[QS_PSEUDONYM_BYTES];

    qs_pseudonym(a, key, QS_PSEUDO_MACHINE, "WS-0042");
    qs_pseudonym(b, key, QS_PSEUDO_MACHINE, "  ws-0042 ");
    QS_CHECK(memcmp(a, b, sizeof a) == 0);
    qs_pseudonym(b, key, QS_PSEUDO_MACHINE, "ws-0043");
    QS_CHECK(memcmp(a, b, sizeof a) != 0);
}

static void
test_pseudonym_depends_on_key_and_kind(void)
{
    uint8_t k1[32] = { 1 }, k2[32] = { 2 }, a[QS_PSEUDONYM_BYTES], b[QS_PSEUDONYM_BYTES];
    const uint8_t zero[QS_PSEUDONYM_BYTES] = { 0 };

    qs_pseudonym(a, k1, QS_PSEUDO_CLIENT, "alice");
    qs_pseudonym(b, k2, QS_PSEUDO_CLIENT, "alice");
    QS_CHECK(memcmp(a, b, sizeof a) != 0);
    qs_pseudonym(b, k1, QS_PSEUDO_USER, "alice");
    QS_CHECK(memcmp(a, b, sizeof a) != 0);
    /* An empty name means "not given": the all-zero pseudonym. */
    qs_pseudonym(b, k1, QS_PSEUDO_USER, "");
    QS_CHECK(memcmp(b, zero, sizeof b) == 0);
    QS_CHECK(memcmp(a, zero, sizeof a) != 0);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_pseudonym_normalizes_case_and_blanks);
    QS_RUN(test_pseudonym_depends_on_key_and_kind);
    return qs_test_summary();
}
