#!/usr/bin/env python3
"""loombench.py - loom's benchmarks, one program (standard library only).

Subcommands (each has its own --help):
  suite         the one command: strong and weak scaling, METG, peers
                (mpi4py.futures, GNU parallel, xargs) side by side and the
                single master's ceiling, into bench/results/<host>-<date>/
  dispatch      loom's dispatch rate against two MPI master/worker baselines,
                and `loom run` spawning shell tasks against a shell loop
  balance-sim   every policy against the lower bound in `loom sim`
  balance-real  the same in real `loom run` jobs of 3-5 ranks
  slowdown      a worker slowed down by a CPU hog in the middle of a run
  bigfile       memory of the task-file reader and of whole runs, 10k-10M
                lines
  state         the state table's calls per consistency mode, beside an MPI
                ping-pong and a textbook key-value owner
  plot          PNG plots (gnuplot) of every CSV that exists; `plot dispatch`
                or `plot balance` draws one family

The benchmarks write CSV files to bench/results/ (LOOM_BENCH_RESULTS or
--results DIR moves them), take an optional CMake build directory (default
build/, configured and built for the targets they need) and a --quick mode.
They are not tests: speed is never asserted.

Importable: the row formatters, the summaries (medians), the CSV readers,
the lower bound and the gnuplot script builders are plain functions, and
main(argv) runs a subcommand.
"""

import argparse
import csv
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = "loombench.py"

# Where each CMake target's binary lies in a build directory.
TARGET_PATHS = {
    "loom": "engine/loom",
    "bench-textbook": "bench/bench-textbook",
    "bench-batched": "bench/bench-batched",
    "bench-dispatch": "bench/bench-dispatch",
    "bench-taskfile-scan": "bench/bench-taskfile-scan",
    "bench-taskfile-run": "bench/bench-taskfile-run",
    "bench-state": "bench/bench-state",
}

# ---------------------------------------------------------------------------
# The help texts: what used to be each script's header comment.

DISPATCH_HELP = """\
dispatch - how fast loom dispatches tasks, next to two MPI master/worker
baselines (bench/textbook.c, bench/batched.c), and how fast `loom run`
spawns shell tasks next to a plain shell loop.

usage: bench/loombench.py dispatch [--quick | --smoke] [--results DIR]
                                   [--no-build] [BUILD_DIR]
  BUILD_DIR      a CMake build directory (default: build/); configured and
                 built here if needed
  --quick        a ~1 minute smoke run (fewer tasks and repeats)
  --smoke        a few seconds: 2 and 3 ranks, one repeat, tiny workloads
                 (checks that it works, measures nothing)
  --results DIR  where the CSV files go (default: bench/results, or
                 LOOM_BENCH_RESULTS)
  --no-build     use the binaries already in BUILD_DIR

For 2, 3 and 4 ranks it runs textbook, batched, loom and loom-array (the
same tasks as one task array) round-robin, one mpirun per repeat, so every
implementation sees the same machine noise and the ratios stay comparable: (a) empty tasks, (b) 1 ms spin tasks, scaled
to ~2 s of work per repeat. Writes every row to bench/results/dispatch.csv,
the medians per (impl, ranks, work) with the ratios loom/batched and
loom/textbook of tasks_per_s to bench/results/dispatch_summary.csv, and
prints the summary. Then `loom run` of a file of `true` commands against
a shell loop spawning as many processes (rows loom-run-true, with the
report.json makespan as loom-run-true-makespan, and sh-loop-true).
LOOM_BENCH_RESULTS moves the output. Not part of the tests: speed is never
asserted. Needs ~5 minutes here (2 cores), --quick ~1 minute.
Plot with `bench/loombench.py plot dispatch`.
"""

BALANCE_SIM_HELP = """\
balance-sim - how close each policy gets to the lower bound, from the
offline simulator (loom sim: the same policy code loom run uses).

usage: bench/loombench.py balance-sim [--quick | --smoke] [--results DIR]
                                      [--no-build] [BUILD_DIR]
  --quick        16 and 256 workers only (about a minute here); the full
                 run adds 4096 and 100,000 workers (~5-10 minutes here)
  --smoke        16 workers, 100 tasks per worker only (a few seconds)
  --results DIR  where the CSV goes (default: bench/results, or
                 LOOM_BENCH_RESULTS)
  --no-build     use the loom binary already in BUILD_DIR (default build/)
Workloads (mean 10 ms at speed 1): fixed, uniform, lognormal (sigma 1),
pareto (alpha 1.5, capped at 100 x the mean: a few tasks 50-100x); with
and without cost hints; workers homogeneous, or two speed classes 1:2 and
1:4 (the policy is told the speeds as weights); window 2 and 16; 100 tasks
per worker (at most 10 million), and 1,000 per worker at 16 and 256
workers. The look-ahead covers the whole workload (--lookahead = tasks),
so `weighted` with hints hands out the longest task first. Each row also
has the makespan of an ideal greedy scheduler that sees the tasks in the
same order without hints (no latency, no batching): the best an online
scheduler without hints can hope for. Writes bench/results/balance_sim.csv
(LOOM_BENCH_RESULTS moves it) and prints the best policy per case.
Plot with `bench/loombench.py plot balance`.
"""

BALANCE_REAL_HELP = """\
balance-real - how close each policy gets to the lower bound in real
`loom run` jobs of 3-5 MPI ranks on this machine (the simulator's
counterpart is `bench/loombench.py balance-sim`).

usage: bench/loombench.py balance-real [--quick | --smoke] [--results DIR]
                                       [--no-build] [BUILD_DIR]
  BUILD_DIR      a CMake build directory (default: build/); configured and
                 built here if needed
  --quick        one repetition of a few cases (~2-3 minutes here); the full
                 run has more cases and 3 repetitions (~15 minutes here)
  --smoke        one repetition of two small cases (homog lognormal with
                 hints, spin fixed; about half a minute)
  --results DIR  where the CSV files go (default: bench/results, or
                 LOOM_BENCH_RESULTS)
  --no-build     use the loom binary already in BUILD_DIR

Workloads: about 40 tasks per worker, mean 40 ms at speed 1, drawn by loom
itself (`loom sim --durations`, seed 6: the same draws as `loom sim --seed
6` and the spin kind), rounded to microseconds: fixed, uniform (0-2x
mean), lognormal (sigma 1), pareto (alpha 1.5, capped at 100x mean; seed 6
is the first seed whose first 80 draws hold a task over 50x the mean). A
shell task is `sleep $((US*${SLOW:-1}))e-6`, so a rank with SLOW=k runs k
times slower; the hinted files add `#loom cost=SECONDS` (the speed-1
duration).
Worker sets (rank 0 is the master):
  homog   2-4 equal workers (np 3, 4, 5)
  fake    np 5: two fast workers and two k times slower (k = 2, 4), the
          weights told by a fake topology (LOOM_TOPOLOGY synthetic, 4
          cores fast, 4/k slow); checked in report.json's per_worker
  untold  the same 1:4 speeds without a topology: equal weights, only the
          online speed correction can tell
  spin    np 3, the spin kind (CPU-bound), master and worker 1 pinned to
          core 0, worker 2 to core 1 beside a CPU hog: about 1:2
Policies least-loaded rr wrr weighted static, interleaved (the order
rotates per case), window 2; the fake 1:4 set also with --window 16.
Lower bound: max(sum(d) / sum(speeds), max(d) / max(speed)) from the
speed-1 durations d. Sleep sets use the nominal speeds (1 and 1/k), so the
shell's start-up (overhead_ms) counts against the policy. The spin set
uses each rank's speed measured in that run: sum of d over sum of elapsed
of its tasks. Each row also has `loom sim`'s ratio for the same workload,
speeds, weights, policy and window (sim_ratio).
Every run must succeed (exit 0, every task ok, tasks and weights as
expected) or it stops. Writes every run to bench/results/balance_real.csv
and the medians over the repetitions to balance_real_summary.csv
(LOOM_BENCH_RESULTS moves both), and prints the best policy per case.
LOOM_BALANCE_REPS=N sets the repetitions; LOOM_BALANCE_ALL=1 runs all
eight workload/hint variants in every case (about 15 minutes a
repetition); LOOM_BALANCE_KEEP=DIR keeps every run directory there. Plot
with `bench/loombench.py plot balance`.
"""

SLOWDOWN_HELP = """\
slowdown - does a worker that slows down in the middle of a run lose work?
Real runs at np 3 of CPU-bound tasks (the spin kind, 20 ms each, with and
without cost hints): the master and worker 1 pinned to core 0, worker 2 to
core 1. Once a third of the tasks are done, a CPU hog starts on core 1, so
worker 2 runs at about half speed from then on. From each run's joblog:
worker 2's share of the tasks started before the hog and after it (from
0.5 s after the hog started), the share its measured speeds would call
fair (speed 2 / (speed 1 + speed 2), from the task times after the hog),
and the gap between the two workers' last completions (a policy that kept
feeding the slow worker ends late on it).

usage: bench/loombench.py slowdown [--quick] [--results DIR] [--no-build]
                                   [BUILD_DIR]
  --quick        one repetition (about 40 s here); the full run has 3
  --results DIR  where the CSV files go (default: bench/results, or
                 LOOM_BENCH_RESULTS)
  --no-build     use the loom binary already in BUILD_DIR (default build/)
Policies weighted, least-loaded, wrr and static, interleaved. Writes
bench/results/slowdown.csv (one row per run) and slowdown_summary.csv
(medians); LOOM_BENCH_RESULTS moves them.
"""

BIGFILE_HELP = """\
bigfile - does loom's task-file reader stream? Generates task files of
10k, 100k, 1M and 10M lines (": task N", a shell no-op) in a temp dir and
reads each through loom_taskfile_open/next/close (bench/taskfile_scan.c),
recording lines, tasks, seconds and the peak resident memory. A flat
maxrss_kib column means memory does not grow with the file. Then the same
files go through a whole run of the real master (bench/taskfile_run.c: 2
ranks, joblog written, each task's kind swapped for a C no-op, since 10M
shell tasks would measure process creation for hours): bigfile_run.csv
has the master's peak memory, with the default policy (least-loaded: the
file streams) and with `weighted` on the same lines hinted (`#loom
cost=...`), which holds up to the default look-ahead (1,000,000 tasks) in
memory to hand out the longest first.

usage: bench/loombench.py bigfile [--quick | --smoke] [--results DIR]
                                  [--no-build] [BUILD_DIR]
  BUILD_DIR      a CMake build directory (default: build/)
  --quick        stop at 1M lines
  --smoke        10k lines only (a few seconds)
  --results DIR  where the CSV files go (default: bench/results, or
                 LOOM_BENCH_RESULTS)
  --no-build     use the binaries already in BUILD_DIR
Writes bench/results/bigfile.csv and bigfile_run.csv (LOOM_BENCH_RESULTS
moves them).
"""

PLOT_HELP = """\
plot - PNG plots of the benchmark CSVs with gnuplot (pngcairo where gnuplot
has it, else png). Without a family, draws every plot whose CSV exists.

usage: bench/loombench.py plot [dispatch | balance | state] [--results DIR]
                               [--output DIR]
  --results DIR  holds the CSVs (default: bench/results, or
                 LOOM_BENCH_RESULTS)
  --output DIR   where the PNGs go (default: the results directory)

plot dispatch: from dispatch_summary.csv (`bench/loombench.py dispatch`):
  dispatch_empty.png  tasks/s by ranks for empty tasks, per impl (log y)
  dispatch_1ms.png    efficiency by ranks for 1 ms spin tasks, per impl,
                      with the bound this machine's cores put on it
plot state: from state_summary.csv (`bench/loombench.py state`):
  state.png  fetch-add latency (median) and calls per second per client by
             ranks: ping-pong, the textbook owner, loom strong (idle and
             with a busy worker), causal, eventual (log y)
plot balance: the balance benchmarks
  balance_real.png  real runs (`bench/loombench.py balance-real`): makespan
                    / lower bound per policy, one bar per policy in each
                    case (median, whiskers min-max over the repetitions,
                    a dot for loom sim's ratio on the same case), one
                    panel per worker set; from balance_real_summary.csv
                    (else balance_real.csv)
  balance_sim.png   the simulator (`bench/loombench.py balance-sim`): each
                    policy's makespan / lower bound against the worker
                    count (log x), and the best policy's; a panel per
                    workload and hints, at one speed mix and window
                    (LOOM_PLOT_SPEEDS, default 1:4; LOOM_PLOT_WINDOW,
                    default 2; LOOM_PLOT_TASKS_PER_WORKER picks one task
                    count per worker, default 100 where present)
  Both y axes show the excess over the bound on a log scale (a ratio of
  1.01 is as visible as one of 3), labelled as ratios. A missing CSV skips
  its plot.
"""

# ---------------------------------------------------------------------------
# What the benchmarks share.


class BenchError(Exception):
    """A benchmark failed; main() prints the message and exits 1."""


def say(msg):
    """A progress or diagnostic line on stderr."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def results_dir(given=None):
    """--results DIR, else LOOM_BENCH_RESULTS, else bench/results."""
    return given or os.environ.get("LOOM_BENCH_RESULTS") or os.path.join(
        ROOT, "bench", "results")


def build_dir(given=None):
    """The build directory as an absolute path (default build/)."""
    return os.path.realpath(given or os.path.join(ROOT, "build"))


def target_path(build, target):
    return os.path.join(build, TARGET_PATHS[target])


def bench_build(build, targets, no_build=False):
    """Configures BUILD if it has no CMakeCache.txt and builds the targets
    (their output hidden, errors shown). True when they built; with
    no_build, True when their binaries are there."""
    if no_build:
        return all(os.path.exists(target_path(build, t)) for t in targets)
    if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
        rc = subprocess.run(["cmake", "-S", ROOT, "-B", build,
                             "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                            stdout=subprocess.DEVNULL).returncode
        if rc != 0:
            raise BenchError("cmake could not configure %s" % build)
    return subprocess.run(["cmake", "--build", build, "-j", "2", "--target"] +
                          list(targets),
                          stdout=subprocess.DEVNULL).returncode == 0


def require_build(opts, targets):
    if not bench_build(opts.build, targets, opts.no_build):
        raise BenchError("%s: %s %s" % (
            opts.build, "missing" if opts.no_build else "could not build",
            " ".join(targets)))


def mpi_env(force=False):
    """Our environment with Open MPI's TCP traffic on loopback and its ob1
    messaging layer (what one machine uses, without 0.2 s of probes for
    Omni-Path hardware at each start): forced, or only where not set
    already."""
    env = dict(os.environ)
    for k, v in (("OMPI_MCA_btl_tcp_if_include", "lo"),
                 ("OMPI_MCA_oob_tcp_if_include", "lo"),
                 ("OMPI_MCA_pml", "ob1")):
        if force:
            env[k] = v
        else:
            env.setdefault(k, v)
    return env


def is_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def mpirun_unbound():
    """mpirun for the real runs: more ranks than cores, no binding (the
    benchmarks pin with taskset), root allowed where we are root."""
    argv = ["mpirun", "--oversubscribe", "--bind-to", "none"]
    if is_root():
        argv.append("--allow-run-as-root")
    return argv


def _killpg(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(proc):
    """Kills a process started with start_new_session and its group."""
    if proc is not None and proc.poll() is None:
        _killpg(proc, signal.SIGKILL)
    if proc is not None:
        proc.wait()


def run_timeout(argv, timeout, kill_after=10, **kw):
    """Runs argv in its own process group as timeout(1) would: after
    timeout seconds the group gets SIGTERM, kill_after seconds later
    SIGKILL. Returns the exit status, 124 on a timeout."""
    proc = subprocess.Popen(argv, start_new_session=True, **kw)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            _killpg(proc, signal.SIGKILL)
            proc.wait()
        return 124
    except BaseException:
        stop_group(proc)
        raise


def tail_lines(path, n):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).rstrip("\n")
    except OSError:
        return ""


def publish(raw, summary, summarize):
    """Moves the finished raw CSV (written as RAW.tmp) into place, writes
    the summary summarize() makes of its rows, and prints its table."""
    os.replace(raw + ".tmp", raw)
    lines, table = summarize(read_csv(raw))
    with open(summary, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(table))
    print("wrote %s and %s" % (raw, summary))


def median(values):
    """The median of numbers (or numeric strings); None when there are none
    or one of them is empty."""
    values = list(values)
    if not values or any(v is None or v == "" for v in values):
        return None
    return statistics.median(float(v) for v in values)


def read_csv(path):
    """A CSV file with a header as a list of dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_csv_lists(path):
    """A CSV file as lists of fields, header excluded."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[1:]


def read_joblog(path):
    """A joblog.tsv as a list of dicts (strings, nothing unescaped)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t",
                                   quoting=csv.QUOTE_NONE))


def columns(lines, sep=","):
    """Aligns CSV lines into columns, as `column -s, -t` does."""
    rows = [l.split(sep) for l in lines]
    if not rows:
        return []
    ncol = max(len(r) for r in rows)
    width = [max(len(r[i]) for r in rows if i < len(r)) for i in range(ncol)]
    return ["  ".join(c.ljust(width[i]) for i, c in enumerate(r)).rstrip()
            for r in rows]


def mode_of(opts):
    if getattr(opts, "smoke", False):
        return "smoke"
    return "quick" if opts.quick else "full"


# ---------------------------------------------------------------------------
# dispatch

DISPATCH_HEADER = ("impl,ranks,workers,work,task_s,tasks,seconds,tasks_per_s,"
                   "overhead_us_per_task,efficiency")
DISPATCH_SUMMARY_HEADER = (
    "impl,ranks,workers,work,task_s,tasks,runs,seconds,tasks_per_s,"
    "overhead_us_per_task,efficiency,loom_over_batched,loom_over_textbook")
DISPATCH_MODES = {
    # spin_tasks_per_worker: 2000 = 2 s of work per repeat, 200 = 0.2 s.
    "full": dict(repeats=5, empty_tasks=1000000, spin_tasks_per_worker=2000,
                 true_tasks=2000, ranks=(2, 3, 4), run_ranks=(2, 3)),
    "quick": dict(repeats=3, empty_tasks=20000, spin_tasks_per_worker=200,
                  true_tasks=300, ranks=(2, 3, 4), run_ranks=(2, 3)),
    "smoke": dict(repeats=1, empty_tasks=2000, spin_tasks_per_worker=20,
                  true_tasks=20, ranks=(2, 3), run_ranks=(2,)),
}
SPIN_SECONDS = 0.001
DISPATCH_TIMEOUT = 300  # seconds for one mpirun; a hang is the typical bug


