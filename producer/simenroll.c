/* simenroll.c - the simulator's clients into site.db, audited (simenroll.h). */
#include "simenroll.h"

#include "qs_audit.h"
#include "qs_enroll.h"
#include "qs_keyset.h"
#include "qs_log.h"
#include "qs_sitedb.h"

#include <sodium.h>
#include <stdio.h>

#define SIM_ACTOR "qs-producer simulate"

/* One audit entry counting the clients an action touched. */
static int
audit_counts(qs_audit_tx_t *tx, int64_t now, const char *action, uint32_t count)
{
    char detail[96], err[768];

    snprintf(detail, sizeof detail, "{\"clients\":%u,\"by\":\"simulate\"}", count);
    if (qs_audit_tx_append(tx, now, SIM_ACTOR, action, detail, err, sizeof err) != 0) {
        log_error("simulate: %s", err);
        return -1;
    }
    return 0;
}

/* Enroll every client of set's UNKNOWN keys inside tx: a sim-NNNNN name
 * still held by a key of an earlier run is taken over (revoked, then
 * enrolled anew). Then one audit entry per action. */
static int
enroll_unknown(qs_keypair_t *const *keys, uint32_t n, qs_audit_tx_t *tx, qs_sitedb_t *db,
               const qs_keyset_t *set, const uint8_t *site_key, int64_t now,
               uint32_t *enrolled, uint32_t *replaced)
{
    char err[512];

    *enrolled = *replaced = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *pk = qs_keypair_public(keys[i]);
        char name[16];
        int took_over = 0;

        if (qs_keyset_get(set, pk) != QS_KEY_UNKNOWN)
            continue;
        snprintf(name, sizeof name, "sim-%05u", i + 1);
        if (qs_enroll_key(NULL, &took_over, db, site_key, name, pk, now, 1, err,
                          sizeof err) != 0) {
            log_error("simulate: cannot enroll simulated client %u: %s", i + 1, err);
            return -1;
        }
        *replaced += (uint32_t)took_over;
        (*enrolled)++;
    }
    if (*replaced > 0 && audit_counts(tx, now, "revoke", *replaced) != 0)
        return -1;
    return audit_counts(tx, now, "enroll", *enrolled);
}

/* How many of the run's keys site.db does not know; warns about revoked ones. */
static uint32_t
count_unknown(qs_keypair_t *const *keys, uint32_t n, const qs_keyset_t *set)
{
    uint32_t unknown = 0, revoked = 0;

    for (uint32_t i = 0; i < n; i++) {
        qs_key_standing_t k = qs_keyset_get(set, qs_keypair_public(keys[i]));
        unknown += k == QS_KEY_UNKNOWN;
        revoked += k == QS_KEY_REVOKED;
    }
    if (revoked > 0)
        log_warn("simulate: %u simulated clients are revoked: their messages cannot be "
                 "delivered", revoked);
    return unknown;
}

int
qs_sim_enroll(const qs_site_paths_t *paths, int64_t now, qs_keypair_t *const *keys, uint32_t n)
{
    char err[768];
    qs_sitedb_t *db = NULL;
    qs_audit_tx_t *tx = NULL;
    qs_keyset_t *set = qs_keyset_new();
    uint8_t *site_key = NULL, *audit_key = NULL;
    uint32_t enrolled = 0, replaced = 0;
    int rc = -1;

    db = qs_sitedb_open(paths->site_db, 0, err, sizeof err);
    if (db == NULL) {
        log_error("simulate: %s", err);
        goto out;
    }
    if (qs_sitedb_load_keyset(db, set) != 0) {
        log_error("simulate: cannot read the enrolled clients from '%s'", paths->site_db);
        goto out;
    }
    if (count_unknown(keys, n, set) == 0) {
        rc = 0;
        goto out;
    }
    if (qs_secret_load(&site_key, paths->site_key, 0, err, sizeof err) != 0 ||
        qs_secret_load(&audit_key, paths->audit_key, 0, err, sizeof err) != 0 ||
        (tx = qs_audit_tx_begin(db, audit_key, paths->audit_head, err,
                                sizeof err)) == NULL) {
        log_error("simulate: %s", err);
        goto out;
    }
    if (enroll_unknown(keys, n, tx, db, set, site_key, now, &enrolled, &replaced) != 0)
        goto out;
    if (qs_audit_tx_commit(&tx, err, sizeof err) != 0) {
        log_error("simulate: cannot enroll: %s", err);
        goto out;
    }
    if (replaced > 0)
        log_info("simulate: revoked %u stale simulated clients of an earlier run", replaced);
    log_info("simulate: enrolled %u simulated clients", enrolled);
    rc = 0;
out:
    qs_audit_tx_rollback(&tx);
    if (site_key != NULL)
        sodium_free(site_key);
    if (audit_key != NULL)
        sodium_free(audit_key);
    qs_keyset_destroy(&set);
    qs_sitedb_destroy(&db);
    return rc;
}
