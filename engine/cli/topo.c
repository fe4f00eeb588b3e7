/* topo.c - `loom topo`: every rank's hardware, as loom sees it (cli.h).
 *
 * Each rank probes its own hardware and binding, rank 0 gathers and prints
 * the profiles as a table or as JSON. The ranks agree on the probe's
 * outcome before gathering, so a bad LOOM_TOPOLOGY on one rank makes every
 * rank exit 2 instead of leaving the others waiting in the gather.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loom.h"

static void usage_topo(FILE *f) {
  fprintf(f, "usage: mpirun -np N loom topo [--json]\n"
             "\n"
             "Prints one row per rank: its host, binding (cpuset), cores, "
             "hardware\n"
             "threads, NUMA nodes and their memory, L2 and L3 sizes, CPU kind "
             "and the\n"
             "capacity weight loom gives it, with notes on what hwloc could "
             "not tell.\n");
}

static void more_help_topo(FILE *f) {
  fprintf(f, "\n"
             "environment (per rank, e.g. mpirun -x VAR=VALUE):\n"
             "  LOOM_TOPOLOGY  xml:PATH or synthetic:DESCRIPTION, a fake "
             "machine to\n"
             "                 probe instead of this one (hwloc syntax)\n"
             "  LOOM_CPUSET    a PU list (0-3,8) to use as the binding\n"
             "\n"
             "exit status: 0 ok, 2 usage error or a rank could not probe its "
             "hardware,\n"
             "3 internal or MPI error.\n");
}

static int set_json(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  *(int *)ctx = 1;
  return 0;
}

static int no_positional(void *ctx, const char *a, char *err, size_t n) {
  (void)ctx;
  snprintf(err, n, "unexpected argument '%s'", a);
  return -1;
}

static const struct cli_flag topo_flags[] = {
    {"--json", 0, NULL, "a JSON array of objects, one per rank", NULL,
     set_json},
    {NULL, 0, NULL, NULL, NULL, NULL}};

static const struct cli_syntax topo_syntax = {"topo", topo_flags, no_positional,
                                              usage_topo, more_help_topo};

int loom_cli_topo(int argc, char **argv, int quiet) {
  struct loom_profile mine, *all = NULL;
  char err[512];
  int json = 0, rank = 0, size = 1, failed, provided, rc;
  int status = CLI_OK;

  /* Only rank 0 speaks and fails; the others leave quietly so the
   * launcher does not tear the job down before rank 0 has spoken. */
  status = cli_parse(&topo_syntax, argc, argv, 2, &json, quiet);
  if (status >= 0)
    return quiet ? CLI_OK : status;
  status = CLI_OK;

  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS) {
    fprintf(stderr, "loom: MPI_Init_thread failed\n");
    return CLI_INTERNAL;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  rc = loom_profile_probe(&mine, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "loom: rank %d: %s\n", rank,
            err[0] ? err : loom_strerror(rc));
  /* Every rank learns whether any probe failed before the gather. */
  failed = rc != 0;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (failed) {
    status = CLI_USAGE;
    goto out;
  }

  rc = loom_profile_gather(MPI_COMM_WORLD, &mine, &all);
  if (rc != 0) {
    if (rank == 0)
      fprintf(stderr, "loom: rank 0: gathering %d profiles failed: %s\n", size,
              loom_strerror(rc));
    status = CLI_INTERNAL;
    goto out;
  }
  if (rank == 0) {
    loom_profile_print(stdout, all, size, json);
    fflush(stdout);
  }

out:
  free(all);
  MPI_Finalize();
  return status;
}
