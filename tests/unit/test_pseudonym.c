/* test_pseudonym.c - pseudonym.c: keyed, kind-separated, normalized names. */
#include "qs_pseudonym.h"
#include "qs_test.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* The fold before Unicode folding, copied here only to prove that ASCII
 * names keep their pseudonyms (do not "fix" it: it is the reference). */
static void
old_pseudonym(uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
              const char *kind, const char *name)
{
    crypto_generichash_state st;
    size_t start = 0, end = strlen(name);
    unsigned char buf[256];

    while (start < end && isspace((unsigned char)name[start]))
        start++;
    while (end > start && isspace((unsigned char)name[end - 1]))
        end--;
    if (end == start) {
        memset(out, 0, QS_PSEUDONYM_BYTES);
        return;
    }
    crypto_generichash_init(&st, site_key, 32, QS_PSEUDONYM_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)"quietstate/", 11);
    crypto_generichash_update(&st, (const unsigned char *)kind, strlen(kind) + 1);
    while (start < end) {
        size_t n = end - start < sizeof buf ? end - start : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)tolower((unsigned char)name[start + i]);
        crypto_generichash_update(&st, buf, n);
        start += n;
    }
    crypto_generichash_final(&st, out, QS_PSEUDONYM_BYTES);
}

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

/* Every printable ASCII character, alone, inside a name, with blanks
 * around, and every printable character pair: the same pseudonym as the
 * old fold, for every kind. Plus a long (300 byte) ASCII name. */
static void
test_ascii_names_keep_their_pseudonyms(void)
{
    static const qs_pseudo_kind_t kinds[] = { QS_PSEUDO_MACHINE, QS_PSEUDO_DOMAIN,
                                              QS_PSEUDO_USER, QS_PSEUDO_CLIENT };
    static const char *const kind_names[] = { "machine", "domain", "user", "client" };
    uint8_t key[32] = { 7 }, a[QS_PSEUDONYM_BYTES], b[QS_PSEUDONYM_BYTES];
    char name[400];
    int bad = 0;

    for (size_t k = 0; k < 4; k++) {
        for (int c = 0x20; c < 0x7f; c++) {
            for (int d = 0x20; d < 0x7f; d++) {
                snprintf(name, sizeof name, "%c%c", c, d);
                qs_pseudonym(a, key, kinds[k], name);
                old_pseudonym(b, key, kind_names[k], name);
                bad += memcmp(a, b, sizeof a) != 0;
            }
            snprintf(name, sizeof name, " \tPC-%cX-0042\n ", c);
            qs_pseudonym(a, key, kinds[k], name);
            old_pseudonym(b, key, kind_names[k], name);
            bad += memcmp(a, b, sizeof a) != 0;
        }
    }
    /* The fold itself (ICU, which qs_pseudonym skips for ASCII names) is
     * ASCII lower-casing on ASCII: every printable pair, blanks trimmed. */
    for (int c = 0x20; c < 0x7f; c++) {
        for (int d = 0x20; d < 0x7f; d++) {
            char folded[16], want[3] = { (char)tolower(c), (char)tolower(d), 0 };
            size_t len = 99;
            const char *w = want;
            size_t wlen;

            snprintf(name, sizeof name, "%c%c", c, d);
            while (*w == ' ')
                w++;
            wlen = strlen(w);
            while (wlen > 0 && w[wlen - 1] == ' ')
                wlen--;
            bad += qs_name_fold(folded, sizeof folded, &len, name) != 0 || len != wlen ||
                   memcmp(folded, w, wlen) != 0;
        }
    }
    memset(name, 'Q', 300);
    name[300] = '\0';
    qs_pseudonym(a, key, QS_PSEUDO_MACHINE, name);
    old_pseudonym(b, key, "machine", name);
    bad += memcmp(a, b, sizeof a) != 0;
    QS_CHECK_EQ_INT(bad, 0);
}

static int
same(const char *x, const char *y)
{
    uint8_t key[32] = { 3 }, a[QS_PSEUDONYM_BYTES], b[QS_PSEUDONYM_BYTES];

    qs_pseudonym(a, key, QS_PSEUDO_MACHINE, x);
    qs_pseudonym(b, key, QS_PSEUDO_MACHINE, y);
    return memcmp(a, b, sizeof a) == 0;
}

static void
test_unicode_names_fold_alike(void)
{
    char out[64];
    size_t len = 0;

    QS_CHECK(same("MÜNCHEN-PC", "münchen-pc"));
    QS_CHECK(same("MÜNCHEN-PC", " München-PC "));
    /* NFC: U followed by COMBINING DIAERESIS is Ü. */
    QS_CHECK(same("MU\xcc\x88NCHEN-PC", "münchen-pc"));
    /* Full folding: ß folds to "ss"; ẞ (capital sharp s) too. */
    QS_CHECK(same("Straße", "STRASSE"));
    QS_CHECK(same("\xe1\xba\x9e", "ss"));
    QS_CHECK(same("ΣΊΣΥΦΟΣ", "σίσυφος"));
    QS_CHECK(same("ΣΊΣΥΦΟΣ", "σίσυφοσ"));    /* final sigma folds to sigma */
    QS_CHECK(same("KELVIN", "\xe2\x84\xaa" "elvin"));   /* U+212A KELVIN SIGN */
    QS_CHECK(!same("münchen-pc", "munchen-pc"));
    QS_CHECK(!same("Straße", "strase"));
    QS_CHECK_EQ_INT(qs_name_fold(out, sizeof out, &len, " Straße "), 0);
    QS_CHECK(len == 7 && memcmp(out, "strasse", 7) == 0);
}

