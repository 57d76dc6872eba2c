#!/usr/bin/env bash
# pg_e2e.sh - PostgreSQL end to end: one broker, two qs-store workers, a fleet; exact counts.
#
# A throwaway PostgreSQL server (pg_lib.sh) holds the store of a site made
# by `qsctl init --database` (no store.db, key chains in keys/epochs). One
# qs-broker and TWO qs-store workers on that database; `qs-producer
# simulate` delivers MESSAGES messages from CLIENTS clients in small
# batches, so both workers take groups at the same time. Then one real
# client reports DUPS messages, flushes them, and sends the very same
# envelopes again (its outbox restored from a copy): every one of them must
# come back a duplicate.
#
# Checks, over the database's tables (psql) once the workers stopped:
#   - per client: serials 1..n in history exactly once, low_water = n,
#     nothing left in seen (two workers with one client's batches never
#     both store a serial);
#   - counters: stored = MESSAGES + DUPS = history rows = what the two
#     workers say they stored; duplicates >= DUPS; nothing rejected;
#   - both workers stored something;
#   - compliance_counts summed over shards = latest grouped, and = the
#     simulator's expected latest states (plus the real client's row);
#   - qsctl stats (stored, history rows, duplicates, clients) and qsctl
#     compliance (row for row) say the same, read from PostgreSQL.
#
# Usage: tests/pg/pg_e2e.sh [BUILD_DIR]   (or QSCTL=... QS_STORE=... env)
# Knobs: QS_PG_CLIENTS (40), QS_PG_MESSAGES (8000), QS_PG_BATCH (10), QS_PG_DUPS (20).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../scripts/lib.sh"
source "$here/pg_lib.sh"
source "$here/pg_e2e_lib.sh"

CLIENTS=${QS_PG_CLIENTS:-40}
MESSAGES=${QS_PG_MESSAGES:-8000}
BATCH=${QS_PG_BATCH:-10}
DUPS=${QS_PG_DUPS:-20}

pge_setup "${1:-}"

qs_step "one broker, two qs-store workers on $PG_URL"
pge_start_broker
pge_start_worker store1
pge_start_worker store2
qs_wait_log "$QS_TMP/store1.log" "started" 20 || qs_fail "store1 did not start"
qs_wait_log "$QS_TMP/store2.log" "started" 20 || qs_fail "store2 did not start"
sleep 0.5

qs_step "simulate $CLIENTS clients, $MESSAGES messages in batches of $BATCH"
qs_expect_rc 0 "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
    --clients "$CLIENTS" --messages "$MESSAGES" --batch "$BATCH" --timeout 240 --format json
qs_info "$(jq -c 'del(.expected_latest)' "$QS_TMP/sim.json")"
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
qs_expect_eq "simulate .rejected" "$(qs_json_get "$QS_TMP/sim.json" .rejected)" 0

qs_step "a real client: $DUPS messages, then the same envelopes again"
qs_enroll dup
for i in $(seq 1 "$DUPS"); do
    qs_report dup --topic-type 500 --topic-id "KB-DUP-$i" --state 2 --machine PC-DUP --domain CORP
done
cp "$(qs_outbox dup)" "$QS_TMP/outbox.copy"
qs_flush dup 60
(( QS_RC == 0 )) || qs_fail "flush exited $QS_RC:"$'\n'"$(cat "$QS_TMP/flush-dup.out.err")"
dup_before=$(pge_counter duplicates)
cp "$QS_TMP/outbox.copy" "$(qs_outbox dup)"
qs_flush dup 60
(( QS_RC == 0 )) || qs_fail "the second flush exited $QS_RC:"$'\n'"$(cat "$QS_TMP/flush-dup.out.err")"

qs_step "stop the workers cleanly"
qs_stop store1 15 || qs_fail "store1 exited $QS_STOP_RC on SIGTERM"
qs_stop store2 15 || qs_fail "store2 exited $QS_STOP_RC on SIGTERM"

