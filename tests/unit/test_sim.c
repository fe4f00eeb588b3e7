/* test_sim.c - unit tests of the simulator's model of slots
 * (engine/src/sched/sim.c): several tasks at once per worker, tasks that
 * need several cores, figures that count cores, and the rule that a wide
 * task is never starved by narrow ones that came after it (its wait for
 * cores stays below the longest task, however long the stream).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "loom.h"

static double one_second(void *arg, uint64_t i) {
  (void)arg;
  (void)i;
  return 1.0;
}

/* 0.1 s to 1 s, varied. */
static double varied(void *arg, uint64_t i) {
  (void)arg;
  return 0.1 + 0.9 * (double)((i * 7919) % 101) / 100.0;
}

static int every_fifth_takes_four(void *arg, uint64_t i) {
  (void)arg;
  return i % 5 == 0 ? 4 : 1;
}

static int two_each(void *arg, uint64_t i) {
  (void)arg;
  (void)i;
  return 2;
}

static int too_many(void *arg, uint64_t i) {
  (void)arg;
  return i == 3 ? 5 : 1;
}

static struct loom_sim_options base(int workers, uint64_t tasks, int slots) {
  struct loom_sim_options o;
  memset(&o, 0, sizeof(o));
  o.workers = workers;
  o.tasks = tasks;
  o.duration = one_second;
  o.slots = slots;
  return o;
}

static void test_two_slots_run_two_at_a_time(void **st) {
  struct loom_sim_options o = base(1, 4, 2);
  struct loom_sim_result r;
  (void)st;

  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(fabs(r.makespan - 2.0) < 1e-6);
  assert_true(fabs(r.lower_bound - 2.0) < 1e-9);
  assert_true(fabs(r.efficiency - 1.0) < 1e-6);
  assert_true(r.wait_max == 0);
  /* One slot: one after the other. */
  o.slots = 1;
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(fabs(r.makespan - 4.0) < 1e-6);
}

static void test_one_slot_is_the_plain_model(void **st) {
  struct loom_sim_options o = base(7, 5000, 0);
  struct loom_sim_result a, b;
  (void)st;

  o.duration = varied;
  o.latency = 1e-4;
  assert_int_equal(loom_sim_run(&o, &a), 0);
  o.slots = 1;
  assert_int_equal(loom_sim_run(&o, &b), 0);
  assert_memory_equal(&a, &b, sizeof(a));
}

static void test_wide_tasks_count_their_cores(void **st) {
  struct loom_sim_options o = base(1, 8, 4);
  struct loom_sim_result r;
  (void)st;

  /* Eight 2-core tasks on 4 cores: two at a time, 4 s, full. */
  o.cores = two_each;
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(fabs(r.lower_bound - 4.0) < 1e-9);
  assert_true(fabs(r.makespan - 4.0) < 1e-6);
  assert_true(fabs(r.efficiency - 1.0) < 1e-6);
}

static void test_wide_tasks_are_not_starved(void **st) {
  struct loom_sim_options o = base(3, 20000, 4);
  struct loom_sim_result r;
  (void)st;

  /* A long stream of 1-core tasks with a 4-core one every fifth: the
   * wide ones wait for at most the tasks running when they came. */
  o.duration = varied;
  o.cores = every_fifth_takes_four;
  o.latency = 1e-5;
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(r.wait_max > 0);
  assert_true(r.wait_max <= 1.0 + 1e-9);
  assert_true(r.makespan >= r.lower_bound);
}

static void test_bad_slot_options(void **st) {
  struct loom_sim_options o = base(2, 10, 4);
  struct loom_sim_result r;
  (void)st;

  o.cores = too_many; /* task 3 needs 5 of 4 cores */
  assert_int_equal(loom_sim_run(&o, &r), LOOM_EINVAL);
  o.cores = NULL;
  o.slots = -1;
  assert_int_equal(loom_sim_run(&o, &r), LOOM_EINVAL);
  o.slots = LOOM_SLOTS_MAX + 1;
  assert_int_equal(loom_sim_run(&o, &r), LOOM_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_slots_run_two_at_a_time),
      cmocka_unit_test(test_one_slot_is_the_plain_model),
      cmocka_unit_test(test_wide_tasks_count_their_cores),
      cmocka_unit_test(test_wide_tasks_are_not_starved),
      cmocka_unit_test(test_bad_slot_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
