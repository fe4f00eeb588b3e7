#!/usr/bin/env python3
"""test_faults.py - tasks that misbehave, and a worker rank that dies.

A task may fail, crash on a signal, hang past its timeout (even ignoring
SIGTERM), write hundreds of megabytes, read stdin, leave a child running
or name a command that does not exist. Each must be recorded exactly
(exit, signal, status, attempts), none may stall or bloat loom, and a
rank killed mid-run must leave a journal that --resume finishes.
"""

import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402
from loomtest import (output_files, output_path, read_joblog,  # noqa: E402
                      read_report, read_text)

# Commands that no other process on the machine runs, so pgrep -f finds
# exactly what these tests left behind.
HANG = "sleep 1000.123"
HANG_NOTERM = "sleep 1000.124"
ORPHAN = "sleep 30.777"
FD_PROBE = "sleep 2.531"
INFLIGHT = "sleep 27.1828"


def pids_matching(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def kill_matching(pattern):
    for pid in pids_matching(pattern):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_gone(pattern, limit=3.0):
    """PIDs still matching after up to limit seconds: a SIGKILL is
    delivered asynchronously, so give the kernel a moment."""
    t0 = time.monotonic()
    while True:
        left = pids_matching(pattern)
        if not left or time.monotonic() - t0 > limit:
            return left
        time.sleep(0.05)


def open_fds(pattern):
    """{pid: {fd: target}} of the processes matching pattern."""
    found = {}
    for pid in pids_matching(pattern):
        d = "/proc/%d/fd" % pid
        try:
            found[pid] = {int(fd): os.readlink(os.path.join(d, fd))
                          for fd in os.listdir(d)}
        except OSError:
            pass
    return found


def by_command(rows):
    """Rows grouped by command, each group in attempt order."""
    groups = {}
    for r in rows:
        groups.setdefault(r["command"], []).append(r)
    for g in groups.values():
        g.sort(key=lambda r: r["attempt"])
    return groups


class FaultCase(loomtest.LoomTestCase):

    def run_file(self, lines, np, expect_rc, extra=(), timeout=120):
        """Writes lines to tasks.txt, runs it into RUNDIR=run and returns
        (run, rows)."""
        self.write("tasks.txt", "\n".join(lines) + "\n")
        r = self.loom(["run", "-q", "-o", "run"] + list(extra) +
                      ["tasks.txt"], np=np, expect_rc=expect_rc,
                      timeout=timeout)
        rows = read_joblog(self.path("run"))
        ranks = loomtest.worker_ranks(np or 1)
        for row in rows:
            self.assertIn(row["rank"], ranks, r.describe())
        return r, rows


class ExitTest(FaultCase):
    """Non-zero exits and signals: exact rows, retries, exit status 1."""

    # command (without hints) -> (retries, exit, signal, status)
    CASES = {
        "exit 1": (0, 1, 0, "failed"),
        "exit 2": (0, 2, 0, "failed"),
        "exit 42": (2, 42, 0, "failed"),
        "exit 255": (1, 255, 0, "failed"),
        "kill -SEGV $$": (1, 128 + signal.SIGSEGV, signal.SIGSEGV, "signal"),
        "kill -9 $$": (0, 128 + signal.SIGKILL, signal.SIGKILL, "signal"),
        "kill -TERM $$": (3, 128 + signal.SIGTERM, signal.SIGTERM, "signal"),
        "true": (2, 0, 0, "ok"),
    }

    def check(self, np):
        lines = []
        for cmd, (retries, _e, _s, _st) in self.CASES.items():
            lines.append("%s #loom retries=%d" % (cmd, retries) if retries
                         else cmd)
        r, rows = self.run_file(lines, np, expect_rc=1)
        groups = by_command(rows)
        self.assertEqual(set(groups), set(self.CASES), r.describe())
        for cmd, (retries, code, sig, status) in self.CASES.items():
            g = groups[cmd]
            want = 1 if status == "ok" else retries + 1
            self.assertEqual([x["attempt"] for x in g],
                             list(range(1, want + 1)),
                             "%r: attempts\n%s" % (cmd, r.describe()))
            self.assertEqual(len({x["id"] for x in g}), 1, cmd)
            for x in g:
                self.assertEqual((x["exit"], x["signal"], x["status"]),
                                 (code, sig, status), cmd)
        self.assertEqual(len(rows), sum(
            1 if st == "ok" else n + 1 for n, _e, _s, st in
            self.CASES.values()))
        rep = self.assertReportMatchesJoblog(self.path("run"), rows, np or 1,
                                             r)
        self.assertEqual(rep["tasks"]["succeeded"], 1)
        self.assertEqual(rep["tasks"]["failed"], len(self.CASES) - 1)

    def test_exits_and_signals_single_rank(self):
        self.check(None)

    def test_exits_and_signals_three_ranks(self):
        self.check(3)


class TimeoutTest(FaultCase):
    """A hung task is killed at its timeout, its whole group with it."""

    def setUp(self):
        super().setUp()
        self.addCleanup(kill_matching, HANG)
        self.addCleanup(kill_matching, HANG_NOTERM)

    def check(self, np, retries):
        hint = " retries=%d" % retries if retries else ""
        lines = ["%s #loom timeout=1%s" % (HANG, hint),
                 "trap '' TERM; %s #loom timeout=1%s" % (HANG_NOTERM, hint),
                 "echo fine"]
        r, rows = self.run_file(lines, np, expect_rc=1, timeout=60)
        self.assertLess(r.seconds, 60, r.describe())
        groups = by_command(rows)
        plain, noterm = groups[HANG], groups["trap '' TERM; " + HANG_NOTERM]
        self.assertEqual(len(rows), 2 * (retries + 1) + 1, r.describe())
        self.assertEqual([x["status"] for x in groups["echo fine"]], ["ok"])
        for g in (plain, noterm):
            self.assertEqual([x["attempt"] for x in g],
                             list(range(1, retries + 2)), r.describe())
            self.assertEqual([x["status"] for x in g],
                             ["timeout"] * (retries + 1), r.describe())
        for x in plain:
            # SIGTERM is enough: it dies on the first signal.
            self.assertEqual((x["exit"], x["signal"]),
                             (128 + signal.SIGTERM, signal.SIGTERM))
            self.assertGreaterEqual(x["elapsed"], 1.0)
        for x in noterm:
            # TERM is ignored; SIGKILL comes after the 2 s grace.
            self.assertEqual((x["exit"], x["signal"]),
                             (128 + signal.SIGKILL, signal.SIGKILL))
            self.assertGreaterEqual(x["elapsed"], 3.0)
        self.assertEqual(wait_gone(HANG), [], "a timed-out task lives on")
        self.assertEqual(wait_gone(HANG_NOTERM), [],
                         "a task ignoring SIGTERM lives on")
        self.assertReportMatchesJoblog(self.path("run"), rows, np or 1, r)

    def test_timeouts_single_rank(self):
        self.check(None, 0)

    def test_timeouts_with_retries_three_ranks(self):
        self.check(3, 1)


class HugeOutputTest(FaultCase):
    """300 MB on stdout and 50 MB on stderr at once land whole in the
    files, and loom's memory does not grow with them."""

    OUT, ERR = 300000000, 50000000
    CMD = ("head -c %d /dev/zero >&2 & head -c %d /dev/zero; wait"
           % (ERR, OUT))

    def check_files(self, run, rows):
        self.assertEqual(len(rows), 1, run.describe())
        row = rows[0]
        self.assertEqual((row["status"], row["exit"], row["signal"]),
                         ("ok", 0, 0))
        out = output_path(self.path("run"), row["id"], 1, "out")
        err = output_path(self.path("run"), row["id"], 1, "err")
        try:
            self.assertEqual(os.path.getsize(out), self.OUT)
            self.assertEqual(os.path.getsize(err), self.ERR)
        finally:
            for p in (out, err):
                if os.path.exists(p):
                    os.remove(p)

    def test_huge_output_single_rank_small_memory(self):
        # A fresh python that only runs loom: RUSAGE_CHILDREN's maxrss is
        # then the peak of loom and its descendants (KiB on Linux).
        self.write("tasks.txt", self.CMD + "\n")
        wrapper = ("import resource, subprocess, sys\n"
                   "rc = subprocess.call(sys.argv[1:])\n"
                   "print('maxrss_kib=%d' % resource.getrusage("
                   "resource.RUSAGE_CHILDREN).ru_maxrss)\n"
                   "sys.exit(rc)\n")
        r = loomtest.run_argv(
            [sys.executable, "-c", wrapper] +
            loomtest.command(["run", "-q", "-o", "run", "tasks.txt"]),
            cwd=self.tmp, timeout=120)
        self.assertEqual(r.rc, 0, r.describe())
        marks = [l for l in r.stdout.splitlines()
                 if l.startswith("maxrss_kib=")]
        self.assertEqual(len(marks), 1, r.describe())
        kib = int(marks[0].split("=")[1])
        self.assertLess(kib * 1024, 100 * 1000 * 1000,
                        "loom's peak memory grew with the output: %d KiB" %
                        kib)
        self.check_files(r, read_joblog(self.path("run")))

    def test_huge_output_three_ranks(self):
        r, rows = self.run_file([self.CMD], 3, expect_rc=0)
        self.check_files(r, rows)


class StdinTest(FaultCase):
    """stdin is /dev/null: a task that reads it sees EOF at once, even
    when loom's own stdin is an open pipe with data in it."""

    def check(self, np):
        lines = ["cat; echo done #loom timeout=20",
                 "read x; echo \"got:$x\" #loom timeout=20"]
        self.write("tasks.txt", "\n".join(lines) + "\n")
        argv = loomtest.command(["run", "-q", "-o", "run", "tasks.txt"], np)
        with open(self.path("loom.out"), "wb") as so, \
                open(self.path("loom.err"), "wb") as se:
            proc = subprocess.Popen(argv, cwd=self.tmp,
                                    env=loomtest.test_env(),
                                    start_new_session=True,
                                    stdin=subprocess.PIPE, stdout=so,
                                    stderr=se)
            try:
                proc.stdin.write(b"leaked\n")
                proc.stdin.flush()
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = None
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        err = read_text(self.path("loom.err"))
        self.assertEqual(rc, 0, err)
        rows = read_joblog(self.path("run"))
        self.assertEqual(len(rows), 2, err)
        outs = {}
        for row in rows:
            self.assertEqual((row["status"], row["exit"], row["signal"],
                              row["attempt"]), ("ok", 0, 0, 1),
                             row["command"])
            outs[row["command"]] = read_text(
                output_path(self.path("run"), row["id"], 1, "out"))
        self.assertEqual(outs, {"cat; echo done": "done\n",
                                "read x; echo \"got:$x\"": "got:\n"})
        self.assertEqual(
            sorted(output_files(self.path("run"))),
            sorted(os.path.relpath(output_path(self.path("run"), x["id"], 1,
                                               "out"), self.path("run"))
                   for x in rows), "a task wrote to stderr")

    def test_stdin_single_rank(self):
        self.check(None)

    def test_stdin_three_ranks(self):
        self.check(3)


class OrphanTest(FaultCase):
    """A task whose background child outlives it is done when its shell
    exits; the child (which loom leaves alone) does not hold the run."""

    def setUp(self):
        super().setUp()
        self.addCleanup(kill_matching, ORPHAN)

    def check(self, np):
        lines = ["(%s; echo late) & echo early" % ORPHAN]
        lines += ["echo quick %d" % i for i in range(5)]
        r, rows = self.run_file(lines, np, expect_rc=0, timeout=60)
        # The caller waits for loom's stdout and stderr to close, as a
        # pipeline or a batch system does.
        self.assertLess(r.seconds, 10, "the background child held the run"
                        " (see InheritedFdTest)\n" + r.describe())
        self.assertEqual(len(rows), 6, r.describe())
        for row in rows:
            self.assertEqual((row["status"], row["exit"], row["signal"],
                              row["attempt"]), ("ok", 0, 0, 1),
                             row["command"])
            self.assertLess(row["elapsed"], 10, row["command"])
        task = by_command(rows)[lines[0]][0]
        self.assertEqual(read_text(output_path(self.path("run"), task["id"],
                                               1, "out")), "early\n")
        self.assertFalse(os.path.exists(output_path(
            self.path("run"), task["id"], 1, "err")))
        # Expected: loom does not kill a normally exiting task's children.
        self.assertNotEqual(pids_matching(ORPHAN), [],
                            "the background child was killed")
        kill_matching(ORPHAN)

    def test_background_child_single_rank(self):
        self.check(None)

    def test_background_child_three_ranks(self):
        self.check(3)


class InheritedFdTest(FaultCase):
    """A task gets stdin, stdout and stderr and nothing else: no journal
    file, task file or MPI socket that a background child could keep open
    or a task write into."""

    def setUp(self):
        super().setUp()
        self.addCleanup(kill_matching, FD_PROBE)

    def check(self, np):
        self.write("tasks.txt", "%s; true\n" % FD_PROBE)
        argv = loomtest.command(["run", "-q", "-o", "run", "tasks.txt"], np)
        proc = subprocess.Popen(argv, cwd=self.tmp, env=loomtest.test_env(),
                                start_new_session=True,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            t0 = time.monotonic()
            fds = {}
            # The task's shell and its sleep (the shell cannot exec it).
            while len(fds) < 2 and time.monotonic() - t0 < 30:
                time.sleep(0.02)
                fds = open_fds(FD_PROBE)
            self.assertEqual(len(fds), 2, "the probe task never ran")
            self.assertEqual(proc.wait(timeout=60), 0)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for got in fds.values():
            self.assertEqual(got[0], "/dev/null")
            self.assertEqual(sorted(got), [0, 1, 2],
                             "loom's own descriptors leak into tasks: %s" %
                             got)

    def test_only_std_fds_single_rank(self):
        self.check(None)

    def test_only_std_fds_three_ranks(self):
        self.check(3)


class NotFoundTest(FaultCase):

    def check(self, np):
        r, rows = self.run_file(["no-such-command-xyz", "echo ok"], np,
                                expect_rc=1)
        self.assertEqual(len(rows), 2, r.describe())
        row = by_command(rows)["no-such-command-xyz"][0]
        self.assertEqual((row["exit"], row["signal"], row["status"],
                          row["attempt"]), (127, 0, "failed", 1))
        err = read_text(output_path(self.path("run"), row["id"], 1, "err"))
        self.assertIn("no-such-command-xyz", err)
        self.assertIn("not found", err)
        self.assertFalse(os.path.exists(output_path(
            self.path("run"), row["id"], 1, "out")))
        self.assertEqual(by_command(rows)["echo ok"][0]["status"], "ok")
        self.assertReportMatchesJoblog(self.path("run"), rows, np or 1, r)

    def test_command_not_found_single_rank(self):
        self.check(None)

    def test_command_not_found_three_ranks(self):
        self.check(3)


class DeadRankTest(FaultCase):
    """kill -9 of a worker rank: Open MPI ends the job, the journal holds
    only well-formed rows of the file's tasks, and --resume finishes."""

    NTASKS = 60

    def test_worker_killed_then_resume_finishes(self):
        lines = ["echo $PPID > pid-$LOOM_RANK; sleep 0.2; : %d" % i
                 for i in range(self.NTASKS)]
        self.write("tasks.txt", "\n".join(lines) + "\n")
        rundir = self.path("run")
        argv = loomtest.command(["run", "-q", "-o", "run", "tasks.txt"], 3)
        proc = subprocess.Popen(argv, cwd=self.tmp, env=loomtest.test_env(),
                                start_new_session=True,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.addCleanup(self.reap, proc)
        pidfile = self.path("pid-1")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            if os.path.exists(pidfile) and self.nrows(rundir) >= 4:
                break
            time.sleep(0.05)
        else:
            self.fail("the run never got under way")
        worker = int(read_text(pidfile).split()[0])
        self.assertNotEqual(worker, proc.pid)
        os.kill(worker, signal.SIGKILL)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            self.fail("mpirun hung after a rank died:\n" + err.decode())
        err = err.decode(errors="replace")
        self.assertNotEqual(proc.returncode, 0, err)

        rows = read_joblog(rundir)  # checks every row's shape
        self.assertLess(len(rows), self.NTASKS, err)
        for row in rows:
            self.assertEqual(row["command"], lines[row["line"] - 1], row)
            self.assertIn(row["rank"], {1, 2})
        with open(os.path.join(rundir, "dispatched.tsv")) as f:
            dispatched = f.read().splitlines()
        self.assertEqual(dispatched[0].split("\t")[:2], ["id", "key"])
        dispatched = {l.split("\t")[0] for l in dispatched[1:]}
        recorded = {r["id"] for r in rows}
        self.assertLessEqual(recorded, dispatched)
        ok_before = {r["id"] for r in rows if r["status"] == "ok"}
        lost = dispatched - recorded

        r = self.loom(["run", "-q", "--resume", "run", "tasks.txt"], np=3,
                      expect_rc=0, timeout=120)
        rows = read_joblog(rundir)
        oks = {}
        for row in rows:
            self.assertEqual(row["command"], lines[row["line"] - 1], row)
            self.assertIn(row["rank"], {1, 2})
            if row["status"] == "ok":
                oks.setdefault(row["line"], []).append(row)
        self.assertEqual(sorted(oks), list(range(1, self.NTASKS + 1)),
                         "a task has no ok row\n" + r.describe())
        for line, got in oks.items():
            self.assertEqual(len(got), 1, "task on line %d ran twice" % line)
        # A task handed out without a result reruns, once, as attempt 2.
        for tid in lost:
            self.assertEqual([(x["attempt"], x["status"]) for x in rows
                              if x["id"] == tid], [(2, "ok")], tid)
        rep = read_report(rundir)
        self.assertTrue(rep["resumed"])
        self.assertTrue(rep["complete"])
        self.assertEqual(rep["skipped"], len(ok_before))
        self.assertEqual(rep["lost_in_earlier_run"], len(lost))

    @staticmethod
    def nrows(rundir):
        try:
            with open(os.path.join(rundir, "joblog.tsv")) as f:
                return len(f.read().splitlines()) - 1
        except FileNotFoundError:
            return 0

    @staticmethod
    def reap(proc):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def comm_of(pid):
    try:
        with open("/proc/%d/comm" % pid, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def watchdog_of(pid, rank):
    """Is pid a child rank forked (a watchdog; it runs in its own session)?"""
    try:
        return parent_of(pid) == rank
    except OSError:
        return False


def parent_of(pid):
    with open("/proc/%d/stat" % pid, encoding="utf-8",
              errors="replace") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


class JournalFlushTest(FaultCase):
    """A finished task's joblog row is on disk while other tasks still run:
    a kill at that moment must not rerun a task that had finished. (The
    rows go through a large stdio buffer; only the flush after each
    completion message puts them in the file.)"""

    def test_a_finished_row_is_in_the_file_while_another_task_runs(self):
        release = self.path("release")
        self.write("t.txt", "echo first\n"
                   "t=0; while [ ! -e %s ] && [ $t -lt 300 ]; do sleep 0.1; "
                   "t=$((t+1)); done\n" % release)
        argv = loomtest.command(["run", "-q", "-o", "run", "t.txt"], None)
        proc = subprocess.Popen(argv, cwd=self.tmp, env=loomtest.test_env(),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            t0 = time.monotonic()
            found = False
            while time.monotonic() - t0 < 20 and not found:
                try:
                    found = "\techo first\n" in read_text(
                        self.path("run", "joblog.tsv"))
                except FileNotFoundError:
                    pass
                time.sleep(0.05)
            self.assertIsNone(proc.poll(), "the second task ended early")
            self.assertTrue(found, "the first task's row was not on disk "
                            "while the second ran")
        finally:
            with open(release, "w"):
                pass
            proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0)


class NoTaskOutlivesItsRankTest(FaultCase):
    """However a rank dies (kill -9 of a worker, of the whole job's mpirun,
    of a single-rank loom), the tasks it had in flight die within seconds:
    a resume would otherwise run them again beside the old ones. Before the
    watchdog they ran on to their end."""

    def setUp(self):
        super().setUp()
        self.addCleanup(kill_matching, INFLIGHT)

    def start(self, np, ntasks, args=(), want=None):
        self.write("tasks.txt", "".join("%s; : %d\n" % (INFLIGHT, i)
                                        for i in range(ntasks)))
        argv = loomtest.command(["run", "-q", "-o", "run"] + list(args) +
                                ["tasks.txt"], np)
        proc = subprocess.Popen(argv, cwd=self.tmp, env=loomtest.test_env(),
                                start_new_session=True,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.addCleanup(DeadRankTest.reap, proc)
        if want is None:
            want = np - 1 if np else 1
        t0 = time.monotonic()
        while len(pids_matching(INFLIGHT)) < want:
            if time.monotonic() - t0 > 30:
                self.fail("the tasks never started")
            time.sleep(0.05)
        return proc

    def check_all_gone(self, proc):
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            self.fail("the job did not end")
        left = wait_gone(INFLIGHT, limit=10)
        self.assertEqual(left, [], "tasks outlived their rank")

    def test_kill_9_of_a_worker_rank(self):
        proc = self.start(3, 6)
        task = pids_matching(INFLIGHT)[0]
        rank = parent_of(task)
        self.assertNotEqual(rank, proc.pid)
        os.kill(rank, signal.SIGKILL)
        self.check_all_gone(proc)

    def test_kill_9_of_mpirun(self):
        proc = self.start(3, 6)
        os.kill(proc.pid, signal.SIGKILL)
        self.check_all_gone(proc)

    def test_kill_9_of_a_single_rank(self):
        proc = self.start(None, 2)
        os.kill(proc.pid, signal.SIGKILL)
        self.check_all_gone(proc)

    def test_kill_9_of_a_rank_with_two_slots_busy(self):
        # Three tasks at once in three slots, one watchdog for them all:
        # the rank's only child that is loom itself.
        proc = self.start(None, 4, ["--slots", "3"], want=3)
        dogs = [pid for pid in map(int, filter(str.isdigit,
                                               os.listdir("/proc")))
                if pid != proc.pid and comm_of(pid) == "loom" and
                watchdog_of(pid, proc.pid)]
        self.assertEqual(len(dogs), 1, "one watchdog per rank, not per slot")
        os.kill(proc.pid, signal.SIGKILL)
        self.check_all_gone(proc)


class FullDiskTest(FaultCase):
    """A run directory on a full file system: dispatch stops at the first
    failed write (of the journal or of a task's output), the error line
    names the file and the cause, the exit status is 4, and no task is
    recorded ok whose output is not whole. Once there is room, --resume
    finishes the run. Before, all 300 tasks went out, 253 output files
    stayed empty, 13 tasks were recorded ok with their output lost for
    good, and the exit status was 3 with no cause named."""

    OUT = 2001  # bytes each task writes

    def setUp(self):
        super().setUp()
        self.disk = self.path("disk")
        os.mkdir(self.disk)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k",
                            "loomtest", self.disk], capture_output=True,
                           text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here (%s): run the "
                          "tests as root to check full disks"
                          % r.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", self.disk])

    def check_ok_rows_have_whole_output(self, rundir, rows):
        for row in rows:
            if row["status"] != "ok":
                continue
            p = output_path(rundir, row["id"], row["attempt"], "out")
            self.assertTrue(os.path.exists(p), "ok without output: %s" % row)
            self.assertEqual(os.path.getsize(p), self.OUT,
                             "ok with its output cut: %s" % row)

    def check(self, np):
        n = 300
        lines = ["head -c %d /dev/zero | tr '\\0' x; echo; : %d"
                 % (self.OUT - 1, i) for i in range(n)]
        self.write("tasks.txt", "\n".join(lines) + "\n")
        rundir = os.path.join(self.disk, "run")
        r = self.loom(["run", "-q", "-o", rundir, "tasks.txt"], np=np,
                      expect_rc=4, timeout=120)
        mine = [l for l in loomtest.without_mpi_noise(r.stderr)
                if l.startswith("loom: ")]
        self.assertTrue(any("No space left on device" in l and rundir in l
                            for l in mine), r.describe())
        rows = read_joblog(rundir)
        self.assertLess(len(rows), n, "dispatch went on after the failure")
        self.check_ok_rows_have_whole_output(rundir, rows)
        # Room again: the resume finishes, every task exactly once ok.
        subprocess.run(["mount", "-o", "remount,size=64m", self.disk],
                       check=True)
        self.loom(["run", "-q", "--resume", rundir, "tasks.txt"], np=np,
                  expect_rc=0, timeout=120)
        rows = read_joblog(rundir)
        oks = sorted(r["line"] for r in rows if r["status"] == "ok")
        self.assertEqual(oks, list(range(1, n + 1)))
        self.check_ok_rows_have_whole_output(rundir, rows)

    def test_full_disk_single_rank(self):
        self.check(None)

    def test_full_journal(self):
        # Tasks with no output: the journal is what fills the disk.
        subprocess.run(["mount", "-o", "remount,size=20k", self.disk],
                       check=True)
        n = 2000
        self.write("tasks.txt", "true\n" * n)
        rundir = os.path.join(self.disk, "run")
        r = self.loom(["run", "-q", "-o", rundir, "tasks.txt"],
                      expect_rc=4, timeout=120)
        self.assertRegex(r.stderr, r"cannot write \S*/run/(joblog|dispatched)"
                         r"\.tsv: No space left on device", r.describe())
        rows = read_joblog(rundir)
        self.assertLess(len(rows), n)
        subprocess.run(["mount", "-o", "remount,size=64m", self.disk],
                       check=True)
        self.loom(["run", "-q", "--resume", rundir, "tasks.txt"],
                  expect_rc=0, timeout=120)
        rows = read_joblog(rundir)
        oks = sorted(r["line"] for r in rows if r["status"] == "ok")
        self.assertEqual(oks, list(range(1, n + 1)))

    def test_full_disk_three_ranks(self):
        self.check(3)


if __name__ == "__main__":
    loomtest.main()
