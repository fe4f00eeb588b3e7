/* mpicheck.h - the checks the MPI integration tests share.
 *
 * A failed check prints file, line and rank and is counted; a test program
 * ends with a collective verdict on `failures`, so no rank exits early and
 * leaves the others hanging. One test program includes this once.
 */
#ifndef LOOM_MPICHECK_H
#define LOOM_MPICHECK_H

#include <stdio.h>

#include <mpi.h>

#include "loom.h"

static int world_rank;
static int world_size;
static int failures;

static void check_at(int ok, const char *what, const char *file, int line) {
  if (!ok) {
    fprintf(stderr, "%s:%d: rank %d: check failed: %s\n", file, line,
            world_rank, what);
    failures++;
  }
}

static void check_rc_at(int got, int want, const char *what, const char *file,
                        int line) {
  if (got != want) {
    fprintf(stderr, "%s:%d: rank %d: %s returned %d (%s), expected %d (%s)\n",
            file, line, world_rank, what, got, loom_strerror(got), want,
            loom_strerror(want));
    failures++;
  }
}

/* The start of a test program: MPI at the thread level loom needs, and
 * world_rank and world_size. Returns 0, or 3 (main's status) when MPI
 * does not start. */
__attribute__((unused)) static int mpicheck_init(int *argc, char ***argv) {
  int provided;

  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS)
    return 3;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  return 0;
}

/* A new engine on MPI_COMM_WORLD, quiet, with opt's other settings (NULL:
 * the defaults). NULL (and a failed check) when it cannot be made. */
__attribute__((unused)) static struct loom *
mpicheck_engine(struct loom_options *opt) {
  struct loom_options def;
  struct loom *l = NULL;
  int rc;

  if (!opt) {
    loom_options_init(&def);
    opt = &def;
  }
  opt->quiet = 1;
  rc = loom_new(MPI_COMM_WORLD, opt, &l);
  check_rc_at(rc, 0, "loom_new", __FILE__, __LINE__);
  return rc == 0 ? l : NULL;
}

/* The end of a test program: every rank's failures summed, one line from
 * rank 0 naming the program, MPI finalized. Returns main's status. */
static int mpicheck_verdict(const char *program) {
  int total = 0;

  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (world_rank == 0)
    printf("%s: %d ranks: %s (%d failed checks)\n", program, world_size,
           total ? "FAILED" : "ok", total);
  MPI_Finalize();
  return total ? 1 : 0;
}

#define CHECK(cond) check_at((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_RC(call, want)                                                   \
  check_rc_at((call), (want), #call, __FILE__, __LINE__)

#endif /* LOOM_MPICHECK_H */
