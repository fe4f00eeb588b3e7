#!/usr/bin/env bash
# bench_slowdown.sh - does a worker that slows down in the middle of a run
# lose work? Real runs at np 3 of CPU-bound tasks (the spin kind, 20 ms
# each, with and without cost hints): the master and worker 1 pinned to
# core 0, worker 2 to core 1. Once a third of the tasks are done, a CPU hog
# starts on core 1, so worker 2 runs at about half speed from then on.
# From each run's joblog: worker 2's share of the tasks started before the
# hog and after it (from 0.5 s after the hog started), the share its
# measured speeds would call fair (speed 2 / (speed 1 + speed 2), from the
# task times after the hog), and the gap between the two workers' last
# completions (a policy that kept feeding the slow worker ends late on it).
#
# usage: scripts/bench_slowdown.sh [--quick] [BUILD_DIR]
#   --quick   one repetition (about 40 s here); the full run has 3
# Policies weighted, least-loaded, wrr and static, interleaved. Writes
# bench/results/slowdown.csv (one row per run) and slowdown_summary.csv
# (medians); LOOM_BENCH_RESULTS moves them.
set -euo pipefail

# shellcheck source=scripts/bench_common.sh
source "$(dirname "$0")/bench_common.sh"
bench_args "$@"
bench_build loom
OUT=$RESULTS/slowdown.csv
SUMMARY=$RESULTS/slowdown_summary.csv
REPS=3
[ "$QUICK" = 1 ] && REPS=1
TASKS=300
POLICIES=(weighted least-loaded wrr static)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench_slowdown.XXXXXX")
HOG=""
cleanup() {
  [ -n "$HOG" ] && kill "$HOG" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cp "$BUILD/engine/loom" "$WORK/loom" # a rebuild cannot change it mid-run

MPI=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)
export OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}

rows() { # joblog rows so far (header excluded)
  if [ -f "$1/joblog.tsv" ]; then
    echo $(($(wc -l <"$1/joblog.tsv") - 1))
  else
    echo 0
  fi
}

mkdir -p "$RESULTS"
echo "rep,policy,hints,tasks,hog_after_tasks,share2_before,share2_after,share2_fair,speed2_over_speed1,end_gap_s,makespan_s" >"$OUT.tmp"
n=0
for ((rep = 1; rep <= REPS; rep++)); do
  for hints in no yes; do
    for ((i = 0; i < ${#POLICIES[@]}; i++)); do
      policy=${POLICIES[$(((i + n) % ${#POLICIES[@]}))]}
      rundir=$WORK/run-$rep-$hints-$policy
      args=(run -q -o "$rundir" --policy "$policy" --kind spin --count "$TASKS"
        -a dist=fixed -a mean=0.02 -a "hint=$([ "$hints" = yes ] && echo 1 || echo 0)")
      "${MPI[@]}" -n 1 taskset -c 0 "$WORK/loom" "${args[@]}" \
        : -n 1 taskset -c 0 "$WORK/loom" "${args[@]}" \
        : -n 1 taskset -c 1 "$WORK/loom" "${args[@]}" &
      job=$!
      until [ "$(rows "$rundir")" -ge $((TASKS / 3)) ] ||
        ! kill -0 "$job" 2>/dev/null; do
        sleep 0.02
      done
      taskset -c 1 sh -c 'while :; do :; done' &
      HOG=$!
      hog_at=$(date +%s.%N)
      hog_rows=$(rows "$rundir")
      if ! wait "$job"; then
        echo "bench_slowdown.sh: FAILED: $policy (hints $hints), see above" >&2
        exit 1
      fi
      kill "$HOG"
      wait "$HOG" 2>/dev/null || true
      HOG=""
      python3 - "$rundir/joblog.tsv" "$hog_at" "$rep" "$policy" "$hints" \
        "$TASKS" "$hog_rows" >>"$OUT.tmp" <<'PY'
import csv, statistics, sys
path, hog = sys.argv[1], float(sys.argv[2])
rep, policy, hints, tasks, hog_rows = sys.argv[3:8]
rows = list(csv.DictReader(open(path), delimiter="\t"))
if len(rows) != int(tasks) or any(r["status"] != "ok" for r in rows):
    sys.exit("bench_slowdown.sh: %s: not every task succeeded" % path)
for r in rows:
    r["start"], r["elapsed"] = float(r["start"]), float(r["elapsed"])
def share2(rs):
    return sum(r["rank"] == "2" for r in rs) / len(rs) if rs else float("nan")
before = [r for r in rows if r["start"] + r["elapsed"] < hog]
after = [r for r in rows if r["start"] >= hog + 0.5]
t = {k: statistics.median(r["elapsed"] for r in after if r["rank"] == k)
     for k in ("1", "2")}
ratio = t["1"] / t["2"]  # speed 2 / speed 1
end = {k: max(r["start"] + r["elapsed"] for r in rows if r["rank"] == k)
       for k in ("1", "2")}
first = min(r["start"] for r in rows)
print("%s,%s,%s,%s,%s,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f" % (
    rep, policy, hints, tasks, hog_rows, share2(before), share2(after),
    ratio / (1 + ratio), ratio, end["2"] - end["1"],
    max(end.values()) - first))
PY
      tail -1 "$OUT.tmp" >&2
    done
    n=$((n + 1))
  done
done
mv "$OUT.tmp" "$OUT"
python3 - "$OUT" "$SUMMARY" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = ["share2_before", "share2_after", "share2_fair", "speed2_over_speed1",
        "end_gap_s", "makespan_s"]
groups = {}
for r in rows:
    groups.setdefault((r["policy"], r["hints"]), []).append(r)
with open(sys.argv[2], "w") as f:
    f.write("policy,hints,reps," + ",".join(cols) + "\n")
    print("policy        hints  worker 2's share: before  after  fair"
          "   end gap (s)  makespan (s)")
    for (policy, hints), rs in sorted(groups.items()):
        med = [statistics.median(float(r[c]) for r in rs) for c in cols]
        f.write("%s,%s,%d,%s\n" % (policy, hints, len(rs),
                                   ",".join("%.3f" % m for m in med)))
        print("%-13s %-5s  %22.3f %6.3f %5.3f %13.3f %13.3f" % (
            policy, hints, med[0], med[1], med[2], med[4], med[5]))
PY
echo "wrote $OUT and $SUMMARY"
