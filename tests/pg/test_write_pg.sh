#!/usr/bin/env bash
# test_write_pg.sh - runs store/test_write_pg.c against a throwaway PostgreSQL server.
#
# Usage: test_write_pg.sh BINARY. Starts a server of its own (pg_lib.sh),
# passes its URI in QS_TEST_PG_URL, stops it whatever happens.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg_lib.sh"
bin=${1:?usage: test_write_pg.sh BINARY}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qs-writepg-XXXXXX")
cleanup() { pg_stop; rm -rf "$tmp"; }
trap cleanup EXIT
pg_start "$tmp" || { echo "FAIL: cannot start PostgreSQL"; exit 1; }
# As root the test runs as root (the server is someone else's): the
# database is reached through the socket, which the lib opened to all.
TMPDIR=$tmp QS_TEST_PG_URL=$PG_URL "$bin"
