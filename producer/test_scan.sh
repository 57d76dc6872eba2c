#!/usr/bin/env bash
# test_scan.sh - qs-producer scan on a Debian root made by the test, then
# delivered end to end (real qs-broker and qs-store on loopback).
#
# The root is a hand-made fixture (deterministic, no debootstrap): a dpkg
# status file and apt lists for bookworm main, bookworm-security (InRelease,
# clear-signed armour, Label Debian-Security) and bookworm-backports
# (NotAutomatic: must give no candidate), with an epoch, a '~', an arch-all
# package, a removed package and one malformed paragraph. Checks:
#   1. the first scan records exactly the expected (topic, state) set;
#   2. a second scan of the unchanged root records nothing;
#   3. after "upgrading" openssl in the status file: installed for the new
#      version, not required for the old one, nothing else;
#   4. after removing curl: both of its topics become not required;
#   5. state shows the current state; status counts it;
#   6. flush delivers everything and `qsctl compliance` shows the scan's
#      current state exactly.
# Usage: QS_BUILD_DIR=build bash producer/test_scan.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

qs_need_cmd jq
qs_find_bins "${1:-}"
qs_tmp_new
ROOT=$QS_TMP/root
OUTBOX=$QS_TMP/scan.outbox
LISTS=$ROOT/var/lib/apt/lists
mkdir -p "$ROOT/var/lib/dpkg" "$LISTS"

pkg() {   # pkg NAME VERSION [ARCH [STATUS]]: one status paragraph
    printf 'Package: %s\nStatus: %s\nPriority: optional\nArchitecture: %s\nVersion: %s\nDescription: %s\n fixture package\n .\n more text\n\n' \
        "$1" "${4:-install ok installed}" "${3:-amd64}" "$2" "$1"
}
avail() {   # avail NAME VERSION [ARCH]: one Packages paragraph
    printf 'Package: %s\nVersion: %s\nArchitecture: %s\nFilename: pool/%s.deb\nSize: 1\n\n' \
        "$1" "$2" "${3:-amd64}" "$1"
}
write_status() {   # write_status OPENSSL_VERSION CURL_STATUS
    {
        pkg base-files 12.4+deb12u1
        pkg openssl "$1"
        pkg libc6 2.36-9+deb12u3
        pkg libc6 2.36-9+deb12u3 i386
        pkg tzdata 2024a-0+deb12u1 all
        pkg vim 2:9.0.1378-2
        pkg curl 7.88.1-10+deb12u4 amd64 "$2"
        pkg old-removed 1.0-1 amd64 "deinstall ok config-files"
    } >"$ROOT/var/lib/dpkg/status.new"
    mv "$ROOT/var/lib/dpkg/status.new" "$ROOT/var/lib/dpkg/status"
}
write_status 3.0.11-1~deb12u1 "install ok installed"

{
    printf -- '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n'
    printf 'Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 10 Feb 2024 10:00:00 UTC\n'
    printf -- '-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n'
} >"$LISTS/deb.debian.org_debian_dists_bookworm_InRelease"
{
    avail base-files 12.4+deb12u1
    avail openssl 3.0.11-1~deb12u1
    avail libc6 2.36-9+deb12u4
    avail libc6 2.36-9+deb12u4 i386
    avail tzdata 2024a-0+deb12u1~rc1 all      # '~': older than installed
    avail vim 2:9.0.1378-2+deb12u1
    avail vim 9.1.0-1                         # no epoch: older than 2:...
    avail curl 7.88.1-10+deb12u4
    printf 'Package: broken\nthis line has no colon\nVersion: 1.0\n\n'
    avail unrelated 5.0-1
} >"$LISTS/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
{
    printf -- '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n'
    printf 'Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nCodename: bookworm-security\n'
    printf -- '-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n'
} >"$LISTS/security.debian.org_debian-security_dists_bookworm-security_InRelease"
{
    avail openssl 3.0.13-1~deb12u1
    avail curl 7.88.1-10+deb12u5
} >"$LISTS/security.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"
printf 'Origin: Debian Backports\nLabel: Debian Backports\nSuite: stable-backports\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n' \
    >"$LISTS/deb.debian.org_debian_dists_bookworm-backports_Release"
