"""loomtest.py - what the end-to-end tests of the `loom` command share.

It finds the binary (LOOM_BIN, set by ctest), runs it directly (one rank,
an MPI singleton) or under mpiexec with the flags a small root-owned
machine needs, always with a timeout, and reads what a run leaves behind:
joblog.tsv (commands unescaped), report.json and the captured output
files. Standard library only.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))


def _find_loom():
    path = os.environ.get("LOOM_BIN")
    if path:
        return path
    guess = os.path.join(SOURCE_ROOT, "build", "engine", "loom")
    if os.path.exists(guess):
        return guess
    sys.exit("loomtest: set LOOM_BIN to the loom binary")


LOOM = _find_loom()
MPIEXEC = os.environ.get("MPIEXEC") or shutil.which("mpiexec") or "mpiexec"

JOBLOG_COLUMNS = [
    "id", "key", "line", "rank", "host", "start", "elapsed", "exit", "signal",
    "status", "attempt", "cpus", "command",
]
STATUSES = {"ok", "failed", "signal", "timeout", "spawn-failed", "cancelled",
            "output-failed"}


def mpiexec_preflags():
    """--oversubscribe (2 cores, up to 4 ranks) and, for root, the flag Open
    MPI insists on. LOOM_MPIEXEC_PREFLAGS replaces both."""
    given = os.environ.get("LOOM_MPIEXEC_PREFLAGS")
    if given is not None:
        return given.split()
    flags = ["--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--allow-run-as-root")
    return flags


def test_env(extra=None):
    """The environment for a run: ours without inherited LOOM_ variables,
    MPI's TCP traffic kept on loopback, its ob1 messaging layer (no 0.2 s
    of probes for Omni-Path hardware at each start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
    env["OMPI_MCA_btl_tcp_if_include"] = "lo"
    env["OMPI_MCA_oob_tcp_if_include"] = "lo"
    env["OMPI_MCA_pml"] = "ob1"
    if extra:
        env.update(extra)
    return env


class Run:
    """A finished process: argv, rc, stdout, stderr (text), seconds."""

    def __init__(self, argv, rc, stdout, stderr, seconds):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds

    def describe(self):
        return "$ %s\nexit %s after %.2f s\n--- stdout\n%s--- stderr\n%s---" % (
            " ".join(self.argv), self.rc, self.seconds, tail(self.stdout),
            tail(self.stderr))


def tail(text, n=4000):
    return text if len(text) <= n else "...\n" + text[-n:]


def command(args, np=None):
    """argv for loom with args: direct when np is None, else under mpiexec."""
    if np is None:
        return [LOOM] + list(args)
    return ([MPIEXEC, "-n", str(np)] + mpiexec_preflags() + [LOOM] +
            list(args))


def run_loom(args, np=None, cwd=None, stdin_text=None, timeout=120, env=None):
    """Runs loom and returns a Run. A run over timeout is killed with its
    whole process group and fails the test (a hang is the typical MPI bug)."""
    return run_argv(command(args, np), cwd=cwd, stdin_text=stdin_text,
                    timeout=timeout, env=env)


def run_argv(argv, cwd=None, stdin_text=None, timeout=120, env=None):
    """Runs any program like run_loom() does."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=test_env(env), start_new_session=True,
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(
            stdin_text.encode() if stdin_text is not None else None,
            timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError("timed out after %d s:\n%s" % (timeout, Run(
            argv, None, out.decode(errors="replace"),
            err.decode(errors="replace"), time.monotonic() - t0).describe()))
    return Run(argv, proc.returncode, out.decode(errors="replace"),
               err.decode(errors="replace"), time.monotonic() - t0)


def without_mpi_noise(text):
    """The lines of text without Open MPI's own reports: the blocks between
    '-----' rulers that mpirun prints when a rank exits non-zero, their
    lines when they come unframed, and blank lines."""
    keep, inside = [], False
    noise = ("Primary job", "mpirun detected", "mpiexec detected",
             "a non-zero exit code",
             "the job to be terminated", "Process name", "Exit code")
    for line in text.splitlines():
        if line.startswith("-----"):
            inside = not inside
            continue
        if inside or not line.strip() or line.strip().startswith(noise):
            continue
        keep.append(line)
    return keep


def loom_lines(text):
    """loom's own lines ("loom: ...") in a stderr text."""
    return [l for l in without_mpi_noise(text) if l.startswith("loom: ")]


def unescape(s):
    """Undoes the joblog's escaping of \\t \\n \\r and \\\\."""
    out, i = [], 0
    table = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in table:
            out.append(table[s[i + 1]])
            i += 2
        else:
            if c == "\\":
                raise ValueError("stray backslash in joblog field: %r" % s)
            out.append(c)
            i += 1
    return "".join(out)


