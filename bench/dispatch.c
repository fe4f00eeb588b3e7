/* dispatch.c - the dispatch benchmark through libloom's public API.
 *
 * Runs the workload of textbook.c and batched.c (N empty tasks, or N tasks
 * that spin or sleep S seconds) through loom_run(): the master generates the
 * tasks on the fly from a loom_source_fn, never storing them, and counts the
 * results; the run fails (exit 1) unless all N came back with exit code 0.
 * Prints the same CSV rows, impl=loom. Uses only loom.h and MPI.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "benchutil.h"
#include "loom.h"

/* The task source: task i is kind "empty" with i as its 8-byte payload, or
 * "spin"/"sleep" with the duration (a double) as its payload. */
struct gen {
  uint64_t next;
  uint64_t ntasks;
  int array; /* the tasks as one array: one spec with count ntasks */
  int work;
  double seconds;
  unsigned char payload[8]; /* what the last spec points to */
};

/* What the master learns from the results. */
struct tally {
  uint64_t expected;
  uint64_t results;
  uint64_t failed; /* results with exit_code != 0 */
  double t_last;   /* MPI_Wtime() at the last expected result */
};

static int task_empty(struct loom_task *task, const void *payload, size_t len,
                      void *arg) {
  (void)task;
  (void)payload;
  (void)len;
  (void)arg;
  return 0;
}

/* Shared by "spin" and "sleep"; arg points to the enum bench_work value. */
static int task_timed(struct loom_task *task, const void *payload, size_t len,
                      void *arg) {
  double seconds;

  (void)task;
  if (len != sizeof(seconds))
    return 2;
  memcpy(&seconds, payload, sizeof(seconds));
  bench_work_run(*(const int *)arg, seconds);
  return 0;
}

/* The args of "spin" and "sleep": the work each runs. */
static int work_spin = BENCH_WORK_SPIN;
static int work_sleep = BENCH_WORK_SLEEP;

static int gen_next(void *arg, struct loom_task_spec *spec) {
  struct gen *g = arg;

  if (g->next >= g->ntasks)
    return 0;
  loom_task_spec_init(spec);
  if (g->array) {
    /* Each element learns its index from loom_task_index(). */
    spec->kind = g->work == BENCH_WORK_NONE   ? "empty"
                 : g->work == BENCH_WORK_SPIN ? "spin"
                                              : "sleep";
    memcpy(g->payload, &g->seconds, sizeof(g->seconds));
    spec->payload = g->payload;
    spec->len = sizeof(g->payload);
    spec->count = g->ntasks;
    g->next = g->ntasks;
    return 1;
  }
  if (g->work == BENCH_WORK_NONE) {
    spec->kind = "empty";
    memcpy(g->payload, &g->next, sizeof(g->next));
  } else {
    spec->kind = g->work == BENCH_WORK_SPIN ? "spin" : "sleep";
    memcpy(g->payload, &g->seconds, sizeof(g->seconds));
  }
  spec->payload = g->payload;
  spec->len = sizeof(g->payload);
  spec->cost = -1;
  g->next++;
  return 1;
}

static void on_result(void *arg, const struct loom_result *res) {
  struct tally *t = arg;

  t->results++;
  if (res->exit_code != 0)
    t->failed++;
  if (t->results == t->expected)
    t->t_last = MPI_Wtime();
}

/* Registers the three kinds; every rank, same order. */
static int register_kinds(struct loom *l) {
  int rc;

  rc = loom_register(l, "empty", task_empty, NULL);
  if (rc != 0)
    goto out;
  rc = loom_register(l, "spin", task_timed, &work_spin);
  if (rc != 0)
    goto out;
  rc = loom_register(l, "sleep", task_timed, &work_sleep);
out:
  return rc;
}

/* One repeat: a fresh engine, ntasks tasks. On the master *seconds is the
 * time from after the barrier to the last result and *ok says whether every
 * task came back once with exit code 0. Collective. Returns 0 or a loom
 * error code. */
static int run_once(const struct bench_args *a, uint64_t ntasks,
                    double *seconds, int *ok, int *nworkers) {
  struct loom_options opt;
  struct loom *l = NULL;
  struct gen g;
  struct tally t;
  struct loom_summary sum;
  double t0 = 0;
  int rc;

  *seconds = 0;
  *ok = 0;
  loom_options_init(&opt);
  opt.policy = a->policy;
  opt.progress = LOOM_PROGRESS_OFF;
  opt.quiet = 1;
  rc = loom_new(MPI_COMM_WORLD, &opt, &l);
  if (rc != 0)
    goto out;
  rc = register_kinds(l);
  if (rc != 0)
    goto out;
  *nworkers = loom_nworkers(l);

  memset(&g, 0, sizeof(g));
  g.ntasks = ntasks;
  g.array = a->array;
  g.work = a->work;
  g.seconds = a->seconds;
  memset(&t, 0, sizeof(t));
  t.expected = ntasks;

  MPI_Barrier(MPI_COMM_WORLD);
  t0 = MPI_Wtime();
  /* Workers ignore the source and the callback. */
  rc = loom_run(l, gen_next, &g, on_result, &t);
  if (rc != 0)
    goto out;

  if (loom_rank(l) == 0) {
    loom_summary_get(l, &sum);
    *seconds = t.t_last - t0;
    *ok = t.results == ntasks && t.failed == 0 && sum.tasks == ntasks &&
          sum.succeeded == ntasks;
    if (!*ok)
      fprintf(stderr,
              "bench-dispatch: %" PRIu64 " tasks, %" PRIu64 " results, %" PRIu64
              " failed; summary: %" PRIu64 " tasks, %" PRIu64 " succeeded\n",
              ntasks, t.results, t.failed, sum.tasks, sum.succeeded);
  }
out:
  loom_free(l);
  return rc;
}

int main(int argc, char **argv) {
  struct bench_args a;
  int rank, size, provided = 0, rc, i, status = 0;

  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS) {
    fprintf(stderr, "bench-dispatch: MPI_Init_thread failed\n");
    return 3;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  rc = bench_args_parse(argc, argv, BENCH_ARG_POLICY | BENCH_ARG_ARRAY,
                        rank == 0, &a);
  if (rc != 0) {
    MPI_Finalize();
    return rc > 0 ? 0 : 2;
  }
  if (a.policy != NULL && !loom_policy_exists(a.policy)) {
    if (rank == 0) {
      fprintf(stderr, "bench-dispatch: unknown policy '%s'; known:\n",
              a.policy);
      loom_policy_list(stderr);
    }
    MPI_Finalize();
    return 2;
  }
  if (rank == 0 && a.header)
    printf("%s\n", BENCH_CSV_HEADER);

  for (i = 0; i < a.warmup + a.repeat; i++) {
    int timed = i >= a.warmup;
    uint64_t n = timed ? a.tasks : bench_warmup_tasks(&a);
    double seconds = 0;
    int ok = 0, nworkers = 0;

    rc = run_once(&a, n, &seconds, &ok, &nworkers);
    if (rc != 0) {
      /* An MPI failure may leave other ranks inside loom_run(): only an
       * abort is sure to end them. */
      fprintf(stderr, "bench-dispatch: rank %d: %s\n", rank, loom_strerror(rc));
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (rank == 0 && !ok)
      status = 1;
    else if (rank == 0 && timed)
      bench_csv_row(stdout, a.array ? "loom-array" : "loom", size, nworkers, &a,
                    seconds);
  }

  MPI_Finalize();
  return status;
}