def dispatch_row(impl, ranks, workers, work, tasks, seconds):
    """A raw dispatch.csv row for a timed loop of processes (no task_s, no
    efficiency)."""
    if seconds <= 0:
        seconds = 1e-9  # a clock step; keeps the row finite
    return "%s,%d,%d,%s,0,%d,%.6f,%.1f,%.3f," % (
        impl, ranks, workers, work, tasks, seconds, tasks / seconds,
        workers * seconds / tasks * 1e6)


def dispatch_summary(rows):
    """The lines of dispatch_summary.csv (header first) from the raw rows
    (lists of fields, header excluded): medians of seconds, tasks_per_s,
    overhead_us_per_task and efficiency per (impl, ranks, work) in the
    order they first appear, and loom's tasks_per_s over batched's and
    textbook's at the same ranks and work."""
    groups = {}
    for f in rows:
        f = list(f) + [""] * (10 - len(f))
        groups.setdefault((f[0], f[1], f[3]), []).append(f)
    med = {key: [median(f[c] for f in rs) for c in range(6, 10)]
           for key, rs in groups.items()}

    def num(v):
        return 0.0 if v is None else v

    out = [DISPATCH_SUMMARY_HEADER]
    for key, rs in groups.items():
        f, m = rs[0], med[key]
        rb = rt = ""
        if f[0] in ("loom", "loom-array"):
            for base, which in (("batched", "rb"), ("textbook", "rt")):
                b = med.get((base, f[1], f[3]))
                if b is not None and b[1] is not None and b[1] > 0:
                    ratio = "%.3f" % (num(m[1]) / b[1])
                    if which == "rb":
                        rb = ratio
                    else:
                        rt = ratio
        eff = "" if m[3] is None else "%.4f" % m[3]
        out.append("%s,%s,%s,%s,%s,%s,%d,%.6f,%.1f,%.3f,%s,%s,%s" % (
            f[0], f[1], f[2], f[3], f[4], f[5], len(rs), num(m[0]),
            num(m[1]), num(m[2]), eff, rb, rt))
    return out


def report_makespan(path):
    """report.json's makespan in seconds, None when absent."""
    try:
        with open(path) as f:
            rep = json.load(f)
    except (OSError, ValueError):
        return None
    mk = rep.get("makespan_s", rep.get("makespan"))
    return mk if isinstance(mk, (int, float)) else None


def shell_loop_seconds(n, body):
    """Seconds a bash loop takes to run BODY n times, timed in the shell."""
    script = ('t0=$EPOCHREALTIME; for _ in $(seq %d); do %s; done; '
              't1=$EPOCHREALTIME; echo "$t0 $t1"' % (n, body))
    out = subprocess.run(["bash", "-c", script], check=True, text=True,
                         stdout=subprocess.PIPE,
                         env=dict(os.environ, LC_ALL="C")).stdout.split()
    return float(out[1]) - float(out[0])


def run_dispatch(opts):
    p = DISPATCH_MODES[mode_of(opts)]
    results = results_dir(opts.results)
    raw = os.path.join(results, "dispatch.csv")
    summary = os.path.join(results, "dispatch_summary.csv")
    env = mpi_env(force=True)
    mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe"]

    # 1. Build what is missing. The baselines need only MPI; if libloom does
    # not build, the loom rows are left out rather than the whole run.
    require_build(opts, ["bench-textbook", "bench-batched"])
    have_loom = bench_build(opts.build, ["bench-dispatch"], opts.no_build)
    if not have_loom:
        say("%s dispatch: bench-dispatch does not build: no loom rows" % PROG)
    have_cli = bench_build(opts.build, ["loom"], opts.no_build)
    if not have_cli:
        say("%s dispatch: the loom CLI does not build: no loom-run rows"
            % PROG)
    exes = {i: target_path(opts.build, "bench-" + i)
            for i in ("textbook", "batched")}
    exes["loom"] = exes["loom-array"] = target_path(opts.build,
                                                    "bench-dispatch")
    # loom-array: the same tasks as one task array (loom_task_spec.count).
    impl_args = {"loom-array": ["--array"]}
    loom = target_path(opts.build, "loom")

    os.makedirs(results, exist_ok=True)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="loombench_dispatch.") as tmp, \
            open(raw, "w") as out:
        out.write(DISPATCH_HEADER + "\n")
        out.flush()
        row_path, err_path = os.path.join(tmp, "row"), os.path.join(tmp, "err")

        def run_impl(impl, np_, args):
            # One mpirun: one timed repeat after one untimed warm-up.
            nonlocal failed
            with open(row_path, "w") as so, open(err_path, "w") as se:
                rc = run_timeout(mpirun + ["-np", str(np_), exes[impl],
                                           "--repeat", "1", "--warmup", "1"] +
                                 impl_args.get(impl, []) + args,
                                 DISPATCH_TIMEOUT, stdout=so, stderr=se,
                                 env=env)
            if rc != 0:
                say("%s dispatch: %s -np %d %s failed:" % (
                    PROG, impl, np_, " ".join(args)))
                say(tail_lines(err_path, 5))
                failed += 1
                return
            with open(row_path) as f:
                out.write(f.read())
            out.flush()

        impls = ["textbook", "batched"] + (["loom", "loom-array"]
                                           if have_loom else [])
        # 2. The dispatch rows: for each rank count and workload, `repeats`
        # rounds of one mpirun per implementation.
        for np_ in p["ranks"]:
            workers = np_ - 1
            for work in ("none", "spin"):
                if work == "none":
                    args = ["--work", "none", "--tasks",
                            str(p["empty_tasks"])]
                else:
                    args = ["--work", "spin", "--seconds", "%g" % SPIN_SECONDS,
                            "--tasks",
                            str(p["spin_tasks_per_worker"] * workers)]
                say("ranks=%d work=%s: %s x %d" % (np_, work, " ".join(impls),
                                                   p["repeats"]))
                for _ in range(p["repeats"]):
                    for impl in impls:
                        run_impl(impl, np_, args)

        # 3. Process creation: `loom run` of a file of `true` commands
        # against a shell loop spawning the same number of processes,
        # /bin/true directly and through `sh -c` as loom runs every command.
        n = p["true_tasks"]
        tasks_file = os.path.join(tmp, "true.tasks")
        with open(tasks_file, "w") as f:
            f.write("true\n" * n)
        say("process creation: %d tasks x %d" % (n, p["repeats"]))
        for rnd in range(1, p["repeats"] + 1):
            out.write(dispatch_row("sh-loop-true", 1, 1, "bin-true", n,
                                   shell_loop_seconds(n, "/bin/true")) + "\n")
            out.write(dispatch_row("sh-loop-true", 1, 1, "sh-c-true", n,
                                   shell_loop_seconds(n, "sh -c true")) + "\n")
            out.flush()
            if not have_cli:
                continue
            for np_ in p["run_ranks"]:
                rundir = os.path.join(tmp, "run-%d-%d" % (np_, rnd))
                t0 = time.time()
                with open(os.path.join(tmp, "out"), "w") as so, \
                        open(err_path, "w") as se:
                    rc = run_timeout(mpirun + ["-np", str(np_), loom, "run",
                                               "--quiet", "--output", rundir,
                                               tasks_file], DISPATCH_TIMEOUT,
                                     stdout=so, stderr=se, env=env)
                t1 = time.time()
                if rc != 0:
                    say("%s dispatch: loom run -np %d failed:" % (PROG, np_))
                    say(tail_lines(err_path, 5))
                    failed += 1
                    shutil.rmtree(rundir, ignore_errors=True)
                    continue
                # Wall time includes mpirun's launch; the report's makespan
                # (first dispatch to last completion) does not: both kept.
                out.write(dispatch_row("loom-run-true", np_, np_ - 1,
                                       "sh-c-true", n, t1 - t0) + "\n")
                mk = report_makespan(os.path.join(rundir, "report.json"))
                if mk is not None and mk > 0:
                    out.write(dispatch_row("loom-run-true-makespan", np_,
                                           np_ - 1, "sh-c-true", n, mk) + "\n")
                out.flush()
                shutil.rmtree(rundir, ignore_errors=True)

    # 4. Medians per (impl, ranks, work) and the ratios.
    lines = dispatch_summary(read_csv_lists(raw))
    with open(summary, "w") as f:
        f.write("\n".join(lines) + "\n")
    say("raw rows: %s" % raw)
    say("summary:  %s" % summary)
    print("\n".join(columns(lines)))
    if failed:
        raise BenchError("%d run(s) failed (see above)" % failed)
    return 0


# ---------------------------------------------------------------------------
# balance-sim

BALANCE_SIM_HEADER = (
    "workers,tasks,workload,hints,speeds,window,policy,makespan_s,"
    "lower_bound_s,ratio,greedy_s,ratio_greedy,makespan_over_greedy,"
    "imbalance,efficiency,lookahead,sim_seconds")
# static-unweighted: static with every weight 1, i.e. plain round-robin
# dealt out up front, blind to the speeds: the baseline that heterogeneous
# workers punish by their speed ratio.
SIM_POLICIES = ["least-loaded", "rr", "wrr", "weighted", "static",
                "static-unweighted"]
SIM_WORKLOADS = {
    "fixed": ["--dist", "fixed"],
    "uniform": ["--dist", "uniform"],
    "lognormal": ["--dist", "lognormal", "--sigma", "1"],
    "pareto": ["--dist", "pareto", "--alpha", "1.5", "--cap", "1"],
}
SIM_SPEEDS = ["1:1", "1:2", "1:4"]
SIM_MAX_TASKS = 10000000


def balance_sim_cases(mode):
    """(workers, tasks) of each case: 100 tasks per worker (at most 10
    million), and 1,000 per worker at 16 and 256 workers."""
    if mode == "smoke":
        return [(16, 1600)]
    sizes = [16, 256] if mode == "quick" else [16, 256, 4096, 100000]
    cases = []
    for n in sizes:
        cases.append((n, min(n * 100, SIM_MAX_TASKS)))
        if n <= 256:
            cases.append((n, min(n * 1000, SIM_MAX_TASKS)))
    return cases


def balance_sim_skip(workers, workload, speeds, window):
    """The largest runs: only the heavy-tailed workloads at one speed mix;
    no window 16 from 4096 workers on."""
    if workers >= 100000 and (speeds != "1:4" or
                              workload in ("fixed", "uniform")):
        return True
    return workers >= 4096 and window == 16


def balance_sim_args(workers, tasks, workload, hints, speeds, window, policy):
    """loom's arguments for one balance_sim.csv row."""
    pol = (["--policy", "static", "--weights", "flat"]
           if policy == "static-unweighted" else ["--policy", policy])
    args = (["sim", "--json", "--workers", str(workers), "--tasks",
             str(tasks), "--mean", "0.01"] + SIM_WORKLOADS[workload] +
            ["--speeds", speeds, "--window", str(window)] + pol +
            ["--lookahead", str(tasks)])
    if hints == "yes":
        args.append("--hints")
    return args


def balance_sim_row(workers, tasks, workload, hints, speeds, window, policy,
                    r):
    """A balance_sim.csv row from `loom sim --json`'s object r."""
    b = r["balance"]
    return ",".join([
        str(workers), str(tasks), workload, hints, speeds, str(window),
        policy, "%.6g" % r["makespan_s"], "%.6g" % b["lower_bound_s"],
        "%.4f" % b["makespan_over_lower_bound"], "%.6g" % b["greedy_s"],
        "%.4f" % (b["greedy_s"] / b["lower_bound_s"]),
        "%.4f" % b["makespan_over_greedy"], "%.4f" % b["imbalance"],
        "%.4f" % b["efficiency"], str(r["lookahead"]),
        "%.3f" % r["sim_seconds"]])


def balance_sim_table(rows):
    """The best policy per case, from balance_sim.csv's rows (dicts)."""
    cases = {}
    for r in rows:
        key = (int(r["workers"]), int(r["tasks"]), r["workload"], r["hints"],
               r["speeds"], r["window"])
        cases.setdefault(key, []).append(r)
    out = ["workers    tasks workload  hints speeds window  best policy "
           "(ratio)   greedy  least-loaded   rr  static  unweighted"]
    for key in sorted(cases):
        rs = cases[key]
        best = min(rs, key=lambda r: float(r["ratio"]))
        by = {r["policy"]: r for r in rs}

        def ratio(p):
            return float(by[p]["ratio"]) if p in by else float("nan")

        out.append("%7d %8d %-9s %-5s %-6s %6s  %-12s %6.3f   %6.3f  %12.3f "
                   "%6.3f %7.3f %11.3f" % (
                       key + (best["policy"], float(best["ratio"]),
                              float(best["ratio_greedy"]),
                              ratio("least-loaded"), ratio("rr"),
                              ratio("static"), ratio("static-unweighted"))))
    return out


def run_balance_sim(opts):
    results = results_dir(opts.results)
    out_path = os.path.join(results, "balance_sim.csv")
    require_build(opts, ["loom"])
    loom = target_path(opts.build, "loom")
    os.makedirs(results, exist_ok=True)
    with open(out_path + ".tmp", "w") as out:
        out.write(BALANCE_SIM_HEADER + "\n")
        for n, tasks in balance_sim_cases(mode_of(opts)):
            for workload in SIM_WORKLOADS:
                for speeds in SIM_SPEEDS:
                    for hints in ("no", "yes"):
                        for window in (2, 16):
                            if balance_sim_skip(n, workload, speeds, window):
                                continue
                            for p in SIM_POLICIES:
                                argv = [loom] + balance_sim_args(
                                    n, tasks, workload, hints, speeds, window,
                                    p)
                                r = subprocess.run(argv, text=True,
                                                   stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE)
                                if r.returncode != 0:
                                    raise BenchError("%s: exit %d\n%s" % (
                                        " ".join(argv), r.returncode,
                                        r.stderr.rstrip()))
                                out.write(balance_sim_row(
                                    n, tasks, workload, hints, speeds, window,
                                    p, json.loads(r.stdout)) + "\n")
            out.flush()
            say("%s balance-sim: %d workers, %d tasks done" % (PROG, n, tasks))
    os.replace(out_path + ".tmp", out_path)
    print("\n".join(balance_sim_table(read_csv(out_path))))
    return 0


# ---------------------------------------------------------------------------
# balance-real

REAL_HEADER = (
    "rep,case,kind,ranks,workers,workload,hints,speeds,weights_told,window,"
    "policy,tasks,makespan_s,lower_bound_s,ratio,imbalance,efficiency,"
    "report_ratio,weights,speeds_measured,tasks_per_worker,overhead_ms,"
    "sim_ratio,wall_s")
REAL_KEY = ["case", "kind", "ranks", "workers", "workload", "hints", "speeds",
            "weights_told", "window"]
REAL_MED = ["makespan_s", "lower_bound_s", "ratio", "imbalance", "efficiency",
            "overhead_ms", "sim_ratio"]
REAL_SUMMARY_HEADER = ",".join(REAL_KEY + ["policy", "reps"] + REAL_MED +
                               ["ratio_min", "ratio_max"])
REAL_SEED = 6
REAL_MEAN = 0.04
REAL_PER_WORKER = 40
REAL_POLICIES = ["least-loaded", "rr", "wrr", "weighted", "static"]
REAL_TIMEOUT = 180  # seconds for one mpirun; a hang is the typical bug
REAL_TOPO = "synthetic:pack:1 core:8 pu:1"
REAL_WORKLOADS = ["fixed", "uniform", "lognormal", "pareto"]
REAL_SIGMA, REAL_ALPHA, REAL_CAP = 1.0, 1.5, 100  # the cap in means
ALL_VARIANTS = ["fixed", "fixed+h", "uniform", "uniform+h", "lognormal",
                "lognormal+h", "pareto", "pareto+h"]
# The cases: "SET NP SPEEDS WINDOW VARIANT...", a variant being a workload
# with +h for cost hints.
REAL_CASES = {
    "smoke": ["homog 3 1:1 2 lognormal+h",
              "spin 3 1:2 2 fixed"],
    "quick": ["homog 3 1:1 2 lognormal pareto+h",
              "homog 5 1:1 2 fixed",
              "fake 5 1:2 2 uniform",
              "fake 5 1:4 2 lognormal+h",
              "fake 5 1:4 16 lognormal+h",
              "untold 5 1:4 2 fixed",
              "spin 3 1:2 2 lognormal+h"],
    "full": ["homog 3 1:1 2 lognormal pareto+h",
             "homog 4 1:1 2 uniform pareto+h",
             "homog 5 1:1 2 fixed lognormal+h pareto+h",
             "fake 5 1:2 2 lognormal+h",
             "fake 5 1:4 2 lognormal pareto+h",
             "fake 5 1:4 16 lognormal+h",
             "untold 5 1:4 2 fixed lognormal",
             "spin 3 1:2 2 fixed lognormal+h"],
}


def balance_real_cases(mode, all_variants=False):
    """The cases of a mode as [set, np, speeds, window, variants]; with
    all_variants every case runs all eight workload/hint variants."""
    cases = []
    for c in REAL_CASES[mode]:
        f = c.split()
        cases.append([f[0], int(f[1]), f[2], int(f[3]),
                      list(ALL_VARIANTS) if all_variants else f[4:]])
    return cases


def dist_args(workload, mean):
    """The workload as loom sim / spin-kind arguments (name: value)."""
    a = {"dist": workload, "mean": repr(mean)}
    if workload == "lognormal":
        a["sigma"] = repr(REAL_SIGMA)
    if workload == "pareto":
        a.update(alpha=repr(REAL_ALPHA), cap=repr(REAL_CAP * mean))
    return a


