#!/usr/bin/env bash
# trend_group.sh - e2e: compliance per UTC day of one group or one deployment (docs/trends.md).
#
# Six machines report KB-G-1 (m1 and m5 also KB-G-2) through qs-broker and
# qs-store; the days are qs-retention passes with the clock moved
# (QS_CLOCK_OFFSET_S), as in trend.sh:
#   day 0: all six required; no group exists yet; pass
#   then group lab = m1 m2 m3; m1, m2 and m4 install; pass on day 1
#   then group late is made; m3 installs; pass on day 2
# Checked, with numbers worked out here from those states (not read back):
#  - `--trend --group lab` counts lab's machines only (day 1: 1 required,
#    2 installed, while the fleet has 3 and 3); day 0, before lab existed,
#    is missing for lab (the fleet has it), never 0; `late` has day 2 only;
#  - under k = 2 the group's day 1 (a 1 and its complement) is suppressed,
#    its day 2 (3 installed) is not;
#  - `--deployment` gives its updates only (not KB-G-2), over its group
#    (lab) when it has one, else the fleet's; the table prints it;
#  - unknown group / deployment: exit 1 with compliance's words;
#    --deployment with --group or --topic-id: exit 2;
#  - qs-web GET /api/v1/compliance/trend?group= / ?deployment= answer the
#    same documents (404 for unknown ones, 400 for both), and `qsctl --url`
#    prints the same bytes;
#  - `qsctl group remove lab` drops lab's days: the deployment's group is
#    gone (exit 1), a new lab starts with every day missing; qsctl verify ok.
# QS_TEST_ENGINE=pg runs it on PostgreSQL (tests/pg).
# Usage: tests/e2e/trend_group.sh [BUILD_DIR]
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
H=(--home "$QS_HOME")
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set "${H[@]}" --k 1 --as e2e-trend-group

NOW=$(date -u +%s)
DAY_S=86400
day() { date -u -d "@$(( NOW + $1 * DAY_S ))" +%F; }
iso() { date -u -d "@$(( NOW - $1 ))" +%Y-%m-%dT%H:%M:%SZ; }
state() {   # MACHINE TOPIC_ID STATE AGO_S
    qs_report "$1" --topic-type 500 --topic-id "$2" --state "$3" --machine "$1" --time "$(iso "$4")"
    qs_flush "$1" 30
    qs_expect_eq "flush $1" "$QS_RC" 0
}
pass() {
    qs_expect_rc 0 "$QS_TMP/retention-$1.out" env QS_CLOCK_OFFSET_S=$(( $1 * DAY_S )) \
        "$QS_RETENTION" --home "$QS_HOME" --once
    grep -q 'retention pass done' "$QS_TMP/retention-$1.out.err" ||
        qs_fail "qs-retention pass on day $1 failed:"$'\n'"$(cat "$QS_TMP/retention-$1.out.err")"
}
trend() {   # OUT ARGS...: qsctl compliance --trend on day 2
    local out=$1
    shift
    qs_expect_rc 0 "$QS_TMP/$out" env QS_CLOCK_OFFSET_S=$(( 2 * DAY_S )) \
        "$QSCTL" compliance "${H[@]}" --trend "$@"
}
# cells FILE: [day offset, topic id, state, count or "missing"/"suppressed"] per row.
cells() {
    jq -c --arg d0 "$(day 0)" --arg d1 "$(day 1)" --arg d2 "$(day 2)" \
        '[.rows[] | [({($d0): 0, ($d1): 1, ($d2): 2}[.day]), .topic_id, .state_id,
                     (if .missing then "missing" elif .suppressed then "suppressed" else .count end)]]' "$1"
}
refused() {   # RC OUT WORDS ARGS...
    local rc=$1 out=$2 words=$3
    shift 3
    qs_run "$QS_TMP/$out" env QS_CLOCK_OFFSET_S=$(( 2 * DAY_S )) "$QSCTL" compliance "${H[@]}" --trend "$@"
    qs_expect_eq "exit of $*" "$QS_RC" "$rc"
    grep -qF -- "$words" "$QS_TMP/$out.err" || qs_fail "$* does not say '$words': $(cat "$QS_TMP/$out.err")"
}

