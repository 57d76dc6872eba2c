/* verify.h - prove that a site holds nothing the policy says must be gone.
 *
 * qs_verify_run() inspects a site home and collects findings, one sentence
 * each, for: history partitions, rows, keys and latest rows older than the
 * policy allows (allowing grace_ms, normally one retention interval, for the
 * worker to get there); TEXT columns in store.db other than topic_id and
 * counter names, identity columns that are not 16-byte pseudonyms (store.db
 * and site.db); raw names given by the caller found in the bytes of any file
 * under the home (case-insensitive, ASCII and UTF-16LE); directories that are
 * not 0700 and files with group or world bits, for every entry of the site
 * home's table (qs_site_files(): what init creates and the docs list); an audit chain or head that does not verify; a store.db without
 * incremental auto-vacuum; compliance_counts that differ from latest. A check that cannot run is itself a finding: a site
 * that cannot be inspected is not verified.
 */
#ifndef QS_VERIFY_H
#define QS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "qs_site.h"

typedef struct qs_verify qs_verify_t;

typedef struct {
    int policy_configured;
    int64_t policy_version;
    int64_t partitions;         /* history partitions present */
    int64_t history_rows;
    int64_t latest_rows;
    int64_t keys;               /* epoch key files */
    int64_t audit_entries;
    int64_t files_scanned;      /* files searched for names */
    int64_t names;              /* names searched for */
    int64_t grace_ms;
} qs_verify_summary_t;

/* A verifier for the site at paths, judging expiry at now_ms with grace_ms of
 * allowed lag. Never NULL (aborts on out of memory). */
qs_verify_t *qs_verify_new(const qs_site_paths_t *paths, int64_t now_ms, int64_t grace_ms);

/* Wipe the names given and free; sets *v_p to NULL. No-op on NULL. */
void qs_verify_destroy(qs_verify_t **v_p);

/* Also search every file under the home for this raw name (copied). */
void qs_verify_add_name(qs_verify_t *v, const char *name);

/* Run every check. Returns 0 when there is no finding, 1 otherwise. */
int qs_verify_run(qs_verify_t *v);

size_t qs_verify_count(const qs_verify_t *v);

/* Finding i (0 <= i < count), borrowed. */
const char *qs_verify_finding(const qs_verify_t *v, size_t i);

const qs_verify_summary_t *qs_verify_summary(const qs_verify_t *v);

#endif
