#!/usr/bin/env python3
"""test_lookahead.py - `loom run --policy weighted` hands out the longest
hinted task first, through a look-ahead buffer (--lookahead).

The master reads up to N tasks ahead of dispatch (default: many) and hands
out the one with the largest cost hint; ties keep file order, and a task
without a hint counts as the mean of the hints read before it (0 before
any). The order of dispatch is then a function of the file alone, whatever
the number of ranks, so the tests compute it (expected_order) and compare
it with dispatched.tsv, which gets a row per task as it is handed out.
Task ids do not change with the order. --lookahead 0, stdin and policies
other than weighted keep file order; report.json says what was used.
Tasks before the first hint stream: without hints nothing is read ahead. A
run stopped by --halt resumes with the same order over what is left, and
every task then has run exactly once.
"""

import collections
import os
import shlex
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402
from loomtest import read_joblog, read_report  # noqa: E402

# Cost hints are powers of two, so nothing depends on decimal rounding.
SHORT, MID, LONG, LONGEST = 0.0625, 0.25, 0.5, 1.0


def task_lines(log=False, flaky=None):
    """The task file as [(text, cost or None, name)], the long hinted tasks
    last: 16 short tasks, every other one without a hint, then two of MID,
    two of LONG (a tie: file order) and the LONGEST. Real sleeps are
    short; the hints say how the tasks rank. With log, each task appends
    its name to $LOGFILE. flaky names a task that fails until it ran once
    (a marker in the run directory)."""
    tasks = []
    for i in range(16):
        cost = SHORT if i % 2 == 0 else None
        tasks.append(("echo s%d" % i, cost, "s%d" % i))
    tasks += [("sleep 0.02", MID, "m0"), ("sleep 0.02", MID, "m1"),
              ("sleep 0.05", LONG, "l0"), ("sleep 0.05", LONG, "l1"),
              ("sleep 0.1", LONGEST, "top")]
    out = []
    for cmd, cost, name in tasks:
        text = "%s; echo %s" % (cmd, name) if cmd.startswith("sleep") else cmd
        if log:
            text += " >> $LOGFILE"
        if name == flaky:
            text = ('if [ -e "$LOOM_RUN_DIR/ran-%s" ]; then %s; else '
                    'touch "$LOOM_RUN_DIR/ran-%s"; exit 1; fi'
                    % (name, text, name))
        out.append((text, cost, name))
    return out


def file_text(tasks):
    """The file: a comment and blank lines spread in, so lines are not
    task indexes."""
    lines = ["# long hinted tasks at the end"]
    for k, (text, cost, _name) in enumerate(tasks):
        if k % 5 == 2:
            lines.append("")
        lines.append(text + ("  #loom cost=%g" % cost if cost is not None
                             else ""))
    return "\n".join(lines) + "\n"


def expected_order(costs, lookahead):
    """Indexes of tasks (0-based, in file order) in the order the master
    hands them out: a buffer topped up to lookahead tasks before each
    pick, the largest key first, ties in file order; a task without a hint
    has the mean of the hints read before it as its key. The tasks before
    the first hinted one go out in file order, unbuffered."""
    if lookahead == 0:
        return list(range(len(costs)))
    hint_sum, hints, buf, order, nxt = 0.0, 0, [], [], 0
    # Before the first hint there is nothing to reorder: tasks stream.
    while nxt < len(costs) and costs[nxt] is None:
        order.append(nxt)
        nxt += 1
    while nxt < len(costs) or buf:
        while len(buf) < lookahead and nxt < len(costs):
            c = costs[nxt]
            if c is not None:
                hint_sum += c
                hints += 1
                key = c
            else:
                key = hint_sum / hints if hints else 0.0
            buf.append((-key, nxt))
            nxt += 1
        best = min(buf)
        buf.remove(best)
        order.append(best[1])
    return order


