#!/usr/bin/env python3
"""mutate.py - how strong is the test suite? Puts one deliberate bug into
the engine at a time and runs the tests that should notice it.

usage: scripts/mutate.py [--list] [--keep] [NAME...]

Each mutation replaces one exact snippet of one source file (it must occur
once) in a scratch copy of the tree (a git worktree of HEAD under
$TMPDIR/loom-mutants), rebuilds, and runs the ctest tests that guard that
code. A mutation is caught when one of them fails. The score is caught /
tried; every miss is a guarantee no test holds, and says which. Not part of
CI: a full pass rebuilds 20 times and takes about 20 minutes here.
--list prints the mutations; NAMEs pick some; --keep leaves the scratch
tree for inspection.
"""

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, file, snippet, replacement, ctest regex of the tests that guard it
MUTATIONS = [
    ("no-joblog-flush-after-completion", "engine/src/dispatch/master.c",
     "  if (m->joblog.fp)\n    journal_checked(m, loom__joblog_flush(&m->joblog));\n  return 0;",
     "  return 0;", "cli.faults"),
    ("quarantine-after-n-plus-one", "engine/src/dispatch/master.c",
     "if (++bad->blame < (uint32_t)m->l->opt.quarantine",
     "if (++bad->blame <= (uint32_t)m->l->opt.quarantine", "cli.stop"),
    ("retry-ignores-the-deadline", "engine/src/dispatch/master.c",
     "if (!loom__feed_fits_deadline(&m->feed, m->fl.s[si].cost)) {",
     "if (0) {", "cli.stop"),
    ("halt-counts-one-worker", "engine/src/dispatch/master.c",
     "m->rep.failed >= m->l->opt.halt", "m->rep.w[w].failed >= m->l->opt.halt",
     "cli.resume"),
    ("look-ahead-shortest-first", "engine/src/sched/ahead.h",
     "return loom__heap_push(a, -key, seq, ref);",
     "return loom__heap_push(a, key, seq, ref);",
     "unit.test_heap|cli.lookahead"),
    ("lost-output-recorded-ok", "engine/src/dispatch/exec.c",
     "    if (k[i].failed && !(d->flags & LOOM__DONE_OUTPUT)) {",
     "    if (0) {", "cli.faults"),
    ("no-watchdog", "engine/src/dispatch/exec.c",
     "    loom__watchdog_add(&x->watchdog, pid); /* its group: setpgroup 0 */",
     "", "cli.faults"),
    ("no-run-directory-lock", "engine/src/journal/rundir.c",
     "    if (flock(*fd, LOCK_EX | LOCK_NB) == 0)", "    if (1)",
     "cli.resume|unit.test_rundir"),
    ("journal-attempt-unchecked", "engine/src/journal/joblog.c",
     "  if (parse_int(fld[10], len[10], 1, LOOM__ATTEMPT_MAX, &v) != 0)",
     "  if (parse_int(fld[10], len[10], -2147483647, 2147483647, &v) != 0)",
     "unit.test_resume|cli.resume"),
    ("drain-ignored", "engine/src/dispatch/executor.c",
     "    if (atomic_load_explicit(&c->drain, memory_order_relaxed)) {",
     "    if (atomic_load_explicit(&c->exec.cancel, memory_order_relaxed)) {",
     "mpi.comm|cli.stop"),
    ("done-part-always-final", "engine/src/dispatch/master.c",
     "  final = (r.flags & LOOM__WIRE_FINAL) != 0;", "  final = 1;",
     "mpi.comm|mpi.api_run"),
    ("probe-never-refuses", "engine/src/dispatch/feed.c",
     "  if (!known && n > 0) {", "  if (0) {", "unit.test_feed|cli.resume"),
    ("hint-full-batches-never-close", "engine/src/sched/sched.c",
     "  return n > 0 && next_cost > 0 && cost + next_cost > s->batch_target;",
     "  return n > 0 && next_cost > 0 && cost + next_cost > s->batch_target &&"
     " 0;", "unit.test_batch|unit.test_sched"),
    ("retries-last-in-first-out", "engine/src/dispatch/inflight.c",
     "  f->retry_head = f->s[i].next;\n  if (f->retry_head == LOOM__NO_SLOT)\n    f->retry_tail = LOOM__NO_SLOT;\n  return i;",
     "  f->retry_head = f->s[i].next;\n  if (f->retry_head == LOOM__NO_SLOT)\n    f->retry_tail = LOOM__NO_SLOT;\n  return f->retry_tail != LOOM__NO_SLOT ? f->retry_tail : i;",
     "unit.test_inflight"),
    ("unknown-tags-accepted", "engine/src/comm/comm.c",
     "    if (tag <= 0 || tag >= LOOM__TAG_MAX || !c->on[tag].fn) {",
     "    if (tag <= 0 || tag >= LOOM__TAG_MAX) {", "mpi.comm"),
    ("long-commands-not-refused", "engine/src/dispatch/taskfile.c",
     "    if (spec->len > LOOM_SH_COMMAND_MAX)\n      return too_long(tf, spec->len);\n    return 1;",
     "    return 1;", "cli.bad_input"),
    ("weights-typo-ignored", "engine/src/sched/weights.c",
     "  if (*end || errno || !isfinite(w) || !(w > 0) || isspace((unsigned char)*num))",
     "  if (errno || !isfinite(w) || !(w > 0))", "unit.test_options|cli.topo"),
    ("stop-kills-without-grace", "engine/src/dispatch/master.c",
     "  if (requests < 2 && now - m->stop_at < m->l->opt.grace)",
     "  if (requests < 1)", "cli.stop"),
    ("full-disk-keeps-dispatching", "engine/src/dispatch/master.c",
     "  return !m->rep.halted && !m->rep.stopped && !m->io_failed;",
     "  return !m->rep.halted && !m->rep.stopped;", "cli.faults"),
    ("resume-skips-nothing", "engine/src/journal/resume.c",
     "  if (k->a > 0) {", "  if (0) {", "unit.test_resume|cli.resume"),
]


