#!/usr/bin/env python3
"""Slurm for real: the sbatch templates of scripts/slurm, submitted with
`sbatch --wait` to a throwaway one-node Slurm that scripts/slurm-local.sh
starts in a temporary folder (and stops afterwards), checked from the run
directories they leave.

- one-node, several-nodes and array templates, with srun (Slurm's PMIx)
  and with mpirun inside the job: every task done, report.json naming
  the job;
- launch mistakes inside a real job: a plain `loom run` in a job of
  several tasks, and srun starting singletons (an MPI that does not see
  the launch, made by hiding the step from it): one line, exit 2, nothing
  run;
- a cluster of three nodes (network-namespace hosts of
  scripts/netns-hosts.sh, a slurmd in each): the several-nodes template
  with srun and with mpirun puts a worker on every node;
- the benchmark suite's template (bench.sbatch --smoke) in a job of three
  tasks: its rank counts come from the job;
- the wall-time cycle: a task file three times longer than the jobs' time
  limit finishes over several jobs of walltime.sbatch, each ending before
  its limit (--deadline slurm, from what Slurm itself reports), every task
  done exactly once.

Where Slurm cannot start (packages missing, no root) every test skips with
the reason in one line; scripts/setup.sh installs the packages.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import loomtest

ROOT = loomtest.SOURCE_ROOT
LOCAL = os.path.join(ROOT, "scripts", "slurm-local.sh")
TEMPLATES = os.path.join(ROOT, "scripts", "slurm")
STATE = {}


def setUpModule():
    d = tempfile.mkdtemp(prefix="loom-slurm-")
    try:
        r = subprocess.run([LOCAL, "start", d], capture_output=True, text=True,
                           timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        r = subprocess.CompletedProcess([], 3, "", str(e))
    if r.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        lines = (r.stderr or r.stdout).strip().splitlines() or ["failed"]
        raise unittest.SkipTest("no local Slurm: " + lines[-1])
    STATE["dir"] = d


def tearDownModule():
    d = STATE.get("dir")
    if d:
        subprocess.run([LOCAL, "stop", d], capture_output=True, timeout=60)
        shutil.rmtree(d, ignore_errors=True)


class SlurmCase(loomtest.LoomTestCase):

    def env(self, extra=None):
        env = loomtest.test_env({
            "SLURM_CONF": os.path.join(STATE["dir"], "slurm.conf"),
            "LOOM": loomtest.LOOM,
            "OMPI_ALLOW_RUN_AS_ROOT": "1",
            "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
        # The tests' own job environment must not leak into the jobs.
        for k in list(env):
            if k.startswith("SLURM_") and k != "SLURM_CONF":
                del env[k]
        env.update(extra or {})
        return env

    def sbatch(self, argv, extra_env=None, timeout=240):
        """sbatch --wait ARGV in the test's folder: (exit status, the job's
        output file's text)."""
        out = self.path("job.out")
        r = subprocess.run(["sbatch", "--wait", "--output", out] + argv,
                           cwd=self.tmp, env=self.env(extra_env),
                           capture_output=True, text=True, timeout=timeout)
        text = loomtest.read_text(out) if os.path.exists(out) else ""
        return r.returncode, text + r.stderr

    def wait_for_no_jobs(self, slurm_dir, env, limit, what):
        """Waits until the Slurm in slurm_dir has no job left (chains of
        jobs go on after sbatch --wait returns); fails after limit s."""
        deadline = loomtest.time.monotonic() + limit
        while loomtest.time.monotonic() < deadline:
            q = subprocess.run([LOCAL, "run", slurm_dir, "squeue", "-h",
                                "-o", "%i"], env=env, capture_output=True,
                               text=True)
            if q.returncode == 0 and not q.stdout.strip():
                return
            loomtest.time.sleep(1)
        self.fail(what + " did not end")

    def tasks(self, n, name="t.txt"):
        return self.write(name, "".join("echo task %d on $LOOM_CPUS\n" % i
                                        for i in range(n)))

    def check_done(self, rundir, n, out):
        rows = loomtest.read_joblog(rundir)
        self.assertEqual(len(rows), n, out)
        self.assertTrue(all(r["status"] == "ok" for r in rows), out)
        rep = loomtest.read_report(rundir)
        self.assertTrue(rep["complete"], out)
        self.assertIsNotNone(rep["slurm"], out)
        return rep


