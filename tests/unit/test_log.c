/* test_log.c - the log line forms: text, and [log] format = json parsed back by a real JSON parser. */
#include "qs_config.h"
#include "qs_log.h"
#include "qs_test.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Run one log_warn with stderr sent to a file; the line it wrote. */
static void
capture(char *out, size_t out_len, int json, const char *msg)
{
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n;

    fflush(stderr);
    dup2(fileno(f), STDERR_FILENO);
    qs_log_set_json(json);
    log_warn("%s", msg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    n = fread(out, 1, out_len - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void
test_log_json_lines_parse_and_escape_hostile_text(void)
{
    char line[4096];
    cJSON *doc;

    capture(line, sizeof line, 1, "bad \"id\" \\ with \x1b[2J and\nnewline");
    QS_CHECK(strchr(line, '\n') == line + strlen(line) - 1);   /* exactly one line */
    QS_CHECK(strchr(line, '\x1b') == NULL);
    doc = cJSON_Parse(line);
    QS_CHECK(doc != NULL);
    if (doc != NULL) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "time");
        QS_CHECK_STR(cJSON_GetObjectItemCaseSensitive(doc, "program")->valuestring, "test_log");
        QS_CHECK_STR(cJSON_GetObjectItemCaseSensitive(doc, "level")->valuestring, "warn");
        QS_CHECK_STR(cJSON_GetObjectItemCaseSensitive(doc, "msg")->valuestring,
                     "bad \"id\" \\ with \x1b[2J and\nnewline");
        QS_CHECK(cJSON_IsString(t) && strlen(t->valuestring) == 24 && t->valuestring[23] == 'Z');
        cJSON_Delete(doc);
    }
    capture(line, sizeof line, 0, "plain");
    QS_CHECK(strstr(line, "Z test_log warn: plain\n") != NULL);
}

static void
test_log_format_key_accepts_text_and_json_only(void)
{
    qs_config_t cfg;
    char err[256];

    QS_CHECK_EQ_INT(qs_config_parse(&cfg, "[log]\nformat = json\n", err, sizeof err), 0);
    QS_CHECK_EQ_INT(cfg.log_json, 1);
    QS_CHECK_EQ_INT(qs_config_parse(&cfg, "[log]\nformat = text\n", err, sizeof err), 0);
    QS_CHECK_EQ_INT(cfg.log_json, 0);
    QS_CHECK_EQ_INT(qs_config_parse(&cfg, "[log]\nformat = yaml\n", err, sizeof err), -1);
    QS_CHECK(strstr(err, "format") != NULL);
}

int
main(void)
{
    qs_log_init("test_log", QS_LOG_INFO);
    QS_RUN(test_log_json_lines_parse_and_escape_hostile_text);
    QS_RUN(test_log_format_key_accepts_text_and_json_only);
    return qs_test_summary();
}
