#!/usr/bin/env bash
# ack_order.sh - fault: qs-store never hands an ack to ZeroMQ before the disk
# flush (fsync/fdatasync) of the commit that covers it.
#
# SIGKILL cannot tell a flushed commit from an unflushed one (the page cache
# survives the death of a process), so the crash tests pass even with
# `PRAGMA synchronous=OFF`. This test watches the order of the calls
# instead: the real qs-store runs under tests/fault/ackorder_shim.c
# (LD_PRELOAD), which records writes and flushes of store.db and its -wal /
# -journal, every COMMIT, every envelope received and every ack sent, and
# logs a VIOLATION for an ack for which no flushed commit (a flush of the
# database files inside the COMMIT, nothing of them left unflushed when it
# returns) started after the envelope arrived and ended before the ack.
#
#  1. The real run: real broker, `qs-producer simulate` (CLIENTS clients,
#     MESSAGES messages in batches of BATCH), store under the shim. Passes
#     when the shim saw every ack (at least MESSAGES / BATCH, none
#     unmatched), flushes and flushed commits, and no violation.
#  2. Negative control, on a second fresh site: the same run with
#     QS_ACKORDER_HIDE_SYNC=1 (the shim still flushes but does not count
#     the flushes: what a store with synchronous=OFF looks like to it). The
#     checker must report violations there, or it proves nothing.
# Usage: tests/fault/ack_order.sh [BUILD_DIR]  (QS_ACKORDER_SHIM = the shim)
# Knobs: QS_FAULT_MESSAGES (40000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

CLIENTS=40
MESSAGES=${QS_FAULT_MESSAGES:-40000}
BATCH=50
SHIM=${QS_ACKORDER_SHIM:-}
[[ -n $SHIM ]] || SHIM=$(find "${1:-${QS_BIN_DIR:-build}}" -name 'libackorder_shim.so' -print -quit 2>/dev/null || true)
[[ -f $SHIM ]] || qs_die "the shim libackorder_shim.so is not built (set QS_ACKORDER_SHIM)"

fault_setup "${1:-}"
test_start=$(date +%s)
# An ASan build needs its runtime first among the preloaded libraries.
asan=$(ldd "$QS_STORE" 2>/dev/null | awk '/libasan/ { print $3; exit }')
PRELOAD="${asan:+$asan:}$SHIM"

# shim_stat LOG FIELD: a number from the shim's summary line.
shim_stat() {
    awk -v f="$2" '$1 == "summary" { for (i = 2; i < NF; i++) if ($i == f) v = $(i + 1) }
                   END { print v + 0 }' "$1"
}

# run_site NAME HIDE: a fresh site (the first is fault_setup's), broker, the
# store under the shim, simulate to the end, the store stopped by SIGTERM
# (the shim writes its summary at exit). The shim's log: $QS_TMP/NAME.ackorder.
run_site() {
    local name=$1 hide=$2
    local log="$QS_TMP/$name.ackorder"
    if [[ $name != site ]]; then
        qs_site_init "$name"
        qs_expect_rc 0 "$QS_TMP/$name.policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 \
            --as "$QS_LIB_NAME"
    fi
    qs_start broker "$QS_BROKER" --home "$QS_HOME"
    qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND"
    qs_wait_listen "$QS_BACK_PORT" 20 || qs_fail "qs-broker does not listen on $QS_BACKEND"
    qs_start store env LD_PRELOAD="$PRELOAD" QS_ACKORDER_LOG="$log" \
        QS_ACKORDER_HIDE_SYNC="$hide" "$QS_STORE" --home "$QS_HOME"
    qs_wait_connected "$QS_BACK_PORT" 20 || qs_fail "qs-store did not connect to $QS_BACKEND"
    sleep 0.5
    fault_bg sim "$QS_TMP/$name.sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
        --clients "$CLIENTS" --messages "$MESSAGES" --batch "$BATCH" --timeout 100 --format json
    fault_wait_sim 110 45
    (( FAULT_RC == 0 )) || qs_fail "simulate exited $FAULT_RC:"$'\n'"$(tail -n 20 "$QS_TMP/sim.log")"
    qs_expect_eq "$name: simulate .acked" "$(qs_json_get "$QS_TMP/$name.sim.json" .acked)" "$MESSAGES"
    qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
    qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
    grep -q '^summary ' "$log" || qs_fail "$name: the shim wrote no summary (was it preloaded?): $log"
    qs_info "$name: $(grep '^summary ' "$log")"
}

qs_step "store under the shim, synchronous as shipped: every ack after a flushed commit"
run_site site 0
log="$QS_TMP/site.ackorder"
batches=$(( MESSAGES / BATCH ))
acks=$(shim_stat "$log" acks)
(( acks >= batches )) || qs_fail "the shim saw $acks acks for $batches batches (acks not seen: the check proved nothing)"
qs_expect_eq "acks without a receipt (unmatched)" "$(shim_stat "$log" unmatched)" 0
bad=$(shim_stat "$log" violations)
(( bad == 0 )) || qs_fail "$bad of $acks acks left the store before the flush of their commit:"$'\n'"$(grep -m 10 '^VIOLATION' "$log")"$'\n'"(commits: $(grep -m 5 '^commit ' "$log"))"
(( $(shim_stat "$log" syncs) > 0 )) || qs_fail "the shim saw no flush of store.db or its WAL"
(( $(shim_stat "$log" flushed) > 0 )) || qs_fail "the shim saw no flushed commit"

qs_step "negative control: the same run with the flushes hidden from the checker"
run_site site2 1
log2="$QS_TMP/site2.ackorder"
acks2=$(shim_stat "$log2" acks)
bad2=$(shim_stat "$log2" violations)
(( acks2 >= batches )) || qs_fail "negative control: the shim saw $acks2 acks for $batches batches"
(( bad2 == acks2 )) ||
    qs_fail "negative control: only $bad2 of $acks2 acks flagged with every flush hidden: the checker cannot fail"
qs_info "negative control: $bad2 of $acks2 acks flagged, as they must be"

echo "fault_ack_order: PASS ($acks acks, each after a flushed commit; $(shim_stat "$log" flushed) of $(shim_stat "$log" commits) commits flushed, $(shim_stat "$log" syncs) flushes; control flagged $bad2 of $acks2; $(( $(date +%s) - test_start )) s)"