avail curl 8.5.0-2~bpo12+1 >"$LISTS/deb.debian.org_debian_dists_bookworm-backports_main_binary-amd64_Packages"

# scan_json NAME: scan the fixture into the outbox, JSON to $QS_TMP/NAME.json;
# prints its changes as sorted "topic state security" lines to $QS_TMP/NAME.got.
scan_json() {
    qs_expect_rc 0 "$QS_TMP/$1.json" "$QS_PRODUCER" --outbox "$OUTBOX" scan --root "$ROOT" \
        --machine WS-SCAN-1 --domain CORP --format json
    jq -r '.changes[] | "\(.topic_id) \(.state_id) \(.security)"' "$QS_TMP/$1.json" | sort \
        >"$QS_TMP/$1.got"
}
expect_changes() {   # expect_changes NAME <<EOF lines
    sort >"$QS_TMP/$1.want"
    diff -u "$QS_TMP/$1.want" "$QS_TMP/$1.got" >"$QS_TMP/$1.diff" ||
        qs_fail "$1: the scan recorded other changes than expected:"$'\n'"$(cat "$QS_TMP/$1.diff")"
}

qs_step "first scan: exactly the installed versions and the pending upgrades"
scan_json first
expect_changes first <<'EOF'
deb:base-files:12.4+deb12u1 3 false
deb:curl:7.88.1-10+deb12u4 3 false
deb:curl:7.88.1-10+deb12u5 2 true
deb:libc6:2.36-9+deb12u3 3 false
deb:libc6:2.36-9+deb12u4 2 false
deb:openssl:3.0.11-1~deb12u1 3 false
deb:openssl:3.0.13-1~deb12u1 2 true
deb:tzdata:2024a-0+deb12u1 3 false
deb:vim:2:9.0.1378-2 3 false
deb:vim:2:9.0.1378-2+deb12u1 2 false
EOF
qs_expect_eq "installed" "$(qs_json_get "$QS_TMP/first.json" .installed)" 7
qs_expect_eq "pending" "$(qs_json_get "$QS_TMP/first.json" .pending)" 5
qs_expect_eq "security" "$(qs_json_get "$QS_TMP/first.json" .security)" 2
qs_expect_eq "lists read" "$(qs_json_get "$QS_TMP/first.json" .lists)" 2
qs_expect_eq "malformed" "$(qs_json_get "$QS_TMP/first.json" .malformed)" 1
qs_expect_eq "first serial" "$(qs_json_get "$QS_TMP/first.json" .first_serial)" 1
grep -q "malformed entries skipped.*without ':'" "$QS_TMP/first.json.err" ||
    qs_fail "the malformed paragraph is not reported:"$'\n'"$(cat "$QS_TMP/first.json.err")"

qs_step "second scan, nothing changed: nothing recorded"
scan_json second
expect_changes second </dev/null
qs_expect_eq "recorded" "$(qs_json_get "$QS_TMP/second.json" .recorded)" 0
qs_expect_rc 0 "$QS_TMP/text.out" "$QS_PRODUCER" --outbox "$OUTBOX" scan --root "$ROOT"
grep -q "no change since the last scan" "$QS_TMP/text.out" || qs_fail "text summary: $(cat "$QS_TMP/text.out")"

qs_step "openssl upgraded (status edited): installed, and the old version not required"
write_status 3.0.13-1~deb12u1 "install ok installed"
scan_json upgrade
expect_changes upgrade <<'EOF'
deb:openssl:3.0.11-1~deb12u1 1 false
deb:openssl:3.0.13-1~deb12u1 3 false
EOF

qs_step "curl removed: both its topics not required"
write_status 3.0.13-1~deb12u1 "deinstall ok config-files"
scan_json remove
expect_changes remove <<'EOF'
deb:curl:7.88.1-10+deb12u4 1 false
deb:curl:7.88.1-10+deb12u5 1 false
EOF

