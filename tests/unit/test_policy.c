/* test_policy.c - the capacity-driven policies (wrr, weighted, static), the
 * measured-speed correction and quarantine, on fixed scenarios.
 *
 * Everything here is MPI-free and deterministic: the tests drive
 * struct loom__sched by hand the way the master does.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dispatch/engine.h"
#include "sched/policy.h"

/* A sched with the given weights and a window so large that every worker
 * always has room: then the picks alone show the policy's shares. */
static void make(struct loom__sched *s, int n, const double *weight,
                 int window) {
  assert_int_equal(loom__sched_init(s, n, window, 1, 0.0005), 0);
  for (int w = 0; w < n; w++)
    s->w[w].weight = weight[w];
  s->next_cost = -1;
}

/* Picks k batches of one task each, assigning as the master does; counts
 * per worker in got[]; returns the longest run of one worker. */
static int picks(const char *policy, struct loom__sched *s, int k, int *got) {
  const struct loom__policy_ops *p = loom__policy_find(policy);
  void *st = NULL;
  int run = 0, longest = 0, last = -1;

  assert_non_null(p);
  assert_int_equal(p->init(s, &st), 0);
  for (int i = 0; i < k; i++) {
    int w = p->pick(st, s);
    assert_true(w >= 0 && w < s->n);
    got[w]++;
    run = w == last ? run + 1 : 1;
    longest = run > longest ? run : longest;
    last = w;
    s->next_task++;
    loom__sched_assign(s, w, 1, 0);
    p->assigned(st, s, w);
    /* Complete at once: only the shares matter here. */
    loom__sched_task_done(s, w, 0.001, 0, 0, 1);
    p->done(st, s, w);
  }
  p->fini(st);
  return longest;
}

static void test_wrr_shares_batches_by_weight_evenly_spread(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[3] = {1, 3, 4};
  int got[3] = {0};
  int longest;

  make(&s, 3, weight, 1000);
  longest = picks("wrr", &s, 800, got);
  assert_int_equal(got[0], 100);
  assert_int_equal(got[1], 300);
  assert_int_equal(got[2], 400);
  /* Smooth: never more than two picks of one worker in a row here. */
  assert_true(longest <= 2);
  loom__sched_fini(&s);
}

static void test_weighted_picks_the_earliest_expected_finish(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[2] = {1, 4};
  const struct loom__policy_ops *p = loom__policy_find("weighted");
  void *state = NULL;

  make(&s, 2, weight, 1000);
  assert_int_equal(p->init(&s, &state), 0);
  /* Empty queues: the faster worker finishes a task first. */
  assert_int_equal(p->pick(state, &s), 1);
  /* Worker 1 holds 4 tasks ((4 + 1) / 4 > 1 / 1): worker 0 is earlier. */
  s.w[1].inflight = 4;
  assert_int_equal(p->pick(state, &s), 0);
  /* With cost hints the queued seconds count, not the task count. */
  s.w[0].inflight_cost = 10;
  s.w[1].inflight_cost = 8;
  s.next_cost = 2;
  assert_int_equal(p->pick(state, &s), 1); /* (8 + 2) / 4 < (10 + 2) / 1 */
  p->fini(state);
  loom__sched_fini(&s);
}

static void test_weighted_shares_follow_capacity_over_time(void **st) {
  (void)st;
  struct loom__sched s;
  const struct loom__policy_ops *p = loom__policy_find("weighted");
  double weight[2] = {1, 4};
  int got[2] = {0};
  void *state = NULL;

  /* Tasks stay in flight: EFT keeps the queues proportional. */
  make(&s, 2, weight, 1000);
  assert_int_equal(p->init(&s, &state), 0);
  for (int i = 0; i < 500; i++) {
    int w = p->pick(state, &s);
    got[w]++;
    loom__sched_assign(&s, w, 1, 0);
  }
  assert_int_equal(got[0], 100);
  assert_int_equal(got[1], 400);
  p->fini(state);
  loom__sched_fini(&s);
}

