#!/usr/bin/env bash
# test_forget_unicode.sh - names are Unicode-folded, and rows under the old
# (ASCII-only) fold's pseudonyms are still found and erased.
#
# MÜNCHEN-PC reports through the real broker and store; `qsctl lookup
# --machine münchen-pc` finds it. Rows written before the Unicode fold carry
# the legacy pseudonym of the name as reported: they are made here by
# rewriting a second client's rows of MÜNCHEN-PC to the legacy pseudonym,
# computed independently (Python: keyed BLAKE2b over the ASCII-lowercased
# name; checked first against an ASCII machine's stored pseudonym, which both
# folds share). Lookup finds the legacy rows too; a new report of one of
# them moves its current state to the new pseudonym (the write path's
# upsert sets machine_ps); `qsctl forget --machine "München-PC"` then erases
# the rows under both, nothing of either pseudonym is left, and ASCII-PC is
# untouched. A name that is not UTF-8 is a usage error.
#
# Usage: bash tests/retention/test_forget_unicode.sh BUILD_DIR (or QS_BUILD_DIR=...);
# QS_TEST_ENGINE=pg runs it on a PostgreSQL server of its own.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=retention_lib.sh
. "$HERE/retention_lib.sh"

ret_setup "${1:-}"
qs_need_cmd python3

# legacy_ps KIND NAME: the pseudonym under the old fold (upper-case hex).
legacy_ps() {
    python3 - "$QS_HOME/keys/site.key" "$1" "$2" <<'PY'
import hashlib, sys
key = bytes.fromhex(open(sys.argv[1]).read().strip())
name = sys.argv[3].encode().strip(b" \t\n\v\f\r").lower()   # bytes.lower: ASCII only
print(hashlib.blake2b(b"quietstate/" + sys.argv[2].encode() + b"\0" + name,
                      digest_size=16, key=key).hexdigest().upper())
PY
}

# blob HEX: a blob literal in the engine's dialect.
blob() {
    if [[ $RET_ENGINE == pg ]]; then printf "decode('%s', 'hex')" "$1"; else printf "X'%s'" "$1"; fi
}

# sql_write SQL: a change to the store database while qs-store runs.
sql_write() {
    if [[ $RET_ENGINE == pg ]]; then ret_sql "$1"; else sqlite3 -cmd ".timeout 10000" -cmd "PRAGMA secure_delete = ON" "$QS_HOME/store.db" "$1" >/dev/null; fi
}

# ps_of TOPIC_ID: the machine pseudonym of latest's row of TOPIC_ID.
ps_of() { ret_sql "SELECT $(ret_hex machine_ps) FROM latest WHERE topic_id = '$1'"; }

qs_step "MÜNCHEN-PC and ASCII-PC report"
ret_site_init
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --max-age-days 30
qs_enroll uni-client-a
qs_enroll uni-client-b
qs_enroll uni-client-c
ret_start_site_at 0
T1=$(ret_iso_ago 7200)
T2=$(ret_iso_ago 3600)
T3=$(ret_iso_ago 600)
E=$(ret_epoch_of "$T1")
[[ $(ret_epoch_of "$T3") == "$E" ]] || E=""   # an epoch boundary in between: skip history checks by table
qs_report uni-client-a --topic-type 500 --topic-id KB-UNI-NEW --state 2 --machine "MÜNCHEN-PC" --time "$T1"
qs_report uni-client-b --topic-type 500 --topic-id KB-UNI-ASCII --state 3 --machine "ASCII-PC" --time "$T1"
qs_report uni-client-c --topic-type 500 --topic-id KB-UNI-OLD1 --state 2 --machine "MÜNCHEN-PC" --time "$T1"
qs_report uni-client-c --topic-type 500 --topic-id KB-UNI-OLD2 --state 2 --machine "MÜNCHEN-PC" --time "$T1"
for c in uni-client-a uni-client-b uni-client-c; do
    qs_flush "$c" 30
    qs_expect_eq "flush $c" "$QS_RC" 0
done

