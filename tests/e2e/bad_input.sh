#!/usr/bin/env bash
# bad_input.sh - e2e: every kind of malformed or hostile input gets its documented answer.
#
# qs_sendraw sends, from one enrolled client, each entry of the catalogue
# below (see `qs_sendraw --list`) through the real broker to the real store
# and checks the reply against the status and code that docs/protocol.md and
# proto/quietstate.proto call for ("*" = any status, "none" = no reply at all,
# e.g. a connection the broker's socket drops). After the whole catalogue both
# daemons must still run, only the valid batches must be stored (a replay
# counts as a duplicate, never as a second copy), the rejections must be
# counted in qsctl stats - including those the broker answers itself (wrong
# frames: BAD_ENVELOPE/BAD_FRAMES), which reach qsctl stats through
# DIR/broker.stats, written at most once a second and kept across a broker
# restart - SQL in strings must be stored as plain data, and a normal batch
# must still get through.
# Usage: tests/e2e/bad_input.sh [BUILD_DIR]   (or QSCTL=... QS_SENDRAW=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

# kind            expected answers (any one of them)
CATALOGUE=(
    "none               OK"
    "not-protobuf       BAD_ENVELOPE:NOT_PROTOBUF"
    "empty-frame        BAD_ENVELOPE"
    "truncated          BAD_ENVELOPE"
    "oversized          *:FRAME_TOO_LARGE"
    "huge               none *:FRAME_TOO_LARGE"
    "too-many           *:TOO_MANY_MESSAGES"
    "wrong-version      BAD_ENVELOPE:BAD_VERSION"
    "old-version        BAD_ENVELOPE:BAD_VERSION"
    "reflected-ack      BAD_ENVELOPE:DECRYPT_FAILED"
    "bad-key-length     BAD_ENVELOPE:BAD_KEY_LENGTH"
    "bad-nonce-length   BAD_ENVELOPE:BAD_NONCE"
    "sender-mismatch    *:SENDER_MISMATCH"
    "tamper             BAD_ENVELOPE:DECRYPT_FAILED"
    "wrong-nonce        BAD_ENVELOPE:DECRYPT_FAILED"
    "wrong-key          BAD_ENVELOPE:DECRYPT_FAILED"
    "replay             OK"
    "batch-not-protobuf *:BATCH_NOT_PROTOBUF"
    "empty-batch        *:EMPTY_BATCH"
    "serial-zero        *:SERIAL_ZERO"
    "dup-serial         *:SERIAL_REPEATED"
    "future-time        *:TIME_IN_FUTURE"
    "old-time           *:TIME_TOO_OLD"
    "unknown-topic      BAD_MESSAGE:UNKNOWN_TOPIC_TYPE"
    "state-range        BAD_MESSAGE:STATE_OUT_OF_RANGE"
    "bad-utf8-topic     *:BAD_TOPIC_ID"
    "long-topic         *:BAD_TOPIC_ID"
    "empty-topic        *:BAD_TOPIC_ID"
    "long-details       *:DETAILS_TOO_LARGE"
    "bad-utf8-details   *:BAD_STRING"
    "long-machine       *:BAD_STRING"
    "sql-text           OK"
    "extra-frames       BAD_ENVELOPE:BAD_FRAMES"
    "fresh-key          none"
)
STORED_KINDS=3   # none, replay (stored once), sql-text

qs_need_cmd jq
qs_find_bins "${1:-}"
[[ -n $QS_SENDRAW ]] || qs_die "cannot find the 'qs_sendraw' test helper (set QS_SENDRAW or pass the build directory)"
qs_tmp_new
qs_site_init
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-bad-input
qs_enroll raw
qs_stats
dups0=$(qs_stat .duplicates)

failures=()
i=0
for entry in "${CATALOGUE[@]}"; do
    read -r kind answers <<<"$entry"
    i=$((i + 1))
    args=()
    timeout=8000
    read -r -a expects <<<"$answers"
    for a in "${expects[@]}"; do
        args+=(--expect "$a")
        [[ $a == none ]] && timeout=2500
    done
    qs_run "$QS_TMP/raw-$kind.out" "$QS_SENDRAW" --profile "$(qs_profile raw)" --corrupt "$kind" \
        --serial $((i * 2000)) --timeout "$timeout" "${args[@]}"
    printf '    %-19s %-45s -> %s\n' "$kind" "$answers" "$(tail -n 1 "$QS_TMP/raw-$kind.out")"
    if [[ $QS_RC != 0 ]]; then
        failures+=("$kind: expected $answers, got: $(tr '\n' ' ' <"$QS_TMP/raw-$kind.out") $(tr '\n' ' ' <"$QS_TMP/raw-$kind.out.err")")
    fi
    qs_running broker || qs_fail "qs-broker died on '$kind'"
    qs_running store || qs_fail "qs-store died on '$kind'"
