#!/usr/bin/env bash
# deployment.sh - e2e: deployments with deadlines (docs/deployments.md), through real processes.
#
# A site with policy time precision "hour". Thirteen enrolled machines send
# update-detection states (topic type 500) with chosen message times through
# qs-producer, qs-broker and qs-store: installed well before the deadline,
# 20 minutes after it (stored at the deadline's hour: in time, the documented
# precision rule), an hour after it (late), not required, required, nothing
# for one update. Two deployments name the same updates: one whose deadline
# has passed, one whose deadline is ahead. `qsctl compliance --deployment`
# must equal an independent computation (awk over the states sent: hour
# truncation, class rules), every class with count and percent, per update and
# for the deployment as a whole, in JSON, CSV and table; then with k = 3 the
# small classes are suppressed (count and percent null) and the totals add only
# what is shown. Bad input is refused with a clear error and changes nothing:
# a local deadline, a UTC offset, no update, a duplicate id, unknown ids on
# show, remove and compliance. add and remove are in the audit log. qs-web
# answers GET /api/v1/deployments and /api/v1/compliance?deployment=ID with
# the same documents as qsctl (operator token), 404 for an unknown id.
# QS_TEST_ENGINE=pg runs it on PostgreSQL (tests/pg/CMakeLists.txt).
# Usage: tests/e2e/deployment.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq
qs_need_cmd awk
qs_find_bins "${1:-}"
QS_WEB=${QS_WEB:-$(dirname "$QSCTL")/../web/qs-web}
[[ -x $QS_WEB ]] || qs_die "cannot find the qs-web binary (set QS_WEB)"
qs_need_cmd curl
qs_tmp_new
qs_site_init
qs_free_port WEB_PORT
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$QS_HOME/quietstate.conf"
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 \
    --time-precision hour --as e2e-deployment

NOW=$(date -u +%s)
H0=$(( NOW / 3600 * 3600 - 4 * 3600 ))     # an hour boundary, four hours ago
D1=$(( H0 + 3600 ))                        # the past deadline: on a boundary
D2=$(( NOW + 86400 ))                      # the deadline ahead
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# machine update state time_s: what each machine sends (and the awk below reads).
cat >"$QS_TMP/states" <<EOF
m01 KB5040001 3 $(( H0 + 600 ))
m02 KB5040001 3 $(( H0 + 700 ))
m03 KB5040001 3 $(( H0 + 800 ))
m04 KB5040001 3 $(( H0 + 900 ))
m05 KB5040001 3 $(( D1 + 1200 ))
m06 KB5040001 3 $(( D1 + 3900 ))
m07 KB5040001 3 $(( D1 + 4000 ))
m08 KB5040001 3 $(( D1 + 4100 ))
m09 KB5040001 1 $(( H0 + 300 ))
m10 KB5040001 2 $(( H0 + 300 ))
m11 KB5040001 2 $(( H0 + 300 ))
EOF
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do
    echo "m$i KB5040002 3 $(( H0 + 300 ))" >>"$QS_TMP/states"
done
echo "m13 KB5040002 2 $(( H0 + 300 ))" >>"$QS_TMP/states"

qs_step "13 machines send their states with chosen times"
for i in $(seq -w 1 13); do
    qs_enroll "m$i"
done
while read -r m id state t; do
    qs_report "$m" --topic-type 500 --topic-id "$id" --state "$state" --machine "PC-DEP-$m" --time "$(iso "$t")"
done <"$QS_TMP/states"
for i in $(seq -w 1 13); do
    qs_flush "m$i" 30
    qs_expect_eq "flush m$i" "$QS_RC" 0
done

qs_step "deployment add, list, show (table, json, csv)"
qs_expect_rc 0 "$QS_TMP/add1.out" "$QSCTL" deployment add --home "$QS_HOME" --id patch-past \
    --topic-id kb5040001 --topic-id KB5040002 --available "$(iso "$H0")" --deadline "$(iso "$D1")" --as e2e
# The pilot group (docs/groups.md): patch-ahead counts its members only.
PILOT="m01 m02 m03 m10 m13"
qs_run "$QS_TMP/add-nogroup.out" "$QSCTL" deployment add --home "$QS_HOME" --id patch-ahead \
    --topic-id KB5040001 --deadline "$(iso "$D2")" --group pilot
qs_expect_eq "deployment add with an unknown group: exit" "$QS_RC" 1
grep -q "unknown group 'pilot'" "$QS_TMP/add-nogroup.out.err" ||
    qs_fail "add with an unknown group: $(cat "$QS_TMP/add-nogroup.out.err")"
