/* cmd_forget.h - erasing one machine's data, audited: shared by qsctl forget and revoke --forget.
 *
 * qsctl forget erases; qsctl revoke --forget (a decommission) revokes the
 * machine's keys and then erases with the same function, so that both write
 * the same "forget" audit entry and print the same counts.
 */
#ifndef QS_CMD_FORGET_H
#define QS_CMD_FORGET_H

#include "ctl_common.h"
#include "qs_pseudonym.h"
#include "qs_store_forget.h"
#include "qs_storedoc.h"

#include <cjson/cJSON.h>

/* What one forget removed: the pseudonyms' prefixes (hex; dps_hex empty
 * without a domain), the counts, and the audit entry's detail (owned:
 * cJSON_Delete it; NULL when nothing was removed). */
typedef struct {
    char ps_hex[2 * QS_STOREDOC_PS_PREFIX_BYTES + 1];
    char dps_hex[2 * QS_STOREDOC_PS_PREFIX_BYTES + 1];
    qs_forget_counts_t counts;
    cJSON *detail;
} ctl_forgot_t;

/* Erase every row of who from the site's store (site opened with
 * CTL_OPEN_STOREDB and CTL_OPEN_AUDIT_KEY), then write the "forget" audit
 * entry under actor. Errors are printed under cmd's name. Returns
 * CTL_EXIT_OK or CTL_EXIT_FAIL; out->detail is set whenever rows were
 * removed, even when the audit entry or the scrub then failed. */
int ctl_forget_audited(ctl_site_t *site, const char *cmd, const char *actor,
                       const qs_machine_ps_t *who, ctl_forgot_t *out);

/* The table output of a forget: one or two lines. */
void ctl_forget_print(const ctl_forgot_t *f, qs_storedb_engine_t engine);

#endif