def durations_us(loom, workload, tasks, seed=REAL_SEED, mean=REAL_MEAN):
    """Each task's duration at speed 1 in microseconds, as loom itself draws
    it (`loom sim --durations`: the spin and sleep kinds' draws)."""
    argv = [loom, "sim", "--durations", "--tasks", str(tasks), "--seed",
            str(seed)]
    for k, v in dist_args(workload, mean).items():
        argv += ["--" + k, v]
    r = subprocess.run(argv, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise BenchError("%s: exit %d\n%s" % (" ".join(argv), r.returncode,
                                              r.stderr.rstrip()))
    us = [max(0, round(float(x) * 1e6)) for x in r.stdout.split()]
    if len(us) != tasks:
        raise BenchError("%s printed %d durations, expected %d" % (
            " ".join(argv), len(us), tasks))
    return us


def write_real_taskfiles(base, workload, seed, us):
    """BASE.base (microseconds, one a line), BASE-n.txt (sleep tasks) and
    BASE-h.txt (the same with cost hints)."""
    n = len(us)
    with open(base + ".base", "w") as f:
        f.write("".join("%d\n" % u for u in us))
    with open(base + "-n.txt", "w") as f:
        f.write("# %s, %d tasks, seed %d\n" % (workload, n, seed))
        f.write("".join("sleep $((%d*${SLOW:-1}))e-6\n" % u for u in us))
    with open(base + "-h.txt", "w") as f:
        f.write("# %s, %d tasks, seed %d, cost hints\n" % (workload, n, seed))
        f.write("".join("sleep $((%d*${SLOW:-1}))e-6  #loom cost=%.6f\n"
                        % (u, u / 1e6) for u in us))


def real_gen(loom, d, seed, mean, workloads, counts):
    """The task files of every workload and task count in directory d."""
    for wl in workloads:
        for n in counts:
            write_real_taskfiles("%s/%s-%d" % (d, wl, n), wl, seed,
                                 durations_us(loom, wl, n, seed, mean))


def lower_bound(durations, speeds):
    """No schedule ends before max(sum(d) / sum(speeds), max(d) /
    max(speeds)): all the work at the combined speed, and the longest task
    on the fastest worker."""
    return max(sum(durations) / sum(speeds), max(durations) / max(speeds))


def real_row(kv):
    """Checks one real run and returns (its balance_real.csv row, the line
    to print). kv holds strings: rundir, loom, base, seed, mean, rep, case,
    kind, ranks, workers, workload, hints, speeds, weights_told, window,
    policy, tasks, slow, expect_weights, t0, t1. Raises BenchError when
    the run is not what was expected."""
    rundir, n = kv["rundir"], int(kv["tasks"])
    what = "%s %s np %s %s %s window %s %s" % (
        kv["case"], kv["kind"], kv["ranks"], kv["workload"],
        "hints" if kv["hints"] == "yes" else "no-hints", kv["window"],
        kv["policy"])

    def die(msg):
        raise BenchError("FAILED: %s: %s" % (what, msg))

    try:
        with open(os.path.join(rundir, "report.json")) as f:
            rep = json.load(f)
        log = read_joblog(os.path.join(rundir, "joblog.tsv"))
    except (OSError, ValueError) as e:
        die(str(e))
    t = rep["tasks"]
    if not rep.get("complete") or t["total"] != n or t["succeeded"] != n \
            or t["failed"] or t["attempts"] != n:
        die("report.json says complete=%s tasks=%s (expected %d ok)"
            % (rep.get("complete"), t, n))
    # Task files start with one comment line: task k is on line k + 1.
    off = 0 if kv["kind"] == "spin" else 1
    bad = [r for r in log if r["status"] != "ok" or r["exit"] != "0"]
    if len(log) != n or bad or sorted(int(r["line"]) for r in log) != \
            list(range(1 + off, n + 1 + off)):
        die("joblog has %d rows, %d not ok, or not every line once"
            % (len(log), len(bad)))
    with open(kv["base"]) as f:
        base = [int(x) / 1e6 for x in f]
    workers = sorted(w["rank"] for w in rep["per_worker"])
    if len(workers) != int(kv["workers"]):
        die("%d workers, expected %s" % (len(workers), kv["workers"]))
    weights = [w["weight"] for w in sorted(rep["per_worker"],
                                           key=lambda w: w["rank"])]
    want = kv["expect_weights"]
    if want == "equal":
        if max(weights) - min(weights) > 1e-9:
            die("weights %s, expected all equal" % weights)
    elif [float(x) for x in want.split("/")] != weights:
        die("weights %s, expected %s (fake topology not applied?)"
            % (weights, want))
    busy = {r: 0.0 for r in workers}
    work = {r: 0.0 for r in workers}
    ntask = {r: 0 for r in workers}
    for r in log:
        k = int(r["rank"])
        busy[k] += float(r["elapsed"])
        work[k] += base[int(r["line"]) - 1 - off]
        ntask[k] += 1
    measured = {r: (work[r] / busy[r] if busy[r] > 0 else float("nan"))
                for r in workers}
    slow = [float(x) for x in kv["slow"].split("/")]
    if kv["kind"] == "spin":
        if any(ntask[r] == 0 or busy[r] <= 0 for r in workers):
            die("a worker ran no task; its speed is unknown")
        speeds = [measured[r] for r in workers]
        overhead = ""
    else:
        speeds = [1 / s for s in slow]
        over = [float(r["elapsed"]) - base[int(r["line"]) - 1 - off]
                * slow[workers.index(int(r["rank"]))] for r in log]
        overhead = "%.2f" % (1e3 * statistics.mean(over))
    lb = lower_bound(base, speeds)
    b = rep["balance"]
    ratio = rep["makespan_s"] / lb
    # The simulator on the same workload, speeds, weights and policy.
    sim = [kv["loom"], "sim", "--json", "--workers", str(len(workers)),
           "--tasks", str(n), "--seed", kv["seed"], "--policy", kv["policy"],
           "--window", kv["window"], "--speeds",
           ",".join("%.6gx1" % s for s in speeds),
           "--weights", "known" if kv["weights_told"] == "yes" else "flat"]
    for k, v in dist_args(kv["workload"], float(kv["mean"])).items():
        sim += ["--" + k, v]
    if kv["hints"] == "yes":
        sim.append("--hints")
    try:
        s = json.loads(subprocess.run(sim, check=True, capture_output=True,
                                      text=True).stdout)
        sim_ratio = "%.4f" % s["balance"]["makespan_over_lower_bound"]
        slb = s["balance"]["lower_bound_s"]
        if abs(slb - lb) > 1e-3 * lb + 1e-5:
            say("%s balance-real: warning: %s: loom sim's lower bound %.6g, "
                "ours %.6g" % (PROG, what, slb, lb))
    except (subprocess.CalledProcessError, ValueError, KeyError) as e:
        say("%s balance-real: warning: loom sim: %s" % (PROG, e))
        sim_ratio = ""
    out = [kv["rep"], kv["case"], kv["kind"], kv["ranks"], kv["workers"],
           kv["workload"], kv["hints"], kv["speeds"], kv["weights_told"],
           kv["window"], kv["policy"], str(n),
           "%.4f" % rep["makespan_s"], "%.4f" % lb, "%.4f" % ratio,
           "%.4f" % b["imbalance"], "%.4f" % b["efficiency"],
           "%.4f" % b["makespan_over_lower_bound"],
           "/".join("%g" % w for w in weights),
           "/".join("%.3f" % measured[r] for r in workers),
           "/".join(str(ntask[r]) for r in workers),
           overhead, sim_ratio,
           "%.2f" % (float(kv["t1"]) - float(kv["t0"]))]
    line = "%-58s %7.3f s  bound %6.3f  ratio %6.3f  sim %s" % (
        what, rep["makespan_s"], lb, ratio, sim_ratio or "-")
    return ",".join(out), line


def balance_real_summary(rows):
    """(the lines of balance_real_summary.csv, header first; the table of
    the best policy per case) from balance_real.csv's rows (dicts): medians
    over the repetitions per case and policy, with the ratio's min and
    max."""
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in REAL_KEY + ["policy"]),
                          []).append(r)

    def med(rs, col):
        v = [float(r[col]) for r in rs if r[col] != ""]
        return statistics.median(v) if v else None

    lines = [REAL_SUMMARY_HEADER]
    for key, rs in groups.items():
        vals = [med(rs, c) for c in REAL_MED]
        rat = [float(r["ratio"]) for r in rs]
        lines.append(",".join(list(key) + [str(len(rs))] +
                              ["" if v is None else "%.4f" % v for v in vals] +
                              ["%.4f" % min(rat), "%.4f" % max(rat)]))
    cases = {}
    for key, rs in groups.items():
        cases.setdefault(key[:-1], {})[key[-1]] = med(rs, "ratio")
    pols = REAL_POLICIES
    table = ["", "makespan / lower bound, median of %d repetition(s):"
             % max([len(v) for v in groups.values()] or [0])]
    table.append("%-6s %2s %-9s %-5s %-5s %-4s %3s  %-19s %s" % (
        "set", "np", "workload", "hints", "speed", "told", "win",
        "best (ratio)", "  ".join("%8s" % p[:8] for p in pols)))
    order = {"homog": 0, "fake": 1, "untold": 2, "spin": 3}
    for key in sorted(cases, key=lambda k: (order.get(k[0], 9), int(k[2]),
                                            k[6], int(k[8]), k[4], k[5])):
        by = cases[key]
        best = min(by, key=by.get)
        table.append("%-6s %2s %-9s %-5s %-5s %-4s %3s  %-12s %6.3f %s" % (
            key[0], key[2], key[4], key[5], key[6], key[7], key[8], best,
            by[best], "  ".join("%8s" % ("%.3f" % by[p] if p in by else "-")
                                for p in pols)))
    return lines, table


