/* test_options.c - unit tests of the one parser of capacity weights
 * (engine/src/sched/weights.c) and of loom_options_check(), which loom_new()
 * and the command line both call: every bad value is refused with a line
 * that names it, nothing is silently clamped or dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "loom.h"
#include "sched/weights.h"

static void test_weights_parse_ranks_and_hosts(void **st) {
  (void)st;
  struct loom__weights ws;
  char err[200] = "";

  assert_int_equal(
      loom__weights_parse("1=2.5,node7=4,3=0.5,2node=3", &ws, err, sizeof(err)),
      0);
  assert_int_equal(ws.n, 4);
  assert_true(loom__weights_find(&ws, 1, "x") == 2.5);
  assert_true(loom__weights_find(&ws, 5, "node7") == 4);
  /* A rank's own entry wins over its host's. */
  assert_true(loom__weights_find(&ws, 3, "node7") == 0.5);
  /* A host name that starts with a digit is a host. */
  assert_true(loom__weights_find(&ws, 9, "2node") == 3);
  assert_true(loom__weights_find(&ws, 9, "other") < 0);
  loom__weights_fini(&ws);
}

static void test_weights_later_entry_wins(void **st) {
  (void)st;
  struct loom__weights ws;

  assert_int_equal(loom__weights_parse("1=2,1=3,h=1,h=7", &ws, NULL, 0), 0);
  assert_true(loom__weights_find(&ws, 1, "z") == 3);
  assert_true(loom__weights_find(&ws, 2, "h") == 7);
  loom__weights_fini(&ws);
}

static void test_weights_refuse_bad_entries(void **st) {
  (void)st;
  static const char *bad[] = {
      "1=0", "1=-2", "1=nan", "1=inf",    "1=2x", "=3",
      "1",   "1=",   "a=1,",  "a=1,,b=2", "1= 2", "a b=1"};
  struct loom__weights ws;
  char err[200];

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    assert_int_equal(loom__weights_parse(bad[i], &ws, err, sizeof(err)),
                     LOOM_EINVAL);
    assert_non_null(strstr(err, "bad weight"));
    assert_int_equal(ws.n, 0);
    assert_null(ws.e);
  }
}

static void test_weights_error_escapes_and_cuts_the_entry(void **st) {
  (void)st;
  struct loom__weights ws;
  char err[300], spec[200];

  assert_int_equal(loom__weights_parse("ho\x01st=zz", &ws, err, sizeof(err)),
                   LOOM_EINVAL);
  assert_non_null(strstr(err, "ho\\x01st=zz"));
  memset(spec, 'k', sizeof(spec));
  memcpy(spec + 150, "=oops", 6);
  assert_int_equal(loom__weights_parse(spec, &ws, err, sizeof(err)),
                   LOOM_EINVAL);
  assert_non_null(strstr(err, "..."));
  assert_true(strlen(err) < 120);
}

static void test_options_check_accepts_the_defaults(void **st) {
  (void)st;
  struct loom_options o;
  char err[200] = "";

  loom_options_init(&o);
  assert_int_equal(loom_options_check(&o, err, sizeof(err)), 0);
  o.window = LOOM_WINDOW_MAX;
  o.batch_max = LOOM_BATCH_MAX;
  o.lookahead = LOOM_LOOKAHEAD_MAX;
  o.weights = "1=2,gpu01=4";
  o.policy = "least-loaded";
  assert_int_equal(loom_options_check(&o, err, sizeof(err)), 0);
}

static void test_options_check_names_each_bad_value(void **st) {
  (void)st;
  struct loom_options o;
  char err[200];

  /* Each case sets one field of a default options struct. */
#define EXPECT_BAD(stmt, word)                                                 \
  do {                                                                         \
    loom_options_init(&o);                                                     \
    stmt;                                                                      \
    err[0] = '\0';                                                             \
    assert_int_equal(loom_options_check(&o, err, sizeof(err)), LOOM_EINVAL);   \
    assert_non_null(strstr(err, word));                                        \
  } while (0)
  EXPECT_BAD(o.policy = "nope", "unknown policy 'nope'");
  EXPECT_BAD(o.window = -1, "window -1");
  EXPECT_BAD(o.window = LOOM_WINDOW_MAX + 1, "window");
  EXPECT_BAD(o.batch_max = -5, "batch_max");
  EXPECT_BAD(o.batch_target = NAN, "batch_target");
  EXPECT_BAD(o.batch_target = -1, "batch_target");
  EXPECT_BAD(o.output_mode = 7, "output_mode");
  EXPECT_BAD(o.progress = -1, "progress");
  EXPECT_BAD(o.progress_interval = INFINITY, "progress_interval");
  EXPECT_BAD(o.grace = -0.5, "grace");
  EXPECT_BAD(o.grace = NAN, "grace");
  EXPECT_BAD(o.quarantine = -1, "quarantine");
  EXPECT_BAD(o.deadline = -3, "deadline");
  EXPECT_BAD(o.lookahead = LOOM_LOOKAHEAD_MAX + 1, "lookahead");
  EXPECT_BAD(o.weights = "1=fast", "bad weight '1=fast'");
#undef EXPECT_BAD
  assert_int_equal(loom_options_check(NULL, err, sizeof(err)), LOOM_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_weights_parse_ranks_and_hosts),
      cmocka_unit_test(test_weights_later_entry_wins),
      cmocka_unit_test(test_weights_refuse_bad_entries),
      cmocka_unit_test(test_weights_error_escapes_and_cuts_the_entry),
      cmocka_unit_test(test_options_check_accepts_the_defaults),
      cmocka_unit_test(test_options_check_names_each_bad_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
