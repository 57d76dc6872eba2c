#!/usr/bin/env bash
# fleet.sh - e2e: 50 simulated clients deliver 5000 messages; nothing lost or doubled.
#
# A fresh site with policy k=1 runs real qs-broker and qs-store on loopback
# ports; `qs-producer simulate --clients 50 --messages 5000` must exit 0 with
# every message acked; `qsctl stats` must say exactly 5000 stored (duplicates
# from resends are counted apart, never as stored), and `qsctl compliance`
# must equal, row for row, the latest states the simulator says it produced.
# Usage: tests/e2e/fleet.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

CLIENTS=${QS_FLEET_CLIENTS:-50}
MESSAGES=${QS_FLEET_MESSAGES:-5000}

qs_need_cmd jq
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
qs_start_site

qs_step "policy set --k 1"
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-fleet

qs_step "simulate $CLIENTS clients, $MESSAGES messages"
start=$(date +%s)
qs_expect_rc 0 "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
    --clients "$CLIENTS" --messages "$MESSAGES" --format json
qs_info "took $(( $(date +%s) - start )) s: $(jq -c 'del(.expected_latest)' "$QS_TMP/sim.json" 2>/dev/null)"
jq -e . "$QS_TMP/sim.json" >/dev/null 2>&1 ||
    qs_fail "simulate --format json printed no JSON document:"$'\n'"$(head -c 2000 "$QS_TMP/sim.json")"
qs_expect_eq "simulate .clients" "$(qs_json_get "$QS_TMP/sim.json" .clients)" "$CLIENTS"
qs_expect_eq "simulate .messages" "$(qs_json_get "$QS_TMP/sim.json" .messages)" "$MESSAGES"
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
qs_expect_eq "simulate .rejected" "$(qs_json_get "$QS_TMP/sim.json" .rejected)" 0
qs_json_get "$QS_TMP/sim.json" '.expected_latest | type == "array" and length > 0' >/dev/null

qs_step "stats: exactly $MESSAGES stored"
qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$MESSAGES"
dups=$(qs_stat .duplicates)
qs_info "duplicates (resends, counted apart): $dups"
latest=$(qs_stat .latest_rows)
history=$(qs_stat .history_rows)
sum=$(jq '[.expected_latest[].count] | add' "$QS_TMP/sim.json")
qs_expect_eq "stats .latest_rows (one per client x topic = sum of expected counts)" "$latest" "$sum"
(( history > 0 && history <= MESSAGES )) ||
    qs_fail "stats .history_rows is $history, expected 1..$MESSAGES"
clients=$(qs_stat .clients)
(( clients >= CLIENTS )) || qs_fail "stats .clients is $clients, expected at least $CLIENTS"

qs_step "compliance equals the simulator's expected latest states"
# Ask per topic type, so the answer does not depend on the default filter.
: >"$QS_TMP/rows.jsonl"
for tt in $(jq -r '[.expected_latest[].topic_type] | unique | .[]' "$QS_TMP/sim.json"); do
    qs_expect_rc 0 "$QS_TMP/compliance-$tt.json" "$QSCTL" compliance --home "$QS_HOME" \
        --topic-type "$tt" --format json
    k=$(qs_json_get "$QS_TMP/compliance-$tt.json" .k)
    qs_expect_eq "compliance .k" "$k" 1
    qs_json_get "$QS_TMP/compliance-$tt.json" '.rows | type == "array"' >/dev/null
    if jq -e '[.rows[] | select(.suppressed == true or .count == null)] | length > 0' \
        "$QS_TMP/compliance-$tt.json" >/dev/null; then
        qs_fail "compliance with k=1 suppressed a group:"$'\n'"$(cat "$QS_TMP/compliance-$tt.json")"
    fi
    jq -c '.rows[]' "$QS_TMP/compliance-$tt.json" >>"$QS_TMP/rows.jsonl"
done
norm='map({topic_type: (.topic_type | tonumber), topic_id: (.topic_id | tostring),
           state_id: (.state_id | tonumber), count: (.count | tonumber)})
      | sort_by(.topic_type, .topic_id, .state_id)'
jq -s "$norm" "$QS_TMP/rows.jsonl" >"$QS_TMP/got.json"
jq ".expected_latest | $norm" "$QS_TMP/sim.json" >"$QS_TMP/want.json"
if ! cmp -s "$QS_TMP/got.json" "$QS_TMP/want.json"; then
    qs_fail "compliance rows differ from the simulator's expected_latest (rows: got $(jq length "$QS_TMP/got.json"), want $(jq length "$QS_TMP/want.json")):"$'\n'"$(diff "$QS_TMP/want.json" "$QS_TMP/got.json" | head -n 40)"
fi
qs_info "$(jq length "$QS_TMP/got.json") rows match"

qs_step "daemons still up, stop cleanly"
qs_running broker || qs_fail "qs-broker died during the run"
qs_running store || qs_fail "qs-store died during the run"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
echo "e2e_fleet: PASS"
