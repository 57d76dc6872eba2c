#!/usr/bin/env bash
# api.sh - qs-web through real HTTP against a real site (broker, store, qs-web).
#
# Proves: every role x endpoint pair (401 without or with a bad token, 403 for
# a role that may not, 200/201 where allowed); the API answers with the
# documents qsctl prints (policy, audit, compliance, stats, lookup and its
# history form, verify; forget's answer is the detail of its audit entry,
# as `qsctl forget` writes it); changes and lookups are audited under the authenticated user's name
# with the reason; a client enrolled through the API delivers with the profile
# it got; bad input (oversized and chunked bodies, malformed JSON, wrong JSON
# types, unknown fields, path traversal, unknown routes and methods, unknown
# query parameters, malformed HTTP, a slow client holding every connection)
# gets a clear 4xx or a closed connection and leaves the daemon serving;
# lookups are rate-limited per admin (429); qsctl --url prints what the local
# command prints; token files and loose homes are refused; beyond loopback
# qs-web refuses plain HTTP; with a certificate it serves HTTPS; SIGTERM stops
# it cleanly.
# Usage: QS_BUILD_DIR=build bash tests/web/api.sh   (or QSCTL=... QS_WEB=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq curl openssl
qs_find_bins "${1:-}"
if [[ -z ${QS_WEB:-} ]]; then
    QS_WEB=$(find "${1:-${QS_BUILD_DIR:-build}}" -maxdepth 3 -type f -name qs-web -perm -u+x | head -n 1)
fi
[[ -x ${QS_WEB:-} ]] || qs_die "cannot find the qs-web binary (set QS_WEB)"
qs_tmp_new
qs_site_init
qs_free_port WEB_PORT
BASE="http://127.0.0.1:$WEB_PORT"
CONF="$QS_HOME/quietstate.conf"
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$CONF"
cat >>"$CONF" <<EOF
max_connections = 6
timeout_seconds = 2
max_body_bytes = 4096
lookups_per_minute = 3
EOF

qs_step "users of each role, tokens in 0600 files"
mkdir -m 700 "$QS_TMP/tok"
for u in op:operator adm:admin po:privacy-officer; do
    qs_expect_rc 0 "$QS_TMP/user-${u%%:*}.out" "$QSCTL" user add --home "$QS_HOME" \
        --name "${u%%:*}" --role "${u#*:}" --out "$QS_TMP/tok/${u%%:*}" --as e2e-admin
    [[ $(stat -c %a "$QS_TMP/tok/${u%%:*}") == 600 ]] || qs_fail "token file of ${u%%:*} is not 0600"
done
declare -A TOKEN=([op]=$(cat "$QS_TMP/tok/op") [adm]=$(cat "$QS_TMP/tok/adm") [po]=$(cat "$QS_TMP/tok/po"))
TOKEN[none]=""
TOKEN[bad]="qs_$(printf '0%.0s' {1..64})"
qs_expect_rc 1 "$QS_TMP/dup.out" "$QSCTL" user add --home "$QS_HOME" --name op --role admin
qs_expect_rc 0 "$QS_TMP/users.json" "$QSCTL" user list --home "$QS_HOME" --format json
qs_expect_eq "user list" "$(jq -c '[.users[] | [.name, .role]]' "$QS_TMP/users.json")" \
    '[["adm","admin"],["op","operator"],["po","privacy-officer"]]'
grep -q qs_ "$QS_TMP/users.json" && qs_fail "user list shows a token"

qs_start_site
qs_start web "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"