qs_step "exactly once, over the database"
bad=$(pge_exactly_once_violations)
[[ -z $bad ]] || qs_fail "clients whose history is not 1..n once each with low_water = n and seen empty"$'\n'"(client_id low_water rows distinct min max seen):"$'\n'"$(head -n 20 <<<"$bad")"
total=$((MESSAGES + DUPS))
qs_expect_eq "clients" "$(pge_sql 'SELECT count(*) FROM clients')" "$((CLIENTS + 1))"
qs_expect_eq "counter stored" "$(pge_counter stored)" "$total"
qs_expect_eq "history rows" "$(pge_history_rows)" "$total"
qs_expect_eq "partitions.rows summed over shards" \
    "$(pge_sql 'SELECT coalesce(sum(rows), 0) FROM partitions')" "$total"
dups=$(pge_counter duplicates)
(( dups - dup_before >= DUPS )) || qs_fail "the resent envelopes made $((dups - dup_before)) duplicates, expected at least $DUPS"
qs_expect_eq "rejected counters" "$(pge_sql "SELECT coalesce(sum(value), 0) FROM counters WHERE name LIKE 'rejected%'")" 0
s1=$(pge_worker_stored store1)
s2=$(pge_worker_stored store2)
qs_info "store1 stored ${s1:-?}, store2 stored ${s2:-?}, duplicates $dups"
(( ${s1:-0} > 0 && ${s2:-0} > 0 )) || qs_fail "both workers must have stored messages (store1 ${s1:-0}, store2 ${s2:-0})"
qs_expect_eq "stored by the two workers" "$((s1 + s2))" "$total"

qs_step "compliance_counts (summed over shards) = latest grouped = the simulator's states"
qs_expect_eq "compliance_counts mismatches" "$(pge_counts_mismatch)" 0
pge_sql "SELECT topic_type, topic_id, state_id, sum(count) FROM compliance_counts
         WHERE topic_id NOT LIKE 'KB-DUP-%' GROUP BY 1, 2, 3 HAVING sum(count) <> 0
         ORDER BY 1, 2, 3" | sort >"$QS_TMP/got.txt"
jq -r '.expected_latest[] | "\(.topic_type)|\(.topic_id)|\(.state_id)|\(.count)"' \
    "$QS_TMP/sim.json" | sort >"$QS_TMP/want.txt"
cmp -s "$QS_TMP/got.txt" "$QS_TMP/want.txt" ||
    qs_fail "compliance counts differ from the simulator's expected latest:"$'\n'"$(diff "$QS_TMP/want.txt" "$QS_TMP/got.txt" | head -n 30)"
qs_expect_eq "the real client's rows" \
    "$(pge_sql "SELECT sum(count) FROM compliance_counts WHERE topic_id LIKE 'KB-DUP-%' AND state_id = 2")" "$DUPS"

qs_step "qsctl stats and qsctl compliance on PostgreSQL say the same"
qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
qs_expect_eq "qsctl stats .stored" "$(qs_stat .stored)" "$total"
qs_expect_eq "qsctl stats .history_rows" "$(qs_stat .history_rows)" "$total"
qs_expect_eq "qsctl stats .duplicates" "$(qs_stat .duplicates)" "$dups"
qs_expect_eq "qsctl stats .clients" "$(qs_stat .clients)" "$((CLIENTS + 1))"
: >"$QS_TMP/rows.jsonl"
for tt in $(jq -r '[.expected_latest[].topic_type] | unique | .[]' "$QS_TMP/sim.json"); do
    qs_expect_rc 0 "$QS_TMP/compliance-$tt.json" "$QSCTL" compliance --home "$QS_HOME" \
        --topic-type "$tt" --format json
    jq -c '.rows[] | select(.state_id != null)' "$QS_TMP/compliance-$tt.json" >>"$QS_TMP/rows.jsonl"
done
jq -r 'select(.topic_id | startswith("KB-DUP-") | not)
       | "\(.topic_type)|\(.topic_id)|\(.state_id)|\(.count)"' "$QS_TMP/rows.jsonl" |
    sort >"$QS_TMP/qsctl.txt"
cmp -s "$QS_TMP/qsctl.txt" "$QS_TMP/want.txt" ||
    qs_fail "qsctl compliance differs from the simulator's expected latest:"$'\n'"$(diff "$QS_TMP/want.txt" "$QS_TMP/qsctl.txt" | head -n 30)"
qs_expect_eq "qsctl compliance: the real client's topics" \
    "$(jq -s '[.[] | select(.topic_id | startswith("KB-DUP-")) | .count] | add' "$QS_TMP/rows.jsonl")" "$DUPS"

qs_running broker || qs_fail "qs-broker died during the run"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
qs_step "ok"
