#!/usr/bin/env bash
# broker_flood.sh - fault: qs-broker's memory and log stay bounded whatever clients send (issue #16).
#
# A fresh site runs qs-broker (with the [broker] limits below) and qs-store;
# qs_flood (tests/fault/qs_flood.c) is the attacker, on loopback. While each
# attack runs, the broker's VmRSS is sampled every 20 ms.
#   1. multipart: an enrolled key sends 2 GiB as 1 MiB frames with MORE set
#      (the broker must hold them all until the last): the broker's peak RSS stays
#      under baseline + BOUND_MB, the broker closes the connection (the
#      client's socket monitor sees it), and RSS is back under baseline +
#      AFTER_MB within 3 s.
#   2. revoked: a key that sent one message and then sits on its open
#      connection is revoked: the connection is closed within LIMIT_MS of
#      `qsctl revoke` returning; the same for a key revoked while it floods
#      before it ever finished a message (its key unknown to the broker).
#   3. stalled store: with qs-store stopped (SIGSTOP), 300 junk envelopes of
#      1 MiB: RSS stays under baseline + BOUND_MB (the queue toward the worker
#      is bounded in bytes, worker_max_mb).
#   4. handshakes: 32 connections at a time with fresh random keys for
#      FLOOD_S seconds; meanwhile `qs-producer flush` of a legitimate client
#      takes at most its normal time + 1 s, and the broker writes at most
#      log_lines_per_second * (FLOOD_S + burst) lines.
# The measurements are printed (qs_info) for docs/broker.md.
# Usage: tests/fault/broker_flood.sh [BUILD_DIR]   (QS_FLOOD=path/to/qs_flood)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

CONN_MAX_KB=8192
TOTAL_MAX_MB=64
WORKER_MAX_MB=16
LOG_RATE=20
BOUND_MB=$((TOTAL_MAX_MB + 64))   # the total, plus what arrives within one 50 ms check
AFTER_MB=24
LIMIT_MS=1000
FLOOD_S=8

fault_setup "${1:-}"
QS_FLOOD=${QS_FLOOD:-$(dirname "$QS_BROKER")/../tests/fault/qs_flood}
[[ -x $QS_FLOOD ]] || qs_fail "qs_flood not found (set QS_FLOOD)"
cat >>"$QS_HOME/quietstate.conf" <<CONF

[broker]
conn_max_kb = $CONN_MAX_KB
total_max_mb = $TOTAL_MAX_MB
worker_max_mb = $WORKER_MAX_MB
handshakes_per_second = 20
log_lines_per_second = $LOG_RATE
CONF
qs_start_site
BROKER_PID=${QS_DAEMON_PID[broker]}
STORE_PID=${QS_DAEMON_PID[store]}
BLOG=${QS_DAEMON_LOG[broker]}
for n in alice mallory eve bob; do qs_enroll "$n"; done
sleep 0.5

# sample_rss OUT: VmRSS (kB) of the broker every 20 ms until $QS_TMP/stop-rss exists.
sample_rss() {
    rm -f "$QS_TMP/stop-rss"
    while [[ ! -e $QS_TMP/stop-rss ]]; do
        fault_rss_kb "$BROKER_PID" >>"$1"
        sleep 0.02
    done
}
peak_kb() { sort -n "$1" | tail -n 1; }
rss_mb() { echo $(( $(fault_rss_kb "$BROKER_PID") / 1024 )); }
flood_field() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

BASE_MB=$(rss_mb)
qs_info "baseline RSS: $BASE_MB MiB"

qs_step "1. multipart flood from an enrolled key"
sample_rss "$QS_TMP/rss1" &
sampler=$!
qs_expect_rc 0 "$QS_TMP/flood1.out" "$QS_FLOOD" multipart --profile "$(qs_profile alice)" \
    --mb 2048 --rate-mb 100000 --seconds 10
touch "$QS_TMP/stop-rss"; wait "$sampler"
peak=$(( $(peak_kb "$QS_TMP/rss1") / 1024 ))
qs_info "alice sent $(flood_field "$QS_TMP/flood1.out" sent_mb) MiB; disconnected=$(flood_field "$QS_TMP/flood1.out" disconnected) after $(flood_field "$QS_TMP/flood1.out" disconnect_ms) ms; broker peak RSS $peak MiB (baseline $BASE_MB, bound +$BOUND_MB)"
qs_expect_eq "alice's connection closed by the broker" "$(flood_field "$QS_TMP/flood1.out" disconnected)" 1
(( peak <= BASE_MB + BOUND_MB )) || qs_fail "broker RSS peaked at $peak MiB during the multipart flood (bound $((BASE_MB + BOUND_MB)))"
qs_wait_until 3 "broker RSS back near baseline" eval '(( $(rss_mb) <= BASE_MB + AFTER_MB ))' ||
    qs_fail "broker RSS still $(rss_mb) MiB 3 s after the flood (baseline $BASE_MB)"
qs_info "RSS after the flood: $(rss_mb) MiB"
grep -q "closed the connection of client '.*': over its memory bound" "$BLOG" ||
    qs_fail "the broker did not log the closed connection"

qs_step "2a. a revoked key's open connection is closed"
fault_bg flood2 "$QS_TMP/flood2.out" "$QS_FLOOD" multipart --profile "$(qs_profile mallory)" \
    --first-ok --pause-ms 4000 --mb 512 --rate-mb 200 --seconds 4
