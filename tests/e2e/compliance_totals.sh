#!/usr/bin/env bash
# compliance_totals.sh - e2e: compliance answers carry each update's scope,
# no-report cell and percent, exact against the simulator, the same from
# every door, kept by the store and repaired by qsctl verify.
#
# A fresh site (k=1) with real qs-broker, qs-store and qs-web; `qs-producer
# simulate` spreads M messages over N clients, so each client reports only
# some of the 20 updates of topic type 500 and the no-report cells are
# large. The expectation is computed here, independently of store/, from
# the simulator's expected_latest: scope = the clients that sent anything
# (min(N, M): each of them has a row of type 500), no report = scope minus
# the update's machines, percent = 100 count / scope rounded half up to two
# decimals. One more client reports only topic type 301: a type's scope
# counts its own machines. Then:
#   - qsctl compliance --format json rows (state and no-report) equal it;
#     CSV appends percent,scope,no_report; the table has a PERCENT column;
#   - GET /api/v1/compliance and `qsctl --url` print the same bytes;
#   - "what percentage of the fleet has update X installed" answered;
#   - a wrong scope_counts row: qsctl compliance shows it (the count is
#     kept, not recomputed), qsctl verify reports it, --repair-counts fixes;
#   - under k=5 no suppressed count follows from scope minus the shown
#     cells (differencing), and every shown cell still equals the
#     expectation;
#   - a store of schema version 1 (scope_counts and its triggers gone, and
#     installed_hours) is upgraded by the next program that opens it, with
#     the same answers and installed_hours filled from latest; on
#     PostgreSQL also a store of version 2 (installed_hours gone).
# Usage: tests/e2e/compliance_totals.sh [BUILD_DIR]   (QS_TEST_ENGINE=pg: on PostgreSQL)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

CLIENTS=${QS_TOTALS_CLIENTS:-40}
MESSAGES=${QS_TOTALS_MESSAGES:-300}

qs_need_cmd jq curl
qs_find_bins "${1:-}"
if [[ -z ${QS_WEB:-} ]]; then
    QS_WEB=$(find "${1:-${QS_BUILD_DIR:-build}}" -maxdepth 3 -type f -name qs-web -perm -u+x | head -n 1)
fi
[[ -x ${QS_WEB:-} ]] || qs_die "cannot find the qs-web binary (set QS_WEB)"
qs_tmp_new
qs_site_init
qs_free_port WEB_PORT
BASE="http://127.0.0.1:$WEB_PORT"
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$QS_HOME/quietstate.conf"

# store_sql SQL: one statement on the store's database, either engine.
store_sql() {
    if qs_engine_pg; then
        psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
    else
        sqlite3 -batch -noheader -cmd '.timeout 10000' "$QS_HOME/store.db" "$1"
    fi
}

qs_step "an operator of qs-web; policy k=1; the site"
mkdir -m 700 "$QS_TMP/tok"
qs_expect_rc 0 "$QS_TMP/user.out" "$QSCTL" user add --home "$QS_HOME" --name op \
    --role operator --out "$QS_TMP/tok/op" --as e2e-admin
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-totals
qs_start_site
qs_start web "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"

qs_step "simulate $CLIENTS clients, $MESSAGES messages; one client of topic type 301 only"
qs_expect_rc 0 "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
    --clients "$CLIENTS" --messages "$MESSAGES" --format json
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
qs_enroll other
qs_report other --topic-type 301 --topic-id DEP-TOTALS --state 4 --machine PC-OTHER --domain CORP
qs_flush other 20
[[ $QS_RC == 0 ]] || qs_fail "flush of other exited $QS_RC: $(cat "$QS_TMP/flush-other.out.err")"

