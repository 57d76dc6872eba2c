#!/usr/bin/env bash
# diskfull.sh - e2e: the disk reserve (docs/quotas.md) on a small, real file system.
#
# The site home lives on a 32 MiB tmpfs with [store] disk_reserve_mb = 8.
# A filler file brings the free space under the reserve: qs-store answers
# every batch RETRY_LATER/DISK_RESERVE (one log line, an exact counter) and
# stores nothing; the producer keeps its messages. `qsctl forget --machine`
# and a `qs-retention --once` pass still succeed in the reserve. Once the
# filler is gone, ingest resumes by itself and everything the producer kept
# arrives, once. Then, without a reserve, the disk filled to the last byte:
# the commit fails, the group is answered RETRY_LATER/STORE_BUSY, qs-store
# keeps running, and everything arrives once space is freed.
# Needs root (mount); skipped (exit 77) otherwise. SQLite
# only: a PostgreSQL database's disk is not the store host's.
# Usage: tests/e2e/diskfull.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

if (( $(id -u) != 0 )); then
    printf '%s: SKIP: needs root to mount a small tmpfs for the site home\n' "$QS_LIB_NAME"
    exit 77
fi
if qs_engine_pg; then
    printf '%s: SKIP: the disk reserve watches SQLite'"'"'s store.db only\n' "$QS_LIB_NAME"
    exit 77
fi
qs_need_cmd jq mount umount fallocate
qs_find_bins "${1:-}"
[[ -n ${QS_SENDRAW:-} && -x ${QS_SENDRAW:-} ]] || qs_fail "QS_SENDRAW (tests/e2e/qs_sendraw) is not set or not executable"
QS_RETENTION=${QS_RETENTION:-$(dirname "$QS_STORE")/../retention/qs-retention}
[[ -x $QS_RETENTION ]] || qs_fail "cannot find qs-retention (set QS_RETENTION)"
qs_tmp_new
mkdir "$QS_TMP/disk"
mount -t tmpfs -o size=32m,mode=0700 tmpfs "$QS_TMP/disk" ||
    qs_fail "cannot mount a tmpfs on $QS_TMP/disk"
# Lazily: the daemons still have files open when the hooks run.
qs_on_exit "umount -l '$QS_TMP/disk'"
qs_site_init disk/site
sed -i '/^group_commit_max_messages/a disk_reserve_mb = 8' "$QS_HOME/quietstate.conf"
grep -q '^disk_reserve_mb = 8$' "$QS_HOME/quietstate.conf" || qs_fail "could not set disk_reserve_mb"
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-disk

free_kib() { df -Pk "$QS_TMP/disk" | awk 'NR == 2 { print $4 }'; }
T1=$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)

qs_step "room on the disk: two machines report"
qs_enroll dk-a
qs_enroll dk-b
for c in a b; do
    for t in 1 2 3; do
        qs_report "dk-$c" --topic-type 500 --topic-id "KB506000$t" --state 2 --machine "PC-DISK-${c^^}" --time "$T1"
    done
    qs_flush "dk-$c" 30
    qs_expect_eq "flush dk-$c" "$QS_RC" 0
done
qs_stats
qs_expect_eq "stored" "$(qs_stat .stored)" 6

qs_step "fill the file system to 6 MiB free (reserve 8 MiB)"
fallocate -l $(( ($(free_kib) - 6 * 1024) * 1024 )) "$QS_TMP/disk/filler"
qs_info "free: $(free_kib) KiB"
sleep 0.5   # the store looks at most every 200 ms

qs_step "ingest is refused RETRY_LATER/DISK_RESERVE, the producer keeps its messages"
qs_run "$QS_TMP/raw.out" "$QS_SENDRAW" --profile "$(qs_profile dk-b)" --serial 4 --count 1 \
    --topic-id KB5060009 --machine PC-DISK-B --expect RETRY_LATER:DISK_RESERVE --timeout 10000
qs_expect_eq "qs_sendraw answered RETRY_LATER:DISK_RESERVE (rc)" "$QS_RC" 0
qs_wait_stat '.rejected_detail.DISK_RESERVE' 1
qs_expect_eq "retries.RETRY_LATER" "$(qs_stat '.retries.RETRY_LATER')" 1
for t in 4 5 6 7 8; do
    qs_report dk-a --topic-type 500 --topic-id "KB506000$t" --state 3 --machine PC-DISK-A --time "$T1"
done
qs_flush dk-a 3
[[ $QS_RC != 0 ]] || qs_fail "flush succeeded although the disk is under the reserve"
qs_expect_rc 0 "$QS_TMP/a-status.json" "$QS_PRODUCER" --profile "$(qs_profile dk-a)" \
    --outbox "$(qs_outbox dk-a)" status --format json
qs_expect_eq "dk-a pending" "$(qs_json_get "$QS_TMP/a-status.json" .pending)" 5
qs_expect_eq "dk-a rejected" "$(qs_json_get "$QS_TMP/a-status.json" .rejected)" 0
sleep 0.5   # the last refusals' counters
qs_stats
refusals=$(qs_stat '.rejected_detail.DISK_RESERVE')
(( refusals >= 2 )) || qs_fail "the producer's batches were not refused (DISK_RESERVE $refusals)"
qs_expect_eq "retries.RETRY_LATER = the disk refusals" "$(qs_stat '.retries.RETRY_LATER')" "$refusals"
qs_expect_eq "stored (nothing while under the reserve)" "$(qs_stat .stored)" 6
n=$(grep -c "free space on store.db's file system is [0-9]* KiB, under" "${QS_DAEMON_LOG[store]}" || true)
qs_expect_eq "store log lines about the reserve" "$n" 1
qs_info "$refusals batches refused"
qs_wait_until 5 "store.stats to say the reserve is low" \
    jq -e '.disk_reserve_low == 1 and .disk_free_bytes < 8388608' "$QS_HOME/store.stats" ||
    qs_fail "store.stats does not say the reserve is low:"$'\n'"$(cat "$QS_HOME/store.stats" 2>&1)"

