/* test_keyset.c - keyset.c: standing of keys, overwrite, counts, clear. */
#include "qs_keyset.h"
#include "qs_test.h"

#include <sodium.h>

static void
test_keyset_put_get_count_clear(void)
{
    qs_keyset_t *set = qs_keyset_new();
    uint8_t keys[200][QS_KEY_BYTES], other[QS_KEY_BYTES];

    QS_CHECK(set != NULL);
    randombytes_buf(keys, sizeof keys);
    randombytes_buf(other, sizeof other);
    for (size_t i = 0; i < 200; i++)   /* enough to make the set grow */
        qs_keyset_put(set, keys[i], i % 4 == 0 ? QS_KEY_REVOKED : QS_KEY_ENROLLED);
    QS_CHECK_EQ_INT(qs_keyset_count(set, QS_KEY_REVOKED), 50);
    QS_CHECK_EQ_INT(qs_keyset_count(set, QS_KEY_ENROLLED), 150);
    QS_CHECK_EQ_INT(qs_keyset_get(set, keys[0]), QS_KEY_REVOKED);
    QS_CHECK_EQ_INT(qs_keyset_get(set, keys[1]), QS_KEY_ENROLLED);
    QS_CHECK_EQ_INT(qs_keyset_get(set, other), QS_KEY_UNKNOWN);
    /* A later standing replaces the earlier one (revocation). */
    qs_keyset_put(set, keys[1], QS_KEY_REVOKED);
    QS_CHECK_EQ_INT(qs_keyset_get(set, keys[1]), QS_KEY_REVOKED);
    QS_CHECK_EQ_INT(qs_keyset_count(set, QS_KEY_REVOKED), 51);
    qs_keyset_clear(set);
    QS_CHECK_EQ_INT(qs_keyset_get(set, keys[0]), QS_KEY_UNKNOWN);
    QS_CHECK_EQ_INT(qs_keyset_count(set, QS_KEY_ENROLLED), 0);
    qs_keyset_destroy(&set);
    QS_CHECK(set == NULL);
    qs_keyset_destroy(&set);   /* no-op on NULL */
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_keyset_put_get_count_clear);
    return qs_test_summary();
}
