/* import_reader.c - the keyless child that decodes an export, and the parent's side of its pipe.
 *
 * Framing, one item after another: a kind byte, then
 *   'R' line(8) topic_type(4) state_id(4) time_ms(8) machine domain topic_id
 *   'S' line(8) reason
 *   'F' reason                 (the file is refused; last item)
 *   'E'                        (end; last item)
 * integers in host order (both ends are one program on one host), each
 * string a 2-byte length and its bytes (at most 64 KiB: a CSV record is
 * no longer). The child writes through one buffered stream and _exit()s.
 */
#include "import_reader.h"

#include "qs_csv.h"
#include "qs_log.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STR_MAX 65535u

struct ctl_import_reader {
    pid_t pid;
    FILE *in;
    char *str[3];               /* the last item's strings */
};

/* ------------------------------------------------------------- the child */

static void
put_str(FILE *out, const char *s)
{
    size_t len = strlen(s);
    uint16_t n = (uint16_t)(len > STR_MAX ? STR_MAX : len);

    fwrite(&n, sizeof n, 1, out);
    fwrite(s, 1, n, out);
}

static void
put_skip(FILE *out, uint64_t line, const char *why)
{
    fputc('S', out);
    fwrite(&line, sizeof line, 1, out);
    put_str(out, why);
}

