#!/usr/bin/env bash
# revoke_live.sh - fault: `qsctl revoke` cuts off a connected, reporting
# client within a second, without restarting anything; new handshakes are
# refused; re-enrolling the name issues a new key and the old one stays out.
#
# A fresh site (policy k=1) runs qs-broker and qs-store. Two clients, alice
# and bob, each have a `qs-producer run` delivering continuously from an
# outbox and a loop calling `qs-producer report` into that outbox every
# ~20 ms (each report's serial and completion time are logged). Once alice
# has messages stored, `qsctl revoke --name alice` runs (t0 before it, t1
# after it returns) and both keep reporting for CUTOFF_WATCH_S seconds.
# Checks (store.db read-only with sqlite3; the store stamps clients.last_ms
# with its clock at each commit for that client):
#   - alice's last commit is at most LIMIT_MS after t1 (reported: revocation
#     latency = last_ms - t0 and - t1), and no message she reported later
#     than t1 + LIMIT_MS is stored; she reported many more after that;
#   - her producer is told (REVOKED, from the broker or the store) at most
#     LIMIT_MS after t1: her first delivery after the revocation is refused;
#   - her outbox keeps every message that was not stored (nothing deleted
#     without an ack);
#   - bob is unaffected: stored messages he reported after the revocation;
#   - qs-broker and qs-store are the same processes as at the start;
#   - a new handshake with alice's key is refused by ZAP: `flush` exits 1,
#     nothing more stored, and the broker logs the refusal as "client revoked";
#   - `qsctl enroll --name alice` again gives a profile with a different key
#     that delivers (flush exits 0, its messages stored once), while the old
#     profile stays refused.
# Usage: tests/fault/revoke_live.sh [BUILD_DIR]   (or QS_BIN_DIR / QSCTL=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

LIMIT_MS=1000
CUTOFF_WATCH_S=4

fault_setup "${1:-}"
qs_start_site
BROKER_PID=${QS_DAEMON_PID[broker]}
STORE_PID=${QS_DAEMON_PID[store]}

qs_step "enroll alice and bob; each runs a producer and reports continuously"
qs_enroll alice
qs_enroll bob
# The broker reloads its key set every 200 ms; a handshake before that is
# refused (see the report for what that does to a producer): wait it out.
sleep 0.5
qs_start alice_run "$QS_PRODUCER" --profile "$(qs_profile alice)" --outbox "$(qs_outbox alice)" run
qs_start bob_run "$QS_PRODUCER" --profile "$(qs_profile bob)" --outbox "$(qs_outbox bob)" run

# reporter NAME: report forever (until $QS_TMP/stop-NAME exists); log "serial ms".
reporter() {
    local name=$1 i=0 s
    while [[ ! -e $QS_TMP/stop-$name ]]; do
        i=$((i + 1))
        if s=$("$QS_PRODUCER" --profile "$(qs_profile "$name")" --outbox "$(qs_outbox "$name")" \
                report --topic-type 500 --topic-id "KB$((5001000 + i % 40))" --state $((1 + i % 3)) \
                --machine "PC-${name^^}" --domain CORP 2>>"$QS_TMP/reporter-$name.err"); then
            echo "$s $(fault_now_ms)" >>"$QS_TMP/$name.reports"
        fi
        sleep 0.02
    done
}
reporter alice &
QS_DAEMON_PID[alice_reporter]=$!
reporter bob &
QS_DAEMON_PID[bob_reporter]=$!

low_water() {   # low_water PROFILE
    local id
    id=$(fault_client_id "$1")
    [[ -n $id ]] || { echo 0; return; }
    fault_sql "$STORE_DB" "SELECT low_water FROM clients WHERE client_id = $id"
}
qs_wait_until 30 "alice to have 20 messages stored" \
    eval '(( $(low_water "$(qs_profile alice)") >= 20 ))' ||
    qs_fail "alice's messages are not being stored"$'\n'"$(tail -n 20 "$QS_TMP/alice_run.log")"
qs_wait_until 30 "bob to have 20 messages stored" \
    eval '(( $(low_water "$(qs_profile bob)") >= 20 ))' || qs_fail "bob's messages are not being stored"

