# pg_lib.sh - a real PostgreSQL server of the test's own, in a temporary directory.
#
# Sourced by the tests that run quietstate on PostgreSQL. pg_start DIR makes
# a cluster in DIR/pg (initdb, trust authentication on a Unix socket in
# DIR/pg only, no TCP unless PG_TCP_PORT is set), starts it with pg_ctl
# and creates the database "quietstate"; it sets PG_URL to a libpq URI for
# it. As root, the server runs as an unprivileged user (postgres if Debian's
# package made it, nobody otherwise): PostgreSQL refuses to run as root.
# pg_stop stops it (fast), pg_restart restarts it (for fault tests), and
# pg_kill kills the postmaster with SIGKILL. Nothing here touches the
# system's own clusters.
#
# Variables: PG_BIN (the server's bin directory, found), PG_DIR, PG_URL,
# PG_SOCKDIR, PG_TCP_PORT (optional: also listen on 127.0.0.1:PORT or on
# the address in PG_TCP_ADDR).

pg_find_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/initdb && -x $d/pg_ctl ]] && PG_BIN=$d
    done
    [[ -n ${PG_BIN:-} ]] || { echo "pg_lib: PostgreSQL server not installed (apt-get install postgresql; scripts/setup.sh does)" >&2; return 1; }
}

# pg_as CMD...: run a server command as the cluster's owner.
pg_as() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$PG_OWNER" -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    local dir=$1 listen="''"
    pg_find_bin || return 1
    PG_DIR=$dir/pg
    PG_SOCKDIR=$PG_DIR/sock
    PG_OWNER=$(id -un)
    if [[ $(id -u) -eq 0 ]]; then
        PG_OWNER=nobody
        getent passwd postgres >/dev/null && PG_OWNER=postgres
    fi
    mkdir -p "$PG_DIR/data" "$PG_SOCKDIR"
    chmod 0755 "$dir" "$PG_DIR"
    [[ $(id -u) -eq 0 ]] && chown -R "$PG_OWNER" "$PG_DIR"
    # The owner must be able to reach the directory (mktemp makes it 0700).
    chmod o+x "$dir" 2>/dev/null || true
    pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U qs --auth=trust -E UTF8 --no-locale \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    [[ -n ${PG_TCP_PORT:-} ]] && listen="'${PG_TCP_ADDR:-127.0.0.1}'"
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = $listen
port = ${PG_TCP_PORT:-5432}
unix_socket_directories = '$PG_SOCKDIR'
fsync = on
synchronous_commit = on
max_connections = 60
shared_buffers = 64MB
log_min_messages = warning
EOF
    # PG_EXTRA_CONF: more postgresql.conf lines (bench/run tunes the server
    # as a site's DBA would for a big fleet); later lines win.
    [[ -n ${PG_EXTRA_CONF:-} ]] && printf '%s\n' "$PG_EXTRA_CONF" >>"$PG_DIR/data/postgresql.conf"
    if [[ -n ${PG_TCP_PORT:-} ]]; then
        echo "host all all 0.0.0.0/0 trust" >>"$PG_DIR/data/pg_hba.conf"
    fi
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
        >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
    "$PG_BIN/createdb" -h "$PG_SOCKDIR" -p "${PG_TCP_PORT:-5432}" -U qs quietstate || return 1
    PG_URL="postgresql:///quietstate?host=$PG_SOCKDIR&port=${PG_TCP_PORT:-5432}&user=qs"
    export PG_URL
}

# pg_sql SQL: run SQL in the test's database, unaligned output without headers.
pg_sql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
}

pg_stop() {
    [[ -n ${PG_DIR:-} && -d $PG_DIR/data ]] || return 0
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || pg_kill
}

pg_restart() {
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -m fast -w -t 60 restart \
        >/dev/null
}

pg_kill() {
    local pid
    pid=$(head -n1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) || return 0
    [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
    sleep 0.5
    pkill -9 -f -- "-D $PG_DIR/data" 2>/dev/null || true
}
