#!/usr/bin/env bash
# plot_balance.sh - plots the balance benchmarks with gnuplot:
#   balance_real.png  real runs (scripts/bench_balance_real.sh): makespan /
#                     lower bound per policy, one bar per policy in each
#                     case (median, whiskers min-max over the repetitions,
#                     a dot for loom sim's ratio on the same case), one
#                     panel per worker set
#   balance_sim.png   the simulator (scripts/bench_balance.sh): each
#                     policy's makespan / lower bound against the worker
#                     count (log x), and the best policy's; a panel per
#                     workload and hints, at one speed mix and window
#                     (LOOM_PLOT_SPEEDS, default 1:4; LOOM_PLOT_WINDOW,
#                     default 2)
# Both y axes show the excess over the bound on a log scale (a ratio of
# 1.01 is as visible as one of 3), labelled as ratios.
#
# usage: scripts/plot_balance.sh [RESULTS_DIR [OUTPUT_DIR]]
#   RESULTS_DIR  holds balance_real_summary.csv (else balance_real.csv)
#                and balance_sim.csv; default bench/results
#                (LOOM_BENCH_RESULTS); OUTPUT_DIR defaults to RESULTS_DIR.
#                A missing CSV skips its plot.
set -euo pipefail

# shellcheck source=scripts/bench_common.sh
source "$(dirname "$0")/bench_common.sh"
case "${1:-}" in
-h | --help)
  sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
  ;;
esac
RESULTS=${1:-${LOOM_BENCH_RESULTS:-$ROOT/bench/results}}
OUTDIR=${2:-$RESULTS}
png_terminal "enhanced font ',10'" ""
mkdir -p "$OUTDIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/plot_balance.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Python (standard library only) reads the CSVs by column name and writes
# the gnuplot data and scripts: real.gp and sim.gp, each only when its CSV
# has rows.
python3 - "$RESULTS" "$OUTDIR" "$TMP" "$TERM_PNG" \
  "${LOOM_PLOT_SPEEDS:-1:4}" "${LOOM_PLOT_WINDOW:-2}" <<'PY'
import csv, math, os, statistics, sys

results, outdir, tmp, term, sim_speeds, sim_window = sys.argv[1:7]
POLICIES = ["least-loaded", "rr", "wrr", "weighted", "static"]
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# Curves that coincide stay visible: the first policies draw wider lines and
# larger points underneath the later ones.
STYLE = ["lw 4 pt 7 ps 1.5", "lw 3 pt 5 ps 1.2", "lw 2.5 pt 9 ps 1.1",
         "lw 2 pt 13 ps 0.9", "lw 1.5 pt 11 ps 0.8", "lw 1.5 pt 3 ps 0.8",
         "lw 1.5 pt 1 ps 0.8", "lw 1 pt 2 ps 0.7", "lw 1 pt 4 ps 0.7",
         "lw 1 pt 6 ps 0.7"]
FLOOR = 0.002  # excesses below this sit on the axis
TICS = [1.002, 1.005, 1.01, 1.02, 1.05, 1.1, 1.2, 1.5, 2, 3, 5, 10, 20, 50,
        100]


def excess(r):
    return max(float(r) - 1, FLOOR)