qs_expect_rc 0 "$QS_TMP/group.out" "$QSCTL" group add --home "$QS_HOME" --name pilot --as e2e
members=()
for m in $PILOT; do members+=(--machine "PC-DEP-$m"); done
qs_expect_rc 0 "$QS_TMP/group2.out" "$QSCTL" group add --home "$QS_HOME" --name pilot "${members[@]}" --as e2e
qs_expect_rc 0 "$QS_TMP/add2.json" "$QSCTL" deployment add --home "$QS_HOME" --id patch-ahead \
    --topic-id KB5040001 --topic-id KB5040002 --deadline "$(iso "$D2")" --group pilot --format json
qs_expect_eq "add --format json .group" "$(qs_json_get "$QS_TMP/add2.json" .group)" pilot
qs_expect_rc 0 "$QS_TMP/list.json" "$QSCTL" deployment list --home "$QS_HOME" --format json
qs_expect_eq "list ids" "$(jq -c '[.deployments[].id]' "$QS_TMP/list.json")" '["patch-ahead","patch-past"]'
qs_expect_eq "topic ids normalized" "$(jq -c '.deployments[1].topic_ids' "$QS_TMP/list.json")" '["KB5040001","KB5040002"]'
qs_expect_eq "deadline kept" "$(jq -r '.deployments[1].deadline_utc' "$QS_TMP/list.json")" "$(iso "$D1")"
qs_expect_rc 0 "$QS_TMP/show.csv" "$QSCTL" deployment show --home "$QS_HOME" --id patch-past --format csv
grep -q "^patch-past,500," "$QS_TMP/show.csv" || qs_fail "show --format csv:"$'\n'"$(cat "$QS_TMP/show.csv")"
qs_expect_rc 0 "$QS_TMP/list.txt" "$QSCTL" deployment list --home "$QS_HOME"
grep -q "patch-ahead" "$QS_TMP/list.txt" || qs_fail "list table has no patch-ahead"
# The new site.db tables hold no name: qsctl verify knows their text columns.
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME"
grep -q "^site verified" "$QS_TMP/verify.out" || qs_fail "qsctl verify:"$'\n'"$(cat "$QS_TMP/verify.out")"

# expect DEADLINE_S NOW_S [STATES]: the classes computed from the states sent
# (STATES: default all of them), as "topic class count" lines (times
# truncated to the hour, as the policy says).
expect() {
    awk -v D="$1" -v N="$2" '
        { m[$1] = 1; key = $2; rows[key]++; t = $4 - $4 % 3600
          if ($3 == 3 && t <= D) c[key, "compliant"]++
          else if ($3 == 3) c[key, "compliant_late"]++
          else if ($3 == 1) c[key, "compliant"]++
          else if (N > D) c[key, "non_compliant"]++
          else c[key, "in_progress"]++ }
        END { n = 0; for (x in m) n++
              split("KB5040001 KB5040002", ids, " ")
              split("compliant compliant_late non_compliant in_progress unknown", cl, " ")
              for (i = 1; i <= 2; i++) { c[ids[i], "unknown"] = n - rows[ids[i]]
                  for (j = 1; j <= 5; j++) printf "%s %s %d %.1f\n", ids[i], cl[j], c[ids[i], cl[j]], int(c[ids[i], cl[j]] * 1000 / n + 0.5) / 10 } }' \
        "${3:-$QS_TMP/states}"
}
got() {
    jq -r '.rows[] | "\(.topic_id) \(.class) \(.count) \(.percent)"' "$1" |
        awk '{ printf "%s %s %d %.1f\n", $1, $2, $3, $4 }'
}

qs_step "compliance --deployment (deadline passed) equals the independent computation"
qs_expect_rc 0 "$QS_TMP/past.json" "$QSCTL" compliance --home "$QS_HOME" --deployment patch-past --format json
NOW_EVAL=$(date -u +%s)
expect "$D1" "$NOW_EVAL" >"$QS_TMP/past.want"
got "$QS_TMP/past.json" >"$QS_TMP/past.got"
cmp -s "$QS_TMP/past.want" "$QS_TMP/past.got" ||
    qs_fail "classes differ (want, got):"$'\n'"$(diff "$QS_TMP/past.want" "$QS_TMP/past.got")"
