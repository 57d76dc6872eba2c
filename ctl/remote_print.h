/* remote_print.h - qsctl's table and CSV output, printed from the JSON document.
 *
 * A command's `--format json` output and qs-web's answer are one document
 * (qs_docs.h); these functions print its table (or CSV) form from that
 * document alone, so the local command and `qsctl --url` print the same
 * bytes by calling the same function: a local command builds the document,
 * then prints it as JSON (ctl_json_print) or hands it to its printer here.
 * Every function prints to stdout, borrows doc and tolerates missing
 * members (printed as "?" or empty), so a malformed answer cannot crash it.
 *
 * Used by: cmd_policy.c, cmd_audit.c, remote.c. cmd_compliance.c,
 * cmd_stats.c and cmd_lookup.c are to call the compliance, stats and lookup
 * printers in place of their own print_table/print_csv (their print_json
 * builds the document these take).
 */
#ifndef QS_CTL_REMOTE_PRINT_H
#define QS_CTL_REMOTE_PRINT_H

#include <cjson/cJSON.h>

/* `policy show` table output for a GET /api/v1/policy document. */
void ctl_print_policy_show(const cJSON *doc);

/* `policy history` table output for {"versions": [...]}. */
void ctl_print_policy_history(const cJSON *doc);

/* `policy set` output for a PUT /api/v1/policy answer. */
void ctl_print_policy_set(const cJSON *doc);

/* `audit show` table output for {"entries": [...]}. */
void ctl_print_audit_show(const cJSON *doc);

/* `compliance` table for {"k": K, "rows": [{"topic_type", "topic_id",
 * "state_id", "state", "count" (null when suppressed), "suppressed",
 * "percent", "scope"}]}: a PERCENT column ("12.50%"); a no-report row
 * ("state_id": null) shows STATE_ID "-". A suppressed count prints as
 * "<K" and its percent as "-", with a line counting them. With no
 * rows: "no state reported for this selection", or, when the document has
 * "configured": false, the line saying no policy is set (the local command
 * knows this; a document without "configured" counts as configured). */
void ctl_print_compliance_table(const cJSON *doc);

/* `compliance --format csv` for the same document:
 * topic_type,topic_id,state_id,state,count,suppressed,percent,scope,no_report
 * (ctl_csv_row): one line per state row; the no-report rows are not lines
 * but the no_report column of their topic's lines (empty when hidden), as
 * percent is empty when the count is. */
void ctl_print_compliance_csv(const cJSON *doc);

/* `stats` table for the stats document ({"stored", "duplicates", "clients",
 * "history_rows", "latest_rows", "partitions", "enrolled", "revoked",
 * "rejected": {…}, "rejected_detail": {…}, "broker": {…} when present}):
 * one row per counter in a fixed order, the maps in document order. */
void ctl_print_stats_table(const cJSON *doc);

/* `lookup` table for {"machine_ps", "history", "rows": [...]}: current
 * states (TOPIC_TYPE, TOPIC_ID, STATE, TIME_UTC, LAST_REPORT_UTC) or, with
 * "history": true, events (TIME_UTC, TOPIC_TYPE, TOPIC_ID, STATE, SERIAL,
 * DETAILS: the text, "(key shredded)" or "(unreadable)"). */
void ctl_print_lookup_table(const cJSON *doc);

#endif
