#!/usr/bin/env bash
# read_retention_lock.sh - one qs-retention pass at a time on a PostgreSQL store.
#
# A psql session holds the store's retention lock (the advisory lock
# QS_PG_LOCK_CLASS 0x7173, QS_PG_LOCK_RETENTION 2 of store/storedb_pg.h), as
# a qs-retention on another host would mid-pass. `qs-retention --once` must
# wait, say so in exactly one log line, run no pass while it waits, run its
# pass (folding the workers' count shards) once the holder's session ends,
# and exit 0. A daemon waiting for the lock stops at once on SIGTERM. A
# daemon whose server restarts between passes reconnects and goes on.
#
# Usage: bash tests/pg/read_retention_lock.sh BUILD_DIR  (or QS_BUILD_DIR=...)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export QS_TEST_ENGINE=pg
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=../retention/retention_lib.sh
. "$ROOT/tests/retention/retention_lib.sh"

ret_setup "${1:-}"
LOCK="classid = 29043 AND objid = 2 AND locktype = 'advisory' AND granted"

hold_lock() {   # NAME: a psql session that takes the lock and keeps it
    qs_start "$1" psql -X -q "$PG_URL" -c "SELECT pg_advisory_lock(29043, 2)" \
        -c "SELECT pg_sleep(300)"
    qs_wait_until 20 "the lock to be held" \
        bash -c "[[ \$(psql -X -A -t '$PG_URL' -c \"SELECT count(*) FROM pg_locks WHERE $LOCK\") == 1 ]]"
}

qs_step "site on PostgreSQL with a policy; shard rows left by two workers"
ret_site_init
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --max-age-days 30
ret_sql "INSERT INTO counters(name, shard, value) VALUES ('stored', 3, 5), ('stored', 11, 2)"
ret_sql "INSERT INTO compliance_counts VALUES (500, 'KB-LOCK', 2, 4, 1), (500, 'KB-LOCK', 2, 9, -1)"

qs_step "another session holds the retention lock: qs-retention --once waits, says so once"
hold_lock holder
qs_start retention "$QS_RETENTION" --home "$QS_HOME" --once
qs_wait_log "${QS_DAEMON_LOG[retention]}" 'waiting for it' 20 ||
    qs_fail "qs-retention did not say it waits:"$'\n'"$(cat "${QS_DAEMON_LOG[retention]}")"
sleep 2.5   # several polls
qs_running retention || qs_fail "qs-retention did not wait for the lock"
qs_expect_eq "lines saying it waits" "$(grep -c 'waiting for it' "${QS_DAEMON_LOG[retention]}")" 1
if grep -Eq 'retention pass (done|incomplete|interrupted)' "${QS_DAEMON_LOG[retention]}"; then
    qs_fail "qs-retention ran a pass while the lock was held"
fi

qs_step "the holder's session ends: the pass runs, folds the shards, qs-retention exits 0"
# Ended by the server (as when the holder's host is gone): killing psql alone
# would leave its backend asleep, holding the lock.
ret_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE $LOCK" >/dev/null
qs_stop holder 10 || true
qs_wait_log "${QS_DAEMON_LOG[retention]}" 'retention pass done' 30 ||
    qs_fail "no pass after the lock was released:"$'\n'"$(cat "${QS_DAEMON_LOG[retention]}")"
qs_wait_until 20 "qs-retention to exit" qs__gone "${QS_DAEMON_PID[retention]}"
rc=0
wait "${QS_DAEMON_PID[retention]}" || rc=$?
unset "QS_DAEMON_PID[retention]"
qs_expect_eq "qs-retention --once status" "$rc" 0
qs_expect_eq "counter shards after the fold" \
    "$(ret_sql "SELECT count(*) || ' ' || sum(value) FROM counters WHERE name = 'stored'")" "1 7"
qs_expect_eq "groups at 0 after the fold" \
    "$(ret_sql "SELECT count(*) FROM compliance_counts WHERE topic_id = 'KB-LOCK'")" 0
qs_expect_eq "locks left" "$(ret_sql "SELECT count(*) FROM pg_locks WHERE $LOCK")" 0

qs_step "a daemon waiting for the lock stops at once on SIGTERM"
hold_lock holder2
qs_start retention2 "$QS_RETENTION" --home "$QS_HOME"
qs_wait_log "${QS_DAEMON_LOG[retention2]}" 'waiting for it' 20 ||
    qs_fail "the daemon did not wait:"$'\n'"$(cat "${QS_DAEMON_LOG[retention2]}")"
qs_stop retention2 10 || qs_fail "qs-retention did not exit 0 on SIGTERM while waiting ($QS_STOP_RC)"
(( QS_STOP_MS < 5000 )) || qs_fail "qs-retention took ${QS_STOP_MS} ms to stop while waiting"
ret_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE $LOCK" >/dev/null
qs_stop holder2 10 || true

qs_step "the server restarts between two passes: the daemon reconnects, the next pass runs"
sed -i 's/^interval_seconds = .*/interval_seconds = 1/' "$QS_HOME/quietstate.conf"
grep -q '^interval_seconds = 1$' "$QS_HOME/quietstate.conf" || qs_fail "cannot set the interval"
qs_start retention3 "$QS_RETENTION" --home "$QS_HOME"
qs_wait_log "${QS_DAEMON_LOG[retention3]}" 'retention pass done' 20 ||
    qs_fail "no first pass:"$'\n'"$(cat "${QS_DAEMON_LOG[retention3]}")"
pg_restart || qs_fail "cannot restart PostgreSQL"
qs_wait_log "${QS_DAEMON_LOG[retention3]}" 'reconnected to the store' 30 ||
    qs_fail "qs-retention did not reconnect:"$'\n'"$(cat "${QS_DAEMON_LOG[retention3]}")"
n=$(grep -c 'retention pass done' "${QS_DAEMON_LOG[retention3]}")
qs_wait_until 20 "a pass after the restart" \
    bash -c "(( \$(grep -c 'retention pass done' '${QS_DAEMON_LOG[retention3]}') > $n ))"
qs_stop retention3 10 || qs_fail "qs-retention did not exit 0 on SIGTERM ($QS_STOP_RC)"

printf '%s: PASS\n' "$QS_LIB_NAME"