qs_expect_eq "machines in scope" "$(qs_json_get "$QS_TMP/past.json" .machines)" 13
qs_expect_eq "deadline passed" "$(jq -r .deadline_passed "$QS_TMP/past.json")" true
qs_expect_eq "time precision" "$(qs_json_get "$QS_TMP/past.json" .time_precision)" hour
# Spot checks of the edges the awk decides: 20 min after an on-boundary
# deadline at hour precision is in time; an hour after is late.
qs_expect_eq "KB5040001 compliant" "$(grep '^KB5040001 compliant ' "$QS_TMP/past.got")" "KB5040001 compliant 6 46.2"
qs_expect_eq "KB5040001 late" "$(grep '^KB5040001 compliant_late ' "$QS_TMP/past.got")" "KB5040001 compliant_late 3 23.1"
qs_expect_eq "KB5040001 unknown" "$(grep '^KB5040001 unknown ' "$QS_TMP/past.got")" "KB5040001 unknown 2 15.4"
total=$(jq -c '[.total.pairs, .total.suppressed, [.total.rows[] | .count]]' "$QS_TMP/past.json")
qs_expect_eq "deployment as a whole" "$total" '[26,0,[18,3,3,0,2]]'
qs_expect_eq "whole compliant percent" "$(jq '.total.rows[0].percent' "$QS_TMP/past.json")" 69.2

qs_step "compliance --deployment (deadline ahead, group pilot): not installed is in progress, members only"
qs_expect_rc 0 "$QS_TMP/ahead.json" "$QSCTL" compliance --home "$QS_HOME" --deployment patch-ahead --format json
awk -v p=" $PILOT " 'index(p, " " $1 " ")' "$QS_TMP/states" >"$QS_TMP/states-pilot"
expect "$D2" "$(date -u +%s)" "$QS_TMP/states-pilot" >"$QS_TMP/ahead.want"
got "$QS_TMP/ahead.json" >"$QS_TMP/ahead.got"
cmp -s "$QS_TMP/ahead.want" "$QS_TMP/ahead.got" ||
    qs_fail "classes differ (want, got):"$'\n'"$(diff "$QS_TMP/ahead.want" "$QS_TMP/ahead.got")"
qs_expect_eq "deadline ahead" "$(jq -r .deadline_passed "$QS_TMP/ahead.json")" false
qs_expect_eq "group applied" "$(jq -c '[.group, .group_applied, .machines]' "$QS_TMP/ahead.json")" '["pilot",true,5]'
qs_expect_eq "whole fleet without a group" "$(jq -c '[.group, .group_applied]' "$QS_TMP/past.json")" '[null,false]'

qs_step "CSV and table print the same numbers"
qs_expect_rc 0 "$QS_TMP/past.csv" "$QSCTL" compliance --home "$QS_HOME" --deployment patch-past --format csv
qs_expect_eq "csv header" "$(head -n 1 "$QS_TMP/past.csv")" "topic_id,class,count,percent,suppressed"
grep -qx 'KB5040001,compliant_late,3,23.1,' "$QS_TMP/past.csv" || qs_fail "csv:"$'\n'"$(cat "$QS_TMP/past.csv")"
grep -qx '\*,compliant,18,69.2,' "$QS_TMP/past.csv" || qs_fail "csv total:"$'\n'"$(cat "$QS_TMP/past.csv")"
qs_expect_rc 0 "$QS_TMP/past.txt" "$QSCTL" compliance --home "$QS_HOME" --deployment patch-past
grep -q '3 (23.1%)' "$QS_TMP/past.txt" || qs_fail "table:"$'\n'"$(cat "$QS_TMP/past.txt")"

qs_step "HTTP API: GET /api/v1/deployments and /api/v1/compliance?deployment= (operator)"
mkdir -m 700 "$QS_TMP/tok"
qs_expect_rc 0 "$QS_TMP/user.out" "$QSCTL" user add --home "$QS_HOME" --name op --role operator \
    --out "$QS_TMP/tok/op" --as e2e
qs_start web "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"
get() {   # get PATH OUT: the status code; the body in OUT
    curl -s -o "$2" -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $(cat "$QS_TMP/tok/op")" \
        "http://127.0.0.1:$WEB_PORT$1"
}
qs_expect_eq "GET /api/v1/deployments" "$(get /api/v1/deployments "$QS_TMP/w-list.json")" 200
qs_expect_rc 0 "$QS_TMP/list-now.json" "$QSCTL" deployment list --home "$QS_HOME" --format json
qs_expect_eq "the API's list is qsctl's" "$(jq -cS . "$QS_TMP/w-list.json")" "$(jq -cS . "$QS_TMP/list-now.json")"
qs_expect_eq "GET compliance?deployment=" "$(get '/api/v1/compliance?deployment=patch-past' "$QS_TMP/w-past.json")" 200
qs_expect_eq "the API's answer is qsctl's" "$(jq -cS 'del(.evaluated_utc)' "$QS_TMP/w-past.json")" \
    "$(jq -cS 'del(.evaluated_utc)' "$QS_TMP/past.json")"
