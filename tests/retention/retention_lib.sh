# retention_lib.sh - helpers for the retention e2e tests (tests/retention/*.sh),
# on top of scripts/lib.sh: the qs-retention binary, daemons with a moved
# clock, ISO times relative to one fixed "now", lookups, raw-byte searches.
#
# QS_TEST_ENGINE=pg runs the same tests on PostgreSQL: ret_site_init starts
# a throwaway server (tests/pg/pg_lib.sh; stopped on exit) and inits the site
# with --database; ret_sql, ret_hex, the searches and ret_key_present then
# speak to the database and the key chains. The searches cover the site
# home's files and, on PostgreSQL, the database's rows (what verify and
# forget promise there; the server's own files, WAL included, are not
# searched: docs/privacy.md, "On PostgreSQL", says why they need not be).

# shellcheck shell=bash

# ret_setup [BUILD_DIR]: temp dir, binaries (qs_find_bins + QS_RETENTION), tools.
ret_setup() {
    local dir=${1:-${QS_BUILD_DIR:-}}
    qs_need_cmd jq sqlite3 od grep date
    qs_tmp_new
    qs_find_bins "$dir"
    if [[ -z ${QS_RETENTION:-} && -n $dir ]]; then
        QS_RETENTION=$(find "$dir" -maxdepth 4 -type f -name qs-retention -perm -u+x 2>/dev/null | head -n 1)
    fi
    [[ -n ${QS_RETENTION:-} && -x $QS_RETENTION ]] ||
        qs_die "cannot find the 'qs-retention' binary (set QS_RETENTION or pass the build directory)"
    RET_NOW=$(date -u +%s)
}

RET_ENGINE=${QS_TEST_ENGINE:-sqlite}
case $RET_ENGINE in sqlite|pg) ;; *) echo "QS_TEST_ENGINE must be sqlite or pg" >&2; exit 2 ;; esac

# ret_site_init: qs_site_init on the engine under test.
ret_site_init() {
    if [[ $RET_ENGINE == sqlite ]]; then
        qs_site_init
        return
    fi
    qs_need_cmd psql
    # shellcheck source=../pg/pg_lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/../pg/pg_lib.sh"
    pg_start "$QS_TMP" >"$QS_TMP/pg_start.out" 2>&1 ||
        qs_fail "cannot start PostgreSQL:"$'\n'"$(cat "$QS_TMP/pg_start.out")"
    qs_on_exit pg_stop
    qs_free_port QS_FRONT_PORT
    qs_free_port QS_BACK_PORT
    QS_FRONTEND="tcp://127.0.0.1:$QS_FRONT_PORT"
    QS_BACKEND="tcp://127.0.0.1:$QS_BACK_PORT"
    QS_HOME="$QS_TMP/site"
    "$QSCTL" init --home "$QS_HOME" --frontend "$QS_FRONTEND" --backend "$QS_BACKEND" \
        --database "$PG_URL" >"$QS_TMP/init.out" 2>&1 ||
        qs_fail "qsctl init --database failed:"$'\n'"$(cat "$QS_TMP/init.out")"
}

# ret_hex EXPR: SQL for EXPR (a blob) in upper-case hex, in the engine's dialect.
ret_hex() {
    if [[ $RET_ENGINE == pg ]]; then printf "upper(encode(%s, 'hex'))" "$1"; else printf 'hex(%s)' "$1"; fi
}

# ret_key_present EPOCH TOPIC: the data key of partition (EPOCH, TOPIC) still
# exists: its key file, or (key chains) the chain can still derive it.
ret_key_present() {
    local chain first
    if [[ $RET_ENGINE == sqlite ]]; then
        [[ -f $QS_HOME/keys/epochs/$1-$2.key ]]
        return
    fi
    chain=$QS_HOME/keys/epochs/chain-$2.state
    [[ -f $chain ]] || return 1
    first=$(od -An -j8 -N8 -t d8 "$chain" | tr -d ' ')   # "qsch" | version | E (LE) | S_E
    (( $1 >= first ))
}

