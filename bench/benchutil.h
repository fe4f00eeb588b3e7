/* benchutil.h - what the dispatch benchmarks share: the command line, the
 * task work (none, spin, sleep) and the CSV row. Every benchmark program
 * (textbook.c, batched.c, dispatch.c) parses the same arguments and prints
 * the same columns, so their rows can be compared side by side.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>

enum bench_work { BENCH_WORK_NONE = 0, BENCH_WORK_SPIN, BENCH_WORK_SLEEP };

/* Which optional arguments a program accepts. */
#define BENCH_ARG_BATCH 1u  /* --batch B */
#define BENCH_ARG_POLICY 2u /* --policy NAME */
#define BENCH_ARG_ARRAY 4u  /* --array */

struct bench_args {
  uint64_t tasks;     /* --tasks N, default 100000 */
  int work;           /* enum bench_work, --work none|spin|sleep */
  double seconds;     /* --seconds S, the duration of one task; 0.001 */
  int repeat;         /* --repeat R, timed repeats, default 5 */
  int warmup;         /* --warmup W, untimed repeats first, default 1 */
  int batch;          /* --batch B, tasks per message, default 64 */
  const char *policy; /* --policy NAME, default NULL (loom's default) */
  int header;         /* --header: print the CSV header first */
  int time_empty;     /* --time-empty: time empty tasks too */
  int array;          /* --array: the tasks as one array (loom) */
};

/* The CSV header, without a newline. */
#define BENCH_CSV_HEADER                                                       \
  "impl,ranks,workers,work,task_s,tasks,seconds,tasks_per_s,"                  \
  "overhead_us_per_task,efficiency"

/* Parses argv into *a. allowed is a mask of BENCH_ARG_*. On a bad argument
 * prints a message and the usage to stderr when verbose is set, and returns
 * -1; returns 1 after --help (usage printed to stdout when verbose), else 0. */
int bench_args_parse(int argc, char **argv, unsigned allowed, int verbose,
                     struct bench_args *a);

/* The name of a work kind as the CSV shows it ("none", "spin", "sleep"). */
const char *bench_work_name(int work);

/* The duration of one task as the CSV shows it: 0 for "none". */
double bench_task_seconds(const struct bench_args *a);

/* Runs one task's work: nothing, a busy-wait on CLOCK_MONOTONIC, or a sleep
 * of the given seconds. */
void bench_work_run(int work, double seconds);

/* Runs one task as the baseline workers do and returns its elapsed seconds.
 * Empty tasks are not timed (elapsed 0) unless time_empty is set: two clock
 * reads cost about 70 ns here, more than the rest of a batched dispatch. */
double bench_task_run(int work, double seconds, int time_empty);

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

/* The number of tasks a warm-up repeat runs: few enough to be cheap, enough
 * to set up every connection and page in the code. */
uint64_t bench_warmup_tasks(const struct bench_args *a);

/* Prints one CSV row (with newline) for a timed repeat. */
void bench_csv_row(FILE *out, const char *impl, int ranks, int workers,
                   const struct bench_args *a, double seconds);

#endif /* BENCHUTIL_H */
