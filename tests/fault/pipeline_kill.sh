#!/usr/bin/env bash
# pipeline_kill.sh - fault: SIGKILL qs-store while one group commits and the
# next one is being received and decoded; nothing is lost, nothing stored
# twice, and no ack ever leaves before the flush of its commit.
#
# qs-store commits a group on its commit thread while its receiving thread
# fills the next one (docs/performance.md, "The pipeline"). This test kills
# it in that state, over and over. The store runs under
# tests/fault/ackorder_shim.c (LD_PRELOAD) with QS_ACKORDER_SYNC_DELAY_MS:
# every flush of store.db and its WAL sleeps first (a slow disk), so a group
# spends most of its time in COMMIT while `qs-producer simulate` (CLIENTS
# clients, batches of 100) keeps envelopes coming. The shim logs each BEGIN,
# each envelope received and each commit, and checks every ack against the
# flushes (ack_order.sh says how).
#
# ROUNDS times: wait until the store committed since the last kill, a random
# moment, SIGKILL. Then:
#   - the shim's log of that store says whether the kill caught the
#     pipeline full: a transaction open (its BEGIN logged, its COMMIT never
#     ended) AND envelopes received after that BEGIN (the receiving thread
#     decodes each one as it takes it from the socket);
#   - the crashed store.db holds whole transactions only
#     (fault_check_whole_txns);
#   - the store restarts, under the shim again.
# At the end simulate must finish with every message acked, every message
# stored exactly once (fault_exactly_once_violations), stats.stored and
# history_rows = MESSAGES, no VIOLATION in any of the shim's logs, and at
# least half of the kills must have caught the pipeline full.
# Usage: tests/fault/pipeline_kill.sh [BUILD_DIR]  (QS_ACKORDER_SHIM = the shim)
# Knobs: QS_FAULT_MESSAGES (150000), QS_FAULT_ROUNDS (6), QS_FAULT_SYNC_DELAY_MS
# (40), QS_FAULT_SEED.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

CLIENTS=100
MESSAGES=${QS_FAULT_MESSAGES:-150000}
ROUNDS=${QS_FAULT_ROUNDS:-6}
DELAY_MS=${QS_FAULT_SYNC_DELAY_MS:-40}
SHIM=${QS_ACKORDER_SHIM:-}
[[ -n $SHIM ]] || SHIM=$(find "${1:-${QS_BIN_DIR:-build}}" -name 'libackorder_shim.so' -print -quit 2>/dev/null || true)
[[ -f $SHIM ]] || qs_die "the shim libackorder_shim.so is not built (set QS_ACKORDER_SHIM)"

fault_setup "${1:-}"
test_start=$(date +%s)
# An ASan build needs its runtime first among the preloaded libraries.
asan=$(ldd "$QS_STORE" 2>/dev/null | awk '/libasan/ { print $3; exit }')
PRELOAD="${asan:+$asan:}$SHIM"

# start_store N: qs-store under the shim, its log $QS_TMP/store.N.ackorder.
start_store() {
    STORE_LOG="$QS_TMP/store.$1.ackorder"
    qs_start store env LD_PRELOAD="$PRELOAD" QS_ACKORDER_LOG="$STORE_LOG" \
        QS_ACKORDER_SYNC_DELAY_MS="$DELAY_MS" "$QS_STORE" --home "$QS_HOME"
}

# kill_state LOG: "OPEN_SINCE RECEIVED": the seq of the BEGIN of the
# transaction still open when the store died (0 when none was open) and the
# envelopes received after that BEGIN.
kill_state() {
    awk '$1 == "begin" { b = $3 }
         $1 == "commit" && $2 == "start" && $3 == b && $7 == 1 { b = 0 }
         $1 == "rollback" { b = 0 }
         $1 == "recv" { r[NR] = $3 }
         END { n = 0; if (b > 0) for (i in r) if (r[i] > b) n++; print b + 0, n }' "$1"
}

# progressed: the restarted store committed rows since the last kill, or no
# new row can be committed any more (commit_kill.sh says why both).
progressed() {
    local n
    n=$(fault_stored_counter)
    (( n > ${CHECKED_ROWS:-0} || n >= MESSAGES )) || ! fault_alive sim
}

