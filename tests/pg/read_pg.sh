#!/usr/bin/env bash
# read_pg.sh - run store/test_read_pg.c against a PostgreSQL server of its own.
#
# Starts a throwaway server (pg_lib.sh) in a temporary directory, runs the
# test binary ($QS_TEST_READ_PG, or test_read_pg under $QS_BUILD_DIR) with
# the server's URI in QS_TEST_PG_URL, stops the server and removes the
# directory on exit. Exit status: the test's.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/pg_lib.sh"

bin=${QS_TEST_READ_PG:-}
if [[ -z $bin && -n ${QS_BUILD_DIR:-} ]]; then
    bin=$(find "$QS_BUILD_DIR" -type f -name test_read_pg -perm -u+x | head -n1)
fi
[[ -n $bin && -x $bin ]] || { echo "read_pg: test_read_pg not built (set QS_TEST_READ_PG or QS_BUILD_DIR)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/qs-read-pg.XXXXXX)
cleanup() { pg_stop; rm -rf "$tmp"; }
trap cleanup EXIT
pg_start "$tmp" || { echo "read_pg: cannot start PostgreSQL" >&2; exit 1; }
QS_TEST_PG_URL=$PG_URL timeout 240 "$bin"
