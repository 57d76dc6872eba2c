#!/usr/bin/env bash
# pg_migrate.sh - qsctl migrate: an SQLite site, filled by real processes,
# moves into a real PostgreSQL server of the test's own; nothing changes.
#
# A fresh SQLite site runs qs-broker and qs-store; `qs-producer simulate`
# delivers CLIENTS x MESSAGES. Then:
#   - migrate is refused while qs-store runs (store.lock held), with a
#     password in the URL (usage error 2), into a database holding a
#     history_* table; quietstate.conf stays as it was each time;
#   - migrate into an empty database exits 0; every table is equal row for
#     row on both sides (sqlite3 dump vs psql dump), details sealed again
#     under the epoch key chains and opened alike by lookup --history,
#     the identity sequence continues past the largest client_id, the conf
#     says [store] database = URL and the audit log has a "migrate" entry;
#   - qsctl compliance (and its --trend: two daily snapshots are copied) /
#     stats / lookup print the same before and after,
#     old key files are shredded, qsctl verify passes;
#   - the site then ingests on PostgreSQL with two workers: an old client's
#     serials continue, a new client gets an id past the copied ones;
#   - a second migrate of the same SQLite store into the (now full) target
#     is refused as not empty, and the target keeps its rows.
# Usage: tests/pg/pg_migrate.sh [BUILD_DIR]   (or QSCTL=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh"

CLIENTS=${QS_MIGRATE_CLIENTS:-30}
MESSAGES=${QS_MIGRATE_MESSAGES:-3000}

qs_need_cmd jq sqlite3 psql
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
CONF="$QS_HOME/quietstate.conf"
STORE_DB="$QS_HOME/store.db"
qs_start_site

qs_step "fill the SQLite site: $CLIENTS clients, $MESSAGES messages"
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as pg-migrate
qs_expect_rc 0 "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
    --clients "$CLIENTS" --messages "$MESSAGES" --format json
qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$MESSAGES"
# Simulated clients send no details: one client with details, so that
# re-sealing them under the key chains is checked (lookup opens them).
qs_enroll migrate-details
for i in 1 2 3; do
    qs_report migrate-details --topic-type 500 --topic-id "KB50302$i" --state 2 \
        --machine PC-MIGRATE-1 --domain CORP --details "0x8007000$i install failed $i"
done
qs_flush migrate-details 30
qs_expect_eq "flush of the client with details" "$QS_RC" 0

qs_step "PostgreSQL of the test's own"
pg_start "$QS_TMP" || qs_fail "cannot start PostgreSQL (pg_lib.sh)"
qs_on_exit pg_stop

qs_step "refused while qs-store runs"
cp "$CONF" "$QS_TMP/conf.sqlite"
qs_expect_rc 1 "$QS_TMP/running.out" "$QSCTL" migrate --home "$QS_HOME" --to "$PG_URL"
grep -q "qs-store is running" "$QS_TMP/running.out.err" ||
    qs_fail "no 'qs-store is running' message: $(cat "$QS_TMP/running.out.err")"
cmp -s "$CONF" "$QS_TMP/conf.sqlite" || qs_fail "quietstate.conf changed by a refused migrate"

qs_step "before: compliance, its trend (two daily snapshots), stats, lookup on SQLite"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"
RETENTION=${QS_RETENTION:-$(find "${QS_BIN_DIR:-${QS_BUILD_DIR:-${1:-.}}}" -maxdepth 3 -type f -name qs-retention -perm -u+x | head -n 1)}
[[ -x $RETENTION ]] || qs_die "cannot find qs-retention (set QS_RETENTION)"
for d in -1 0; do
    qs_expect_rc 0 "$QS_TMP/retention$d.out" env QS_CLOCK_OFFSET_S=$(( d * 86400 )) \
        "$RETENTION" --home "$QS_HOME" --once
