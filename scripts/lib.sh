# lib.sh - shell helpers shared by scripts/demo.sh and tests/e2e/*.sh.
#
# Source it (bash only). It gives: step and failure messages, locating the
# built binaries, a temp directory with a fresh site home, free loopback ports,
# starting daemons in the background with their logs in the temp directory,
# waiting for a port, a connection or a log line, stopping daemons with SIGTERM
# and collecting their exit status, and one EXIT trap that kills whatever is
# still running, shows the daemons' logs when the script failed, and removes
# the temp directory (kept when QS_KEEP_TMP=1).
#
# Binaries are found, in this order: the variables QSCTL, QS_BROKER, QS_STORE,
# QS_PRODUCER, QS_SENDRAW (full paths; CTest sets them from the targets), then
# by name under QS_BUILD_DIR (or the directory given to qs_find_bins).

# shellcheck shell=bash

QS_LIB_NAME=${QS_LIB_NAME:-$(basename "$0" .sh)}
declare -gA QS_DAEMON_PID=()     # name -> pid of a running daemon
declare -gA QS_DAEMON_LOG=()     # name -> its log file
QS_TMP=""                         # temp directory (qs_tmp_new)
QS_EXIT_HOOKS=()                  # extra commands run by the EXIT trap

qs_step() { printf '==> %s\n' "$*"; }
qs_info() { printf '    %s\n' "$*"; }
qs_warn() { printf '%s: warning: %s\n' "$QS_LIB_NAME" "$*" >&2; }

# qs_fail MESSAGE: the test or script failed; exit 1 (the trap cleans up).
qs_fail() {
    printf '%s: FAIL: %s\n' "$QS_LIB_NAME" "$*" >&2
    exit 1
}

# qs_die MESSAGE: an environment or setup problem; exit 1.
qs_die() {
    printf '%s: error: %s\n' "$QS_LIB_NAME" "$*" >&2
    exit 1
}

# qs_need_cmd NAME...: fail unless each command is on PATH.
qs_need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || qs_die "'$c' is not installed (run scripts/setup.sh as root)"
    done
}

# qs_find_bins [BUILD_DIR]: set QSCTL, QS_BROKER, QS_STORE, QS_PRODUCER (and
# QS_SENDRAW when it exists) to executable paths, or fail naming what is missing.
qs_find_bins() {
    local dir=${1:-${QS_BUILD_DIR:-}} var name path
    local -A names=([QSCTL]=qsctl [QS_BROKER]=qs-broker [QS_STORE]=qs-store
                    [QS_PRODUCER]=qs-producer [QS_SENDRAW]=qs_sendraw)
    for var in QSCTL QS_BROKER QS_STORE QS_PRODUCER QS_SENDRAW; do
        name=${names[$var]}
        path=${!var:-}
        if [[ -z $path && -n $dir ]]; then
            path=$(find "$dir" -maxdepth 4 -type f -name "$name" -perm -u+x 2>/dev/null | head -n 1)
        fi
        if [[ -z $path || ! -x $path ]]; then
            [[ $var == QS_SENDRAW ]] && { declare -g QS_SENDRAW=""; continue; }
            qs_die "cannot find the '$name' binary (set $var or pass the build directory${dir:+; looked under $dir})"
        fi
        declare -g "$var=$path"
    done
}

# qs_tmp_new: make QS_TMP (0700) and install the EXIT trap.
qs_tmp_new() {
    QS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/qs-${QS_LIB_NAME}.XXXXXX") || qs_die "cannot make a temp directory"
    chmod 700 "$QS_TMP"
    trap qs__on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# qs_port_in_use PORT: true when any TCP socket (any state) uses PORT locally.
qs_port_in_use() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p { found = 1 }
                     END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# qs_free_port VAR: set VAR to a random free high port not handed out before
# by this shell (not in a subshell: it remembers what it gave).
QS_PORTS_GIVEN=" "
qs_free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        [[ $QS_PORTS_GIVEN == *" $p "* ]] && continue
        qs_port_in_use "$p" && continue
        QS_PORTS_GIVEN+="$p "
        printf -v "$1" %s "$p"
        return 0
    done
    qs_die "no free TCP port found"
}

# qs_port_state PORT STATE: true when a socket bound locally to PORT is in STATE
# (hex as in /proc/net/tcp: 0A listen, 01 established).
qs_port_state() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" -v s="$2" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 == s { found = 1 }
                               END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# qs_wait_until TIMEOUT_S DESCRIPTION COMMAND...: poll COMMAND every 0.1 s.