def ytics(top):
    return "set ytics (%s)" % ", ".join(
        '"%g" %g' % (t, t - 1) for t in TICS if t - 1 <= top * 1.5)


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def real():
    path = os.path.join(results, "balance_real_summary.csv")
    med = "ratio"
    if os.path.exists(path):
        rows = read(path)
    else:
        # Raw rows: the medians are taken here.
        path = os.path.join(results, "balance_real.csv")
        if not os.path.exists(path):
            return None
        raw = read(path)
        groups = {}
        key = ["case", "ranks", "workload", "hints", "speeds", "window",
               "policy"]
        for r in raw:
            groups.setdefault(tuple(r[k] for k in key), []).append(r)
        rows = []
        for k, rs in groups.items():
            rat = [float(r["ratio"]) for r in rs]
            sim = [float(r["sim_ratio"]) for r in rs
                   if r.get("sim_ratio", "") != ""]
            rows.append(dict(zip(key, k), ratio=statistics.median(rat),
                             ratio_min=min(rat), ratio_max=max(rat),
                             reps=len(rs), sim_ratio=(
                                 statistics.median(sim) if sim else "")))
    if not rows:
        return None
    sets = [("homog", "equal workers (np 3-5), sleep tasks"),
            ("fake", "two fast, two slow workers, weights from a fake "
             "topology (np 5), sleep tasks"),
            ("untold", "two fast, two 4x slower workers, weights not told "
             "(np 5), sleep tasks"),
            ("spin", "CPU-bound spin tasks, worker 2 beside a CPU hog (np 3), "
             "speeds measured")]
    known = {s for s, _ in sets}
    sets += [(s, s) for s in sorted({r["case"] for r in rows} - known)]
    panels = []
    top = 0
    for s, title in sets:
        rs = [r for r in rows if r["case"] == s]
        if not rs:
            continue
        cases = sorted({(int(r["ranks"]), r["speeds"], int(r["window"]),
                         r["workload"], r["hints"]) for r in rs},
                       key=lambda c: (c[0], c[1], c[2],
                                      ["fixed", "uniform", "lognormal",
                                       "pareto"].index(c[3])
                                      if c[3] in ("fixed", "uniform",
                                                  "lognormal", "pareto")
                                      else 9, c[4]))
        labels = []
        for g, c in enumerate(cases):
            np_, speeds, window, wl, hints = c
            line2 = []
            if s == "homog":
                line2.append("np %d" % np_)
            elif s != "spin":
                line2.append(speeds)
            if window != 2:
                line2.append("window %d" % window)
            labels.append((g, "%s%s%s" % (wl, ", hints" if hints == "yes"
                                          else "", "\\n" + ", ".join(line2)
                                          if line2 else "")))
        n = len(POLICIES)
        width = 0.8 / n
        for j, p in enumerate(POLICIES):
            with open(os.path.join(tmp, "real-%s-%s.dat" % (s, p)), "w") as f:
                for g, c in enumerate(cases):
                    m = [r for r in rs if r["policy"] == p and
                         (int(r["ranks"]), r["speeds"], int(r["window"]),
                          r["workload"], r["hints"]) == c]
                    if not m:
                        continue
                    r = m[0]
                    x = g + (j - (n - 1) / 2) * width
                    lo = float(r.get("ratio_min") or r[med])
                    hi = float(r.get("ratio_max") or r[med])
                    sim = r.get("sim_ratio", "")
                    top = max(top, excess(hi))
                    f.write("%g %g %g %g %s\n" % (
                        x, excess(r[med]), excess(lo), excess(hi),
                        "%g" % excess(sim) if sim not in ("", None) else "NaN"))
        reps = max(int(r.get("reps") or 1) for r in rs)
        panels.append((s, title, labels, reps))
    ncases = max(len(p[2]) for p in panels)
    w = min(3000, max(1000, 140 + 130 * ncases))
    h = 300 * len(panels) + 80
    gp = ["set terminal %s size %d,%d" % (term, w, h),
          'set output "%s"' % os.path.join(outdir, "balance_real.png"),
          "set multiplot layout %d,1 title \"Real loom runs on this machine: "
          "makespan / lower bound (bars: median; whiskers: min-max; dots: "
          "loom sim, same case)\\nsleep tasks pay a shell start-up of "
          "about 2-3 ms each, which the bound leaves out (about 1.05 "
          "with equal tasks)\"" % len(panels),
          "set logscale y", ytics(top),
          "set yrange [%g:%g]" % (FLOOR, top * 1.4),
          "set grid ytics", "set style fill solid 0.85 border -1",
          "set boxwidth %g absolute" % (0.8 / len(POLICIES)),
          "set key outside right top vertical Left reverse",
          'set ylabel "makespan / bound"',
          "set lmargin 10", "set rmargin 20"]
    for s, title, labels, reps in panels:
        gp.append('set title "%s (%d repetition%s)"'
                  % (title, reps, "" if reps == 1 else "s"))
        gp.append("set xrange [-0.6:%g]" % (max(ncases, 3) - 0.4))
        gp.append("set xtics (%s) nomirror" % ", ".join(
            '"%s" %d' % (l, g) for g, l in labels))
        parts, sims = [], []
        for j, p in enumerate(POLICIES):
            d = os.path.join(tmp, "real-%s-%s.dat" % (s, p))
            if os.path.getsize(d) == 0:
                continue
            parts.append('"%s" using 1:2 with boxes lc rgb "%s" title "%s"'
                         % (d, COLOURS[j], p))
            if reps > 1:
                parts.append('"%s" using 1:3:(0):($4-$3) with vectors '
                             'nohead lc rgb "black" lw 1.5 notitle' % d)
            sims.append('"%s" using 1:5 with points pt 7 ps 0.7 lc rgb '
                        '"black" %s' % (d, "notitle" if sims else
                                        'title "loom sim"'))
        gp.append("plot " + ", ".join(parts + sims))
        gp.append("unset key")
    gp.append("unset multiplot")
    return "\n".join(gp) + "\n"


