#!/usr/bin/env bash
# trend.sh - e2e: compliance per UTC day (docs/trends.md), through real processes.
#
# Six machines report update KB-TREND-1 through qs-broker and qs-store; the
# days are made by running `qs-retention --once` with its clock moved
# (QS_CLOCK_OFFSET_S), the machines' states changing between the passes:
#   day 0: all 6 required, snapshot; then 3 install and a second pass the
#          same day replaces the day (the last pass of a day wins): 3 / 3
#   day 1: a fourth installs: 2 required / 4 installed
#   day 2: no pass: missing (null, "missing": true), never 0
#   day 3: a fifth installs: 1 / 5; with k = 2 the 1 is suppressed and,
#          complementary, the 5 as well
# `qsctl compliance --trend --days 5 --format json` on day 3 (so day -1 is
# missing too) must equal that, row for row; CSV and the table say the
# same; the current compliance keeps counting machines (a trend is kept,
# not recomputed); bad --days are refused (--group and --deployment:
# trend_group.sh).
# qs-web's GET /api/v1/compliance/trend answers the same document, and
# `qsctl --url … compliance --trend` prints the same bytes in every format.
# QS_TEST_ENGINE=pg runs it on PostgreSQL with two workers (tests/pg).
# Usage: tests/e2e/trend.sh [BUILD_DIR]   (or QSCTL=... QS_RETENTION=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq curl
qs_find_bins "${1:-}"
if [[ -z ${QS_RETENTION:-} && -n ${1:-${QS_BUILD_DIR:-}} ]]; then
    QS_RETENTION=$(find "${1:-$QS_BUILD_DIR}" -maxdepth 4 -type f -name qs-retention -perm -u+x | head -n 1)
fi
[[ -n ${QS_RETENTION:-} && -x $QS_RETENTION ]] || qs_fail "QS_RETENTION (qs-retention) is not set or not executable"
qs_tmp_new
qs_site_init
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 2 --as e2e-trend

NOW=$(date -u +%s)
DAY_S=86400
day() { date -u -d "@$(( NOW + $1 * DAY_S ))" +%F; }      # day N after today, YYYY-MM-DD
iso() { date -u -d "@$(( NOW - $1 ))" +%Y-%m-%dT%H:%M:%SZ; }   # SECONDS ago

# state MACHINE STATE AGO_S: machine reports KB-TREND-1 in STATE, AGO_S ago.
state() {
    qs_report "$1" --topic-type 500 --topic-id KB-TREND-1 --state "$2" --machine "$1" --time "$(iso "$3")"
    qs_flush "$1" 30
    qs_expect_eq "flush $1" "$QS_RC" 0
}
# pass DAYS: one qs-retention pass with the clock DAYS ahead.
pass() {
    qs_expect_rc 0 "$QS_TMP/retention-$1.out" env QS_CLOCK_OFFSET_S=$(( $1 * DAY_S )) \
        "$QS_RETENTION" --home "$QS_HOME" --once
    grep -q 'retention pass done' "$QS_TMP/retention-$1.out.err" ||
        qs_fail "qs-retention pass on day $1 failed:"$'\n'"$(cat "$QS_TMP/retention-$1.out.err")"
}
# trend DAYS_AHEAD OUT ARGS...: qsctl compliance --trend on that day.
trend() {
    local ahead=$1 out=$2
    shift 2
    qs_expect_rc 0 "$QS_TMP/$out" env QS_CLOCK_OFFSET_S=$(( ahead * DAY_S )) \
        "$QSCTL" compliance --home "$QS_HOME" --trend "$@"
}

qs_step "day 0: six machines required; a pass; three install; a second pass replaces the day"
for m in m1 m2 m3 m4 m5 m6; do qs_enroll "$m"; done
for m in m1 m2 m3 m4 m5 m6; do state "$m" 2 3600; done
pass 0
trend 0 day0-first.json --days 1 --format json
qs_expect_eq "day 0, first pass, required" \
    "$(jq -c '[.rows[] | [.state_id, .count]]' "$QS_TMP/day0-first.json")" '[[2,6]]'
for m in m1 m2 m3; do state "$m" 3 1800; done
pass 0

