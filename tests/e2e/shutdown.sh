#!/usr/bin/env bash
# shutdown.sh - e2e: daemons stop cleanly on SIGTERM and refuse loose key files.
#
# qs-broker and qs-store, started on a fresh site and given some work, must
# exit 0 within 5 s of SIGTERM (idle and right after a delivery). Then, with
# keys/store.key made 0644, qs-store must refuse to start (non-zero exit, a
# message naming store.key), and likewise qs-broker with keys/broker.key 0644.
# Usage: tests/e2e/shutdown.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

STOP_LIMIT=5

qs_need_cmd jq timeout
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init

expect_clean_stop() {   # $1 name
    qs_stop "$1" "$STOP_LIMIT" ||
        qs_fail "$1 did not exit 0 within ${STOP_LIMIT}s of SIGTERM (status $QS_STOP_RC; 124 = still running)"
    qs_info "$1 exited 0 after ${QS_STOP_MS} ms"
}

qs_step "idle daemons stop on SIGTERM"
qs_start_site
expect_clean_stop store
expect_clean_stop broker

qs_step "daemons that just delivered stop on SIGTERM, and nothing acked is lost"
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-shutdown
qs_enroll stopper
for s in 1 2 3; do
    qs_report stopper --topic-type 500 --topic-id "KB50302$s" --state "$s" --machine PC-STOP --domain CORP
done
qs_flush stopper 30
qs_expect_eq "flush" "$QS_RC" 0
expect_clean_stop broker
expect_clean_stop store
qs_stats
qs_expect_eq "stats .stored after restart-free stop" "$(qs_stat .stored)" 3

qs_step "a restarted pair carries on"
qs_start_site
qs_report stopper --topic-type 500 --topic-id KB5030299 --state 3 --machine PC-STOP --domain CORP
qs_flush stopper 30
qs_expect_eq "flush after restart" "$QS_RC" 0
qs_stats
qs_expect_eq "stats .stored after restart" "$(qs_stat .stored)" 4
expect_clean_stop store
expect_clean_stop broker

# refuse_loose DAEMON BIN KEYFILE: with KEYFILE 0644, BIN must exit non-zero
# promptly and name the file.
refuse_loose() {
    local name=$1 bin=$2 key="$QS_HOME/keys/$3" rc=0
    [[ -f $key ]] || qs_fail "$key does not exist (qsctl init layout changed?)"
    chmod 644 "$key"
    timeout 20 "$bin" --home "$QS_HOME" >"$QS_TMP/$name-loose.out" 2>&1 </dev/null || rc=$?
    chmod 600 "$key"
    (( rc != 0 && rc != 124 )) ||
        qs_fail "$name started with $3 mode 0644 (exit $rc, 124 = still running after 20 s)"
    grep -q -F "$3" "$QS_TMP/$name-loose.out" ||
        qs_fail "$name refused to start but did not name $3:"$'\n'"$(cat "$QS_TMP/$name-loose.out")"
    qs_info "$name refused (exit $rc): $(grep -F "$3" "$QS_TMP/$name-loose.out" | head -n 1)"
}

qs_step "daemons refuse group/world-readable keys"
refuse_loose qs-store "$QS_STORE" store.key
refuse_loose qs-broker "$QS_BROKER" broker.key

qs_step "with the modes restored they start again, and tell systemd (NOTIFY_SOCKET) when ready and stopping"
if command -v socat >/dev/null; then
    NOTIFY_LOG=$QS_TMP/notify.log
    socat -u "UNIX-RECV:$QS_TMP/notify.sock" "OPEN:$NOTIFY_LOG,creat,append" &
    qs_on_exit "kill $! 2>/dev/null || true"
    qs_wait_until 5 "the notify socket" test -S "$QS_TMP/notify.sock" || qs_fail "no notify socket"
    export NOTIFY_SOCKET=$QS_TMP/notify.sock
fi
qs_start_site
unset NOTIFY_SOCKET
expect_clean_stop store
expect_clean_stop broker
if [[ -n ${NOTIFY_LOG:-} ]]; then
    # Datagrams arrive without newlines: two READY=1, two STOPPING=1.
    qs_wait_until 5 "four notifications" bash -c "[[ \$(grep -o '=1' '$NOTIFY_LOG' | wc -l) -ge 4 ]]" ||
        qs_fail "notifications: '$(cat "$NOTIFY_LOG" 2>/dev/null)'"
    qs_expect_eq "READY=1 sent" "$(grep -o 'READY=1' "$NOTIFY_LOG" | wc -l)" 2
    qs_expect_eq "STOPPING=1 sent" "$(grep -o 'STOPPING=1' "$NOTIFY_LOG" | wc -l)" 2
fi
echo "e2e_shutdown: PASS"
