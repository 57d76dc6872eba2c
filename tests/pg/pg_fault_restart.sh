#!/usr/bin/env bash
# pg_fault_restart.sh - fault: PostgreSQL restarted, and killed then started, under two workers.
#
# A PostgreSQL site runs one qs-broker and two qs-store workers while
# `qs-producer simulate` delivers MESSAGES messages. Mid-run the server is
# restarted (pg_ctl restart -m fast: every session terminated), later
# killed with SIGKILL and, after a pause during which it is unreachable,
# started again. The workers must answer RETRY_LATER while it is gone
# (never crash), log one line per outage (not one per group), reconnect
# with backoff, prepare their statements again and go on.
#
# Checks once simulate has everything acked and the workers stopped:
#   - both workers are the processes started at the beginning (no crash);
#   - each logged one failed commit per outage (<= 2, >= 1: the first line
#     of an outage, not one per group) and as many "reconnected" lines;
#   - the producers were answered RETRY_LATER (the broker's notices or the
#     workers' retries counters), and every message is stored exactly once:
#     serials 1..n per client, stored = history rows = MESSAGES,
#     compliance_counts = latest grouped = the simulator's states.
#
# Usage: tests/pg/pg_fault_restart.sh [BUILD_DIR]
# Knobs: QS_PG_CLIENTS (30), QS_PG_MESSAGES (300000), QS_PG_BATCH (5), QS_PG_DOWN_MS (2000).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../fault/fault_lib.sh"
source "$here/pg_lib.sh"
source "$here/pg_e2e_lib.sh"

CLIENTS=${QS_PG_CLIENTS:-30}
MESSAGES=${QS_PG_MESSAGES:-300000}   # two workers take ~30k/s: the faults must land mid-run
BATCH=${QS_PG_BATCH:-5}
DOWN_MS=${QS_PG_DOWN_MS:-2000}

pge_setup "${1:-}"

# Start the cluster of pg_start again after pg_kill: the orphaned backends
# of the killed postmaster may hold its shared memory for a moment.
pg_start_again() {
    local i
    for i in $(seq 1 60); do
        pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 start \
            >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    qs_fail "PostgreSQL does not start again after SIGKILL:"$'\n'"$(tail -n 20 "$PG_DIR/server.log")"
}

# Wait until at least N more messages are acked than now.
wait_progress() {
    local want=$(( $(fault_sim_acked) + $1 )) i
    for i in $(seq 1 300); do
        (( $(fault_sim_acked) >= want )) && return 0
        fault_alive sim || return 0
        sleep 0.1
    done
    qs_fail "no progress: $(fault_sim_acked) acked, waited for $want"
}

qs_step "broker, two workers, simulate ($CLIENTS clients, $MESSAGES messages, batches of $BATCH)"
pge_start_broker
pge_start_worker store1
pge_start_worker store2
sleep 0.5
pid1=${QS_DAEMON_PID[store1]}
pid2=${QS_DAEMON_PID[store2]}
fault_bg sim "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" --clients "$CLIENTS" \
    --messages "$MESSAGES" --batch "$BATCH" --timeout 300 --format json

qs_step "restart PostgreSQL (fast: sessions terminated) mid-run"
wait_progress 2000
before=$(fault_sim_acked)
pg_restart || qs_fail "pg_ctl restart failed"
qs_info "restarted at $before/$MESSAGES acked"

qs_step "SIGKILL PostgreSQL, keep it down ${DOWN_MS} ms, start it again"
wait_progress 2000
before=$(fault_sim_acked)
pg_kill
fault_sleep_ms "$DOWN_MS"
down=$(fault_sim_acked)
pg_start_again
qs_info "killed at $before/$MESSAGES acked, $down acked while down, started again"
fault_alive sim || qs_warn "simulate finished before the server came back: the workload is too small"

qs_step "let simulate finish"
fault_wait_sim 240 60
(( FAULT_RC == 0 )) || qs_fail "simulate exited $FAULT_RC:"$'\n'"$(tail -n 30 "$QS_TMP/sim.log")"
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
qs_running store1 && qs_running store2 || qs_fail "a worker died during the outages"
qs_expect_eq "store1's pid" "${QS_DAEMON_PID[store1]}" "$pid1"
qs_expect_eq "store2's pid" "${QS_DAEMON_PID[store2]}" "$pid2"
qs_stop store1 15 || qs_fail "store1 exited $QS_STOP_RC on SIGTERM"
qs_stop store2 15 || qs_fail "store2 exited $QS_STOP_RC on SIGTERM"

qs_step "one log line per outage, reconnected after each"
for w in store1 store2; do
    lost=$(grep -c 'commit failed, answering RETRY_LATER' "$QS_TMP/$w.log" || true)
    back=$(grep -c 'reconnected to PostgreSQL' "$QS_TMP/$w.log" || true)
    qs_info "$w: $lost outages logged, $back reconnections"
    (( lost >= 1 && lost <= 2 )) || qs_fail "$w logged a failed commit $lost times for 2 outages:"$'\n'"$(grep -E 'reconnect|commit failed|writable' "$QS_TMP/$w.log" | head -n 20)"
    (( back >= 1 && back <= 2 )) || qs_fail "$w reconnected $back times after 2 outages"
done
retries=$(pge_counter retries.RETRY_LATER)
qs_info "RETRY_LATER answers counted by the workers: $retries"
(( retries > 0 )) || qs_fail "no group was answered RETRY_LATER during the outages"

qs_step "every message stored exactly once"
bad=$(pge_exactly_once_violations)
[[ -z $bad ]] || qs_fail "clients whose history is not 1..n once each with low_water = n and seen empty"$'\n'"(client_id low_water rows distinct min max seen):"$'\n'"$(head -n 20 <<<"$bad")"
qs_expect_eq "counter stored" "$(pge_counter stored)" "$MESSAGES"
qs_expect_eq "history rows" "$(pge_history_rows)" "$MESSAGES"
qs_expect_eq "compliance_counts mismatches" "$(pge_counts_mismatch)" 0
pge_sql "SELECT topic_type, topic_id, state_id, sum(count) FROM compliance_counts
         GROUP BY 1, 2, 3 HAVING sum(count) <> 0 ORDER BY 1, 2, 3" | sort >"$QS_TMP/got.txt"
jq -r '.expected_latest[] | "\(.topic_type)|\(.topic_id)|\(.state_id)|\(.count)"' \
    "$QS_TMP/sim.json" | sort >"$QS_TMP/want.txt"
cmp -s "$QS_TMP/got.txt" "$QS_TMP/want.txt" ||
    qs_fail "compliance counts differ from the simulator's expected latest:"$'\n'"$(diff "$QS_TMP/want.txt" "$QS_TMP/got.txt" | head -n 30)"
qs_step "ok"