qs_step "day 1: a fourth machine installs; day 2: no pass; day 3: a fifth installs"
state m4 3 1200
pass 1
state m5 3 600
pass 3

qs_step "qsctl compliance --trend --days 5 --format json on day 3 equals the days"
trend 3 trend.json --days 5 --format json
jq -e . "$QS_TMP/trend.json" >/dev/null || qs_fail "not one JSON document: $(cat "$QS_TMP/trend.json")"
missing() { printf '{"day":"%s","topic_type":500,"topic_id":"KB-TREND-1","state_id":%s,"state":"%s","count":null,"missing":true}' "$1" "$2" "$3"; }
counted() { printf '{"day":"%s","topic_type":500,"topic_id":"KB-TREND-1","state_id":%s,"state":"%s","count":%s}' "$1" "$2" "$3" "$4"; }
suppressed() { printf '{"day":"%s","topic_type":500,"topic_id":"KB-TREND-1","state_id":%s,"state":"%s","count":null,"suppressed":true}' "$1" "$2" "$3"; }
want=$(jq -c . <<EOF
{"k": 2, "group": null, "deployment": null, "days": 5, "first_day": "$(day -1)", "last_day": "$(day 3)",
 "missing_days": ["$(day -1)", "$(day 2)"],
 "rows": [$(missing "$(day -1)" 2 required), $(missing "$(day -1)" 3 installed),
          $(counted "$(day 0)" 2 required 3), $(counted "$(day 0)" 3 installed 3),
          $(counted "$(day 1)" 2 required 2), $(counted "$(day 1)" 3 installed 4),
          $(missing "$(day 2)" 2 required), $(missing "$(day 2)" 3 installed),
          $(suppressed "$(day 3)" 2 required), $(suppressed "$(day 3)" 3 installed)]}
EOF
)
got=$(jq -c . "$QS_TMP/trend.json")
[[ $got == "$want" ]] || qs_fail "trend differs:"$'\n'"want $want"$'\n'"got  $got"
qs_info "5 days, 2 missing, day 3 suppressed (k 2)"

qs_step "filters, CSV and the table say the same"
trend 3 trend-id.json --days 5 --topic-id KB-TREND-1 --topic-type 500 --format json
qs_expect_eq "filtered by topic id and type" "$(jq -c . "$QS_TMP/trend-id.json")" "$want"
trend 3 trend-other.json --days 5 --topic-id KB-OTHER --format json
qs_expect_eq "another update: no rows" "$(jq -c '.rows' "$QS_TMP/trend-other.json")" '[]'
trend 3 trend.csv --days 5 --format csv
qs_expect_eq "CSV header" "$(head -n1 "$QS_TMP/trend.csv")" \
    'day,topic_type,topic_id,state_id,state,count,suppressed,missing'
qs_expect_eq "CSV day 1 installed" "$(grep -c "^$(day 1),500,KB-TREND-1,3,installed,4,false,false$" "$QS_TMP/trend.csv")" 1
qs_expect_eq "CSV day 2 missing" "$(grep -c "^$(day 2),500,KB-TREND-1,2,required,,false,true$" "$QS_TMP/trend.csv")" 1
qs_expect_eq "CSV day 3 suppressed" "$(grep -c "^$(day 3),500,KB-TREND-1,3,installed,,true,false$" "$QS_TMP/trend.csv")" 1
qs_expect_eq "CSV rows" "$(wc -l <"$QS_TMP/trend.csv")" 11
trend 3 trend.txt --days 5
grep -Eq "^$(day 1) +500 +KB-TREND-1 +3 +installed +4$" "$QS_TMP/trend.txt" ||
    qs_fail "table lacks day 1:"$'\n'"$(cat "$QS_TMP/trend.txt")"
grep -q '2 days without a snapshot' "$QS_TMP/trend.txt" ||
    qs_fail "table does not name the missing days:"$'\n'"$(cat "$QS_TMP/trend.txt")"

qs_step "qs-web: GET /api/v1/compliance/trend and qsctl --url compliance --trend say the same"
if [[ -z ${QS_WEB:-} ]]; then
    QS_WEB=$(find "$(dirname "$(dirname "$QSCTL")")" -maxdepth 3 -type f -name qs-web -perm -u+x | head -n 1)
