#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks formatting, runs
# the unit and MPI tests in an ASan+UBSan build, the static analysis and
# valgrind (scripts/analyze.sh), each fuzzer for a bounded time
# (scripts/fuzz.sh; LOOM_FUZZ_SECONDS, default 30), then builds normally
# and runs everything through ctest. ctest's summary is the last thing
# printed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${LOOM_BUILD_DIR:-$root/build}
asan=${LOOM_ASAN_BUILD_DIR:-$root/build-asan}
jobs=$(nproc)

"$root/scripts/setup.sh" "$build"
"$root/scripts/check_format.sh"

echo "== sanitizer build (ASan + UBSan): unit, MPI and state-table tests"
cmake -S "$root" -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DLOOM_SANITIZE=ON \
  -DLOOM_BUILD_BENCH=OFF >/dev/null
cmake --build "$asan" -j"$jobs" >/dev/null
(cd "$asan" && ctest -L 'unit|mpi|state' --output-on-failure -j"$jobs" |
  grep -E "tests passed|tests failed|\*\*\*|Failed  ")

echo "== static analysis (cppcheck, clang-tidy) and valgrind on the unit tests"
"$root/scripts/analyze.sh"

echo "== fuzzing: each target for ${LOOM_FUZZ_SECONDS:-30} s"
"$root/scripts/fuzz.sh" "${LOOM_FUZZ_SECONDS:-30}"

echo "== full suite"
cd "$build"
exec ctest --output-on-failure
