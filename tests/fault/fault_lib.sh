# fault_lib.sh - helpers shared by the fault tests (tests/fault/*.sh).
#
# Sourced, never run. Builds on scripts/lib.sh (site homes, free loopback
# ports, daemons with logs, the EXIT trap that kills whatever is still
# running) and adds what fault injection needs:
#
#   fault_setup [BUILD_DIR]   binaries, temp dir, fresh site, policy (k=1)
#   fault_kill NAME           SIGKILL a process started with qs_start/fault_bg
#                             and reap it (no zombie, no SIGTERM first)
#   fault_kill_all NAME...    the same for several at the same instant
#   fault_bg NAME OUT CMD...  start CMD in the background, stdout to OUT,
#                             stderr appended to $QS_TMP/NAME.log, tracked by
#                             the EXIT trap like a daemon
#   fault_reap NAME           wait for a tracked process that exited; sets
#                             FAULT_RC to its exit status
#   fault_sql DB SQL          read-only query (busy timeout 10 s)
#   fault_history_sql         a SELECT over the union of every history_*
#                             partition table of store.db
#   fault_exactly_once_violations [WHERE]
#                             one line per client breaking "serials 1..n
#                             stored once each and low_water = n"
#   fault_stored_counter      store.db's counters.stored (0 when unreadable)
#   fault_check_whole_txns WHAT
#                             fail unless a (crashed) store.db holds whole
#                             transactions only; sets CHECKED_ROWS
#   fault_client_id PROFILE   store.db client_id of a profile's key (empty
#                             while the store has never seen it)
#   fault_rss_kb PID          VmRSS of a process in kB (empty when gone)
#   fault_cpu_ticks PID       utime + stime of a process in clock ticks
#   fault_now_ms              wall clock in ms (UTC epoch, like the store's)
#   fault_wal_file            the file a commit writes: store.db-wal, or on
#                             PostgreSQL the cluster's current WAL segment
#   fault_kill_workers        SIGKILL every qs-store worker at once
#   fault_start_workers       start the missing ones again
#   fault_stop_workers        SIGTERM them all and wait
#
# QS_TEST_ENGINE=pg (scripts/lib.sh) runs the same tests on a PostgreSQL
# server of the test's own with two store workers: fault_sql then sends a
# query of $STORE_DB to the site's database through psql (IFNULL, hex(pk),
# PRAGMA integrity_check, sharded counters and an alias-less subquery
# translated), and the
# history helpers list PostgreSQL's history_* tables.
#
# Binaries: as scripts/lib.sh finds them (QSCTL, QS_BROKER, QS_STORE,
# QS_PRODUCER), else by name under the directory given as first argument,
# QS_BIN_DIR or QS_BUILD_DIR. A random seed is printed (QS_FAULT_SEED to
# replay one: the kill schedule depends on it).

# shellcheck shell=bash disable=SC2034

FAULT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib.sh
source "$FAULT_DIR/../../scripts/lib.sh"

fault_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

fault_setup() {
    qs_need_cmd jq sqlite3
    qs_find_bins "${1:-${QS_BIN_DIR:-${QS_BUILD_DIR:-}}}"
    FAULT_SEED=${QS_FAULT_SEED:-$(( $(date +%s%N) % 32768 ))}
    RANDOM=$FAULT_SEED
    qs_info "seed $FAULT_SEED (set QS_FAULT_SEED=$FAULT_SEED to replay the schedule)"
    qs_tmp_new
    qs_site_init
    STORE_DB="$QS_HOME/store.db"
    qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 \
        --as "$QS_LIB_NAME"
}

# fault_rand LO HI: a random integer in [LO, HI].
fault_rand() { echo $(( $1 + RANDOM % ($2 - $1 + 1) )); }

# fault_sleep_ms MS
fault_sleep_ms() { sleep "$(printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )))"; }