qs_expect_eq "unknown deployment" "$(get '/api/v1/compliance?deployment=nope' "$QS_TMP/w-nope.json")" 404
jq -e '.error | test("no deployment")' "$QS_TMP/w-nope.json" >/dev/null || qs_fail "404 body: $(cat "$QS_TMP/w-nope.json")"
qs_expect_eq "deployment with topic_id" \
    "$(get '/api/v1/compliance?deployment=patch-past&topic_id=KB5040001' "$QS_TMP/w-bad.json")" 400
qs_step "qsctl --url prints what the local command prints"
remote() { "$QSCTL" --url "http://127.0.0.1:$WEB_PORT" --token-file "$QS_TMP/tok/op" "$@"; }
remote compliance --deployment patch-past --format json >"$QS_TMP/r-past.json" ||
    qs_fail "qsctl --url compliance --deployment failed"
qs_expect_eq "remote JSON" "$(jq -cS 'del(.evaluated_utc)' "$QS_TMP/r-past.json")" \
    "$(jq -cS 'del(.evaluated_utc)' "$QS_TMP/past.json")"
remote compliance --deployment patch-past --format csv >"$QS_TMP/r-past.csv" || qs_fail "remote csv"
cmp -s "$QS_TMP/r-past.csv" "$QS_TMP/past.csv" || qs_fail "remote CSV differs:"$'\n'"$(diff "$QS_TMP/past.csv" "$QS_TMP/r-past.csv")"
remote deployment list --format json >"$QS_TMP/r-list.json" || qs_fail "remote deployment list"
qs_expect_eq "remote list" "$(jq -cS . "$QS_TMP/r-list.json")" "$(jq -cS . "$QS_TMP/list-now.json")"
remote deployment show --id patch-past --format csv >"$QS_TMP/r-show.csv" || qs_fail "remote deployment show"
cmp -s "$QS_TMP/r-show.csv" "$QS_TMP/show.csv" || qs_fail "remote show CSV differs"
qs_run "$QS_TMP/r-nope.out" "$QSCTL" --url "http://127.0.0.1:$WEB_PORT" --token-file "$QS_TMP/tok/op" \
    compliance --deployment nope
qs_expect_eq "remote unknown id exit" "$QS_RC" 1
grep -q "no deployment 'nope'" "$QS_TMP/r-nope.out.err" || qs_fail "remote unknown id: $(cat "$QS_TMP/r-nope.out.err")"
qs_stop web

qs_step "k = 3: small classes suppressed, count and percent; totals add what is shown"
qs_expect_rc 0 "$QS_TMP/policy3.out" "$QSCTL" policy set --home "$QS_HOME" --k 3 --as e2e-deployment
qs_expect_rc 0 "$QS_TMP/k3.json" "$QSCTL" compliance --home "$QS_HOME" --deployment patch-past --format json
# KB5040001: non_compliant 2 and unknown 2 are below 3 (two hidden cells);
# KB5040002: only non_compliant 1 (m13) is small: it hides with the
# smallest visible non-zero class, compliant (12), and compliant_late with it.
row1=$(jq -c '[.rows[] | select(.topic_id == "KB5040001") | .count]' "$QS_TMP/k3.json")
qs_expect_eq "KB5040001 counts" "$row1" '[6,3,null,0,null]'
row2=$(jq -c '[.rows[] | select(.topic_id == "KB5040002") | .count]' "$QS_TMP/k3.json")
qs_expect_eq "KB5040002 counts" "$row2" '[null,null,null,0,0]'
nulls=$(jq '[.rows[] | select(.count == null) | select(.percent != null or .suppressed != true)] | length' "$QS_TMP/k3.json")
qs_expect_eq "suppressed cells have no percent" "$nulls" 0
total=$(jq -c '[.total.pairs, .total.suppressed, [.total.rows[] | .count]]' "$QS_TMP/k3.json")
qs_expect_eq "totals of what is shown" "$total" '[26,17,[6,3,0,0,0]]'
qs_expect_rc 0 "$QS_TMP/policy1.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-deployment

