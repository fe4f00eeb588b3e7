#!/usr/bin/env python3
"""Slots: a worker runs several tasks at once, each pinned to cores of its
own (README: Slots and pinning).

On this machine (2 cores, ranks unbound under --oversubscribe) the binding
itself is checked: each task reads its own Cpus_allowed_list. On the fake
two-package machine of tests/data the placement is checked through what the
tasks are told (LOOM_CPUS, OMP_PLACES): hwloc cannot bind a real process to
a fake machine's cores. Overlap is read from the joblog, never from the wall
clock.
"""
import collections
import os
import re
import signal
import subprocess
import time

import loomtest

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")

# A task that waits, then says where it ran.
REPORT = ("sleep {s}; grep Cpus_allowed_list /proc/self/status; "
          "echo \"cpus=$LOOM_CPUS places=$OMP_PLACES "
          "threads=$OMP_NUM_THREADS bind=$OMP_PROC_BIND\"")


def loom_unbound_argv(args, np):
    """argv of loom under mpiexec with the ranks left unbound, each seeing
    the whole machine (Open MPI binds 2 ranks to a core each by default)."""
    return ([loomtest.MPIEXEC, "-n", str(np)] + loomtest.mpiexec_preflags() +
            ["--bind-to", "none", loomtest.LOOM] + list(args))


def parse_cpus(text):
    """'0-2,5' -> {0, 1, 2, 5}"""
    out = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.update(range(int(a), int(b) + 1))
        elif part:
            out.add(int(part))
    return out


def overlapping(rows):
    """Pairs of joblog rows whose run intervals overlap."""
    pairs = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if (a["start"] < b["start"] + b["elapsed"] and
                    b["start"] < a["start"] + a["elapsed"]):
                pairs.append((a, b))
    return pairs


def most_at_once(rows):
    """The largest number of joblog rows running at one instant."""
    events = sorted([(r["start"], 1) for r in rows] +
                    [(r["start"] + r["elapsed"], -1) for r in rows],
                    key=lambda e: (e[0], e[1]))
    now = best = 0
    for _, d in events:
        now += d
        best = max(best, now)
    return best


