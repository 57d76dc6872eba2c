#!/usr/bin/env bash
# broker_failover.sh - fault: a site with two brokers; SIGKILL of one loses
# nothing, and the producers it served resume on the other within the
# failover timeout (issue 13, "No single broker either").
#
# A fresh site (policy k=1) whose quietstate.conf names two brokers:
#   frontend = tcp://127.0.0.1:FA tcp://127.0.0.1:FB
#   backend  = tcp://127.0.0.1:BA tcp://127.0.0.1:BB
# qs-broker --instance 1 and --instance 2 run from the one home; one qs-store
# connects a worker socket to both backends (SQLite allows one qs-store per
# store.db). Profiles from `qsctl enroll` name both frontends.
#   - RUNS `qs-producer run --failover-ms F` producers (at least two of them
#     starting on broker 1: a client starts at broker (key byte 0) mod 2),
#     each fed by a loop of REPORTS `qs-producer report`s;
#   - `qs-producer simulate --failover-ms F`: CLIENTS clients, MESSAGES
#     messages in batches of BATCH, spread over both brokers.
# Once the fleet has MESSAGES/10 acked and the feeders are under way, broker 1
# is SIGKILLed. Then:
#   - simulate exits 0 (every message acked), each run producer's outbox
#     empties, and store.db holds every client's serials 1..n exactly once
#     with low_water = n; qsctl stats: stored = history_rows = all messages;
#   - every run producer that was on broker 1 logged its failover to broker
#     2 and its next accepted ack ("store is accepting messages") within
#     F + SLACK ms of the kill (SLACK is generous: the machine is shared; the
#     bound that matters is that a producer does not wait for its reply
#     timeout, backoff or a restart of broker 1, which never comes);
#   - simulate logged clients failing over; broker 2 kept its counters in
#     DIR/broker-2.stats.
# A broker that is needed for delivery would show as simulate timing out;
# a lost batch as a missing serial; a resend stored twice as a duplicate row.
#
# Usage: tests/fault/broker_failover.sh [BUILD_DIR]   (or QS_BIN_DIR / QSCTL=... env)
# Knobs: QS_FAULT_CLIENTS (20), QS_FAULT_MESSAGES (100000), QS_FAULT_BATCH (5),
#        QS_FAULT_RUNS (4), QS_FAULT_REPORTS (80), QS_FAULT_FAILOVER_MS (2000),
#        QS_FAULT_SEED.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

CLIENTS=${QS_FAULT_CLIENTS:-20}
MESSAGES=${QS_FAULT_MESSAGES:-400000}
BATCH=${QS_FAULT_BATCH:-5}
RUNS=${QS_FAULT_RUNS:-4}
REPORTS=${QS_FAULT_REPORTS:-80}
F=${QS_FAULT_FAILOVER_MS:-2000}
SLACK=10000         # ms on top of F for a loaded 2-core machine
SIM_LIMIT=240       # seconds for simulate to finish after the kill

fault_setup "${1:-}"

qs_step "two brokers on one home, one qs-store serving both"
FA=$QS_FRONT_PORT BA=$QS_BACK_PORT
qs_free_port FB
qs_free_port BB
sed -i -e "s|^frontend = .*|frontend = tcp://127.0.0.1:$FA tcp://127.0.0.1:$FB|" \
       -e "s|^backend = tcp://.*|backend = tcp://127.0.0.1:$BA, tcp://127.0.0.1:$BB|" \
       "$QS_HOME/quietstate.conf"
grep -q "^frontend = tcp://127.0.0.1:$FA tcp://127.0.0.1:$FB$" "$QS_HOME/quietstate.conf" ||
    qs_fail "could not write the broker lists into quietstate.conf"
# Without --instance a broker of a list does not know which one it is.
qs_expect_rc 1 "$QS_TMP/noinstance.out" "$QS_BROKER" --home "$QS_HOME"
grep -q -- "--instance" "$QS_TMP/noinstance.out.err" ||
    qs_fail "qs-broker without --instance does not say to pass it:"$'\n'"$(cat "$QS_TMP/noinstance.out.err")"