done
snapshot() {   # snapshot TAG: what qsctl says about the site
    "$QSCTL" compliance --home "$QS_HOME" --format json >"$QS_TMP/compliance.$1" ||
        qs_fail "qsctl compliance failed ($1)"
    "$QSCTL" stats --home "$QS_HOME" --format json |
        jq -S 'del(.broker, .store_file_bytes, .database, .engine) | del(..|.updated_utc?)' \
        >"$QS_TMP/stats.$1" || qs_fail "qsctl stats failed ($1)"
    "$QSCTL" lookup --home "$QS_HOME" --machine PC-MIGRATE-1 --domain CORP --history --format json \
        >"$QS_TMP/lookup.$1" || qs_fail "qsctl lookup failed ($1)"
    "$QSCTL" compliance --home "$QS_HOME" --trend --days 3 --format json >"$QS_TMP/trend.$1" ||
        qs_fail "qsctl compliance --trend failed ($1)"
}
# A topic id with COPY's special characters (tab, backslash, newline, CR)
# and a row without pseudonyms: the text format's escapes must hold. The
# trigger on latest counts it into compliance_counts as the store would.
sqlite3 -batch "$STORE_DB" "INSERT INTO latest VALUES (1, 500, 'KB' || char(9) || char(92) || 'N' || char(10) || char(13) || 'x', 2, CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000, NULL, NULL)"
snapshot sqlite

qs_step "refused: a password in the URL (usage error, nothing written)"
qs_expect_rc 2 "$QS_TMP/password.out" "$QSCTL" migrate --home "$QS_HOME" \
    --to "postgresql://qs:secret@localhost/quietstate"
grep -q "password" "$QS_TMP/password.out.err" || qs_fail "no word about the password: $(cat "$QS_TMP/password.out.err")"
qs_expect_rc 2 "$QS_TMP/password2.out" "$QSCTL" migrate --home "$QS_HOME" \
    --to "postgresql:///quietstate?password=secret"
cmp -s "$CONF" "$QS_TMP/conf.sqlite" || qs_fail "quietstate.conf changed by a refused migrate"

