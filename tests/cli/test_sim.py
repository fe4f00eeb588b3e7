#!/usr/bin/env python3
"""test_sim.py - `loom sim`: the offline simulator of a run.

It runs the master's own policy and batching code against simulated
workers, so it must be deterministic, reach the lower bound when the work
divides evenly, and show what a static schedule costs on uneven work.
"""

import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402


class SimTest(loomtest.LoomTestCase):

    def sim(self, *args):
        r = self.loom(["sim", "--json"] + list(args))
        self.assertEqual(r.rc, 0, r.describe())
        return json.loads(r.stdout)

    def test_same_inputs_give_the_same_run(self):
        args = ["--workers", "8", "--tasks", "20000", "--dist", "pareto",
                "--alpha", "1.5", "--speeds", "1:2", "--seed", "7"]
        a, b = self.sim(*args), self.sim(*args)
        del a["sim_seconds"], b["sim_seconds"]
        self.assertEqual(a, b)

    def test_even_work_reaches_the_lower_bound(self):
        out = self.sim("--workers", "16", "--tasks", "16000", "--mean",
                       "0.01")
        self.assertLess(out["balance"]["makespan_over_lower_bound"], 1.01)
        self.assertGreater(out["balance"]["efficiency"], 0.99)
        self.assertAlmostEqual(out["balance"]["lower_bound_s"], 10.0,
                               places=6)

    def test_a_static_schedule_pays_for_uneven_speeds_and_work(self):
        common = ["--workers", "16", "--tasks", "20000", "--dist",
                  "lognormal", "--sigma", "1", "--mean", "0.01", "--speeds",
                  "1:4", "--window", "16"]
        static = self.sim(*common, "--policy", "static", "--weights", "flat")
        weighted = self.sim(*common, "--policy", "weighted")
        s = static["balance"]["makespan_over_lower_bound"]
        w = weighted["balance"]["makespan_over_lower_bound"]
        self.assertLess(w, 1.1)
        self.assertGreater(s / w, 2.0)

    def test_weights_given_as_a_spec_are_what_the_policy_believes(self):
        # Equal speeds, weights 4:1: static deals 4/5 of the batches to the
        # first half, which then works 1.6 times the fair share; with flat
        # or correct weights it is even. The demand-driven default barely
        # notices the wrong weights.
        common = ["--workers", "8", "--tasks", "8000", "--mean", "0.01",
                  "--speeds", "1:1"]
        ratio = {}
        for weights in ("flat", "4:1"):
            for policy in ("static", "weighted"):
                out = self.sim(*common, "--weights", weights, "--policy",
                               policy)
                ratio[weights, policy] = (
                    out["balance"]["makespan_over_lower_bound"])
        self.assertLess(ratio["flat", "static"], 1.01)
        self.assertAlmostEqual(ratio["4:1", "static"], 1.6, delta=0.02)
        self.assertLess(ratio["4:1", "weighted"], 1.01)
        for bad in ("4:0", "x", "2x3"):
            r = self.loom(["sim", "--workers", "8", "--weights", bad])
            self.assertEqual(r.rc, 2, r.describe())

    def test_the_batch_target_sets_the_messages(self):
        # 1 ms tasks: one a message at a 0.5 ms target, about 10 a
        # message at the default 10 ms and 20 at 20 ms (smaller ones first
        # and at the end).
        common = ["--workers", "2", "--tasks", "1000", "--mean", "0.001"]
        small = self.sim(*common, "--batch-target", "0.0005")
        default = self.sim(*common)
        big = self.sim(*common, "--batch-target", "0.02")
        self.assertEqual(small["messages"], 1000)
        self.assertLess(default["messages"], 200)
        self.assertLess(big["messages"], default["messages"])
        for out in (default, big):
            self.assertLess(out["balance"]["makespan_over_lower_bound"], 1.05)
        for bad in ("0", "-0.5", "x"):
            r = self.loom(["sim", "--batch-target", bad])
            self.assertEqual(r.rc, 2, r.describe())

    def test_batches_far_past_their_target_give_back_as_workers_do(self):
        common = ["--workers", "2", "--tasks", "20000", "--dist",
                  "lognormal", "--sigma", "2", "--mean", "0.0001",
                  "--batch-target", "0.01"]
        out = self.sim(*common)
        self.assertGreater(out["returned"], 0)
        self.assertLess(out["balance"]["makespan_over_lower_bound"], 1.01)
        r = self.loom(["sim"] + common)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertIn("sim: %d tasks given back unstarted" % out["returned"],
                      r.stdout)
        # One slot in all: nobody else could run them.
        common[1] = "1"
        self.assertEqual(self.sim(*common)["returned"], 0)
        r = self.loom(["sim"] + common)
        self.assertNotIn("given back", r.stdout)

    def test_a_deep_window_on_mixed_speeds_stays_near_the_bound(self):
        # A window of 16 on 1:4 speeds: a slow worker that already has a
        # batch queued behind its running one waits for the fast workers
        # to free up, rather than queue more work that ends the run late
        # (1.08 x the bound before that rule).
        out = self.sim("--workers", "16", "--tasks", "1600", "--mean", "0.01",
                       "--dist", "uniform", "--speeds", "1:4", "--window",
                       "16", "--hints")
        self.assertLess(out["balance"]["makespan_over_lower_bound"], 1.02)

    def test_overflowing_times_are_an_error_not_bad_json(self):
        r = self.loom(["sim", "--json", "--mean", "1e308"])
        self.assertEqual(r.rc, 2, r.describe())
        self.assertEqual(r.stdout, "")
        self.assertIn("overflow", r.stderr)

    def test_durations_print_the_workload_the_kinds_run(self):
        args = ["--tasks", "30", "--dist", "uniform", "--mean", "0.02",
                "--seed", "3"]
        r = self.loom(["sim", "--durations"] + args)
        self.assertEqual(r.rc, 0, r.describe())
        d = [float(x) for x in r.stdout.split()]
        self.assertEqual(len(d), 30)
        self.assertTrue(all(0 <= x <= 0.04 for x in d), d)
        self.assertEqual(len(set(d)), 30, "uniform draws are all different")
        # The simulator's own workload: with one worker the lower bound is
        # the sum of the durations.
        out = self.sim("--workers", "1", *args)
        self.assertAlmostEqual(out["balance"]["lower_bound_s"], sum(d),
                               places=6)
        # The sleep kind draws the same durations: task i (line i + 1)
        # sleeps at least d[i].
        run = self.path("run")
        r = self.loom(["run", "-q", "-o", run, "--kind", "sleep", "--count",
                       "30", "-a", "dist=uniform", "-a", "mean=0.02", "-a",
                       "seed=3"])
        self.assertEqual(r.rc, 0, r.describe())
        rows = loomtest.read_joblog(run)
        self.assertEqual(len(rows), 30)
        for row in rows:
            self.assertGreaterEqual(float(row["elapsed"]) + 1e-6,
                                    d[int(row["line"]) - 1], row)

    def test_bad_options_are_usage_errors(self):
        for bad in (["--policy", "nope"], ["--workers", "0"],
                    ["--workers", "4", "--speeds", "1x3"],
                    ["--speeds", "0:1"], ["--dist", "weird"],
                    ["--mean", "-1"], ["--latency", "x"], ["--frobnicate"]):
            r = self.loom(["sim"] + bad)
            self.assertEqual(r.rc, 2, r.describe())
            self.assertEqual(len(loomtest.loom_lines(r.stderr)), 1,
                             r.describe())

    def test_a_recorded_run_replays_its_successful_durations(self):
        self.write("t.txt", "sleep 0.1\nsleep 0.2\nexit 3\nsleep 0.3\n")
        r = self.loom(["run", "-q", "-o", "run", "t.txt"])
        self.assertEqual(r.rc, 1, r.describe())
        rows = loomtest.read_joblog(self.path("run"))
        ok = [x["elapsed"] for x in rows if x["status"] == "ok"]
        out = self.sim("--replay", "run", "--workers", "2", "--latency", "0")
        self.assertEqual(out["tasks"], 3)
        # Six-digit joblog times: the bound is max(sum / 2, longest).
        self.assertAlmostEqual(out["balance"]["lower_bound_s"],
                               max(sum(ok) / 2, max(ok)), places=5)
        # Least-loaded in file order: 0.1 and 0.2 start, 0.3 follows 0.1.
        self.assertAlmostEqual(out["makespan_s"], ok[0] + ok[2], places=5)

    def test_replay_errors_are_usage_errors(self):
        for bad in (["--replay", self.path("nope")],
                    ["--replay", self.tmp, "--mean", "1"]):
            r = self.loom(["sim"] + bad)
            self.assertEqual(r.rc, 2, r.describe())
            self.assertEqual(len(loomtest.loom_lines(r.stderr)), 1,
                             r.describe())

    # ---- longest first (--lookahead) and the ideal-greedy baseline ----

    HEAVY = ["--dist", "pareto", "--alpha", "1.5", "--cap", "1", "--mean",
             "0.01", "--workers", "256", "--tasks", "25600"]

    def test_weighted_with_hints_goes_longest_first_near_the_lower_bound(self):
        # Heavy-tailed work, a few tasks 100 times the mean: in workload
        # order the longest come late and set the makespan; longest first
        # (the default look-ahead) finishes within 2% of the bound (1.045
        # without the wait rule, which keeps long tasks from queueing
        # behind long ones).
        ahead = self.sim(*self.HEAVY, "--hints", "--policy", "weighted")
        plain = self.sim(*self.HEAVY, "--hints", "--policy", "weighted",
                         "--lookahead", "0")
        self.assertGreaterEqual(ahead["lookahead"], 100000)
        self.assertEqual(plain["lookahead"], 0)
        a = ahead["balance"]["makespan_over_lower_bound"]
        p = plain["balance"]["makespan_over_lower_bound"]
        self.assertLess(a, 1.02, ahead)
        self.assertGreater(p, 1.3, plain)
        # The ideal greedy scheduler sees the workload's order whatever
        # the simulated run does: the same baseline for both.
        self.assertEqual(ahead["balance"]["greedy_s"],
                         plain["balance"]["greedy_s"])
        self.assertLess(ahead["balance"]["makespan_over_greedy"], 0.7, ahead)
        for out in (ahead, plain):
            b = out["balance"]
            self.assertAlmostEqual(b["makespan_over_greedy"],
                                   out["makespan_s"] / b["greedy_s"], places=5)

    def test_look_ahead_needs_hints_and_a_longest_first_policy(self):
        # Without hints, or with a policy that does not hand out the
        # longest first, the look-ahead changes nothing.
        for args in (["--policy", "weighted"], ["--policy", "least-loaded"],
                     ["--hints", "--policy", "least-loaded"],
                     ["--hints", "--policy", "wrr"]):
            a = self.sim(*self.HEAVY, *args)
            b = self.sim(*self.HEAVY, *args, "--lookahead", "0")
            for out in (a, b):
                del out["sim_seconds"], out["lookahead"]
            self.assertEqual(a, b, args)

    def test_ideal_greedy_is_list_scheduling_in_workload_order(self):
        # 8 tasks of 1 s on speeds 1 and 3, each to the worker free first
        # (ties to the lower): worker 0 runs 2, worker 1 runs 6: 2 s.
        out = self.sim("--workers", "2", "--speeds", "1:3", "--tasks", "8",
                       "--mean", "1")
        self.assertEqual(out["balance"]["greedy_s"], 2.0)
        self.assertAlmostEqual(out["balance"]["makespan_over_greedy"],
                               out["makespan_s"] / 2.0, places=5)
        # 3 tasks of 1 s on 2 workers: 2 s, above the bound of 1.5 s.
        out = self.sim("--workers", "2", "--tasks", "3", "--mean", "1")
        self.assertEqual(out["balance"]["greedy_s"], 2.0)
        self.assertEqual(out["balance"]["lower_bound_s"], 1.5)
        r = self.loom(["sim", "--workers", "2", "--tasks", "3", "--mean",
                       "1"])
        self.assertEqual(r.rc, 0, r.describe())
        self.assertIn("ideal greedy 2 s", r.stdout)

    def test_a_replay_goes_longest_first_as_loom_run_would(self):
        # Two short tasks, then one longer than both together. Longest
        # first on 2 workers: the long one alone on one worker, the short
        # ones on the other; in workload order it runs after a short one.
        self.write("t.txt", "sleep 0.05\nsleep 0.05\nsleep 0.3\n")
        r = self.loom(["run", "-q", "-o", "run", "t.txt"])
        self.assertEqual(r.rc, 0, r.describe())
        d = [x["elapsed"] for x in loomtest.read_joblog(self.path("run"))]
        self.assertGreater(d[2], d[0] + d[1], d)
        common = ["--replay", "run", "--workers", "2", "--latency", "0",
                  "--hints", "--policy", "weighted"]
        ahead = self.sim(*common)
        plain = self.sim(*common, "--lookahead", "0")
        self.assertAlmostEqual(ahead["makespan_s"], d[2], places=5)
        self.assertAlmostEqual(plain["makespan_s"], min(d[0], d[1]) + d[2],
                               places=5)

    def test_bad_lookahead_is_a_usage_error(self):
        for bad in (["--lookahead", "-1"], ["--lookahead", "x"],
                    ["--lookahead", "1.5"], ["--lookahead", "1e13"],
                    ["--lookahead"]):
            r = self.loom(["sim"] + bad)
            self.assertEqual(r.rc, 2, r.describe())
            lines = loomtest.loom_lines(r.stderr)
            self.assertEqual(len(lines), 1, r.describe())
            self.assertIn("--lookahead", lines[0], r.describe())

    def test_help(self):
        r = self.loom(["sim", "--help"])
        self.assertEqual(r.rc, 0)
        for flag in ("--workers", "--tasks", "--dist", "--speeds",
                     "--weights", "--policy", "--latency", "--window",
                     "--hints", "--json", "--replay", "--lookahead",
                     "--batch-target"):
            self.assertIn(flag, r.stdout)


if __name__ == "__main__":
    loomtest.main()
