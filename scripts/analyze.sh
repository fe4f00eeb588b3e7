#!/usr/bin/env bash
# Static analysis, as CI runs it: cppcheck and clang-tidy (their settings
# are committed: .clang-tidy, and the cppcheck flags below), both wanting
# no finding, then the unit tests under valgrind memcheck.
#   scripts/analyze.sh [--no-valgrind]
# Uses its own build directory (build-analyze, Debug: no LTO flags in the
# compile commands that clang-tidy reads).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LOOM_ANALYZE_BUILD_DIR:-$root/build-analyze}
cd "$root"

for tool in cppcheck clang-tidy valgrind; do
  command -v "$tool" >/dev/null || {
    echo "analyze: $tool not found (scripts/setup.sh installs it)" >&2
    exit 1
  }
done
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DLOOM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

echo "== cppcheck"
# variableScope is left out: declarations at the top of a block are the
# project's style (STYLE.md).
cppcheck --enable=warning,style,performance,portability --std=c11 \
  --inline-suppr --quiet --error-exitcode=1 -D__GNUC__ \
  -I engine/include -I engine/src -I tasks \
  --suppress=missingIncludeSystem --suppress=variableScope \
  engine/src engine/cli tasks
echo "cppcheck: no finding"

echo "== clang-tidy"
mapfile -t files < <(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    f = c["file"]
    if "/engine/" in f or "/tasks/" in f:
        print(f)' "$build/compile_commands.json")
# clang-tidy exits non-zero on a finding: the grep below reports it.
printf '%s\n' "${files[@]}" |
  xargs -P"$(nproc)" -n4 clang-tidy -p "$build" --quiet 2>/dev/null |
  tee "$build/clang-tidy.txt" >/dev/null || true
if grep -qE '(warning|error):' "$build/clang-tidy.txt"; then
  grep -E '(warning|error):' "$build/clang-tidy.txt" | sort -u
  echo "clang-tidy: findings above" >&2
  exit 1
fi
echo "clang-tidy: no finding in ${#files[@]} files"

if [ "${1:-}" != --no-valgrind ]; then
  echo "== valgrind memcheck: unit tests"
  failed=0
  for t in "$build"/tests/test_*; do
    # MPI programs: Open MPI's start-up leaks are not ours to judge.
    case "$(basename "$t")" in test_api_* | test_*_api | test_comm) continue ;; esac
    if ! valgrind --quiet --error-exitcode=9 --leak-check=full \
      --suppressions="$root/tests/analysis/valgrind.supp" \
      --errors-for-leak-kinds=definite "$t" >"$build/valgrind.log" 2>&1; then
      echo "valgrind: $(basename "$t") failed:" >&2
      tail -n 30 "$build/valgrind.log" >&2
      failed=1
    fi
  done
  [ "$failed" = 0 ] || exit 1
  echo "valgrind: every unit test clean"
fi
