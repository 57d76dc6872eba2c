# pg_e2e_lib.sh - helpers of the PostgreSQL end-to-end and fault tests (tests/pg/pg_*.sh).
#
# Sourced, never run, after scripts/lib.sh and pg_lib.sh. A site whose store
# is a throwaway PostgreSQL server's database, one broker, several qs-store
# workers, and the checks over the database's tables (psql):
#
#   pge_setup [BUILD_DIR]   binaries, temp dir, server (stopped by the EXIT
#                           trap), `qsctl init --database`, policy k=1
#   pge_start_broker        qs-broker, listening on both ports
#   pge_start_worker NAME   one qs-store (tracked as NAME)
#   pge_sql SQL             one query, unaligned, no headers
#   pge_history_sql         a SELECT over every history_* partition
#   pge_exactly_once_violations
#                           one line per client breaking "serials 1..n stored
#                           once each, low_water = n, nothing left in seen"
#   pge_counts_mismatch     rows where compliance_counts (summed over shards)
#                           differs from latest grouped
#   pge_counter NAME        a counter summed over shards
#   pge_worker_stored NAME  what worker NAME says it stored (its stop line)

# shellcheck shell=bash disable=SC2034

PGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pge_setup() {
    qs_need_cmd jq psql sqlite3
    qs_find_bins "${1:-${QS_BIN_DIR:-${QS_BUILD_DIR:-}}}"
    qs_tmp_new
    pg_start "$QS_TMP" >"$QS_TMP/pg_start.out" 2>&1 ||
        qs_fail "cannot start PostgreSQL:"$'\n'"$(cat "$QS_TMP/pg_start.out")"
    qs_on_exit pg_stop
    qs_free_port QS_FRONT_PORT
    qs_free_port QS_BACK_PORT
    QS_FRONTEND="tcp://127.0.0.1:$QS_FRONT_PORT"
    QS_BACKEND="tcp://127.0.0.1:$QS_BACK_PORT"
    QS_HOME="$QS_TMP/site"
    qs_expect_rc 0 "$QS_TMP/init.out" "$QSCTL" init --home "$QS_HOME" --frontend "$QS_FRONTEND" \
        --backend "$QS_BACKEND" --database "$PG_URL"
    [[ ! -e $QS_HOME/store.db ]] || qs_fail "qsctl init --database made a store.db too"
    grep -q "^database = $PG_URL\$" "$QS_HOME/quietstate.conf" ||
        qs_fail "quietstate.conf has no [store] database = $PG_URL"
    ls "$QS_HOME"/keys/epochs/chain-*.state >/dev/null 2>&1 ||
        qs_fail "qsctl init --database made no epoch key chains"
    qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 \
        --as "$QS_LIB_NAME"
}

pge_start_broker() {
    qs_start broker "$QS_BROKER" --home "$QS_HOME"
    qs_wait_listen "$QS_FRONT_PORT" 20 || qs_fail "qs-broker does not listen on $QS_FRONTEND"
    qs_wait_listen "$QS_BACK_PORT" 20 || qs_fail "qs-broker does not listen on $QS_BACKEND"
}

pge_start_worker() {
    qs_start "$1" "$QS_STORE" --home "$QS_HOME"
}

pge_sql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
}

pge_history_sql() {
    local t sql=""
    for t in $(pge_sql "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
                        AND tablename ~ '^history_[0-9]+_[0-9]+\$' ORDER BY 1"); do
        sql+="${sql:+ UNION ALL }SELECT client_id, serial FROM $t"
    done
    printf '%s' "${sql:-SELECT 0::bigint AS client_id, 0::bigint AS serial WHERE false}"
}

pge_exactly_once_violations() {
    pge_sql "
        WITH h AS ($(pge_history_sql)),
             per AS (SELECT client_id, count(*) AS n, count(DISTINCT serial) AS nd,
                            min(serial) AS lo, max(serial) AS hi FROM h GROUP BY client_id),
             s AS (SELECT client_id, count(*) AS ns FROM seen GROUP BY client_id)
        SELECT c.client_id, c.low_water, coalesce(per.n, 0), coalesce(per.nd, 0),
               coalesce(per.lo, 0), coalesce(per.hi, 0), coalesce(s.ns, 0)
        FROM clients c LEFT JOIN per USING (client_id) LEFT JOIN s USING (client_id)
        WHERE NOT (coalesce(per.n, 0) = coalesce(per.nd, 0)
                   AND coalesce(per.n, 0) = c.low_water
                   AND (c.low_water = 0 OR (per.lo = 1 AND per.hi = c.low_water))
                   AND coalesce(s.ns, 0) = 0)
        ORDER BY c.client_id" | tr '|' ' '
}

pge_counts_mismatch() {
    pge_sql "
        WITH cc AS (SELECT topic_type, topic_id, state_id, sum(count) AS n FROM compliance_counts
                    GROUP BY 1, 2, 3 HAVING sum(count) <> 0),
             l AS (SELECT topic_type, topic_id, state_id, count(*) AS n FROM latest GROUP BY 1, 2, 3)
        SELECT count(*) FROM ((SELECT * FROM cc EXCEPT SELECT * FROM l)
                              UNION ALL (SELECT * FROM l EXCEPT SELECT * FROM cc)) x"
}

pge_counter() {
    pge_sql "SELECT coalesce(sum(value), 0) FROM counters WHERE name = '$1'"
}

pge_history_rows() {
    pge_sql "SELECT count(*) FROM ($(pge_history_sql)) h"
}

# The last "stats:" line a worker logged (on SIGTERM it logs one).
pge_worker_stored() {
    grep -o 'stats: [0-9]* envelopes, [0-9]* stored' "$QS_TMP/$1.log" | tail -n 1 |
        awk '{ print $4 }'
}