static void
test_invalid_utf8_is_refused_or_legacy(void)
{
    uint8_t key[32] = { 5 }, a[QS_PSEUDONYM_BYTES], b[QS_PSEUDONYM_BYTES];
    const char *bad[] = { "PC-\xff", "PC-\xc3", "PC-\xc0\xaf", "PC-\xed\xa0\x80" };
    qs_machine_ps_t who;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        QS_CHECK_EQ_INT(qs_pseudonym_checked(a, key, QS_PSEUDO_MACHINE, bad[i]), -1);
        QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, bad[i], NULL), 3);
        QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, "pc", bad[i]), 4);
        /* The void form never fails: the legacy fold, which lookups match. */
        qs_pseudonym(a, key, QS_PSEUDO_MACHINE, bad[i]);
        qs_pseudonym_legacy(b, key, QS_PSEUDO_MACHINE, bad[i]);
        QS_CHECK(memcmp(a, b, sizeof a) == 0);
    }
}

static void
test_machine_spellings(void)
{
    uint8_t key[32] = { 9 }, cur[QS_PSEUDONYM_BYTES], old[QS_PSEUDONYM_BYTES];
    qs_machine_ps_t who;

    /* ASCII: one spelling. */
    QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, "PC-1", NULL), 0);
    QS_CHECK(who.n == 1 && !who.has_domain);
    /* "München-PC": its legacy fold is the current one ("münchen-pc"); the
     * upper-cased legacy one ("MÜNCHEN-PC": what Windows reports) differs. */
    QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, "München-PC", NULL), 0);
    QS_CHECK(who.n == 2);
    qs_pseudonym(cur, key, QS_PSEUDO_MACHINE, "MÜNCHEN-PC");
    QS_CHECK(memcmp(who.machine_ps[0], cur, sizeof cur) == 0);
    qs_pseudonym_legacy(old, key, QS_PSEUDO_MACHINE, "MÜNCHEN-PC");
    QS_CHECK(memcmp(who.machine_ps[1], old, sizeof old) == 0);
    /* Mixed case in the non-ASCII letters: as given, then upper-cased. */
    QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, "mÜnchen-pç", NULL), 0);
    QS_CHECK(who.n == 3);
    qs_pseudonym_legacy(old, key, QS_PSEUDO_MACHINE, "mÜnchen-pç");
    QS_CHECK(memcmp(who.machine_ps[1], old, sizeof old) == 0);
    qs_pseudonym_legacy(old, key, QS_PSEUDO_MACHINE, "MÜNCHEN-PÇ");
    QS_CHECK(memcmp(who.machine_ps[2], old, sizeof old) == 0);
    /* Already folded and in NFC: only the upper-case legacy one differs. */
    QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, "pc-é", NULL), 0);
    QS_CHECK(who.n == 2);
    /* ASCII machine, non-ASCII domain: the pairs differ by the domain. */
    QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, "pc-1", "CORP-Ä"), 0);
    QS_CHECK(who.n == 2 && who.has_domain);   /* as given = upper; lower = current */
    QS_CHECK(memcmp(who.machine_ps[0], who.machine_ps[1], QS_PSEUDONYM_BYTES) == 0);
    qs_pseudonym_legacy(old, key, QS_PSEUDO_DOMAIN, "CORP-Ä");
    QS_CHECK(memcmp(who.domain_ps[1], old, sizeof old) == 0);
    QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, "  ", NULL), 1);
    QS_CHECK_EQ_INT(qs_pseudonym_machine(&who, key, "pc", ""), 2);
    qs_machine_ps_wipe(&who);
    QS_CHECK(who.n == 0);
}

static void
test_client_names_keep_the_legacy_fold(void)
{
    uint8_t key[32] = { 4 }, a[QS_PSEUDONYM_BYTES], b[QS_PSEUDONYM_BYTES];

    qs_pseudonym(a, key, QS_PSEUDO_CLIENT, "MÜNCHEN-PC");
    qs_pseudonym_legacy(b, key, QS_PSEUDO_CLIENT, "MÜNCHEN-PC");
    QS_CHECK(memcmp(a, b, sizeof a) == 0);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 2;
    QS_RUN(test_pseudonym_normalizes_case_and_blanks);
    QS_RUN(test_pseudonym_depends_on_key_and_kind);
    QS_RUN(test_ascii_names_keep_their_pseudonyms);
    QS_RUN(test_unicode_names_fold_alike);
    QS_RUN(test_invalid_utf8_is_refused_or_legacy);
    QS_RUN(test_machine_spellings);
    QS_RUN(test_client_names_keep_the_legacy_fold);
    return qs_test_summary();
}