class TemplateTest(SlurmCase):

    def test_one_node_with_srun_and_with_mpirun(self):
        tasks = self.tasks(20)
        for launch in ("srun", "mpirun"):
            with self.subTest(launch=launch):
                rc, out = self.sbatch(
                    [os.path.join(TEMPLATES, "one-node.sbatch"), tasks,
                     "run-" + launch], {"LAUNCH": launch})
                self.assertEqual(rc, 0, out)
                rep = self.check_done(self.path("run-" + launch), 20, out)
                # srun makes a job step; mpirun inside the job does not.
                self.assertEqual(rep["slurm"]["step_id"] is None,
                                 launch == "mpirun", rep["slurm"])
                self.assertEqual(rep["slurm"]["nodes"], "1")
                # One worker with a slot per core of this machine.
                self.assertEqual(rep["workers"], 1)
                self.assertGreaterEqual(rep["per_worker"][0]["slots"], 1)

    def test_benchmark_suite_template(self):
        build = os.path.dirname(os.path.dirname(loomtest.LOOM))
        rc, out = self.sbatch(
            ["--ntasks=3", os.path.join(TEMPLATES, "bench.sbatch"), "--smoke",
             "--no-build", "--results", self.path("results")],
            {"LOOM_SRC": ROOT, "LOOM_BUILD": build}, timeout=400)
        self.assertEqual(rc, 0, out)
        (d,) = os.listdir(self.path("results"))
        machine = loomtest.read_text(self.path("results", d, "machine.md"))
        # The job's three tasks: 2 and 3 ranks, and the job named.
        self.assertRegex(machine, r"\| rank counts \| 2, 3( |$)")
        self.assertNotIn("none (not in an allocation)", machine)
        for name in ("scaling.csv", "metg.csv", "peers.csv", "ceiling.csv",
                     "summary.md"):
            self.assertTrue(os.path.getsize(self.path("results", d, name)),
                            name)
        # Outside the source tree it says so in one line.
        rc, out = self.sbatch(["--ntasks=2",
                               os.path.join(TEMPLATES, "bench.sbatch")],
                              {"LOOM_SRC": self.tmp})
        self.assertEqual(rc, 2, out)
        self.assertIn("no bench/loombench.py in", out)

    def test_several_nodes(self):
        tasks = self.tasks(20)
        for launch in ("srun", "mpirun"):
            with self.subTest(launch=launch):
                rc, out = self.sbatch(
                    ["--nodes=1", os.path.join(TEMPLATES,
                                               "several-nodes.sbatch"),
                     tasks, "run-" + launch], {"LAUNCH": launch})
                self.assertEqual(rc, 0, out)
                rep = self.check_done(self.path("run-" + launch), 20, out)
                self.assertEqual(rep["workers"], 1, out)

    def test_job_array(self):
        a = self.tasks(5, "a.txt")
        b = self.tasks(7, "b.txt")
        rc, out = self.sbatch(["--array=0-1",
                               os.path.join(TEMPLATES, "array.sbatch"), a, b])
        self.assertEqual(rc, 0, out)
        runs = sorted(d for d in os.listdir(self.tmp)
                      if d.startswith("loom-") and
                      os.path.isdir(self.path(d)))
        self.assertEqual(len(runs), 2, (runs, out))
        for d, n in zip(runs, (5, 7)):
            self.check_done(self.path(d), n, out)


