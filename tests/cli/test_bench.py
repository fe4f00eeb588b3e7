#!/usr/bin/env python3
"""test_bench.py - bench/loombench.py, the benchmarks' one program.

Imports it as a module and checks its pure parts on hand-made rows: the
medians and summaries, the row formatters, the lower bound, the CSV
headers (against the committed results in bench/results/) and each
subcommand's --help. Then a smoke run of `balance-sim`, `dispatch`,
`slots` and `state` (a few seconds each) into a temporary results
directory, with the binaries of the build that LOOM_BIN lies in
(LOOM_BIN=BUILD/engine/loom), and their plots where gnuplot is installed. Speed is never asserted.
"""

import contextlib
import csv
import importlib.util
import io
import json
import math
import os
import shutil
import sys
from unittest import mock

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402

BENCH = os.path.join(loomtest.SOURCE_ROOT, "bench", "loombench.py")
RESULTS = os.path.join(loomtest.SOURCE_ROOT, "bench", "results")
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(loomtest.LOOM)))


def load_bench():
    spec = importlib.util.spec_from_file_location("loombench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


lb = load_bench()
SUBCOMMANDS = ["dispatch", "balance-sim", "balance-real", "slowdown",
               "bigfile", "state", "plot", "slots", "suite"]


def raw(impl, ranks, work, seconds, tps, over, eff, task_s="0", tasks="100"):
    """A raw dispatch.csv row as a list of fields."""
    return [impl, str(ranks), str(ranks - 1), work, task_s, tasks,
            str(seconds), str(tps), str(over), str(eff)]


class PureTest(loomtest.LoomTestCase):

    def test_median(self):
        self.assertEqual(lb.median(["3", "1", "2"]), 2)
        self.assertEqual(lb.median([4, 1, 2, 3]), 2.5)
        self.assertIsNone(lb.median([]))
        self.assertIsNone(lb.median(["1", ""]))

    def test_dispatch_row(self):
        self.assertEqual(
            lb.dispatch_row("sh-loop-true", 1, 1, "bin-true", 2000, 2.0),
            "sh-loop-true,1,1,bin-true,0,2000,2.000000,1000.0,1000.000,")
        self.assertEqual(
            lb.dispatch_row("loom-run-true", 3, 2, "sh-c-true", 10, 0.5),
            "loom-run-true,3,2,sh-c-true,0,10,0.500000,20.0,100000.000,")
        # A clock step: zero seconds still gives a finite row.
        self.assertIn(",1000000000000.0,",
                      lb.dispatch_row("x", 1, 1, "w", 1000, 0))

    def test_dispatch_summary_medians_and_ratios(self):
        rows = [
            raw("textbook", 2, "none", 2.0, 100, 20, ""),
            raw("batched", 2, "none", 0.5, 400, 2, ""),
            raw("loom", 2, "none", 1.0, 200, 5, ""),
            raw("textbook", 2, "none", 4.0, 50, 40, ""),
            raw("batched", 2, "none", 0.25, 800, 1, ""),
            raw("loom", 2, "none", 3.0, 100, 15, ""),
            raw("textbook", 2, "none", 3.0, 80, 30, ""),
            raw("batched", 2, "none", 1.0, 200, 4, ""),
            raw("loom", 2, "none", 2.0, 150, 10, ""),
            raw("loom", 3, "spin", 1.0, 90, 7, 0.9, task_s="0.001"),
            raw("loom", 3, "spin", 2.0, 70, 9, 0.7, task_s="0.001"),
            raw("loom-array", 2, "none", 0.4, 300, 1.5, ""),
            ["sh-loop-true", "1", "1", "bin-true", "0", "100", "0.1",
             "1000.0", "100.0", ""],
        ]
        out = lb.dispatch_summary(rows)
        self.assertEqual(out[0], lb.DISPATCH_SUMMARY_HEADER)
        got = {tuple(r[:4]): r for r in csv.reader(out[1:])}
        self.assertEqual([r[0] for r in csv.reader(out[1:])],
                         ["textbook", "batched", "loom", "loom",
                          "loom-array", "sh-loop-true"])  # first rows' order
        t = got["textbook", "2", "1", "none"]
        self.assertEqual(t[6:], ["3", "3.000000", "80.0", "30.000", "", "",
                                 ""])
        b = got["batched", "2", "1", "none"]
        self.assertEqual(b[6:11], ["3", "0.500000", "400.0", "2.000", ""])
        lo = got["loom", "2", "1", "none"]
        # loom 150/s against batched 400/s and textbook 80/s.
        self.assertEqual(lo[6:], ["3", "2.000000", "150.0", "10.000", "",
                                  "0.375", "1.875"])
        spin = got["loom", "3", "2", "spin"]
        # Two runs: the median is the mean of the middle two; no baseline
        # at 3 ranks, so no ratios.
        self.assertEqual(spin[4:], ["0.001", "100", "2", "1.500000", "80.0",
                                    "8.000", "0.8000", "", ""])
        # The task array against the same baselines: 300/400, 300/80.
        self.assertEqual(got["loom-array", "2", "1", "none"][11:],
                         ["0.750", "3.750"])
        self.assertEqual(got["sh-loop-true", "1", "1", "bin-true"][10], "")

    def test_dispatch_summary_of_the_committed_rows(self):
        # The committed summary was written by the shell version from the
        # committed rows; the port must give it byte for byte.
        raw_path = os.path.join(RESULTS, "dispatch.csv")
        summary = os.path.join(RESULTS, "dispatch_summary.csv")
        if not (os.path.exists(raw_path) and os.path.exists(summary)):
            self.skipTest("no committed dispatch results")
        with open(summary) as f:
            want = f.read().splitlines()
        self.assertEqual(lb.dispatch_summary(lb.read_csv_lists(raw_path)),
                         want)

    def test_lower_bound(self):
        # All the work at the combined speed...
        self.assertAlmostEqual(lb.lower_bound([1, 1, 1, 1], [1, 1]), 2)
        self.assertAlmostEqual(lb.lower_bound([1, 1, 1], [1, 0.5]), 2)
        # ... or the longest task on the fastest worker.
        self.assertAlmostEqual(lb.lower_bound([10, 1, 1], [1, 0.5]), 10)
        self.assertAlmostEqual(lb.lower_bound([4], [1, 1, 2]), 2)

    def test_durations_come_from_loom(self):
        # The sleep files' durations are loom's own draws: their lower
        # bound is the one `loom sim` computes on the same workload.
        us = lb.durations_us(loomtest.LOOM, "pareto", 80)
        self.assertEqual(len(us), 80)
        self.assertTrue(all(isinstance(u, int) and u >= 0 for u in us))
        self.assertLessEqual(max(us), 4000000)  # capped at 100 x 40 ms
        args = ["sim", "--json", "--workers", "2", "--tasks", "80", "--seed",
                "6", "--speeds", "1x2"]
        for k, v in lb.dist_args("pareto", 0.04).items():
            args += ["--" + k, v]
        r = self.loom(args, expect_rc=0)
        bound = json.loads(r.stdout)["balance"]["lower_bound_s"]
        self.assertAlmostEqual(lb.lower_bound([u / 1e6 for u in us], [1, 1]),
                               bound, delta=1e-4)
        lb.write_real_taskfiles(self.path("pareto-80"), "pareto", 6, us)
        with open(self.path("pareto-80-h.txt")) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "# pareto, 80 tasks, seed 6, cost hints")
        self.assertEqual(lines[1], "sleep $((%d*${SLOW:-1}))e-6  #loom "
                         "cost=%.6f" % (us[0], us[0] / 1e6))
        with open(self.path("pareto-80.base")) as f:
            self.assertEqual([int(x) for x in f], us)

    def test_balance_real_cases(self):
        quick = lb.balance_real_cases("quick")
        self.assertIn(["fake", 5, "1:4", 16, ["lognormal+h"]], quick)
        every = lb.balance_real_cases("quick", all_variants=True)
        self.assertEqual(len(every), len(quick))
        self.assertTrue(all(c[4] == lb.ALL_VARIANTS for c in every))
        apps, slow, expect, told = lb.real_apps("loom", ["t.txt"], "fake", 5,
                                                4)
        self.assertEqual((slow, expect, told), ("1/1/4/4", "4/4/1/1", "yes"))
        self.assertEqual(apps.count(":"), 4)
        self.assertIn("LOOM_CPUSET=0", apps)

    def test_balance_real_summary(self):
        def row(rep, policy, ratio, overhead="3.00", sim="1.0100"):
            return dict(zip(lb.REAL_HEADER.split(","), [
                str(rep), "homog", "sleep", "3", "2", "fixed", "no", "1:1",
                "yes", "2", policy, "80", "2.0", "1.6", ratio, "0.01", "0.99",
                "1.0", "2/2", "1.0/1.0", "40/40", overhead, sim, "2.5"]))

        rows = [row(1, "rr", "1.2"), row(2, "rr", "1.1", overhead=""),
                row(3, "rr", "1.5", sim=""), row(1, "static", "1.05")]
        lines, table = lb.balance_real_summary(rows)
        self.assertEqual(lines[0], lb.REAL_SUMMARY_HEADER)
        got = [dict(zip(lines[0].split(","), l.split(",")))
               for l in lines[1:]]
        self.assertEqual(len(got), 2)
        rr = got[0]
        self.assertEqual((rr["policy"], rr["reps"], rr["ratio"],
                          rr["ratio_min"], rr["ratio_max"]),
                         ("rr", "3", "1.2000", "1.1000", "1.5000"))
        self.assertEqual(rr["overhead_ms"], "3.0000")  # empties left out
        self.assertEqual(rr["sim_ratio"], "1.0100")
        self.assertIn("median of 3 repetition(s)", table[1])
        self.assertIn("static", table[-1])  # the best policy

    def test_slowdown_row_and_summary(self):
        def task(rank, start, elapsed):
            return {"rank": str(rank), "start": str(start),
                    "elapsed": str(elapsed), "status": "ok"}

        hog = 100.0
        rows = [task(1, 99.0, 0.5), task(2, 99.0, 0.5)]  # before the hog
        rows += [task(1, 101.0, 0.1), task(1, 101.1, 0.1),
                 task(2, 101.0, 0.3)]  # after: worker 2 at a third
        line = lb.slowdown_row(rows, hog, 1, "weighted", "no", 5, 2)
        self.assertEqual(line, "1,weighted,no,5,2,0.500,0.333,0.250,0.333,"
                         "0.100,2.300")
        with self.assertRaises(lb.BenchError):
            lb.slowdown_row(rows[:4], hog, 1, "weighted", "no", 5, 2)
        cols = lb.SLOWDOWN_HEADER.split(",")
        rs = [dict(zip(cols, s.split(","))) for s in (
            "1,weighted,no,5,2,0.5,0.3,0.3,0.5,0.0,2.2",
            "2,weighted,no,5,2,0.4,0.3,0.3,0.5,0.1,2.4",
            "1,static,no,5,2,0.5,0.5,0.3,0.5,0.4,3.0")]
        lines, table = lb.slowdown_summary(rs)
        self.assertEqual(lines, [
            lb.SLOWDOWN_SUMMARY_HEADER,
            "static,no,1,0.500,0.500,0.300,0.500,0.400,3.000",
            "weighted,no,2,0.450,0.300,0.300,0.500,0.050,2.300"])
        self.assertEqual(len(table), 3)

    def test_balance_sim_row_and_table(self):
        r = {"makespan_s": 1.5, "lookahead": 1600, "sim_seconds": 0.01234,
             "balance": {"lower_bound_s": 1.25, "makespan_over_lower_bound":
                         1.2, "greedy_s": 1.375, "makespan_over_greedy":
                         1.0909, "imbalance": 0.05, "efficiency": 0.95}}
        line = lb.balance_sim_row(16, 1600, "pareto", "yes", "1:4", 2,
                                  "weighted", r)
        self.assertEqual(line, "16,1600,pareto,yes,1:4,2,weighted,1.5,1.25,"
                         "1.2000,1.375,1.1000,1.0909,0.0500,0.9500,1600,"
                         "0.012")
        self.assertEqual(
            lb.balance_sim_args(16, 1600, "pareto", "yes", "1:4", 2,
                                "static-unweighted"),
            ["sim", "--json", "--workers", "16", "--tasks", "1600", "--mean",
             "0.01", "--dist", "pareto", "--alpha", "1.5", "--cap", "1",
             "--speeds", "1:4", "--window", "2", "--policy", "static",
             "--weights", "flat", "--lookahead", "1600", "--hints"])
        cols = lb.BALANCE_SIM_HEADER.split(",")
        rows = []
        for p, ratio in (("least-loaded", "1.3"), ("rr", "1.2"),
                         ("static", "2.0"), ("static-unweighted", "3.0")):
            f = line.split(",")
            f[6], f[9] = p, ratio
            rows.append(dict(zip(cols, f)))
        table = lb.balance_sim_table(rows)
        self.assertEqual(len(table), 2)
        self.assertIn(" rr ", table[1])
        self.assertTrue(lb.balance_sim_skip(100000, "fixed", "1:4", 2))
        self.assertTrue(lb.balance_sim_skip(4096, "pareto", "1:4", 16))
        self.assertFalse(lb.balance_sim_skip(100000, "pareto", "1:4", 2))

    def test_headers_match_the_committed_results(self):
        headers = {
            "dispatch.csv": lb.DISPATCH_HEADER,
            "dispatch_summary.csv": lb.DISPATCH_SUMMARY_HEADER,
            "balance_sim.csv": lb.BALANCE_SIM_HEADER,
            "balance_real.csv": lb.REAL_HEADER,
            "balance_real_summary.csv": lb.REAL_SUMMARY_HEADER,
            "slowdown.csv": lb.SLOWDOWN_HEADER,
            "slowdown_summary.csv": lb.SLOWDOWN_SUMMARY_HEADER,
            "bigfile.csv": lb.BIGFILE_HEADER,
            "bigfile_run.csv": lb.BIGFILE_RUN_HEADER,
            "slots.csv": lb.SLOTS_HEADER,
        }
        for name, header in headers.items():
            path = os.path.join(RESULTS, name)
            if not os.path.exists(path):
                continue
            with open(path) as f:
                self.assertEqual(f.readline().rstrip("\n"), header, name)

    def test_bigfile_lines(self):
        p = self.path("t")
        lb.write_bigfile(p, 100, hinted=True)
        with open(p) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], ": task 1 #loom cost=0.002")
        self.assertEqual(lines[98], ": task 99 #loom cost=0.100")
        self.assertEqual(lines[99], ": task 100 #loom cost=0.001")
        self.assertEqual(lb.human_size(120 * 1024), "120K")
        self.assertEqual(lb.human_size(1300 * 1024), "1.3M")

    def test_dispatch_plot_script(self):
        summary = [["loom", "3", "2", "none", "0", "10", "3", "1", "3e6",
                    "1", "", "", ""],
                   ["loom", "2", "1", "none", "0", "10", "3", "1", "2e6",
                    "1", "", "", ""],
                   ["textbook", "2", "1", "spin", "0.001", "10", "3", "1",
                    "900", "1", "0.9", "", ""]]
        data = lb.dispatch_plot_data(summary)
        self.assertEqual(data["loom", "empty"], ["2 2e6", "3 3e6"])
        self.assertEqual(data["textbook", "1ms"], ["2 0.9"])
        files = {k: "/d/%s-%s.dat" % k for k in data}
        script, wrote = lb.dispatch_gnuplot(data, files, "png", "/o", 2)
        self.assertEqual(wrote, ["/o/dispatch_empty.png",
                                 "/o/dispatch_1ms.png"])
        self.assertIn("set xrange [2 - 0.25:3 + 0.25]", script)
        self.assertIn("bound(r) = (2 >= r - 1) ? 1 : 2.0 / (r - 1)", script)
        self.assertNotIn("batched", script)

    def test_state_summary_and_ratios(self):
        def row(impl, mode, mix, ranks, ops, lat):
            return {"impl": impl, "mode": mode, "mix": mix,
                    "ranks": str(ranks), "ops_per_s": str(ops),
                    "lat_median_us": str(lat), "lat_p99_us": str(lat * 3)}
        rows = [row("pingpong", "-", "-", 2, 1e6, 1.0),
                row("pingpong", "-", "-", 2, 1e6, 3.0),
                row("loom", "strong", "add", 2, 1e5, 8.0),
                row("loom", "strong", "put", 2, 2e5, 5.0),
                row("loom", "causal", "put", 2, 4e6, 0.2),
                row("loom-busy", "strong", "add", 2, 5e4, 12.0)]
        lines, table = lb.state_summary(rows)
        self.assertIn("pingpong,-,-,2,2,1000000,2.00,6.00", lines)
        self.assertIn("strong_add_latency_over_pingpong,2,4.00", lines)
        self.assertIn("causal_put_throughput_over_strong,2,20.0", lines)
        self.assertIn("strong_add_latency_busy_over_idle,2,1.50", lines)
        self.assertFalse(any(l.startswith("eventual_put") for l in lines))
        self.assertEqual(len(table), len(lines))
        self.assertEqual([c[0] for c in lb.state_cases(2)].count("loom"), 12)
        self.assertIn("loom-busy", [c[0] for c in lb.state_cases(3)])
        self.assertNotIn("loom-busy", [c[0] for c in lb.state_cases(2)])

    def test_columns(self):
        self.assertEqual(lb.columns(["a,bb,c", "ccc,d,"]),
                         ["a    bb  c", "ccc  d"])

    def test_help_of_every_subcommand(self):
        for sub in SUBCOMMANDS:
            r = loomtest.run_argv([sys.executable, BENCH, sub, "--help"],
                                  timeout=30)
            self.assertEqual(r.rc, 0, r.describe())
            self.assertIn("usage: bench/loombench.py " + sub, r.stdout,
                          r.describe())
        r = loomtest.run_argv([sys.executable, BENCH, "--help"], timeout=30)
        self.assertEqual(r.rc, 0, r.describe())
        for sub in SUBCOMMANDS:
            self.assertIn(sub, r.stdout)
        r = loomtest.run_argv([sys.executable, BENCH, "dispatch", "--bogus"],
                              timeout=30)
        self.assertEqual(r.rc, 2, r.describe())

    def test_main_in_process(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) \
                as e:
            lb.main(["plot", "--help"])
        self.assertEqual(e.exception.code, 0)
        self.assertIn("balance_sim.png", out.getvalue())
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = lb.main(["plot", "dispatch", "--results", self.path("none")])
        self.assertEqual(rc, 1)
        self.assertIn("dispatch_summary.csv", err.getvalue())


