#!/usr/bin/env bash
# demo.sh - a quietstate site from nothing to a compliance report, step by step.
#
# Installs what is missing (scripts/setup.sh), builds into build/ (optimised),
# makes a site home in a temp directory with two free loopback ports, starts
# qs-broker and qs-store in the background (logs beside the site), enrolls a
# few clients, shows that nothing is collected before a policy exists, sets
# one, reports states from several machines for several updates, prints the
# compliance table and the stats, and stops the daemons with SIGTERM. Every
# daemon is stopped on any exit (trap). QS_KEEP_TMP=1 keeps the temp directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QS_LIB_NAME=demo
source "$ROOT/scripts/lib.sh"
BUILD=${QS_DEMO_BUILD_DIR:-$ROOT/build}

qs_step "setup: check and install dependencies"
bash "$ROOT/scripts/setup.sh" || qs_die "scripts/setup.sh failed (run this demo as root, or install what it lists)"

qs_step "build (optimised, RelWithDebInfo: the same build test.sh makes) into $BUILD"
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQS_SANITIZE=OFF -DQS_FUZZ=OFF \
    >"$BUILD/demo-cmake.log" 2>&1 ||
    { tail -n 30 "$BUILD/demo-cmake.log" >&2; qs_die "cmake configure failed"; }
make -C "$BUILD" -j2 qsctl qs-broker qs-store qs-producer >"$BUILD/demo-make.log" 2>&1 ||
    { tail -n 40 "$BUILD/demo-make.log" >&2; qs_die "build failed"; }
QSCTL="" QS_BROKER="" QS_STORE="" QS_PRODUCER="" QS_SENDRAW=""
qs_find_bins "$BUILD"
qs_info "binaries: $QSCTL $QS_BROKER $QS_STORE $QS_PRODUCER"

qs_tmp_new
qs_step "qsctl init: a site home in $QS_TMP/site"
qs_site_init
qs_info "frontend $QS_FRONTEND (producers), backend $QS_BACKEND (store)"
qs_info "$(cd "$QS_HOME" && find . -maxdepth 2 | sort | tr '\n' ' ')"

qs_step "start qs-broker and qs-store (logs: $QS_TMP/broker.log, $QS_TMP/store.log)"
qs_start_site
qs_info "qs-broker pid ${QS_DAEMON_PID[broker]}, qs-store pid ${QS_DAEMON_PID[store]}"

MACHINES=(PC-0001 PC-0002 PC-0003 PC-0004 PC-0005)
qs_step "enroll ${#MACHINES[@]} clients (one profile each, 0600)"
for m in "${MACHINES[@]}"; do
    qs_enroll "$m"
    qs_info "$m -> $(qs_profile "$m")"
done

qs_step "no policy yet: a report is kept in the client's outbox, not collected"
qs_report PC-0001 --topic-type 500 --topic-id KB5030211 --state 2 --machine PC-0001 --domain CORP
qs_flush PC-0001 3
[[ $QS_RC == 1 ]] || qs_fail "flush before any policy exited $QS_RC, expected 1 (still pending)"
qs_info "flush --timeout 3 exited 1: still pending (the store answered NOT_CONFIGURED)"
qs_stats
qs_info "stored: $(qs_stat .stored), NOT_CONFIGURED answers: $(qs_stat .rejected.NOT_CONFIGURED)"

qs_step "qsctl policy set --k 2 --max-age-days 30 --as demo"
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 2 --max-age-days 30 --as demo
sed 's/^/    /' "$QS_TMP/policy.out"

qs_step "report states for two updates and a deployment from every machine, then flush"
# state: 500 = update detection (2 required, 3 installed); 301 = enforcement (4 installed, 6 failed)
i=0
for m in "${MACHINES[@]}"; do
    i=$((i + 1))
    qs_report "$m" --topic-type 500 --topic-id KB5030211 --state $(( i <= 3 ? 3 : 2 )) --machine "$m" --domain CORP
    qs_report "$m" --topic-type 500 --topic-id KB5031356 --state $(( i == 1 ? 2 : 3 )) --machine "$m" --domain CORP
    details=()
    [[ $i == 5 ]] && details=(--details 0x80070643)
    qs_report "$m" --topic-type 301 --topic-id "{8E4B3B7A-54C4-4B8E-9A6F-3C2D1E0F9A11}" \
        --state $(( i == 5 ? 6 : 4 )) --machine "$m" --domain CORP "${details[@]}"
    qs_flush "$m" 30
    [[ $QS_RC == 0 ]] || qs_fail "flush for $m exited $QS_RC:"$'\n'"$(tail -n 20 "$QS_TMP/flush-$m.out.err")"
    qs_info "$m: all acked"
done

qs_step "qsctl compliance (update detection, groups smaller than k=2 suppressed)"
qs_expect_rc 0 "$QS_TMP/compliance.out" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500
sed 's/^/    /' "$QS_TMP/compliance.out"
qs_step "qsctl compliance --topic-type 301 (deployment enforcement)"
qs_expect_rc 0 "$QS_TMP/compliance301.out" "$QSCTL" compliance --home "$QS_HOME" --topic-type 301
sed 's/^/    /' "$QS_TMP/compliance301.out"

qs_step "qsctl stats"
qs_expect_rc 0 "$QS_TMP/stats.out" "$QSCTL" stats --home "$QS_HOME"
sed 's/^/    /' "$QS_TMP/stats.out"
qs_stats
qs_expect_eq "stored" "$(qs_stat .stored)" 16

qs_step "stop qs-broker and qs-store with SIGTERM"
qs_stop store 10 || qs_fail "qs-store exited with status $QS_STOP_RC on SIGTERM"
qs_info "qs-store exited 0 after $QS_STOP_MS ms"
qs_stop broker 10 || qs_fail "qs-broker exited with status $QS_STOP_RC on SIGTERM"
qs_info "qs-broker exited 0 after $QS_STOP_MS ms"
qs_step "demo finished: 16 states stored, none before the policy"
