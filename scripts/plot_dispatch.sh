#!/usr/bin/env bash
# plot_dispatch.sh - plots bench/results/dispatch_summary.csv (written by
# scripts/bench_dispatch.sh) with gnuplot:
#   dispatch_empty.png  tasks/s by ranks for empty tasks, per impl (log y)
#   dispatch_1ms.png    efficiency by ranks for 1 ms spin tasks, per impl,
#                       with the bound this machine's cores put on it
#
# usage: scripts/plot_dispatch.sh [SUMMARY_CSV [OUTPUT_DIR]]
#   defaults: bench/results/dispatch_summary.csv, its directory
set -euo pipefail

# shellcheck source=scripts/bench_common.sh
source "$(dirname "$0")/bench_common.sh"
case "${1:-}" in
-h | --help)
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
  ;;
esac
SUMMARY=${1:-$ROOT/bench/results/dispatch_summary.csv}
OUTDIR=${2:-$(dirname "$SUMMARY")}
if [ ! -f "$SUMMARY" ]; then
  echo "plot_dispatch.sh: no $SUMMARY; run scripts/bench_dispatch.sh first" >&2
  exit 1
fi
png_terminal "size 800,600 enhanced font ',11'" "size 800,600"
CORES=$(nproc)
mkdir -p "$OUTDIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/plot_dispatch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# One data file per (impl, work): "ranks value" lines sorted by ranks, so
# each curve is one connected line. Summary columns: 1 impl, 2 ranks,
# 4 work, 9 tasks_per_s, 11 efficiency.
for impl in textbook batched loom; do
  awk -F, -v impl="$impl" '$1 == impl && $4 == "none" { print $2, $9 }' \
    "$SUMMARY" | sort -n >"$TMP/$impl-empty.dat"
  awk -F, -v impl="$impl" '$1 == impl && $4 == "spin" && $11 != "" {
    print $2, $11 }' "$SUMMARY" | sort -n >"$TMP/$impl-1ms.dat"
done
read -r RMIN RMAX < <(cat "$TMP"/*.dat | awk '
  { if (min == "" || $1 < min) min = $1; if (max == "" || $1 > max) max = $1 }
  END { print (min == "" ? 1 : min), (max == "" ? 1 : max) }')

# curves WHAT: the plot clauses for the impls that have data, each impl with
# the same colour and point in both plots.
curves() {
  local what=$1 impl lt pt title sep=""
  for impl in textbook batched loom; do
    [ -s "$TMP/$impl-$what.dat" ] || continue
    case "$impl" in
    textbook) lt=1 pt=7 title="textbook (1 task/message)" ;;
    batched) lt=2 pt=5 title="batched (64 tasks/message)" ;;
    loom) lt=3 pt=9 title="loom" ;;
    esac
    printf '%s"%s" using 1:2 with linespoints lt %d lw 2 pt %d title "%s"' \
      "$sep" "$TMP/$impl-$what.dat" "$lt" "$pt" "$title"
    sep=", "
  done
}
EMPTY_CURVES=$(curves empty)
MS_CURVES=$(curves 1ms)
if [ -z "$EMPTY_CURVES" ] && [ -z "$MS_CURVES" ]; then
  echo "plot_dispatch.sh: no textbook/batched/loom rows in $SUMMARY" >&2
  exit 1
fi

{
  echo "set terminal $TERM_PNG"
  echo "set grid"
  echo 'set xlabel "MPI ranks (1 master + workers)"'
  echo "set xtics 1"
  echo "set xrange [$RMIN - 0.25:$RMAX + 0.25]"
  if [ -n "$EMPTY_CURVES" ]; then
    echo "set output \"$OUTDIR/dispatch_empty.png\""
    echo "set title \"Dispatch rate, empty tasks (median; $CORES cores)\""
    echo 'set ylabel "tasks per second"'
    echo "set key below"
    echo "set logscale y"
    echo 'set format y "10^{%T}"'
    echo "plot $EMPTY_CURVES"
  fi
  if [ -n "$MS_CURVES" ]; then
    echo "set output \"$OUTDIR/dispatch_1ms.png\""
    echo "set title \"Efficiency, 1 ms spin tasks (median; $CORES cores)\""
    echo 'set ylabel "efficiency (ideal time / time)"'
    echo "unset logscale y"
    echo 'set format y "%g"'
    echo "set yrange [0:1.1]"
    echo "set key below"
    # The workers and the master share the cores: at best
    # min(1, cores / workers).
    echo "bound(r) = ($CORES >= r - 1) ? 1 : $CORES.0 / (r - 1)"
    echo "set samples 200"
    echo "plot bound(x) with lines dt 2 lc rgb \"gray40\"" \
      "title \"bound of $CORES cores\", $MS_CURVES"
  fi
} >"$TMP/plot.gp"
gnuplot "$TMP/plot.gp"
if [ -n "$EMPTY_CURVES" ]; then echo "wrote $OUTDIR/dispatch_empty.png"; fi
if [ -n "$MS_CURVES" ]; then echo "wrote $OUTDIR/dispatch_1ms.png"; fi
