/* pseudonym.c - keyed, domain-separated BLAKE2b over normalized names. */
#include "qs_pseudonym.h"
#include "qs_codec.h"
#include "qs_log.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

static const char *const kind_names[] = { "machine", "domain", "user", "client" };

/* UTF-16 units of the fold's work buffers. A name the codec accepts is at
 * most QS_MAX_NAME_BYTES (255) bytes; NFC and full case folding each grow a
 * string at most threefold, so 4096 units never overflow for such a name.
 * QS_FOLD_MAX_INPUT bounds what is attempted at all. */
#define FOLD_UNITS 4096
#define QS_FOLD_MAX_INPUT 1024u

/* Surrounding ASCII blanks (the C locale's isspace), as before the fold. */
static void
trim(const char *name, size_t *start, size_t *end)
{
    *start = 0;
    *end = strlen(name);
    while (*start < *end && isspace((unsigned char)name[*start]))
        (*start)++;
    while (*end > *start && isspace((unsigned char)name[*end - 1]))
        (*end)--;
}

static int
has_non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

static void
hash_begin(crypto_generichash_state *st, const uint8_t site_key[32], qs_pseudo_kind_t kind)
{
    crypto_generichash_init(st, site_key, 32, QS_PSEUDONYM_BYTES);
    crypto_generichash_update(st, (const unsigned char *)"quietstate/", 11);
    crypto_generichash_update(st, (const unsigned char *)kind_names[kind],
                              strlen(kind_names[kind]) + 1);
}

void
qs_pseudonym_legacy(uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                    qs_pseudo_kind_t kind, const char *name)
{
    crypto_generichash_state st;
    size_t start, end;
    unsigned char buf[256];

    trim(name, &start, &end);
    if (end == start) {
        memset(out, 0, QS_PSEUDONYM_BYTES);
        return;
    }
    hash_begin(&st, site_key, kind);
    while (start < end) {
        size_t n = end - start < sizeof buf ? end - start : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)tolower((unsigned char)name[start + i]);
        crypto_generichash_update(&st, buf, n);
        start += n;
    }
    crypto_generichash_final(&st, out, QS_PSEUDONYM_BYTES);
    sodium_memzero(&st, sizeof st);
    sodium_memzero(buf, sizeof buf);
}

/* NFC, full case folding, NFC again (folding can leave a string that is not
 * in NFC, e.g. a folded capital before a combining mark). Returns 0 with the
 * folded UTF-8 in out[0..*out_len), or -1 (not UTF-8, too long, ICU error). */
static int
fold_utf8(const char *s, size_t len, char *out, size_t cap, size_t *out_len)
{
    UChar a[FOLD_UNITS], b[FOLD_UNITS];
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2 *nfc;
    int32_t na = 0, nb = 0, n8 = 0, most = 0;
    int rc = -1;

    if (len > QS_FOLD_MAX_INPUT || !qs_utf8_valid(s, len))
        return -1;
    nfc = unorm2_getNFCInstance(&err);
    u_strFromUTF8(a, FOLD_UNITS, &na, s, (int32_t)len, &err);
    most = na;
    nb = unorm2_normalize(nfc, a, na, b, FOLD_UNITS, &err);
    most = nb > most ? nb : most;
    na = u_strFoldCase(a, FOLD_UNITS, b, nb, U_FOLD_CASE_DEFAULT, &err);
    most = na > most ? na : most;
    nb = unorm2_normalize(nfc, a, na, b, FOLD_UNITS, &err);
    most = nb > most ? nb : most;
    u_strToUTF8(out, (int32_t)cap, &n8, b, nb, &err);
    /* A string that exactly fills a buffer reports U_STRING_NOT_TERMINATED_WARNING:
     * lengths are explicit throughout, so that is fine. */
    if (U_SUCCESS(err) && n8 >= 0 && (size_t)n8 <= cap) {
        *out_len = (size_t)n8;
        rc = 0;
    }
    /* Wipe what was written: at most the longest length seen (on an
     * overflow ICU reports the length it needed: the whole buffer then). */
    if (most <= 0 || most > FOLD_UNITS)
        most = FOLD_UNITS;
    sodium_memzero(a, (size_t)most * sizeof a[0]);
    sodium_memzero(b, (size_t)most * sizeof b[0]);
    return rc;
}

int
qs_name_fold(char *out, size_t cap, size_t *out_len, const char *name)
{
    size_t start, end;

    trim(name, &start, &end);
    return fold_utf8(name + start, end - start, out, cap, out_len);
}

int
qs_pseudonym_checked(uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                     qs_pseudo_kind_t kind, const char *name)
{
    crypto_generichash_state st;
    char folded[3 * FOLD_UNITS];
    size_t len = 0;

    /* Client names keep the legacy fold (qs_pseudonym.h); for an ASCII
     * name the Unicode fold is ASCII lower-casing, which the legacy fold is
     * (tests/unit/test_pseudonym.c checks qs_name_fold against it), so the
     * store's hot path skips ICU for the usual names. */
    if (kind == QS_PSEUDO_CLIENT || !has_non_ascii(name)) {
        qs_pseudonym_legacy(out, site_key, kind, name);
        return 0;
    }
    if (qs_name_fold(folded, sizeof folded, &len, name) != 0)
        return -1;
    if (len == 0) {
        memset(out, 0, QS_PSEUDONYM_BYTES);
        return 0;
    }
    hash_begin(&st, site_key, kind);
    crypto_generichash_update(&st, (const unsigned char *)folded, len);
    crypto_generichash_final(&st, out, QS_PSEUDONYM_BYTES);
    sodium_memzero(&st, sizeof st);
    sodium_memzero(folded, len);
    return 0;
}

