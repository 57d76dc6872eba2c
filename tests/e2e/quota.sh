#!/usr/bin/env bash
# quota.sh - e2e: the store's per-client quotas (docs/quotas.md), through real processes.
#
# [store] quota_messages_per_minute = 600, quota_details_kb_per_minute = 4,
# quota_topics_per_client = 25. Each refusal, its answer and its counter:
#  - rate: a batch of 1000 messages passes only on a full bucket and leaves
#    it in debt; the next batch of the client is RETRY_LATER/QUOTA_RATE and
#    nothing of it is stored (with W workers, each worker's own bucket: at
#    most W such batches pass before one is refused);
#  - details: 5 x 1000 bytes of details pass, the next batch with details is
#    RETRY_LATER/QUOTA_DETAILS; a batch without details still passes;
#  - topics: a producer reports 30 distinct topics: 25 are stored, 5 are
#    refused for good (BAD_MESSAGE/QUOTA_TOPICS) and sit on its outbox's
#    rejected list; a new state of a topic it holds is still stored; five
#    new topics per flush pass five times, the sixth flush's are refused;
#  - a simulated fleet whose clients each send more than a minute's budget
#    is slowed down (RETRY_LATER, backoff) and everything arrives exactly
#    as the simulator expects, stored once.
# Counters are exact (qsctl stats --format json). QS_TEST_ENGINE=pg runs it
# on PostgreSQL with two workers (tests/pg/CMakeLists.txt).
# Usage: tests/e2e/quota.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq
qs_find_bins "${1:-}"
[[ -n ${QS_SENDRAW:-} && -x ${QS_SENDRAW:-} ]] || qs_fail "QS_SENDRAW (tests/e2e/qs_sendraw) is not set or not executable"
qs_tmp_new
qs_site_init
sed -i '/^group_commit_max_messages/a quota_messages_per_minute = 600\nquota_details_kb_per_minute = 4\nquota_topics_per_client = 25' \
    "$QS_HOME/quietstate.conf"
grep -q '^quota_topics_per_client = 25$' "$QS_HOME/quietstate.conf" || qs_fail "could not set the quotas in quietstate.conf"
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-quota
WORKERS=$(qs_store_workers)

# sendraw NAME OUT ARGS...: one batch from client NAME; the last reply in OUT.
sendraw() {
    local name=$1 out=$2
    shift 2
    qs_run "$out.all" "$QS_SENDRAW" --profile "$(qs_profile "$name")" --format json --timeout 10000 "$@"
    [[ $QS_RC == 0 ]] || qs_fail "qs_sendraw $* exited $QS_RC:"$'\n'"$(cat "$out.all" "$out.all.err")"
    jq -s -c 'last' "$out.all" >"$out"
}
reply() { qs_json_get "$1" "$2"; }

qs_step "rate: 1000-message batches until one is refused RETRY_LATER/QUOTA_RATE"
qs_enroll rate-a
passed=0
refused=0
for ((i = 1; i <= WORKERS + 1; i++)); do
    sendraw rate-a "$QS_TMP/rate-$i.json" --serial $(( (i - 1) * 1000 + 1 )) --count 1000 \
        --topic-id KB5030211 --machine PC-RATE-A
    st="$(reply "$QS_TMP/rate-$i.json" .status)/$(reply "$QS_TMP/rate-$i.json" .code)"
    case $st in
        OK/CODE_NONE) passed=$((passed + 1)) ;;
        RETRY_LATER/QUOTA_RATE) refused=1; break ;;
        *) qs_fail "batch $i of rate-a: expected OK or RETRY_LATER/QUOTA_RATE, got $st" ;;
    esac
done
qs_expect_eq "a batch refused for the rate" "$refused" 1
(( passed >= 1 && passed <= WORKERS )) || qs_fail "$passed batches passed, expected 1..$WORKERS"
qs_expect_eq "refused batch's committed_serial" "$(reply "$QS_TMP/rate-$i.json" .committed_serial)" $((passed * 1000))
qs_expect_eq "refused batch's first serial" "$(reply "$QS_TMP/rate-$i.json" .first_serial)" $((passed * 1000 + 1))
qs_info "$passed batch(es) of 1000 passed, batch $i refused"
qs_wait_stat '.rejected_detail.QUOTA_RATE' 1
qs_expect_eq "stored" "$(qs_stat .stored)" $((passed * 1000))
qs_expect_eq "retries.RETRY_LATER" "$(qs_stat '.retries.RETRY_LATER')" 1
qs_expect_eq "nothing rejected for good" "$(qs_stat '.rejected.BAD_MESSAGE')" 0
STORED=$((passed * 1000))

