/* pi.c - the kind that estimates pi by Monte Carlo: each task throws
 * samples= points into the unit square and counts those in the quarter disc.
 *
 * Task i's points are a pure function of (seed, i), so the estimate is the
 * same whatever the number of ranks. The master sums the hits of successful
 * attempts and checks the estimate against pi within 5 standard errors.
 * Payload: uint64 seed, index, samples. Reply: uint64 hits.
 */
#include "kinds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI_KEYS "samples seed"
#define PI_PAYLOAD (3 * sizeof(uint64_t))
#define PI_D 3.14159265358979323846

struct pi_state {
  uint64_t seed;
  uint64_t samples; /* per task */
  uint64_t count;   /* tasks the CLI will make (count=), 0 = unknown */
  uint64_t made;    /* tasks made: one past the highest index */
  uint64_t reported;
  uint64_t hits;
};

uint64_t pi_count_hits(uint64_t seed, uint64_t index, uint64_t samples) {
  /* A splitmix64 sequence started at a per-task key: each output is a
   * well-mixed function of the counter, and tasks' keys are unrelated. One
   * 64-bit output gives both coordinates as 32-bit fixed-point numbers; the
   * point sits at the centre of its grid cell, which keeps the grid's bias
   * far below the statistical error. */
  uint64_t state = rng_u64(seed, index, 2);
  const double side = 4294967296.0; /* 2^32 */
  const double r2 = side * side;
  uint64_t hits = 0;
  for (uint64_t k = 0; k < samples; k++) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    double x = (double)(z >> 32) + 0.5;
    double y = (double)(z & 0xFFFFFFFFu) + 0.5;
    hits += (x * x + y * y <= r2);
  }
  return hits;
}

static int pi_setup(const struct kind_arg *args, size_t nargs, void **state,
                    char *err, size_t errlen) {
  struct pi_state *s = NULL;
  int rc = kind_args_check(args, nargs, PI_KEYS, "pi", err, errlen);
  if (rc != 0)
    goto out;
  s = calloc(1, sizeof *s);
  if (s == NULL) {
    rc = LOOM_ENOMEM;
    goto out;
  }
  /* 1e15 samples would take a core days; more is surely a typo. */
  rc = kind_arg_u64(args, nargs, "samples", 1000000, 1,
                    UINT64_C(1000000000000000), &s->samples, err, errlen);
  if (rc == 0)
    rc = kind_arg_u64(args, nargs, "seed", 1, 0, UINT64_MAX, &s->seed, err,
                      errlen);
  if (rc == 0)
    rc = kind_arg_u64(args, nargs, "count", 0, 0, UINT64_MAX, &s->count, err,
                      errlen);
  if (rc != 0) {
    kind_err_prefix(err, errlen, "pi");
    goto out;
  }

out:
  if (rc != 0) {
    free(s);
    s = NULL;
  }
  *state = s;
  return rc;
}

static int pi_make(void *state, uint64_t i, unsigned char *buf, size_t cap,
                   size_t *len, double *cost) {
  struct pi_state *s = state;
  (void)cost;
  if (cap < PI_PAYLOAD)
    return LOOM_ETOOBIG;
  uint64_t words[3] = {s->seed, i, s->samples};
  memcpy(buf, words, sizeof words);
  *len = PI_PAYLOAD;
  if (i >= s->made)
    s->made = i + 1;
  return 0;
}

static int pi_run(struct loom_task *task, const void *payload, size_t len,
                  void *arg) {
  (void)arg;
  uint64_t words[3];
  if (len != PI_PAYLOAD)
    return 2; /* not a payload this kind made */
  memcpy(words, payload, sizeof words);
  uint64_t hits = pi_count_hits(words[0], words[1], words[2]);
  if (loom_task_reply(task, &hits, sizeof hits) != 0)
    return 3;
  return 0;
}

static void pi_result(void *state, const struct loom_result *res) {
  struct pi_state *s = state;
  if (res->exit_code != 0 || res->len != sizeof(uint64_t) || res->data == NULL)
    return;
  uint64_t hits;
  memcpy(&hits, res->data, sizeof hits);
  s->hits += hits;
  s->reported++;
}

static int pi_finish(void *state, FILE *out) {
  const struct pi_state *s = state;
  uint64_t expected = s->count > s->made ? s->count : s->made;
  /* Doubles: tasks times samples may pass 2^64. */
  double n = (double)s->reported * (double)s->samples;
  if (s->reported == 0) {
    fprintf(out, "pi: no task reported (%llu expected)\n",
            (unsigned long long)expected);
    return 1;
  }
  double estimate = 4.0 * (double)s->hits / n;
  double p = PI_D / 4.0;
  double sigma = 4.0 * sqrt(p * (1.0 - p) / n);
  double error = fabs(estimate - PI_D);
  fprintf(out, "pi ~ %.8f from %.0f samples (error %.1e, 3-sigma bound %.1e)\n",
          estimate, n, error, 3.0 * sigma);
  int rc = 0;
  if (error > 5.0 * sigma) {
    fprintf(out, "pi: error above 5 standard errors: the generator or the "
                 "summing is broken\n");
    rc = 1;
  }
  if (s->reported != expected) {
    fprintf(out, "pi: %llu of %llu tasks reported\n",
            (unsigned long long)s->reported, (unsigned long long)expected);
    rc = 1;
  }
  return rc;
}

const struct kind kind_pi = {
    .name = "pi",
    .summary = "estimate pi by Monte Carlo and check it statistically",
    .params = "samples=1000000 (per task) seed=1",
    .setup = pi_setup,
    .make = pi_make,
    .run = pi_run,
    .result = pi_result,
    .finish = pi_finish,
    .free = free,
};