static void test_static_order_is_fixed_by_weight_alone(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[2] = {1, 3};
  int got[2] = {0};

  make(&s, 2, weight, 1000);
  /* Measured speeds say the opposite of the weights: static ignores them. */
  for (int i = 0; i < 20; i++) {
    loom__sched_measure(&s, 0, 10, 0.1, -1);
    loom__sched_measure(&s, 1, 1, 0.1, -1);
  }
  picks("static", &s, 400, got);
  assert_int_equal(got[0], 100);
  assert_int_equal(got[1], 300);
  loom__sched_fini(&s);
}

static void test_static_batch_waits_for_its_worker(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[2] = {1, 1};
  const struct loom__policy_ops *p = loom__policy_find("static");
  void *state = NULL;
  int first, second;

  make(&s, 2, weight, 2);
  assert_int_equal(p->init(&s, &state), 0);
  first = p->pick(state, &s);
  loom__sched_assign(&s, first, 1, 0);
  second = p->pick(state, &s);
  assert_int_not_equal(first, second);
  loom__sched_assign(&s, second, 1, 0);
  /* The next batch is promised to `first`; fill it up: the batch waits,
   * although `second` has room. */
  loom__sched_assign(&s, first, 1, 0);
  assert_int_equal(p->pick(state, &s), -1);
  assert_int_equal(p->pick(state, &s), -1);
  loom__sched_task_done(&s, first, 0.1, 0, 0, 1);
  assert_int_equal(p->pick(state, &s), first);
  p->fini(state);
  loom__sched_fini(&s);
}

static void test_every_policy_skips_a_quarantined_worker(void **st) {
  (void)st;
  static const char *names[] = {"least-loaded", "rr", "wrr", "weighted",
                                "static"};
  double weight[3] = {1, 1, 1};

  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    struct loom__sched s;
    int got[3] = {0};
    make(&s, 3, weight, 1000);
    s.w[1].quarantined = 1;
    picks(names[i], &s, 90, got);
    assert_int_equal(got[1], 0);
    assert_int_equal(got[0] + got[2], 90);
    loom__sched_fini(&s);
  }
}

static void test_capacity_is_the_weight_until_measured(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[2] = {2, 6};

  make(&s, 2, weight, 2);
  assert_true(loom__sched_capacity(&s, 0) == 2);
  assert_true(loom__sched_capacity(&s, 1) == 6);
  loom__sched_fini(&s);
}

static void test_measured_speed_corrects_equal_weights(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[2] = {1, 1};

  make(&s, 2, weight, 2);
  /* Worker 0 does 10 tasks a second, worker 1 does 40. */
  for (int i = 0; i < 20; i++) {
    loom__sched_measure(&s, 0, 1, 0.1, -1);
    loom__sched_measure(&s, 1, 4, 0.1, -1);
  }
  assert_float_equal(loom__sched_capacity(&s, 1) / loom__sched_capacity(&s, 0),
                     4.0, 1e-9);
  loom__sched_fini(&s);
}

static void test_a_few_very_long_tasks_do_not_condemn_a_worker(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[2] = {1, 1}, before, after;

  make(&s, 2, weight, 2);
  for (int i = 0; i < 20; i++) {
    loom__sched_measure(&s, 0, 1, 0.1, -1);
    loom__sched_measure(&s, 1, 1, 0.1, -1);
  }
  before = loom__sched_capacity(&s, 0);
  /* Two tasks 100 times the usual length on worker 0. */
  loom__sched_measure(&s, 0, 1, 10.0, -1);
  loom__sched_measure(&s, 0, 1, 10.0, -1);
  after = loom__sched_capacity(&s, 0);
  assert_true(after > 0.5 * before); /* each moves it 15% at most */
  for (int i = 0; i < 15; i++)
    loom__sched_measure(&s, 0, 1, 0.1, -1);
  assert_true(fabs(loom__sched_capacity(&s, 0) - before) < 0.05 * before);
  loom__sched_fini(&s);
}

static void test_a_real_slowdown_shows_within_ten_completions(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[3] = {1, 1, 1}, before;

  make(&s, 3, weight, 2);
  for (int i = 0; i < 20; i++)
    for (int w = 0; w < 3; w++)
      loom__sched_measure(&s, w, 1, 0.1, -1);
  before = loom__sched_capacity(&s, 0);
  /* Worker 0 now runs at half speed (a competing job). */
  for (int i = 0; i < 10; i++) {
    loom__sched_measure(&s, 0, 1, 0.2, -1);
    for (int w = 1; w < 3; w++)
      loom__sched_measure(&s, w, 1, 0.1, -1);
  }
  assert_true(loom__sched_capacity(&s, 0) < 0.6 * before);
  loom__sched_fini(&s);
}

