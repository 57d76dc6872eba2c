/* qs_store_import.h - state messages exported from the model system, written as live ones are (qsctl import).
 *
 * An imported row goes through the store's own rules and write path: the
 * codec's validation (topic table, state ranges, topic id spelling, name
 * limits), then qs_write_batch (write.h) with the policy in force, which
 * pseudonymizes machine and domain names (the same fold and key as live
 * messages), truncates the time to the policy's precision, updates latest
 * (the newest state per machine and topic wins; an equal time replaces) and
 * writes a history row unless the time is already past the topic's maximum
 * age. Nothing is stored without a policy: the caller refuses first.
 *
 * A row belongs to a machine, not to a client key: every machine's rows are
 * written as a placeholder client whose 32-byte "key" is
 * BLAKE2b-256("quietstate/import-placeholder" 0 || machine pseudonym), a
 * value no Curve25519 secret key is known for, so nothing can ever log in
 * with it. latest.machine_ps is the machine's pseudonym, so when the machine
 * enrolls and reports, the store can adopt these rows (docs/import.md).
 *
 * Importing the same export again changes nothing: a row whose machine
 * already has, for its topic, a newer state, or the same state at the same
 * (truncated) time, is counted "unchanged" and not written; so are all the
 * rows of a machine and topic when the file's newest of them (of equal
 * times the last) is (two rows at one time must not flip the state back).
 * A machine whose current states are (also) held by another client than
 * its placeholder reports live: its own reports are the truth, and rows
 * under the placeholder beside them would count it twice, so all its rows
 * are left out and counted "live". Rows are
 * written in transactions of about QS_IMPORT_TXN_ROWS rows, whole machines
 * each: a failure leaves the transactions before it committed, and running
 * the import again completes it.
 */
#ifndef QS_STORE_IMPORT_H
#define QS_STORE_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "qs_epochkeys.h"
#include "qs_policy.h"
#include "qs_pseudonym.h"
#include "qs_storedb.h"

#define QS_IMPORT_TXN_ROWS 50000u
#define QS_IMPORT_PLACEHOLDER_LABEL "quietstate/import-placeholder"

typedef struct qs_import qs_import_t;

/* One row of an export, as qsctl decoded it (strings borrowed). */
typedef struct {
    const char *machine, *domain, *topic_id;
    uint32_t topic_type, state_id;
    int64_t time_ms;
} qs_import_row_t;

typedef struct {
    int64_t queued;      /* rows accepted by qs_import_add */
    int64_t imported;    /* written to latest (and history) */
    int64_t unchanged;   /* not newer than the stored state: not written */
    int64_t live;        /* of machines that report live: not written */
    int64_t machines;    /* machines with at least one row written */
    int64_t transactions;
} qs_import_counts_t;

/* An importer writing into db under pol (copied), with the site's
 * pseudonym key (32 bytes, borrowed) and epoch keys (borrowed; imported
 * rows have no details, so no key is made). now_ms is the store time of
 * the import (report_ms), skew_ms how far in the future a time may be.
 * NULL with errmsg. */
qs_import_t *qs_import_new(qs_storedb_t *db, const uint8_t *site_key, qs_epochkeys_t *ks,
                           const qs_policy_t *pol, int64_t now_ms, int64_t skew_ms,
                           char *errmsg, size_t errmsg_len);

/* Wipe (names were held in clear) and free; sets *self_p to NULL. */
void qs_import_destroy(qs_import_t **self_p);

/* Check row under the live messages' rules and keep a copy for
 * qs_import_run. 0 when kept; 1 when refused, with *why (static). */
int qs_import_add(qs_import_t *self, const qs_import_row_t *row, const char **why);

/* Called after each committed transaction with rows done and total. */
typedef void (*qs_import_progress_fn)(void *ctx, size_t done, size_t total);

/* Write every kept row (see above). 0 with *out, or -1 with errmsg (*out
 * then counts what the committed transactions wrote). */
int qs_import_run(qs_import_t *self, qs_import_progress_fn progress, void *ctx,
                  qs_import_counts_t *out, char *errmsg, size_t errmsg_len)
    __attribute__((warn_unused_result));

/* The placeholder client key of the machine with pseudonym machine_ps. */
void qs_import_placeholder_pk(uint8_t pk[32], const uint8_t machine_ps[QS_PSEUDONYM_BYTES]);

#endif
