/* executor.h - the threads that run a rank's tasks, off the loop thread.
 *
 * The loop thread owns MPI and must never block for long: it hands each
 * TASKS message to the executor as a job (per batch, not per task, so tiny
 * tasks cost no handoff each) and goes on serving messages. The executor
 * has one thread per slot (loom.h: loom_options.slots); a free thread
 * takes the oldest job and runs its tasks in order (exec.h: C functions in
 * the thread, shell commands as child processes it waits for) and hands
 * the DONE message back, waking the loop thread through its waker; jobs of
 * different slots finish in any order. With placement (hw/place.h), each
 * task first waits its turn for the cores it asks for (first come, first
 * served, so a wide task is never passed over) and its thread is bound to
 * them; an idle thread holds none. The functions of kinds not registered
 * LOOM_KIND_THREAD_SAFE run one at a time. A batch
 * whose replies pass LOOM__WIRE_PART_MAX comes back in several parts, the
 * last one FINAL. This is libuv's threadpool model: the loop thread alone
 * calls MPI, tasks never do.
 * On a stop: drain() starts no new task (the rest are answered as
 * cancelled); cancel() also kills what runs. A C task cannot be killed: if
 * one has not returned ABANDON_AFTER seconds after the cancel, the loop
 * thread answers for every running batch itself (what finished as it was
 * recorded, the rest cancelled) and leaves the threads behind, never to be
 * joined.
 * All functions are called by the loop thread.
 */
#ifndef LOOM_EXECUTOR_H
#define LOOM_EXECUTOR_H

#include <stdatomic.h>

#include "common/buf.h"
#include "common/waker.h"
#include "dispatch/engine.h"

/* Seconds after a cancel before a stuck C task's batch is answered for. */
#define LOOM__ABANDON_AFTER 3.0

struct loom__executor_core; /* shared with the thread (executor.c) */

struct loom__executor {
  struct loom__executor_core *core;
  unsigned pending;    /* batches submitted, not yet answered in full */
  double cancelled_at; /* monotonic time of cancel(), 0 before */
  double harvested_at; /* monotonic time of the last look for answers */
};

/* Answers of finished tasks wait at most about this long (seconds) for
 * the rest of their batch before they are sent on their own. */
#define LOOM__HARVEST_AGE 0.005

/* Starts the thread. waker is poked whenever a DONE part is ready.
 * Returns 0, LOOM_ENOMEM or LOOM_ESYS. */
int loom__executor_start(struct loom__executor *e, struct loom *l,
                         struct loom__waker *waker);

/* Stops and joins the thread once it is done with what it has (a thread
 * left behind by abandon is detached instead), then frees what is not the
 * thread's. Safe on an executor that did not start. */
void loom__executor_stop(struct loom__executor *e);

/* Queues a TASKS message: its bytes move into the job (batch comes back
 * empty, holding storage to reuse). Returns 0 or LOOM_ENOMEM. */
int loom__executor_submit(struct loom__executor *e, struct loom__buf *batch);

/* Takes the oldest DONE part: returns 1 with its bytes swapped into out and
 * *rc the job's outcome (0, or LOOM_EPROTO for a malformed batch,
 * LOOM_ENOMEM), or 0 when none is ready. */
int loom__executor_take(struct loom__executor *e, struct loom__buf *out,
                        int *rc);

/* Is a DONE part waiting? Cheap: no lock, no system call. */
int loom__executor_ready(const struct loom__executor *e);

/* Starts no new task: every task not yet started is answered as
 * cancelled. What runs goes on. */
void loom__executor_drain(struct loom__executor *e);

/* Also kills what runs (a shell task's whole process group: TERM, then
 * KILL two seconds later). */
void loom__executor_cancel(struct loom__executor *e);

/* After a cancel: once LOOM__ABANDON_AFTER seconds have passed and a batch
 * is still running (a C task that does not return), answers for every
 * batch left and leaves the thread behind. Returns 1 when it did. */
int loom__executor_abandon_stuck(struct loom__executor *e, double now);

/* The loop thread's look, every millisecond or so, at the batches that
 * run: answers of finished tasks that have waited LOOM__HARVEST_AGE for
 * their batch to end become a DONE part of their own (not FINAL), so a
 * long task does not hold back the rows of the tasks before it; and a
 * batch that has run 4 times the batch target (50 ms at least) while one
 * of its tasks runs gives back the tasks it has not started, answered
 * LOOM__DONE_RETURNED in a part of their own (with one slot in the whole
 * run, never). Returns the parts made. */
int loom__executor_harvest(struct loom__executor *e, double now);

#endif /* LOOM_EXECUTOR_H */