static void test_no_share_collapses_to_zero(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[3] = {2, 2, 2};

  make(&s, 3, weight, 2);
  for (int i = 0; i < 200; i++) {
    loom__sched_measure(&s, 0, 1, 1000.0, -1); /* hopelessly slow */
    loom__sched_measure(&s, 1, 1, 0.001, -1);
    loom__sched_measure(&s, 2, 1, 0.001, -1);
  }
  assert_true(loom__sched_capacity(&s, 0) >= 0.05 * 2 - 1e-12);
  assert_true(loom__sched_capacity(&s, 0) > 0);
  loom__sched_fini(&s);
}

static void test_cost_hints_measure_work_not_task_counts(void **st) {
  (void)st;
  struct loom__sched s;
  double weight[2] = {1, 1};

  make(&s, 2, weight, 2);
  /* Same seconds of hinted work per second of busy time: equal speed,
   * although worker 1 ran ten times more (shorter) tasks. */
  for (int i = 0; i < 20; i++) {
    loom__sched_measure(&s, 0, 1, 1.0, 1.0);
    loom__sched_measure(&s, 1, 10, 1.0, 1.0);
  }
  assert_float_equal(loom__sched_capacity(&s, 0), loom__sched_capacity(&s, 1),
                     1e-9);
  loom__sched_fini(&s);
}

/* ---- many workers: the heap mode ---------------------------------------- */

static void test_many_workers_wrr_and_static_share_by_weight(void **st) {
  (void)st;
  static const char *names[] = {"wrr", "static"};
  double weight[200];

  for (int w = 0; w < 200; w++)
    weight[w] = w < 100 ? 1 : 3; /* two classes, 1:3 */
  for (size_t i = 0; i < 2; i++) {
    struct loom__sched s;
    int got[200] = {0}, slow = 0, fast = 0;
    make(&s, 200, weight, 1000);
    picks(names[i], &s, 40000, got);
    for (int w = 0; w < 200; w++) {
      if (w < 100)
        slow += got[w];
      else
        fast += got[w];
    }
    assert_int_equal(slow + fast, 40000);
    /* 1:3 within one pick per worker. */
    assert_true(abs(fast - 3 * slow) <= 400);
    for (int w = 1; w < 100; w++)
      assert_true(abs(got[w] - got[0]) <= 1);
    loom__sched_fini(&s);
  }
}

static void
test_many_workers_least_loaded_and_eft_fill_the_emptiest(void **st) {
  (void)st;
  static const char *names[] = {"least-loaded", "weighted", "rr"};
  double weight[100];

  for (int w = 0; w < 100; w++)
    weight[w] = 1;
  for (size_t i = 0; i < 3; i++) {
    const struct loom__policy_ops *p = loom__policy_find(names[i]);
    struct loom__sched s;
    void *state = NULL;
    int got[100] = {0};

    make(&s, 100, weight, 1000);
    assert_int_equal(p->init(&s, &state), 0);
    /* Tasks stay in flight: 300 picks give every worker exactly 3. */
    for (int k = 0; k < 300; k++) {
      int w = p->pick(state, &s);
      assert_true(w >= 0);
      got[w]++;
      loom__sched_assign(&s, w, 1, 0);
      p->assigned(state, &s, w);
    }
    for (int w = 0; w < 100; w++)
      assert_int_equal(got[w], 3);
    p->fini(state);
    loom__sched_fini(&s);
  }
}

static void test_many_workers_full_or_quarantined_are_skipped(void **st) {
  (void)st;
  static const char *names[] = {"least-loaded", "rr", "wrr", "weighted",
                                "static"};
  double weight[100];

  for (int w = 0; w < 100; w++)
    weight[w] = 1;
  for (size_t i = 0; i < 5; i++) {
    const struct loom__policy_ops *p = loom__policy_find(names[i]);
    struct loom__sched s;
    void *state = NULL;
    int w;

    make(&s, 100, weight, 1);
    assert_int_equal(p->init(&s, &state), 0);
    /* Quarantine all but worker 42 after init: the keys go stale. */
    for (w = 0; w < 100; w++)
      s.w[w].quarantined = w != 42;
    assert_int_equal(p->pick(state, &s), 42);
    loom__sched_assign(&s, 42, 1, 0);
    p->assigned(state, &s, 42);
    /* 42's window (1) is full: nobody can take work. */
    assert_int_equal(p->pick(state, &s), -1);
    loom__sched_task_done(&s, 42, 0.1, 0, 0, 1);
    p->done(state, &s, 42);
    assert_int_equal(p->pick(state, &s), 42);
    p->fini(state);
    loom__sched_fini(&s);
  }
}