qs_step "day 0: six machines required, no group yet; pass"
for m in m1 m2 m3 m4 m5 m6; do qs_enroll "$m"; done
for m in m1 m2 m3 m4 m5 m6; do state "$m" KB-G-1 2 3600; done
for m in m1 m5; do state "$m" KB-G-2 3 3500; done
pass 0

qs_step "day 1: group lab = m1 m2 m3; m1, m2, m4 install; pass"
qs_expect_rc 0 "$QS_TMP/lab.out" "$QSCTL" group add "${H[@]}" --name lab
qs_expect_rc 0 "$QS_TMP/lab-m.out" "$QSCTL" group add "${H[@]}" --name lab --machine m1 --machine m2 --machine m3
for m in m1 m2 m4; do state "$m" KB-G-1 3 1800; done
pass 1

qs_step "day 2: group late is made; m3 installs; pass"
qs_expect_rc 0 "$QS_TMP/late.out" "$QSCTL" group add "${H[@]}" --name late
qs_expect_rc 0 "$QS_TMP/late-m.out" "$QSCTL" group add "${H[@]}" --name late --machine m5
state m3 KB-G-1 3 900
pass 2

qs_step "--group lab: lab's machines only, day 0 missing for it (k 1)"
trend lab.json --days 3 --group lab --format json
qs_expect_eq "lab per day" "$(cells "$QS_TMP/lab.json")" \
    '[[0,"KB-G-1",2,"missing"],[0,"KB-G-1",3,"missing"],[0,"KB-G-2",3,"missing"],[1,"KB-G-1",2,1],[1,"KB-G-1",3,2],[1,"KB-G-2",3,1],[2,"KB-G-1",3,3],[2,"KB-G-2",3,1]]'
qs_expect_eq "lab's missing days" "$(jq -c .missing_days "$QS_TMP/lab.json")" "[\"$(day 0)\"]"
qs_expect_eq "the document names its group" "$(jq -c '[.group, .deployment]' "$QS_TMP/lab.json")" '["lab",null]'
trend fleet.json --days 3 --format json
qs_expect_eq "the fleet per day (differs from lab's)" "$(cells "$QS_TMP/fleet.json")" \
    '[[0,"KB-G-1",2,6],[0,"KB-G-2",3,2],[1,"KB-G-1",2,3],[1,"KB-G-1",3,3],[1,"KB-G-2",3,2],[2,"KB-G-1",2,2],[2,"KB-G-1",3,4],[2,"KB-G-2",3,2]]'
qs_expect_eq "the fleet has no missing day" "$(jq -c .missing_days "$QS_TMP/fleet.json")" '[]'
qs_expect_eq "the fleet's document names no group" "$(jq -c '[.group, .deployment]' "$QS_TMP/fleet.json")" '[null,null]'
trend late.json --days 3 --group late --format json
qs_expect_eq "late: day 2 only" "$(cells "$QS_TMP/late.json")" \
    '[[0,"KB-G-1",2,"missing"],[0,"KB-G-2",3,"missing"],[1,"KB-G-1",2,"missing"],[1,"KB-G-2",3,"missing"],[2,"KB-G-1",2,1],[2,"KB-G-2",3,1]]'
trend lab-kb1.json --days 3 --group lab --topic-id KB-G-1 --format json
qs_expect_eq "lab, one update" "$(cells "$QS_TMP/lab-kb1.json")" \
    '[[0,"KB-G-1",2,"missing"],[0,"KB-G-1",3,"missing"],[1,"KB-G-1",2,1],[1,"KB-G-1",3,2],[2,"KB-G-1",3,3]]'

qs_step "--deployment: its updates, over its group or the fleet"
qs_expect_rc 0 "$QS_TMP/d1.out" "$QSCTL" deployment add "${H[@]}" --id D-lab --topic-id KB-G-1 \
    --deadline "$(iso -86400)" --group lab --as e2e-trend-group
qs_expect_rc 0 "$QS_TMP/d2.out" "$QSCTL" deployment add "${H[@]}" --id D-all --topic-id KB-G-1 \
    --deadline "$(iso -86400)" --as e2e-trend-group
