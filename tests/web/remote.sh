#!/usr/bin/env bash
# remote.sh - `qsctl --url` against a real site and qs-web prints, byte for
# byte, what the local command prints on the same site.
#
# Proves, for table and JSON (and CSV for compliance): policy show|history,
# audit show|verify, and compliance, stats and lookup - the last three
# compared once qs-web answers them; while a route still answers 501 the
# remote command must exit 1 with the server's "not wired yet" message. Also
# that `qsctl --url policy set` is parsed like the local command (a usage
# error locally is one remotely, before any request).
# Usage: QS_BUILD_DIR=build bash tests/web/remote.sh   (or QSCTL=... QS_WEB=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq curl
qs_find_bins "${1:-}"
if [[ -z ${QS_WEB:-} ]]; then
    QS_WEB=$(find "${1:-${QS_BUILD_DIR:-build}}" -maxdepth 3 -type f -name qs-web -perm -u+x | head -n 1)
fi
[[ -x ${QS_WEB:-} ]] || qs_die "cannot find the qs-web binary (set QS_WEB)"
qs_tmp_new
qs_site_init
qs_free_port WEB_PORT
BASE="http://127.0.0.1:$WEB_PORT"
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$QS_HOME/quietstate.conf"

qs_step "users and tokens; a policy; two clients reporting"
mkdir -m 700 "$QS_TMP/tok"
for u in op:operator adm:admin po:privacy-officer; do
    qs_expect_rc 0 "$QS_TMP/user-${u%%:*}.out" "$QSCTL" user add --home "$QS_HOME" \
        --name "${u%%:*}" --role "${u#*:}" --out "$QS_TMP/tok/${u%%:*}" --as e2e-admin
done
qs_expect_rc 0 "$QS_TMP/pset.out" "$QSCTL" policy set --home "$QS_HOME" --max-age-days 30 --k 1
qs_expect_rc 0 "$QS_TMP/pset2.out" "$QSCTL" policy set --home "$QS_HOME" \
    --topic-type 500 --max-age-days 7 --as officer
qs_start_site
qs_start web "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"
for c in rm-1 rm-2; do
    qs_enroll "$c"
    qs_report "$c" --topic-type 500 --topic-id KB5030211 --state 2 --machine "PC-$c" --domain CORP
    qs_report "$c" --topic-type 500 --topic-id 'KB,"5"' --state 1 --machine "PC-$c" --domain CORP
    qs_flush "$c" 20
    [[ $QS_RC == 0 ]] || qs_fail "flush of $c exited $QS_RC: $(cat "$QS_TMP/flush-$c.out.err")"
done

