# retention_lib.sh - helpers for the retention e2e tests (tests/retention/*.sh),
# on top of scripts/lib.sh: the qs-retention binary, daemons with a moved
# clock, ISO times relative to one fixed "now", lookups, raw-byte searches.

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

# ret_sql SQL: run SQL on the site's store.db (read, next to the running store).
ret_sql() {
    sqlite3 "$QS_HOME/store.db" "$1"
}

# ret_bytes_present TEXT: true when any file under the site home holds TEXT.
ret_bytes_present() {
    grep -rqaF -- "$1" "$QS_HOME"
}

# ret_files_with TEXT: the files under the site home that hold TEXT.
ret_files_with() {
    grep -rlaF -- "$1" "$QS_HOME" | tr '\n' ' '
}

# ret_hex_present HEX: true when any file under the site home holds these
# bytes (given as hex); RET_FOUND_IN is then that file.
ret_hex_present() {
    local hex f
    hex=$(printf '%s' "$1" | tr 'A-F' 'a-f')
    RET_FOUND_IN=""
    while IFS= read -r -d '' f; do
        if od -An -v -tx1 "$f" | tr -d ' \n' | grep -q -- "$hex"; then
            RET_FOUND_IN=$f
            return 0
        fi
    done < <(find "$QS_HOME" -type f -print0)
    return 1
}
