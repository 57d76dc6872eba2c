#!/usr/bin/env bash
# pg_netns.sh - several hosts: PostgreSQL, two brokers, two store workers and
# the producers each in a network namespace of the test's own; SIGKILL of a
# worker and of a broker mid-run; every message stored exactly once.
#
# Hosts (network namespaces joined by a bridge, 10.77.N.0/24, N from the
# test's pid; the root namespace is 10.77.N.254 to read the results):
#   db    .1   PostgreSQL (pg_lib.sh: PG_TCP_ADDR/PG_TCP_PORT, trust on TCP)
#   brk1  .2   qs-broker --instance 1      brk2 .3   qs-broker --instance 2
#   w1    .4   qs-store (worker "store")   w2   .5   qs-store ("store2")
#   prod  .6   qs-producer simulate --failover-ms F
# Every process reads the one site home (namespaces share the file system;
# real hosts each get a copy of keys/ and quietstate.conf: docs/scale.md).
# The workers reach the database and both brokers over TCP only.
# While simulate delivers CLIENTS x MESSAGES: worker w1 is SIGKILLed at a
# quarter (and restarted), broker 1 at a half (not restarted: its producers
# fail over to broker 2). Then: simulate exits 0 with every message acked;
# every client's serials 1..n are stored exactly once with low_water = n;
# qsctl stats: stored = history rows = MESSAGES; both workers committed.
# Needs root (ip netns, veth, bridge): exits 77 (SKIP in CTest) otherwise.
# Usage: tests/pg/pg_netns.sh [BUILD_DIR]   (or QS_BIN_DIR / QSCTL=... env)
# Knobs: QS_NETNS_CLIENTS (20), QS_NETNS_MESSAGES (200000), QS_FAULT_SEED.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../fault/fault_lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh"

CLIENTS=${QS_NETNS_CLIENTS:-20}
MESSAGES=${QS_NETNS_MESSAGES:-200000}   # the kills must land mid-run at ~30k/s
F=2000              # producers' failover timeout, ms
SIM_LIMIT=240       # seconds for simulate