qs_step "refused: a target that holds a history table"
"$PG_BIN/createdb" -h "$PG_SOCKDIR" -p "${PG_TCP_PORT:-5432}" -U qs other
OTHER_URL=${PG_URL/\/quietstate?//other?}
psql -X -q -v ON_ERROR_STOP=1 "$OTHER_URL" -c "CREATE TABLE history_1_1(x int)"
qs_expect_rc 1 "$QS_TMP/other.out" "$QSCTL" migrate --home "$QS_HOME" --to "$OTHER_URL"
grep -q "not empty" "$QS_TMP/other.out.err" || qs_fail "no 'not empty': $(cat "$QS_TMP/other.out.err")"
cmp -s "$CONF" "$QS_TMP/conf.sqlite" || qs_fail "quietstate.conf changed by a refused migrate"

qs_step "migrate into the empty database"
# An operator's empty "database =" line (SQLite) is replaced, not doubled.
sed -i '/^\[store\]/a database =' "$CONF"
qs_expect_rc 0 "$QS_TMP/migrate.json" "$QSCTL" migrate --home "$QS_HOME" --to "$PG_URL" \
    --as pg-migrate --format json
qs_info "$(cat "$QS_TMP/migrate.json")"
grep -qxF "database = $PG_URL" "$CONF" || qs_fail "quietstate.conf has no [store] database line:"$'\n'"$(cat "$CONF")"
qs_expect_eq "database lines in quietstate.conf" "$(grep -c '^database' "$CONF")" 1
[[ $(stat -c %a "$CONF") == 600 ]] || qs_fail "quietstate.conf mode is $(stat -c %a "$CONF"), not 600"
[[ -f $STORE_DB ]] || qs_fail "store.db was removed"
"$QSCTL" audit show --home "$QS_HOME" --format json |
    jq -e '[.entries[] | select(.action == "migrate")] | length == 1' >/dev/null ||
    qs_fail "no migrate entry in the audit log"
qs_expect_rc 0 "$QS_TMP/audit_verify.out" "$QSCTL" audit verify --home "$QS_HOME"

qs_step "every table equal on both sides"
lite() { sqlite3 -readonly -batch -noheader "$STORE_DB" "$1"; }
n=$(lite "SELECT COUNT(*) FROM latest")
qs_expect_eq "migrate .latest" "$(jq .latest "$QS_TMP/migrate.json")" "$n"
qs_expect_eq "migrate .history_rows" "$(jq .history_rows "$QS_TMP/migrate.json")" \
    "$(lite "SELECT SUM(rows) FROM partitions")"
same() {   # same WHAT SQLITE_SQL PG_SQL
    lite "$2" >"$QS_TMP/lite.$1"
    pg_sql "$3" >"$QS_TMP/pg.$1"
    cmp -s "$QS_TMP/lite.$1" "$QS_TMP/pg.$1" ||
        qs_fail "$1 differs after migrate:"$'\n'"$(diff "$QS_TMP/lite.$1" "$QS_TMP/pg.$1" | head -n 10)"
    qs_info "$1: $(wc -l <"$QS_TMP/lite.$1") rows equal"
}
same clients "SELECT client_id, lower(hex(pk)), low_water, first_ms, last_ms FROM clients ORDER BY 1" \
    "SELECT client_id, encode(pk, 'hex'), low_water, first_ms, last_ms FROM clients ORDER BY 1"
same seen "SELECT client_id, serial FROM seen ORDER BY 1, 2" \
    "SELECT client_id, serial FROM seen ORDER BY 1, 2"
same latest "SELECT client_id, topic_type, topic_id, state_id, time_ms, report_ms, lower(hex(machine_ps)), lower(hex(domain_ps)) FROM latest ORDER BY 1, 2, 3" \
    "SELECT client_id, topic_type, topic_id, state_id, time_ms, report_ms, encode(machine_ps, 'hex'), encode(domain_ps, 'hex') FROM latest ORDER BY 1, 2, 3"
same compliance_counts "SELECT topic_type, topic_id, state_id, count FROM compliance_counts ORDER BY 1, 2, 3" \
    "SELECT topic_type, topic_id, state_id, sum(count) FROM compliance_counts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
same compliance_daily "SELECT day, topic_type, topic_id, state_id, count FROM compliance_daily ORDER BY 1, 2, 3, 4" \
    "SELECT day, topic_type, topic_id, state_id, count FROM compliance_daily ORDER BY 1, 2, 3, 4"
same counters "SELECT name, value FROM counters ORDER BY 1" \
    "SELECT name, sum(value) FROM counters GROUP BY 1 ORDER BY 1"
same partitions "SELECT epoch, topic_type, rows FROM partitions ORDER BY 1, 2" \
    "SELECT epoch, topic_type, sum(rows) FROM partitions GROUP BY 1, 2 ORDER BY 1, 2"
for t in $(lite "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'history_*' ORDER BY 1"); do
    [[ $t =~ ^history_[0-9]+_[0-9]+$ ]] || continue
    # details are sealed again under the chains: compared opened, by lookup.
    same "$t" "SELECT client_id, serial, state_id, topic_id, time_ms, lower(hex(machine_ps)), lower(hex(domain_ps)), lower(hex(user_ps)), details IS NULL, length(details) FROM $t ORDER BY 1, 2" \
        "SELECT client_id, serial, state_id, topic_id, time_ms, encode(machine_ps, 'hex'), encode(domain_ps, 'hex'), encode(user_ps, 'hex'), CASE WHEN details IS NULL THEN 1 ELSE 0 END, length(details) FROM $t ORDER BY 1, 2"
done
qs_expect_eq "history tables in PostgreSQL" \
    "$(pg_sql "SELECT count(*) FROM pg_tables WHERE tablename ~ '^history_[0-9]+_[0-9]+$'")" \
    "$(lite "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 'history_*'")"
max=$(lite "SELECT MAX(client_id) FROM clients")
next=$(pg_sql "SELECT nextval(pg_get_serial_sequence('clients', 'client_id'))")
(( next > max )) || qs_fail "the client_id sequence gives $next, not past the largest id $max"

qs_step "epoch keys: chains in force, the old key files shredded"
resealed=$(jq .resealed "$QS_TMP/migrate.json")
with_details=$(for t in $(lite "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'history_*'"); do
    lite "SELECT COUNT(*) FROM $t WHERE details IS NOT NULL"; done | awk '{ s += $1 } END { print s + 0 }')
qs_expect_eq "migrate .resealed (history rows with details)" "$resealed" "$with_details"
(( with_details > 0 )) || qs_fail "no history row has details: the re-sealing proved nothing"
ls "$QS_HOME"/keys/epochs/chain-*.state >/dev/null 2>&1 || qs_fail "no key chain in keys/epochs"
left=$(find "$QS_HOME/keys/epochs" -name '*.key' | wc -l)
qs_expect_eq "per-partition key files left" "$left" 0
[[ ! -e $QS_HOME/keys/epochs.migrate ]] || qs_fail "the staging directory keys/epochs.migrate is left"

qs_step "after: compliance, stats, lookup --history (details opened) on PostgreSQL print the same"
snapshot pg
qs_expect_eq "days with a snapshot before migrate" "$(jq '.days - (.missing_days | length)' "$QS_TMP/trend.sqlite")" 2
for w in compliance stats lookup trend; do
    cmp -s "$QS_TMP/$w.sqlite" "$QS_TMP/$w.pg" ||
        qs_fail "qsctl $w differs after migrate:"$'\n'"$(diff "$QS_TMP/$w.sqlite" "$QS_TMP/$w.pg" | head -n 10)"
done
jq -e '[.rows[]? | select(.details != null)] | length > 0' "$QS_TMP/lookup.pg" >/dev/null ||
    qs_fail "lookup --history on PostgreSQL opened no details: $(head -c 600 "$QS_TMP/lookup.pg")"
# As docs/operators.md says: qs-retention runs again before the checks (it
# moves each new key chain to the policy's cutoff).
qs_expect_rc 0 "$QS_TMP/retention.out" "$RETENTION" --home "$QS_HOME" --once
qs_expect_rc 0 "$QS_TMP/verify.out" "$QSCTL" verify --home "$QS_HOME"

qs_step "the migrated site ingests on PostgreSQL with two workers"
qs_start_site
qs_start store2 "$QS_STORE" --home "$QS_HOME"
# An old client goes on (its serials continue: dedup state was copied) and
# a new one gets a client_id past every copied one.
for i in 4 5; do
    qs_report migrate-details --topic-type 500 --topic-id "KB50302$i" --state 1 \
        --machine PC-MIGRATE-1 --domain CORP --details "after $i"
done
qs_flush migrate-details 60
qs_expect_eq "flush of the old client after migrate" "$QS_RC" 0
qs_enroll after-migrate
for i in 1 2 3 4 5; do
    qs_report after-migrate --topic-type 500 --topic-id "KB60000$i" --state 2 --machine PC-NEW-1
done
qs_flush after-migrate 60
qs_expect_eq "flush of a new client after migrate" "$QS_RC" 0
qs_stats
qs_expect_eq "stats .stored after more messages" "$(qs_stat .stored)" "$((MESSAGES + 3 + 2 + 5))"
qs_expect_eq "clients" "$(pg_sql "SELECT count(*) FROM clients")" "$((CLIENTS + 2))"
newest=$(pg_sql "SELECT max(client_id) FROM clients")
(( newest > max )) || qs_fail "the new client got id $newest, not past $max"
qs_stop store2 10 || qs_fail "store2 exited $QS_STOP_RC on SIGTERM"
qs_stop store 10 || qs_fail "qs-store exited $QS_STOP_RC on SIGTERM"
qs_stop broker 10 || qs_fail "qs-broker exited $QS_STOP_RC on SIGTERM"

qs_step "refused: the same store again into the now full database"
migrated_conf=$(cat "$CONF")
n_pg=$(pg_sql "SELECT count(*) FROM latest")
cp "$QS_TMP/conf.sqlite" "$CONF"
qs_expect_rc 1 "$QS_TMP/again.out" "$QSCTL" migrate --home "$QS_HOME" --to "$PG_URL"
grep -q "not empty" "$QS_TMP/again.out.err" || qs_fail "no 'not empty': $(cat "$QS_TMP/again.out.err")"
cmp -s "$CONF" "$QS_TMP/conf.sqlite" || qs_fail "quietstate.conf changed by a refused migrate"
qs_expect_eq "latest rows in PostgreSQL after the refusal" \
    "$(pg_sql "SELECT count(*) FROM latest")" "$n_pg"
printf '%s\n' "$migrated_conf" >"$CONF"
echo "pg_migrate: PASS"
