/* dist.c - task durations for the sleep and spin kinds, and the counter-based
 * random numbers behind them.
 *
 * Every draw is a pure function of (seed, task index, stream), never of a
 * generator's running state, so a workload is the same whatever the number
 * of ranks or the dispatch order. spin_calibrate() measures this CPU's
 * speed once on the master; spin payloads carry iteration counts.
 */
#include "kinds.h"

#include <stdlib.h>

#include <float.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define PI_D 3.14159265358979323846

static uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t rng_u64(uint64_t seed, uint64_t i, uint64_t stream) {
  /* Chained rather than summed, so (seed, i, stream) triples that add up to
   * the same value still give unrelated outputs. */
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ stream);
  return splitmix64(h ^ i);
}

double rng_unit(uint64_t seed, uint64_t i, uint64_t stream) {
  /* The top 53 bits, offset by half a step: never 0 and never 1, so log()
   * and pow(u, -1/alpha) stay finite. */
  uint64_t x = rng_u64(seed, i, stream) >> 11;
  return ((double)x + 0.5) * (1.0 / 9007199254740992.0);
}

static int dist_parse_kind(const char *s, enum dist_kind *out) {
  static const struct {
    const char *name;
    enum dist_kind kind;
  } names[] = {{"fixed", DIST_FIXED},
               {"uniform", DIST_UNIFORM},
               {"lognormal", DIST_LOGNORMAL},
               {"pareto", DIST_PARETO}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(s, names[i].name) == 0) {
      *out = names[i].kind;
      return 0;
    }
  }
  return LOOM_EINVAL;
}

int dist_setup(struct dist *d, const struct kind_arg *args, size_t nargs,
               const char *kind, char *err, size_t errlen) {
  int rc = 0;
  memset(d, 0, sizeof *d);
  d->kind = DIST_FIXED;

  const char *name = kind_arg_get(args, nargs, "dist");
  if (name != NULL && dist_parse_kind(name, &d->kind) != 0) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen,
               "bad value '%.200s' for dist (expected fixed, uniform, "
               "lognormal or pareto)",
               name);
    rc = LOOM_EINVAL;
    goto out;
  }
  rc = kind_arg_double(args, nargs, "mean", 0.001, 0, DBL_MAX, &d->mean, err,
                       errlen);
  if (rc != 0)
    goto out;
  rc = kind_arg_double(args, nargs, "cap", 0, 0, DBL_MAX, &d->cap, err, errlen);
  if (rc != 0)
    goto out;
  rc = kind_arg_u64(args, nargs, "seed", 1, 0, UINT64_MAX, &d->seed, err,
                    errlen);
  if (rc != 0)
    goto out;

  switch (d->kind) {
  case DIST_FIXED:
    break;
  case DIST_UNIFORM:
    rc = kind_arg_double(args, nargs, "min", 0, 0, DBL_MAX, &d->a, err, errlen);
    if (rc == 0)
      rc = kind_arg_double(args, nargs, "max", 2 * d->mean, 0, DBL_MAX, &d->b,
                           err, errlen);
    if (rc == 0 && d->a > d->b) {
      if (err != NULL && errlen > 0)
        snprintf(err, errlen, "min=%g is above max=%g", d->a, d->b);
      rc = LOOM_EINVAL;
    }
    /* With explicit bounds the mean is theirs, whatever mean= said. */
    d->mean = 0.5 * (d->a + d->b);
    break;
  case DIST_LOGNORMAL:
    /* Beyond sigma 10 the mean hangs on draws of e^50 and more. */
    rc = kind_arg_double(args, nargs, "sigma", 1.0, 0, 10, &d->a, err, errlen);
    break;
  case DIST_PARETO:
    rc =
        kind_arg_double(args, nargs, "alpha", 2.0, 0, 1000, &d->a, err, errlen);
    if (rc == 0 && d->a <= 1) {
      /* The mean of a Pareto distribution is infinite for alpha <= 1. */
      if (err != NULL && errlen > 0)
        snprintf(err, errlen,
                 "bad value '%g' for alpha (expected a number > 1)", d->a);
      rc = LOOM_EINVAL;
    }
    break;
  }