skip() { echo "pg_netns: SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root to make network namespaces"
command -v ip >/dev/null || skip "the ip command (iproute2) is missing"
qs_need_cmd jq psql sqlite3
qs_find_bins "${1:-${QS_BIN_DIR:-${QS_BUILD_DIR:-}}}"
export QS_TEST_ENGINE=pg     # fault_sql reads the database through psql

TAG=$(( $$ % 200 + 20 ))
NET=10.77.$TAG
BR=qsbr$TAG
NS_NAMES=(db brk1 brk2 w1 w2 prod)
declare -A ADDR=([db]=1 [brk1]=2 [brk2]=3 [w1]=4 [w2]=5 [prod]=6)
ns() { echo "qs$TAG-$1"; }

netns_cleanup() {
    local n name
    for name in "${!QS_DAEMON_PID[@]}"; do kill -KILL "${QS_DAEMON_PID[$name]}" 2>/dev/null || true; done
    pg_stop 2>/dev/null || true
    for n in "${NS_NAMES[@]}"; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
    ip link del "$BR" 2>/dev/null || true
}

qs_tmp_new
qs_on_exit netns_cleanup
qs_step "hosts: ${NS_NAMES[*]} as network namespaces on bridge $BR ($NET.0/24)"
ip netns add "$(ns probe)" 2>/dev/null || skip "ip netns add is not permitted here"
ip netns del "$(ns probe)"
ip link add "$BR" type bridge || qs_fail "cannot make bridge $BR"
ip addr add "$NET.254/24" dev "$BR"
ip link set "$BR" up
for n in "${NS_NAMES[@]}"; do
    ip netns add "$(ns "$n")"
    ip link add "v$TAG$n" type veth peer name eth0 netns "$(ns "$n")"
    ip link set "v$TAG$n" master "$BR" up
    ip -n "$(ns "$n")" addr add "$NET.${ADDR[$n]}/24" dev eth0
    ip -n "$(ns "$n")" link set eth0 up
    ip -n "$(ns "$n")" link set lo up
done
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

qs_step "PostgreSQL on host db ($NET.1)"
pg_find_bin || qs_fail "no PostgreSQL server"
PG_PORT=5432
# pg_start inside the namespace: the postmaster it forks stays there.
in_ns db env PG_TCP_PORT=$PG_PORT PG_TCP_ADDR="$NET.1" bash -c \
    "source '$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh' && pg_start '$QS_TMP'" \
    >"$QS_TMP/pg_start.out" 2>&1 || qs_fail "pg_start in host db failed: $(tail -n 20 "$QS_TMP/pg_start.out")"
PG_DIR=$QS_TMP/pg
PG_OWNER=postgres; getent passwd postgres >/dev/null || PG_OWNER=nobody
QS_STORE_URL="postgresql://$NET.1:$PG_PORT/quietstate?user=qs&connect_timeout=5"
PG_URL=$QS_STORE_URL
psql -X -q -A -t "$QS_STORE_URL" -c "SELECT 1" >/dev/null || qs_fail "the root namespace cannot reach $QS_STORE_URL"
in_ns w2 bash -c "exec 3<>/dev/tcp/$NET.1/$PG_PORT" || qs_fail "host w2 cannot reach the database over TCP"

qs_step "one site home: two brokers, TCP database"
QS_HOME=$QS_TMP/site
FRONT="tcp://$NET.2:5570 tcp://$NET.3:5570"
BACK="tcp://$NET.2:5571, tcp://$NET.3:5571"
"$QSCTL" init --home "$QS_HOME" --frontend "tcp://$NET.2:5570" --backend "tcp://$NET.2:5571" \
    --database "$QS_STORE_URL" >"$QS_TMP/init.out" 2>&1 || qs_fail "qsctl init failed: $(cat "$QS_TMP/init.out")"
sed -i -e "s|^frontend = .*|frontend = $FRONT|" -e "s|^backend = tcp://.*|backend = $BACK|" \
    "$QS_HOME/quietstate.conf"
grep -q "^frontend = $FRONT$" "$QS_HOME/quietstate.conf" || qs_fail "cannot write the broker lists"
QS_FRONT_PORT=5570
STORE_DB=$QS_HOME/store.db     # no such file: fault_sql sends its queries to PostgreSQL
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as pg-netns

start_broker() { qs_start "broker$1" ip netns exec "$(ns "brk$1")" "$QS_BROKER" --home "$QS_HOME" --instance "$1"; }
start_worker() { qs_start "$1" ip netns exec "$(ns "$2")" "$QS_STORE" --home "$QS_HOME"; }
start_broker 1
start_broker 2
start_worker store w1
start_worker store2 w2
sleep 1
for d in broker1 broker2 store store2; do qs_running "$d" || qs_fail "$d died at start"; done

qs_step "simulate from host prod: $CLIENTS clients, $MESSAGES messages"
fault_bg sim "$QS_TMP/sim.json" ip netns exec "$(ns prod)" "$QS_PRODUCER" simulate \
    --home "$QS_HOME" --clients "$CLIENTS" --messages "$MESSAGES" --batch 5 \
    --timeout "$SIM_LIMIT" --failover-ms "$F" --format json
wait_acked() {   # wait_acked N: until simulate saved N acked (or it ended)
    qs_wait_until 120 "simulate to reach $1 acked" \
        bash -c "(( \$(sqlite3 -readonly '$QS_HOME/sim/state.db' 'SELECT IFNULL(SUM(acked),0) FROM clients' 2>/dev/null || echo 0) >= $1 ))" ||
        qs_fail "simulate did not reach $1 acked in 120 s ($(fault_sim_acked) acked)"
}
wait_acked $((MESSAGES / 4))
qs_info "SIGKILL of worker store (host w1) at $(fault_sim_acked) acked; restart in 1 s"
fault_kill store
sleep 1
start_worker store w1
wait_acked $((MESSAGES / 2))
before=$(fault_sim_acked)
(( before < MESSAGES )) || qs_fail "simulate finished before broker 1 was killed: raise QS_NETNS_MESSAGES"
qs_info "SIGKILL of broker 1 (host brk1) at $before acked; not restarted"
fault_kill broker1

qs_step "simulate finishes through broker 2"
fault_wait_sim "$SIM_LIMIT" 60
(( FAULT_RC == 0 )) || qs_fail "simulate exited $FAULT_RC:"$'\n'"$(tail -n 20 "$QS_TMP/sim.log")"
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
grep -qi "fail" "$QS_TMP/sim.log" || qs_warn "simulate logged no failover (its clients may all have been on broker 2)"

qs_step "exact counts"
qs_stop store2 10 || qs_fail "store2 exited $QS_STOP_RC on SIGTERM"
qs_stop store 10 || qs_fail "store exited $QS_STOP_RC on SIGTERM"
qs_stop broker2 10 || qs_fail "broker 2 exited $QS_STOP_RC on SIGTERM"
bad=$(fault_exactly_once_violations)
[[ -z $bad ]] || qs_fail "clients whose history is not 1..n exactly once (client_id low_water rows distinct min max):"$'\n'"$(head -n 20 <<<"$bad")"
qs_expect_eq "history rows" "$(fault_sql "$STORE_DB" "SELECT COUNT(*) FROM ($(fault_history_sql))")" "$MESSAGES"
qs_expect_eq "serials left in seen" "$(fault_sql "$STORE_DB" "SELECT COUNT(*) FROM seen")" 0
qs_stats
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$MESSAGES"
qs_expect_eq "stats .history_rows" "$(qs_stat .history_rows)" "$MESSAGES"
stored2=$(sed -n 's/.*stats: .* \([0-9][0-9]*\) stored,.*/\1/p' "$QS_TMP/store2.log" | tail -n 1)
(( ${stored2:-0} > 0 )) || qs_fail "worker store2 (host w2) stored nothing: the work was not shared"
qs_info "worker store2 stored ${stored2}; duplicates dropped $(qs_stat .duplicates)"
echo "pg_netns: PASS ($MESSAGES messages exactly once across 6 hosts, after SIGKILL of a worker and of a broker)"
