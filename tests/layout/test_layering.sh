#!/usr/bin/env bash
# test_layering.sh - the structure docs/architecture.md promises, checked on the source tree.
#
# Fails (exit 1, each breach named) when:
#   - a file outside store/ includes store/'s private SQLite header, or holds
#     SQL over one of store.db's own tables (production code: tests of other
#     modules may inspect store.db read-only through the sqlite3 CLI);
#   - common/ includes a header of a program (the base knows no program);
#   - qsctl links the producer's library (the profile format is in common/);
#   - the broker includes a store header;
#   - a production .c file exceeds 800 lines or a function 100 lines.
# Usage: bash tests/layout/test_layering.sh [SOURCE_DIR]
set -uo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$ROOT" || exit 1
fail=0
breach() { echo "layering: $*"; fail=1; }

prod_sources() {   # production C sources and headers (no tests, no bench, no generated code)
    git ls-files -- '*.c' '*.h' 2>/dev/null | grep -v -E '(^|/)test_[^/]*\.c$|^tests/|^bench/' ||
        find . -name '*.[ch]' -not -path './build*' -not -path './tests/*' -not -path './bench/*' \
            -not -name 'test_*.c' | sed 's|^\./||'
}

# 1. store.db is store/'s: no private header, no SQL over its tables elsewhere.
while IFS= read -r f; do
    case $f in store/*) continue ;; esac
    grep -q '#include "storedb_sqlite.h"' "$f" && breach "$f includes store/'s private storedb_sqlite.h"
    grep -q -E '#include ["<](storedb_pg|pgutil|ops_pg|libpq-fe)\.h[">]' "$f" &&
        breach "$f includes the PostgreSQL engine's private headers or libpq (store/'s)"
    grep -n -E '"[^"]*\b(FROM|INTO|UPDATE|TABLE|JOIN)[[:space:]]+(latest|seen|partitions|compliance_counts|counters|history_[^"]*)\b' "$f" |
        while IFS= read -r hit; do echo "layering: $f: SQL over a store.db table: $hit"; done | grep . && fail=1
done < <(prod_sources)
for f in bench/*.c; do
    [[ -f $f ]] || continue
    grep -q -E '#include ["<](storedb_sqlite|storedb_pg|pgutil|ops_pg|libpq-fe)\.h[">]' "$f" &&
        breach "$f includes a store engine's private header (bench has store/qs_store_bench.h)"
done

# 2. common/ includes only common/ headers, the generated protobuf header and system headers.
for f in common/*.c common/*.h; do
    while IFS= read -r inc; do
        [[ -f common/$inc || $inc == quietstate.pb-c.h ]] || breach "$f includes \"$inc\", which is not in common/"
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done

# 3. qsctl links no endpoint code.
grep -n 'qs_producer_lib' ctl/CMakeLists.txt ctl/*.cmake 2>/dev/null | grep . &&
    breach "qsctl links qs_producer_lib (the profile format belongs to common/)"

# 4. The broker links and includes no store code.
grep -l -E '#include "(ingest|qs_storedb|storedb_sqlite|qs_epochkeys|qs_counts)\.h"' broker/*.c broker/*.h 2>/dev/null |
    while IFS= read -r f; do echo "layering: $f includes a store header"; done | grep . && fail=1

# 5. Sizes: a file has one job, a function fits a screen or two.
while IFS= read -r f; do
    [[ $f == *.c ]] || continue
    n=$(wc -l <"$f")
    (( n > 800 )) && breach "$f has $n lines (> 800: split it by its jobs)"
    awk -v F="$f" '
        /^[A-Za-z_].*\(/ { name = $0 }
        /^\{/ { start = NR }
        /^\}/ { if (start && NR - start > 100) printf "layering: %s:%d: function of %d lines (> 100): %s\n", F, start, NR - start, name; start = 0 }
    ' "$f" | grep . && fail=1
done < <(prod_sources)

if (( fail )); then
    echo "layering: FAILED (see docs/architecture.md)"
    exit 1
fi
echo "layering: ok"