# same WHO DESC LOCAL_ARGS... -- REMOTE_ARGS...: the local command and the
# remote one (as user WHO) both exit 0 and print the same bytes.
same() {
    local who=$1 desc=$2 i
    shift 2
    local -a loc=() rem=()
    for ((i = 1; i <= $#; i++)); do
        [[ ${!i} == -- ]] && break
        loc+=("${!i}")
    done
    rem=("${@:i+1}")
    qs_expect_rc 0 "$QS_TMP/l.out" "$QSCTL" "${loc[@]}" --home "$QS_HOME"
    qs_expect_rc 0 "$QS_TMP/r.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/$who" "${rem[@]}"
    [[ -s $QS_TMP/l.out ]] || qs_fail "$desc: the local command printed nothing"
    cmp -s "$QS_TMP/l.out" "$QS_TMP/r.out" ||
        qs_fail "$desc: remote output differs:"$'\n'"$(diff "$QS_TMP/l.out" "$QS_TMP/r.out")"
    qs_info "$desc: same $(wc -c <"$QS_TMP/l.out") bytes"
}

# store_same WHO DESC LOCAL_ARGS... -- REMOTE_ARGS...: as same, or, while
# qs-web still answers the route with 501, the remote command must say so.
store_same() {
    local who=$1 desc=$2 i
    local -a rem=()
    for ((i = 3; i <= $#; i++)); do [[ ${!i} == -- ]] && break; done
    rem=("${@:i+1}")
    qs_run "$QS_TMP/probe.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/$who" "${rem[@]}"
    if [[ $QS_RC == 1 ]] && grep -q 'HTTP 501' "$QS_TMP/probe.out.err"; then
        grep -q 'not wired yet' "$QS_TMP/probe.out.err" ||
            qs_fail "$desc: 501 without the server's message: $(cat "$QS_TMP/probe.out.err")"
        [[ -s $QS_TMP/probe.out ]] && qs_fail "$desc: a 501 printed output"
        qs_info "$desc: 501 (not wired yet), reported"
        return 0
    fi
    same "$@"
}

qs_step "policy show|history, table and json"
for f in table json; do
    same op "policy show --format $f" policy show --format "$f" -- policy show --format "$f"
    same po "policy history --format $f" policy history --format "$f" -- policy history --format "$f"
done

qs_step "a remote policy set is parsed like the local one"
for bad in "--max-age-days 0" "--topic-type 999 --max-age-days 3" "--k 0" "--time-precision week" \
           "--max-age-days 3 --max-age-days 4" "--topic-type 500"; do
    # shellcheck disable=SC2086
    qs_expect_rc 2 "$QS_TMP/lbad.out" "$QSCTL" policy set --home "$QS_HOME" $bad
    # shellcheck disable=SC2086
    qs_expect_rc 2 "$QS_TMP/rbad.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/po" policy set $bad
    cmp -s "$QS_TMP/lbad.out.err" "$QS_TMP/rbad.out.err" ||
        qs_fail "policy set $bad: the remote usage error differs:"$'\n'"$(diff "$QS_TMP/lbad.out.err" "$QS_TMP/rbad.out.err")"
done
qs_expect_rc 0 "$QS_TMP/rset.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/po" \
    policy set --topic-type 500 --max-age-days 0 --collect-user-names yes
grep -q '^policy version 3 set by web:po$' "$QS_TMP/rset.out" || qs_fail "remote set: $(cat "$QS_TMP/rset.out")"
grep -q 'topic_max_age_days  {"500":7} -> {}' "$QS_TMP/rset.out" ||
    qs_fail "remote set did not remove topic 500's age: $(cat "$QS_TMP/rset.out")"
qs_expect_rc 0 "$QS_TMP/rset2.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/po" \
    policy set --collect-user-names yes
qs_expect_eq "a remote set without change" "$(cat "$QS_TMP/rset2.out")" \
    "no change: policy version 3 already has these values"
same po "policy history after remote sets" policy history -- policy history

qs_step "audit show|verify, table and json"
for f in table json; do
    same po "audit show --format $f" audit show --format "$f" -- audit show --format "$f"
    same po "audit verify --format $f" audit verify --format "$f" -- audit verify --format "$f"
done

qs_step "compliance, stats, lookup: table, json (csv for compliance)"
for f in table json csv; do
    store_same op "compliance --format $f" compliance --format "$f" -- compliance --format "$f"
done
store_same op "compliance --topic-id" compliance --topic-type 500 --topic-id KB5030211 -- \
    compliance --topic-type 500 --topic-id KB5030211
for f in table json; do
    store_same op "stats --format $f" stats --format "$f" -- stats --format "$f"
    store_same adm "lookup --format $f" lookup --machine PC-rm-1 --format "$f" -- \
        lookup --machine PC-rm-1 --reason "ticket 42" --format "$f"
    store_same adm "lookup --history --format $f" lookup --machine PC-rm-2 --history --format "$f" -- \
        lookup --machine PC-rm-2 --history --reason "ticket 43" --format "$f"
done
qs_expect_rc 2 "$QS_TMP/rfmt.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" stats --format csv
grep -q 'format must be' "$QS_TMP/rfmt.out.err" || qs_fail "stats --format csv was not a usage error"

qs_running web || qs_fail "qs-web died during the test"
qs_stop web || qs_fail "qs-web exited $QS_STOP_RC after SIGTERM"
echo "web_remote: ok"
