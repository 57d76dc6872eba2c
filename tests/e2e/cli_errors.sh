#!/usr/bin/env bash
# cli_errors.sh - e2e: bad input at the command line gets a clear error that
# names the field, the right exit code (2 usage, 1 invalid), and never touches
# the outbox; --help works everywhere.
#
# Covers the issue's "non-UTC/invalid time string at the CLI" and the other
# fields a person types: topic type, state id, topic id, details, time.
# Usage: tests/e2e/cli_errors.sh [BUILD_DIR]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
qs_enroll cli

# expect_cli WANT_RC FIELD REPORT_ARGS...: report must exit WANT_RC with a
# message on stderr naming FIELD, and leave the outbox as it was.
expect_cli() {
    local want=$1 field=$2
    shift 2
    qs_run "$QS_TMP/cli.out" "$QS_PRODUCER" --profile "$(qs_profile cli)" \
        --outbox "$(qs_outbox cli)" report "$@"
    [[ $QS_RC == "$want" ]] ||
        qs_fail "report $* exited $QS_RC, expected $want:"$'\n'"$(cat "$QS_TMP/cli.out.err")"
    grep -q -- "$field" "$QS_TMP/cli.out.err" ||
        qs_fail "report $*: the error does not name '$field':"$'\n'"$(cat "$QS_TMP/cli.out.err")"
    local shown="$*"
    (( ${#shown} > 70 )) && shown="${shown:0:67}..."
    printf '    %-70s -> exit %s: %s\n' "$shown" "$QS_RC" "$(head -n 1 "$QS_TMP/cli.out.err")"
}

qs_step "one good report creates the outbox (serial 1)"
qs_report cli --topic-type 500 --topic-id KB5000001 --state 2 --machine PC-CLI-1
pending() {
    sqlite3 -readonly "$(qs_outbox cli)" "SELECT count(*) FROM outbox" 2>/dev/null ||
        qs_fail "cannot read the outbox"
}
before=$(pending)
qs_expect_eq "pending after one report" "$before" 1

qs_step "malformed and invalid fields"
expect_cli 2 --time --topic-type 500 --topic-id KB1 --state 2 --time "2026-11-25T12:00:00+02:00"
expect_cli 2 --time --topic-type 500 --topic-id KB1 --state 2 --time "2026-11-25 12:00:00"
expect_cli 2 --time --topic-type 500 --topic-id KB1 --state 2 --time "yesterday"
expect_cli 2 --time --topic-type 500 --topic-id KB1 --state 2 --time "2026-02-30T00:00:00Z"
expect_cli 1 --time --topic-type 500 --topic-id KB1 --state 2 --time "2099-01-01T00:00:00Z"
expect_cli 1 --time --topic-type 500 --topic-id KB1 --state 2 --time "1999-12-31T23:59:59Z"
expect_cli 1 --topic-type --topic-type 999 --topic-id KB1 --state 2
expect_cli 1 --state --topic-type 500 --topic-id KB1 --state 9
expect_cli 1 --topic-id --topic-type 500 --topic-id "" --state 2
expect_cli 1 --topic-id --topic-type 500 --topic-id "$(printf 'K%.0s' {1..200})" --state 2
expect_cli 1 --details --topic-type 500 --topic-id KB1 --state 2 --details "$(printf 'x%.0s' {1..1100})"
expect_cli 2 --topic-type --topic-type five --topic-id KB1 --state 2
expect_cli 2 --state --topic-type 500 --topic-id KB1

qs_expect_eq "pending after rejected reports" "$(pending)" "$before"

qs_step "--help on every command exits 0"
for cmd in "$QSCTL" "$QS_BROKER" "$QS_STORE" "$QS_PRODUCER"; do
    qs_expect_rc 0 "$QS_TMP/help.out" "$cmd" --help
    grep -qi usage "$QS_TMP/help.out" || qs_fail "$cmd --help prints no usage"
done
for sub in init enroll revoke policy compliance lookup stats audit forget verify; do
    qs_expect_rc 0 "$QS_TMP/help.out" "$QSCTL" "$sub" --help
done
for sub in report flush run simulate; do
    qs_expect_rc 0 "$QS_TMP/help.out" "$QS_PRODUCER" "$sub" --help
done
qs_expect_rc 2 "$QS_TMP/usage.out" "$QSCTL" frobnicate
qs_expect_rc 2 "$QS_TMP/usage.out" "$QSCTL" compliance --home "$QS_HOME" --format yaml

qs_step "cli_errors: every bad field refused with its name, outbox untouched"
