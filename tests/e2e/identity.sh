#!/usr/bin/env bash
# identity.sh - e2e: one machine, one state (docs/privacy.md, "One machine, one state"), through real processes.
#
# A client key enrolled with `qsctl enroll --machine` speaks for that machine
# alone:
#  (a) a message naming another machine is refused for good,
#      BAD_MESSAGE/MACHINE_MISMATCH: on the producer's rejected list, counted
#      in qsctl stats, and `qsctl lookup` of that other machine shows nothing
#      of it; its other messages are stored;
#  (c) a message with an empty machine field is stored as the enrolled
#      machine (lookup by that machine's name finds it);
#  (b) `qsctl enroll --replace` re-enrolls the name: one audit entry says
#      so, the old key is revoked in the same step and refused (broker and
#      store), the new key inherits the machine, and the machine's state
#      continues: compliance counts it once per update (without the
#      takeover it would count twice: the old key's rows and the new key's),
#      lookup shows one state per update, and `qsctl verify` finds the
#      counts exact. Without --replace the name is still refused;
#      --replace of a key enrolled without a machine binds the new key to
#      the machine the old one reported (from the store), with the same
#      effect.
# QS_TEST_ENGINE=pg runs it on PostgreSQL with two workers (tests/pg/CMakeLists.txt).
# Usage: tests/e2e/identity.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq
qs_find_bins "${1:-}"
[[ -n ${QS_SENDRAW:-} && -x ${QS_SENDRAW:-} ]] || qs_fail "QS_SENDRAW (tests/e2e/qs_sendraw) is not set or not executable"
qs_tmp_new
qs_site_init
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-identity

# enroll_as FILE_NAME ARGS...: qsctl enroll writing clients/FILE_NAME.profile.
enroll_as() {
    local file=$1
    shift
    mkdir -p "$QS_TMP/clients"
    chmod 700 "$QS_TMP/clients"
    qs_expect_rc 0 "$QS_TMP/enroll-$file.json" "$QSCTL" enroll --home "$QS_HOME" \
        --out "$QS_TMP/clients/$file.profile" --format json --as e2e-identity "$@"
    sleep 0.5   # the broker reloads site.db every 200 ms
}
lookup() {   # lookup MACHINE OUT
    qs_expect_rc 0 "$2" "$QSCTL" lookup --home "$QS_HOME" --machine "$1" --format json
}
compliance_of() {   # compliance_of TOPIC_ID: "state:count ..." of that update
    qs_expect_rc 0 "$QS_TMP/compliance.json" "$QSCTL" compliance --home "$QS_HOME" \
        --topic-type 500 --topic-id "$1" --format json
    jq -r '[.rows[] | select(.state_id != null) | "\(.state_id):\(.count)"] | join(" ")' "$QS_TMP/compliance.json"
}
T1=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
T2=$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)

qs_step "enroll id-a bound to machine PC-ID-A"
enroll_as id-a --name id-a --machine PC-ID-A
qs_expect_eq "enroll: bound" "$(jq -r '.machine_pseudonym | length' "$QS_TMP/enroll-id-a.json")" 16
qs_expect_eq "enroll: replaced" "$(jq -r .replaced "$QS_TMP/enroll-id-a.json")" false

qs_step "(a) a message naming another machine is refused MACHINE_MISMATCH, the others stored"
qs_report id-a --topic-type 500 --topic-id KB5070001 --state 2 --machine PC-ID-A --time "$T1"
qs_report id-a --topic-type 500 --topic-id KB5070002 --state 2 --machine pc-id-a --time "$T1"
qs_report id-a --topic-type 500 --topic-id KB5070009 --state 2 --machine PC-ID-B --time "$T1"
qs_flush id-a 30
qs_expect_eq "flush id-a" "$QS_RC" 0
grep -q 'rejected 1 messages for good' "$QS_TMP/flush-id-a.out.err" ||
    qs_fail "qs-producer flush did not report 1 rejected message:"$'\n'"$(cat "$QS_TMP/flush-id-a.out.err")"
