/* pseudonym.c - keyed, domain-separated BLAKE2b over normalized names. */
#include "qs_pseudonym.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>

static const char *const kind_names[] = { "machine", "domain", "user", "client" };

void
qs_pseudonym(uint8_t out[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
             qs_pseudo_kind_t kind, const char *name)
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
    crypto_generichash_update(&st, (const unsigned char *)kind_names[kind],
                              strlen(kind_names[kind]) + 1);
    while (start < end) {
        size_t n = end - start < sizeof buf ? end - start : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)tolower((unsigned char)name[start + i]);
        crypto_generichash_update(&st, buf, n);
        start += n;
    }
    crypto_generichash_final(&st, out, QS_PSEUDONYM_BYTES);
    sodium_memzero(&st, sizeof st);
}

int
qs_pseudonym_machine(uint8_t machine_ps[QS_PSEUDONYM_BYTES],
                     uint8_t domain_ps[QS_PSEUDONYM_BYTES], const uint8_t site_key[32],
                     const char *machine, const char *domain)
{
    static const uint8_t zero[QS_PSEUDONYM_BYTES];

    qs_pseudonym(machine_ps, site_key, QS_PSEUDO_MACHINE, machine);
    if (domain != NULL)
        qs_pseudonym(domain_ps, site_key, QS_PSEUDO_DOMAIN, domain);
    if (sodium_memcmp(machine_ps, zero, sizeof zero) == 0)
        return 1;
    if (domain != NULL && sodium_memcmp(domain_ps, zero, sizeof zero) == 0)
        return 2;
    return 0;
}