def run(argv, cwd, quiet=True):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if not quiet:
        sys.stdout.write(r.stdout + r.stderr)
    return r.returncode


def main(argv):
    keep = "--keep" in argv
    names = [a for a in argv if not a.startswith("--")]
    if "--list" in argv:
        for m in MUTATIONS:
            print("%-34s %s  [%s]" % (m[0], m[1], m[4]))
        return 0
    chosen = [m for m in MUTATIONS if not names or m[0] in names]
    if not chosen:
        print("mutate.py: no such mutation", file=sys.stderr)
        return 2
    tree = os.path.join(tempfile.gettempdir(), "loom-mutants")
    if os.path.exists(tree):
        run(["git", "worktree", "remove", "--force", tree], ROOT)
        shutil.rmtree(tree, ignore_errors=True)
    if run(["git", "worktree", "add", "--detach", tree, "HEAD"], ROOT) != 0:
        print("mutate.py: cannot make a worktree at %s" % tree,
              file=sys.stderr)
        return 1
    build = os.path.join(tree, "build")
    caught = 0
    results = []
    try:
        if run(["cmake", "-S", tree, "-B", build, "-DLOOM_BUILD_BENCH=OFF"],
               tree) != 0 or run(["cmake", "--build", build, "-j2"], tree):
            print("mutate.py: the unmutated tree does not build",
                  file=sys.stderr)
            return 1
        for name, rel, old, new, tests in chosen:
            path = os.path.join(tree, rel)
            with open(path) as f:
                text = f.read()
            if text.count(old) != 1:
                results.append((name, "STALE (snippet not found once)"))
                continue
            with open(path, "w") as f:
                f.write(text.replace(old, new))
            try:
                if run(["cmake", "--build", build, "-j2"], tree) != 0:
                    verdict = "caught (does not build)"
                    caught += 1
                elif run(["ctest", "-R", tests, "--timeout", "300"],
                         build) != 0:
                    verdict = "caught by " + tests
                    caught += 1
                else:
                    verdict = "MISSED: " + tests + " all passed"
            finally:
                with open(path, "w") as f:
                    f.write(text)
            results.append((name, verdict))
            print("%-34s %s" % (name, verdict), flush=True)
        run(["cmake", "--build", build, "-j2"], tree)
    finally:
        if not keep:
            run(["git", "worktree", "remove", "--force", tree], ROOT)
    tried = len([r for r in results if not r[1].startswith("STALE")])
    stale = [r[0] for r in results if r[1].startswith("STALE")]
    print("\nscore: %d of %d mutations caught%s" % (
        caught, tried, "; stale: " + ", ".join(stale) if stale else ""))
    return 0 if caught == tried and not stale else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
