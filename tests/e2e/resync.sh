#!/usr/bin/env bash
# resync.sh - e2e: the store asks a producer for its whole current state, and
# replaces the machine's state with it (docs/resync.md).
#
# (a) A gap that cannot close: a message is removed from a producer's outbox
#     before it was sent. The store holds the serials above it in `seen`;
#     after the gap limit (QS_TEST_RESYNC_GAP_MS, test only) it gives the gap
#     up, asks for a resync in the Ack, the producer re-sends every topic's
#     current state and the machine's state is complete and exact (the lost
#     message's topic included), `seen` empty.
# (b) A fresh outbox under an enrolled key: its serials restart at 1. The
#     store sees the new instance id, takes the serials as new (nothing
#     lost), asks for a resync, and the machine's state becomes the new
#     outbox's: topics only the old outbox had are removed, counts exact.
# (c) qsctl resync --machine: audited, re-sent on next contact, the state
#     unchanged.
# Usage: tests/e2e/resync.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq
qs_need_cmd sqlite3
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
export QS_TEST_RESYNC_GAP_MS=2000   # the store gives a gap up after 2 s
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-resync

# rs_sql SQL: one query of the store's database (either engine).
rs_sql() {
    if qs_engine_pg; then
        psql -X -q -A -t -F '|' -v ON_ERROR_STOP=1 "$QS_STORE_URL" -c "$1"
    else
        sqlite3 -readonly -batch -noheader -cmd '.timeout 10000' "$QS_HOME/store.db" "$1"
    fi
}
# rs_counter NAME: a counter of the store (PostgreSQL: summed over shards).
rs_counter() {
    local v
    v=$(rs_sql "SELECT COALESCE(sum(value), 0) FROM counters WHERE name = '$1'")
    printf '%s' "${v:-0}"
}
# rs_state MACHINE: the machine's current states as "topic_id=state" lines, sorted.
rs_state() {
    qs_expect_rc 0 "$QS_TMP/lookup.json" "$QSCTL" lookup --home "$QS_HOME" --machine "$1" --format json
    jq -r '.rows[] | "\(.topic_type):\(.topic_id)=\(.state_id)"' "$QS_TMP/lookup.json" | sort
}
rs_verify() {
    qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME"
}
T=$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)

qs_step "(a) a gap that cannot close: serial 5 removed from the outbox before it was sent"
qs_enroll rs-a
for i in 1 2 3; do
    qs_report rs-a --topic-type 500 --topic-id "KB500000$i" --state 2 --machine PC-RS-A --time "$T"
done
qs_flush rs-a 30
qs_expect_eq "flush rs-a" "$QS_RC" 0
for i in 4 5 6; do
    qs_report rs-a --topic-type 500 --topic-id "KB500000$i" --state 3 --machine PC-RS-A --time "$T"
done
sqlite3 "$(qs_outbox rs-a)" "DELETE FROM outbox WHERE serial = 5"
qs_flush rs-a 60
qs_expect_eq "flush rs-a after the gap" "$QS_RC" 0
want=$(printf '500:KB5000001=2\n500:KB5000002=2\n500:KB5000003=2\n500:KB5000004=3\n500:KB5000005=3\n500:KB5000006=3')
qs_expect_eq "rs-a state (the lost message's topic restored)" "$(rs_state pc-rs-a)" "$want"
qs_expect_eq "resync.gap_given_up" "$(rs_counter resync.gap_given_up)" 1
qs_expect_eq "resync.requested" "$(rs_counter resync.requested)" 1
qs_expect_eq "resync.applied" "$(rs_counter resync.applied)" 1
qs_expect_eq "seen rows left" "$(rs_sql 'SELECT count(*) FROM seen')" 0
# 6 topics first, then all 6 again as the resync (serials 7..12).
qs_expect_eq "low_water of rs-a" "$(rs_sql 'SELECT max(low_water) FROM clients')" 12
rs_verify

qs_step "(b) a fresh outbox reusing an enrolled key: detected, resynced, nothing lost"
qs_enroll rs-b
for i in 1 2 3; do
    qs_report rs-b --topic-type 500 --topic-id "KB510000$i" --state 2 --machine PC-RS-B --time "$T"
