/* test_ctl_config_doc.c - docs/config.md and the key table of common/config.c
 * cannot drift: every key of qs_config_keys() has its row in the document,
 * with the table's default, unit, range and readers, and every key row of the
 * document is in the table; `qsctl init` writes only keys the table knows,
 * and each default parses under its own rule while min-1 and max+1 do not.
 */
#include "qs_config.h"
#include "qs_fsutil.h"
#include "qs_test.h"

#include <stdlib.h>
#include <string.h>

#define ROW_BYTES 1024

static char *doc;

/* The range column: min..max for integers, the accepted form otherwise. */
static const char *
range_text(char *out, size_t out_len, const qs_config_key_t *k)
{
    switch (k->kind) {
    case QS_CONFIG_INT: snprintf(out, out_len, "%ld..%ld", k->min, k->max); break;
    case QS_CONFIG_ENDPOINT: snprintf(out, out_len, "ZeroMQ endpoint"); break;
    case QS_CONFIG_LISTEN: snprintf(out, out_len, "host:port"); break;
    case QS_CONFIG_PATH: snprintf(out, out_len, "file path"); break;
    case QS_CONFIG_DIR: snprintf(out, out_len, "directory path"); break;
    case QS_CONFIG_DATABASE: snprintf(out, out_len, "PostgreSQL URI"); break;
    case QS_CONFIG_CHOICE: {     /* "`a`", "`a` or `b`", "`a`, `b` or `c`" */
        size_t o = 0;
        const char *p = k->choices;
        while (p != NULL && *p && o < out_len) {
            const char *end = strchr(p, '|');
            int n = end ? (int)(end - p) : (int)strlen(p);
            o += (size_t)snprintf(out + o, out_len - o, "%s`%.*s`",
                                  o == 0 ? "" : (end ? ", " : " or "), n, p);
            p = end ? end + 1 : NULL;
        }
        break;
    }
    }
    return out;
}

/* The row docs/config.md must hold for k. */
static void
row_text(char *out, size_t out_len, const qs_config_key_t *k)
{
    char def[128], range[64];

    if (k->def[0] != '\0')
        snprintf(def, sizeof def, "`%s`", k->def);
    else
        snprintf(def, sizeof def, "(none)");
    snprintf(out, out_len, "| `[%s] %s` | %s | %s | %s | %s | %s |", k->section, k->key, def,
             k->unit[0] ? k->unit : "-", range_text(range, sizeof range, k), k->readers,
             k->help);
}

static void
test_every_key_has_its_row(void)
{
    size_t n;
    const qs_config_key_t *keys = qs_config_keys(&n);
    char row[ROW_BYTES];

    QS_CHECK(n >= 20);
    for (size_t i = 0; i < n; i++) {
        row_text(row, sizeof row, &keys[i]);
        if (strstr(doc, row) == NULL) {
            printf("  docs/config.md lacks (or differs from) the row:\n%s\n", row);
            QS_CHECK(!"a key of the table is not documented as it is");
        }
    }
}

static void
test_every_documented_key_is_in_the_table(void)
{
    size_t n, rows = 0;
    const qs_config_key_t *keys = qs_config_keys(&n);

    for (const char *p = strstr(doc, "\n| `["); p != NULL; p = strstr(p + 1, "\n| `[")) {
        char section[64] = "", key[64] = "";
        int found = 0;
        rows++;
        if (sscanf(p, "\n| `[%63[^]]] %63[^`]`", section, key) != 2) {
            QS_CHECK(!"a key row of docs/config.md does not read as `[section] key`");
            continue;
        }
        for (size_t i = 0; i < n; i++)
            found |= strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0;
        if (!found)
            printf("  docs/config.md documents [%s] %s, which the parser does not know\n",
                   section, key);
        QS_CHECK(found);
    }
    QS_CHECK_EQ_INT(rows, n);
}

static void
test_init_writes_only_known_keys_and_ranges_hold(void)
{
    size_t n;
    const qs_config_key_t *keys = qs_config_keys(&n);
    char text[4096], err[256], section[64] = "", *save = NULL;
    qs_config_t cfg;

    qs_config_defaults(&cfg);
    QS_CHECK_EQ_INT(qs_config_format(text, sizeof text, &cfg), 0);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[64];
        int found = 0;
        if (sscanf(line, "[%63[^]]]", section) == 1 || line[0] == '#')
            continue;
        QS_CHECK(sscanf(line, "%63s =", key) == 1);
        for (size_t i = 0; i < n; i++)
            found |= strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0;
        QS_CHECK(found);
    }
    for (size_t i = 0; i < n; i++) {
        char conf[256];
        if (keys[i].kind != QS_CONFIG_INT)
            continue;
        snprintf(conf, sizeof conf, "[%s]\n%s = %s\n", keys[i].section, keys[i].key,
                 keys[i].def);
        QS_CHECK_EQ_INT(qs_config_parse(&cfg, conf, err, sizeof err), 0);
        snprintf(conf, sizeof conf, "[%s]\n%s = %ld\n", keys[i].section, keys[i].key,
                 keys[i].max + 1);
        QS_CHECK(qs_config_parse(&cfg, conf, err, sizeof err) != 0 &&
                 strstr(err, keys[i].key) != NULL);
        snprintf(conf, sizeof conf, "[%s]\n%s = %ld\n", keys[i].section, keys[i].key,
                 keys[i].min - 1);
        QS_CHECK(qs_config_parse(&cfg, conf, err, sizeof err) != 0);
    }
}

int
main(void)
{
    char err[512];
    size_t len;

    if (qs_fs_read_small(&doc, &len, QS_DOCS_DIR "/config.md", 1 << 20, 0, err,
                         sizeof err) != 0) {
        printf("cannot read docs/config.md: %s\n", err);
        return 1;
    }
    QS_RUN(test_every_key_has_its_row);
    QS_RUN(test_every_documented_key_is_in_the_table);
    QS_RUN(test_init_writes_only_known_keys_and_ranges_hold);
    free(doc);
    return qs_test_summary();
}
