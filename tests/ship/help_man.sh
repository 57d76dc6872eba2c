#!/usr/bin/env bash
# help_man.sh - every program and qsctl sub-command has a man page, and the
# long options its --help lists are exactly those its man page lists, so the
# two never disagree.
#
# Options are the `--[a-z-]+` tokens of the --help text and of the generated
# page (build/man, roff with font escapes removed). qs-producer's one page
# covers its commands, so its set is the union of their --help texts. The
# qsctl sub-commands are taken from `qsctl --help` itself: a new command
# without a page fails here.
# Needs QSCTL QS_BROKER QS_STORE QS_RETENTION QS_PRODUCER QS_WEB QS_MAN_DIR (CTest sets them).
set -uo pipefail

failures=0
fail() { echo "ship_help_man: FAIL: $*" >&2; failures=$((failures + 1)); }

for v in QSCTL QS_BROKER QS_STORE QS_RETENTION QS_PRODUCER QS_WEB QS_MAN_DIR; do
    [[ -n ${!v:-} ]] || { echo "ship_help_man: FAIL: $v is not set" >&2; exit 1; }
done

options() { grep -o -- '--[a-z][a-z-]*' | sed 's/-*$//' | sort -u; }

# help_of PROGRAM ARGS...: the --help text; --help must exit 0.
help_of() {
    local out
    out=$("$@" --help 2>&1) || { fail "'${*##*/} --help' exits $?"; return; }
    printf '%s\n' "$out"
}

# page_options PAGE: the options in a generated page.
page_options() {
    sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' "$QS_MAN_DIR/$1" | options
}

# check PAGE HELPTEXT: compare the two sets.
check() {
    local page=$1 help=$2 want got
    if [[ ! -f $QS_MAN_DIR/$page ]]; then
        fail "no man page $page (add man/$page.scd)"
        return
    fi
    want=$(options <<<"$help")
    got=$(page_options "$page")
    if [[ $want != "$got" ]]; then
        fail "$page and --help disagree:"$'\n'"$(diff <(echo "$want") <(echo "$got") |
            sed -n 's/^< /  only in --help: /p; s/^> /  only in the page: /p')"
    else
        echo "ok  $page ($(wc -l <<<"$want") options)"
    fi
}

check qs-broker.8 "$(help_of "$QS_BROKER")"
check qs-store.8 "$(help_of "$QS_STORE")"
check qs-retention.8 "$(help_of "$QS_RETENTION")"
check qs-web.8 "$(help_of "$QS_WEB")"

producer_help=$(help_of "$QS_PRODUCER")
for c in report flush run simulate scan state status; do
    producer_help+=$'\n'$(help_of "$QS_PRODUCER" "$c")
done
check qs-producer.1 "$producer_help"

qsctl_help=$(help_of "$QSCTL")
check qsctl.1 "$qsctl_help"
# The commands: indented lines of one word and a description after "commands:".
commands=$(sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\)  .*/\1/p' <<<"$qsctl_help")
[[ $(wc -w <<<"$commands") -ge 11 ]] || fail "cannot read the commands from 'qsctl --help'"
for c in $commands; do
    check "qsctl-$c.1" "$(help_of "$QSCTL" "$c")"
    grep -q "qsctl-$c" "$QS_MAN_DIR/qsctl.1" || fail "qsctl.1 does not list qsctl-$c(1)"
done

# No page without a program or command behind it.
for p in "$QS_MAN_DIR"/*.[0-9]; do
    n=${p##*/}; n=${n%.*}
    case $n in
        qs-broker|qs-store|qs-retention|qs-web|qs-producer|qsctl) ;;
        qsctl-*) grep -qx "${n#qsctl-}" <<<"$commands" || fail "page $n for no qsctl command" ;;
        *) fail "page $n for no program" ;;
    esac
done

if ((failures > 0)); then
    echo "ship_help_man: $failures failure(s)" >&2
    exit 1
fi
echo "ship_help_man: every page agrees with its --help"
