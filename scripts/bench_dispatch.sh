#!/usr/bin/env bash
# bench_dispatch.sh - how fast loom dispatches tasks, next to two MPI
# master/worker baselines (bench/textbook.c, bench/batched.c), and how fast
# `loom run` spawns shell tasks next to a plain shell loop.
#
# usage: scripts/bench_dispatch.sh [--quick] [BUILD_DIR]
#   BUILD_DIR  a CMake build directory (default: build/); configured and
#              built here if needed
#   --quick    a ~1 minute smoke run (fewer tasks and repeats)
#
# For 2, 3 and 4 ranks it runs textbook, batched and loom round-robin, one
# mpirun per repeat, so every implementation sees the same machine noise and
# the ratios stay comparable: (a) empty tasks, (b) 1 ms spin tasks, scaled
# to ~2 s of work per repeat. Writes every row to bench/results/dispatch.csv,
# the medians per (impl, ranks, work) with the ratios loom/batched and
# loom/textbook of tasks_per_s to bench/results/dispatch_summary.csv, and
# prints the summary. Then `loom run` of a file of `true` commands against
# a shell loop spawning as many processes (rows loom-run-true, with the
# report.json makespan as loom-run-true-makespan, and sh-loop-true).
# LOOM_BENCH_RESULTS moves the output. Not part of the tests: speed is never
# asserted. Needs ~5 minutes here (2 cores), --quick ~1 minute.
set -euo pipefail

# shellcheck source=scripts/bench_common.sh
source "$(dirname "$0")/bench_common.sh"
bench_args "$@"
RAW=$RESULTS/dispatch.csv
SUMMARY=$RESULTS/dispatch_summary.csv

if [ "$QUICK" = 1 ]; then
  REPEATS=3
  EMPTY_TASKS=20000
  SPIN_TASKS_PER_WORKER=200 # 0.2 s of work per repeat
  TRUE_TASKS=300
else
  REPEATS=5
  EMPTY_TASKS=1000000
  SPIN_TASKS_PER_WORKER=2000 # 2 s of work per repeat
  TRUE_TASKS=2000
fi
RANKS="2 3 4"
SPIN_SECONDS=0.001
RUN_TIMEOUT=300 # seconds for one mpirun; a hang is the typical MPI failure

# Open MPI as root on a 2-core machine, traffic kept on loopback.
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)

# 1. Build what is missing. The baselines need only MPI; if libloom does not
# build yet, the loom rows are left out rather than the whole run.
bench_build bench-textbook bench-batched
HAVE_LOOM=1
if ! cmake --build "$BUILD" -j 2 --target bench-dispatch >/dev/null; then
  echo "bench_dispatch.sh: bench-dispatch does not build: no loom rows" >&2
  HAVE_LOOM=0
fi
HAVE_CLI=1
if ! cmake --build "$BUILD" -j 2 --target loom >/dev/null; then
  echo "bench_dispatch.sh: the loom CLI does not build: no loom-run rows" >&2
  HAVE_CLI=0
fi
BIN=$BUILD/bench
LOOM=$BUILD/engine/loom

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench_dispatch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

mkdir -p "$RESULTS"
HEADER="impl,ranks,workers,work,task_s,tasks,seconds,tasks_per_s,overhead_us_per_task,efficiency"
echo "$HEADER" >"$RAW"
FAILED=0

# run_impl IMPL RANKS ARGS...: one mpirun, one timed repeat after one
# untimed warm-up repeat; its row goes to the raw CSV.
run_impl() {
  local impl=$1 np=$2 exe
  shift 2
  case "$impl" in
  textbook) exe=$BIN/bench-textbook ;;
  batched) exe=$BIN/bench-batched ;;
  loom) exe=$BIN/bench-dispatch ;;
  esac
  if ! timeout "$RUN_TIMEOUT" "${MPIRUN[@]}" -np "$np" "$exe" \
    --repeat 1 --warmup 1 "$@" >"$TMP/row" 2>"$TMP/err"; then
    echo "bench_dispatch.sh: $impl -np $np $* failed:" >&2
    tail -n 5 "$TMP/err" >&2
    FAILED=$((FAILED + 1))
    return 0
  fi
  cat "$TMP/row" >>"$RAW"
}

IMPLS="textbook batched"
[ "$HAVE_LOOM" = 1 ] && IMPLS="$IMPLS loom"

# 2. The dispatch rows: for each rank count and workload, REPEATS rounds of
# one mpirun per implementation.
for np in $RANKS; do
  workers=$((np - 1))
  for work in none spin; do
    if [ "$work" = none ]; then
      args=(--work none --tasks "$EMPTY_TASKS")
    else
      args=(--work spin --seconds "$SPIN_SECONDS"
        --tasks $((SPIN_TASKS_PER_WORKER * workers)))
    fi
    echo "ranks=$np work=$work: $IMPLS x $REPEATS" >&2
    for ((round = 1; round <= REPEATS; round++)); do
      for impl in $IMPLS; do
        run_impl "$impl" "$np" "${args[@]}"
      done
    done
  done
done