def read_joblog(rundir):
    """joblog.tsv as a list of dicts, numbers converted, command unescaped.
    Checks the header and the shape of every row."""
    path = os.path.join(rundir, "joblog.tsv")
    with open(path, encoding="utf-8", newline="\n") as f:
        text = f.read()
    assert text.endswith("\n"), "%s does not end in a newline" % path
    lines = text[:-1].split("\n")
    assert lines[0].split("\t") == JOBLOG_COLUMNS, \
        "%s: bad header %r" % (path, lines[0])
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        f = line.split("\t")
        assert len(f) == len(JOBLOG_COLUMNS), \
            "%s:%d: %d fields, expected %d: %r" % (path, n, len(f),
                                                   len(JOBLOG_COLUMNS), line)
        assert len(f[0]) == 16 and int(f[0], 16) >= 0, \
            "%s:%d: bad id %r" % (path, n, f[0])
        assert len(f[1]) == 16 and int(f[1], 16) > 0, \
            "%s:%d: bad key %r" % (path, n, f[1])
        row = {
            "id": f[0], "key": f[1], "line": int(f[2]), "rank": int(f[3]),
            "host": f[4], "start": float(f[5]), "elapsed": float(f[6]),
            "exit": int(f[7]), "signal": int(f[8]), "status": f[9],
            "attempt": int(f[10]), "cpus": f[11], "command": unescape(f[12]),
        }
        assert row["status"] in STATUSES, "%s:%d: bad status %r" % (
            path, n, row["status"])
        assert row["host"], "%s:%d: empty host" % (path, n)
        assert row["elapsed"] >= 0, "%s:%d: negative elapsed" % (path, n)
        rows.append(row)
    return rows


def read_report(rundir):
    with open(os.path.join(rundir, "report.json"), encoding="utf-8") as f:
        return json.load(f)


def output_path(rundir, task_id, attempt, ext):
    """Where a task's captured output lies: out/XX/ID.ATTEMPT.out|err."""
    return os.path.join(rundir, "out", task_id[:2],
                        "%s.%d.%s" % (task_id, attempt, ext))


def output_files(rundir):
    """Every file under RUNDIR/out, as paths relative to RUNDIR."""
    found = set()
    top = os.path.join(rundir, "out")
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            found.add(os.path.relpath(os.path.join(dirpath, name), rundir))
    return found


def read_text(path):
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def summarize_joblog(rows):
    """Totals as report.json should give them: distinct tasks, tasks whose
    last attempt succeeded, failed or was cancelled by a stop, attempts."""
    last = {}
    for r in rows:
        if r["id"] not in last or r["attempt"] > last[r["id"]]["attempt"]:
            last[r["id"]] = r
    ok = sum(1 for r in last.values() if r["status"] == "ok")
    cancelled = sum(1 for r in last.values() if r["status"] == "cancelled")
    return {"total": len(last), "succeeded": ok,
            "failed": len(last) - ok - cancelled, "cancelled": cancelled,
            "attempts": len(rows)}


def readme_block(after):
    """The first code block after the text `after` in the README, whole."""
    text = read_text(os.path.join(SOURCE_ROOT, "README.md"))
    rest = text[text.index(after):]
    block = rest[rest.index("```\n") + 4:]
    return block[:block.index("```")]


def worker_ranks(np):
    """Ranks that run tasks: 1..np-1, or 0 when one rank does everything."""
    return {0} if np == 1 else set(range(1, np))


class LoomTestCase(unittest.TestCase):
    """A test case with a fresh temporary directory per test (self.tmp) and
    run helpers that put the full output in a failure message."""

    maxDiff = 4000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="loomtest-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        return p

    def loom(self, args, np=None, expect_rc=None, **kw):
        kw.setdefault("cwd", self.tmp)
        r = run_loom(args, np=np, **kw)
        if expect_rc is not None:
            self.assertEqual(r.rc, expect_rc,
                             "unexpected exit status\n" + r.describe())
        return r

    def assertReportMatchesJoblog(self, rundir, rows, np, run=None):
        """report.json agrees with the joblog: totals, workers, per-worker
        counts."""
        rep = read_report(rundir)
        ctx = "\n" + run.describe() if run else ""
        self.assertEqual(rep["tasks"], summarize_joblog(rows),
                         "report totals differ from the joblog" + ctx)
        self.assertEqual(rep["workers"], max(1, np - 1), ctx)
        self.assertEqual(rep["master_runs_tasks"], np == 1, ctx)
        self.assertTrue(rep["complete"], ctx)
        self.assertIsNone(rep["error"], ctx)
        self.assertEqual(rep["loom_version"], "0.1.0")
        pw = rep["per_worker"]
        self.assertEqual(sorted(w["rank"] for w in pw),
                         sorted(worker_ranks(np)), ctx)
        self.assertEqual(sum(w["tasks"] for w in pw), len(rows),
                         "per_worker task counts do not sum to attempts" + ctx)
        failed_rows = sum(1 for r in rows if r["status"] != "ok")
        self.assertEqual(sum(w["failed"] for w in pw), failed_rows, ctx)
        for w in pw:
            self.assertEqual(
                w["tasks"], sum(1 for r in rows if r["rank"] == w["rank"]),
                "per_worker[rank %d] disagrees with the joblog" % w["rank"] +
                ctx)
        return rep


def main():
    unittest.main(verbosity=2)