done
if (( ${#failures[@]} > 0 )); then
    printf '%s\n' "${failures[@]}" >&2
    qs_fail "${#failures[@]} of ${#CATALOGUE[@]} kinds of bad input did not get the expected answer"
fi

qs_step "stats: only the valid batches are stored, the rest is counted"
sleep 0.5   # counters of refused batches are written a moment after the answer
qs_stats
qs_info "$(jq -c . "$QS_TMP/stats.json")"
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$STORED_KINDS"
dups=$(qs_stat .duplicates)
(( dups >= dups0 + 1 )) || qs_fail "stats .duplicates is $dups after a replay, expected at least $((dups0 + 1))"
for r in BAD_ENVELOPE BAD_MESSAGE; do
    n=$(qs_stat ".rejected.$r")
    (( n > 0 )) || qs_fail "stats .rejected.$r is $n after the catalogue, expected > 0"
done
# tamper, wrong-nonce, wrong-key and reflected-ack; wrong- and old-version.
qs_expect_eq "stats .rejected_detail.DECRYPT_FAILED" "$(qs_stat .rejected_detail.DECRYPT_FAILED)" 4
qs_expect_eq "stats .rejected_detail.BAD_VERSION" "$(qs_stat .rejected_detail.BAD_VERSION)" 2

qs_step "stats: the broker's own refusals are counted too (DIR/broker.stats)"
# Which kinds the broker answered itself with BAD_FRAMES (extra-frames always;
# empty-frame too: the broker refuses a zero-length frame before the store).
broker_frames=$(grep -l 'from=broker status=BAD_ENVELOPE code=BAD_FRAMES' "$QS_TMP"/raw-*.out | wc -l)
grep -q 'from=broker status=BAD_ENVELOPE code=BAD_FRAMES' "$QS_TMP/raw-extra-frames.out" ||
    qs_fail "extra-frames was not answered by the broker: $(cat "$QS_TMP/raw-extra-frames.out")"
# qs_wait_stat_at_least FILTER MIN TIMEOUT_S: poll qsctl stats (the broker
# writes its counters at most once a second) until FILTER >= MIN.
qs_wait_stat_at_least() {
    local deadline=$(( $(date +%s) + $3 ))
    while :; do
        qs_stats
        (( $(qs_stat "$1") >= $2 )) && return 0
        (( $(date +%s) < deadline )) || break
        sleep 0.2
    done
    qs_fail "qsctl stats $1: expected at least $2 within ${3}s, got $(qs_stat "$1"):"$'\n'"$(cat "$QS_TMP/stats.json")"
}
qs_wait_stat_at_least .rejected_detail.BAD_FRAMES "$broker_frames" 5
qs_info "broker answered BAD_FRAMES to $broker_frames kinds; $(jq -c .broker "$QS_TMP/stats.json")"
bad_frames=$(qs_stat .rejected_detail.BAD_FRAMES)
qs_expect_eq "stats .broker.notices[BAD_ENVELOPE/BAD_FRAMES]" \
    "$(qs_stat '.broker.notices["BAD_ENVELOPE/BAD_FRAMES"]')" "$bad_frames"
(( $(qs_stat .rejected.BAD_ENVELOPE) >= bad_frames )) ||
    qs_fail "stats .rejected.BAD_ENVELOPE does not include the broker's $bad_frames BAD_FRAMES"
(( $(qs_stat .broker.zap_refused) >= 1 )) || qs_fail "stats .broker.zap_refused: the fresh key was not counted"
(( $(qs_stat .broker.forwarded) >= 1 )) || qs_fail "stats .broker.forwarded is 0"
jq -e '.rejected.RETRY_LATER == null' "$QS_TMP/stats.json" >/dev/null ||
    qs_fail "RETRY_LATER notices are not rejections, yet stats .rejected has them"
qs_json_get "$QS_TMP/stats.json" '.broker.updated_utc | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' >/dev/null
stats_file="$QS_HOME/broker.stats"
[[ $(stat -c %a "$stats_file") == 600 ]] || qs_fail "$stats_file has mode $(stat -c %a "$stats_file"), not 600"

qs_step "SQL text was stored as data; the tables are intact"
qs_expect_rc 0 "$QS_TMP/compliance.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
jq -e '[.rows[] | select(.state_id != null) | select(.topic_id == "KB1'"'"'; DROP TABLE latest;--")] | length == 1' \
    "$QS_TMP/compliance.json" >/dev/null ||
    qs_fail "the topic id with SQL text is not in compliance:"$'\n'"$(cat "$QS_TMP/compliance.json")"

qs_step "a normal batch still gets through"
qs_expect_rc 0 "$QS_TMP/raw-final.out" "$QS_SENDRAW" --profile "$(qs_profile raw)" \
    --serial 900000 --timeout 10000 --expect OK
qs_stats
qs_expect_eq "stats .stored" "$(qs_stat .stored)" "$((STORED_KINDS + 1))"

qs_step "the broker's counters survive a restart"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
qs_stats
bad_frames=$(qs_stat .rejected_detail.BAD_FRAMES)
forwarded=$(qs_stat .broker.forwarded)
qs_start broker "$QS_BROKER" --home "$QS_HOME"
qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND after a restart"
qs_expect_rc 0 "$QS_TMP/raw-restart.out" "$QS_SENDRAW" --profile "$(qs_profile raw)" \
    --corrupt extra-frames --serial 910000 --timeout 8000 --expect BAD_ENVELOPE:BAD_FRAMES
qs_wait_stat_at_least .rejected_detail.BAD_FRAMES $((bad_frames + 1)) 5
qs_expect_eq "stats .rejected_detail.BAD_FRAMES after a restart" \
    "$(qs_stat .rejected_detail.BAD_FRAMES)" "$((bad_frames + 1))"
(( $(qs_stat .broker.forwarded) >= forwarded )) ||
    qs_fail "stats .broker.forwarded went down across a restart ($forwarded -> $(qs_stat .broker.forwarded))"
grep -q 'cannot continue the counters' "$QS_TMP/broker.log" &&
    qs_fail "qs-broker could not read its own broker.stats: $(grep 'cannot continue' "$QS_TMP/broker.log")"

qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
echo "e2e_bad_input: PASS"