qs_step "state: the current state, what a resync would send"
qs_expect_rc 0 "$QS_TMP/state.json" "$QS_PRODUCER" --outbox "$OUTBOX" state --format json
qs_expect_eq "state count" "$(qs_json_get "$QS_TMP/state.json" .count)" 10
qs_expect_eq "openssl new" "$(qs_json_get "$QS_TMP/state.json" \
    '.topics[] | select(.topic_id == "deb:openssl:3.0.13-1~deb12u1") | "\(.state_id) \(.serial) \(.machine) \(.domain)"')" \
    "3 12 WS-SCAN-1 CORP"
qs_expect_rc 0 "$QS_TMP/state.csv" "$QS_PRODUCER" --outbox "$OUTBOX" state --format csv
qs_expect_eq "csv rows" "$(wc -l <"$QS_TMP/state.csv")" 11
qs_expect_rc 0 "$QS_TMP/state.txt" "$QS_PRODUCER" state --outbox "$OUTBOX" --topic-type 500
grep -q "deb:curl:7.88.1-10+deb12u5 *not required" "$QS_TMP/state.txt" ||
    qs_fail "state table: $(cat "$QS_TMP/state.txt")"
qs_expect_rc 0 "$QS_TMP/status.json" "$QS_PRODUCER" --outbox "$OUTBOX" status --format json
qs_expect_eq "pending" "$(qs_json_get "$QS_TMP/status.json" .pending)" 14
qs_expect_eq "current topics" "$(qs_json_get "$QS_TMP/status.json" .current_topics)" 10

qs_step "usage errors and a root that is not Debian"
qs_expect_rc 2 "$QS_TMP/u1.out" "$QS_PRODUCER" --outbox "$OUTBOX" scan --format yaml
qs_expect_rc 2 "$QS_TMP/u2.out" "$QS_PRODUCER" scan --root "$ROOT"
qs_expect_rc 2 "$QS_TMP/u3.out" "$QS_PRODUCER" --outbox "$OUTBOX" state --format xml
qs_expect_rc 2 "$QS_TMP/u4.out" "$QS_PRODUCER" --outbox "$OUTBOX" status --max-pending 0
qs_expect_rc 2 "$QS_TMP/u5.out" "$QS_PRODUCER" --outbox "$OUTBOX" run --scan-every 5x
qs_expect_rc 1 "$QS_TMP/nodeb.out" "$QS_PRODUCER" --outbox "$OUTBOX" scan --root "$QS_TMP/nowhere"
grep -q "Debian-family" "$QS_TMP/nodeb.out.err" || qs_fail "no clear error: $(cat "$QS_TMP/nodeb.out.err")"
for c in scan state status; do
    qs_expect_rc 0 "$QS_TMP/help-$c.out" "$QS_PRODUCER" "$c" --help
done

qs_step "the outbox cap: superseded states dropped and counted, then report refused (exit 1)"
CAP=$QS_TMP/cap.outbox
qs_expect_rc 0 "$QS_TMP/cap0.out" "$QS_PRODUCER" --outbox "$CAP" status --max-pending 2
for t in KB1 KB2; do
    qs_expect_rc 0 "$QS_TMP/cap-$t.out" "$QS_PRODUCER" --outbox "$CAP" report --topic-type 500 \
        --topic-id "$t" --state 2 --machine WS-CAP
done
qs_expect_rc 1 "$QS_TMP/cap-full.out" "$QS_PRODUCER" --outbox "$CAP" report --topic-type 500 \
    --topic-id KB3 --state 2 --machine WS-CAP
grep -q "outbox full" "$QS_TMP/cap-full.out.err" || qs_fail "no clear error at the cap: $(cat "$QS_TMP/cap-full.out.err")"
qs_expect_rc 0 "$QS_TMP/cap-new.out" "$QS_PRODUCER" --outbox "$CAP" report --topic-type 500 \
    --topic-id KB1 --state 3 --machine WS-CAP
