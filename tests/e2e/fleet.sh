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
qs_expect_compliance "$QS_TMP/sim.json"
qs_info "$QS_COMPLIANCE_ROWS rows match"

qs_step "daemons still up, stop cleanly"
qs_running broker || qs_fail "qs-broker died during the run"
qs_running store || qs_fail "qs-store died during the run"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"

# The CurveZMQ handshake buffers come from the pool (qs_secpool.h) in both
# programs: libzmq's calls reach the override, and after the first
# handshakes the released buffers are taken again instead of fresh mappings.
qs_step "handshake buffers reused: broker and producer"
line=$(grep -o 'secure_buffers reused=[0-9]* allocated=[0-9]*' "${QS_DAEMON_LOG[broker]}" | tail -n 1)
[[ -n $line ]] || qs_fail "the broker's last stats line has no secure_buffers counts"
read -r reused allocated < <(sed 's/[^0-9 ]//g; s/  */ /g; s/^ //' <<<"${line#secure_buffers }")
qs_info "broker: $line ($CLIENTS handshakes)"
(( reused >= 4 * CLIENTS && allocated < reused )) ||
    qs_fail "the broker reused $reused handshake buffers and mapped $allocated fresh: expected most of 6 per handshake reused"
reused=$(qs_json_get "$QS_TMP/sim.json" .secure_buffers_reused)
allocated=$(qs_json_get "$QS_TMP/sim.json" .secure_buffers_allocated)
qs_info "producer: reused $reused, allocated $allocated"
(( reused > 0 && allocated < reused )) ||
    qs_fail "simulate reused $reused handshake buffers and mapped $allocated fresh"
echo "e2e_fleet: PASS"
