/* sim.c - the `loom sim` command: a run simulated offline.
 *
 * Generates a workload with the duration distributions of the built-in
 * kinds (tasks/dist.c), sets the worker speeds and the weights the policy
 * is told, and runs loom_sim_run(): the master's own policy and batching
 * code against a discrete-event model. No MPI. Prints the load-balance
 * figures report.json has, as text or JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kinds.h"
#include "loom.h"

#define MAX_ARGS 16

struct sim_cli {
  struct loom_sim_options o;
  struct kind_arg args[MAX_ARGS]; /* distribution flags, as a kind's args */
  char keyval[MAX_ARGS][64];
  size_t nargs;
  const char *speeds;  /* SPEC, or NULL */
  const char *weights; /* known, flat or SPEC */
  const char *replay;
  int json;
  int durations;       /* print the workload instead of simulating it */
  uint64_t wide_every; /* --wide K:C: every K-th task needs C cores */
  int wide_cores;
};

static void usage(FILE *f) {
  fprintf(f, "usage: loom sim [OPTIONS]\n"
             "\n"
             "Simulates a run offline: loom's own policy and batching code, "
             "with\n"
             "simulated workers and message latency, deterministically. "
             "Prints\n"
             "makespan, lower bound, imbalance and efficiency as report.json "
             "does.\n");
}

static int number(const char *v, double min, double *out) {
  char *end;
  double x;

  errno = 0;
  x = strtod(v, &end);
  if (end == v || *end || errno || !isfinite(x) || x < min)
    return -1;
  *out = x;
  return 0;
}

/* A whole number in [min, max]. */
static int whole(const char *v, double min, double max, double *out) {
  return number(v, min, out) == 0 && *out <= max && *out == floor(*out) ? 0
                                                                        : -1;
}

/* --dist, --mean, ...: handed to dist_setup() as the kinds' key=value
 * arguments, which checks them. The flag's name (without --) is the key. */
static int add_dist_arg(struct sim_cli *c, const char *key, const char *v,
                        char *err, size_t n) {
  if (c->nargs == MAX_ARGS) {
    snprintf(err, n, "too many distribution options");
    return -1;
  }
  snprintf(c->keyval[c->nargs], sizeof(c->keyval[c->nargs]), "%s=%s", key, v);
  c->args[c->nargs] =
      (struct kind_arg){.key = c->keyval[c->nargs],
                        .key_len = strlen(key),
                        .value = c->keyval[c->nargs] + strlen(key) + 1};
  c->nargs++;
  return 0;
}

#define DIST_SETTER(fn, key)                                                   \
  static int fn(void *ctx, const char *v, char *err, size_t n) {               \
    return add_dist_arg(ctx, key, v, err, n);                                  \
  }
DIST_SETTER(set_dist, "dist")
DIST_SETTER(set_mean, "mean")
DIST_SETTER(set_sigma, "sigma")
DIST_SETTER(set_alpha, "alpha")
DIST_SETTER(set_min, "min")
DIST_SETTER(set_max, "max")
DIST_SETTER(set_cap, "cap")
DIST_SETTER(set_seed, "seed")
#undef DIST_SETTER

static int set_workers(void *ctx, const char *v, char *err, size_t n) {
  double x;
  (void)err, (void)n;
  if (whole(v, 1, 10000000, &x) != 0)
    return -1;
  ((struct sim_cli *)ctx)->o.workers = (int)x;
  return 0;
}

static int set_tasks(void *ctx, const char *v, char *err, size_t n) {
  double x;
  (void)err, (void)n;
  if (whole(v, 1, 1e12, &x) != 0)
    return -1;
  ((struct sim_cli *)ctx)->o.tasks = (uint64_t)x;
  return 0;
}

static int set_replay(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  ((struct sim_cli *)ctx)->replay = v;
  return 0;
}

static int set_hints(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct sim_cli *)ctx)->o.hints = 1;
  return 0;
}

static int set_speeds(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  ((struct sim_cli *)ctx)->speeds = v;
  return 0;
}

