/* simenroll.h - enrolling the fleet simulator's clients in site.db.
 *
 * Client i (0-based) is named sim-NNNNN with NNNNN = i + 1. Every key
 * site.db does not know is enrolled in one audited transaction (qs_enroll_key
 * with take-over: a name still held by a key of an earlier, removed run is
 * revoked and enrolled anew), with one "enroll" audit entry counting them and
 * a "revoke" entry when names were taken over. Keys site.db already knows are
 * skipped, so a restart resumes instead of re-enrolling.
 */
#ifndef QS_SIMENROLL_H
#define QS_SIMENROLL_H

#include <stdint.h>

#include "qs_keys.h"
#include "qs_site.h"

/* Enroll keys[0..n) as above, at now_ms. Returns 0 or -1 (logged). */
int qs_sim_enroll(const qs_site_paths_t *paths, int64_t now_ms, qs_keypair_t *const *keys,
                  uint32_t n);

#endif
