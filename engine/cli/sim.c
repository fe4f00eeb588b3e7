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

#include "kinds.h"
#include "loom.h"
#include "sim_cmd.h"

#define MAX_ARGS 16

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: loom sim [OPTIONS]\n"
      "\n"
      "Simulates a run offline: loom's own policy and batching code, with\n"
      "simulated workers and message latency, deterministically. Prints\n"
      "makespan, lower bound, imbalance and efficiency as report.json does.\n"
      "\n"
      "options:\n"
      "  --workers N        simulated workers (default 16)\n"
      "  --tasks N          tasks (default 100000)\n"
      "  --dist D           fixed, uniform, lognormal or pareto (default "
      "fixed)\n"
      "  --mean S           mean task duration at speed 1, seconds (0.001)\n"
      "  --sigma X          lognormal shape (1)\n"
      "  --alpha X          pareto shape, > 1 (2)\n"
      "  --min S, --max S   uniform range (0 to 2 x mean)\n"
      "  --cap S            clip durations at S seconds (0 = none)\n"
      "  --seed N           workload seed (1)\n"
      "  --replay DIR       the durations of the successful attempts in\n"
      "                     DIR/joblog.tsv (a recorded run), in order,\n"
      "                     instead of a distribution; --tasks is then\n"
      "                     their count\n"
      "  --hints            tasks carry their duration as a cost hint\n"
      "  --speeds SPEC      worker speeds: A:B (two equal halves), or\n"
      "                     SxN,SxN,... (N workers of speed S; N sums to\n"
      "                     --workers); default all 1\n"
      "  --weights MODE     known: the policy is told the speeds (as a\n"
      "                     topology would); flat: all 1, only measurement\n"
      "                     can tell; or a SPEC as for --speeds: weights\n"
      "                     that may be wrong (default known)\n"
      "  --policy NAME      scheduling policy (default weighted)\n"
      "  --latency S        one-way message latency, seconds (0.00001)\n"
      "  --window N         batches in flight per worker (2)\n"
      "  --lookahead N      with --hints and a longest-first policy\n"
      "                     (weighted): tasks read ahead to hand out the\n"
      "                     longest first, as loom run does (default 1000000;\n"
      "                     0 = the workload's order)\n"
      "  --json             one JSON object instead of text\n"
      "  -h, --help         this text\n");
}