# KB1 state 2 (serial 1) was dropped and KB2 renumbered 1: no serial gap.
qs_expect_eq "serial after the refusal" "$(cat "$QS_TMP/cap-new.out")" 2
qs_expect_rc 0 "$QS_TMP/cap.json" "$QS_PRODUCER" --outbox "$CAP" status --format json
qs_expect_eq "dropped" "$(qs_json_get "$QS_TMP/cap.json" .dropped_superseded)" 1
qs_expect_eq "pending at the cap" "$(qs_json_get "$QS_TMP/cap.json" .pending)" 2

qs_step "delivered end to end: compliance equals the scan's current state"
qs_site_init
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as test-scan
qs_enroll scan
qs_expect_rc 0 "$QS_TMP/flush.out" "$QS_PRODUCER" --profile "$(qs_profile scan)" --outbox "$OUTBOX" \
    flush --timeout 60
qs_expect_rc 0 "$QS_TMP/compliance.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 \
    --format json
jq -r '.rows[] | select(.state_id != null) | "\(.topic_id) \(.state_id) \(.count)"' "$QS_TMP/compliance.json" | sort >"$QS_TMP/c.got"
jq -r '.topics[] | "\(.topic_id) \(.state_id) 1"' "$QS_TMP/state.json" | sort >"$QS_TMP/c.want"
diff -u "$QS_TMP/c.want" "$QS_TMP/c.got" >"$QS_TMP/c.diff" ||
    qs_fail "compliance differs from the scan's current state:"$'\n'"$(cat "$QS_TMP/c.diff")"

qs_step "an outbox that dropped superseded states at its cap still drains completely"
qs_enroll cap
qs_expect_rc 0 "$QS_TMP/flush-cap.out" "$QS_PRODUCER" --profile "$(qs_profile cap)" --outbox "$CAP" \
    flush --timeout 60
qs_expect_rc 0 "$QS_TMP/compliance-cap.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 \
    --topic-id KB1 --format json
qs_expect_eq "KB1 after the cap" "$(qs_json_get "$QS_TMP/compliance-cap.json" \
    '[.rows[] | select(.state_id != null) | "\(.state_id):\(.count)"] | join(",")')" "3:1"

qs_step "run --scan-every 1s: scans while it delivers, and again after a change"
RUNBOX=$QS_TMP/run.outbox
qs_enroll runner
# status_is FIELD WANT: the run outbox's status FIELD equals WANT.
status_is() {
    "$QS_PRODUCER" --outbox "$RUNBOX" status --format json 2>/dev/null | jq -e ".$1 == $2" >/dev/null
}
QS_SCAN_ROOT=$ROOT qs_start runner "$QS_PRODUCER" --profile "$(qs_profile runner)" \
    --outbox "$RUNBOX" run --scan-every 1s
# The root as it is now: openssl upgraded, curl removed: 7 topics.
qs_wait_until 30 "run's first scan (7 topics)" status_is current_topics 7 ||
    qs_fail "run did not scan: $(tail -n 5 "$QS_TMP/runner.log")"
qs_wait_until 30 "run's scan delivered" status_is pending 0 ||
    qs_fail "run did not deliver its scan: $(tail -n 5 "$QS_TMP/runner.log")"
write_status 3.0.13-1~deb12u1 "install ok installed"   # curl back
qs_wait_until 30 "run's scan of the change (curl back: 2 more topics)" status_is next_serial 10 ||
    qs_fail "run did not scan the change: $(tail -n 5 "$QS_TMP/runner.log")"
qs_wait_until 30 "the change delivered" status_is pending 0 || qs_fail "not delivered"
qs_stop runner || qs_fail "run did not exit 0 on SIGTERM (status $QS_STOP_RC)"
grep -q "scan: recorded 2 changes" "$QS_TMP/runner.log" ||
    qs_fail "run's log does not show the second scan: $(cat "$QS_TMP/runner.log")"
echo "test_scan: ok"
