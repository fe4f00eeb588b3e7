#!/usr/bin/env bash
# bench_bigfile.sh - does loom's task-file reader stream? Generates task
# files of 10k, 100k, 1M and 10M lines (": task N", a shell no-op) in a temp
# dir and reads each through loom_taskfile_open/next/close
# (bench/taskfile_scan.c), recording lines, tasks, seconds and the peak
# resident memory. A flat maxrss_kib column means memory does not grow
# with the file. Then the same files go through a whole run of the real
# master (bench/taskfile_run.c: 2 ranks, joblog written, each task's kind
# swapped for a C no-op, since 10M shell tasks would measure process
# creation for hours): bigfile_run.csv has the master's peak memory, with
# the default policy (least-loaded: the file streams) and with `weighted`
# on the same lines hinted (`#loom cost=...`), which holds up to the
# default look-ahead (1,000,000 tasks) in memory to hand out the longest
# first.
#
# usage: scripts/bench_bigfile.sh [--quick] [BUILD_DIR]
#   BUILD_DIR  a CMake build directory (default: build/)
#   --quick    stop at 1M lines
# Writes bench/results/bigfile.csv and bigfile_run.csv (LOOM_BENCH_RESULTS
# moves them).
set -euo pipefail

# shellcheck source=scripts/bench_common.sh
source "$(dirname "$0")/bench_common.sh"
bench_args "$@"
OUT=$RESULTS/bigfile.csv
SIZES="10000 100000 1000000 10000000"
[ "$QUICK" = 1 ] && SIZES="10000 100000 1000000"

bench_build bench-taskfile-scan bench-taskfile-run
SCAN=$BUILD/bench/bench-taskfile-scan
RUN=$BUILD/bench/bench-taskfile-run
RUN_OUT=$RESULTS/bigfile_run.csv

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench_bigfile.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

mkdir -p "$RESULTS"
echo "lines,tasks,seconds,maxrss_kib" >"$OUT.tmp"
echo "lines,policy,tasks,seconds,master_maxrss_kib,joblog_mib" >"$RUN_OUT.tmp"
for n in $SIZES; do
  file=$TMP/tasks-$n
  seq 1 "$n" | awk '{ print ": task " $1 }' >"$file"
  # bench-taskfile-scan prints "tasks,seconds,maxrss_kib".
  row=$("$SCAN" "$file")
  tasks=${row%%,*}
  if [ "$tasks" != "$n" ]; then
    echo "bench_bigfile.sh: $n lines gave $tasks tasks" >&2
    exit 1
  fi
  echo "$n,$row" >>"$OUT.tmp"
  echo "$n lines: $row ($(du -h "$file" | cut -f1) file)" >&2
  # The same lines with cost hints (1-100 ms), for the weighted policy.
  awk '{ print $0 " #loom cost=0." sprintf("%03d", NR % 100 + 1) }' \
    "$file" >"$file.hinted"
  for policy in least-loaded weighted; do
    input=$file
    [ "$policy" = weighted ] && input=$file.hinted
    rm -rf "$TMP/run-$n"
    row=$("$ROOT/scripts/mpirun.sh" 2 "$RUN" "$input" "$TMP/run-$n" "$policy")
    if [ "${row%%,*}" != "$n" ]; then
      echo "bench_bigfile.sh: the run of $n lines ($policy) gave $row" >&2
      exit 1
    fi
    joblog=$(($(stat -c %s "$TMP/run-$n/joblog.tsv") / 1048576))
    echo "$n,$policy,$row,$joblog" >>"$RUN_OUT.tmp"
    echo "$n lines, whole run, $policy: $row" >&2
  done
  rm -f "$file.hinted"
  rm -rf "$file" "$TMP/run-$n"
done
mv "$OUT.tmp" "$OUT"
mv "$RUN_OUT.tmp" "$RUN_OUT"
column -s, -t <"$OUT"
echo
column -s, -t <"$RUN_OUT"
