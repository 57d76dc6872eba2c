#!/usr/bin/env bash
# test_ageing.sh - latest rows age out by each machine's last report.
#
# Two machines report the same update now. Then the clock moves 31 days ahead
# (QS_CLOCK_OFFSET_S for qs-store, the producer, qs-retention and qsctl):
# AGE-B keeps reporting (its state changes), AGE-A has gone silent. qs-retention,
# run as a daemon, makes one pass and stops cleanly on SIGTERM; with a 30-day
# policy AGE-A's current state is gone from lookup and from compliance, AGE-B's
# new state is kept, and qsctl verify passes on the moved clock.
#
# Usage: bash tests/retention/test_ageing.sh BUILD_DIR  (or QS_BUILD_DIR=...);
# QS_TEST_ENGINE=pg runs it on a PostgreSQL server of its own.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=retention_lib.sh
. "$HERE/retention_lib.sh"

ret_setup "${1:-}"
DAY_S=86400
AHEAD=$(( 31 * DAY_S ))

compliance_count() {   # STATE_ID: count for KB-AGE-1 in that state ("none" if no row)
    jq -r --argjson s "$1" '[.rows[] | select(.topic_id == "KB-AGE-1" and .state_id == $s)
                             | .count] | if length == 0 then "none" else .[0] end' \
        "$QS_TMP/compliance.json"
}

qs_step "site with a 30-day policy (k 1), two machines report KB-AGE-1 now"
ret_site_init
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --max-age-days 30 --k 1
qs_enroll age-a
qs_enroll age-b
ret_start_site_at 0
qs_report age-a --topic-type 500 --topic-id KB-AGE-1 --state 2 --machine AGE-A --time "$(ret_iso_ago 3600)"
qs_report age-b --topic-type 500 --topic-id KB-AGE-1 --state 2 --machine AGE-B --time "$(ret_iso_ago 3600)"
qs_flush age-a 30; qs_expect_eq "flush age-a" "$QS_RC" 0
qs_flush age-b 30; qs_expect_eq "flush age-b" "$QS_RC" 0
qs_expect_rc 0 "$QS_TMP/compliance.json" "$QSCTL" compliance --home "$QS_HOME" --format json
qs_expect_eq "KB-AGE-1 required" "$(compliance_count 2)" 2

qs_step "31 days later: AGE-B reports again, AGE-A is silent"
ret_restart_store_at "$AHEAD"
QS_CLOCK_OFFSET_S=$AHEAD qs_report age-b --topic-type 500 --topic-id KB-AGE-1 --state 3 \
    --machine AGE-B --time "$(ret_iso_ago $(( 60 - AHEAD )))"
QS_CLOCK_OFFSET_S=$AHEAD qs_flush age-b 30; qs_expect_eq "flush age-b later" "$QS_RC" 0

qs_step "qs-retention as a daemon on the moved clock: one pass, then SIGTERM"
qs_start retention env QS_CLOCK_OFFSET_S="$AHEAD" "$QS_RETENTION" --home "$QS_HOME"
qs_wait_log "${QS_DAEMON_LOG[retention]}" 'retention pass (done|incomplete)' 30 ||
    qs_fail "qs-retention made no pass"
grep -q 'retention pass done' "${QS_DAEMON_LOG[retention]}" ||
    qs_fail "the pass failed: $(cat "${QS_DAEMON_LOG[retention]}")"
qs_stop retention 10 || qs_fail "qs-retention did not exit 0 on SIGTERM (status $QS_STOP_RC)"
(( QS_STOP_MS < 3000 )) || qs_fail "qs-retention took ${QS_STOP_MS} ms to stop while sleeping"

qs_step "AGE-A's state is gone from lookup and compliance; AGE-B's new state stays"
ret_lookup AGE-A a.json
ret_expect_ids a.json
ret_lookup AGE-A a-history.json --history
ret_expect_ids a-history.json
ret_lookup AGE-B b.json
ret_expect_ids b.json KB-AGE-1
qs_expect_eq "AGE-B state" "$(jq -r '.rows[0].state_id' "$QS_TMP/b.json")" 3
qs_expect_rc 0 "$QS_TMP/compliance.json" "$QSCTL" compliance --home "$QS_HOME" --format json
qs_expect_eq "KB-AGE-1 required" "$(compliance_count 2)" none
qs_expect_eq "KB-AGE-1 installed" "$(compliance_count 3)" 1

qs_step "qsctl verify passes on the moved clock, and fails on it before a pass"
QS_CLOCK_OFFSET_S=$AHEAD qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME" \
    --strict --name AGE-A --name AGE-B
QS_CLOCK_OFFSET_S=$(( AHEAD + 31 * DAY_S )) qs_expect_rc 1 "$QS_TMP/verify-late.out" \
    "$QSCTL" verify --home "$QS_HOME" --strict
grep -q 'latest rows of topic 500 were last reported more than 30 days ago' "$QS_TMP/verify-late.out" ||
    qs_fail "verify 62 days ahead should name AGE-B's stale row:"$'\n'"$(cat "$QS_TMP/verify-late.out")"
qs_expect_rc 0 "$QS_TMP/auditv.out" "$QSCTL" audit verify --home "$QS_HOME"

printf '%s: PASS\n' "$QS_LIB_NAME"