static int set_weights(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  ((struct sim_cli *)ctx)->weights = v;
  return 0;
}

static int set_policy(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  if (!loom_policy_exists(v))
    return -1;
  ((struct sim_cli *)ctx)->o.policy = v;
  return 0;
}

static int set_latency(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  return number(v, 0, &((struct sim_cli *)ctx)->o.latency);
}

/* --master-cost MSG:TASK: two numbers of seconds >= 0. */
static int set_master_cost(void *ctx, const char *v, char *err, size_t n) {
  struct sim_cli *c = ctx;
  const char *colon = strchr(v, ':');
  char msg[64];

  (void)err, (void)n;
  if (!colon || (size_t)(colon - v) >= sizeof(msg))
    return -1;
  memcpy(msg, v, (size_t)(colon - v));
  msg[colon - v] = '\0';
  return number(msg, 0, &c->o.master_msg) != 0 ||
                 number(colon + 1, 0, &c->o.master_task) != 0
             ? -1
             : 0;
}

static int set_window(void *ctx, const char *v, char *err, size_t n) {
  double x;
  (void)err, (void)n;
  if (whole(v, 1, LOOM_WINDOW_MAX, &x) != 0)
    return -1;
  ((struct sim_cli *)ctx)->o.window = (int)x;
  return 0;
}

static int set_batch_target(void *ctx, const char *v, char *err, size_t n) {
  double x;
  (void)err, (void)n;
  if (number(v, 0, &x) != 0 || !(x > 0))
    return -1;
  ((struct sim_cli *)ctx)->o.batch_target = x;
  return 0;
}

static int set_lookahead(void *ctx, const char *v, char *err, size_t n) {
  double x;
  (void)err, (void)n;
  if (whole(v, 0, (double)LOOM_LOOKAHEAD_MAX, &x) != 0)
    return -1;
  ((struct sim_cli *)ctx)->o.lookahead = (uint64_t)x;
  return 0;
}

static int set_slots(void *ctx, const char *v, char *err, size_t n) {
  double x;
  (void)err, (void)n;
  if (whole(v, 1, LOOM_SLOTS_MAX, &x) != 0)
    return -1;
  ((struct sim_cli *)ctx)->o.slots = (int)x;
  return 0;
}

static int set_wide(void *ctx, const char *v, char *err, size_t n) {
  struct sim_cli *c = ctx;
  const char *colon = strchr(v, ':');
  char every[32];
  double k, cores;
  (void)err, (void)n;
  if (!colon || (size_t)(colon - v) >= sizeof(every))
    return -1;
  memcpy(every, v, (size_t)(colon - v));
  every[colon - v] = '\0';
  if (whole(every, 1, 1e18, &k) != 0 ||
      whole(colon + 1, 1, LOOM_SLOTS_MAX, &cores) != 0)
    return -1;
  c->wide_every = (uint64_t)k;
  c->wide_cores = (int)cores;
  return 0;
}

static int set_json(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct sim_cli *)ctx)->json = 1;
  return 0;
}

static int set_durations(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct sim_cli *)ctx)->durations = 1;
  return 0;
}

