#!/usr/bin/env bash
# test_retention.sh - retention end to end: real qsctl, qs-broker, qs-store,
# qs-producer and qs-retention on loopback.
#
# One machine reports three updates of topic 500 with distinctive topic ids:
#   OLD40  a state change 40 days ago, delivered now (late): older than the
#          30-day policy on arrival, so it is the machine's current state
#          (latest) but never enters history;
#   MID20  an event 20 days ago, delivered when it happened (qs-store runs with
#          QS_CLOCK_OFFSET_S = -20 days for it), with details;
#   NEW01  an event 1 day ago, delivered now, with details;
#   LATE20 an event 20 days ago (same day as MID20), delivered now, with details.
# The policy then drops to 10 days and `qs-retention --once` must remove MID20
# everywhere: from lookup --history and lookup, from the raw bytes of every file
# under the site home (topic id and sealed details), and its epoch key file;
# NEW01 and OLD40 stay. LATE20 shows the two clocks: its event leaves history
# (its sealed details vanish from every file, its day's key is shredded) but
# it stays the machine's current state, because the machine reported it now. qsctl verify (strict) and qsctl audit verify pass, and
# the audit log holds the retention.pass entry with the counts.
#
# Usage: bash tests/retention/test_retention.sh BUILD_DIR  (or QS_BUILD_DIR=...);
# QS_TEST_ENGINE=pg runs it on a PostgreSQL server of its own (the searches
# then cover the database's rows, the key checks the key chains).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=retention_lib.sh
. "$HERE/retention_lib.sh"

ret_setup "${1:-}"
MACHINE=PC-RET-0042
DAY_S=86400

qs_step "site with a 30-day policy, broker and store (store clock 20 days back)"
ret_site_init
qs_expect_rc 0 "$QS_TMP/policy30.out" "$QSCTL" policy set --home "$QS_HOME" --max-age-days 30 --k 1
qs_enroll pc1
ret_start_site_at $(( -20 * DAY_S ))

T_MID=$(ret_iso_ago $(( 20 * DAY_S )))
T_OLD=$(ret_iso_ago $(( 40 * DAY_S )))
T_NEW=$(ret_iso_ago $(( 1 * DAY_S )))
E_MID=$(ret_epoch_of "$T_MID")
E_NEW=$(ret_epoch_of "$T_NEW")

qs_step "MID20 reported and delivered 20 days ago ($T_MID)"
qs_report pc1 --topic-type 500 --topic-id KB-RET-MID20 --state 2 --machine "$MACHINE" \
    --domain RETDOMAIN7 --details "RET-DETAIL-MID20 0x80240022" --time "$T_MID"
qs_flush pc1 30
qs_expect_eq "flush of MID20" "$QS_RC" 0

qs_step "store back on the real clock; OLD40 (late), NEW01 and LATE20 (late) delivered now"
ret_restart_store_at 0
qs_report pc1 --topic-type 500 --topic-id KB-RET-OLD40 --state 3 --machine "$MACHINE" \
    --domain RETDOMAIN7 --time "$T_OLD"
qs_report pc1 --topic-type 500 --topic-id KB-RET-NEW01 --state 2 --machine "$MACHINE" \
    --domain RETDOMAIN7 --details "RET-DETAIL-NEW01 0x80070005" --time "$T_NEW"
qs_report pc1 --topic-type 500 --topic-id KB-RET-LATE20 --state 2 --machine "$MACHINE" \
    --domain RETDOMAIN7 --details "RET-DETAIL-LATE20 0x8024001e" --time "$T_MID"
qs_flush pc1 30
qs_expect_eq "flush of OLD40, NEW01 and LATE20" "$QS_RC" 0

qs_step "lookup: four current states; history has MID20, LATE20 and NEW01, not OLD40"
ret_lookup "$MACHINE" latest.json
qs_expect_eq "current states" "$(jq '.rows | length' "$QS_TMP/latest.json")" 4
ret_expect_ids latest.json KB-RET-MID20 KB-RET-NEW01 KB-RET-OLD40 KB-RET-LATE20
qs_expect_eq "OLD40 time" "$(jq -r '.rows[] | select(.topic_id == "KB-RET-OLD40") | .time_utc' \
    "$QS_TMP/latest.json" | cut -c1-19)" "${T_OLD%Z}"
ret_lookup "$MACHINE" history.json --history
ret_expect_ids history.json KB-RET-MID20 KB-RET-NEW01 KB-RET-LATE20
qs_expect_eq "MID20 details" "$(jq -r '.rows[] | select(.topic_id == "KB-RET-MID20") | .details' \
    "$QS_TMP/history.json")" "RET-DETAIL-MID20 0x80240022"
ret_key_present "$E_MID" 500 || qs_fail "no epoch key $E_MID-500 for MID20"
qs_expect_rc 0 "$QS_TMP/verify30.out" "$QSCTL" verify --home "$QS_HOME" --strict --name "$MACHINE"

