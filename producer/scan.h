/* scan.h - the endpoint reporting by itself on Debian-family systems.
 *
 * qs_scan_run reads dpkg's status file and apt's Packages lists under a root
 * directory (deb822.h, debver.h; no apt or dpkg process is run), computes
 * the update-detection state (topic type 500) the machine is in, compares it
 * with the outbox's current state (outbox.h) and records only what changed,
 * in one transaction. An unchanged machine records nothing.
 *
 * Mapping (docs/producer.md, "scan"): one topic per package version,
 * topic id "deb:<package>:<version>" ("deb:#<sha256 hex>" of
 * "<package>:<version>" when that would exceed 128 bytes);
 *   - every installed version (package:arch installed, triggers-pending or
 *     triggers-awaited in dpkg) -> 3 installed;
 *   - the newest candidate of an installed package in the lists when newer
 *     than the installed version -> 2 required, details "security" when that
 *     version comes from a security archive;
 *   - a "deb:" topic the current state holds as required or installed that
 *     is neither any more (upgraded past, superseded, removed) -> 1 not
 *     required.
 * Topics whose id starts with "deb:" belong to scan: it changes them and
 * nothing else. A topic id holds no machine-identifying data.
 */
#ifndef QS_PRODUCER_SCAN_H
#define QS_PRODUCER_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "qs_limits.h"

#define QS_SCAN_TOPIC_TYPE 500u
#define QS_SCAN_TOPIC_PREFIX "deb:"

typedef struct {
    const char *root;      /* the system's root directory ("/" when NULL) */
    const char *machine;   /* message fields ("" when NULL) */
    const char *domain;
    int64_t now_ms;        /* the messages' time */
    int dry_run;           /* compute the changes, record nothing */
    int progress;          /* progress lines on stderr */
} qs_scan_opts_t;

typedef struct {
    char topic_id[QS_MAX_TOPIC_ID_BYTES + 1];
    uint32_t state_id;
    int security;
} qs_scan_change_t;

typedef struct {
    uint64_t installed;       /* installed package:arch entries */
    uint64_t pending;         /* of which with a newer candidate */
    uint64_t security;        /* of which the candidate is a security update */
    uint64_t lists;           /* Packages lists read */
    uint64_t lists_skipped;   /* compressed lists not read */
    uint64_t malformed;       /* paragraphs or entries skipped as malformed */
    char first_error[256];    /* where, for the first malformed one */
    uint64_t first_serial;    /* of the recorded changes (0: none) */
    size_t n_changes;
    qs_scan_change_t *changes;   /* n_changes, owned: qs_scan_result_free */
} qs_scan_result_t;

/* Scan and record (see above). Returns 0 with *r filled (free it with
 * qs_scan_result_free), or -1 with errmsg (no status file under the root,
 * the outbox cannot be written or is full); nothing is recorded then. */
int qs_scan_run(qs_outbox_t *ob, const qs_scan_opts_t *o, qs_scan_result_t *r,
                char *errmsg, size_t errmsg_len) __attribute__((warn_unused_result));

void qs_scan_result_free(qs_scan_result_t *r);

/* The topic id of package version (see above) into out (129 bytes). */
void qs_scan_topic_id(char out[QS_MAX_TOPIC_ID_BYTES + 1], const char *package,
                      const char *version);

/* "90", "90s", "15m", "6h", "1d" -> milliseconds, 1 s .. 30 d. 0 or -1. */
int qs_scan_parse_duration(const char *text, int64_t *ms);

/* What `run` does besides delivering: a scan every interval (0: never) and
 * the hourly expiry of the rejected list. */
typedef struct qs_scan_every qs_scan_every_t;

qs_scan_every_t *qs_scan_every_new(int64_t interval_ms);
/* Call often (every loop turn); does the work that is due at mono_ms. A
 * failed scan is logged and retried at the next interval. */
void qs_scan_every_tick(qs_scan_every_t *se, qs_outbox_t *ob, int64_t mono_ms);
void qs_scan_every_destroy(qs_scan_every_t **se_p);

#endif