class ClusterCase(SlurmCase):
    """Three nodes: one slurmd per network-namespace host."""

    NAME = "ls"
    HOSTS = os.path.join(ROOT, "scripts", "netns-hosts.sh")

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="loom-slurm3-")
        up = subprocess.run([cls.HOSTS, "up", cls.NAME, "3"],
                            capture_output=True, text=True, timeout=60)
        if up.returncode != 0:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise unittest.SkipTest("no namespace hosts: " +
                                    (up.stderr.strip() or "failed"))
        r = subprocess.run([LOCAL, "start", cls.dir, "2", cls.NAME, "3"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            cls.tearDownClass()
            raise unittest.SkipTest("no three-node Slurm: " +
                                    (r.stderr.strip() or "failed"))

    @classmethod
    def tearDownClass(cls):
        subprocess.run([LOCAL, "stop", cls.dir], capture_output=True,
                       timeout=60)
        subprocess.run([cls.HOSTS, "down", cls.NAME, "3"],
                       capture_output=True, timeout=60)
        shutil.rmtree(cls.dir, ignore_errors=True)


class ClusterTest(ClusterCase):

    def test_several_nodes_puts_a_worker_on_each(self):
        tasks = self.write("t.txt", "hostname; sleep 0.1\n" * 30)
        for launch in ("srun", "mpirun"):
            with self.subTest(launch=launch):
                out = self.path(launch + ".out")
                subnet = subprocess.run(
                    [self.HOSTS, "subnet", self.NAME], capture_output=True,
                    text=True, check=True).stdout.strip()
                # MPI's TCP on the hosts' subnet, not on loopback (which
                # each host has to itself).
                env = self.env({"LAUNCH": launch,
                                "SLURM_CONF": os.path.join(self.dir,
                                                           "slurm.conf"),
                                "OMPI_MCA_btl_tcp_if_include": subnet,
                                "OMPI_MCA_oob_tcp_if_include": subnet})
                r = subprocess.run(
                    [LOCAL, "run", self.dir, "sbatch", "--wait", "--nodes=3",
                     "--output", out,
                     os.path.join(TEMPLATES, "several-nodes.sbatch"), tasks,
                     "run-" + launch],
                    cwd=self.tmp, env=env, capture_output=True, text=True,
                    timeout=120)
                text = (loomtest.read_text(out) if os.path.exists(out)
                        else "") + r.stderr
                self.assertEqual(r.returncode, 0, text)
                rundir = self.path("run-" + launch)
                rep = self.check_done(rundir, 30, text)
                self.assertEqual(rep["slurm"]["nodes"], "3")
                hosts = {"%s%d" % (self.NAME, i) for i in (1, 2, 3)}
                self.assertEqual({w["host"] for w in rep["per_worker"]},
                                 hosts, text)
                rows = loomtest.read_joblog(rundir)
                self.assertEqual({x["host"] for x in rows}, hosts)
                for x in rows:  # the task says where it ran
                    said = loomtest.read_text(loomtest.output_path(
                        rundir, x["id"], x["attempt"], "out")).strip()
                    self.assertEqual(said, x["host"])


def readme_lines(after):
    """The lines of the first code block after `after` in the README,
    comments cut."""
    return [l.split("#")[0].strip()
            for l in loomtest.readme_block(after).splitlines()
            if l.split("#")[0].strip()]


class ReadmeTest(ClusterCase):
    """The README's batch examples, run as they are written."""

    def test_batch_job_templates_as_the_readme_writes_them(self):
        lines = readme_lines("### Batch job templates")
        self.assertEqual(len(lines), 4, lines)
        os.symlink(os.path.join(ROOT, "scripts"), self.path("scripts"))
        self.write("tasks.txt", "hostname\n" * 12)
        for f in ("a.txt", "b.txt", "c.txt"):
            self.write(f, "true\n" * 3)
        subnet = subprocess.run([self.HOSTS, "subnet", self.NAME],
                                capture_output=True, text=True,
                                check=True).stdout.strip()
        env = self.env({"SLURM_CONF": os.path.join(self.dir, "slurm.conf"),
                        "OMPI_MCA_btl_tcp_if_include": subnet,
                        "OMPI_MCA_oob_tcp_if_include": subnet})
        for line in lines:
            r = subprocess.run([LOCAL, "run", self.dir, "sh", "-c", line],
                               cwd=self.tmp, env=env, capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, (line, r.stderr))
            self.assertIn("Submitted batch job", r.stdout)
        self.wait_for_no_jobs(self.dir, env, 240, "the jobs")
        logs = "".join(loomtest.read_text(self.path(f))
                       for f in os.listdir(self.tmp) if f.endswith(".out"))
        for run, n in (("run1", 12), ("run2", 12), ("run3", 12)):
            self.check_done(self.path(run), n, logs)
        hosts = {x["host"] for x in loomtest.read_joblog(self.path("run2"))}
        self.assertEqual(len(hosts), 3, logs)
        arrays = sorted(d for d in os.listdir(self.tmp) if d.startswith("loom-")
                        and os.path.isdir(self.path(d)))
        self.assertEqual(len(arrays), 3, (arrays, logs))
        for d in arrays:
            self.check_done(self.path(d), 3, logs)


class LaunchMistakeTest(SlurmCase):

    def job(self, body):
        script = self.write("job.sh", "#!/bin/bash\n#SBATCH --ntasks=3\n" +
                            body)
        return self.sbatch([script])

    def test_plain_loom_run_in_a_job_of_three_tasks(self):
        tasks = self.tasks(4)
        rc, out = self.job('"$LOOM" run -o run %s\n' % tasks)
        self.assertEqual(rc, 2, out)
        self.assertEqual(len(loomtest.loom_lines(out)), 1, out)
        self.assertIn("SLURM_NTASKS", out)
        self.assertFalse(os.path.exists(self.path("run")))

    def test_srun_singletons(self):
        # An MPI that does not see srun's launch: each process is a world
        # of its own. Made here by hiding the step and PMIx from Open MPI.
        tasks = self.tasks(4)
        rc, out = self.job(
            "srun sh -c 'for v in $(env | sed -n "
            "\"s/^\\(SLURM_STEP[A-Z_]*\\|SLURM_STEPID\\|PMIX_[A-Z_]*\\|"
            "OMPI_[A-Z_]*\\)=.*/\\1/p\"); do unset $v; done; "
            "export OMPI_ALLOW_RUN_AS_ROOT=1 "
            "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; "
            "exec \"$LOOM\" run -o run-$SLURM_PROCID %s'\n" % tasks)
        self.assertNotEqual(rc, 0, out)
        lines = loomtest.loom_lines(out)
        self.assertEqual(len(lines), 1, out)
        self.assertIn("loom runs as one process", lines[0])
        self.assertFalse([d for d in os.listdir(self.tmp)
                          if d.startswith("run")], out)


class WallTimeTest(SlurmCase):

    def test_a_long_task_file_finishes_over_several_jobs(self):
        # 30 tasks of 5 s on this machine's slots (2 cores: 75 s of work)
        # against jobs of 1 minute that keep 35 s free at their end
        # (--deadline-margin): about 25 s of work a job, three jobs or
        # more, each started by the one before.
        n = 30
        tasks = self.write("t.txt", "".join(
            "sleep 5; echo %d #loom cost=5\n" % i for i in range(n)))
        # As a user would: the template with its limits edited (the jobs it
        # submits read its #SBATCH lines, not the first one's command line).
        text = loomtest.read_text(os.path.join(TEMPLATES, "walltime.sbatch"))
        edited = text.replace("#SBATCH --time=01:00:00", "#SBATCH --time=1")
        edited = edited.replace("--signal=B:USR1@120", "--signal=B:USR1@15")
        self.assertNotEqual(edited, text)
        script = self.write("walltime.sbatch", edited)
        rc, out = self.sbatch([script, tasks, "run"],
                              {"MARGIN": "35", "GRACE": "10"}, timeout=120)
        self.assertEqual(rc, 4, out)  # the first job left tasks
        # The chain goes on after sbatch --wait returns: wait for it.
        self.wait_for_no_jobs(STATE["dir"], self.env(), 600,
                              "the chain of jobs")
        rows = loomtest.read_joblog(self.path("run"))
        rep = loomtest.read_report(self.path("run"))
        self.assertTrue(rep["complete"], rep["error"])
        self.assertEqual(rep["left"], 0)
        ok = [r for r in rows if r["status"] == "ok"]
        self.assertEqual(sorted(r["line"] for r in ok), list(range(1, n + 1)))
        # Nothing ran twice; anything else is a task a stop cancelled.
        for r in rows:
            self.assertIn(r["status"], ("ok", "cancelled"), r)
        logs = [f for f in os.listdir(self.tmp) if f.startswith("loom-")]
        jobs = loomtest.read_text(self.path("job.out"))
        self.assertGreaterEqual(jobs.count("walltime.sbatch: job "), 1, jobs)
        self.assertGreaterEqual(len(logs) + 1, 3,
                                "one job did it all: the limit was not met")


if __name__ == "__main__":
    loomtest.main()