trend dlab.json --days 3 --deployment D-lab --format json
qs_expect_eq "D-lab = lab's KB-G-1" "$(jq -c 'del(.deployment)' "$QS_TMP/dlab.json")" "$(jq -c 'del(.deployment)' "$QS_TMP/lab-kb1.json")"
qs_expect_eq "D-lab's document names it and its group" "$(jq -c '[.group, .deployment]' "$QS_TMP/dlab.json")" '["lab","D-lab"]'
trend dall.json --days 3 --deployment D-all --format json
qs_expect_eq "D-all's document: no group" "$(jq -c '[.group, .deployment]' "$QS_TMP/dall.json")" '[null,"D-all"]'
qs_expect_eq "D-all = the fleet's KB-G-1" "$(cells "$QS_TMP/dall.json")" \
    '[[0,"KB-G-1",2,6],[1,"KB-G-1",2,3],[1,"KB-G-1",3,3],[2,"KB-G-1",2,2],[2,"KB-G-1",3,4]]'
trend dlab.txt --days 3 --deployment D-lab
grep -Eq "^$(day 1) +500 +KB-G-1 +3 +installed +2$" "$QS_TMP/dlab.txt" ||
    qs_fail "table of D-lab lacks day 1:"$'\n'"$(cat "$QS_TMP/dlab.txt")"

qs_step "k 2: lab's day 1 (1 and its complement) suppressed, day 2 shown"
qs_expect_rc 0 "$QS_TMP/k2.out" "$QSCTL" policy set "${H[@]}" --k 2 --as e2e-trend-group
trend lab-k2.json --days 3 --group lab --topic-id KB-G-1 --format json
qs_expect_eq "lab under k 2" "$(cells "$QS_TMP/lab-k2.json")" \
    '[[0,"KB-G-1",2,"missing"],[0,"KB-G-1",3,"missing"],[1,"KB-G-1",2,"suppressed"],[1,"KB-G-1",3,"suppressed"],[2,"KB-G-1",3,3]]'
qs_expect_eq "k in the document" "$(jq .k "$QS_TMP/lab-k2.json")" 2
trend fleet-k2.json --days 1 --topic-id KB-G-1 --format json
qs_expect_eq "the fleet's day 2 under k 2" "$(cells "$QS_TMP/fleet-k2.json")" '[[2,"KB-G-1",2,2],[2,"KB-G-1",3,4]]'

qs_step "refused: unknown group or deployment (exit 1), bad combinations (exit 2)"
refused 1 nope.out "unknown group 'nope'" --days 3 --group nope
qs_run "$QS_TMP/c-nope.out" "$QSCTL" compliance "${H[@]}" --group nope
qs_expect_eq "compliance --group nope exits as the trend" "$QS_RC" 1
grep -qF "unknown group 'nope'" "$QS_TMP/c-nope.out.err" || qs_fail "compliance --group nope: $(cat "$QS_TMP/c-nope.out.err")"
refused 1 dnope.out "no deployment 'D-nope'" --days 3 --deployment D-nope
refused 2 dg.out "a deployment's group is part of it" --days 3 --deployment D-lab --group lab
refused 2 dt.out "drop --topic-type and --topic-id" --days 3 --deployment D-lab --topic-id KB-G-1

qs_step "qs-web: ?group= and ?deployment= answer the same documents; qsctl --url prints the same"
if [[ -z ${QS_WEB:-} ]]; then
    QS_WEB=$(find "$(dirname "$(dirname "$QSCTL")")" -maxdepth 3 -type f -name qs-web -perm -u+x | head -n 1)
fi
[[ -x ${QS_WEB:-} ]] || qs_fail "cannot find the qs-web binary (set QS_WEB)"
qs_free_port WEB_PORT
BASE="http://127.0.0.1:$WEB_PORT"
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$QS_HOME/quietstate.conf"
mkdir -m 700 "$QS_TMP/tok"
qs_expect_rc 0 "$QS_TMP/user.out" "$QSCTL" user add "${H[@]}" --name op --role operator \
    --out "$QS_TMP/tok/op" --as e2e-trend-group
