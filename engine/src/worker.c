/* worker.c - the worker loop (every rank but 0).
 *
 * 1. Receive TASKS batches into a small queue (at most `window` of them are
 *    ever in flight, so the queue never grows past that).
 * 2. Run the oldest batch through the executor and answer it with exactly
 *    one DONE message (sent non-blocking, double-buffered).
 * 3. Leave on STOP, which the master sends only when nothing is in flight.
 * While a shell task runs, the executor's idle hook receives new batches, so
 * messages keep moving during long tasks; the same hook is where the state
 * table's traffic will be served. An idle worker polls with back-off.
 */
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "exec.h"
#include "internal.h"
#include "wire.h"

#define QUEUE_MAX 1024

struct worker {
  struct loom *l;
  struct loom__exec exec;
  struct loom__buf queue[QUEUE_MAX]; /* ring of received batches */
  unsigned head;
  unsigned count;
  int stop;
  int err;
  struct loom__buf out[2]; /* DONE messages, each with its request */
  MPI_Request req[2];
  int cur;
};

int loom__worker_hello(struct loom *l); /* master.c */

/* Receives every message waiting. Returns 0 or a negative code. */
static int receive(struct worker *wk) {
  for (;;) {
    MPI_Status st;
    int flag = 0, count = 0, rc;
    struct loom__buf *b;

    rc = LOOM_MPI(MPI_Iprobe(0, MPI_ANY_TAG, wk->l->comm, &flag, &st));
    if (rc != 0 || !flag)
      return rc;
    MPI_Get_count(&st, MPI_BYTE, &count);
    if (st.MPI_TAG == LOOM__TAG_CANCEL) {
      rc = LOOM_MPI(MPI_Recv(NULL, 0, MPI_BYTE, 0, LOOM__TAG_CANCEL,
                             wk->l->comm, MPI_STATUS_IGNORE));
      wk->exec.cancel = 1; /* until STOP: queued batches answer at once */
      if (rc != 0)
        return rc;
      continue;
    }
    if (st.MPI_TAG == LOOM__TAG_STOP) {
      rc = LOOM_MPI(MPI_Recv(NULL, 0, MPI_BYTE, 0, LOOM__TAG_STOP, wk->l->comm,
                             MPI_STATUS_IGNORE));
      wk->stop = 1;
      return rc;
    }
    if (st.MPI_TAG != LOOM__TAG_TASKS || wk->count == QUEUE_MAX)
      return LOOM_EPROTO;
    b = &wk->queue[(wk->head + wk->count) % QUEUE_MAX];
    b->len = 0;
    rc = loom__buf_reserve(b, (size_t)count);
    if (rc != 0)
      return rc;
    rc = LOOM_MPI(MPI_Recv(b->data, count, MPI_BYTE, 0, LOOM__TAG_TASKS,
                           wk->l->comm, MPI_STATUS_IGNORE));
    if (rc != 0)
      return rc;
    b->len = (size_t)count;
    wk->count++;
  }
}

static void on_idle(void *arg) {
  struct worker *wk = arg;
  if (wk->err == 0)
    wk->err = receive(wk);
}

static int run_one(struct worker *wk) {
  struct loom__buf *in = &wk->queue[wk->head];
  struct loom__buf *out;
  int rc;

  /* Reuse the DONE buffer whose send has finished. */
  wk->cur ^= 1;
  out = &wk->out[wk->cur];
  if (wk->req[wk->cur] != MPI_REQUEST_NULL) {
    rc = LOOM_MPI(MPI_Wait(&wk->req[wk->cur], MPI_STATUS_IGNORE));
    if (rc != 0)
      return rc;
  }
  rc = loom__wire_begin(out);
  if (rc == 0)
    rc = loom__exec_batch(&wk->exec, in->data, in->len, out);
  if (rc != 0)
    return rc;
  wk->head = (wk->head + 1) % QUEUE_MAX;
  wk->count--;
  if (wk->count == 0)
    wk->head = 0; /* reuse the same few buffers, not all QUEUE_MAX */
  return LOOM_MPI(MPI_Isend(out->data, (int)out->len, MPI_BYTE, 0,
                            LOOM__TAG_DONE, wk->l->comm, &wk->req[wk->cur]));
}

static void idle_wait(unsigned *idle) {
  struct timespec ts = {0, 0};

  if (*idle < 64) {
    (*idle)++;
    sched_yield();
    return;
  }
  ts.tv_nsec = (long)(1000.0 * fmin(200.0, (double)(*idle - 63)));
  if (*idle < 300)
    (*idle)++;
  nanosleep(&ts, NULL);
}

int loom__worker_run(struct loom *l) {
  struct worker *wk;
  unsigned idle = 0;
  int rc;

  wk = calloc(1, sizeof(*wk));
  if (!wk)
    return LOOM_ENOMEM;
  wk->l = l;
  wk->req[0] = wk->req[1] = MPI_REQUEST_NULL;
  rc = loom__worker_hello(l);
  if (rc == 0)
    rc = loom__exec_init(&wk->exec, l);
  wk->exec.idle = on_idle;
  wk->exec.idle_arg = wk;
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  while (rc == 0 && !wk->stop) {
    if (wk->count > 0) {
      rc = run_one(wk);
      idle = 0;
      if (rc == 0)
        rc = wk->err;
    } else {
      rc = receive(wk);
      if (rc == 0 && wk->count == 0 && !wk->stop)
        idle_wait(&idle);
    }
    /* Pick up the next batch before starting it, so it is never late. */
    if (rc == 0 && wk->count < 2 && !wk->stop)
      rc = receive(wk);
  }
  for (int i = 0; i < 2; i++) {
    if (wk->req[i] != MPI_REQUEST_NULL) {
      int r = LOOM_MPI(MPI_Wait(&wk->req[i], MPI_STATUS_IGNORE));
      if (rc == 0)
        rc = r;
    }
    loom__buf_fini(&wk->out[i]);
  }
  for (unsigned i = 0; i < QUEUE_MAX; i++)
    loom__buf_fini(&wk->queue[i]);
  loom__exec_fini(&wk->exec);
  free(wk);
  return rc;
}
