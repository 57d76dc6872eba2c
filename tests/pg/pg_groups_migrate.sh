#!/usr/bin/env bash
# pg_groups_migrate.sh - qsctl migrate carries the groups of machines (docs/groups.md)
# from store.db into PostgreSQL: after the switch, the same groups, the same
# members (a group's compliance counts them) and the same answers (its
# daily trend too); a store.db
# without groups migrates as before (pg_migrate).
# Usage: tests/pg/pg_groups_migrate.sh [BUILD_DIR]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh"

qs_need_cmd jq psql
qs_find_bins "${1:-}"
if [[ -z ${QS_RETENTION:-} && -n ${1:-${QS_BUILD_DIR:-}} ]]; then
    QS_RETENTION=$(find "${1:-$QS_BUILD_DIR}" -maxdepth 4 -type f -name qs-retention -perm -u+x | head -n 1)
fi
[[ -n ${QS_RETENTION:-} && -x $QS_RETENTION ]] || qs_fail "QS_RETENTION (qs-retention) is not set or not executable"
qs_tmp_new
qs_site_init
H=(--home "$QS_HOME")
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set "${H[@]}" --k 1 --as pg-groups

qs_step "an SQLite site with groups Finance (2 machines reporting) and Empty"
qs_expect_rc 0 "$QS_TMP/g1.out" "$QSCTL" group add "${H[@]}" --name Finance
qs_expect_rc 0 "$QS_TMP/g2.out" "$QSCTL" group add "${H[@]}" --name Empty
for m in mig-1 mig-2 mig-3; do
    qs_enroll "$m"
    qs_report "$m" --topic-type 500 --topic-id KB5030211 --state 2 --machine "$m"
    qs_flush "$m" 20
    [[ $QS_RC == 0 ]] || qs_fail "flush of $m exited $QS_RC"
done
qs_wait_stat .stored 3 20
qs_expect_rc 0 "$QS_TMP/g3.out" "$QSCTL" group add "${H[@]}" --name Finance --machine mig-1 --machine MIG-2
"$QSCTL" group list "${H[@]}" --format json | jq -c '[.groups[] | {name, members, created_utc}]' >"$QS_TMP/before.json"
"$QSCTL" compliance "${H[@]}" --group Finance --format json >"$QS_TMP/before-c.json"
# State 2: both members; no report: the group's scope (2 members with a
# type-500 row) minus them, 0.
qs_expect_eq "Finance on SQLite" "$(jq -c '[.rows[] | {state_id, count, scope}]' "$QS_TMP/before-c.json")" \
    '[{"state_id":2,"count":2,"scope":2},{"state_id":null,"count":0,"scope":2}]'
# One retention pass: the day's snapshot of the fleet and of each group
# (docs/trends.md); Finance's day must come across the move.
qs_expect_rc 0 "$QS_TMP/retention.out" "$QS_RETENTION" "${H[@]}" --once
"$QSCTL" compliance "${H[@]}" --trend --days 2 --group Finance --format json >"$QS_TMP/before-t.json"
qs_expect_eq "Finance's day on SQLite" "$(jq -c '[.rows[] | [.state_id, .count, .missing]]' "$QS_TMP/before-t.json")" \
    '[[2,null,true],[2,2,null]]'
qs_stop store
qs_stop broker

qs_step "migrate to PostgreSQL"
pg_start "$QS_TMP" || qs_fail "cannot start PostgreSQL (pg_lib.sh)"
qs_on_exit pg_stop
qs_expect_rc 0 "$QS_TMP/migrate.out" "$QSCTL" migrate "${H[@]}" --to "$PG_URL" --as pg-groups
rm -f "$QS_HOME/store.db" "$QS_HOME/store.db-wal" "$QS_HOME/store.db-shm"

qs_step "the same groups and answers on PostgreSQL"
"$QSCTL" group list "${H[@]}" --format json | jq -c '[.groups[] | {name, members, created_utc}]' >"$QS_TMP/after.json"
qs_expect_eq "groups after migrate" "$(cat "$QS_TMP/after.json")" "$(cat "$QS_TMP/before.json")"
qs_expect_rc 0 "$QS_TMP/after-c.json" "$QSCTL" compliance "${H[@]}" --group Finance --format json
qs_expect_eq "Finance on PostgreSQL" "$(cat "$QS_TMP/after-c.json")" "$(cat "$QS_TMP/before-c.json")"
qs_expect_rc 0 "$QS_TMP/after-t.json" "$QSCTL" compliance "${H[@]}" --trend --days 2 --group Finance --format json
qs_expect_eq "Finance's days on PostgreSQL" "$(cat "$QS_TMP/after-t.json")" "$(cat "$QS_TMP/before-t.json")"
qs_expect_rc 0 "$QS_TMP/g4.json" "$QSCTL" group add "${H[@]}" --name Finance --machine mig-3 --format json
qs_expect_eq "a member added after migrate" "$(qs_json_get "$QS_TMP/g4.json" .added)" 1
qs_expect_rc 0 "$QS_TMP/after-c2.json" "$QSCTL" compliance "${H[@]}" --group Finance --format json
qs_expect_eq "Finance with mig-3 on PostgreSQL" "$(jq -c '[.rows[] | {state_id, count, scope}]' "$QS_TMP/after-c2.json")" \
    '[{"state_id":2,"count":3,"scope":3},{"state_id":null,"count":0,"scope":3}]'
qs_step "ok"