def dispatched_ids(rundir):
    """The ids in dispatched.tsv, in the order they were handed out."""
    with open(os.path.join(rundir, "dispatched.tsv"), encoding="utf-8") as f:
        rows = f.read().split("\n")
    assert rows[0].split("\t") == ["id", "key"], rows[0]
    return [r.split("\t")[0] for r in rows[1:] if r]


class LookaheadTest(loomtest.LoomTestCase):

    def setUp(self):
        super().setUp()
        self.tasks = task_lines()
        self.write("t.txt", file_text(self.tasks))
        self.costs = [c for _t, c, _n in self.tasks]

    def run_ok(self, args, np=None, **kw):
        self.runs = getattr(self, "runs", 0) + 1
        rundir = self.path("run-%d" % self.runs)
        run = self.loom(["run", "-q", "-o", rundir] + args, np=np,
                        expect_rc=0, **kw)
        return rundir, run

    def order_of(self, rundir, run):
        """The order of dispatch as task indexes, after checking that
        every task ran once and succeeded."""
        rows = read_joblog(rundir)
        ctx = "\n" + run.describe()
        self.assertEqual(len(rows), len(self.tasks), ctx)
        self.assertTrue(all(r["status"] == "ok" for r in rows), ctx)
        by_id = {r["id"]: r for r in rows}
        ids = dispatched_ids(rundir)
        self.assertEqual(sorted(ids), sorted(by_id), ctx)
        commands = [t for t, _c, _n in self.tasks]
        return [commands.index(by_id[i]["command"]) for i in ids]

    def ids_by_line(self, rundir):
        return {r["line"]: r["id"] for r in read_joblog(rundir)}

    def names(self, order):
        return [self.tasks[i][2] for i in order]

    def test_weighted_hands_out_the_longest_hinted_task_first(self):
        want = expected_order(self.costs, len(self.tasks))
        # The model's order, spelled out: longest first, ties (l0 l1, m0
        # m1) in file order; the unhinted s1 counts as the mean of s0's
        # hint (SHORT), so it ties with the short hinted tasks.
        self.assertEqual(self.names(want)[:5], ["top", "l0", "l1", "m0",
                                                "m1"])
        self.assertEqual(self.names(want)[5:8], ["s0", "s1", "s2"])
        for np in (None, 3):
            rundir, run = self.run_ok(["--policy", "weighted", "t.txt"], np=np)
            self.assertEqual(self.names(self.order_of(rundir, run)),
                             self.names(want), run.describe())
            rep = read_report(rundir)
            self.assertEqual(rep["policy"], "weighted")
            self.assertGreaterEqual(rep["lookahead"], 100000, run.describe())
            if np is None:
                # One rank runs the tasks itself, one after the other: the
                # longest started first.
                rows = read_joblog(rundir)
                first = min(rows, key=lambda r: r["start"])
                self.assertIn("echo top", first["command"], run.describe())

    def test_weighted_is_the_default_policy(self):
        rundir, run = self.run_ok(["t.txt"])
        rep = read_report(rundir)
        self.assertEqual(rep["policy"], "weighted", run.describe())
        self.assertGreater(rep["lookahead"], 0, run.describe())
        self.assertEqual(self.names(self.order_of(rundir, run)),
                         self.names(expected_order(self.costs,
                                                   len(self.tasks))))

    def test_a_small_lookahead_reorders_only_within_its_reach(self):
        want = expected_order(self.costs, 4)
        # Four tasks ahead: the longest, at the end, cannot go first.
        self.assertNotEqual(self.names(want)[0], "top")
        self.assertNotEqual(want, expected_order(self.costs, 0))
        rundir, run = self.run_ok(["--policy", "weighted", "--lookahead", "4",
                                   "t.txt"])
        self.assertEqual(self.names(self.order_of(rundir, run)),
                         self.names(want), run.describe())
        self.assertEqual(read_report(rundir)["lookahead"], 4)

    def test_lookahead_0_keeps_file_order(self):
        for np in (None, 3):
            rundir, run = self.run_ok(["--policy", "weighted", "--lookahead",
                                       "0", "t.txt"], np=np)
            self.assertEqual(self.order_of(rundir, run),
                             list(range(len(self.tasks))), run.describe())
            self.assertEqual(read_report(rundir)["lookahead"], 0)

    def test_other_policies_keep_file_order_and_report_no_lookahead(self):
        for policy in ("least-loaded", "wrr"):
            rundir, run = self.run_ok(["--policy", policy, "--lookahead",
                                       "100", "t.txt"])
            self.assertEqual(self.order_of(rundir, run),
                             list(range(len(self.tasks))), run.describe())
            self.assertEqual(read_report(rundir)["lookahead"], 0,
                             run.describe())

    def test_stdin_keeps_file_order_unless_lookahead_is_given(self):
        text = file_text(self.tasks)
        rundir, run = self.run_ok(["--policy", "weighted", "-"],
                                  stdin_text=text)
        self.assertEqual(self.order_of(rundir, run),
                         list(range(len(self.tasks))), run.describe())
        self.assertEqual(read_report(rundir)["lookahead"], 0, run.describe())
        rundir, run = self.run_ok(["--policy", "weighted", "--lookahead",
                                   "100", "-"], np=3, stdin_text=text)
        self.assertEqual(self.names(self.order_of(rundir, run)),
                         self.names(expected_order(self.costs, 100)),
                         run.describe())
        self.assertEqual(read_report(rundir)["lookahead"], 100)

    def producer_run(self, hinted):
        """weighted with --lookahead 100 on stdin, fed by a producer that
        writes the next task only once the one before it has run (it
        touches a file), and gives up after 2 s. Returns (run, gave_up)."""
        marks = self.path("marks-%s" % hinted)
        os.makedirs(marks)
        hint = "  #loom cost=1" if hinted else ""
        producer = (
            'for i in 1 2; do echo "touch %s/done-$i%s"; n=0; '
            'while [ ! -e %s/done-$i ]; do n=$((n + 1)); '
            'if [ $n -gt 40 ]; then echo "producer gave up on $i" >&2; '
            'break; fi; sleep 0.05; done; done'
            % (marks, hint, marks))
        loom = loomtest.command(["run", "-q", "-o", self.path("p-%s" % hinted),
                                 "--policy", "weighted", "--lookahead", "100",
                                 "-"])
        run = loomtest.run_argv(
            ["sh", "-c", producer + " | " + " ".join(map(shlex.quote, loom))])
        self.assertEqual(run.rc, 0, run.describe())
        return run, "producer gave up" in run.stderr

    def test_a_file_without_hints_streams_under_weighted(self):
        # Until the first hint the look-ahead has nothing to reorder, so
        # the master reads no further than it dispatches: a producer that
        # waits for each task is never kept waiting...
        run, gave_up = self.producer_run(hinted=False)
        self.assertFalse(gave_up, run.describe())
        # ...while with hints the master reads ahead, and would wait on it
        # (which is why stdin gets no look-ahead unless it is asked for).
        run, gave_up = self.producer_run(hinted=True)
        self.assertTrue(gave_up, run.describe())

    def test_task_ids_do_not_depend_on_the_order(self):
        ahead, run = self.run_ok(["--policy", "weighted", "t.txt"])
        in_order, _ = self.run_ok(["--policy", "weighted", "--lookahead",
                                   "0", "t.txt"], np=3)
        plain, _ = self.run_ok(["--policy", "least-loaded", "t.txt"])
        # The runs did differ in order...
        self.assertNotEqual(dispatched_ids(ahead), dispatched_ids(in_order))
        # ...not in ids: each line keeps its id.
        ids = self.ids_by_line(ahead)
        self.assertEqual(len(set(ids.values())), len(self.tasks))
        self.assertEqual(ids, self.ids_by_line(in_order), run.describe())
        self.assertEqual(ids, self.ids_by_line(plain), run.describe())

    def test_bad_lookahead_is_a_usage_error(self):
        for bad in ("-1", "abc", "", "1.5", "1073741825", "1e3",
                    "99999999999999999999999"):
            run = self.loom(["run", "--policy", "weighted", "-o", "out",
                             "--lookahead", bad, "t.txt"], expect_rc=2)
            lines = loomtest.loom_lines(run.stderr)
            self.assertEqual(len(lines), 1, run.describe())
            self.assertIn("--lookahead '%s'" % bad, lines[0], run.describe())
            self.assertFalse(os.path.exists(self.path("out")),
                             run.describe())
        run = self.loom(["run", "t.txt", "--lookahead"], expect_rc=2)
        lines = loomtest.loom_lines(run.stderr)
        self.assertEqual(len(lines), 1, run.describe())
        self.assertIn("--lookahead", lines[0], run.describe())
        # The largest value is taken.
        rundir, run = self.run_ok(["--policy", "weighted", "--lookahead",
                                   "1073741824", "t.txt"])
        self.assertEqual(read_report(rundir)["lookahead"], 1073741824)


