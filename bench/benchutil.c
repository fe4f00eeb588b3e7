/* benchutil.c - the command line, task work and CSV row that the dispatch
 * benchmarks share (see benchutil.h). Nothing here calls MPI, so the same
 * code serves the MPI baselines and the loom program alike.
 */
#include "benchutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out, const char *prog, unsigned allowed) {
  fprintf(
      out,
      "usage: %s [--tasks N] [--work none|spin|sleep] [--seconds S]\n"
      "         [--repeat R] [--warmup W] [--header] [--time-empty]%s%s%s\n"
      "  --tasks N    tasks per repeat (default 100000)\n"
      "  --work K     none: empty tasks; spin: busy-wait S seconds;\n"
      "               sleep: sleep S seconds (default none)\n"
      "  --seconds S  duration of one task (default 0.001)\n"
      "  --repeat R   timed repeats, one CSV row each (default 5)\n"
      "  --warmup W   untimed repeats first, of at most 1000 tasks and\n"
      "               0.2 s of task work (default 1)\n"
      "  --header     print the CSV header line first\n"
      "  --time-empty time empty tasks too, as loom must (its results carry\n"
      "               start and elapsed); the baselines do not by default\n",
      prog, (allowed & BENCH_ARG_BATCH) ? " [--batch B]" : "",
      (allowed & BENCH_ARG_POLICY) ? " [--policy NAME]" : "",
      (allowed & BENCH_ARG_ARRAY) ? " [--array]" : "");
  if (allowed & BENCH_ARG_BATCH)
    fprintf(out, "  --batch B    tasks per message (default 64)\n");
  if (allowed & BENCH_ARG_POLICY)
    fprintf(out, "  --policy P   loom scheduling policy (default: loom's)\n");
  if (allowed & BENCH_ARG_ARRAY)
    fprintf(
        out,
        "  --array      the tasks as one array of N (loom_task_spec.count,\n"
        "               impl loom-array), not one spec each\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  char *end = NULL;
  unsigned long long v;

  if (s == NULL || *s == '\0' || *s == '-')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return -1;
  *out = (uint64_t)v;
  return 0;
}

static int parse_double(const char *s, double min, double max, double *out) {
  char *end = NULL;
  double v;

  if (s == NULL || *s == '\0')
    return -1;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || !(v >= min && v <= max))
    return -1;
  *out = v;
  return 0;
}

int bench_args_parse(int argc, char **argv, unsigned allowed, int verbose,
                     struct bench_args *a) {
  const char *prog =
      strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  uint64_t u = 0;
  int i;

  memset(a, 0, sizeof(*a));
  a->tasks = 100000;
  a->work = BENCH_WORK_NONE;
  a->seconds = 0.001;
  a->repeat = 5;
  a->warmup = 1;
  a->batch = 64;
  a->policy = NULL;

  for (i = 1; i < argc; i++) {
    const char *opt = argv[i];
    const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
    int bad = 0;

    if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
      if (verbose)
        usage(stdout, prog, allowed);
      return 1;
    } else if (strcmp(opt, "--header") == 0) {
      a->header = 1;
      continue;
    } else if (strcmp(opt, "--time-empty") == 0) {
      a->time_empty = 1;
      continue;
    } else if ((allowed & BENCH_ARG_ARRAY) && strcmp(opt, "--array") == 0) {
      a->array = 1;
      continue;
    } else if (strcmp(opt, "--tasks") == 0) {
      bad = parse_u64(val, 1, UINT64_MAX / 2, &a->tasks);
    } else if (strcmp(opt, "--work") == 0) {
      if (val != NULL && strcmp(val, "none") == 0)
        a->work = BENCH_WORK_NONE;
      else if (val != NULL && strcmp(val, "spin") == 0)
        a->work = BENCH_WORK_SPIN;
      else if (val != NULL && strcmp(val, "sleep") == 0)
        a->work = BENCH_WORK_SLEEP;
      else
        bad = -1;
    } else if (strcmp(opt, "--seconds") == 0) {
      bad = parse_double(val, 0.0, 3600.0, &a->seconds);
    } else if (strcmp(opt, "--repeat") == 0) {
      bad = parse_u64(val, 1, 1000000, &u);
      a->repeat = (int)u;
    } else if (strcmp(opt, "--warmup") == 0) {
      bad = parse_u64(val, 0, 1000000, &u);
      a->warmup = (int)u;
    } else if ((allowed & BENCH_ARG_BATCH) && strcmp(opt, "--batch") == 0) {
      bad = parse_u64(val, 1, 1u << 20, &u);
      a->batch = (int)u;
    } else if ((allowed & BENCH_ARG_POLICY) && strcmp(opt, "--policy") == 0) {
      a->policy = val;
      bad = (val == NULL) ? -1 : 0;
    } else {
      if (verbose) {
        fprintf(stderr, "%s: unknown argument '%s'\n", prog, opt);
        usage(stderr, prog, allowed);
      }
      return -1;
    }
    if (bad != 0) {
      if (verbose) {
        fprintf(stderr, "%s: bad or missing value for %s\n", prog, opt);
        usage(stderr, prog, allowed);
      }
      return -1;
    }
    i++; /* the value */
  }
  return 0;
}

