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

    def test_help(self):
        r = self.loom(["sim", "--help"])
        self.assertEqual(r.rc, 0)
        for flag in ("--workers", "--tasks", "--dist", "--speeds",
                     "--weights", "--policy", "--latency", "--window",
                     "--hints", "--json", "--replay"):
            self.assertIn(flag, r.stdout)


if __name__ == "__main__":
    loomtest.main()