qs_expect_rc 0 "$QS_TMP/status-a.json" "$QS_PRODUCER" --profile "$(qs_profile id-a)" \
    --outbox "$(qs_outbox id-a)" status --format json
qs_expect_eq "id-a's rejected list" "$(qs_json_get "$QS_TMP/status-a.json" .rejected)" 1
qs_wait_stat '.rejected_detail.MACHINE_MISMATCH' 1
qs_expect_eq "rejected.BAD_MESSAGE" "$(qs_stat '.rejected.BAD_MESSAGE')" 1
qs_expect_eq "stored" "$(qs_stat .stored)" 2
lookup PC-ID-B "$QS_TMP/lookup-b.json"
qs_expect_eq "lookup of the other machine" "$(qs_json_get "$QS_TMP/lookup-b.json" '.rows | length')" 0
qs_expect_eq "KB5070009 in compliance" "$(compliance_of KB5070009)" ""
lookup PC-ID-A "$QS_TMP/lookup-a.json"
qs_expect_eq "lookup of the enrolled machine" \
    "$(jq -c '[.rows[].topic_id] | sort' "$QS_TMP/lookup-a.json")" '["KB5070001","KB5070002"]'

qs_step "(c) an empty machine field is stored as the enrolled machine"
qs_report id-a --topic-type 500 --topic-id KB5070003 --state 3 --machine "" --time "$T1"
qs_flush id-a 30
qs_expect_eq "flush id-a" "$QS_RC" 0
qs_wait_stat .stored 3
lookup pc-id-a "$QS_TMP/lookup-a2.json"
qs_expect_eq "lookup of the enrolled machine" \
    "$(jq -c '[.rows[].topic_id] | sort' "$QS_TMP/lookup-a2.json")" '["KB5070001","KB5070002","KB5070003"]'
qs_expect_eq "KB5070001 before the re-enrollment" "$(compliance_of KB5070001)" "2:1"

qs_step "(b) enroll of a held name without --replace is still refused"
qs_expect_rc 1 "$QS_TMP/enroll-again.out" "$QSCTL" enroll --home "$QS_HOME" --name id-a \
    --out "$QS_TMP/clients/refused.profile"
grep -q -- '--replace' "$QS_TMP/enroll-again.out.err" ||
    qs_fail "the refusal does not mention --replace:"$'\n'"$(cat "$QS_TMP/enroll-again.out.err")"
[[ ! -e $QS_TMP/clients/refused.profile ]] || qs_fail "a refused enroll left a profile"

qs_step "(b) enroll --replace: old key revoked in the same step, audited once"
audit_before=$("$QSCTL" audit show --home "$QS_HOME" --format json | jq '.entries | length')
enroll_as id-a2 --name ID-A --replace
qs_expect_eq "enroll --replace: replaced" "$(jq -r .replaced "$QS_TMP/enroll-id-a2.json")" true
qs_expect_eq "enroll --replace: the machine inherited" \
    "$(qs_json_get "$QS_TMP/enroll-id-a2.json" .machine_pseudonym)" \
    "$(qs_json_get "$QS_TMP/enroll-id-a.json" .machine_pseudonym)"
"$QSCTL" audit show --home "$QS_HOME" --format json >"$QS_TMP/audit.json"
qs_expect_eq "one audit entry for the replacement" "$(jq '.entries | length' "$QS_TMP/audit.json")" $((audit_before + 1))
jq -e '.entries[-1] | .action == "enroll" and .detail.replaced == 1' "$QS_TMP/audit.json" >/dev/null ||
    qs_fail "the last audit entry does not state the replacement:"$'\n'"$(jq -c '.entries[-1]' "$QS_TMP/audit.json")"
