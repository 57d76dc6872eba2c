/* qs_sccmcsv.h - the model system's state-message export as CSV: its columns and its rows.
 *
 * An export (docs/import.md has the query) has a header row naming the
 * columns MachineName, Domain, TopicType, TopicID, StateID, StateTime, in
 * any order and any case, with any other columns beside them (ignored).
 * Domain may be left out (then every row has no domain). A row's StateTime
 * is UTC, either as SQL Server writes a datetime ("YYYY-MM-DD HH:MM:SS",
 * optionally with ".fff") or as ISO 8601 with Z. This module only maps
 * fields to typed values; what a state message may hold (topic table,
 * name and topic id rules) is decided by the store's import
 * (qs_store_import.h), with the rules live messages go through.
 */
#ifndef QS_SCCMCSV_H
#define QS_SCCMCSV_H

#include <stddef.h>
#include <stdint.h>

enum {
    QS_SCCM_MACHINE = 0,
    QS_SCCM_DOMAIN,
    QS_SCCM_TOPIC_TYPE,
    QS_SCCM_TOPIC_ID,
    QS_SCCM_STATE_ID,
    QS_SCCM_STATE_TIME,
    QS_SCCM_COLUMNS
};

/* Where each column is in a record (-1: absent; only Domain may be). */
typedef struct {
    int col[QS_SCCM_COLUMNS];
} qs_sccm_header_t;

/* A row's values; the strings are borrowed from the record's fields. */
typedef struct {
    const char *machine, *domain, *topic_id;
    uint32_t topic_type, state_id;
    int64_t time_ms;
} qs_sccm_row_t;

/* The column's name as the header spells it ("MachineName"). */
const char *qs_sccm_column_name(int column);

/* Map a header record. 0; -1 with errmsg naming the missing column(s);
 * -2 when the record names none of the columns (it is no header: the file
 * has none, or is not such an export). */
int qs_sccm_header(qs_sccm_header_t *h, const char *const *fields, size_t n, char *errmsg,
                   size_t errmsg_len) __attribute__((warn_unused_result));

/* Map a data record. 0, or -1 with errmsg naming the column and what is
 * wrong with it ("column StateTime: ..."). */
int qs_sccm_row(qs_sccm_row_t *r, const qs_sccm_header_t *h, const char *const *fields,
                size_t n, char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

/* "YYYY-MM-DD HH:MM:SS[.fff]" or "YYYY-MM-DDTHH:MM:SS[.fff]Z", UTC, into
 * *out_ms. 0, or -1 when text is neither. */
int qs_sccm_time_parse(int64_t *out_ms, const char *text) __attribute__((warn_unused_result));

#endif