class SuiteTest(loomtest.LoomTestCase):
    """The suite's arithmetic on hand-made rows: rank counts, METG,
    ceilings, speedup and efficiency, the peers' ratios and the summary
    that states them."""

    def test_rank_counts_double_up_to_the_most(self):
        self.assertEqual(lb.suite_workers(2), [1])
        self.assertEqual(lb.suite_workers(3), [1, 2])
        self.assertEqual(lb.suite_workers(17), [1, 2, 4, 8, 16])
        self.assertEqual(lb.suite_workers(13), [1, 2, 4, 8, 12])
        with mock.patch.dict(os.environ, {"SLURM_NTASKS": "33"}):
            self.assertEqual(lb.default_max_ranks(), 33)
        with mock.patch.dict(os.environ):
            os.environ.pop("SLURM_NTASKS", None)
            self.assertEqual(lb.default_max_ranks(), lb.ncores() + 1)

    def test_metg_interpolates_where_efficiency_crosses(self):
        pts = [(1e-5, 0.1), (1e-4, 0.4), (1e-3, 0.6), (1e-2, 0.95)]
        sign, d = lb.metg(pts, 0.5)
        self.assertEqual(sign, "=")
        # Half way from 0.4 to 0.6 in log(duration): sqrt(1e-4 x 1e-3).
        self.assertAlmostEqual(math.log10(d), -3.5, places=6)
        self.assertEqual(lb.metg(pts, 0.05), ("<", 1e-5))
        self.assertEqual(lb.metg(pts, 0.99), (">", 1e-2))
        # A dip after a crossing counts: every longer task must reach it.
        dip = [(1e-5, 0.6), (1e-4, 0.3), (1e-3, 0.7)]
        self.assertAlmostEqual(math.log10(lb.metg(dip, 0.5)[1]), -3.5,
                               places=6)
        self.assertIsNone(lb.metg([], 0.5))
        self.assertEqual(lb.metg_text(("<", 1e-5)), "<10 us")
        self.assertEqual(lb.metg_text(("=", 0.0025)), "2.5 ms")

    def test_ceiling_is_the_most_cores_at_the_target(self):
        rows = [(128, 0.99), (256, 0.95), (512, 0.7), (1024, 0.2)]
        self.assertEqual(lb.ceiling_of(rows, 0.9), 256)
        self.assertEqual(lb.ceiling_of(rows, 0.5), 512)
        self.assertIsNone(lb.ceiling_of(rows, 0.999))

    def write(self, name, header, lines):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(header + "\n" + "".join(l + "\n" for l in lines))
        return path

    def test_scaling_rows_get_speedup_and_efficiency(self):
        path = self.write("scaling.csv", lb.SCALING_HEADER, [
            "strong,spin,0.001,2,1,0,1000,1.000000,0,1.250000,,",
            "strong,spin,0.001,3,2,1,1000,1.000000,0,0.625000,,",
            "weak,spin,0.001,3,2,1,2000,2.000000,0,1.250000,,",
            "weak,spin,0.001,2,1,0,1000,1.000000,0,1.000000,,",
            "strong,primes,0,2,1,0,200,3.000000,0,4.000000,,",
            "strong,primes,0,3,2,1,200,3.100000,0,2.500000,,"])
        lb.fill_scaling(path)
        got = {(r["bench"], r["kind"], r["workers"]): r
               for r in lb.read_csv(path)}
        self.assertEqual(got["strong", "spin", "2"]["speedup"], "2.0000")
        # Spin: known work over workers x makespan.
        self.assertEqual(got["strong", "spin", "1"]["efficiency"], "0.8000")
        self.assertEqual(got["strong", "spin", "2"]["efficiency"], "0.8000")
        # Weak: 1 worker's time x workers over this time.
        self.assertEqual(got["weak", "spin", "2"]["speedup"], "1.6000")
        # Others: speedup over workers.
        self.assertEqual(got["strong", "primes", "2"]["speedup"], "1.6000")
        self.assertEqual(got["strong", "primes", "2"]["efficiency"],
                         "0.8000")

    def test_peer_ratios_are_loom_over_the_peer(self):
        path = self.write("peers.csv", lb.PEERS_HEADER, [
            "empty,2,1,0,loom-lib,1000,0,0.1,10000.0,",
            "empty,2,1,0,loom-run,1000,0,0.2,5000.0,",
            "empty,2,1,0,loom-lib-array,1000,0,0.05,20000.0,",
            "empty,2,1,0,futures-c64,1000,0,0.4,2500.0,",
            "true,2,1,0,loom-run,100,0,1.0,100.0,",
            "true,2,1,0,xargs,100,0,0.5,200.0,"])
        lb.fill_peers(path)
        got = {(r["workload"], r["impl"]): r["loom_over_impl"]
               for r in lb.read_csv(path)}
        self.assertEqual(got["empty", "futures-c64"], "4.000")
        self.assertEqual(got["empty", "loom-run"], "1.000")
        # loom's own rows are their own reference; peers stay against the
        # library's spec-per-task rate.
        self.assertEqual(got["empty", "loom-lib-array"], "1.000")
        self.assertEqual(got["true", "xargs"], "0.500")
        summary = lb.suite_summary(self.tmp, 2)
        # Losses are said plainly, and the CLI's share of the library.
        self.assertIn("Where loom loses: true tasks at 1 workers, xargs is "
                      "2.00x faster", summary)
        self.assertIn("`loom run` does 0.50x the library's rate", summary)
        self.assertIn("the same tasks as one task array run at 2.00x the "
                      "rate of a spec per task", summary)

    def test_summary_states_metg_and_the_ceiling(self):
        self.write("metg.csv", lb.METG_HEADER, [
            "loom-run,3,2,1,0.0001,100,0,0.1,0.4",
            "loom-run,3,2,1,0.001,100,0,0.1,0.6",
            "loom-run,3,2,1,0.01,100,0,0.1,0.95"])
        self.write("ceiling.csv", lb.CEILING_HEADER, [
            "measured,,,,,1000,,,0.000001",
            "measured-msg,,,,,100,,,0.000002",
            "sim,0.001,1,128,128,256,0.95,0.5,",
            "sim,0.001,1,256,256,512,0.80,0.9,",
            "sim,0.001,1,512,512,1024,0.40,1.0,"])
        summary = lb.suite_summary(self.tmp, 2)
        self.assertIn("| loom-run | 3 | 2 | 316 us | 7.2 ms |", summary)
        self.assertIn("1 us per task", summary)
        self.assertIn("| 1 ms | one rank a core | 128 | 256 | no |", summary)
        self.assertIn("steps of 2x", summary)

    def test_summary_ends_with_the_other_benchmarks(self):
        self.write("dispatch_summary.csv", lb.DISPATCH_SUMMARY_HEADER, [
            "batched,3,2,none,0,1000,5,0.1,10000000.0,0.1,,,",
            "loom,3,2,none,0,1000,5,0.4,2500000.0,0.4,,0.250,9.000",
            "loom,3,2,spin,0.001,1000,5,1.0,1000.0,1.0,0.99,0.990,1.000"])
        with open(self.path("slots_summary.csv"), "w") as f:
            f.write("workload,layout,ranks,slots,runs,tasks_per_s,"
                    "msgs_per_task,node_rss_mib\n"
                    "true,slots,2,2,1,500.0,2.0,27.5\n\n"
                    "workload,throughput_slots_over_ranks,"
                    "msgs_slots_over_ranks,rss_slots_over_ranks\n"
                    "true,1.065,1.000,0.647\n")
        summary = lb.suite_summary(self.tmp, 2)
        self.assertIn("| 3 | loom | 2.5e+06 | 0.250 | 9.000 |", summary)
        self.assertNotIn("0.990", summary)  # spin rows are not the rate
        self.assertIn("| true | 1.065 | 1.000 | 0.647 |", summary)


