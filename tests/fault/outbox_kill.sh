#!/usr/bin/env bash
# outbox_kill.sh - fault: the producer's outbox never loses a message that
# was not acked, whatever is SIGKILLed and when.
#
# A fresh site (policy k=1), one enrolled client (dave) with an outbox.
#   A. `qs-producer run` delivers while dave reports K messages one by one.
#      Between reports, at random points, qs-store, qs-broker or the run
#      process is SIGKILLed and restarted after a random pause (reports go
#      on while they are down). Every 25th report is itself SIGKILLed a few
#      milliseconds after it starts: it may or may not have appended, but it
#      never leaves a gap or half a message. Right after the last report,
#      run, broker and store are all SIGKILLed at once.
#      Checks: the outbox still holds every appended message the store has not
#      stored (pending >= appended - stored).
#   B. broker and store restart; `qs-producer flush` must exit 0 and deliver
#      everything: the store holds serials 1..N exactly once (N = every
#      appended message: the reports that exited 0, plus those killed ones
#      that got in), low_water = N, the outbox is empty.
#   C. with broker and store down, K2 more reports; `run` is started and
#      SIGKILLed with its batches sent into nowhere, then again against a
#      broker with no store (RETRY_LATER); then the store returns and
#      `flush` delivers all N + K2 exactly once. qsctl stats agrees.
# Usage: tests/fault/outbox_kill.sh [BUILD_DIR]   (or QS_BIN_DIR / QSCTL=... env)
# Knobs: QS_FAULT_OUTBOX_K (300), QS_FAULT_SEED.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

K=${QS_FAULT_OUTBOX_K:-300}
K2=100
KILL_ROUNDS=8

fault_setup "${1:-}"
qs_start_site
qs_enroll dave
sleep 0.5   # the broker reloads its key set every 200 ms
PROFILE=$(qs_profile dave)
OUTBOX=$(qs_outbox dave)

start_broker() {
    qs_start broker "$QS_BROKER" --home "$QS_HOME"
    qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND after a restart"
    qs_wait_listen "$QS_BACK_PORT" 20 || qs_fail "qs-broker does not listen on $QS_BACKEND after a restart"
}
start_store() { fault_start_workers; }   # store (and store2 on PostgreSQL)
start_run() { qs_start run "$QS_PRODUCER" --profile "$PROFILE" --outbox "$OUTBOX" run; }
report_args() {   # report_args I
    echo --topic-type 500 --topic-id "KB$((5002000 + $1 % 30))" --state $((1 + $1 % 3)) \
        --machine PC-DAVE --domain CORP
}
pending() { fault_sql "$OUTBOX" "SELECT COUNT(*) FROM outbox"; }
appended() { echo $(( $(fault_sql "$OUTBOX" "SELECT next_serial FROM meta") - 1 )); }
dave_lw() {
    local id
    id=$(fault_client_id "$PROFILE")
    [[ -n $id ]] && fault_sql "$STORE_DB" "SELECT low_water FROM clients WHERE client_id = $id" || echo 0
}

qs_step "A: run delivers while $K reports arrive; $KILL_ROUNDS random SIGKILLs of store/broker/run"
start_run
declare -A KILLED=([store]=0 [broker]=0 [run]=0)
kill_at=()
for ((r = 0; r < KILL_ROUNDS; r++)); do kill_at+=("$(fault_rand 10 $((K - 10)))"); done
ok=0 killed_reports=0
for ((i = 1; i <= K; i++)); do
    if (( i % 25 == 0 )); then
        # A report killed a few milliseconds in: it may or may not append.
        # shellcheck disable=SC2046
        "$QS_PRODUCER" --profile "$PROFILE" --outbox "$OUTBOX" report $(report_args "$i") \
            >/dev/null 2>>"$QS_TMP/report.err" &
        rp=$!
        fault_sleep_ms "$(fault_rand 0 4)"
        if { kill -KILL "$rp" && { wait "$rp" || true; }; } 2>/dev/null; then
            killed_reports=$((killed_reports + 1))
        else
            wait "$rp" && ok=$((ok + 1)) || qs_fail "report $i failed: $(tail -n 3 "$QS_TMP/report.err")"
        fi
    else
        # shellcheck disable=SC2046
        "$QS_PRODUCER" --profile "$PROFILE" --outbox "$OUTBOX" report $(report_args "$i") \
            >/dev/null 2>>"$QS_TMP/report.err" || qs_fail "report $i failed: $(tail -n 3 "$QS_TMP/report.err")"
        ok=$((ok + 1))
    fi
    for at in "${kill_at[@]}"; do
        (( at == i )) || continue
        case $(fault_rand 0 2) in 0) v=store ;; 1) v=broker ;; 2) v=run ;; esac
        fault_kill "$v"
        KILLED[$v]=$(( ${KILLED[$v]} + 1 ))
        pause=$(fault_rand 0 1500)
        qs_info "after report $i: killed $v ($(dave_lw) stored so far), restarting in ${pause} ms"
        fault_sleep_ms "$pause"
        qs_running broker || start_broker
        qs_running store || start_store
        fault_alive run || start_run
    done