qs_step "qsctl forget --machine and a qs-retention pass work in the reserve"
qs_expect_rc 0 "$QS_TMP/forget.out" "$QSCTL" forget --home "$QS_HOME" --machine PC-DISK-B \
    --as e2e-disk --format json
qs_expect_rc 0 "$QS_TMP/lookup-b.json" "$QSCTL" lookup --home "$QS_HOME" --machine PC-DISK-B --format json
qs_expect_eq "PC-DISK-B's rows after forget" "$(jq '.rows | length' "$QS_TMP/lookup-b.json")" 0
qs_expect_rc 0 "$QS_TMP/retention.out" "$QS_RETENTION" --home "$QS_HOME" --once
qs_info "free: $(free_kib) KiB"

qs_step "space freed: ingest resumes, everything the producer kept arrives once"
rm -f "$QS_TMP/disk/filler"
qs_flush dk-a 60
qs_expect_eq "flush dk-a" "$QS_RC" 0
qs_stats
qs_expect_eq "stored" "$(qs_stat .stored)" 11
qs_expect_eq "duplicates" "$(qs_stat .duplicates)" 0
qs_expect_rc 0 "$QS_TMP/lookup-a.json" "$QSCTL" lookup --home "$QS_HOME" --machine PC-DISK-A --format json
got=$(jq -c '[.rows[] | [.topic_id, .state_id]] | sort' "$QS_TMP/lookup-a.json")
qs_expect_eq "PC-DISK-A's rows" "$got" \
    '[["KB5060001",2],["KB5060002",2],["KB5060003",2],["KB5060004",3],["KB5060005",3],["KB5060006",3],["KB5060007",3],["KB5060008",3]]'
qs_wait_log "${QS_DAEMON_LOG[store]}" 'above the reserve again' 5 ||
    qs_fail "the store did not log that ingest resumed"
qs_wait_until 5 "store.stats to say the reserve is fine" \
    jq -e '.disk_reserve_low == 0 and .disk_free_bytes > 8388608' "$QS_HOME/store.stats" ||
    qs_fail "store.stats still says the reserve is low:"$'\n'"$(cat "$QS_HOME/store.stats" 2>&1)"

qs_step "no reserve, a truly full disk: the commit fails (RETRY_LATER/STORE_BUSY), nothing is lost"
qs_stop store || qs_fail "qs-store did not stop cleanly"
sed -i 's/^disk_reserve_mb = 8$/disk_reserve_mb = 0/' "$QS_HOME/quietstate.conf"
mv "${QS_DAEMON_LOG[store]}" "$QS_TMP/store-reserve.log"
qs_start store "$QS_STORE" --home "$QS_HOME"
qs_wait_log "${QS_DAEMON_LOG[store]}" 'disk reserve 0 MiB' 10 || qs_fail "qs-store did not restart"
sleep 0.5
BIG=$(printf 'f%.0s' $(seq 1 1000))
# 120 reports of 1000 bytes of details: more than SQLite's WAL can absorb
# in space it already holds.
for ((t = 1; t <= 120; t++)); do
    "$QS_PRODUCER" --profile "$(qs_profile dk-a)" --outbox "$(qs_outbox dk-a)" report \
        --topic-type 500 --topic-id "KB507$(printf %04d "$t")" --state 2 --machine PC-DISK-A \
        --time "$T1" --details "$BIG" >/dev/null 2>&1 || qs_fail "qs-producer report $t failed"
done
dd if=/dev/zero of="$QS_TMP/disk/filler" bs=64k 2>/dev/null || true
qs_info "free: $(free_kib) KiB"
qs_flush dk-a 5
[[ $QS_RC != 0 ]] || qs_fail "flush succeeded although the disk is full"
qs_wait_log "${QS_DAEMON_LOG[store]}" 'commit failed, answering RETRY_LATER' 5 ||
    qs_fail "the store did not log its failed commit"
qs_running store || qs_fail "qs-store died on a full disk"
qs_expect_rc 0 "$QS_TMP/a-status2.json" "$QS_PRODUCER" --profile "$(qs_profile dk-a)" \
    --outbox "$(qs_outbox dk-a)" status --format json
pending=$(qs_json_get "$QS_TMP/a-status2.json" .pending)
(( pending > 0 )) || qs_fail "nothing pending although the disk is full"
qs_info "$pending of 120 messages kept by the producer while the disk is full"
rm -f "$QS_TMP/disk/filler"
qs_flush dk-a 60
qs_expect_eq "flush dk-a" "$QS_RC" 0
qs_stats
qs_expect_eq "stored" "$(qs_stat .stored)" 131
qs_expect_rc 0 "$QS_TMP/lookup-a2.json" "$QSCTL" lookup --home "$QS_HOME" --machine PC-DISK-A --format json
qs_expect_eq "PC-DISK-A's rows" "$(jq '.rows | length' "$QS_TMP/lookup-a2.json")" 128

printf '%s: PASS\n' "$QS_LIB_NAME"
