/* import_reader.h - qsctl import's CSV parsing in a child process that holds no key.
 *
 * The export is text qsctl did not write; the parser (common/qs_csv.h,
 * qs_sccmcsv.h) runs in a child forked before qsctl opens the site, so it
 * never has site.key, audit.key or a database handle (CONVENTIONS.md, 16).
 * The child reads the file, decodes records and sends each row, or each
 * skipped line with its reason, over a pipe in a fixed binary framing
 * (lengths bounded, checked by the parent); the parent, which holds the
 * keys, only reads that framing. A child that dies mid-way is an error:
 * nothing is written.
 */
#ifndef QS_CTL_IMPORT_READER_H
#define QS_CTL_IMPORT_READER_H

#include <stddef.h>
#include <stdint.h>

#include "qs_sccmcsv.h"

typedef struct ctl_import_reader ctl_import_reader_t;

typedef enum {
    CTL_IMPORT_ROW = 1,      /* item.row (strings valid until the next call) */
    CTL_IMPORT_SKIPPED,      /* item.line could not be decoded: item.reason */
    CTL_IMPORT_REFUSED,      /* the file is refused: item.reason; nothing follows */
    CTL_IMPORT_END,          /* every line was sent */
} ctl_import_kind_t;

typedef struct {
    ctl_import_kind_t kind;
    uint64_t line;
    qs_sccm_row_t row;
    const char *reason;      /* valid until the next call */
} ctl_import_item_t;

/* Fork the child reading path ('-': standard input). NULL with errmsg. */
ctl_import_reader_t *ctl_import_reader_start(const char *path, char *errmsg, size_t errmsg_len);

/* The next item. 0, or -1 with errmsg when the stream broke (the child
 * died or sent nonsense). */
int ctl_import_reader_next(ctl_import_reader_t *self, ctl_import_item_t *item, char *errmsg,
                           size_t errmsg_len) __attribute__((warn_unused_result));

/* Close the pipe, reap the child (killed if still running); sets *self_p
 * to NULL. No-op on NULL. */
void ctl_import_reader_destroy(ctl_import_reader_t **self_p);

#endif
