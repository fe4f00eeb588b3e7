/* executor.h - the thread that runs a rank's tasks, off the loop thread.
 *
 * The loop thread owns MPI and must never block for long: it hands each
 * TASKS message to the executor as a job (per batch, not per task, so tiny
 * tasks cost no handoff each) and goes on serving messages. The executor
 * thread runs the batch's tasks in order through exec.c (C functions in
 * this thread, shell commands as child processes it waits for) and hands
 * the DONE message back; the loop thread is woken through its waker to send
 * it. This is libuv's threadpool model: the loop thread alone calls MPI,
 * tasks never do.
 * All functions but the thread itself are called by the loop thread.
 */
#ifndef LOOM_EXECUTOR_H
#define LOOM_EXECUTOR_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/buf.h"
#include "common/waker.h"
#include "dispatch/exec.h"

struct loom__job {
  struct loom__buf in;  /* TASKS */
  struct loom__buf out; /* DONE */
  int rc;
  struct loom__job *next;
};

struct loom__executor {
  struct loom__exec exec; /* the thread's */
  struct loom__waker *waker;
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* Under mu: */
  struct loom__job *todo, *todo_tail; /* waiting, in order */
  struct loom__job *done, *done_tail; /* finished, in order */
  struct loom__job *spare;            /* taken back, buffers kept */
  int quit;
  /* Loop thread only: jobs submitted and not yet taken back. */
  unsigned pending;
  /* Jobs finished and not yet taken: read without the lock. */
  atomic_uint finished;
};

/* Starts the thread. waker is poked whenever a job finishes. Returns 0,
 * LOOM_ENOMEM or LOOM_ESYS. */
int loom__executor_start(struct loom__executor *e, struct loom *l,
                         struct loom__waker *waker);

/* Stops and joins the thread once it is done with what it has, then frees
 * everything. Safe on an executor that did not start. */
void loom__executor_stop(struct loom__executor *e);

/* Queues a TASKS message: its bytes move into the job (batch comes back
 * empty, holding storage to reuse). Returns 0 or LOOM_ENOMEM. */
int loom__executor_submit(struct loom__executor *e, struct loom__buf *batch);

/* Takes the oldest finished job's DONE message: returns 1 with its bytes
 * swapped into out and *rc the job's outcome (0, or LOOM_EPROTO for a
 * malformed batch, LOOM_ENOMEM), or 0 when none is finished. */
int loom__executor_take(struct loom__executor *e, struct loom__buf *out,
                        int *rc);

/* Is a finished job waiting? Cheap: no lock, no system call. */
static inline int loom__executor_ready(struct loom__executor *e) {
  return atomic_load_explicit(&e->finished, memory_order_acquire) > 0;
}

/* Asks the running task to end (a shell task's group gets TERM, then KILL)
 * and every queued task to be answered as cancelled without running. */
void loom__executor_cancel(struct loom__executor *e);

#endif /* LOOM_EXECUTOR_H */
