/* test_batch.c - unit tests of the batch builder (engine/src/sched/batch.c),
 * the one piece of code that decides every batch for loom run and loom sim.
 *
 * A scripted source stands in for the master's feed: a list of task costs,
 * some of which it may drop. The tests check that the policy's pick is
 * used, that batches are sized and closed as sched.h says, that a dropped
 * task is passed over, and that the accounting is done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "farm.h"
#include "sched/batch.h"
#include "sched/policy.h"

/* A scripted source: tasks of the given costs, in order; a task whose cost
 * is -2 is dropped when taken (as the master drops a retry too late for
 * the deadline); stop_at ends the source early for worker w >= 0. */
struct script {
  const double *cost;
  int n;
  int next;
  int peeks_any; /* peek(-1) calls */
  int taken;
  int dropped;
  int last_w; /* the worker take() was asked for */
  int runs;   /* take() takes as many as it may at once (an array's run) */
  uint32_t last_max;
};

static int s_peek(void *arg, int w, double *cost) {
  struct script *s = arg;
  if (w < 0)
    s->peeks_any++;
  if (s->next >= s->n)
    return 0;
  *cost = s->cost[s->next] == -2 ? -1 : s->cost[s->next];
  return 1;
}

static int s_take(void *arg, int w, uint32_t max, double *cost, int *fresh) {
  struct script *s = arg;
  double c = s->cost[s->next++];
  int n = 1;
  s->last_w = w;
  s->last_max = max;
  if (c == -2) {
    s->dropped++;
    return 0;
  }
  while (s->runs && (uint32_t)n < max && s->next < s->n) {
    s->next++;
    n++;
  }
  s->taken += n;
  *cost = c;
  *fresh = 1;
  return n;
}

static const struct loom__batch_src src = {s_peek, s_take};

static void test_batch_first_batches_hold_one_task_each(void **st) {
  (void)st;
  static const double cost[] = {-1, -1, -1, -1, -1};
  struct script s = {cost, 5, 0, 0, 0, 0, -1, 0, 0};
  struct farm f;
  struct loom__batch b;

  /* Nothing measured yet: batches of 1, round-robin over 2 workers with a
   * window of 2, so four batches, then no room. */
  farm_init(&f, "rr", 2, 2);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(loom__batch_build(&f.s, f.ops, f.state, &src, &s, &b), 1);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.worker, i % 2);
    assert_int_equal(s.last_w, b.worker);
  }
  assert_int_equal(loom__batch_build(&f.s, f.ops, f.state, &src, &s, &b), 0);
  assert_int_equal(b.n, 0);
  assert_int_equal(s.taken, 4); /* the fifth waits for room */
  assert_int_equal(f.s.w[0].batches, 2);
  assert_int_equal(f.s.w[1].inflight, 2);
  assert_int_equal(f.s.next_task, 4);
  farm_fini(&f);
}

/* Tasks of 0.1 ms: 0.5 ms of work is 5 tasks, and the batch may grow to
 * at most max(4, 2 x the last) = 4 after a first batch of 1, then 5. With
 * runs, one take of an array's run fills each batch, and the builder
 * counts every task of it. */
static void measured_batches(int runs) {
  static double cost[100];
  struct script s = {cost, 100, 0, 0, 0, 0, -1, runs, 0};
  struct farm f;
  struct loom__batch b;

  for (int i = 0; i < 100; i++)
    cost[i] = -1;
  farm_init(&f, "least-loaded", 1, 2);
  f.s.t_est = 1e-4;
  f.s.recent[0] = 1e-4;
  f.s.nrecent = 1;
  f.s.w[0].last_batch = 1;
  assert_int_equal(loom__batch_build(&f.s, f.ops, f.state, &src, &s, &b), 1);
  assert_int_equal(b.n, 4);
  assert_int_equal(s.taken, 4);
  assert_int_equal(f.s.next_task, 4);
  assert_int_equal(f.s.w[0].inflight, 4);
  assert_int_equal(s.last_max, runs ? 4 : 1);
  f.s.w[0].last_batch = 4;
  assert_int_equal(loom__batch_build(&f.s, f.ops, f.state, &src, &s, &b), 1);
  assert_int_equal(b.n, 5);
  assert_int_equal(f.s.next_task, 9);
  assert_int_equal(s.last_max, runs ? 5 : 1);
  farm_fini(&f);
}

static void test_batch_size_follows_measured_task_time(void **st) {
  (void)st;
  measured_batches(0);
}

static void test_batch_takes_an_arrays_run_at_once(void **st) {
  (void)st;
  measured_batches(1);
}

static void test_batch_closes_when_hints_fill_it(void **st) {
  (void)st;
  /* 0.2 ms each: two fit in the 0.5 ms target, a third would not. */
  static const double cost[] = {2e-4, 2e-4, 2e-4, 2e-4};
  struct script s = {cost, 4, 0, 0, 0, 0, -1, 0, 0};
  struct farm f;
  struct loom__batch b;

  farm_init(&f, "least-loaded", 1, 2);
  f.s.t_est = 1e-6; /* would allow big batches */
  f.s.recent[0] = 1e-6;
  f.s.nrecent = 1;
  f.s.w[0].last_batch = 100;
  assert_int_equal(loom__batch_build(&f.s, f.ops, f.state, &src, &s, &b), 1);
  assert_int_equal(b.n, 2);
  assert_true(b.cost > 3.9e-4 && b.cost < 4.1e-4);
  assert_true(f.s.w[0].inflight_cost > 3.9e-4);
  farm_fini(&f);
}

static void test_batch_passes_over_dropped_tasks(void **st) {
  (void)st;
  static const double cost[] = {-2, -2, -1, -2};
  struct script s = {cost, 4, 0, 0, 0, 0, -1, 0, 0};
  struct farm f;
  struct loom__batch b;

  farm_init(&f, "least-loaded", 1, 2);
  assert_int_equal(loom__batch_build(&f.s, f.ops, f.state, &src, &s, &b), 1);
  assert_int_equal(b.n, 1);
  assert_int_equal(s.dropped, 2);
  /* Only the last is left, and it is dropped: no batch at all, and no
   * batch is counted against the worker. */
  assert_int_equal(loom__batch_build(&f.s, f.ops, f.state, &src, &s, &b), 0);
  assert_int_equal(s.dropped, 3);
  assert_int_equal(f.s.w[0].batches, 1);
  farm_fini(&f);
}

static void test_batch_empty_source_asks_nothing_of_the_policy(void **st) {
  (void)st;
  struct script s = {NULL, 0, 0, 0, 0, 0, -1, 0, 0};
  struct farm f;
  struct loom__batch b;

  farm_init(&f, "rr", 3, 2);
  assert_int_equal(loom__batch_build(&f.s, f.ops, f.state, &src, &s, &b), 0);
  assert_int_equal(s.peeks_any, 1);
  assert_int_equal(b.worker, -1);
  for (int w = 0; w < 3; w++)
    assert_int_equal(f.s.w[w].batches, 0);
  farm_fini(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batch_first_batches_hold_one_task_each),
      cmocka_unit_test(test_batch_size_follows_measured_task_time),
      cmocka_unit_test(test_batch_takes_an_arrays_run_at_once),
      cmocka_unit_test(test_batch_closes_when_hints_fill_it),
      cmocka_unit_test(test_batch_passes_over_dropped_tasks),
      cmocka_unit_test(test_batch_empty_source_asks_nothing_of_the_policy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
