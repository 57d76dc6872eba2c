/* fuzz_config.c - libFuzzer target for quietstate.conf parsing (qs_config_parse).
 *
 * The input, made NUL-terminated, is INI text. A refused config must come
 * with an error message; an accepted one must hold only values inside the
 * documented bounds, and must survive qs_config_format -> qs_config_parse
 * unchanged (what qsctl init writes, every daemon must read back as written).
 */
#include "fuzz_util.h"
#include "qs_config.h"

#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void
check_bounds(const qs_config_t *c)
{
    FUZZ_CHECK(memchr(c->frontend, '\0', sizeof c->frontend) != NULL);
    FUZZ_CHECK(memchr(c->backend, '\0', sizeof c->backend) != NULL);
    FUZZ_CHECK(c->broker_hwm >= 1 && c->broker_hwm <= 1000000);
    FUZZ_CHECK(c->skew_limit_s >= 0 && c->skew_limit_s <= 86400);
    FUZZ_CHECK(c->group_commit_max_messages >= 1 && c->group_commit_max_messages <= 1000000);
    FUZZ_CHECK(c->retention_interval_s >= 1 && c->retention_interval_s <= 7 * 86400);
}

static int
config_equal(const qs_config_t *a, const qs_config_t *b)
{
    /* Field by field: bytes after an endpoint's NUL are not part of it. */
    return strcmp(a->frontend, b->frontend) == 0 && strcmp(a->backend, b->backend) == 0 &&
           a->broker_hwm == b->broker_hwm && a->skew_limit_s == b->skew_limit_s &&
           a->group_commit_max_messages == b->group_commit_max_messages &&
           a->retention_interval_s == b->retention_interval_s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);
    char errmsg[256] = "", text2[4096];
    qs_config_t cfg, again;

    if (qs_config_parse(&cfg, text, errmsg, sizeof errmsg) != 0) {
        FUZZ_CHECK(errmsg[0] != '\0');
        free(text);
        return 0;
    }
    check_bounds(&cfg);
    FUZZ_CHECK(qs_config_format(text2, sizeof text2, &cfg) == 0);
    errmsg[0] = '\0';
    if (qs_config_parse(&again, text2, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "formatted config does not parse again: %s\n---\n%s---\n", errmsg, text2);
        FUZZ_CHECK(!"formatted config parses again");
    }
    FUZZ_CHECK(config_equal(&cfg, &again));
    free(text);
    return 0;
}