qs_start web env QS_CLOCK_OFFSET_S=$(( 2 * DAY_S )) "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"
TOKEN=$(cat "$QS_TMP/tok/op")
get() {   # QUERY OUT: the HTTP status
    curl -s -o "$QS_TMP/$2" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "$BASE/api/v1/compliance/trend?$1"
}
trend lab-k2-all.json --days 3 --group lab --format json
qs_expect_eq "GET ?group=lab" "$(get 'days=3&group=lab' api-lab.json)" 200
qs_expect_eq "the API's group document" "$(jq -c . "$QS_TMP/api-lab.json")" "$(jq -c . "$QS_TMP/lab-k2-all.json")"
trend dlab-k2.json --days 3 --deployment D-lab --format json
qs_expect_eq "GET ?deployment=D-lab" "$(get 'days=3&deployment=D-lab' api-dlab.json)" 200
qs_expect_eq "the API's deployment document" "$(jq -c . "$QS_TMP/api-dlab.json")" "$(jq -c . "$QS_TMP/dlab-k2.json")"
qs_expect_eq "GET ?group=nope" "$(get 'days=3&group=nope' api-nope.json)" 404
grep -q "unknown group 'nope'" "$QS_TMP/api-nope.json" || qs_fail "404 body: $(cat "$QS_TMP/api-nope.json")"
qs_expect_eq "GET ?deployment=D-nope" "$(get 'days=3&deployment=D-nope' api-dnope.json)" 404
grep -q "no deployment 'D-nope'" "$QS_TMP/api-dnope.json" || qs_fail "404 body: $(cat "$QS_TMP/api-dnope.json")"
qs_expect_eq "GET ?deployment=D-lab&group=lab" "$(get 'days=3&deployment=D-lab&group=lab' api-dg.json)" 400
qs_expect_eq "GET ?deployment=D-lab&topic_id=KB-G-1" "$(get 'days=3&deployment=D-lab&topic_id=KB-G-1' api-dt.json)" 400
for f in json csv table; do
    qs_expect_rc 0 "$QS_TMP/remote.$f" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" \
        compliance --trend --days 3 --group lab --format "$f"
    trend "local.$f" --days 3 --group lab --format "$f"
    cmp -s "$QS_TMP/local.$f" "$QS_TMP/remote.$f" ||
        qs_fail "qsctl --url ... --group lab --format $f differs:"$'\n'"$(diff "$QS_TMP/local.$f" "$QS_TMP/remote.$f")"
done
qs_expect_rc 0 "$QS_TMP/remote-d.json" "$QSCTL" --url "$BASE" --token-file "$QS_TMP/tok/op" \
    compliance --trend --days 3 --deployment D-lab --format json
cmp -s "$QS_TMP/dlab-k2.json" "$QS_TMP/remote-d.json" || qs_fail "qsctl --url ... --deployment differs"
qs_stop web 10 || qs_fail "qs-web did not stop cleanly"

qs_step "qsctl verify accepts the group snapshot tables (group names are not personal)"
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify "${H[@]}"

qs_step "group remove lab drops its days: D-lab's group is gone, a new lab has none"
qs_expect_rc 0 "$QS_TMP/rm.out" "$QSCTL" group remove "${H[@]}" --name lab
refused 1 gone.out "unknown group 'lab'" --days 3 --group lab
refused 1 dgone.out "the deployment's group 'lab' does not exist" --days 3 --deployment D-lab
# The API says the same for the trend and for the deployment's compliance:
# 404, the deployment has nothing to evaluate (not a server error).
qs_start web env QS_CLOCK_OFFSET_S=$(( 2 * DAY_S )) "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"
qs_expect_eq "GET trend?deployment=D-lab, its group gone" "$(get 'days=3&deployment=D-lab' api-dgone.json)" 404
qs_expect_eq "GET compliance?deployment=D-lab, its group gone" \
    "$(curl -s -o "$QS_TMP/api-cgone.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
       "$BASE/api/v1/compliance?deployment=D-lab")" 404
grep -q "does not exist" "$QS_TMP/api-cgone.json" || qs_fail "404 body: $(cat "$QS_TMP/api-cgone.json")"
qs_stop web 10 || qs_fail "qs-web did not stop cleanly"
qs_expect_rc 0 "$QS_TMP/lab2.out" "$QSCTL" group add "${H[@]}" --name lab
qs_expect_rc 0 "$QS_TMP/lab2-m.out" "$QSCTL" group add "${H[@]}" --name lab --machine m1
trend lab2.json --days 3 --group lab --format json
qs_expect_eq "a new lab: no day" "$(jq -c '[.rows, .missing_days | length]' "$QS_TMP/lab2.json")" '[0,3]'
trend late2.json --days 3 --group late --format json
qs_expect_eq "late keeps its day" "$(jq -c .missing_days "$QS_TMP/late2.json")" "[\"$(day 0)\",\"$(day 1)\"]"
qs_info "ok"
