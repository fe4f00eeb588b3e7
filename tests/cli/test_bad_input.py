#!/usr/bin/env python3
"""test_bad_input.py - every usage or input error is one line and exit 2.

Each case must print exactly one line starting with "loom: " on stderr that
names what was wrong (the file and line for a task-file syntax error), exit
with status 2, and leave no run directory behind: neither the -o directory
nor a loom-run-* in the current directory. Every case runs with one rank
and under mpiexec with 3 ranks (where rank 0 alone may print the line).
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402

GOOD = "echo one\necho two\necho three\n"

# name, args, files to create (name -> text, or None for a directory),
# texts the error line must contain.
CASES = [
    ("missing task file", ["nosuch.txt"], {}, ["nosuch.txt"]),
    ("task file is a directory", ["adir"], {"adir": None}, ["adir"]),
    ("empty task file", ["empty.txt"], {"empty.txt": ""}, ["empty.txt"]),
    ("only comments", ["comments.txt"],
     {"comments.txt": "# one\n\n   # two\n#loom prefix echo\n#loomish\n"},
     ["comments.txt"]),
    ("malformed hint", ["tasks.txt"],
     {"tasks.txt": "echo a\n# c\necho b #loom timeout\necho c\n"},
     ["tasks.txt:3:", "timeout"]),
    ("unknown hint key", ["tasks.txt"],
     {"tasks.txt": "echo a\necho b #loom colour=red\n"},
     ["tasks.txt:2:", "colour"]),
    ("bad hint value", ["tasks.txt"],
     {"tasks.txt": "echo a #loom retries=lots\n"}, ["tasks.txt:1:", "lots"]),
    ("unknown directive", ["tasks.txt"],
     {"tasks.txt": "echo a\n#loom frobnicate x\necho b\n"},
     ["tasks.txt:2:", "frobnicate"]),
    ("bad repeat count", ["tasks.txt"],
     {"tasks.txt": "#loom repeat many echo {}\n"}, ["tasks.txt:1:", "many"]),
    ("syntax error after many good lines", ["tasks.txt"],
     {"tasks.txt": "echo ok\n" * 299 + "echo bad #loom cost=soon\n"},
     ["tasks.txt:300:", "soon"]),
    ("unknown flag", ["--frobnicate", "good.txt"], {}, ["--frobnicate"]),
    ("flag without its value", ["good.txt", "--policy"], {}, ["--policy"]),
    ("unknown policy", ["--policy", "nope", "good.txt"], {}, ["nope"]),
    ("unknown task output mode", ["--task-output", "printer", "good.txt"], {},
     ["printer"]),
    ("count not a number", ["--kind", "noop", "--count", "abc"], {}, ["abc"]),
    ("negative count", ["--kind", "noop", "--count", "-5"], {}, ["-5"]),
    ("zero count", ["--kind", "noop", "--count", "0"], {}, ["'0'"]),
    ("kind without count", ["--kind", "noop"], {}, ["--count"]),
    ("unknown kind", ["--kind", "nope", "--count", "2"], {}, ["nope"]),
    ("bad kind argument",
     ["--kind", "spin", "--count", "2", "--arg", "mean=abc"], {},
     ["mean", "abc"]),
    ("task file and --kind", ["--kind", "noop", "--count", "2", "good.txt"],
     {}, ["--kind"]),
    ("two task files", ["good.txt", "good.txt"], {}, ["good.txt"]),
    # An endless line is refused after 1 MiB, not read until memory runs
    # out (it used to end as "no tasks").
    ("endless line", ["/dev/zero"], {}, ["/dev/zero:1:", "longer than"]),
    ("weights file with no lines", ["--weights-file", "/dev/zero",
                                    "good.txt"], {}, ["/dev/zero:1:"]),
    # /bin/sh -c takes a command as one argument, capped at 128 KiB: such
    # a command used to fail as spawn-failed with no reason.
    ("command over the argument limit", ["long.txt"],
     {"long.txt": "echo ok\necho " + "x" * 140000 + "\n"},
     ["long.txt:2:", "131071"]),
]


class BadInputTest(loomtest.LoomTestCase):

    def setUp(self):
        super().setUp()
        self.n = 0

    def fresh_dir(self, files):
        """A new working directory holding good.txt and files."""
        self.n += 1
        d = self.path("case%d" % self.n)
        os.mkdir(d)
        files = dict(files, **{"good.txt": GOOD})
        for name, text in files.items():
            p = os.path.join(d, name)
            if text is None:
                os.mkdir(p)
            else:
                with open(p, "w", encoding="utf-8") as f:
                    f.write(text)
        return d

    def check_error(self, cwd, args, np, needles, rundir=None,
                    stdin_text=None):
        """Runs loom; checks exit 2, one 'loom: ' line holding needles, no
        new run directory. rundir: the -o path that must not appear (None
        when the case passes its own -o)."""
        before = set(os.listdir(cwd))
        run = loomtest.run_loom(args, np=np, cwd=cwd, stdin_text=stdin_text,
                                timeout=60)
        ctx = "\n" + run.describe()
        self.assertEqual(run.rc, 2, "exit status" + ctx)
        lines = loomtest.without_mpi_noise(run.stderr)
        mine = [l for l in lines if l.startswith("loom: ")]
        self.assertEqual(len(mine), 1, "exactly one 'loom: ' line" + ctx)
        self.assertEqual(lines, mine, "nothing else on stderr" + ctx)
        for needle in needles:
            self.assertIn(needle, mine[0], "the line names the input" + ctx)
        after = set(os.listdir(cwd))
        self.assertEqual(after - before, set(), "left a run directory" + ctx)
        self.assertEqual([n for n in after if n.startswith("loom-run-")], [],
                         ctx)
        if rundir:
            self.assertFalse(os.path.exists(os.path.join(cwd, rundir)), ctx)
        return run

    def test_each_case_is_one_line_and_exit_2(self):
        for name, args, files, needles in CASES:
            for np in (None, 3):
                with self.subTest(case=name, np=np or 1):
                    cwd = self.fresh_dir(files)
                    self.check_error(cwd, ["run", "-o", "outdir"] + args, np,
                                     needles, rundir="outdir")
                    # Without -o: no loom-run-* either.
                    if np is None:
                        cwd = self.fresh_dir(files)
                        self.check_error(cwd, ["run"] + args, np, needles)

    def test_unknown_command(self):
        for np in (None, 3):
            with self.subTest(np=np or 1):
                cwd = self.fresh_dir({})
                self.check_error(cwd, ["frob", "good.txt"], np, ["frob"])

    def test_output_directory_not_writable(self):
        # Root may write anywhere, so the path lies under a regular file.
        for np in (None, 3):
            with self.subTest(np=np or 1):
                cwd = self.fresh_dir({"afile": "not a directory\n"})
                self.check_error(cwd, ["run", "-o", "afile/run", "good.txt"],
                                 np, ["afile/run"])
                self.assertEqual(loomtest.read_text(os.path.join(
                    cwd, "afile")), "not a directory\n")

    def test_output_directory_holding_a_run_is_refused_and_kept(self):
        for np in (None, 3):
            with self.subTest(np=np or 1):
                cwd = self.fresh_dir({"old": None})
                old = os.path.join(cwd, "old")
                files = {"joblog.tsv": "id\tline\n", "report.json": "{}\n"}
                for n, text in files.items():
                    with open(os.path.join(old, n), "w") as f:
                        f.write(text)
                self.check_error(cwd, ["run", "-o", "old", "good.txt"], np,
                                 ["old"])
                self.assertEqual(sorted(os.listdir(old)), sorted(files),
                                 "the earlier run must be left as it was")
                for n, text in files.items():
                    self.assertEqual(
                        loomtest.read_text(os.path.join(old, n)), text)

    def test_stdin_syntax_error_before_any_task(self):
        # stdin cannot be checked before the run starts: the error comes
        # from the reader, yet it must look the same as a file's and the
        # run directory made for it must be gone.
        for np in (None, 3):
            with self.subTest(np=np or 1):
                cwd = self.fresh_dir({})
                self.check_error(cwd, ["run", "-o", "outdir", "-"], np,
                                 ["stdin:1:", "bogus"], rundir="outdir",
                                 stdin_text="echo a #loom bogus=1\necho b\n")


if __name__ == "__main__":
    loomtest.main()