class SmokeTest(loomtest.LoomTestCase):
    """Tiny real runs of two benchmarks into a temporary results dir."""

    def bench(self, *args, timeout=120):
        r = loomtest.run_argv([sys.executable, BENCH] + list(args) +
                              ["--results", self.path("results")],
                              timeout=timeout)
        self.assertEqual(r.rc, 0, r.describe())
        return r

    def csv_rows(self, name, header):
        path = self.path("results", name)
        self.assertTrue(os.path.exists(path), "no " + name)
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], header, name)
        self.assertGreater(len(lines), 1, name + " has no data row")
        return list(csv.DictReader(lines))

    def plot(self, family, png):
        if not shutil.which("gnuplot"):
            return
        r = loomtest.run_argv([sys.executable, BENCH, "plot", family,
                               "--results", self.path("results")], timeout=60)
        self.assertEqual(r.rc, 0, r.describe())
        for p in png:
            self.assertTrue(os.path.getsize(self.path("results", p)) > 0, p)

    def test_balance_sim_smoke(self):
        self.bench("balance-sim", "--smoke", "--no-build", BUILD)
        rows = self.csv_rows("balance_sim.csv", lb.BALANCE_SIM_HEADER)
        self.assertEqual(len(rows), 4 * 3 * 2 * 2 * len(lb.SIM_POLICIES))
        self.assertTrue(all(float(r["ratio"]) >= 0.999 for r in rows))
        self.assertFalse(os.path.exists(self.path("results",
                                                  "balance_sim.csv.tmp")))
        # LOOM_PLOT_SPEEDS and LOOM_PLOT_WINDOW pick the slice: default 1:4
        # and 2, present here.
        self.plot("balance", ["balance_sim.png"])

    def test_dispatch_smoke(self):
        for t in ("bench-textbook", "bench-batched", "bench-dispatch"):
            if not os.path.exists(lb.target_path(BUILD, t)):
                self.skipTest("%s not built in %s" % (t, BUILD))
        self.bench("dispatch", "--smoke", "--no-build", BUILD)
        rows = self.csv_rows("dispatch.csv", lb.DISPATCH_HEADER)
        impls = {r["impl"] for r in rows}
        self.assertLessEqual({"textbook", "batched", "loom", "loom-array",
                              "sh-loop-true", "loom-run-true"}, impls)
        summary = self.csv_rows("dispatch_summary.csv",
                                lb.DISPATCH_SUMMARY_HEADER)
        for impl in ("loom", "loom-array"):
            loom = [r for r in summary if r["impl"] == impl]
            self.assertTrue(loom and all(r["loom_over_batched"]
                                         for r in loom))
        self.plot("dispatch", ["dispatch_empty.png", "dispatch_1ms.png"])

    def test_state_smoke(self):
        if not os.path.exists(lb.target_path(BUILD, "bench-state")):
            self.skipTest("bench-state not built in %s" % BUILD)
        self.bench("state", "--smoke", "--no-build", BUILD)
        rows = self.csv_rows("state.csv", lb.STATE_HEADER)
        self.assertEqual({(r["impl"], r["mode"]) for r in rows},
                         {("pingpong", "-"), ("owner", "-"),
                          ("loom", "strong"), ("loom", "causal"),
                          ("loom", "eventual")})
        self.assertTrue(all(int(r["ops"]) == 300 for r in rows))
        self.plot("state", ["state.png"])


    def test_suite_smoke(self):
        """The one command, in seconds: every file, every part with rows,
        the machine described, oversubscription marked."""
        self.bench("suite", "--smoke", "--no-build", "--max-ranks", "3",
                   BUILD, timeout=300)
        out = [d for d in os.listdir(self.path("results"))]
        self.assertEqual(len(out), 1, out)
        d = os.path.join("results", out[0])
        for name, header in (("scaling.csv", lb.SCALING_HEADER),
                             ("metg.csv", lb.METG_HEADER),
                             ("peers.csv", lb.PEERS_HEADER),
                             ("ceiling.csv", lb.CEILING_HEADER)):
            rows = self.csv_rows(os.path.join(out[0], name), header)
            self.assertTrue(all(r.get("ranks", "2") in ("", "2", "3")
                                for r in rows), name)
        rows = lb.read_csv(self.path(d, "scaling.csv"))
        self.assertEqual({(r["bench"], r["kind"]) for r in rows},
                         {("strong", "spin"), ("strong", "pi"),
                          ("strong", "primes"), ("weak", "spin"),
                          ("weak", "pi")})
        self.assertTrue(all(r["speedup"] and r["efficiency"] for r in rows))
        impls = {r["impl"] for r in lb.read_csv(self.path(d, "peers.csv"))}
        self.assertLessEqual({"loom-lib", "loom-run", "xargs"}, impls)
        ceiling = lb.read_csv(self.path(d, "ceiling.csv"))
        self.assertEqual({r["what"] for r in ceiling},
                         {"measured", "measured-msg", "sim"})
        with open(self.path(d, "machine.md")) as f:
            machine = f.read()
        self.assertIn("MPI | mpirun (Open MPI)", machine)
        over = "3 (oversubscribed)" if lb.ncores() < 3 else "3 |"
        self.assertIn(over, machine)
        with open(self.path(d, "summary.md")) as f:
            summary = f.read()
        for part in ("Strong and weak scaling", "METG", "Peers",
                     "single master's ceiling"):
            self.assertIn(part, summary)
        if shutil.which("gnuplot"):
            for png in ("speedup.png", "metg.png", "timeline.png",
                        "ceiling.png"):
                self.assertGreater(os.path.getsize(self.path(d, png)), 0)

    def test_suite_refuses_one_rank(self):
        r = loomtest.run_argv([sys.executable, BENCH, "suite", "--smoke",
                               "--max-ranks", "1", "--no-build", BUILD,
                               "--results", self.path("results")],
                              timeout=60)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertIn("--max-ranks 1: at least 2", r.stderr)

    def test_slots_summary_and_ratios(self):
        def row(layout, work, tps, msgs, rss):
            return {"layout": layout, "workload": work, "ranks": "2",
                    "slots": "2", "tasks_per_s": str(tps),
                    "msgs_per_task": str(msgs), "node_rss_mib": str(rss)}
        rows = [row("slots", "true", 1000, 0.5, 40),
                row("slots", "true", 3000, 0.5, 40),
                row("ranks", "true", 1000, 1.0, 80),
                row("slots", "noop", 1e6, 0.01, "")]
        lines, table = lb.slots_summary(rows)
        self.assertIn("true,slots,2,2,2,2000.0,0.5000,40.0", lines)
        self.assertIn("true,2.000,0.500,0.500", lines)
        self.assertFalse(any(l.startswith("noop,") and l.count(",") == 3
                             for l in lines))
        self.assertEqual(len(table), len(lines))

    def test_slots_smoke(self):
        self.bench("slots", "--smoke", "--no-build", BUILD)
        rows = self.csv_rows("slots.csv", lb.SLOTS_HEADER)
        self.assertEqual({(r["layout"], r["workload"]) for r in rows},
                         {(l, w) for l in ("slots", "ranks")
                          for w in ("true", "spin1ms", "noop")})
        for r in rows:
            self.assertEqual(int(r["tasks"]), 10 if r["workload"] != "noop"
                             else 100)
            self.assertGreater(float(r["msgs_per_task"]), 0)
            if os.path.exists("/usr/bin/time"):
                self.assertGreater(float(r["node_rss_mib"]), 1)
        self.assertTrue(os.path.exists(self.path("results",
                                                 "slots_summary.csv")))

if __name__ == "__main__":
    loomtest.main()