/* ---- weighted: the wait rule and consistent heap keys -------------------- */

/* Reads n tasks of the given hint, as the master does with each task it
 * reads (into the look-ahead or not). */
static void read_hints(struct loom__sched *s, int n, double cost) {
  for (int i = 0; i < n; i++)
    loom__sched_hint(s, cost);
}

/* Sends worker w a batch of one task of cost c (its hint read first). */
static void send(const struct loom__policy_ops *p, void *state,
                 struct loom__sched *s, int w, double c) {
  loom__sched_hint(s, c);
  loom__sched_assign(s, w, 1, c);
  p->assigned(state, s, w);
}

/* The weighted policy over a sched, driven as the master drives it. */
struct waitfarm {
  struct loom__sched s;
  const struct loom__policy_ops *p;
  void *state;
};

/* A farm of n workers, window 2, where workers 0..n-2 hold one batch of
 * `held` seconds each (room for one more) and worker n-1 holds two of
 * `full_each` (full); `full_weight` is the full worker's capacity. Many
 * tasks of 1 s were read ahead first, so the mean hint stays near 1 s
 * (within a quarter: heap mode keeps the keys of its first pick, and the
 * batches sent after it must have kept them up to date). The next task
 * has a hint of `next` seconds, or none when next is < 0. */

static void waitfarm_init(struct waitfarm *f, int n, double held,
                          double full_each, double full_weight, double next) {
  double weight[128];

  assert_true(n <= 128);
  for (int w = 0; w < n; w++)
    weight[w] = w == n - 1 ? full_weight : 1;
  make(&f->s, n, weight, 2);
  f->p = loom__policy_find("weighted");
  f->state = NULL;
  assert_int_equal(f->p->init(&f->s, &f->state), 0);
  read_hints(&f->s, 10000, 1.0);
  f->s.next_cost = 1.0;
  assert_true(f->p->pick(f->state, &f->s) >= 0); /* all idle: no wait */
  for (int w = 0; w < n - 1; w++)
    send(f->p, f->state, &f->s, w, held);
  send(f->p, f->state, &f->s, n - 1, full_each);
  send(f->p, f->state, &f->s, n - 1, full_each);
  if (next >= 0)
    loom__sched_hint(&f->s, next);
  f->s.next_cost = next;
}

static void waitfarm_fini(struct waitfarm *f) {
  f->p->fini(f->state);
  loom__sched_fini(&f->s);
}

static int waitfarm_pick(struct waitfarm *f) {
  return f->p->pick(f->state, &f->s);
}

/* Both modes: up to 64 workers the policy scans them, beyond it keeps
 * them in heaps. */
static const int farm_sizes[] = {2, 100};

static void
test_weighted_holds_a_hinted_task_rather_than_queue_it_behind_a_long_one(
    void **st) {
  (void)st;
  for (size_t i = 0; i < 2; i++) {
    struct waitfarm f;
    int n = farm_sizes[i];
    /* Every worker with room holds 10 s (busy: over 4 x the mean hint);
     * the full one finishes its 2 s first: the task waits for it. */
    waitfarm_init(&f, n, 10.0, 1.0, 1.0, 1.0);
    assert_true(loom__sched_busy(&f.s, 0));
    assert_int_equal(waitfarm_pick(&f), -1);
    assert_int_equal(waitfarm_pick(&f), -1);
    /* Its completion ends the wait: it goes to the worker that freed up. */
    loom__sched_task_done(&f.s, n - 1, 1.0, 1.0, 0, 1);
    f.p->done(f.state, &f.s, n - 1);
    assert_int_equal(waitfarm_pick(&f), n - 1);
    waitfarm_fini(&f);
  }
}

