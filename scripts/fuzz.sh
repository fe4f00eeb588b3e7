#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang, ASan and UBSan,
# and runs each for SECONDS (default 30; CI runs this) from the seed corpus
# in tests/fuzz/corpus/TARGET. Any crash, sanitizer report, leak or hang
# fails the run and leaves the input under build-fuzz/artifacts/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Longer campaigns: scripts/fuzz.sh 3600 wire; new inputs the fuzzer finds
# go to build-fuzz/corpus/TARGET (add good ones to tests/fuzz/corpus).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LOOM_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(taskfile wire journal cli options state)

command -v clang >/dev/null || {
  echo "fuzz: clang not found (scripts/setup.sh installs it)" >&2
  exit 1
}
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  -DLOOM_FUZZ=ON -DLOOM_BUILD_TESTS=OFF -DLOOM_BUILD_BENCH=OFF \
  -DLOOM_WERROR=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1" \
  >/dev/null
for t in "${targets[@]}"; do
  cmake --build "$build" -j"$(nproc)" --target "fuzz_$t" >/dev/null
done
mkdir -p "$build/artifacts"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  echo "fuzz: $t for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$build/tests/fuzz/fuzz_$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" \
    "$build/corpus/$t" "$root/tests/fuzz/corpus/$t" \
    >"$build/fuzz_$t.log" 2>&1; then
    echo "fuzz: $t FAILED (input in $build/artifacts/):" >&2
    grep -E "ERROR|SUMMARY|artifact" "$build/fuzz_$t.log" | head -n 20 >&2
    failed=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$build/fuzz_$t.log" |
      tail -n 2 | sed "s/^/fuzz: $t: /"
  fi
done
exit "$failed"
