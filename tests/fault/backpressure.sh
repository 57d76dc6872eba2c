#!/usr/bin/env bash
# backpressure.sh - fault: with the store stopped (then frozen), a burst of
# 500,000 messages leaves the broker's memory bounded; producers back off and
# keep their outbox; everything arrives, once, when the store returns.
#
# A fresh site (policy k=1) runs only qs-broker at first. A sampler reads the
# broker's VmRSS from /proc/PID/status every 0.5 s for the whole test.
#   1. store down (DOWN_S s): `qs-producer simulate --clients 100 --messages
#      500000` and one real client (`qs-producer run` over an outbox holding
#      OUTBOX_K reported messages) push against a broker with no store. The
#      broker can only answer RETRY_LATER. Checks: nothing is acked
#      (sim/state.db), the real outbox still holds all OUTBOX_K messages,
#      the producers back off (the broker's own CPU time stays below
#      CPU_LIMIT_PCT % of the phase: a producer retrying without backoff
#      would keep it busy answering), the broker stays up.
#   2. store back: qs-store starts; deliveries flow.
#   3. store frozen: once a fifth of the messages are acked, qs-store gets
#      SIGSTOP for FREEZE_S s, then SIGCONT. The broker keeps sending to a
#      worker that no longer reads until the queue's high-water mark, then
#      (ROUTER_MANDATORY, no heartbeat for 3 s) answers RETRY_LATER: a stuck
#      store must not make the broker buffer the burst.
#   4. drain: simulate must exit 0 with all acked, the real outbox empties.
# Then: peak broker RSS (overall and per phase, reported) below RSS_LIMIT_MB;
# qsctl stats stored = 500,000 + OUTBOX_K and history exactly once per client
# (serials 1..n once, low_water = n, store.db read-only with sqlite3).
#
# Why 64 MB: at most clients x window batches are in flight (100 x 4 x a
# ~10 KB envelope of 100 messages, about 4 MB); the broker forwards or answers
# each at once and holds at most `hwm` (1000) messages per pipe, each way,
# for a store that stops reading: about 10 MB. With the process's own
# baseline (libzmq, libsodium, SQLite: under 10 MB) that stays below 32 MB;
# 64 MB leaves a 2x margin for allocator slack, while a broker that queued
# the burst itself (500,000 messages, tens of MB at least) would fail it.
#
# Usage: tests/fault/backpressure.sh [BUILD_DIR]   (or QS_BIN_DIR / QSCTL=... env)
# Knobs: QS_FAULT_CLIENTS (100), QS_FAULT_MESSAGES (500000),
#        QS_FAULT_RSS_LIMIT_MB (64), QS_FAULT_SEED.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

CLIENTS=${QS_FAULT_CLIENTS:-100}
MESSAGES=${QS_FAULT_MESSAGES:-500000}
RSS_LIMIT_MB=${QS_FAULT_RSS_LIMIT_MB:-64}
OUTBOX_K=50
DOWN_S=15
FREEZE_S=6
CPU_LIMIT_PCT=25
SIM_TIMEOUT=180      # simulate gives up after this; the test's own bounds are tighter
STALL_S=45           # no progress for this long is a hang (backoff <= 5 s, reply timeout <= 30 s)

fault_setup "${1:-}"
test_start=$(date +%s)
PHASE_FILE="$QS_TMP/phase"
RSS_LOG="$QS_TMP/rss.log"
echo idle >"$PHASE_FILE"

qs_step "start qs-broker only (no store)"
qs_start broker "$QS_BROKER" --home "$QS_HOME"
qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND"
qs_wait_listen "$QS_BACK_PORT" 20 || qs_fail "qs-broker does not listen on $QS_BACKEND"
BROKER_PID=${QS_DAEMON_PID[broker]}

