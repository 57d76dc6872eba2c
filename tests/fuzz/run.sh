#!/usr/bin/env bash
# run.sh - runs quietstate's libFuzzer targets, briefly for CTest or long by hand,
# and merges or minimises the committed seed corpus.
#
# Every run fuzzes a working corpus, never tests/fuzz/corpus/ itself:
#   --ci   (what CTest runs) a fresh copy of the seeds in
#          BUILD/tests/fuzz/work/TARGET/corpus, for QS_FUZZ_SECONDS (default 20) s;
#   else   a persistent corpus in tests/fuzz/corpus-work/TARGET/corpus (ignored
#          by git), with the seeds read alongside, for 600 s unless -t says.
# Crashes, leaks, timeouts and broken properties are saved next to the working
# corpus in crashes/ (crash-*, leak-*, timeout-*, oom-*) and make the run fail.
# --merge then adds to tests/fuzz/corpus/TARGET only the inputs that reach new
# coverage (libFuzzer -merge=1); --cmin drops merged seeds (SHA-1 names) that
# add none.
set -euo pipefail

ALL_TARGETS="envelope batch config policy time utf8 profile deb822 csv"
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
    cat >&2 <<USAGE
usage: tests/fuzz/run.sh [-b BUILD_DIR] [-t SECONDS] [-j JOBS] [--merge] [--cmin] [--ci] [TARGET...]
  TARGET      one of: $ALL_TARGETS (default: every one that is built)
  -b DIR      the build directory configured with -DQS_FUZZ=ON (default: $repo/build-fuzz)
  -t SECONDS  fuzzing time per target (default 600; with --ci, \$QS_FUZZ_SECONDS or 20)
  -j JOBS     parallel fuzzing processes per target (libFuzzer -fork; default 1)
  --merge     after fuzzing, merge inputs that add coverage into tests/fuzz/corpus/TARGET
  --cmin      do not fuzz: remove merged seeds (SHA-1 names) that add no coverage
  --ci        CTest mode: fuzz a fresh copy of the seeds in the build directory only
  -h, --help  this text
exit status: 0 no finding, 1 a fuzzer found something (see crashes/), 2 usage
USAGE
    exit 2
}

build="$repo/build-fuzz"
seconds=""
jobs=1
merge=0
cmin=0
ci=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    -b) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    -t) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    -j) [ $# -ge 2 ] || usage; jobs=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    --cmin) cmin=1; shift ;;
    --ci) ci=1; shift ;;
    -h|--help) usage ;;
    -*) echo "run.sh: unknown option '$1'" >&2; usage ;;
    *) case " $ALL_TARGETS " in
       *" $1 "*) targets+=("$1"); shift ;;
       *) echo "run.sh: unknown target '$1'" >&2; usage ;;
       esac ;;
    esac
done
if [ -z "$seconds" ]; then
    if [ "$ci" = 1 ]; then seconds=${QS_FUZZ_SECONDS:-20}; else seconds=600; fi
fi
case "$seconds" in ''|*[!0-9]*) echo "run.sh: seconds must be a whole number, not '$seconds'" >&2; usage ;; esac
case "$jobs" in ''|*[!0-9]*|0) echo "run.sh: jobs must be a positive number, not '$jobs'" >&2; usage ;; esac
if [ "$ci" = 1 ] && { [ "$merge" = 1 ] || [ "$cmin" = 1 ]; }; then
    echo "run.sh: --ci never writes to the repository: drop --merge/--cmin" >&2
    usage
fi

[ -d "$build" ] && build=$(cd "$build" && pwd)
bindir="$build/tests/fuzz"
if [ ${#targets[@]} -eq 0 ]; then
    for t in $ALL_TARGETS; do
        [ -x "$bindir/fuzz_$t" ] && targets+=("$t")
    done
    if [ ${#targets[@]} -eq 0 ]; then
        echo "run.sh: no fuzz targets in '$bindir': configure with" \
             "CC=clang cmake -S $repo -B $build -DQS_FUZZ=ON and build first" >&2
        exit 1
    fi
fi

failed=0
for t in "${targets[@]}"; do
    bin="$bindir/fuzz_$t"
    seeds="$here/corpus/$t"
    if [ ! -x "$bin" ]; then
        echo "run.sh: '$bin' is not built (make -C $build fuzz)" >&2
        exit 1
    fi
    if [ "$ci" = 1 ]; then
        work="$bindir/work/$t"
    else
        work="$repo/tests/fuzz/corpus-work/$t"
    fi
    opts=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "-artifact_prefix=$work/crashes/")
    [ -f "$here/dict/$t.dict" ] && opts+=("-dict=$here/dict/$t.dict")
    mkdir -p "$work/crashes" "$seeds"

    if [ "$cmin" = 1 ]; then
        kept=$(mktemp -d)
        "$bin" -merge=1 "${opts[@]}" "$kept" "$seeds" 2>"$work/cmin.log" || {
            echo "run.sh: fuzz_$t: minimising failed, see $work/cmin.log" >&2
            rm -rf "$kept"; failed=1; continue; }
        # libFuzzer names what it keeps by the SHA-1 of the content: drop the
        # committed files whose hash did not survive. Seeds with descriptive
        # names (make_seeds, regression inputs) stay whatever they cover.
        before=$(find "$seeds" -type f | wc -l)
        for f in "$seeds"/*; do
            [ -f "$f" ] || continue
            [[ $(basename "$f") =~ ^[0-9a-f]{40}$ ]] || continue
            h=$(sha1sum "$f" | cut -d' ' -f1)
            [ -e "$kept/$h" ] || rm -f "$f"
        done
        rm -rf "$kept"
        echo "run.sh: fuzz_$t: corpus $before -> $(find "$seeds" -type f | wc -l) files"
        continue
    fi

    if [ "$ci" = 1 ]; then
        rm -rf "$work/corpus"
        mkdir -p "$work/corpus"
        cp -R "$seeds/." "$work/corpus/"
        dirs=("$work/corpus")
    else
        mkdir -p "$work/corpus"
        dirs=("$work/corpus" "$seeds")
    fi
    [ "$jobs" -gt 1 ] && opts+=("-fork=$jobs")
    echo "run.sh: fuzz_$t for ${seconds}s on $work/corpus (crashes go to $work/crashes/)"
    if ! "$bin" "${opts[@]}" "-max_total_time=$seconds" "${dirs[@]}"; then
        echo "run.sh: fuzz_$t FAILED: input saved in $work/crashes/;" \
             "reproduce with: $bin $work/crashes/<file>" >&2
        failed=1
        continue
    fi
    if [ "$merge" = 1 ]; then
        before=$(find "$seeds" -type f | wc -l)
        "$bin" -merge=1 "${opts[@]}" "$seeds" "$work/corpus" 2>"$work/merge.log" || {
            echo "run.sh: fuzz_$t: merge failed, see $work/merge.log" >&2
            failed=1; continue; }
        echo "run.sh: fuzz_$t: merged into $seeds: $before -> $(find "$seeds" -type f | wc -l) files"
    fi
done
exit $failed