# req NAME METHOD PATH [BODY] [CURL_ARGS...]: one request as user NAME; sets
# CODE and BODY_FILE.
N=0
req() {
    local who=$1 method=$2 path=$3 body=${4:-}
    shift 4 || shift $#
    N=$((N + 1))
    BODY_FILE="$QS_TMP/r$N.json"
    local args=(-s -o "$BODY_FILE" -w '%{http_code}' -X "$method" --max-time 10 --path-as-is)
    [[ -n ${TOKEN[$who]} ]] && args+=(-H "Authorization: Bearer ${TOKEN[$who]}")
    [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    CODE=$(curl "${args[@]}" "$@" "$BASE$path") || CODE="curl-failed-$?"
}
expect() {   # expect WANT_CODE DESCRIPTION
    [[ $CODE == "$1" ]] || qs_fail "$2: got HTTP $CODE, want $1: $(head -c 400 "$BODY_FILE" 2>/dev/null)"
    if [[ $1 -ge 400 ]]; then
        jq -e '.error | type == "string"' "$BODY_FILE" >/dev/null 2>&1 ||
            qs_fail "$2: HTTP $CODE without a JSON {\"error\": ...} body: $(head -c 400 "$BODY_FILE")"
    fi
}

qs_step "enroll a client to revoke later (admin)"
req adm POST /api/v1/clients '{"name":"web-rv"}'
expect 201 "enroll web-rv"

qs_step "every role x endpoint pair"
# METHOD PATH BODY | operator admin privacy-officer (none and a bad token: always 401)
TABLE=(
    'GET|/api/v1/policy||200 200 200'
    'GET|/api/v1/policy/history||403 403 200'
    'PUT|/api/v1/policy|{"k":1}|403 403 200'
    'GET|/api/v1/audit||403 403 200'
    'GET|/api/v1/audit/verify||403 403 200'
    'POST|/api/v1/clients|{"name":"web-c1"}|403 201 403'
    'DELETE|/api/v1/clients/web-rv||403 200 403'
    'GET|/api/v1/compliance?topic_type=500||200 200 200'
    'GET|/api/v1/stats||200 200 200'
    'GET|/api/v1/machines/PC-1?reason=ticket%2042||403 200 403'
    'POST|/api/v1/forget|{"machine":"PC-1"}|403 403 200'
    'GET|/api/v1/verify||403 403 200'
)
for row in "${TABLE[@]}"; do
    IFS='|' read -r method path body wants <<<"$row"
    read -r w_op w_adm w_po <<<"$wants"
    for who in none bad; do
        req "$who" "$method" "$path" "$body"
        expect 401 "$method $path as $who"
    done
    for who in op adm po; do
        want=w_$who
        req "$who" "$method" "$path" "$body"
        expect "${!want}" "$method $path as $who"
        [[ "$method $path" == "POST /api/v1/clients" && $who == adm ]] && cp "$BODY_FILE" "$QS_TMP/enrolled.json"
    done
    qs_info "$method $path: op $w_op, admin $w_adm, privacy-officer $w_po, no/bad token 401"
done

qs_step "the API returns qsctl's documents"
for f in policy:"policy show" policy/history:"policy history" audit:"audit show"; do
    req po GET "/api/v1/${f%%:*}"
    expect 200 "GET /api/v1/${f%%:*}"
    # shellcheck disable=SC2086
    qs_expect_rc 0 "$QS_TMP/local.json" "$QSCTL" ${f#*:} --home "$QS_HOME" --format json
    if [[ ${f%%:*} == audit ]]; then   # the local run does not change the log: same entries
        qs_expect_eq "audit entries" "$(jq -c . "$BODY_FILE")" "$(jq -c . "$QS_TMP/local.json")"
    else
        qs_expect_eq "${f#*:} document" "$(jq -cS . "$BODY_FILE")" "$(jq -cS . "$QS_TMP/local.json")"
    fi
done

qs_step "changes and lookups are audited under the authenticated name, with the reason"
qs_expect_rc 0 "$QS_TMP/audit.json" "$QSCTL" audit show --home "$QS_HOME" --format json
got=$(jq -c '[.entries[] | select(.actor | startswith("web:")) | [.actor, .action]]' "$QS_TMP/audit.json")
qs_expect_eq "web audit entries" "$got" \
    '[["web:adm","enroll"],["web:po","policy.set"],["web:adm","enroll"],["web:adm","revoke"],["web:adm","lookup"],["web:po","forget"]]'
qs_expect_eq "forget detail (as qsctl forget writes it)" \
    "$(jq -c '[.entries[] | select(.action == "forget")][0].detail | keys' "$QS_TMP/audit.json")" \
    '["history_rows","latest_rows","machine_ps","partitions","scrubbed"]'
qs_expect_eq "lookup reason" "$(jq -r '[.entries[] | select(.action == "lookup")][0].detail.reason' "$QS_TMP/audit.json")" "ticket 42"
jq -e '[.entries[] | select(.action == "user.add")] | length == 3 and all(.actor | endswith(" as e2e-admin"))' \
    "$QS_TMP/audit.json" >/dev/null || qs_fail "user.add entries do not name the OS user and --as"
grep -q 'PC-1' "$QS_TMP/audit.json" && qs_fail "the audit log holds a raw machine name"
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" audit verify --home "$QS_HOME"

qs_step "a client enrolled through the API delivers with its profile"
mkdir -p "$QS_TMP/clients" && chmod 700 "$QS_TMP/clients"
(umask 077 && jq -r .profile "$QS_TMP/enrolled.json" >"$QS_TMP/clients/web-c1.profile")
qs_expect_eq "enrolled name" "$(jq -r .name "$QS_TMP/enrolled.json")" web-c1
sleep 0.5   # the broker reloads site.db every 200 ms
qs_report web-c1 --topic-type 500 --topic-id KB5030211 --state 2 --machine PC-web --domain CORP
qs_flush web-c1 30
[[ $QS_RC == 0 ]] || qs_fail "flush of the API-enrolled client exited $QS_RC: $(cat "$QS_TMP/flush-web-c1.out.err")"
qs_stats
qs_expect_eq "stored" "$(qs_stat .stored)" 1

qs_step "the store side answers with qsctl's documents"
# same_doc WHAT LOCAL_FILE: the last answer equals the local document (jq -S).
same_doc() {
    qs_expect_eq "$1" "$(jq -cS . "$BODY_FILE")" "$(jq -cS . "$2")"
}
for who in op adm po; do   # k = 1 here: the operator's published total is the total
    for q in '' '?topic_type=500' '?topic_id=KB5030211' '?topic_type=500&topic_id=KB5030211'; do
        req "$who" GET "/api/v1/compliance$q"
        expect 200 "compliance$q as $who"
        args=(--home "$QS_HOME" --format json)
        [[ $q == *topic_type* ]] && args+=(--topic-type 500)
        [[ $q == *topic_id* ]] && args+=(--topic-id KB5030211)
        qs_expect_rc 0 "$QS_TMP/lc.json" "$QSCTL" compliance "${args[@]}"
        same_doc "compliance$q as $who" "$QS_TMP/lc.json"
    done
    # The broker rewrites broker.stats on its own schedule: read both sides
    # again (bounded) until no write fell between them, then compare.
    for ((try = 0; try < 20; try++)); do
        qs_stats
        req "$who" GET /api/v1/stats
        [[ $(jq -cS . "$BODY_FILE") == "$(jq -cS . "$QS_TMP/stats.json")" ]] && break
        sleep 0.5
    done
    expect 200 "stats as $who"
    same_doc "stats as $who" "$QS_TMP/stats.json"
done
qs_expect_eq "compliance row" "$(jq -c '[.rows[] | select(.state_id != null) | [.topic_id, .state_id, .count]]' "$QS_TMP/lc.json")" \
    '[["KB5030211",2,1]]'
req po GET /api/v1/verify
expect 200 "verify"
qs_run "$QS_TMP/lv.json" "$QSCTL" verify --home "$QS_HOME" --format json
same_doc "verify" "$QS_TMP/lv.json"
jq -e '(.ok | type == "boolean") and .checked.latest_rows == 1 and .checked.history_rows == 1' \
    "$BODY_FILE" >/dev/null || qs_fail "verify through the API: $(cat "$BODY_FILE")"
req op GET '/api/v1/compliance?topic_type=12'
expect 400 "an unknown topic type"
req po POST /api/v1/forget '{"machine":"   "}'
expect 400 "forget of a blank name"

req adm POST /api/v1/clients '{"name":"web-c1"}'
expect 409 "enrolling an enrolled name again"
# One machine, one state (docs/privacy.md 3c): bind a key to its machine,
# and replace a name's key in one step, through the API as with qsctl.
req adm POST /api/v1/clients '{"name":"web-bound","machine":"PC-WEB-BOUND"}'
expect 201 "enroll bound to a machine"
qs_expect_eq "bound: machine_ps, not replaced" \
    "$(jq -c '[(.machine_ps | length), .replaced]' "$BODY_FILE")" '[16,false]'
bound_ps=$(jq -r .machine_ps "$BODY_FILE")
req adm POST /api/v1/clients '{"name":"web-bound2","machine":"pc-web-bound"}'
expect 409 "a second unrevoked key for the same machine (any case)"
req adm POST /api/v1/clients '{"name":"web-bound","replace":true}'
expect 201 "replace: the name's key revoked, the new key enrolled"
qs_expect_eq "replaced, bound to the replaced key's machine" \
    "$(jq -c '[.machine_ps, .replaced]' "$BODY_FILE")" "[\"$bound_ps\",true]"
req adm POST /api/v1/clients '{"name":"web-bound","replace":"yes"}'
expect 400 "replace that is not a boolean"
req adm POST /api/v1/clients '{"name":"web-bound3","machine":5}'
expect 400 "machine that is not a string"
req adm DELETE /api/v1/clients/nobody
expect 404 "revoking an unknown client"

qs_step "bad input: each a clear 4xx, the daemon unharmed"
big=$(printf '{"k":1,"pad":"%s"}' "$(head -c 5000 /dev/zero | tr '\0' x)")
req po PUT /api/v1/policy "$big"
expect 413 "oversized body (Content-Length)"
req po PUT /api/v1/policy "$big" -H 'Transfer-Encoding: chunked'
expect 413 "oversized chunked body"
req po PUT /api/v1/policy '{"k": 1,'
expect 400 "malformed JSON"
req po PUT /api/v1/policy '[1,2]'
expect 400 "JSON that is not an object"
req po PUT /api/v1/policy '{"k":"five"}'
expect 400 "wrong JSON type"
jq -r .error "$BODY_FILE" | grep -q "'k'" || qs_fail "the wrong-type error does not name 'k': $(cat "$BODY_FILE")"
req po PUT /api/v1/policy '{"collect_user_names":"yes"}'
expect 400 "a string for a boolean"
req po PUT /api/v1/policy '{"kay":1}'
expect 400 "unknown field"
jq -r .error "$BODY_FILE" | grep -q "kay" || qs_fail "the unknown-field error does not name it"
req adm POST /api/v1/clients '{"name":"x","extra":1}'
expect 400 "unknown field in enroll"
req po POST /api/v1/forget '{"machine":5}'
expect 400 "wrong type in forget"
for p in '/api/v1/../../etc/passwd' '/static/../../../etc/passwd' '/api/v1/machines/..' \
         '/api/v1/machines/..%2F..%2Fetc%2Fpasswd' '/api/v1/./policy' '//api/v1/policy' '/%2e%2e/keys/site.key'; do
    req po GET "$p"
    [[ $CODE == 400 || $CODE == 404 ]] || qs_fail "path '$p' got HTTP $CODE, want 400 or 404"
    jq -e .error "$BODY_FILE" >/dev/null || qs_fail "path '$p': no JSON error body"
done
req po GET /nowhere
expect 404 "unknown route"
req po DELETE /api/v1/policy
expect 405 "wrong method"
req po GET '/api/v1/policy?debug=1'
expect 400 "unknown query parameter"
req op GET '/api/v1/compliance?topic_type=abc'
expect 400 "non-numeric topic_type"
req adm GET /api/v1/machines/PC-1
expect 400 "lookup without a reason"
req adm GET "/api/v1/machines/PC-1?reason=$(head -c 300 /dev/zero | tr '\0' r)"
expect 400 "lookup with an overlong reason"
req adm GET '/api/v1/machines/pc-WEB?reason=again&domain=corp'
expect 200 "second lookup this minute"
qs_expect_rc 0 "$QS_TMP/ll.json" "$QSCTL" lookup --home "$QS_HOME" --machine PC-web --domain CORP \
    --format json
same_doc "lookup" "$QS_TMP/ll.json"
qs_expect_eq "lookup rows" "$(jq -c '[.rows[] | [.topic_id, .state_id]]' "$BODY_FILE")" '[["KB5030211",2]]'
req adm GET '/api/v1/machines/PC-web?reason=again&history=1'
expect 200 "third lookup this minute (history)"
qs_expect_rc 0 "$QS_TMP/llh.json" "$QSCTL" lookup --home "$QS_HOME" --machine PC-web --history \
    --format json
same_doc "lookup --history" "$QS_TMP/llh.json"
jq -e '.history == true and (.rows | length == 1) and .rows[0].serial == 1' "$BODY_FILE" >/dev/null ||
    qs_fail "lookup history: $(cat "$BODY_FILE")"
req adm GET '/api/v1/machines/PC-3?reason=again'
expect 429 "fourth lookup this minute (limit 3)"
exec {raw}<>"/dev/tcp/127.0.0.1/$WEB_PORT"
printf 'THIS IS NOT HTTP\r\n\r\n' >&"$raw"
reply=$(timeout 5 head -c 200 <&"$raw" || true)
exec {raw}>&-
[[ $reply == *" 400 "* || -z $reply ]] || qs_fail "malformed HTTP got: $reply"
qs_running web || qs_fail "qs-web died on bad input"

qs_step "slow clients: with every connection held, others wait; idle ones are cut after the timeout"
fds=()
for i in 1 2 3 4 5 6; do
    exec {fd}<>"/dev/tcp/127.0.0.1/$WEB_PORT"
    printf 'GET /api/v1/policy HTTP/1.1\r\n' >&"$fd"   # never finishes its headers
    fds+=("$fd")
done
sleep 0.3
req po GET /api/v1/policy "" --max-time 1
[[ $CODE != 200 ]] || qs_fail "a 7th connection was served while 6 (the limit) were held open"
sleep 2.5   # timeout_seconds = 2: the server closes the idle ones
req po GET /api/v1/policy
expect 200 "after the slow clients timed out"
closed=0
for fd in "${fds[@]}"; do
    rc=0
    read -r -t 1 -u "$fd" _ 2>/dev/null || rc=$?
    (( rc == 1 )) && closed=$((closed + 1))   # 1: end of file; > 128: still open
done
(( closed == 6 )) || qs_fail "only $closed of 6 idle connections were closed by the server"
for fd in "${fds[@]}"; do exec {fd}>&-; done
qs_running web || qs_fail "qs-web died under slow clients"

qs_step "qsctl --url prints what the local command prints"
for f in table json; do
    qs_expect_rc 0 "$QS_TMP/local-$f.out" "$QSCTL" policy show --home "$QS_HOME" --format "$f"
    qs_expect_rc 0 "$QS_TMP/remote-$f.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" \
        policy show --format "$f"
    cmp -s "$QS_TMP/local-$f.out" "$QS_TMP/remote-$f.out" ||
        qs_fail "policy show --format $f differs:"$'\n'"$(diff "$QS_TMP/local-$f.out" "$QS_TMP/remote-$f.out")"
done
qs_expect_rc 0 "$QS_TMP/lh.out" "$QSCTL" policy history --home "$QS_HOME"
QS_URL=$BASE QS_TOKEN_FILE=$QS_TMP/tok/po qs_expect_rc 0 "$QS_TMP/rh.out" "$QSCTL" policy history
cmp -s "$QS_TMP/lh.out" "$QS_TMP/rh.out" || qs_fail "policy history differs over QS_URL"
qs_expect_rc 0 "$QS_TMP/rset.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/po" \
    policy set --topic-type 500 --max-age-days 30
grep -q 'set by web:po' "$QS_TMP/rset.out" || qs_fail "remote policy set: $(cat "$QS_TMP/rset.out")"
qs_expect_rc 0 "$QS_TMP/rv.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/po" audit verify
grep -q 'audit log intact' "$QS_TMP/rv.out" || qs_fail "remote audit verify: $(cat "$QS_TMP/rv.out")"
qs_expect_rc 1 "$QS_TMP/r403.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" policy history
grep -q 'HTTP 403' "$QS_TMP/r403.out.err" || qs_fail "remote 403 not reported: $(cat "$QS_TMP/r403.out.err")"
qs_expect_rc 0 "$QS_TMP/rstats.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" stats --format json
qs_stats
qs_expect_eq "remote stats" "$(jq -cS . "$QS_TMP/rstats.out")" "$(jq -cS . "$QS_TMP/stats.json")"
qs_expect_rc 0 "$QS_TMP/rcomp.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" compliance --format json
qs_expect_rc 0 "$QS_TMP/lcomp.out" "$QSCTL" compliance --home "$QS_HOME" --format json
cmp -s "$QS_TMP/rcomp.out" "$QS_TMP/lcomp.out" || qs_fail "remote compliance differs"
qs_expect_rc 0 "$QS_TMP/rforget.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/po" forget --machine PC-web
qs_stats
qs_expect_eq "latest rows after a remote forget" "$(qs_stat .latest_rows)" 0
qs_expect_rc 0 "$QS_TMP/audit2.json" "$QSCTL" audit show --home "$QS_HOME" --format json
jq -e '[.entries[] | select(.action == "forget" and .actor == "web:po")] | last | .detail.latest_rows == 1' \
    "$QS_TMP/audit2.json" >/dev/null || qs_fail "the remote forget is not audited with its counts"
chmod 644 "$QS_TMP/tok/op"
qs_expect_rc 1 "$QS_TMP/rmode.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" policy show
grep -q 'chmod 600' "$QS_TMP/rmode.out.err" || qs_fail "a 0644 token file was not refused"
chmod 600 "$QS_TMP/tok/op"

qs_step "removed users are refused at once"
qs_expect_rc 0 "$QS_TMP/rm.out" "$QSCTL" user remove --home "$QS_HOME" --name op
req op GET /api/v1/policy
expect 401 "a removed user's token"

qs_step "refusals at start: loose home, plain HTTP beyond loopback"
chmod 755 "$QS_HOME"
qs_expect_rc 1 "$QS_TMP/loose.out" "$QS_WEB" --home "$QS_HOME"
grep -q 'chmod' "$QS_TMP/loose.out.err" || qs_fail "loose home: $(cat "$QS_TMP/loose.out.err")"
chmod 700 "$QS_HOME"
cp "$CONF" "$QS_TMP/conf.saved"
qs_free_port ANY_PORT
sed -i "s/^listen = .*/listen = 0.0.0.0:$ANY_PORT/" "$CONF"
qs_expect_rc 1 "$QS_TMP/plain.out" "$QS_WEB" --home "$QS_HOME"
grep -q 'tls_cert' "$QS_TMP/plain.out.err" || qs_fail "plain HTTP beyond loopback: $(cat "$QS_TMP/plain.out.err")"
qs_expect_rc 2 "$QS_TMP/usage.out" "$QS_WEB" --bogus "$QS_HOME"

qs_step "HTTPS with a certificate from the config"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$QS_TMP/tls.key" -out "$QS_TMP/tls.crt" \
    >/dev/null 2>&1 || qs_die "openssl cannot make a test certificate"
chmod 600 "$QS_TMP/tls.key"
qs_free_port TLS_PORT
sed -i "s/^listen = .*/listen = 127.0.0.1:$TLS_PORT/" "$CONF"
printf 'tls_cert = %s\ntls_key = %s\n' "$QS_TMP/tls.crt" "$QS_TMP/tls.key" >>"$CONF"
qs_start webtls "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$TLS_PORT" 20 || qs_fail "qs-web (TLS) does not listen"
BASE="https://127.0.0.1:$TLS_PORT"
req po GET /api/v1/policy "" --cacert "$QS_TMP/tls.crt"
expect 200 "GET over HTTPS"
req po GET /api/v1/policy ""
[[ $CODE != 200 ]] || qs_fail "an unverified certificate was accepted"
qs_expect_rc 0 "$QS_TMP/tls-remote.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/po" \
    --cacert "$QS_TMP/tls.crt" policy show
qs_expect_rc 0 "$QS_TMP/tls-local.out" "$QSCTL" policy show --home "$QS_HOME"
cmp -s "$QS_TMP/tls-local.out" "$QS_TMP/tls-remote.out" || qs_fail "policy show over HTTPS differs"
qs_expect_rc 1 "$QS_TMP/tls-noca.out" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/po" policy show
qs_stop webtls || qs_fail "qs-web (TLS) did not stop cleanly: $QS_STOP_RC"
chmod 644 "$QS_TMP/tls.key"
qs_expect_rc 1 "$QS_TMP/tlsmode.out" "$QS_WEB" --home "$QS_HOME"
grep -q 'chmod' "$QS_TMP/tlsmode.out.err" || qs_fail "a 0644 TLS key was not refused"
cp "$QS_TMP/conf.saved" "$CONF"

qs_step "SIGTERM stops qs-web cleanly"
qs_running web || qs_fail "qs-web died during the test"
qs_stop web || qs_fail "qs-web exited $QS_STOP_RC after SIGTERM"
grep -q 'stopped' "${QS_DAEMON_LOG[web]}" || qs_fail "no 'stopped' line in qs-web's log"
echo "web_api: ok"