static void
test_weighted_does_not_hold_a_task_when_no_worker_with_room_is_busy(void **st) {
  (void)st;
  for (size_t i = 0; i < 2; i++) {
    struct waitfarm f;
    int n = farm_sizes[i], w;
    /* 3 s held is under 4 x the mean: the task goes, though the full
     * worker (1 s + 1 s) would finish it sooner. */
    waitfarm_init(&f, n, 3.0, 0.5, 1.0, 1.0);
    assert_false(loom__sched_busy(&f.s, 0));
    w = waitfarm_pick(&f);
    assert_true(w >= 0 && w < n - 1);
    waitfarm_fini(&f);
  }
}

static void
test_weighted_does_not_hold_a_task_no_full_worker_would_finish_sooner(
    void **st) {
  (void)st;
  for (size_t i = 0; i < 2; i++) {
    struct waitfarm f;
    int n = farm_sizes[i], w;
    /* Busy workers with room (10 s), but the full one holds 12 s. */
    waitfarm_init(&f, n, 10.0, 6.0, 1.0, 1.0);
    assert_true(loom__sched_busy(&f.s, 0));
    w = waitfarm_pick(&f);
    assert_true(w >= 0 && w < n - 1);
    waitfarm_fini(&f);
  }
}

static void test_weighted_never_holds_a_task_without_a_hint(void **st) {
  (void)st;
  for (size_t i = 0; i < 2; i++) {
    struct waitfarm f;
    int n = farm_sizes[i], w;
    /* As in the hold test, and the full worker is 4 times faster, so it
     * would finish sooner by any measure; but the next task has no hint. */
    waitfarm_init(&f, n, 10.0, 1.0, 4.0, -1);
    assert_true(loom__sched_busy(&f.s, 0));
    w = waitfarm_pick(&f);
    assert_true(w >= 0 && w < n - 1);
    waitfarm_fini(&f);
  }
}

static void test_weighted_never_passes_over_an_idle_worker(void **st) {
  (void)st;
  for (size_t i = 0; i < 2; i++) {
    struct waitfarm f;
    int n = farm_sizes[i];
    /* As in the hold test, and worker 0 finishes its batch: idle, the
     * earliest finish among the workers with room, but so slow (capacity
     * 0.2) that the full worker would still finish the task sooner. An
     * idle worker is not passed over for a wait: it gets the task. */
    waitfarm_init(&f, n, 10.0, 1.0, 1.0, 1.0);
    f.s.w[0].weight = 0.2;
    loom__sched_task_done(&f.s, 0, 10.0, 10.0, 0, 1);
    f.p->done(f.state, &f.s, 0);
    assert_int_equal(f.s.w[0].inflight, 0);
    assert_int_equal(waitfarm_pick(&f), 0);
    waitfarm_fini(&f);
  }
}

static void
test_weighted_does_not_hold_a_task_for_a_quarantined_worker(void **st) {
  (void)st;
  struct waitfarm f;
  int w;

  /* As in the hold test, but the full worker is quarantined: it gets no
   * more tasks, so there is nothing to wait for. In heap mode the policy
   * is not told of the quarantine (the master only sets the flag), so
   * this also checks that the heap of all workers drops it. */
  for (size_t i = 0; i < 2; i++) {
    int n = farm_sizes[i];
    waitfarm_init(&f, n, 10.0, 1.0, 1.0, 1.0);
    assert_int_equal(waitfarm_pick(&f), -1);
    f.s.w[n - 1].quarantined = 1;
    w = waitfarm_pick(&f);
    assert_true(w >= 0 && w < n - 1);
    waitfarm_fini(&f);
  }
}

