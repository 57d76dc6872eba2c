/* trend_int.h - the trend module's engine side (private to store/).
 *
 * trend.c decides what a trend answer publishes (suppression per day,
 * missing days); trend_sqlite.c and trend_pg.c only write snapshots and
 * fetch exact rows, with the contracts of qs_store_trend.h.
 */
#ifndef QS_TREND_INT_H
#define QS_TREND_INT_H

#include "qs_store_trend.h"
#include "storedb_pg.h"

#include <sqlite3.h>

/* Exact rows and the days that have a snapshot, as fetched. */
typedef struct {
    qs_storedb_trend_row_t *rows;   /* (day, topic_type, topic_id bytes, state_id) order */
    size_t n, cap;
    int64_t *days;                  /* ascending */
    size_t n_days, cap_days;
} qs_trend_raw_t;

void qs_trend_raw_row(qs_trend_raw_t *raw, int64_t day, uint32_t topic_type,
                      const char *topic_id, uint32_t state_id, int64_t count);
void qs_trend_raw_day(qs_trend_raw_t *raw, int64_t day);
void qs_trend_raw_free(qs_trend_raw_t *raw);

/* Fill raw with the snapshot days in [first_day, last_day] and their rows
 * under q's topic_type and topic_id, in one read snapshot: the fleet's, or
 * q->group's (its own days only). A store without the tables has no days.
 * q->topic_ids is left to trend.c. 0, or -1 with errmsg. */
int qs_trend_fetch_sqlite(qs_storedb_t *db, qs_trend_raw_t *raw, int64_t first_day,
                          int64_t last_day, const qs_trend_query_t *q, char *errmsg,
                          size_t errmsg_len);
int qs_trend_fetch_pg(qs_storedb_t *db, qs_trend_raw_t *raw, int64_t first_day,
                      int64_t last_day, const qs_trend_query_t *q, char *errmsg,
                      size_t errmsg_len);

/* Inside the caller's write transaction (qs_storedb_group_remove of a
 * whole group): delete group name's daily snapshots, when the tables
 * exist. 0, or -1 (sqlite3_errmsg / errmsg says why). */
int qs_trend_group_forget_sqlite(sqlite3 *sql, const char *name);
int qs_trend_group_forget_pg(qs_pgdb_t *pg, const char *name, char *errmsg, size_t errmsg_len);

/* Create the four tables on PostgreSQL if missing (under the schema lock;
 * inside the caller's transaction if one is open: qsctl migrate). 0 or -1
 * (qs_pgdb_errmsg says why). */
int qs_trend_pg_tables(qs_pgdb_t *pg);

/* qs_storedb_trend_snapshot on each engine. */
int qs_trend_snapshot_sqlite(qs_storedb_t *db, int64_t day, int64_t taken_ms, int keep_days,
                             int64_t *groups, char *errmsg, size_t errmsg_len);
int qs_trend_snapshot_pg(qs_storedb_t *db, int64_t day, int64_t taken_ms, int keep_days,
                         int64_t *groups, char *errmsg, size_t errmsg_len);

#endif