fault_bg() {
    local name=$1 out=$2
    shift 2
    "$@" >"$out" 2>>"$QS_TMP/$name.log" </dev/null &
    QS_DAEMON_PID[$name]=$!
    QS_DAEMON_LOG[$name]="$QS_TMP/$name.log"
}

fault_kill() {
    fault_kill_all "$1"
}

# fault_kill_all NAME...: SIGKILL them all at the same instant, then reap.
# (stderr of the block is dropped: bash reports a job killed by a signal
# on stderr at whatever moment it reaps it.)
fault_kill_all() {
    local name pids=()
    for name in "$@"; do
        [[ -n ${QS_DAEMON_PID[$name]:-} ]] && pids+=("${QS_DAEMON_PID[$name]}")
    done
    (( ${#pids[@]} )) || return 0
    {
        kill -KILL "${pids[@]}" || true
        for name in "${pids[@]}"; do wait "$name" || true; done
    } 2>/dev/null
    for name in "$@"; do unset "QS_DAEMON_PID[$name]"; done
}

fault_reap() {
    local pid=${QS_DAEMON_PID[$1]:-}
    FAULT_RC=0
    [[ -n $pid ]] || return 0
    wait "$pid" 2>/dev/null || FAULT_RC=$?
    unset "QS_DAEMON_PID[$1]"
}

# fault_alive NAME: true while a tracked process runs (an exited, unreaped
# child counts as gone).
fault_alive() {
    local pid=${QS_DAEMON_PID[$1]:-}
    [[ -n $pid ]] && ! qs__gone "$pid"
}

fault_sql() {
    if qs_engine_pg && [[ $1 == "$STORE_DB" ]]; then
        fault__pg_sql "$2"
        return
    fi
    sqlite3 -readonly -batch -noheader -cmd '.timeout 10000' "$1" "$2"
}

# fault__pg_sql SQL: the tests' SQLite dialect, as far as they use it, on
# PostgreSQL. integrity_check becomes amcheck over every B-tree index of the
# store (with its heap: bt_index_check(index, true)).
fault__pg_sql() {
    local sql=$1 re='^SELECT COUNT\(\*\) FROM \((.*)\)$'
    if [[ $sql == "PRAGMA integrity_check" ]]; then
        sql="CREATE EXTENSION IF NOT EXISTS amcheck;
             SELECT 'ok' FROM (SELECT count(bt_index_check(c.oid, true)) FROM pg_index i
               JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
               WHERE a.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace) x"
    fi
    [[ $sql =~ $re ]] && sql="SELECT COUNT(*) FROM (${BASH_REMATCH[1]}) AS q"
    sql=${sql//IFNULL(/COALESCE(}
    # counters has one row per name and worker shard (storedb_pg.h): sum them.
    sql=${sql//SELECT value FROM counters/SELECT sum(value) FROM counters}
    sql=${sql//hex(pk)/upper(encode(pk, \'hex\'))}
    psql -X -q -A -t -F '|' -v ON_ERROR_STOP=1 "$QS_STORE_URL" -c "$sql"
}

fault_wal_file() {
    if qs_engine_pg; then
        # The segment being written is the one modified last (not the
        # highest name: PostgreSQL renames used segments ahead for reuse).
        printf '%s/data/pg_wal/%s\n' "$PG_DIR" \
            "$(ls -t "$PG_DIR/data/pg_wal" 2>/dev/null | grep -E '^[0-9A-F]{24}$' | head -n 1)"
    else
        printf '%s\n' "$STORE_DB-wal"
    fi
}

# fault_worker_names: store, store2, ... (the tracked names of the workers).
fault_worker_names() {
    local i
    echo store
    for ((i = 2; i <= $(qs_store_workers); i++)); do echo "store$i"; done
}

fault_kill_workers() {
    # shellcheck disable=SC2046
    fault_kill_all $(fault_worker_names)
}

# fault_stop_workers: SIGTERM every worker and wait; fails the test on a
# non-zero exit.
fault_stop_workers() {
    local name
    for name in $(fault_worker_names); do
        qs_running "$name" || continue
        qs_stop "$name" 10 || qs_fail "qs-store ($name) exited $QS_STOP_RC on SIGTERM"
    done
}

fault_start_workers() {
    qs_running store || qs_start store "$QS_STORE" --home "$QS_HOME"
    local i
    for ((i = 2; i <= $(qs_store_workers); i++)); do
        qs_running "store$i" || qs_start "store$i" "$QS_STORE" --home "$QS_HOME"
    done
}

fault_history_sql() {
    local tables t sql=""
    if qs_engine_pg; then
        tables=$(fault__pg_sql "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'history\_%' ORDER BY 1")
    else
        tables=$(fault_sql "$STORE_DB" \
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'history_*'")
    fi
    for t in $tables; do
        [[ $t =~ ^history_[0-9_]+$ ]] || continue
        sql+="${sql:+ UNION ALL }SELECT client_id, serial FROM $t"
    done
    # No partition yet: an empty relation with the same columns.
    printf '%s' "${sql:-SELECT 0 AS client_id, 0 AS serial WHERE 1 = 0}"
}

# fault_exactly_once_violations [WHERE-on-c]: prints
# "client_id low_water rows distinct min max" for every client (row of
# clients c, optionally filtered) whose history is not exactly 1..n once each
# with low_water = n. Prints nothing when all is well.
fault_exactly_once_violations() {
    local where=${1:-1 = 1}
    fault_sql "$STORE_DB" "
        WITH h AS ($(fault_history_sql)),
             per AS (SELECT client_id, COUNT(*) AS n, COUNT(DISTINCT serial) AS nd,
                            MIN(serial) AS lo, MAX(serial) AS hi
                     FROM h GROUP BY client_id)
        SELECT c.client_id, c.low_water, IFNULL(per.n, 0), IFNULL(per.nd, 0),
               IFNULL(per.lo, 0), IFNULL(per.hi, 0)
        FROM clients c LEFT JOIN per USING (client_id)
        WHERE ($where) AND NOT (IFNULL(per.n, 0) = IFNULL(per.nd, 0)
                                AND IFNULL(per.n, 0) = c.low_water
                                AND (c.low_water = 0 OR (per.lo = 1 AND per.hi = c.low_water)))
        ORDER BY c.client_id" | tr '|' ' '
}

fault_stored_counter() {
    fault_sql "$STORE_DB" "SELECT IFNULL((SELECT value FROM counters WHERE name = 'stored'), 0)" 2>/dev/null || echo 0
}

# fault_check_whole_txns WHAT: store.db (read-only: what recovery will see
# after a crash) holds whole transactions only - counters.stored = the rows
# over all history_* partitions (the counter is written in the same
# transaction as the rows); per client no serial twice, the serials <=
# low_water exactly 1..low_water, every other row one remembered in `seen`.
# A partial group breaks one of these. Fails naming WHAT; sets CHECKED_ROWS.
fault_check_whole_txns() {
    local what=$1 rows counter bad
    rows=$(fault_sql "$STORE_DB" "SELECT COUNT(*) FROM ($(fault_history_sql))")
    counter=$(fault_stored_counter)
    [[ $rows == "$counter" ]] ||
        qs_fail "$what: counters.stored is $counter but the history holds $rows rows (partial commit)"
    bad=$(fault_sql "$STORE_DB" "
        WITH h AS ($(fault_history_sql)),
             per AS (SELECT client_id, COUNT(*) AS n, COUNT(DISTINCT serial) AS nd
                     FROM h GROUP BY client_id),
             low AS (SELECT h.client_id, COUNT(*) AS n FROM h JOIN clients c USING (client_id)
                     WHERE h.serial <= c.low_water GROUP BY h.client_id),
             sn AS (SELECT client_id, COUNT(*) AS n FROM seen GROUP BY client_id)
        SELECT c.client_id, c.low_water, IFNULL(per.n, 0), IFNULL(per.nd, 0),
               IFNULL(low.n, 0), IFNULL(sn.n, 0)
        FROM clients c LEFT JOIN per USING (client_id) LEFT JOIN low USING (client_id)
             LEFT JOIN sn USING (client_id)
        WHERE IFNULL(per.n, 0) != IFNULL(per.nd, 0)
           OR IFNULL(low.n, 0) != c.low_water
           OR IFNULL(per.n, 0) != c.low_water + IFNULL(sn.n, 0)
        LIMIT 20" | tr '|' ' ')
    [[ -z $bad ]] ||
        qs_fail "$what: clients whose rows are not 1..low_water plus seen (client_id low_water rows distinct rows<=low_water seen):"$'
'"$bad"
    CHECKED_ROWS=$rows
}

# fault_profile_pk PROFILE: the client's public key, upper-case hex.
fault_profile_pk() {
    sed -n 's/^[[:space:]]*public_key[[:space:]]*=[[:space:]]*\([0-9A-Fa-f]\{64\}\)[[:space:]]*$/\1/p' "$1" |
        head -n 1 | tr 'a-f' 'A-F'
}

fault_client_id() {
    local pk
    pk=$(fault_profile_pk "$1")
    [[ -n $pk ]] || qs_fail "no [client] public_key in profile $1"
    qs_engine_pg || [[ -f $STORE_DB ]] || return 0
    fault_sql "$STORE_DB" "SELECT client_id FROM clients WHERE hex(pk) = '$pk'"
}

fault_rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

fault_cpu_ticks() {
    # Fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends
    # the command name (which may contain spaces).
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# fault_sim_acked: messages `qs-producer simulate` has saved as acked in
# $QS_HOME/sim/state.db (saved about once a second).
fault_sim_acked() {
    [[ -f $QS_HOME/sim/state.db ]] || { echo 0; return; }
    fault_sql "$QS_HOME/sim/state.db" "SELECT IFNULL(SUM(acked), 0) FROM clients" 2>/dev/null || echo 0
}

# fault_sim_diagnose PID: why a simulate run makes no progress - its
# unfinished clients and the TCP connections it holds to the frontend.
fault_sim_diagnose() {
    local pid=$1 unfinished conns
    unfinished=$(fault_sql "$QS_HOME/sim/state.db" \
        "SELECT 'sim-' || printf('%05d', idx) || ' ' || acked || '/' || count FROM clients WHERE acked < count" 2>/dev/null | head -n 20)
    conns=$(ss -tnp 2>/dev/null | grep -F "pid=$pid," | grep -c ":$QS_FRONT_PORT " || true)
    printf 'unfinished simulated clients (acked/count):\n%s\n' "$unfinished"
    printf 'TCP connections simulate (pid %s) holds to the broker frontend: %s\n' "$pid" "$conns"
    printf 'handshakes the broker refused: %s\n' "$(grep -c 'refused client' "$QS_TMP/broker.log" 2>/dev/null || echo 0)"
}

# fault_wait_sim LIMIT_S STALL_S: wait for the tracked "sim" process to exit;
# fail when it runs past LIMIT_S seconds from now, or saves no progress for
# STALL_S seconds (longer than any backoff and reply timeout of the sender).
# Sets FAULT_RC to its exit status.
fault_wait_sim() {
    local limit=$1 stall=$2 start last now a pid
    start=$(date +%s); last=$start
    local prev=-1
    pid=${QS_DAEMON_PID[sim]:-}
    while fault_alive sim; do
        now=$(date +%s)
        a=$(fault_sim_acked)
        if [[ $a != "$prev" ]]; then prev=$a; last=$now; fi
        if (( now - last >= stall )); then
            qs_fail "simulate made no progress for ${stall}s at $a acked (not a slow store: nothing moves)"$'\n'"$(fault_sim_diagnose "$pid")"
        fi
        (( now - start < limit )) || qs_fail "simulate still running after ${limit}s ($a acked)"$'\n'"$(fault_sim_diagnose "$pid")"
        sleep 0.5
    done
    fault_reap sim
}