qs_stats
qs_expect_eq "enrolled" "$(qs_stat .enrolled)" 1
qs_expect_eq "revoked" "$(qs_stat .revoked)" 1

qs_step "(b) the old key is refused"
qs_run "$QS_TMP/old.json" "$QS_SENDRAW" --profile "$(qs_profile id-a)" --format json --timeout 3000 \
    --serial 100 --count 1 --topic-id KB5070001 --machine PC-ID-A --expect 'REVOKED' --expect 'none'
[[ $QS_RC == 0 || $QS_RC == 3 ]] || qs_fail "the old key was not refused (qs_sendraw exit $QS_RC):"$'\n'"$(cat "$QS_TMP/old.json" "$QS_TMP/old.json.err")"

qs_step "(b) the new key continues the machine's state: counted once, one state per update"
qs_report id-a2 --topic-type 500 --topic-id KB5070001 --state 3 --machine "" --time "$T2"
qs_report id-a2 --topic-type 500 --topic-id KB5070004 --state 2 --machine PC-ID-A --time "$T2"
qs_flush id-a2 30
qs_expect_eq "flush id-a2" "$QS_RC" 0
qs_wait_stat .stored 5
qs_expect_eq "KB5070001 after the re-enrollment" "$(compliance_of KB5070001)" "3:1"
qs_expect_eq "KB5070002 after the re-enrollment" "$(compliance_of KB5070002)" "2:1"
qs_expect_eq "latest_rows" "$(qs_stat .latest_rows)" 4
qs_expect_eq "clients in the store" "$(qs_stat .clients)" 2
lookup PC-ID-A "$QS_TMP/lookup-a3.json"
qs_expect_eq "lookup: one state per update" \
    "$(jq -c '[.rows[] | "\(.topic_id)=\(.state_id)"] | sort' "$QS_TMP/lookup-a3.json")" \
    '["KB5070001=3","KB5070002=2","KB5070003=3","KB5070004=2"]'

qs_step "(b) --replace of a key enrolled without a machine: bound to the machine it reported"
enroll_as id-l --name id-l
qs_expect_eq "legacy enroll: unbound" "$(jq -r '.machine_pseudonym // "none"' "$QS_TMP/enroll-id-l.json")" none
qs_report id-l --topic-type 500 --topic-id KB5070001 --state 2 --machine PC-ID-L --time "$T1"
qs_report id-l --topic-type 500 --topic-id KB5070005 --state 2 --machine PC-ID-L --time "$T1"
qs_flush id-l 30
qs_expect_eq "flush id-l" "$QS_RC" 0
qs_wait_stat .stored 7
qs_expect_eq "KB5070001 with the legacy machine" "$(compliance_of KB5070001)" "2:1 3:1"
enroll_as id-l2 --name id-l --replace
qs_expect_eq "replace: replaced" "$(jq -r .replaced "$QS_TMP/enroll-id-l2.json")" true
qs_expect_eq "replace: bound to the reported machine" \
    "$(jq -r '.machine_pseudonym | length' "$QS_TMP/enroll-id-l2.json")" 16
qs_report id-l2 --topic-type 500 --topic-id KB5070001 --state 3 --machine PC-ID-L --time "$T2"
qs_flush id-l2 30
qs_expect_eq "flush id-l2" "$QS_RC" 0
qs_wait_stat .stored 8
qs_expect_eq "KB5070001: each machine once" "$(compliance_of KB5070001)" "3:2"
qs_expect_eq "KB5070005 continues" "$(compliance_of KB5070005)" "2:1"
lookup PC-ID-L "$QS_TMP/lookup-l.json"
qs_expect_eq "lookup of the legacy machine: one state per update" \
    "$(jq -c '[.rows[] | "\(.topic_id)=\(.state_id)"] | sort' "$QS_TMP/lookup-l.json")" \
    '["KB5070001=3","KB5070005=2"]'
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME"

printf '%s: PASS\n' "$QS_LIB_NAME"