out:
  if (rc != 0)
    kind_err_prefix(err, errlen, kind);
  return rc;
}

double dist_draw(const struct dist *d, uint64_t i) {
  double x = d->mean;
  switch (d->kind) {
  case DIST_FIXED:
    break;
  case DIST_UNIFORM:
    x = d->a + (d->b - d->a) * rng_unit(d->seed, i, 0);
    break;
  case DIST_LOGNORMAL: {
    if (d->mean <= 0) {
      x = 0;
      break;
    }
    /* Box-Muller; mu makes E[x] = exp(mu + sigma^2/2) equal to mean. */
    double sigma = d->a;
    double mu = log(d->mean) - 0.5 * sigma * sigma;
    double u1 = rng_unit(d->seed, i, 0);
    double u2 = rng_unit(d->seed, i, 1);
    double z = sqrt(-2.0 * log(u1)) * cos(2.0 * PI_D * u2);
    x = exp(mu + sigma * z);
    break;
  }
  case DIST_PARETO: {
    /* Inverse CDF: x = xm * u^(-1/alpha), with xm chosen so that
     * E[x] = alpha * xm / (alpha - 1) equals mean. */
    double alpha = d->a;
    double xm = d->mean * (alpha - 1) / alpha;
    x = xm * pow(rng_unit(d->seed, i, 0), -1.0 / alpha);
    break;
  }
  }
  if (d->cap > 0 && x > d->cap)
    x = d->cap;
  return x;
}

/* Where spin_iterations() leaves its result: a volatile store the compiler
 * must perform, so it cannot drop the loop that computes it. */
static volatile uint64_t spin_sink = 1;

void spin_iterations(uint64_t n) {
  /* xorshift64: each step depends on the last, so the loop can be neither
   * vectorised nor shortened. Starting from the volatile keeps the compiler
   * from computing the chain at build time. */
  uint64_t x = spin_sink | 1;
  for (uint64_t k = 0; k < n; k++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  spin_sink = x;
}

static double now_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double time_batch(uint64_t n) {
  double t0 = now_monotonic();
  spin_iterations(n);
  return now_monotonic() - t0;
}

double spin_calibrate(void) {
  /* 1. Grow the batch until one takes at least 20 ms, long enough that the
   *    clock's resolution and the first-touch costs do not matter.
   * 2. Time that batch twice more and keep the best rate: interruptions
   *    only ever make a batch slower, so the fastest is the truest. */
  const double min_batch = 0.020;
  uint64_t n = 1u << 16;
  double t = time_batch(n);
  while (t < min_batch && n < (UINT64_C(1) << 40)) {
    n *= 2;
    t = time_batch(n);
  }
  double best = (double)n / (t > 0 ? t : 1e-9);
  for (int rep = 1; rep < 3; rep++) {
    t = time_batch(n);
    double rate = (double)n / (t > 0 ? t : 1e-9);
    if (rate > best)
      best = rate;
  }
  return best;
}

int duration_setup(const struct kind_arg *args, size_t nargs, const char *kind,
                   void **state, char *err, size_t errlen) {
  struct duration_kind *s = NULL;
  int rc = kind_args_check(args, nargs, DURATION_KEYS, kind, err, errlen);

  if (rc != 0)
    goto out;
  s = calloc(1, sizeof *s);
  if (s == NULL) {
    rc = LOOM_ENOMEM;
    goto out;
  }
  rc = dist_setup(&s->dist, args, nargs, kind, err, errlen);
  if (rc != 0)
    goto out;
  rc = kind_arg_u64(args, nargs, "hint", 0, 0, 1, &s->hint, err, errlen);
  if (rc != 0)
    kind_err_prefix(err, errlen, kind);

out:
  if (rc != 0) {
    free(s);
    s = NULL;
  }
  *state = s;
  return rc;
}
