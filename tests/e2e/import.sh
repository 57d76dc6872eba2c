#!/usr/bin/env bash
# import.sh - e2e: qsctl import of a model-system export through the real store (docs/import.md).
#
# A generated export of 100,000 rows (5,000 machines x 20 updates, plus
# repeated updates and bad lines; import_gen.awk) with a BOM, CRLF, quoted
# fields and columns in an odd order with extra ones:
#  - is refused before a policy is set, and nothing is stored;
#  - is imported: `qsctl compliance --format json` equals the counts computed
#    by awk from the generator's own list of rows (newest state per machine
#    and update, machine names in any case being one machine); every row is
#    a history event; `qsctl lookup` finds a machine by its name in another
#    case (the live path's pseudonym), and by a domain with a comma;
#  - every bad line is skipped and listed with its line number and reason;
#  - imported again, changes nothing (0 imported, every row unchanged, the
#    same compliance);
#  - an "import" audit entry records the actor given with --as;
#  - a row older than the policy's maximum age updates latest, not history;
#  - a file that is not CSV, has no header or lacks a column is refused,
#    naming what is missing, and nothing changes;
#  - continuation: a machine imported this way, once enrolled (bound with
#    --machine), reports a newer state and is counted once (the store takes
#    over imported rows); imported again, that machine's
#    rows are left to its live reports ("live").
# QS_TEST_ENGINE=pg runs it on PostgreSQL (tests/pg/CMakeLists.txt).
# Usage: tests/e2e/import.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

qs_need_cmd jq
qs_need_cmd awk
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
qs_start_site
MACHINES=5000
CSV="$QS_TMP/export.csv"

qs_step "generate an export of $MACHINES machines x 20 updates"
# The last four weeks (well inside the default 90-day maximum age: every row
# is a history event too); repeated rows yesterday.
DAYS=$(for i in $(seq 2 29); do date -u -d "-$i days" +%Y-%m-%d; done | tr '\n' ' ')
awk -v machines=$MACHINES -v seed=15 -v days="$DAYS" -v newest="$(date -u -d '-1 day' +%Y-%m-%d)" \
    -v out="$CSV" -v truth="$QS_TMP/truth.txt" -v bad="$QS_TMP/bad.txt" -f "$HERE/import_gen.awk"
ROWS=$(( $(wc -l <"$CSV") - 1 ))
GOOD=$(wc -l <"$QS_TMP/truth.txt")
BAD=$(wc -l <"$QS_TMP/bad.txt")
qs_expect_eq "rows generated" "$ROWS" $((GOOD + BAD))
(( GOOD >= 100000 )) || qs_fail "the generator made only $GOOD good rows"
qs_info "$ROWS rows: $GOOD to import, $BAD bad"

# The expected compliance, from the generator's list alone: per machine and
# update the newest row (equal times: the later line), counted per state.
sort -k1,1 -k2,2n -k3,3 -k5,6 -k7,7n "$QS_TMP/truth.txt" |
    awk '{ key = $1 " " $2 " " $3; last[key] = $2 " " $3 " " $4 }
         END { for (k in last) n[last[k]]++; for (g in n) print g, n[g] }' |
    sort >"$QS_TMP/want.txt"

# compliance_rows OUT: every (type, id, state, count) of qsctl compliance, sorted.
compliance_rows() {
    local tt
    : >"$1"
    for tt in 500 402; do
        qs_expect_rc 0 "$QS_TMP/compliance-$tt.json" "$QSCTL" compliance --home "$QS_HOME" \
            --topic-type "$tt" --format json
        jq -r '.rows[] | select(.state_id != null)
               | "\(.topic_type) \(.topic_id) \(.state_id) \(.count)"' \
            "$QS_TMP/compliance-$tt.json" >>"$1"
    done
    sort -o "$1" "$1"
}

qs_step "before a policy: refused, nothing stored"
qs_expect_rc 1 "$QS_TMP/nopolicy.out" "$QSCTL" import --home "$QS_HOME" --format sccm-csv \
    "$CSV" --as e2e-import
grep -q "no privacy policy is set" "$QS_TMP/nopolicy.out.err" ||
    qs_fail "no 'no privacy policy is set' in: $(cat "$QS_TMP/nopolicy.out.err")"
qs_stats
qs_expect_eq "latest rows before a policy" "$(qs_stat .latest_rows)" 0
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-import

qs_step "import"
t0=$(date +%s.%N)
qs_expect_rc 0 "$QS_TMP/import1.json" "$QSCTL" import --home "$QS_HOME" --format sccm-csv \
    "$CSV" --as e2e-import --format json
