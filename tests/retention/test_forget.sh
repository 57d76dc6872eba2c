#!/usr/bin/env bash
# test_forget.sh - qsctl forget leaves no trace of the machine, and others intact.
#
# Two machines report two updates each (with details), delivered through the
# real broker and store. `qsctl forget --machine fgt-a-pc` (the name in another
# case) runs while qs-store is live; afterwards lookup finds nothing of FGT-A,
# no file under the site home holds its topic ids, its pseudonym or its sealed
# details, FGT-B is untouched, qsctl verify (with --name FGT-A-PC) and qsctl audit
# verify pass, and the audit entry names the pseudonym prefix, not the name.
# (Machines are FGT-A-PC and FGT-B-PC; their topic ids KB-FGT-A1... do not
# contain the machine names, so a raw-name search is meaningful.)
#
# Usage: bash tests/retention/test_forget.sh BUILD_DIR  (or QS_BUILD_DIR=...);
# QS_TEST_ENGINE=pg runs it on a PostgreSQL server of its own (the searches
# then cover the database's rows: retention_lib.sh).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=retention_lib.sh
. "$HERE/retention_lib.sh"

ret_setup "${1:-}"
DAY_S=86400

qs_step "two machines, two updates each"
ret_site_init
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --max-age-days 30
qs_enroll fgt-client-a
qs_enroll fgt-client-b
ret_start_site_at 0
for m in A B; do
    c=fgt-client-${m,,}
    qs_report "$c" --topic-type 500 --topic-id "KB-FGT-${m}1" --state 2 --machine "FGT-$m-PC" \
        --domain FGTDOM --details "FGT-DETAIL-${m}1" --time "$(ret_iso_ago $(( 2 * DAY_S )))"
    qs_report "$c" --topic-type 301 --topic-id "DEP-FGT-${m}2" --state 6 --machine "FGT-$m-PC" \
        --domain FGTDOM --details "FGT-DETAIL-${m}2" --time "$(ret_iso_ago 3600)"
    qs_flush "$c" 30
    qs_expect_eq "flush $c" "$QS_RC" 0
done
ret_lookup FGT-A-PC a.json
ret_expect_ids a.json KB-FGT-A1 DEP-FGT-A2
ret_lookup FGT-A-PC a-history.json --history
ret_expect_ids a-history.json KB-FGT-A1 DEP-FGT-A2
PS_A=$(ret_sql "SELECT DISTINCT $(ret_hex machine_ps) FROM latest WHERE topic_id LIKE '%FGT-A%'")
[[ ${#PS_A} == 32 ]] || qs_fail "cannot read FGT-A's pseudonym from store.db ('$PS_A')"
E_A1=$(ret_epoch_of "$(ret_iso_ago $(( 2 * DAY_S )))")
SEALED_A1=$(ret_sql "SELECT $(ret_hex details) FROM history_${E_A1}_500 WHERE topic_id = 'KB-FGT-A1'")
[[ ${#SEALED_A1} -ge 80 ]] || qs_fail "cannot read FGT-A's sealed details"
ret_hex_present "$PS_A" || qs_fail "sanity: FGT-A's pseudonym not found in the site's files"

qs_step "qsctl forget --machine fgt-a-pc (store running)"
qs_expect_rc 0 "$QS_TMP/forget.out" "$QSCTL" forget --home "$QS_HOME" --machine fgt-a-pc --as dpo
grep -q 'removed 2 current states and 2 events from 2 partitions' "$QS_TMP/forget.out" ||
    qs_fail "forget output: $(cat "$QS_TMP/forget.out")"

qs_step "no trace of FGT-A; FGT-B intact"
ret_lookup FGT-A-PC a.json
ret_expect_ids a.json
ret_lookup FGT-A-PC a-history.json --history
ret_expect_ids a-history.json
if ret_bytes_present KB-FGT-A1 || ret_bytes_present DEP-FGT-A2; then
    qs_fail "FGT-A's topic ids are still in: $(ret_files_with FGT-A)"
fi
if ret_hex_present "$PS_A"; then qs_fail "FGT-A's pseudonym is still in $RET_FOUND_IN"; fi
if ret_hex_present "$SEALED_A1"; then qs_fail "FGT-A's sealed details are still in $RET_FOUND_IN"; fi
ret_lookup FGT-B-PC b.json
ret_expect_ids b.json KB-FGT-B1 DEP-FGT-B2
ret_lookup FGT-B-PC b-history.json --history
ret_expect_ids b-history.json KB-FGT-B1 DEP-FGT-B2
qs_expect_eq "FGT-B details" "$(jq -r '.rows[] | select(.topic_id == "KB-FGT-B1") | .details' \
    "$QS_TMP/b-history.json")" FGT-DETAIL-B1

qs_step "verify, audit verify; the audit entry has the pseudonym prefix, not the name"
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME" --strict --name FGT-A-PC --name FGT-B-PC
qs_expect_rc 0 "$QS_TMP/auditv.out" "$QSCTL" audit verify --home "$QS_HOME"
qs_expect_rc 0 "$QS_TMP/audit.out" "$QSCTL" audit show --home "$QS_HOME"
grep -E 'dpo +forget' "$QS_TMP/audit.out" | grep -qi "\"machine_ps\":\"${PS_A:0:16}\"" ||
    qs_fail "no forget entry by dpo with FGT-A's pseudonym prefix:"$'\n'"$(cat "$QS_TMP/audit.out")"
if grep -qi 'fgt-a-pc' "$QS_TMP/audit.out"; then qs_fail "the audit log names the machine"; fi

qs_step "a second forget removes nothing and says so"
qs_expect_rc 0 "$QS_TMP/forget2.out" "$QSCTL" forget --home "$QS_HOME" --machine FGT-A-PC
grep -q 'removed 0 current states and 0 events' "$QS_TMP/forget2.out" ||
    qs_fail "second forget: $(cat "$QS_TMP/forget2.out")"

printf '%s: PASS\n' "$QS_LIB_NAME"
