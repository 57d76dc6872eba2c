#!/usr/bin/env bash
# security.sh - e2e: only enrolled, unrevoked, untampered input gets in; no name leaks.
#
# On a fresh site with real daemons:
#  1. a client reports with distinctive machine, domain, user and details
#     text; it is stored (and found by lookup under its pseudonym) but none of
#     those strings appears in the raw bytes of any file under the site home
#     (store.db, its WAL, site.db, keys, everything), nor in the daemons' logs;
#  2. a key that was never enrolled here (a client of another site, pointed at
#     this one) is refused: its flush fails and nothing more is stored;
#  3. a revoked client is cut off: on a new connection and on a live one
#     (qs-producer run), its messages are no longer stored;
#  4. a tampered ciphertext (qs_sendraw --corrupt tamper) is answered with
#     BAD_ENVELOPE / DECRYPT_FAILED and counted in qsctl stats.
# Usage: tests/e2e/security.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

MACHINE=PC-LEAKCHECK-7731
DOMAIN=CORP-LEAKCHECK-3310
USER_NAME=alice.leakcheck
DETAILS="0x80070005 DETAILS-LEAKCHECK-5521"
CLIENT=client-leakcheck-4242

qs_need_cmd jq grep
qs_find_bins "${1:-}"
[[ -n $QS_SENDRAW ]] || qs_die "cannot find the 'qs_sendraw' test helper (set QS_SENDRAW or pass the build directory)"
qs_tmp_new
qs_site_init
qs_start_site

qs_step "policy set --k 1 --collect-user-names yes (user names kept, but only as pseudonyms)"
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 \
    --collect-user-names yes --as e2e-security

# ---- 1. identifiers never reach the disk in the clear ----
qs_step "1. report with distinctive names; they are stored as pseudonyms only"
qs_enroll "$CLIENT"
qs_report "$CLIENT" --topic-type 500 --topic-id KB5030211 --state 2 \
    --machine "$MACHINE" --domain "$DOMAIN" --user "$USER_NAME" --details "$DETAILS"
qs_report "$CLIENT" --topic-type 301 --topic-id "{6F0A2C11-4D7E-4B8C-9E1F-2A3B4C5D6E7F}" --state 6 \
    --machine "$MACHINE" --domain "$DOMAIN" --user "$USER_NAME" --details "$DETAILS"
qs_flush "$CLIENT" 30
qs_expect_eq "flush of the leak-check client" "$QS_RC" 0
qs_stats
qs_expect_eq "stats .stored" "$(qs_stat .stored)" 2
qs_expect_rc 0 "$QS_TMP/lookup.json" "$QSCTL" lookup --home "$QS_HOME" --machine "$MACHINE" \
    --domain "$DOMAIN" --format json
qs_expect_eq "lookup rows for $MACHINE" "$(qs_json_get "$QS_TMP/lookup.json" '.rows | length')" 2