static const struct cli_flag sim_flags[] = {
    {"--workers", 0, "N", "simulated workers (default 16)", "1 to 10000000",
     set_workers},
    {"--tasks", 0, "N", "tasks (default 100000)", "an integer >= 1", set_tasks},
    {"--dist", 0, "D", "fixed, uniform, lognormal or pareto (default fixed)",
     NULL, set_dist},
    {"--mean", 0, "S", "mean task duration at speed 1, seconds (0.001)", NULL,
     set_mean},
    {"--sigma", 0, "X", "lognormal shape (1)", NULL, set_sigma},
    {"--alpha", 0, "X", "pareto shape, > 1 (2)", NULL, set_alpha},
    {"--min", 0, "S", "uniform range: lower end (0)", NULL, set_min},
    {"--max", 0, "S", "uniform range: upper end (2 x mean)", NULL, set_max},
    {"--cap", 0, "S", "clip durations at S seconds (0 = none)", NULL, set_cap},
    {"--seed", 0, "N", "workload seed (1)", NULL, set_seed},
    {"--replay", 0, "DIR",
     "the durations of the successful attempts in\n"
     "DIR/joblog.tsv (a recorded run), in order,\n"
     "instead of a distribution; --tasks is then\n"
     "their count",
     NULL, set_replay},
    {"--hints", 0, NULL, "tasks carry their duration as a cost hint", NULL,
     set_hints},
    {"--speeds", 0, "SPEC",
     "worker speeds: A:B (two equal halves), or\n"
     "SxN,SxN,... (N workers of speed S; N sums to\n"
     "--workers); default all 1",
     NULL, set_speeds},
    {"--weights", 0, "MODE",
     "known: the policy is told the speeds (as a\n"
     "topology would); flat: all 1, only measurement\n"
     "can tell; or a SPEC as for --speeds: weights\n"
     "that may be wrong (default known)",
     NULL, set_weights},
    {"--policy", 0, "NAME", "scheduling policy (default weighted)",
     "a policy of loom run --help", set_policy},
    {"--latency", 0, "S", "one-way message latency, seconds (0.00001)",
     "seconds >= 0", set_latency},
    {"--master-cost", 0, "MSG:TASK",
     "the master's own seconds per message sent or\n"
     "received, and per task handed out or recorded\n"
     "(bench/loombench.py suite measures them);\n"
     "default 0:0, a master that costs nothing",
     "two seconds >= 0, as 2e-6:3e-7", set_master_cost},
    {"--window", 0, "N", "batches in flight per worker (2)",
     "1 to " CLI_STR(LOOM_WINDOW_MAX), set_window},
    {"--batch-target", 0, "S",
     "expected seconds of work one batch aims at, as\n"
     "loom run --batch-target (0.01)",
     "seconds > 0", set_batch_target},
    {"--lookahead", 0, "N",
     "with --hints and a longest-first policy\n"
     "(weighted): tasks read ahead to hand out the\n"
     "longest first, as loom run does (default 1000000;\n"
     "0 = the workload's order)",
     "0 to 1073741824", set_lookahead},
    {"--slots", 0, "N",
     "tasks each worker runs at once, one core each\n"
     "unless --wide says (loom run --slots; default 1)",
     "1 to " CLI_STR(LOOM_SLOTS_MAX), set_slots},
    {"--wide", 0, "K:C",
     "every K-th task (the first included) needs C\n"
     "cores at once (C <= --slots)",
     "K:C with K >= 1 and C from 1 to the slots", set_wide},
    {"--json", 0, NULL, "one JSON object instead of text", NULL, set_json},
    {"--durations", 0, NULL,
     "print the workload instead: each task's duration\n"
     "at speed 1, in seconds, one a line, in order (the\n"
     "draws of the spin and sleep kinds with the same\n"
     "arguments)",
     NULL, set_durations},
    {NULL, 0, NULL, NULL, NULL, NULL}};

static int no_positional(void *ctx, const char *a, char *err, size_t n) {
  (void)ctx;
  snprintf(err, n, "unexpected argument '%s'", a);
  return -1;
}

static const struct cli_syntax sim_syntax = {"sim", sim_flags, no_positional,
                                             usage, NULL};