# 3. Process creation: `loom run` of a file of `true` commands against a
# shell loop spawning the same number of processes, /bin/true directly and
# through `sh -c` as loom runs every command.
now() { date +%s.%N; }
# row IMPL RANKS WORKERS WORK TASKS SECONDS: one raw CSV row.
row() {
  awk -v impl="$1" -v ranks="$2" -v workers="$3" -v work="$4" -v n="$5" \
    -v s="$6" 'BEGIN {
      if (s <= 0) s = 1e-9 # a clock step; keeps the row finite
      printf "%s,%d,%d,%s,0,%d,%.6f,%.1f,%.3f,\n", impl, ranks, workers, work,
        n, s, n / s, workers * s / n * 1e6
    }' >>"$RAW"
}

seq 1 "$TRUE_TASKS" | awk '{ print "true" }' >"$TMP/true.tasks"
echo "process creation: $TRUE_TASKS tasks x $REPEATS" >&2
for ((round = 1; round <= REPEATS; round++)); do
  t0=$(now)
  for _ in $(seq "$TRUE_TASKS"); do /bin/true; done
  t1=$(now)
  row sh-loop-true 1 1 bin-true "$TRUE_TASKS" "$(awk "BEGIN{print $t1-$t0}")"

  t0=$(now)
  for _ in $(seq "$TRUE_TASKS"); do sh -c true; done
  t1=$(now)
  row sh-loop-true 1 1 sh-c-true "$TRUE_TASKS" "$(awk "BEGIN{print $t1-$t0}")"

  [ "$HAVE_CLI" = 1 ] || continue
  for np in 2 3; do
    out=$TMP/run-$np-$round
    t0=$(now)
    if ! timeout "$RUN_TIMEOUT" "${MPIRUN[@]}" -np "$np" "$LOOM" run --quiet \
      --output "$out" "$TMP/true.tasks" >"$TMP/out" 2>"$TMP/err"; then
      echo "bench_dispatch.sh: loom run -np $np failed:" >&2
      tail -n 5 "$TMP/err" >&2
      FAILED=$((FAILED + 1))
      rm -rf "$out"
      continue
    fi
    t1=$(now)
    # Wall time includes mpirun's launch; the report's makespan (first
    # dispatch to last completion) does not, so both are kept.
    row loom-run-true "$np" $((np - 1)) sh-c-true "$TRUE_TASKS" \
      "$(awk "BEGIN{print $t1-$t0}")"
    if [ -f "$out/report.json" ]; then
      mk=$(tr -d '\n' <"$out/report.json" |
        sed -n 's/.*"makespan\(_s\)\{0,1\}" *: *\([0-9.eE+-]*\).*/\2/p')
      if [ -n "$mk" ] && awk "BEGIN{exit !($mk > 0)}"; then
        row loom-run-true-makespan "$np" $((np - 1)) sh-c-true \
          "$TRUE_TASKS" "$mk"
      fi
    fi
    rm -rf "$out"
  done
done

# 4. Medians per (impl, ranks, work), and loom's tasks_per_s over the
# baselines' at the same ranks and work. mawk has no sort: insertion sort.
awk -F, '
  function median(key, col,    n, i, j, v, a) {
    n = cnt[key]
    for (i = 1; i <= n; i++) {
      v = val[key, col, i]
      if (v == "") return ""
      for (j = i - 1; j >= 1 && a[j] > v + 0; j--) a[j + 1] = a[j]
      a[j + 1] = v + 0
    }
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
  }
  NR == 1 { next }
  {
    key = $1 SUBSEP $2 SUBSEP $4
    if (!(key in cnt)) { order[++ngroups] = key; first[key] = $0 }
    n = ++cnt[key]
    for (c = 7; c <= 10; c++) val[key, c, n] = $c
  }
  END {
    print "impl,ranks,workers,work,task_s,tasks,runs,seconds,tasks_per_s," \
      "overhead_us_per_task,efficiency,loom_over_batched,loom_over_textbook"
    for (g = 1; g <= ngroups; g++) {
      key = order[g]
      for (c = 7; c <= 10; c++) med[key, c] = median(key, c)
    }
    for (g = 1; g <= ngroups; g++) {
      key = order[g]
      split(first[key], f, ",")
      rb = ""; rt = ""
      if (f[1] == "loom") {
        kb = "batched" SUBSEP f[2] SUBSEP f[4]
        kt = "textbook" SUBSEP f[2] SUBSEP f[4]
        if ((kb in cnt) && med[kb, 8] > 0)
          rb = sprintf("%.3f", med[key, 8] / med[kb, 8])
        if ((kt in cnt) && med[kt, 8] > 0)
          rt = sprintf("%.3f", med[key, 8] / med[kt, 8])
      }
      eff = med[key, 10]
      if (eff != "") eff = sprintf("%.4f", eff)
      printf "%s,%s,%s,%s,%s,%s,%d,%.6f,%.1f,%.3f,%s,%s,%s\n", f[1], f[2],
        f[3], f[4], f[5], f[6], cnt[key], med[key, 7], med[key, 8],
        med[key, 9], eff, rb, rt
    }
  }' "$RAW" >"$SUMMARY"

echo "raw rows: $RAW" >&2
echo "summary:  $SUMMARY" >&2
column -s, -t <"$SUMMARY"
if [ "$FAILED" -gt 0 ]; then
  echo "bench_dispatch.sh: $FAILED run(s) failed (see above)" >&2
  exit 1
fi
