/* cli.h - what the `loom` command's files share.
 *
 * main.c holds the subcommand table; each subcommand lives in a file of its
 * own (run.c, sim.c, topo.c) and declares its flags once, in a table that
 * both parses the command line and prints --help (flags.c), so a flag
 * cannot exist without its help line. The command calls only loom.h and
 * the built-in kinds (tasks/kinds.h).
 */
#ifndef LOOM_CLI_H
#define LOOM_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Exit statuses of every subcommand. */
enum {
  CLI_OK = 0,
  CLI_TASKS_FAILED = 1, /* loom run: some task failed */
  CLI_USAGE = 2,        /* usage or input error */
  CLI_INTERNAL = 3,     /* internal or MPI error */
  CLI_INCOMPLETE = 4    /* loom run stopped early; --resume runs the rest */
};

/* One flag. set() stores value (NULL for a switch) into the command's
 * context; it returns 0, or non-zero for a bad value, and may then write
 * its own message into err (else the parser says "bad FLAG 'VALUE'
 * (expected EXPECT)"). */
struct cli_flag {
  const char *name;   /* "--output" */
  char alias;         /* 'o' for -o, or 0 */
  const char *value;  /* what the value is called in --help ("DIR"); NULL
                         for a switch */
  const char *help;   /* --help's text; '\n' starts a continuation line */
  const char *expect; /* what a good value looks like, for errors */
  int (*set)(void *ctx, const char *value, char *err, size_t errlen);
};

/* A subcommand's command line. */
struct cli_syntax {
  const char *command;          /* "run", for "see 'loom run --help'" */
  const struct cli_flag *flags; /* ends with a {NULL} entry */
  /* A word that is not a flag; returns 0 or non-zero with err filled. */
  int (*positional)(void *ctx, const char *arg, char *err, size_t errlen);
  void (*usage)(FILE *f);     /* --help: everything but the flags */
  void (*more_help)(FILE *f); /* --help: after the flags, or NULL */
};

/* Parses argv[first..argc). Returns -1 to go on, CLI_OK after --help
 * (printed unless quiet), or CLI_USAGE after one error line (printed
 * unless quiet: only the launcher's rank 0 speaks). */
int cli_parse(const struct cli_syntax *s, int argc, char **argv, int first,
              void *ctx, int quiet);

/* Prints one "loom: ..." error line, with a pointer to the command's
 * --help. Returns CLI_USAGE. Quiet: prints nothing. */
int cli_usage_error(const struct cli_syntax *s, int quiet, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Inside a Slurm job: is an MPI world of `world` ranks the launch the user
 * made? One rank where Slurm started several tasks (srun without PMIx: N
 * singletons), or a job of several tasks running loom as one process, is
 * not. Returns 0, or CLI_USAGE with err saying what went wrong and what to
 * do. (slurm.c) */
int cli_slurm_launch_check(int world, char *err, size_t n);

/* The Slurm job's end time, seconds since the epoch: SLURM_JOB_END_TIME,
 * else what squeue (or scontrol) says for SLURM_JOB_ID. Returns 0, or
 * CLI_USAGE with err saying why not. */
int cli_slurm_end_time(double *end, char *err, size_t n);

/* Prints --help: the usage part, the flags, the rest. */
void cli_help(const struct cli_syntax *s, FILE *f);

/* A macro's value as a string literal. */
/* A size in bytes with an optional K, M, G or T suffix (powers of 1024).
 * Returns 0, or -1 for anything else or an overflow. */
int cli_size(const char *s, unsigned long long *out);

#define CLI_STR_(x) #x
#define CLI_STR(x) CLI_STR_(x)

/* Value parsers for set() functions. Each returns 0 or -1. */
int cli_u64(const char *s, unsigned long long min, unsigned long long max,
            unsigned long long *out);
int cli_seconds(const char *s, double *out); /* 90, 2.5m, 1h: >= 0 */

/* The subcommands: argv is main's, argv[1] the subcommand's name. Each
 * returns the process's exit status. quiet: this process is not the
 * launcher's rank 0, so usage errors and --help are left to that one. */
int loom_cli_run(int argc, char **argv, int quiet);

/* `loom run`'s flags alone, parsed and checked as loom_cli_run() does,
 * silently, without MPI: returns -1 when the command line is good, else
 * the exit status it would get. For the command-line fuzzer. */
int loom_cli_run_parse(int argc, char **argv);
int loom_cli_sim(int argc, char **argv, int quiet);
int loom_cli_topo(int argc, char **argv, int quiet);
int loom_cli_state(int argc, char **argv, int quiet);

#endif /* LOOM_CLI_H */