qs_step "details: 5 x 1000 bytes pass, the next batch with details is RETRY_LATER/QUOTA_DETAILS"
qs_enroll det-a
DETAILS=$(printf 'e%.0s' $(seq 1 1000))
passed=0
refused=0
serial=1
for ((i = 1; i <= WORKERS + 1; i++)); do
    sendraw det-a "$QS_TMP/det-$i.json" --serial "$serial" --count 5 --details "$DETAILS" \
        --topic-id KB5030212 --machine PC-DET-A
    st="$(reply "$QS_TMP/det-$i.json" .status)/$(reply "$QS_TMP/det-$i.json" .code)"
    case $st in
        OK/CODE_NONE) passed=$((passed + 1)); serial=$((serial + 5)) ;;
        RETRY_LATER/QUOTA_DETAILS) refused=1; break ;;
        *) qs_fail "batch $i of det-a: expected OK or RETRY_LATER/QUOTA_DETAILS, got $st" ;;
    esac
done
qs_expect_eq "a batch refused for its details" "$refused" 1
(( passed >= 1 && passed <= WORKERS )) || qs_fail "$passed batches passed, expected 1..$WORKERS"
qs_expect_eq "refused batch's committed_serial" "$(reply "$QS_TMP/det-$i.json" .committed_serial)" $((passed * 5))
sendraw det-a "$QS_TMP/det-plain.json" --serial "$serial" --count 5 --topic-id KB5030212 --machine PC-DET-A
qs_expect_eq "a batch without details" "$(reply "$QS_TMP/det-plain.json" .status)" OK
qs_expect_eq "its committed_serial" "$(reply "$QS_TMP/det-plain.json" .committed_serial)" $((serial + 4))
STORED=$((STORED + passed * 5 + 5))
qs_wait_stat '.rejected_detail.QUOTA_DETAILS' 1
qs_expect_eq "stored" "$(qs_stat .stored)" "$STORED"
qs_expect_eq "retries.RETRY_LATER" "$(qs_stat '.retries.RETRY_LATER')" 2
qs_expect_eq "rejected_detail.QUOTA_RATE" "$(qs_stat '.rejected_detail.QUOTA_RATE')" 1

qs_step "topics: 30 new topics from one producer: 25 stored, 5 refused for good"
qs_enroll top-a
T1=$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)
for ((t = 1; t <= 30; t++)); do
    qs_report top-a --topic-type 500 --topic-id "KB$((5040000 + t))" --state 2 --machine PC-TOP-A --time "$T1"
done
qs_flush top-a 60
qs_expect_eq "flush top-a" "$QS_RC" 0
grep -q 'rejected 5 messages for good' "$QS_TMP/flush-top-a.out.err" ||
    qs_fail "qs-producer flush did not report 5 rejected messages:"$'\n'"$(cat "$QS_TMP/flush-top-a.out.err")"
qs_expect_rc 0 "$QS_TMP/top-status.json" "$QS_PRODUCER" --profile "$(qs_profile top-a)" \
    --outbox "$(qs_outbox top-a)" status --format json
qs_expect_eq "top-a's rejected list" "$(qs_json_get "$QS_TMP/top-status.json" .rejected)" 5
qs_expect_eq "top-a's pending" "$(qs_json_get "$QS_TMP/top-status.json" .pending)" 0
STORED=$((STORED + 25))
qs_wait_stat '.rejected_detail.QUOTA_TOPICS' 5
qs_expect_eq "rejected.BAD_MESSAGE" "$(qs_stat '.rejected.BAD_MESSAGE')" 5
qs_expect_eq "stored" "$(qs_stat .stored)" "$STORED"
qs_expect_rc 0 "$QS_TMP/top-lookup.json" "$QSCTL" lookup --home "$QS_HOME" --machine pc-top-a --format json
got=$(jq -c '[.rows[] | .topic_id] | sort' "$QS_TMP/top-lookup.json")
want=$(for ((t = 1; t <= 25; t++)); do echo "\"KB$((5040000 + t))\""; done | jq -s -c sort)
qs_expect_eq "PC-TOP-A's topics (the first 25 in serial order)" "$got" "$want"