fi
[[ -x ${QS_WEB:-} ]] || qs_fail "cannot find the qs-web binary (set QS_WEB)"
qs_free_port WEB_PORT
BASE="http://127.0.0.1:$WEB_PORT"
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$QS_HOME/quietstate.conf"
mkdir -m 700 "$QS_TMP/tok"
qs_expect_rc 0 "$QS_TMP/user.out" "$QSCTL" user add --home "$QS_HOME" --name op --role operator \
    --out "$QS_TMP/tok/op" --as e2e-trend
qs_start web env QS_CLOCK_OFFSET_S=$(( 3 * DAY_S )) "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"
TOKEN=$(cat "$QS_TMP/tok/op")
code=$(curl -s -o "$QS_TMP/api.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "$BASE/api/v1/compliance/trend?days=5&topic_type=500")
qs_expect_eq "HTTP status" "$code" 200
qs_expect_eq "the API's document" "$(jq -c . "$QS_TMP/api.json")" "$want"
for f in json csv table; do
    qs_expect_rc 0 "$QS_TMP/remote.$f" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" \
        compliance --trend --days 5 --format "$f"
    trend 3 "local.$f" --days 5 --format "$f"
    cmp -s "$QS_TMP/local.$f" "$QS_TMP/remote.$f" ||
        qs_fail "qsctl --url ... --format $f differs:"$'\n'"$(diff "$QS_TMP/local.$f" "$QS_TMP/remote.$f")"
done
for q in "topic_id=KB1:'days' is required" "days=0:'days' is required" "days=5&zone=x:unknown query parameter"; do
    code=$(curl -s -o "$QS_TMP/bad.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "$BASE/api/v1/compliance/trend?${q%%:*}")
    qs_expect_eq "HTTP status of ?${q%%:*}" "$code" 400
    grep -q "${q#*:}" "$QS_TMP/bad.json" || qs_fail "?${q%%:*}: $(cat "$QS_TMP/bad.json")"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/compliance/trend?days=5")
qs_expect_eq "HTTP status without a token" "$code" 401
qs_stop web 10 || qs_fail "qs-web did not stop cleanly"

qs_step "the current compliance is unchanged by the snapshots"
qs_expect_rc 0 "$QS_TMP/now.json" "$QSCTL" compliance --home "$QS_HOME" --format json
# The current answer has each update's no-report row (state_id null): the
# scope, 6 machines, minus the 6 with a state: 0, shown (it is nobody).
qs_expect_eq "current counts" "$(jq -c '[.rows[] | [.state_id, .count, .scope]]' "$QS_TMP/now.json")" \
    '[[2,null,6],[3,null,6],[null,0,6]]'
qs_expect_rc 0 "$QS_TMP/now-k1.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-trend
qs_expect_rc 0 "$QS_TMP/now-k1.json" "$QSCTL" compliance --home "$QS_HOME" --format json
qs_expect_eq "current counts with k 1" "$(jq -c '[.rows[] | [.state_id, .count]]' "$QS_TMP/now-k1.json")" \
    '[[2,1],[3,5],[null,0]]'
# A day has no scope: its rows are the state rows only, no no-report row.
trend 3 trend-k1.json --days 1 --format json
qs_expect_eq "day 3 with k 1" "$(jq -c '[.rows[] | [.state_id, .count]]' "$QS_TMP/trend-k1.json")" '[[2,1],[3,5]]'

qs_step "qsctl verify accepts the snapshot tables (topic ids are their only text)"
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME"

qs_step "refused: --days out of range, --days missing"
qs_expect_rc 2 "$QS_TMP/days.out" "$QSCTL" compliance --home "$QS_HOME" --trend --days 401
grep -q -- "--days '401' must be a whole number from 1 to 400" "$QS_TMP/days.out.err" || qs_fail "no clear --days refusal"
qs_expect_rc 2 "$QS_TMP/nodays.out" "$QSCTL" compliance --home "$QS_HOME" --trend
grep -q -- '--days N is required' "$QS_TMP/nodays.out.err" || qs_fail "no clear refusal without --days"
qs_info "ok"
