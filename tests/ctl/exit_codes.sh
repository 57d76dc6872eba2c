#!/usr/bin/env bash
# exit_codes.sh - the exit-code table: every program answers the same mistake
# with the same code, and stderr names the problem (docs/commands.md, "Exit
# codes"): 2 for a usage error (unknown option, missing required option or
# value, malformed value; a missing --home with no QS_HOME is one), 1 for a
# failure (the home or a file given does not exist or is not usable).
#
# Usage: tests/ctl/exit_codes.sh QSCTL QS_BROKER QS_STORE QS_RETENTION QS_WEB QS_PRODUCER
set -u

QSCTL=$1 BROKER=$2 STORE=$3 RETENTION=$4 WEB=$5 PRODUCER=$6
TMP=$(mktemp -d "${TMPDIR:-/tmp}/qs-exitcodes.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
NX=$TMP/no-such-home           # a home that does not exist
EMPTY=$TMP/empty; mkdir -p "$EMPTY"; chmod 700 "$EMPTY"   # exists, not a site
FILE=$TMP/plain-file; : >"$FILE"
unset QS_HOME
checks=0 failed=0

# row WANT_RC MUST_NAME PROGRAM ARGS...: run with QS_HOME unset and a 10 s
# bound (a daemon that starts by mistake fails the row, it does not hang it).
row() {
    local want=$1 name=$2 rc
    shift 2
    checks=$((checks + 1))
    timeout 10 "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    if [[ $rc != "$want" ]]; then
        failed=$((failed + 1))
        printf 'FAIL: %s exited %s, expected %s; stderr: %s\n' "$*" "$rc" "$want" \
            "$(head -c 400 "$TMP/err")"
    elif ! grep -qF -- "$name" "$TMP/err"; then
        failed=$((failed + 1))
        printf 'FAIL: %s: stderr does not name "%s": %s\n' "$*" "$name" "$(head -c 400 "$TMP/err")"
    else
        printf '  %-3s %-70.70s names %s\n' "$rc" "$*" "$name"
    fi
}

# --- qsctl: every sub-command, with what it needs besides the mistake ------
declare -A NEEDS=(
    [init]="" [enroll]="--name alice --out $TMP/alice.profile" [revoke]="--name alice"
    ["policy set"]="--k 3" ["policy show"]="" ["policy history"]=""
    [compliance]="" [lookup]="--machine PC1" [stats]=""
    ["audit show"]="" ["audit verify"]="" ["audit head"]=""
    [forget]="--machine PC1" [verify]="" [import]="$FILE"
    ["user add"]="--name bob --role operator" ["user list"]="" ["user remove"]="--name bob"
)
for cmd in "${!NEEDS[@]}"; do
    # shellcheck disable=SC2086  # word splitting of the sub-command and its needs is meant
    set -- $cmd ${NEEDS[$cmd]}
    row 2 "--bogus" "$QSCTL" "$@" --home "$EMPTY" --bogus
    row 2 "QS_HOME" "$QSCTL" "$@"
    row 2 "--home" "$QSCTL" "$@" --home
    if [[ $cmd == init ]]; then
        row 1 "$FILE" "$QSCTL" "$@" --home "$FILE"          # init makes a missing home
        row 2 "--frontend" "$QSCTL" "$@" --home "$NX" --frontend nonsense
    else
        row 1 "$NX" "$QSCTL" "$@" --home "$NX"
        row 1 "$EMPTY" "$QSCTL" "$@" --home "$EMPTY"
    fi
done
row 2 "--format" "$QSCTL" stats --home "$EMPTY" --format yaml
row 2 "--max-age-days" "$QSCTL" policy set --home "$EMPTY" --max-age-days lots
row 2 "--role" "$QSCTL" user add --home "$EMPTY" --name bob --role boss
row 2 "--as" "$QSCTL" enroll --home "$EMPTY" --name a --out "$TMP/a" --as "$(printf 'x%.0s' {1..80})"
row 2 "frobnicate" "$QSCTL" frobnicate

# --- the daemons ----------------------------------------------------------
for prog in "$BROKER" "$STORE" "$RETENTION" "$WEB"; do
    row 2 "--bogus" "$prog" --home "$EMPTY" --bogus
    row 2 "QS_HOME" "$prog"
    row 2 "--home" "$prog" --home
    row 2 "stray" "$prog" --home "$EMPTY" stray
    row 1 "$NX" "$prog" --home "$NX"
    row 1 "$EMPTY" "$prog" --home "$EMPTY"
done

# --- qs-producer: the endpoint's tool has a profile and an outbox ---------
row 2 "--bogus" "$PRODUCER" --bogus report
row 2 "frobnicate" "$PRODUCER" frobnicate
row 2 "--outbox" "$PRODUCER" --profile "$TMP/p" report --topic-type 500 --topic-id KB1 --state 2
row 2 "--state" "$PRODUCER" --outbox "$TMP/o.db" report --topic-type 500 --topic-id KB1 --state two
row 2 "valid: 0 unknown, 1 not required, 2 required, 3 installed" "$PRODUCER" --outbox "$TMP/o.db" report --topic-type 500 --topic-id KB1 --state instaled
row 2 "not a state of topic type 301" "$PRODUCER" --outbox "$TMP/o.db" report --topic-type 301 --topic-id KB1 --state uninstalling
row 2 "no state names" "$PRODUCER" --outbox "$TMP/o.db" report --topic-type 999 --topic-id KB1 --state installed
row 2 "--batch" "$PRODUCER" --profile "$TMP/p" --outbox "$TMP/o.db" run --batch 0
row 1 "$TMP/no-such.profile" "$PRODUCER" --profile "$TMP/no-such.profile" --outbox "$TMP/o.db" flush
row 2 "QS_HOME" "$PRODUCER" simulate --clients 1 --messages 1
row 2 "--clients" "$PRODUCER" simulate --home "$EMPTY" --clients many --messages 1
row 1 "$NX" "$PRODUCER" simulate --home "$NX" --clients 1 --messages 1 --timeout 5
row 2 "--outbox" "$PRODUCER" state
row 2 "--format" "$PRODUCER" --outbox "$TMP/o.db" state --format yaml
row 2 "--max-pending" "$PRODUCER" --outbox "$TMP/o.db" status --max-pending 0
row 2 "--scan-every" "$PRODUCER" --profile "$TMP/p" --outbox "$TMP/o.db" run --scan-every 1y
row 1 "$NX" "$PRODUCER" --outbox "$TMP/o.db" scan --root "$NX"

echo "exit_codes: $checks checks, $failed failed"
[[ $failed == 0 ]]
