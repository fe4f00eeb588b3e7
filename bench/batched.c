/* batched.c - a hand-tuned MPI master/worker, as a baseline for loom.
 *
 * Rank 0 is the master. Tasks go out in batches of --batch B per message,
 * WINDOW batches outstanding per worker, so a worker always has its next
 * batch in hand when it finishes one. The master keeps one pre-posted
 * MPI_Irecv per outstanding batch and polls them with MPI_Testsome, the way
 * hand-written farms are written; workers block. Prints one CSV row per
 * timed repeat (see benchutil.h). MPI errors abort the job: MPI_COMM_WORLD
 * keeps its default handler, MPI_ERRORS_ARE_FATAL.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include "benchutil.h"

/* The wire records: sent as MPI_BYTE, all ranks run the same binary. */
struct task {
  uint64_t index;
  double duration; /* seconds of work */
};

struct result {
  uint64_t index;
  double elapsed; /* seconds the worker spent on the task */
};

/* Batches outstanding per worker. */
#define WINDOW 2

/* Batch slot s of a worker travels with tag TAG_SLOT + s both ways, so the
 * master's pre-posted receive for that slot matches only its own results. */
enum { TAG_STOP = 1, TAG_SLOT = 16 };

/* One outstanding batch on the master. Its receive request lives in the
 * master's request array (MPI_Testsome needs them contiguous): slot i owns
 * reqs[i], and both buffers below stay untouched while a request is active. */
struct mslot {
  int worker;
  int tag;
  uint64_t ntasks;        /* tasks in the batch in flight, 0 = idle */
  struct task *tasks;     /* batch buffer, --batch records */
  struct result *results; /* result buffer, --batch records */
  MPI_Request send_req;
};

/* One receive buffer on a worker, with its request and the send of the
 * results computed from it. */
struct wslot {
  struct task *tasks;
  struct result *results;
  MPI_Request recv_req;
  MPI_Request send_req;
};