qs_step "bad input is refused and changes nothing"
qs_expect_rc 0 "$QS_TMP/audit-before.json" "$QSCTL" audit show --home "$QS_HOME" --format json
refused() {   # refused RC PATTERN ARGS...: qsctl ARGS exits RC with PATTERN on stderr
    local rc=$1 pattern=$2
    shift 2
    qs_run "$QS_TMP/bad.out" "$QSCTL" "$@"
    qs_expect_eq "qsctl $* exit" "$QS_RC" "$rc"
    grep -q -- "$pattern" "$QS_TMP/bad.out.err" ||
        qs_fail "qsctl $*: no '$pattern' in:"$'\n'"$(cat "$QS_TMP/bad.out.err")"
}
refused 2 "is a local time (no trailing Z)" deployment add --home "$QS_HOME" --id x1 --topic-id KB1 --deadline 2026-12-31T18:00:00
refused 2 "has a UTC offset" deployment add --home "$QS_HOME" --id x1 --topic-id KB1 --deadline 2026-12-31T18:00:00+02:00
refused 2 "at least one update" deployment add --home "$QS_HOME" --id x1 --deadline 2026-12-31T18:00:00Z
refused 2 "is given twice" deployment add --home "$QS_HOME" --id x1 --topic-id KB1 --topic-id kb1 --deadline 2026-12-31T18:00:00Z
refused 2 "after --deadline" deployment add --home "$QS_HOME" --id x1 --topic-id KB1 --available 2027-01-01T00:00:00Z --deadline 2026-12-31T18:00:00Z
refused 2 "no state named 'installed'" deployment add --home "$QS_HOME" --id x1 --topic-id KB1 --topic-type 501 --deadline 2026-12-31T18:00:00Z
refused 1 "already exists" deployment add --home "$QS_HOME" --id patch-past --topic-id KB1 --deadline 2026-12-31T18:00:00Z
refused 1 "no deployment 'nope'" deployment show --home "$QS_HOME" --id nope
refused 1 "no deployment 'nope'" deployment remove --home "$QS_HOME" --id nope
refused 1 "no deployment 'nope'" compliance --home "$QS_HOME" --deployment nope
refused 2 "a deployment's group is part of it" compliance --home "$QS_HOME" --deployment patch-past --group pilot
refused 1 "unknown group 'nogroup'" deployment add --home "$QS_HOME" --id x1 --topic-id KB1 --deadline 2026-12-31T18:00:00Z --group nogroup
qs_expect_rc 0 "$QS_TMP/list2.json" "$QSCTL" deployment list --home "$QS_HOME" --format json
cmp -s "$QS_TMP/list.json" "$QS_TMP/list2.json" || qs_fail "a refused command changed the deployments"
qs_expect_rc 0 "$QS_TMP/audit-after.json" "$QSCTL" audit show --home "$QS_HOME" --format json
qs_expect_eq "audit entries after refusals" "$(jq '.entries | length' "$QS_TMP/audit-after.json")" \
    "$(jq '.entries | length' "$QS_TMP/audit-before.json")"

qs_step "remove is audited; the deployment is gone"
qs_expect_rc 0 "$QS_TMP/rm.json" "$QSCTL" deployment remove --home "$QS_HOME" --id patch-ahead --format json
qs_expect_eq "removed" "$(qs_json_get "$QS_TMP/rm.json" .removed)" patch-ahead
qs_expect_rc 0 "$QS_TMP/audit.json" "$QSCTL" audit show --home "$QS_HOME" --format json
qs_expect_eq "audited actions" "$(jq -c '[.entries[] | select(.action | startswith("deployment.")) | [.action, .detail.id]]' "$QS_TMP/audit.json")" \
    '[["deployment.add","patch-past"],["deployment.add","patch-ahead"],["deployment.remove","patch-ahead"]]'
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" audit verify --home "$QS_HOME"
refused 1 "no deployment 'patch-ahead'" compliance --home "$QS_HOME" --deployment patch-ahead

qs_step "installations that move between hours; a deadline inside an hour (the kept hour counts)"
# m10 installs before the deadline (required -> installed, into hour H0);
# m05 re-reports its late installation two hours later (installed, another
# hour); m06 is required again (installed -> required); m12, unknown so
# far, installs at D1 + 600 (a new row, stored in D1's own hour). Each moves
# a row of installed_hours; the answer must still equal the states as now
# sent (an older time would not move a state: the newest message wins).
cat >"$QS_TMP/moves" <<EOF
m10 KB5040001 3 $(( H0 + 3000 ))
m05 KB5040001 3 $(( D1 + 1200 + 7200 ))
m06 KB5040001 2 $(( D1 + 5000 ))
m12 KB5040001 3 $(( D1 + 600 ))
EOF
while read -r m id state t; do
    qs_report "$m" --topic-type 500 --topic-id "$id" --state "$state" --machine "PC-DEP-$m" --time "$(iso "$t")"
