#!/usr/bin/env bash
# bench_balance_real.sh - how close each policy gets to the lower bound in
# real `loom run` jobs of 3-5 MPI ranks on this machine (the simulator's
# counterpart is bench_balance.sh).
#
# usage: scripts/bench_balance_real.sh [--quick] [BUILD_DIR]
#   BUILD_DIR  a CMake build directory (default: build/); configured and
#              built here if needed
#   --quick    one repetition of a few cases (~2-3 minutes here); the full
#              run has more cases and 3 repetitions (~15 minutes here)
#
# Workloads: about 40 tasks per worker, mean 40 ms at speed 1, drawn with
# loom's own generator (tasks/dist.c, seed 6, the same draws as `loom sim
# --seed 6` and the spin kind): fixed, uniform (0-2x mean), lognormal
# (sigma 1), pareto (alpha 1.5, capped at 100x mean; seed 6 is the first
# seed whose first 80 draws hold a task over 50x the mean). A shell task is
# `sleep $((US*${SLOW:-1}))e-6`, so a rank with SLOW=k runs k times slower;
# the hinted files add `#loom cost=SECONDS` (the speed-1 duration).
# Worker sets (rank 0 is the master):
#   homog   2-4 equal workers (np 3, 4, 5)
#   fake    np 5: two fast workers and two k times slower (k = 2, 4), the
#           weights told by a fake topology (LOOM_TOPOLOGY synthetic, 4
#           cores fast, 4/k slow); checked in report.json's per_worker
#   untold  the same 1:4 speeds without a topology: equal weights, only the
#           online speed correction can tell
#   spin    np 3, the spin kind (CPU-bound), master and worker 1 pinned to
#           core 0, worker 2 to core 1 beside a CPU hog: about 1:2
# Policies least-loaded rr wrr weighted static, interleaved (the order
# rotates per case), window 2; the fake 1:4 set also with --window 16.
# Lower bound: max(sum(d) / sum(speeds), max(d) / max(speed)) from the
# speed-1 durations d. Sleep sets use the nominal speeds (1 and 1/k), so the
# shell's start-up (overhead_ms) counts against the policy. The spin set
# uses each rank's speed measured in that run: sum of d over sum of elapsed
# of its tasks. Each row also has `loom sim`'s ratio for the same workload,
# speeds, weights, policy and window (sim_ratio).
# Every run must succeed (exit 0, every task ok, tasks and weights as
# expected) or the script stops. Writes every run to
# bench/results/balance_real.csv and the medians over the repetitions to
# balance_real_summary.csv (LOOM_BENCH_RESULTS moves both), and prints the
# best policy per case. LOOM_BALANCE_REPS=N sets the repetitions;
# LOOM_BALANCE_ALL=1 runs all eight workload/hint variants in every case
# (about 15 minutes a repetition); LOOM_BALANCE_KEEP=DIR keeps every run
# directory there. Plot with scripts/plot_balance.sh.
set -euo pipefail

# shellcheck source=scripts/bench_common.sh
source "$(dirname "$0")/bench_common.sh"
bench_args "$@"
RAW=$RESULTS/balance_real.csv
SUMMARY=$RESULTS/balance_real_summary.csv
bench_build loom

SEED=6
MEAN=0.04
PER_WORKER=40
POLICIES=(least-loaded rr wrr weighted static)
RUN_TIMEOUT=180 # seconds for one mpirun; a hang is the typical MPI failure
TOPO='synthetic:pack:1 core:8 pu:1'
ALL_VARIANTS="fixed fixed+h uniform uniform+h lognormal lognormal+h pareto"
ALL_VARIANTS+=" pareto+h"

