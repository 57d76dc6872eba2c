#!/usr/bin/env bash
# test.sh - every test quietstate has, in the builds that find different bugs.
#
# Stages (each runs even when an earlier one failed; the last line sums them):
#   1. gcc build in build/ (-Wall -Wextra -Werror from CMake): all CTest tests
#      (unit, end-to-end, fault injection and whatever else is registered);
#   2. clang build with -DQS_SANITIZE=ON (ASan + UBSan) in build-asan/: the
#      "unit" and "e2e" labels again;
#   3. valgrind memcheck over the gcc build's unit test binaries (label "unit"),
#      definite leaks and memory errors fail;
#   4. when tests/fuzz/CMakeLists.txt exists: clang build with -DQS_FUZZ=ON in
#      build-fuzz/, label "fuzz" (the fuzzers run for the time their CTest
#      entries give them).
# Prints "N passed, N failed" over all stages (a build that fails counts as
# one failed test, and the tests it could build still run) and exits 1 if
# anything failed. Uses -j2 (2-core machines).
# QS_TEST_STAGES="gcc asan valgrind fuzz" selects stages.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STAGES=${QS_TEST_STAGES:-gcc asan valgrind fuzz}
JOBS=${QS_TEST_JOBS:-2}
BUILD_ROOT=${QS_TEST_BUILD_ROOT:-$ROOT}   # where build*/ go (default: the source tree)
LOGDIR=${QS_TEST_LOGDIR:-$BUILD_ROOT/build-logs}
TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
START=$(date +%s)

mkdir -p "$LOGDIR"
step() { printf '\n==== %s  [%ds]\n' "$*" "$(( $(date +%s) - START ))"; }

count() {   # count STAGE PASSED FAILED
    TOTAL_PASSED=$((TOTAL_PASSED + $2))
    TOTAL_FAILED=$((TOTAL_FAILED + $3))
    SUMMARY+=("$(printf '%-10s %4d passed, %d failed' "$1" "$2" "$3")")
}

# configure DIR COMPILER CMAKE_ARGS...: (re)configure; a cache made with
# another compiler is removed first.
configure() {
    local dir=$1 cc cached
    cc=$(command -v "$2") || { echo "test: compiler '$2' not found"; return 1; }
    shift 2
    if [[ -f $dir/CMakeCache.txt ]]; then
        cached=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt")
        if [[ -n $cached && $(realpath "$cached") == $(realpath "$cc") ]]; then
            cmake -S "$ROOT" -B "$dir" "$@"     # same compiler (cc may be gcc)
            return
        fi
        echo "test: $dir was configured with ${cached:-another compiler}; starting it afresh with $cc"
        rm -rf "$dir"
    fi
    CC=$cc cmake -S "$ROOT" -B "$dir" -DCMAKE_C_COMPILER="$cc" "$@"
}

# build STAGE DIR COMPILER CMAKE_ARGS...: configure and make; 0 or counted failure.
build() {
    local stage=$1 dir=$2 cc=$3 log="$LOGDIR/$1-build.log"
    shift 3
    step "$stage: configure and build ($cc $*) in $dir"
    if ! { configure "$dir" "$cc" "$@" && make -C "$dir" -j"$JOBS" -k; } >"$log" 2>&1; then
        grep -E -A3 'error:|CMake Error|undefined reference' "$log" | head -n 60
        echo "test: $stage build FAILED (full log: $log)"
        count "$stage" 0 1
        return 1
    fi
    echo "built ($(grep -c 'Linking' "$log") targets linked; log: $log)"
}

# run_ctest STAGE DIR CTEST_ARGS...: run ctest, add its counts.
run_ctest() {
    local stage=$1 dir=$2 log="$LOGDIR/$1-ctest.log" rc=0 line passed failed total
    shift 2
    step "$stage: ctest $*"
    if [[ ! -f $dir/CTestTestfile.cmake ]]; then
        echo "test: $stage: not configured, no test to run"
        count "$stage" 0 1
        return
    fi
    (cd "$dir" && ctest --output-on-failure --no-tests=error -j"$JOBS" "$@") 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    if [[ -n $line ]]; then
        failed=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
        total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
        passed=$((total - failed))
        if (( rc != 0 && failed == 0 )); then failed=1; fi
    else
        echo "test: $stage: ctest ran no test or did not finish (exit $rc)"
        passed=0
        failed=1
    fi
    count "$stage" "$passed" "$failed"
}

