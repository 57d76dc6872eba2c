#!/bin/sh
# test_qsctl.sh - the real qsctl binary, without daemons: every command's exit
# codes (0 ok, 1 failure, 2 usage), --help, and the outputs operators and
# scripts rely on (init, enroll, revoke, policy, compliance, stats, audit).
#
# Usage: sh tests/ctl/test_qsctl.sh path/to/qsctl
# Uses jq (when installed) to check that --format json prints one document,
# and sqlite3 (when installed) to tamper with the audit log.
set -u

QSCTL=${1:?usage: test_qsctl.sh path/to/qsctl}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/qsctl-test.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
H=$TMP/site
failures=0
checks=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect RC CMD...: run qsctl, keep stdout in $TMP/out and stderr in $TMP/err.
expect() {
    want=$1
    shift
    checks=$((checks + 1))
    "$QSCTL" "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" != "$want" ]; then
        fail "qsctl $* exited $got, expected $want; stderr: $(head -c 600 "$TMP/err")"
        return 1
    fi
    return 0
}

# contains FILE TEXT: fixed-string search.
contains() {
    checks=$((checks + 1))
    grep -qF -- "$2" "$1" || fail "$1 does not contain '$2': $(head -c 600 "$1")"
}

# json_ok: stdout is exactly one JSON document.
json_ok() {
    checks=$((checks + 1))
    if command -v jq >/dev/null 2>&1; then
        n=$(jq -s 'length' "$TMP/out" 2>/dev/null) || { fail "not JSON: $(head -c 300 "$TMP/out")"; return; }
        [ "$n" = 1 ] || fail "expected one JSON document, got $n"
    fi
}

# jqv FILTER: value from stdout (empty without jq).
jqv() {
    command -v jq >/dev/null 2>&1 && jq -r "$1" "$TMP/out"
}

mode_of() { stat -c %a "$1"; }

# --- help and usage errors everywhere ------------------------------------
expect 0 --help && contains "$TMP/out" "usage: qsctl COMMAND"
expect 2
expect 2 frobnicate
for c in init enroll revoke policy compliance stats audit; do
    expect 0 "$c" --help && contains "$TMP/out" "usage: qsctl $c"
    expect 2 "$c" --home "$H" --bogus-flag && contains "$TMP/err" "qsctl $c"
done
expect 2 policy set --home "$H" --topic-type 500
expect 2 audit check --home "$H"

# --- before init: failures that say how to fix them ----------------------
expect 1 stats --home "$H" && contains "$TMP/err" "qsctl init --home"
unset QS_HOME
expect 2 compliance && contains "$TMP/err" "QS_HOME"   # usage: --home is required

# --- init ---------------------------------------------------------------
expect 0 init --home "$H" && contains "$TMP/out" "next steps"
[ "$(mode_of "$H")" = 700 ] || fail "home mode $(mode_of "$H")"
[ "$(mode_of "$H/keys")" = 700 ] || fail "keys mode"
[ "$(mode_of "$H/keys/epochs")" = 700 ] || fail "epochs mode"
for f in broker.key store.key site.key audit.key; do
    [ "$(mode_of "$H/keys/$f")" = 600 ] || fail "$f mode $(mode_of "$H/keys/$f")"
done
contains "$H/quietstate.conf" "frontend = tcp://127.0.0.1:5570"
contains "$H/quietstate.conf" "backend = tcp://127.0.0.1:5571"
cp "$H/keys/broker.key" "$TMP/broker.key.before"
expect 1 init --home "$H" && contains "$TMP/err" "already holds a quietstate site"
cmp -s "$H/keys/broker.key" "$TMP/broker.key.before" || fail "init overwrote broker.key"

# QS_HOME stands in for --home from here on.
QS_HOME=$H
export QS_HOME

