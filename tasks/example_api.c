/* example_api.c - a complete program on libloom's public API (loom-example).
 *
 * It registers a task function, "sumsq", that sums i*i over a range, has the
 * master split [0, 1000000) into 64 tasks, adds up the replies and checks
 * the total against n(n-1)(2n-1)/6. Run it with `mpiexec -n 4 loom-example`;
 * with one rank the master runs the tasks itself.
 * It uses only loom.h and MPI, as a program outside this tree would.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "loom.h"

#define N_TOTAL UINT64_C(1000000)
#define N_TASKS 64

struct totals {
  uint64_t sum;
  int ok;     /* tasks that replied with a sum */
  int failed; /* attempts that did not */
};

/* Payload: two uint64, lo and hi. Reply: the uint64 sum of i*i over
 * [lo, hi). Returning non-zero marks the task failed with that exit code. */
static int sumsq(struct loom_task *task, const void *payload, size_t len,
                 void *arg) {
  (void)arg;
  uint64_t range[2];
  if (len != sizeof range)
    return 2;
  memcpy(range, payload, sizeof range);
  uint64_t sum = 0;
  for (uint64_t i = range[0]; i < range[1]; i++)
    sum += i * i;
  return loom_task_reply(task, &sum, sizeof sum) == 0 ? 0 : 3;
}

/* Runs on the master once per finished attempt. */
static void on_result(void *arg, const struct loom_result *res) {
  struct totals *t = arg;
  if (res->exit_code != 0 || res->len != sizeof(uint64_t)) {
    t->failed++;
    return;
  }
  uint64_t sum;
  memcpy(&sum, res->data, sizeof sum);
  t->sum += sum;
  t->ok++;
}

static int submit_all(struct loom *l) {
  for (uint64_t k = 0; k < N_TASKS; k++) {
    uint64_t range[2] = {k * N_TOTAL / N_TASKS, (k + 1) * N_TOTAL / N_TASKS};
    struct loom_task_spec spec;
    loom_task_spec_init(&spec);
    spec.kind = "sumsq";
    spec.payload = range; /* copied by loom_submit */
    spec.len = sizeof range;
    int rc = loom_submit(l, &spec);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct loom *l = NULL;
  struct totals totals = {0, 0, 0};
  int status = 0;
  int provided = 0;

  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS) {
    fprintf(stderr, "loom-example: MPI_Init_thread failed\n");
    return 3;
  }

  struct loom_options opt;
  loom_options_init(&opt);
  opt.quiet = 1;
  int rc = loom_new(MPI_COMM_WORLD, &opt, &l);
  if (rc != 0)
    goto out;
  /* Every rank registers the same names in the same order. */
  rc = loom_register(l, "sumsq", sumsq, NULL);
  if (rc != 0)
    goto out;
  if (loom_rank(l) == 0)
    rc = submit_all(l);
  /* Only the master submits, so only it can fail there: tell the workers
   * before the collective loom_run(), or they would wait in it forever. The
   * engine's rank 0 is rank 0 of MPI_COMM_WORLD, the communicator it
   * duplicated. */
  if (MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    rc = LOOM_EMPI;
  if (rc != 0)
    goto out;
  /* Collective: workers run tasks until the master is done. */
  rc = loom_run(l, NULL, NULL, on_result, &totals);
  if (rc != 0)
    goto out;

  if (loom_rank(l) == 0) {
    uint64_t n = N_TOTAL;
    uint64_t expected = n * (n - 1) * (2 * n - 1) / 6;
    if (totals.ok == N_TASKS && totals.sum == expected) {
      printf("sum of squares below %llu = %llu (ok)\n", (unsigned long long)n,
             (unsigned long long)totals.sum);
    } else {
      printf("sum of squares below %llu = %llu, expected %llu (MISMATCH: "
             "%d of %d tasks replied, %d failed attempts)\n",
             (unsigned long long)n, (unsigned long long)totals.sum,
             (unsigned long long)expected, totals.ok, N_TASKS, totals.failed);
      status = 1;
    }
  }

out:
  if (rc != 0) {
    fprintf(stderr, "loom-example: %s\n", loom_strerror(rc));
    status = 3;
  }
  loom_free(l);
  MPI_Finalize();
  return status;
}