const char *bench_work_name(int work) {
  switch (work) {
  case BENCH_WORK_SPIN:
    return "spin";
  case BENCH_WORK_SLEEP:
    return "sleep";
  default:
    return "none";
  }
}

double bench_task_seconds(const struct bench_args *a) {
  return a->work == BENCH_WORK_NONE ? 0.0 : a->seconds;
}

double bench_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_work_run(int work, double seconds) {
  if (work == BENCH_WORK_SPIN) {
    double end = bench_now() + seconds;

    while (bench_now() < end)
      ;
  } else if (work == BENCH_WORK_SLEEP) {
    struct timespec ts;

    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    /* Relative sleep: on EINTR ts holds what is left. */
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
      ;
  }
}

/* At most 1000 tasks and about 0.2 s of task work (less with more workers):
 * enough to open every connection, cheap next to a timed repeat. */
uint64_t bench_warmup_tasks(const struct bench_args *a) {
  double task_s = bench_task_seconds(a);
  uint64_t n = 1000;

  if (task_s > 0 && 0.2 / task_s < (double)n)
    n = 0.2 / task_s < 1.0 ? 1 : (uint64_t)(0.2 / task_s);
  return a->tasks < n ? a->tasks : n;
}

/* overhead_us_per_task is the worker time each task costs beyond its own
 * work: (workers * seconds - tasks * task_s) / tasks. For empty tasks it is
 * workers / throughput, the time a worker slot spends per task on dispatch.
 * efficiency is ideal / seconds with ideal = tasks * task_s / workers; it is
 * left empty for empty tasks, whose ideal time is zero. */
void bench_csv_row(FILE *out, const char *impl, int ranks, int workers,
                   const struct bench_args *a, double seconds) {
  double task_s = bench_task_seconds(a);
  double n = (double)a->tasks;
  double rate = seconds > 0 ? n / seconds : 0.0;
  double overhead = ((double)workers * seconds - n * task_s) / n * 1e6;

  fprintf(out, "%s,%d,%d,%s,%g,%" PRIu64 ",%.6f,%.1f,%.3f,", impl, ranks,
          workers, bench_work_name(a->work), task_s, a->tasks, seconds, rate,
          overhead);
  if (a->work != BENCH_WORK_NONE && seconds > 0)
    fprintf(out, "%.4f", n * task_s / (double)workers / seconds);
  fprintf(out, "\n");
  fflush(out);
}

double bench_task_run(int work, double seconds, int time_empty) {
  double start;

  if (work == BENCH_WORK_NONE && !time_empty)
    return 0.0;
  start = bench_now();
  bench_work_run(work, seconds);
  return bench_now() - start;
}