struct master {
  int nslots;
  int batch;
  struct mslot *slots;
  MPI_Request *reqs; /* reqs[i] is the result receive of slots[i] */
  int *done_idx;     /* MPI_Testsome output */
  MPI_Status *done_st;
};

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);

  if (p == NULL) {
    fprintf(stderr, "bench-batched: out of memory\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return p;
}

static void master_init(struct master *m, int size, int batch) {
  int i;

  m->nslots = (size - 1) * WINDOW;
  m->batch = batch;
  m->slots = xcalloc((size_t)m->nslots, sizeof(*m->slots));
  m->reqs = xcalloc((size_t)m->nslots, sizeof(*m->reqs));
  m->done_idx = xcalloc((size_t)m->nslots, sizeof(*m->done_idx));
  m->done_st = xcalloc((size_t)m->nslots, sizeof(*m->done_st));
  for (i = 0; i < m->nslots; i++) {
    struct mslot *s = &m->slots[i];

    /* Slots interleave workers, so priming spreads the first batches over
     * every worker before any worker gets a second one. */
    s->worker = 1 + i % (size - 1);
    s->tag = TAG_SLOT + i / (size - 1);
    s->tasks = xcalloc((size_t)batch, sizeof(*s->tasks));
    s->results = xcalloc((size_t)batch, sizeof(*s->results));
    s->send_req = MPI_REQUEST_NULL;
    m->reqs[i] = MPI_REQUEST_NULL;
  }
}

static void master_fini(struct master *m) {
  int i;

  for (i = 0; i < m->nslots; i++) {
    free(m->slots[i].tasks);
    free(m->slots[i].results);
  }
  free(m->slots);
  free(m->reqs);
  free(m->done_idx);
  free(m->done_st);
}

/* Sends the next batch through slot i, if tasks are left: the batch, then
 * the receive for its results. The previous send from this buffer has
 * completed (master_run waits for it before calling). */
static void slot_fill(struct master *m, int i, uint64_t *next, uint64_t ntasks,
                      double duration) {
  struct mslot *s = &m->slots[i];
  uint64_t k = 0;

  while (k < (uint64_t)m->batch && *next < ntasks) {
    s->tasks[k].index = (*next)++;
    s->tasks[k].duration = duration;
    k++;
  }
  s->ntasks = k;
  if (k == 0)
    return;
  MPI_Isend(s->tasks, (int)(k * sizeof(struct task)), MPI_BYTE, s->worker,
            s->tag, MPI_COMM_WORLD, &s->send_req);
  MPI_Irecv(s->results, (int)(m->batch * sizeof(struct result)), MPI_BYTE,
            s->worker, s->tag, MPI_COMM_WORLD, &m->reqs[i]);
}

/* One repeat on the master. Returns the seconds from after the barrier to
 * after the last result, or a negative value when the results do not add
 * up. */
static double master_run(struct master *m, uint64_t ntasks, double duration,
                         int size) {
  uint64_t next = 0, done = 0, index_sum = 0;
  int i, w, ok = 1;
  double t0, t1;

  MPI_Barrier(MPI_COMM_WORLD);
  t0 = MPI_Wtime();

  /* 1. Prime every slot: WINDOW batches per worker. */
  for (i = 0; i < m->nslots; i++)
    slot_fill(m, i, &next, ntasks, duration);

  /* 2. Poll the result receives. A finished batch frees its slot, which is
   * refilled at once so the worker never runs dry. */
  while (done < ntasks) {
    int outcount = 0, j;

    MPI_Testsome(m->nslots, m->reqs, &outcount, m->done_idx, m->done_st);
    if (outcount == MPI_UNDEFINED) {
      ok = 0; /* nothing in flight yet tasks missing: cannot happen */
      break;
    }
    for (j = 0; j < outcount; j++) {
      struct mslot *s = &m->slots[m->done_idx[j]];
      int bytes = 0;
      uint64_t k;

      MPI_Get_count(&m->done_st[j], MPI_BYTE, &bytes);
      if ((uint64_t)bytes != s->ntasks * sizeof(struct result))
        ok = 0;
      for (k = 0; k < s->ntasks; k++)
        index_sum += s->results[k].index;
      done += s->ntasks;
      /* The worker answered, so it has the batch: this wait returns at
       * once and frees the task buffer for the next batch. */
      MPI_Wait(&s->send_req, MPI_STATUS_IGNORE);
      slot_fill(m, m->done_idx[j], &next, ntasks, duration);
    }
  }
  t1 = MPI_Wtime();

  /* 3. One stop per slot of each worker: a worker keeps WINDOW receives
   * posted and leaves when all of them got a stop. */
  for (w = 1; w < size; w++)
    for (i = 0; i < WINDOW; i++)
      MPI_Send(NULL, 0, MPI_BYTE, w, TAG_STOP, MPI_COMM_WORLD);

  if (!ok || index_sum != ntasks * (ntasks - 1) / 2)
    return -1.0;
  return t1 - t0;
}

static void worker_run(struct wslot *ws, int batch, int work, int time_empty) {
  int cur = 0, stops = 0, s;

  MPI_Barrier(MPI_COMM_WORLD);

  /* Receives posted with MPI_ANY_TAG match messages in posting order, and
   * a slot is reposted after use: slots fill round-robin, so taking them in
   * the order cur, cur + 1, ... takes batches in the order they were sent. */
  for (s = 0; s < WINDOW; s++)
    MPI_Irecv(ws[s].tasks, (int)(batch * sizeof(struct task)), MPI_BYTE, 0,
              MPI_ANY_TAG, MPI_COMM_WORLD, &ws[s].recv_req);

  while (stops < WINDOW) {
    struct wslot *w = &ws[cur];
    MPI_Status st;
    int bytes = 0, k, n;

    cur = (cur + 1) % WINDOW;
    MPI_Wait(&w->recv_req, &st);
    if (st.MPI_TAG == TAG_STOP) {
      stops++;
      continue;
    }
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    n = bytes / (int)sizeof(struct task);

    /* The results buffer may still be on its way from the last batch. */
    MPI_Wait(&w->send_req, MPI_STATUS_IGNORE);
    for (k = 0; k < n; k++) {
      w->results[k].index = w->tasks[k].index;
      w->results[k].elapsed =
          bench_task_run(work, w->tasks[k].duration, time_empty);
    }
    MPI_Isend(w->results, (int)(n * (int)sizeof(struct result)), MPI_BYTE, 0,
              st.MPI_TAG, MPI_COMM_WORLD, &w->send_req);
    MPI_Irecv(w->tasks, (int)(batch * sizeof(struct task)), MPI_BYTE, 0,
              MPI_ANY_TAG, MPI_COMM_WORLD, &w->recv_req);
  }
  for (s = 0; s < WINDOW; s++)
    MPI_Wait(&ws[s].send_req, MPI_STATUS_IGNORE);
}

int main(int argc, char **argv) {
  struct bench_args a;
  int rank, size, rc, i, status = 0;

  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  rc = bench_args_parse(argc, argv, BENCH_ARG_BATCH, rank == 0, &a);
  if (rc != 0) {
    MPI_Finalize();
    return rc > 0 ? 0 : 2;
  }
  if (size < 2) {
    if (rank == 0)
      fprintf(stderr, "bench-batched: needs at least 2 ranks\n");
    MPI_Finalize();
    return 2;
  }
  if (rank == 0 && a.header)
    printf("%s\n", BENCH_CSV_HEADER);

  if (rank == 0) {
    struct master m;

    master_init(&m, size, a.batch);
    for (i = 0; i < a.warmup + a.repeat; i++) {
      int timed = i >= a.warmup;
      uint64_t n = timed ? a.tasks : bench_warmup_tasks(&a);
      double s = master_run(&m, n, bench_task_seconds(&a), size);

      if (s < 0) {
        fprintf(stderr, "bench-batched: results do not match the tasks\n");
        status = 1;
      } else if (timed) {
        bench_csv_row(stdout, "batched", size, size - 1, &a, s);
      }
    }
    master_fini(&m);
  } else {
    struct wslot ws[WINDOW];
    int s;

    for (s = 0; s < WINDOW; s++) {
      ws[s].tasks = xcalloc((size_t)a.batch, sizeof(struct task));
      ws[s].results = xcalloc((size_t)a.batch, sizeof(struct result));
      ws[s].recv_req = MPI_REQUEST_NULL;
      ws[s].send_req = MPI_REQUEST_NULL;
    }
    for (i = 0; i < a.warmup + a.repeat; i++)
      worker_run(ws, a.batch, a.work, a.time_empty);
    for (s = 0; s < WINDOW; s++) {
      free(ws[s].tasks);
      free(ws[s].results);
    }
  }

  MPI_Finalize();
  return status;
}