qs_wait_until() {
    local timeout=$1 what=$2 deadline
    shift 2
    deadline=$(( $(date +%s%N) / 1000000 + timeout * 1000 ))
    while ! "$@"; do
        if (( $(date +%s%N) / 1000000 > deadline )); then
            qs_warn "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.1
    done
}

# qs_wait_listen PORT [TIMEOUT_S]: wait until something listens on PORT.
qs_wait_listen() {
    qs_wait_until "${2:-20}" "a listener on port $1" qs_port_state "$1" 0A
}

# qs_wait_connected PORT [TIMEOUT_S]: wait until a peer is connected to PORT.
qs_wait_connected() {
    qs_wait_until "${2:-20}" "a connection to port $1" qs_port_state "$1" 01
}

# qs_wait_log FILE REGEX [TIMEOUT_S]: wait until FILE has a line matching REGEX.
qs_wait_log() {
    qs_wait_until "${3:-20}" "'$2' in $1" grep -Eq -- "$2" "$1"
}

# qs_start NAME COMMAND...: run COMMAND in the background, its output in
# $QS_TMP/NAME.log; fails if it dies within its first 0.2 s.
qs_start() {
    local name=$1 log
    shift
    log="$QS_TMP/$name.log"
    "$@" >>"$log" 2>&1 </dev/null &
    QS_DAEMON_PID[$name]=$!
    QS_DAEMON_LOG[$name]=$log
    sleep 0.2
    if ! kill -0 "${QS_DAEMON_PID[$name]}" 2>/dev/null; then
        local rc=0
        wait "${QS_DAEMON_PID[$name]}" || rc=$?
        unset "QS_DAEMON_PID[$name]"
        qs_fail "$name exited at start with status $rc; its log ($log):"$'\n'"$(tail -n 20 "$log")"
    fi
}

# qs_running NAME: true while the daemon started as NAME is alive.
qs_running() {
    [[ -n ${QS_DAEMON_PID[$1]:-} ]] && kill -0 "${QS_DAEMON_PID[$1]}" 2>/dev/null
}

# qs_stop NAME [TIMEOUT_S]: SIGTERM, wait up to TIMEOUT_S (default 10), then
# SIGKILL. Sets QS_STOP_RC to the exit status (124 when it had to be killed)
# and QS_STOP_MS to how long it took. Returns 0 only on a clean exit 0.
qs_stop() {
    local name=$1 timeout=${2:-10} pid start end
    pid=${QS_DAEMON_PID[$name]:-}
    QS_STOP_RC=0
    QS_STOP_MS=0
    [[ -n $pid ]] || { qs_warn "$name is not running"; QS_STOP_RC=1; return 1; }
    start=$(date +%s%N)
    kill -TERM "$pid" 2>/dev/null || true
    if ! qs_wait_until "$timeout" "$name (pid $pid) to exit after SIGTERM" qs__gone "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        QS_STOP_RC=124
    else
        wait "$pid" 2>/dev/null || QS_STOP_RC=$?
    fi
    end=$(date +%s%N)
    QS_STOP_MS=$(( (end - start) / 1000000 ))
    unset "QS_DAEMON_PID[$name]"
    (( QS_STOP_RC == 0 ))
}

# A child that exited but was not yet reaped still answers kill -0; ask /proc.
qs__gone() {
    local st
    [[ -e /proc/$1/stat ]] || return 0
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
    [[ $st == Z || $st == X ]]
}

