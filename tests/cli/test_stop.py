#!/usr/bin/env python3
"""test_stop.py - graceful stop on a signal, and retries going elsewhere.

A stop signal must end the run with exit status 4 in about the grace
period, with every finished task in the journal, running tasks killed
(their whole process group) once the grace is over, nothing left running,
and a resume that finishes the rest.
"""

import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402
from loomtest import read_joblog, read_report  # noqa: E402

LONG = "sleep 31.4159"  # a command no other process on the machine runs


def leftovers():
    """PIDs of long tasks still running."""
    out = subprocess.run(["pgrep", "-f", LONG], capture_output=True,
                         text=True).stdout
    return [p for p in out.split() if p]


class StopBase(loomtest.LoomTestCase):
    """Starting a run in its own session, signalling it, collecting it."""

    def start(self, args, np):
        argv = loomtest.command(args, np)
        return subprocess.Popen(argv, cwd=self.tmp, env=loomtest.test_env(),
                                start_new_session=True,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def finish(self, proc, timeout=60):
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            self.fail("did not stop within %d s:\n%s" % (timeout, err))
        return proc.returncode, out.decode(), err.decode()

    def wait_for_rows(self, rundir, n, limit=30):
        """Waits until the joblog holds n rows (so the run is under way)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            try:
                with open(os.path.join(rundir, "joblog.tsv")) as f:
                    if len(f.read().splitlines()) > n:
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        self.fail("the run never recorded %d rows" % n)


class StopTest(StopBase):

    def stop_run(self, np, sig, grace, signals=1):
        """Runs 4 quick tasks then long ones and stops it; returns rc, the
        seconds from the signal to the exit, and the rundir."""
        lines = ["true"] * 4 + [LONG] * 4 + ["echo after %d" % i
                                            for i in range(10)]
        self.write("tasks.txt", "\n".join(lines) + "\n")
        rundir = self.path("run")
        proc = self.start(["run", "-q", "-o", rundir, "--grace", str(grace),
                           "tasks.txt"], np)
        self.wait_for_rows(rundir, 4)
        time.sleep(0.3)  # the long tasks are running now
        t0 = time.monotonic()
        for _ in range(signals):
            os.kill(proc.pid, sig)
            time.sleep(0.2)
        rc, out, err = self.finish(proc)
        return rc, time.monotonic() - t0, rundir, err

    def check_stopped(self, rc, rundir, err, np):
        self.assertEqual(rc, 4, "a stopped run exits 4\n" + err)
        rows = read_joblog(rundir)
        rep = read_report(rundir)
        self.assertFalse(rep["complete"], err)
        self.assertIn("stopped on request", rep["error"])
        self.assertEqual(rep["tasks"]["attempts"], len(rows))
        cancelled = [r for r in rows if r["status"] == "cancelled"]
        self.assertTrue(cancelled, "the long tasks were not cancelled")
        for r in cancelled:
            self.assertNotEqual(r["status"], "ok")
        # The report says what the stop left: cancelled tasks apart from
        # failed ones, and every task of the 18 not done (a --resume's
        # work).
        ok = {r["id"] for r in rows if r["status"] == "ok"}
        self.assertEqual(rep["tasks"]["failed"], 0, rep["tasks"])
        self.assertEqual(rep["tasks"]["cancelled"],
                         len({r["id"] for r in cancelled}), rep["tasks"])
        self.assertEqual(rep["source_tasks"], 18)
        self.assertEqual(rep["left"], 18 - len(ok))
        self.assertEqual(leftovers(), [], "a killed task is still running")
        # Nothing recorded twice, and every dispatched task has its row
        # (the stop drains what is in flight).
        with open(os.path.join(rundir, "dispatched.tsv")) as f:
            dispatched = [l.split("\t")[0] for l in f.read().splitlines()[1:]]
        self.assertEqual(sorted(dispatched), sorted(r["id"] for r in rows))
        return rows

    def resume_finishes(self, rundir, np):
        # The long tasks are cut short for the resume: an edited command is
        # a new task, the other lines are skipped or rerun as the journal
        # says.
        path = self.path("tasks.txt")
        with open(path) as f:
            text = f.read().replace(LONG, "sleep 0.01")
        with open(path, "w") as f:
            f.write(text)
        r = self.loom(["run", "-q", "--resume", rundir, "tasks.txt"], np=np)
        self.assertEqual(r.rc, 0, r.describe())
        rows = read_joblog(rundir)
        ok = {x["command"] for x in rows if x["status"] == "ok"}
        self.assertTrue({"true", "sleep 0.01"} <= ok)
        self.assertEqual(sum(1 for x in ok if x.startswith("echo after")), 10)

    def test_sigterm_single_rank_kills_after_grace_and_resumes(self):
        rc, secs, rundir, err = self.stop_run(None, signal.SIGTERM, 0.5)
        self.assertLess(secs, 10, "the grace period was not kept short")
        self.check_stopped(rc, rundir, err, 1)
        self.resume_finishes(rundir, None)

    def test_sigusr1_under_mpirun_kills_after_grace_and_resumes(self):
        rc, secs, rundir, err = self.stop_run(3, signal.SIGUSR1, 0.5)
        self.assertLess(secs, 10)
        rows = self.check_stopped(rc, rundir, err, 3)
        killed = [r for r in rows if r["status"] == "cancelled" and
                  r["signal"] == signal.SIGTERM]
        self.assertTrue(killed, "no running task was killed with SIGTERM")
        self.resume_finishes(rundir, 3)

    def test_second_signal_kills_at_once(self):
        rc, secs, rundir, err = self.stop_run(3, signal.SIGUSR1, 60,
                                              signals=2)
        self.assertLess(secs, 15, "a second signal must not wait for grace")
        self.check_stopped(rc, rundir, err, 3)

    def test_tasks_within_grace_finish_normally(self):
        self.write("tasks.txt", "".join("sleep 0.2; echo %d\n" % i
                                        for i in range(30)))
        rundir = self.path("run")
        proc = self.start(["run", "-q", "-o", rundir, "--grace", "20",
                           "tasks.txt"], 3)
        self.wait_for_rows(rundir, 3)
        os.kill(proc.pid, signal.SIGUSR1)
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, 4, err)
        rows = read_joblog(rundir)
        # What ran finished; what was queued behind it never started (a
        # cancelled row with no signal and no time), nothing was killed.
        for r in rows:
            self.assertTrue(
                r["status"] == "ok" or
                (r["status"] == "cancelled" and r["signal"] == 0 and
                 float(r["elapsed"]) == 0),
                "a task that could finish in the grace was killed: %s" % r)
        self.assertTrue(any(r["status"] == "ok" for r in rows))
        self.assertLess(len([r for r in rows if r["status"] == "ok"]), 30,
                        "the stop let every task run")

    def test_a_stop_that_takes_nothing_away_completes_the_run(self):
        # Every task is running when the stop comes, and each ends within
        # the grace: nothing is left undone, so the run is complete (exit
        # 0), as a walltime job's last one must be.
        n = 2
        self.write("tasks.txt", "".join(
            "touch started.%d; sleep 1.5; echo %d\n" % (i, i)
            for i in range(n)))
        rundir = self.path("run")
        proc = self.start(["run", "-o", rundir, "--grace", "30",
                           "tasks.txt"], 3)
        t0 = time.monotonic()
        while not all(os.path.exists(self.path("started.%d" % i))
                      for i in range(n)):
            self.assertLess(time.monotonic() - t0, 30, "the tasks never ran")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGUSR1)
        rc, out, err = self.finish(proc)
        self.assertEqual(rc, 0, err)
        self.assertIn("the run is complete", err)
        rows = read_joblog(rundir)
        self.assertEqual(sorted(r["line"] for r in rows), [1, 2])
        self.assertTrue(all(r["status"] == "ok" for r in rows), rows)
        rep = read_report(rundir)
        self.assertTrue(rep["complete"], rep["error"])
        self.assertIsNone(rep["error"])
        self.assertEqual(rep["left"], 0)


class StopCTasksTest(StopBase):
    """C tasks run on an executor thread: a stop reaches them too. Queued
    ones never start; a running one that does not return within the grace
    (and the few seconds a shell task's kill takes) is recorded as
    cancelled and the run ends without it."""

    def check_all_cancelled(self, rc, err, rundir, n, secs, longest):
        self.assertEqual(rc, 4, err)
        self.assertLess(secs, longest,
                        "the run waited for C tasks that would not return")
        rows = read_joblog(rundir)
        self.assertEqual(len(rows), n, rows)
        self.assertTrue(all(r["status"] == "cancelled" for r in rows), rows)
        rep = read_report(rundir)
        self.assertFalse(rep["complete"])

    def test_sigterm_ends_a_single_rank_run_of_long_c_tasks(self):
        rundir = self.path("run")
        t0 = time.monotonic()
        proc = self.start(["run", "-q", "-o", rundir, "--grace", "1",
                           "--kind", "sleep", "--count", "2", "-a",
                           "mean=20"], None)
        time.sleep(1.5)  # the first task runs
        os.kill(proc.pid, signal.SIGTERM)
        rc, out, err = self.finish(proc)
        # Grace 1 s, then 3 s for the task to return: far less than the
        # 40 s the two tasks would take.
        self.check_all_cancelled(rc, err, rundir, 2, time.monotonic() - t0,
                                 20)

    def test_two_signals_end_it_at_once(self):
        rundir = self.path("run")
        t0 = time.monotonic()
        proc = self.start(["run", "-q", "-o", rundir, "--grace", "60",
                           "--kind", "sleep", "--count", "2", "-a",
                           "mean=20"], None)
        time.sleep(1.5)
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGTERM)
        rc, out, err = self.finish(proc)
        self.check_all_cancelled(rc, err, rundir, 2, time.monotonic() - t0,
                                 20)

    def test_sigusr1_under_mpirun_starts_no_queued_c_task(self):
        rundir = self.path("run")
        t0 = time.monotonic()
        # One worker with a window of 2: a task runs, another is queued.
        proc = self.start(["run", "-q", "-o", rundir, "--grace", "1",
                           "--kind", "sleep", "--count", "6", "-a",
                           "mean=10"], 2)
        time.sleep(2)
        os.kill(proc.pid, signal.SIGUSR1)
        rc, out, err = self.finish(proc)
        secs = time.monotonic() - t0
        self.assertEqual(rc, 4, err)
        self.assertLess(secs, 25)
        rows = read_joblog(rundir)
        self.assertGreater(len(rows), 0)
        # Nothing ran to its end, and no task started after the signal
        # (a queued one has no elapsed time).
        self.assertTrue(all(r["status"] == "cancelled" for r in rows), rows)
        ran = [r for r in rows if float(r["elapsed"]) > 0]
        self.assertLessEqual(len(ran), 1, rows)


class RetryTest(loomtest.LoomTestCase):

    def test_a_retry_goes_to_another_worker(self):
        # The first task fails once (a marker file remembers), with
        # plenty of fresh tasks behind it for the failing worker to take.
        marker = self.path("failed-once")
        lines = ["test -e %s || { touch %s; exit 3; } #loom retries=1"
                 % (marker, marker)]
        lines += ["sleep 0.05"] * 30
        self.write("tasks.txt", "\n".join(lines) + "\n")
        r = self.loom(["run", "-q", "-o", "run", "tasks.txt"], np=3)
        self.assertEqual(r.rc, 0, r.describe())
        rows = [x for x in read_joblog(self.path("run"))
                if x["command"].startswith("test -e")]
        self.assertEqual([x["attempt"] for x in rows], [1, 2])
        self.assertNotEqual(rows[0]["rank"], rows[1]["rank"],
                            "the retry ran on the worker it failed on")


class QuarantineTest(loomtest.LoomTestCase):

    # 150 quick tasks: without quarantine rank 1 would fail about a third
    # of them; with it, only the few it took before the blame came in.
    FILE = "".join('[ "$LOOM_RANK" = 1 ] && exit 1; echo ok %d #loom retries=3\n'
                   % i for i in range(150))

    def test_a_worker_whose_tasks_fail_only_there_is_quarantined(self):
        self.write("q.txt", self.FILE)
        r = self.loom(["run", "-o", "run", "q.txt"], np=4)
        self.assertEqual(r.rc, 0, r.describe())
        rep = read_report(self.path("run"))
        self.assertEqual(rep["quarantined"], [1], r.describe())
        self.assertEqual(rep["tasks"]["succeeded"], 150)
        flags = {w["rank"]: w["quarantined"] for w in rep["per_worker"]}
        self.assertEqual(flags, {1: True, 2: False, 3: False})
        rows = read_joblog(self.path("run"))
        on_bad = [x for x in rows if x["rank"] == 1]
        self.assertTrue(all(x["status"] == "failed" for x in on_bad))
        self.assertLess(len(on_bad), 40, "rank 1 kept getting tasks")
        self.assertIn("rank 1 on", r.stderr)
        self.assertIn("quarantined", r.stderr)

    def test_quarantine_n_takes_exactly_n_blames(self):
        # One worker of two fails every task it runs (its first tries), and
        # each task then succeeds on the other: each success blames the
        # failing worker once. With --quarantine N it is quarantined at the
        # N-th blame, not one later, and the line says so.
        for n in (1, 2):
            with self.subTest(quarantine=n):
                self.write("q.txt", self.FILE)
                run = self.path("run%d" % n)
                r = self.loom(["run", "-o", run, "--quarantine", str(n),
                               "q.txt"], np=3)
                self.assertEqual(r.rc, 0, r.describe())
                self.assertIn("quarantined rank 1 on", r.stderr)
                self.assertIn("%d of its failed tasks succeeded elsewhere"
                              % n, r.stderr)
                rep = read_report(run)
                self.assertEqual(rep["quarantined"], [1])

    def test_quarantine_0_never_quarantines(self):
        self.write("q.txt", self.FILE)
        r = self.loom(["run", "-q", "-o", "run", "--quarantine", "0",
                       "q.txt"], np=4)
        rep = read_report(self.path("run"))
        self.assertEqual(rep["quarantined"], [], r.describe())
        # Rank 1 keeps taking work, and near the end a retry can land on it
        # again and again until the task fails for good: the exit status
        # says whether that happened.
        self.assertEqual(r.rc, 1 if rep["tasks"]["failed"] else 0,
                         r.describe())
        on_bad = [x for x in read_joblog(self.path("run")) if x["rank"] == 1]
        self.assertGreaterEqual(len(on_bad), 40,
                                "rank 1 stopped getting tasks")


class DeadlineTest(loomtest.LoomTestCase):

    # The deadline leaves the short tasks seconds to spare, even on a
    # loaded machine; the long one cannot fit.
    FILE = ("sleep 0.3 #loom cost=0.3\nsleep 0.3 #loom cost=0.3\n"
            "sleep 3 #loom cost=30\nsleep 0.2 #loom cost=0.2\n")

    def check(self, args, env=None):
        self.write("d.txt", self.FILE)
        r = self.loom(["run", "-q", "-o", "run"] + args + ["d.txt"], env=env)
        self.assertEqual(r.rc, 4, r.describe())
        rep = read_report(self.path("run"))
        self.assertEqual(rep["not_started"], 1)
        self.assertFalse(rep["complete"])
        self.assertIn("deadline", rep["error"])
        rows = read_joblog(self.path("run"))
        self.assertEqual(sorted(x["command"] for x in rows),
                         ["sleep 0.2", "sleep 0.3", "sleep 0.3"])
        self.assertLess(r.seconds, 20, "the long task ran")
        # Without a deadline, a resume runs just what was left out.
        r = self.loom(["run", "-q", "--resume", "run", "d.txt"])
        self.assertEqual(r.rc, 0, r.describe())
        rows = read_joblog(self.path("run"))
        self.assertEqual([x["command"] for x in rows[3:]], ["sleep 3"])

    def test_a_task_that_cannot_finish_in_time_is_not_started(self):
        self.check(["--deadline", "8"])

    def test_the_deadline_can_come_from_slurm(self):
        self.check(["--deadline", "slurm"],
                   env={"SLURM_JOB_END_TIME": str(int(time.time()) + 9)})

    def test_a_retry_that_cannot_finish_in_time_is_not_started(self):
        # The first attempt fits (4 s hinted, 6 s left) and fails after
        # 3 s; its retry would end past the deadline: it is left out, and
        # the failure stands.
        self.write("r.txt", "sleep 3; exit 3 #loom cost=4 retries=2\ntrue\n")
        r = self.loom(["run", "-q", "-o", "run", "--deadline", "6",
                       "r.txt"])
        self.assertEqual(r.rc, 4, r.describe())
        rows = read_joblog(self.path("run"))
        failing = [x for x in rows if x["command"] == "sleep 3; exit 3"]
        self.assertEqual([x["attempt"] for x in failing], [1], rows)
        rep = read_report(self.path("run"))
        self.assertEqual(rep["not_started"], 1)
        self.assertEqual(rep["tasks"]["failed"], 1)

    def check_queued(self, args, until):
        """Ten 1 s tasks on one worker against a deadline: only those that
        end before `until` (seconds since the epoch) start, counting the
        ones queued ahead of them."""
        self.write("q.txt", "sleep 1 #loom cost=1\n" * 10)
        r = self.loom(["run", "-q", "-o", "run"] + args + ["q.txt"], np=2)
        self.assertEqual(r.rc, 4, r.describe())
        rows = read_joblog(self.path("run"))
        rep = read_report(self.path("run"))
        self.assertEqual(len(rows) + rep["not_started"], 10, r.describe())
        self.assertGreater(rep["not_started"], 0)
        self.assertGreater(len(rows), 0)
        # The sleeps may overrun their 1 s hint by a little, never by a
        # whole task: before, tasks queued behind others ended seconds late.
        for x in rows:
            self.assertLess(x["start"] + x["elapsed"], until + 0.5, rows)

    def test_queued_tasks_count_against_the_deadline(self):
        until = time.time() + 4
        self.check_queued(["--deadline", "@%.3f" % until], until)

    def test_a_margin_ends_tasks_before_the_deadline(self):
        until = time.time() + 6
        self.check_queued(["--deadline", "@%.3f" % until,
                           "--deadline-margin", "2"], until - 2)

    def test_bad_deadlines_are_usage_errors(self):
        self.write("d.txt", self.FILE)
        for bad in (["--deadline", "soon"], ["--deadline", "-5"],
                    ["--deadline", "@x"], ["--deadline", "slurm"],
                    ["--deadline-margin", "5"],
                    ["--deadline", "60", "--deadline-margin", "x"],
                    ["--quarantine", "-1"], ["--grace", "abc"]):
            r = self.loom(["run", "-o", "run"] + bad + ["d.txt"],
                          env={"SLURM_JOB_END_TIME": "", "SLURM_JOB_ID": ""})
            self.assertEqual(r.rc, 2, r.describe())
            self.assertEqual(len(loomtest.loom_lines(r.stderr)), 1,
                             r.describe())
            self.assertFalse(os.path.exists(self.path("run")))


class LaunchCheckTest(loomtest.LoomTestCase):
    """Inside a Slurm job of several tasks, a loom that sees a world of one
    rank was launched wrong (srun without PMIx starts N singletons, each
    running the whole file; a plain `loom run` in the batch script uses one
    task of N): one line from the job's first task, exit 2, nothing run."""

    def check(self, env, says):
        self.write("t.txt", "true\n")
        r = self.loom(["run", "-o", "run", "t.txt"], env=env)
        self.assertEqual(r.rc, 2, r.describe())
        lines = loomtest.loom_lines(r.stderr)
        if says:
            self.assertEqual(len(lines), 1, r.describe())
            self.assertIn(says, lines[0])
        else:
            self.assertEqual(lines, [], r.describe())
        self.assertFalse(os.path.exists(self.path("run")))

    def test_singletons_of_an_srun_step(self):
        self.check({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4",
                    "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "4",
                    "SLURM_PROCID": "0"}, "SLURM_STEP_NUM_TASKS")
        # The other singletons stop as well, without a word.
        self.check({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4",
                    "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "4",
                    "SLURM_PROCID": "3"}, None)

    def test_one_process_in_a_job_of_several_tasks(self):
        self.check({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"},
                   "SLURM_NTASKS")

    def test_the_right_launches_run(self):
        self.write("t.txt", "true\n")
        # One task asked for, one process: fine.
        r = self.loom(["run", "-q", "-o", "one", "t.txt"],
                      env={"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"})
        self.assertEqual(r.rc, 0, r.describe())
        # Several ranks: the world is the launch, whatever Slurm says.
        r = self.loom(["run", "-q", "-o", "two", "t.txt"], np=2,
                      env={"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"})
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(read_report(self.path("two"))["slurm"]["job_id"],
                         "7")


if __name__ == "__main__":
    loomtest.main()
