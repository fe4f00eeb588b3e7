#!/usr/bin/env python3
"""peer_futures.py - the mpi4py.futures peer of loom's dispatch benchmark.

Run as

    mpirun -np N python3 -m mpi4py.futures bench/peer_futures.py \\
        --work none|spin --seconds S --tasks T --chunksize C [--repeat R]

Under `-m mpi4py.futures` rank 0 runs main() and ranks 1..N-1 form the
pool's workers: N-1 workers, as many as loom's master leaves to its own
workers at N ranks, so the two dispatch rates compare at equal ranks. The
workers import this file as `__worker__` to find the task functions, which
is why they live at the top level and main() runs only under `__main__`.

Prints one CSV line per timed repeat and nothing else on stdout:
impl,ranks,workers,work,task_s,tasks,seconds,tasks_per_s
"""

import argparse
import sys
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor

WARMUP_TASKS = 1000


def task_none(i):
    """An empty task: what is left is the pool's own cost per task."""
    return i


def task_spin(args):
    """Busy-waits seconds of wall time on the CPU, as loom's spin kind does,
    so that the workers compete for cores like real CPU-bound tasks."""
    i, seconds = args
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return i


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="peer_futures.py",
        description="mpi4py.futures dispatch rate, one CSV line a repeat")
    p.add_argument("--work", choices=("none", "spin"), required=True)
    p.add_argument("--seconds", type=float, default=0.0,
                   help="seconds per spin task")
    p.add_argument("--tasks", type=int, required=True)
    p.add_argument("--chunksize", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1)
    opts = p.parse_args(argv)
    if opts.tasks < 1 or opts.chunksize < 1 or opts.repeat < 1:
        p.error("--tasks, --chunksize and --repeat must be positive")
    if opts.seconds < 0:
        p.error("--seconds must not be negative")
    return opts


def run_map(pool, opts, ntasks):
    """One map of ntasks tasks; returns how many results came back, having
    consumed every one (map is lazy: an unread result is not yet done)."""
    if opts.work == "spin":
        fn = task_spin
        args = ((i, opts.seconds) for i in range(ntasks))
    else:
        fn = task_none
        args = range(ntasks)
    count = 0
    for _ in pool.map(fn, args, chunksize=opts.chunksize):
        count += 1
    return count


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    ranks = MPI.COMM_WORLD.Get_size()
    workers = ranks - 1
    task_s = opts.seconds if opts.work == "spin" else 0.0
    impl = "futures-c%d" % opts.chunksize
    with MPIPoolExecutor() as pool:
        # Untimed: the first map waits for the workers to connect.
        warm = min(opts.tasks, WARMUP_TASKS)
        if run_map(pool, opts, warm) != warm:
            print("peer_futures: warm-up map lost results", file=sys.stderr)
            return 1
        for _ in range(opts.repeat):
            t0 = time.perf_counter()
            count = run_map(pool, opts, opts.tasks)
            seconds = time.perf_counter() - t0
            if count != opts.tasks:
                print("peer_futures: %d results for %d tasks"
                      % (count, opts.tasks), file=sys.stderr)
                return 1
            print("%s,%d,%d,%s,%g,%d,%.6f,%.1f" % (
                impl, ranks, workers, opts.work, task_s, opts.tasks,
                seconds, opts.tasks / seconds if seconds > 0 else 0.0))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
