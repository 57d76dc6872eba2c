/* qs_storedoc.h - the JSON documents of store.db's answers, built once for qsctl and qs-web.
 *
 * qsctl's `--format json` output and qs-web's API answers are the same
 * documents (DESIGN.md): compliance, stats, lookup, and the detail of the
 * "forget" audit entry are built here from store/'s result structs, and
 * both doors print what these return. (site.db's documents are in
 * common/qs_docs.h; verify's in retention/qs_verifydoc.h.) Every builder
 * returns a new object the caller deletes, and aborts on out of memory.
 */
#ifndef QS_STOREDOC_H
#define QS_STOREDOC_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "qs_brokerstats.h"
#include "qs_store_forget.h"
#include "qs_store_lookup.h"
#include "qs_store_query.h"

/* Hex digits of the pseudonym prefixes that documents and audit entries show. */
#define QS_STOREDOC_PS_PREFIX_BYTES 8u
#define QS_STOREDOC_PS_HEX_BYTES (2u * QS_STOREDOC_PS_PREFIX_BYTES + 1u)

/* The "state" of a topic's no-report row (its "state_id" is null). */
#define QS_STOREDOC_NO_REPORT "no report"

/* {"k": K, "rows": [{"topic_type", "topic_id", "state_id", "state",
 * "count", "percent", "scope"}, ...]}; a suppressed row has "count": null,
 * "suppressed": true, "percent": null. Each topic's rows end with its
 * no-report row ("state_id": null, "state": "no report"). percent is
 * 100 * count / scope rounded half up to two decimals. */
cJSON *qs_storedoc_compliance(const qs_storedb_compliance_t *res);

/* 100 * count / scope, rounded half up to two decimals (0 when scope <= 0). */
double qs_storedoc_percent(int64_t count, int64_t scope);

/* {"stored", "duplicates", "clients", "history_rows", "latest_rows",
 * "partitions", "enrolled", "revoked", "rejected": {...},
 * "rejected_detail": {...}, "retries": {...}[, "broker": {...}]}; broker NULL:
 * no "broker". */
cJSON *qs_storedoc_stats(const qs_storedb_stats_t *st, int64_t enrolled, int64_t revoked,
                         const qs_brokerstats_t *broker);

/* Read the brokers' counters from path (DIR/broker.stats, added up with
 * every DIR/broker-N.stats of qs-broker --instance N) into *b and add
 * the refusals the broker made itself to st's maps (BAD_FRAMES notices as
 * BAD_ENVELOPE/BAD_FRAMES, revoked-key notices as REVOKED/CLIENT_REVOKED).
 * Returns 1 read, 0 no file (nothing added), -1 unreadable or malformed
 * (errmsg says why; nothing added: the store's numbers stand alone). */
int qs_storedoc_broker_merge(qs_brokerstats_t *b, qs_storedb_stats_t *st, const char *path,
                             char *errmsg, size_t errmsg_len);

/* {"machine_ps": HEX, "history": bool, "rows": [{"topic_type", "topic_id",
 * "state_id", "state", "time_utc", then "last_report_utc" (current states)
 * or "serial" and "details" / "details_unavailable" (history)}]}. */
cJSON *qs_storedoc_lookup(const qs_storedb_lookup_t *r, int history, const char *ps_hex);

/* The "forget" audit entry's detail: {"machine_ps"[, "domain_ps"],
 * "latest_rows", "history_rows", "partitions", "scrubbed"}: pseudonym
 * prefixes and counts, never a name. dps_hex NULL: no domain. */
cJSON *qs_storedoc_forget_detail(const char *ps_hex, const char *dps_hex,
                                 const qs_forget_counts_t *counts);

#endif