# The expectation, from the simulator's output alone.
SCOPE=$(( CLIENTS < MESSAGES ? CLIENTS : MESSAGES ))
jq --argjson scope "$SCOPE" '
    def pct(c): (((c * 20000 / $scope) | floor) + 1) / 2 | floor | . / 100;
    [.expected_latest | group_by(.topic_id)[]
     | (map(.count) | add) as $sum
     | (.[] | {topic_id: (.topic_id | tostring), state_id, count, percent: pct(.count),
               scope: $scope}),
       {topic_id: (.[0].topic_id | tostring), state_id: null, count: ($scope - $sum),
        percent: pct($scope - $sum), scope: $scope}]
    | sort_by(.topic_id, (.state_id // 1e9))' "$QS_TMP/sim.json" >"$QS_TMP/want.json"
nr_max=$(jq '[.[] | select(.state_id == null) | .count] | max' "$QS_TMP/want.json")
(( nr_max > 0 )) || qs_fail "the simulation left no update unreported: no no-report cell to test"
qs_info "scope $SCOPE machines; $(jq length "$QS_TMP/want.json") expected rows, largest no-report $nr_max"

qs_step "qsctl compliance --format json: scope, percent and no-report rows exact"
qs_expect_rc 0 "$QS_TMP/c500.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
jq '[.rows[] | {topic_id, state_id, count, percent, scope}] | sort_by(.topic_id, (.state_id // 1e9))' \
    "$QS_TMP/c500.json" >"$QS_TMP/got.json"
cmp -s <(jq -S . "$QS_TMP/got.json") <(jq -S . "$QS_TMP/want.json") ||
    qs_fail "compliance totals differ from the expectation:"$'\n'"$(diff <(jq -c '.[]' "$QS_TMP/want.json") <(jq -c '.[]' "$QS_TMP/got.json") | head -n 30)"
jq -e 'all(.rows[]; (.state_id == null) == (.state == "no report"))' "$QS_TMP/c500.json" >/dev/null ||
    qs_fail "a no-report row is not named 'no report' (or a state row is)"
qs_expect_rc 0 "$QS_TMP/c301.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 301 --format json
qs_expect_eq "type 301: its own scope" \
    "$(jq -c '[.rows[] | [.topic_id, .state_id, .count, .percent, .scope]]' "$QS_TMP/c301.json")" \
    '[["DEP-TOTALS",4,1,100,1],["DEP-TOTALS",null,0,0,1]]'

qs_step "the operator's question: what share of the fleet has this update installed?"
KB=$(jq -r '[.expected_latest[] | select(.state_id == 3)] | max_by(.count) | .topic_id' "$QS_TMP/sim.json")
qs_expect_rc 0 "$QS_TMP/kb.json" "$QSCTL" compliance --home "$QS_HOME" --topic-id "$KB" --format json
got=$(jq '.rows[] | select(.state_id == 3) | .percent' "$QS_TMP/kb.json")
want=$(jq --arg kb "$KB" '.[] | select(.topic_id == $kb and .state_id == 3) | .percent' "$QS_TMP/want.json")
qs_expect_eq "$KB installed, percent of the fleet" "$got" "$want"
qs_info "$KB is installed on $got% of the $SCOPE machines that report updates"

qs_step "CSV: percent,scope,no_report appended; table: a PERCENT column"
qs_expect_rc 0 "$QS_TMP/c500.csv" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format csv
qs_expect_eq "CSV header" "$(head -n 1 "$QS_TMP/c500.csv")" \
    "topic_type,topic_id,state_id,state,count,suppressed,percent,scope,no_report"
tail -n +2 "$QS_TMP/c500.csv" | while IFS=, read -r tt id sid state count sup pct scope nr; do
    w=$(jq -c --arg id "$id" --argjson s "$sid" '[.[] | select(.topic_id == $id and .state_id == $s)][0]' "$QS_TMP/want.json")
    wnr=$(jq --arg id "$id" '.[] | select(.topic_id == $id and .state_id == null) | .count' "$QS_TMP/want.json")
    [[ $count == "$(jq .count <<<"$w")" && $scope == "$SCOPE" && $nr == "$wnr" ]] ||
        qs_fail "CSV line '$tt,$id,$sid,$state,$count,$sup,$pct,$scope,$nr': want count $(jq .count <<<"$w"), scope $SCOPE, no_report $wnr"
    awk -v a="$pct" -v b="$(jq .percent <<<"$w")" 'BEGIN { exit !(a + 0 == b + 0) }' ||
        qs_fail "CSV percent of $id/$sid is '$pct', want $(jq .percent <<<"$w")"
done
qs_expect_eq "CSV lines (state rows only)" "$(tail -n +2 "$QS_TMP/c500.csv" | wc -l)" \
    "$(jq '[.[] | select(.state_id != null)] | length' "$QS_TMP/want.json")"
qs_expect_rc 0 "$QS_TMP/c500.txt" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500
head -n 1 "$QS_TMP/c500.txt" | grep -q 'PERCENT$' || qs_fail "no PERCENT column: $(head -n 1 "$QS_TMP/c500.txt")"
grep -Eq "^ *500 +$KB +- +no report +[0-9]+ +[0-9]+\.[0-9]{2}%$" "$QS_TMP/c500.txt" ||
    qs_fail "no no-report line for $KB in the table:"$'\n'"$(grep "$KB" "$QS_TMP/c500.txt")"

qs_step "qs-web and qsctl --url: the same bytes"
TOKEN=$(cat "$QS_TMP/tok/op")
curl -s -o "$QS_TMP/api.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "$BASE/api/v1/compliance?topic_type=500" >"$QS_TMP/api.code" || qs_fail "GET /api/v1/compliance failed"
qs_expect_eq "GET /api/v1/compliance" "$(cat "$QS_TMP/api.code")" 200
qs_expect_eq "API document = qsctl's" "$(jq -cS . "$QS_TMP/api.json")" "$(jq -cS . "$QS_TMP/c500.json")"
for f in json csv table; do
    qs_expect_rc 0 "$QS_TMP/local.$f" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format "$f"
    qs_expect_rc 0 "$QS_TMP/remote.$f" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" \
        compliance --topic-type 500 --format "$f"
    cmp -s "$QS_TMP/local.$f" "$QS_TMP/remote.$f" ||
        qs_fail "qsctl --url compliance --format $f differs:"$'\n'"$(diff "$QS_TMP/local.$f" "$QS_TMP/remote.$f" | head)"
done

qs_step "a wrong scope count: shown as kept, found by verify, repaired"
qs_expect_rc 0 "$QS_TMP/verify0.out" "$QSCTL" verify --home "$QS_HOME"
if qs_engine_pg; then
    store_sql "UPDATE scope_counts SET machines = machines + 3 WHERE topic_type = 500 AND shard =
               (SELECT min(shard) FROM scope_counts WHERE topic_type = 500)" >/dev/null
else
    store_sql "UPDATE scope_counts SET machines = machines + 3 WHERE topic_type = 500"
fi
qs_expect_rc 0 "$QS_TMP/bad.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
qs_expect_eq "scope read from the kept count" "$(jq '.rows[0].scope' "$QS_TMP/bad.json")" $((SCOPE + 3))
qs_expect_rc 1 "$QS_TMP/verify1.out" "$QSCTL" verify --home "$QS_HOME"
grep -q "scope_counts disagrees with latest (1 topic types wrong)" "$QS_TMP/verify1.out" ||
    qs_fail "verify did not report the wrong scope:"$'\n'"$(cat "$QS_TMP/verify1.out")"
qs_expect_rc 0 "$QS_TMP/repair.out" "$QSCTL" verify --home "$QS_HOME" --repair-counts
qs_expect_rc 0 "$QS_TMP/fixed.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
cmp -s "$QS_TMP/fixed.json" "$QS_TMP/c500.json" || qs_fail "compliance after the repair differs from before"

qs_step "k=5: no suppressed count follows from scope minus the shown cells"
qs_expect_rc 0 "$QS_TMP/policy5.out" "$QSCTL" policy set --home "$QS_HOME" --k 5 --as e2e-totals
qs_expect_rc 0 "$QS_TMP/k5.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
hidden=$(jq '[.rows[] | select(.suppressed == true)] | length' "$QS_TMP/k5.json")
(( hidden > 0 )) || qs_fail "nothing suppressed under k=5: the test proves nothing"
jq -e '.rows | group_by(.topic_id)
       | map(([.[] | select(.suppressed == true)] | length) as $m
             | (.[0].scope - ([.[] | select(.suppressed != true) | .count] | add // 0)) as $h
             | if $m == 0 then $h == 0 else ($m >= 2 and $h >= 5 and $h != $m and $h != $m * 4) end)
       | all' "$QS_TMP/k5.json" >/dev/null ||
    qs_fail "a topic's hidden cells follow from its scope:"$'\n'"$(jq -c '.rows[]' "$QS_TMP/k5.json" | head -n 40)"
jq -e 'all(.rows[]; (.suppressed == true and .count == null and .percent == null)
                    or (.suppressed != true and (.count >= 5 or (.state_id == null and .count == 0))))' \
    "$QS_TMP/k5.json" >/dev/null || qs_fail "a shown cell is below k, or a hidden one has a percent"
jq -e --slurpfile want "$QS_TMP/want.json" '
    all(.rows[] | select(.suppressed != true); . as $r
        | any($want[0][]; .topic_id == $r.topic_id and .state_id == $r.state_id
                          and .count == $r.count and .percent == $r.percent))' "$QS_TMP/k5.json" >/dev/null ||
    qs_fail "a shown cell under k=5 differs from the expectation"
qs_info "$hidden cells hidden over $(jq '[.rows[].topic_id] | unique | length' "$QS_TMP/k5.json") updates shown"

qs_step "daemons up; stop cleanly"
qs_running store || qs_fail "qs-store died during the run"
qs_stop web 10 || qs_fail "qs-web exited $QS_STOP_RC on SIGTERM"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
for ((i = 2; i <= $(qs_store_workers); i++)); do
    qs_stop "store$i" 10 || qs_fail "store$i exited $QS_STOP_RC on SIGTERM"
done

# installed_hours_filled: the kept hours exist and sum to latest's installed rows (> 0).
installed_hours_filled() {
    local kept want
    kept=$(store_sql "SELECT coalesce(sum(count), 0) FROM installed_hours")
    want=$(store_sql "SELECT count(*) FROM latest WHERE state_id IN (3, 4, 10)")
    (( want > 0 )) || qs_fail "the run left no installed row to count"
    qs_expect_eq "installed_hours after the upgrade" "$kept" "$want"
}

qs_step "a store of schema version 3 (an index on report_ms) is upgraded to 4 when opened"
if qs_engine_pg; then
    store_sql "CREATE INDEX latest_by_report ON latest(report_ms); ALTER TABLE latest RESET (fillfactor);
               UPDATE meta SET value = 3 WHERE key = 'schema_version'" >/dev/null
else
    store_sql "CREATE INDEX latest_by_report ON latest(report_ms); PRAGMA user_version = 3"
fi
qs_expect_rc 0 "$QS_TMP/upgraded3.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
cmp -s "$QS_TMP/upgraded3.json" "$QS_TMP/k5.json" || qs_fail "compliance after the upgrade from 3 differs"
if qs_engine_pg; then
    qs_expect_eq "schema version" "$(store_sql "SELECT value FROM meta WHERE key = 'schema_version'")" 4
    qs_expect_eq "index on report_ms" "$(store_sql "SELECT count(*) FROM pg_indexes WHERE indexname = 'latest_by_report'")" 0
    qs_expect_eq "latest's fillfactor" "$(store_sql "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'latest'")" "fillfactor=90"
else
    qs_expect_eq "schema version" "$(store_sql 'PRAGMA user_version')" 4
    qs_expect_eq "index on report_ms" "$(store_sql "SELECT count(*) FROM sqlite_master WHERE name = 'latest_by_report'")" 0
fi

qs_step "a store of schema version 1 (no scope_counts, no installed_hours) is upgraded when opened"
if qs_engine_pg; then
    store_sql "DROP TRIGGER latest_scope_insert ON latest; DROP TRIGGER latest_scope_delete ON latest;
               DROP TRIGGER latest_scope_move ON latest; DROP FUNCTION qs_scope_in();
               DROP FUNCTION qs_scope_out(); DROP FUNCTION qs_scope_move();
               DROP TABLE scope_counts; DROP TABLE client_types; DROP TABLE installed_hours;
               UPDATE meta SET value = 1 WHERE key = 'schema_version'" >/dev/null
else
    store_sql "DROP TRIGGER latest_scope_insert; DROP TRIGGER latest_scope_delete;
               DROP TRIGGER latest_scope_move_out; DROP TRIGGER latest_scope_move_in;
               DROP TABLE scope_counts; DROP TRIGGER latest_installed_insert;
               DROP TRIGGER latest_installed_delete; DROP TABLE installed_hours;
               PRAGMA user_version = 1"
fi
qs_expect_rc 0 "$QS_TMP/upgraded.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
cmp -s "$QS_TMP/upgraded.json" "$QS_TMP/k5.json" ||
    qs_fail "compliance after the upgrade differs:"$'\n'"$(diff <(jq -c '.rows[]' "$QS_TMP/k5.json") <(jq -c '.rows[]' "$QS_TMP/upgraded.json") | head)"
if qs_engine_pg; then
    qs_expect_eq "schema version" "$(store_sql "SELECT value FROM meta WHERE key = 'schema_version'")" 4
else
    qs_expect_eq "schema version" "$(store_sql 'PRAGMA user_version')" 4
fi
installed_hours_filled
qs_expect_rc 0 "$QS_TMP/verify2.out" "$QSCTL" verify --home "$QS_HOME"

if qs_engine_pg; then
    qs_step "a PostgreSQL store of schema version 2 (no installed_hours) is upgraded to 4"
    store_sql "DROP TABLE installed_hours; UPDATE meta SET value = 2 WHERE key = 'schema_version'" >/dev/null
    qs_expect_rc 0 "$QS_TMP/upgraded2.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
    cmp -s "$QS_TMP/upgraded2.json" "$QS_TMP/k5.json" || qs_fail "compliance after the upgrade from 2 differs"
    qs_expect_eq "schema version" "$(store_sql "SELECT value FROM meta WHERE key = 'schema_version'")" 4
    installed_hours_filled
    qs_expect_rc 0 "$QS_TMP/verify3.out" "$QSCTL" verify --home "$QS_HOME"
fi
qs_step "compliance_totals: ok"