/* Parses SPEC into speeds[workers]. */
static int parse_speeds(const char *spec, double *speeds, int workers) {
  double a, b;
  char *end;
  int filled = 0;

  if (strchr(spec, ':')) {
    errno = 0;
    a = strtod(spec, &end);
    if (end == spec || *end != ':' || !(a > 0))
      return -1;
    b = strtod(end + 1, &end);
    if (*end || !(b > 0) || errno)
      return -1;
    for (int w = 0; w < workers; w++)
      speeds[w] = w < workers / 2 ? a : b;
    return 0;
  }
  for (const char *p = spec; *p;) {
    long n = 1;
    errno = 0;
    a = strtod(p, &end);
    if (end == p || !(a > 0) || errno)
      return -1;
    if (*end == 'x') {
      p = end + 1;
      n = strtol(p, &end, 10);
      if (end == p || n < 1)
        return -1;
    }
    if (filled + n > workers)
      return -1;
    for (long i = 0; i < n; i++)
      speeds[filled++] = a;
    if (*end == ',')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  return filled == workers ? 0 : -1;
}

static double draw(void *arg, uint64_t i) { return dist_draw(arg, i); }

/* The workload with --wide: the durations it wraps, and the cores. */
struct wide_load {
  double (*duration)(void *arg, uint64_t i);
  void *arg;
  uint64_t every;
  int cores;
};

static double wide_duration(void *arg, uint64_t i) {
  const struct wide_load *w = arg;
  return w->duration(w->arg, i);
}

static int wide_cores(void *arg, uint64_t i) {
  const struct wide_load *w = arg;
  return i % w->every == 0 ? w->cores : 1;
}

static double replayed(void *arg, uint64_t i) {
  return ((const double *)arg)[i];
}

int loom_cli_sim(int argc, char **argv, int quiet) {
  struct sim_cli c;
  struct loom_sim_options o;
  struct loom_sim_result r;
  struct wide_load wl;
  struct dist d;
  double *speeds = NULL, *wspec = NULL, *recorded = NULL, t0, t1;
  size_t nrecorded = 0;
  char err[256];
  int rc = CLI_USAGE;
  struct timespec ts;

  memset(&c, 0, sizeof(c));
  c.o.workers = 16;
  c.o.tasks = 100000;
  c.o.latency = 1e-5;
  c.o.lookahead = LOOM_LOOKAHEAD_DEFAULT;
  c.weights = "known";
  rc = cli_parse(&sim_syntax, argc, argv, 2, &c, quiet);
  /* No MPI: every rank may run it, but only the launcher's rank 0 prints
   * and fails. */
  if (quiet)
    return CLI_OK;
  if (rc >= 0)
    return rc;
  o = c.o;
  if (dist_setup(&d, c.args, c.nargs, "sim", err, sizeof(err)) != 0) {
    fprintf(stderr, "loom: %s\n", err);
    return CLI_USAGE;
  }
  if (c.speeds) {
    speeds = calloc((size_t)o.workers, sizeof(double));
    if (!speeds) {
      fprintf(stderr, "loom: out of memory\n");
      return CLI_INTERNAL;
    }
    if (parse_speeds(c.speeds, speeds, o.workers) != 0) {
      rc = cli_usage_error(&sim_syntax, 0, "bad --speeds '%s'", c.speeds);
      goto out;
    }
    o.speeds = speeds;
    if (strcmp(c.weights, "known") == 0)
      o.weights = speeds;
  }
  if (strcmp(c.weights, "known") != 0 && strcmp(c.weights, "flat") != 0) {
    wspec = calloc((size_t)o.workers, sizeof(double));
    if (!wspec) {
      fprintf(stderr, "loom: out of memory\n");
      rc = CLI_INTERNAL;
      goto out;
    }
    if (parse_speeds(c.weights, wspec, o.workers) != 0) {
      rc = cli_usage_error(&sim_syntax, 0, "bad --weights '%s'", c.weights);
      goto out;
    }
    o.weights = wspec;
  }
  o.duration = draw;
  o.arg = &d;
  if (c.replay) {
    if (c.nargs > 0) {
      fprintf(stderr, "loom: --replay takes the durations from the joblog: "
                      "no distribution options (see 'loom sim --help')\n");
      rc = CLI_USAGE;
      goto out;
    }
    rc = loom_joblog_durations(c.replay, &recorded, &nrecorded, err,
                               sizeof(err));
    if (rc != 0 || nrecorded == 0) {
      fprintf(stderr, "loom: %s\n",
              rc != 0 ? err : "--replay: the joblog has no successful task");
      rc = CLI_USAGE;
      goto out;
    }
    o.duration = replayed;
    o.arg = recorded;
    o.tasks = nrecorded;
  }
  if (c.wide_every > 0) {
    if (c.wide_cores > (o.slots > 0 ? o.slots : 1)) {
      rc = cli_usage_error(&sim_syntax, 0,
                           "--wide %" PRIu64 ":%d: more cores than the %d "
                           "slots of a worker",
                           c.wide_every, c.wide_cores,
                           o.slots > 0 ? o.slots : 1);
      goto out;
    }
    wl.duration = o.duration;
    wl.arg = o.arg;
    wl.every = c.wide_every;
    wl.cores = c.wide_cores;
    o.duration = wide_duration;
    o.arg = &wl;
    o.cores = wide_cores;
  }
  if (c.durations) {
    for (uint64_t i = 0; i < o.tasks; i++)
      printf("%.9g\n", o.duration(o.arg, i));
    rc = fflush(stdout) == 0 && !ferror(stdout) ? CLI_OK : CLI_INTERNAL;
    goto out;
  }
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t0 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  rc = loom_sim_run(&o, &r);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t1 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  if (rc != 0) {
    fprintf(stderr, "loom: simulation failed: %s\n", loom_strerror(rc));
    rc = CLI_INTERNAL;
    goto out;
  }
  /* Durations so large that sums overflow give no figure worth printing,
   * and JSON has no infinity or NaN. */
  if (!isfinite(r.makespan) || !isfinite(r.lower_bound) || !isfinite(r.ratio) ||
      !isfinite(r.greedy) || !isfinite(r.efficiency)) {
    rc = cli_usage_error(&sim_syntax, 0,
                         "the simulated times overflow: durations (--mean, "
                         "--max, --cap) are too large");
    goto out;
  }
  if (c.json)
    printf("{\"workers\": %d, \"tasks\": %" PRIu64
           ", \"policy\": \"%s\", \"hints\": %s, \"makespan_s\": %.9g, "
           "\"balance\": {\"imbalance\": %.6f, \"efficiency\": %.6f, "
           "\"lower_bound_s\": %.9g, \"makespan_over_lower_bound\": %.6f, "
           "\"greedy_s\": %.9g, \"makespan_over_greedy\": %.6f}, "
           "\"lookahead\": %" PRIu64 ", \"messages\": %" PRIu64
           ", \"returned\": %" PRIu64
           ", \"slots\": %d, \"wait_max_s\": %.9g, \"master_busy\": %.6f, "
           "\"sim_seconds\": %.3f}\n",
           o.workers, o.tasks, o.policy ? o.policy : "weighted",
           o.hints ? "true" : "false", r.makespan, r.imbalance, r.efficiency,
           r.lower_bound, r.ratio, r.greedy,
           r.greedy > 0 ? r.makespan / r.greedy : 0, r.lookahead, r.messages,
           r.returned, o.slots > 0 ? o.slots : 1, r.wait_max, r.master_busy,
           t1 - t0);
  else
    printf("sim: %d workers, %" PRIu64 " tasks, policy %s%s: makespan %.6g s, "
           "lower bound %.6g s, makespan / lower bound %.4f, ideal greedy "
           "%.6g s%s, imbalance %.4f, efficiency %.4f, %" PRIu64
           " messages (%.2f s)\n",
           o.workers, o.tasks, o.policy ? o.policy : "weighted",
           o.hints ? ", hints" : "", r.makespan, r.lower_bound, r.ratio,
           r.greedy, o.cores ? " (not computed with --wide)" : "", r.imbalance,
           r.efficiency, r.messages, t1 - t0);
  if (!c.json && (o.slots > 1 || o.cores))
    printf("sim: %d slots per worker; the longest wait of a task for its "
           "cores: %.6g s\n",
           o.slots > 0 ? o.slots : 1, r.wait_max);
  if (!c.json && r.returned > 0)
    printf("sim: %" PRIu64 " task%s given back unstarted by batches that "
           "ran 4 times the batch target (50 ms at least), and handed out "
           "again\n",
           r.returned, r.returned == 1 ? "" : "s");
  if (!c.json && (o.master_msg > 0 || o.master_task > 0))
    printf("sim: the master was busy %.1f%% of the makespan\n",
           100 * r.master_busy);
  rc = 0;
out:
  free(speeds);
  free(wspec);
  free(recorded);
  return rc;
}