# The sampler: "ms phase rss_kb" every 0.5 s while the broker lives.
sampler() {
    local rss
    while rss=$(fault_rss_kb "$BROKER_PID") && [[ -n $rss ]]; do
        printf '%s %s %s\n' "$(fault_now_ms)" "$(cat "$PHASE_FILE")" "$rss" >>"$RSS_LOG"
        sleep 0.5
    done
}
sampler &
QS_DAEMON_PID[sampler]=$!
# The memory numbers are worth seeing even when a later check fails.
rss_summary() {
    local ph p
    samples=$(wc -l <"$RSS_LOG")
    for ph in idle store-down delivery store-frozen; do
        p=$(awk -v ph="$ph" '$2 == ph && $3 > m { m = $3 } END { print m + 0 }' "$RSS_LOG")
        qs_info "peak broker VmRSS in phase $ph: $p kB"
    done
    peak_kb=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$RSS_LOG")
    qs_info "peak broker VmRSS ${peak_kb} kB over $samples samples (baseline ${baseline_kb:-?} kB, limit $((RSS_LIMIT_MB * 1024)) kB)"
}
RSS_REPORTED=0
qs_on_exit '(( RSS_REPORTED )) || rss_summary'
sleep 1
baseline_kb=$(fault_rss_kb "$BROKER_PID")
qs_info "broker pid $BROKER_PID, baseline VmRSS ${baseline_kb} kB"

qs_step "a real client reports $OUTBOX_K messages into its outbox and runs"
qs_enroll carol
for i in $(seq 1 "$OUTBOX_K"); do
    "$QS_PRODUCER" --profile "$(qs_profile carol)" --outbox "$(qs_outbox carol)" report \
        --topic-type 500 --topic-id "KB$((5000000 + i))" --state $((i % 4)) --machine PC-CAROL \
        >/dev/null 2>>"$QS_TMP/report.err" || qs_fail "report $i failed: $(tail -n 5 "$QS_TMP/report.err")"
done
pending() { fault_sql "$(qs_outbox carol)" "SELECT COUNT(*) FROM outbox"; }
qs_expect_eq "carol's outbox before delivery" "$(pending)" "$OUTBOX_K"
qs_start carol_run "$QS_PRODUCER" --profile "$(qs_profile carol)" --outbox "$(qs_outbox carol)" run

qs_step "phase 1: store down, simulate $CLIENTS clients x $MESSAGES messages for ${DOWN_S}s"
echo store-down >"$PHASE_FILE"
fault_bg sim "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" --clients "$CLIENTS" \
    --messages "$MESSAGES" --timeout "$SIM_TIMEOUT" --format json
# Let the fleet enroll and connect before measuring the steady state.
sleep 3
cpu0=$(fault_cpu_ticks "$BROKER_PID")
t0=$(fault_now_ms)
sleep $((DOWN_S - 3))
cpu1=$(fault_cpu_ticks "$BROKER_PID")
t1=$(fault_now_ms)
fault_alive sim || qs_fail "simulate exited while the store was down:"$'\n'"$(tail -n 20 "$QS_TMP/sim.log")"
qs_running broker || qs_fail "qs-broker died with the store down"
qs_running carol_run || qs_fail "qs-producer run died with the store down"
hz=$(getconf CLK_TCK)
cpu_pct=$(( (cpu1 - cpu0) * 1000 * 100 / hz / (t1 - t0) ))
retries=$(grep -c 'retry answers' "$QS_TMP/sim.log" || true)
retry_sum=$(sed -n 's/.*simulate: \([0-9]*\) retry answers.*/\1/p' "$QS_TMP/sim.log" | awk '{ s += $1 } END { print s + 0 }')
qs_info "broker CPU ${cpu_pct}% of the phase; simulate logged $retry_sum retry answers over $retries seconds"
(( cpu_pct < CPU_LIMIT_PCT )) ||
    qs_fail "the broker was busy ${cpu_pct}% of the time with no store: producers do not back off"
