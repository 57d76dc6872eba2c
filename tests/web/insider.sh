#!/usr/bin/env bash
# insider.sh - issue #11's insider scenario: an operator with a token and no access to the home.
#
# A real site (broker, store, qs-web as root, the site's service account
# here) with a fleet of 14 machines where some groups are below k = 5 and one
# deployment id names a person ("Deploy-for-jdoe-WS-01", one machine). The
# operator holds only a token, in a file of their own, and runs as `nobody`
# (setpriv). Proves that the operator cannot:
#   - read site.key or store.db (permission denied: the home is 0700);
#   - obtain any machine's state (403 on /machines/NAME and on /forget, /audit,
#     /verify);
#   - obtain any suppressed count: every filter combination of compliance
#     answers the unfiltered rows of its topics (the pattern is the same), each
#     shown topic hides 0 or >= 2 groups, and stats' latest_rows minus the sum
#     of every published cell is 0 or >= k (it is the published sum);
#   - see a topic id whose groups are all below k, in any answer.
# The service account's own qsctl still sees the full total (so the test is not
# vacuous) and the admin's audited lookup still finds the machine.
# Not root: the permission part cannot switch users and is skipped (CI is root).
# Usage: QS_BUILD_DIR=build bash tests/web/insider.sh   (or QSCTL=... QS_WEB=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq curl
qs_find_bins "${1:-}"
if [[ -z ${QS_WEB:-} ]]; then
    QS_WEB=$(find "${1:-${QS_BUILD_DIR:-build}}" -maxdepth 3 -type f -name qs-web -perm -u+x | head -n 1)
fi
[[ -x ${QS_WEB:-} ]] || qs_die "cannot find the qs-web binary (set QS_WEB)"
K=5
SECRET="Deploy-for-jdoe-WS-01"
qs_tmp_new
chmod 711 "$QS_TMP"   # nobody may pass through to its own directory, not list
qs_site_init
qs_free_port WEB_PORT
BASE="http://127.0.0.1:$WEB_PORT"
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$QS_HOME/quietstate.conf"
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k "$K" --max-age-days 30

qs_step "users: an operator and an admin, tokens in files of their own"
AS_OP=()
OPDIR="$QS_TMP/operator"
mkdir -m 700 "$OPDIR"
for u in op:operator adm:admin; do
    qs_expect_rc 0 "$QS_TMP/user-${u%%:*}.out" "$QSCTL" user add --home "$QS_HOME" \
        --name "${u%%:*}" --role "${u#*:}" --out "$OPDIR/${u%%:*}.token"
done
if [[ $(id -u) == 0 ]]; then
    chown -R nobody "$OPDIR"
    AS_OP=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    "${AS_OP[@]}" true || qs_die "setpriv cannot switch to nobody"
else
    qs_warn "not root: the operator runs as $(id -un), the permission checks are skipped"
fi