check_no_leak() {   # $1: when
    local s hits
    for s in "$MACHINE" "$DOMAIN" "$USER_NAME" "$DETAILS" "DETAILS-LEAKCHECK" "$CLIENT"; do
        # -a: binary files as text; -i: names are case-insensitive, the
        # pseudonyms are of the lowercased name, which must not show either.
        hits=$(grep -r -a -i -l -F -- "$s" "${RAW_DIRS[@]}" 2>/dev/null || true)
        [[ -z $hits ]] || qs_fail "$1: '$s' appears in the clear in: $hits"
        hits=$(grep -a -i -l -F -- "$s" "$QS_TMP"/*.log 2>/dev/null || true)
        [[ -z $hits ]] || qs_fail "$1: '$s' appears in a daemon log: $hits"
    done
}
qs_info "site home files: $(cd "$QS_HOME" && find . -type f | sort | tr '\n' ' ')"
# Control: the same grep does see stored data (update ids are not personal
# and are kept in the clear for compliance queries), so a clean result below
# means "not there", not "not readable".
# The directories holding the site's bytes: the home, and on PostgreSQL
# (QS_TEST_ENGINE=pg) the cluster's data directory, tables and WAL.
mapfile -t RAW_DIRS < <(qs_raw_dirs)
grep -r -a -q -F -- KB5030211 "${RAW_DIRS[@]}" ||
    qs_fail "control: the stored update id KB5030211 is not found by grep under ${RAW_DIRS[*]} either: the leak check would prove nothing"
check_no_leak "while running"

# ---- 2. a key never enrolled here ----
qs_step "2. a client of another site, pointed at this one, is refused"
profile_get() { sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | head -n 1; }
ref=$(qs_profile "$CLIENT")
endpoint=$(profile_get "$ref" endpoint)
broker_pk=$(profile_get "$ref" broker_public_key)
store_pk=$(profile_get "$ref" store_public_key)
[[ $endpoint == "$QS_FRONTEND" && ${#broker_pk} == 64 && ${#store_pk} == 64 ]] ||
    qs_fail "cannot read endpoint and server keys from the profile $ref (got '$endpoint' '$broker_pk' '$store_pk')"
other="$QS_TMP/other-site"
"$QSCTL" init --home "$other" --frontend "tcp://127.0.0.1:1" --backend "tcp://127.0.0.1:2" \
    >"$QS_TMP/other-init.out" 2>&1 || qs_fail "qsctl init of the scratch site failed"
mkdir -p "$QS_TMP/clients"
qs_expect_rc 0 "$QS_TMP/enroll-intruder.out" "$QSCTL" enroll --home "$other" --name intruder \
    --out "$QS_TMP/clients/intruder.profile"
sed -i -e "s|^\([[:space:]]*endpoint[[:space:]]*=\).*|\1 $endpoint|" \
       -e "s|^\([[:space:]]*broker_public_key[[:space:]]*=\).*|\1 $broker_pk|" \
       -e "s|^\([[:space:]]*store_public_key[[:space:]]*=\).*|\1 $store_pk|" "$QS_TMP/clients/intruder.profile"
chmod 600 "$QS_TMP/clients/intruder.profile"
[[ $(profile_get "$QS_TMP/clients/intruder.profile" store_public_key) == "$store_pk" ]] ||
    qs_fail "could not point the intruder profile at this site"
qs_report intruder --topic-type 500 --topic-id KB5030211 --state 3 --machine PC-INTRUDER --domain CORP
qs_flush intruder 3
[[ $QS_RC == 1 ]] || qs_fail "flush with a never-enrolled key exited $QS_RC, expected 1"
qs_expect_rc 0 "$QS_TMP/sendraw-fresh.out" "$QS_SENDRAW" --profile "$ref" --fresh-key \
    --serial 50 --timeout 2000 --expect none --expect UNKNOWN_SENDER
qs_running broker || qs_fail "qs-broker died on an unknown key"
qs_stats
qs_expect_eq "stats .stored after the unknown key" "$(qs_stat .stored)" 2

# ---- 3. revocation ----
qs_step "3a. a revoked client's new connection is refused"
qs_enroll revoke-me
qs_report revoke-me --topic-type 500 --topic-id KB5030211 --state 3 --machine PC-REVOKE --domain CORP
qs_flush revoke-me 30
qs_expect_eq "flush before revocation" "$QS_RC" 0
qs_stats
qs_expect_eq "stats .stored" "$(qs_stat .stored)" 3
qs_expect_rc 0 "$QS_TMP/revoke.out" "$QSCTL" revoke --home "$QS_HOME" --name revoke-me
sleep 1.5
qs_report revoke-me --topic-type 500 --topic-id KB5030211 --state 2 --machine PC-REVOKE --domain CORP
qs_flush revoke-me 3
[[ $QS_RC == 1 ]] || qs_fail "flush of a revoked client exited $QS_RC, expected 1 (refused)"
qs_expect_rc 0 "$QS_TMP/sendraw-revoked.out" "$QS_SENDRAW" --profile "$(qs_profile revoke-me)" \
    --serial 60 --timeout 2000 --expect none --expect REVOKED
qs_stats
qs_expect_eq "stats .stored after revocation" "$(qs_stat .stored)" 3

qs_step "3b. a revoked client on a live connection is cut off within a second"
qs_enroll live
qs_start runner "$QS_PRODUCER" --profile "$(qs_profile live)" --outbox "$(qs_outbox live)" run
qs_report live --topic-type 500 --topic-id KB5030211 --state 1 --machine PC-LIVE --domain CORP
stored_is() { qs_stats; [[ $(qs_stat .stored) == "$1" ]]; }
qs_wait_until 20 "the running producer's first message to be stored" stored_is 4 ||
    qs_fail "qs-producer run did not deliver its message (stats .stored $(qs_stat .stored), expected 4)"
qs_expect_rc 0 "$QS_TMP/revoke-live.out" "$QSCTL" revoke --home "$QS_HOME" --name live
sleep 1.5
qs_report live --topic-type 500 --topic-id KB5030211 --state 3 --machine PC-LIVE --domain CORP
sleep 4
qs_stats
qs_expect_eq "stats .stored after revoking a live client" "$(qs_stat .stored)" 4
qs_stop runner 10 || qs_warn "qs-producer run exited $QS_STOP_RC on SIGTERM"

# ---- 4. tampering ----
qs_step "4. a tampered ciphertext is rejected and counted"
qs_stats
bad_env=$(qs_stat .rejected.BAD_ENVELOPE)
decrypt=$(qs_stat .rejected_detail.DECRYPT_FAILED)
qs_expect_rc 0 "$QS_TMP/sendraw-tamper.out" "$QS_SENDRAW" --profile "$ref" --corrupt tamper \
    --serial 100 --timeout 5000 --expect BAD_ENVELOPE:DECRYPT_FAILED
qs_info "$(cat "$QS_TMP/sendraw-tamper.out")"
qs_wait_stat .rejected.BAD_ENVELOPE "$((bad_env + 1))" 5
if jq -e 'has("rejected_detail")' "$QS_TMP/stats.json" >/dev/null; then
    qs_expect_eq "stats .rejected_detail.DECRYPT_FAILED" \
        "$(qs_stat .rejected_detail.DECRYPT_FAILED)" "$((decrypt + 1))"
else
    qs_warn "qsctl stats has no rejected_detail map (proto/quietstate.proto names it)"
fi
qs_expect_eq "stats .stored after tampering" "$(qs_stat .stored)" 4
qs_running store || qs_fail "qs-store died on a tampered batch"

qs_step "the valid client still gets through"
qs_expect_rc 0 "$QS_TMP/sendraw-ok.out" "$QS_SENDRAW" --profile "$ref" --serial 101 \
    --machine "$MACHINE" --domain "$DOMAIN" --user "$USER_NAME" --timeout 10000 --expect OK
qs_stats
qs_expect_eq "stats .stored" "$(qs_stat .stored)" 5

qs_step "3c. decommission: qsctl revoke --forget revokes and erases in one audited step"
qs_enroll pc-decom
qs_report pc-decom --topic-type 500 --topic-id KB5030211 --state 2 --machine PC-DECOM --domain CORP
qs_report pc-decom --topic-type 500 --topic-id KB5030212 --state 3 --machine PC-DECOM --domain CORP
qs_flush pc-decom 30
qs_expect_eq "flush before the decommission" "$QS_RC" 0
qs_expect_rc 0 "$QS_TMP/decom-before.json" "$QSCTL" lookup --home "$QS_HOME" --machine pc-decom --format json
qs_expect_eq "PC-DECOM's current states before" "$(jq '.rows | length' "$QS_TMP/decom-before.json")" 2
audit_before=$("$QSCTL" audit show --home "$QS_HOME" --format json | jq '.entries | length')
qs_expect_rc 0 "$QS_TMP/decom.json" "$QSCTL" revoke --home "$QS_HOME" --name PC-Decom --forget \
    --as officer --format json
qs_expect_eq "revoke --forget: keys revoked" "$(jq .keys "$QS_TMP/decom.json")" 1
qs_expect_eq "revoke --forget: current states erased" "$(jq .forget.latest_rows "$QS_TMP/decom.json")" 2
qs_expect_eq "revoke --forget: events erased" "$(jq .forget.history_rows "$QS_TMP/decom.json")" 2
qs_expect_rc 0 "$QS_TMP/decom-after.json" "$QSCTL" lookup --home "$QS_HOME" --machine PC-DECOM --format json
qs_expect_eq "PC-DECOM's current states after" "$(jq '.rows | length' "$QS_TMP/decom-after.json")" 0
"$QSCTL" audit show --home "$QS_HOME" --format json >"$QS_TMP/decom-audit.json"
qs_expect_eq "audit entries added by revoke --forget" \
    "$(jq -r ".entries[$audit_before:] | map(.action) | join(\",\")" "$QS_TMP/decom-audit.json")" "revoke,forget"
qs_report pc-decom --topic-type 500 --topic-id KB5030211 --state 3 --machine PC-DECOM --domain CORP
qs_flush pc-decom 3
[[ $QS_RC == 1 ]] || qs_fail "flush of a decommissioned client exited $QS_RC, expected 1 (refused)"
qs_expect_rc 0 "$QS_TMP/decom-late.json" "$QSCTL" lookup --home "$QS_HOME" --machine PC-DECOM --format json
qs_expect_eq "PC-DECOM's current states after a late report" "$(jq '.rows | length' "$QS_TMP/decom-late.json")" 0

qs_step "qs-store can leave no core: its core limit is 0 (plaintext and keys stay out of dumps)"
core_limit=$(awk '/^Max core file size/ { print $5 " " $6 }' "/proc/${QS_DAEMON_PID[store]}/limits")
qs_expect_eq "qs-store's core limit (soft hard)" "$core_limit" "0 0"

qs_step "no name in any file after a clean stop either"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
check_no_leak "after stop"
echo "e2e_security: PASS"
