/* worker.c - the worker loop (every rank but 0).
 *
 * The loop thread serves the message layer and nothing else:
 *  1. A TASKS batch goes to the executor thread as it arrives (at most
 *     `window` are ever in flight, so the queue stays short).
 *  2. Each finished batch goes back to the master as exactly one DONE
 *     message, in order.
 *  3. DRAIN (a stop request) makes the executor start no queued task,
 *     answering each as cancelled; CANCEL (the grace is over) also kills
 *     what runs, and a C task that does not return is answered for and
 *     left behind (executor.h); STOP, which the master sends only when
 *     nothing is in flight, ends the loop.
 * Tasks never run on this thread, so a message to this rank waits at most
 * one back-off step (BUSY_MAX at most), however long a task runs.
 */
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "comm/comm.h"
#include "dispatch/engine.h"
#include "dispatch/executor.h"
#include "state/state.h"

#define IDLE_MAX 200e-6 /* waiting for a batch: it should start at once */
#define RUN_STEP 50e-6  /* a batch runs, and another may come */
#define BUSY_MAX 1e-3   /* a full window runs: only other messages can come */

struct worker {
  struct loom *l;
  struct loom__comm comm;
  struct loom__waker waker;
  struct loom__executor ex;
  struct loom__buf out; /* a DONE message on its way to comm */
  int stop;
};

static int on_tasks(void *arg, int src, struct loom__buf *msg) {
  struct worker *wk = arg;
  if (src != 0)
    return LOOM_EPROTO;
  return loom__executor_submit(&wk->ex, msg);
}

static int on_stop(void *arg, int src, struct loom__buf *msg) {
  struct worker *wk = arg;
  (void)msg;
  if (src != 0)
    return LOOM_EPROTO;
  wk->stop = 1;
  return 0;
}

static int on_drain(void *arg, int src, struct loom__buf *msg) {
  struct worker *wk = arg;
  (void)msg;
  if (src != 0)
    return LOOM_EPROTO;
  loom__executor_drain(&wk->ex);
  return 0;
}

static int on_cancel(void *arg, int src, struct loom__buf *msg) {
  struct worker *wk = arg;
  (void)msg;
  if (src != 0)
    return LOOM_EPROTO;
  loom__executor_cancel(&wk->ex); /* until STOP: the rest answer at once */
  loom__state_cancel(wk->l->state);
  return 0;
}

/* Sends every finished batch's DONE. Returns how many, or a negative
 * code. */
static int send_done(struct worker *wk) {
  int n = 0, rc, job_rc;

  while (loom__executor_take(&wk->ex, &wk->out, &job_rc)) {
    if (job_rc != 0)
      return job_rc;
    /* The tasks' changes to the state table go first: rank 0 receives
     * them before it hears that the tasks are done. */
    rc = loom__state_sync(wk->l->state);
    if (rc == 0)
      rc = loom__comm_send(&wk->comm, 0, LOOM__TAG_DONE, &wk->out);
    if (rc != 0)
      return rc;
    n++;
  }
  return n;
}

/* The back-off. While the master may send a batch (fewer than `window`
 * of ours in flight), yield at first (cheap, and a batch often comes
 * within microseconds), then sleep in steps: growing up to IDLE_MAX when
 * nothing runs; RUN_STEP while a batch runs (steady wakeups, so the next
 * batch is here before the executor wants it, without the loop taking
 * the core from the task). With a full window only a rare control
 * message can come: sleep up to BUSY_MAX. A finished batch wakes the loop
 * at once. (Sleeping instead of yielding while a batch runs halves the
 * context switches of shell tasks, but where the loop and the task share
 * a core (ranks bound to cores) each timed wakeup preempts the task: 1 ms
 * spin tasks at 2 bound ranks fell from 0.99 to 0.93 efficiency. A yield
 * lets the task run on.) */
static void idle_wait(struct worker *wk, unsigned *idle) {
  if (wk->ex.pending >= (unsigned)(wk->l->opt.window * wk->l->slots)) {
    loom__waker_wait(&wk->waker, BUSY_MAX);
    return;
  }
  if (*idle < 64) {
    (*idle)++;
    sched_yield();
    return;
  }
  if (wk->ex.pending > 0) {
    loom__waker_wait(&wk->waker, RUN_STEP);
    return;
  }
  if (*idle < 300)
    (*idle)++;
  loom__waker_wait(&wk->waker, fmin(IDLE_MAX, 1e-6 * (double)(*idle - 63)));
}

static int hello(struct loom *l) {
  struct loom_profile *none = NULL;
  return loom_profile_gather(l->comm, &l->profile, &none);
}

int loom__worker_run(struct loom *l) {
  struct loom__state_stats stats;
  struct worker *wk;
  unsigned idle = 0;
  char err[PATH_MAX + 64];
  int rc, rc2;

  wk = calloc(1, sizeof(*wk));
  if (!wk)
    return LOOM_ENOMEM;
  wk->l = l;
  wk->waker.fd = -1;
  rc = hello(l); /* collective: always take part */
  if (rc == 0)
    rc = loom__comm_init(&wk->comm, l->comm);
  if (rc == 0)
    rc = loom__waker_init(&wk->waker);
  if (rc == 0)
    rc = loom__executor_start(&wk->ex, l, &wk->waker);
  /* Collective: also after a failure above (the master reports it). */
  rc2 =
      loom__state_start(l->state, &wk->comm, &wk->waker, rc, err, sizeof(err));
  if (rc == 0)
    rc = rc2;
  loom__comm_on(&wk->comm, LOOM__TAG_TASKS, on_tasks, wk);
  loom__comm_on(&wk->comm, LOOM__TAG_STOP, on_stop, wk);
  loom__comm_on(&wk->comm, LOOM__TAG_CANCEL, on_cancel, wk);
  loom__comm_on(&wk->comm, LOOM__TAG_DRAIN, on_drain, wk);
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  while (rc == 0 && !wk->stop) {
    int got = 0, sent, served;
    double now;
    rc = loom__comm_poll(&wk->comm, &got);
    if (rc != 0) {
      loom__log("%s", wk->comm.err);
      break;
    }
    served = loom__state_pump(l->state);
    if (served < 0) {
      rc = served;
      break;
    }
    now = loom__now();
    loom__executor_abandon_stuck(&wk->ex, now);
    loom__executor_harvest(&wk->ex, now);
    sent = send_done(wk);
    if (sent < 0) {
      rc = sent;
      break;
    }
    if (got > 0 || sent > 0 || served > 0) {
      idle = 0;
    } else if (loom__state_busy(l->state)) {
      sched_yield(); /* an answer from rank 0 is near */
    } else {
      idle_wait(wk, &idle);
    }
  }
  /* Collective; before the executor stops, so that a task waiting for
   * the table is answered (and can return) instead of waiting forever. */
  rc2 = loom__state_finish(l->state, rc != 0, &stats);
  if (rc == 0 && rc2 != 0 && rc2 != LOOM_EREPLICA)
    rc = rc2; /* the table's verdict is the master's to report */
  loom__executor_stop(&wk->ex);
  rc2 = loom__comm_fini(&wk->comm);
  if (rc == 0)
    rc = rc2;
  loom__waker_fini(&wk->waker);
  loom__buf_fini(&wk->out);
  free(wk);
  return rc;
}
