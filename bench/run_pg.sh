# run_pg.sh - bench/run's phase 11: quietstate on PostgreSQL (docs/scale.md).
#
# Sourced by bench/run (its helpers: put, bench, jnum, commas, ratio, median,
# settle, new_site, stop_site, row). Needs a PostgreSQL server package
# (tests/pg/pg_lib.sh starts a throwaway one in the run's temp dir); SKIP
# without one. Measures, in one run:
#   (a) end to end on PostgreSQL, qs-broker + 2 qs-store workers, vs the
#       in-process ideal (qs-bench ideal: the same rows, the same statements,
#       the same database), alternately, median of RUNS; SQLite's pair beside
#       it (from phases 3-4, or one pair here with --only pg);
#   (b) cost growth on both engines (qs-bench grow): ingest of existing
#       machines picked at random over the key space into a store of
#       PG_GROW_ROWS latest rows and PG_GROW_HISTORY history rows (the
#       fill's, copied into earlier days) vs ingest into an empty store; bytes per
#       latest row and per history row (PostgreSQL: pg_total_relation_size,
#       indexes and TOAST included; SQLite: dbstat pages);
#   (c) `qsctl compliance` on PostgreSQL over PG_Q_CLIENTS x 20 latest rows
#       (filled with SQL in bulk, compliance_counts spread over the shards as
#       the workers leave them), median of 3.
# Sizes: PG_GROW_ROWS (default 2,000,000; the issue's size is 20,000,000),
# PG_GROW_HISTORY (default 5 x PG_GROW_ROWS; the issue's 100,000,000),
# PG_GROW_MSGS (200,000), PG_Q_CLIENTS (1,000,000), PG_CLIENTS and
# PG_MESSAGES for (a) (default: CLIENTS and MESSAGES), PG_GROW_ENGINES (the
# engines (b) measures: "sqlite pg", or one of them alone - the full size
# takes over an hour per engine) - environment variables.

pg_phase_sizes() {
    PG_GROW_ENGINES=${PG_GROW_ENGINES:-sqlite pg}
    [[ $PG_GROW_ENGINES =~ ^(sqlite|pg)( (sqlite|pg))?$ ]] ||
        qs_die "PG_GROW_ENGINES='$PG_GROW_ENGINES': give 'sqlite', 'pg' or 'sqlite pg'"
    if (( QUICK )); then
        PG_GROW_ROWS=${PG_GROW_ROWS:-40000}; PG_GROW_MSGS=${PG_GROW_MSGS:-20000}
        PG_GROW_HISTORY=${PG_GROW_HISTORY:-$(( PG_GROW_ROWS * 5 ))}
        PG_Q_CLIENTS=${PG_Q_CLIENTS:-5000}; PG_CLIENTS=${PG_CLIENTS:-100}
        PG_MESSAGES=${PG_MESSAGES:-20000}
    else
        PG_GROW_ROWS=${PG_GROW_ROWS:-2000000}; PG_GROW_MSGS=${PG_GROW_MSGS:-200000}
        PG_GROW_HISTORY=${PG_GROW_HISTORY:-$(( PG_GROW_ROWS * 5 ))}
        PG_Q_CLIENTS=${PG_Q_CLIENTS:-1000000}; PG_CLIENTS=${PG_CLIENTS:-$CLIENTS}
        PG_MESSAGES=${PG_MESSAGES:-$MESSAGES}
    fi
}