done
qs_flush rs-b 30
qs_expect_eq "flush rs-b" "$QS_RC" 0
mv "$(qs_outbox rs-b)" "$QS_TMP/rs-b.old-outbox"
rm -f "$(qs_outbox rs-b)-wal" "$(qs_outbox rs-b)-shm"
# The new outbox's serials 1 and 2: before, duplicates of the old 1 and 2 (lost).
qs_report rs-b --topic-type 500 --topic-id KB5100001 --state 3 --machine PC-RS-B --time "$T"
qs_report rs-b --topic-type 500 --topic-id KB5100009 --state 1 --machine PC-RS-B --time "$T"
qs_flush rs-b 60
qs_expect_eq "flush rs-b (new outbox)" "$QS_RC" 0
qs_expect_eq "rs-b state (the new outbox's, the old topics gone)" "$(rs_state pc-rs-b)" \
    "$(printf '500:KB5100001=3\n500:KB5100009=1')"
qs_expect_eq "resync.new_instance" "$(rs_counter resync.new_instance)" 1
qs_expect_eq "resync.applied" "$(rs_counter resync.applied)" 2
qs_expect_rc 0 "$QS_TMP/c.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
rows=$(jq -c '[.rows[] | select(.state_id != null) | select(.topic_id | startswith("KB51")) | [.topic_id, .state_id, .count]]' "$QS_TMP/c.json")
qs_expect_eq "compliance of rs-b's topics" "$rows" '[["KB5100001",3,1],["KB5100009",1,1]]'
rs_verify

qs_step "(c) qsctl resync --machine: audited, re-sent on next contact, state unchanged"
qs_expect_rc 2 "$QS_TMP/u.out" "$QSCTL" resync --home "$QS_HOME"
grep -q -- "--machine NAME, --all and --status" "$QS_TMP/u.out.err" || qs_fail "no usage error naming the options"
qs_expect_rc 0 "$QS_TMP/h.out" "$QSCTL" resync --help
qs_expect_rc 1 "$QS_TMP/n.out" "$QSCTL" resync --home "$QS_HOME" --machine no-such-pc
qs_expect_rc 0 "$QS_TMP/r.json" "$QSCTL" resync --home "$QS_HOME" --machine PC-RS-A --as e2e --format json
qs_expect_eq "clients asked" "$(qs_json_get "$QS_TMP/r.json" .clients)" 1
qs_expect_eq "scope" "$(qs_json_get "$QS_TMP/r.json" .scope)" machine
qs_expect_rc 0 "$QS_TMP/audit.json" "$QSCTL" audit show --home "$QS_HOME" --format json
jq -e '[.. | objects | select(.action? == "resync")] | length == 1' "$QS_TMP/audit.json" >/dev/null ||
    qs_fail "no resync audit entry:"$'\n'"$(head -c 3000 "$QS_TMP/audit.json")"
if grep -qi "pc-rs-a" "$QS_TMP/audit.json"; then qs_fail "the audit log names the machine"; fi
qs_report rs-a --topic-type 500 --topic-id KB5000007 --state 1 --machine PC-RS-A --time "$T"
qs_flush rs-a 60
qs_expect_eq "flush rs-a (next contact)" "$QS_RC" 0
qs_expect_eq "rs-a state after its resync" "$(rs_state pc-rs-a)" "$(printf '%s\n500:KB5000007=1' "$want")"
qs_expect_eq "resync.requested" "$(rs_counter resync.requested)" 3
qs_expect_eq "resync.applied" "$(rs_counter resync.applied)" 3
qs_expect_eq "pending requests" "$(rs_sql 'SELECT count(*) FROM resync WHERE want_gen <> 0')" 0
rs_verify

if ! qs_engine_pg; then   # one worker: its store.stats holds every count
    qs_step "store.stats (qs-web's /metrics): the requests sent and the resyncs applied"
    sleep 1.5   # written at most once a second
    qs_expect_eq "store.stats resync_requested" "$(jq .resync_requested "$QS_HOME/store.stats")" 3
    qs_expect_eq "store.stats resync_applied" "$(jq .resync_applied "$QS_HOME/store.stats")" 3
fi
qs_step "resync: all checks passed"