# ret_pg_rows_with NEEDLE: the tables of the store database with a row whose
# text form holds NEEDLE (bytea shows as lower-case hex there).
ret_pg_rows_with() {
    local t n needle=${1//\'/\'\'}
    for t in $(ret_sql "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"); do
        n=$(ret_sql "SELECT count(*) FROM \"$t\" x WHERE strpos(x::text, '$needle') > 0")
        (( n > 0 )) && printf '%s ' "$t"
    done
    return 0
}

# ret_iso_ago SECONDS: UTC ISO 8601 time SECONDS before RET_NOW (negative: after).
ret_iso_ago() {
    date -u -d "@$(( RET_NOW - $1 ))" +%Y-%m-%dT%H:%M:%SZ
}

# ret_epoch_of ISO: the UTC day number (store partition epoch) of ISO.
ret_epoch_of() {
    echo $(( $(date -u -d "$1" +%s) / 86400 ))
}

# ret_start_site_at OFFSET_S: like qs_start_site, with qs-store's clock moved
# by OFFSET_S seconds (QS_CLOCK_OFFSET_S).
ret_start_site_at() {
    qs_start broker "$QS_BROKER" --home "$QS_HOME"
    qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND"
    qs_wait_listen "$QS_BACK_PORT" 20 || qs_fail "qs-broker does not listen on $QS_BACKEND"
    ret_start_store_at "$1"
}

ret_start_store_at() {
    qs_start store env QS_CLOCK_OFFSET_S="$1" "$QS_STORE" --home "$QS_HOME"
    qs_wait_connected "$QS_BACK_PORT" 20 || qs_fail "qs-store did not connect to $QS_BACKEND"
    sleep 0.5
    qs_running broker || qs_fail "qs-broker died after start"
    qs_running store || qs_fail "qs-store died after start"
}

# ret_restart_store_at OFFSET_S: stop qs-store (SIGTERM) and start it again.
ret_restart_store_at() {
    qs_stop store 15 || qs_fail "qs-store did not stop cleanly (status $QS_STOP_RC)"
    ret_start_store_at "$1"
}

# ret_lookup MACHINE OUTFILE [ARGS...]: qsctl lookup --format json into $QS_TMP/OUTFILE.
ret_lookup() {
    local machine=$1 out=$2
    shift 2
    qs_expect_rc 0 "$QS_TMP/$out" "$QSCTL" lookup --home "$QS_HOME" --machine "$machine" \
        --format json "$@"
    jq -e '.rows | type == "array"' "$QS_TMP/$out" >/dev/null 2>&1 ||
        qs_fail "qsctl lookup printed no rows array:"$'\n'"$(head -c 2000 "$QS_TMP/$out")"
}

# ret_expect_ids OUTFILE ID...: the topic ids in a lookup result are exactly ID...
ret_expect_ids() {
    local file=$1 got want
    shift
    got=$(jq -r '.rows[].topic_id' "$QS_TMP/$file" | sort | tr '\n' ' ')
    want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
    [[ $got == "$want" ]] || qs_fail "$file: topic ids are '$got', expected '$want'"
}

# ret_sql SQL: run SQL on the site's store database (next to the running store).
ret_sql() {
    if [[ $RET_ENGINE == pg ]]; then
        psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
    else
        sqlite3 "$QS_HOME/store.db" "$1"
    fi
}

# ret_bytes_present TEXT: true when any file under the site home (or, on
# PostgreSQL, any row of the store database) holds TEXT.
ret_bytes_present() {
    grep -rqaF -- "$1" "$QS_HOME" && return 0
    [[ $RET_ENGINE == pg && -n $(ret_pg_rows_with "$1") ]]
}

# ret_files_with TEXT: the files under the site home (and tables) that hold TEXT.
ret_files_with() {
    grep -rlaF -- "$1" "$QS_HOME" | tr '\n' ' '
    [[ $RET_ENGINE == pg ]] && ret_pg_rows_with "$1"
    return 0
}

# ret_hex_present HEX: true when any file under the site home (or, on
# PostgreSQL, any row) holds these bytes (given as hex); RET_FOUND_IN is
# then that file (or "table T").
ret_hex_present() {
    local hex f t
    hex=$(printf '%s' "$1" | tr 'A-F' 'a-f')
    RET_FOUND_IN=""
    if [[ $RET_ENGINE == pg ]]; then
        t=$(ret_pg_rows_with "$hex")
        if [[ -n $t ]]; then
            RET_FOUND_IN="table $t"
            return 0
        fi
    fi
    while IFS= read -r -d '' f; do
        if od -An -v -tx1 "$f" | tr -d ' \n' | grep -q -- "$hex"; then
            RET_FOUND_IN=$f
            return 0
        fi
    done < <(find "$QS_HOME" -type f -print0)
    return 1
}
