/* cli.h - the `loom` subcommands that live outside main.c.
 *
 * main.c parses argv[1] and hands the whole command line to the
 * subcommand, which starts and ends MPI itself and returns the process's
 * exit status (0 ok, 2 usage or input error, 3 internal or MPI error).
 */
#ifndef LOOM_CLI_H
#define LOOM_CLI_H

/* `loom topo [--json]`: probes every rank's hardware (loom_profile_probe)
 * and prints one row per rank on rank 0. quiet_rank: this process is not
 * the launcher's rank 0, so it prints no usage text. A probe error on any
 * rank makes every rank return 2. */
int loom_cli_topo(int argc, char **argv, int quiet_rank);

#endif /* LOOM_CLI_H */
