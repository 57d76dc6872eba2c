#!/usr/bin/env bash
# crash_fleet.sh - fault: SIGKILL the store, the broker and the producers at
# random moments while a fleet delivers; every message is stored exactly once.
#
# A fresh site (policy k=1) runs qs-broker and qs-store on random loopback
# ports and `qs-producer simulate` delivers MESSAGES messages from CLIENTS
# clients in small batches (many round trips, many group commits). While it
# runs, ROUNDS kill rounds in a random order (seeded, printed) SIGKILL
# qs-store, qs-broker, the simulate process, or all three at once. A round
# waits until the store is committing again (store.db-wal written: after a
# kill the producers may sit out their 5 s reply timeout first), then a
# random 0-0.8 s; a store kill then waits for the next WAL write and kills
# at once, to land inside a group commit as often as timing allows. Each
# victim restarts after a random 0-1 s pause; simulate resumes from
# DIR/sim/state.db until it exits 0 with everything acked.
#
# Checks, on store.db read with the sqlite3 CLI (read-only) once the daemons
# stopped:
#   - per client, over all history_* partitions: COUNT(*) = COUNT(DISTINCT
#     serial) = n, MIN(serial) = 1, MAX(serial) = n, clients.low_water = n;
#     no serial left in `seen`; the n per client are exactly the message
#     counts the simulator generated (sim/state.db), summing to MESSAGES;
#   - PRAGMA integrity_check is ok;
#   - qsctl stats --format json: stored = history_rows = MESSAGES, nothing
#     rejected, duplicates (resends the store dropped) > 0;
#   - every kind of victim was killed while messages were still in flight.
# A partial group commit would show as a gap, a low_water past the rows, or
# stored != rows; a message deleted by a producer without a committed ack as
# a missing serial; a resend stored twice as COUNT(*) > COUNT(DISTINCT).
#
# Usage: tests/fault/crash_fleet.sh [BUILD_DIR]   (or QS_BIN_DIR / QSCTL=... env)
# Knobs: QS_FAULT_CLIENTS (25), QS_FAULT_MESSAGES (200000), QS_FAULT_BATCH (2),
#        QS_FAULT_ROUNDS (12 kill rounds), QS_FAULT_SEED.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

CLIENTS=${QS_FAULT_CLIENTS:-25}
MESSAGES=${QS_FAULT_MESSAGES:-200000}
BATCH=${QS_FAULT_BATCH:-2}
ROUNDS=${QS_FAULT_ROUNDS:-12}
SIM_TIMEOUT=150     # one simulate process; the test's own bound is below
FINISH_LIMIT=150    # seconds for the last, undisturbed simulate to finish

(( CLIENTS >= 20 && MESSAGES >= 20000 )) || qs_die "the issue asks for >= 20 clients and >= 20000 messages"
fault_setup "${1:-}"

declare -A KILLS=([store]=0 [broker]=0 [producer]=0 [all]=0)
SIM_RUNS=0
test_start=$(date +%s)

start_broker() {
    qs_start broker "$QS_BROKER" --home "$QS_HOME"
    qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND after a restart"
    qs_wait_listen "$QS_BACK_PORT" 20 || qs_fail "qs-broker does not listen on $QS_BACKEND after a restart"
}
start_store() { fault_start_workers; }   # store (and store2 on PostgreSQL)
start_sim() {
    SIM_RUNS=$((SIM_RUNS + 1))
    SIM_OUT="$QS_TMP/sim-$SIM_RUNS.json"
    fault_bg sim "$SIM_OUT" "$QS_PRODUCER" simulate --home "$QS_HOME" --clients "$CLIENTS" \
        --messages "$MESSAGES" --batch "$BATCH" --timeout "$SIM_TIMEOUT" --format json
}

# Wait (at most 1 s) until store.db-wal is written again, so that the kill
# lands while a group commit is being written rather than between two.
wait_wal_write() {
    local wal before i
    wal=$(fault_wal_file)
    before=$(stat -c '%y %s' "$wal" 2>/dev/null || true)
    for i in $(seq 1 200); do
        [[ $(stat -c '%y %s' "$wal" 2>/dev/null || true) != "$before" ]] && return 0
        sleep 0.005
    done
    return 1
}

qs_step "start broker, store and simulate ($CLIENTS clients, $MESSAGES messages, batches of $BATCH)"
start_broker
start_store
start_sim

# The schedule: each kind of victim several times, in a random order.
plan=()
for ((i = 0; i < ROUNDS; i++)); do
    case $((i % 4)) in 0) plan+=(store) ;; 1) plan+=(broker) ;; 2) plan+=(producer) ;; 3) plan+=(all) ;; esac
