/* test_kinds.c - unit tests of the built-in task kinds (tasks/): argument
 * parsing, the duration distributions, and the pi and primes computations.
 *
 * Everything here is deterministic: draws are counter-based, so statistical
 * assertions hold or fail the same way on every run and every machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"

/* Builds kind_arg entries from "key=value" literals. */
static size_t make_args(struct kind_arg *args, const char *const *kv,
                        size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(kv[i], '=');
    assert_non_null(eq);
    args[i].key = kv[i];
    args[i].key_len = (size_t)(eq - kv[i]);
    args[i].value = eq + 1;
  }
  return n;
}

#define ARGS(name, ...)                                                        \
  static const char *const name##_kv[] = {__VA_ARGS__};                        \
  struct kind_arg name[sizeof name##_kv / sizeof name##_kv[0]];                \
  size_t name##_n =                                                            \
      make_args(name, name##_kv, sizeof name##_kv / sizeof name##_kv[0])

static struct dist dist_from(const struct kind_arg *args, size_t n) {
  struct dist d;
  char err[256] = "";
  int rc = dist_setup(&d, args, n, "test", err, sizeof err);
  if (rc != 0)
    fail_msg("dist_setup: %s", err);
  return d;
}

static double sample_mean(const struct dist *d, uint64_t n) {
  double sum = 0;
  for (uint64_t i = 0; i < n; i++)
    sum += dist_draw(d, i);
  return sum / (double)n;
}

/* ---- argument helpers --------------------------------------------------- */

static void test_kind_arg_get_returns_the_last_value_of_a_key(void **st) {
  (void)st;
  ARGS(args, "mean=1", "seed=7", "mean=2");
  assert_string_equal(kind_arg_get(args, args_n, "mean"), "2");
  assert_string_equal(kind_arg_get(args, args_n, "seed"), "7");
  assert_null(kind_arg_get(args, args_n, "me"));
  assert_null(kind_arg_get(args, args_n, "means"));
}

static void test_kind_arg_double_uses_default_when_key_is_absent(void **st) {
  (void)st;
  ARGS(args, "other=5");
  double v = -1;
  char err[128] = "";
  assert_int_equal(
      kind_arg_double(args, args_n, "mean", 0.25, 0, 10, &v, err, sizeof err),
      0);
  assert_true(v == 0.25);
}

static void test_kind_arg_double_accepts_plain_and_exponent_forms(void **st) {
  (void)st;
  ARGS(args, "a=1.5", "b=2e-3", "c=.5", "d=0");
  double v = -1;
  char err[128];
  assert_int_equal(
      kind_arg_double(args, args_n, "a", 0, 0, 1e9, &v, err, sizeof err), 0);
  assert_true(v == 1.5);
  assert_int_equal(
      kind_arg_double(args, args_n, "b", 0, 0, 1e9, &v, err, sizeof err), 0);
  assert_true(v == 2e-3);
  assert_int_equal(
      kind_arg_double(args, args_n, "c", 0, 0, 1e9, &v, err, sizeof err), 0);
  assert_true(v == 0.5);
  assert_int_equal(
      kind_arg_double(args, args_n, "d", 9, 0, 1e9, &v, err, sizeof err), 0);
  assert_true(v == 0);
}

static void test_kind_arg_double_rejects_malformed_values(void **st) {
  (void)st;
  static const char *const bad[] = {"abc", "-1",   "1e999", "",    "nan",
                                    "inf", "1x",   " 1",    "+1",  "1 ",
                                    "-0",  "0x1p", ".",     "0x10"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct kind_arg arg = {"mean", 4, bad[i]};
    double v = 42;
    char err[128] = "";
    int rc = kind_arg_double(&arg, 1, "mean", 1, 0, 1e300, &v, err, sizeof err);
    if (rc != LOOM_EINVAL)
      fail_msg("accepted '%s'", bad[i]);
    assert_true(v == 0);
    assert_non_null(strstr(err, "bad value '"));
    assert_non_null(strstr(err, "for mean"));
  }
}

static void test_kind_arg_double_rejects_values_outside_the_range(void **st) {
  (void)st;
  ARGS(args, "sigma=11");
  double v;
  char err[128] = "";
  assert_int_equal(
      kind_arg_double(args, args_n, "sigma", 1, 0, 10, &v, err, sizeof err),
      LOOM_EINVAL);
  assert_string_equal(
      err, "bad value '11' for sigma (expected a number in [0, 10])");
}

static void test_kind_arg_u64_accepts_digits_and_exact_exponents(void **st) {
  (void)st;
  ARGS(args, "a=18446744073709551615", "b=1e9", "c=2.5e3", "d=007");
  uint64_t v = 0;
  char err[128];
  assert_int_equal(
      kind_arg_u64(args, args_n, "a", 0, 0, UINT64_MAX, &v, err, sizeof err),
      0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(
      kind_arg_u64(args, args_n, "b", 0, 0, UINT64_MAX, &v, err, sizeof err),
      0);
  assert_true(v == 1000000000u);
  assert_int_equal(
      kind_arg_u64(args, args_n, "c", 0, 0, UINT64_MAX, &v, err, sizeof err),
      0);
  assert_true(v == 2500u);
  assert_int_equal(
      kind_arg_u64(args, args_n, "d", 0, 0, UINT64_MAX, &v, err, sizeof err),
      0);
  assert_true(v == 7u);
}

static void test_kind_arg_u64_rejects_malformed_values(void **st) {
  (void)st;
  static const char *const bad[] = {
      "abc",  "-1",  "1e999", "",   "1.5", "18446744073709551616",
      "1e30", "nan", "1x",    " 1", "+1",  "0x10"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct kind_arg arg = {"samples", 7, bad[i]};
    uint64_t v = 42;
    char err[128] = "";
    int rc =
        kind_arg_u64(&arg, 1, "samples", 1, 0, UINT64_MAX, &v, err, sizeof err);
    if (rc != LOOM_EINVAL)
      fail_msg("accepted '%s'", bad[i]);
    assert_true(v == 0);
    assert_non_null(strstr(err, "for samples"));
  }
}

static void test_kind_arg_u64_rejects_values_below_the_minimum(void **st) {
  (void)st;
  ARGS(args, "samples=0");
  uint64_t v;
  char err[128] = "";
  assert_int_equal(kind_arg_u64(args, args_n, "samples", 1, 1, UINT64_MAX, &v,
                                err, sizeof err),
                   LOOM_EINVAL);
  assert_string_equal(err,
                      "bad value '0' for samples (expected an integer >= 1)");
}

static void
test_kind_args_check_names_the_unknown_key_and_the_known(void **st) {
  (void)st;
  ARGS(args, "mean=1", "foo=2");
  char err[256] = "";
  assert_int_equal(
      kind_args_check(args, args_n,
                      "dist mean min max sigma alpha cap seed hint", "spin",
                      err, sizeof err),
      LOOM_EINVAL);
  assert_string_equal(err, "spin: unknown argument 'foo' (known: dist mean min "
                           "max sigma alpha cap seed hint)");
}

static void test_kind_args_check_does_not_match_key_prefixes(void **st) {
  (void)st;
  ARGS(args, "mea=1");
  char err[256] = "";
  assert_int_equal(
      kind_args_check(args, args_n, "mean", "sleep", err, sizeof err),
      LOOM_EINVAL);
  ARGS(longer, "means=1");
  assert_int_equal(
      kind_args_check(longer, longer_n, "mean", "sleep", err, sizeof err),
      LOOM_EINVAL);
}

static void test_kind_args_check_always_allows_count(void **st) {
  (void)st;
  ARGS(args, "count=4", "mean=1");
  char err[128] = "";
  assert_int_equal(
      kind_args_check(args, args_n, "mean", "sleep", err, sizeof err), 0);
  assert_int_equal(kind_args_check(args, 1, "", "noop", err, sizeof err), 0);
}

static void test_kind_err_prefix_prepends_the_kind_and_truncates(void **st) {
  (void)st;
  char err[64] = "bad value 'x' for mean";
  kind_err_prefix(err, sizeof err, "spin");
  assert_string_equal(err, "spin: bad value 'x' for mean");
  char small[12] = "0123456789";
  kind_err_prefix(small, sizeof small, "pi");
  assert_string_equal(small, "pi: 0123456");
}

/* ---- the table ---------------------------------------------------------- */

static void test_kind_table_lists_the_kinds_in_documented_order(void **st) {
  (void)st;
  static const char *const names[] = {"noop", "sleep", "spin", "pi", "primes"};
  size_t n = 0;
  while (kind_table[n] != NULL) {
    assert_true(n < 5);
    assert_string_equal(kind_table[n]->name, names[n]);
    assert_non_null(kind_table[n]->setup);
    assert_non_null(kind_table[n]->make);
    assert_non_null(kind_table[n]->run);
    assert_non_null(kind_table[n]->free);
    assert_ptr_equal(kind_find(names[n]), kind_table[n]);
    n++;
  }
  assert_int_equal(n, 5);
  assert_null(kind_find("sh"));
  assert_null(kind_find(""));
  assert_null(kind_find(NULL));
}

static void test_noop_setup_rejects_any_argument_but_count(void **st) {
  (void)st;
  const struct kind *k = kind_find("noop");
  ARGS(args, "count=3", "mean=1");
  void *state = (void *)1;
  char err[128] = "";
  assert_int_equal(k->setup(args, 1, &state, err, sizeof err), 0);
  unsigned char buf[8];
  size_t len = 99;
  double cost = -1;
  assert_int_equal(k->make(state, 0, buf, sizeof buf, &len, &cost), 0);
  assert_int_equal(len, 0);
  k->free(state);
  assert_int_equal(k->setup(args, args_n, &state, err, sizeof err),
                   LOOM_EINVAL);
  assert_string_equal(err, "noop: unknown argument 'mean' (known: none)");
}

/* ---- distributions ------------------------------------------------------ */

static void test_rng_unit_stays_strictly_inside_zero_and_one(void **st) {
  (void)st;
  for (uint64_t i = 0; i < 100000; i++) {
    double u = rng_unit(3, i, i % 3);
    assert_true(u > 0 && u < 1);
  }
}

static void test_dist_defaults_to_fixed_one_millisecond(void **st) {
  (void)st;
  struct dist d = dist_from(NULL, 0);
  assert_int_equal(d.kind, DIST_FIXED);
  assert_true(d.mean == 0.001);
  assert_true(dist_draw(&d, 0) == 0.001);
}

static void test_dist_fixed_always_equals_mean(void **st) {
  (void)st;
  ARGS(args, "dist=fixed", "mean=0.25");
  struct dist d = dist_from(args, args_n);
  for (uint64_t i = 0; i < 1000; i++)
    assert_true(dist_draw(&d, i) == 0.25);
}

static void test_dist_uniform_draws_stay_within_min_and_max(void **st) {
  (void)st;
  ARGS(args, "dist=uniform", "min=0.5", "max=0.75");
  struct dist d = dist_from(args, args_n);
  double lo = 1, hi = 0;
  for (uint64_t i = 0; i < 100000; i++) {
    double x = dist_draw(&d, i);
    assert_true(x >= 0.5 && x <= 0.75);
    lo = fmin(lo, x);
    hi = fmax(hi, x);
  }
  /* And they spread over the whole interval. */
  assert_true(lo < 0.501 && hi > 0.749);
  assert_true(fabs(sample_mean(&d, 100000) - 0.625) < 0.002);
}

static void test_dist_uniform_defaults_to_zero_to_twice_the_mean(void **st) {
  (void)st;
  ARGS(args, "dist=uniform", "mean=2");
  struct dist d = dist_from(args, args_n);
  assert_true(d.a == 0 && d.b == 4);
  assert_true(fabs(sample_mean(&d, 200000) - 2.0) < 0.02);
}

static void test_dist_lognormal_mean_matches_requested_mean(void **st) {
  (void)st;
  ARGS(args, "dist=lognormal", "mean=0.01", "sigma=1");
  struct dist d = dist_from(args, args_n);
  double m = sample_mean(&d, 200000);
  assert_true(fabs(m - 0.01) < 0.02 * 0.01);
}

static void test_dist_lognormal_median_is_below_the_mean(void **st) {
  (void)st;
  /* With sigma = 1 the median is mean * exp(-1/2): a skewed distribution,
   * not a fixed one in disguise. */
  ARGS(args, "dist=lognormal", "mean=1");
  struct dist d = dist_from(args, args_n);
  uint64_t below = 0, n = 100000;
  double median = exp(-0.5);
  for (uint64_t i = 0; i < n; i++)
    below += dist_draw(&d, i) < median;
  assert_true(fabs((double)below / (double)n - 0.5) < 0.01);
}

static void test_dist_pareto_mean_matches_requested_mean(void **st) {
  (void)st;
  ARGS(args, "dist=pareto", "mean=0.5", "alpha=3");
  struct dist d = dist_from(args, args_n);
  double m = sample_mean(&d, 200000);
  assert_true(fabs(m - 0.5) < 0.05 * 0.5);
  /* No draw falls below the scale xm = mean * (alpha - 1) / alpha. */
  for (uint64_t i = 0; i < 10000; i++)
    assert_true(dist_draw(&d, i) >= 0.5 * 2.0 / 3.0);
}

static void test_dist_pareto_rejects_alpha_of_one_or_less(void **st) {
  (void)st;
  ARGS(args, "dist=pareto", "alpha=1");
  struct dist d;
  char err[256] = "";
  assert_int_equal(dist_setup(&d, args, args_n, "sleep", err, sizeof err),
                   LOOM_EINVAL);
  assert_string_equal(err,
                      "sleep: bad value '1' for alpha (expected a number > 1)");
}

static void test_dist_setup_rejects_unknown_distribution_names(void **st) {
  (void)st;
  ARGS(args, "dist=normal");
  struct dist d;
  char err[256] = "";
  assert_int_equal(dist_setup(&d, args, args_n, "spin", err, sizeof err),
                   LOOM_EINVAL);
  assert_string_equal(err, "spin: bad value 'normal' for dist (expected "
                           "fixed, uniform, lognormal or pareto)");
}

static void test_dist_setup_rejects_min_above_max(void **st) {
  (void)st;
  ARGS(args, "dist=uniform", "min=2", "max=1");
  struct dist d;
  char err[256] = "";
  assert_int_equal(dist_setup(&d, args, args_n, "spin", err, sizeof err),
                   LOOM_EINVAL);
  assert_non_null(strstr(err, "spin: min=2 is above max=1"));
}

static void test_dist_setup_prefixes_number_errors_with_the_kind(void **st) {
  (void)st;
  ARGS(args, "mean=abc");
  struct dist d;
  char err[256] = "";
  assert_int_equal(dist_setup(&d, args, args_n, "spin", err, sizeof err),
                   LOOM_EINVAL);
  assert_string_equal(
      err, "spin: bad value 'abc' for mean (expected a number >= 0)");
}

static void test_dist_cap_clips_every_draw(void **st) {
  (void)st;
  ARGS(args, "dist=pareto", "mean=1", "alpha=1.5", "cap=3");
  struct dist d = dist_from(args, args_n);
  int clipped = 0;
  for (uint64_t i = 0; i < 100000; i++) {
    double x = dist_draw(&d, i);
    assert_true(x <= 3);
    clipped += x == 3;
  }
  assert_true(clipped > 0);
}

static void test_dist_draw_is_deterministic_for_same_seed_and_index(void **st) {
  (void)st;
  ARGS(args, "dist=lognormal", "seed=42");
  struct dist d1 = dist_from(args, args_n);
  struct dist d2 = dist_from(args, args_n);
  for (uint64_t i = 0; i < 1000; i++)
    assert_true(dist_draw(&d1, i) == dist_draw(&d2, i));
  /* Order does not matter: drawing backwards gives the same values. */
  double forward[16];
  for (uint64_t i = 0; i < 16; i++)
    forward[i] = dist_draw(&d1, i);
  for (uint64_t i = 16; i > 0; i--)
    assert_true(dist_draw(&d2, i - 1) == forward[i - 1]);
}

static void test_dist_draw_differs_between_seeds(void **st) {
  (void)st;
  ARGS(a, "dist=uniform", "seed=1");
  ARGS(b, "dist=uniform", "seed=2");
  struct dist d1 = dist_from(a, a_n);
  struct dist d2 = dist_from(b, b_n);
  int same = 0;
  for (uint64_t i = 0; i < 1000; i++)
    same += dist_draw(&d1, i) == dist_draw(&d2, i);
  assert_int_equal(same, 0);
}

/* ---- sleep and spin ----------------------------------------------------- */

static void test_sleep_make_sets_cost_only_with_hint(void **st) {
  (void)st;
  const struct kind *k = kind_find("sleep");
  ARGS(hint, "mean=0.5", "hint=1");
  ARGS(nohint, "mean=0.5");
  void *state = NULL;
  char err[128] = "";
  unsigned char buf[64];
  size_t len = 0;
  double cost = -1, seconds = 0;

  assert_int_equal(k->setup(hint, hint_n, &state, err, sizeof err), 0);
  assert_int_equal(k->make(state, 3, buf, sizeof buf, &len, &cost), 0);
  assert_int_equal(len, sizeof(double));
  memcpy(&seconds, buf, sizeof seconds);
  assert_true(seconds == 0.5 && cost == 0.5);
  k->free(state);

  cost = -1;
  assert_int_equal(k->setup(nohint, nohint_n, &state, err, sizeof err), 0);
  assert_int_equal(k->make(state, 3, buf, sizeof buf, &len, &cost), 0);
  assert_true(cost == -1);
  assert_int_equal(k->make(state, 3, buf, 4, &len, &cost), LOOM_ETOOBIG);
  k->free(state);
}

static void test_sleep_setup_rejects_hint_other_than_zero_or_one(void **st) {
  (void)st;
  const struct kind *k = kind_find("sleep");
  ARGS(args, "hint=2");
  void *state = (void *)1;
  char err[128] = "";
  assert_int_equal(k->setup(args, args_n, &state, err, sizeof err),
                   LOOM_EINVAL);
  assert_null(state);
  assert_string_equal(
      err, "sleep: bad value '2' for hint (expected an integer in [0, 1])");
}

static void test_spin_setup_rejects_unknown_arguments(void **st) {
  (void)st;
  const struct kind *k = kind_find("spin");
  ARGS(args, "foo=1");
  void *state = NULL;
  char err[256] = "";
  assert_int_equal(k->setup(args, args_n, &state, err, sizeof err),
                   LOOM_EINVAL);
  assert_string_equal(err, "spin: unknown argument 'foo' (known: dist mean "
                           "min max sigma alpha cap seed hint)");
}

static void test_spin_calibrate_returns_a_positive_rate(void **st) {
  (void)st;
  /* Only the sign: tests never assert on this machine's speed. */
  double rate = spin_calibrate();
  assert_true(rate > 0 && isfinite(rate));
  spin_iterations(0);
  spin_iterations(1000);
}

/* ---- pi ----------------------------------------------------------------- */

static void test_pi_count_hits_is_deterministic(void **st) {
  (void)st;
  uint64_t a = pi_count_hits(7, 3, 100000);
  assert_true(a == pi_count_hits(7, 3, 100000));
  assert_true(a != pi_count_hits(7, 4, 100000));
  assert_true(a != pi_count_hits(8, 3, 100000));
  assert_true(pi_count_hits(7, 3, 0) == 0);
  /* A prefix of the same stream: fewer samples never give more hits. */
  assert_true(pi_count_hits(7, 3, 50000) <= a);
}

static void test_pi_count_hits_estimates_pi_within_five_sigma(void **st) {
  (void)st;
  const double n = 1e6, pi = 3.14159265358979323846;
  double est = 4.0 * (double)pi_count_hits(1, 0, (uint64_t)n) / n;
  double sigma = 4.0 * sqrt((pi / 4) * (1 - pi / 4) / n);
  assert_true(fabs(est - pi) < 5 * sigma);
}

/* Drives a kind as the CLI would: setup, make every task, run the given
 * computation for each payload, feed the replies to result, then finish.
 * Returns finish's code and the printed text in out. */
typedef uint64_t (*compute_fn)(const unsigned char *payload, size_t len);

static int drive_kind(const char *name, const struct kind_arg *args,
                      size_t nargs, uint64_t count, uint64_t skip,
                      compute_fn compute, char *out, size_t outlen) {
  const struct kind *k = kind_find(name);
  void *state = NULL;
  char err[256] = "";
  if (k->setup(args, nargs, &state, err, sizeof err) != 0)
    fail_msg("setup: %s", err);
  for (uint64_t i = 0; i < count; i++) {
    unsigned char buf[64];
    size_t len = 0;
    double cost = -1;
    assert_int_equal(k->make(state, i, buf, sizeof buf, &len, &cost), 0);
    if (i == skip)
      continue; /* a task whose attempts all failed */
    uint64_t value = compute(buf, len);
    struct loom_result res;
    memset(&res, 0, sizeof res);
    res.kind = name;
    res.attempt = 1;
    res.data = &value;
    res.len = sizeof value;
    k->result(state, &res);
  }
  char *text = NULL;
  size_t textlen = 0;
  FILE *f = open_memstream(&text, &textlen);
  assert_non_null(f);
  int rc = k->finish(state, f);
  fclose(f);
  snprintf(out, outlen, "%s", text);
  free(text);
  k->free(state);
  return rc;
}

static uint64_t compute_pi(const unsigned char *payload, size_t len) {
  uint64_t w[3];
  assert_int_equal(len, sizeof w);
  memcpy(w, payload, sizeof w);
  return pi_count_hits(w[0], w[1], w[2]);
}

static void test_pi_kind_checks_its_estimate_and_reports_the_sum(void **st) {
  (void)st;
  ARGS(args, "samples=100000", "count=8");
  char out[512];
  assert_int_equal(drive_kind("pi", args, args_n, 8, UINT64_MAX, compute_pi,
                              out, sizeof out),
                   0);
  assert_non_null(strstr(out, "pi ~ 3.1"));
  assert_non_null(strstr(out, "from 800000 samples (error "));
}

static void test_pi_kind_fails_when_a_task_did_not_report(void **st) {
  (void)st;
  ARGS(args, "samples=1000", "count=4");
  char out[512];
  assert_int_equal(
      drive_kind("pi", args, args_n, 4, 2, compute_pi, out, sizeof out), 1);
  assert_non_null(strstr(out, "3 of 4 tasks reported"));
}

/* ---- primes ------------------------------------------------------------- */

#define NAIVE_MAX 3000000u

/* prefix[n] = number of primes below n, from a plain sieve. */
static uint32_t *naive_prefix(void) {
  unsigned char *composite = calloc(NAIVE_MAX, 1);
  uint32_t *prefix = malloc((NAIVE_MAX + 1) * sizeof *prefix);
  assert_non_null(composite);
  assert_non_null(prefix);
  composite[0] = composite[1] = 1;
  for (uint32_t p = 2; p * p < NAIVE_MAX; p++) {
    if (composite[p])
      continue;
    for (uint32_t j = p * p; j < NAIVE_MAX; j += p)
      composite[j] = 1;
  }
  prefix[0] = 0;
  for (uint32_t n = 0; n < NAIVE_MAX; n++)
    prefix[n + 1] = prefix[n] + !composite[n];
  free(composite);
  return prefix;
}

static int is_prime_by_trial_division(uint64_t n) {
  if (n < 2)
    return 0;
  if (n % 2 == 0)
    return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0)
      return 0;
  }
  return 1;
}

static void
test_primes_count_range_handles_edges_at_zero_one_and_two(void **st) {
  (void)st;
  for (uint64_t lo = 0; lo < 40; lo++) {
    for (uint64_t hi = 0; hi < 60; hi++) {
      uint64_t naive = 0;
      for (uint64_t n = lo; n < hi; n++)
        naive += (uint64_t)is_prime_by_trial_division(n);
      if (primes_count_range(lo, hi) != naive)
        fail_msg("[%llu, %llu): got %llu, want %llu", (unsigned long long)lo,
                 (unsigned long long)hi,
                 (unsigned long long)primes_count_range(lo, hi),
                 (unsigned long long)naive);
    }
  }
}

static void
test_primes_count_range_matches_naive_count_on_random_ranges(void **st) {
  (void)st;
  uint32_t *prefix = naive_prefix();
  /* Short ranges anywhere, and long ones that cross the 256 KiB segment
   * boundaries (a segment spans 524288 numbers). */
  for (uint64_t t = 0; t < 300; t++) {
    uint64_t r1 = rng_u64(99, t, 0), r2 = rng_u64(99, t, 1);
    uint64_t lo = r1 % NAIVE_MAX;
    uint64_t span = t % 2 == 0 ? r2 % 5000 : r2 % NAIVE_MAX;
    uint64_t hi = lo + span > NAIVE_MAX ? NAIVE_MAX : lo + span;
    uint64_t want = prefix[hi] - prefix[lo];
    uint64_t got = primes_count_range(lo, hi);
    if (got != want)
      fail_msg("[%llu, %llu): got %llu, want %llu", (unsigned long long)lo,
               (unsigned long long)hi, (unsigned long long)got,
               (unsigned long long)want);
  }
  assert_true(primes_count_range(0, NAIVE_MAX) == prefix[NAIVE_MAX]);
  assert_true(primes_count_range(5, 3) == 0);
  free(prefix);
}

static void test_primes_count_range_is_right_far_from_zero(void **st) {
  (void)st;
  const uint64_t lo = UINT64_C(1000000000000), hi = lo + 2000;
  uint64_t naive = 0;
  for (uint64_t n = lo; n < hi; n++)
    naive += (uint64_t)is_prime_by_trial_division(n);
  assert_true(primes_count_range(lo, hi) == naive);
}

static void
test_primes_count_range_matches_pi_of_ten_to_the_seventh(void **st) {
  (void)st;
  assert_true(primes_count_range(0, 10000000) == 664579);
  /* Split anywhere, the pieces add up to the same total. */
  assert_true(primes_count_range(0, 3333333) +
                  primes_count_range(3333333, 10000000) ==
              664579);
}

static uint64_t compute_primes(const unsigned char *payload, size_t len) {
  uint64_t range[2];
  assert_int_equal(len, sizeof range);
  memcpy(range, payload, sizeof range);
  return primes_count_range(range[0], range[1]);
}

static void test_primes_kind_tiles_the_range_without_gaps(void **st) {
  (void)st;
  const struct kind *k = kind_find("primes");
  ARGS(args, "limit=1000003", "count=7");
  void *state = NULL;
  char err[128] = "";
  assert_int_equal(k->setup(args, args_n, &state, err, sizeof err), 0);
  uint64_t expect_lo = 0;
  for (uint64_t i = 0; i < 7; i++) {
    unsigned char buf[16];
    size_t len = 0;
    double cost = -1;
    uint64_t range[2];
    assert_int_equal(k->make(state, i, buf, sizeof buf, &len, &cost), 0);
    memcpy(range, buf, sizeof range);
    assert_true(range[0] == expect_lo && range[1] > range[0]);
    expect_lo = range[1];
  }
  assert_true(expect_lo == 1000003);
  unsigned char buf[16];
  size_t len;
  double cost;
  assert_int_equal(k->make(state, 7, buf, sizeof buf, &len, &cost),
                   LOOM_EINVAL);
  k->free(state);
}

static void test_primes_kind_checks_powers_of_ten_against_the_table(void **st) {
  (void)st;
  ARGS(args, "limit=1e6", "count=5");
  char out[256];
  assert_int_equal(drive_kind("primes", args, args_n, 5, UINT64_MAX,
                              compute_primes, out, sizeof out),
                   0);
  assert_string_equal(out, "primes below 1000000: 78498 (checked)\n");
}

static void test_primes_kind_checks_other_limits_with_its_own_sieve(void **st) {
  (void)st;
  ARGS(args, "limit=123457", "count=3");
  char out[256];
  assert_int_equal(drive_kind("primes", args, args_n, 3, UINT64_MAX,
                              compute_primes, out, sizeof out),
                   0);
  assert_string_equal(out, "primes below 123457: 11601 (checked)\n");
}

static uint64_t compute_wrong(const unsigned char *payload, size_t len) {
  return compute_primes(payload, len) + 1;
}

static void test_primes_kind_fails_on_a_wrong_total(void **st) {
  (void)st;
  ARGS(args, "limit=1000", "count=2");
  char out[256];
  assert_int_equal(drive_kind("primes", args, args_n, 2, UINT64_MAX,
                              compute_wrong, out, sizeof out),
                   1);
  assert_string_equal(out, "primes below 1000: 170 (WRONG: expected 168)\n");
}

static void test_primes_kind_fails_when_a_task_did_not_report(void **st) {
  (void)st;
  ARGS(args, "limit=1000", "count=3");
  char out[256];
  assert_int_equal(
      drive_kind("primes", args, args_n, 3, 0, compute_primes, out, sizeof out),
      1);
  assert_non_null(strstr(out, "(incomplete: 2 of 3 tasks reported)"));
}

static void test_primes_setup_requires_count_and_a_sane_limit(void **st) {
  (void)st;
  const struct kind *k = kind_find("primes");
  void *state = NULL;
  char err[256] = "";
  ARGS(nocount, "limit=100");
  assert_int_equal(k->setup(nocount, nocount_n, &state, err, sizeof err),
                   LOOM_EINVAL);
  assert_non_null(strstr(err, "primes: missing count="));
  ARGS(small, "limit=1", "count=1");
  assert_int_equal(k->setup(small, small_n, &state, err, sizeof err),
                   LOOM_EINVAL);
  assert_non_null(strstr(err, "primes: bad value '1' for limit"));
  assert_null(state);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kind_arg_get_returns_the_last_value_of_a_key),
      cmocka_unit_test(test_kind_arg_double_uses_default_when_key_is_absent),
      cmocka_unit_test(test_kind_arg_double_accepts_plain_and_exponent_forms),
      cmocka_unit_test(test_kind_arg_double_rejects_malformed_values),
      cmocka_unit_test(test_kind_arg_double_rejects_values_outside_the_range),
      cmocka_unit_test(test_kind_arg_u64_accepts_digits_and_exact_exponents),
      cmocka_unit_test(test_kind_arg_u64_rejects_malformed_values),
      cmocka_unit_test(test_kind_arg_u64_rejects_values_below_the_minimum),
      cmocka_unit_test(
          test_kind_args_check_names_the_unknown_key_and_the_known),
      cmocka_unit_test(test_kind_args_check_does_not_match_key_prefixes),
      cmocka_unit_test(test_kind_args_check_always_allows_count),
      cmocka_unit_test(test_kind_err_prefix_prepends_the_kind_and_truncates),
      cmocka_unit_test(test_kind_table_lists_the_kinds_in_documented_order),
      cmocka_unit_test(test_noop_setup_rejects_any_argument_but_count),
      cmocka_unit_test(test_rng_unit_stays_strictly_inside_zero_and_one),
      cmocka_unit_test(test_dist_defaults_to_fixed_one_millisecond),
      cmocka_unit_test(test_dist_fixed_always_equals_mean),
      cmocka_unit_test(test_dist_uniform_draws_stay_within_min_and_max),
      cmocka_unit_test(test_dist_uniform_defaults_to_zero_to_twice_the_mean),
      cmocka_unit_test(test_dist_lognormal_mean_matches_requested_mean),
      cmocka_unit_test(test_dist_lognormal_median_is_below_the_mean),
      cmocka_unit_test(test_dist_pareto_mean_matches_requested_mean),
      cmocka_unit_test(test_dist_pareto_rejects_alpha_of_one_or_less),
      cmocka_unit_test(test_dist_setup_rejects_unknown_distribution_names),
      cmocka_unit_test(test_dist_setup_rejects_min_above_max),
      cmocka_unit_test(test_dist_setup_prefixes_number_errors_with_the_kind),
      cmocka_unit_test(test_dist_cap_clips_every_draw),
      cmocka_unit_test(test_dist_draw_is_deterministic_for_same_seed_and_index),
      cmocka_unit_test(test_dist_draw_differs_between_seeds),
      cmocka_unit_test(test_sleep_make_sets_cost_only_with_hint),
      cmocka_unit_test(test_sleep_setup_rejects_hint_other_than_zero_or_one),
      cmocka_unit_test(test_spin_setup_rejects_unknown_arguments),
      cmocka_unit_test(test_spin_calibrate_returns_a_positive_rate),
      cmocka_unit_test(test_pi_count_hits_is_deterministic),
      cmocka_unit_test(test_pi_count_hits_estimates_pi_within_five_sigma),
      cmocka_unit_test(test_pi_kind_checks_its_estimate_and_reports_the_sum),
      cmocka_unit_test(test_pi_kind_fails_when_a_task_did_not_report),
      cmocka_unit_test(
          test_primes_count_range_handles_edges_at_zero_one_and_two),
      cmocka_unit_test(
          test_primes_count_range_matches_naive_count_on_random_ranges),
      cmocka_unit_test(test_primes_count_range_is_right_far_from_zero),
      cmocka_unit_test(
          test_primes_count_range_matches_pi_of_ten_to_the_seventh),
      cmocka_unit_test(test_primes_kind_tiles_the_range_without_gaps),
      cmocka_unit_test(test_primes_kind_checks_powers_of_ten_against_the_table),
      cmocka_unit_test(test_primes_kind_checks_other_limits_with_its_own_sieve),
      cmocka_unit_test(test_primes_kind_fails_on_a_wrong_total),
      cmocka_unit_test(test_primes_kind_fails_when_a_task_did_not_report),
      cmocka_unit_test(test_primes_setup_requires_count_and_a_sane_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