def sim():
    path = os.path.join(results, "balance_sim.csv")
    if not os.path.exists(path):
        return None
    rows = [r for r in read(path) if r["speeds"] == sim_speeds and
            r["window"] == sim_window]
    if not rows:
        sys.stderr.write("plot_balance.sh: no rows with speeds %s and window "
                         "%s in %s\n" % (sim_speeds, sim_window, path))
        return None
    # Sweeps may hold several task counts per worker count: one slice,
    # LOOM_PLOT_TASKS_PER_WORKER, else 100 where present, else the most
    # common.
    tpw = ""
    if "tasks" in rows[0]:
        per = [int(r["tasks"]) // int(r["workers"]) for r in rows]
        want = os.environ.get("LOOM_PLOT_TASKS_PER_WORKER", "")
        if want:
            tpw = int(want)
        elif 100 in per:
            tpw = 100
        else:
            tpw = max(set(per), key=per.count)
        rows = [r for r, n in zip(rows, per) if n == tpw]
        if not rows:
            sys.stderr.write("plot_balance.sh: no rows with %s tasks per "
                             "worker in %s\n" % (tpw, path))
            return None
    # Any other column that tells rows apart: the first row wins, said once.
    seen, differ = {}, set()
    keep = []
    for r in rows:
        k = (r["workers"], r["workload"], r["hints"], r["policy"])
        if k in seen:
            differ |= {c for c in r if r[c] != seen[k][c]}
            continue
        seen[k] = r
        keep.append(r)
    if differ:
        sys.stderr.write("plot_balance.sh: balance_sim.csv has several rows "
                         "per case (they differ in %s); plotting the first\n"
                         % ", ".join(sorted(differ)))
    rows = keep
    policies = [p for p in POLICIES if any(r["policy"] == p for r in rows)]
    policies += sorted({r["policy"] for r in rows} - set(policies))
    workloads = [w for w in ["fixed", "uniform", "lognormal", "pareto"]
                 if any(r["workload"] == w for r in rows)]
    workloads += sorted({r["workload"] for r in rows} - set(workloads))
    hints = [h for h in ["no", "yes"] if any(r["hints"] == h for r in rows)]
    top = max(excess(r["ratio"]) for r in rows)
    xs = sorted({int(r["workers"]) for r in rows})
    gp = ["set terminal %s size %d,%d" % (term, 380 * len(workloads) + 120,
                                          330 * len(hints) + 110),
          'set output "%s"' % os.path.join(outdir, "balance_sim.png"),
          "set multiplot layout %d,%d title \"loom sim: makespan / lower bound "
          "against workers (speeds %s, window %s%s)\"" % (
              len(hints), len(workloads), sim_speeds, sim_window,
              "; %s tasks per worker" % tpw if tpw != "" else ""),
          "set logscale xy", ytics(top),
          "set yrange [%g:%g]" % (FLOOR, top * 1.6),
          "set xrange [%g:%g]" % (xs[0] / 1.6, xs[-1] * 1.6),
          "set xtics (%s)" % ", ".join('"%s" %d' % (
              ("%dk" % (x // 1000)) if x >= 10000 else str(x), x) for x in xs),
          "set grid", 'set xlabel "workers"', 'set ylabel "makespan / bound"',
          "set key top left font ',8'"]
    first = True
    for h in hints:
        for wl in workloads:
            rs = [r for r in rows if r["hints"] == h and r["workload"] == wl]
            best = {}
            parts = []
            for j, p in enumerate(policies):
                pts = sorted((int(r["workers"]), excess(r["ratio"]))
                             for r in rs if r["policy"] == p)
                for x, y in pts:
                    best[x] = min(best.get(x, y), y)
                d = os.path.join(tmp, "sim-%s-%s-%s.dat" % (h, wl, p))
                with open(d, "w") as f:
                    f.write("".join("%d %g\n" % xy for xy in pts))
                if pts:
                    parts.append('"%s" using 1:2 with linespoints %s '
                                 'lc rgb "%s" %s' % (
                                     d, STYLE[j % len(STYLE)],
                                     COLOURS[j % len(COLOURS)], 'title "%s"' % p
                                     if first else "notitle"))
            d = os.path.join(tmp, "sim-%s-%s-best.dat" % (h, wl))
            with open(d, "w") as f:
                f.write("".join("%d %g\n" % xy for xy in sorted(best.items())))
            parts.append('"%s" using 1:2 with lines dt 2 lw 3 lc rgb "black" '
                         '%s' % (d, 'title "best"' if first else "notitle"))
            gp.append('set title "%s, %s"' % (
                wl, "cost hints" if h == "yes" else "no hints"))
            gp.append("plot " + ", ".join(parts))
            first = False
    gp.append("unset multiplot")
    return "\n".join(gp) + "\n"


for name, fn in (("real", real), ("sim", sim)):
    text = fn()
    if text:
        with open(os.path.join(tmp, name + ".gp"), "w") as f:
            f.write(text)
PY

WROTE=0
for name in real sim; do
  [ -f "$TMP/$name.gp" ] || continue
  gnuplot "$TMP/$name.gp"
  echo "wrote $OUTDIR/balance_$name.png"
  WROTE=1
done
if [ "$WROTE" = 0 ]; then
  echo "plot_balance.sh: no balance_real*.csv or balance_sim.csv in" \
    "$RESULTS; run scripts/bench_balance_real.sh or bench_balance.sh" >&2
  exit 1
fi
