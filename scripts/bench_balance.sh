#!/usr/bin/env bash
# bench_balance.sh - how close each policy gets to the lower bound, from the
# offline simulator (loom sim: the same policy code loom run uses).
#
# usage: scripts/bench_balance.sh [--quick] [BUILD_DIR]
#   --quick   16 and 256 workers only (~10 s); the full run adds 4096 and
#             100,000 workers (~5 minutes here)
# Workloads (mean 10 ms at speed 1): fixed, uniform, lognormal (sigma 1),
# pareto (alpha 1.5, capped at 100 x the mean: a few tasks 50-100x); with
# and without cost hints; workers homogeneous, or two speed classes 1:2 and
# 1:4 (the policy is told the speeds as weights); window 2 and 16; 100 tasks
# per worker (at most 10 million), and 1,000 per worker at 16 and 256
# workers. The look-ahead covers the whole workload (--lookahead = tasks),
# so `weighted` with hints hands out the longest task first. Each row also
# has the makespan of an ideal greedy scheduler that sees the tasks in the
# same order without hints (no latency, no batching): the best an online
# scheduler without hints can hope for. Writes bench/results/balance_sim.csv
# (LOOM_BENCH_RESULTS moves it) and prints the best policy per case.
set -euo pipefail

# shellcheck source=scripts/bench_common.sh
source "$(dirname "$0")/bench_common.sh"
bench_args "$@"
OUT=$RESULTS/balance_sim.csv
bench_build loom
LOOM=$BUILD/engine/loom

SIZES="16 256"
[ "$QUICK" = 1 ] || SIZES="16 256 4096 100000"
# static-unweighted: static with every weight 1, i.e. plain round-robin
# dealt out up front, blind to the speeds: the baseline that heterogeneous
# workers punish by their speed ratio.
POLICIES="least-loaded rr wrr weighted static static-unweighted"
mkdir -p "$RESULTS"
echo "workers,tasks,workload,hints,speeds,window,policy,makespan_s,lower_bound_s,ratio,greedy_s,ratio_greedy,makespan_over_greedy,imbalance,efficiency,lookahead,sim_seconds" >"$OUT.tmp"
CASES=""
for n in $SIZES; do
  CASES="$CASES $n:100"
  [ "$n" -le 256 ] && CASES="$CASES $n:1000"
done
for c in $CASES; do
  n=${c%%:*}
  tasks=$((n * ${c##*:}))
  [ "$tasks" -gt 10000000 ] && tasks=10000000
  for workload in fixed uniform lognormal pareto; do
    case $workload in
    fixed) dist=(--dist fixed) ;;
    uniform) dist=(--dist uniform) ;;
    lognormal) dist=(--dist lognormal --sigma 1) ;;
    pareto) dist=(--dist pareto --alpha 1.5 --cap 1) ;;
    esac
    for speeds in 1:1 1:2 1:4; do
      # The largest runs: only the heavy-tailed workloads, one speed mix.
      if [ "$n" -ge 100000 ] && { [ "$speeds" != 1:4 ] ||
        [ "$workload" = fixed ] || [ "$workload" = uniform ]; }; then
        continue
      fi
      for hints in no yes; do
        for window in 2 16; do
          [ "$n" -ge 4096 ] && [ "$window" = 16 ] && continue
          for p in $POLICIES; do
            pol=(--policy "$p")
            [ "$p" = static-unweighted ] && pol=(--policy static --weights flat)
            args=(sim --json --workers "$n" --tasks "$tasks" --mean 0.01
              "${dist[@]}" --speeds "$speeds" --window "$window" "${pol[@]}"
              --lookahead "$tasks")
            [ "$hints" = yes ] && args+=(--hints)
            "$LOOM" "${args[@]}" | python3 -c '
import json, sys
r = json.load(sys.stdin); b = r["balance"]
w, t, wl, h, sp, win, p = sys.argv[1:8]
print(",".join([w, t, wl, h, sp, win, p, "%.6g" % r["makespan_s"],
                "%.6g" % b["lower_bound_s"],
                "%.4f" % b["makespan_over_lower_bound"],
                "%.6g" % b["greedy_s"],
                "%.4f" % (b["greedy_s"] / b["lower_bound_s"]),
                "%.4f" % b["makespan_over_greedy"],
                "%.4f" % b["imbalance"], "%.4f" % b["efficiency"],
                str(r["lookahead"]), "%.3f" % r["sim_seconds"]]))' \
              "$n" "$tasks" "$workload" "$hints" "$speeds" "$window" "$p" \
              >>"$OUT.tmp"
          done
        done
      done
    done
  done
  echo "bench_balance.sh: $n workers, $tasks tasks done" >&2
done
mv "$OUT.tmp" "$OUT"
python3 - "$OUT" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cases = {}
for r in rows:
    key = (int(r["workers"]), int(r["tasks"]), r["workload"], r["hints"],
           r["speeds"], r["window"])
    cases.setdefault(key, []).append(r)
print("workers    tasks workload  hints speeds window  best policy (ratio)"
      "   greedy  least-loaded   rr  static  unweighted")
for key in sorted(cases):
    rs = cases[key]
    best = min(rs, key=lambda r: float(r["ratio"]))
    by = {r["policy"]: r for r in rs}
    print("%7d %8d %-9s %-5s %-6s %6s  %-12s %6.3f   %6.3f  %12.3f %6.3f %7.3f"
          " %11.3f"
          % (key + (best["policy"], float(best["ratio"]),
                    float(best["ratio_greedy"]),
                    float(by["least-loaded"]["ratio"]),
                    float(by["rr"]["ratio"]), float(by["static"]["ratio"]),
                    float(by["static-unweighted"]["ratio"]))))
PY
