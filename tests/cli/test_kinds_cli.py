#!/usr/bin/env python3
"""test_kinds_cli.py - the built-in kinds, --help and --version.

primes and pi must give their known or deterministic answers whatever the
number of ranks; noop must scale to tens of thousands of joblog rows; the
help texts must mention every flag the parser accepts.
"""

import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402
from loomtest import read_joblog, read_text  # noqa: E402

PRIMES_LINE = "primes below 10000000: 664579 (checked)"

# Every flag of `loom run`, as the help must show it.
RUN_FLAGS = ["-o", "--output", "--kind", "--count", "-a", "--arg", "--policy",
             "--window", "--batch-max", "--batch-target", "--task-output",
             "--timeout",
             "--retries", "--progress-interval", "-q", "--quiet", "-h",
             "--help", "--resume", "--skip-failed", "--halt", "--grace",
             "--quarantine", "--deadline"]
MAIN_FLAGS = ["-h", "--help", "--version", "run"]
MAIN_C = os.path.join(loomtest.SOURCE_ROOT, "engine", "cli", "main.c")
LOOM_H = os.path.join(loomtest.SOURCE_ROOT, "engine", "include", "loom.h")


def flags_in_source():
    """The flags main.c compares arguments with (empty without sources)."""
    if not os.path.exists(MAIN_C):
        return set()
    text = read_text(MAIN_C)
    return set(re.findall(r'strcmp\(a, "(-[^"]+)"\)', text))


class KindTest(loomtest.LoomTestCase):

    def test_primes_is_checked_at_1_and_3_ranks(self):
        for np in (None, 3):
            with self.subTest(np=np or 1):
                rundir = self.path("primes-%s" % np)
                run = self.loom(["run", "-q", "-o", rundir, "--kind", "primes",
                                 "--count", "16"], np=np, expect_rc=0)
                self.assertIn(PRIMES_LINE, run.stdout.splitlines(),
                              run.describe())
                self.assertEqual(
                    read_text(os.path.join(rundir, "result.txt")).strip(),
                    PRIMES_LINE)
                rows = read_joblog(rundir)
                self.assertEqual(sorted(r["line"] for r in rows),
                                 list(range(1, 17)))
                self.assertTrue(all(r["status"] == "ok" for r in rows))
                self.assertReportMatchesJoblog(rundir, rows, np or 1, run)

    def test_pi_estimate_does_not_depend_on_ranks(self):
        lines = {}
        for np in (1, 2, 4):
            rundir = self.path("pi-%d" % np)
            run = self.loom(["run", "-q", "-o", rundir, "--kind", "pi",
                             "--count", "8", "--arg", "samples=100000"],
                            np=np, expect_rc=0)
            got = [l for l in run.stdout.splitlines() if l.startswith("pi ~ ")]
            self.assertEqual(len(got), 1, run.describe())
            self.assertIn("from 800000 samples", got[0])
            lines[np] = got[0]
        self.assertEqual(len(set(lines.values())), 1,
                         "pi differs between rank counts: %r" % lines)

    def test_noop_twenty_thousand_rows(self):
        rundir = self.path("noop")
        run = self.loom(["run", "-q", "-o", rundir, "--kind", "noop",
                         "--count", "20000"], np=3, expect_rc=0)
        rows = read_joblog(rundir)
        self.assertEqual(len(rows), 20000, run.describe())
        self.assertEqual(len({r["id"] for r in rows}), 20000, "ids unique")
        self.assertEqual(sorted(r["line"] for r in rows),
                         list(range(1, 20001)))
        self.assertTrue(all(r["status"] == "ok" and r["rank"] in (1, 2)
                            for r in rows))
        self.assertReportMatchesJoblog(rundir, rows, 3, run)

    def test_a_bigger_batch_target_sends_fewer_messages(self):
        # 1 ms tasks: at 0.5 ms each travels alone; at the default 10 ms
        # the measured ones travel by the ten, all still recorded.
        batches = {}
        for target in ("0.0005", None):
            rundir = self.path("target-%s" % target)
            extra = ["--batch-target", target] if target else []
            run = self.loom(["run", "-q", "-o", rundir, "--kind", "spin",
                             "--count", "400", "--arg", "mean=0.001"] +
                            extra, np=3, expect_rc=0)
            rows = read_joblog(rundir)
            self.assertEqual(len(rows), 400, run.describe())
            self.assertTrue(all(r["status"] == "ok" for r in rows))
            self.assertReportMatchesJoblog(rundir, rows, 3, run)
            with open(os.path.join(rundir, "report.json")) as f:
                batches[target] = json.load(f)["messages"]["batches"]
        self.assertGreaterEqual(batches["0.0005"], 380, batches)
        self.assertLessEqual(batches[None], 200, batches)
        for bad in ("0", "-1", "5ms", "x"):
            r = self.loom(["run", "--batch-target", bad, "--kind", "noop",
                           "--count", "1"])
            self.assertEqual(r.rc, 2, r.describe())
            self.assertIn("bad --batch-target '%s'" % bad, r.stderr)

    def test_sleep_succeeds(self):
        rundir = self.path("sleep")
        run = self.loom(["run", "-q", "-o", rundir, "--kind", "sleep",
                         "--count", "6", "--arg", "mean=0.05"], np=2,
                        expect_rc=0)
        rows = read_joblog(rundir)
        self.assertEqual(len(rows), 6)
        self.assertTrue(all(r["status"] == "ok" for r in rows))
        self.assertReportMatchesJoblog(rundir, rows, 2, run)


class ExampleTest(loomtest.LoomTestCase):

    def test_api_example_checks_its_sum(self):
        example = os.environ.get("LOOM_EXAMPLE")
        if not example:
            self.skipTest("LOOM_EXAMPLE not set")
        for np in (1, 3):
            argv = [loomtest.MPIEXEC, "-n", str(np)] + \
                loomtest.mpiexec_preflags() + [example]
            run = loomtest.run_argv(argv, cwd=self.tmp)
            self.assertEqual(run.rc, 0, run.describe())
            self.assertIn("sum of squares below 1000000 = "
                          "333332833333500000 (ok)", run.stdout,
                          run.describe())


class HelpTest(loomtest.LoomTestCase):

    def test_main_help_mentions_its_flags(self):
        for flag in ("--help", "-h"):
            run = self.loom([flag], expect_rc=0)
            for f in MAIN_FLAGS:
                self.assertRegex(run.stdout, r"(^|[\s,])%s\b" % re.escape(f),
                                 "loom %s does not mention %s" % (flag, f))

    def test_run_help_mentions_every_flag(self):
        run = self.loom(["run", "--help"], expect_rc=0)
        flags = set(RUN_FLAGS) | flags_in_source()
        for f in sorted(flags):
            self.assertRegex(run.stdout,
                             r"(^|[\s,])%s([\s,=]|$)" % re.escape(f),
                             "loom run --help does not mention %s" % f)
        # With mpiexec, only one copy of the text.
        run = self.loom(["run", "--help"], np=2, expect_rc=0)
        self.assertEqual(run.stdout.count("usage:"), 1, run.describe())

    def test_version(self):
        run = self.loom(["--version"], expect_rc=0)
        self.assertEqual(run.stdout, "loom 0.1.0\n")
        if os.path.exists(LOOM_H):
            m = re.search(r'#define LOOM_VERSION "([^"]+)"', read_text(LOOM_H))
            self.assertEqual(run.stdout, "loom %s\n" % m.group(1))


if __name__ == "__main__":
    loomtest.main()