# --- policy ---------------------------------------------------------------
expect 0 policy show --format json && json_ok
[ "$(jqv .configured)" = false ] || [ -z "$(jqv .configured)" ] || fail "configured before set"
expect 0 policy set --max-age-days 30 --topic-type 500 --max-age-days 7 --k 3 --as ops
OSUSER=$(id -un)
contains "$TMP/out" "policy version 1 set by $OSUSER as ops"
expect 0 policy show --format json && json_ok
if command -v jq >/dev/null 2>&1; then
    [ "$(jqv '.topic_max_age_days["500"]')" = 7 ] || fail "topic age not shown"
    [ "$(jqv .k)" = 3 ] || fail "k not shown"
    [ "$(jqv .actor)" = "$OSUSER as ops" ] || fail "actor not shown"
fi
expect 0 policy history --format json && json_ok
[ -z "$(jqv .versions[0].version)" ] || [ "$(jqv '.versions | length')" = 1 ] || fail "history length"
expect 0 policy show && contains "$TMP/out" "policy version 1"

# --- enroll and revoke ------------------------------------------------------
mkdir "$TMP/profiles"
expect 0 enroll --name ws-001 --out "$TMP/profiles/ws-001.profile"
[ "$(mode_of "$TMP/profiles/ws-001.profile")" = 600 ] || fail "profile mode"
contains "$TMP/profiles/ws-001.profile" "endpoint = tcp://127.0.0.1:5570"
contains "$TMP/profiles/ws-001.profile" "broker_public_key = $(cat "$H/keys/broker.pub")"
contains "$TMP/profiles/ws-001.profile" "store_public_key = $(cat "$H/keys/store.pub")"
expect 1 enroll --name WS-001 --out "$TMP/profiles/again.profile" && contains "$TMP/err" "revoke it first"
[ ! -e "$TMP/profiles/again.profile" ] || fail "a refused enroll left a profile"
echo keep >"$TMP/profiles/taken.profile"
expect 1 enroll --name ws-002 --out "$TMP/profiles/taken.profile" && contains "$TMP/err" "already exists"
contains "$TMP/profiles/taken.profile" "keep"
expect 2 enroll --name ws-003
expect 0 revoke --name ws-001 && contains "$TMP/out" "no restart needed"
expect 1 revoke --name ws-001 && contains "$TMP/err" "no enrolled, unrevoked client"
expect 0 enroll --name ws-001 --out "$TMP/profiles/ws-001-new.profile"

# --- compliance and stats on an empty store --------------------------------
expect 0 compliance --topic-type 500 --format json && json_ok
[ -z "$(jqv .k)" ] || [ "$(jqv .k)" = 3 ] || fail "compliance k"
[ -z "$(jqv '.rows|length')" ] || [ "$(jqv '.rows|length')" = 0 ] || fail "rows on an empty store"
expect 0 compliance --format csv && contains "$TMP/out" "topic_type,topic_id,state_id,state,count,suppressed"
expect 2 compliance --format xml
expect 0 stats --format json && json_ok
for k in stored duplicates clients history_rows latest_rows enrolled revoked rejected rejected_detail; do
    contains "$TMP/out" "\"$k\":"
done
[ -z "$(jqv .enrolled)" ] || [ "$(jqv .enrolled)" = 1 ] || fail "enrolled count"
[ -z "$(jqv .revoked)" ] || [ "$(jqv .revoked)" = 1 ] || fail "revoked count"
expect 0 stats && contains "$TMP/out" "stored"

# --- audit -------------------------------------------------------------------
expect 0 audit show --format json && json_ok
for a in '"action":"init"' '"action":"policy.set"' '"action":"enroll"' '"action":"revoke"'; do
    contains "$TMP/out" "$a"
done
if grep -q "ws-001" "$TMP/out"; then fail "audit log holds a raw client name"; fi
expect 0 audit verify && contains "$TMP/out" "audit log intact: 5 entries"
if command -v sqlite3 >/dev/null 2>&1; then
    sqlite3 "$H/site.db" "UPDATE audit SET detail = '{}' WHERE seq = 3" ||
        fail "sqlite3 update failed"
    expect 1 audit verify && contains "$TMP/err" "entry 3"
    expect 1 audit verify --format json && json_ok
    [ -z "$(jqv .bad_seq)" ] || [ "$(jqv .bad_seq)" = 3 ] || fail "bad_seq"
fi

echo "test_qsctl: $checks checks, $failures failed"
[ "$failures" = 0 ]