done <"$QS_TMP/moves"
for m in m10 m05 m06 m12; do
    qs_flush "$m" 30
    qs_expect_eq "flush $m" "$QS_RC" 0
done
awk 'NR == FNR { new[$1 " " $2] = $0; next } ($1 " " $2) in new { print new[$1 " " $2]; delete new[$1 " " $2]; next }
     { print } END { for (k in new) print new[k] }' "$QS_TMP/moves" "$QS_TMP/states" >"$QS_TMP/states-moved"
# Not on an hour boundary: the installations stored in D1's own hour
# (precision hour: D1 + 1200 is stored at D1) are in time for D1 + 1800.
D3=$(( D1 + 1800 ))
qs_expect_rc 0 "$QS_TMP/add3.out" "$QSCTL" deployment add --home "$QS_HOME" --id patch-mid \
    --topic-id KB5040001 --topic-id KB5040002 --deadline "$(iso "$D3")" --as e2e
for dep in patch-past:$D1 patch-mid:$D3; do
    qs_expect_rc 0 "$QS_TMP/moved.json" "$QSCTL" compliance --home "$QS_HOME" --deployment "${dep%%:*}" --format json
    expect "${dep#*:}" "$(date -u +%s)" "$QS_TMP/states-moved" >"$QS_TMP/moved.want"
    got "$QS_TMP/moved.json" >"$QS_TMP/moved.got"
    cmp -s "$QS_TMP/moved.want" "$QS_TMP/moved.got" ||
        qs_fail "${dep%%:*} after the moves (want, got):"$'\n'"$(diff "$QS_TMP/moved.want" "$QS_TMP/moved.got")"
done
qs_expect_eq "KB5040001 compliant after the moves" \
    "$(grep '^KB5040001 compliant ' "$QS_TMP/moved.got")" "KB5040001 compliant 7 53.8"
qs_expect_rc 0 "$QS_TMP/verify-moved.out" "$QSCTL" verify --home "$QS_HOME"
grep -q "^site verified" "$QS_TMP/verify-moved.out" ||
    qs_fail "qsctl verify after the moves:"$'\n'"$(cat "$QS_TMP/verify-moved.out")"

qs_step "a wrong installed_hours row: found by qsctl verify, rebuilt by --repair-counts"
# verify compares the kept hours with latest on both engines (so the clean
# verify above proves the writers kept them through the moves).
if qs_engine_pg; then
    psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "INSERT INTO installed_hours VALUES
        (500, 'KB5040001', 3, $(( H0 / 3600 - 5 )), 0, 1)" >/dev/null
else
    sqlite3 -batch -cmd '.timeout 10000' "$QS_HOME/store.db" "INSERT INTO installed_hours VALUES
        (500, 'KB5040001', 3, $(( H0 / 3600 - 5 )), 1)"
fi
qs_expect_rc 1 "$QS_TMP/verify-bad.out" "$QSCTL" verify --home "$QS_HOME"
grep -q "installed_hours disagrees with latest (1 hours wrong)" "$QS_TMP/verify-bad.out" ||
    qs_fail "verify did not report the wrong hour:"$'\n'"$(cat "$QS_TMP/verify-bad.out")"
qs_expect_rc 0 "$QS_TMP/repair.out" "$QSCTL" verify --home "$QS_HOME" --repair-counts
qs_expect_rc 0 "$QS_TMP/verify-fixed.out" "$QSCTL" verify --home "$QS_HOME"
qs_expect_rc 0 "$QS_TMP/fixed.json" "$QSCTL" compliance --home "$QS_HOME" --deployment patch-past --format json
got "$QS_TMP/fixed.json" >"$QS_TMP/fixed.got"
expect "$D1" "$(date -u +%s)" "$QS_TMP/states-moved" >"$QS_TMP/fixed.want"
cmp -s "$QS_TMP/fixed.want" "$QS_TMP/fixed.got" ||
    qs_fail "patch-past after the repair (want, got):"$'\n'"$(diff "$QS_TMP/fixed.want" "$QS_TMP/fixed.got")"

printf '%s: PASS\n' "$QS_LIB_NAME"