qs_step "the Python reference agrees with the store on an ASCII name"
qs_expect_eq "ASCII-PC's pseudonym" "$(ps_of KB-UNI-ASCII)" "$(legacy_ps machine ASCII-PC)"
NEW_PS=$(ps_of KB-UNI-NEW)
OLD_PS=$(legacy_ps machine "MÜNCHEN-PC")
[[ ${#NEW_PS} == 32 && $NEW_PS != "$OLD_PS" ]] ||
    qs_fail "the new and the legacy pseudonym of MÜNCHEN-PC should differ ('$NEW_PS', '$OLD_PS')"
qs_expect_eq "client c's rows under the new pseudonym" "$(ps_of KB-UNI-OLD1)" "$NEW_PS"

qs_step "client c's rows rewritten to the legacy pseudonym (as written before the upgrade)"
sql_write "UPDATE latest SET machine_ps = $(blob "$OLD_PS") WHERE topic_id LIKE 'KB-UNI-OLD%'"
for t in $(ret_sql "SELECT DISTINCT 'history_' || epoch || '_' || topic_type FROM partitions" 2>/dev/null || true); do
    sql_write "UPDATE $t SET machine_ps = $(blob "$OLD_PS") WHERE topic_id LIKE 'KB-UNI-OLD%'" 2>/dev/null || true
done
qs_expect_eq "legacy rows in latest" \
    "$(ret_sql "SELECT count(*) FROM latest WHERE machine_ps = $(blob "$OLD_PS")")" 2
if [[ -n $E ]]; then
    qs_expect_eq "legacy rows in history_${E}_500" \
        "$(ret_sql "SELECT count(*) FROM history_${E}_500 WHERE machine_ps = $(blob "$OLD_PS")")" 2
fi

qs_step "qsctl lookup --machine münchen-pc finds the new and the legacy rows"
ret_lookup "münchen-pc" now.json
ret_expect_ids now.json KB-UNI-NEW KB-UNI-OLD1 KB-UNI-OLD2
ret_lookup "münchen-pc" hist.json --history
ret_expect_ids hist.json KB-UNI-NEW KB-UNI-OLD1 KB-UNI-OLD2
ret_lookup "ascii-pc" ascii.json
ret_expect_ids ascii.json KB-UNI-ASCII

qs_step "a new report moves the current state to the new pseudonym"
qs_report uni-client-c --topic-type 500 --topic-id KB-UNI-OLD1 --state 3 --machine "MÜNCHEN-PC" --time "$T2"
qs_flush uni-client-c 30
qs_expect_eq "flush uni-client-c" "$QS_RC" 0
qs_expect_eq "KB-UNI-OLD1's pseudonym after the report" "$(ps_of KB-UNI-OLD1)" "$NEW_PS"
qs_expect_eq "KB-UNI-OLD2's pseudonym (not reported again)" "$(ps_of KB-UNI-OLD2)" "$OLD_PS"
ret_lookup "MÜNCHEN-PC" now2.json
qs_expect_eq "KB-UNI-OLD1's state" \
    "$(jq -r '.rows[] | select(.topic_id == "KB-UNI-OLD1") | .state_id' "$QS_TMP/now2.json")" 3

qs_step "a name that is not UTF-8 is a usage error"
qs_expect_rc 2 "$QS_TMP/bad.out" "$QSCTL" lookup --home "$QS_HOME" --machine $'PC-\xff'
grep -q "not valid UTF-8" "$QS_TMP/bad.out.err" || qs_fail "lookup: $(cat "$QS_TMP/bad.out.err")"
qs_expect_rc 2 "$QS_TMP/bad2.out" "$QSCTL" forget --home "$QS_HOME" --machine $'PC-\xc3'
grep -q "valid UTF-8" "$QS_TMP/bad2.out.err" || qs_fail "forget: $(cat "$QS_TMP/bad2.out.err")"

qs_step "qsctl forget --machine München-PC erases the rows under both pseudonyms"
qs_expect_rc 0 "$QS_TMP/forget.out" "$QSCTL" forget --home "$QS_HOME" --machine "München-PC" --as dpo
# latest: NEW, OLD1, OLD2; events: NEW, OLD1 twice, OLD2.
grep -q 'removed 3 current states and 4 events' "$QS_TMP/forget.out" ||
    qs_fail "forget output: $(cat "$QS_TMP/forget.out")"
ret_lookup "münchen-pc" now3.json
ret_expect_ids now3.json
ret_lookup "münchen-pc" hist3.json --history
ret_expect_ids hist3.json
for ps in "$NEW_PS" "$OLD_PS"; do
    qs_expect_eq "latest rows of $ps" \
        "$(ret_sql "SELECT count(*) FROM latest WHERE machine_ps = $(blob "$ps")")" 0
    if ret_hex_present "$ps"; then qs_fail "pseudonym $ps is still in $RET_FOUND_IN"; fi
done
if ret_bytes_present KB-UNI-OLD1 || ret_bytes_present KB-UNI-NEW; then
    qs_fail "MÜNCHEN-PC's topic ids are still in: $(ret_files_with KB-UNI-)"
fi
ret_lookup "ascii-pc" ascii2.json
ret_expect_ids ascii2.json KB-UNI-ASCII

printf '%s: PASS\n' "$QS_LIB_NAME"
