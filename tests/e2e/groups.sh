#!/usr/bin/env bash
# groups.sh - e2e: groups of machines (docs/groups.md) through real processes.
#
# qs-broker and qs-store run; clients are enrolled with `qsctl enroll
# --group` and report known states with qs-producer. Checked:
#  - unknown group: enroll --group, group add --machine, group remove,
#    group list --name and compliance --group exit 1 naming the group, and
#    nothing changes (no client enrolled, no profile, groups and the audit
#    log as they were);
#  - `compliance --group Finance --format json` (k = 1) equals the counts
#    computed here from what was reported, over Finance's members only
#    (machine names reported in another case than enrolled: one fold),
#    each topic's no-report cell included; scope and percent are the
#    group's (members with a row of the type), not the fleet's;
#  - with k = 3: a cell below k is suppressed, the complementary ones too,
#    a topic whose cells are all below k is not listed for the group (while
#    the fleet's answer lists it), and member counts below k print "<3";
#  - group remove --machine and forget --machine take a machine out: a
#    forgotten machine that reports again is not counted in the group;
#  - changes are audited with the actor and pseudonym prefixes, never a
#    machine name; qsctl verify passes;
#  - through qs-web: `qsctl --url ... compliance --group` prints what the
#    local command prints; unknown group exit 1, a bad name is a 400.
# QS_TEST_ENGINE=pg runs it on PostgreSQL (tests/pg/CMakeLists.txt).
# Usage: tests/e2e/groups.sh [BUILD_DIR]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-groups

H=(--home "$QS_HOME")
audit_count() { "$QSCTL" audit show "${H[@]}" --format json | jq '.entries | length'; }
groups_json() { "$QSCTL" group list "${H[@]}" --format json; }

# expect_fail OUT MESSAGE ARGS...: qsctl ARGS exits 1 with MESSAGE on stderr.
expect_fail() {
    local out=$1 msg=$2
    shift 2
    qs_expect_rc 1 "$out" "$QSCTL" "$@"
    grep -qF -- "$msg" "$out.err" || qs_fail "qsctl $*: stderr does not say '$msg':"$'\n'"$(cat "$out.err")"
    qs_info "qsctl $1 $2 ... -> exit 1: $(head -n 1 "$out.err")"
}

qs_step "create groups Finance and Lab (audited with the actor)"
qs_expect_rc 0 "$QS_TMP/g1.json" "$QSCTL" group add "${H[@]}" --name Finance --as e2e-admin --format json
qs_expect_eq "Finance created" "$(qs_json_get "$QS_TMP/g1.json" .created)" true
qs_expect_rc 0 "$QS_TMP/g2.out" "$QSCTL" group add "${H[@]}" --name Lab --as e2e-admin
qs_expect_rc 0 "$QS_TMP/g3.json" "$QSCTL" group add "${H[@]}" --name Finance --format json
qs_expect_eq "Finance again: exists" "$(jq -r .created "$QS_TMP/g3.json")" false
qs_expect_rc 2 "$QS_TMP/g4.out" "$QSCTL" group add "${H[@]}" --name "$(printf 'x%.0s' {1..65})"
grep -q -- "--name" "$QS_TMP/g4.out.err" || qs_fail "a 65-character name: error does not name --name"

qs_step "unknown group: clear error, exit 1, nothing changed"
mkdir -p "$QS_TMP/clients" && chmod 700 "$QS_TMP/clients"
before_groups=$(groups_json)
before_audit=$(audit_count)
expect_fail "$QS_TMP/u1.out" "unknown group 'Nope'" enroll "${H[@]}" --name ghost-1 \
    --out "$QS_TMP/clients/ghost-1.profile" --group Finance --group Nope