def real_apps(loom, run_args, set_, np_, k, topo=REAL_TOPO):
    """mpirun's app contexts for a worker set: (argv tail, slow factors
    "1/1/k/k", expected weights "equal" or "4/4/2/2", weights told
    yes/no)."""
    apps = []

    def app(env=(), cpu=None):
        if apps:
            apps.append(":")
        apps.extend(["-n", "1"])
        for e in env:
            apps.extend(["-x", e])
        if cpu is not None:
            apps.extend(["taskset", "-c", str(cpu)])
        apps.extend([loom, "run"] + run_args)

    workers = np_ - 1
    told = "yes"
    if set_ == "homog":
        for _ in range(np_):
            app()
        slow = "/".join(["1"] * workers)
        expect = "equal"
    elif set_ == "fake":
        app()
        for _ in range(2):
            app(["LOOM_TOPOLOGY=" + topo, "LOOM_CPUSET=0-3"])
        # 4 / k cores: 0-1 at half speed, 0 at a quarter.
        for _ in range(2):
            app(["SLOW=%d" % k, "LOOM_TOPOLOGY=" + topo,
                 "LOOM_CPUSET=0" + ("-1" if k == 2 else "")])
        slow = "1/1/%d/%d" % (k, k)
        expect = "4/4/%d/%d" % (4 // k, 4 // k)
    elif set_ == "untold":
        told = "no"
        for _ in range(3):
            app()
        for _ in range(2):
            app(["SLOW=%d" % k])
        slow = "1/1/%d/%d" % (k, k)
        expect = "equal"
    elif set_ == "spin":
        told = "no"
        app(cpu=0)
        app(cpu=0)
        app(cpu=1)
        slow = "1/1"  # unused: spin speeds are measured
        expect = "equal"
    else:
        raise BenchError("unknown worker set %s" % set_)
    return apps, slow, expect, told


def start_hog(cpu):
    """A busy loop pinned to cpu."""
    return subprocess.Popen(["taskset", "-c", str(cpu), "sh", "-c",
                             "while :; do :; done"])


def stop_hog(hog):
    if hog is not None and hog.poll() is None:
        hog.kill()
    if hog is not None:
        hog.wait()


def git_describe():
    try:
        r = subprocess.run(["git", "-C", ROOT, "describe", "--always",
                            "--dirty"], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def run_balance_real(opts):
    mode = mode_of(opts)
    results = results_dir(opts.results)
    raw = os.path.join(results, "balance_real.csv")
    summary = os.path.join(results, "balance_real_summary.csv")
    require_build(opts, ["loom"])
    reps = int(os.environ.get("LOOM_BALANCE_REPS") or
               (3 if mode == "full" else 1))
    cases = balance_real_cases(mode,
                               os.environ.get("LOOM_BALANCE_ALL", "0") == "1")
    keep = os.environ.get("LOOM_BALANCE_KEEP", "")
    env = mpi_env()
    mpirun = mpirun_unbound()

    hog = None
    with tempfile.TemporaryDirectory(prefix="loombench_balance_real.") as work:
        try:
            # A copy of the binary: a rebuild during the run changes nothing.
            loom = os.path.join(work, "loom")
            shutil.copy2(target_path(opts.build, "loom"), loom)
            version = subprocess.run([loom, "--version"], capture_output=True,
                                     text=True).stdout.strip()
            say("%s balance-real: %s, tree %s, %d repetition(s)" % (
                PROG, version, git_describe(), reps))
            # Task files for every workload and worker count.
            counts = sorted({(c[1] - 1) * REAL_PER_WORKER for c in cases})
            real_gen(loom, work, REAL_SEED, REAL_MEAN, REAL_WORKLOADS, counts)
            os.makedirs(results, exist_ok=True)
            with open(raw + ".tmp", "w") as f:
                f.write(REAL_HEADER + "\n")

            run_id = 0

            def run_one(rep, set_, np_, speeds, window, wl, hints, policy):
                nonlocal run_id
                workers = np_ - 1
                tasks = workers * REAL_PER_WORKER
                k = int(speeds.split(":")[1])
                run_id += 1
                rundir = os.path.join(work, "run-%d" % run_id)
                run_args = ["-q", "-o", rundir, "--policy", policy,
                            "--window", str(window)]
                kind = "sleep"
                if set_ == "spin":
                    kind = "spin"
                    run_args += ["--kind", "spin", "--count", str(tasks),
                                 "-a", "dist=" + wl, "-a",
                                 "mean=%g" % REAL_MEAN, "-a",
                                 "seed=%d" % REAL_SEED, "-a",
                                 "hint=%d" % (hints == "yes")]
                    if wl == "lognormal":
                        run_args += ["-a", "sigma=%g" % REAL_SIGMA]
                    elif wl == "pareto":
                        run_args += ["-a", "alpha=%g" % REAL_ALPHA, "-a",
                                     "cap=%g" % (REAL_CAP * REAL_MEAN)]
                else:
                    run_args.append(os.path.join(work, "%s-%d-%s.txt" % (
                        wl, tasks, "h" if hints == "yes" else "n")))
                apps, slow, expect, told = real_apps(loom, run_args, set_,
                                                     np_, k)
                log = os.path.join(work, "mpirun.log")
                t0 = time.time()
                with open(log, "w") as lf:
                    rc = run_timeout(mpirun + apps, REAL_TIMEOUT,
                                     stdout=lf, stderr=subprocess.STDOUT,
                                     env=env)
                if rc != 0:
                    raise BenchError(
                        "FAILED: mpirun exit %d (%s np %d %s hints=%s window "
                        "%d %s):\n%s" % (rc, set_, np_, wl, hints, window,
                                         policy, tail_lines(log, 20)))
                row, line = real_row(dict(
                    rundir=rundir, loom=loom,
                    base=os.path.join(work, "%s-%d.base" % (wl, tasks)),
                    seed=str(REAL_SEED), mean="%g" % REAL_MEAN, rep=str(rep),
                    case=set_, kind=kind, ranks=str(np_),
                    workers=str(workers), workload=wl, hints=hints,
                    speeds=speeds, weights_told=told, window=str(window),
                    policy=policy, tasks=str(tasks), slow=slow,
                    expect_weights=expect, t0=repr(t0),
                    t1=repr(time.time())))
                with open(raw + ".tmp", "a") as f:
                    f.write(row + "\n")
                print(line, flush=True)
                if keep:
                    os.makedirs(keep, exist_ok=True)
                    shutil.move(rundir, os.path.join(
                        keep, "r%d-%s-np%d-%s-w%d-%s-%s-%s" % (
                            rep, set_, np_, speeds, window, wl, hints,
                            policy)))
                else:
                    shutil.rmtree(rundir, ignore_errors=True)

            start = time.time()
            ncase = 0
            for rep in range(1, reps + 1):
                for set_, np_, speeds, window, variants in cases:
                    for v in variants:
                        wl = v[:-2] if v.endswith("+h") else v
                        hints = "yes" if v != wl else "no"
                        if set_ == "spin":
                            # Worker 2 shares core 1 with a busy loop.
                            hog = start_hog(1)
                        # Interleaved policies; the first one rotates.
                        for i in range(len(REAL_POLICIES)):
                            p = REAL_POLICIES[(i + ncase) % len(REAL_POLICIES)]
                            run_one(rep, set_, np_, speeds, window, wl, hints,
                                    p)
                        ncase += 1
                        stop_hog(hog)
                        hog = None
                say("%s balance-real: repetition %d of %d done (%d s)" % (
                    PROG, rep, reps, time.time() - start))
        finally:
            stop_hog(hog)
    publish(raw, summary, balance_real_summary)
    say("%s balance-real: %d s" % (PROG, time.time() - start))
    return 0


# ---------------------------------------------------------------------------
# slowdown

SLOWDOWN_HEADER = (
    "rep,policy,hints,tasks,hog_after_tasks,share2_before,share2_after,"
    "share2_fair,speed2_over_speed1,end_gap_s,makespan_s")
SLOWDOWN_COLS = ["share2_before", "share2_after", "share2_fair",
                 "speed2_over_speed1", "end_gap_s", "makespan_s"]
SLOWDOWN_SUMMARY_HEADER = "policy,hints,reps," + ",".join(SLOWDOWN_COLS)
SLOWDOWN_POLICIES = ["weighted", "least-loaded", "wrr", "static"]
SLOWDOWN_TASKS = 300


def joblog_rows(rundir):
    """The joblog rows so far (header excluded), 0 before there is one."""
    try:
        with open(os.path.join(rundir, "joblog.tsv"), "rb") as f:
            return f.read().count(b"\n") - 1
    except OSError:
        return 0


def slowdown_row(rows, hog, rep, policy, hints, tasks, hog_rows):
    """A slowdown.csv row from a run's joblog rows (dicts of strings) and
    the time the hog started (seconds since the epoch)."""
    if len(rows) != int(tasks) or any(r["status"] != "ok" for r in rows):
        raise BenchError("%s (hints %s): not every task succeeded"
                         % (policy, hints))
    rows = [dict(r, start=float(r["start"]), elapsed=float(r["elapsed"]))
            for r in rows]

    def share2(rs):
        return (sum(r["rank"] == "2" for r in rs) / len(rs) if rs
                else float("nan"))

    before = [r for r in rows if r["start"] + r["elapsed"] < hog]
    after = [r for r in rows if r["start"] >= hog + 0.5]
    t = {}
    for k in ("1", "2"):
        el = [r["elapsed"] for r in after if r["rank"] == k]
        if not el:
            raise BenchError("%s (hints %s): worker %s started no task 0.5 s "
                             "after the hog" % (policy, hints, k))
        t[k] = statistics.median(el)
    ratio = t["1"] / t["2"]  # speed 2 / speed 1
    end = {k: max(r["start"] + r["elapsed"] for r in rows if r["rank"] == k)
           for k in ("1", "2")}
    first = min(r["start"] for r in rows)
    return "%s,%s,%s,%s,%s,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f" % (
        rep, policy, hints, tasks, hog_rows, share2(before), share2(after),
        ratio / (1 + ratio), ratio, end["2"] - end["1"],
        max(end.values()) - first)


def slowdown_summary(rows):
    """(the lines of slowdown_summary.csv, header first; the printed
    table) from slowdown.csv's rows (dicts): medians per policy and hints."""
    groups = {}
    for r in rows:
        groups.setdefault((r["policy"], r["hints"]), []).append(r)
    lines = [SLOWDOWN_SUMMARY_HEADER]
    table = ["policy        hints  worker 2's share: before  after  fair"
             "   end gap (s)  makespan (s)"]
    for (policy, hints), rs in sorted(groups.items()):
        med = [statistics.median(float(r[c]) for r in rs)
               for c in SLOWDOWN_COLS]
        lines.append("%s,%s,%d,%s" % (policy, hints, len(rs),
                                      ",".join("%.3f" % m for m in med)))
        table.append("%-13s %-5s  %22.3f %6.3f %5.3f %13.3f %13.3f" % (
            policy, hints, med[0], med[1], med[2], med[4], med[5]))
    return lines, table


def run_slowdown(opts):
    require_build(opts, ["loom"])
    results = results_dir(opts.results)
    out_path = os.path.join(results, "slowdown.csv")
    summary = os.path.join(results, "slowdown_summary.csv")
    reps = 1 if opts.quick else 3
    tasks = SLOWDOWN_TASKS
    env = mpi_env()
    mpirun = mpirun_unbound()
    hog = job = None
    with tempfile.TemporaryDirectory(prefix="loombench_slowdown.") as work:
        try:
            loom = os.path.join(work, "loom")  # a rebuild cannot change it
            shutil.copy2(target_path(opts.build, "loom"), loom)
            os.makedirs(results, exist_ok=True)
            with open(out_path + ".tmp", "w") as f:
                f.write(SLOWDOWN_HEADER + "\n")
            n = 0
            for rep in range(1, reps + 1):
                for hints in ("no", "yes"):
                    for i in range(len(SLOWDOWN_POLICIES)):
                        policy = SLOWDOWN_POLICIES[
                            (i + n) % len(SLOWDOWN_POLICIES)]
                        rundir = os.path.join(work, "run-%d-%s-%s" % (
                            rep, hints, policy))
                        args = ["run", "-q", "-o", rundir, "--policy", policy,
                                "--kind", "spin", "--count", str(tasks),
                                "-a", "dist=fixed", "-a", "mean=0.02", "-a",
                                "hint=%d" % (hints == "yes")]
                        argv = list(mpirun)
                        for j, cpu in enumerate((0, 0, 1)):
                            argv += ([":"] if j else []) + [
                                "-n", "1", "taskset", "-c", str(cpu),
                                loom] + args
                        job = subprocess.Popen(argv, env=env,
                                               start_new_session=True)
                        while joblog_rows(rundir) < tasks // 3 and \
                                job.poll() is None:
                            time.sleep(0.02)
                        hog = start_hog(1)
                        hog_at = time.time()
                        hog_rows = joblog_rows(rundir)
                        rc = job.wait()
                        job = None
                        if rc != 0:
                            raise BenchError("FAILED: %s (hints %s), see "
                                             "above" % (policy, hints))
                        stop_hog(hog)
                        hog = None
                        row = slowdown_row(
                            read_joblog(os.path.join(rundir, "joblog.tsv")),
                            hog_at, rep, policy, hints, tasks, hog_rows)
                        with open(out_path + ".tmp", "a") as f:
                            f.write(row + "\n")
                        say(row)
                    n += 1
        finally:
            stop_hog(hog)
            stop_group(job)
    publish(out_path, summary, slowdown_summary)
    return 0


# ---------------------------------------------------------------------------
# bigfile

BIGFILE_HEADER = "lines,tasks,seconds,maxrss_kib"
BIGFILE_RUN_HEADER = "lines,policy,tasks,seconds,master_maxrss_kib,joblog_mib"
BIGFILE_SIZES = {
    "full": [10000, 100000, 1000000, 10000000],
    "quick": [10000, 100000, 1000000],
    "smoke": [10000],
}


def write_bigfile(path, n, hinted=False):
    """n task lines ": task N" (a shell no-op); hinted adds a cost hint of
    1-100 ms ("#loom cost=0.001" to "0.100")."""
    fmt = ": task %d #loom cost=0.%03d\n" if hinted else ": task %d\n"
    with open(path, "w") as f:
        for lo in range(1, n + 1, 100000):
            hi = min(n, lo + 99999)
            if hinted:
                f.write("".join(fmt % (i, i % 100 + 1)
                                for i in range(lo, hi + 1)))
            else:
                f.write("".join(fmt % i for i in range(lo, hi + 1)))


def human_size(nbytes):
    """A size as `du -h` writes it: 1024-based, rounded up, one decimal
    below 10."""
    if nbytes <= 0:
        return "0"
    v, units = nbytes / 1024.0, "KMGTP"
    u = 0
    while v >= 1024 and u < len(units) - 1:
        v /= 1024
        u += 1
    if v < 10:
        v = math.ceil(v * 10) / 10
        if v < 10:
            return "%.1f%s" % (v, units[u])
    return "%d%s" % (math.ceil(v), units[u])


def run_bigfile(opts):
    results = results_dir(opts.results)
    out_path = os.path.join(results, "bigfile.csv")
    run_out = os.path.join(results, "bigfile_run.csv")
    require_build(opts, ["bench-taskfile-scan", "bench-taskfile-run"])
    scan = target_path(opts.build, "bench-taskfile-scan")
    run = target_path(opts.build, "bench-taskfile-run")
    mpirun = ["mpirun", "--oversubscribe"] + (
        ["--allow-run-as-root"] if is_root() else [])
    env = mpi_env()
    os.makedirs(results, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loombench_bigfile.") as tmp, \
            open(out_path + ".tmp", "w") as out, \
            open(run_out + ".tmp", "w") as rout:
        out.write(BIGFILE_HEADER + "\n")
        rout.write(BIGFILE_RUN_HEADER + "\n")
        for n in BIGFILE_SIZES[mode_of(opts)]:
            path = os.path.join(tmp, "tasks-%d" % n)
            write_bigfile(path, n)
            # bench-taskfile-scan prints "tasks,seconds,maxrss_kib".
            r = subprocess.run([scan, path], text=True,
                               stdout=subprocess.PIPE)
            row = r.stdout.strip()
            if r.returncode != 0 or row.split(",")[0] != str(n):
                raise BenchError("%d lines gave %s tasks" % (
                    n, row.split(",")[0] or "no"))
            out.write("%d,%s\n" % (n, row))
            out.flush()
            say("%d lines: %s (%s file)" % (
                n, row, human_size(os.stat(path).st_blocks * 512)))
            # The same lines with cost hints, for the weighted policy.
            write_bigfile(path + ".hinted", n, hinted=True)
            rundir = os.path.join(tmp, "run-%d" % n)
            for policy in ("least-loaded", "weighted"):
                src = path + ".hinted" if policy == "weighted" else path
                shutil.rmtree(rundir, ignore_errors=True)
                r = subprocess.run(mpirun + ["-np", "2", run, src, rundir,
                                             policy], text=True, env=env,
                                   stdout=subprocess.PIPE)
                row = r.stdout.strip()
                if r.returncode != 0 or row.split(",")[0] != str(n):
                    raise BenchError("the run of %d lines (%s) gave %s" % (
                        n, policy, row or "nothing (exit %d)" % r.returncode))
                joblog = os.path.getsize(os.path.join(
                    rundir, "joblog.tsv")) // 1048576
                rout.write("%d,%s,%s,%d\n" % (n, policy, row, joblog))
                rout.flush()
                say("%d lines, whole run, %s: %s" % (n, policy, row))
            os.remove(path + ".hinted")
            os.remove(path)
            shutil.rmtree(rundir, ignore_errors=True)
    os.replace(out_path + ".tmp", out_path)
    os.replace(run_out + ".tmp", run_out)
    with open(out_path) as f:
        print("\n".join(columns(f.read().splitlines())))
    print()
    with open(run_out) as f:
        print("\n".join(columns(f.read().splitlines())))
    return 0


# ---------------------------------------------------------------------------
# plot

# ---------------------------------------------------------------------------
# state: the state table's calls.

SLOTS_HELP = """\
slots - one worker rank per node with N slots against N worker ranks of one
slot each, on the same tasks, in the same run (loom run --slots).

usage: bench/loombench.py slots [--quick | --smoke] [--results DIR]
                                [--no-build] [BUILD_DIR]
  BUILD_DIR      a CMake build directory (default: build/); configured and
                 built here if needed
  --quick        a ~1 minute run (fewer tasks, one repeat)
  --smoke        a few seconds (checks that it works, measures nothing)
  --results DIR  where the CSV files go (default: bench/results, or
                 LOOM_BENCH_RESULTS)
  --no-build     use the binaries already in BUILD_DIR

N is the number of cores this process may use. The two layouts run in turn
on three workloads: `true` shell tasks from a task file, 1 ms spin tasks
(the spin kind) and empty C tasks (the noop kind). Each run is one mpirun
with the ranks unbound; each rank runs under /usr/bin/time, whose peak
resident sizes summed are the memory of the node (master included; skipped
with a line when /usr/bin/time is missing). The master's messages per task
come from report.json. Writes every run to bench/results/slots.csv and the
medians with the ratios slots/ranks to slots_summary.csv.
"""

STATE_HELP = """\
state - how fast the state table answers, per consistency mode, beside the
MPI ping-pong round trip and the textbook key-value server (one owner rank
answering blocking requests), all measured in the same run.

usage: bench/loombench.py state [--quick | --smoke] [--results DIR]
                                [--no-build] [BUILD_DIR]
  --quick        one repeat, fewer calls (~1 minute)
  --smoke        2 ranks, a few hundred calls (checks that it works)

For 2, 3 and 4 ranks, round-robin within each repeat: pingpong; owner with
the add, put and mixed mixes; loom in strong, causal and eventual mode with
add (fetch-add on one counter), put (16-byte values on 64 keys), get and
mixed (50% get, 30% put, 10% cas in strong mode or put, 10% add); and, at
3 and 4 ranks, strong add while worker 1 runs a long C task (busy). Every
client rank times each call (bench/state.c). Rows go to
bench/results/state.csv; bench/results/state_summary.csv has the medians
over clients and repeats per (impl, mode, mix, ranks), and the ratios the
issue asks for: strong fetch-add latency over the ping-pong round trip,
causal and eventual put throughput over strong's, and strong latency with
a busy worker over without. Not a test: nothing is asserted.
"""

STATE_HEADER = ("impl,mode,mix,ranks,client,ops,seconds,ops_per_s,"
                "lat_median_us,lat_p99_us,rep")


def state_cases(ranks):
    """(impl, mode, mix, extra args) of one repeat at a rank count."""
    cases = [("pingpong", "-", "-", [])]
    cases += [("owner", "-", mix, []) for mix in ("add", "put", "mixed")]
    for mode in ("strong", "causal", "eventual"):
        cases += [("loom", mode, mix, []) for mix in
                  ("add", "put", "get", "mixed")]
    if ranks >= 3:
        cases.append(("loom-busy", "strong", "add", ["--busy", "0"]))
    return cases


def group_medians(rows, key_of, fields):
    """Rows grouped by key_of(row), in key order: (key, the group's rows,
    the median of each of fields)."""
    groups = {}
    for r in rows:
        groups.setdefault(key_of(r), []).append(r)
    return [(key, groups[key],
             tuple(median(r[f] for r in groups[key]) for f in fields))
            for key in sorted(groups)]


def state_summary(rows):
    """Medians per (impl, mode, mix, ranks), then the ratios."""
    lines = ["impl,mode,mix,ranks,clients,ops_per_s,lat_median_us,lat_p99_us"]
    med = {}
    for key, rs, m in group_medians(
            rows, lambda r: (r["impl"], r["mode"], r["mix"], int(r["ranks"])),
            ("ops_per_s", "lat_median_us", "lat_p99_us")):
        med[key] = m
        lines.append("%s,%s,%s,%d,%d,%.0f,%.2f,%.2f" % (key + (len(rs),) + m))
    lines.append("")
    lines.append("ratio,ranks,value")
    for n in sorted({k[3] for k in med}):
        ping = med.get(("pingpong", "-", "-", n))
        add = med.get(("loom", "strong", "add", n))
        put = med.get(("loom", "strong", "put", n))
        busy = med.get(("loom-busy", "strong", "add", n))
        if ping and add:
            lines.append("strong_add_latency_over_pingpong,%d,%.2f" % (
                n, add[1] / ping[1]))
        for mode in ("causal", "eventual"):
            weak = med.get(("loom", mode, "put", n))
            if weak and put:
                lines.append("%s_put_throughput_over_strong,%d,%.1f" % (
                    mode, n, weak[0] / put[0]))
        if busy and add:
            lines.append("strong_add_latency_busy_over_idle,%d,%.2f" % (
                n, busy[1] / add[1]))
    return lines, columns(lines)


def run_state(opts):
    require_build(opts, ["bench-state"])
    mode = mode_of(opts)
    results = results_dir(opts.results)
    out_path = os.path.join(results, "state.csv")
    summary = os.path.join(results, "state_summary.csv")
    reps = 3 if mode == "full" else 1
    ops = {"full": 20000, "quick": 5000, "smoke": 300}[mode]
    ranks = [2] if mode == "smoke" else [2, 3, 4]
    binary = target_path(opts.build, "bench-state")
    env = mpi_env()
    os.makedirs(results, exist_ok=True)
    with open(out_path + ".tmp", "w") as f:
        f.write(STATE_HEADER + "\n")
    for rep in range(1, reps + 1):
        for n in ranks:
            for impl, mode_, mix, extra in state_cases(n):
                # The busy worker spins for as long as the others call.
                if impl == "loom-busy":
                    extra = ["--busy", "%g" % max(0.5, ops * 40e-6)]
                argv = mpirun_unbound() + ["-n", str(n), binary, "--impl",
                                           impl.split("-")[0], "--ops",
                                           str(ops)]
                if mode_ != "-":
                    argv += ["--mode", mode_]
                if mix != "-":
                    argv += ["--mix", mix]
                r = subprocess.run(argv + extra, env=env, text=True,
                                   stdout=subprocess.PIPE, timeout=600)
                if r.returncode != 0:
                    raise BenchError("FAILED: %s" % " ".join(argv + extra))
                with open(out_path + ".tmp", "a") as f:
                    for line in r.stdout.splitlines():
                        if line.count(",") == 9:
                            f.write("%s%s,%d\n" % (
                                impl, line[line.index(","):], rep))
                say("state: rep %d, %d ranks, %s %s %s" % (rep, n, impl,
                                                            mode_, mix))
    publish(out_path, summary, state_summary)
    return 0


# ---------------------------------------------------------------------------
# slots

SLOTS_HEADER = ("layout,workload,ranks,workers,slots,tasks,seconds,"
                "tasks_per_s,msgs_per_task,node_rss_mib,rep")
SLOTS_MODES = {
    "full": dict(reps=3, true=2000, spin=4000, noop=400000),
    "quick": dict(reps=1, true=400, spin=800, noop=50000),
    "smoke": dict(reps=1, true=10, spin=10, noop=100),
}


def slots_run(loom, layout, ranks, extra, work, base, rep, env):
    """One mpirun; returns a slots.csv row (without the newline)."""
    tag = "%s-%s-%d" % (layout, work[0], rep)
    rundir = os.path.join(base, tag)
    rss = os.path.join(base, "rss-" + tag)
    timed = []
    if os.path.exists("/usr/bin/time"):
        # One file per rank: the wrapper names it by Open MPI's rank.
        timed = ["sh", "-c", 'exec /usr/bin/time -f %M -o "$0.$OMPI_COMM_'
                 'WORLD_RANK" "$@"', rss]
    argv = (mpirun_unbound() + ["-n", str(ranks)] + timed +
            [loom, "run", "-q", "-o", rundir] + extra + work[1])
    t0 = time.monotonic()
    rc = run_timeout(argv, 600, env=env, stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - t0
    if rc != 0:
        raise BenchError("FAILED (exit %d): %s" % (rc, " ".join(argv)))
    with open(os.path.join(rundir, "report.json")) as f:
        rep_ = json.load(f)
    tasks = rep_["tasks"]["attempts"]
    node = ""
    if timed:
        kib = 0
        for r in range(ranks):
            with open("%s.%d" % (rss, r)) as f:
                kib += int(f.read().split()[-1])
        node = "%.1f" % (kib / 1024.0)
    shutil.rmtree(rundir, ignore_errors=True)
    slots = extra[1] if extra else "1"
    return "%s,%s,%d,%d,%s,%d,%.4f,%.1f,%.4f,%s,%d" % (
        layout, work[0], ranks, ranks - 1, slots, tasks, seconds,
        tasks / seconds, rep_["messages"]["per_task"], node, rep)


def slots_summary(rows):
    """Medians per (layout, workload), then slots over ranks."""
    lines = ["workload,layout,ranks,slots,runs,tasks_per_s,msgs_per_task,"
             "node_rss_mib"]
    med = {}
    for key, rs, m in group_medians(
            rows, lambda r: (r["workload"], r["layout"]),
            ("tasks_per_s", "msgs_per_task", "node_rss_mib")):
        med[key] = m
        lines.append("%s,%s,%s,%s,%d,%.1f,%.4f,%s" % (
            key + (rs[0]["ranks"], rs[0]["slots"], len(rs), m[0], m[1],
                   "%.1f" % m[2] if m[2] is not None else "")))
    lines.append("")
    lines.append("workload,throughput_slots_over_ranks,"
                 "msgs_slots_over_ranks,rss_slots_over_ranks")
    for work in sorted({k[0] for k in med}):
        a, b = med.get((work, "slots")), med.get((work, "ranks"))
        if a and b:
            lines.append("%s,%.3f,%.3f,%s" % (
                work, a[0] / b[0], a[1] / b[1] if b[1] else 0,
                "%.3f" % (a[2] / b[2]) if a[2] and b[2] else ""))
    return lines, columns(lines)


def run_slots(opts):
    require_build(opts, ["loom"])
    mode = mode_of(opts)
    m = SLOTS_MODES[mode]
    n = max(2, ncores())
    loom = target_path(opts.build, "loom")
    results = results_dir(opts.results)
    out_path = os.path.join(results, "slots.csv")
    summary = os.path.join(results, "slots_summary.csv")
    env = mpi_env()
    if not os.path.exists("/usr/bin/time"):
        say("slots: /usr/bin/time is missing (Debian's time package): "
            "node memory is not measured")
    os.makedirs(results, exist_ok=True)
    base = tempfile.mkdtemp(prefix="loom-slots-")
    try:
        taskfile = os.path.join(base, "true.txt")
        with open(taskfile, "w") as f:
            f.write("true\n" * m["true"])
        works = [("true", [taskfile]),
                 ("spin1ms", ["--kind", "spin", "--count", str(m["spin"]),
                              "--arg", "mean=0.001"]),
                 ("noop", ["--kind", "noop", "--count", str(m["noop"])])]
        layouts = [("slots", 2, ["--slots", str(n)]), ("ranks", n + 1, [])]
        with open(out_path + ".tmp", "w") as f:
            f.write(SLOTS_HEADER + "\n")
        for rep in range(1, m["reps"] + 1):
            for work in works:
                for layout, ranks, extra in layouts:
                    row = slots_run(loom, layout, ranks, extra, work, base,
                                    rep, env)
                    with open(out_path + ".tmp", "a") as f:
                        f.write(row + "\n")
                    say("slots: rep %d, %s, %s" % (rep, work[0], layout))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    publish(out_path, summary, slots_summary)
    return 0



def plot_state(results, outdir):
    summary = os.path.join(results, "state_summary.csv")
    if not os.path.isfile(summary):
        raise BenchError("no %s; run bench/loombench.py state first" % summary)
    rows = []
    with open(summary, newline="") as f:
        for r in csv.DictReader(f):
            if r.get("lat_median_us"):
                rows.append(r)
    term = png_terminal("size 900,500 enhanced font ',11'", "size 900,500")
    os.makedirs(outdir, exist_ok=True)
    curves = [("pingpong", "-", "add"), ("owner", "-", "add"),
              ("loom", "strong", "add"), ("loom-busy", "strong", "add"),
              ("loom", "causal", "add"), ("loom", "eventual", "add")]
    with tempfile.TemporaryDirectory(prefix="loombench_plot.") as tmp:
        plots = []
        for i, (impl, mode, mix) in enumerate(curves):
            pts = sorted((int(r["ranks"]), float(r["lat_median_us"]),
                          float(r["ops_per_s"])) for r in rows
                         if r["impl"] == impl and r["mode"] == mode and
                         (r["mix"] == mix or impl == "pingpong"))
            if not pts:
                continue
            dat = os.path.join(tmp, "%d.dat" % i)
            with open(dat, "w") as f:
                f.write("".join("%d %g %g\n" % p for p in pts))
            title = impl if mode == "-" else "%s %s" % (impl, mode)
            plots.append((dat, title, COLOURS[i % len(COLOURS)]))
        png = os.path.join(outdir, "state.png")
        gp = ["set terminal " + term, "set output '%s'" % png,
              "set multiplot layout 1,2", "set grid", "set logscale y",
              "set xlabel 'ranks'", "set xtics 1", "set key top left",
              "set title 'fetch-add latency, median (us)'",
              "plot " + ", ".join("'%s' using 1:2 with linespoints lw 2 "
                                  "lc rgb '%s' title '%s'" % (d, c, t)
                                  for d, t, c in plots),
              "set title 'fetch-adds per second per client'",
              "plot " + ", ".join("'%s' using 1:3 with linespoints lw 2 "
                                  "lc rgb '%s' title '%s'" % (d, c, t)
                                  for d, t, c in plots),
              "unset multiplot"]
        script = os.path.join(tmp, "plot.gp")
        with open(script, "w") as f:
            f.write("\n".join(gp) + "\n")
        if subprocess.run(["gnuplot", script]).returncode != 0:
            raise BenchError("gnuplot failed on the state plot")
    print("wrote %s" % png)


def png_terminal(cairo_opts, png_opts):
    """gnuplot's pngcairo terminal with cairo_opts, or png with png_opts
    where gnuplot lacks cairo."""
    if not shutil.which("gnuplot"):
        raise BenchError("gnuplot not found")
    r = subprocess.run(["gnuplot", "-e", "set terminal"], text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if "pngcairo" in r.stdout:
        return "pngcairo " + cairo_opts
    return "png " + png_opts


def ncores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


DISPATCH_IMPLS = [
    ("textbook", 1, 7, "textbook (1 task/message)"),
    ("batched", 2, 5, "batched (64 tasks/message)"),
    ("loom", 3, 9, "loom (a spec per task)"),
    ("loom-array", 4, 11, "loom (one task array)"),
]


def dispatch_plot_data(rows):
    """{(impl, "empty"|"1ms"): ["ranks value", ...]} from
    dispatch_summary.csv's rows (lists of fields): tasks_per_s of empty
    tasks and efficiency of spin tasks, sorted by ranks."""
    data = {}
    for impl, _, _, _ in DISPATCH_IMPLS:
        empty = [(r[1], r[8]) for r in rows
                 if len(r) > 10 and r[0] == impl and r[3] == "none"]
        ms = [(r[1], r[10]) for r in rows
              if len(r) > 10 and r[0] == impl and r[3] == "spin" and r[10]]
        for what, pts in (("empty", empty), ("1ms", ms)):
            data[impl, what] = ["%s %s" % p for p in sorted(
                pts, key=lambda p: (float(p[0]), p))]
    return data


def dispatch_gnuplot(data, files, term, outdir, cores):
    """The gnuplot script of the dispatch plots and the PNGs it writes;
    files maps (impl, what) to the data file holding data[impl, what]."""
    ranks = [float(l.split()[0]) for lines in data.values() for l in lines]
    rmin = "%g" % min(ranks) if ranks else "1"
    rmax = "%g" % max(ranks) if ranks else "1"

    def curves(what):
        parts = []
        for impl, lt, pt, title in DISPATCH_IMPLS:
            if not data.get((impl, what)):
                continue
            parts.append('"%s" using 1:2 with linespoints lt %d lw 2 pt %d '
                         'title "%s"' % (files[impl, what], lt, pt, title))
        return ", ".join(parts)

    empty, ms = curves("empty"), curves("1ms")
    gp = ["set terminal " + term, "set grid",
          'set xlabel "MPI ranks (1 master + workers)"', "set xtics 1",
          "set xrange [%s - 0.25:%s + 0.25]" % (rmin, rmax)]
    wrote = []
    if empty:
        png = os.path.join(outdir, "dispatch_empty.png")
        gp += ['set output "%s"' % png,
               'set title "Dispatch rate, empty tasks (median; %d cores)"'
               % cores,
               'set ylabel "tasks per second"', "set key below",
               "set logscale y", 'set format y "10^{%T}"', "plot " + empty]
        wrote.append(png)
    if ms:
        png = os.path.join(outdir, "dispatch_1ms.png")
        gp += ['set output "%s"' % png,
               'set title "Efficiency, 1 ms spin tasks (median; %d cores)"'
               % cores,
               'set ylabel "efficiency (ideal time / time)"',
               "unset logscale y", 'set format y "%g"', "set yrange [0:1.1]",
               "set key below",
               # The workers and the master share the cores: at best
               # min(1, cores / workers).
               "bound(r) = (%d >= r - 1) ? 1 : %d.0 / (r - 1)" % (cores,
                                                                   cores),
               "set samples 200",
               'plot bound(x) with lines dt 2 lc rgb "gray40" title "bound '
               'of %d cores", %s' % (cores, ms)]
        wrote.append(png)
    return "\n".join(gp) + "\n", wrote


def plot_dispatch(results, outdir):
    summary = os.path.join(results, "dispatch_summary.csv")
    if not os.path.isfile(summary):
        raise BenchError("no %s; run bench/loombench.py dispatch first"
                         % summary)
    term = png_terminal("size 800,600 enhanced font ',11'", "size 800,600")
    os.makedirs(outdir, exist_ok=True)
    data = dispatch_plot_data(read_csv_lists(summary))
    with tempfile.TemporaryDirectory(prefix="loombench_plot.") as tmp:
        files = {}
        for (impl, what), lines in data.items():
            files[impl, what] = os.path.join(tmp, "%s-%s.dat" % (impl, what))
            with open(files[impl, what], "w") as f:
                f.write("".join(l + "\n" for l in lines))
        script, wrote = dispatch_gnuplot(data, files, term, outdir, ncores())
        if not wrote:
            raise BenchError("no textbook/batched/loom rows in %s" % summary)
        gp = os.path.join(tmp, "plot.gp")
        with open(gp, "w") as f:
            f.write(script)
        if subprocess.run(["gnuplot", gp]).returncode != 0:
            raise BenchError("gnuplot failed on the dispatch plots")
    for png in wrote:
        print("wrote %s" % png)


BALANCE_POLICIES = ["least-loaded", "rr", "wrr", "weighted", "static"]
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# Curves that coincide stay visible: the first policies draw wider lines and
# larger points underneath the later ones.
STYLE = ["lw 4 pt 7 ps 1.5", "lw 3 pt 5 ps 1.2", "lw 2.5 pt 9 ps 1.1",
         "lw 2 pt 13 ps 0.9", "lw 1.5 pt 11 ps 0.8", "lw 1.5 pt 3 ps 0.8",
         "lw 1.5 pt 1 ps 0.8", "lw 1 pt 2 ps 0.7", "lw 1 pt 4 ps 0.7",
         "lw 1 pt 6 ps 0.7"]
FLOOR = 0.002  # excesses below this sit on the axis
TICS = [1.002, 1.005, 1.01, 1.02, 1.05, 1.1, 1.2, 1.5, 2, 3, 5, 10, 20, 50,
        100]
WORKLOAD_ORDER = ["fixed", "uniform", "lognormal", "pareto"]


def excess(r):
    return max(float(r) - 1, FLOOR)


def ytics(top):
    return "set ytics (%s)" % ", ".join(
        '"%g" %g' % (t, t - 1) for t in TICS if t - 1 <= top * 1.5)


def real_plot_rows(results):
    """The rows balance_real.png plots: balance_real_summary.csv, else the
    medians of balance_real.csv; None when neither exists."""
    path = os.path.join(results, "balance_real_summary.csv")
    if os.path.exists(path):
        return read_csv(path)
    path = os.path.join(results, "balance_real.csv")
    if not os.path.exists(path):
        return None
    groups = {}
    key = ["case", "ranks", "workload", "hints", "speeds", "window", "policy"]
    for r in read_csv(path):
        groups.setdefault(tuple(r[k] for k in key), []).append(r)
    rows = []
    for k, rs in groups.items():
        rat = [float(r["ratio"]) for r in rs]
        sim = [float(r["sim_ratio"]) for r in rs
               if r.get("sim_ratio", "") != ""]
        rows.append(dict(zip(key, k), ratio=statistics.median(rat),
                         ratio_min=min(rat), ratio_max=max(rat),
                         reps=len(rs), sim_ratio=(
                             statistics.median(sim) if sim else "")))
    return rows


def real_gnuplot(rows, tmp, term, outdir):
    """The gnuplot script of balance_real.png (its data files written to
    tmp), or None without rows."""
    med = "ratio"
    if not rows:
        return None
    sets = [("homog", "equal workers (np 3-5), sleep tasks"),
            ("fake", "two fast, two slow workers, weights from a fake "
             "topology (np 5), sleep tasks"),
            ("untold", "two fast, two 4x slower workers, weights not told "
             "(np 5), sleep tasks"),
            ("spin", "CPU-bound spin tasks, worker 2 beside a CPU hog (np 3), "
             "speeds measured")]
    known = {s for s, _ in sets}
    sets += [(s, s) for s in sorted({r["case"] for r in rows} - known)]
    panels = []
    top = 0
    for s, title in sets:
        rs = [r for r in rows if r["case"] == s]
        if not rs:
            continue
        cases = sorted({(int(r["ranks"]), r["speeds"], int(r["window"]),
                         r["workload"], r["hints"]) for r in rs},
                       key=lambda c: (c[0], c[1], c[2],
                                      WORKLOAD_ORDER.index(c[3])
                                      if c[3] in WORKLOAD_ORDER else 9, c[4]))
        labels = []
        for g, c in enumerate(cases):
            np_, speeds, window, wl, hints = c
            line2 = []
            if s == "homog":
                line2.append("np %d" % np_)
            elif s != "spin":
                line2.append(speeds)
            if window != 2:
                line2.append("window %d" % window)
            labels.append((g, "%s%s%s" % (wl, ", hints" if hints == "yes"
                                          else "", "\\n" + ", ".join(line2)
                                          if line2 else "")))
        n = len(BALANCE_POLICIES)
        width = 0.8 / n
        for j, p in enumerate(BALANCE_POLICIES):
            with open(os.path.join(tmp, "real-%s-%s.dat" % (s, p)), "w") as f:
                for g, c in enumerate(cases):
                    m = [r for r in rs if r["policy"] == p and
                         (int(r["ranks"]), r["speeds"], int(r["window"]),
                          r["workload"], r["hints"]) == c]
                    if not m:
                        continue
                    r = m[0]
                    x = g + (j - (n - 1) / 2) * width
                    lo = float(r.get("ratio_min") or r[med])
                    hi = float(r.get("ratio_max") or r[med])
                    sim = r.get("sim_ratio", "")
                    top = max(top, excess(hi))
                    dot = ("%g" % excess(sim) if sim not in ("", None)
                           else "NaN")
                    f.write("%g %g %g %g %s\n" % (
                        x, excess(r[med]), excess(lo), excess(hi), dot))
        reps = max(int(r.get("reps") or 1) for r in rs)
        panels.append((s, title, labels, reps))
    ncases = max(len(p[2]) for p in panels)
    w = min(3000, max(1000, 140 + 130 * ncases))
    h = 300 * len(panels) + 80
    gp = ["set terminal %s size %d,%d" % (term, w, h),
          'set output "%s"' % os.path.join(outdir, "balance_real.png"),
          "set multiplot layout %d,1 title \"Real loom runs on this machine: "
          "makespan / lower bound (bars: median; whiskers: min-max; dots: "
          "loom sim, same case)\\nsleep tasks pay a shell start-up of "
          "about 2-3 ms each, which the bound leaves out (about 1.05 "
          "with equal tasks)\"" % len(panels),
          "set logscale y", ytics(top),
          "set yrange [%g:%g]" % (FLOOR, top * 1.4),
          "set grid ytics", "set style fill solid 0.85 border -1",
          "set boxwidth %g absolute" % (0.8 / len(BALANCE_POLICIES)),
          "set key outside right top vertical Left reverse",
          'set ylabel "makespan / bound"',
          "set lmargin 10", "set rmargin 20"]
    for s, title, labels, reps in panels:
        gp.append('set title "%s (%d repetition%s)"'
                  % (title, reps, "" if reps == 1 else "s"))
        gp.append("set xrange [-0.6:%g]" % (max(ncases, 3) - 0.4))
        gp.append("set xtics (%s) nomirror" % ", ".join(
            '"%s" %d' % (l, g) for g, l in labels))
        parts, sims = [], []
        for j, p in enumerate(BALANCE_POLICIES):
            d = os.path.join(tmp, "real-%s-%s.dat" % (s, p))
            if os.path.getsize(d) == 0:
                continue
            parts.append('"%s" using 1:2 with boxes lc rgb "%s" title "%s"'
                         % (d, COLOURS[j], p))
            if reps > 1:
                parts.append('"%s" using 1:3:(0):($4-$3) with vectors '
                             'nohead lc rgb "black" lw 1.5 notitle' % d)
            sims.append('"%s" using 1:5 with points pt 7 ps 0.7 lc rgb '
                        '"black" %s' % (d, "notitle" if sims else
                                        'title "loom sim"'))
        gp.append("plot " + ", ".join(parts + sims))
        gp.append("unset key")
    gp.append("unset multiplot")
    return "\n".join(gp) + "\n"


def sim_gnuplot(results, tmp, term, outdir, sim_speeds, sim_window):
    """The gnuplot script of balance_sim.png (its data files written to
    tmp), or None when balance_sim.csv is missing or has no row to plot."""
    path = os.path.join(results, "balance_sim.csv")
    if not os.path.exists(path):
        return None
    rows = [r for r in read_csv(path) if r["speeds"] == sim_speeds and
            r["window"] == sim_window]
    if not rows:
        say("%s plot: no rows with speeds %s and window %s in %s"
            % (PROG, sim_speeds, sim_window, path))
        return None
    # Sweeps may hold several task counts per worker count: one slice,
    # LOOM_PLOT_TASKS_PER_WORKER, else 100 where present, else the most
    # common.
    tpw = ""
    if "tasks" in rows[0]:
        per = [int(r["tasks"]) // int(r["workers"]) for r in rows]
        want = os.environ.get("LOOM_PLOT_TASKS_PER_WORKER", "")
        if want:
            tpw = int(want)
        elif 100 in per:
            tpw = 100
        else:
            tpw = max(set(per), key=per.count)
        rows = [r for r, n in zip(rows, per) if n == tpw]
        if not rows:
            say("%s plot: no rows with %s tasks per worker in %s"
                % (PROG, tpw, path))
            return None
    # Any other column that tells rows apart: the first row wins, said once.
    seen, differ = {}, set()
    keep = []
    for r in rows:
        k = (r["workers"], r["workload"], r["hints"], r["policy"])
        if k in seen:
            differ |= {c for c in r if r[c] != seen[k][c]}
            continue
        seen[k] = r
        keep.append(r)
    if differ:
        say("%s plot: balance_sim.csv has several rows per case (they differ "
            "in %s); plotting the first" % (PROG, ", ".join(sorted(differ))))
    rows = keep
    policies = [p for p in BALANCE_POLICIES if any(r["policy"] == p
                                                   for r in rows)]
    policies += sorted({r["policy"] for r in rows} - set(policies))
    workloads = [w for w in WORKLOAD_ORDER
                 if any(r["workload"] == w for r in rows)]
    workloads += sorted({r["workload"] for r in rows} - set(workloads))
    hints = [h for h in ["no", "yes"] if any(r["hints"] == h for r in rows)]
    top = max(excess(r["ratio"]) for r in rows)
    xs = sorted({int(r["workers"]) for r in rows})
    gp = ["set terminal %s size %d,%d" % (term, 380 * len(workloads) + 120,
                                          330 * len(hints) + 110),
          'set output "%s"' % os.path.join(outdir, "balance_sim.png"),
          "set multiplot layout %d,%d title \"loom sim: makespan / lower "
          "bound against workers (speeds %s, window %s%s)\"" % (
              len(hints), len(workloads), sim_speeds, sim_window,
              "; %s tasks per worker" % tpw if tpw != "" else ""),
          "set logscale xy", ytics(top),
          "set yrange [%g:%g]" % (FLOOR, top * 1.6),
          "set xrange [%g:%g]" % (xs[0] / 1.6, xs[-1] * 1.6),
          "set xtics (%s)" % ", ".join('"%s" %d' % (
              ("%dk" % (x // 1000)) if x >= 10000 else str(x), x) for x in xs),
          "set grid", 'set xlabel "workers"', 'set ylabel "makespan / bound"',
          "set key top left font ',8'"]
    first = True
    for h in hints:
        for wl in workloads:
            rs = [r for r in rows if r["hints"] == h and r["workload"] == wl]
            best = {}
            parts = []
            for j, p in enumerate(policies):
                pts = sorted((int(r["workers"]), excess(r["ratio"]))
                             for r in rs if r["policy"] == p)
                for x, y in pts:
                    best[x] = min(best.get(x, y), y)
                d = os.path.join(tmp, "sim-%s-%s-%s.dat" % (h, wl, p))
                with open(d, "w") as f:
                    f.write("".join("%d %g\n" % xy for xy in pts))
                if pts:
                    parts.append('"%s" using 1:2 with linespoints %s '
                                 'lc rgb "%s" %s' % (
                                     d, STYLE[j % len(STYLE)],
                                     COLOURS[j % len(COLOURS)],
                                     'title "%s"' % p if first
                                     else "notitle"))
            d = os.path.join(tmp, "sim-%s-%s-best.dat" % (h, wl))
            with open(d, "w") as f:
                f.write("".join("%d %g\n" % xy for xy in sorted(best.items())))
            parts.append('"%s" using 1:2 with lines dt 2 lw 3 lc rgb "black" '
                         '%s' % (d, 'title "best"' if first else "notitle"))
            gp.append('set title "%s, %s"' % (
                wl, "cost hints" if h == "yes" else "no hints"))
            gp.append("plot " + ", ".join(parts))
            first = False
    gp.append("unset multiplot")
    return "\n".join(gp) + "\n"


def plot_balance(results, outdir):
    term = png_terminal("enhanced font ',10'", "")
    os.makedirs(outdir, exist_ok=True)
    wrote = []
    with tempfile.TemporaryDirectory(prefix="loombench_plot.") as tmp:
        scripts = [
            ("real", real_gnuplot(real_plot_rows(results), tmp, term,
                                  outdir)),
            ("sim", sim_gnuplot(results, tmp, term, outdir,
                                os.environ.get("LOOM_PLOT_SPEEDS") or "1:4",
                                os.environ.get("LOOM_PLOT_WINDOW") or "2")),
        ]
        for name, text in scripts:
            if not text:
                continue
            gp = os.path.join(tmp, name + ".gp")
            with open(gp, "w") as f:
                f.write(text)
            if subprocess.run(["gnuplot", gp]).returncode != 0:
                raise BenchError("gnuplot failed on balance_%s.png" % name)
            wrote.append(os.path.join(outdir, "balance_%s.png" % name))
    if not wrote:
        raise BenchError("no balance_real*.csv or balance_sim.csv in %s; run "
                         "bench/loombench.py balance-real or balance-sim"
                         % results)
    for png in wrote:
        print("wrote %s" % png)


def has_dispatch_csv(results):
    return os.path.isfile(os.path.join(results, "dispatch_summary.csv"))


def has_state_csv(results):
    return os.path.isfile(os.path.join(results, "state_summary.csv"))


def has_balance_csv(results):
    return any(os.path.isfile(os.path.join(results, n)) for n in (
        "balance_real_summary.csv", "balance_real.csv", "balance_sim.csv"))


def run_plot(opts):
    results = results_dir(opts.results)
    outdir = opts.output or results
    if opts.family == "dispatch":
        plot_dispatch(results, outdir)
    elif opts.family == "balance":
        plot_balance(results, outdir)
    elif opts.family == "state":
        plot_state(results, outdir)
    else:
        todo = [fn for has, fn in ((has_dispatch_csv, plot_dispatch),
                                   (has_balance_csv, plot_balance),
                                   (has_state_csv, plot_state))
                if has(results)]
        if not todo:
            raise BenchError("no benchmark CSV in %s; run a benchmark first"
                             % results)
        for fn in todo:
            fn(results, outdir)
    return 0


# ---------------------------------------------------------------------------
# Peers: the programs people use today, measured beside loom in the same
# run: mpi4py.futures (bench/peer_futures.py), GNU parallel and xargs. A
# missing peer costs its rows, never the benchmark: peer_ensure() says so
# in one line instead of raising, and the run_* functions raise PeerError
# alone, whatever goes wrong.
#
# The peer program runs under the first Python that imports mpi4py.futures,
# not necessarily the one running this program: Debian's python3-mpi4py
# serves /usr/bin/python3 alone, while `python3` on the PATH may be another
# build.

PEER_FUTURES = os.path.join(ROOT, "bench", "peer_futures.py")

# The peer's CSV columns and how each converts.
FUTURES_FIELDS = (("impl", str), ("ranks", int), ("workers", int),
                  ("work", str), ("task_s", float), ("tasks", int),
                  ("seconds", float), ("tasks_per_s", float))

APT_PACKAGES = {"futures": "python3-mpi4py", "parallel": "parallel"}
KILL_GRACE = 5  # seconds between SIGTERM and SIGKILL of a timed-out group
STDERR_LINES = 5  # how much of a failed peer's stderr a PeerError keeps

_futures_py = None  # the Python that imports mpi4py.futures, once found


class PeerError(Exception):
    """A peer run failed or timed out; the message says how."""


def run_captured(argv, timeout, stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE, env=None):
    """Runs argv in its own process group; returns (rc, seconds, stdout,
    stderr). On a timeout the whole group goes (mpirun's ranks, parallel's
    jobs), SIGTERM first so that mpirun can take its ranks down with it."""
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout,
                                stderr=subprocess.PIPE, env=env,
                                start_new_session=True,
                                universal_newlines=True, errors="replace")
    except OSError as e:
        raise PeerError("%s: %s" % (argv[0], e))
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException as e:
        _killpg(proc, signal.SIGTERM)
        try:
            err = proc.communicate(timeout=KILL_GRACE)[1]
        except subprocess.TimeoutExpired:
            err = ""
        _killpg(proc, signal.SIGKILL)  # whatever outlived SIGTERM
        proc.communicate()
        if isinstance(e, subprocess.TimeoutExpired):
            raise peer_failed(argv[0], "timed out after %g s" % timeout,
                              err or "")
        raise
    return proc.returncode, time.monotonic() - t0, out or "", err or ""


def peer_ok(argv, want=""):
    """Whether argv runs and exits 0 (with want in its stdout): a probe
    that never raises."""
    try:
        rc, _, out, _ = run_captured(argv, 60, env=mpi_env())
    except PeerError:
        return False
    return rc == 0 and want in out


def peer_failed(what, how, err):
    """A PeerError saying how what failed, with the last lines of stderr, less
    Open MPI's boxed banners (MPI_ABORT's would hide the peer's message)."""
    lines, boxed = [], False
    for line in err.splitlines():
        if len(line) >= 20 and not line.strip("-"):
            boxed = not boxed
        elif not boxed and line.strip():
            lines.append(line.strip())
    tail = " | ".join(lines[-STDERR_LINES:])
    return PeerError("%s %s%s" % (what, how, ": " + tail if tail else ""))


def futures_python():
    """The first Python that imports mpi4py.futures, or None."""
    global _futures_py
    if _futures_py is None:
        seen = []
        for py in (sys.executable, shutil.which("python3"),
                   "/usr/bin/python3"):
            if py and py not in seen:
                seen.append(py)
                if peer_ok([py, "-c", "import mpi4py.futures"]):
                    _futures_py = py
                    break
    return _futures_py


def peer_usable(name):
    if name == "futures":
        return futures_python() is not None
    return peer_ok(["parallel", "--version"], "GNU parallel")


def peer_ensure(name, install=True):
    """(True, "") when the peer name ("futures" or "parallel") runs here,
    installing its Debian package first where we may; otherwise (False, a
    line saying what is missing and that its rows are skipped)."""
    if name not in APT_PACKAGES:
        raise ValueError("unknown peer %r" % name)
    if peer_usable(name):
        return True, ""
    pkg = APT_PACKAGES[name]
    if (install and hasattr(os, "geteuid") and os.geteuid() == 0
            and shutil.which("apt-get")):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            run_captured(["apt-get", "install", "-y", "-q",
                          "--no-install-recommends", pkg], 600,
                         stdout=subprocess.DEVNULL, env=env)
        except PeerError:
            pass
        global _futures_py
        _futures_py = None
        if peer_usable(name):
            return True, ""
    what = ("no Python here imports mpi4py.futures"
            if name == "futures" else "GNU parallel is not installed")
    return False, "%s (package %s): %s rows skipped" % (what, pkg, name)


def futures_argv(np, work, seconds, tasks, chunksize, repeat=1):
    """mpirun of bench/peer_futures.py on np ranks (np - 1 workers)."""
    return mpirun_unbound() + [
        "-np", str(np), futures_python() or "python3", "-m", "mpi4py.futures",
        PEER_FUTURES, "--work", work, "--seconds", repr(float(seconds)),
        "--tasks", str(tasks), "--chunksize", str(chunksize), "--repeat",
        str(repeat)]


def run_futures(np, work, seconds, tasks, chunksize, repeat=1, timeout=600):
    """Runs the peer; returns its rows as dicts of converted fields."""
    argv = futures_argv(np, work, seconds, tasks, chunksize, repeat)
    rc, _, out, err = run_captured(argv, timeout, env=mpi_env())
    if rc != 0:
        raise peer_failed("peer_futures.py", "exit %d" % rc, err)
    rows = []
    for rec in csv.reader(out.splitlines()):
        if len(rec) != len(FUTURES_FIELDS):
            raise PeerError("peer_futures.py: bad line %r" % ",".join(rec))
        rows.append({k: conv(v) for (k, conv), v in zip(FUTURES_FIELDS, rec)})
    if len(rows) != repeat:
        raise PeerError("peer_futures.py: %d rows for %d repeats"
                        % (len(rows), repeat))
    return rows


def parallel_argv(taskfile, jobs):
    """GNU parallel given no command runs each line of the file as one."""
    return ["parallel", "--will-cite", "-j", str(jobs),
            "--arg-file", taskfile]


def run_parallel(taskfile, jobs, timeout=600):
    """Wall seconds of GNU parallel running every line of taskfile."""
    rc, seconds, _, err = run_captured(parallel_argv(taskfile, jobs),
                                       timeout, stdout=subprocess.DEVNULL)
    if rc != 0:
        raise peer_failed("parallel", "exit %d" % rc, err)
    return seconds


def run_xargs(taskfile, jobs, timeout=600):
    """Wall seconds of xargs running every line of taskfile with sh -c,
    jobs at a time: the plainest parallel spawner there is."""
    argv = ["xargs", "-d", "\n", "-P", str(jobs), "-n1", "sh", "-c"]
    try:
        f = open(taskfile, "rb")
    except OSError as e:
        raise PeerError("xargs: %s" % e)
    with f:
        rc, seconds, _, err = run_captured(argv, timeout, stdin=f,
                                           stdout=subprocess.DEVNULL)
    if rc != 0:
        raise peer_failed("xargs", "exit %d" % rc, err)
    return seconds


# ---------------------------------------------------------------------------
# suite: the one command. How loom scales here, what task size is too
# small, how far one master goes, and how loom compares with the tools
# people use today, measured side by side and written to one folder.

SUITE_HELP = """\
suite - the one command: how loom scales on this machine or allocation,
which task size is too small, how far one master goes, and how loom
compares with mpi4py.futures, GNU parallel and xargs, measured side by
side in one run.

usage: bench/loombench.py suite [--quick | --smoke] [--max-ranks N]
                                [--results DIR] [--no-build] [BUILD_DIR]
  --quick        about two minutes: fewer durations, less work per point,
                 one repeat, and the other benchmarks left out
  --smoke        seconds: checks that every part runs, measures nothing
  --max-ranks N  the most MPI ranks to start (default: the cores this
                 process may use plus one for the master, or SLURM_NTASKS
                 inside a Slurm allocation)
  --results DIR  where the folder goes (default bench/results, or
                 LOOM_BENCH_RESULTS)

It writes RESULTS/<host>-<date>/ with:
  machine.md     the machine: CPU, cores, hwloc's view (loom topo), memory,
                 MPI, the rank counts run and which were oversubscribed
  scaling.csv    strong scaling (fixed work: 1 ms and 10 ms spin tasks, the
                 pi and primes kinds) and weak scaling (fixed work per
                 worker) at every rank count: makespan, speedup, efficiency
  metg.csv       efficiency against task duration (1 us to 10 ms) for `loom
                 run` and the library, per rank count; METG(50%) and
                 METG(90%), the smallest task that still reaches that
                 efficiency, are in summary.md
  peers.csv      empty and 1 ms tasks: the library, `loom run`,
                 mpi4py.futures with chunks of 1, 64 and 1000; `true`
                 commands: `loom run`, xargs -P and GNU parallel -j; each
                 with its ratio to loom (missing peers are installed when
                 we are root, else skipped with a line)
  ceiling.csv    the master's measured cost per task and per message, and
                 `loom sim --master-cost` with them: efficiency against
                 cores at 1 ms to 1 s tasks, one rank per core or per
                 128-core node (slots)
  summary.md     every table, and the ratios in words, losses included
  speedup.png metg.png timeline.png ceiling.png
and, without --quick, the dispatch benchmark's CSVs, and balance-sim,
state and slots in their quick form, in the same folder; summary.md ends
with their figures.

Rank counts: 1, 2, 4, ... workers up to --max-ranks - 1, plus the master.
A count above the cores is run and marked oversubscribed. Speed is never
asserted; every ratio is measured in this run.
"""

SUITE_MODES = {
    "full": dict(strong_s=8.0, weak_s=2.0, metg=(1e-6, 1e-5, 1e-4, 1e-3,
                                                 1e-2),
                 metg_s=1.0, repeats=3, empty=200000, spin=2000, true=2000,
                 calib=2000000, sim_per_core=100, sim_tasks_max=8000000,
                 sim_step=2, primes_limit=10**10, others=True),
    "quick": dict(strong_s=2.0, weak_s=0.5, metg=(1e-5, 1e-4, 1e-3, 1e-2),
                  metg_s=0.3, repeats=1, empty=20000, spin=500, true=300,
                  calib=500000, sim_per_core=30, sim_tasks_max=1000000,
                  sim_step=4, primes_limit=10**9, others=False),
    "smoke": dict(strong_s=0.1, weak_s=0.05, metg=(1e-4, 1e-3), metg_s=0.05,
                  repeats=1, empty=2000, spin=50, true=20, calib=20000,
                  sim_per_core=2, sim_tasks_max=20000, sim_step=4,
                  primes_limit=10**7, others=False),
}
SUITE_TIMEOUT = 600
CEILING_DURATIONS = (1e-3, 1e-2, 0.1, 1.0)
CEILING_NODE_CORES = 128
CEILING_TARGET_CORES = 10000 * 128  # the issue's 10,000 nodes of 128 cores
SCALING_HEADER = ("bench,kind,task_s,ranks,workers,oversubscribed,tasks,"
                  "work_s,rep,makespan_s,speedup,efficiency")
METG_HEADER = ("impl,ranks,workers,oversubscribed,task_s,tasks,rep,"
               "makespan_s,efficiency")
PEERS_HEADER = ("workload,ranks,workers,oversubscribed,impl,tasks,rep,"
                "seconds,tasks_per_s,loom_over_impl")
CEILING_HEADER = ("what,task_s,slots,cores,workers,tasks,efficiency,"
                  "master_busy,value")


def suite_workers(max_ranks):
    """1, 2, 4, ... workers below max_ranks, and max_ranks - 1 itself."""
    top = max(1, max_ranks - 1)
    ws, w = [], 1
    while w < top:
        ws.append(w)
        w *= 2
    return ws + [top]


def default_max_ranks():
    """SLURM_NTASKS inside an allocation, else this process's cores plus
    one rank for the master (which mostly waits)."""
    n = os.environ.get("SLURM_NTASKS", "")
    return int(n) if n.isdigit() and int(n) >= 2 else ncores() + 1


def efficiency(tasks, task_s, workers, makespan):
    """Work over the workers' time: tasks x duration / (workers x
    makespan)."""
    if not makespan or makespan <= 0:
        return None
    return tasks * task_s / (workers * makespan)


def metg(points, target):
    """METG at efficiency target from (task_s, efficiency) points: the
    smallest duration from which on every longer one reaches the target,
    interpolated in log(duration) between the last point below and the
    first above. ("<", d) when even the shortest reaches it, (">", d)
    when even the longest does not."""
    pts = sorted((d, e) for d, e in points if e is not None)
    if not pts:
        return None
    if all(e >= target for _, e in pts):
        return ("<", pts[0][0])
    i = max(k for k, (_, e) in enumerate(pts) if e < target)
    if i == len(pts) - 1:
        return (">", pts[-1][0])
    (d0, e0), (d1, e1) = pts[i], pts[i + 1]
    f = (target - e0) / (e1 - e0)
    return ("=", math.exp(math.log(d0) + f * (math.log(d1) - math.log(d0))))


def metg_text(m):
    if m is None:
        return "-"
    sign, d = m
    return "%s%s" % ("" if sign == "=" else sign, human_seconds(d))


def human_seconds(s):
    if s >= 1:
        return "%.3g s" % s
    if s >= 1e-3:
        return "%.3g ms" % (s * 1e3)
    return "%.3g us" % (s * 1e6)


def ceiling_of(rows, target):
    """The most cores at which efficiency still reaches target, from
    (cores, efficiency) rows; None when even the fewest miss it."""
    ok = [c for c, e in rows if e is not None and e >= target]
    return max(ok) if ok else None


def oversubscribed(workers, cores):
    """Whether workers plus the master are more ranks than cores."""
    return workers + 1 > cores


def machine_md(loom, cores, workers):
    """machine.md: what this machine is, and which runs oversubscribed."""
    def out(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True,
                               timeout=60, env=mpi_env())
            return r.stdout.strip() if r.returncode == 0 else ""
        except (OSError, subprocess.TimeoutExpired):
            return ""
    cpu = ""
    for line in out(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    mpi = out(["mpirun", "--version"]).splitlines()
    slurm = os.environ.get("SLURM_JOB_ID")
    lines = ["# The machine", ""] + md_table(["what", "value"], [
        ["host", socket.gethostname()],
        ["date", time.strftime("%Y-%m-%d %H:%M:%S %Z")],
        ["CPU", cpu or "unknown"],
        ["cores this run may use", cores],
        ["memory", mem or "unknown"],
        ["kernel", os.uname()[2]],
        ["MPI", mpi[0] if mpi else "unknown"],
        ["Slurm job", slurm or "none (not in an allocation)"],
        ["loom", git_describe()],
        ["rank counts", ", ".join(
            "%d%s" % (w + 1, " (oversubscribed)"
                      if oversubscribed(w, cores) else "")
            for w in workers)]]) + [
             "", "A rank count above the cores is oversubscribed: its ranks "
             "share cores, so its figures say little about scaling.", "",
             "hwloc's view (`loom topo`):", "", "```",
             out([loom, "topo"]) or "(loom topo failed)", "```", ""]
    return "\n".join(lines)


class Suite:
    """One run of the suite: its folder, its binaries and its rows."""

    def __init__(self, opts, mode):
        self.p = SUITE_MODES[mode]
        self.loom = target_path(opts.build, "loom")
        self.lib = target_path(opts.build, "bench-dispatch")
        self.cores = ncores()
        self.workers = suite_workers(opts.max_ranks or default_max_ranks())
        stamp = time.strftime("%Y%m%d")
        self.dir = os.path.join(results_dir(opts.results), "%s-%s" % (
            socket.gethostname().split(".")[0], stamp))
        self.tmp = None
        self.failures = 0

    def over(self, workers):
        return 1 if oversubscribed(workers, self.cores) else 0

    def loom_run(self, workers, args, name="run"):
        """One `mpirun loom run`; returns (report.json, run directory) or
        (None, rundir) after saying why."""
        rundir = os.path.join(self.tmp, name)
        shutil.rmtree(rundir, ignore_errors=True)
        argv = (mpirun_unbound() + ["-np", str(workers + 1), self.loom,
                                    "run", "-q", "-o", rundir] + args)
        err = os.path.join(self.tmp, "err")
        with open(err, "w") as se:
            rc = run_timeout(argv, SUITE_TIMEOUT, stdout=subprocess.DEVNULL,
                             stderr=se, env=mpi_env())
        try:
            with open(os.path.join(rundir, "report.json")) as f:
                rep = json.load(f)
        except (OSError, ValueError):
            rep = None
        if rc != 0 or rep is None:
            say("%s suite: loom run %s at %d workers failed (exit %d): %s" % (
                PROG, " ".join(args), workers, rc, tail_lines(err, 3)))
            self.failures += 1
            return None, rundir
        return rep, rundir

    def lib_run(self, workers, work, task_s, tasks, array=False):
        """One bench-dispatch run (the library; with array, the tasks as
        one task array); returns seconds or None."""
        argv = (mpirun_unbound() + ["-np", str(workers + 1), self.lib,
                                    "--tasks", str(tasks), "--work", work,
                                    "--seconds", repr(task_s), "--repeat",
                                    "1", "--warmup", "1"] +
                (["--array"] if array else []))
        try:
            rc, _, out, err = run_captured(argv, SUITE_TIMEOUT, env=mpi_env())
        except PeerError as e:
            rc, out, err = 124, "", str(e)
        rows = [r.split(",") for r in out.splitlines() if r]
        if rc != 0 or not rows or len(rows[-1]) < 8:
            say("%s suite: bench-dispatch %s %g at %d workers failed: %s" % (
                PROG, work, task_s, workers, err.strip()[-300:]))
            self.failures += 1
            return None
        return float(rows[-1][6])

    # -- the parts ---------------------------------------------------------

    def calibrate_pi(self):
        """Seconds of one pi task (10^6 samples), from a short run."""
        rep, _ = self.loom_run(1, ["--kind", "pi", "--count", "4"])
        if not rep:
            return None
        return rep["task_seconds"]["sum"] / 4

    def scaling_cases(self):
        """(bench, kind, task_s, tasks at w workers, args): spin tasks of
        1 and 10 ms; pi tasks, as many as the spin work takes; the primes
        below 10^k split into 100 ranges a worker (strong only: its ranges
        tile a fixed interval)."""
        p = self.p
        pi_s = self.calibrate_pi()
        top = self.workers[-1]
        cases = []
        for bench, total in (("strong", p["strong_s"]), ("weak", p["weak_s"])):
            def count(task_s, w, total=total, bench=bench):
                return max(1, int(round(
                    total * (w if bench == "weak" else 1) / task_s)))
            for d in (1e-3, 1e-2):
                cases.append((bench, "spin", d, count, [
                    "-a", "dist=fixed", "-a", "mean=%g" % d]))
            if pi_s:
                cases.append((bench, "pi", pi_s, count, []))
        cases.append(("strong", "primes", 0, lambda d, w: 100 * top,
                      ["-a", "limit=%d" % p["primes_limit"]]))
        return cases

    def scaling(self, out):
        keep = None
        cases = self.scaling_cases()
        for rep_i in range(self.p["repeats"]):
            for bench, kind, task_s, count, args in cases:
                for w in self.workers:
                    n = count(task_s, w)
                    name = "%s-%s-%g-%d" % (bench, kind, task_s, w)
                    rep, rundir = self.loom_run(
                        w, ["--kind", kind, "--count", str(n)] + args, name)
                    if not rep:
                        continue
                    # Spin work is known; the others' is what they took.
                    work = (n * task_s if kind == "spin" else
                            rep["task_seconds"]["sum"])
                    out.write("%s,%s,%g,%d,%d,%d,%d,%.6f,%d,%.6f,,\n" % (
                        bench, kind, task_s, w + 1, w, self.over(w), n, work,
                        rep_i, rep["makespan_s"]))
                    out.flush()
                    if (bench == "strong" and kind == "spin" and
                            task_s == 1e-3 and w == self.workers[-1]):
                        keep = rundir  # the timeline's run
                    elif rundir != keep:
                        shutil.rmtree(rundir, ignore_errors=True)
        return keep

    def metg_part(self, out):
        p = self.p
        for rep_i in range(p["repeats"]):
            for w in self.workers:
                for d in p["metg"]:
                    n = max(1, int(round(p["metg_s"] * w / d)))
                    rep, rundir = self.loom_run(w, [
                        "--kind", "spin", "--count", str(n), "-a",
                        "dist=fixed", "-a", "mean=%g" % d], "metg")
                    shutil.rmtree(rundir, ignore_errors=True)
                    rows = []
                    if rep:
                        rows.append(("loom-run", rep["makespan_s"]))
                    for impl, array in (("loom-lib", False),
                                        ("loom-lib-array", True)):
                        secs = self.lib_run(w, "spin", d, n, array)
                        if secs:
                            rows.append((impl, secs))
                    for impl, span in rows:
                        out.write("%s,%d,%d,%d,%g,%d,%d,%.6f,%.6f\n" % (
                            impl, w + 1, w, self.over(w), d, n, rep_i, span,
                            efficiency(n, d, w, span)))
                    out.flush()

    def peers_part(self, out):
        p = self.p
        have_futures, why = peer_ensure("futures")
        if not have_futures:
            say("%s suite: %s" % (PROG, why))
        have_parallel, why = peer_ensure("parallel")
        if not have_parallel:
            say("%s suite: %s" % (PROG, why))
        taskfile = os.path.join(self.tmp, "true.txt")
        with open(taskfile, "w") as f:
            f.write("true\n" * p["true"])

        def row(workload, w, impl, n, rep_i, secs):
            out.write("%s,%d,%d,%d,%s,%d,%d,%.6f,%.1f,\n" % (
                workload, w + 1, w, self.over(w), impl, n, rep_i, secs,
                n / secs if secs else 0))
            out.flush()

        for rep_i in range(p["repeats"]):
            for w in self.workers:
                for workload, work, d, n, kind in (
                        ("empty", "none", 0.0, p["empty"], ["noop"]),
                        ("1ms", "spin", 1e-3, p["spin"] * w,
                         ["spin", "-a", "dist=fixed", "-a", "mean=0.001"])):
                    for impl, array in (("loom-lib", False),
                                        ("loom-lib-array", True)):
                        secs = self.lib_run(w, work, d, n, array)
                        if secs:
                            row(workload, w, impl, n, rep_i, secs)
                    rep, rundir = self.loom_run(w, ["--kind", kind[0],
                                                    "--count", str(n)] +
                                                kind[1:], "peer")
                    shutil.rmtree(rundir, ignore_errors=True)
                    if rep:
                        row(workload, w, "loom-run", n, rep_i,
                            rep["makespan_s"])
                    for chunk in ((1, 64, 1000) if have_futures else ()):
                        # One task a message runs at a few thousand a
                        # second: fewer of them give the same rate.
                        m = min(n, 20000 * w) if chunk == 1 else n
                        try:
                            r = run_futures(w + 1, work, d, m, chunk,
                                            timeout=SUITE_TIMEOUT)[0]
                            row(workload, w, r["impl"], m, rep_i,
                                r["seconds"])
                        except PeerError as e:
                            say("%s suite: %s" % (PROG, e))
                            self.failures += 1
                # `true` commands: whole wall time, launch included.
                t0 = time.monotonic()
                rep, rundir = self.loom_run(w, [taskfile], "true")
                wall = time.monotonic() - t0
                shutil.rmtree(rundir, ignore_errors=True)
                if rep:
                    row("true", w, "loom-run", p["true"], rep_i, wall)
                for impl, fn in (("xargs", run_xargs),
                                 ("parallel", run_parallel)):
                    if impl == "parallel" and not have_parallel:
                        continue
                    try:
                        row("true", w, impl, p["true"], rep_i,
                            fn(taskfile, w, timeout=SUITE_TIMEOUT))
                    except PeerError as e:
                        say("%s suite: %s" % (PROG, e))
                        self.failures += 1

    def ceiling_part(self, out):
        """Measures the master's cost per task and per message here, then
        asks loom sim how many cores one such master keeps busy."""
        p = self.p
        n = p["calib"]
        # Per task: empty tasks on one worker with a deep window, so that
        # the master is the bottleneck. Each task is handed out and
        # recorded: half each.
        rep, rundir = self.loom_run(1, ["--kind", "noop", "--count", str(n),
                                        "--window", "16"], "calib")
        shutil.rmtree(rundir, ignore_errors=True)
        if not rep:
            return
        per_task = rep["makespan_s"] / n / 2
        # Per message: the same with one task a message.
        m = max(1000, n // 50)
        rep, rundir = self.loom_run(1, ["--kind", "noop", "--count", str(m),
                                        "--window", "16", "--batch-max",
                                        "1"], "calib")
        shutil.rmtree(rundir, ignore_errors=True)
        if not rep:
            return
        per_msg = max(0.0, (rep["makespan_s"] / m - 2 * per_task) / 2)
        out.write("measured,,,,,%d,,,%.9f\n" % (n, per_task))
        out.write("measured-msg,,,,,%d,,,%.9f\n" % (m, per_msg))
        cost = "%.9g:%.9g" % (per_msg, per_task)
        for d in CEILING_DURATIONS:
            for slots in (1, CEILING_NODE_CORES):
                cores = CEILING_NODE_CORES
                below = 0
                while cores <= 2 * CEILING_TARGET_CORES and below < 2:
                    workers = max(1, cores // slots)
                    tasks = min(p["sim_per_core"] * cores, p["sim_tasks_max"])
                    tasks = max(tasks, 2 * cores)
                    argv = [self.loom, "sim", "--json", "--workers",
                            str(workers), "--slots", str(slots), "--tasks",
                            str(tasks), "--dist", "fixed", "--mean", repr(d),
                            "--master-cost", cost]
                    r = subprocess.run(argv, capture_output=True, text=True)
                    if r.returncode != 0:
                        say("%s suite: %s: %s" % (PROG, " ".join(argv),
                                                  r.stderr.strip()))
                        self.failures += 1
                        break
                    j = json.loads(r.stdout)
                    eff = j["balance"]["efficiency"]
                    out.write("sim,%g,%d,%d,%d,%d,%.6f,%.6f,\n" % (
                        d, slots, cores, workers, tasks, eff,
                        j["master_busy"]))
                    out.flush()
                    below += eff < 0.5
                    cores *= p["sim_step"]

    def run(self):
        os.makedirs(self.dir, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="loombench_suite.") as tmp:
            self.tmp = tmp
            with open(os.path.join(self.dir, "machine.md"), "w") as f:
                f.write(machine_md(self.loom, self.cores, self.workers))
            parts = [("scaling.csv", SCALING_HEADER, self.scaling),
                     ("metg.csv", METG_HEADER, self.metg_part),
                     ("peers.csv", PEERS_HEADER, self.peers_part),
                     ("ceiling.csv", CEILING_HEADER, self.ceiling_part)]
            timeline_run = None
            for name, header, fn in parts:
                say("%s suite: %s" % (PROG, name))
                path = os.path.join(self.dir, name)
                with open(path + ".tmp", "w") as out:
                    out.write(header + "\n")
                    got = fn(out)
                    timeline_run = timeline_run or got
                os.replace(path + ".tmp", path)
            fill_scaling(os.path.join(self.dir, "scaling.csv"))
            fill_peers(os.path.join(self.dir, "peers.csv"))
            if timeline_run:
                shutil.copy(os.path.join(timeline_run, "joblog.tsv"),
                            os.path.join(self.dir, "timeline_joblog.tsv"))
        summary = suite_summary(self.dir, self.cores)
        with open(os.path.join(self.dir, "summary.md"), "w") as f:
            f.write(summary)
        print(summary)
        if shutil.which("gnuplot"):
            plot_suite(self.dir, self.cores)
        else:
            say("%s suite: gnuplot not found: no plots" % PROG)
        return self.failures


def fill_scaling(path):
    """Adds speedup and efficiency to each row. Strong: speedup = 1
    worker's makespan over this one's. Weak: 1 worker's makespan x workers
    over this one's (ideal = workers). Efficiency: for spin tasks, their
    known work over workers x makespan; for the others, speedup over
    workers."""
    rows = read_csv(path)
    one = {}
    for r in rows:
        if r["workers"] == "1":
            one.setdefault((r["bench"], r["kind"], r["task_s"], r["rep"]),
                           float(r["makespan_s"]))
    for r in rows:
        span = float(r["makespan_s"])
        base = one.get((r["bench"], r["kind"], r["task_s"], r["rep"]))
        w = int(r["workers"])
        if r["bench"] == "strong":
            r["speedup"] = "%.4f" % (base / span) if base and span else ""
        else:  # weak: 1 worker's time over this one's (ideal 1)
            r["speedup"] = "%.4f" % (base / span * w) if base and span else ""
        if r["kind"] == "spin":
            r["efficiency"] = "%.4f" % (float(r["work_s"]) / (w * span)) \
                if span > 0 else ""
        else:
            r["efficiency"] = "%.4f" % (float(r["speedup"]) / w) \
                if r["speedup"] else ""
    write_dicts(path, SCALING_HEADER, rows)


def fill_peers(path):
    """Adds each row's ratio: loom's tasks per second (the library for
    in-process peers, loom run for commands) over the row's."""
    rows = read_csv(path)
    loom = {}
    for r in rows:
        impl = r["impl"]
        if impl.startswith("loom"):
            loom[(r["workload"], r["ranks"], r["rep"], impl)] = \
                float(r["tasks_per_s"])
    for r in rows:
        ref = "loom-run" if r["workload"] == "true" else "loom-lib"
        if r["workload"] != "true" and r["impl"].startswith("loom"):
            ref = r["impl"]
        base = loom.get((r["workload"], r["ranks"], r["rep"], ref))
        v = float(r["tasks_per_s"])
        r["loom_over_impl"] = "%.3f" % (base / v) if base and v else ""
    write_dicts(path, PEERS_HEADER, rows)


def write_dicts(path, header, rows):
    fields = header.split(",")
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
    os.replace(path + ".tmp", path)


def md_table(header, rows):
    return (["| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)] +
            ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def num(v, fmt="%.3g"):
    return fmt % v if v is not None else "-"


def medians_by(rows, key_of, fields):
    """{key: {field: median}} over the rows of each key."""
    return {key: dict(zip(fields, meds))
            for key, _, meds in group_medians(rows, key_of, fields)}


def csv_blocks(path):
    """A summary CSV's blocks (separated by blank lines), each a list of
    dicts under its own header line."""
    with open(path) as f:
        text = f.read()
    return [list(csv.DictReader(b.strip().splitlines()))
            for b in text.split("\n\n") if b.strip()]


def others_summary(d):
    """The markdown of the other benchmarks run into folder d (dispatch,
    state, slots, balance-sim), where their files are."""
    out = []
    path = os.path.join(d, "dispatch_summary.csv")
    if os.path.isfile(path):
        rows = [r for r in csv_blocks(path)[0]
                if r["impl"] in ("loom", "loom-array")]
        out += ["### Dispatch: the library against hand-written MPI", "",
                "Empty tasks, loom's library over a hand-batched master/"
                "worker loop (64 tasks a message, no per-task records) and "
                "over the textbook one (a task a message), in the same run "
                "(`dispatch_summary.csv`; the issue's target for the "
                "batched ratio is 0.8). `loom` feeds one spec per task, "
                "`loom-array` the same tasks as one task array:", ""]
        out += md_table(["ranks", "impl", "loom tasks/s",
                         "loom / hand-batched", "loom / textbook"], [
            [r["ranks"], r["impl"], "%.3g" % float(r["tasks_per_s"]),
             r["loom_over_batched"], r["loom_over_textbook"]]
            for r in rows if r["work"] == "none"]) + [""]
    path = os.path.join(d, "state_summary.csv")
    if os.path.isfile(path):
        rows = [r for r in csv_blocks(path)[0]
                if r["impl"] == "loom" and r["mix"] == "add"]
        out += ["### The state table", "",
                "Fetch-adds per second per client and median latency, per "
                "consistency mode (`state_summary.csv`):", ""]
        out += md_table(["mode", "ranks", "calls/s per client",
                         "median us"], [
            [r["mode"], r["ranks"], "%.3g" % float(r["ops_per_s"]),
             r["lat_median_us"]] for r in rows]) + [""]
    path = os.path.join(d, "slots_summary.csv")
    if os.path.isfile(path):
        blocks = csv_blocks(path)
        if len(blocks) > 1:
            out += ["### Slots against ranks", "",
                    "One rank with N slots over N one-slot ranks "
                    "(`slots_summary.csv`):", ""]
            out += md_table(["workload", "throughput", "messages",
                             "node memory"], [
                [r["workload"], r["throughput_slots_over_ranks"],
                 r["msgs_slots_over_ranks"], r["rss_slots_over_ranks"]]
                for r in blocks[1]]) + [""]
    path = os.path.join(d, "balance_sim.csv")
    if os.path.isfile(path):
        best = {}
        for r in read_csv(path):
            key = (r["workers"], r["tasks"], r["workload"], r["hints"],
                   r["speeds"], r["window"])
            best[key] = min(best.get(key, 1e300), float(r["ratio"]))
        for hints in ("yes", "no"):
            vals = [v for k, v in best.items() if k[3] == hints]
            if vals:
                out.append("- Balance (`balance_sim.csv`), %s hints: the "
                           "best policy's makespan / lower bound is at "
                           "most %.3f over %d cases." % (
                               "with" if hints == "yes" else "without",
                               max(vals), len(vals)))
        out.append("")
    return (["## The other benchmarks in this folder", ""] + out) if out \
        else []


def suite_summary(d, cores):
    """summary.md from the folder's CSVs: medians over repeats."""
    out = ["# loom on %s" % os.path.basename(d), "",
           "See machine.md for the machine. Medians over repeats; every "
           "ratio is measured in this run.", ""]
    path = os.path.join(d, "scaling.csv")
    if os.path.isfile(path):
        rows = read_csv(path)
        med = medians_by(rows, lambda r: (r["bench"], r["kind"],
                                             float(r["task_s"]),
                                             int(r["workers"])),
                            ["makespan_s", "speedup", "efficiency"])
        out += ["## Strong and weak scaling", "",
                "Strong: the same work at every rank count (speedup over 1 "
                "worker). Weak: the same work per worker (speedup: 1 "
                "worker's time x workers over this time; ideal = workers). "
                "Efficiency: for spin tasks their known work over workers x "
                "makespan (1 is perfect, the master's and the launch's time "
                "included); for pi and primes, speedup over workers.", ""]
        t = []
        for (bench, kind, task_s, w), m in sorted(med.items()):
            t.append([bench, kind, human_seconds(task_s) if task_s else "-",
                      w + 1, w,
                      num(m["makespan_s"], "%.3f"), num(m["speedup"], "%.2f"),
                      num(m["efficiency"], "%.3f") +
                      (" (oversubscribed)" if oversubscribed(w, cores)
                       else "")])
        out += md_table(["scaling", "kind", "task", "ranks", "workers",
                         "makespan s", "speedup", "efficiency"], t) + [""]
    path = os.path.join(d, "metg.csv")
    if os.path.isfile(path):
        rows = read_csv(path)
        med = medians_by(rows, lambda r: (r["impl"], int(r["workers"]),
                                             float(r["task_s"])),
                            ["efficiency"])
        out += ["## METG: the smallest task worth running", "",
                "Efficiency = tasks x duration / (workers x makespan) for "
                "spin tasks of one duration. METG(x) is the smallest "
                "duration from which on efficiency stays at x or above "
                "(interpolated; `<` or `>`: beyond the durations run).", ""]
        t = []
        for impl, w in sorted({(k[0], k[1]) for k in med}):
            pts = [(k[2], m["efficiency"]) for k, m in med.items()
                   if k[0] == impl and k[1] == w]
            t.append([impl, w + 1, w, metg_text(metg(pts, 0.5)),
                      metg_text(metg(pts, 0.9))] +
                     [num(e, "%.2f") for _, e in sorted(pts)])
        durs = sorted({k[2] for k in med})
        out += md_table(["impl", "ranks", "workers", "METG(50%)",
                         "METG(90%)"] + ["eff @ %s" % human_seconds(x)
                                         for x in durs], t) + [""]
    path = os.path.join(d, "peers.csv")
    if os.path.isfile(path):
        rows = read_csv(path)
        med = medians_by(rows, lambda r: (r["workload"], int(r["workers"]),
                                             r["impl"]),
                            ["tasks_per_s", "loom_over_impl"])
        out += ["## Peers, side by side", "",
                "Tasks per second (`true`: whole command, launch included). "
                "The ratio is loom's rate over the peer's: above 1 loom is "
                "faster, below 1 it loses. Empty and 1 ms tasks compare "
                "with the library; `true` commands with `loom run`.", ""]
        t = []
        for (wl, w, impl), m in sorted(med.items()):
            t.append([wl, w + 1, w, impl, num(m["tasks_per_s"], "%.4g"),
                      num(m["loom_over_impl"], "%.2f")])
        out += md_table(["workload", "ranks", "workers", "impl", "tasks/s",
                         "loom / impl"], t) + [""]
        losses = [(wl, w, impl, m["loom_over_impl"])
                  for (wl, w, impl), m in sorted(med.items())
                  if m["loom_over_impl"] is not None and
                  m["loom_over_impl"] < 1 and not impl.startswith("loom")]
        if losses:
            out += ["Where loom loses: " + "; ".join(
                "%s tasks at %d workers, %s is %.2fx faster" % (
                    wl, w, impl, 1 / r) for wl, w, impl, r in losses), ""]
        else:
            out += ["loom is at least as fast as every peer measured.", ""]
        lib_run = [(wl, w, m["tasks_per_s"]) for (wl, w, impl), m in
                   sorted(med.items()) if impl == "loom-run"]
        for wl, w, v in lib_run:
            lib = med.get((wl, w, "loom-lib"))
            if lib and lib["tasks_per_s"] and v:
                out.append("- %s tasks at %d workers: `loom run` does %.2fx "
                           "the library's rate (journal and all)." % (
                               wl, w, v / lib["tasks_per_s"]))
        for (wl, w, impl), m in sorted(med.items()):
            lib = med.get((wl, w, "loom-lib"))
            if impl == "loom-lib-array" and lib and lib["tasks_per_s"] and \
                    m["tasks_per_s"]:
                out.append("- %s tasks at %d workers: the same tasks as one "
                           "task array run at %.2fx the rate of a spec per "
                           "task." % (wl, w,
                                      m["tasks_per_s"] / lib["tasks_per_s"]))
        out.append("")
    path = os.path.join(d, "ceiling.csv")
    if os.path.isfile(path):
        rows = read_csv(path)
        meas = {r["what"]: float(r["value"]) for r in rows
                if r["what"].startswith("measured")}
        out += ["## The single master's ceiling", ""]
        sims = [r for r in rows if r["what"] == "sim"]
        if "measured" in meas and sims:
            pt, pm = meas["measured"], meas.get("measured-msg", 0)
            out += ["Measured here: the master spends %s per task handed "
                    "out or recorded and at most %s per message (the "
                    "makespan of one-task messages to one worker, whose "
                    "threads may share the master's cores), so about %.3g "
                    "empty tasks a second, journal included. `loom sim "
                    "--master-cost %.3g:%.3g` then gives, per task "
                    "duration, the most cores one master keeps at 90%% and "
                    "50%% efficiency (simulated runs of %d tasks a core, "
                    "%s tasks at most):"
                    % (human_seconds(pt), human_seconds(pm), 1 / (2 * pt),
                       pm, pt, max(int(r["tasks"]) // int(r["cores"])
                                   for r in sims),
                       "{:,}".format(max(int(r["tasks"]) for r in sims))),
                    ""]
        counts = sorted({int(r["cores"]) for r in sims})
        step = counts[1] // counts[0] if len(counts) > 1 else 1
        t = []
        for dur in sorted({float(r["task_s"]) for r in sims}):
            for slots in sorted({int(r["slots"]) for r in sims}):
                pts = [(int(r["cores"]), float(r["efficiency"])) for r in sims
                       if float(r["task_s"]) == dur and
                       int(r["slots"]) == slots]
                if not pts:
                    continue
                c90, c50 = ceiling_of(pts, 0.9), ceiling_of(pts, 0.5)
                t.append([human_seconds(dur),
                          "one rank a core" if slots == 1 else
                          "one rank a %d-core node (slots)" % slots,
                          "{:,}".format(c90) if c90 else "< %d" % min(
                              c for c, _ in pts),
                          "{:,}".format(c50) if c50 else "-",
                          "yes" if c90 and c90 >= CEILING_TARGET_CORES else
                          "no"])
        out += md_table(["task", "layout", "cores at 90%", "cores at 50%",
                         "10,000 x 128 cores at 90%?"], t) + [
            "", "The cores are tried in steps of %dx from 128, so a ceiling "
            "is good to that factor. With slots the master still hands out "
            "and records every task, and a task of 10 ms or more (the "
            "default batch target) travels in a message of its own, so slots "
            "save ranks and memory, not the master's time." % step, ""]
    out += others_summary(d)
    return "\n".join(out) + "\n"


def plot_suite(d, cores):
    """speedup.png, metg.png, timeline.png and ceiling.png from the
    folder's CSVs (each one whose CSV is there)."""
    term = png_terminal("size 1000,560 enhanced font ',11'", "size 1000,560")
    with tempfile.TemporaryDirectory(prefix="loombench_plot.") as tmp:
        scripts = []
        path = os.path.join(d, "scaling.csv")
        if os.path.isfile(path):
            med = medians_by(
                [r for r in read_csv(path) if r["bench"] == "strong"],
                lambda r: (r["kind"], float(r["task_s"]), int(r["workers"])),
                ["speedup"])
            curves, top = [], 1
            for i, (kind, ts) in enumerate(sorted({k[:2] for k in med})):
                dat = os.path.join(tmp, "s%d.dat" % i)
                pts = sorted((k[2], m["speedup"]) for k, m in med.items()
                             if k[:2] == (kind, ts) and m["speedup"])
                top = max([top] + [w for w, _ in pts])
                with open(dat, "w") as f:
                    f.write("".join("%d %g\n" % p for p in pts))
                curves.append("'%s' using 1:2 with linespoints lw 2 lc rgb "
                              "'%s' title '%s %s'" % (
                                  dat, COLOURS[i % len(COLOURS)], kind,
                                  human_seconds(ts) if ts else ""))
            scripts.append([
                "set output '%s'" % os.path.join(d, "speedup.png"),
                "set title 'Strong scaling: speedup over one worker "
                "(%d cores; more workers than cores are oversubscribed)'"
                % cores, "set xlabel 'workers'", "set ylabel 'speedup'",
                "set grid", "set key top left", "set xrange [1:%d]" % top,
                "set yrange [0:%d]" % (top + 1),
                "plot x with lines dt 2 lc rgb 'black' title 'ideal', " +
                ", ".join(curves)])
        path = os.path.join(d, "metg.csv")
        if os.path.isfile(path):
            med = medians_by(read_csv(path), lambda r: (
                r["impl"], int(r["workers"]), float(r["task_s"])),
                ["efficiency"])
            curves = []
            for i, (impl, w) in enumerate(sorted({k[:2] for k in med})):
                dat = os.path.join(tmp, "m%d.dat" % i)
                with open(dat, "w") as f:
                    f.write("".join("%g %g\n" % (k[2], m["efficiency"])
                                    for k, m in sorted(med.items())
                                    if k[:2] == (impl, w)))
                curves.append("'%s' using 1:2 with linespoints lw 2 lc rgb "
                              "'%s' dt %d title '%s, %d workers'" % (
                                  dat, COLOURS[w % len(COLOURS)],
                                  {"loom-run": 1, "loom-lib": 2}.get(impl, 4),
                                  impl, w))
            scripts.append([
                "set output '%s'" % os.path.join(d, "metg.png"),
                "set title 'Efficiency against task duration (METG: where "
                "a curve crosses 50% and 90%)'", "set logscale x",
                "set format x '%.0s%cs'", "set xlabel 'task duration'",
                "set ylabel 'efficiency'", "set yrange [0:1.1]", "set grid",
                "set key bottom right",
                "plot 0.5 with lines dt 3 lc rgb 'gray' notitle, 0.9 with "
                "lines dt 3 lc rgb 'gray' notitle, " + ", ".join(curves),
                "unset logscale x", "set format x"])
        path = os.path.join(d, "timeline_joblog.tsv")
        if os.path.isfile(path):
            rows = read_joblog(path)
            t0 = min(float(r["start"]) for r in rows) if rows else 0
            dat = os.path.join(tmp, "t.dat")
            with open(dat, "w") as f:
                for r in rows:
                    f.write("%g %s %g\n" % (float(r["start"]) - t0, r["rank"],
                                            float(r["elapsed"])))
            ranks = sorted({int(r["rank"]) for r in rows}) or [1]
            scripts.append([
                "set output '%s'" % os.path.join(d, "timeline.png"),
                "set title 'One run, per worker: each bar a task (1 ms "
                "spin, strong scaling); white gaps are idle time'",
                "set xlabel 'seconds since the first task started'",
                "set ylabel 'worker rank'", "set grid x",
                "set yrange [%g:%g]" % (ranks[0] - 0.6, ranks[-1] + 0.6),
                "set ytics 1", "set key off",
                "plot '%s' using 1:2:3:(0) with vectors nohead lw 18 lc rgb "
                "'#3060c0'" % dat])
        path = os.path.join(d, "ceiling.csv")
        if os.path.isfile(path):
            sims = [r for r in read_csv(path) if r["what"] == "sim"]
            curves = []
            keys = sorted({(float(r["task_s"]), int(r["slots"]))
                           for r in sims})
            for i, (ts, slots) in enumerate(keys):
                dat = os.path.join(tmp, "c%d.dat" % i)
                with open(dat, "w") as f:
                    f.write("".join("%s %s\n" % (r["cores"], r["efficiency"])
                                    for r in sims
                                    if float(r["task_s"]) == ts and
                                    int(r["slots"]) == slots))
                curves.append("'%s' using 1:2 with linespoints lw 2 lc rgb "
                              "'%s' dt %d title '%s tasks, %s'" % (
                                  dat, COLOURS[CEILING_DURATIONS.index(ts) %
                                               len(COLOURS)]
                                  if ts in CEILING_DURATIONS else COLOURS[0],
                                  1 if slots == 1 else 2, human_seconds(ts),
                                  "a rank a core" if slots == 1 else
                                  "a rank a node (slots)"))
            if curves:
                scripts.append([
                    "set output '%s'" % os.path.join(d, "ceiling.png"),
                    "set title 'One master (its costs measured here, "
                    "modelled in loom sim): efficiency against cores'",
                    "set logscale x", "set xlabel 'cores'",
                    "set ylabel 'efficiency'", "set yrange [0:1.1]",
                    "set grid", "set key outside right",
                    "set arrow from %d, graph 0 to %d, graph 1 nohead dt 3"
                    % (CEILING_TARGET_CORES, CEILING_TARGET_CORES),
                    "set label '10,000 x 128 cores' at %d, graph 0.95 right "
                    "offset -1,0" % CEILING_TARGET_CORES,
                    "plot " + ", ".join(curves),
                    "unset arrow", "unset label", "unset logscale x"])
        for i, body in enumerate(scripts):
            script = os.path.join(tmp, "p%d.gp" % i)
            with open(script, "w") as f:
                f.write("\n".join(["set terminal " + term] + body) + "\n")
            if subprocess.run(["gnuplot", script]).returncode != 0:
                raise BenchError("gnuplot failed on %s" % body[0])
            print("wrote %s" % body[0].split("'")[1])


def run_suite(opts):
    mode = mode_of(opts)
    if opts.max_ranks is not None and opts.max_ranks < 2:
        raise BenchError("--max-ranks %d: at least 2 (a master and a worker)"
                         % opts.max_ranks)
    require_build(opts, ["loom", "bench-dispatch"])
    suite = Suite(opts, mode)
    say("%s suite: %s mode, ranks %s, into %s" % (
        PROG, mode, ", ".join(str(w + 1) for w in suite.workers), suite.dir))
    failures = suite.run()
    if SUITE_MODES[mode]["others"]:
        # Dispatch whole (its quick form's 20,000 tasks measure startup,
        # not the rate); the others quick.
        for name, quick in (("dispatch", False), ("balance-sim", True),
                            ("state", True), ("slots", True)):
            say("%s suite: %s%s" % (PROG, name, " --quick" if quick else ""))
            sub = argparse.Namespace(**vars(opts))
            sub.quick, sub.smoke, sub.results = quick, False, suite.dir
            sub.no_build = True
            if SUBCOMMANDS[name][1](sub):
                failures += 1
        with open(os.path.join(suite.dir, "summary.md"), "w") as f:
            f.write(suite_summary(suite.dir, suite.cores))
    print("wrote %s" % suite.dir)
    if failures:
        say("%s suite: %d part(s) failed (see above)" % (PROG, failures))
    return 1 if failures else 0


# ---------------------------------------------------------------------------
# The command line.

SUBCOMMANDS = {
    # name: (help text, runner, has --smoke, one-line summary)
    "dispatch": (DISPATCH_HELP, run_dispatch, True,
                 "loom's dispatch rate against MPI baselines; loom run "
                 "against a shell loop"),
    "balance-sim": (BALANCE_SIM_HELP, run_balance_sim, True,
                    "every policy against the lower bound in loom sim"),
    "balance-real": (BALANCE_REAL_HELP, run_balance_real, True,
                     "the same in real loom runs at 3-5 ranks"),
    "slowdown": (SLOWDOWN_HELP, run_slowdown, False,
                 "a worker slowed down by a CPU hog mid-run"),
    "bigfile": (BIGFILE_HELP, run_bigfile, True,
                "task-file memory for 10k to 10M lines"),
    "state": (STATE_HELP, run_state, True,
              "the state table's calls per mode, beside MPI baselines"),
    "slots": (SLOTS_HELP, run_slots, True,
              "one rank with N slots against N one-slot ranks"),
    "suite": (SUITE_HELP, run_suite, True,
              "the one command: scaling, METG, peers and the master's "
              "ceiling, into one folder"),
    "plot": (PLOT_HELP, run_plot, False,
             "PNG plots of every CSV there is (or: plot dispatch|balance)"),
}


class _HelpText(argparse.Action):
    """-h/--help that prints a fixed text."""

    def __init__(self, option_strings, dest, text="", **kw):
        kw.setdefault("nargs", 0)
        kw.setdefault("default", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kw)
        self.text = text

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(self.text)
        parser.exit(0)


def top_help():
    lines = ["usage: bench/loombench.py SUBCOMMAND [OPTIONS] [BUILD_DIR]", "",
             "loom's benchmarks. Subcommands:"]
    for name, (_, _, _, summary) in SUBCOMMANDS.items():
        lines.append("  %-13s %s" % (name, summary))
    lines += ["", "`bench/loombench.py SUBCOMMAND --help` describes each one. "
              "CSV files go to", "bench/results/ (LOOM_BENCH_RESULTS or "
              "--results DIR moves them).", ""]
    return "\n".join(lines)


def make_parser():
    parser = argparse.ArgumentParser(prog=PROG, add_help=False)
    parser.add_argument("-h", "--help", action=_HelpText, text=top_help())
    sub = parser.add_subparsers(dest="cmd", metavar="SUBCOMMAND")
    sub.required = True
    for name, (text, fn, smoke, summary) in SUBCOMMANDS.items():
        p = sub.add_parser(name, add_help=False, help=summary,
                           prog="%s %s" % (PROG, name))
        p.add_argument("-h", "--help", action=_HelpText, text=text)
        p.add_argument("--results", metavar="DIR")
        if name == "plot":
            p.add_argument("family", nargs="?",
                           choices=["dispatch", "balance", "state"])
            p.add_argument("--output", metavar="DIR")
        else:
            g = p.add_mutually_exclusive_group()
            g.add_argument("--quick", action="store_true")
            if smoke:
                g.add_argument("--smoke", action="store_true")
            p.add_argument("--no-build", action="store_true")
            p.add_argument("build", nargs="?", metavar="BUILD_DIR")
            if name == "suite":
                p.add_argument("--max-ranks", type=int, metavar="N")
        p.set_defaults(func=fn)
    return parser


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    opts = make_parser().parse_args(argv)
    if hasattr(opts, "build"):
        opts.build = build_dir(opts.build)
    try:
        return opts.func(opts) or 0
    except BenchError as e:
        say("%s %s: %s" % (PROG, opts.cmd, e))
        return 1
    except KeyboardInterrupt:
        say("%s %s: interrupted" % (PROG, opts.cmd))
        return 130


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupted)
    sys.exit(main())
