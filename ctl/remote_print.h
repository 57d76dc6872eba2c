/* remote_print.h - qsctl's text output for documents that came from qs-web.
 *
 * TEMPORARY ADAPTER (issue #11). The local commands build these documents and
 * print them in one function each (cmd_policy.c policy_read and print_changes,
 * cmd_audit.c audit_show and audit_verify), so the printing half cannot be
 * called on a document that came over HTTP. These functions are that half,
 * taking the JSON document; once cmd_policy.c and cmd_audit.c call them for
 * their own output (the report of issue #11 says which lines), the local and
 * the remote output come from one place.
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

#endif
