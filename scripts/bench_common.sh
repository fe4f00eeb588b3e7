# bench_common.sh - what the benchmark scripts share; sourced, not run.
# shellcheck shell=bash disable=SC2034 # sets variables for the scripts that source it
#
# bench_args "$@": reads --quick and an optional BUILD_DIR, prints the
# calling script's header comment for -h/--help, and sets ROOT, QUICK,
# BUILD (absolute) and RESULTS (LOOM_BENCH_RESULTS moves it). The header is
# the comment block from line 2 up to the first line that is not a comment.
# bench_build TARGET...: configures BUILD if needed and builds the targets.
# png_terminal CAIRO_OPTS PNG_OPTS: for the plot scripts; sets TERM_PNG to
# gnuplot's pngcairo terminal with CAIRO_OPTS, or png with PNG_OPTS where
# gnuplot lacks cairo; exits when there is no gnuplot.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_args() {
  local arg script
  script=$(basename "$0")
  QUICK=0
  BUILD=""
  for arg in "$@"; do
    case "$arg" in
    --quick) QUICK=1 ;;
    -h | --help)
      sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "$script: unknown option $arg" >&2
      exit 2
      ;;
    *) BUILD=$arg ;;
    esac
  done
  BUILD=$(realpath -m "${BUILD:-$ROOT/build}")
  RESULTS=${LOOM_BENCH_RESULTS:-$ROOT/bench/results}
}

bench_build() {
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$BUILD" -j 2 --target "$@" >/dev/null
}

png_terminal() {
  command -v gnuplot >/dev/null || {
    echo "$(basename "$0"): gnuplot not found" >&2
    exit 1
  }
  if gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo; then
    TERM_PNG="pngcairo $1"
  else
    TERM_PNG="png $2"
  fi
}
