/* kinds.h - the built-in task kinds that `loom run --kind NAME` offers.
 *
 * A kind bundles what the master needs to generate N tasks from the user's
 * KEY=VALUE arguments (setup, make), the task function the workers run, and
 * how the master folds results into an answer (result, finish). Every kind
 * is one file in tasks/ plus one line in the table in kinds.c.
 * The payload a kind makes is self-contained: workers never call setup.
 */
#ifndef LOOM_KINDS_H
#define LOOM_KINDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loom.h"

/* Parsed KEY=VALUE kind arguments, borrowed from argv. */
struct kind_arg {
  const char *key; /* not NUL-terminated at '=': use key_len */
  size_t key_len;
  const char *value; /* NUL-terminated */
};

struct kind {
  const char *name;
  const char *summary; /* one line for `loom run --help` */
  const char *params;  /* "key=default ..." for `loom run --help` */

  /* Master: validates args and builds the generator state. On a bad
   * argument returns LOOM_EINVAL with err holding one line naming the key
   * and the reason ("spin: bad value 'x' for mean (...)").
   * The CLI appends "count=N" (the number of tasks it will make, from
   * --count) to the user's arguments for every kind; kind_args_check()
   * always accepts the key count. primes requires it (it splits its range
   * into count pieces), pi uses it to check that every task reported, the
   * others ignore it. *state may be NULL on success (noop). */
  int (*setup)(const struct kind_arg *args, size_t nargs, void **state,
               char *err, size_t errlen);

  /* Master: writes the payload of task index i (0-based) into buf (cap
   * bytes) and its length into *len; sets *cost to the expected seconds
   * when the kind knows it (hint=1), else leaves it alone. */
  int (*make)(void *state, uint64_t i, unsigned char *buf, size_t cap,
              size_t *len, double *cost);

  /* Workers: the task function. */
  loom_task_fn run;

  /* Master: one finished attempt (may be NULL). */
  void (*result)(void *state, const struct loom_result *res);

  /* Master: prints the answer (may be NULL) and returns 0, or 1 when the
   * computed answer fails its check. */
  int (*finish)(void *state, FILE *out);

  void (*free)(void *state);
};

/* The table, NULL-terminated: noop, sleep, spin, pi, primes. */
extern const struct kind *const kind_table[];

/* One definition per file in tasks/. */
extern const struct kind kind_noop;
extern const struct kind kind_sleep;
extern const struct kind kind_spin;
extern const struct kind kind_pi;
extern const struct kind kind_primes;

/* Finds a kind by name; NULL when there is none. */
const struct kind *kind_find(const char *name);

/* Registers every kind's task function with the engine, in table order. */
int kinds_register_all(struct loom *l);

/* Helpers shared by kinds (kinds.c). */

/* Looks up key in args; returns its value or NULL. When a key is given more
 * than once the last one wins. */
const char *kind_arg_get(const struct kind_arg *args, size_t nargs,
                         const char *key);

/* Returns LOOM_EINVAL naming the first key not in the space-separated list
 * allowed (nor "count"), else 0. err starts with "KIND: ". */
int kind_args_check(const struct kind_arg *args, size_t nargs,
                    const char *allowed, const char *kind, char *err,
                    size_t errlen);

/* Parse a number argument with a default; LOOM_EINVAL and err on a bad
 * value or one outside [min, max]. Empty values, negatives, NaN, infinities
 * and trailing junk are bad. kind_arg_u64 also takes an exact integer in
 * exponent form ("1e9"). err names the key but not the kind: callers add it
 * with kind_err_prefix(). */
int kind_arg_double(const struct kind_arg *args, size_t nargs, const char *key,
                    double def, double min, double max, double *out, char *err,
                    size_t errlen);
int kind_arg_u64(const struct kind_arg *args, size_t nargs, const char *key,
                 uint64_t def, uint64_t min, uint64_t max, uint64_t *out,
                 char *err, size_t errlen);

/* Prepends "KIND: " to the message in err (truncating its end to fit). */
void kind_err_prefix(char *err, size_t errlen, const char *kind);

/* Duration distributions shared by sleep and spin (dist.c). */
enum dist_kind { DIST_FIXED, DIST_UNIFORM, DIST_LOGNORMAL, DIST_PARETO };
struct dist {
  enum dist_kind kind;
  double mean; /* seconds */
  double a, b; /* uniform: [a, b]; lognormal: a = sigma; pareto: a = alpha */
  double cap;  /* draws are clipped to cap (0 = none) */
  uint64_t seed;
};

/* Reads dist=, mean=, min=, max=, sigma=, alpha=, cap=, seed= from args
 * (it does not reject unknown keys: the kind does that first). Defaults:
 * dist=fixed mean=0.001 min=0 max=2*mean sigma=1 alpha=2 cap=0 seed=1.
 * lognormal and pareto are parameterised so that their mean is mean.
 * Returns 0 or LOOM_EINVAL with err starting with "KIND: ". */
int dist_setup(struct dist *d, const struct kind_arg *args, size_t nargs,
               const char *kind, char *err, size_t errlen);

/* The state of a kind whose tasks last a drawn duration (sleep, spin). */
struct duration_kind {
  struct dist dist;
  uint64_t hint; /* 1: each task carries its duration as a cost hint */
  double rate;   /* spin: iterations per second on the master */
};

#define DURATION_KEYS "dist mean min max sigma alpha cap seed hint"
#define DURATION_PARAMS                                                        \
  "dist=fixed|uniform|lognormal|pareto mean=0.001 min=0 max=2*mean sigma=1 "   \
  "alpha=2 cap=0 seed=1 hint=0"

/* Checks the keys, reads the distribution and hint=, and returns a new
 * struct duration_kind in *state (NULL on failure, with err naming kind). */
int duration_setup(const struct kind_arg *args, size_t nargs, const char *kind,
                   void **state, char *err, size_t errlen);

/* The duration of task i: a pure function of (d, i), so any rank count and
 * any dispatch order give the same workload. */
double dist_draw(const struct dist *d, uint64_t i);

/* Counter-based random numbers: splitmix64 of (seed, i, stream). */
uint64_t rng_u64(uint64_t seed, uint64_t i, uint64_t stream);
double rng_unit(uint64_t seed, uint64_t i, uint64_t stream); /* in (0, 1) */

/* Spin: CPU work calibrated on the master (iterations per second). */
double spin_calibrate(void);
void spin_iterations(uint64_t n);

/* The computations of pi and primes, apart from the engine so that unit
 * tests can call them. */

/* Number of the first `samples` points of task `index` (a counter-based
 * stream, a pure function of seed and index) that fall in the quarter disc
 * x^2 + y^2 <= 1. */
uint64_t pi_count_hits(uint64_t seed, uint64_t index, uint64_t samples);

/* Number of primes p with lo <= p < hi: a segmented sieve of Eratosthenes,
 * memory O(sqrt(hi)) plus a 256 KiB segment. Returns UINT64_MAX when out
 * of memory (never a count: there are fewer primes than numbers). */
uint64_t primes_count_range(uint64_t lo, uint64_t hi);

#endif /* LOOM_KINDS_H */
