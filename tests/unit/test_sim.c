/* test_sim.c - unit tests of the simulator's model of slots
 * (engine/src/sched/sim.c): several tasks at once per worker, tasks that
 * need several cores, figures that count cores, and the rule that a wide
 * task is never starved by narrow ones that came after it (its wait for
 * cores stays below the longest task, however long the stream). And the
 * master's own costs: a master that spends time per message and per task
 * is a server of its own, and caps how many workers it keeps busy. And the
 * give-back: a batch far past its target hands its unstarted tasks back,
 * each runs once, and never where no other slot could take them.
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

static double one_ms(void *arg, uint64_t i) {
  (void)arg;
  (void)i;
  return 0.001;
}

/* 1 ms tasks, one a message (batches of 0.5 ms of work hold one task),
 * and a master that spends 10 us a message and 5 us a task: each task
 * costs it 2 x (10 + 5) = 30 us, so it can feed 1 ms / 30 us = 33
 * workers. */
static struct loom_sim_options costly(int workers) {
  struct loom_sim_options o = base(workers, (uint64_t)workers * 200, 0);
  o.batch_target = 0.0005;
  o.duration = one_ms;
  o.latency = 0;
  o.master_msg = 10e-6;
  o.master_task = 5e-6;
  return o;
}

static void test_a_master_with_costs_saturates(void **st) {
  struct loom_sim_options o;
  struct loom_sim_result r, free_master;
  (void)st;

  /* Below the ceiling: the workers stay busy. */
  o = costly(8);
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_int_equal(r.messages, o.tasks);
  assert_true(r.efficiency > 0.9);
  assert_true(r.master_busy > 0.2 && r.master_busy < 0.3);
  /* Far above it: the master is busy all the time, and the makespan is
   * its work, tasks x 30 us, not the workers'. */
  o = costly(256);
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(r.master_busy > 0.99);
  assert_true(fabs(r.makespan - (double)o.tasks * 30e-6) < 0.01 * r.makespan);
  assert_true(r.efficiency < 0.15);
  /* The same run with a master that costs nothing keeps them busy. */
  o.master_msg = o.master_task = 0;
  assert_int_equal(loom_sim_run(&o, &free_master), 0);
  assert_true(free_master.efficiency > 0.99);
  assert_true(free_master.master_busy == 0);
  /* With slots: the same ceiling in tasks per second. */
  o = costly(16);
  o.slots = 16; /* 256 cores */
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(r.master_busy > 0.99);
}

static void test_negative_master_costs_are_refused(void **st) {
  struct loom_sim_options o = costly(2);
  struct loom_sim_result r;
  (void)st;
  o.master_msg = -1e-6;
  assert_int_equal(loom_sim_run(&o, &r), LOOM_EINVAL);
  o.master_msg = 0;
  o.master_task = NAN;
  assert_int_equal(loom_sim_run(&o, &r), LOOM_EINVAL);
}

/* Where every task needs one core, a slot keeps its core from task to
 * task: batches of several tasks on 128 slots run side by side, not one
 * after another behind the tasks that reached the worker first. */
static void test_narrow_batches_run_side_by_side_on_slots(void **st) {
  struct loom_sim_options o = base(1, 12800, 128);
  struct loom_sim_result r;
  (void)st;

  o.duration = one_ms;
  o.batch_target = 0.01; /* batches of 10 tasks once measured */
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(r.messages < 12800 / 4);
  assert_true(r.efficiency > 0.9);
}

/* 1,000 tasks of 1 ms, 20 of 1 s, 1,000 of 1 ms: the master, which has
 * measured quick tasks, puts several long ones in one batch. */
static double quick_then_long(void *arg, uint64_t i) {
  (void)arg;
  return i >= 1000 && i < 1020 ? 1.0 : 0.001;
}

static struct loom_sim_options quick_then_long_run(int workers, int slots) {
  struct loom_sim_options o = base(workers, 2020, slots);
  o.duration = quick_then_long;
  o.batch_target = 0.05; /* 50 quick tasks a batch; give back after 0.2 s */
  return o;
}

/* Every task ran exactly once: the busy time is the work. */
static void assert_ran_once(const struct loom_sim_options *o,
                            const struct loom_sim_result *r) {
  double busy =
      r->efficiency * o->workers * (o->slots > 0 ? o->slots : 1) * r->makespan;
  assert_true(fabs(busy - 22.0) < 1e-6);
}

static void test_a_batch_far_past_its_target_gives_back(void **st) {
  struct loom_sim_options o = quick_then_long_run(2, 0);
  struct loom_sim_result r;
  (void)st;

  /* Without the give-back one worker would run the long tasks of its
   * batch in turn while the other had nothing: 1.5x the bound or more.
   * With it, the other worker takes them. */
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(r.returned > 0);
  assert_true(fabs(r.lower_bound - 11.0) < 1e-6);
  assert_true(r.ratio < 1.15);
  assert_ran_once(&o, &r);
  /* The same with one worker of two slots: the other slot takes them. */
  o = quick_then_long_run(1, 2);
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(r.returned > 0);
  assert_true(r.ratio < 1.15);
  assert_ran_once(&o, &r);
}

static void test_no_give_back_where_it_is_pointless_or_not_due(void **st) {
  struct loom_sim_options o = quick_then_long_run(1, 0);
  struct loom_sim_result r;
  (void)st;

  /* One slot in all: nobody else could run them. */
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(r.returned == 0);
  assert_ran_once(&o, &r);
  /* Batches that end within 4 times their target. */
  o = base(4, 4000, 0);
  o.duration = one_ms;
  o.batch_target = 0.02;
  assert_int_equal(loom_sim_run(&o, &r), 0);
  assert_true(r.returned == 0);
  assert_true(r.messages < 400);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_slots_run_two_at_a_time),
      cmocka_unit_test(test_narrow_batches_run_side_by_side_on_slots),
      cmocka_unit_test(test_one_slot_is_the_plain_model),
      cmocka_unit_test(test_wide_tasks_count_their_cores),
      cmocka_unit_test(test_wide_tasks_are_not_starved),
      cmocka_unit_test(test_bad_slot_options),
      cmocka_unit_test(test_a_master_with_costs_saturates),
      cmocka_unit_test(test_negative_master_costs_are_refused),
      cmocka_unit_test(test_a_batch_far_past_its_target_gives_back),
      cmocka_unit_test(test_no_give_back_where_it_is_pointless_or_not_due),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