t1=$(date +%s.%N)
qs_info "imported in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
qs_expect_eq "rows" "$(qs_json_get "$QS_TMP/import1.json" .rows)" "$ROWS"
qs_expect_eq "imported" "$(qs_json_get "$QS_TMP/import1.json" .imported)" "$GOOD"
qs_expect_eq "skipped" "$(qs_json_get "$QS_TMP/import1.json" .skipped)" "$BAD"
qs_expect_eq "machines" "$(qs_json_get "$QS_TMP/import1.json" .machines)" "$MACHINES"
jq -r '.skipped_lines[].line' "$QS_TMP/import1.json" >"$QS_TMP/bad-got.txt"
cmp -s "$QS_TMP/bad.txt" "$QS_TMP/bad-got.txt" ||
    qs_fail "skipped line numbers differ:"$'\n'"$(diff "$QS_TMP/bad.txt" "$QS_TMP/bad-got.txt" | head)"
for why in "TopicType is not in the topic table" "StateID is out of range" \
    "MachineName is empty" "column StateTime" "text after a closing quote" \
    "MachineName is longer than 255 bytes" "the line has 3 fields"; do
    n=$(jq --arg w "$why" '[.skipped_lines[] | select(.reason | contains($w))] | length' \
        "$QS_TMP/import1.json")
    qs_expect_eq "lines skipped because '$why'" "$n" $((BAD / 7))
done

qs_step "compliance equals the counts computed from the export"
compliance_rows "$QS_TMP/got1.txt"
cmp -s "$QS_TMP/want.txt" "$QS_TMP/got1.txt" ||
    qs_fail "compliance differs from the export ($(wc -l <"$QS_TMP/want.txt") groups wanted):"$'\n'"$(diff "$QS_TMP/want.txt" "$QS_TMP/got1.txt" | head -n 20)"
qs_info "$(wc -l <"$QS_TMP/got1.txt") groups equal"
qs_stats
qs_expect_eq "latest rows" "$(qs_stat .latest_rows)" $((MACHINES * 20))
qs_expect_eq "history rows (every imported row is an event)" "$(qs_stat .history_rows)" "$GOOD"

qs_step "stored under the live path's pseudonym: lookup by name, in another case"
qs_expect_rc 0 "$QS_TMP/lookup.json" "$QSCTL" lookup --home "$QS_HOME" --machine ' pc-00007 ' \
    --format json
qs_expect_eq "current states of pc-00007" "$(jq '.rows | length' "$QS_TMP/lookup.json")" 20
want=$(awk '$1 == "PC-00007" && $3 == "KB5000003" { print $4 }' "$QS_TMP/truth.txt")
qs_expect_eq "pc-00007's KB5000003" \
    "$(jq '[.rows[] | select(.topic_id == "KB5000003") | .state_id] | .[0]' "$QS_TMP/lookup.json")" "$want"
qs_expect_rc 0 "$QS_TMP/lookup-d.json" "$QSCTL" lookup --home "$QS_HOME" --machine PC-00011 \
    --domain 'corp, eu' --format json
qs_expect_eq "PC-00011 in domain 'CORP, EU'" "$(jq '.rows | length' "$QS_TMP/lookup-d.json")" 20

qs_step "imported again: nothing changes"
qs_expect_rc 0 "$QS_TMP/import2.json" "$QSCTL" import --home "$QS_HOME" "$CSV" \
    --as e2e-import --format json
qs_expect_eq "imported again" "$(qs_json_get "$QS_TMP/import2.json" .imported)" 0
qs_expect_eq "unchanged" "$(qs_json_get "$QS_TMP/import2.json" .unchanged)" "$GOOD"
compliance_rows "$QS_TMP/got2.txt"
cmp -s "$QS_TMP/got1.txt" "$QS_TMP/got2.txt" || qs_fail "compliance changed on a second import"
qs_stats
qs_expect_eq "latest rows after the second import" "$(qs_stat .latest_rows)" $((MACHINES * 20))

qs_step "audited, with the actor of --as"
qs_expect_rc 0 "$QS_TMP/audit.json" "$QSCTL" audit show --home "$QS_HOME" --format json
n=$(jq '[.. | objects | select(.action? == "import")] | length' "$QS_TMP/audit.json")
qs_expect_eq "import audit entries" "$n" 2
jq -e '[.. | objects | select(.action? == "import") | .actor | test("as e2e-import$")] | all' \
    "$QS_TMP/audit.json" >/dev/null || qs_fail "the import entries lack the actor 'as e2e-import'"
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" audit verify --home "$QS_HOME"