qs_start broker "$QS_BROKER" --home "$QS_HOME"
qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND"
qs_wait_listen "$QS_BACK_PORT" 20 || qs_fail "qs-broker does not listen on $QS_BACKEND"
start_store 0
qs_wait_connected "$QS_BACK_PORT" 20 || qs_fail "qs-store did not connect to $QS_BACKEND"
fault_bg sim "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" --clients "$CLIENTS" \
    --messages "$MESSAGES" --batch 100 --timeout 170 --format json

qs_step "$ROUNDS kills of qs-store (flushes slowed by $DELAY_MS ms) while a group commits"
full=0
kills=0
CHECKED_ROWS=0
for ((r = 1; r <= ROUNDS; r++)); do
    qs_wait_until 30 "the store to commit again" progressed ||
        qs_fail "the store committed nothing for 30 s after restart $((r - 1)) ($(fault_stored_counter) of $MESSAGES rows committed)"
    if (( $(fault_stored_counter) >= MESSAGES )); then
        qs_info "all $MESSAGES rows committed after $kills kills: nothing left to kill a commit of"
        break
    fi
    fault_sleep_ms "$(fault_rand 100 700)"
    fault_alive sim || { qs_warn "simulate finished after $kills kills"; break; }
    fault_kill store
    kills=$((kills + 1))
    read -r open_since received < <(kill_state "$STORE_LOG")
    if (( open_since > 0 && received > 0 )); then
        full=$((full + 1))
        how="a transaction open since seq $open_since, $received envelopes received after its BEGIN"
    elif (( open_since > 0 )); then
        how="a transaction open, nothing received after its BEGIN"
    else
        how="no transaction open"
    fi
    fault_check_whole_txns "after kill $r"
    qs_info "kill $r ($how): consistent, $CHECKED_ROWS rows committed"
    start_store "$r"
done

qs_step "drain"
fault_wait_sim $(( 260 - ($(date +%s) - test_start) )) 45
(( FAULT_RC == 0 )) || qs_fail "simulate exited $FAULT_RC:"$'\n'"$(tail -n 20 "$QS_TMP/sim.log")"
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
grep -q '^summary ' "$STORE_LOG" || qs_fail "the shim wrote no summary (was it preloaded?): $STORE_LOG"
qs_expect_eq "store.db integrity_check" "$(fault_sql "$STORE_DB" "PRAGMA integrity_check")" ok
bad=$(fault_exactly_once_violations)
[[ -z $bad ]] || qs_fail "clients whose history is not serials 1..n exactly once with low_water = n"$'\n'"(client_id low_water rows distinct min max):"$'\n'"$(head -n 20 <<<"$bad")"
qs_stats
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$MESSAGES"
qs_expect_eq "stats .history_rows" "$(qs_stat .history_rows)" "$MESSAGES"

# The shim's verdict over every store that ran, killed or not.
violations=$(cat "$QS_TMP"/store.*.ackorder | grep -c '^VIOLATION' || true)
acks=$(cat "$QS_TMP"/store.*.ackorder | grep -c '^ack .* ok$' || true)
unmatched=$(cat "$QS_TMP"/store.*.ackorder | grep -c '^unmatched' || true)
(( violations == 0 )) ||
    qs_fail "$violations acks left the store before the flush of their commit:"$'\n'"$(cat "$QS_TMP"/store.*.ackorder | grep -m 10 '^VIOLATION')"
# Fewer acks than batches is normal here: a kill after a group's COMMIT and
# before (or while) its acks are sent loses them, and those batches, stored,
# are then covered by later acks' committed_serial without a resend. But the check
# must have run, in the store that drained the rest too.
final_acks=$(grep -c '^ack .* ok$' "$STORE_LOG" || true)
(( acks > 0 && final_acks > 0 )) ||
    qs_fail "the shim saw $acks acks ($final_acks from the last store): the ack check proved nothing"
qs_expect_eq "acks without a receipt (unmatched)" "$unmatched" 0
# The kills must have proved something.
(( kills > 0 && full >= (ROUNDS + 1) / 2 )) ||
    qs_fail "only $full of $kills kills (of $ROUNDS planned) caught a group committing with the next one received (a store that does not overlap its commits never does; otherwise raise QS_FAULT_MESSAGES or QS_FAULT_SYNC_DELAY_MS)"
echo "fault_pipeline_kill: PASS ($full of $kills store kills with a group committing and the next one received; database whole after each; $MESSAGES stored exactly once, $(qs_stat .duplicates) duplicates dropped; $acks acks, none before its flush; $(( $(date +%s) - test_start )) s)"