qs_step "revoke alice while she is connected and reporting"
t0=$(fault_now_ms)
qs_expect_rc 0 "$QS_TMP/revoke.out" "$QSCTL" revoke --home "$QS_HOME" --name alice
t1=$(fault_now_ms)
qs_info "qsctl revoke took $((t1 - t0)) ms"
sleep "$CUTOFF_WATCH_S"
# On a loaded machine alice's report loop is slow: keep watching (bounded)
# until she has tried enough times after the cut-off for the test to prove it.
late_reports() { awk -v t="$((t1 + LIMIT_MS))" '$2 > t' "$QS_TMP/alice.reports" | wc -l; }
enough_late() { (( $(late_reports) >= 20 )); }
qs_wait_until 60 "20 reports from alice after the cut-off" enough_late ||
    qs_warn "alice made only $(late_reports) reports after the cut-off in 60 s"
touch "$QS_TMP/stop-alice"
fault_reap alice_reporter
sleep 1   # bob keeps going a little longer: he must still be served

ALICE_ID=$(fault_client_id "$(qs_profile alice)")
BOB_ID=$(fault_client_id "$(qs_profile bob)")
a_last=$(fault_sql "$STORE_DB" "SELECT last_ms FROM clients WHERE client_id = $ALICE_ID")
a_lw=$(fault_sql "$STORE_DB" "SELECT low_water FROM clients WHERE client_id = $ALICE_ID")
a_reported=$(tail -n 1 "$QS_TMP/alice.reports" | cut -d' ' -f1)
a_rows=$(fault_sql "$STORE_DB" "SELECT COUNT(*), IFNULL(MAX(serial), 0) FROM ($(fault_history_sql)) WHERE client_id = $ALICE_ID" | tr '|' ' ')
read -r a_count a_max <<<"$a_rows"
# When was alice's highest stored serial reported?
a_max_ms=$(awk -v s="$a_max" '$1 == s { print $2 }' "$QS_TMP/alice.reports")
late=$(awk -v t="$((t1 + LIMIT_MS))" '$2 > t' "$QS_TMP/alice.reports" | wc -l)
latency0=$((a_last - t0))
latency1=$((a_last - t1))
qs_info "alice: reported $a_reported, stored $a_count (serials up to $a_max, low_water $a_lw)"
qs_info "alice's last commit: $latency0 ms after revoke started, $latency1 ms after it returned (limit $LIMIT_MS ms)"
qs_info "her last stored message was reported $((a_max_ms - t1)) ms after revoke returned; $late reported later than the limit"
(( latency1 <= LIMIT_MS )) ||
    qs_fail "alice's messages were still stored $latency1 ms after qsctl revoke returned (limit $LIMIT_MS ms)"
(( a_max_ms <= t1 + LIMIT_MS )) ||
    qs_fail "a message alice reported $((a_max_ms - t1)) ms after the revocation was stored"
(( late >= 20 )) || qs_fail "alice reported only $late messages after the cut-off window: the test proves too little"
qs_expect_eq "alice's history rows = low_water (no gap, no double)" "$a_count" "$a_lw"
pending=$(fault_sql "$(qs_outbox alice)" "SELECT COUNT(*) FROM outbox")
qs_info "alice's outbox holds $pending messages ($((a_reported - a_lw)) reported and not stored)"
(( pending >= a_reported - a_lw )) ||
    qs_fail "alice's outbox holds $pending messages, fewer than the $((a_reported - a_lw)) not stored: deleted without an ack"