class LookaheadResumeTest(loomtest.LoomTestCase):

    def test_resume_after_halt_runs_every_task_exactly_once(self):
        # MID task m0 fails on its first run: after `top` and the LONG
        # ones, so the first run halts with part of the file done.
        tasks = task_lines(log=True, flaky="m0")
        costs = [c for _t, c, _n in tasks]
        commands = [t for t, _c, _n in tasks]
        self.write("t.txt", file_text(tasks))
        logfile = self.path("tasks.log")
        env = {"LOGFILE": logfile}
        for np in (None, 3):
            rundir = self.path("run-%s" % np)
            if os.path.exists(logfile):
                os.remove(logfile)
            run1 = self.loom(["run", "-q", "--policy", "weighted", "--halt",
                              "1", "-o", rundir, "t.txt"], np=np, env=env,
                             expect_rc=4)
            ctx = "\n" + run1.describe()
            rows1 = read_joblog(rundir)
            done1 = {r["command"] for r in rows1 if r["status"] == "ok"}
            self.assertIn("halt", read_report(rundir)["error"] or "", ctx)
            self.assertLess(len(done1), len(tasks) - 1, ctx)
            n1 = len(dispatched_ids(rundir))
            # The first run went longest first too.
            by_id = {r["id"]: r["command"] for r in rows1}
            got1 = [commands.index(by_id[i])
                    for i in dispatched_ids(rundir)]
            want = expected_order(costs, len(tasks))
            self.assertEqual(got1, want[:len(got1)], ctx)

            run2 = self.loom(["run", "-q", "--policy", "weighted",
                              "--resume", rundir, "t.txt"], np=np, env=env,
                             expect_rc=0)
            ctx = "\n" + run2.describe()
            rows = read_joblog(rundir)
            rep = read_report(rundir)
            self.assertIs(rep["resumed"], True, ctx)
            self.assertIs(rep["complete"], True, ctx)
            self.assertGreater(rep["lookahead"], 0, ctx)
            # What was left ran in the look-ahead's order over what was
            # left (the failed m0 included, as attempt 2).
            left = [k for k, t in enumerate(commands) if t not in done1]
            want2 = [left[k] for k in
                     expected_order([costs[k] for k in left], len(left))]
            by_id = {r["id"]: r["command"] for r in rows}
            got2 = [commands.index(by_id[i])
                    for i in dispatched_ids(rundir)[n1:]]
            self.assertEqual(got2, want2, ctx)
            # Over both runs: every task succeeded exactly once, and ran
            # (wrote its name) exactly once.
            ok = collections.Counter(r["command"] for r in rows
                                     if r["status"] == "ok")
            self.assertEqual(ok, collections.Counter(commands), ctx)
            with open(logfile, encoding="utf-8") as f:
                ran = collections.Counter(f.read().split())
            self.assertEqual(ran, collections.Counter(n for _t, _c, n in
                                                      tasks), ctx)
            m0 = [r for r in rows if "ran-m0" in r["command"]]
            self.assertEqual([(r["attempt"], r["status"]) for r in m0],
                             [(1, "failed"), (2, "ok")], ctx)


if __name__ == "__main__":
    loomtest.main()