static int bad(const char *what, const char *v) {
  fprintf(stderr, "loom: bad %s '%s' (see 'loom sim --help')\n", what, v);
  return 2;
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

static double replayed(void *arg, uint64_t i) {
  return ((const double *)arg)[i];
}

int loom_cli_sim(int argc, char **argv) {
  struct loom_sim_options o;
  struct loom_sim_result r;
  struct kind_arg args[MAX_ARGS] = {{0}};
  char keyval[MAX_ARGS][64];
  struct dist d;
  const char *speeds_spec = NULL, *weights = "known", *replay = NULL;
  double *speeds = NULL, *wspec = NULL, *recorded = NULL, x, t0, t1;
  size_t nrecorded = 0;
  char err[256];
  size_t nargs = 0;
  int json = 0, rc = 2;
  struct timespec ts;

  memset(&o, 0, sizeof(o));
  o.workers = 16;
  o.tasks = 100000;
  o.latency = 1e-5;
  o.lookahead = LOOM_LOOKAHEAD_DEFAULT;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    static const char *dist_flags[] = {"--dist", "--mean", "--sigma", "--alpha",
                                       "--min",  "--max",  "--cap",   "--seed"};
    int is_dist = 0;

    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--json") == 0) {
      json = 1;
      continue;
    }
    if (strcmp(a, "--hints") == 0) {
      o.hints = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr,
              "loom: option '%s' needs a value (see 'loom sim --help')\n", a);
      return 2;
    }
    i++;
    for (size_t k = 0; k < sizeof(dist_flags) / sizeof(dist_flags[0]); k++)
      if (strcmp(a, dist_flags[k]) == 0)
        is_dist = 1;
    if (is_dist) {
      /* Handed to dist_setup() as the kinds' key=value arguments. */
      if (nargs == MAX_ARGS)
        return bad("option", a);
      snprintf(keyval[nargs], sizeof(keyval[nargs]), "%s=%s", a + 2, v);
      args[nargs] =
          (struct kind_arg){.key = keyval[nargs],
                            .key_len = strlen(a + 2),
                            .value = keyval[nargs] + strlen(a + 2) + 1};
      nargs++;
    } else if (strcmp(a, "--workers") == 0) {
      if (number(v, 1, &x) != 0 || x > 10000000 || x != floor(x))
        return bad("--workers", v);
      o.workers = (int)x;
    } else if (strcmp(a, "--tasks") == 0) {
      if (number(v, 1, &x) != 0 || x > 1e12 || x != floor(x))
        return bad("--tasks", v);
      o.tasks = (uint64_t)x;
    } else if (strcmp(a, "--replay") == 0) {
      replay = v;
    } else if (strcmp(a, "--speeds") == 0) {
      speeds_spec = v;
    } else if (strcmp(a, "--weights") == 0) {
      weights = v;
    } else if (strcmp(a, "--policy") == 0) {
      if (!loom_policy_exists(v))
        return bad("--policy", v);
      o.policy = v;
    } else if (strcmp(a, "--latency") == 0) {
      if (number(v, 0, &o.latency) != 0)
        return bad("--latency", v);
    } else if (strcmp(a, "--lookahead") == 0) {
      if (number(v, 0, &x) != 0 || x > 1073741824 || x != floor(x))
        return bad("--lookahead", v);
      o.lookahead = (uint64_t)x;
    } else if (strcmp(a, "--window") == 0) {
      if (number(v, 1, &x) != 0 || x > 1024 || x != floor(x))
        return bad("--window", v);
      o.window = (int)x;
    } else {
      fprintf(stderr, "loom: unknown option '%s' (see 'loom sim --help')\n", a);
      return 2;
    }
  }
  if (dist_setup(&d, args, nargs, "sim", err, sizeof(err)) != 0) {
    fprintf(stderr, "loom: %s\n", err);
    return 2;
  }
  if (speeds_spec) {
    speeds = calloc((size_t)o.workers, sizeof(double));
    if (!speeds) {
      fprintf(stderr, "loom: out of memory\n");
      return 3;
    }
    if (parse_speeds(speeds_spec, speeds, o.workers) != 0) {
      rc = bad("--speeds", speeds_spec);
      goto out;
    }
    o.speeds = speeds;
    if (strcmp(weights, "known") == 0)
      o.weights = speeds;
  }
  if (strcmp(weights, "known") != 0 && strcmp(weights, "flat") != 0) {
    wspec = calloc((size_t)o.workers, sizeof(double));
    if (!wspec) {
      fprintf(stderr, "loom: out of memory\n");
      rc = 3;
      goto out;
    }
    if (parse_speeds(weights, wspec, o.workers) != 0) {
      rc = bad("--weights", weights);
      goto out;
    }
    o.weights = wspec;
  }
  o.duration = draw;
  o.arg = &d;
  if (replay) {
    if (nargs > 0) {
      fprintf(stderr, "loom: --replay takes the durations from the joblog: "
                      "no distribution options (see 'loom sim --help')\n");
      rc = 2;
      goto out;
    }
    rc = loom_joblog_durations(replay, &recorded, &nrecorded, err, sizeof(err));
    if (rc != 0 || nrecorded == 0) {
      fprintf(stderr, "loom: %s\n",
              rc != 0 ? err : "--replay: the joblog has no successful task");
      rc = 2;
      goto out;
    }
    o.duration = replayed;
    o.arg = recorded;
    o.tasks = nrecorded;
  }
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t0 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  rc = loom_sim_run(&o, &r);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t1 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  if (rc != 0) {
    fprintf(stderr, "loom: simulation failed: %s\n", loom_strerror(rc));
    rc = 3;
    goto out;
  }
  if (json)
    printf("{\"workers\": %d, \"tasks\": %" PRIu64
           ", \"policy\": \"%s\", \"hints\": %s, \"makespan_s\": %.9g, "
           "\"balance\": {\"imbalance\": %.6f, \"efficiency\": %.6f, "
           "\"lower_bound_s\": %.9g, \"makespan_over_lower_bound\": %.6f, "
           "\"greedy_s\": %.9g, \"makespan_over_greedy\": %.6f}, "
           "\"lookahead\": %" PRIu64 ", \"messages\": %" PRIu64
           ", \"sim_seconds\": %.3f}\n",
           o.workers, o.tasks, o.policy ? o.policy : "weighted",
           o.hints ? "true" : "false", r.makespan, r.imbalance, r.efficiency,
           r.lower_bound, r.ratio, r.greedy,
           r.greedy > 0 ? r.makespan / r.greedy : 0, r.lookahead, r.messages,
           t1 - t0);
  else
    printf("sim: %d workers, %" PRIu64 " tasks, policy %s%s: makespan %.6g s, "
           "lower bound %.6g s, makespan / lower bound %.4f, ideal greedy "
           "%.6g s, imbalance %.4f, efficiency %.4f, %" PRIu64
           " messages (%.2f s)\n",
           o.workers, o.tasks, o.policy ? o.policy : "weighted",
           o.hints ? ", hints" : "", r.makespan, r.lower_bound, r.ratio,
           r.greedy, r.imbalance, r.efficiency, r.messages, t1 - t0);
  rc = 0;
out:
  free(speeds);
  free(wspec);
  free(recorded);
  return rc;
}