class SlotsTest(loomtest.LoomTestCase):

    def loom_unbound(self, args, np=2, env=None):
        """Runs loom_unbound_argv(args, np) and returns the Run."""
        return loomtest.run_argv(loom_unbound_argv(args, np), cwd=self.tmp,
                                 env=env)

    def run_tasks(self, lines, args, np=2, env=None, out="run"):
        tasks = self.write("tasks.txt", "".join(l + "\n" for l in lines))
        run = self.loom_unbound(["run", "-o", out] + args + [tasks], np=np,
                                env=env)
        self.assertEqual(run.rc, 0, run.describe())
        rundir = self.path(out)
        rows = loomtest.read_joblog(rundir)
        self.assertEqual(len(rows), len(lines), run.describe())
        for r in rows:
            self.assertEqual(r["status"], "ok", run.describe())
        return rundir, rows, run

    def where(self, rundir, row):
        """What a REPORT task printed: (allowed CPUs, fields)."""
        text = loomtest.read_text(
            loomtest.output_path(rundir, row["id"], row["attempt"], "out"))
        allowed = re.search(r"Cpus_allowed_list:\s*(\S+)", text).group(1)
        fields = dict(kv.split("=", 1)
                      for kv in text.strip().splitlines()[-1].split())
        return parse_cpus(allowed), fields

    def test_two_slots_run_four_tasks_two_at_a_time(self):
        rundir, rows, run = self.run_tasks(
            [REPORT.format(s=1)] * 4, ["--slots", "2"])
        # Two at a time, never three: the joblog's intervals say so.
        self.assertEqual(most_at_once(rows), 2, run.describe())
        self.assertGreaterEqual(len(overlapping(rows)), 2, run.describe())
        # Each pinned to one core of this machine, as it was told, and two
        # that ran together never on the same one.
        seen = {}
        for r in rows:
            allowed, f = self.where(rundir, r)
            self.assertEqual(len(allowed), 1, (allowed, run.describe()))
            self.assertEqual(allowed, parse_cpus(f["cpus"]))
            # The joblog records where each attempt ran.
            self.assertEqual(r["cpus"], f["cpus"])
            self.assertEqual(f["threads"], "1")
            self.assertEqual(f["places"], "{%d}" % min(allowed))
            self.assertEqual(f["bind"], "close")
            seen[r["id"]] = allowed
        for a, b in overlapping(rows):
            self.assertFalse(seen[a["id"]] & seen[b["id"]],
                             "tasks that overlapped shared a core")
        rep = loomtest.read_report(rundir)
        w = rep["per_worker"][0]
        self.assertEqual(w["slots"], 2)
        # Counted per slot: two slots kept busy is full efficiency, not 2.
        self.assertGreater(rep["balance"]["efficiency"], 0.5)
        self.assertLessEqual(rep["balance"]["efficiency"], 1.01)
        self.assertLessEqual(w["slot_utilisation"], 1.01)

    def test_one_slot_by_default_and_unpinned(self):
        rundir, rows, run = self.run_tasks([REPORT.format(s=0.3)] * 3, [])
        self.assertEqual(most_at_once(rows), 1, run.describe())
        for r in rows:
            allowed, f = self.where(rundir, r)
            self.assertEqual(f["cpus"], "")  # not pinned: nothing said
            self.assertEqual(r["cpus"], "-")
            self.assertEqual(allowed, set(range(os.cpu_count())))
        rep = loomtest.read_report(rundir)
        w = rep["per_worker"][0]
        self.assertEqual(w["slots"], 1)
        # One task at a time on a binding of every core left the others
        # idle, and the efficiency says so: it counts cores, not ranks.
        self.assertEqual(w["cores_counted"], w["cores"])
        eff = rep["balance"]["efficiency"] * w["cores"]
        self.assertGreater(eff, 0.5, rep["balance"])
        self.assertLessEqual(eff, 1.01, rep["balance"])

    def test_user_openmp_settings_win(self):
        rundir, rows, run = self.run_tasks(
            [REPORT.format(s=0)], ["--slots", "1"],
            env={"OMP_NUM_THREADS": "7", "OMP_PROC_BIND": "spread"})
        allowed, f = self.where(rundir, rows[0])
        self.assertEqual(f["threads"], "7")
        self.assertEqual(f["bind"], "spread")
        self.assertEqual(len(allowed), 1)  # pinned all the same

    def test_more_slots_than_cores_share_them_unpinned(self):
        n = os.cpu_count() + 1
        rundir, rows, run = self.run_tasks(
            [REPORT.format(s=1)] * n, ["--slots", str(n)])
        self.assertEqual(most_at_once(rows), n, run.describe())
        for r in rows:
            allowed, f = self.where(rundir, r)
            self.assertEqual(f["cpus"], "")
            self.assertEqual(allowed, set(range(os.cpu_count())))

    def test_fake_two_package_machine(self):
        # 16 cores of 2 threads: auto gives 16 slots; every task is told a
        # whole core (both threads); tasks that overlap never share one.
        env = {"LOOM_TOPOLOGY": "xml:" + os.path.join(DATA, "topo-2p16c.xml")}
        rundir, rows, run = self.run_tasks(
            [REPORT.format(s=0.5)] * 20, ["--slots", "auto"], env=env)
        rep = loomtest.read_report(rundir)
        self.assertEqual(rep["per_worker"][0]["slots"], 16)
        self.assertGreater(most_at_once(rows), 1, run.describe())
        told = {}
        for r in rows:
            _, f = self.where(rundir, r)
            cpus = parse_cpus(f["cpus"])
            self.assertEqual(len(cpus), 2, f)
            lo = min(cpus)
            self.assertEqual(cpus, {lo, lo + 1}, "not one core's threads")
            self.assertEqual(lo % 2, 0)
            self.assertEqual(f["places"], "{%d,%d}" % (lo, lo + 1))
            told[r["id"]] = cpus
        for a, b in overlapping(rows):
            self.assertFalse(told[a["id"]] & told[b["id"]],
                             "tasks that overlapped shared a core")
        # Four slots: four cores side by side in the first package, and a
        # weight for four cores of the sixteen (20 = 16 cores + SMT).
        rundir, rows, run = self.run_tasks(
            [REPORT.format(s=0.3)] * 8, ["--slots", "4"], env=env,
            out="run-4")
        w = loomtest.read_report(rundir)["per_worker"][0]
        self.assertEqual(w["slots"], 4)
        self.assertAlmostEqual(w["weight"], 20.0 * 4 / 16)
        used = set()
        for r in rows:
            used |= parse_cpus(self.where(rundir, r)[1]["cpus"])
        self.assertTrue(used <= set(range(8)), used)
        # auto:pu: one slot per hardware thread, each told one PU.
        rundir, rows, run = self.run_tasks(
            [REPORT.format(s=0)] * 4, ["--slots", "auto:pu"], env=env,
            out="run-pu")
        self.assertEqual(
            loomtest.read_report(rundir)["per_worker"][0]["slots"], 32)
        for r in rows:
            _, f = self.where(rundir, r)
            self.assertEqual(len(parse_cpus(f["cpus"])), 1, f)

    def test_a_timeout_kills_one_task_not_its_neighbour(self):
        tasks = self.write("tasks.txt", "sleep 30 #loom timeout=1\n"
                           "sleep 2; echo survived\n")
        run = self.loom_unbound(["run", "-o", "run", "--slots", "2", tasks])
        self.assertEqual(run.rc, 1, run.describe())
        rows = {r["line"]: r for r in loomtest.read_joblog(self.path("run"))}
        self.assertEqual(rows[1]["status"], "timeout")
        self.assertEqual(rows[2]["status"], "ok", run.describe())
        self.assertTrue(overlapping([rows[1], rows[2]]))
        self.assertIn("survived", loomtest.read_text(loomtest.output_path(
            self.path("run"), rows[2]["id"], 1, "out")))

    def test_wide_tasks_get_compact_cores_of_their_own(self):
        # On the fake 16-core machine: 4-core tasks among 1-core ones. Each
        # wide one is told four whole cores in one package (one L3),
        # with OpenMP set to match; tasks that overlap never share a core,
        # and never more than 16 cores are busy at once. Every task runs:
        # the wide ones are not starved by the narrow ones.
        env = {"LOOM_TOPOLOGY": "xml:" + os.path.join(DATA, "topo-2p16c.xml")}
        lines = []
        for i in range(24):
            wide = i % 3 == 0
            lines.append(REPORT.format(s=0.2) +
                         ("; : wide #loom cores=4" if wide else ""))
        rundir, rows, run = self.run_tasks(lines, ["--slots", "auto"],
                                           env=env)
        told = {}
        for r in rows:
            _, f = self.where(rundir, r)
            cpus = parse_cpus(f["cpus"])
            wide = r["command"].endswith(": wide")
            self.assertEqual(len(cpus), 8 if wide else 2, f)
            # Whole cores (both threads), all in one package (its L3).
            self.assertEqual(cpus, {c ^ 1 for c in cpus}, f["cpus"])
            self.assertEqual(min(cpus) // 16, max(cpus) // 16,
                             "split packages: %s" % f["cpus"])
            self.assertEqual(f["threads"], "4" if wide else "1")
            self.assertEqual(r["cpus"], f["cpus"])
            told[r["id"]] = cpus
        for a, b in overlapping(rows):
            self.assertFalse(told[a["id"]] & told[b["id"]],
                             "tasks that overlapped shared a core")
        # At any instant, the cores of the running tasks fit in 16.
        events = sorted([(r["start"], len(told[r["id"]]) // 2) for r in rows] +
                        [(r["start"] + r["elapsed"], -len(told[r["id"]]) // 2)
                         for r in rows], key=lambda e: (e[0], e[1]))
        busy = 0
        for _, d in events:
            busy += d
            self.assertLessEqual(busy, 16)

    def test_a_two_core_task_has_the_machine_to_itself(self):
        n = os.cpu_count()
        lines = [REPORT.format(s=0.3) + "; : wide #loom cores=%d" % n] * 2 + \
            [REPORT.format(s=0.3)] * 4
        rundir, rows, run = self.run_tasks(lines, ["--slots", "auto"])
        for r in rows:
            allowed, f = self.where(rundir, r)
            want = n if r["command"].endswith(": wide") else 1
            self.assertEqual(len(allowed), want, (f, run.describe()))
            self.assertEqual(allowed, parse_cpus(f["cpus"]))
        wide = [r for r in rows if r["command"].endswith(": wide")]
        for w in wide:
            for r in rows:
                if r is not w:
                    self.assertFalse(overlapping([w, r]),
                                     "a task ran beside a whole-machine one")

    def test_a_wide_task_is_not_starved_by_narrow_ones(self):
        # The fake 16-core machine, 16 slots: a whole-machine task early in
        # a long stream of 1-core tasks. Tasks wait for cores in the order
        # they reach the worker, so the wide one runs soon, not after the
        # stream: were narrow tasks let past it, the other slots would keep
        # some core busy nearly all the time and it would wait for the end.
        env = {"LOOM_TOPOLOGY": "xml:" + os.path.join(DATA, "topo-2p16c.xml")}
        lines = ["sleep 0.05"] * 2 + ["sleep 0.05; : wide #loom cores=16"] + \
            ["sleep 0.05"] * 300
        rundir, rows, run = self.run_tasks(lines, ["--slots", "auto"],
                                           env=env)
        wide = [r for r in rows if r["command"].endswith(": wide")][0]
        before = [r for r in rows
                  if r["line"] > wide["line"] and r["start"] < wide["start"]]
        # At most what the worker held when the wide task came (its window:
        # 2 batches per slot) may start first.
        self.assertLessEqual(len(before), 40, run.describe())
        for r in rows:
            if r is not wide:
                self.assertFalse(overlapping([wide, r]), run.describe())

    def test_stop_and_resume_with_two_slots(self):
        # A graceful stop while both slots run long tasks: each is killed
        # after the grace and recorded cancelled, nothing queued starts,
        # nothing is left running; a resume with slots runs the rest, each
        # line ok exactly once.
        long_ = "sleep 30; : long"
        lines = ["true"] * 4 + [long_] * 4 + ["echo after %d" % i
                                             for i in range(10)]
        self.write("tasks.txt", "\n".join(lines) + "\n")
        rundir = self.path("run")
        argv = loom_unbound_argv(["run", "-q", "-o", rundir, "--slots", "2",
                                  "--grace", "0.5", "tasks.txt"], 2)
        proc = subprocess.Popen(argv, cwd=self.tmp, env=loomtest.test_env(),
                                start_new_session=True,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            try:
                with open(os.path.join(rundir, "joblog.tsv")) as f:
                    if len(f.read().splitlines()) > 4:
                        break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        time.sleep(0.5)  # both slots are in a long task now
        os.kill(proc.pid, signal.SIGUSR1)
        try:
            _out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            self.fail("the run did not stop")
        self.assertEqual(proc.returncode, 4, err.decode())
        rows = loomtest.read_joblog(rundir)
        cancelled = [r for r in rows if r["status"] == "cancelled"]
        self.assertGreaterEqual(len(cancelled), 2, err.decode())
        self.assertFalse(any(r["command"].startswith("echo after") and
                             r["status"] == "ok" for r in rows))
        left = subprocess.run(["pgrep", "-f", "sleep 30; : long"],
                              capture_output=True, text=True).stdout.split()
        self.assertEqual(left, [], "a killed task is still running")
        with open(os.path.join(rundir, "dispatched.tsv")) as f:
            dispatched = [l.split("\t")[0] for l in f.read().splitlines()[1:]]
        self.assertEqual(sorted(dispatched), sorted(r["id"] for r in rows))
        # The long tasks cut short for the resume (an edited line is a new
        # task); the rest run as the journal says.
        self.write("tasks.txt", "\n".join(lines).replace(long_, "true; : short")
                   + "\n")
        run = self.loom_unbound(["run", "-q", "--resume", rundir, "--slots",
                                 "2", "tasks.txt"])
        self.assertEqual(run.rc, 0, run.describe())
        rows = loomtest.read_joblog(rundir)
        ok = collections.Counter(r["line"] for r in rows
                                 if r["status"] == "ok")
        self.assertEqual(sorted(ok), list(range(1, len(lines) + 1)))
        self.assertEqual(set(ok.values()), {1})

    def test_memory_requests_share_numa_nodes(self):
        # 64 GiB per NUMA node: two 40 GiB tasks never run on one node, so
        # at most two run at once, one per package.
        env = {"LOOM_TOPOLOGY": "xml:" + os.path.join(DATA, "topo-2p16c.xml")}
        rundir, rows, run = self.run_tasks(
            [REPORT.format(s=0.3) + " #loom mem=40G"] * 6,
            ["--slots", "auto"], env=env)
        self.assertLessEqual(most_at_once(rows), 2, run.describe())
        node = {}
        for r in rows:
            node[r["id"]] = min(parse_cpus(self.where(rundir, r)[1]["cpus"]))
            node[r["id"]] //= 16
        for a, b in overlapping(rows):
            self.assertNotEqual(node[a["id"]], node[b["id"]])
        # --mem for every task: the same, from the command line.
        rundir, rows, run = self.run_tasks(
            [REPORT.format(s=0.3)] * 4, ["--slots", "auto", "--mem", "40G"],
            env=env, out="run-mem")
        self.assertLessEqual(most_at_once(rows), 2, run.describe())

    def test_retries_and_quarantine_with_two_slots_a_worker(self):
        # Rank 1 fails every task; each is retried elsewhere, rank 1 is
        # quarantined with tasks in both of its slots, and every task ends
        # ok exactly once.
        lines = ['[ "$LOOM_RANK" = 1 ] && exit 1; echo ok %d #loom retries=3'
                 % i for i in range(150)]
        tasks = self.write("q.txt", "".join(l + "\n" for l in lines))
        run = self.loom_unbound(["run", "-o", "q", "--slots", "2", tasks],
                                np=3)
        self.assertEqual(run.rc, 0, run.describe())
        rep = loomtest.read_report(self.path("q"))
        self.assertEqual(rep["quarantined"], [1], run.describe())
        self.assertEqual(rep["tasks"]["succeeded"], 150)
        rows = loomtest.read_joblog(self.path("q"))
        ok = collections.Counter(r["id"] for r in rows if r["status"] == "ok")
        self.assertEqual(sorted(ok.values()), [1] * 150)
        self.assertTrue(all(r["rank"] == 2 for r in rows
                            if r["status"] == "ok"))
        on_bad = [r for r in rows if r["rank"] == 1]
        self.assertLess(len(on_bad), 40, "rank 1 kept getting tasks")
        self.assertEqual(rep["per_worker"][0]["slots"], 2)

    def test_membind_binds_each_tasks_memory_to_its_node(self):
        # The kernel's word: /proc/self/numa_maps shows a process's memory
        # policy (bind:N) on every mapping without one of its own.
        policy = ("grep -m1 -o 'bind:[0-9,-]*\\|default' /proc/self/numa_maps"
                  "; echo cpus=$LOOM_CPUS")
        rundir, rows, run = self.run_tasks([policy] * 3,
                                           ["--slots", "2", "--membind"])
        for r in rows:
            text = loomtest.read_text(
                loomtest.output_path(rundir, r["id"], 1, "out"))
            self.assertRegex(text, r"^bind:\d", run.describe())
        rundir, rows, run = self.run_tasks([policy], ["--slots", "2"],
                                           out="plain")
        text = loomtest.read_text(
            loomtest.output_path(rundir, rows[0]["id"], 1, "out"))
        self.assertTrue(text.startswith("default"), text)
        # On a fake machine nothing is bound, memory no more than CPUs.
        env = {"LOOM_TOPOLOGY": "xml:" + os.path.join(DATA, "topo-2p16c.xml")}
        rundir, rows, run = self.run_tasks(
            [policy], ["--slots", "auto", "--membind"], env=env, out="fake")
        text = loomtest.read_text(
            loomtest.output_path(rundir, rows[0]["id"], 1, "out"))
        self.assertTrue(text.startswith("default"), text)
        # Without pinned slots there is no node to bind to: exit 2, one
        # line, nothing run.
        tasks = self.write("one.txt", "true\n")
        for args, what in [([], "--membind goes with --slots"),
                           (["--slots", str(os.cpu_count() + 1)],
                            "--membind needs pinned slots")]:
            run = self.loom_unbound(["run", "-o", "nb"] + args +
                                    ["--membind", tasks])
            self.assertEqual(run.rc, 2, run.describe())
            self.assertIn(what, run.stderr, run.describe())
            self.assertFalse(os.path.exists(self.path("nb", "joblog.tsv")))

    def mixed_workers(self, args, lines, out):
        """Runs lines on two workers of the fake two-package machine: rank 1
        bound to 2 of its cores, rank 2 to all 16 (--slots auto)."""
        wrapper = self.write("as-rank.sh", (
            "#!/bin/sh\n"
            "[ \"$OMPI_COMM_WORLD_RANK\" = 1 ] && export LOOM_CPUSET=0-3\n"
            "exec \"$@\"\n"))
        os.chmod(wrapper, 0o755)
        tasks = self.write(out + ".txt", "".join(l + "\n" for l in lines))
        argv = loom_unbound_argv(["run", "-o", out, "--slots", "auto"] +
                                 args + [tasks], 3)
        at = argv.index(loomtest.LOOM)
        argv[at:at] = [wrapper]
        env = {"LOOM_TOPOLOGY": "xml:" + os.path.join(DATA, "topo-2p16c.xml")}
        run = loomtest.run_argv(argv, cwd=self.tmp, env=env)
        return run, self.path(out)

    def test_wide_tasks_go_to_the_workers_that_can_run_them(self):
        # 8-core tasks fit only rank 2; 1-core ones anywhere. Every task
        # runs, each wide one on rank 2, and a wide task that failed there
        # is retried there (the only worker that can).
        marker = self.path("failed-once")
        lines = []
        for i in range(24):
            lines.append(REPORT.format(s=0.2) +
                         (" #loom cores=8" if i % 4 == 0 else ""))
        lines.append("test -e %s || { touch %s; exit 3; } "
                     "#loom cores=8 retries=1" % (marker, marker))
        run, rundir = self.mixed_workers([], lines, "mixed")
        self.assertEqual(run.rc, 0, run.describe())
        rows = loomtest.read_joblog(rundir)
        by_line = collections.defaultdict(list)
        for r in rows:
            by_line[r["line"]].append(r)
        ranks = set()
        for i in range(24):
            (r,) = by_line[i + 1]
            self.assertEqual(r["status"], "ok")
            ranks.add(r["rank"])
            if i % 4 == 0:
                self.assertEqual(r["rank"], 2, run.describe())
                self.assertEqual(len(parse_cpus(r["cpus"])), 16)
        self.assertEqual(ranks, {1, 2}, "narrow tasks ran on one rank only")
        retried = by_line[25]
        self.assertEqual([r["attempt"] for r in retried], [1, 2])
        self.assertEqual([r["status"] for r in retried], ["failed", "ok"])
        self.assertEqual({r["rank"] for r in retried}, {2})

    def test_wide_tasks_with_their_workers_quarantined_end_the_run(self):
        # Rank 2, the only one able to run the 8-core task at the end, fails
        # everything and is quarantined: the run ends, saying why, with
        # the wide task not started, instead of waiting for ever.
        lines = ['[ "$LOOM_RANK" = 2 ] && exit 1; echo ok %d #loom retries=3'
                 % i for i in range(60)]
        lines.append("echo wide #loom cores=8")
        run, rundir = self.mixed_workers([], lines, "q")
        self.assertNotEqual(run.rc, 0, run.describe())
        self.assertIn("no worker left that can give the next task cores=8",
                      run.stderr, run.describe())
        rep = loomtest.read_report(rundir)
        self.assertEqual(rep["quarantined"], [2])
        rows = loomtest.read_joblog(rundir)
        self.assertFalse([r for r in rows if r["line"] == 61], run.describe())
        ok = {r["line"] for r in rows if r["status"] == "ok"}
        self.assertEqual(ok, set(range(1, 61)))

    def test_requests_no_worker_can_meet_are_input_errors(self):
        env = {"LOOM_TOPOLOGY": "xml:" + os.path.join(DATA, "topo-2p16c.xml")}
        cases = [("true\nsleep 0 #loom cores=17\n", ["--slots", "auto"],
                  "line 2", "cores=17"),
                 ("true\ntrue\ntrue #loom mem=65G\n", ["--slots", "auto"],
                  "line 3", "mem="),
                 ("true\n", ["--slots", "4", "--cores", "17"], "line 1",
                  "cores=17")]
        for i, (text, args, where, what) in enumerate(cases):
            tasks = self.write("bad%d.txt" % i, text)
            run = self.loom_unbound(["run", "-o", "bad%d" % i] + args +
                                    [tasks], env=env)
            self.assertEqual(run.rc, 2, run.describe())
            self.assertIn(where, run.stderr, run.describe())
            self.assertIn(what, run.stderr, run.describe())
        for hint in ["cores=0", "cores=two", "mem=0", "mem=1X", "mem=-1"]:
            tasks = self.write("hint.txt", "true #loom %s\n" % hint)
            run = self.loom(["run", "-o", "h-" + hint, tasks])
            self.assertEqual(run.rc, 2, run.describe())
            self.assertIn("hint.txt:1", run.stderr, run.describe())

    def test_bad_values(self):
        tasks = self.write("tasks.txt", "true\n")
        for bad in ["0", "-1", "auto:core", "4097", "two", ""]:
            run = self.loom(["run", "--slots", bad, tasks])
            self.assertEqual(run.rc, 2, run.describe())
            lines = loomtest.loom_lines(run.stderr)
            self.assertEqual(len(lines), 1, run.describe())
            self.assertIn("--slots", lines[0])


if __name__ == "__main__":
    loomtest.main()
