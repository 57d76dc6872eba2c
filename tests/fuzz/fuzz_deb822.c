/* fuzz_deb822.c - libFuzzer target for the producer's deb822 parser
 * (producer/deb822.h) and dpkg version comparison (producer/debver.h), which
 * `qs-producer scan` runs over dpkg's status file and apt's lists.
 *
 * The input is parsed whole and again fed in three pieces cut where its
 * first two bytes say, with and without the OpenPGP armour flag: the
 * paragraphs delivered (every kept value, in order) and the counts must be
 * the same whatever the cut. Every delivered value is at most
 * QS_DEB822_MAX_VALUE bytes without blanks around it; a paragraph is
 * delivered or counted as an error, never both. Each Version value that
 * dpkg would accept compares equal to itself, and two of them compare
 * antisymmetrically.
 */
#include "fuzz_util.h"

#include "deb822.h"
#include "debver.h"

#include <sodium.h>
#include <string.h>

static const char *const fields[] = { "Package", "Version", "Status", "Description" };
#define NFIELDS 4

typedef struct {
    crypto_hash_sha256_state h;
    uint64_t n;
    char prev_version[QS_DEB822_MAX_VALUE + 1];
} collect_t;

static int
on_para(void *ctx, const qs_deb822_para_t *p)
{
    collect_t *c = ctx;

    c->n++;
    crypto_hash_sha256_update(&c->h, (const unsigned char *)"P", 1);
    for (size_t i = 0; i < NFIELDS; i++) {
        const char *v = p->values[i];
        if (v == NULL) {
            crypto_hash_sha256_update(&c->h, (const unsigned char *)"-", 1);
            continue;
        }
        size_t len = strlen(v);
        FUZZ_CHECK(len <= QS_DEB822_MAX_VALUE);
        if (len > 0) {
            FUZZ_CHECK(v[0] != ' ' && v[0] != '\t');
            FUZZ_CHECK(v[len - 1] != ' ' && v[len - 1] != '\t');
        }
        crypto_hash_sha256_update(&c->h, (const unsigned char *)"+", 1);
        crypto_hash_sha256_update(&c->h, (const unsigned char *)v, len + 1);
    }
    if (p->values[1] != NULL && qs_debver_valid(p->values[1]) == 0) {
        int self = 1, ab = 0, ba = 0;
        FUZZ_CHECK(qs_debver_compare(p->values[1], p->values[1], &self) == 0 && self == 0);
        if (c->prev_version[0] != '\0') {
            FUZZ_CHECK(qs_debver_compare(p->values[1], c->prev_version, &ab) == 0);
            FUZZ_CHECK(qs_debver_compare(c->prev_version, p->values[1], &ba) == 0);
            FUZZ_CHECK(ab == -ba);
        }
        snprintf(c->prev_version, sizeof c->prev_version, "%s", p->values[1]);
    }
    return 0;
}

/* Parse data cut at a and b (a <= b <= size); digest and stats out. */
static void
parse_cut(const uint8_t *data, size_t size, size_t a, size_t b, unsigned flags,
          unsigned char digest[crypto_hash_sha256_BYTES], qs_deb822_stats_t *st)
{
    collect_t c;
    qs_deb822_t *p;

    memset(&c, 0, sizeof c);
    crypto_hash_sha256_init(&c.h);
    p = qs_deb822_new(fields, NFIELDS, flags, on_para, &c);
    FUZZ_CHECK(p != NULL);
    FUZZ_CHECK(qs_deb822_feed(p, (const char *)data, a) == 0);
    FUZZ_CHECK(qs_deb822_feed(p, (const char *)data + a, b - a) == 0);
    FUZZ_CHECK(qs_deb822_feed(p, (const char *)data + b, size - b) == 0);
    FUZZ_CHECK(qs_deb822_finish(p) == 0);
    *st = *qs_deb822_stats(p);
    FUZZ_CHECK(st->paragraphs == c.n);
    FUZZ_CHECK(st->paragraphs + st->errors <= st->lines + 1);
    FUZZ_CHECK((st->errors == 0) == (st->first_error[0] == '\0'));
    crypto_hash_sha256_final(&c.h, digest);
    qs_deb822_destroy(&p);
    FUZZ_CHECK(p == NULL);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char whole[crypto_hash_sha256_BYTES], cut[crypto_hash_sha256_BYTES];
    qs_deb822_stats_t st_whole, st_cut;
    size_t a = size > 0 ? data[0] % (size + 1) : 0;
    size_t b = size > 1 ? a + data[1] % (size - a + 1) : size;

    for (unsigned flags = 0; flags <= QS_DEB822_PGP; flags += QS_DEB822_PGP) {
        parse_cut(data, size, size, size, flags, whole, &st_whole);
        parse_cut(data, size, a, b, flags, cut, &st_cut);
        FUZZ_CHECK(memcmp(whole, cut, sizeof whole) == 0);
        FUZZ_CHECK(st_whole.paragraphs == st_cut.paragraphs);
        FUZZ_CHECK(st_whole.errors == st_cut.errors);
        FUZZ_CHECK(st_whole.lines == st_cut.lines);
        FUZZ_CHECK(strcmp(st_whole.first_error, st_cut.first_error) == 0);
    }
    return 0;
}
