#!/usr/bin/env bash
# pg_fault_kill.sh - fault: SIGKILL one of two qs-store workers mid-transaction, again and again.
#
# A PostgreSQL site (qsctl init --database) runs one qs-broker and two
# workers; `qs-producer simulate` delivers MESSAGES messages from CLIENTS
# clients in small batches. Worker "victim" runs with PGAPPNAME=qs-victim so
# that its session can be watched in pg_stat_activity: each of ROUNDS
# rounds waits until that session is inside a transaction (active, or idle
# in transaction between two pipeline segments), SIGKILLs the worker at
# once and restarts it after a random pause. Worker "steady" is never
# touched. The server rolls the victim's transaction back (its client row
# locks go with it); the producers resend what was not acked.
#
# Checks once simulate has everything acked and both workers stopped:
#   - per client: serials 1..n in history exactly once, low_water = n,
#     seen empty; stored counter = history rows = partitions' rows =
#     MESSAGES; compliance_counts = latest grouped = the simulator's states;
#   - most kills landed inside a transaction (the schedule did what it says).
#
# Usage: tests/pg/pg_fault_kill.sh [BUILD_DIR]
# Knobs: QS_PG_CLIENTS (30), QS_PG_MESSAGES (300000), QS_PG_BATCH (2),
#        QS_PG_ROUNDS (10), QS_FAULT_SEED.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../fault/fault_lib.sh"
source "$here/pg_lib.sh"
source "$here/pg_e2e_lib.sh"

CLIENTS=${QS_PG_CLIENTS:-30}
MESSAGES=${QS_PG_MESSAGES:-300000}   # two workers take ~30k/s: the faults must land mid-run
BATCH=${QS_PG_BATCH:-2}
ROUNDS=${QS_PG_ROUNDS:-10}

FAULT_SEED=${QS_FAULT_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$FAULT_SEED
pge_setup "${1:-}"
qs_info "seed $FAULT_SEED (QS_FAULT_SEED=$FAULT_SEED replays the pauses)"

start_victim() { PGAPPNAME=qs-victim qs_start victim "$QS_STORE" --home "$QS_HOME"; }
# The victim's session state: "active", "idle in transaction", "idle" or "".
victim_state() {
    pge_sql "SELECT state FROM pg_stat_activity WHERE application_name = 'qs-victim'" 2>/dev/null |
        head -n 1
}
in_txn() { [[ $(victim_state) == active || $(victim_state) == "idle in transaction" ]]; }

qs_step "broker, two workers, simulate ($CLIENTS clients, $MESSAGES messages, batches of $BATCH)"
pge_start_broker
pge_start_worker steady
start_victim
sleep 0.5
fault_bg sim "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" --clients "$CLIENTS" \
    --messages "$MESSAGES" --batch "$BATCH" --timeout 300 --format json

qs_step "SIGKILL the victim inside its transactions, $ROUNDS times"
mid=0
kills=0
for round in $(seq 1 "$ROUNDS"); do
    fault_alive sim || break
    fault_sleep_ms "$(fault_rand 100 600)"
    # Poll its session (psql takes a few ms: a busy worker is caught often).
    caught=""
    for i in $(seq 1 100); do
        if in_txn; then caught=1; break; fi
        fault_alive sim || break
    done
    fault_kill victim
    kills=$((kills + 1))
    [[ -n $caught ]] && mid=$((mid + 1))
    pause=$(fault_rand 0 800)
    qs_info "round $round: killed the victim${caught:+ inside a transaction} at $(fault_sim_acked)/$MESSAGES acked; restart after ${pause} ms"
    fault_sleep_ms "$pause"
    start_victim
done
(( kills >= 3 )) || qs_fail "only $kills kills before simulate finished: the workload is too small"
(( mid * 2 >= kills )) || qs_fail "only $mid of $kills kills landed inside a transaction"

qs_step "let simulate finish"
fault_wait_sim 240 60
(( FAULT_RC == 0 )) || qs_fail "simulate exited $FAULT_RC:"$'\n'"$(tail -n 30 "$QS_TMP/sim.log")"
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
qs_running steady || qs_fail "the steady worker died"
qs_stop victim 15 || qs_fail "the victim exited $QS_STOP_RC on SIGTERM"
qs_stop steady 15 || qs_fail "the steady worker exited $QS_STOP_RC on SIGTERM"

qs_step "every message stored exactly once"
bad=$(pge_exactly_once_violations)
[[ -z $bad ]] || qs_fail "clients whose history is not 1..n once each with low_water = n and seen empty"$'\n'"(client_id low_water rows distinct min max seen):"$'\n'"$(head -n 20 <<<"$bad")"
qs_expect_eq "clients" "$(pge_sql 'SELECT count(*) FROM clients')" "$CLIENTS"
qs_expect_eq "counter stored" "$(pge_counter stored)" "$MESSAGES"
qs_expect_eq "history rows" "$(pge_history_rows)" "$MESSAGES"
qs_expect_eq "partitions.rows summed over shards" \
    "$(pge_sql 'SELECT coalesce(sum(rows), 0) FROM partitions')" "$MESSAGES"
qs_expect_eq "compliance_counts mismatches" "$(pge_counts_mismatch)" 0
pge_sql "SELECT topic_type, topic_id, state_id, sum(count) FROM compliance_counts
         GROUP BY 1, 2, 3 HAVING sum(count) <> 0 ORDER BY 1, 2, 3" | sort >"$QS_TMP/got.txt"
jq -r '.expected_latest[] | "\(.topic_type)|\(.topic_id)|\(.state_id)|\(.count)"' \
    "$QS_TMP/sim.json" | sort >"$QS_TMP/want.txt"
cmp -s "$QS_TMP/got.txt" "$QS_TMP/want.txt" ||
    qs_fail "compliance counts differ from the simulator's expected latest:"$'\n'"$(diff "$QS_TMP/want.txt" "$QS_TMP/got.txt" | head -n 30)"
qs_info "duplicates (resends after the kills): $(pge_counter duplicates); $mid of $kills kills inside a transaction"
qs_step "ok"