# valgrind over every test with label "unit" in DIR (the commands CTest would run).
run_valgrind() {
    local dir=$1 json="$LOGDIR/valgrind-tests.json" passed=0 failed=0 n i name wd log
    local -a cmd
    step "valgrind: memcheck over the unit tests of $dir"
    if ! (cd "$dir" && ctest -L unit --show-only=json-v1) >"$json" 2>"$LOGDIR/valgrind-list.err"; then
        echo "test: cannot list the unit tests of $dir"
        count valgrind 0 1
        return
    fi
    n=$(jq '.tests | length' "$json")
    if (( n == 0 )); then
        echo "test: no unit tests to run under valgrind"
        count valgrind 0 1
        return
    fi
    for ((i = 0; i < n; i++)); do
        name=$(jq -r ".tests[$i].name" "$json")
        mapfile -t cmd < <(jq -r "(.tests[$i].command // [])[]" "$json")
        wd=$(jq -r "(.tests[$i].properties // [])[] | select(.name == \"WORKING_DIRECTORY\") | .value" "$json")
        [[ -n $wd ]] || wd=$dir
        log="$LOGDIR/valgrind-$name.log"
        if (( ${#cmd[@]} == 0 )); then
            printf '    FAIL  %s (not built)\n' "$name"
            failed=$((failed + 1))
            continue
        fi
        # Only our own test programs: a unit test driven by a script (sh,
        # bash) ran in the gcc stage; valgrind would check the shell.
        if [[ ${cmd[0]} != "$dir"/* || $(head -c 4 "${cmd[0]}" 2>/dev/null | od -An -c | tr -d ' ') != '177ELF' ]]; then
            printf '    skip  %s (not a test program of this build: %s)\n' "$name" "${cmd[0]}"
            continue
        fi
        if (cd "$wd" && timeout 900 valgrind --tool=memcheck --leak-check=full \
                --errors-for-leak-kinds=definite --error-exitcode=1 --track-fds=no \
                --quiet --log-file="$log.vg" "${cmd[@]}") >"$log" 2>&1; then
            printf '    ok    %s\n' "$name"
            passed=$((passed + 1))
        else
            printf '    FAIL  %s (log: %s, %s.vg)\n' "$name" "$log" "$log"
            tail -n 40 "$log.vg" | sed 's/^/        /'
            tail -n 10 "$log" | sed 's/^/        /'
            failed=$((failed + 1))
        fi
    done
    count valgrind "$passed" "$failed"
}

# The summary is printed on any exit, so that a crash of this script itself
# still ends with the counts (and counts as a failure).
FINISHED=0
finish() {
    if (( FINISHED == 0 )); then
        echo "test: scripts/test.sh stopped early"
        count test.sh 0 1
    fi
    step "summary (logs in $LOGDIR)"
    printf '%s\n' "${SUMMARY[@]}"
    echo "took $(( $(date +%s) - START )) s"
    echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
    if (( TOTAL_FAILED == 0 && TOTAL_PASSED > 0 )); then exit 0; fi
    exit 1
}
trap finish EXIT

step "setup"
if ! bash "$ROOT/scripts/setup.sh"; then
    echo "test: scripts/setup.sh failed; continuing with what is installed"
fi

for stage in $STAGES; do
    case $stage in
    gcc)
        build gcc "$BUILD_ROOT/build" gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQS_SANITIZE=OFF -DQS_FUZZ=OFF
        run_ctest gcc "$BUILD_ROOT/build"
        ;;
    asan)
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
        build asan "$BUILD_ROOT/build-asan" clang -DCMAKE_BUILD_TYPE=Debug -DQS_SANITIZE=ON -DQS_FUZZ=OFF
        run_ctest asan "$BUILD_ROOT/build-asan" -L 'unit|e2e'
        ;;
    valgrind)
        if [[ ! -f $BUILD_ROOT/build/CMakeCache.txt ]]; then
            build gcc "$BUILD_ROOT/build" gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQS_SANITIZE=OFF -DQS_FUZZ=OFF ||
                continue
        fi
        run_valgrind "$BUILD_ROOT/build"
        ;;
    fuzz)
        if [[ -f $ROOT/tests/fuzz/CMakeLists.txt ]]; then
            build fuzz "$BUILD_ROOT/build-fuzz" clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQS_SANITIZE=OFF -DQS_FUZZ=ON
            run_ctest fuzz "$BUILD_ROOT/build-fuzz" -L fuzz
        else
            step "fuzz: no tests/fuzz/CMakeLists.txt, skipped"
        fi
        ;;
    *)
        echo "test: unknown stage '$stage' (gcc asan valgrind fuzz)"
        count "$stage" 0 1
        ;;
    esac
done

FINISHED=1