void
qs_pseudonym(uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
             qs_pseudo_kind_t kind, const char *name)
{
    /* Only a name the codec would refuse gets here unfolded; its legacy
     * pseudonym is still one a lookup or forget matches (qs_machine_ps_t). */
    if (qs_pseudonym_checked(out, site_key, kind, name) != 0)
        qs_pseudonym_legacy(out, site_key, kind, name);
}

/* name with every letter upper-cased (upper != 0) or lower-cased, root
 * locale, NFC, into out (NUL-terminated). 0, or -1 (then out is name). */
static int
case_variant(char *out, size_t cap, const char *name, int upper)
{
    UChar a[FOLD_UNITS], b[FOLD_UNITS];
    UErrorCode err = U_ZERO_ERROR;
    int32_t na = 0, nb, n8 = 0;

    snprintf(out, cap, "%s", name);
    if (strlen(name) > QS_FOLD_MAX_INPUT)
        return -1;
    u_strFromUTF8(a, FOLD_UNITS, &na, name, -1, &err);
    nb = upper ? u_strToUpper(b, FOLD_UNITS, a, na, "", &err)
               : u_strToLower(b, FOLD_UNITS, a, na, "", &err);
    na = unorm2_normalize(unorm2_getNFCInstance(&err), b, nb, a, FOLD_UNITS, &err);
    u_strToUTF8(out, (int32_t)cap - 1, &n8, a, na, &err);
    sodium_memzero(a, sizeof a);
    sodium_memzero(b, sizeof b);
    if (U_FAILURE(err) || n8 < 0 || (size_t)n8 >= cap) {
        snprintf(out, cap, "%s", name);
        return -1;
    }
    out[n8] = '\0';
    return 0;
}

/* Add the legacy pair of (machine, domain) spelled with variant v (0 as
 * given, 1 upper-cased, 2 lower-cased) unless who already holds it. */
static void
add_legacy(qs_machine_ps_t *who, const uint8_t site_key[32], const char *machine,
           const char *domain, int v)
{
    char m[3 * FOLD_UNITS], d[3 * FOLD_UNITS];
    size_t i = who->n;

    if (i >= QS_PSEUDONYM_SPELLINGS)
        return;
    if (v == 0 || case_variant(m, sizeof m, machine, v == 1) != 0)
        snprintf(m, sizeof m, "%s", machine);
    qs_pseudonym_legacy(who->machine_ps[i], site_key, QS_PSEUDO_MACHINE, m);
    if (domain != NULL) {
        if (v == 0 || case_variant(d, sizeof d, domain, v == 1) != 0)
            snprintf(d, sizeof d, "%s", domain);
        qs_pseudonym_legacy(who->domain_ps[i], site_key, QS_PSEUDO_DOMAIN, d);
    }
    sodium_memzero(m, sizeof m);
    sodium_memzero(d, sizeof d);
    for (size_t j = 0; j < i; j++)
        if (sodium_memcmp(who->machine_ps[j], who->machine_ps[i], QS_PSEUDONYM_BYTES) == 0 &&
            sodium_memcmp(who->domain_ps[j], who->domain_ps[i], QS_PSEUDONYM_BYTES) == 0) {
            sodium_memzero(who->machine_ps[i], QS_PSEUDONYM_BYTES);
            sodium_memzero(who->domain_ps[i], QS_PSEUDONYM_BYTES);
            return;
        }
    who->n++;
}

int
qs_pseudonym_machine(qs_machine_ps_t *who, const uint8_t site_key[32], const char *machine,
                     const char *domain)
{
    static const uint8_t zero[QS_PSEUDONYM_BYTES];

    memset(who, 0, sizeof *who);
    who->n = 1;
    who->has_domain = domain != NULL;
    if (qs_pseudonym_checked(who->machine_ps[0], site_key, QS_PSEUDO_MACHINE, machine) != 0)
        return 3;
    if (domain != NULL &&
        qs_pseudonym_checked(who->domain_ps[0], site_key, QS_PSEUDO_DOMAIN, domain) != 0)
        return 4;
    if (sodium_memcmp(who->machine_ps[0], zero, sizeof zero) == 0)
        return 1;
    if (domain != NULL && sodium_memcmp(who->domain_ps[0], zero, sizeof zero) == 0)
        return 2;
    /* Rows written before names were Unicode-folded carry the ASCII-only
     * fold's pseudonyms, in which non-ASCII letters kept the case they were
     * reported in: the name as given, all upper case (how Windows reports
     * NetBIOS names) and all lower case are matched too. */
    if (has_non_ascii(machine) || (domain != NULL && has_non_ascii(domain)))
        for (int v = 0; v < 3; v++)
            add_legacy(who, site_key, machine, domain, v);
    return 0;
}

void
qs_machine_ps_wipe(qs_machine_ps_t *who)
{
    sodium_memzero(who, sizeof *who);
}

void
qs_pseudonym_memo(qs_pseudonym_memo_t memos[QS_PSEUDO_USER + 1],
                  uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                  qs_pseudo_kind_t kind, const char *name)
{
    qs_pseudonym_memo_t *m = &memos[kind];
    size_t len = strlen(name);

    QS_ASSERT(kind <= QS_PSEUDO_USER);

    if (m->valid && strcmp(m->name, name) == 0) {
        memcpy(out, m->ps, QS_PSEUDONYM_BYTES);
        return;
    }
    qs_pseudonym(out, site_key, kind, name);
    m->valid = len < sizeof m->name;   /* validated names are shorter; be safe */
    if (m->valid) {
        memcpy(m->name, name, len + 1);
        memcpy(m->ps, out, QS_PSEUDONYM_BYTES);
    }
}
