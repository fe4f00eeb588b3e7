/* taskfile_run.c - a whole run of a task file through the real master, to
 * show that the master's memory does not grow with the file.
 *
 * Rank 0 streams FILE with loom_taskfile_next() into loom_run(), with a run
 * directory (so joblog.tsv is written, one row per task); each task's kind
 * is swapped for a C no-op so the run measures the master, not process
 * creation. Prints "tasks,seconds,master_maxrss_kib" from rank 0.
 * POLICY (default least-loaded) is the scheduling policy: `weighted` reads
 * up to the default look-ahead of tasks ahead, each held in memory.
 *   mpirun -np 2 bench-taskfile-run FILE RUNDIR [POLICY]
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "loom.h"

static int noop(struct loom_task *t, const void *p, size_t n, void *arg) {
  (void)t;
  (void)p;
  (void)n;
  (void)arg;
  return 0;
}

struct source {
  struct loom_taskfile *tf;
};

static int next(void *arg, struct loom_task_spec *spec) {
  struct source *s = arg;
  int rc = loom_taskfile_next(s->tf, spec);
  if (rc == 1)
    spec->kind = "noop"; /* id and joblog text stay the file's */
  return rc;
}

int main(int argc, char **argv) {
  struct loom_options opt;
  struct loom *l = NULL;
  struct source src = {NULL};
  struct loom_summary sum;
  struct rusage ru;
  char err[512], dir[4096];
  double t0;
  int rc, rank, status = 0;

  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (argc != 3 && argc != 4) {
    if (rank == 0)
      fprintf(stderr, "usage: bench-taskfile-run FILE RUNDIR [POLICY]\n");
    MPI_Finalize();
    return 2;
  }
  loom_options_init(&opt);
  opt.quiet = 1;
  opt.progress = LOOM_PROGRESS_OFF;
  if (argc == 4)
    opt.policy = argv[3];
  if (rank == 0 &&
      loom_rundir_create(argv[2], dir, sizeof(dir), err, sizeof(err)) != 0) {
    fprintf(stderr, "bench-taskfile-run: %s\n", err);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  opt.run_dir = rank == 0 ? dir : NULL;
  rc = loom_new(MPI_COMM_WORLD, &opt, &l);
  if (rc == 0)
    rc = loom_register(l, "noop", noop, NULL);
  if (rc == 0 && rank == 0)
    rc = loom_taskfile_open(argv[1], &src.tf, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "bench-taskfile-run: %s\n", loom_strerror(rc));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  t0 = MPI_Wtime();
  rc = loom_run(l, next, &src, NULL, NULL);
  if (rc != 0) {
    fprintf(stderr, "bench-taskfile-run: %s\n", loom_strerror(rc));
    status = 1;
  } else if (rank == 0) {
    loom_summary_get(l, &sum);
    getrusage(RUSAGE_SELF, &ru);
    /* On Linux ru_maxrss is in KiB. */
    printf("%" PRIu64 ",%.6f,%ld\n", sum.succeeded, MPI_Wtime() - t0,
           (long)ru.ru_maxrss);
  }
  loom_taskfile_close(src.tf);
  loom_free(l);
  MPI_Finalize();
  return status;
}