[[ ! -e $QS_TMP/clients/ghost-1.profile ]] || qs_fail "enroll with an unknown group wrote a profile"
expect_fail "$QS_TMP/u2.out" "unknown group 'Nope'" group add "${H[@]}" --name Nope --machine PC-1
expect_fail "$QS_TMP/u3.out" "unknown group 'Nope'" group remove "${H[@]}" --name Nope
expect_fail "$QS_TMP/u4.out" "unknown group 'Nope'" group list "${H[@]}" --name Nope
expect_fail "$QS_TMP/u5.out" "unknown group 'Nope'" compliance "${H[@]}" --group Nope --format json
qs_expect_eq "groups after the errors" "$(groups_json)" "$before_groups"
qs_expect_eq "audit entries after the errors" "$(audit_count)" "$before_audit"
# ghost-1 was not enrolled: enrolling it now succeeds (a name enrolled twice is refused).
qs_expect_rc 0 "$QS_TMP/u6.out" "$QSCTL" enroll "${H[@]}" --name ghost-1 \
    --out "$QS_TMP/clients/ghost-1.profile"

# What is reported: machine, groups (enroll --group), then KB5030211's state
# and KB5030219's (- for none). Finance: fin-1..7 and lab-1 (8 members).
PLAN=(
    "fin-1 Finance 2 2"  "fin-2 Finance 2 2"  "fin-3 Finance 2 -"  "fin-4 Finance 2 -"
    "fin-5 Finance 3 -"  "fin-6 Finance 3 -"  "fin-7 Finance 3 -"
    "lab-1 Lab,Finance 1 -"  "lab-2 Lab 2 -"
    "oth-1 - 2 2"  "oth-2 - 2 2"  "oth-3 - 3 2"
)
qs_step "enroll ${#PLAN[@]} clients with --group and report their states"
for row in "${PLAN[@]}"; do
    read -r m g s1 s2 <<<"$row"
    gargs=()
    [[ $g != - ]] && for x in ${g//,/ }; do gargs+=(--group "$x"); done
    qs_expect_rc 0 "$QS_TMP/enroll-$m.out" "$QSCTL" enroll "${H[@]}" --name "$m" \
        --out "$QS_TMP/clients/$m.profile" --as e2e-admin "${gargs[@]}"
done
sleep 0.5   # the broker reloads site.db every 200 ms
sent=0
for row in "${PLAN[@]}"; do
    read -r m g s1 s2 <<<"$row"
    # Reported in upper case: the machine's pseudonym folds case (one spelling).
    qs_report "$m" --topic-type 500 --topic-id KB5030211 --state "$s1" --machine "${m^^}"
    sent=$((sent + 1))
    if [[ $s2 != - ]]; then
        qs_report "$m" --topic-type 500 --topic-id KB5030219 --state "$s2" --machine "${m^^}"
        sent=$((sent + 1))
    fi
    qs_flush "$m" 20
    [[ $QS_RC == 0 ]] || qs_fail "flush of $m exited $QS_RC: $(cat "$QS_TMP/flush-$m.out.err")"
done
qs_wait_stat .stored "$sent" 20

# expected GROUP [EXCLUDED...]: the group's cells computed from PLAN, each
# topic's no-report cell (state_id null) last: the group's scope (members
# with a row of type 500: every member here) minus the members with a state
# for the topic.
expected() {
    local group=$1 row m g s1 s2
    shift
    for row in "${PLAN[@]}"; do
        read -r m g s1 s2 <<<"$row"
        [[ ",$g," == *",$group,"* ]] || continue
        [[ " $* " == *" $m "* ]] && continue
        printf '{"m":"%s","topic_type":500,"topic_id":"KB5030211","state_id":%s}\n' "$m" "$s1"
        [[ $s2 != - ]] && printf '{"m":"%s","topic_type":500,"topic_id":"KB5030219","state_id":%s}\n' "$m" "$s2"
    done | jq -s -c '([.[].m] | unique | length) as $scope
                     | (group_by([.topic_type, .topic_id, .state_id])
                        | map(.[0] + {count: length} | del(.m)))
                       + (group_by([.topic_type, .topic_id])
                          | map({topic_type: .[0].topic_type, topic_id: .[0].topic_id,
                                 state_id: null, count: ($scope - length)}))
                     | sort_by(.topic_type, .topic_id, .state_id)'
}
got() {
    jq -c '[.rows[] | {topic_type, topic_id, state_id, count}] | sort_by(.topic_type, .topic_id, .state_id)' "$1"
}

qs_step "compliance --group Finance (k=1) equals the counts computed from the reports"
qs_expect_rc 0 "$QS_TMP/c1.json" "$QSCTL" compliance "${H[@]}" --group Finance --format json
qs_expect_eq "Finance cells" "$(got "$QS_TMP/c1.json")" "$(expected Finance)"
# Percentages divide by the group's scope (its 8 members with a type-500
# row), not the fleet's (12 machines): KB5030219 is 2 of 8 = 25%, 6 no report.
qs_expect_eq "Finance scope, percent, no report" \
    "$(jq -c '[.rows[] | {topic_id, state_id, state, count, percent, scope}]' "$QS_TMP/c1.json")" \
    '[{"topic_id":"KB5030211","state_id":1,"state":"not required","count":1,"percent":12.5,"scope":8},{"topic_id":"KB5030211","state_id":2,"state":"required","count":4,"percent":50,"scope":8},{"topic_id":"KB5030211","state_id":3,"state":"installed","count":3,"percent":37.5,"scope":8},{"topic_id":"KB5030211","state_id":null,"state":"no report","count":0,"percent":0,"scope":8},{"topic_id":"KB5030219","state_id":2,"state":"required","count":2,"percent":25,"scope":8},{"topic_id":"KB5030219","state_id":null,"state":"no report","count":6,"percent":75,"scope":8}]'
qs_expect_rc 0 "$QS_TMP/c1f.json" "$QSCTL" compliance "${H[@]}" --format json
qs_expect_eq "the fleet's scope" "$(jq -c '[.rows[].scope] | unique' "$QS_TMP/c1f.json")" '[12]'
qs_expect_rc 0 "$QS_TMP/c2.json" "$QSCTL" compliance "${H[@]}" --group Lab --format json
qs_expect_eq "Lab cells" "$(got "$QS_TMP/c2.json")" "$(expected Lab)"
qs_expect_rc 0 "$QS_TMP/c3.json" "$QSCTL" compliance "${H[@]}" --group Finance \
    --topic-id KB5030219 --format json
qs_expect_eq "Finance, one topic id" "$(got "$QS_TMP/c3.json")" \
    "$(expected Finance | jq -c 'map(select(.topic_id == "KB5030219"))')"
qs_expect_rc 0 "$QS_TMP/c4.csv" "$QSCTL" compliance "${H[@]}" --group Finance --format csv
qs_expect_eq "CSV header" "$(head -n 1 "$QS_TMP/c4.csv")" "$("$QSCTL" compliance "${H[@]}" --format csv | head -n 1)"
qs_expect_rc 0 "$QS_TMP/c5.txt" "$QSCTL" compliance "${H[@]}" --group Finance
grep -q KB5030211 "$QS_TMP/c5.txt" || qs_fail "table output lacks KB5030211"
qs_expect_rc 0 "$QS_TMP/l1.json" "$QSCTL" group list "${H[@]}" --format json
qs_expect_eq "member counts" "$(jq -c '[.groups[] | {name, members}]' "$QS_TMP/l1.json")" \
    '[{"name":"Finance","members":8},{"name":"Lab","members":2}]'

qs_step "k=3: suppression within the group"
qs_expect_rc 0 "$QS_TMP/policy3.out" "$QSCTL" policy set "${H[@]}" --k 3 --as e2e-groups
qs_expect_rc 0 "$QS_TMP/k1.json" "$QSCTL" compliance "${H[@]}" --group Finance --format json
qs_expect_eq "k" "$(qs_json_get "$QS_TMP/k1.json" .k)" 3
# KB5030211 in Finance (scope 8): state 1: 1, state 2: 4, state 3: 3, no
# report: 0 -> 1 is primary, 3 (the smallest remaining) complementary; their
# sum, 8 - 4 - 0 = 4 = 2 x (k - 1), could be two cells of 2, so 4 is hidden
# too; the no-report 0 is nobody and shown. KB5030219: 2 machines -> dropped.
qs_expect_eq "Finance under k=3" \
    "$(jq -c '[.rows[] | {topic_id, state_id, count, suppressed: (.suppressed == true), percent, scope}]' "$QS_TMP/k1.json")" \
    '[{"topic_id":"KB5030211","state_id":1,"count":null,"suppressed":true,"percent":null,"scope":8},{"topic_id":"KB5030211","state_id":2,"count":null,"suppressed":true,"percent":null,"scope":8},{"topic_id":"KB5030211","state_id":3,"count":null,"suppressed":true,"percent":null,"scope":8},{"topic_id":"KB5030211","state_id":null,"count":0,"suppressed":false,"percent":0,"scope":8}]'
qs_expect_rc 0 "$QS_TMP/k2.json" "$QSCTL" compliance "${H[@]}" --format json
jq -e '[.rows[] | select(.topic_id == "KB5030219" and .count == 5)] | length == 1' "$QS_TMP/k2.json" >/dev/null ||
    qs_fail "the fleet's answer should list KB5030219 (5 machines):"$'\n'"$(cat "$QS_TMP/k2.json")"
qs_expect_rc 0 "$QS_TMP/k3.json" "$QSCTL" compliance "${H[@]}" --group Lab --format json
qs_expect_eq "Lab (2 members) shows nothing" "$(jq -c .rows "$QS_TMP/k3.json")" '[]'
qs_expect_rc 0 "$QS_TMP/k4.json" "$QSCTL" group list "${H[@]}" --format json
qs_expect_eq "member counts under k=3" \
    "$(jq -c '[.groups[] | {name, members, suppressed}]' "$QS_TMP/k4.json")" \
    '[{"name":"Finance","members":8,"suppressed":false},{"name":"Lab","members":null,"suppressed":true}]'
qs_expect_rc 0 "$QS_TMP/k5.txt" "$QSCTL" group list "${H[@]}"
grep -Eq '^Lab +<3 ' "$QS_TMP/k5.txt" || qs_fail "Lab's member count should print '<3':"$'\n'"$(cat "$QS_TMP/k5.txt")"
qs_expect_rc 0 "$QS_TMP/policy1.out" "$QSCTL" policy set "${H[@]}" --k 1 --as e2e-groups

qs_step "group remove --machine (another case) and forget --machine take machines out"
qs_expect_rc 0 "$QS_TMP/r1.json" "$QSCTL" group remove "${H[@]}" --name Finance --machine FIN-7 \
    --as e2e-admin --format json
qs_expect_eq "removed" "$(qs_json_get "$QS_TMP/r1.json" .removed)" 1
qs_expect_rc 0 "$QS_TMP/f1.out" "$QSCTL" forget "${H[@]}" --machine fin-6 --as e2e-privacy
# fin-6 reports again after being forgotten: its rows are back, its membership is not.
qs_report fin-6 --topic-type 500 --topic-id KB5030211 --state 3 --machine FIN-6
qs_flush fin-6 20
qs_wait_stat .stored $((sent + 1)) 20
qs_expect_rc 0 "$QS_TMP/c6.json" "$QSCTL" compliance "${H[@]}" --group Finance --format json
qs_expect_eq "Finance without fin-6 and fin-7" "$(got "$QS_TMP/c6.json")" "$(expected Finance fin-6 fin-7)"
qs_expect_rc 0 "$QS_TMP/l2.json" "$QSCTL" group list "${H[@]}" --name Finance --format json
qs_expect_eq "Finance members" "$(qs_json_get "$QS_TMP/l2.json" '.groups[0].members')" 6
qs_expect_rc 0 "$QS_TMP/a1.json" "$QSCTL" group add "${H[@]}" --name Finance --machine fin-6 \
    --machine FIN-1 --as e2e-admin --format json
qs_expect_eq "added (fin-1 was a member)" "$(qs_json_get "$QS_TMP/a1.json" .added)" 1
qs_expect_rc 0 "$QS_TMP/c7.json" "$QSCTL" compliance "${H[@]}" --group Finance --format json
qs_expect_eq "Finance with fin-6 again" "$(got "$QS_TMP/c7.json")" "$(expected Finance fin-7)"

qs_step "delete a group; audit entries carry the actor and pseudonyms only"
qs_expect_rc 0 "$QS_TMP/d1.json" "$QSCTL" group remove "${H[@]}" --name Lab --as e2e-admin --format json
qs_expect_eq "memberships removed with Lab" "$(qs_json_get "$QS_TMP/d1.json" .removed)" 2
expect_fail "$QS_TMP/d2.out" "unknown group 'Lab'" compliance "${H[@]}" --group Lab
"$QSCTL" audit show "${H[@]}" --format json >"$QS_TMP/audit.json"
jq -e '[.entries[] | select(.action | startswith("group_"))] | length == 15' "$QS_TMP/audit.json" >/dev/null ||
    qs_fail "expected 15 group_* audit entries (2 create, 10 enroll adds, remove, add, delete):"$'\n'"$(jq -c '[.entries[] | .action]' "$QS_TMP/audit.json")"
jq -e '[.entries[] | select(.action == "group_add")] | all(.actor | contains("e2e-admin"))' "$QS_TMP/audit.json" >/dev/null ||
    qs_fail "a group_add entry without the actor:"$'\n'"$(jq -c '.entries[] | select(.action == "group_add")' "$QS_TMP/audit.json")"
if grep -Eiq '(fin|lab|oth)-[0-9]' "$QS_TMP/audit.json"; then
    qs_fail "the audit log holds a machine name:"$'\n'"$(grep -Eio '.{60}(fin|lab|oth)-[0-9].{20}' "$QS_TMP/audit.json" | head -n 3)"
fi
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify "${H[@]}"
qs_info "verify: $(tail -n 1 "$QS_TMP/verify.out")"

qs_step "through qs-web: GET /api/v1/compliance?group=G and qsctl --url ... compliance --group"
if [[ -z ${QS_WEB:-} ]]; then
    QS_WEB=$(find "${1:-${QS_BIN_DIR:-$(dirname "$QSCTL")/..}}" -maxdepth 3 -type f -name qs-web -perm -u+x | head -n 1)
fi
[[ -x ${QS_WEB:-} ]] || qs_fail "cannot find the qs-web binary (set QS_WEB)"
qs_free_port WEB_PORT
sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$QS_HOME/quietstate.conf"
mkdir -m 700 "$QS_TMP/tok"
qs_expect_rc 0 "$QS_TMP/user.out" "$QSCTL" user add "${H[@]}" --name op --role operator \
    --out "$QS_TMP/tok/op" --as e2e-admin
qs_start web "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"
R=(--url "http://127.0.0.1:$WEB_PORT" --token-file "$QS_TMP/tok/op")
qs_expect_rc 0 "$QS_TMP/w1.json" "$QSCTL" "${R[@]}" compliance --group Finance --format json
qs_expect_rc 0 "$QS_TMP/w2.json" "$QSCTL" compliance "${H[@]}" --group Finance --format json
qs_expect_eq "remote = local (Finance)" "$(cat "$QS_TMP/w1.json")" "$(cat "$QS_TMP/w2.json")"
qs_expect_eq "remote Finance cells" "$(got "$QS_TMP/w1.json")" "$(expected Finance fin-7)"
qs_expect_rc 0 "$QS_TMP/w3.txt" "$QSCTL" "${R[@]}" compliance --group Finance --topic-id KB5030211
qs_expect_rc 0 "$QS_TMP/w4.txt" "$QSCTL" compliance "${H[@]}" --group Finance --topic-id KB5030211
qs_expect_eq "remote = local (table)" "$(cat "$QS_TMP/w3.txt")" "$(cat "$QS_TMP/w4.txt")"
expect_fail "$QS_TMP/w5.out" "unknown group 'Lab'" "${R[@]}" compliance --group Lab
code=$(curl -s -o "$QS_TMP/w6.json" -w '%{http_code}' -H "Authorization: Bearer $(cat "$QS_TMP/tok/op")" \
    "http://127.0.0.1:$WEB_PORT/api/v1/compliance?group=%01bad")
qs_expect_eq "a bad group name over HTTP" "$code" 400
qs_step "ok"
