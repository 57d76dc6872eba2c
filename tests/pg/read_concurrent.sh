#!/usr/bin/env bash
# read_concurrent.sh - retention deletes while two workers write: the counts stay exact.
#
# A PostgreSQL site with two qs-store workers takes a simulated fleet while
# qs-retention runs a pass every second on a clock 31 days ahead (policy: 30
# days), so from its point of view every latest row and every partition is
# expired the moment it is written: it deletes latest rows (subtracting their
# counts in its own shard), drops the day's partitions under the workers'
# feet, folds the shards under its lock, all while the workers insert,
# update and count. Then:
#   - every message was acknowledged (a worker that lost its partition or hit
#     a deadlock answered RETRY_LATER and the producer resent);
#   - compliance_counts summed over shards equals latest grouped, at the end
#     of the run and after the last pass;
#   - after a last pass with the workers stopped, latest is empty and
#     compliance_counts holds no row at all (no topic id outlives its rows);
#   - qsctl compliance, stats and verify agree with the tables.
#
# Usage: bash tests/pg/read_concurrent.sh [BUILD_DIR]   (or QS_BIN_DIR / QS_BUILD_DIR)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../scripts/lib.sh"
source "$here/pg_lib.sh"
source "$here/pg_e2e_lib.sh"

CLIENTS=${QS_PG_CLIENTS:-30}
# Enough for several passes to overlap the writes (two workers take ~40k/s).
MESSAGES=${QS_PG_MESSAGES:-240000}
AHEAD=$(( 31 * 86400 ))

pge_setup "${1:-}"
QS_RETENTION=${QS_RETENTION:-$(find "${1:-${QS_BIN_DIR:-${QS_BUILD_DIR:-build}}}" -maxdepth 4 \
    -type f -name qs-retention -perm -u+x 2>/dev/null | head -n 1)}
[[ -x ${QS_RETENTION:-} ]] || qs_fail "cannot find qs-retention (set QS_RETENTION)"
qs_expect_rc 0 "$QS_TMP/policy30.out" "$QSCTL" policy set --home "$QS_HOME" --max-age-days 30 \
    --k 1 --as "$QS_LIB_NAME"
sed -i 's/^interval_seconds = .*/interval_seconds = 1/' "$QS_HOME/quietstate.conf"

qs_step "two workers, and qs-retention every second on a clock 31 days ahead"
pge_start_broker
pge_start_worker store1
pge_start_worker store2
qs_wait_log "$QS_TMP/store1.log" "started" 20 || qs_fail "store1 did not start"
qs_wait_log "$QS_TMP/store2.log" "started" 20 || qs_fail "store2 did not start"
qs_start retention env QS_CLOCK_OFFSET_S="$AHEAD" "$QS_RETENTION" --home "$QS_HOME"
qs_wait_log "${QS_DAEMON_LOG[retention]}" 'retention pass (done|incomplete)' 30 ||
    qs_fail "qs-retention made no pass"

qs_step "simulate $CLIENTS clients, $MESSAGES messages while retention deletes"
qs_expect_rc 0 "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
    --clients "$CLIENTS" --messages "$MESSAGES" --batch 10 --timeout 240 --format json
qs_info "$(jq -c 'del(.expected_latest)' "$QS_TMP/sim.json")"
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
passes=$(grep -Ec 'retention pass (done|incomplete)' "${QS_DAEMON_LOG[retention]}")
deleted=$(grep -Ec 'deleted [0-9]+ latest rows|dropped expired partition' \
    "${QS_DAEMON_LOG[retention]}" || true)
qs_info "$passes retention passes, $deleted of them deleted rows or dropped partitions"
(( deleted > 0 )) || qs_fail "retention deleted nothing while the workers wrote:"$'\n'"$(tail -n 20 "${QS_DAEMON_LOG[retention]}")"
grep -E 'error' "${QS_DAEMON_LOG[retention]}" | head -n 5 || true

qs_step "workers and retention stopped: the counts are exact"
qs_stop retention 15 || qs_fail "qs-retention exited $QS_STOP_RC on SIGTERM"
qs_stop store1 15 || qs_fail "store1 exited $QS_STOP_RC on SIGTERM"
qs_stop store2 15 || qs_fail "store2 exited $QS_STOP_RC on SIGTERM"
qs_expect_eq "compliance_counts mismatches" "$(pge_counts_mismatch)" 0
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME"
qs_expect_rc 0 "$QS_TMP/stats.json" "$QSCTL" stats --home "$QS_HOME" --format json
qs_expect_eq "qsctl stats .latest_rows" "$(jq -r .latest_rows "$QS_TMP/stats.json")" \
    "$(pge_sql 'SELECT count(*) FROM latest')"
qs_expect_rc 0 "$QS_TMP/compliance.json" "$QSCTL" compliance --home "$QS_HOME" --format json
qs_expect_eq "qsctl compliance total" "$(jq '[.rows[] | select(.state_id != null) | .count] | add // 0' "$QS_TMP/compliance.json")" \
    "$(pge_sql 'SELECT count(*) FROM latest')"

qs_step "a last pass: nothing left, not even a count row"
qs_expect_rc 0 "$QS_TMP/last.out" env QS_CLOCK_OFFSET_S="$AHEAD" "$QS_RETENTION" \
    --home "$QS_HOME" --once
qs_expect_eq "latest rows" "$(pge_sql 'SELECT count(*) FROM latest')" 0
qs_expect_eq "compliance_counts rows" "$(pge_sql 'SELECT count(*) FROM compliance_counts')" 0
qs_expect_eq "history rows" "$(pge_history_rows)" 0
qs_expect_eq "compliance_counts mismatches" "$(pge_counts_mismatch)" 0
QS_CLOCK_OFFSET_S=$AHEAD qs_expect_rc 0 "$QS_TMP/verify2.out" "$QSCTL" verify --home "$QS_HOME" \
    --strict

qs_running broker || qs_fail "qs-broker died during the run"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
printf '%s: PASS\n' "$QS_LIB_NAME"