qs_expect_rc 2 "$QS_TMP/badinstance.out" "$QS_BROKER" --home "$QS_HOME" --instance 9
start_broker() {   # start_broker N FRONT_PORT BACK_PORT
    qs_start "broker$1" "$QS_BROKER" --home "$QS_HOME" --instance "$1"
    qs_wait_listen "$2" 20 || qs_fail "qs-broker --instance $1 does not listen on port $2"
    qs_wait_listen "$3" 20 || qs_fail "qs-broker --instance $1 does not listen on port $3"
}
start_broker 1 "$FA" "$BA"
start_broker 2 "$FB" "$BB"
qs_start store "$QS_STORE" --home "$QS_HOME"
qs_wait_connected "$BA" 20 || qs_fail "qs-store did not connect to broker 1's backend"
qs_wait_connected "$BB" 20 || qs_fail "qs-store did not connect to broker 2's backend"
qs_wait_log "$QS_TMP/broker1.log" "store worker joined" 20 || qs_fail "broker 1 saw no store worker"
qs_wait_log "$QS_TMP/broker2.log" "store worker joined" 20 || qs_fail "broker 2 saw no store worker"

qs_step "enroll run producers (profiles name both brokers) until two start on broker 1"
names=() on1=() on2=()
for ((i = 1; i <= 16 && (${#names[@]} < RUNS || ${#on1[@]} < 2); i++)); do
    qs_enroll "p$i"
    prof=$(qs_profile "p$i")
    grep -q "^endpoint = tcp://127.0.0.1:$FA tcp://127.0.0.1:$FB$" "$prof" ||
        qs_fail "qsctl enroll did not write both brokers into the profile:"$'\n'"$(grep endpoint "$prof")"
    # sender.h: a client starts at broker (key bytes 0 and 1) mod n: byte 0's parity for two.
    if (( $(( 16#$(fault_profile_pk "$prof" | cut -c1-2) )) % 2 == 0 )); then
        on1+=("p$i")
    else
        on2+=("p$i")
    fi
    names+=("p$i")
done
(( ${#on1[@]} >= 2 )) || qs_fail "no two of 16 enrolled clients start on broker 1 (key byte 0 even)"
qs_info "run producers on broker 1: ${on1[*]}; on broker 2: ${on2[*]:-none}"

report_args() {   # report_args I
    echo --topic-type 500 --topic-id "KB$((5003000 + $1 % 20))" --state $((1 + $1 % 3)) \
        --machine "PC-$1" --domain CORP
}
feeder() {   # feeder NAME: REPORTS reports, about 20 a second
    local name=$1 i
    for ((i = 1; i <= REPORTS; i++)); do
        # shellcheck disable=SC2046
        "$QS_PRODUCER" --profile "$(qs_profile "$name")" --outbox "$(qs_outbox "$name")" \
            report $(report_args "$i") >/dev/null || exit 1
        sleep 0.05
    done
}

qs_step "simulate ($CLIENTS clients, $MESSAGES messages) and ${#names[@]} run producers, failover ${F} ms"
fault_bg sim "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" --clients "$CLIENTS" \
    --messages "$MESSAGES" --batch "$BATCH" --timeout $((SIM_LIMIT + 60)) --format json \
    --failover-ms "$F"
for n in "${names[@]}"; do
    qs_start "run-$n" "$QS_PRODUCER" --profile "$(qs_profile "$n")" --outbox "$(qs_outbox "$n")" \
        run --failover-ms "$F"
    fault_bg "feed-$n" /dev/null feeder "$n"
done

qs_step "SIGKILL broker 1 while messages flow"
qs_wait_until 120 "simulate to have $((MESSAGES / 10)) acked" \
    bash -c "(( \$(sqlite3 -readonly -cmd '.timeout 5000' '$QS_HOME/sim/state.db' \
              'SELECT IFNULL(SUM(acked), 0) FROM clients' 2>/dev/null || echo 0) >= $((MESSAGES / 10)) ))" ||
    qs_fail "simulate did not get $((MESSAGES / 10)) acked within 120 s"
fault_alive sim || qs_fail "simulate finished before the kill: raise QS_FAULT_MESSAGES"
kill_ms=$(fault_now_ms)
fault_kill broker1
qs_info "killed broker 1 at $(fault_sim_acked) acked by simulate"

qs_step "everything is delivered through broker 2"
fault_wait_sim "$SIM_LIMIT" 60
qs_expect_eq "simulate exit status" "$FAULT_RC" 0
for n in "${names[@]}"; do
    fault_reap "feed-$n"
    (( FAULT_RC == 0 )) || qs_fail "the feeder of $n failed (exit $FAULT_RC): $(tail -n 3 "$QS_TMP/feed-$n.log")"
done
total_runs=0
for n in "${names[@]}"; do
    ob=$(qs_outbox "$n")
    qs_wait_until 60 "$n's outbox to empty" \
        bash -c "[[ \$(sqlite3 -readonly -cmd '.timeout 5000' '$ob' 'SELECT COUNT(*) FROM outbox') == 0 ]]" ||
        qs_fail "$n still has messages pending 60 s after its feeder ended:"$'\n'"$(tail -n 10 "$QS_TMP/run-$n.log")"
    qs_stop "run-$n" 10 || qs_fail "run of $n exited $QS_STOP_RC on SIGTERM"
    total_runs=$(( total_runs + $(fault_sql "$ob" "SELECT next_serial FROM meta") - 1 ))
done
qs_stop broker2 10 || qs_fail "broker 2 exited $QS_STOP_RC on SIGTERM"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
[[ -s $QS_HOME/broker-2.stats ]] || qs_fail "broker 2 did not keep its counters in broker-2.stats"
total=$(( MESSAGES + total_runs ))
bad=$(fault_exactly_once_violations)
[[ -z $bad ]] || qs_fail "history is not serials 1..n exactly once (client_id low_water rows distinct min max):"$'\n'"$bad"
qs_stats
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$total"
qs_expect_eq "stats .history_rows" "$(qs_stat .history_rows)" "$total"
qs_expect_eq "stats .rejected (kinds)" "$(jq '.rejected | length' "$QS_TMP/stats.json")" 0

qs_step "the producers of broker 1 resumed within the failover timeout"
# A log line's time: 2026-12-02T14:29:14.123Z -> ms since the epoch.
line_ms() { date -d "$(cut -d' ' -f1 <<<"$1" | sed 's/T/ /; s/Z$/ UTC/')" +%s%3N; }
worst=0
for n in "${on1[@]}"; do
    log="$QS_TMP/run-$n.log"
    fo=$(grep -m1 "failing over to 'tcp://127.0.0.1:$FB'" "$log" || true)
    [[ -n $fo ]] || qs_fail "$n (on broker 1) logged no failover to broker 2:"$'\n'"$(tail -n 10 "$log")"
    fo_ms=$(line_ms "$fo")
    ok=$(awk -v t="$(cut -d' ' -f1 <<<"$fo")" '$1 >= t && /store is accepting messages/ { print; exit }' "$log")
    [[ -n $ok ]] || qs_fail "$n never had an ack accepted after failing over:"$'\n'"$(tail -n 10 "$log")"
    ok_ms=$(line_ms "$ok")
    qs_info "$n: failed over $((fo_ms - kill_ms)) ms after the kill, next ack accepted after $((ok_ms - kill_ms)) ms"
    (( ok_ms - kill_ms <= F + SLACK )) ||
        qs_fail "$n resumed $((ok_ms - kill_ms)) ms after the kill, more than the failover timeout $F ms + $SLACK ms"
    (( ok_ms - kill_ms > worst )) && worst=$((ok_ms - kill_ms))
done
grep -q "clients failed over to another broker" "$QS_TMP/sim.log" ||
    qs_fail "simulate logged no client failing over:"$'\n'"$(tail -n 10 "$QS_TMP/sim.log")"
echo "fault_broker_failover: PASS ($total messages exactly once through a SIGKILL of 1 of 2 brokers; producers of the killed broker resumed within $worst ms, failover timeout $F ms; $(qs_stat .duplicates) duplicates dropped)"
