/* mpicheck.h - the checks the MPI integration tests share.
 *
 * A failed check prints file, line and rank and is counted; a test program
 * ends with a collective verdict on `failures`, so no rank exits early and
 * leaves the others hanging. One test program includes this once.
 */
#ifndef LOOM_MPICHECK_H
#define LOOM_MPICHECK_H

#include <stdio.h>

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