/* Read path whole, decode, send. Returns the child's exit code. */
static int
child_run(const char *path, FILE *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *text = NULL, err[512];
    size_t cap = 0, len = 0, got, n;
    const char *const *fields;
    const char *why = NULL;
    uint64_t line = 0;
    qs_sccm_header_t h;
    qs_csv_t *csv;
    int rc, refused;

    if (f == NULL) {
        snprintf(err, sizeof err, "cannot open '%s': %s", path, strerror(errno));
        fputc('F', out);
        put_str(out, err);
        return fflush(out) == 0 ? 0 : 1;   /* _exit() flushes nothing */
    }
    do {
        qs_grow((void **)&text, &cap, len + 65536, 1);
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    if (ferror(f)) {
        snprintf(err, sizeof err, "cannot read '%s': %s", path, strerror(errno));
        fputc('F', out);
        put_str(out, err);
        return fflush(out) == 0 ? 0 : 1;   /* _exit() flushes nothing */
    }
    csv = qs_csv_new(text, len);
    rc = qs_csv_next(csv, &fields, &n, &line, &why);
    if (rc == 0)
        snprintf(err, sizeof err, "'%s' is empty: an export starts with a header row "
                 "MachineName,Domain,TopicType,TopicID,StateID,StateTime", path);
    else if (rc < 0)
        snprintf(err, sizeof err, "'%s' is not a CSV export: line %llu: %s", path,
                 (unsigned long long)line, why);
    else if (qs_sccm_header(&h, fields, n, err, sizeof err) != 0)
        rc = 0;
    if ((refused = rc <= 0) != 0) {
        fputc('F', out);
        put_str(out, err);
    }
    while (rc > 0 && (rc = qs_csv_next(csv, &fields, &n, &line, &why)) != 0) {
        qs_sccm_row_t row;
        if (rc < 0) {
            put_skip(out, line, why);
            rc = 1;
        } else if (qs_sccm_row(&row, &h, fields, n, err, sizeof err) != 0) {
            put_skip(out, line, err);
        } else {
            fputc('R', out);
            fwrite(&line, sizeof line, 1, out);
            fwrite(&row.topic_type, sizeof row.topic_type, 1, out);
            fwrite(&row.state_id, sizeof row.state_id, 1, out);
            fwrite(&row.time_ms, sizeof row.time_ms, 1, out);
            put_str(out, row.machine);
            put_str(out, row.domain);
            put_str(out, row.topic_id);
        }
    }
    if (!refused)
        fputc('E', out);
    qs_csv_destroy(&csv);
    sodium_memzero(text, len);
    free(text);
    return fflush(out) == 0 ? 0 : 1;
}

ctl_import_reader_t *
ctl_import_reader_start(const char *path, char *errmsg, size_t errmsg_len)
{
    ctl_import_reader_t *self;
    int fds[2];
    pid_t pid;

    if (pipe(fds) != 0) {
        snprintf(errmsg, errmsg_len, "cannot make a pipe: %s", strerror(errno));
        return NULL;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        snprintf(errmsg, errmsg_len, "cannot fork the CSV reader: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        FILE *out;
        close(fds[0]);
        out = fdopen(fds[1], "wb");
        _exit(out == NULL ? 1 : child_run(path, out));
    }
    close(fds[1]);
    self = qs_calloc(1, sizeof *self);
    self->pid = pid;
    self->in = fdopen(fds[0], "rb");
    if (self->in == NULL) {
        close(fds[0]);
        snprintf(errmsg, errmsg_len, "cannot read the CSV reader's pipe: %s", strerror(errno));
        ctl_import_reader_destroy(&self);
    }
    return self;
}

/* ------------------------------------------------------------ the parent */

static int
get(ctl_import_reader_t *self, void *p, size_t n)
{
    return fread(p, 1, n, self->in) == n ? 0 : -1;
}

static int
get_str(ctl_import_reader_t *self, int i)
{
    uint16_t n;

    if (get(self, &n, sizeof n) != 0)
        return -1;
    free(self->str[i]);
    self->str[i] = qs_malloc((size_t)n + 1);
    if (get(self, self->str[i], n) != 0)
        return -1;
    self->str[i][n] = '\0';
    return 0;
}

int
ctl_import_reader_next(ctl_import_reader_t *self, ctl_import_item_t *item, char *errmsg,
                       size_t errmsg_len)
{
    int k = fgetc(self->in), rc = -1;

    memset(item, 0, sizeof *item);
    switch (k) {
    case 'R':
        item->kind = CTL_IMPORT_ROW;
        rc = get(self, &item->line, sizeof item->line) != 0 ||
             get(self, &item->row.topic_type, sizeof item->row.topic_type) != 0 ||
             get(self, &item->row.state_id, sizeof item->row.state_id) != 0 ||
             get(self, &item->row.time_ms, sizeof item->row.time_ms) != 0 ||
             get_str(self, 0) != 0 || get_str(self, 1) != 0 || get_str(self, 2) != 0 ? -1 : 0;
        item->row.machine = self->str[0];
        item->row.domain = self->str[1];
        item->row.topic_id = self->str[2];
        break;
    case 'S':
        item->kind = CTL_IMPORT_SKIPPED;
        rc = get(self, &item->line, sizeof item->line) != 0 || get_str(self, 0) != 0 ? -1 : 0;
        item->reason = self->str[0];
        break;
    case 'F':
        item->kind = CTL_IMPORT_REFUSED;
        rc = get_str(self, 0);
        item->reason = self->str[0];
        break;
    case 'E':
        item->kind = CTL_IMPORT_END;
        rc = 0;
        break;
    default:
        break;
    }
    if (rc != 0)
        snprintf(errmsg, errmsg_len, "the CSV reader stopped before the end of the file "
                 "(it crashed or was killed); nothing was imported");
    return rc;
}

void
ctl_import_reader_destroy(ctl_import_reader_t **self_p)
{
    ctl_import_reader_t *self;
    int status;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    if (self->in != NULL)
        fclose(self->in);
    if (self->pid > 0) {
        if (waitpid(self->pid, &status, WNOHANG) == 0) {
            kill(self->pid, SIGKILL);
            (void)waitpid(self->pid, &status, 0);
        }
    }
    for (int i = 0; i < 3; i++) {
        if (self->str[i] != NULL)
            sodium_memzero(self->str[i], strlen(self->str[i]));
        free(self->str[i]);
    }
    free(self);
    *self_p = NULL;
}
