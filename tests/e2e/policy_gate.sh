#!/usr/bin/env bash
# policy_gate.sh - e2e: nothing is collected until a policy is set.
#
# Before `qsctl policy set`, clients report and flush: every flush must time
# out (exit 1: messages still pending in the outbox), the store must hold
# nothing and count its NOT_CONFIGURED answers under "retries" (answers that
# asked for a resend), never under "rejected" (messages refused for good),
# however often the producers retried. After the policy is set the same
# outboxes flush (exit 0) and every message is stored, once.
# Usage: tests/e2e/policy_gate.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
qs_start_site

CLIENTS=(gate-a gate-b gate-c)
qs_step "enroll ${CLIENTS[*]}; report 2 states each"
n=0
for c in "${CLIENTS[@]}"; do
    qs_enroll "$c"
    qs_report "$c" --topic-type 500 --topic-id KB5030211 --state 2 --machine "PC-$c" --domain CORP
    qs_report "$c" --topic-type 500 --topic-id KB5030219 --state 3 --machine "PC-$c" --domain CORP
    n=$((n + 2))
done

qs_step "no policy: flush --timeout 3 must leave them pending (exit 1)"
for c in "${CLIENTS[@]}"; do
    qs_flush "$c" 3
    [[ $QS_RC == 1 ]] || qs_fail "flush for $c before any policy exited $QS_RC, expected 1 (pending):"$'\n'"$(cat "$QS_TMP/flush-$c.out" "$QS_TMP/flush-$c.out.err" | tail -n 20)"
done
qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
qs_expect_eq "stats .stored before a policy" "$(qs_stat .stored)" 0
nc=$(qs_stat .retries.NOT_CONFIGURED)
(( nc >= ${#CLIENTS[@]} )) ||
    qs_fail "stats .retries.NOT_CONFIGURED is $nc, expected at least ${#CLIENTS[@]} (one per client that flushed)"
qs_expect_eq "stats .rejected.NOT_CONFIGURED (retries are not refusals)" \
    "$(jq -r '.rejected.NOT_CONFIGURED // "none"' "$QS_TMP/stats.json")" none
qs_expect_eq "stats .rejected_detail.NO_POLICY" \
    "$(jq -r '.rejected_detail.NO_POLICY // "none"' "$QS_TMP/stats.json")" none
qs_expect_rc 0 "$QS_TMP/compliance0.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
qs_expect_eq "compliance rows before a policy" "$(qs_json_get "$QS_TMP/compliance0.json" '.rows | length')" 0

qs_step "policy set --k 1; the same outboxes flush (exit 0)"
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-gate
for c in "${CLIENTS[@]}"; do
    qs_flush "$c" 30
    [[ $QS_RC == 0 ]] || qs_fail "flush for $c after policy set exited $QS_RC, expected 0:"$'\n'"$(cat "$QS_TMP/flush-$c.out" "$QS_TMP/flush-$c.out.err" | tail -n 20)"
done
qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
qs_expect_eq "stats .stored after policy set" "$(qs_stat .stored)" "$n"
qs_expect_eq "stats .latest_rows" "$(qs_stat .latest_rows)" "$n"
qs_expect_eq "stats .rejected after the retries succeeded" "$(qs_stat '.rejected | length')" 0
(( $(qs_stat .retries.NOT_CONFIGURED) >= nc )) || qs_fail "retries.NOT_CONFIGURED went down"

qs_step "compliance counts every client"
qs_expect_rc 0 "$QS_TMP/compliance.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
got=$(jq -c '[.rows[] | select(.state_id != null) | {topic_id, state_id, count}] | sort_by(.topic_id, .state_id)' "$QS_TMP/compliance.json")
want='[{"topic_id":"KB5030211","state_id":2,"count":3},{"topic_id":"KB5030219","state_id":3,"count":3}]'
qs_expect_eq "compliance rows" "$got" "$want"

qs_step "a flush with nothing pending exits 0 and stores nothing more"
qs_flush gate-a 5
qs_expect_eq "empty flush exit" "$QS_RC" 0
qs_stats
qs_expect_eq "stats .stored after an empty flush" "$(qs_stat .stored)" "$n"

qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
echo "e2e_policy_gate: PASS"
