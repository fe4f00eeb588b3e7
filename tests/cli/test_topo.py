#!/usr/bin/env python3
"""test_topo.py - `loom topo`, end to end.

Every rank probes its own hardware and rank 0 prints one row per rank. The
fake machines come from tests/data and hwloc synthetic descriptions, handed
to each rank alone through mpirun's MPMD syntax (`-n 1 -x VAR=VALUE loom
... : -n 1 ...`): never through mpirun's own environment, where a fake
topology would make mpirun plan its slots on the fake machine. A bad
LOOM_TOPOLOGY on one rank must make every rank exit 2 with a single
"loom: rank R:" line, never a hang.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402

DATA = os.path.join(loomtest.SOURCE_ROOT, "tests", "data")
SERVER = ("synthetic:pack:2 numa:2 l3:1(size=32MiB) l2:4(size=1MiB) "
          "core:2 pu:2")
HYBRID = "xml:" + os.path.join(DATA, "topo-hybrid.xml")
TWO_PACKAGES = "xml:" + os.path.join(DATA, "topo-2p16c.xml")
CACHELESS = "xml:" + os.path.join(DATA, "topo-cacheless.xml")
HEADER = ["rank", "host", "cpuset", "cores", "pus", "numa", "mem", "l2",
          "l3", "kind", "weight", "notes"]
KEYS = {"rank", "host", "cpuset", "cores", "pus", "numa_nodes", "numa_mem",
        "l2", "l3", "cpukind", "cpukinds", "weight", "source", "notes"}
MIB = 1 << 20
GIB = 1 << 30


def mpmd(apps, args):
    """mpiexec argv with one rank per app; each app is a dict of variables
    that only that rank gets."""
    argv = [loomtest.MPIEXEC] + loomtest.mpiexec_preflags()
    for i, env in enumerate(apps):
        if i:
            argv.append(":")
        argv += ["-n", "1"]
        for name, value in env.items():
            argv += ["-x", "%s=%s" % (name, value)]
        argv += [loomtest.LOOM, "topo"] + list(args)
    return argv


class TopoTest(loomtest.LoomTestCase):

    def run_mpmd(self, apps, args, expect_rc):
        run = loomtest.run_argv(mpmd(apps, args), cwd=self.tmp, timeout=90)
        self.assertEqual(run.rc, expect_rc,
                         "unexpected exit status\n" + run.describe())
        return run

    def json_of(self, run, n):
        try:
            rows = json.loads(run.stdout)
        except ValueError as e:
            self.fail("not JSON (%s)\n%s" % (e, run.describe()))
        self.assertEqual(len(rows), n, run.describe())
        for i, row in enumerate(rows):
            self.assertEqual(set(row), KEYS, run.describe())
            self.assertEqual(row["rank"], i, run.describe())
            self.assertTrue(row["host"], run.describe())
        return rows

    def test_one_rank_prints_a_header_and_one_row(self):
        run = self.loom(["topo"], expect_rc=0,
                        env={"LOOM_TOPOLOGY": SERVER, "LOOM_CPUSET": "0-7"})
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), 2, run.describe())
        self.assertEqual(lines[0].split(), HEADER, run.describe())
        row = lines[1].split()
        self.assertEqual(row[0], "0", run.describe())
        self.assertEqual(row[2:10], ["0-7", "4", "8", "1", "1GiB", "1MiB",
                                     "32MiB", "-"], run.describe())
        self.assertEqual(row[10], "5.00", run.describe())
        self.assertEqual(row[11:], ["-"], run.describe())
        self.assertEqual(loomtest.loom_lines(run.stderr), [], run.describe())

    def test_this_machine_gives_one_row_too(self):
        run = self.loom(["topo"], expect_rc=0)
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), 2, run.describe())
        self.assertEqual(lines[0].split(), HEADER, run.describe())
        run = self.loom(["topo", "--json"], expect_rc=0)
        row = self.json_of(run, 1)[0]
        self.assertEqual(row["source"], "this-system", run.describe())
        self.assertGreaterEqual(row["cores"], 1)
        self.assertGreaterEqual(row["pus"], row["cores"])
        self.assertGreaterEqual(row["weight"], 1)

    def test_three_ranks_with_their_own_machines(self):
        apps = [{"LOOM_TOPOLOGY": SERVER, "LOOM_CPUSET": "0-7"},
                {"LOOM_TOPOLOGY": HYBRID, "LOOM_CPUSET": "4,6,8,10"},
                {"LOOM_TOPOLOGY": HYBRID, "LOOM_CPUSET": "0-3"}]
        run = self.run_mpmd(apps, ["--json"], 0)
        rows = self.json_of(run, 3)
        want = [
            # 4 cores with 2 threads each: 4 * 1.25.
            {"cpuset": "0-7", "cores": 4, "pus": 8, "numa_nodes": 1,
             "numa_mem": GIB, "l2": MIB, "l3": 32 * MIB, "cpukind": -1,
             "cpukinds": 0, "weight": 5, "source": "synthetic"},
            # 4 little cores: half a core each.
            {"cpuset": "4,6,8,10", "cores": 4, "pus": 4, "numa_nodes": 1,
             "numa_mem": 16 * GIB, "l2": 2 * MIB, "l3": 24 * MIB,
             "cpukind": 0, "cpukinds": 2, "weight": 2, "source": "xml"},
            # 2 big cores with 2 threads each: 2 * 1.25.
            {"cpuset": "0-3", "cores": 2, "pus": 4, "cpukind": 1,
             "cpukinds": 2, "weight": 2.5, "source": "xml"},
        ]
        for i, (row, exp) in enumerate(zip(rows, want)):
            got = {k: row[k] for k in exp}
            self.assertEqual(got, exp, "rank %d\n%s" % (i, run.describe()))
        self.assertEqual(loomtest.loom_lines(run.stderr), [], run.describe())

    def test_table_under_mpirun_has_a_row_per_rank(self):
        apps = [{"LOOM_TOPOLOGY": TWO_PACKAGES},
                {"LOOM_TOPOLOGY": TWO_PACKAGES, "LOOM_CPUSET": "16-31"},
                {"LOOM_TOPOLOGY": CACHELESS}]
        run = self.run_mpmd(apps, [], 0)
        lines = run.stdout.splitlines()
        self.assertEqual(len(lines), 4, run.describe())
        self.assertEqual(lines[0].split(), HEADER, run.describe())
        rows = [l.split() for l in lines[1:]]
        self.assertEqual([r[0] for r in rows], ["0", "1", "2"])
        self.assertEqual(rows[0][2:11], ["0-31", "16", "32", "2", "128GiB",
                                         "1MiB", "32MiB", "-", "20.00"],
                         run.describe())
        self.assertEqual(rows[1][2:11], ["16-31", "8", "16", "1", "64GiB",
                                         "1MiB", "32MiB", "-", "10.00"],
                         run.describe())
        self.assertEqual(rows[2][2:11], ["0-3", "4", "4", "1", "-", "-", "-",
                                         "-", "4.00"], run.describe())
        self.assertIn("no L3 in the topology", lines[3], run.describe())
        self.assertIn("NUMA memory unknown", lines[3], run.describe())

    def test_an_ignored_hwloc_xmlfile_is_noted(self):
        # hwloc falls back to the real machine silently; loom says so.
        apps = [{"HWLOC_XMLFILE": "/no/such/topology.xml"},
                {"LOOM_TOPOLOGY": CACHELESS}]
        run = self.run_mpmd(apps, ["--json"], 0)
        rows = self.json_of(run, 2)
        self.assertEqual(rows[0]["source"], "this-system")
        self.assertIn("HWLOC_XMLFILE ignored by hwloc", rows[0]["notes"])
        self.assertEqual(rows[1]["source"], "xml")
        self.assertEqual((rows[1]["l2"], rows[1]["l3"], rows[1]["numa_mem"]),
                         (0, 0, 0), run.describe())

    def test_a_bad_topology_on_one_rank_stops_every_rank(self):
        apps = [{"LOOM_TOPOLOGY": SERVER},
                {"LOOM_TOPOLOGY": "xml:/no/such/topology.xml"},
                {"LOOM_TOPOLOGY": SERVER}]
        run = self.run_mpmd(apps, ["--json"], 2)
        self.assertEqual(
            loomtest.loom_lines(run.stderr),
            ["loom: rank 1: LOOM_TOPOLOGY='xml:/no/such/topology.xml': "
             "hwloc cannot load it"], run.describe())
        self.assertEqual(run.stdout, "", run.describe())

    def test_a_bad_cpuset_is_named_by_each_rank_that_has_it(self):
        apps = [{"LOOM_TOPOLOGY": SERVER, "LOOM_CPUSET": "0-3x"},
                {"LOOM_TOPOLOGY": SERVER, "LOOM_CPUSET": "1000-1001"}]
        run = self.run_mpmd(apps, [], 2)
        lines = sorted(loomtest.loom_lines(run.stderr))
        self.assertEqual(len(lines), 2, run.describe())
        self.assertTrue(lines[0].startswith("loom: rank 0: LOOM_CPUSET='0-3x'"),
                        run.describe())
        self.assertTrue(
            lines[1].startswith("loom: rank 1: LOOM_CPUSET='1000-1001'"),
            run.describe())

    def test_a_bad_topology_at_one_rank_exits_2(self):
        run = self.loom(["topo"], expect_rc=2,
                        env={"LOOM_TOPOLOGY": "ftp:x"})
        self.assertEqual(loomtest.loom_lines(run.stderr),
                         ["loom: rank 0: LOOM_TOPOLOGY='ftp:x': expected "
                          "xml:PATH or synthetic:DESCRIPTION"], run.describe())

    def test_help_and_usage_errors(self):
        for flag in ("--help", "-h"):
            run = self.loom(["topo", flag], expect_rc=0)
            self.assertTrue(run.stdout.startswith("usage: "), run.describe())
            for word in ("--json", "LOOM_TOPOLOGY", "LOOM_CPUSET"):
                self.assertIn(word, run.stdout, run.describe())
        run = self.loom(["topo", "--bogus"], expect_rc=2)
        self.assertEqual(loomtest.loom_lines(run.stderr),
                         ["loom: unknown option '--bogus' (see 'loom topo "
                          "--help')"], run.describe())
        self.assertEqual(run.stdout, "")
        run = self.loom(["--help"], expect_rc=0)
        self.assertIn("\n  topo ", run.stdout, run.describe())

    def test_usage_error_under_mpirun_is_said_once(self):
        run = self.loom(["topo", "--bogus"], np=2, expect_rc=2)
        self.assertEqual(len(loomtest.loom_lines(run.stderr)), 1,
                         run.describe())


def mpmd_run(apps, args):
    """Like mpmd() for `loom run ARGS`."""
    argv = mpmd(apps, [])
    out, i = [], 0
    for a in argv:
        out.append(a)
        if a == "topo":
            out[-1:] = ["run"] + list(args)
    return out


class RunWeightsTest(loomtest.LoomTestCase):
    """loom run takes each worker's weight from its hardware profile, or
    from --weight, and records it in report.json."""

    def test_weights_come_from_each_workers_topology(self):
        self.write("t.txt", "true\n" * 20)
        argv = mpmd_run([{}, {"LOOM_TOPOLOGY": CACHELESS},
                         {"LOOM_TOPOLOGY": SERVER, "LOOM_CPUSET": "0-7"}],
                        ["-q", "-o", "run", "t.txt"])
        r = loomtest.run_argv(argv, cwd=self.tmp)
        self.assertEqual(r.rc, 0, r.describe())
        rep = loomtest.read_report(self.path("run"))
        by_rank = {w["rank"]: w for w in rep["per_worker"]}
        self.assertEqual(by_rank[2]["cores"], 4)
        self.assertEqual(by_rank[2]["pus"], 8)
        self.assertEqual(by_rank[2]["cpuset"], "0-7")
        self.assertAlmostEqual(by_rank[2]["weight"], 5.0)  # 4 cores + SMT
        self.assertEqual(by_rank[2]["weight_from"], "topology")
        self.assertEqual(by_rank[1]["l3_bytes"], 0)
        self.assertIn("L3", by_rank[1]["topology_notes"])

    def assert_host_7_and_rank_2_at_3_5(self, weight_args):
        """Runs 3 ranks with weight_args meaning "this host 7, rank 2 3.5"
        and checks report.json: the rank wins over the host."""
        self.write("t.txt", "true\n" * 10)
        r = self.loom(["run", "-q", "-o", "run"] + weight_args + ["t.txt"],
                      np=3)
        self.assertEqual(r.rc, 0, r.describe())
        by_rank = {w["rank"]: w for w in
                   loomtest.read_report(self.path("run"))["per_worker"]}
        self.assertEqual((by_rank[1]["weight"], by_rank[1]["weight_from"]),
                         (7, "user"))
        self.assertEqual((by_rank[2]["weight"], by_rank[2]["weight_from"]),
                         (3.5, "user"))

    def test_weight_flags_override_by_rank_and_by_host(self):
        host = os.uname().nodename
        self.assert_host_7_and_rank_2_at_3_5(
            ["--weight", host + "=7", "--weight", "2=3.5"])

    def test_a_weights_file_sets_weights_by_host_and_rank(self):
        self.write("w.txt", "# weights for this run\n\n  %s=7  \n2=3.5\n"
                   % os.uname().nodename)
        self.assert_host_7_and_rank_2_at_3_5(["--weights-file", "w.txt"])

    def test_a_bad_weights_file_names_the_file_and_line(self):
        self.write("t.txt", "true\n")
        self.write("w.txt", "# ok so far\n1=2\n2=zero\n")
        for np in (None, 3):
            r = self.loom(["run", "-o", "run", "--weights-file", "w.txt",
                           "t.txt"], np=np)
            self.assertEqual(r.rc, 2, r.describe())
            lines = loomtest.loom_lines(r.stderr)
            self.assertEqual(len(lines), 1, r.describe())
            self.assertIn("w.txt:3: bad weight '2=zero'", lines[0])
            self.assertFalse(os.path.exists(self.path("run")))
        r = self.loom(["run", "-o", "run", "--weights-file", "missing.txt",
                       "t.txt"])
        self.assertEqual(r.rc, 2, r.describe())
        self.assertIn("missing.txt", r.stderr)
        self.assertFalse(os.path.exists(self.path("run")))

    def test_bad_weights_and_topologies_are_input_errors(self):
        self.write("t.txt", "true\n")
        for bad in (["--weight", "1=0"], ["--weight", "=2"],
                    ["--weight", "1=x"], ["--weight", "1"]):
            r = self.loom(["run", "-o", "run"] + bad + ["t.txt"])
            self.assertEqual(r.rc, 2, r.describe())
            self.assertFalse(os.path.exists(self.path("run")))
        r = self.loom(["run", "-o", "run", "t.txt"],
                      env={"LOOM_TOPOLOGY": "synthetic:garbage"})
        self.assertEqual(r.rc, 2, r.describe())
        self.assertIn("LOOM_TOPOLOGY", r.stderr)
        self.assertFalse(os.path.exists(self.path("run")),
                         "a run that never started left its directory")


if __name__ == "__main__":
    loomtest.main()
