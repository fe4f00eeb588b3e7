#!/usr/bin/env python3
"""test_resume.py - `loom run --resume DIR` and `--halt N` end to end.

A resumed run appends to DIR's journal and runs only what is not done yet:
tasks match on their command text, not their line, so an edited, reordered
or extended task file runs just the new lines, and a command that occurs k
times runs until k copies succeeded. Tasks write their name into a log file
($LOGFILE) as they finish, so the tests count real executions, not only
joblog rows. The chaos test kills whole MPI jobs with SIGKILL at random
points and resumes until the run completes: every task must have run, and
only a task that was in flight at a kill may have run twice. A journal
whose last line a kill tore must not break the resumes after it. --halt
stops dispatch and exits 4; bad --resume/--halt input exits 2 and leaves
everything as it was.
"""

import collections
import os
import random
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402
from loomtest import read_joblog, read_report  # noqa: E402

# With tasks of 10 ms or more a batch holds one task (sched.c); 2 workers
# with a window of 2 batches each: at most this many tasks in flight.
IN_FLIGHT_MAX = 2 * 2 * 1


def ok_counts(rows):
    """How many ok rows each command has."""
    return collections.Counter(r["command"] for r in rows
                               if r["status"] == "ok")


def name_of(command):
    """The name a task command writes to the log file."""
    return re.search(r"echo (\S+) >> \$LOGFILE", command).group(1)


def log_counts(path):
    """How many times each name was written to a task log file."""
    if not os.path.exists(path):
        return collections.Counter()
    with open(path, encoding="utf-8") as f:
        return collections.Counter(line.rstrip("\n") for line in f
                                   if line.strip())


def read_journal_ids(rundir):
    """(dispatched ids in file order, ids with a joblog row), whole lines
    only: what a killed run leaves may end in a torn line."""
    def whole_rows(name):
        p = os.path.join(rundir, name)
        if not os.path.exists(p):
            return []
        with open(p, encoding="utf-8", errors="replace", newline="\n") as f:
            text = f.read()
        lines = text.split("\n")[:-1]  # the last piece has no newline
        return [l.split("\t") for l in lines[1:]]

    dispatched = [f[0] for f in whole_rows("dispatched.tsv")]
    finished = {f[0] for f in whole_rows("joblog.tsv")}
    return dispatched, finished