static void test_weighted_follows_the_hints_when_their_mean_moves(void **st) {
  (void)st;
  for (size_t i = 0; i < 2; i++) {
    int n = farm_sizes[i];
    double weight[100];
    struct loom__sched s;
    const struct loom__policy_ops *p = loom__policy_find("weighted");
    void *state = NULL;

    /* Worker 0 is 4 times faster and holds 3 s of work; the others hold
     * 0.5 s. For a task of about 1 ms worker 0 finishes last ((3 + m) / 4
     * against 0.5 + m); for one of about 100 s it finishes first. */
    for (int w = 0; w < n; w++)
      weight[w] = w == 0 ? 4 : 1;
    make(&s, n, weight, 2);
    assert_int_equal(p->init(&s, &state), 0);
    read_hints(&s, 10, 0.001);
    loom__sched_assign(&s, 0, 1, 3.0);
    p->assigned(state, &s, 0);
    for (int w = 1; w < n; w++) {
      loom__sched_assign(&s, w, 1, 0.5);
      p->assigned(state, &s, w);
    }
    s.next_cost = 0.001;
    assert_int_not_equal(p->pick(state, &s), 0);
    /* Far longer tasks are read: the mean goes to about 100 s. */
    read_hints(&s, 10000, 100.0);
    s.next_cost = 100.0;
    assert_int_equal(p->pick(state, &s), 0);
    p->fini(state);
    loom__sched_fini(&s);
  }
}

/* The heap-mode keys of every worker must be built with one and the same
 * expected task cost. When they were not (each worker keyed with the
 * hints' running mean at the time of its own last update), after picks of
 * decreasing cost a worker holding a task could sort before idle ones. */
static void
test_weighted_gives_every_idle_worker_a_task_before_a_second_to_any(void **st) {
  (void)st;
  static const int sizes[] = {64, 65, 100};

  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    int n = sizes[i];
    double weight[100];
    int seen[100] = {0};
    struct loom__sched s;
    const struct loom__policy_ops *p = loom__policy_find("weighted");
    void *state = NULL;

    for (int w = 0; w < n; w++)
      weight[w] = 1;
    make(&s, n, weight, 2);
    assert_int_equal(p->init(&s, &state), 0);
    for (int k = 0; k < n; k++) {
      double c = 1.0 - 0.009 * k; /* 1.0 down to 0.109 */
      int w;
      loom__sched_hint(&s, c);
      s.next_cost = c;
      w = p->pick(state, &s);
      assert_true(w >= 0 && w < n);
      if (seen[w])
        fail_msg("%d workers: pick %d gave worker %d a second task while "
                 "%d were idle",
                 n, k, w, n - k);
      seen[w] = 1;
      loom__sched_assign(&s, w, 1, c);
      p->assigned(state, &s, w);
    }
    p->fini(state);
    loom__sched_fini(&s);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrr_shares_batches_by_weight_evenly_spread),
      cmocka_unit_test(test_weighted_picks_the_earliest_expected_finish),
      cmocka_unit_test(test_weighted_shares_follow_capacity_over_time),
      cmocka_unit_test(test_static_order_is_fixed_by_weight_alone),
      cmocka_unit_test(test_static_batch_waits_for_its_worker),
      cmocka_unit_test(test_every_policy_skips_a_quarantined_worker),
      cmocka_unit_test(test_capacity_is_the_weight_until_measured),
      cmocka_unit_test(test_measured_speed_corrects_equal_weights),
      cmocka_unit_test(test_a_few_very_long_tasks_do_not_condemn_a_worker),
      cmocka_unit_test(test_a_real_slowdown_shows_within_ten_completions),
      cmocka_unit_test(test_no_share_collapses_to_zero),
      cmocka_unit_test(test_cost_hints_measure_work_not_task_counts),
      cmocka_unit_test(test_many_workers_wrr_and_static_share_by_weight),
      cmocka_unit_test(
          test_many_workers_least_loaded_and_eft_fill_the_emptiest),
      cmocka_unit_test(test_many_workers_full_or_quarantined_are_skipped),
      cmocka_unit_test(
          test_weighted_holds_a_hinted_task_rather_than_queue_it_behind_a_long_one),
      cmocka_unit_test(
          test_weighted_does_not_hold_a_task_when_no_worker_with_room_is_busy),
      cmocka_unit_test(
          test_weighted_does_not_hold_a_task_no_full_worker_would_finish_sooner),
      cmocka_unit_test(test_weighted_never_holds_a_task_without_a_hint),
      cmocka_unit_test(test_weighted_never_passes_over_an_idle_worker),
      cmocka_unit_test(
          test_weighted_does_not_hold_a_task_for_a_quarantined_worker),
      cmocka_unit_test(test_weighted_follows_the_hints_when_their_mean_moves),
      cmocka_unit_test(
          test_weighted_gives_every_idle_worker_a_task_before_a_second_to_any),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
