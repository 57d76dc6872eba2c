/* query_sqlite.h - store/'s private helpers for the read side over SQLite.
 *
 * A read runs inside a deferred transaction, which in WAL mode is one
 * snapshot: qs-store keeps committing meanwhile and neither side waits.
 * Only store/ includes this header (like storedb_sqlite.h).
 */
#ifndef QS_QUERY_SQLITE_H
#define QS_QUERY_SQLITE_H

#include "storedb_sqlite.h"

/* BEGIN (deferred): the snapshot starts at the first read. 0 or -1
 * (sqlite3_errmsg says why). */
int qs_storedb_read_begin(qs_storedb_t *db) __attribute__((warn_unused_result));

/* End the read transaction; nothing was written, so it cannot fail usefully. */
void qs_storedb_read_end(qs_storedb_t *db);

/* The SQL qs_storedb_compliance() runs for these filters (for EXPLAIN in
 * tests: the grouping must be a key-order read of compliance_counts). */
const char *qs_storedb_compliance_sql(int by_topic_type, int by_topic_id);

#endif