qs_expect_eq "messages acked with no store" "$(fault_sim_acked)" 0
qs_expect_eq "carol's outbox with no store (kept, not dropped)" "$(pending)" "$OUTBOX_K"
qs_stats
qs_expect_eq "stats .stored with no store" "$(qs_stat .stored)" 0
peak_down=$(awk '$2 == "store-down" && $3 > m { m = $3 } END { print m + 0 }' "$RSS_LOG")
qs_info "peak broker VmRSS with the store down: $peak_down kB"

qs_step "phase 2: the store returns"
echo delivery >"$PHASE_FILE"
qs_start store "$QS_STORE" --home "$QS_HOME"
deadline=$(( $(date +%s) + 60 ))
while (( $(fault_sim_acked) < MESSAGES / 5 )); do
    (( $(date +%s) < deadline )) || qs_fail "less than a fifth acked 60 s after the store returned ($(fault_sim_acked))"
    fault_alive sim || break
    sleep 0.2
done
qs_info "$(fault_sim_acked) acked; carol's outbox holds $(pending)"

if fault_alive sim; then
    qs_step "phase 3: freeze the store (SIGSTOP) for ${FREEZE_S}s mid-burst"
    echo store-frozen >"$PHASE_FILE"
    kill -STOP "${QS_DAEMON_PID[store]}"
    sleep "$FREEZE_S"
    kill -CONT "${QS_DAEMON_PID[store]}"
    echo delivery >"$PHASE_FILE"
    qs_running broker || qs_fail "qs-broker died while the store was frozen"
else
    qs_warn "simulate finished before the freeze: phase 3 skipped"
fi

qs_step "phase 4: drain"
fault_wait_sim $(( 200 - ($(date +%s) - test_start) )) "$STALL_S"
(( FAULT_RC == 0 )) || qs_fail "simulate exited $FAULT_RC:"$'\n'"$(tail -n 30 "$QS_TMP/sim.log")"
qs_info "simulate: $(jq -c 'del(.expected_latest)' "$QS_TMP/sim.json" 2>/dev/null)"
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
qs_wait_until 30 "carol's outbox to empty" test "$(pending)" = 0 ||
    qs_fail "carol's outbox still holds $(pending) messages"
qs_stop carol_run 10 || qs_fail "qs-producer run exited $QS_STOP_RC on SIGTERM"
sleep 1   # one more sample after the drain
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
fault_reap sampler

qs_step "broker memory"
rss_summary
# shellcheck disable=SC2034  # read by the EXIT hook above
RSS_REPORTED=1
(( samples >= 20 )) || qs_fail "only $samples RSS samples taken"
(( peak_kb < RSS_LIMIT_MB * 1024 )) ||
    qs_fail "broker VmRSS peaked at ${peak_kb} kB, above the ${RSS_LIMIT_MB} MB bound"

qs_step "everything stored exactly once"
want=$((MESSAGES + OUTBOX_K))
qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$want"
qs_expect_eq "stats .history_rows" "$(qs_stat .history_rows)" "$want"
bad=$(fault_exactly_once_violations)
[[ -z $bad ]] || qs_fail "clients whose history is not serials 1..n exactly once with low_water = n"$'\n'"(client_id low_water rows distinct min max):"$'\n'"$(head -n 20 <<<"$bad")"
qs_expect_eq "clients in store.db" "$(fault_sql "$STORE_DB" "SELECT COUNT(*) FROM clients")" $((CLIENTS + 1))
carol_id=$(fault_client_id "$(qs_profile carol)")
qs_expect_eq "carol's low_water" "$(fault_sql "$STORE_DB" "SELECT low_water FROM clients WHERE client_id = ${carol_id:-0}")" "$OUTBOX_K"
echo "fault_backpressure: PASS (peak broker VmRSS ${peak_kb} kB < ${RSS_LIMIT_MB} MB; $want stored exactly once, $(qs_stat .duplicates) duplicates dropped; $(( $(date +%s) - test_start )) s)"