# pg_bytes_per_row: bytes of latest and of the history per row, into R.
pg_bytes_sqlite() {   # pg_bytes_sqlite DB TAG
    local lat hist n_lat n_hist
    lat=$(sqlite3 -readonly "$1" "SELECT SUM(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'latest')")
    hist=$(sqlite3 -readonly "$1" "SELECT SUM(pgsize) FROM dbstat WHERE name GLOB 'history_*'")
    n_lat=$(sqlite3 -readonly "$1" "SELECT COUNT(*) FROM latest")
    n_hist=$(sqlite3 -readonly "$1" "SELECT SUM(rows) FROM partitions")
    put "$2_latest_bytes_per_row" "$(awk -v a="$lat" -v n="$n_lat" 'BEGIN { printf "%.0f", a / n }')"
    put "$2_history_bytes_per_row" "$(awk -v a="$hist" -v n="$n_hist" 'BEGIN { printf "%.0f", a / n }')"
}
pg_bytes_pg() {   # pg_bytes_pg URL TAG
    local q
    q=$(psql -X -q -A -t -F ' ' "$1" -c "VACUUM ANALYZE" -c "
        SELECT (SELECT pg_total_relation_size('latest')) / greatest((SELECT count(*) FROM latest), 1),
               ((SELECT coalesce(sum(pg_total_relation_size(quote_ident(tablename)::regclass)), 0)
                FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'history\_%')
               / greatest((SELECT sum(rows) FROM partitions), 1))::bigint") || qs_fail "cannot size the PostgreSQL tables"
    put "$2_latest_bytes_per_row" "${q%% *}"
    put "$2_history_bytes_per_row" "${q##* }"
}

# (a) ideal and end to end on PostgreSQL, alternately.
pg_phase_e2e() {
    local run ideal=() e2e=()
    for run in $(seq 1 "$RUNS"); do
        qs_step "PostgreSQL ideal ($run/$RUNS): $PG_CLIENTS clients, $(commas "$PG_MESSAGES") messages, in process"
        QS_TEST_ENGINE=pg new_site "pgideal$run" 1
        settle
        bench pgideal ideal --home "$QS_HOME" --clients "$PG_CLIENTS" --messages "$PG_MESSAGES" --batch "$BATCH"
        ideal+=("$(jnum "$QS_TMP/pgideal.json" .msgs_per_s)")
        qs_info "ideal store on PostgreSQL     $(commas "${ideal[-1]}") msg/s"
        qs_step "PostgreSQL end to end ($run/$RUNS): broker + 2 workers"
        QS_TEST_ENGINE=pg new_site "pge2e$run" 1
        QS_TEST_ENGINE=pg QS_STORE_WORKERS=2 qs_start_site
        settle
        qs_expect_rc 0 "$QS_TMP/pg-sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
            --clients "$PG_CLIENTS" --messages "$PG_MESSAGES" --batch "$BATCH" \
            --timeout "$SIM_TIMEOUT" --format json
        e2e+=("$(jnum "$QS_TMP/pg-sim.json" .msgs_per_s)")
        qs_stats
        [[ $(qs_stat .stored) == "$PG_MESSAGES" ]] || qs_fail "qsctl stats says $(qs_stat .stored) stored on PostgreSQL, not $PG_MESSAGES"
        qs_expect_compliance "$QS_TMP/pg-sim.json"
        qs_info "end to end on PostgreSQL      $(commas "${e2e[-1]}") msg/s; all stored once, compliance as expected"
        stop_site
        qs_running store2 && { qs_stop store2 30 || qs_warn "store2 exited $QS_STOP_RC"; }
    done
    put pg_ideal_msgs_per_s "$(median "${ideal[@]}")"
    put pg_e2e_msgs_per_s "$(median "${e2e[@]}")"
    put pg_e2e_ratio "$(ratio "${R[pg_e2e_msgs_per_s]}" "${R[pg_ideal_msgs_per_s]}")"
    if [[ -z ${R[e2e_msgs_per_s]:-} ]]; then
        qs_step "SQLite beside it: ideal and end to end, once"
        new_site sqlideal 1
        bench sqlideal ideal --home "$QS_HOME" --clients "$PG_CLIENTS" --messages "$PG_MESSAGES" --batch "$BATCH"
        put ideal_msgs_per_s "$(jnum "$QS_TMP/sqlideal.json" .msgs_per_s)"
        new_site sqle2e 1
        qs_start_site
        qs_expect_rc 0 "$QS_TMP/sql-sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
            --clients "$PG_CLIENTS" --messages "$PG_MESSAGES" --batch "$BATCH" \
            --timeout "$SIM_TIMEOUT" --format json
        put e2e_msgs_per_s "$(jnum "$QS_TMP/sql-sim.json" .msgs_per_s)"
        stop_site
    fi
    qs_info "PostgreSQL: end to end $(commas "${R[pg_e2e_msgs_per_s]}") msg/s = ${R[pg_e2e_ratio]} x its ideal $(commas "${R[pg_ideal_msgs_per_s]}") (runs: ideal ${ideal[*]}; e2e ${e2e[*]})"
    qs_info "SQLite:     end to end $(commas "${R[e2e_msgs_per_s]}") msg/s = $(ratio "${R[e2e_msgs_per_s]}" "${R[ideal_msgs_per_s]}") x its ideal $(commas "${R[ideal_msgs_per_s]}")"
}

# (b) cost growth, both engines.
pg_phase_grow() {
    local clients=$(( PG_GROW_ROWS / 20 )) engine tag
    for engine in $PG_GROW_ENGINES; do
        tag=$engine
        qs_step "cost growth on $engine: $(commas "$PG_GROW_ROWS") latest rows, $(commas "$PG_GROW_HISTORY") history rows, then $(commas "$PG_GROW_MSGS") updates of random existing machines vs into an empty store"
        QS_TEST_ENGINE=$engine new_site "grow$engine" 1
        settle
        bench "grow$engine" grow --home "$QS_HOME" --clients "$clients" --messages "$PG_GROW_MSGS" \
            --batch "$BATCH" --history "$PG_GROW_HISTORY"
        # qs-bench's own account of the untimed set-up (settled in, page
        # cache read), for the reader of a slow full-store phase.
        grep -E "grow: store settled|settle: " "$QS_TMP/grow$engine.err" | sed 's/^[^ ]* qs-bench info: /    /' || true
        put "${tag}_grow_empty_msgs_per_s" "$(jnum "$QS_TMP/grow$engine.json" .empty_msgs_per_s)"
        put "${tag}_grow_full_msgs_per_s" "$(jnum "$QS_TMP/grow$engine.json" .grown_msgs_per_s)"
        put "${tag}_grow_ratio" "$(ratio "${R[${tag}_grow_full_msgs_per_s]}" "${R[${tag}_grow_empty_msgs_per_s]}")"
        if [[ $engine == pg ]]; then pg_bytes_pg "$QS_STORE_URL" "$tag"; else pg_bytes_sqlite "$QS_HOME/store.db" "$tag"; fi
        qs_info "$engine: full store $(commas "${R[${tag}_grow_full_msgs_per_s]}") msg/s = ${R[${tag}_grow_ratio]} x empty $(commas "${R[${tag}_grow_empty_msgs_per_s]}") msg/s; ${R[${tag}_latest_bytes_per_row]} B per latest row, ${R[${tag}_history_bytes_per_row]} B per history row"
        rm -rf "$QS_HOME"
    done
}

# (c) compliance over PG_Q_CLIENTS x 20 on PostgreSQL.
pg_phase_query() {
    local times=() i t0 total
    qs_step "compliance on PostgreSQL: $(commas "$PG_Q_CLIENTS") clients x 20 updates in latest"
    QS_TEST_ENGINE=pg new_site pgquery 5
    t0=$(date +%s)
    # Bulk fill (setup, not measured): the rows a fleet's workers would have
    # left, compliance_counts and installed_hours spread over the 16 shards
    # like 16 connections (scope_counts: the INSERT's own statement trigger,
    # docs/store.md).
    psql -X -q -v ON_ERROR_STOP=1 "$QS_STORE_URL" -c "
        INSERT INTO clients(pk, first_ms, last_ms)
          SELECT sha256(int8send(c)), 0, 0 FROM generate_series(1, $PG_Q_CLIENTS) c;
        INSERT INTO latest(client_id, topic_type, topic_id, state_id, time_ms, report_ms, machine_ps)
          SELECT c, 500, 'KB' || (5000001 + t), 1 + (c + t) % 3, $(now_ms), $(now_ms),
                 substring(sha256(int8send(c)) from 1 for 16)
          FROM generate_series(1, $PG_Q_CLIENTS) c, generate_series(0, 19) t;
        INSERT INTO compliance_counts(topic_type, topic_id, state_id, shard, count)
          SELECT topic_type, topic_id, state_id, client_id % 16, count(*) FROM latest
          GROUP BY 1, 2, 3, 4;
        INSERT INTO installed_hours(topic_type, topic_id, state_id, hour, shard, count)
          SELECT topic_type, topic_id, state_id, time_ms / 3600000, client_id % 16, count(*)
          FROM latest WHERE state_id IN (3, 4, 10) GROUP BY 1, 2, 3, 4, 5;" -c "VACUUM ANALYZE" >/dev/null || qs_fail "cannot fill latest on PostgreSQL"
    qs_info "filled $(commas $(( PG_Q_CLIENTS * 20 ))) latest rows in $(( $(date +%s) - t0 )) s"
    for i in 1 2 3; do
        t0=$(date +%s%N)
        qs_expect_rc 0 "$QS_TMP/pgcompliance.json" "$QSCTL" compliance --home "$QS_HOME" --format json
        times+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
    done
    total=$(jq '[.rows[] | select(.state_id != null) | .count] | add' "$QS_TMP/pgcompliance.json")
    [[ $total == $(( PG_Q_CLIENTS * 20 )) ]] || qs_fail "compliance counted $total on PostgreSQL, not $(( PG_Q_CLIENTS * 20 ))"
    put pg_query_ms "$(median "${times[@]}")"
    qs_info "qsctl compliance on PostgreSQL, whole fleet ${R[pg_query_ms]} ms (median of 3: ${times[*]} ms; the whole qsctl process)"
    rm -rf "$QS_HOME"
}

pg_phase() {   # pg_phase [growth]: growth runs (b) only
    PG_SKIP=""
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
        PG_SKIP="no PostgreSQL server package"
        qs_warn "phase 11 (PostgreSQL) skipped: $PG_SKIP"
        return 0
    fi
    pg_phase_sizes
    # The server as a DBA would set it up for a fleet of this size (the
    # tests' 64 MB of shared buffers are for many small throwaway servers):
    # a quarter of the memory for shared buffers (at most 8 GB), and WAL room
    # so that a checkpoint is not forced every few seconds of random updates.
    local mem_mb
    mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    PG_EXTRA_CONF=${PG_EXTRA_CONF:-"shared_buffers = $(( mem_mb / 4 > 8192 ? 8192 : mem_mb / 4 ))MB
max_wal_size = 16GB
checkpoint_timeout = 15min"}
    export PG_EXTRA_CONF
    qs_info "PostgreSQL server settings: $(tr '\n' ';' <<<"$PG_EXTRA_CONF")"
    if [[ ${1:-} == growth ]]; then pg_phase_grow; return 0; fi
    pg_phase_e2e
    pg_phase_grow
    pg_phase_query
}

# A measurement without a target: its line, verdict "-".
info_row() { printf '  %-48s %-34s %s\n' "$1" "$2" "-"; }

# The summary's rows of phase 11 (pg_phase_rows growth: the growth's only).
pg_phase_rows() {
    if [[ -n ${PG_SKIP:-} ]]; then
        row "PostgreSQL e2e (2 workers) >= 0.8 x its ideal" "SKIP: $PG_SKIP" skip
        return 0
    fi
    if [[ ${1:-} == growth ]]; then pg_growth_rows; return 0; fi
    row "PostgreSQL e2e (2 workers) >= 0.8 x its ideal" "${R[pg_e2e_ratio]} x ($(commas "${R[pg_e2e_msgs_per_s]}") / $(commas "${R[pg_ideal_msgs_per_s]}") msg/s)" "${R[pg_e2e_ratio]} >= 0.8"
    info_row "SQLite e2e beside it (same run)" "$(ratio "${R[e2e_msgs_per_s]}" "${R[ideal_msgs_per_s]}") x ($(commas "${R[e2e_msgs_per_s]}") / $(commas "${R[ideal_msgs_per_s]}"))"
    pg_growth_rows
    row "compliance $(commas "$PG_Q_CLIENTS") x 20 < 100 ms, PostgreSQL" "${R[pg_query_ms]} ms" "${R[pg_query_ms]} < 100"
}
engine_label() { [[ $1 == pg ]] && echo PostgreSQL || echo SQLite; }
pg_growth_rows() {
    local e name
    for e in pg sqlite; do   # an engine left out by PG_GROW_ENGINES has a SKIP row
        name=$(engine_label "$e")
        if [[ " $PG_GROW_ENGINES " != *" $e "* ]]; then
            R[${e}_grow_ratio]=SKIP
            row "$name full store >= 0.8 x empty" "SKIP: not in PG_GROW_ENGINES" skip
            continue
        fi
        row "$name full store >= 0.8 x empty" "${R[${e}_grow_ratio]} x at $(commas "$PG_GROW_ROWS") latest, $(commas "$PG_GROW_HISTORY") history rows" "${R[${e}_grow_ratio]} >= 0.8"
    done
    for e in pg sqlite; do   # bytes only of the engines measured
        [[ ${R[${e}_grow_ratio]} == SKIP ]] && continue
        info_row "bytes per latest / history row, $(engine_label "$e")" "${R[${e}_latest_bytes_per_row]} / ${R[${e}_history_bytes_per_row]} B"
    done
}