sleep 1.2
qs_expect_rc 0 "$QS_TMP/revoke2.out" "$QSCTL" revoke --home "$QS_HOME" --name mallory
t1=$(fault_now_ms)
fault_reap flood2
at=$(flood_field "$QS_TMP/flood2.out" disconnect_at)
qs_info "mallory: $(cat "$QS_TMP/flood2.out"); closed $((at - t1)) ms after qsctl revoke returned"
[[ $(flood_field "$QS_TMP/flood2.out" sent_mb) == 0 && $at -gt 0 ]] ||
    qs_fail "mallory's connection was not closed at revocation: $(cat "$QS_TMP/flood2.out")"
(( at - t1 <= LIMIT_MS )) || qs_fail "mallory's connection closed $((at - t1)) ms after revocation"

qs_step "2b. a revoked key's connection that never finished a message is closed"
fault_bg flood3 "$QS_TMP/flood3.out" "$QS_FLOOD" multipart --profile "$(qs_profile eve)" \
    --pause-ms 4000 --mb 512 --rate-mb 100000 --seconds 4
sleep 1.2
qs_expect_rc 0 "$QS_TMP/revoke3.out" "$QSCTL" revoke --home "$QS_HOME" --name eve
t1=$(fault_now_ms)
fault_reap flood3
at=$(flood_field "$QS_TMP/flood3.out" disconnect_at)
qs_info "eve: $(cat "$QS_TMP/flood3.out"); closed $((at - t1)) ms after qsctl revoke returned"
[[ $(flood_field "$QS_TMP/flood3.out" sent_mb) == 0 && $at -gt 0 ]] ||
    qs_fail "eve's connection was not closed at revocation: $(cat "$QS_TMP/flood3.out")"
(( at - t1 <= LIMIT_MS )) || qs_fail "eve's connection closed $((at - t1)) ms after revocation"

qs_step "3. a stalled store: 300 junk envelopes of 1 MiB"
kill -STOP "$STORE_PID"
sample_rss "$QS_TMP/rss3" &
sampler=$!
qs_expect_rc 0 "$QS_TMP/flood4.out" "$QS_FLOOD" complete --profile "$(qs_profile alice)" \
    --count 300 --size 1048576
touch "$QS_TMP/stop-rss"; wait "$sampler"
kill -CONT "$STORE_PID"
peak=$(( $(peak_kb "$QS_TMP/rss3") / 1024 ))
qs_info "stalled store: $(cat "$QS_TMP/flood4.out") MiB-envelopes; broker peak RSS $peak MiB"
(( peak <= BASE_MB + BOUND_MB )) || qs_fail "broker RSS peaked at $peak MiB with the store stalled"
qs_wait_until 10 "broker RSS back near baseline" eval '(( $(rss_mb) <= BASE_MB + AFTER_MB ))' ||
    qs_fail "broker RSS still $(rss_mb) MiB 10 s after the stalled-store flood"

qs_step "4. handshake flood from random keys"
timed_flush() {   # prints the ms one report + flush of bob takes
    local t0 t1
    qs_report bob --topic-type 500 --topic-id KB5001001 --state 1 --machine PC-BOB --domain CORP
    t0=$(fault_now_ms)
    qs_expect_rc 0 "$QS_TMP/flush.out" "$QS_PRODUCER" --profile "$(qs_profile bob)" \
        --outbox "$(qs_outbox bob)" flush
    t1=$(fault_now_ms)
    echo $((t1 - t0))
}
normal=0
for _ in 1 2 3; do f=$(timed_flush); (( f > normal )) && normal=$f; done
qs_info "bob's flush without a flood: at most $normal ms"
lines0=$(wc -l <"$BLOG")
cpu0=$(fault_cpu_ticks "$BROKER_PID")
fault_bg flood5 "$QS_TMP/flood5.out" "$QS_FLOOD" handshakes --profile "$(qs_profile bob)" \
    --parallel 32 --seconds "$FLOOD_S"
sleep 2
worst=0
for _ in 1 2 3; do f=$(timed_flush); (( f > worst )) && worst=$f; sleep 0.5; done
fault_reap flood5
cpu1=$(fault_cpu_ticks "$BROKER_PID")
lines=$(( $(wc -l <"$BLOG") - lines0 ))
max_lines=$(( LOG_RATE * (FLOOD_S + 5 + 2) ))
qs_info "handshake flood: $(cat "$QS_TMP/flood5.out") in $FLOOD_S s; broker CPU $(( (cpu1 - cpu0) * 10 )) ms; $lines log lines (at most $max_lines); bob's flush at most $worst ms (normal $normal ms)"
(( worst <= normal + 1000 )) || qs_fail "bob's flush took $worst ms during the flood (normal $normal ms)"
(( lines <= max_lines )) || qs_fail "the broker wrote $lines log lines during the flood (budget $max_lines)"
hs=$(flood_field "$QS_TMP/flood5.out" handshakes)
(( hs >= 100 )) || qs_fail "only $hs handshakes: the flood proves too little"

qs_expect_eq "qs-broker pid (no restart)" "${QS_DAEMON_PID[broker]}" "$BROKER_PID"
qs_stop broker
grep -q "stats at shutdown:.*closed oversize=[1-9]" "$BLOG" || qs_fail "no oversize closure counted"
echo "fault_broker_flood: PASS (multipart, revoked, stalled store, handshakes)"