qs_step "refused: not CSV, no header, a column missing, an empty file"
printf 'PK\003\004\000\000binary' >"$QS_TMP/zip.csv"
printf 'PC-1,CORP,500,KB1,2,2026-10-01 00:00:00\n' >"$QS_TMP/noheader.csv"
printf 'MachineName,Domain,TopicType,TopicID,StateID\nPC-1,CORP,500,KB1,2\n' >"$QS_TMP/nocol.csv"
: >"$QS_TMP/empty.csv"
for f in zip:"not a CSV export" noheader:"not a header row" nocol:"no column StateTime" \
    empty:"is empty" missing:"cannot open"; do
    qs_expect_rc 1 "$QS_TMP/refused-${f%%:*}.out" "$QSCTL" import --home "$QS_HOME" \
        "$QS_TMP/${f%%:*}.csv" --as e2e-import
    grep -q "${f#*:}" "$QS_TMP/refused-${f%%:*}.out.err" ||
        qs_fail "${f%%:*}.csv: no '${f#*:}' in: $(cat "$QS_TMP/refused-${f%%:*}.out.err")"
done
compliance_rows "$QS_TMP/got3.txt"
cmp -s "$QS_TMP/got1.txt" "$QS_TMP/got3.txt" || qs_fail "a refused file changed compliance"

qs_step "a row already past the policy's maximum age: current state only, no history event"
qs_stats
hist=$(qs_stat .history_rows)
printf 'MachineName,TopicType,TopicID,StateID,StateTime\nPC-OLD,500,KB5000001,3,%s\n' \
    "$(date -u -d '-200 days' '+%Y-%m-%d %H:%M:%S')" >"$QS_TMP/old.csv"
qs_expect_rc 0 "$QS_TMP/old.json" "$QSCTL" import --home "$QS_HOME" "$QS_TMP/old.csv" --format json
qs_expect_eq "old row imported" "$(qs_json_get "$QS_TMP/old.json" .imported)" 1
qs_stats
qs_expect_eq "latest rows with PC-OLD" "$(qs_stat .latest_rows)" $((MACHINES * 20 + 1))
qs_expect_eq "history rows with PC-OLD" "$(qs_stat .history_rows)" "$hist"

qs_step "continuation: the imported machine PC-00001 enrolls and reports a newer state"
old=$(awk '$1 == "PC-00001" && $3 == "KB5000002" { print $4 }' "$QS_TMP/truth.txt")
new=$(( (old + 1) % 4 ))
qs_enroll pc-00001 --machine PC-00001
qs_report pc-00001 --topic-type 500 --topic-id KB5000002 --state "$new" --machine pc-00001 \
    --domain CORP
qs_flush pc-00001 30
qs_expect_eq "flush pc-00001" "$QS_RC" 0
compliance_rows "$QS_TMP/got4.txt"
# A key bound to the machine takes over its imported rows when it first
# reports (docs/store.md, "One machine, one state"): counted once.
total=$(awk '$2 == "KB5000002" { s += $4 } END { print s }' "$QS_TMP/got4.txt")
qs_expect_eq "machines counted for KB5000002 (once each)" "$total" "$MACHINES"
was=$(awk -v s="$new" '$2 == "KB5000002" && $3 == s { print $4 }' "$QS_TMP/got1.txt")
now=$(awk -v s="$new" '$2 == "KB5000002" && $3 == s { print $4 }' "$QS_TMP/got4.txt")
qs_expect_eq "KB5000002 state $new after the report" "$now" $((was + 1))

qs_step "imported again after PC-00001 reports live: its rows are left to it"
qs_expect_rc 0 "$QS_TMP/import3.json" "$QSCTL" import --home "$QS_HOME" "$CSV" --format json
qs_expect_eq "imported a third time" "$(qs_json_get "$QS_TMP/import3.json" .imported)" 0
qs_expect_eq "rows of a machine that reports live" "$(qs_json_get "$QS_TMP/import3.json" .live)" 20
qs_expect_eq "unchanged" "$(qs_json_get "$QS_TMP/import3.json" .unchanged)" $((GOOD - 20))
compliance_rows "$QS_TMP/got5.txt"
cmp -s "$QS_TMP/got4.txt" "$QS_TMP/got5.txt" || qs_fail "compliance changed on the third import"
echo "PASS"
