#!/usr/bin/env bash
# resync_fleet.sh - e2e: `qsctl resync --all` over 1,000 simulated clients.
#
# 1,000 clients deliver 20,000 messages (qs-producer simulate). `qsctl resync
# --all --window 30` asks every client for a full resync; the simulator's
# progress is then set back by one message per client (its state file, test
# only) so that every client contacts the store again, hears the request with
# its delay and re-sends its 20 current states once. Checked: every client
# resynced exactly once (resync.requested = resync.applied = 1,000, stored
# grows by exactly 20,000), no client before its due point, the resends
# spread over the window (of the clients due after the run started, none
# more than 5 s late and no second holding more than 3x the mean), and the
# compliance counts unchanged (equal to the simulator's expected states).
# Usage: tests/e2e/resync_fleet.sh [BUILD_DIR]   (or QSCTL=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

CLIENTS=${QS_RESYNC_CLIENTS:-1000}
MESSAGES=$(( CLIENTS * 20 ))
WINDOW_S=40

qs_need_cmd jq
qs_need_cmd sqlite3
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-resync

rs_sql() {
    if qs_engine_pg; then
        psql -X -q -A -t -F '|' -v ON_ERROR_STOP=1 "$QS_STORE_URL" -c "$1"
    else
        sqlite3 -readonly -batch -noheader -separator '|' -cmd '.timeout 10000' "$QS_HOME/store.db" "$1"
    fi
}
rs_counter() {
    local v
    v=$(rs_sql "SELECT COALESCE(sum(value), 0) FROM counters WHERE name = '$1'")
    printf '%s' "${v:-0}"
}

qs_step "simulate $CLIENTS clients, $MESSAGES messages"
qs_expect_rc 0 "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
    --clients "$CLIENTS" --messages "$MESSAGES" --format json
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
qs_expect_compliance "$QS_TMP/sim.json"
qs_expect_eq "stored" "$(rs_counter stored)" "$MESSAGES"

qs_step "qsctl resync --all --window $WINDOW_S"
qs_expect_rc 0 "$QS_TMP/r.json" "$QSCTL" resync --home "$QS_HOME" --all --window "$WINDOW_S" \
    --as e2e --format json
qs_expect_eq "clients asked" "$(qs_json_get "$QS_TMP/r.json" .clients)" "$CLIENTS"
qs_expect_eq "scope" "$(qs_json_get "$QS_TMP/r.json" .scope)" all
qs_expect_eq "nothing sent before the next contact" "$(rs_counter resync.requested)" 0
qs_expect_rc 0 "$QS_TMP/st1.json" "$QSCTL" resync --home "$QS_HOME" --status --format json
qs_expect_eq "--status: waiting" "$(qs_json_get "$QS_TMP/st1.json" .waiting)" "$CLIENTS"
qs_expect_eq "--status: due range" "$(qs_json_get "$QS_TMP/st1.json" .first_due_utc),$(qs_json_get "$QS_TMP/st1.json" .last_due_utc)" \
    "$(qs_json_get "$QS_TMP/r.json" .first_due_utc),$(qs_json_get "$QS_TMP/r.json" .last_due_utc)"
qs_expect_eq "--status: requested" "$(qs_json_get "$QS_TMP/st1.json" .requested)" 0
qs_expect_rc 2 "$QS_TMP/st_bad.out" "$QSCTL" resync --home "$QS_HOME" --status --all

qs_step "every client contacts the store again (one message resent each)"
sqlite3 "$QS_HOME/sim/state.db" "UPDATE clients SET acked = count - 1"
start=$(date +%s)
start_ms=$(date +%s%3N)
qs_expect_rc 0 "$QS_TMP/sim2.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
    --clients "$CLIENTS" --messages "$MESSAGES" --format json
took=$(( $(date +%s) - start ))
qs_info "the second run took $took s (window $WINDOW_S s)"
(( took >= WINDOW_S - 5 )) || qs_fail "the resends did not wait for the window ($took s)"

qs_step "each client resynced once, after its due point, spread over the window"
qs_expect_eq "resync.requested" "$(rs_counter resync.requested)" "$CLIENTS"
qs_expect_eq "resync.applied" "$(rs_counter resync.applied)" "$CLIENTS"
qs_expect_eq "stored (20 current states re-sent per client)" "$(rs_counter stored)" $(( 2 * MESSAGES ))
qs_expect_eq "pending requests" "$(rs_sql 'SELECT count(*) FROM resync WHERE want_gen <> 0')" 0
qs_expect_rc 0 "$QS_TMP/st2.json" "$QSCTL" resync --home "$QS_HOME" --status --format json
qs_expect_eq "--status after: waiting, in progress, requested, applied" \
    "$(jq -r '[.waiting, .in_progress, .requested, .applied] | map(tostring) | join(",")' "$QS_TMP/st2.json")" \
    "0,0,$CLIENTS,$CLIENTS"
qs_expect_rc 0 "$QS_TMP/st2.txt" "$QSCTL" resync --home "$QS_HOME" --status
grep -q "^applied *$CLIENTS\$" "$QS_TMP/st2.txt" || qs_fail "--status table: no 'applied $CLIENTS' line"
# When each client's resync was written: its rows' report time (all 20 restated at once),
# kept at the policy's precision (a second): the due point is compared at that precision.
rs_sql "SELECT l.client_id, min(l.report_ms), r.due_ms FROM latest l JOIN resync r
        ON r.client_id = l.client_id GROUP BY l.client_id, r.due_ms ORDER BY 1" >"$QS_TMP/times"
qs_expect_eq "clients with a resync time" "$(wc -l <"$QS_TMP/times")" "$CLIENTS"
early=$(awk -F'|' '$2 < $3 - $3 % 1000 { n++ } END { print n + 0 }' "$QS_TMP/times")
qs_expect_eq "clients resynced before their due point" "$early" 0
# Clients whose due point came 15 s after the second run started (past its
# start-up: senders connecting, every client resending a message) must resync
# within a few seconds of it (those due earlier resync at their first
# contact: the run's start-up). Their resyncs must be spread, not bunched.
read -r first last maxb n_due late <<<"$(awk -F'|' -v s="$start_ms" '
    NR == 1 { lo = $2; hi = $2 } { if ($2 < lo) lo = $2; if ($2 > hi) hi = $2 }
    $3 >= s + 15000 { n++; b[int(($2 - s) / 1000)]++; if ($2 - $3 > 5000) late++ }
    END { m = 0; for (k in b) if (b[k] > m) m = b[k]; print lo, hi, m, n + 0, late + 0 }' "$QS_TMP/times")"
span=$(( (last - first) / 1000 ))
mean=$(( CLIENTS / WINDOW_S ))
qs_info "resyncs spread over $span s; $n_due due 15 s after the run started, busiest second of those: $maxb (mean $mean), $late more than 5 s late"
(( span >= WINDOW_S * 7 / 10 && span <= WINDOW_S + 5 )) ||
    qs_fail "resyncs spread over $span s, expected about $WINDOW_S"
(( n_due >= CLIENTS / 2 )) || qs_fail "only $n_due clients were due after the run started"
(( maxb <= 3 * mean )) || qs_fail "$maxb resyncs in one second: a storm (mean $mean)"
qs_expect_eq "clients resynced more than 5 s after their due point" "$late" 0

qs_step "compliance unchanged"
qs_expect_compliance "$QS_TMP/sim.json"
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME"
qs_step "resync_fleet: all checks passed"