done
for ((i = ${#plan[@]} - 1; i > 0; i--)); do
    j=$((RANDOM % (i + 1)))
    t=${plan[i]}; plan[i]=${plan[j]}; plan[j]=$t
done
qs_info "kill schedule: ${plan[*]}"

qs_step "SIGKILL at random moments, restart after a random pause"
in_flight_kills=0
round=0
for victim in "${plan[@]}"; do
    round=$((round + 1))
    # Kill while messages flow: wait until the store commits again, then a
    # random moment later.
    for i in $(seq 1 15); do
        fault_alive sim || break
        wait_wal_write && break
    done
    fault_sleep_ms "$(fault_rand 0 800)"
    if ! fault_alive sim; then
        fault_reap sim
        (( FAULT_RC == 0 )) || qs_fail "simulate exited $FAULT_RC during the kill rounds:"$'\n'"$(tail -n 20 "$QS_TMP/sim.log")"
        qs_warn "simulate finished after $((round - 1)) kill rounds: the workload is too small for the schedule"
        break
    fi
    before=$(fault_sim_acked)
    midcommit=""
    case $victim in
        store)
            wait_wal_write && midcommit=" (WAL being written)"
            fault_kill store ;;
        broker) fault_kill broker ;;
        producer) fault_kill sim ;;
        all)
            # shellcheck disable=SC2046
            fault_kill_all sim $(fault_worker_names) broker ;;
    esac
    KILLS[$victim]=$(( ${KILLS[$victim]} + 1 ))
    (( before < MESSAGES )) && in_flight_kills=$((in_flight_kills + 1))
    pause=$(fault_rand 0 1000)
    qs_info "round $round: killed $victim$midcommit at $before/$MESSAGES acked; restarting after ${pause} ms"
    fault_sleep_ms "$pause"
    qs_running broker || start_broker
    qs_running store || start_store
    fault_alive sim || start_sim
done

qs_step "let the last simulate finish (at most ${FINISH_LIMIT}s)"
fault_wait_sim "$FINISH_LIMIT" 45
qs_running broker || qs_fail "qs-broker died without being killed"
qs_running store || qs_fail "qs-store died without being killed"
(( FAULT_RC == 0 )) || qs_fail "the last simulate exited $FAULT_RC:"$'\n'"$(tail -n 30 "$QS_TMP/sim.log")"
qs_info "simulate ran $SIM_RUNS times; last run: $(jq -c 'del(.expected_latest)' "$SIM_OUT" 2>/dev/null)"
qs_expect_eq "simulate .acked" "$(qs_json_get "$SIM_OUT" .acked)" "$MESSAGES"
qs_expect_eq "simulate .rejected" "$(qs_json_get "$SIM_OUT" .rejected)" 0

qs_step "stop the daemons cleanly, then inspect store.db"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"

integrity=$(fault_sql "$STORE_DB" "PRAGMA integrity_check")
qs_expect_eq "store.db integrity_check" "$integrity" ok

bad=$(fault_exactly_once_violations)
[[ -z $bad ]] || qs_fail "clients whose history is not serials 1..n exactly once with low_water = n"$'\n'"(client_id low_water rows distinct min max):"$'\n'"$(head -n 20 <<<"$bad")"
n_clients=$(fault_sql "$STORE_DB" "SELECT COUNT(*) FROM clients")
qs_expect_eq "clients in store.db" "$n_clients" "$CLIENTS"
rows=$(fault_sql "$STORE_DB" "SELECT COUNT(*) FROM ($(fault_history_sql))")
qs_expect_eq "history rows over all partitions" "$rows" "$MESSAGES"
seen=$(fault_sql "$STORE_DB" "SELECT COUNT(*) FROM seen")
qs_expect_eq "serials left in seen (all should be below low_water)" "$seen" 0
store_counts=$(fault_sql "$STORE_DB" "SELECT low_water FROM clients ORDER BY low_water" | tr '\n' ' ')
sim_counts=$(fault_sql "$QS_HOME/sim/state.db" "SELECT count FROM clients ORDER BY count" | tr '\n' ' ')
qs_expect_eq "per-client message counts (store low_water vs simulator)" "$store_counts" "$sim_counts"
unacked=$(fault_sql "$QS_HOME/sim/state.db" "SELECT COUNT(*) FROM clients WHERE acked < count")
qs_expect_eq "simulated clients with unacked messages" "$unacked" 0

qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$MESSAGES"
qs_expect_eq "stats .history_rows" "$(qs_stat .history_rows)" "$MESSAGES"
rejected=$(jq '[.rejected // {} | .[]] | add // 0' "$QS_TMP/stats.json")
qs_expect_eq "stats rejected (sum)" "$rejected" 0
dups=$(qs_stat .duplicates)

total_kills=$(( KILLS[store] + KILLS[broker] + KILLS[producer] + KILLS[all] ))
qs_info "kills: store ${KILLS[store]}, broker ${KILLS[broker]}, producer ${KILLS[producer]}, all three ${KILLS[all]} ($total_kills rounds, $in_flight_kills with messages in flight); simulate runs $SIM_RUNS"
qs_info "duplicates dropped by the store: $dups"
(( KILLS[store] + KILLS[all] >= 1 && KILLS[broker] + KILLS[all] >= 1 && KILLS[producer] + KILLS[all] >= 1 )) ||
    qs_fail "not every kind of process was killed (raise QS_FAULT_MESSAGES)"
(( in_flight_kills >= ROUNDS / 2 )) ||
    qs_fail "only $in_flight_kills of $ROUNDS kills hit a run with messages in flight (raise QS_FAULT_MESSAGES)"
(( dups > 0 )) ||
    qs_fail "stats .duplicates is 0 after $total_kills kills: resends of acked-but-unrecorded batches should have been dropped as duplicates"
echo "fault_crash_fleet: PASS ($MESSAGES messages exactly once after $total_kills kill rounds, $dups duplicates dropped, $(( $(date +%s) - test_start )) s)"
