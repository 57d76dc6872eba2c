#!/usr/bin/env bash
# conf_example.sh - dist/quietstate.conf.example is a configuration the
# programs accept, and its values are the defaults `qsctl init` writes (so the
# shipped example cannot drift from the code).
# Needs QSCTL and QS_RETENTION (CTest sets them).
set -euo pipefail

fail() { echo "ship_conf_example: FAIL: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
example=$here/../../dist/quietstate.conf.example
[[ -f $example ]] || fail "no $example"

home=$(mktemp -d /tmp/qs-ship-conf.XXXXXX)
trap 'rm -rf "$home"' EXIT
"$QSCTL" init --home "$home" >/dev/null || fail "qsctl init failed"

# section.key=value lines, comments and blanks left out.
keys() { awk '/^[ \t]*[#;]/ || NF == 0 { next }
              /^\[/ { s = substr($0, 2, index($0, "]") - 2); next }
              { k = $1; sub(/^[^=]*=[ \t]*/, ""); print s "." k "=" $0 }' "$1" | sort; }

written=$(keys "$home/quietstate.conf")
shipped=$(keys "$example")
missing=$(comm -23 <(echo "$written") <(echo "$shipped"))
[[ -z $missing ]] || fail "the example lacks or changes what qsctl init writes:"$'\n'"$missing"

# Every key the example sets, including those init leaves out, is accepted.
cp "$example" "$home/quietstate.conf"
chmod 600 "$home/quietstate.conf"
out=$("$QS_RETENTION" --home "$home" --once 2>&1) ||
    fail "qs-retention refuses the example configuration:"$'\n'"$out"
echo "ship_conf_example: $(wc -l <<<"$shipped") keys, defaults as qsctl init writes them, accepted"