def session_pids(sid):
    """Live (not zombie) processes of session sid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, encoding="utf-8",
                      errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(name))
    return pids


def kill_session(proc):
    """SIGKILLs every process of proc's session, as a node crash would, and
    waits until none is left. mpirun's ranks and the tasks' shells run in
    process groups of their own, so killing mpirun's group is not enough
    (the ranks run on); they all stay in the session that
    start_new_session gave mpirun."""
    # Freeze them all first: a rank that saw mpirun die before its own
    # SIGKILL came would stop gracefully (recording its tasks as
    # cancelled), which a crash does not do.
    for _ in range(3):
        for pid in session_pids(proc.pid):
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 30
    while True:
        pids = session_pids(proc.pid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise AssertionError("processes of session %d survive SIGKILL: %r"
                                 % (proc.pid, pids))
        time.sleep(0.01)
    proc.wait()


class ResumeTestCase(loomtest.LoomTestCase):

    def setUp(self):
        super().setUp()
        self.logfile = self.path("tasks.log")
        self.env = {"LOGFILE": self.logfile}

    def run_loom(self, args, np=None, expect_rc=None):
        return self.loom(args, np=np, expect_rc=expect_rc, env=self.env)

    def write_lines(self, name, lines):
        return self.write(name, "".join(l + "\n" for l in lines))

    def assertResumeReport(self, rundir, run, skipped, lost=0):
        rep = read_report(rundir)
        ctx = "\n" + run.describe()
        self.assertIs(rep["resumed"], True, ctx)
        self.assertEqual(rep["skipped"], skipped, "report skipped" + ctx)
        self.assertEqual(rep["lost_in_earlier_run"], lost,
                         "report lost_in_earlier_run" + ctx)
        return rep


class HaltTest(ResumeTestCase):

    def test_halt_stops_dispatch_and_resume_runs_the_rest(self):
        # 40 tasks; lines 2, 4 and 6 fail. --halt 2 stops handing out
        # tasks after the second failure.
        fail_lines = {2, 4, 6}
        lines = []
        for n in range(1, 41):
            if n in fail_lines:
                lines.append("echo fail-%d >> $LOGFILE; exit 1" % n)
            else:
                lines.append("sleep 0.1; echo ok-%d >> $LOGFILE" % n)
        fails = [lines[n - 1] for n in sorted(fail_lines)]
        oks = [l for n, l in enumerate(lines, 1) if n not in fail_lines]
        self.write_lines("t.txt", lines)
        rundir = self.path("run")

        run1 = self.run_loom(["run", "-q", "--halt", "2", "-o", rundir,
                              "t.txt"], np=3, expect_rc=4)
        ctx = "\n" + run1.describe()
        rows1 = read_joblog(rundir)
        rep1 = read_report(rundir)
        self.assertIs(rep1["complete"], False, ctx)
        self.assertIn("halt", rep1["error"] or "", ctx)
        self.assertIs(rep1["resumed"], False, ctx)
        failed1 = [r for r in rows1 if r["status"] != "ok"]
        self.assertGreaterEqual(len(failed1), 2, ctx)
        self.assertEqual(rep1["tasks"], loomtest.summarize_joblog(rows1), ctx)
        # Stopped at the second failure: rows are written as completions
        # come back, and after the second failure's row only the tasks
        # already in flight then (at most IN_FLIGHT_MAX) may follow.
        second = [i for i, r in enumerate(rows1) if r["status"] != "ok"][1]
        self.assertLessEqual(len(rows1) - (second + 1), IN_FLIGHT_MAX, ctx)
        # What was running when it halted finished and was recorded.
        dispatched, finished = read_journal_ids(rundir)
        self.assertEqual(len(dispatched), len(set(dispatched)), ctx)
        self.assertEqual(set(dispatched), finished,
                         "every task handed out has its joblog row" + ctx)
        done1 = ok_counts(rows1)
        self.assertEqual(log_counts(self.logfile),
                         collections.Counter(name_of(r["command"])
                                             for r in rows1),
                         "the log file and the joblog agree" + ctx)

        # Resume without --skip-failed: the rest runs, and the failed
        # tasks run again with their next attempt number.
        run2 = self.run_loom(["run", "-q", "--resume", rundir, "t.txt"],
                             np=3, expect_rc=1)
        ctx = "\n" + run2.describe()
        rows = read_joblog(rundir)
        self.assertEqual(rows[:len(rows1)], rows1,
                         "the earlier rows stay as they were" + ctx)
        rows2 = rows[len(rows1):]
        rep2 = self.assertResumeReport(rundir, run2, skipped=sum(
            done1.values()))
        self.assertIs(rep2["complete"], True, ctx)
        self.assertIsNone(rep2["error"], ctx)
        self.assertEqual(rep2["tasks"], loomtest.summarize_joblog(rows2), ctx)
        self.assertEqual(rep2["tasks"]["total"], 40 - sum(done1.values()),
                         ctx)
        attempts1 = collections.Counter(r["command"] for r in rows1)
        for cmd in fails:
            got = [r for r in rows2 if r["command"] == cmd]
            self.assertEqual(len(got), 1, cmd + ctx)
            self.assertEqual(got[0]["status"], "failed", ctx)
            self.assertEqual(got[0]["attempt"], attempts1[cmd] + 1,
                             "%r: attempt after %d earlier attempts" %
                             (cmd, attempts1[cmd]) + ctx)
        for r in rows2:
            if r["command"] not in fails:
                self.assertEqual(r["attempt"], 1, r["command"] + ctx)
                self.assertNotIn(r["command"], done1,
                                 "ran again though it succeeded" + ctx)
        # Over both runs every task that can succeed did, exactly once.
        self.assertEqual(ok_counts(rows), collections.Counter(oks), ctx)
        ran = log_counts(self.logfile)
        self.assertEqual({k: v for k, v in ran.items()
                          if k.startswith("ok-")},
                         {"ok-%d" % n: 1 for n in range(1, 41)
                          if n not in fail_lines}, ctx)

        # With --skip-failed nothing is left to run.
        run3 = self.run_loom(["run", "-q", "--skip-failed", "--resume",
                              rundir, "t.txt"], np=3, expect_rc=0)
        self.assertEqual(read_joblog(rundir), rows, run3.describe())
        rep3 = self.assertResumeReport(rundir, run3, skipped=40)
        self.assertEqual(rep3["tasks"]["attempts"], 0, run3.describe())

    def test_halt_counts_the_failures_of_the_whole_run(self):
        # Each of two workers fails exactly one task (its first): --halt 2
        # is reached by the run, though neither worker failed twice.
        lines = []
        for n in range(1, 61):
            lines.append("f=fail-$LOOM_RANK; if [ ! -e $f ]; then touch $f; "
                         "exit 1; fi; sleep 0.05; echo ok-%d >> $LOGFILE" % n)
        self.write_lines("t.txt", lines)
        rundir = self.path("run")
        run = self.run_loom(["run", "-q", "--halt", "2", "-o", rundir,
                             "t.txt"], np=3, expect_rc=4)
        rep = read_report(rundir)
        self.assertIn("halt", rep["error"] or "", run.describe())
        self.assertEqual(rep["tasks"]["failed"], 2)
        self.assertLess(rep["tasks"]["total"], 60, run.describe())

    def test_halt_counts_only_tasks_that_failed_for_good(self):
        # A task that fails once and succeeds on its retry is no failure.
        flaky = ('c="$LOOM_RUN_DIR/count"; n=$(cat "$c" 2>/dev/null || '
                 'echo 0); echo $((n+1)) > "$c"; test $n -ge 1')
        lines = [flaky + " #loom retries=1"] + ["echo %d" % i
                                                for i in range(6)]
        self.write_lines("t.txt", lines)
        rundir = self.path("run")
        run = self.run_loom(["run", "-q", "--halt", "1", "-o", rundir,
                             "t.txt"], np=2, expect_rc=0)
        rows = read_joblog(rundir)
        rep = self.assertReportMatchesJoblog(rundir, rows, 2, run)
        self.assertEqual(rep["tasks"], {"total": 7, "succeeded": 7,
                                        "failed": 0, "cancelled": 0, "attempts": 8})


class EditedFileTest(ResumeTestCase):

    def test_only_edited_and_new_lines_run(self):
        names = ["c%d" % i for i in range(30)]
        lines = ["echo %s >> $LOGFILE" % n for n in names]
        self.write_lines("t1.txt", lines)
        rundir = self.path("run")
        run1 = self.run_loom(["run", "-q", "-o", rundir, "t1.txt"], np=3,
                             expect_rc=0)
        rows1 = read_joblog(rundir)
        self.assertEqual(log_counts(self.logfile),
                         collections.Counter(names), run1.describe())

        # Shuffled, c7 edited, five lines added at the end.
        new = list(lines)
        random.Random(7).shuffle(new)
        new[new.index("echo c7 >> $LOGFILE")] = "echo c7-edited >> $LOGFILE"
        added = ["a%d" % i for i in range(5)]
        new += ["echo %s >> $LOGFILE" % n for n in added]
        self.write_lines("t2.txt", new)
        run2 = self.run_loom(["run", "-q", "--resume", rundir, "t2.txt"],
                             np=3, expect_rc=0)
        ctx = "\n" + run2.describe()
        want = collections.Counter(names + ["c7-edited"] + added)
        self.assertEqual(log_counts(self.logfile), want,
                         "only the edited and the new lines run" + ctx)
        rows = read_joblog(rundir)
        self.assertEqual(rows[:len(rows1)], rows1, ctx)
        rows2 = rows[len(rows1):]
        self.assertEqual(sorted(r["command"] for r in rows2),
                         sorted(["echo c7-edited >> $LOGFILE"] +
                                ["echo %s >> $LOGFILE" % n for n in added]),
                         ctx)
        for r in rows2:
            # The rows name the lines of the new file.
            self.assertEqual(new[r["line"] - 1], r["command"], ctx)
            self.assertEqual((r["attempt"], r["status"]), (1, "ok"), ctx)
        rep = self.assertResumeReport(rundir, run2, skipped=29)
        self.assertEqual(rep["tasks"], loomtest.summarize_joblog(rows2), ctx)
        self.assertIs(rep["complete"], True, ctx)

        # The file a third time, one rank: all 35 are done.
        run3 = self.run_loom(["run", "-q", "--resume", rundir, "t2.txt"],
                             expect_rc=0)
        self.assertEqual(log_counts(self.logfile), want, run3.describe())
        self.assertResumeReport(rundir, run3, skipped=35)


class DuplicateTest(ResumeTestCase):

    def test_a_command_three_times_after_two_ran_runs_once(self):
        dup = "echo dup >> $LOGFILE"
        self.write_lines("t1.txt", [dup, "echo x >> $LOGFILE", dup])
        rundir = self.path("run")
        self.run_loom(["run", "-q", "-o", rundir, "t1.txt"], np=2,
                      expect_rc=0)
        self.assertEqual(log_counts(self.logfile), {"dup": 2, "x": 1})
        self.write_lines("t2.txt", [dup, dup, "echo x >> $LOGFILE", dup])
        run = self.run_loom(["run", "-q", "--resume", rundir, "t2.txt"],
                            np=2, expect_rc=0)
        self.assertEqual(log_counts(self.logfile), {"dup": 3, "x": 1},
                         run.describe())
        rows = read_joblog(rundir)
        self.assertEqual(ok_counts(rows)[dup], 3, run.describe())
        self.assertEqual(len({r["id"] for r in rows if r["command"] == dup}),
                         3, "three distinct ids")
        self.assertResumeReport(rundir, run, skipped=3)

    def test_the_copy_that_failed_runs_again(self):
        # Three copies of one command; the first execution fails (it makes
        # a marker directory), the others succeed. One rank runs them in
        # order, so exactly one copy failed.
        cmd = ('mkdir "$LOGFILE.once" 2>/dev/null && exit 1; '
               'echo dup >> $LOGFILE')
        self.write_lines("t.txt", [cmd, "echo y >> $LOGFILE", cmd, cmd])
        rundir = self.path("run")
        self.run_loom(["run", "-q", "-o", rundir, "t.txt"], expect_rc=1)
        rows1 = read_joblog(rundir)
        self.assertEqual(ok_counts(rows1)[cmd], 2)
        self.assertEqual(log_counts(self.logfile), {"dup": 2, "y": 1})
        run = self.run_loom(["run", "-q", "--resume", rundir, "t.txt"],
                            np=3, expect_rc=0)
        rows2 = read_joblog(rundir)[len(rows1):]
        self.assertEqual([(r["command"], r["attempt"], r["status"])
                          for r in rows2], [(cmd, 2, "ok")], run.describe())
        self.assertEqual(log_counts(self.logfile), {"dup": 3, "y": 1})
        self.assertResumeReport(rundir, run, skipped=3)


class AllDoneTest(ResumeTestCase):

    def test_resume_of_a_complete_run_runs_nothing(self):
        self.write_lines("t.txt", ["echo t%d >> $LOGFILE" % i
                                   for i in range(12)])
        rundir = self.path("run")
        self.run_loom(["run", "-q", "-o", rundir, "t.txt"], np=3,
                      expect_rc=0)
        journal = {n: loomtest.read_text(os.path.join(rundir, n))
                   for n in ("joblog.tsv", "dispatched.tsv")}
        for np in (3, None):
            run = self.run_loom(["run", "-q", "--resume", rundir, "t.txt"],
                                np=np, expect_rc=0)
            for n, text in journal.items():
                self.assertEqual(loomtest.read_text(os.path.join(rundir, n)),
                                 text, "%s changed\n%s" % (n, run.describe()))
            rep = self.assertResumeReport(rundir, run, skipped=12)
            self.assertEqual(rep["tasks"], {"total": 0, "succeeded": 0,
                                            "failed": 0, "cancelled": 0, "attempts": 0})
            self.assertIs(rep["complete"], True)
            self.assertEqual(sum(log_counts(self.logfile).values()), 12)


class TornJournalTest(ResumeTestCase):
    """A run killed while writing a row leaves a last line without its
    newline. Reading ignores it; the next run must not glue its own rows
    onto it, or the run after that finds a malformed row."""

    def complete_run(self, n):
        self.write_lines("t.txt", ["echo t%d >> $LOGFILE" % i
                                   for i in range(n)])
        rundir = self.path("run")
        self.run_loom(["run", "-q", "-o", rundir, "t.txt"], expect_rc=0)
        return rundir

    def tear(self, rundir, name, drop_rows, fragment):
        """Drops the last drop_rows rows of name and ends it in fragment."""
        p = os.path.join(rundir, name)
        lines = loomtest.read_text(p).split("\n")[:-1]
        lines = lines[:len(lines) - drop_rows]
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(l + "\n" for l in lines) + fragment)

    def test_resume_after_a_torn_joblog_row(self):
        rundir = self.complete_run(6)
        last = read_joblog(rundir)[-1]
        # The kill hit while the last row was being written.
        self.tear(rundir, "joblog.tsv", 1, last["id"] + "\t" +
                  last["key"][:5])
        run = self.run_loom(["run", "-q", "--resume", rundir, "t.txt"],
                            expect_rc=0)
        self.assertResumeReport(rundir, run, skipped=5, lost=1)
        try:
            rows = read_joblog(rundir)
        except AssertionError as e:
            raise AssertionError(
                "the resume wrote its rows onto the torn last line: %s\n%s"
                % (e, run.describe()))
        self.assertEqual([(r["command"], r["attempt"]) for r in rows
                          if r["id"] == last["id"]],
                         [(last["command"], 2)], run.describe())
        run = self.run_loom(["run", "-q", "--resume", rundir, "t.txt"],
                            expect_rc=0)
        self.assertResumeReport(rundir, run, skipped=6)
        self.assertEqual(log_counts(self.logfile)[name_of(last["command"])], 2)

    def test_resume_after_a_torn_dispatched_row(self):
        rundir = self.complete_run(6)
        # The kill hit while a dispatched.tsv row was being written, before
        # its batch went out; then the task file grew.
        self.tear(rundir, "dispatched.tsv", 0, "0123456789abcdef\t01")
        with open(self.path("t.txt"), "a", encoding="utf-8") as f:
            f.write("echo new >> $LOGFILE\n")
        run = self.run_loom(["run", "-q", "--resume", rundir, "t.txt"],
                            expect_rc=0)
        self.assertResumeReport(rundir, run, skipped=6)
        run = self.run_loom(["run", "-q", "--resume", rundir, "t.txt"],
                            expect_rc=0)
        self.assertResumeReport(rundir, run, skipped=7)
        self.assertEqual(log_counts(self.logfile)["new"], 1)


class ChaosTest(ResumeTestCase):
    """SIGKILL whole MPI jobs at random points; resume until done."""

    N = 200
    NP = 3

    def start(self, args):
        argv = loomtest.command(args, self.NP)
        return subprocess.Popen(argv, cwd=self.tmp,
                                env=loomtest.test_env(self.env),
                                start_new_session=True,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

    def one_round(self, args, kill_after):
        """Runs loom; kills it after kill_after seconds unless None or it
        ended first. Returns (killed, rc, stderr)."""
        proc = self.start(args)
        try:
            _out, err = proc.communicate(timeout=kill_after or 120)
            return False, proc.returncode, err.decode(errors="replace")
        except subprocess.TimeoutExpired:
            kill_session(proc)
            _out, err = proc.communicate()
            if kill_after is None:
                raise AssertionError("loom hung: %r\n%s" % (
                    args, err.decode(errors="replace")))
            return True, None, err.decode(errors="replace")

    def chaos(self, seed):
        rnd = random.Random(seed)
        rundir = self.path("run-%d" % seed)
        names = ["t%d" % i for i in range(self.N)]
        cmds = ["sleep 0.%03d && echo %s >> $LOGFILE" % (rnd.randint(10, 60),
                                                          n)
                for n in names]
        taskfile = self.write_lines("tasks-%d.txt" % seed, cmds)
        self.logfile = self.path("log-%d" % seed)
        self.env = {"LOGFILE": self.logfile}
        history = []  # what happened, for failure messages
        lost = collections.Counter()  # task id -> kills it was in flight at
        kills = 0

        def round_(args, kill_after):
            nonlocal kills
            before, _ = read_journal_ids(rundir)
            killed, rc, err = self.one_round(args, kill_after)
            history.append("%s after %s s: %s" % (
                " ".join(args[2:4]), kill_after,
                "killed" if killed else "exit %s" % rc))
            if not killed:
                return rc, err
            kills += 1
            dispatched, finished = read_journal_ids(rundir)
            new = [i for i in dispatched[len(before):] if i not in finished]
            self.assertLessEqual(
                len(new), IN_FLIGHT_MAX,
                "more tasks in flight at a kill than the window allows\n" +
                "\n".join(history))
            lost.update(new)
            return None, err

        # The first run; a kill before the journal exists leaves nothing
        # to resume, so that run starts over.
        while True:
            rc, err = round_(["run", "-q", "-o", rundir, taskfile],
                             rnd.uniform(0.3, 2.0))
            if rc is not None:
                self.fail("the first run ended before its kill: exit %s\n%s"
                          % (rc, err))
            if os.path.exists(os.path.join(rundir, "joblog.tsv")):
                break
            history.append("no journal yet: start over")
            subprocess.run(["rm", "-rf", rundir], check=True)

        # Resumes, each killed with probability 1/2, until one completes;
        # the seventh is never killed.
        resume = ["run", "-q", "--resume", rundir, taskfile]
        for n in range(7):
            kill_after = None
            if n < 6 and rnd.random() < 0.5:
                kill_after = rnd.uniform(0.3, 2.0)
            # What the report of a resume that completes must say.
            dispatched, finished = read_journal_ids(rundir)
            want_skipped = len(finished)  # every task succeeds
            want_lost = len(set(dispatched) - finished)
            rc, err = round_(resume, kill_after)
            if rc is not None:
                self.assertEqual(rc, 0, "resume failed:\n%s\n%s" %
                                 ("\n".join(history), err))
                break
        story = "seed %d, %d kills:\n%s" % (seed, kills, "\n".join(history))

        rows = read_joblog(rundir)
        rep = self.assertResumeReport(rundir, loomtest.Run(
            resume, 0, "", story, 0), skipped=want_skipped, lost=want_lost)
        self.assertIs(rep["complete"], True, story)
        # Every task succeeded exactly once, by its only id.
        self.assertEqual(ok_counts(rows), collections.Counter(cmds), story)
        self.assertTrue(all(r["status"] == "ok" for r in rows), story)
        ids = {r["command"]: r["id"] for r in rows}
        self.assertEqual(len(set(ids.values())), self.N, story)
        for r in rows:
            self.assertEqual(r["id"], ids[r["command"]], story)
            # A task lost at a kill runs again as attempt 2, others once.
            self.assertEqual(r["attempt"], 2 if r["id"] in lost else 1,
                             "%s: attempt\n%s" % (r["command"], story))
        # Real executions: every task at least once; more only for a task
        # that was in flight at a kill, at most once more per such kill.
        ran = log_counts(self.logfile)
        self.assertEqual(set(ran), set(names), story)
        for cmd, name in zip(cmds, names):
            self.assertLessEqual(ran[name], 1 + lost[ids[cmd]],
                                 "%s ran %d times\n%s" % (name, ran[name],
                                                          story))
        twice = [n for n in names if ran[n] > 1]
        self.assertLessEqual(len(twice), kills * IN_FLIGHT_MAX, story)
        return kills

    def test_sigkill_and_resume_until_done(self):
        kills = 0
        for seed in (11, 22, 33):
            with self.subTest(seed=seed):
                kills += self.chaos(seed)
        self.assertGreaterEqual(kills, 3)


class OwnerTest(ResumeTestCase):
    """One process writes a run directory at a time (its lock dies with
    it): a second run pointed at it waits a bounded time for the first to
    end, then refuses with one line and exit 2, touching nothing. Before
    the lock, a resume started while the first run went on ran every task
    a second time and the joblog lost rows."""

    def start_first(self, n, seconds):
        lines = ["sleep %g; echo t%d >> $LOGFILE" % (seconds, i)
                 for i in range(n)]
        self.write_lines("t.txt", lines)
        rundir = self.path("run")
        argv = loomtest.command(["run", "-q", "-o", rundir, "t.txt"], None)
        env = loomtest.test_env()
        env.update(self.env)
        proc = subprocess.Popen(argv, cwd=self.tmp, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(rundir, "joblog.tsv")):
            self.assertLess(time.monotonic(), deadline, "no joblog")
            time.sleep(0.02)
        return proc, rundir

    def check_first(self, proc, rundir, n):
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        rows = read_joblog(rundir)
        self.assertEqual(len(rows), n, "one row per task, none lost")
        self.assertEqual(sorted(r["line"] for r in rows),
                         list(range(1, n + 1)))
        self.assertEqual(set(log_counts(self.logfile).values()), {1},
                         "every task ran exactly once")

    def test_a_second_run_is_refused_while_the_first_writes(self):
        proc, rundir = self.start_first(20, 0.25)  # about 5 s
        r = self.run_loom(["run", "-q", "--lock-wait", "1", "--resume",
                           rundir, "t.txt"], expect_rc=2)
        lines = [l for l in loomtest.without_mpi_noise(r.stderr)
                 if l.startswith("loom: ")]
        self.assertEqual(len(lines), 1, r.describe())
        self.assertIn("in use by another loom (pid %d" % proc.pid, lines[0])
        # The same under mpirun, and for a new run into the same place.
        r = self.run_loom(["run", "-q", "--lock-wait", "0", "--resume",
                           rundir, "t.txt"], np=3, expect_rc=2)
        self.assertIn("in use by another loom", r.stderr)
        self.check_first(proc, rundir, 20)
        rep = read_report(rundir)
        self.assertTrue(rep["complete"])
        self.assertIs(rep["resumed"], False, "the refused run wrote it")

    def test_a_second_run_waits_for_a_first_that_ends(self):
        proc, rundir = self.start_first(8, 0.25)  # about 2 s
        r = self.run_loom(["run", "--lock-wait", "30", "--resume", rundir,
                           "t.txt"], expect_rc=0)
        self.assertIn("waiting up to 30 s", r.stderr)
        self.check_first(proc, rundir, 8)
        rep = read_report(rundir)
        self.assertIs(rep["resumed"], True)
        self.assertEqual(rep["skipped"], 8, "nothing ran twice")


class ResumeBadInputTest(ResumeTestCase):

    def assertRefused(self, args, names, files=(), np=None):
        """Exit 2 with one 'loom: ' line holding each of names; the working
        directory and files (name -> text) as they were."""
        before = sorted(os.listdir(self.tmp))
        texts = {f: loomtest.read_text(self.path(f)) for f in files}
        run = self.run_loom(args, np=np, expect_rc=2)
        lines = loomtest.loom_lines(run.stderr)
        self.assertEqual(len(lines), 1, run.describe())
        for n in names:
            self.assertIn(n, lines[0], run.describe())
        self.assertEqual(sorted(os.listdir(self.tmp)), before,
                         "something was created\n" + run.describe())
        for f, text in texts.items():
            self.assertEqual(loomtest.read_text(self.path(f)), text,
                             "%s changed\n%s" % (f, run.describe()))

    def test_bad_resume_and_halt_arguments(self):
        self.write("t.txt", "echo a\n")
        os.mkdir(self.path("emptydir"))
        os.mkdir(self.path("foreign"))
        # GNU parallel's --joblog
        foreign = ("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\t"
                   "Exitval\tSignal\tCommand\n"
                   "1\t:\t0\t0\t0\t0\t0\t0\techo a\n")
        self.write("foreign/joblog.tsv", foreign)
        self.assertRefused(["run", "--resume", "emptydir", "t.txt"],
                           ["emptydir"])
        self.assertEqual(os.listdir(self.path("emptydir")), [])
        self.assertRefused(["run", "--resume", "nosuchdir", "t.txt"],
                           ["nosuchdir"])
        self.assertRefused(["run", "--resume", "foreign", "t.txt"],
                           ["foreign"], files=["foreign/joblog.tsv"])
        self.assertEqual(os.listdir(self.path("foreign")), ["joblog.tsv"])
        self.assertRefused(["run", "--resume", "foreign", "-o", "out",
                            "t.txt"], ["--resume"])
        self.assertRefused(["run", "--skip-failed", "t.txt"],
                           ["--skip-failed"])
        self.assertRefused(["run", "--skip-failed", "-o", "out", "t.txt"],
                           ["--skip-failed"])
        for bad in ("0", "abc", "-1", ""):
            self.assertRefused(["run", "--halt", bad, "t.txt"],
                               ["--halt", "'%s'" % bad])
        self.assertRefused(["run", "t.txt", "--halt"], ["--halt"])

    def test_a_resume_from_another_source_is_refused(self):
        self.write("t.txt", "echo a\necho b\n")
        self.write("u.txt", "echo other\n")
        self.run_loom(["run", "-q", "-o", "run", "t.txt"], expect_rc=0)
        for np in (None, 3):
            self.assertRefused(["run", "--resume", "run", "u.txt"],
                               ["none of the first 1 tasks", "--resume-any"],
                               files=["run/joblog.tsv"], np=np)
        self.assertRefused(["run", "--resume", "run", "--kind", "noop",
                            "--count", "3"], ["none of the first 3 tasks"],
                           files=["run/joblog.tsv"])
        # Asked for, it goes on, and says nothing of the earlier run matched.
        r = self.run_loom(["run", "--resume", "run", "--resume-any",
                           "u.txt"], expect_rc=0)
        self.assertIn("none of the 2 tasks done in the earlier run matched",
                      r.stderr)
        # An edited copy under another name shares tasks: it goes on, and
        # runs only its new line.
        self.write("t2.txt", "echo new\necho a\necho b\n")
        self.run_loom(["run", "-q", "--resume", "run", "t2.txt"], np=3,
                      expect_rc=0)
        self.assertEqual(len(read_joblog(self.path("run"))), 4)

    def test_a_journal_with_a_row_loom_did_not_write_is_an_input_error(self):
        self.write("t.txt", "echo a\necho b\n")
        self.run_loom(["run", "-q", "-o", "run", "t.txt"], expect_rc=0)
        path = self.path("run", "joblog.tsv")
        rows = loomtest.read_text(path).splitlines(keepends=True)
        f = rows[1].split("\t")
        f[10] = "2147483647"  # the attempt, far past the wire's counter
        rows[1] = "\t".join(f)
        self.write("run/joblog.tsv", "".join(rows))
        for np in (None, 3):
            with self.subTest(np=np or 1):
                run = self.run_loom(["run", "-q", "--resume", "run", "t.txt"],
                                    np=np, expect_rc=2)
                lines = loomtest.loom_lines(run.stderr)
                self.assertEqual(len(lines), 1, run.describe())
                self.assertIn("joblog.tsv:2: bad attempt '2147483647'",
                              lines[0])
        self.assertEqual(loomtest.read_text(path), "".join(rows),
                         "the journal was changed")

    def test_a_real_run_directory_is_not_changed_by_a_refused_resume(self):
        self.write("t.txt", "echo a\necho b\n")
        rundir = self.path("run")
        self.run_loom(["run", "-q", "-o", rundir, "t.txt"], expect_rc=0)
        files = ["run/joblog.tsv", "run/dispatched.tsv", "run/report.json"]
        for args, names in (
                (["run", "--resume", "run", "-o", "run", "t.txt"],
                 ["--resume"]),
                (["run", "--resume", "run", "--halt", "0", "t.txt"],
                 ["--halt"]),
                (["run", "--resume", "run", "nosuch.txt"], ["nosuch.txt"])):
            self.assertRefused(args, names, files=files)


if __name__ == "__main__":
    loomtest.main()