# The sealed details of MID20 as stored: they must vanish from every file.
SEALED_MID=$(ret_sql "SELECT $(ret_hex details) FROM history_${E_MID}_500 WHERE topic_id = 'KB-RET-MID20'")
[[ ${#SEALED_MID} -ge 80 ]] || qs_fail "cannot read MID20's sealed details from store.db"
SEALED_LATE=$(ret_sql "SELECT $(ret_hex details) FROM history_${E_MID}_500 WHERE topic_id = 'KB-RET-LATE20'")
[[ ${#SEALED_LATE} -ge 80 ]] || qs_fail "cannot read LATE20's sealed details from store.db"
ret_bytes_present KB-RET-MID20 || qs_fail "sanity: MID20's topic id is not in the site's files"

qs_step "policy down to 10 days; qs-retention --once"
qs_expect_rc 0 "$QS_TMP/policy10.out" "$QSCTL" policy set --home "$QS_HOME" --max-age-days 10
qs_expect_rc 0 "$QS_TMP/retention.out" "$QS_RETENTION" --home "$QS_HOME" --once
grep -q "dropped expired partition 'history_${E_MID}_500'" "$QS_TMP/retention.out.err" ||
    qs_fail "qs-retention did not drop history_${E_MID}_500:"$'\n'"$(cat "$QS_TMP/retention.out.err")"

qs_step "MID20 is gone everywhere; LATE20's event is gone, its current state stays; NEW01 and OLD40 remain"
ret_lookup "$MACHINE" history.json --history
ret_expect_ids history.json KB-RET-NEW01
qs_expect_eq "NEW01 details" "$(jq -r '.rows[0].details' "$QS_TMP/history.json")" \
    "RET-DETAIL-NEW01 0x80070005"
ret_lookup "$MACHINE" latest.json
ret_expect_ids latest.json KB-RET-NEW01 KB-RET-OLD40 KB-RET-LATE20
! ret_key_present "$E_MID" 500 || qs_fail "MID20's epoch key $E_MID-500 survived"
ret_key_present "$E_NEW" 500 || qs_fail "NEW01's epoch key $E_NEW-500 was removed"
if ret_bytes_present KB-RET-MID20; then
    qs_fail "MID20's topic id is still in: $(ret_files_with KB-RET-MID20)"
fi
if ret_hex_present "$SEALED_MID"; then
    qs_fail "MID20's sealed details are still in $RET_FOUND_IN"
fi
if ret_hex_present "$SEALED_LATE"; then
    qs_fail "LATE20's sealed details are still in $RET_FOUND_IN"
fi
ret_bytes_present KB-RET-NEW01 || qs_fail "NEW01's topic id vanished from store.db"
ret_bytes_present KB-RET-OLD40 || qs_fail "OLD40's topic id vanished from store.db"

qs_step "qsctl verify and qsctl audit verify pass; the pass is audited"
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME" --strict \
    --name "$MACHINE" --name RETDOMAIN7
grep -q '^site verified' "$QS_TMP/verify.out" || qs_fail "verify: $(cat "$QS_TMP/verify.out")"
qs_expect_rc 0 "$QS_TMP/verify.json" "$QSCTL" verify --home "$QS_HOME" --format json
qs_expect_eq "verify ok" "$(jq -r .ok "$QS_TMP/verify.json")" true
qs_expect_rc 0 "$QS_TMP/auditv.out" "$QSCTL" audit verify --home "$QS_HOME"
qs_expect_rc 0 "$QS_TMP/audit.out" "$QSCTL" audit show --home "$QS_HOME"
grep -q 'retention.pass' "$QS_TMP/audit.out" || qs_fail "no retention.pass in the audit log"
# With key chains (PostgreSQL) every expired day's key counts, not one file.
KEYS_RE=1
[[ $RET_ENGINE == pg ]] && KEYS_RE='[1-9][0-9]*'
grep -q "\"partitions_dropped\":1,\"history_rows_deleted\":2,\"latest_rows_deleted\":1,\"keys_shredded\":$KEYS_RE," \
    "$QS_TMP/audit.out" ||
    qs_fail "retention.pass does not count 1 partition, 2 events, 1 current state, 1 key:"$'\n'"$(grep retention "$QS_TMP/audit.out")"

qs_step "a second pass finds nothing; verify still passes"
qs_expect_rc 0 "$QS_TMP/retention2.out" "$QS_RETENTION" --home "$QS_HOME" --once
grep -q '"partitions_dropped":0' "$QS_TMP/retention2.out.err" ||
    qs_fail "second pass: $(cat "$QS_TMP/retention2.out.err")"
qs_expect_rc 0 "$QS_TMP/verify2.out" "$QSCTL" verify --home "$QS_HOME" --strict

qs_step "compliance counts edited behind quietstate's back: verify finds it, --repair-counts fixes it"
qs_expect_rc 0 "$QS_TMP/compliance-before.json" "$QSCTL" compliance --home "$QS_HOME" --format json
ret_sql "UPDATE compliance_counts SET count = count + 7" ||
    qs_fail "cannot edit compliance_counts with sqlite3"
qs_expect_rc 1 "$QS_TMP/verify3.out" "$QSCTL" verify --home "$QS_HOME"
grep -q 'compliance_counts disagrees with latest.*--repair-counts' "$QS_TMP/verify3.out" ||
    qs_fail "verify did not name the counts:"$'\n'"$(cat "$QS_TMP/verify3.out")"
qs_expect_rc 0 "$QS_TMP/repair.json" "$QSCTL" verify --home "$QS_HOME" --repair-counts \
    --format json
qs_expect_eq "verify ok after repair" "$(jq -r .ok "$QS_TMP/repair.json")" true
(( $(qs_json_get "$QS_TMP/repair.json" .counts_rebuilt) > 0 )) ||
    qs_fail "repair rebuilt no group: $(cat "$QS_TMP/repair.json")"
qs_expect_rc 0 "$QS_TMP/compliance-after.json" "$QSCTL" compliance --home "$QS_HOME" --format json
cmp -s "$QS_TMP/compliance-before.json" "$QS_TMP/compliance-after.json" ||
    qs_fail "compliance after the repair differs from before the edit"

printf '%s: PASS\n' "$QS_LIB_NAME"
