/* qs_site.h - the layout of a site home directory (--home DIR or QS_HOME).
 *
 *   DIR/                 0700
 *     quietstate.conf    endpoints and options (qsctl init)
 *     site.db            control plane: enrolled clients, revocations,
 *                        policy versions, hash-chained audit log
 *     store.db           data: latest, history partitions, counters (+ -wal)
 *     broker.stats       qs-broker's counters (qs_brokerstats.h), 0600
 *     keys/              0700
 *       broker.key|.pub  broker CurveZMQ key pair
 *       store.key|.pub   store key pair (CurveZMQ and end-to-end)
 *       site.key         BLAKE2b key for pseudonyms
 *       audit.key        BLAKE2b key for the audit hash chain
 *       epochs/          0700, one data key per retention epoch (day)
 */
#ifndef QS_SITE_H
#define QS_SITE_H

#include "qs_limits.h"

typedef struct {
    char home[QS_MAX_PATH_BYTES];
    char conf[QS_MAX_PATH_BYTES];
    char site_db[QS_MAX_PATH_BYTES];
    char store_db[QS_MAX_PATH_BYTES];
    char broker_stats[QS_MAX_PATH_BYTES];
    char keys_dir[QS_MAX_PATH_BYTES];
    char broker_key[QS_MAX_PATH_BYTES];
    char broker_pub[QS_MAX_PATH_BYTES];
    char store_key[QS_MAX_PATH_BYTES];
    char store_pub[QS_MAX_PATH_BYTES];
    char site_key[QS_MAX_PATH_BYTES];
    char audit_key[QS_MAX_PATH_BYTES];
    char epochs_dir[QS_MAX_PATH_BYTES];
} qs_site_paths_t;

/* Resolve home (the --home argument, or QS_HOME when NULL) and fill every
 * path. Returns 0, or -1 with errmsg (no home given, path too long). */
int qs_site_paths(qs_site_paths_t *paths, const char *home, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* Check that home exists and was set up by qsctl init; -1 with a message
 * that says to run qsctl init otherwise. */
int qs_site_check(const qs_site_paths_t *paths, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

#endif