# The cases: "SET NP SPEEDS WINDOW VARIANT...", a variant being a workload
# with +h for cost hints.
if [ "$QUICK" = 1 ]; then
  REPS=${LOOM_BALANCE_REPS:-1}
  CASES=(
    "homog 3 1:1 2 lognormal pareto+h"
    "homog 5 1:1 2 fixed"
    "fake 5 1:2 2 uniform"
    "fake 5 1:4 2 lognormal+h"
    "fake 5 1:4 16 lognormal+h"
    "untold 5 1:4 2 fixed"
    "spin 3 1:2 2 lognormal+h"
  )
else
  REPS=${LOOM_BALANCE_REPS:-3}
  CASES=(
    "homog 3 1:1 2 lognormal pareto+h"
    "homog 4 1:1 2 uniform pareto+h"
    "homog 5 1:1 2 fixed lognormal+h pareto+h"
    "fake 5 1:2 2 lognormal+h"
    "fake 5 1:4 2 lognormal pareto+h"
    "fake 5 1:4 16 lognormal+h"
    "untold 5 1:4 2 fixed lognormal"
    "spin 3 1:2 2 fixed lognormal+h"
  )
fi
if [ "${LOOM_BALANCE_ALL:-0}" = 1 ]; then
  for i in "${!CASES[@]}"; do
    read -r -a f <<<"${CASES[$i]}"
    CASES[i]="${f[*]:0:4} $ALL_VARIANTS"
  done
fi

export OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
MPIRUN=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench_balance_real.XXXXXX")
HOG=""
cleanup() {
  if [ -n "$HOG" ]; then
    kill "$HOG" 2>/dev/null || true
    wait "$HOG" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A copy of the binary: a rebuild of BUILD during the run changes nothing.
LOOM=$WORK/loom
cp "$BUILD/engine/loom" "$LOOM"
echo "bench_balance_real.sh: $("$LOOM" --version), tree" \
  "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)," \
  "$REPS repetition(s)" >&2

# The helper: gen writes the task files and the speed-1 durations; row
# checks one run and appends its CSV row; summary writes the medians and
# prints the table.
cat >"$WORK/helper.py" <<'PY'
import csv, json, math, os, statistics, subprocess, sys

M64 = (1 << 64) - 1
CAP = 100  # pareto cap, in means
SIGMA, ALPHA = 1.0, 1.5


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def unit(seed, i, stream):
    # rng_unit() of tasks/dist.c
    h = splitmix64(splitmix64(seed) ^ stream)
    return ((splitmix64(h ^ i) >> 11) + 0.5) * (1.0 / 9007199254740992.0)


def draw(workload, mean, seed, i):
    # dist_draw() of tasks/dist.c
    if workload == "fixed":
        return mean
    if workload == "uniform":
        return 2 * mean * unit(seed, i, 0)
    if workload == "lognormal":
        mu = math.log(mean) - 0.5 * SIGMA * SIGMA
        z = math.sqrt(-2 * math.log(unit(seed, i, 0))) * math.cos(
            2 * math.pi * unit(seed, i, 1))
        return math.exp(mu + SIGMA * z)
    if workload == "pareto":
        xm = mean * (ALPHA - 1) / ALPHA
        return min(xm * unit(seed, i, 0) ** (-1 / ALPHA), CAP * mean)
    raise SystemExit("unknown workload " + workload)


def dist_args(workload, mean):
    """The same workload as loom sim / spin-kind arguments."""
    a = {"dist": workload, "mean": repr(mean)}
    if workload == "lognormal":
        a["sigma"] = repr(SIGMA)
    if workload == "pareto":
        a.update(alpha=repr(ALPHA), cap=repr(CAP * mean))
    return a


def gen(d, seed, mean, workloads, counts):
    for wl in workloads:
        for n in counts:
            us = [max(0, round(draw(wl, mean, seed, i) * 1e6))
                  for i in range(n)]
            base = "%s/%s-%d" % (d, wl, n)
            with open(base + ".base", "w") as f:
                f.write("".join("%d\n" % u for u in us))
            with open(base + "-n.txt", "w") as f:
                f.write("# %s, %d tasks, seed %d\n" % (wl, n, seed))
                f.write("".join("sleep $((%d*${SLOW:-1}))e-6\n" % u
                                for u in us))
            with open(base + "-h.txt", "w") as f:
                f.write("# %s, %d tasks, seed %d, cost hints\n" % (wl, n, seed))
                f.write("".join("sleep $((%d*${SLOW:-1}))e-6  #loom cost=%.6f\n"
                                % (u, u / 1e6) for u in us))


def die(msg):
    sys.stderr.write("bench_balance_real.sh: FAILED: %s\n" % msg)
    sys.exit(1)


def row(kv):
    rundir, n = kv["rundir"], int(kv["tasks"])
    what = "%s %s np %s %s %s window %s %s" % (
        kv["case"], kv["kind"], kv["ranks"], kv["workload"],
        "hints" if kv["hints"] == "yes" else "no-hints", kv["window"],
        kv["policy"])
    try:
        rep = json.load(open(os.path.join(rundir, "report.json")))
        log = list(csv.DictReader(open(os.path.join(rundir, "joblog.tsv")),
                                  delimiter="\t"))
    except (OSError, ValueError) as e:
        die("%s: %s" % (what, e))
    t = rep["tasks"]
    if not rep.get("complete") or t["total"] != n or t["succeeded"] != n \
            or t["failed"] or t["attempts"] != n:
        die("%s: report.json says complete=%s tasks=%s (expected %d ok)"
            % (what, rep.get("complete"), t, n))
    # Task files start with one comment line: task k is on line k + 1.
    off = 0 if kv["kind"] == "spin" else 1
    bad = [r for r in log if r["status"] != "ok" or r["exit"] != "0"]
    if len(log) != n or bad or sorted(int(r["line"]) for r in log) != \
            list(range(1 + off, n + 1 + off)):
        die("%s: joblog has %d rows, %d not ok, or not every line once"
            % (what, len(log), len(bad)))
    us = [int(x) for x in open(kv["base"])]
    base = [u / 1e6 for u in us]
    workers = sorted(w["rank"] for w in rep["per_worker"])
    if len(workers) != int(kv["workers"]):
        die("%s: %d workers, expected %s" % (what, len(workers), kv["workers"]))
    weights = [w["weight"] for w in sorted(rep["per_worker"],
                                           key=lambda w: w["rank"])]
    want = kv["expect_weights"]
    if want == "equal":
        if max(weights) - min(weights) > 1e-9:
            die("%s: weights %s, expected all equal" % (what, weights))
    elif [float(x) for x in want.split("/")] != weights:
        die("%s: weights %s, expected %s (fake topology not applied?)"
            % (what, weights, want))
    busy = {r: 0.0 for r in workers}
    work = {r: 0.0 for r in workers}
    ntask = {r: 0 for r in workers}
    for r in log:
        k = int(r["rank"])
        busy[k] += float(r["elapsed"])
        work[k] += base[int(r["line"]) - 1 - off]
        ntask[k] += 1
    measured = {r: (work[r] / busy[r] if busy[r] > 0 else float("nan"))
                for r in workers}
    slow = [float(x) for x in kv["slow"].split("/")]
    if kv["kind"] == "spin":
        if any(ntask[r] == 0 or busy[r] <= 0 for r in workers):
            die("%s: a worker ran no task; its speed is unknown" % what)
        speeds = [measured[r] for r in workers]
        overhead = ""
    else:
        speeds = [1 / s for s in slow]
        over = [float(r["elapsed"]) - base[int(r["line"]) - 1 - off]
                * slow[workers.index(int(r["rank"]))] for r in log]
        overhead = "%.2f" % (1e3 * statistics.mean(over))
    lb = max(sum(base) / sum(speeds), max(base) / max(speeds))
    b = rep["balance"]
    ratio = rep["makespan_s"] / lb
    # The simulator on the same workload, speeds, weights and policy.
    sim = [kv["loom"], "sim", "--json", "--workers", str(len(workers)),
           "--tasks", str(n), "--seed", kv["seed"], "--policy", kv["policy"],
           "--window", kv["window"], "--speeds",
           ",".join("%.6gx1" % s for s in speeds),
           "--weights", "known" if kv["weights_told"] == "yes" else "flat"]
    for k, v in dist_args(kv["workload"], float(kv["mean"])).items():
        sim += ["--" + k, v]
    if kv["hints"] == "yes":
        sim.append("--hints")
    try:
        s = json.loads(subprocess.run(sim, check=True, capture_output=True,
                                      text=True).stdout)
        sim_ratio = "%.4f" % s["balance"]["makespan_over_lower_bound"]
        slb = s["balance"]["lower_bound_s"]
        if abs(slb - lb) > 1e-3 * lb + 1e-5:
            sys.stderr.write("bench_balance_real.sh: warning: %s: loom sim's "
                             "lower bound %.6g, ours %.6g\n" % (what, slb, lb))
    except (subprocess.CalledProcessError, ValueError, KeyError) as e:
        sys.stderr.write("bench_balance_real.sh: warning: loom sim: %s\n" % e)
        sim_ratio = ""
    out = [kv["rep"], kv["case"], kv["kind"], kv["ranks"], kv["workers"],
           kv["workload"], kv["hints"], kv["speeds"], kv["weights_told"],
           kv["window"], kv["policy"], str(n),
           "%.4f" % rep["makespan_s"], "%.4f" % lb, "%.4f" % ratio,
           "%.4f" % b["imbalance"], "%.4f" % b["efficiency"],
           "%.4f" % b["makespan_over_lower_bound"],
           "/".join("%g" % w for w in weights),
           "/".join("%.3f" % measured[r] for r in workers),
           "/".join(str(ntask[r]) for r in workers),
           overhead, sim_ratio,
           "%.2f" % (float(kv["t1"]) - float(kv["t0"]))]
    with open(kv["csv"], "a") as f:
        f.write(",".join(out) + "\n")
    print("%-58s %7.3f s  bound %6.3f  ratio %6.3f  sim %s" % (
        what, rep["makespan_s"], lb, ratio, sim_ratio or "-"))


KEY = ["case", "kind", "ranks", "workers", "workload", "hints", "speeds",
       "weights_told", "window"]
MED = ["makespan_s", "lower_bound_s", "ratio", "imbalance", "efficiency",
       "overhead_ms", "sim_ratio"]


def summary(raw, out):
    rows = list(csv.DictReader(open(raw)))
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in KEY + ["policy"]), []).append(r)

    def med(rs, col):
        v = [float(r[col]) for r in rs if r[col] != ""]
        return statistics.median(v) if v else None

    with open(out, "w") as f:
        f.write(",".join(KEY + ["policy", "reps"] + MED +
                         ["ratio_min", "ratio_max"]) + "\n")
        for key, rs in groups.items():
            vals = [med(rs, c) for c in MED]
            rat = [float(r["ratio"]) for r in rs]
            f.write(",".join(list(key) + [str(len(rs))] +
                             ["" if v is None else "%.4f" % v for v in vals] +
                             ["%.4f" % min(rat), "%.4f" % max(rat)]) + "\n")
    cases = {}
    for key, rs in groups.items():
        cases.setdefault(key[:-1], {})[key[-1]] = med(rs, "ratio")
    pols = ["least-loaded", "rr", "wrr", "weighted", "static"]
    print("\nmakespan / lower bound, median of %d repetition(s):"
          % max(len(v) for v in groups.values()))
    print("%-6s %2s %-9s %-5s %-5s %-4s %3s  %-19s %s" % (
        "set", "np", "workload", "hints", "speed", "told", "win",
        "best (ratio)", "  ".join("%8s" % p[:8] for p in pols)))
    order = {"homog": 0, "fake": 1, "untold": 2, "spin": 3}
    for key in sorted(cases, key=lambda k: (order.get(k[0], 9), int(k[2]),
                                            k[6], int(k[8]), k[4], k[5])):
        by = cases[key]
        best = min(by, key=by.get)
        print("%-6s %2s %-9s %-5s %-5s %-4s %3s  %-12s %6.3f %s" % (
            key[0], key[2], key[4], key[5], key[6], key[7], key[8], best,
            by[best], "  ".join("%8s" % ("%.3f" % by[p] if p in by else "-")
                                for p in pols)))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        d, seed, mean = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        gen(d, seed, mean, sys.argv[5].split(","),
            [int(x) for x in sys.argv[6].split(",")])
    elif cmd == "row":
        row(dict(a.split("=", 1) for a in sys.argv[2:]))
    elif cmd == "summary":
        summary(sys.argv[2], sys.argv[3])