done
# shellcheck disable=SC2046
fault_kill_all run broker $(fault_worker_names)
N=$(appended)
P=$(pending)
L=$(dave_lw)
qs_info "reports: $ok exited 0, $killed_reports SIGKILLed; outbox appended $N, pending $P; store has $L"
qs_info "kills: store ${KILLED[store]}, broker ${KILLED[broker]}, run ${KILLED[run]}, then all three"
(( N >= ok && N <= ok + killed_reports )) ||
    qs_fail "the outbox appended $N messages, expected $ok..$((ok + killed_reports))"
(( P >= N - L )) || qs_fail "the outbox holds $P messages but the store has only $L of $N: messages deleted without an ack"
qs_expect_eq "outbox serials are 1..$N with no gap" \
    "$(fault_sql "$OUTBOX" "SELECT COUNT(*) = MAX(serial) - MIN(serial) + 1 AND MAX(serial) = $N FROM outbox" | sed 's/^$/1/')" 1

qs_step "B: restart broker and store; flush delivers everything"
start_broker
start_store
qs_flush dave 60
qs_expect_eq "flush after the crash (exit)" "$QS_RC" 0
qs_expect_eq "outbox pending after flush" "$(pending)" 0
qs_expect_eq "dave's low_water" "$(dave_lw)" "$N"
bad=$(fault_exactly_once_violations)
[[ -z $bad ]] || qs_fail "history is not serials 1..n exactly once (client_id low_water rows distinct min max):"$'\n'"$bad"

qs_step "C: $K2 reports with the site down; run killed twice mid-flight; flush delivers"
fault_stop_workers
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
for ((i = 1; i <= K2; i++)); do
    # shellcheck disable=SC2046
    "$QS_PRODUCER" --profile "$PROFILE" --outbox "$OUTBOX" report $(report_args "$i") \
        >/dev/null 2>>"$QS_TMP/report.err" || qs_fail "report failed: $(tail -n 3 "$QS_TMP/report.err")"
done
start_run
sleep 1
fault_kill run            # its batches went to a broker that is not there
qs_expect_eq "outbox pending with no broker" "$(pending)" "$K2"
start_broker
start_run
sleep 2
fault_kill run            # it got RETRY_LATER and was backing off
qs_expect_eq "outbox pending with no store" "$(pending)" "$K2"
start_store
qs_flush dave 60
qs_expect_eq "flush after the store returned (exit)" "$QS_RC" 0
qs_expect_eq "outbox pending after flush" "$(pending)" 0
total=$((N + K2))
qs_expect_eq "dave's low_water" "$(dave_lw)" "$total"
bad=$(fault_exactly_once_violations)
[[ -z $bad ]] || qs_fail "history is not serials 1..n exactly once (client_id low_water rows distinct min max):"$'\n'"$bad"
qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$total"
qs_expect_eq "stats .history_rows" "$(qs_stat .history_rows)" "$total"
echo "fault_outbox_kill: PASS ($total messages, $((KILL_ROUNDS + 3)) kills of daemons/run, $killed_reports killed reports; all delivered exactly once, $(qs_stat .duplicates) duplicates dropped)"
