/* main.c - the `loom` command: its subcommand table.
 *
 * Every rank runs this same program; argv[1] names the subcommand, which
 * gets the whole command line, starts and ends MPI itself if it needs it,
 * and returns the exit status (cli.h). Before MPI starts only the
 * launcher's rank 0 speaks: the others stay quiet, so an error is printed
 * once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loom.h"

struct command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv, int quiet);
};

static const struct command commands[] = {
    {"run", "run a task file or a built-in kind (loom run --help)",
     loom_cli_run},
    {"topo", "one row per rank: its hardware and weight (loom topo --help)",
     loom_cli_topo},
    {"sim",
     "simulate a run offline: policies, speeds, latency (loom sim "
     "--help)",
     loom_cli_sim},
    {"state", "print a run's state table (loom state --help)", loom_cli_state},
};

/* The rank the launcher gave this process, before MPI starts. */
static int launcher_rank(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                               "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
    const char *v = getenv(vars[i]);
    if (v && *v)
      return (int)strtol(v, NULL, 10);
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: loom COMMAND [OPTIONS]\n"
             "\n"
             "loom is an MPI task farm: start it on every rank with mpirun or "
             "srun;\n"
             "rank 0 hands out tasks, the other ranks run them.\n"
             "\n"
             "commands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n"
             "options:\n"
             "  -h, --help     this text\n"
             "  --version      print the version\n"
             "\n"
             "exit status: 0 all tasks succeeded, 1 some task failed, 2 usage "
             "or input\n"
             "error, 3 internal or MPI error, 4 stopped early (loom run).\n");
}

int main(int argc, char **argv) {
  int quiet = launcher_rank() != 0;

  if (argc < 2) {
    if (!quiet)
      usage(stderr);
    return quiet ? CLI_OK : CLI_USAGE;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    if (!quiet)
      usage(stdout);
    return CLI_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    if (!quiet)
      printf("loom %s\n", LOOM_VERSION);
    return CLI_OK;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc, argv, quiet);
  if (!quiet)
    fprintf(stderr, "loom: unknown command '%s' (see 'loom --help')\n",
            argv[1]);
  return quiet ? CLI_OK : CLI_USAGE;
}