PY
HELPER=(python3 "$WORK/helper.py")

# Task files for every workload and worker count (40 tasks per worker).
COUNTS=""
for c in "${CASES[@]}"; do
  read -r -a f <<<"$c"
  COUNTS="$COUNTS,$(((f[1] - 1) * PER_WORKER))"
done
"${HELPER[@]}" gen "$WORK" "$SEED" "$MEAN" fixed,uniform,lognormal,pareto \
  "$(tr ',' '\n' <<<"${COUNTS#,}" | sort -un | paste -sd,)"

mkdir -p "$RESULTS"
echo "rep,case,kind,ranks,workers,workload,hints,speeds,weights_told,window,policy,tasks,makespan_s,lower_bound_s,ratio,imbalance,efficiency,report_ratio,weights,speeds_measured,tasks_per_worker,overhead_ms,sim_ratio,wall_s" >"$RAW.tmp"

# app ENV... [-- CPU]: appends one rank's app context to APPS; RUN_ARGS are
# loom's arguments. CPU pins the rank with taskset.
app() {
  local cpu=""
  [ ${#APPS[@]} -gt 0 ] && APPS+=(:)
  APPS+=(-n 1)
  while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then
      cpu=$2
      break
    fi
    APPS+=(-x "$1")
    shift
  done
  [ -n "$cpu" ] && APPS+=(taskset -c "$cpu")
  APPS+=("$LOOM" run "${RUN_ARGS[@]}")
}

# run_one REP SET NP SPEEDS WINDOW WORKLOAD HINTS POLICY: one mpirun, checked,
# one CSV row.
RUN_ID=0
run_one() {
  local rep=$1 set=$2 np=$3 speeds=$4 window=$5 wl=$6 hints=$7 policy=$8
  local workers=$((np - 1)) tasks k told=yes kind=sleep slow expect
  local rundir t0 rc i
  tasks=$((workers * PER_WORKER))
  k=${speeds#1:}
  RUN_ID=$((RUN_ID + 1))
  rundir=$WORK/run-$RUN_ID
  RUN_ARGS=(-q -o "$rundir" --policy "$policy" --window "$window")
  if [ "$set" = spin ]; then
    kind=spin
    RUN_ARGS+=(--kind spin --count "$tasks" -a "dist=$wl" -a "mean=$MEAN"
      -a "seed=$SEED" -a "hint=$([ "$hints" = yes ] && echo 1 || echo 0)")
    case $wl in
    lognormal) RUN_ARGS+=(-a sigma=1) ;;
    pareto)
      RUN_ARGS+=(-a alpha=1.5 -a "cap=$(awk "BEGIN { print 100 * $MEAN }")")
      ;;
    esac
  else
    RUN_ARGS+=("$WORK/$wl-$tasks-$([ "$hints" = yes ] && echo h || echo n).txt")
  fi
  APPS=()
  case $set in
  homog)
    app
    for ((i = 1; i < np; i++)); do app; done
    slow=$(printf '1/%.0s' $(seq "$workers"))
    slow=${slow%/}
    expect=equal
    ;;
  fake)
    app
    app "LOOM_TOPOLOGY=$TOPO" LOOM_CPUSET=0-3
    app "LOOM_TOPOLOGY=$TOPO" LOOM_CPUSET=0-3
    # 4 / k cores: 0-1 at half speed, 0 at a quarter.
    for i in 1 2; do
      app "SLOW=$k" "LOOM_TOPOLOGY=$TOPO" \
        "LOOM_CPUSET=0$([ "$k" = 2 ] && echo -1)"
    done
    slow=1/1/$k/$k
    expect=4/4/$((4 / k))/$((4 / k))
    ;;
  untold)
    told=no
    app
    app
    app
    app "SLOW=$k"
    app "SLOW=$k"
    slow=1/1/$k/$k
    expect=equal
    ;;
  spin)
    told=no
    app -- 0
    app -- 0
    app -- 1
    slow=1/1 # unused: spin speeds are measured
    expect=equal
    ;;
  esac
  t0=$EPOCHREALTIME
  rc=0
  timeout -k 10 "$RUN_TIMEOUT" "${MPIRUN[@]}" "${APPS[@]}" \
    >"$WORK/mpirun.log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    echo "bench_balance_real.sh: FAILED: mpirun exit $rc ($set np $np $wl" \
      "hints=$hints window $window $policy):" >&2
    tail -n 20 "$WORK/mpirun.log" >&2
    exit 1
  fi
  "${HELPER[@]}" row csv="$RAW.tmp" rundir="$rundir" loom="$LOOM" \
    base="$WORK/$wl-$tasks.base" seed="$SEED" mean="$MEAN" rep="$rep" \
    case="$set" kind="$kind" ranks="$np" workers="$workers" workload="$wl" \
    hints="$hints" speeds="$speeds" weights_told="$told" window="$window" \
    policy="$policy" tasks="$tasks" slow="$slow" expect_weights="$expect" \
    t0="$t0" t1="$EPOCHREALTIME"
  if [ -n "${LOOM_BALANCE_KEEP:-}" ]; then
    mkdir -p "$LOOM_BALANCE_KEEP"
    mv "$rundir" \
      "$LOOM_BALANCE_KEEP/r$rep-$set-np$np-$speeds-w$window-$wl-$hints-$policy"
  else
    rm -rf "$rundir"
  fi
}