qs_step "a fleet of 14 machines, some groups below k=$K"
# report MACHINE TOPIC_TYPE TOPIC_ID STATE (into the machine's outbox)
report() {
    qs_report "$1" --topic-type "$2" --topic-id "$3" --state "$4" --machine "$1" --domain CORP
}
qs_start_site
for i in $(seq -w 1 14); do
    m=M$i
    qs_enroll "$m"
    n=$((10#$i))
    # KB100: 7 installed, 3 required (< k), 4 not required (< k)
    report "$m" 500 KB100 $(( n <= 7 ? 3 : n <= 10 ? 2 : 1 ))
    # KB200: 9 installed, 5 required: nothing suppressed
    report "$m" 500 KB200 $(( n <= 9 ? 3 : 2 ))
    # KB300: 6 installed, 6 required, 1 not required (< k): one more hidden
    (( n <= 13 )) && report "$m" 500 KB300 $(( n <= 6 ? 3 : n <= 12 ? 2 : 1 ))
    # DEP-1: 5 installed
    (( n <= 5 )) && report "$m" 301 DEP-1 4
    # the deployment that names a person: one machine
    (( n == 14 )) && report "$m" 300 "$SECRET" 2
    qs_flush "$m" 30
    [[ $QS_RC == 0 ]] || qs_fail "flush of $m exited $QS_RC: $(cat "$QS_TMP/flush-$m.out.err")"
done
qs_stats
TOTAL=$(qs_stat .latest_rows)
qs_expect_eq "latest rows (service account)" "$TOTAL" 47
qs_start web "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"

# op_get PATH FILE: the operator's GET, as the operator's OS user; prints the status.
N=0
ANSWERS="$QS_TMP/answers"
mkdir -p "$ANSWERS"
chmod 777 "$ANSWERS"
op_req() {
    local method=$1 path=$2 body=${3:-}
    N=$((N + 1))
    BODY_FILE="$ANSWERS/a$N.json"
    local args=(-s -o "$BODY_FILE" -w '%{http_code}' -X "$method" --max-time 10 -g
                -H "Authorization: Bearer $("${AS_OP[@]}" cat "$OPDIR/op.token")")
    [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    CODE=$("${AS_OP[@]}" curl "${args[@]}" "$BASE$path") || CODE="curl-failed-$?"
}

qs_step "the operator cannot read the home"
if (( ${#AS_OP[@]} )); then
    for f in keys/site.key store.db site.db keys/audit.key; do
        if "${AS_OP[@]}" cat "$QS_HOME/$f" >"$QS_TMP/steal.out" 2>&1; then
            qs_fail "the operator read $f"
        fi
        grep -qi 'permission denied' "$QS_TMP/steal.out" ||
            qs_fail "reading $f: not a permission error: $(cat "$QS_TMP/steal.out")"
    done
    "${AS_OP[@]}" "$QSCTL" compliance --home "$QS_HOME" >"$QS_TMP/local-op.out" 2>&1 &&
        qs_fail "the operator ran qsctl on the home: $(cat "$QS_TMP/local-op.out")"
    qs_info "site.key, store.db, site.db, audit.key: permission denied; local qsctl refused"
else
    qs_info "skipped (not root)"
fi

qs_step "the operator cannot obtain any machine's state"
op_req GET '/api/v1/machines/M14?reason=curious'
[[ $CODE == 403 ]] || qs_fail "lookup as operator: HTTP $CODE"
op_req GET '/api/v1/machines/M14?reason=curious&history=1'
[[ $CODE == 403 ]] || qs_fail "lookup history as operator: HTTP $CODE"
op_req POST /api/v1/forget '{"machine":"M14"}'
[[ $CODE == 403 ]] || qs_fail "forget as operator: HTTP $CODE"
for p in /api/v1/audit /api/v1/verify /api/v1/policy/history; do
    op_req GET "$p"
    [[ $CODE == 403 ]] || qs_fail "GET $p as operator: HTTP $CODE"
done
"$QSCTL" audit show --home "$QS_HOME" --format json >"$QS_TMP/audit.json"
jq -e '[.entries[] | select(.actor == "web:op")] | length == 0' "$QS_TMP/audit.json" >/dev/null ||
    qs_fail "a refused request left an audit entry or changed something"

qs_step "the operator cannot obtain a suppressed count: shown cells, totals, every filter"
op_req GET /api/v1/compliance
[[ $CODE == 200 ]] || qs_fail "compliance as operator: HTTP $CODE"
cp "$BODY_FILE" "$QS_TMP/all.json"
qs_expect_eq "k" "$(jq .k "$QS_TMP/all.json")" "$K"
# Each topic shows 0 or >= 2 hidden groups; at least one topic hides some.
jq -e --argjson k "$K" '
    .rows | group_by([.topic_type, .topic_id])
    | map([.[] | select(.suppressed == true)] | length)
    | (all(. == 0 or . >= 2)) and (any(. >= 2))' "$QS_TMP/all.json" >/dev/null ||
    qs_fail "a topic shows exactly one hidden group: $(cat "$QS_TMP/all.json")"
# (a no-report cell of 0 is shown: it is nobody)
jq -e --argjson k "$K" 'all(.rows[]; .suppressed == true or .count >= $k or
                                    (.state_id == null and .count == 0))' "$QS_TMP/all.json" >/dev/null ||
    qs_fail "a shown count is below k"
# Differencing with the totals: the scope minus a topic's shown cells is the
# sum H of its m hidden cells: none or at least two (above), and H must not
# pin them (H >= k, not all 1, not all k - 1); a topic with nothing hidden
# adds up to its scope exactly. Percents are null exactly where counts are.
jq -e '.rows | group_by([.topic_type, .topic_id])
       | map(([.[] | select(.suppressed == true)] | length) as $m
             | (.[0].scope - ([.[] | select(.suppressed != true) | .count] | add // 0)) as $h
             | (if $m == 0 then $h == 0 else ($h >= '"$K"' and $h != $m and $h != $m * ('"$K"' - 1)) end)
               and all(.[]; (.suppressed == true and .percent == null) or
                            (.suppressed != true and .percent != null)))
       | all' "$QS_TMP/all.json" >/dev/null ||
    qs_fail "the totals give a suppressed count away: $(cat "$QS_TMP/all.json")"
PUBLISHED=$(jq '[.rows[] | select(.suppressed != true and .state_id != null) | .count] | add // 0' "$QS_TMP/all.json")
qs_expect_eq "published cells" "$PUBLISHED" 32   # KB100 7, KB200 9 + 5, KB300 6, DEP-1 5
# Every filter: exactly the unfiltered rows of its topics, never a new number.
ids=$(jq -r '.rows[].topic_id' "$QS_TMP/all.json" | sort -u)
filters=("")
for tt in 300 301 302 400 401 402 500 501 700; do filters+=("topic_type=$tt"); done
for id in $ids "$SECRET"; do
    enc=$(jq -rn --arg s "$id" '$s | @uri')
    filters+=("topic_id=$enc")
    for tt in 300 301 500; do filters+=("topic_type=$tt&topic_id=$enc"); done
done
for f in "${filters[@]}"; do
    op_req GET "/api/v1/compliance?$f"
    [[ $CODE == 200 ]] || qs_fail "compliance?$f as operator: HTTP $CODE"
    jq -e --slurpfile all "$QS_TMP/all.json" 'all(.rows[]; . as $r | $all[0].rows | index([$r]) != null)' \
        "$BODY_FILE" >/dev/null || qs_fail "compliance?$f shows a row the unfiltered answer does not"
    # and every row of a topic it shows
    jq -e --slurpfile all "$QS_TMP/all.json" '
        (.rows | map([.topic_type, .topic_id]) | unique) as $topics
        | ([$all[0].rows[] | select([.topic_type, .topic_id] as $t | $topics | index([$t]) != null)]
           == .rows)' "$BODY_FILE" >/dev/null ||
        qs_fail "compliance?$f shows a topic with another pattern than the unfiltered answer"
done
qs_info "${#filters[@]} filters: each a subset of the unfiltered answer, topic for topic"
op_req GET /api/v1/stats
[[ $CODE == 200 ]] || qs_fail "stats as operator: HTTP $CODE"
OP_LATEST=$(jq .latest_rows "$BODY_FILE")
REMAINDER=$((OP_LATEST - PUBLISHED))
(( REMAINDER == 0 || REMAINDER >= K )) ||
    qs_fail "stats latest_rows ($OP_LATEST) - published ($PUBLISHED) = $REMAINDER: reveals hidden cells"
(( OP_LATEST < TOTAL )) || qs_fail "the operator's total is the full total ($TOTAL) although cells are hidden"
qs_info "operator latest_rows $OP_LATEST = published sum; the service account's total is $TOTAL"
# The admin and the local service account see the full total.
"$QSCTL" stats --home "$QS_HOME" --format json >"$QS_TMP/local-stats.json"
qs_expect_eq "local stats latest_rows" "$(jq .latest_rows "$QS_TMP/local-stats.json")" "$TOTAL"

qs_step "a topic whose groups are all below k is nowhere"
op_req GET /api/v1/policy
[[ $CODE == 200 ]] || qs_fail "policy as operator: HTTP $CODE"
if grep -rl -- "jdoe" "$ANSWERS" >"$QS_TMP/leaks.txt"; then
    qs_fail "an operator-visible answer names the hidden topic: $(cat "$QS_TMP/leaks.txt")"
fi
op_req GET "/api/v1/compliance?topic_type=300&topic_id=$SECRET"
qs_expect_eq "the hidden topic asked by name" "$(jq -c .rows "$BODY_FILE")" '[]'
qs_info "$N operator answers, none names '$SECRET'"

qs_step "the admin door still finds the machine, audited"
ADM=$(cat "$OPDIR/adm.token")
curl -s -o "$QS_TMP/adm.json" -H "Authorization: Bearer $ADM" \
    "$BASE/api/v1/machines/M14?reason=incident%2077" || qs_fail "admin lookup failed"
jq -e --arg s "$SECRET" '[.rows[] | select(.topic_id == $s)] | length == 1' "$QS_TMP/adm.json" >/dev/null ||
    qs_fail "admin lookup of M14: $(cat "$QS_TMP/adm.json")"
"$QSCTL" audit show --home "$QS_HOME" --format json >"$QS_TMP/audit.json"
jq -e '[.entries[] | select(.actor == "web:adm" and .action == "lookup")] | length == 1' \
    "$QS_TMP/audit.json" >/dev/null || qs_fail "the admin's lookup is not audited"

qs_stop web || qs_fail "qs-web exited $QS_STOP_RC after SIGTERM"
echo "web_insider: ok"