b_cut=$(awk -v t="$((t1 + 2 * LIMIT_MS))" '$2 <= t { s = $1 } END { print s + 0 }' "$QS_TMP/bob.reports")
b_lw=$(fault_sql "$STORE_DB" "SELECT low_water FROM clients WHERE client_id = $BOB_ID")
qs_info "bob: $b_lw stored; he had reported $b_cut by 2 s after the revocation"
(( b_lw >= b_cut )) || qs_fail "bob was cut off too: only $b_lw stored, but $b_cut reported by t1 + 2 s"
qs_expect_eq "qs-broker pid (no restart)" "${QS_DAEMON_PID[broker]}" "$BROKER_PID"
qs_expect_eq "qs-store pid (no restart)" "${QS_DAEMON_PID[store]}" "$STORE_PID"
qs_running broker || qs_fail "qs-broker died"
qs_running store || qs_fail "qs-store died"
a8=$(fault_profile_pk "$(qs_profile alice)" | cut -c1-8 | tr 'A-F' 'a-f')
# first_log_ms FILE REGEX: time of the first log line after t0 matching REGEX.
first_log_ms() {
    local ts rest ms
    while read -r ts rest; do
        ms=$(date -u -d "$ts" +%s%3N 2>/dev/null) || continue
        (( ms >= t0 )) && { echo "$ms"; return; }
    done < <(grep -E -- "$2" "$1")
}
# When alice's producer first heard that she is revoked (a REVOKED notice from
# the broker, or a REVOKED ack from the store for a batch that slipped past
# the broker's 200 ms reload): her first delivery attempt after the revocation.
told=$(first_log_ms "$QS_TMP/alice_run.log" 'REVOKED|revoked|refuses this client')
[[ -n $told ]] || qs_fail "alice's producer was never told she is revoked:"$'\n'"$(tail -n 10 "$QS_TMP/alice_run.log")"
qs_info "alice's producer was refused $((told - t0)) ms after revoke started: $(grep -E -m1 'REVOKED|revoked|refuses this client' "$QS_TMP/alice_run.log" | cut -d' ' -f3-)"
cut=$(first_log_ms "$QS_TMP/broker.log" "'$a8'.*revoked")
[[ -z $cut ]] || qs_info "the broker first dropped one of her messages $((cut - t0)) ms after revoke started"
(( told - t1 <= LIMIT_MS )) ||
    qs_fail "alice was first refused $((told - t1)) ms after qsctl revoke returned (limit $LIMIT_MS ms)"

qs_step "a new handshake with alice's key is refused"
qs_stop alice_run 10 || qs_fail "alice's qs-producer run exited $QS_STOP_RC on SIGTERM"
qs_flush alice 4
qs_expect_eq "flush with the revoked profile (exit)" "$QS_RC" 1
qs_expect_eq "alice's low_water after the refused flush" "$(low_water "$(qs_profile alice)")" "$a_lw"
qs_wait_log "$QS_TMP/broker.log" "refused client '$a8': client revoked" 5 ||
    qs_fail "the broker did not log a ZAP refusal of alice's key as revoked"

qs_step "re-enroll alice: a new key; the old profile stays refused"
qs_expect_rc 0 "$QS_TMP/enroll-alice2.out" "$QSCTL" enroll --home "$QS_HOME" --name alice \
    --out "$QS_TMP/clients/alice2.profile"
pk1=$(fault_profile_pk "$(qs_profile alice)")
pk2=$(fault_profile_pk "$(qs_profile alice2)")
[[ -n $pk2 && $pk2 != "$pk1" ]] || qs_fail "re-enrolling alice gave the same key ($pk1)"
sleep 0.5   # the broker's 200 ms key-set reload, as above
for s in 1 2 3 4 5; do
    qs_report alice2 --topic-type 500 --topic-id "KB500200$s" --state 3 --machine PC-ALICE --domain CORP
done
qs_flush alice2 20
qs_expect_eq "flush with the new profile (exit)" "$QS_RC" 0
a2=$(fault_client_id "$(qs_profile alice2)")
qs_expect_eq "alice's new key: stored" "$(fault_sql "$STORE_DB" "SELECT low_water FROM clients WHERE client_id = ${a2:-0}")" 5
qs_flush alice 4
qs_expect_eq "flush with the old profile after re-enrolling (exit)" "$QS_RC" 1
qs_expect_eq "old key's low_water after re-enrolling" "$(low_water "$(qs_profile alice)")" "$a_lw"

touch "$QS_TMP/stop-bob"
fault_reap bob_reporter
bad=$(fault_exactly_once_violations)
[[ -z $bad ]] || qs_fail "clients whose history is not serials 1..n exactly once (client_id low_water rows distinct min max):"$'\n'"$bad"
qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
(( $(qs_stat .revoked) >= 1 )) || qs_fail "stats .revoked is 0 after a revocation"
echo "fault_revoke_live: PASS (last commit $latency0 ms after revoke started, first refusal after $((told - t0)) ms; $late later reports held back)"