qs_step "topics: a new state of a held topic is stored; a 31st topic is refused again"
T2=$(date -u -d '-30 minutes' +%Y-%m-%dT%H:%M:%SZ)
qs_report top-a --topic-type 500 --topic-id KB5040001 --state 3 --machine PC-TOP-A --time "$T2"
qs_report top-a --topic-type 500 --topic-id KB5040031 --state 3 --machine PC-TOP-A --time "$T2"
qs_flush top-a 60
qs_expect_eq "flush top-a" "$QS_RC" 0
STORED=$((STORED + 1))
qs_wait_stat '.rejected_detail.QUOTA_TOPICS' 6
qs_expect_eq "stored" "$(qs_stat .stored)" "$STORED"
qs_expect_rc 0 "$QS_TMP/top-lookup2.json" "$QSCTL" lookup --home "$QS_HOME" --machine pc-top-a --format json
qs_expect_eq "PC-TOP-A's rows" "$(jq '.rows | length' "$QS_TMP/top-lookup2.json")" 25
qs_expect_eq "KB5040001's state" \
    "$(jq -r '.rows[] | select(.topic_id == "KB5040001") | .state_id' "$QS_TMP/top-lookup2.json")" 3

qs_step "topics: 6 flushes of 5 new topics each: 5 flushes stored, the 6th refused"
# (SQLite: the first five pass on the writer's remembered bound, the sixth
# makes it count again and refuses.)
qs_enroll top-b
for ((f = 0; f < 6; f++)); do
    for ((t = 1; t <= 5; t++)); do
        qs_report top-b --topic-type 500 --topic-id "KB$((5050000 + f * 5 + t))" --state 2 \
            --machine PC-TOP-B --time "$T1"
    done
    qs_flush top-b 60
    qs_expect_eq "flush $f of top-b" "$QS_RC" 0
done
STORED=$((STORED + 25))
qs_wait_stat '.rejected_detail.QUOTA_TOPICS' 11
qs_expect_eq "stored" "$(qs_stat .stored)" "$STORED"
qs_expect_rc 0 "$QS_TMP/topb-lookup.json" "$QSCTL" lookup --home "$QS_HOME" --machine pc-top-b --format json
got=$(jq -c '[.rows[] | .topic_id] | sort' "$QS_TMP/topb-lookup.json")
want=$(for ((t = 1; t <= 25; t++)); do echo "\"KB$((5050000 + t))\""; done | jq -s -c sort)
qs_expect_eq "PC-TOP-B's topics (the first five flushes)" "$got" "$want"

qs_step "a fleet over the rate: slowed down, everything arrives once"
retries0=$(qs_stat '.retries.RETRY_LATER')
# Each client sends more than all workers' buckets hold at the start.
SIM=$(( 2 * (600 * WORKERS + 200) ))
qs_expect_rc 0 "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" --clients 2 \
    --messages "$SIM" --timeout 240 --format json
qs_stats
qs_expect_eq "stored" "$(qs_stat .stored)" $((STORED + SIM))
rate=$(qs_stat '.rejected_detail.QUOTA_RATE')
(( rate > 1 )) || qs_fail "the simulated clients were never slowed down (QUOTA_RATE $rate)"
qs_expect_eq "retries.RETRY_LATER = the quota refusals" "$(qs_stat '.retries.RETRY_LATER')" \
    $((retries0 + rate - 1))
qs_info "$((rate - 1)) batches of the fleet answered RETRY_LATER/QUOTA_RATE"
# The simulator's clients are the only ones with topic ids KB5000001..KB5000020.
qs_expect_rc 0 "$QS_TMP/c500.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
norm='[.[] | [(.topic_id | tostring), (.state_id | tonumber), (.count | tonumber)]] | sort'
got=$(jq -c "[.rows[] | select(.state_id != null) | select(.topic_id | test(\"^KB50000[0-9][0-9]\$\"))] | $norm" "$QS_TMP/c500.json")
want=$(jq -c ".expected_latest | $norm" "$QS_TMP/sim.json")
qs_expect_eq "the fleet's compliance rows" "$got" "$want"
qs_expect_eq "nothing more rejected for good" "$(qs_stat '.rejected.BAD_MESSAGE')" 11

qs_step "qsctl stats (table) shows every quota counter"
qs_expect_rc 0 "$QS_TMP/stats.txt" "$QSCTL" stats --home "$QS_HOME"
for want in "QUOTA_RATE $rate" "QUOTA_DETAILS 1" "QUOTA_TOPICS 11"; do
    set -- $want
    grep -Eq "^rejected_detail\.$1 +$2 " "$QS_TMP/stats.txt" ||
        qs_fail "qsctl stats has no 'rejected_detail.$1 $2':"$'\n'"$(cat "$QS_TMP/stats.txt")"
done

printf '%s: PASS\n' "$QS_LIB_NAME"