# qs_site_init: create a fresh site home at $QS_TMP/site on two free ports.
# Sets QS_HOME, QS_FRONT_PORT, QS_BACK_PORT, QS_FRONTEND, QS_BACKEND.
qs_site_init() {
    qs_free_port QS_FRONT_PORT
    qs_free_port QS_BACK_PORT
    QS_FRONTEND="tcp://127.0.0.1:$QS_FRONT_PORT"
    QS_BACKEND="tcp://127.0.0.1:$QS_BACK_PORT"
    QS_HOME="$QS_TMP/${1:-site}"
    local db=()
    if qs_engine_pg; then
        qs__pg_database "${1:-site}"
        # qsctl init --database where this build has it; else a plain init
        # and an (empty) qsctl migrate, which makes the tables and sets
        # [store] database the same way.
        "$QSCTL" init --help 2>/dev/null | grep -q -- '--database' && db=(--database "$QS_STORE_URL")
    fi
    "$QSCTL" init --home "$QS_HOME" --frontend "$QS_FRONTEND" --backend "$QS_BACKEND" "${db[@]}" \
        >"$QS_TMP/init.out" 2>&1 ||
        qs_fail "qsctl init --home $QS_HOME failed:"$'\n'"$(cat "$QS_TMP/init.out")"
    if qs_engine_pg && (( ${#db[@]} == 0 )); then
        "$QSCTL" migrate --home "$QS_HOME" --to "$QS_STORE_URL" --as qs-lib >>"$QS_TMP/init.out" 2>&1 ||
            qs_fail "qsctl migrate to $QS_STORE_URL failed:"$'\n'"$(cat "$QS_TMP/init.out")"
        rm -f "$QS_HOME/store.db" "$QS_HOME/store.db-wal" "$QS_HOME/store.db-shm"
    fi
}

# qs_start_site: start qs-broker and qs-store for QS_HOME and wait until the
# broker listens on both ports and the store is connected to the backend.
qs_start_site() {
    qs_start broker "$QS_BROKER" --home "$QS_HOME"
    qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND"
    qs_wait_listen "$QS_BACK_PORT" 20 || qs_fail "qs-broker does not listen on $QS_BACKEND"
    qs_start store "$QS_STORE" --home "$QS_HOME"
    qs_wait_connected "$QS_BACK_PORT" 20 || qs_fail "qs-store did not connect to $QS_BACKEND"
    qs_start_workers
    # The store announces itself with READY right after connecting; give the
    # CurveZMQ handshake and the first heartbeat a moment.
    sleep 0.5
    qs_running broker || qs_fail "qs-broker died after start"
    qs_running store || qs_fail "qs-store died after start"
}

# qs_run OUTFILE COMMAND...: run COMMAND with stdout to OUTFILE and stderr to
# OUTFILE.err; sets QS_RC.
qs_run() {
    local out=$1
    shift
    QS_RC=0
    "$@" >"$out" 2>"$out.err" </dev/null || QS_RC=$?
}

# qs_expect_rc WANT OUTFILE COMMAND...: run it and fail unless it exits WANT.
qs_expect_rc() {
    local want=$1 out=$2
    shift 2
    qs_run "$out" "$@"
    if [[ $QS_RC != "$want" ]]; then
        qs_fail "expected exit $want, got $QS_RC from: $*"$'\n'"$(tail -n 20 "$out")"$'\n'"$(tail -n 30 "$out.err")"
    fi
}

# qs_json_get FILE JQ_FILTER: print the filter's result, failing on bad JSON.
qs_json_get() {
    jq -e -r "$2" "$1" 2>/dev/null ||
        qs_fail "'$2' not found in $(basename "$1"):"$'\n'"$(head -c 2000 "$1")"
}

# qs_on_exit COMMAND: run COMMAND (eval'd) from the EXIT trap, before cleanup.
qs_on_exit() { QS_EXIT_HOOKS+=("$1"); }

qs__on_exit() {
    local rc=$? name pid h
    trap - EXIT
    for h in "${QS_EXIT_HOOKS[@]}"; do eval "$h" || true; done
    for name in "${!QS_DAEMON_PID[@]}"; do
        pid=${QS_DAEMON_PID[$name]}
        kill -TERM "$pid" 2>/dev/null || continue
    done
    for name in "${!QS_DAEMON_PID[@]}"; do
        pid=${QS_DAEMON_PID[$name]}
        qs_wait_until 5 "$name to exit" qs__gone "$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if (( rc != 0 )) && [[ -n $QS_TMP ]]; then
        for name in "${!QS_DAEMON_LOG[@]}"; do
            [[ -s ${QS_DAEMON_LOG[$name]} ]] || continue
            printf -- '---- last lines of %s log (%s) ----\n' "$name" "${QS_DAEMON_LOG[$name]}" >&2
            tail -n 25 "${QS_DAEMON_LOG[$name]}" >&2
        done
    fi
    if [[ -n $QS_TMP && -d $QS_TMP ]]; then
        if [[ ${QS_KEEP_TMP:-0} == 1 ]]; then
            printf '%s: kept %s\n' "$QS_LIB_NAME" "$QS_TMP" >&2
        else
            rm -rf -- "$QS_TMP"
        fi
    fi
    exit "$rc"
}

# ---- the store's engine: QS_TEST_ENGINE=sqlite (default) or pg ----
#
# With QS_TEST_ENGINE=pg, qs_site_init starts a PostgreSQL server of the
# test's own in $QS_TMP/pg (tests/pg/pg_lib.sh; stopped by the EXIT trap),
# gives each site home a database of its own and points the home's
# [store] database at it; qs_start_site then runs QS_STORE_WORKERS qs-store
# workers (default 2 on PostgreSQL, 1 on SQLite) named store, store2, ...
# The tests' checks stay the same; those that read store.db directly go
# through fault_sql (tests/fault/fault_lib.sh), which speaks to either.

qs_engine_pg() { [[ ${QS_TEST_ENGINE:-sqlite} == pg ]]; }

# qs_store_workers: how many qs-store workers a site runs.
qs_store_workers() {
    local def=1
    qs_engine_pg && def=2
    echo "${QS_STORE_WORKERS:-$def}"
}

# qs__pg_database NAME: start the server (once per test) and make a
# database for the site home NAME; its URI in QS_STORE_URL.
qs__pg_database() {
    local db
    if [[ -z ${QS_PG_URL_BASE:-} ]]; then
        qs_need_cmd psql
        # shellcheck source=../tests/pg/pg_lib.sh
        source "$(dirname "${BASH_SOURCE[0]}")/../tests/pg/pg_lib.sh"
        pg_start "$QS_TMP" >"$QS_TMP/pg_start.out" 2>&1 ||
            qs_fail "cannot start PostgreSQL (QS_TEST_ENGINE=pg):"$'\n'"$(tail -n 20 "$QS_TMP/pg_start.out")"
        qs_on_exit qs__pg_cleanup
        QS_PG_URL_BASE=$PG_URL
    fi
    db=qs_$(tr -c 'a-zA-Z0-9_\n' _ <<<"$1")
    "$PG_BIN/createdb" -h "$PG_SOCKDIR" -p "${PG_TCP_PORT:-5432}" -U qs "$db" ||
        qs_fail "createdb $db failed"
    QS_STORE_URL=${QS_PG_URL_BASE/\/quietstate?//$db?}
    PG_URL=$QS_STORE_URL    # pg_sql talks to the last site's database
}

# The EXIT hook: the workers first (they would log the server's going), then
# the server.
qs__pg_cleanup() {
    local name
    for name in "${!QS_DAEMON_PID[@]}"; do
        kill -TERM "${QS_DAEMON_PID[$name]}" 2>/dev/null || true
    done
    sleep 0.3
    pg_stop
}

# qs_start_workers: the workers beyond the first (store2, ...), each its own
# qs-store process on the same home (PostgreSQL only: on SQLite one worker
# holds store.lock).
qs_start_workers() {
    local i n
    n=$(qs_store_workers)
    for ((i = 2; i <= n; i++)); do
        qs_start "store$i" "$QS_STORE" --home "$QS_HOME"
    done
}

# qs_raw_dirs: every directory whose raw bytes hold the site's data: the
# home, and on PostgreSQL the cluster's directory (tables, WAL, server log).
qs_raw_dirs() {
    printf '%s\n' "$QS_HOME"
    if qs_engine_pg && [[ -n ${PG_DIR:-} ]]; then printf '%s\n' "$PG_DIR"; fi
}

# ---- clients and queries (need QSCTL, QS_PRODUCER, QS_HOME, QS_TMP) ----

# qs_enroll NAME: enroll client NAME; its profile is $QS_TMP/clients/NAME.profile
# and its outbox (for qs_report/qs_flush) $QS_TMP/clients/NAME.outbox.
qs_enroll() {   # qs_enroll NAME [ENROLL OPTIONS...]
    local name=$1
    shift
    mkdir -p "$QS_TMP/clients"
    chmod 700 "$QS_TMP/clients"
    set -- "$name" "$@"
    qs_expect_rc 0 "$QS_TMP/enroll-$1.out" \
        "$QSCTL" enroll --home "$QS_HOME" --name "$1" --out "$QS_TMP/clients/$1.profile" "${@:2}"
    [[ -s $QS_TMP/clients/$1.profile ]] || qs_fail "qsctl enroll wrote no profile for '$1'"
    # The broker reloads site.db every 200 ms; a client that connects before
    # that is refused at the handshake. Let the enrollment take effect.
    if qs_running broker; then sleep 0.5; fi
}

qs_profile() { printf '%s' "$QS_TMP/clients/$1.profile"; }
qs_outbox() { printf '%s' "$QS_TMP/clients/$1.outbox"; }

# qs_report NAME REPORT_ARGS...: qs-producer report for client NAME; must exit 0.
qs_report() {
    local name=$1
    shift
    qs_expect_rc 0 "$QS_TMP/report-$name.out" \
        "$QS_PRODUCER" --profile "$(qs_profile "$name")" --outbox "$(qs_outbox "$name")" report "$@"
}

# qs_flush NAME TIMEOUT_S: qs-producer flush for client NAME; sets QS_RC.
qs_flush() {
    qs_run "$QS_TMP/flush-$1.out" \
        "$QS_PRODUCER" --profile "$(qs_profile "$1")" --outbox "$(qs_outbox "$1")" flush --timeout "$2"
}

# qs_stats: refresh $QS_TMP/stats.json from qsctl stats --format json.
qs_stats() {
    qs_expect_rc 0 "$QS_TMP/stats.json" "$QSCTL" stats --home "$QS_HOME" --format json
    jq -e . "$QS_TMP/stats.json" >/dev/null 2>&1 ||
        qs_fail "qsctl stats --format json printed no JSON document:"$'\n'"$(head -c 2000 "$QS_TMP/stats.json")"
}

# qs_expect_compliance SIM_JSON: `qsctl compliance` (site policy k=1) must
# equal the `expected_latest` of a `qs-producer simulate --format json` run,
# row for row; sets QS_COMPLIANCE_ROWS. Asked per topic type, so the answer
# does not depend on the default filter.
qs_expect_compliance() {
    local sim=$1 tt k norm
    : >"$QS_TMP/rows.jsonl"
    for tt in $(jq -r '[.expected_latest[].topic_type] | unique | .[]' "$sim"); do
        qs_expect_rc 0 "$QS_TMP/compliance-$tt.json" "$QSCTL" compliance --home "$QS_HOME" \
            --topic-type "$tt" --format json
        k=$(qs_json_get "$QS_TMP/compliance-$tt.json" .k)
        qs_expect_eq "compliance .k" "$k" 1
        qs_json_get "$QS_TMP/compliance-$tt.json" '.rows | type == "array"' >/dev/null
        if jq -e '[.rows[] | select(.suppressed == true or .count == null)] | length > 0' \
            "$QS_TMP/compliance-$tt.json" >/dev/null; then
            qs_fail "compliance with k=1 suppressed a group:"$'\n'"$(cat "$QS_TMP/compliance-$tt.json")"
        fi
        # State rows only: a topic's no-report row (state_id null) is not a
        # row of latest (the totals are tests/e2e/compliance_totals.sh's).
        jq -c '.rows[] | select(.state_id != null)' "$QS_TMP/compliance-$tt.json" >>"$QS_TMP/rows.jsonl"
    done
    norm='map({topic_type: (.topic_type | tonumber), topic_id: (.topic_id | tostring),
               state_id: (.state_id | tonumber), count: (.count | tonumber)})
          | sort_by(.topic_type, .topic_id, .state_id)'
    jq -s "$norm" "$QS_TMP/rows.jsonl" >"$QS_TMP/got.json"
    jq ".expected_latest | $norm" "$sim" >"$QS_TMP/want.json"
    if ! cmp -s "$QS_TMP/got.json" "$QS_TMP/want.json"; then
        qs_fail "compliance rows differ from the simulator's expected_latest (rows: got $(jq length "$QS_TMP/got.json"), want $(jq length "$QS_TMP/want.json")):"$'\n'"$(diff "$QS_TMP/want.json" "$QS_TMP/got.json" | head -n 40)"
    fi
    QS_COMPLIANCE_ROWS=$(jq length "$QS_TMP/got.json")
}

# qs_stat FILTER: one number from the last qs_stats (missing counters are 0
# only for the rejected/rejected_detail maps, where absent means none).
qs_stat() {
    local v
    v=$(jq -r "$1" "$QS_TMP/stats.json")
    if [[ $v == null ]]; then
        case $1 in
            .rejected.*|.rejected_detail.*) v=0 ;;
            *) qs_fail "qsctl stats --format json has no '$1':"$'\n'"$(cat "$QS_TMP/stats.json")" ;;
        esac
    fi
    [[ $v =~ ^[0-9]+$ ]] || qs_fail "qsctl stats: '$1' is '$v', not a count"
    printf '%s' "$v"
}

# qs_expect_eq WHAT GOT WANT: fail unless GOT == WANT.
qs_expect_eq() {
    [[ $2 == "$3" ]] || qs_fail "$1: expected $3, got $2"
}

# qs_wait_stat FILTER WANT [TIMEOUT_S]: poll qsctl stats until FILTER == WANT
# (counters of refused batches are written a moment after the answer).
qs_wait_stat() {
    local deadline=$(( $(date +%s) + ${3:-5} ))
    while :; do
        qs_stats
        [[ $(qs_stat "$1") == "$2" ]] && return 0
        (( $(date +%s) < deadline )) || break
        sleep 0.2
    done
    qs_fail "qsctl stats $1: expected $2 within ${3:-5}s, got $(qs_stat "$1")"
}