START=$(date +%s)
NCASE=0
for ((rep = 1; rep <= REPS; rep++)); do
  for c in "${CASES[@]}"; do
    read -r -a f <<<"$c"
    for v in "${f[@]:4}"; do
      wl=${v%+h}
      hints=no
      [ "$v" != "$wl" ] && hints=yes
      if [ "${f[0]}" = spin ]; then
        # Worker 2 shares core 1 with a busy loop: about half speed.
        taskset -c 1 sh -c 'while :; do :; done' &
        HOG=$!
      fi
      # Interleaved policies; the first one rotates from case to case.
      for ((i = 0; i < ${#POLICIES[@]}; i++)); do
        p=${POLICIES[$(((i + NCASE) % ${#POLICIES[@]}))]}
        run_one "$rep" "${f[@]:0:4}" "$wl" "$hints" "$p"
      done
      NCASE=$((NCASE + 1))
      if [ -n "$HOG" ]; then
        kill "$HOG"
        wait "$HOG" 2>/dev/null || true
        HOG=""
      fi
    done
  done
  echo "bench_balance_real.sh: repetition $rep of $REPS done" \
    "($(($(date +%s) - START)) s)" >&2
done
mv "$RAW.tmp" "$RAW"
"${HELPER[@]}" summary "$RAW" "$SUMMARY"
echo "wrote $RAW and $SUMMARY ($(($(date +%s) - START)) s)"
